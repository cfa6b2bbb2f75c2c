"""C-V2X radio emulator for the HIL rig: the PC5 sidelink between several OBUs and RSUs on loopback.

Each station (an OBU or RSU node) talks UDP to "its radio", a port of this emulator, just as
it would to a real PC5 module on the vehicle or roadside LAN. A frame sent to station A's
radio is broadcast to every other station's node port, subject to

- range: stations further apart than ``range_m`` do not hear each other (positions are
  fixed in the configuration for RSUs, or learned from the BSMs a station sends; a station
  whose position is unknown hears and is heard by all);
- loss: each delivery is dropped with probability ``loss``;
- latency: each delivery waits ``latency_ms`` plus a uniform ``jitter_ms``.

    radio_emulator --ros-args -p config_file:=v2x/radio_emulator.yaml   (a node: diagnostics, runner)
    python -m roadedge_hil.radio_emulator --config config/v2x/radio_emulator.yaml   (plain process)

The emulator core is pure Python; frames are forwarded byte for byte.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import math
import random
import selectors
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roadedge.config import ConfigError, load_yaml, param
from roadedge.diagnostics import Health, Level
from roadedge.ros.node import RoadedgeNode, make_main
from roadedge.v2x import codec
from roadedge.v2x.security import SecurityPolicy, Verifier
from roadedge.v2x.station import config_path

EARTH_RADIUS = 6371008.8


@dataclass
class Station:
    name: str
    radio_port: int  # the emulator listens here (the station's radio)
    node_port: int  # the emulator delivers here (the station's node)
    node_host: str = "127.0.0.1"
    latitude: float | None = None
    longitude: float | None = None


@dataclass
class Channel:
    loss: float = 0.0
    latency_ms: float = 2.0
    jitter_ms: float = 0.0
    range_m: float = 0.0  # 0 = unlimited
    seed: int | None = None


@dataclass
class Stats:
    received: int = 0
    delivered: int = 0
    lost: int = 0
    out_of_range: int = 0
    per_station: dict[str, int] = field(default_factory=dict)


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS * math.asin(min(1.0, math.sqrt(h)))


class RadioEmulator:
    def __init__(self, stations: list[Station], channel: Channel, bind_host: str = "127.0.0.1") -> None:
        if not bind_host.startswith("127."):
            raise ValueError("the radio emulator stays on loopback (127.0.0.0/8)")
        self.stations = stations
        self.channel = channel
        self.stats = Stats()
        self.rng = random.Random(channel.seed)
        self.positions: dict[str, tuple[float, float]] = {
            s.name: (s.latitude, s.longitude)
            for s in stations
            if s.latitude is not None and s.longitude is not None
        }
        self._fixed = set(self.positions)
        self._peek = Verifier(None, SecurityPolicy(mode="disabled"))
        self._socks: dict[str, socket.socket] = {}
        for s in stations:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((bind_host, s.radio_port))
            s.radio_port = int(sock.getsockname()[1])  # 0 in the configuration: any free port
            sock.setblocking(False)
            self._socks[s.name] = sock
        self._queue: list[tuple[float, int, str, bytes]] = []
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()

    # ------------------------------------------------------------------ forwarding
    def _learn_position(self, station: str, frame: bytes) -> None:
        if station in self._fixed:
            return
        try:
            payload = self._peek.unwrap(frame).payload
            kind, value = codec.decode_frame(payload)
        except Exception:
            return
        if kind == "bsmFrame":
            lat, lon = value["pos"]["lat"], value["pos"]["long"]
            if abs(lat) <= 900_000_000 and abs(lon) <= 1_800_000_000:
                self.positions[station] = (lat * 1e-7, lon * 1e-7)

    def in_range(self, a: str, b: str) -> bool:
        if self.channel.range_m <= 0:
            return True
        pa, pb = self.positions.get(a), self.positions.get(b)
        if pa is None or pb is None:
            return True
        return distance_m(pa, pb) <= self.channel.range_m

    def on_frame(self, sender: str, frame: bytes, now: float) -> None:
        self.stats.received += 1
        self.stats.per_station[sender] = self.stats.per_station.get(sender, 0) + 1
        self._learn_position(sender, frame)
        for dest in self.stations:
            if dest.name == sender:
                continue
            if not self.in_range(sender, dest.name):
                self.stats.out_of_range += 1
                continue
            if self.channel.loss > 0 and self.rng.random() < self.channel.loss:
                self.stats.lost += 1
                continue
            delay = (self.channel.latency_ms + self.rng.uniform(0.0, self.channel.jitter_ms)) / 1000.0
            self._seq += 1
            heapq.heappush(self._queue, (now + delay, self._seq, dest.name, frame))

    def _deliver_due(self, now: float) -> None:
        by_name = {s.name: s for s in self.stations}
        while self._queue and self._queue[0][0] <= now:
            _, _, dest, frame = heapq.heappop(self._queue)
            station = by_name[dest]
            try:
                self._socks[dest].sendto(frame, (station.node_host, station.node_port))
                self.stats.delivered += 1
            except OSError:
                self.stats.lost += 1

    def run(self) -> None:
        with selectors.DefaultSelector() as sel:
            for name, sock in self._socks.items():
                sel.register(sock, selectors.EVENT_READ, name)
            sel.register(self._wake_r, selectors.EVENT_READ, None)
            while not self._stop.is_set():
                now = time.monotonic()
                timeout = 0.5 if not self._queue else max(0.0, self._queue[0][0] - now)
                for key, _ in sel.select(timeout):
                    if key.data is None:
                        continue
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    while True:
                        try:
                            frame = sock.recv(65535)
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError:
                            continue
                        self.on_frame(str(key.data), frame, time.monotonic())
                self._deliver_due(time.monotonic())

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="radio-emulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def close(self) -> None:
        self.stop()
        for sock in [*self._socks.values(), self._wake_r, self._wake_w]:
            sock.close()


def from_config(tree: dict[str, Any]) -> RadioEmulator:
    channel = Channel(**(tree.get("channel") or {}))
    stations = [Station(**s) for s in tree.get("stations") or []]
    if len({s.radio_port for s in stations}) != len(stations):
        raise ValueError("radio_port of every station must differ")
    return RadioEmulator(stations, channel, str(tree.get("bind_host", "127.0.0.1")))


def cli_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="radio_emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="YAML: channel {...}, stations [...]")
    args, _unknown = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    try:
        emulator = from_config(load_yaml(args.config))
    except (ConfigError, ValueError, TypeError) as err:
        print(f"radio_emulator: configuration error: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    emulator.start()
    print(f"radio_emulator: {len(emulator.stations)} stations, channel {emulator.channel}", flush=True)
    stop.wait()
    emulator.close()
    s = emulator.stats
    print(
        f"radio_emulator: received={s.received} delivered={s.delivered} lost={s.lost} "
        f"out_of_range={s.out_of_range}",
        flush=True,
    )
    return 0


@dataclass(frozen=True)
class RadioEmulatorConfig:
    config_file: str = param(
        "v2x/radio_emulator.yaml", help="channel and stations YAML (relative: under config/)"
    )


class RadioEmulatorNode(RoadedgeNode[RadioEmulatorConfig]):
    """The emulator as a node: configuration from a parameter, counters on /diagnostics."""

    Schema = RadioEmulatorConfig
    default_name = "radio_emulator"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            tree = load_yaml(config_path(self.config.config_file))
            self.emulator = from_config(tree)
        except (ConfigError, ValueError, TypeError) as err:
            raise ConfigError(f"radio_emulator: {self.config.config_file}: {err}") from err
        self.emulator.start()
        self.health.add("channel", self._health)

    def _health(self) -> Health:
        s = self.emulator.stats
        values = {
            "received": str(s.received),
            "delivered": str(s.delivered),
            "lost": str(s.lost),
            "out_of_range": str(s.out_of_range),
            **{f"positions_{k}": f"{v[0]:.7f},{v[1]:.7f}" for k, v in self.emulator.positions.items()},
        }
        return Health(Level.OK, "ok", values)

    def on_safe_stop(self) -> None:
        self.emulator.close()


NODE = RadioEmulatorNode
main = make_main(NODE)

if __name__ == "__main__":
    sys.exit(cli_main())
