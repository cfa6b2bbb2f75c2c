"""Closed-loop simulation of planner + controller against a vehicle plant (the HIL rig's kinematic
bicycle, hil/plant.py, passed in by the caller: roadedge does not import the rig). Pure Python, no ROS;
the tests and benchmarks use it to check the cores before the scenario runner does over DDS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from roadedge.control.tracking import ControlOutput, Reference, TrajectoryController, VehicleState


class PlantLike(Protocol):
    state: Any

    def step(self, dt: float, cmd: Any) -> Any: ...


@dataclass
class Trace:
    t: list[float] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    yaw: list[float] = field(default_factory=list)
    speed: list[float] = field(default_factory=list)
    acceleration: list[float] = field(default_factory=list)
    lateral_error: list[float] = field(default_factory=list)
    outputs: list[ControlOutput] = field(default_factory=list)

    def p95_abs_lateral(self, skip: int = 0) -> float:
        return float(np.percentile(np.abs(np.asarray(self.lateral_error[skip:])), 95))


def state_of(plant: PlantLike) -> VehicleState:
    s = plant.state
    return VehicleState(float(s.x), float(s.y), float(s.yaw), float(s.speed), float(s.acceleration))


def track(
    plant: PlantLike,
    controller: TrajectoryController,
    make_command: Callable[[ControlOutput], Any],
    seconds: float,
    dt: float = 0.02,
    replan: Callable[[float, VehicleState], Reference | None] | None = None,
    replan_period: float = 0.1,
    until: Callable[[Trace], bool] | None = None,
    state_delay: float = 0.0,
) -> Trace:
    """Run controller (at 1/dt Hz) against plant for `seconds`; replan(t, state) gives a new reference
    every replan_period (or None to keep the old one). state_delay (s) delays the state the planner and
    controller see (localization latency); the trace records the true state."""
    trace = Trace()
    n = round(seconds / dt)
    every = max(1, round(replan_period / dt))
    lag = max(0, round(state_delay / dt))
    history: list[VehicleState] = []
    for k in range(n):
        t = k * dt
        true = state_of(plant)
        history.append(true)
        st = history[max(0, len(history) - 1 - lag)]
        if len(history) > lag + 1:
            history.pop(0)
        if replan is not None and k % every == 0:
            ref = replan(t, st)
            if ref is not None:
                ref.stamp = t
                controller.set_reference(ref) if controller.reference is None else _swap(controller, ref)
        out = controller.update(t, st, dt, odometry_stamp=t)
        plant.step(dt, make_command(out))
        trace.t.append(t)
        trace.x.append(true.x)
        trace.y.append(true.y)
        trace.yaw.append(true.yaw)
        trace.speed.append(true.speed)
        trace.acceleration.append(true.acceleration)
        trace.lateral_error.append(out.error.lateral if out.error is not None else float("nan"))
        trace.outputs.append(out)
        if until is not None and until(trace):
            break
    return trace


def _swap(controller: TrajectoryController, ref: Reference) -> None:
    """Replace the reference keeping the integrator (a replan is not a new mission)."""
    controller.reference = ref
    controller._hint = None
