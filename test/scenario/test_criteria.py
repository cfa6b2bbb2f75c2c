"""Criteria over synthetic time series: each measure on hand-made data, passing and failing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scenario_synth import Knobs, simulate

from roadedge.scenario.criteria import (
    ActorTrack,
    AdvisoryEvent,
    EgoTrack,
    ProgressSample,
    RunData,
    SignalTrack,
    Verdict,
    curb_offset_errors,
    evaluate,
    footprint,
    format_table,
    max_deceleration,
    min_clearance,
    passed,
    polygon_distance,
    red_light_violations,
)
from roadedge.scenario.schema import (
    AdvisoryExpectation,
    Criteria,
    Intersection,
    PhasePlan,
    PhaseStep,
    Point,
    RsiEvent,
    Scenario,
    SpeedLimitCriterion,
    StandstillExpectation,
    StopDistanceCriterion,
    StopLine,
    V2xSpec,
    VehicleSpec,
    Window,
    load_scenario,
    scenario_dir,
)

VEH = VehicleSpec(length=5.0, width=2.0, base_to_front=4.0)


def straight(speeds: list[float], dt: float = 0.1, x0: float = 0.0, y: float = 0.0) -> EgoTrack:
    """Ego driving east along y with the given speed profile."""
    t = np.arange(len(speeds)) * dt
    v = np.asarray(speeds, dtype=float)
    x = x0 + np.concatenate([[0.0], np.cumsum(v[:-1] * dt)])
    return EgoTrack(t, x, np.full_like(t, y), np.zeros_like(t), v)


def line_scenario(**criteria: object) -> Scenario:
    plan = PhasePlan(1, (PhaseStep("green", 10.0), PhaseStep("yellow", 3.0), PhaseStep("red", 10.0)))
    inter = Intersection(7, Point(20, 0), (plan,), (StopLine("s1", 1, 10.0, 0.0, 0.0, 4.0),))
    from roadedge.scenario.schema import MapSpec, Pose, TaskSpec

    return Scenario(
        name="t",
        duration=60.0,
        map=MapSpec("m.osm"),
        initial_pose=Pose(0, 0),
        task=TaskSpec("route", (Point(0, 0), Point(100, 0))),
        vehicle=VEH,
        intersections=(inter,),
        v2x=V2xSpec(rsi=(RsiEvent("wz", "work_zone", (Point(30, 0), Point(40, 0)), 2.0, 1.0),)),
        criteria=Criteria(**criteria),  # type: ignore[arg-type]
    )


def test_polygon_distance() -> None:
    a = footprint(0, 0, 0, 1, 1, 2)  # 2 x 2 square at the origin
    assert polygon_distance(a, footprint(3, 0, 0, 1, 1, 2)) == pytest.approx(1.0)
    assert polygon_distance(a, footprint(1.5, 0.5, 0.3, 1, 1, 2)) == 0.0
    assert polygon_distance(a, footprint(3, 3, 0, 1, 1, 2)) == pytest.approx(math.sqrt(2))
    # rotated 45 degrees: corner towards the square
    d = polygon_distance(a, footprint(4, 0, math.pi / 4, 1, 1, 2))
    assert d == pytest.approx(4 - 1 - math.sqrt(2))


def test_min_clearance_detects_collision_and_near_miss() -> None:
    ego = straight([5.0] * 60)  # 0..29.5 m in 6 s
    ped = ActorTrack(
        "p",
        "pedestrian",
        np.array([0.0, 10.0]),
        np.array([20.0, 20.0]),
        np.array([0.0, 0.0]),
        np.zeros(2),
        0.5,
        0.5,
    )
    d, t, who = min_clearance(ego, VEH, [ped])
    assert (d, who) == (0.0, "p") and 3.0 < t < 4.5
    side = ActorTrack(
        "q",
        "pedestrian",
        np.array([0.0, 10.0]),
        np.array([20.0, 20.0]),
        np.array([3.0, 3.0]),
        np.zeros(2),
        0.5,
        0.5,
    )
    d, _, _ = min_clearance(ego, VEH, [side])
    assert d == pytest.approx(3.0 - 1.0 - 0.25)
    # an actor that exists only after the ego has gone by does not count
    late = ActorTrack(
        "r", "pedestrian", np.array([20.0, 30.0]), np.array([5.0, 5.0]), np.zeros(2), np.zeros(2), 0.5, 0.5
    )
    assert min_clearance(ego, VEH, [late])[0] == math.inf


def test_red_light_violation_counts_only_red_crossings_in_the_approach() -> None:
    s = line_scenario(red_light_violation=True)
    signal = {(7, 1): SignalTrack([0.0, 10.0, 13.0], ["green", "yellow", "red"])}
    # front crosses x = 10 when base x = 6: at 5 m/s from x0 = -64 that is t = 14 s (red)
    late = straight([5.0] * 200, x0=-64.0)
    found = red_light_violations(late, VEH, s.intersections, signal)
    assert [(round(t, 1), line, st) for t, line, st in found] == [(14.0, "s1", "red")]
    early = straight([5.0] * 200, x0=-34.0)  # crosses at 8 s: green
    assert red_light_violations(early, VEH, s.intersections, signal) == []
    beside = straight([5.0] * 200, x0=-64.0, y=5.0)  # outside the line's width
    assert red_light_violations(beside, VEH, s.intersections, signal) == []
    backwards = EgoTrack(late.t, 40.0 - (late.x + 64.0), late.y, np.full_like(late.t, math.pi), late.speed)
    assert red_light_violations(backwards, VEH, s.intersections, signal) == []
    run = RunData(late, signals=signal)
    [verdict] = evaluate(s, run)
    assert verdict == Verdict("red_light_violation", 1.0, "== 0", False, "s1 at t=14.0 s")


def test_stop_distance_to_line_and_missing_stop() -> None:
    s = line_scenario(stop_distance=(StopDistanceCriterion("stop_line:s1", 0.0, 3.0, Window(0.0, 30.0)),))
    speeds = [2.0] * 20 + [0.0] * 40  # covers 4 m then stops: base at 4, front at 8 -> 2 m to the line
    [v] = evaluate(s, RunData(straight(speeds)))
    assert v.passed and v.value == pytest.approx(2.0, abs=0.01)
    [v] = evaluate(s, RunData(straight([2.0] * 20 + [0.0] * 40, x0=-5.0)))
    assert not v.passed and v.value == pytest.approx(7.0, abs=0.01)
    [v] = evaluate(s, RunData(straight([2.0] * 60)))
    assert not v.passed and math.isnan(v.value) and "did not stop" in v.detail
    # standing still from the start is no stop for this target: the stop must begin in the window
    [v] = evaluate(s, RunData(straight([0.0] * 10 + [2.0] * 50)))
    assert not v.passed and "did not stop" in v.detail


def test_max_deceleration() -> None:
    speeds = list(np.clip(10.0 - 2.5 * np.arange(0, 6, 0.1), 0, None))
    value, t = max_deceleration(np.arange(60) * 0.1, np.asarray(speeds))
    assert value == pytest.approx(2.5, abs=0.05) and t < 4.0
    s = line_scenario(max_deceleration=2.0)
    [v] = evaluate(s, RunData(straight(speeds)))
    assert not v.passed and v.name == "max_deceleration"
    jerk = [5.0] * 30 + [0.0] * 30  # a single-sample step is 5 m/s in 0.1 s, seen over a 0.3 s window
    assert max_deceleration(np.arange(60) * 0.1, np.asarray(jerk))[0] == pytest.approx(5.0 / 0.3, rel=0.01)


def test_curb_offset_errors_sign_and_side() -> None:
    s = load_scenario(scenario_dir() / "demo_sweep_intersection.yaml")
    ego = straight([2.0] * 50, x0=-80.0, y=-7.0 + 1.2 + 0.3)  # 0.3 m too far from the curb
    errors = curb_offset_errors(ego, s.task)
    assert len(errors) == 50 and np.allclose(errors, 0.3)
    parked = straight([0.0] * 50, x0=-80.0, y=-7.0)
    assert len(curb_offset_errors(parked, s.task)) == 0


def test_progress_advisories_standstill_speed_limit() -> None:
    s = line_scenario(
        coverage=0.9,
        time_limit=20.0,
        advisories=(
            AdvisoryExpectation("glosa", True, Window(0, 10)),
            AdvisoryExpectation("evw", False, sender="bad"),
            AdvisoryExpectation("evw", True, Window(0, 10), sender="good"),
        ),
        standstill=(StandstillExpectation(True, Window(5, 10)), StandstillExpectation(False, Window(0, 4))),
        speed_limit=(SpeedLimitCriterion(1.2, "wz"), SpeedLimitCriterion(3.0, window=Window(0, 100))),
    )
    ego = straight([2.0] * 60 + [0.0] * 20 + [2.0] * 200)
    run = RunData(
        ego,
        advisories=[
            AdvisoryEvent(3.0, "glosa"),
            AdvisoryEvent(4.0, "evw", 1, "bad"),
            AdvisoryEvent(4.0, "evw"),
        ],
        progress=[ProgressSample(1.0, 0.2, 1), ProgressSample(25.0, 0.95, 3)],
    )
    verdicts = {v.name: v for v in evaluate(s, run)}
    assert verdicts["coverage"].passed and verdicts["coverage"].value == 0.95
    assert (
        not verdicts["time_limit (task completed)"].passed
        and verdicts["time_limit (task completed)"].value == 25
    )
    assert verdicts["advisory glosa"].passed
    assert not verdicts["no advisory evw from bad"].passed
    assert not verdicts["advisory evw from good"].passed  # the only other evw names no sender
    assert verdicts["stops in [5, 10] s"].passed and verdicts["no stop in [0, 4] s"].passed
    assert not verdicts["speed_limit in wz"].passed and verdicts["speed_limit in wz"].value == 2.0
    assert verdicts["speed_limit"].passed
    assert not passed(list(verdicts.values()))


def test_empty_run_fails_cleanly() -> None:
    s = line_scenario(coverage=0.5)
    [v] = evaluate(s, RunData(EgoTrack.from_lists([], [], [], [], [])))
    assert not v.passed and "no ego pose" in v.detail
    [v] = evaluate(s, RunData(straight([1.0] * 5)))
    assert not v.passed and "no task progress" in v.detail


def test_demo_passes_with_a_well_behaved_vehicle_and_fails_with_a_bad_one() -> None:
    s = load_scenario(scenario_dir() / "demo_sweep_intersection.yaml")
    good = evaluate(s, simulate(s))
    assert passed(good), format_table(good)
    bad = {v.name: v for v in evaluate(s, simulate(s, Knobs(ignore_red=True, lateral_bias=0.7, brake=5.0)))}
    assert not bad["red_light_violation"].passed
    assert not bad["curb_offset_error (max)"].passed
    assert not bad["max_deceleration"].passed
    table = format_table(list(bad.values()))
    assert "FAIL" in table and table.splitlines()[-1].startswith("overall: FAIL")


def test_collision_when_ignoring_a_pedestrian() -> None:
    s = load_scenario(scenario_dir() / "pedestrian_vehicle_sensor.yaml")
    verdicts = {v.name: v for v in evaluate(s, simulate(s, Knobs(ignore_actors=True)))}
    assert verdicts["collision (min clearance)"].value == 0.0
    assert not verdicts["collision (min clearance)"].passed


def test_report_png(tmp_path: Path) -> None:
    from roadedge.scenario.report import osm_lines, render_report, scenario_map_lines

    s = load_scenario(scenario_dir() / "demo_sweep_intersection.yaml")
    run = simulate(s)
    map_file = Path(__file__).resolve().parents[2] / s.map.file
    assert s.map.origin is not None
    lines = osm_lines(map_file, s.map.origin) if map_file.exists() else []
    assert len(scenario_map_lines(s)) == len(lines)
    out = render_report(s, run, evaluate(s, run), tmp_path / "r" / "report.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 800 and height > 800
