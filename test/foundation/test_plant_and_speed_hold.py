"""The HIL plant and the slice's speed hold, closed loop without DDS."""

from __future__ import annotations

import math

import pytest
from roadedge_hil.plant import PlantCommand, PlantParams, VehiclePlant

from roadedge.control.speed_hold import SpeedHold


def drive(
    target: float, seconds: float, plant: VehiclePlant | None = None
) -> tuple[VehiclePlant, list[float]]:
    plant = plant or VehiclePlant()
    hold = SpeedHold()
    speeds = []
    for _ in range(int(seconds / 0.02)):
        pedals = hold.update(target, plant.state.speed, 0.02)
        plant.step(
            0.02, PlantCommand(enable=True, use_pedals=True, throttle=pedals.throttle, brake=pedals.brake)
        )
        speeds.append(plant.state.speed)
    return plant, speeds


@pytest.mark.parametrize("target", [1.0, 3.0, 8.0])
def test_speed_hold_reaches_target_without_large_overshoot(target: float) -> None:
    _, speeds = drive(target, 20.0)
    assert abs(speeds[-1] - target) < 0.05
    assert max(speeds) < target + 0.3


def test_speed_hold_brakes_to_a_lower_target() -> None:
    plant, _ = drive(6.0, 15.0)
    _, speeds = drive(2.0, 15.0, plant)
    assert abs(speeds[-1] - 2.0) < 0.05


def test_disabled_command_is_a_controlled_stop() -> None:
    plant, _ = drive(5.0, 10.0)
    decel = []
    for _ in range(300):
        before = plant.state.speed
        plant.step(0.02, PlantCommand(enable=False))
        decel.append((before - plant.state.speed) / 0.02)
    assert plant.state.speed == 0.0
    assert max(decel) <= PlantParams().controlled_stop_deceleration + 1e-6


def test_emergency_stop_brakes_harder_than_controlled_stop() -> None:
    plant, _ = drive(5.0, 10.0)
    steps = 0
    while plant.state.speed > 0 and steps < 1000:
        plant.step(0.02, PlantCommand(enable=True, emergency_stop=True, target_speed=5.0))
        steps += 1
    assert steps * 0.02 < 5.0 / PlantParams().controlled_stop_deceleration


def test_bicycle_model_turns_on_a_circle_of_the_expected_radius() -> None:
    plant = VehiclePlant()
    steer = 0.2
    cmd = PlantCommand(enable=True, target_speed=3.0, steering_angle=steer)
    for _ in range(3000):
        plant.step(0.01, cmd)
    expected_yaw_rate = 3.0 * math.tan(steer) / plant.params.wheelbase
    assert plant.state.yaw_rate == pytest.approx(expected_yaw_rate, rel=0.02)


def test_steering_respects_the_rate_limit() -> None:
    plant = VehiclePlant()
    plant.step(0.1, PlantCommand(enable=True, target_speed=1.0, steering_angle=0.6))
    assert plant.state.steering_angle <= plant.params.max_steering_rate * 0.1 + 1e-9
