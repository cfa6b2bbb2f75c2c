"""Prints the closed-loop figures quoted in the README's Planning and control section (pure Python,
planner + controller + hil/plant.py; about a minute):

    tools/with_env.sh python test/planning/figures.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "control")]

from planning_sim import Inputs, Planner, bh, command, reference, road, run  # noqa: E402
from roadedge_hil.plant import VehiclePlant  # noqa: E402
from test_control_tracking import reference as s_curve_reference  # noqa: E402
from test_control_tracking import s_curve  # noqa: E402

from roadedge.control.closed_loop import track  # noqa: E402
from roadedge.control.tracking import ControllerParams, TrajectoryController  # noqa: E402
from roadedge.planning.sweeping import COMPLETED, CurbSegmentSpec, SweepTaskSpec  # noqa: E402


def block_loop(lane: str, speed: float = 2.5) -> None:
    rm = road("hil_block")
    ids = list(range(1001, 1009)) if lane == "outer" else list(range(1101, 1109))
    planner = Planner(rm)
    spec = SweepTaskSpec(
        "fig", tuple(CurbSegmentSpec(f"s{i}", i, "right") for i in ids), curb_offset=0.2, max_speed=speed
    )
    task = planner.start_sweep(spec)
    trace, _, _ = run(
        planner, 260.0, start_s=0.5, until=lambda tr: task.state == COMPLETED and tr.speed[-1] == 0
    )
    edge = rm.lanelets[ids[0]].right
    for i in ids[1:]:
        edge = edge.concatenate(rm.lanelets[i].right)
    errs = []
    for x, y, v in zip(trace.x, trace.y, trace.speed, strict=True):
        pr = edge.project(x, y)
        if v > 0.3 and not (pr.before_start or pr.after_end):
            errs.append(abs(pr.lateral - 1.2))
    e = np.asarray(errs)
    print(
        f"block {lane} loop at {speed} m/s: curb offset error p95 {np.percentile(e, 95):.3f} m, "
        f"max {e.max():.3f} m; coverage {task.coverage:.3f}"
    )


def s_curves() -> None:
    for speed in (2.5, 5.0):
        path = s_curve()
        plant = VehiclePlant()
        plant.reset(0.0, 0.0, 0.0)
        ctl = TrajectoryController(ControllerParams(trajectory_timeout=1e9))
        ctl.set_reference(s_curve_reference(path, speed))
        tr = track(plant, ctl, command, 80.0, until=lambda tr: tr.t[-1] > 5 and tr.speed[-1] == 0)
        m = np.asarray(tr.speed) > 0.3
        e = np.abs(np.asarray(tr.lateral_error))[m]
        p95 = np.percentile(e, 95)
        print(f"S-curve (10 m radii) at {speed} m/s: lateral error p95 {p95:.3f} m, max {e.max():.3f} m")


if __name__ == "__main__":
    block_loop("outer")
    block_loop("inner")
    s_curves()
    _ = (Inputs, bh, reference)
