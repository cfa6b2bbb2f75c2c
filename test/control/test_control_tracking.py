"""Tracking controller closed loop against the HIL plant (hil/plant.py): curved curb path, stops, stale
inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from roadedge_hil.plant import PlantCommand, VehiclePlant

from roadedge.control.closed_loop import track
from roadedge.control.speed_profile import MotionLimits, curvature_speed_limit, plan_speed_profile
from roadedge.control.tracking import (
    LIGHT_ON,
    ControllerParams,
    ControlOutput,
    Reference,
    TrajectoryController,
    VehicleState,
)
from roadedge.planning.geometry import Path


def command(o: ControlOutput) -> PlantCommand:
    return PlantCommand(
        enable=o.enable,
        target_speed=o.target_speed,
        target_acceleration=o.target_acceleration,
        steering_angle=o.steering_angle,
        steering_rate=o.steering_rate,
    )


def s_curve(radius: float = 10.0) -> Path:
    """20 m straight, a 90 deg left arc, a 90 deg right arc, 20 m straight (curvature steps, no clothoids)."""
    pts = [(x, 0.0) for x in np.arange(0.0, 20.0, 0.5)]
    for a in np.linspace(-math.pi / 2, 0.0, 40):
        pts.append((20.0 + radius * math.cos(a), radius + radius * math.sin(a)))
    cx, cy = 20.0 + 2 * radius, radius
    for a in np.linspace(math.pi, math.pi / 2, 40)[1:]:
        pts.append((cx + radius * math.cos(a), cy + radius * math.sin(a)))
    for x in np.arange(0.5, 20.0, 0.5):
        pts.append((cx + x, cy + radius))
    return Path.from_points(pts).resample(0.5)


def reference(path: Path, v: float, stop: bool = True) -> Reference:
    cap = curvature_speed_limit(path.curvature, MotionLimits().max_lateral_acceleration, v)
    prof = plan_speed_profile(
        path.s, cap, 0.0, MotionLimits(), a0=0.0, stop_s=path.length - 0.5 if stop else None
    )
    vel = np.interp(path.s, prof.s, prof.v)
    acc = np.interp(path.s, prof.s, prof.a)
    return Reference.from_points(list(path.x), list(path.y), list(vel), list(acc))


@pytest.mark.parametrize("speed", [2.5, 5.0])
def test_curved_path_offset_error_p95_within_10_cm(speed: float) -> None:
    path = s_curve()
    plant = VehiclePlant()
    plant.reset(0.0, 0.0, 0.0)
    ctl = TrajectoryController(ControllerParams(trajectory_timeout=1e9))
    ctl.set_reference(reference(path, speed))
    tr = track(
        plant,
        ctl,
        command,
        80.0,
        replan=lambda t, st: None,
        until=lambda tr: tr.t[-1] > 5 and tr.speed[-1] == 0,
    )
    moving = np.array(tr.speed) > 0.3
    err = np.abs(np.array(tr.lateral_error))[moving]
    assert np.percentile(err, 95) <= 0.10
    assert err.max() < 0.25
    # it stops at the end of the path, not beyond
    assert tr.speed[-1] == 0.0
    end = path.point_at(path.length)
    assert math.hypot(tr.x[-1] - end[0], tr.y[-1] - end[1]) < 1.0


def test_initial_offset_converges_without_overshooting_much() -> None:
    path = Path([0.0, 100.0], [0.0, 0.0]).resample(0.5)
    plant = VehiclePlant()
    plant.reset(0.0, 0.8, 0.0)
    ctl = TrajectoryController(ControllerParams(trajectory_timeout=1e9))
    ctl.set_reference(reference(path, 3.0))
    tr = track(plant, ctl, command, 30.0, replan=lambda t, st: None)
    e = np.array(tr.lateral_error)
    assert abs(e[-1]) < 0.02
    assert e.min() > -0.15  # overshoot below 20 % of the initial error


def test_stale_inputs_command_a_controlled_stop() -> None:
    ctl = TrajectoryController(ControllerParams())
    path = Path([0.0, 100.0], [0.0, 0.0])
    ctl.set_reference(Reference.from_points([0.0, 100.0], [0.0, 0.0], [5.0, 5.0], stamp=0.0))
    st = VehicleState(10.0, 0.0, 0.0, 5.0)
    ok = ctl.update(0.1, st, 0.02, odometry_stamp=0.1)
    assert ok.reason == "tracking" and ok.target_speed == pytest.approx(5.0)
    stale = ctl.update(0.5, st, 0.02, odometry_stamp=0.1)
    assert stale.reason == "stale:odometry"
    assert stale.target_speed == 0.0 and stale.target_acceleration < 0 and stale.hazard_lights == LIGHT_ON
    assert stale.enable
    old_traj = ctl.update(2.0, st, 0.02, odometry_stamp=2.0)
    assert old_traj.reason == "stale:trajectory" and old_traj.target_speed == 0.0
    status = ctl.update(0.1, st, 0.02, odometry_stamp=0.1, status_stamp=-1.0)
    assert "vehicle_status" in status.reason
    none = TrajectoryController().update(0.0, st, 0.02, odometry_stamp=0.0)
    assert none.reason == "no_trajectory" and none.target_speed == 0.0
    off = ctl.update(0.1, VehicleState(10.0, 5.0, 0.0, 5.0), 0.02, odometry_stamp=0.1)
    assert off.reason == "off_path" and off.target_speed == 0.0
    assert path.length == 100.0


def test_controlled_stop_in_closed_loop_stops_the_plant() -> None:
    plant = VehiclePlant()
    plant.reset(0.0, 0.0, 0.0, speed=5.0)
    ctl = TrajectoryController()
    ctl.set_reference(Reference.from_points([0.0, 500.0], [0.0, 0.0], [5.0, 5.0], stamp=-10.0))  # stale
    tr = track(plant, ctl, command, 8.0, replan=lambda t, st: None)
    assert tr.speed[-1] == 0.0
    assert all(o.reason.startswith("stale") for o in tr.outputs)


def test_bad_reference_is_rejected() -> None:
    with pytest.raises(ValueError):
        Reference.from_points([0.0], [0.0], [1.0])
    with pytest.raises(ValueError):
        Reference.from_points([0.0, 1.0], [0.0, 0.0], [1.0, float("nan")])
    with pytest.raises(ValueError):
        Reference.from_points([0.0, 1.0], [0.0, 0.0], [1.0, -1.0])
    with pytest.raises(ValueError):
        Reference.from_points([0.0, float("inf")], [0.0, 0.0], [1.0, 1.0])
