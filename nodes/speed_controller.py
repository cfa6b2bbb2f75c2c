"""Speed controller of the first slice: holds a target speed on the chassis pedals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roadedge_msgs.msg import VehicleCommand, VehicleStatus
from std_msgs.msg import Float32

from roadedge import topics
from roadedge.config import param
from roadedge.control.speed_hold import SpeedHold, SpeedHoldGains
from roadedge.diagnostics import Health, Level
from roadedge.ros.node import RoadedgeNode, make_main


@dataclass(frozen=True)
class SpeedControllerConfig:
    target_speed: float = param(3.0, help="m/s held until a new one arrives on control/target_speed", low=0.0)
    max_speed: float = param(8.0, help="m/s, targets above are clamped", low=0.0, high=40.0)
    rate: float = param(50.0, help="command rate, Hz", low=1.0, high=200.0)
    status_timeout: float = param(0.2, help="s without /vehicle/status before commanding a stop", low=0.01)
    kp: float = param(0.5, help="pedal per m/s of speed error", low=0.0)
    ki: float = param(0.15, help="pedal per m of integrated speed error", low=0.0)


class SpeedController(RoadedgeNode[SpeedControllerConfig]):
    Schema = SpeedControllerConfig
    default_name = "speed_controller"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = self.config
        self.target_speed = min(c.target_speed, c.max_speed)
        self._pid = SpeedHold(SpeedHoldGains(kp=c.kp, ki=c.ki))
        self._speed: float | None = None
        self._status_time: float | None = None
        self._last_tick: float | None = None
        self._stale = False
        self._cmd_pub = self.publisher(topics.VEHICLE_COMMAND)
        self.subscription(topics.VEHICLE_STATUS, self._on_status)
        self.subscription(topics.TARGET_SPEED, self._on_target)
        self.create_timer(1.0 / c.rate, self._tick)
        self.health.add("control", self._health)

    def _on_status(self, msg: VehicleStatus) -> None:
        self._speed = float(msg.speed)
        self._status_time = self.now_s()

    def _on_target(self, msg: Float32) -> None:
        value = float(msg.data)
        if not 0.0 <= value <= self.config.max_speed:
            self.get_logger().warning(f"target speed {value} m/s outside 0..{self.config.max_speed}: clamped")
        self.target_speed = min(max(value, 0.0), self.config.max_speed)

    def _command(self, enable: bool) -> VehicleCommand:
        cmd = VehicleCommand()
        cmd.header.stamp = self.get_clock().now().to_msg()
        cmd.header.frame_id = "base_link"
        cmd.enable = enable
        cmd.drive_mode = VehicleCommand.MODE_AUTONOMOUS
        cmd.gear = VehicleCommand.GEAR_DRIVE
        cmd.use_pedals = True
        cmd.target_speed = self.target_speed
        return cmd

    def _tick(self) -> None:
        now = self.now_s()
        dt = 0.0 if self._last_tick is None else now - self._last_tick
        self._last_tick = now
        fresh = self._status_time is not None and now - self._status_time <= self.config.status_timeout
        self._stale = not fresh
        if not fresh or self._speed is None:
            self._pid.reset()
            self._cmd_pub.publish(self._command(enable=False))
            return
        pedals = self._pid.update(self.target_speed, self._speed, dt)
        cmd = self._command(enable=True)
        cmd.throttle, cmd.brake = pedals.throttle, pedals.brake
        self._cmd_pub.publish(cmd)

    def on_safe_stop(self) -> None:
        self._cmd_pub.publish(self._command(enable=False))

    def _health(self) -> Health:
        values = {"target_speed_mps": f"{self.target_speed:.2f}", "speed_mps": f"{self._speed or 0.0:.2f}"}
        if self._stale:
            return Health(Level.WARN, "vehicle status stale: commanding stop", values)
        return Health(Level.OK, "holding speed", values)


NODE = SpeedController
main = make_main(NODE)
