"""Cloud bridge: the vehicle or roadside box <-> operations centre over MQTT 5 (TLS, signed commands).

Thin wiring around :class:`roadedge.cloud.bridge.CloudBridge` (see config/cloud/README.md).

vehicle profile
  uplink   state (1 Hz: /localization/geodetic, /localization/odometry, /vehicle/status,
           /vehicle/work_equipment/status), task (/planning/task_progress, on change),
           advisory (/planning/advisories, on change), v2x (/v2x/rx/rsi events, on change),
           diag (/diagnostics summary + link statistics, every ``diag_period``)
  downlink remote_stop -> /cloud/remote_stop (std_msgs/Bool, latched; the chassis HAL's safety
           watchdog turns true into a controlled stop), sweep_task -> planning/start_sweep_task
roadside profile
  uplink   signal (/v2x/tx/spat, 1 Hz), rsm (/v2x/tx/rsm summary, 1 Hz), rsi (/v2x/tx/rsi, on
           change), diag
  downlink rsi_update -> /v2x/tx/rsi (the RSU broadcasts it)

Every downlink command is verified (ES256 JWS by the operations centre, target, expiry, replay,
schema) inside the bridge before this node sees it; a rejected one never reaches a topic.
The remote-stop state is kept in the queue file, so a restarted bridge re-asserts a stop.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from roadedge_msgs.msg import (
    AdvisoryArray,
    CurbSegment,
    Rsi,
    RsiEvent,
    Rsm,
    Spat,
    SweepTask,
    TaskProgress,
    VehicleStatus,
    WorkEquipmentStatus,
)
from roadedge_msgs.srv import StartSweepTask
from std_msgs.msg import Bool

from roadedge import topics
from roadedge.cloud import payloads as pl
from roadedge.cloud.auth import Command, CommandVerifier, load_public_key
from roadedge.cloud.bridge import BackpressureConfig, CloudBridge, CommandResult, LinkConfig
from roadedge.cloud.layout import DeviceIdentity
from roadedge.cloud.queue import StoreAndForwardQueue
from roadedge.config import ConfigError, param
from roadedge.diagnostics import EventCounter, Health, Level
from roadedge.profiles import CONFIG_DIR
from roadedge.ros.node import RoadedgeNode, make_main

START_SWEEP_TASK_SERVICE = "planning/start_sweep_task"
REMOTE_STOP_META = "remote_stop"


@dataclass(frozen=True)
class CloudBridgeConfig:
    fleet: str = param(help="fleet id (topic level, [a-z0-9_-])")
    site: str = param(help="site id (topic level)")
    device_id: str = param(help="this device's id = the CN of its client certificate")
    ops_keys: list[str] = param(help="trusted operations-centre public keys, 'kid=path/to/key.pem'")
    profile: str = param("vehicle", help="vehicle or roadside", choices=("vehicle", "roadside"))
    broker_host: str = param("127.0.0.1", help="MQTT broker host")
    broker_port: int = param(8883, help="MQTT broker port (TLS)", low=1, high=65535)
    tls: bool = param(True, help="TLS with client certificate (false only for a bench on 127.0.0.1)")
    ca_file: str = param("", help="CA certificate of the broker (PEM; relative: to config/)")
    cert_file: str = param("", help="this device's client certificate (PEM)")
    key_file: str = param("", help="this device's private key (PEM)")
    queue_path: str = param("", help="SQLite store-and-forward file; empty: $ROS_HOME/roadedge_cloud/<id>.db")
    queue_capacity: int = param(100000, help="messages kept while offline", low=10)
    delivery: str = param(
        "cloud", help="cloud: end-to-end uplink_ack; broker: PUBACK", choices=("cloud", "broker")
    )
    cloud_ack_timeout: float = param(10.0, help="s without uplink_ack before resending", low=0.5)
    window: int = param(20, help="uplink messages in flight to the broker", low=1, high=1000)
    keepalive: int = param(10, help="MQTT keepalive, s", low=2, high=600)
    reconnect_min: float = param(1.0, help="s, first reconnect delay", low=1.0)
    reconnect_max: float = param(30.0, help="s, longest reconnect delay", low=1.0)
    high_watermark: float = param(
        0.5, help="queue fill above which state/diag are thinned", low=0.0, high=1.0
    )
    state_rate: float = param(1.0, help="state / signal / rsm uplink rate, Hz", low=0.01, high=10.0)
    diag_period: float = param(10.0, help="s between diagnostics summaries", low=1.0)
    event_repeat: float = param(30.0, help="s after which an unchanged advisory/event is sent again", low=1.0)
    command_max_lifetime: float = param(3600.0, help="s, longest accepted command validity", low=1.0)
    clock_skew: float = param(30.0, help="s of clock difference tolerated to the centre", low=0.0)
    sweep_task_timeout: float = param(3.0, help="s to wait for the planner to take a task", low=0.1)


def config_file(path: str) -> str:
    p = Path(os.path.expanduser(path))
    return str(p if p.is_absolute() else CONFIG_DIR / p)


def to_time(stamp: float) -> Time:
    sec = int(stamp)
    return Time(sec=sec, nanosec=int((stamp - sec) * 1e9))


def from_time(t: Time) -> float | None:
    value = float(t.sec) + float(t.nanosec) * 1e-9
    return value if value > 0 else None


class CloudBridgeNode(RoadedgeNode[CloudBridgeConfig]):
    Schema = CloudBridgeConfig
    default_name = "cloud_bridge"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = self.config
        try:
            self.identity = DeviceIdentity(c.fleet, c.site, c.device_id, c.profile)  # type: ignore[arg-type]
            keys = {}
            for entry in c.ops_keys:
                kid, sep, path = entry.partition("=")
                if not sep or not kid:
                    raise ValueError(f"ops_keys entry {entry!r} is not 'kid=path'")
                keys[kid] = load_public_key(Path(config_file(path)).read_bytes())
        except (ValueError, OSError) as err:
            raise ConfigError(f"node 'cloud_bridge': {err}") from err
        if not keys:
            raise ConfigError("node 'cloud_bridge': ops_keys is empty: every command would be refused")
        ros_home = Path(os.environ.get("ROS_HOME", Path.home() / ".ros"))
        queue_path = (
            config_file(c.queue_path) if c.queue_path else ros_home / "roadedge_cloud" / f"{c.device_id}.db"
        )
        self.queue = StoreAndForwardQueue(queue_path, capacity=c.queue_capacity)
        link = LinkConfig(
            host=c.broker_host,
            port=c.broker_port,
            tls=c.tls,
            ca_file=config_file(c.ca_file) if c.ca_file else "",
            cert_file=config_file(c.cert_file) if c.cert_file else "",
            key_file=config_file(c.key_file) if c.key_file else "",
            keepalive_s=c.keepalive,
            reconnect_min_s=c.reconnect_min,
            reconnect_max_s=c.reconnect_max,
            window=c.window,
            delivery=c.delivery,  # type: ignore[arg-type]
            cloud_ack_timeout_s=c.cloud_ack_timeout,
        )
        verifier = CommandVerifier(
            self.identity, keys, self.queue, time.time, c.command_max_lifetime, c.clock_skew
        )
        self.bridge = CloudBridge(
            self.identity,
            link,
            self.queue,
            verifier,
            self._on_command,
            BackpressureConfig(high_watermark=c.high_watermark),
        )
        self.events = EventCounter()
        self._pending: queue.Queue[tuple[Command, threading.Event, list[CommandResult]]] = queue.Queue()
        self._statuses: dict[str, pl.StatusLine] = {}
        self._filter = pl.ChangeFilter(c.event_repeat)
        self.remote_stop_active = self.queue.get_meta(REMOTE_STOP_META) == "1"

        self.subscription(topics.DIAGNOSTICS, self._on_diagnostics)
        if c.profile == "vehicle":
            self._status: VehicleStatus | None = None
            self._equipment: WorkEquipmentStatus | None = None
            self._fix: Any = None
            self._yaw: float | None = None
            self.subscription(topics.VEHICLE_STATUS, lambda m: setattr(self, "_status", m))
            self.subscription(topics.EQUIPMENT_STATUS, lambda m: setattr(self, "_equipment", m))
            self.subscription(topics.LOCALIZATION_GEODETIC, lambda m: setattr(self, "_fix", m))
            self.subscription(topics.ODOMETRY, self._on_odometry)
            self.subscription(topics.TASK_PROGRESS, self._on_task)
            self.subscription(topics.ADVISORIES, self._on_advisories)
            self.subscription(topics.V2X_RX_RSI, self._on_rx_rsi)
            self._stop_pub = self.publisher(topics.CLOUD_REMOTE_STOP)
            self._task_client = self.create_client(StartSweepTask, START_SWEEP_TASK_SERVICE)
            if self.remote_stop_active:  # a stop outlives a bridge restart
                self._stop_pub.publish(Bool(data=True))
            self.create_timer(1.0 / c.state_rate, self._send_state)
        else:
            self._spat: Spat | None = None
            self._rsm: Rsm | None = None
            self.subscription(topics.V2X_TX_SPAT, lambda m: setattr(self, "_spat", m))
            self.subscription(topics.V2X_TX_RSM, lambda m: setattr(self, "_rsm", m))
            self.subscription(topics.V2X_TX_RSI, self._on_tx_rsi)
            self._rsi_pub = self.publisher(topics.V2X_TX_RSI)
            self.create_timer(1.0 / c.state_rate, self._send_roadside)
        self.create_timer(c.diag_period, self._send_diag)
        self.create_timer(0.05, self._drain_commands)
        self.health.add("cloud link", self._health)
        self.bridge.start()

    # ------------------------------------------------------------------ uplink
    def _publish(self, stream: str, data: dict[str, Any]) -> None:
        before = self.bridge.stats().invalid_uplink.get(stream, 0)
        dropped = self.bridge.publish(stream, data, self.now_s()) is None
        if dropped and self.bridge.stats().invalid_uplink.get(stream, 0) > before:  # not merely thinned
            text = self.events.record(f"invalid {stream} uplink dropped")
            if text:
                self.get_logger().warning(text)

    def _on_odometry(self, msg: Any) -> None:
        q = msg.pose.pose.orientation
        self._yaw = pl.yaw_from_quaternion(q.x, q.y, q.z, q.w)

    def _send_state(self) -> None:
        fix, status, eq = self._fix, self._status, self._equipment
        if fix is None or pl.num(fix.latitude) is None or pl.num(fix.longitude) is None:
            text = self.events.record("no position for the state uplink")
            if text:
                self.get_logger().info(text)
            return
        data: dict[str, Any] = {
            "pose": {
                "lat": round(float(fix.latitude), 8),
                "lon": round(float(fix.longitude), 8),
                "alt": pl.num(fix.altitude, 2),
                "heading": None if self._yaw is None else round(self._yaw, 4),
            },
            "speed": 0.0 if status is None else pl.num(status.speed, 3) or 0.0,
            "mode": "unknown" if status is None else pl.name_of(pl.DRIVE_MODE_NAMES, status.drive_mode),
            "estop": False if status is None else bool(status.emergency_stop_active),
            "battery": {"soc": None}
            if status is None
            else {
                "soc": pl.fraction(status.battery_soc),
                "voltage": pl.num(status.battery_voltage, 2),
                "current": pl.num(status.battery_current, 2),
            },
            "bin_fill": None if eq is None else pl.fraction(eq.bin_fill),
            "water_level": None if eq is None else pl.fraction(eq.water_level),
            "alarms": ["remote_stop"] if self.remote_stop_active else [],
            "faults": [] if status is None else [int(f) for f in status.fault_codes][:64],
        }
        if eq is not None:
            data["equipment"] = {
                "enabled": bool(eq.enabled),
                "side_brush_left": pl.name_of(pl.BRUSH_NAMES, eq.side_brush_left),
                "side_brush_right": pl.name_of(pl.BRUSH_NAMES, eq.side_brush_right),
                "main_brush": pl.name_of(pl.BRUSH_NAMES, eq.main_brush),
                "suction_fan": pl.fraction(eq.suction_fan_speed),
                "water_spray_flow": pl.num(eq.water_spray_flow, 3),
                "dump": pl.name_of(pl.DUMP_NAMES, eq.dump),
            }
            data["alarms"] += [a for a, on in (("bin_full", eq.bin_full), ("water_low", eq.water_low)) if on]
        self._publish("state", data)

    def _on_task(self, msg: TaskProgress) -> None:
        data = {
            "task_id": msg.task_id[:128],
            "state": pl.name_of(pl.TASK_STATE_NAMES, msg.state, "failed"),
            "coverage": pl.fraction(msg.coverage) or 0.0,
            "distance_swept": max(0.0, pl.num(msg.distance_swept, 2) or 0.0),
            "distance_total": max(0.0, pl.num(msg.distance_total, 2) or 0.0),
            "current_segment": int(msg.current_segment),
            "alarms": [a[:64] for a in msg.alarms][:32],
            "message": msg.message[:256],
        }
        key = ("task", data["task_id"])
        value = (data["state"], round(data["coverage"], 2), data["current_segment"], tuple(data["alarms"]))
        if self._filter.passes(key, value):
            self._publish("task", data)

    def _on_advisories(self, msg: AdvisoryArray) -> None:
        for a in msg.advisories:
            data = {
                "type": pl.name_of(pl.ADVISORY_NAMES, a.type, "hazard"),
                "severity": pl.name_of(pl.SEVERITY_NAMES, a.severity, "critical"),
                "target_id": a.target_id[:64],
                "distance": pl.num(a.distance, 2),
                "time_to_collision": pl.num(a.time_to_collision, 2),
                "recommended_speed": pl.num(a.recommended_speed, 2),
                "text": a.text[:256],
            }
            if self._filter.passes(("advisory", data["type"], data["target_id"]), data["severity"]):
                self._publish("advisory", data)

    def _rsi_events(self, msg: Rsi) -> list[dict[str, Any]]:
        ref = msg.reference_position
        alt = ref.elevation if pl.num(ref.elevation) is not None else 0.0
        out = []
        for e in msg.events[:16]:
            out.append(
                {
                    "rte_id": int(e.rte_id),
                    "event_type": int(e.event_type),
                    "source": pl.name_of(pl.RSI_SOURCE_NAMES, e.source),
                    "position": pl.enu_to_geodetic(
                        (ref.latitude, ref.longitude, alt), e.position.x, e.position.y, e.position.z
                    ),
                    "radius": pl.num(e.radius, 2),
                    "description": e.description[:256],
                    "start_time": from_time(e.start_time),
                    "end_time": from_time(e.end_time),
                    "priority": min(7, int(e.priority)),
                }
            )
        return out

    def _on_rx_rsi(self, msg: Rsi) -> None:
        events = self._rsi_events(msg)
        key = ("v2x-rsi", msg.v2x.sender_id)
        if self._filter.passes(key, tuple((e["rte_id"], e["event_type"]) for e in events)):
            verified = msg.v2x.security_verdict == 1
            summary = f"{len(events)} RSI event(s)"
            data = {"message": "rsi", "sender_id": msg.v2x.sender_id[:32], "verified": verified}
            self._publish("v2x", {**data, "summary": summary, "events": events})

    def _on_tx_rsi(self, msg: Rsi) -> None:
        events = self._rsi_events(msg)
        if self._filter.passes(
            ("rsi",), tuple((e["rte_id"], e["event_type"], e["description"]) for e in events)
        ):
            self._publish("rsi", {"sender_id": msg.v2x.sender_id[:32], "events": events})

    def _send_roadside(self) -> None:
        spat, self._spat = self._spat, None
        if spat is not None:
            intersections = []
            for i in spat.intersections[:32]:
                phases = []
                for p in i.phases[:64]:
                    state = p.states[0] if p.states else None
                    phases.append(
                        {
                            "phase_id": int(p.phase_id),
                            "light": pl.name_of(pl.LIGHT_NAMES, state.light if state else 0, "unavailable"),
                            "remaining": None
                            if state is None
                            else pl.num(max(0.0, state.likely_end_time), 1),
                        }
                    )
                intersections.append({"region": int(i.region), "node_id": int(i.node_id), "phases": phases})
            self._publish("signal", {"intersections": intersections})
        rsm, self._rsm = self._rsm, None
        if rsm is not None:
            by_type: dict[str, int] = {}
            for p in rsm.participants[:16]:
                name = pl.name_of(pl.PARTICIPANT_NAMES, p.type)
                by_type[name] = by_type.get(name, 0) + 1
            participants = min(16, len(rsm.participants))
            self._publish(
                "rsm", {"sender_id": rsm.v2x.sender_id[:32], "participants": participants, "by_type": by_type}
            )

    def _on_diagnostics(self, msg: Any) -> None:
        for s in msg.status:
            level = s.level[0] if isinstance(s.level, bytes | bytearray) else int(s.level)
            self._statuses[s.name] = pl.StatusLine(s.name, int(level), s.message)
        if len(self._statuses) > 1024:
            self._statuses.clear()

    def _send_diag(self) -> None:
        s = self.bridge.stats()
        link = {
            "queue_size": s.queue_size,
            "queue_capacity": s.queue_capacity,
            "dropped": sum(s.dropped.values()),
            "rejected_commands": s.commands_rejected,
        }
        self._publish("diag", pl.diag_summary(self._statuses.values(), link))

    # ------------------------------------------------------------------ downlink
    def _on_command(self, command: Command) -> CommandResult:
        """Bridge worker thread: hand over to the executor thread and wait for the outcome."""
        done = threading.Event()
        result: list[CommandResult] = []
        self._pending.put((command, done, result))
        if not done.wait(self.config.sweep_task_timeout + 1.0):
            return CommandResult("failed", "vehicle interface did not answer in time")
        return result[0]

    def _drain_commands(self) -> None:
        while True:
            try:
                command, done, result = self._pending.get_nowait()
            except queue.Empty:
                return
            try:
                self._execute(command, done, result)
            except Exception as err:  # a bad command must never kill the node
                result.append(CommandResult("failed", f"{type(err).__name__}: {err}"[:200]))
                done.set()

    def _execute(self, command: Command, done: threading.Event, result: list[CommandResult]) -> None:
        data = command.data
        if command.command == "remote_stop":
            stop = data["action"] == "stop"
            self.remote_stop_active = stop
            self.queue.set_meta(REMOTE_STOP_META, "1" if stop else "0")
            self._stop_pub.publish(Bool(data=stop))
            self.get_logger().warning(
                f"remote {'STOP' if stop else 'stop release'} from the operations centre "
                f"(command {command.command_id}): {data.get('reason', '')}"
            )
            result.append(CommandResult("accepted", "controlled stop requested" if stop else "stop released"))
            done.set()
        elif command.command == "sweep_task":
            self._start_task(data, done, result)
        elif command.command == "rsi_update":
            self._rsi_pub.publish(self._rsi_message(data))
            result.append(CommandResult("accepted", f"{len(data['events'])} event(s) handed to the RSU"))
            done.set()
        else:
            result.append(CommandResult("rejected", f"{command.command} not handled here"))
            done.set()

    def _start_task(self, data: dict[str, Any], done: threading.Event, result: list[CommandResult]) -> None:
        if not self._task_client.service_is_ready():
            result.append(CommandResult("failed", f"planner service {START_SWEEP_TASK_SERVICE} unavailable"))
            done.set()
            return
        task = SweepTask(
            task_id=data["task_id"],
            curb_offset=float(data["curb_offset"]),
            max_speed=float(data["max_speed"]),
            side_brush_speed=float(data["side_brush_speed"]),
            main_brush_speed=float(data["main_brush_speed"]),
            suction_fan_speed=float(data["suction_fan_speed"]),
            water_spray_flow=float(data["water_spray_flow"]),
        )
        task.segments = [
            CurbSegment(
                segment_id=s["segment_id"],
                lanelet_id=int(s["lanelet_id"]),
                side=CurbSegment.SIDE_LEFT if s["side"] == "left" else CurbSegment.SIDE_RIGHT,
                start_s=float(s["start_s"]),
                end_s=float("nan") if s["end_s"] is None else float(s["end_s"]),
            )
            for s in data["segments"]
        ]
        future = self._task_client.call_async(StartSweepTask.Request(task=task))

        def answered(f: Any) -> None:
            resp = f.result()
            if resp is None:
                result.append(CommandResult("failed", "planner call failed"))
            elif resp.accepted:
                result.append(CommandResult("accepted", "task started"))
            else:
                result.append(CommandResult("rejected", f"planner: {resp.message}"[:256]))
            done.set()

        future.add_done_callback(answered)

    def _rsi_message(self, data: dict[str, Any]) -> Rsi:
        ref = data["reference"]
        msg = Rsi()
        msg.v2x.header.stamp = self.get_clock().now().to_msg()
        msg.v2x.header.frame_id = "wgs84"
        msg.reference_position.latitude = float(ref["lat"])
        msg.reference_position.longitude = float(ref["lon"])
        msg.reference_position.elevation = float("nan") if ref.get("alt") is None else float(ref["alt"])
        for e in pl.rsi_events_to_enu(ref, data["events"]):
            msg.events.append(
                RsiEvent(
                    rte_id=e.rte_id,
                    event_type=e.event_type,
                    source=e.source,
                    position=Point(x=e.east, y=e.north, z=e.up),
                    radius=e.radius,
                    description=e.description,
                    start_time=to_time(e.start_time),
                    end_time=to_time(e.end_time),
                    priority=e.priority,
                    confidence=float("nan"),
                )
            )
        return msg

    # ------------------------------------------------------------------ health
    def _health(self) -> Health:
        s = self.bridge.stats()
        fill = s.queue_size / max(1, s.queue_capacity)
        values = {
            "connected": str(s.connected).lower(),
            "queue_size": str(s.queue_size),
            "queue_capacity": str(s.queue_capacity),
            "queue_fill": f"{fill:.3f}",
            "inflight": str(s.inflight),
            "broker_acked": str(s.broker_acked),
            "cloud_acked": str(s.cloud_acked),
            "resends": str(s.resends),
            "thinned": str(s.thinned),
            "dropped": str(sum(s.dropped.values())),
            "invalid_uplink": str(sum(s.invalid_uplink.values())),
            "commands_accepted": str(s.commands_accepted),
            "commands_rejected": str(s.commands_rejected),
            "commands_failed": str(s.commands_failed),
            "last_rejection": s.last_rejection,
            "connects": str(s.connects),
            "remote_stop": str(self.remote_stop_active).lower(),
        }
        if s.dropped or fill >= 0.9:
            return Health(
                Level.ERROR, f"uplink queue {fill:.0%} full, {sum(s.dropped.values())} dropped", values
            )
        if fill >= self.config.high_watermark:
            return Health(Level.WARN, f"backpressure: uplink queue {fill:.0%} full, state thinned", values)
        if not s.connected:
            return Health(Level.WARN, f"broker unreachable, {s.queue_size} message(s) queued", values)
        return Health(Level.OK, "connected", values)

    def on_safe_stop(self) -> None:
        """Close the link; queued messages stay on disk. A remote stop stays latched (published)."""
        self.bridge.stop()
        self.queue.close()


NODE = CloudBridgeNode
main = make_main(NODE)
