"""Closed-loop helpers for the planning tests: planner + controller + the HIL plant (hil/plant.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path as FsPath
from typing import Any

from roadedge_hil.plant import PlantCommand, VehiclePlant

from roadedge.control.closed_loop import Trace, track
from roadedge.control.tracking import ControllerParams, ControlOutput, Reference, TrajectoryController
from roadedge.planning import behaviours as bh
from roadedge.planning.lanelet_map import RoadMap, load_sites
from roadedge.planning.planner import Inputs, Plan, Planner
from roadedge.planning.v2x_link import V2xLink

ROOT = FsPath(__file__).resolve().parents[2]
SITES = load_sites(ROOT / "config" / "maps" / "sites.yaml")
_MAPS: dict[str, RoadMap] = {}


def road(name: str) -> RoadMap:
    if name not in _MAPS:
        _MAPS[name] = RoadMap.from_site(SITES[name])
    return _MAPS[name]


def link(name: str) -> V2xLink:
    p = SITES[name].v2x_link
    assert p is not None
    return V2xLink.load(p)


def command(o: ControlOutput) -> PlantCommand:
    return PlantCommand(
        enable=o.enable,
        target_speed=o.target_speed,
        target_acceleration=o.target_acceleration,
        steering_angle=o.steering_angle,
        steering_rate=o.steering_rate,
        emergency_stop=o.emergency_stop,
    )


def reference(p: Plan) -> Reference:
    return Reference.from_points(
        list(p.x),
        list(p.y),
        list(p.velocity),
        list(p.acceleration),
        list(p.curvature),
        list(p.lateral_offset),
        p.behaviour,
    )


def run(
    planner: Planner,
    seconds: float,
    start_s: float = 0.5,
    speed: float = 0.0,
    inputs: Callable[[float, bh.Ego], dict[str, Any]] | None = None,
    until: Callable[[Trace], bool] | None = None,
    plant: VehiclePlant | None = None,
) -> tuple[Trace, list[tuple[float, Plan]], VehiclePlant]:
    """Drive the planner's reference from start_s; inputs(t, ego) gives extra Inputs fields per replan."""
    assert planner.ref is not None
    if plant is None:
        plant = VehiclePlant()
        x, y = planner.ref.path.point_at(start_s)
        plant.reset(x, y, planner.ref.path.yaw_at(start_s), speed)
    ctl = TrajectoryController(ControllerParams())
    plans: list[tuple[float, Plan]] = []

    def replan(t: float, st: Any) -> Reference | None:
        ego = bh.Ego(st.x, st.y, st.yaw, st.speed)
        extra = inputs(t, ego) if inputs is not None else {}
        p = planner.plan(Inputs(ego, st.acceleration, **extra))
        if p is None:
            return None
        plans.append((t, p))
        return reference(p)

    trace = track(plant, ctl, command, seconds, replan=replan, until=until)
    return trace, plans, plant
