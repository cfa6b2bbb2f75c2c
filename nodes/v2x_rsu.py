"""V2X roadside unit: MAP from config (1 Hz), SPAT from the signal-controller feed (10 Hz), RSI from
config or /v2x/tx/rsi, RSM from roadside perception (/v2x/tx/rsm); received BSMs -> /v2x/rx/bsm.

A lifecycle driver like v2x_obu (same radio, security and diagnostics); configure also opens
the UDP port the signal controller reports to (``hil/signal_controller.py`` on the rig).

With ``work_zone`` on, verified BSMs of a vehicle at work (a sweeper: lightbar slowMovingVehicle)
become a work-zone event in the RSU's RSI (roadedge.v2x.work_zone), merged with the standing events;
an RSI goes out at once when a zone starts or is withdrawn, then at rsi_rate.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any

from roadedge_msgs.msg import Bsm, MapData, Rsi, Spat
from roadedge_nodes.v2x_obu import V2xNodeBase

from roadedge.config import ConfigError, load_yaml, param
from roadedge.diagnostics import EventCounter, Health, Level
from roadedge.ros.node import make_main
from roadedge.v2x import si
from roadedge.v2x.pipeline import Received
from roadedge.v2x.security import Verdict
from roadedge.v2x.signal_feed import FeedError, SignalReport, decode_report, report_to_spat
from roadedge.v2x.site import map_from_yaml, rsi_from_yaml
from roadedge.v2x.station import StationParams, config_path
from roadedge.v2x.work_zone import WorkZoneParams, WorkZoneTracker


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
    work_zone: bool = param(False, help="verified BSMs of vehicles at work -> RSI work-zone events")
    work_zone_lightbar: list[int] = param(
        [6], help="LightbarInUse codes meaning at work (6 slowMovingVehicle)"
    )
    work_zone_event_mask: int = param(
        0, help="VehicleEventFlags bits meaning at work (0: none)", low=0, high=8191
    )
    work_zone_vehicle_classes: list[int] = param(
        [-1], help="BasicVehicleClass codes that may work; [-1]: any"
    )
    work_zone_length_ahead: float = param(
        30.0, help="m of the zone ahead of the vehicle", low=0.0, high=500.0
    )
    work_zone_length_behind: float = param(20.0, help="m of the way it came", low=0.0, high=500.0)
    work_zone_half_width: float = param(2.0, help="m either side of the path", low=0.0, high=20.0)
    work_zone_speed: float = param(1.5, help="m/s speed advice stated in the event", low=0.0, high=30.0)
    work_zone_timeout: float = param(2.0, help="s without a BSM from the vehicle: withdrawn", low=0.1)
    work_zone_event_type: int = param(401, help="GB/T 29100 event type of the zone", low=0, high=65535)
    work_zone_rte_id: int = param(200, help="rte_id of the first zone (the next count up)", low=0, high=255)
    work_zone_max: int = param(4, help="vehicles at work at once; standing events + this <= 8", low=1, high=8)


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
        self.work_zones: WorkZoneTracker | None = None
        self._wz_lock = threading.Lock()
        self._wz_changed = False
        self._rsi_count = 0
        if c.work_zone:
            self.work_zones = self._make_work_zones(c)
            self.create_timer(0.1, self._check_work_zones)
        if c.rsi_rate > 0 and (self.rsi_msg is not None or self.work_zones is not None):
            self.create_timer(1.0 / c.rsi_rate, self._send_rsi)
        if c.spat_rate > 0:
            self.create_timer(1.0 / c.spat_rate, self._send_spat)
        self.health.add("signal_feed", self._feed_health)
        if self.work_zones is not None:
            self.health.add("work_zones", self._work_zone_health)

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
        if not self.active:
            return
        msg = self._compose_rsi()
        if msg is not None:
            self.transmit(msg)
            self.counts["rsi"] += 1

    def _compose_rsi(self) -> Rsi | None:
        """The standing RSI events plus the active work zones, or None when there is nothing to say."""
        now = self.now_s()
        zones = []
        reference = None
        if self.work_zones is not None:
            with self._wz_lock:
                zones = self.work_zones.events(now)
                reference = self.work_zones.reference
                self._wz_changed = False
        if self.rsi_msg is None and (not zones or reference is None):
            return None
        msg = Rsi()
        if self.rsi_msg is not None:
            msg.reference_position = self.rsi_msg.reference_position
            msg.events = [*self.rsi_msg.events, *zones]
            msg.signs = list(self.rsi_msg.signs)
        elif reference is not None:
            msg.reference_position = reference
            msg.events = zones
        msg.v2x.sender_id = self.config.rsu_id
        self._rsi_count = (self._rsi_count + 1) % 128
        msg.v2x.msg_count = self._rsi_count
        msg.v2x.generation_time = si.to_time_msg(now)
        return msg

    # ------------------------------------------------------------------ work zones
    def _make_work_zones(self, c: V2xRsuConfig) -> WorkZoneTracker:
        standing = len(self.rsi_msg.events) if self.rsi_msg is not None else 0
        if standing + c.work_zone_max > 8:
            raise ConfigError(
                f"node 'v2x_rsu': {standing} standing RSI events + work_zone_max {c.work_zone_max} > 8"
            )
        try:
            params = WorkZoneParams(
                lightbar_codes=frozenset(c.work_zone_lightbar),
                event_mask=c.work_zone_event_mask,
                vehicle_classes=frozenset(v for v in c.work_zone_vehicle_classes if v >= 0),
                length_ahead=c.work_zone_length_ahead,
                length_behind=c.work_zone_length_behind,
                half_width=c.work_zone_half_width,
                speed_advice=c.work_zone_speed,
                timeout=c.work_zone_timeout,
                event_type=c.work_zone_event_type,
                rte_id_base=c.work_zone_rte_id,
                max_zones=c.work_zone_max,
            )
        except ValueError as err:
            raise ConfigError(f"node 'v2x_rsu': {err}") from err
        ids = {e.rte_id for e in self.rsi_msg.events} if self.rsi_msg is not None else set()
        if ids & set(range(c.work_zone_rte_id, c.work_zone_rte_id + c.work_zone_max)):
            raise ConfigError(
                f"node 'v2x_rsu': work_zone_rte_id range overlaps the standing events {sorted(ids)}"
            )
        reference = None
        if self.rsi_msg is not None:
            reference = self.rsi_msg.reference_position
        elif self.map_msg is not None and self.map_msg.nodes:
            reference = self.map_msg.nodes[0].reference_position
        return WorkZoneTracker(params, reference)

    def on_received(self, received: Received) -> None:
        super().on_received(received)
        if self.work_zones is None or received.kind != "bsmFrame":
            return
        verdict = received.verdict
        trusted = verdict == Verdict.VERIFIED or (
            self.config.security_policy == "disabled" and verdict == Verdict.NOT_CHECKED
        )
        msg: Bsm = received.msg
        with self._wz_lock:
            change = self.work_zones.update(msg, trusted, self.now_s())
            if change is not None:
                self._wz_changed = True
        if change is not None:
            self.get_logger().info(f"work zone {change}: vehicle {msg.v2x.sender_id}")

    def _check_work_zones(self) -> None:
        """Send the RSI at once when a zone started, was withdrawn or went stale."""
        if not self.active or self.work_zones is None:
            return
        with self._wz_lock:
            gone = self.work_zones.expire(self.now_s())
            changed = self._wz_changed or bool(gone)
        for sender in gone:
            self.get_logger().info(f"work zone withdrawn: no BSM from vehicle {sender}")
        if changed:
            self._send_rsi()

    def _work_zone_health(self) -> Health:
        assert self.work_zones is not None
        with self._wz_lock:
            wz = self.work_zones
            values = {
                "active": str(len(wz.zones)),
                "vehicles": ",".join(sorted(wz.zones)),
                "started": str(wz.started),
                "withdrawn": str(wz.withdrawn),
                "ignored_unverified": str(wz.ignored_untrusted),
                "ignored_full": str(wz.ignored_full),
            }
        return Health(Level.OK, f"{values['active']} work zone(s)", values)

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
