"""Trajectory controller: /planning/trajectory + /localization/odometry + /vehicle/status -> /vehicle/command
at 50 Hz (lateral curvature feed-forward + feedback, longitudinal PID with feed-forward; roadedge.control).

Stale inputs (odometry, trajectory, vehicle status) -> a controlled stop with hazard lights. The work
beacon mirrors /vehicle/work_equipment/command enable ("sanitation vehicle at work"). Tracking errors go to
/diagnostics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rclpy.serialization import deserialize_message
from roadedge_msgs.msg import Trajectory, VehicleCommand, VehicleStatus, WorkEquipmentCommand

from roadedge import topics
from roadedge.config import param
from roadedge.control.tracking import (
    ControllerParams,
    ControlOutput,
    Reference,
    TrajectoryController,
    VehicleState,
)
from roadedge.diagnostics import EventCounter, Health, Level
from roadedge.planning import trajectory_wire
from roadedge.ros.node import RoadedgeNode, make_main
from roadedge.ros.qos import qos_for


@dataclass(frozen=True)
class ControllerConfig:
    rate: float = param(50.0, help="command rate, Hz", low=1.0, high=200.0)
    wheelbase: float = param(2.8, help="m", low=0.5)
    max_steering_angle: float = param(0.6, help="rad at the road wheels", low=0.05)
    max_steering_rate: float = param(0.5, help="rad/s", low=0.01)
    lateral_bandwidth: float = param(0.6, help="1/m, lateral error dynamics", low=0.01)
    steering_preview_time: float = param(0.25, help="s, curvature feed-forward preview", low=0.0)
    kp: float = param(0.4, help="(m/s^2) per (m/s)", low=0.0)
    ki: float = param(0.1, help="(m/s^2) per m", low=0.0)
    stop_deceleration: float = param(1.5, help="m/s^2 of the controlled stop on stale inputs", low=0.1)
    odometry_timeout: float = param(0.2, help="s", low=0.01)
    trajectory_timeout: float = param(1.0, help="s", low=0.05)
    status_timeout: float = param(0.2, help="s; 0 = do not require /vehicle/status", low=0.0)


class ControllerNode(RoadedgeNode[ControllerConfig]):
    Schema = ControllerConfig
    default_name = "controller"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = self.config
        self.core = TrajectoryController(
            ControllerParams(
                wheelbase=c.wheelbase,
                max_steering_angle=c.max_steering_angle,
                max_steering_rate=c.max_steering_rate,
                lateral_bandwidth=c.lateral_bandwidth,
                steering_preview_time=c.steering_preview_time,
                kp=c.kp,
                ki=c.ki,
                stop_deceleration=c.stop_deceleration,
                odometry_timeout=c.odometry_timeout,
                trajectory_timeout=c.trajectory_timeout,
                status_timeout=c.status_timeout,
            )
        )
        self._state: VehicleState | None = None
        self._odom_time = -math.inf
        self._status_time = -math.inf
        self._at_work = False
        self._last_tick: float | None = None
        self._last: ControlOutput | None = None
        self._bad = EventCounter()
        self._pub = self.publisher(topics.VEHICLE_COMMAND)
        # raw: the points are read straight into arrays (trajectory_wire), not into rosidl objects
        self.create_subscription(
            Trajectory, topics.TRAJECTORY.name, self._on_trajectory, qos_for(topics.TRAJECTORY), raw=True
        )
        self.subscription(topics.ODOMETRY, self._on_odometry)
        self.subscription(topics.VEHICLE_STATUS, self._on_status)
        self.subscription(topics.EQUIPMENT_COMMAND, self._on_equipment)
        self.create_timer(1.0 / c.rate, self._tick)
        self.health.add("tracking", self._health)

    def _reject(self, kind: str, detail: str = "") -> None:
        text = self._bad.record(kind, detail)
        if text is not None:
            self.get_logger().warning(f"dropped bad input: {text}")

    def _on_trajectory(self, data: bytes | Trajectory) -> None:
        """A Trajectory, serialized (the raw subscription: read into arrays by trajectory_wire) or not."""
        try:
            if isinstance(data, Trajectory):
                t = trajectory_wire.from_message(data)
            elif bytes(data[:4]) == trajectory_wire.CDR_LE:
                t = trajectory_wire.decode(data)
            else:  # another encapsulation (big-endian, XCDR2 from another DDS): through rclpy
                t = trajectory_wire.from_message(deserialize_message(data, Trajectory))
            ref = Reference.from_points(
                t.x,
                t.y,
                t.velocity,
                t.acceleration,
                t.curvature,
                t.lateral_offset,
                behaviour=t.behaviour,
                stamp=self.now_s(),
            )
        except (ValueError, RuntimeError) as exc:
            self._reject("trajectory", str(exc))
            return
        if self.core.reference is None:
            self.core.set_reference(ref)
        else:
            self.core.reference = ref
            self.core._hint = None

    def _on_odometry(self, msg: Any) -> None:
        p = msg.pose.pose
        q = p.orientation
        yaw = math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
        v = msg.twist.twist.linear.x
        vals = (p.position.x, p.position.y, yaw, v)
        if not all(math.isfinite(x) for x in vals):
            self._reject("odometry")
            return
        acc = self._state.acceleration if self._state is not None else 0.0
        self._state = VehicleState(p.position.x, p.position.y, yaw, v, acc)
        self._odom_time = self.now_s()

    def _on_status(self, msg: VehicleStatus) -> None:
        self._status_time = self.now_s()
        if self._state is not None and math.isfinite(msg.acceleration):
            s = self._state
            self._state = VehicleState(s.x, s.y, s.yaw, s.speed, float(msg.acceleration))

    def _on_equipment(self, msg: WorkEquipmentCommand) -> None:
        self._at_work = bool(msg.enable)

    def _tick(self) -> None:
        now = self.now_s()
        dt = 0.0 if self._last_tick is None else now - self._last_tick
        self._last_tick = now
        status = self._status_time if self.config.status_timeout > 0.0 else None
        if self._state is None:
            out = self.core.stop_output(0.0, "no_odometry", self._at_work)
        else:
            out = self.core.update(now, self._state, dt, self._odom_time, status, self._at_work)
        self._last = out
        self._pub.publish(self._command(out))

    def _command(self, out: ControlOutput) -> VehicleCommand:
        cmd = VehicleCommand()
        cmd.header.stamp = self.get_clock().now().to_msg()
        cmd.header.frame_id = "base_link"
        cmd.enable = out.enable
        cmd.drive_mode = out.drive_mode
        cmd.target_speed = float(out.target_speed)
        cmd.target_acceleration = float(out.target_acceleration)
        cmd.steering_angle = float(out.steering_angle)
        cmd.steering_rate = float(out.steering_rate)
        cmd.gear = out.gear
        cmd.park_brake = out.park_brake
        cmd.emergency_stop = out.emergency_stop
        cmd.hazard_lights = out.hazard_lights
        cmd.beacon_light = VehicleCommand.LIGHT_ON if self._at_work else VehicleCommand.LIGHT_OFF
        return cmd

    def on_safe_stop(self) -> None:
        speed = self._state.speed if self._state is not None else 0.0
        self._pub.publish(self._command(self.core.stop_output(speed, "shutdown", self._at_work)))

    def _health(self) -> Health:
        out = self._last
        err = out.error if out is not None else None
        values = {f"dropped_{k}": str(n) for k, n in self._bad.counts.items()}
        if err is not None:
            values.update(
                lateral_error_m=f"{err.lateral:.3f}",
                heading_error_rad=f"{err.heading:.3f}",
                speed_error_mps=f"{err.speed:.2f}",
                station_m=f"{err.station:.1f}",
            )
        if out is None:
            return Health(Level.WARN, "not started", values)
        if out.reason in ("tracking", "standstill"):
            return Health(Level.OK, out.reason, values)
        return Health(Level.WARN, f"controlled stop: {out.reason}", values)


NODE = ControllerNode
main = make_main(NODE)
