"""Missions from polylines (scenario tasks, operator dispatch) and sweep-task validation."""

from __future__ import annotations

import math

import pytest
from planning_sim import road

from roadedge.planning.lanelet_map import MapError
from roadedge.planning.sweeping import CurbSegmentSpec, SweepTask, SweepTaskSpec
from roadedge.planning.tasks import curb_segments_from_line, route_from_path, sweep_task_from_curb_line


def test_route_from_a_driven_path_picks_the_branch_taken() -> None:
    m = road("demo_intersection")
    assert route_from_path(m, [(-90.0, -5.25), (60.0, -5.25)]) == [2302, 2321, 2104]
    right_turn = [(-90.0, -5.25), (-12.0, -5.25), (-6.75, -12.0), (-5.25, -90.0)]
    assert route_from_path(m, right_turn) == [2302, 2322, 2004]
    left_turn = [(-90.0, -1.75), (-12.0, -1.75), (1.75, 12.0), (1.75, 90.0)]
    assert route_from_path(m, left_turn) == [2301, 2312, 2203]
    b = road("hil_block")
    assert route_from_path(b, [(-45.0, -41.75), (45.0, -41.75), (61.75, 0.0)]) == [1001, 1002, 1003]
    with pytest.raises(MapError):
        route_from_path(m, [(500.0, 500.0), (600.0, 500.0)])
    with pytest.raises(MapError):
        route_from_path(m, [(0.0, 0.0)])


def test_curb_line_through_the_intersection_gives_the_curb_segments_only() -> None:
    m = road("demo_intersection")
    segs = curb_segments_from_line(m, [(-90.0, -7.0), (60.0, -7.0)])
    assert [(s.lanelet_id, s.side) for s in segs] == [(2302, "right"), (2104, "right")]
    assert segs[0].start_s == pytest.approx(2.0, abs=0.01) and math.isnan(segs[0].end_s)
    assert segs[1].start_s == 0.0 and segs[1].end_s == pytest.approx(48.0, abs=0.01)
    spec = sweep_task_from_curb_line(m, [(-90.0, -7.0), (-14.0, -7.0)], centre_offset=1.2, vehicle_width=2.0)
    assert spec.curb_offset == pytest.approx(0.2)
    assert spec.segments[0].end_s == pytest.approx(78.0, abs=0.01)
    with pytest.raises(MapError, match="over the curb"):
        sweep_task_from_curb_line(m, [(-90.0, -7.0), (-14.0, -7.0)], centre_offset=0.5, vehicle_width=2.0)


def test_sweep_task_validation() -> None:
    m = road("demo_intersection")
    with pytest.raises(ValueError):
        SweepTask.build(m, SweepTaskSpec("t", ()))
    with pytest.raises(ValueError):
        SweepTask.build(m, SweepTaskSpec("t", (CurbSegmentSpec("a", 2302, "up"),)))
    with pytest.raises(ValueError):
        mixed = (CurbSegmentSpec("a", 2302, "right"), CurbSegmentSpec("b", 2104, "left"))
        SweepTask.build(m, SweepTaskSpec("t", mixed))
    with pytest.raises(ValueError):
        SweepTask.build(m, SweepTaskSpec("t", (CurbSegmentSpec("a", 2302, "right"),), max_speed=math.nan))
    with pytest.raises(MapError, match="no lanelet"):
        SweepTask.build(m, SweepTaskSpec("t", (CurbSegmentSpec("a", 999, "right"),)))
    with pytest.raises(MapError, match="no route"):
        SweepTask.build(
            m, SweepTaskSpec("t", (CurbSegmentSpec("a", 2104, "right"), CurbSegmentSpec("b", 2302, "right")))
        )
    with pytest.raises(MapError, match="no sweepable"):
        SweepTask.build(m, SweepTaskSpec("t", (CurbSegmentSpec("a", 2302, "right", 5.0, 5.2),)))
    # a segment without a curb (across the box) follows the lane bound; a tiny one is skipped
    segs = (
        CurbSegmentSpec("a", 2302, "right"),
        CurbSegmentSpec("tiny", 2321, "right", 3.0, 3.1),
        CurbSegmentSpec("box", 2321, "right"),
        CurbSegmentSpec("b", 2104, "right"),
    )
    task = SweepTask.build(m, SweepTaskSpec("t", segs))
    assert len(task.segments) == 3 and "tiny" in task.message and "no curb" in task.message
    assert task.total_length == pytest.approx(80.0 + 24.0 + 80.0, abs=0.5)
