"""Vehicle plant of the HIL rig: kinematic bicycle model with actuator lag and limits.

Pure Python, no ROS: the chassis emulators (the roadedge_msgs one and the CAN ECU) and
closed-loop tests of controllers and filters step it and read its state as ground truth.
Frame: a local ENU map frame; x east, y north, yaw counter-clockwise from east.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


@dataclass(frozen=True)
class PlantParams:
    wheelbase: float = 2.8  # m
    max_speed: float = 12.0  # m/s
    max_acceleration: float = 2.0  # m/s^2, traction limit
    max_deceleration: float = 6.0  # m/s^2, full brake
    controlled_stop_deceleration: float = 2.5  # m/s^2, the ECU's stop when autonomy drops
    max_steering_angle: float = 0.6  # rad at the road wheels
    max_steering_rate: float = 0.5  # rad/s
    speed_lag: float = 0.3  # s, first-order lag of the longitudinal actuation
    steering_lag: float = 0.1  # s, first-order lag of the steering actuator
    speed_loop_gain: float = 1.2  # 1/s, the ECU's internal speed loop in target-speed mode
    drag: float = 0.02  # 1/s, speed-proportional resistance in pedal mode
    rolling_resistance: float = 0.1  # m/s^2 in pedal mode


@dataclass
class PlantCommand:
    """What the chassis actuates; mirrors the used fields of roadedge_msgs/VehicleCommand."""

    enable: bool = False
    target_speed: float = 0.0  # m/s
    target_acceleration: float = 0.0  # m/s^2, feed-forward
    steering_angle: float = 0.0  # rad
    steering_rate: float = 0.0  # rad/s, 0 = maximum
    use_pedals: bool = False
    throttle: float = 0.0  # 0..1
    brake: float = 0.0  # 0..1
    emergency_stop: bool = False
    reverse: bool = False


@dataclass
class PlantState:
    x: float = 0.0  # m
    y: float = 0.0  # m
    yaw: float = 0.0  # rad
    speed: float = 0.0  # m/s, signed
    acceleration: float = 0.0  # m/s^2
    steering_angle: float = 0.0  # rad
    yaw_rate: float = 0.0  # rad/s
    time: float = 0.0  # s
    odometer: float = 0.0  # m travelled


@dataclass
class VehiclePlant:
    params: PlantParams = field(default_factory=PlantParams)
    state: PlantState = field(default_factory=PlantState)

    def reset(self, x: float = 0.0, y: float = 0.0, yaw: float = 0.0, speed: float = 0.0) -> None:
        self.state = PlantState(x=x, y=y, yaw=yaw, speed=speed)

    def _demanded_acceleration(self, cmd: PlantCommand) -> float:
        p, s = self.params, self.state
        speed = abs(s.speed)
        if cmd.emergency_stop:
            return -p.max_deceleration if speed > 0 else 0.0
        if not cmd.enable:
            return -p.controlled_stop_deceleration if speed > 0 else 0.0
        if cmd.use_pedals:
            drive = clamp(cmd.throttle, 0.0, 1.0) * p.max_acceleration
            brake = clamp(cmd.brake, 0.0, 1.0) * p.max_deceleration
            resistance = p.drag * speed + (p.rolling_resistance if speed > 0 else 0.0)
            return drive - brake - resistance
        target = clamp(cmd.target_speed, 0.0, p.max_speed)
        demand = cmd.target_acceleration + p.speed_loop_gain * (target - speed)
        return clamp(demand, -p.max_deceleration, p.max_acceleration)

    def step(self, dt: float, cmd: PlantCommand) -> PlantState:
        """Advance by dt seconds under cmd; returns the new state."""
        if dt <= 0:
            return self.state
        p, s = self.params, self.state
        demand = self._demanded_acceleration(cmd)
        # Emergency braking bypasses the drivetrain lag (brake pressure builds fast).
        lag = 0.05 if cmd.emergency_stop else p.speed_lag
        s.acceleration += (demand - s.acceleration) * min(1.0, dt / lag)
        speed = abs(s.speed) + s.acceleration * dt
        speed = clamp(speed, 0.0, p.max_speed)
        if speed == 0.0:
            s.acceleration = max(s.acceleration, 0.0) if cmd.enable else 0.0
        direction = -1.0 if cmd.reverse and cmd.enable else (1.0 if s.speed >= 0 else -1.0)
        if s.speed == 0.0:
            direction = -1.0 if cmd.reverse else 1.0
        s.speed = direction * speed

        steer_target = clamp(
            cmd.steering_angle if cmd.enable else s.steering_angle,
            -p.max_steering_angle,
            p.max_steering_angle,
        )
        rate_limit = (
            p.max_steering_rate if cmd.steering_rate <= 0 else min(cmd.steering_rate, p.max_steering_rate)
        )
        lagged = s.steering_angle + (steer_target - s.steering_angle) * min(1.0, dt / p.steering_lag)
        s.steering_angle += clamp(lagged - s.steering_angle, -rate_limit * dt, rate_limit * dt)

        s.yaw_rate = s.speed * math.tan(s.steering_angle) / p.wheelbase
        s.yaw = math.atan2(math.sin(s.yaw + s.yaw_rate * dt), math.cos(s.yaw + s.yaw_rate * dt))
        s.x += s.speed * math.cos(s.yaw) * dt
        s.y += s.speed * math.sin(s.yaw) * dt
        s.odometer += abs(s.speed) * dt
        s.time += dt
        return s
