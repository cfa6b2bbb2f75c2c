"""Chassis HAL: /vehicle/command -> safety watchdog -> CAN (50 Hz), CAN -> /vehicle/status.

A lifecycle driver. configure loads the chassis (DBC + YAML map, ``chassis_map``) and
checks it against the roadedge_msgs interfaces; activate opens the bus and starts
:class:`roadedge.hal.runtime.ChassisRuntime` (watchdog, sender and receiver threads): with
``sender: process`` (default) in a process of its own (:mod:`roadedge.hal.sender`), away
from this node's executor and its GIL, at SCHED_FIFO ``realtime_priority`` when set (a
refusal is a ``realtime`` diagnostic, the HAL runs on); ``sender: thread`` keeps it in this
process (the ``virtual`` bus). Deactivate and shutdown send controlled-stop frames first.
Work equipment on CAN (a map with equipment sections) is commanded from
/vehicle/work_equipment/command and reported on .../status.
Every safety fault is reported on /diagnostics at once (and counted). A controlled stop
keeps the node active (it is the chassis' safe state: stop frames keep flowing; without
frames the chassis would stop on its own timeout). ``vehicle/set_drive_mode`` overrides
the drive_mode of the commands until the next request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roadedge_msgs.msg import VehicleCommand, VehicleStatus, WorkEquipmentCommand, WorkEquipmentStatus
from roadedge_msgs.srv import SetDriveMode
from std_msgs.msg import Bool

from roadedge import topics
from roadedge.config import ConfigError, param
from roadedge.diagnostics import Health, Level
from roadedge.hal.bus import INTERFACES, BusConfig, open_bus
from roadedge.hal.canmap import CanMap, FieldValue
from roadedge.hal.runtime import ChassisRuntime, Snapshot
from roadedge.hal.safety import SafetyLimits
from roadedge.hal.sender import SENDER_MODES, SenderConfig, SenderProcess
from roadedge.profiles import CONFIG_DIR
from roadedge.ros.node import RoadedgeLifecycleNode, make_main

SET_DRIVE_MODE_SERVICE = "vehicle/set_drive_mode"


@dataclass(frozen=True)
class ChassisHalConfig:
    chassis_map: str = param("chassis/sweeper_v1.yaml", help="YAML map of the chassis (relative: to config/)")
    can_interface: str = param("virtual", help="python-can interface", choices=INTERFACES)
    can_channel: str = param("roadedge", help="can0 (socketcan), a name (virtual), a pty link (serial)")
    can_bitrate: int = param(500000, help="bit/s (socketcan adapters that need it)", low=10000, high=8000000)
    reconnect_period: float = param(0.5, help="s between attempts to reopen a lost bus", low=0.05)
    status_rate: float = param(50.0, help="/vehicle/status rate, Hz", low=1.0, high=200.0)
    equipment_timeout: float = param(1.0, help="s without an equipment command -> equipment safe", low=0.05)
    command_timeout: float = param(0.2, help="s without a fresh command -> controlled stop", low=0.02)
    max_steering_angle: float = param(0.6, help="rad, road-wheel angle limit", low=0.0)
    max_steering_rate: float = param(0.8, help="rad/s", low=0.0)
    max_accel: float = param(1.5, help="m/s^2", low=0.0)
    max_decel: float = param(3.0, help="m/s^2 (positive)", low=0.0)
    max_jerk: float = param(4.0, help="m/s^3", low=0.0)
    max_speed_autonomous: float = param(8.0, help="m/s in MODE_AUTONOMOUS", low=0.0)
    max_speed_sweeping: float = param(2.5, help="m/s in MODE_SWEEPING", low=0.0)
    max_speed_remote: float = param(3.0, help="m/s in MODE_REMOTE", low=0.0)
    stop_decel: float = param(2.0, help="m/s^2 of the controlled stop", low=0.1)
    estop_decel: float = param(5.0, help="m/s^2 of the emergency stop", low=0.1)
    integrity_max_errors: int = param(3, help="checksum/counter rejections within the window -> stop", low=1)
    integrity_window: float = param(1.0, help="s", low=0.01)
    realtime_priority: int = param(
        0,
        help="SCHED_FIFO priority of the sender (0: off); needs CAP_SYS_NICE or LimitRTPRIO>= it",
        low=0,
        high=99,
    )
    sender: str = param(
        "process",
        help="process: watchdog and CAN threads in a process of their own (no GIL shared with "
        "the executor); thread: in this process (needed by the virtual bus)",
        choices=SENDER_MODES,
    )
    feedback_grace: float = param(1.0, help="s after (re)connecting before missing feedback counts", low=0.0)


def resolve_config_path(path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else CONFIG_DIR / candidate


def msg_fields(msg_type: Any) -> dict[str, str]:
    return dict(msg_type.get_fields_and_field_types())


def check_map(canmap: CanMap) -> None:
    """Every field the map names must exist in the message of its section."""
    types = {
        "vehicle_command": VehicleCommand,
        "vehicle_status": VehicleStatus,
        "equipment_command": WorkEquipmentCommand,
        "equipment_status": WorkEquipmentStatus,
    }
    for section, msg_type in types.items():
        unknown = canmap.fields(section) - set(msg_fields(msg_type))
        if unknown:
            raise ConfigError(
                f"{canmap.path}: {section} names fields {sorted(unknown)} not in {msg_type.__name__}"
            )


def to_message(msg: Any, fields: dict[str, FieldValue]) -> Any:
    for name, kind in msg_fields(type(msg)).items():
        if name not in fields:
            continue
        value = fields[name]
        if kind == "boolean":
            setattr(msg, name, bool(value))
        elif kind.startswith("sequence<"):
            setattr(msg, name, [int(v) & 0xFFFFFFFF for v in value] if isinstance(value, list) else [])
        elif kind.startswith(("uint", "int")):
            setattr(msg, name, max(0, min(255, int(value))) if kind == "uint8" else int(value))  # type: ignore[arg-type]
        elif kind in ("float", "double"):
            setattr(msg, name, float(value))  # type: ignore[arg-type]
    return msg


def from_message(msg: Any) -> dict[str, Any]:
    return {name: getattr(msg, name) for name in msg_fields(type(msg)) if name != "header"}


class ChassisHal(RoadedgeLifecycleNode[ChassisHalConfig]):
    Schema = ChassisHalConfig
    default_name = "chassis_hal"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runtime: ChassisRuntime | SenderProcess | None = None
        self._canmap: CanMap | None = None
        self._faults_seen: dict[str, int] = {}
        self._rx_seen = -1
        self._status_pub = self.publisher(topics.VEHICLE_STATUS)
        self._equipment_pub = self.publisher(topics.EQUIPMENT_STATUS)
        self.subscription(topics.VEHICLE_COMMAND, self._on_command)
        self.subscription(topics.EQUIPMENT_COMMAND, self._on_equipment)
        self._remote_stop = False
        self._restart_at = -1e9
        self._sender_restarts = 0  # sender processes started again after one died (in diagnostics)
        self.subscription(topics.CLOUD_REMOTE_STOP, self._on_remote_stop)
        self.create_service(SetDriveMode, SET_DRIVE_MODE_SERVICE, self._on_set_mode)
        self.create_timer(1.0 / self.config.status_rate, self._publish)
        self.health.add("safety", self._safety_health)
        self.health.add("can", self._can_health)
        self.health.add("realtime", self._realtime_health)

    # --- lifecycle ------------------------------------------------------------------------------
    def open_device(self) -> bool:
        c = self.config
        try:
            canmap = CanMap(resolve_config_path(c.chassis_map))
            check_map(canmap)
        except ConfigError as err:
            self.get_logger().error(str(err))
            return False
        options = {"bitrate": c.can_bitrate} if c.can_interface == "socketcan" else {}
        bus_config = BusConfig(c.can_interface, c.can_channel, c.can_bitrate, options)
        limits = SafetyLimits(
            command_timeout_s=c.command_timeout,
            max_steering_angle=c.max_steering_angle,
            max_steering_rate=c.max_steering_rate,
            max_accel=c.max_accel,
            max_decel=c.max_decel,
            max_jerk=c.max_jerk,
            max_speed_autonomous=c.max_speed_autonomous,
            max_speed_sweeping=c.max_speed_sweeping,
            max_speed_remote=c.max_speed_remote,
            stop_decel=c.stop_decel,
            estop_decel=c.estop_decel,
            integrity_max_errors=c.integrity_max_errors,
            integrity_window_s=c.integrity_window,
            feedback_grace_s=c.feedback_grace,
        )
        self._canmap = canmap
        if c.sender == "process" and c.can_interface == "virtual":
            self.get_logger().error("the virtual bus lives in one process: it needs 'sender: thread'")
            return False
        on_event = self._on_runtime_event
        if c.sender == "process":
            self.runtime = SenderProcess(
                SenderConfig(
                    resolve_config_path(c.chassis_map),
                    bus_config,
                    limits,
                    reconnect_s=c.reconnect_period,
                    equipment_timeout_s=c.equipment_timeout,
                    realtime_priority=c.realtime_priority,
                ),
                on_event=on_event,
            )
        else:
            self.runtime = ChassisRuntime(
                canmap,
                lambda: open_bus(bus_config),
                limits,
                on_event=on_event,
                reconnect_s=c.reconnect_period,
                equipment_timeout_s=c.equipment_timeout,
                realtime_priority=c.realtime_priority,
            )
        self.runtime.remote_stop(self._remote_stop)
        cycle_ms = self.runtime.cycle_s * 1e3
        self.get_logger().info(
            f"chassis {canmap.name} on {c.can_interface}:{c.can_channel}, cycle {cycle_ms:.0f} ms, "
            f"sender: {c.sender}"
        )
        return True

    def _on_runtime_event(self, kind: str, text: str) -> None:
        if kind in ("realtime_priority_refused", "sender_exited"):
            self.get_logger().error(text)
        else:
            self.get_logger().warning(text)

    def close_device(self) -> None:
        self.runtime = None

    def start_output(self) -> None:
        if self.runtime is not None:
            self.runtime.start()
            self.runtime.remote_stop(self._remote_stop)

    def stop_output(self) -> None:
        if self.runtime is not None and self.runtime.running:
            self.runtime.stop(send_stop=True)

    # --- ROS inputs -----------------------------------------------------------------------------
    def _on_command(self, msg: VehicleCommand) -> None:
        if self.runtime is None or not self.active:
            return
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        age = self.now_s() - stamp if stamp > 0 else 0.0
        self.runtime.command(from_message(msg), age)  # a rejected one is counted by the runtime

    def _on_remote_stop(self, msg: Bool) -> None:
        # Held here too, so a stop that arrives before activation still applies once active.
        self._remote_stop = bool(msg.data)
        if self.runtime is not None:
            self.runtime.remote_stop(self._remote_stop)

    def _on_equipment(self, msg: WorkEquipmentCommand) -> None:
        if self.runtime is not None and self.active:
            self.runtime.equipment_command(from_message(msg))

    def _on_set_mode(self, request: Any, response: Any) -> Any:
        if self.runtime is None or not self.active:
            response.success, response.message = False, "chassis HAL not active"
        else:
            response.success, response.message = self.runtime.request_mode(int(request.mode))
        return response

    # --- outputs ------------------------------------------------------------------------------
    def _publish(self) -> None:
        runtime = self.runtime
        if runtime is None:
            return
        if not runtime.running:
            self._restart_sender(runtime)
            return
        snap = runtime.snapshot()
        new_faults = {k: v for k, v in snap.faults.items() if self._faults_seen.get(k) != v}
        if new_faults:
            self._faults_seen.update(new_faults)
            self.get_logger().error("controlled stop: " + ", ".join(sorted(new_faults)))
            self.health.publish()  # the diagnostic goes out now, not at the next 1 Hz tick
        if snap.rx_frames == self._rx_seen:
            return
        self._rx_seen = snap.rx_frames
        stamp = self.get_clock().now().to_msg()
        fields = snap.status.get("vehicle_status", {})
        if fields:
            status = to_message(VehicleStatus(), fields)
            status.header.stamp = stamp
            status.header.frame_id = "base_link"
            out = snap.last_output
            if out is not None and out.fields.get("emergency_stop"):
                status.emergency_stop_active = True  # the HAL's latched e-stop
            self._status_pub.publish(status)
        equipment = snap.status.get("equipment_status", {})
        if equipment:
            msg = to_message(WorkEquipmentStatus(), equipment)
            msg.header.stamp = stamp
            self._equipment_pub.publish(msg)

    def _restart_sender(self, runtime: ChassisRuntime | SenderProcess) -> None:
        """A sender process that died while active is started again (the chassis stopped on its
        own command timeout meanwhile; the watchdog starts from scratch, no command is replayed)."""
        if not (self.active and isinstance(runtime, SenderProcess) and runtime.exit_code is not None):
            return
        now = time.monotonic()
        if now - self._restart_at < self.config.reconnect_period:
            return
        self._restart_at = now
        try:
            runtime.start()
            runtime.remote_stop(self._remote_stop)
            self._sender_restarts += 1
            self.get_logger().warning(f"chassis sender process restarted ({self._sender_restarts} so far)")
        except RuntimeError as err:
            self.get_logger().error(str(err))

    def _snapshot(self) -> Snapshot | None:
        return self.runtime.snapshot() if self.runtime is not None else None

    def _safety_health(self) -> Health:
        snap = self._snapshot()
        if snap is None:
            return Health(Level.STALE, "not configured")
        values = {f"fault_{k}": str(v) for k, v in sorted(snap.faults.items())}
        values.update({f"clamped_{k}": str(v) for k, v in sorted(snap.clamps.items())})
        values["rejected_commands"] = str(snap.rejected_commands)
        out = snap.last_output
        if out is not None and out.faults:
            return Health(
                Level.ERROR, "controlled stop: " + ", ".join(sorted(f.value for f in out.faults)), values
            )
        if out is not None and out.clamped:
            return Health(Level.WARN, "command limited: " + ", ".join(out.clamped), values)
        return Health(Level.OK, "ok", values)

    def _can_health(self) -> Health:
        runtime, snap = self.runtime, self._snapshot()
        if runtime is None or snap is None:
            return Health(Level.STALE, "not configured")
        values = {
            "tx_frames": str(snap.tx_frames),
            "rx_frames": str(snap.rx_frames),
            "reconnects": str(snap.reconnects),
            "sender": self.config.sender,
            "sender_restarts": str(self._sender_restarts),
        }
        values.update({kind: str(n) for kind, n in sorted(snap.events.items())})
        if not runtime.running and self.active:
            return Health(Level.ERROR, "chassis sender not running", values)
        if not runtime.connected:
            return Health(Level.ERROR, "bus down", values)
        rejected = sum(v for k, v in snap.events.items() if k.startswith("rx_"))
        if rejected:
            return Health(Level.WARN, f"{rejected} frames rejected", values)
        return Health(Level.OK, "ok", values)

    def _realtime_health(self) -> Health:
        """SCHED_FIFO of the sender: refused is a warning (the HAL runs, its cadence is not assured)."""
        snap = self._snapshot()
        if snap is None or not snap.running:
            return Health(Level.STALE, "sender not running")
        values = {"realtime_priority": str(self.config.realtime_priority), "sender": self.config.sender}
        if snap.realtime.startswith("refused"):
            return Health(Level.WARN, snap.realtime, values)
        return Health(Level.OK, snap.realtime, values)


NODE = ChassisHal
main = make_main(NODE)
