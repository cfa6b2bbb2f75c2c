"""V2X roadside unit: MAP from config (1 Hz), SPAT from the signal-controller feed (10 Hz), RSI from
config or /v2x/tx/rsi, RSM from roadside perception (/v2x/tx/rsm); received BSMs -> /v2x/rx/bsm.

A lifecycle driver like v2x_obu (same radio, security and diagnostics); configure also opens
the UDP port the signal controller reports to (``hil/signal_controller.py`` on the rig).
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any

from roadedge_msgs.msg import MapData, Rsi, Spat
from roadedge_nodes.v2x_obu import V2xNodeBase

from roadedge.config import load_yaml, param
from roadedge.diagnostics import EventCounter, Health, Level
from roadedge.ros.node import make_main
from roadedge.v2x import si
from roadedge.v2x.signal_feed import FeedError, SignalReport, decode_report, report_to_spat
from roadedge.v2x.site import map_from_yaml, rsi_from_yaml
from roadedge.v2x.station import StationParams, config_path


@dataclass(frozen=True)
class V2xRsuConfig(StationParams):
    rsu_id: str = param("0000000000000065", help="8-byte RSU id, hex")
    map_file: str = param("", help="MAP YAML (relative: under config/); empty: no MAP")
    map_rate: float = param(1.0, help="MAP rate, Hz", low=0.0, high=10.0)
    rsi_file: str = param("", help="standing RSI events YAML; empty: only /v2x/tx/rsi")
    rsi_rate: float = param(1.0, help="RSI rate, Hz", low=0.0, high=10.0)
    spat_rate: float = param(10.0, help="SPAT rate, Hz", low=0.0, high=20.0)
    spat_name: str = param("", help="SPAT name (DescriptiveName); empty: none")
    signal_feed_host: str = param("127.0.0.1", help="local address of the signal-controller feed")
    signal_feed_port: int = param(47301, help="UDP port the signal controller reports to", low=0, high=65535)
    signal_feed_timeout: float = param(1.0, help="s; no SPAT while the latest report is older", low=0.05)


class V2xRsu(V2xNodeBase):
    Schema = V2xRsuConfig
    default_name = "v2x_rsu"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c: V2xRsuConfig = self.config
        self.map_msg: MapData | None = (
            map_from_yaml(load_yaml(config_path(c.map_file))) if c.map_file else None
        )
        self.rsi_msg: Rsi | None = rsi_from_yaml(load_yaml(config_path(c.rsi_file))) if c.rsi_file else None
        if self.rsi_msg is not None:
            self.rsi_msg.v2x.sender_id = c.rsu_id
        self.counts = {"map": 0, "spat": 0, "rsi": 0}
        self.feed_counter = EventCounter()
        self._report: SignalReport | None = None
        self._report_time = -1e18
        self._feed_lock = threading.Lock()
        self._feed_sock: socket.socket | None = None
        self._feed_thread: threading.Thread | None = None
        self._feed_stop = threading.Event()
        if c.map_rate > 0 and self.map_msg is not None:
            self.create_timer(1.0 / c.map_rate, self._send_map)
        if c.rsi_rate > 0 and self.rsi_msg is not None:
            self.create_timer(1.0 / c.rsi_rate, self._send_rsi)
        if c.spat_rate > 0:
            self.create_timer(1.0 / c.spat_rate, self._send_spat)
        self.health.add("signal_feed", self._feed_health)

    # ------------------------------------------------------------------ lifecycle
    def open_device(self) -> bool:
        super().open_device()
        c: V2xRsuConfig = self.config
        site = self.map_msg.nodes[0].reference_position if self.map_msg and self.map_msg.nodes else None
        site = site or (self.rsi_msg.reference_position if self.rsi_msg is not None else None)
        if site is not None and self.station is not None:  # centre of the relevance radius (verify on demand)
            self.station.set_own_position(site.latitude, site.longitude)
        self._feed_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._feed_sock.bind((c.signal_feed_host, c.signal_feed_port))
        self._feed_sock.settimeout(0.2)
        self._feed_stop.clear()
        self._feed_thread = threading.Thread(target=self._feed_loop, name="signal-feed", daemon=True)
        self._feed_thread.start()
        return True

    def close_device(self) -> None:
        self._feed_stop.set()
        if self._feed_thread is not None:
            self._feed_thread.join(timeout=1.0)
            self._feed_thread = None
        if self._feed_sock is not None:
            self._feed_sock.close()
            self._feed_sock = None
        super().close_device()

    # ------------------------------------------------------------------ signal feed
    def _feed_loop(self) -> None:
        assert self._feed_sock is not None
        sock = self._feed_sock
        while not self._feed_stop.is_set():
            try:
                data = sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                report = decode_report(data)
            except FeedError as err:
                with self._feed_lock:
                    log = self.feed_counter.record("bad_report", str(err))
                if log:
                    self.get_logger().warning(f"signal feed: {log}")
                continue
            if report.node_id != self._node_id():
                with self._feed_lock:
                    self.feed_counter.record("other_intersection", f"node {report.node_id}")
                continue
            with self._feed_lock:
                self._report = report
                self._report_time = self.now_s()

    def _node_id(self) -> int:
        if self.map_msg is not None and self.map_msg.nodes:
            return int(self.map_msg.nodes[0].node_id)
        return -1 if self._report is None else self._report.node_id

    def _feed_health(self) -> Health:
        with self._feed_lock:
            values = self.feed_counter.values()
            age = self.now_s() - self._report_time
        values.update({f"sent_{k}": str(v) for k, v in self.counts.items()})
        if self.config.spat_rate > 0 and age > self.config.signal_feed_timeout:
            return Health(Level.WARN, "no signal-controller report: SPAT not sent", values)
        values["report_age_s"] = f"{age:.2f}"
        return Health(Level.OK, "ok", values)

    # ------------------------------------------------------------------ broadcasts
    def _stamp(self, msg: Any) -> None:
        msg.v2x.msg_count = (msg.v2x.msg_count + 1) % 128
        msg.v2x.generation_time = si.to_time_msg(self.now_s())

    def _send_map(self) -> None:
        if self.active and self.map_msg is not None:
            self._stamp(self.map_msg)
            self.transmit(self.map_msg)
            self.counts["map"] += 1

    def _send_rsi(self) -> None:
        if self.active and self.rsi_msg is not None:
            self._stamp(self.rsi_msg)
            self.transmit(self.rsi_msg)
            self.counts["rsi"] += 1

    def _send_spat(self) -> None:
        if not self.active:
            return
        with self._feed_lock:
            report, age = self._report, self.now_s() - self._report_time
        if report is None or age > self.config.signal_feed_timeout:
            return
        spat: Spat = report_to_spat(report, self.config.spat_name)
        spat.v2x.msg_count = self.counts["spat"] % 128
        spat.v2x.generation_time = si.to_time_msg(self.now_s())
        self.transmit(spat)
        self.counts["spat"] += 1


NODE = V2xRsu
main = make_main(NODE)
