"""Chassis emulator on the roadedge_msgs interface: the bicycle-model plant behind
/vehicle/command and /vehicle/status (the CAN ECU emulator puts the same plant behind a DBC).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nav_msgs.msg import Odometry
from roadedge_hil.plant import PlantCommand, PlantParams, PlantState, VehiclePlant
from roadedge_msgs.msg import VehicleCommand, VehicleStatus
from roadedge_msgs.srv import InjectFault

from roadedge import topics
from roadedge.config import param
from roadedge.diagnostics import Health, Level
from roadedge.ros.node import RoadedgeNode, make_main

FAULT_SERVICE = "hil/chassis/inject_fault"


@dataclass(frozen=True)
class ChassisEmulatorConfig:
    step_rate: float = param(100.0, help="plant integration rate, Hz", low=10.0, high=1000.0)
    status_rate: float = param(50.0, help="/vehicle/status rate, Hz", low=1.0, high=200.0)
    command_timeout: float = param(0.2, help="s without a command before the ECU stops the vehicle", low=0.01)
    wheelbase: float = param(2.8, help="m", low=0.5, high=10.0)
    max_speed: float = param(12.0, help="m/s", low=0.1, high=40.0)
    speed_lag: float = param(0.3, help="s, longitudinal actuator lag", low=0.0)
    initial_x: float = param(0.0, help="m, start position east in the map frame")
    initial_y: float = param(0.0, help="m, start position north in the map frame")
    initial_yaw: float = param(0.0, help="rad, start heading (ENU)")
    battery_soc: float = param(0.9, help="0..1 reported state of charge", low=0.0, high=1.0)


def ground_truth(s: PlantState, stamp: Any) -> Odometry:
    """The plant's pose and motion as hil/ground_truth (map frame), for every chassis emulator."""
    truth = Odometry()
    truth.header.stamp = stamp
    truth.header.frame_id = "map"
    truth.child_frame_id = "base_link"
    truth.pose.pose.position.x = s.x
    truth.pose.pose.position.y = s.y
    truth.pose.pose.orientation.z = math.sin(s.yaw / 2)
    truth.pose.pose.orientation.w = math.cos(s.yaw / 2)
    truth.twist.twist.linear.x = s.speed
    truth.twist.twist.angular.z = s.yaw_rate
    return truth


def plant_command(msg: VehicleCommand) -> PlantCommand:
    return PlantCommand(
        enable=bool(msg.enable),
        target_speed=float(msg.target_speed),
        target_acceleration=float(msg.target_acceleration),
        steering_angle=float(msg.steering_angle),
        steering_rate=float(msg.steering_rate),
        use_pedals=bool(msg.use_pedals),
        throttle=float(msg.throttle),
        brake=float(msg.brake),
        emergency_stop=bool(msg.emergency_stop),
        reverse=msg.gear == VehicleCommand.GEAR_REVERSE,
    )


class ChassisEmulator(RoadedgeNode[ChassisEmulatorConfig]):
    Schema = ChassisEmulatorConfig
    default_name = "chassis_emulator"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = self.config
        self.plant = VehiclePlant(
            PlantParams(wheelbase=c.wheelbase, max_speed=c.max_speed, speed_lag=c.speed_lag)
        )
        self.plant.reset(c.initial_x, c.initial_y, c.initial_yaw)
        self._command = PlantCommand()
        self._body_command = VehicleCommand()  # mode and lights, reported back in the status
        self._last_command_time: float | None = None
        self._last_step: float | None = None
        self._timeouts = 0
        self._status_pub = self.publisher(topics.VEHICLE_STATUS)
        self._truth_pub = self.publisher(topics.GROUND_TRUTH)
        self.subscription(topics.VEHICLE_COMMAND, self._on_command)
        self.create_timer(1.0 / c.step_rate, self._step)
        self.create_timer(1.0 / c.status_rate, self._publish)
        self.health.add("plant", self._health)
        # can_loss: the link to the vehicle computer is cut - commands do not arrive, status does not leave
        self.link_lost = False
        self.create_service(InjectFault, FAULT_SERVICE, self._on_fault)

    def _on_fault(self, request: Any, response: Any) -> Any:
        if request.fault != "can_loss":
            response.success, response.message = (
                False,
                f"unknown fault {request.fault!r} (this emulator: can_loss)",
            )
            return response
        self.link_lost = bool(request.active)
        response.success, response.message = True, f"can_loss {'on' if self.link_lost else 'off'}"
        return response

    def _on_command(self, msg: VehicleCommand) -> None:
        if self.link_lost:
            return
        self._command = plant_command(msg)
        self._body_command = msg
        self._last_command_time = self.now_s()

    def _fresh_command(self, now: float) -> PlantCommand:
        if self._last_command_time is None or now - self._last_command_time > self.config.command_timeout:
            if self._command.enable:
                self._timeouts += 1
            self._command = PlantCommand()  # the ECU drops autonomy: controlled stop
            self._body_command = VehicleCommand()
        return self._command

    def _step(self) -> None:
        now = self.now_s()
        if self._last_step is not None:
            self.plant.step(now - self._last_step, self._fresh_command(now))
        self._last_step = now

    def _publish(self) -> None:
        s = self.plant.state
        stamp = self.get_clock().now().to_msg()
        if self.link_lost:
            self._publish_truth(stamp)
            return
        status = VehicleStatus()
        status.header.stamp = stamp
        status.header.frame_id = "base_link"
        status.speed = s.speed
        status.acceleration = s.acceleration
        for name in ("front_left", "front_right", "rear_left", "rear_right"):
            setattr(status, f"wheel_speed_{name}", s.speed)
        status.steering_angle = s.steering_angle
        status.yaw_rate = s.yaw_rate
        status.gear = VehicleStatus.GEAR_DRIVE if self._command.enable else VehicleStatus.GEAR_NEUTRAL
        # the mode and lights the command asked for, as the CAN ECU emulator reports them back (the OBU's
        # "at work" BSM reads the sweeping mode and the beacon from here)
        cmd = self._body_command
        status.drive_mode = (
            (cmd.drive_mode or VehicleStatus.MODE_AUTONOMOUS)
            if self._command.enable
            else VehicleStatus.MODE_MANUAL
        )
        status.beacon_light_on = cmd.beacon_light == VehicleCommand.LIGHT_ON
        status.hazard_lights_on = cmd.hazard_lights == VehicleCommand.LIGHT_ON
        status.autonomy_enabled = self._command.enable
        status.emergency_stop_active = self._command.emergency_stop
        status.battery_soc = self.config.battery_soc
        status.battery_voltage = 48.0
        self._status_pub.publish(status)
        self._publish_truth(stamp)

    def _publish_truth(self, stamp: Any) -> None:
        self._truth_pub.publish(ground_truth(self.plant.state, stamp))

    def _health(self) -> Health:
        values = {"speed_mps": f"{self.plant.state.speed:.2f}", "command_timeouts": str(self._timeouts)}
        if self.link_lost:
            return Health(Level.WARN, "injected fault: can_loss", values)
        if self._last_command_time is None:
            return Health(Level.OK, "waiting for commands", values)
        return Health(Level.OK, "running", values)


NODE = ChassisEmulator
main = make_main(NODE)
