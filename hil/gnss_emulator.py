"""GNSS receiver emulator: NMEA 0183 at 10 Hz from the plant's pose, into a pty.

:class:`GnssEmulator` is pure: given the base_link pose in the map frame and a time, it
returns the NMEA sentences (RMC, VTG, GGA, GST by default) a receiver with the antenna at
the configured lever arm would send. Errors per fix quality are white noise plus a
first-order Gauss-Markov (slowly wandering) component; GST reports the configured sigma.
Outages (invalid GGA, or silence), position jumps, quality changes and garbage bytes can be
scheduled or injected at run time.

``main()`` is the process wrapper for the HIL rig: it opens a pty pair, links the slave to
``--link`` (e.g. /tmp/roadedge_gnss), and writes NMEA from a plant it drives itself along a
curved route (``--route``), or from poses read as JSON lines on stdin
(``{"t": s, "x": m, "y": m, "yaw": rad, "speed": m/s}``) when the HIL runner drives it.
RTCM bytes the receiver node writes back are framed and counted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import random
import select
import signal
import sys
import time
import tty
from dataclasses import dataclass, field

from roadedge.localization.geodesy import GeodeticOrigin, LeverArm, MapFrame
from roadedge.localization.gnss import EpochSpec, FixQuality, Rtcm3Framer, make_epoch


@dataclass(frozen=True)
class NoiseModel:
    """Horizontal error per axis (m, 1 sigma): white + Gauss-Markov(sigma, tau)."""

    white: float
    walk: float = 0.0
    tau: float = 60.0  # s
    vertical_factor: float = 2.0

    @property
    def sigma(self) -> float:
        return math.hypot(self.white, self.walk)


DEFAULT_NOISE: dict[FixQuality, NoiseModel] = {
    FixQuality.RTK_FIXED: NoiseModel(white=0.012, walk=0.008, tau=30.0),
    FixQuality.RTK_FLOAT: NoiseModel(white=0.10, walk=0.15, tau=30.0),
    FixQuality.DGPS: NoiseModel(white=0.30, walk=0.40, tau=60.0),
    FixQuality.SINGLE: NoiseModel(white=0.80, walk=1.00, tau=120.0),
}


@dataclass(frozen=True)
class Outage:
    start: float  # s, emulator time
    end: float
    silent: bool = False  # True: no sentences at all; False: invalid GGA/RMC (receiver lost lock)


@dataclass(frozen=True)
class Jump:
    start: float
    end: float
    east: float  # m
    north: float


@dataclass
class GnssEmulatorConfig:
    origin: GeodeticOrigin = field(default_factory=lambda: GeodeticOrigin(31.2304, 121.4737, 12.0))
    antenna: LeverArm = field(default_factory=lambda: LeverArm(1.2, 0.0, 2.1))
    rate: float = 10.0  # Hz
    quality: FixQuality = FixQuality.RTK_FIXED
    noise: dict[FixQuality, NoiseModel] = field(default_factory=lambda: dict(DEFAULT_NOISE))
    geoid_separation: float = 10.3  # m, geoid above the ellipsoid (GGA field)
    utc_start: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    talker: str = "GN"
    sentences: tuple[str, ...] = ("RMC", "VTG", "GGA", "GST")
    outages: tuple[Outage, ...] = ()
    jumps: tuple[Jump, ...] = ()
    garbage_probability: float = 0.0  # per epoch: a burst of random bytes / a corrupted checksum
    seed: int = 1


class GnssEmulator:
    def __init__(self, config: GnssEmulatorConfig | None = None):
        self.config = config or GnssEmulatorConfig()
        self.frame = MapFrame(self.config.origin)
        self.rng = random.Random(self.config.seed)
        self.quality = self.config.quality
        self._walk = [0.0, 0.0, 0.0]
        self._last_t: float | None = None
        self._outages = list(self.config.outages)
        self._jumps = list(self.config.jumps)
        self.epochs = 0
        self.last_truth: tuple[float, float, float] | None = None  # antenna in map, without error

    # ---- run-time control (fault injection)
    def set_quality(self, quality: FixQuality) -> None:
        self.quality = FixQuality(quality)

    def add_outage(self, start: float, duration: float, silent: bool = False) -> None:
        self._outages.append(Outage(start, start + duration, silent))

    def add_jump(self, start: float, duration: float, east: float, north: float) -> None:
        self._jumps.append(Jump(start, start + duration, east, north))

    # ---- the model
    def _noise(self, t: float) -> tuple[float, float, float]:
        model = self.config.noise.get(self.quality, DEFAULT_NOISE[FixQuality.SINGLE])
        dt_ = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        if model.walk > 0:
            a = math.exp(-dt_ / model.tau) if model.tau > 0 else 0.0
            q = model.walk * math.sqrt(max(0.0, 1.0 - a * a))
            if self.epochs == 0:
                self._walk = [self.rng.gauss(0.0, model.walk) for _ in range(3)]
            else:
                self._walk = [a * w + self.rng.gauss(0.0, q) for w in self._walk]
        else:
            self._walk = [0.0, 0.0, 0.0]
        vf = model.vertical_factor
        return (
            self._walk[0] + self.rng.gauss(0.0, model.white),
            self._walk[1] + self.rng.gauss(0.0, model.white),
            vf * (self._walk[2] + self.rng.gauss(0.0, model.white)),
        )

    def epoch(
        self, t: float, x: float, y: float, yaw: float, speed: float = 0.0, z: float = 0.0
    ) -> list[str]:
        """NMEA sentences for time t (s since start) and base_link pose (map, m / rad)."""
        cfg = self.config
        outage = next((o for o in self._outages if o.start <= t < o.end), None)
        if outage is not None and outage.silent:
            self._last_t = t
            return []
        ax, ay, az = cfg.antenna.sensor_position(x, y, z, yaw)
        self.last_truth = (ax, ay, az)
        quality = FixQuality.INVALID if outage is not None else self.quality
        ne, nn, nu = self._noise(t)
        for j in self._jumps:
            if j.start <= t < j.end:
                ne += j.east
                nn += j.north
        lat, lon, h = self.frame.to_geodetic(ax + ne, ay + nn, az + nu)
        model = cfg.noise.get(self.quality, DEFAULT_NOISE[FixQuality.SINGLE])
        course = self.frame.yaw_to_heading(yaw if speed >= 0 else yaw + math.pi, x, y)
        spec = EpochSpec(
            utc=cfg.utc_start + dt.timedelta(seconds=round(t, 3)),
            latitude=lat,
            longitude=lon,
            height=h,
            quality=quality,
            speed=abs(speed),
            course=course,
            num_satellites=22 if quality in (FixQuality.RTK_FIXED, FixQuality.RTK_FLOAT) else 14,
            hdop=0.7 if quality != FixQuality.SINGLE else 1.1,
            geoid_separation=cfg.geoid_separation,
            sigma_east=model.sigma,
            sigma_north=model.sigma,
            sigma_up=model.sigma * model.vertical_factor,
            age_of_corrections=1.0
            if quality in (FixQuality.RTK_FIXED, FixQuality.RTK_FLOAT, FixQuality.DGPS)
            else None,
            talker=cfg.talker,
            sentences=cfg.sentences,
        )
        lines = make_epoch(spec)
        if cfg.garbage_probability > 0 and self.rng.random() < cfg.garbage_probability:
            lines = self._corrupt(lines)
        self.epochs += 1
        return lines

    def _corrupt(self, lines: list[str]) -> list[str]:
        kind = self.rng.randrange(3)
        if kind == 0:  # random bytes (latin-1 keeps every byte value) before the epoch
            junk = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 40)))
            return [junk.decode("latin-1"), *lines]
        i = self.rng.randrange(len(lines))
        line = lines[i]
        if kind == 1:  # flip a character inside the body -> checksum error
            k = self.rng.randrange(1, max(2, line.find("*")))
            line = line[:k] + ("7" if line[k] != "7" else "3") + line[k + 1 :]
        else:  # truncated sentence
            line = line[: self.rng.randrange(1, len(line))] + "\r\n"
        return [*lines[:i], line, *lines[i + 1 :]]


# ---------------------------------------------------------------------- process wrapper


def route_command(t: float) -> tuple[float, float]:
    """A curved sweeping route for the standalone emulator: (target speed, steering angle)."""
    steer = 0.12 * math.sin(2 * math.pi * t / 40.0) + 0.05 * math.sin(2 * math.pi * t / 13.0)
    return 3.0, steer


def open_pty(link: str | None) -> tuple[int, str]:
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    name = os.ttyname(slave)
    if link:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.symlink(name, link)
    # Keep the slave open so the master never sees EIO between receiver reconnects.
    return master, name


def _stop(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--link", default="", help="symlink to create for the pty slave")
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--quality", type=int, default=int(FixQuality.RTK_FIXED))
    ap.add_argument("--origin", default="31.2304,121.4737,12.0", help="lat,lon,h of the map origin")
    ap.add_argument("--antenna", default="1.2,0.0,2.1", help="lever arm x,y,z in base_link (m)")
    ap.add_argument("--stdin-poses", action="store_true", help="read poses as JSON lines on stdin")
    ap.add_argument("--duration", type=float, default=0.0, help="s, 0 = forever")
    ap.add_argument("--outage", default="", help="start,duration (s)")
    ap.add_argument("--garbage", type=float, default=0.0, help="probability of a corrupted epoch")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    lat, lon, h = (float(v) for v in args.origin.split(","))
    ax, ay, az = (float(v) for v in args.antenna.split(","))
    outages: tuple[Outage, ...] = ()
    if args.outage:
        s, d = (float(v) for v in args.outage.split(","))
        outages = (Outage(s, s + d),)
    cfg = GnssEmulatorConfig(
        origin=GeodeticOrigin(lat, lon, h),
        antenna=LeverArm(ax, ay, az),
        rate=args.rate,
        quality=FixQuality(args.quality),
        outages=outages,
        garbage_probability=args.garbage,
        seed=args.seed,
        utc_start=dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
    )
    emulator = GnssEmulator(cfg)
    master, name = open_pty(args.link or None)
    os.set_blocking(master, False)  # a receiver that stops reading must not block us
    signal.signal(signal.SIGTERM, _stop)
    dropped = 0
    print(json.dumps({"pty": name, "link": args.link}), flush=True)

    try:
        from roadedge_hil.plant import PlantCommand, VehiclePlant  # installed name
    except ImportError:  # running from the source tree
        from hil.plant import PlantCommand, VehiclePlant  # type: ignore[no-redef]

    plant = VehiclePlant()
    rtcm = Rtcm3Framer()
    pose = {"t": 0.0, "x": 0.0, "y": 0.0, "yaw": 0.0, "speed": 0.0}
    period = 1.0 / cfg.rate
    start = time.monotonic()
    next_tick = start
    stdin_buf = b""
    try:
        while True:
            now = time.monotonic()
            t = now - start
            if args.duration and t > args.duration:
                break
            timeout = max(0.0, next_tick - now)
            fds = [master] + ([sys.stdin.fileno()] if args.stdin_poses else [])
            ready, _, _ = select.select(fds, [], [], timeout)
            if master in ready:
                with contextlib.suppress(OSError):
                    rtcm.feed(os.read(master, 4096))
            if args.stdin_poses and sys.stdin.fileno() in ready:
                chunk = os.read(sys.stdin.fileno(), 65536)
                if not chunk:
                    break
                stdin_buf += chunk
                *lines, stdin_buf = stdin_buf.split(b"\n")
                for raw in lines:
                    with contextlib.suppress(ValueError, TypeError):
                        pose.update({k: float(v) for k, v in json.loads(raw).items() if k in pose})
            if time.monotonic() < next_tick:
                continue
            next_tick += period
            if not args.stdin_poses:
                speed, steer = route_command(t)
                while plant.state.time < t:
                    plant.step(0.01, PlantCommand(enable=True, target_speed=speed, steering_angle=steer))
                s = plant.state
                pose = {"t": t, "x": s.x, "y": s.y, "yaw": s.yaw, "speed": s.speed}
            sentences = emulator.epoch(
                pose["t"] if args.stdin_poses else t, pose["x"], pose["y"], pose["yaw"], pose["speed"]
            )
            data = "".join(sentences).encode("latin-1")
            try:
                os.write(master, data)
            except OSError:  # buffer full: nobody reads the slave (receiver unplugged)
                dropped += 1
    except KeyboardInterrupt:
        pass
    finally:
        print(
            json.dumps({"epochs": emulator.epochs, "dropped": dropped, "rtcm": rtcm.counters.as_dict()}),
            flush=True,
        )
        if args.link:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(args.link)
    return 0


if __name__ == "__main__":
    sys.exit(main())
