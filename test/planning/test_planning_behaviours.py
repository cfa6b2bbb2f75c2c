"""Behaviours and V2X applications, unit level (pure functions over SI inputs)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from roadedge.planning import behaviours as bh
from roadedge.planning.geometry import Path
from roadedge.planning.planner import Inputs, Plan
from roadedge.planning.v2x_link import (
    LIGHT_PROTECTED_GREEN,
    LIGHT_RED,
    LIGHT_YELLOW,
    PhaseSignal,
    PhaseStep,
)

ROAD = Path([0.0, 200.0], [0.0, 0.0]).resample(0.5)
EGO = bh.Ego(10.0, 0.0, 0.0, 5.0)


def red_then_green(red: float, green: float = 20.0) -> PhaseSignal:
    return PhaseSignal(
        1,
        (
            PhaseStep(LIGHT_RED, 0.0, red, red, red),
            PhaseStep(LIGHT_PROTECTED_GREEN, red, red + green, red + green, red + green),
        ),
    )


def green_for(t: float) -> PhaseSignal:
    return PhaseSignal(
        1, (PhaseStep(LIGHT_PROTECTED_GREEN, 0.0, t, t, t), PhaseStep(LIGHT_YELLOW, t, t + 3, t + 3, t + 3))
    )


def test_red_light_far_away_stops_at_the_line_without_warning() -> None:
    d = bh.signal_decision(60.0, 100.0, 5.0, 8.0, red_then_green(60.0))
    assert d.stop
    stops = [c for c in d.result.constraints if c.stop_s is not None]
    assert stops and stops[0].stop_s == pytest.approx(100.0 - bh.SignalParams().stop_margin)
    assert not [a for a in d.result.advisories if a.type == bh.RLVW]


def test_red_light_too_close_for_comfort_warns_rlvw_and_still_stops() -> None:
    v = 8.0
    p = bh.SignalParams()
    comfort = bh.stopping_distance(v, p.comfort_deceleration, p.reaction_time)
    hard = bh.stopping_distance(v, p.max_deceleration, p.reaction_time)
    warn = bh.signal_decision(0.5 * (comfort + hard), 50.0, v, 8.0, red_then_green(60.0))
    assert warn.stop
    (a,) = [a for a in warn.result.advisories if a.type == bh.RLVW]
    assert a.severity == bh.WARNING and a.time_to_collision == pytest.approx(0.5 * (comfort + hard) / v)
    crit = bh.signal_decision(0.5 * hard, 50.0, v, 8.0, red_then_green(60.0))
    assert crit.stop and [a.severity for a in crit.result.advisories if a.type == bh.RLVW] == [bh.CRITICAL]


def test_yellow_dilemma_zone_passes_when_it_clears_before_red() -> None:
    y = PhaseSignal(1, (PhaseStep(LIGHT_YELLOW, 0.0, 3.0, 3.0, 3.0), PhaseStep(LIGHT_RED, 3.0, 30, 30, 30)))
    assert not bh.signal_decision(8.0, 50.0, 8.0, 8.0, y).stop  # 1 s away, cannot stop, clears
    assert bh.signal_decision(60.0, 50.0, 8.0, 8.0, y).stop  # far: stop


def test_no_signal_state_means_stop() -> None:
    assert bh.signal_decision(40.0, 50.0, 5.0, 8.0, None).stop
    assert bh.signal_decision(40.0, 50.0, 5.0, 8.0, PhaseSignal(1, ())).stop


def test_green_long_enough_passes_and_short_green_stops() -> None:
    assert not bh.signal_decision(40.0, 50.0, 5.0, 8.0, green_for(30.0)).stop
    assert bh.signal_decision(40.0, 50.0, 5.0, 8.0, green_for(2.0)).stop
    assert not bh.signal_decision(-1.0, 50.0, 5.0, 8.0, None).stop  # already past the line


def test_glosa_band_reaches_the_next_green() -> None:
    sig = red_then_green(10.0, 20.0)
    d = bh.signal_decision(60.0, 100.0, 8.0, 8.0, sig)
    (g,) = [a for a in d.result.advisories if a.type == bh.GLOSA]
    margin = bh.SignalParams().glosa_margin
    assert g.recommended_speed_max == pytest.approx(60.0 / (10.0 + margin))
    sp = bh.SignalParams()
    assert g.recommended_speed_min == pytest.approx(
        max(sp.glosa_min_speed, sp.glosa_min_fraction * 8.0, 60.0 / (30.0 - margin))
    )
    caps = [c.cap for c in d.result.constraints if c.cap is not None]
    assert caps == [pytest.approx(g.recommended_speed_max)]
    # a fast road: advising a crawl is not useful, so no advice and a stop
    d3 = bh.signal_decision(60.0, 100.0, 8.0, 14.0, red_then_green(40.0, 20.0))
    assert d3.stop and not [a for a in d3.result.advisories if a.type == bh.GLOSA]
    # infeasible (green too far away for the minimum speed): no advice
    d2 = bh.signal_decision(10.0, 50.0, 8.0, 8.0, red_then_green(60.0, 5.0))
    assert not [a for a in d2.result.advisories if a.type == bh.GLOSA]


def test_phase_signal_timing() -> None:
    sig = red_then_green(10.0)
    assert sig.current == LIGHT_RED and sig.light_at(12.0) == LIGHT_PROTECTED_GREEN
    aged = PhaseSignal(1, sig.steps, age=11.0)
    assert aged.current == LIGHT_PROTECTED_GREEN
    assert aged.green_windows()[0][0] == 0.0
    assert sig.remaining() == 10.0


def test_object_ahead_stops_with_standoff_and_fcw() -> None:
    car = bh.Obstacle("7", bh.CLASS_VEHICLE, 30.0, 0.2, length=4.5, width=1.8)
    in_path = bh.objects_in_path(ROAD, 10.0, EGO, [car])
    assert len(in_path) == 1
    res = bh.stop_or_follow(in_path, 10.0, EGO)
    (stop,) = res.constraints
    front_at_stop = stop.stop_s + EGO.base_to_front  # type: ignore[operator]
    assert in_path[0].s - front_at_stop == pytest.approx(bh.ObjectParams().standoff)
    (fcw,) = res.advisories
    gap = in_path[0].s - (10.0 + EGO.base_to_front)
    assert fcw.type == bh.FCW and fcw.time_to_collision == pytest.approx(gap / 5.0)
    # a lead moving away at our speed: no warning; stop where it could stand, minus the time gap
    lead = bh.Obstacle("8", bh.CLASS_VEHICLE, 30.0, 0.0, vx=5.0, length=4.5, width=1.8)
    res2 = bh.stop_or_follow(bh.objects_in_path(ROAD, 10.0, EGO, [lead]), 10.0, EGO)
    assert res2.advisories == []
    expect = stop.stop_s + 5.0**2 / (2 * 3.0) - 1.5 * 5.0  # type: ignore[operator]
    assert res2.constraints[0].stop_s == pytest.approx(expect, abs=0.01)


def test_objects_beside_behind_or_bad_are_not_in_path() -> None:
    beside = bh.Obstacle("1", bh.CLASS_VEHICLE, 30.0, 4.0, length=4.5, width=1.8)
    behind = bh.Obstacle("2", bh.CLASS_VEHICLE, 2.0, 0.0)
    bad = bh.Obstacle("3", bh.CLASS_VEHICLE, math.nan, 0.0)
    assert bh.objects_in_path(ROAD, 10.0, EGO, [beside, behind, bad]) == []


def test_crossing_pedestrian_predicted_into_the_path_blocks_and_warns_vru() -> None:
    ped = bh.Obstacle("p", bh.CLASS_PEDESTRIAN, 25.0, 4.0, vy=-1.3)
    in_path = bh.objects_in_path(ROAD, 10.0, EGO, [ped])
    assert in_path and in_path[0].entering_in > 0.0
    warn = bh.collision_warnings(ROAD, 10.0, EGO, [ped])
    assert [a.type for a in warn] == [bh.VRUCW] and 0.0 < warn[0].time_to_collision < 4.0
    walking_away = bh.Obstacle("q", bh.CLASS_PEDESTRIAN, 25.0, 4.0, vy=1.3)
    assert bh.objects_in_path(ROAD, 10.0, EGO, [walking_away]) == []
    assert bh.collision_warnings(ROAD, 10.0, EGO, [walking_away]) == []


def test_icw_for_crossing_vehicle_not_for_same_direction() -> None:
    cross = bh.Obstacle("c", bh.CLASS_VEHICLE, 30.0, -15.0, vy=5.0, length=4.5, width=1.8)
    warn = bh.collision_warnings(ROAD, 10.0, EGO, [cross])
    assert [a.type for a in warn] == [bh.ICW]
    same = bh.Obstacle("s", bh.CLASS_VEHICLE, 30.0, 3.5, vx=5.0)
    assert bh.collision_warnings(ROAD, 10.0, EGO, [same]) == []


def ev(x: float, y: float = 0.0, heading: float = 0.0, siren: bool = True) -> bh.EmergencyVehicle:
    return bh.EmergencyVehicle("ev1", x, y, heading, 12.0, siren, siren)


def test_evw_yields_to_an_emergency_vehicle_from_behind_only() -> None:
    res = bh.emergency_yield(EGO, [ev(-40.0)])
    (c,) = res.constraints
    assert c.behaviour == bh.B_YIELD_EMERGENCY and c.cap == 0.0 and c.lateral_shift < 0.0
    (a,) = res.advisories
    assert a.type == bh.EVW and a.time_to_collision == pytest.approx(50.0 / 7.0)
    # pull-over: within the room to the right edge less the clearance; none at a sweeper's curb offset
    assert c.lateral_shift == -bh.EvwParams().pullover_shift  # room enough
    assert bh.emergency_yield(EGO, [ev(-40.0)], room_right=0.75).constraints[
        0
    ].lateral_shift == pytest.approx(-0.45)
    assert bh.emergency_yield(EGO, [ev(-40.0)], room_right=0.2).constraints[0].lateral_shift == 0.0
    assert bh.emergency_yield(EGO, [ev(60.0)]).constraints == []  # ahead: passed
    assert bh.emergency_yield(EGO, [ev(-40.0, heading=math.pi)]).constraints == []  # oncoming
    assert bh.emergency_yield(EGO, [ev(-40.0, siren=False)]).constraints == []  # not on duty
    assert bh.emergency_yield(EGO, [ev(-400.0)]).constraints == []  # out of range
    assert bh.emergency_yield(EGO, [ev(-40.0, y=30.0)]).constraints == []  # another road
    assert bh.emergency_yield(EGO, [ev(math.nan)]).constraints == []


def test_rsi_work_zone_hazard_and_speed_sign() -> None:
    work = bh.RsiZone("401-1", False, 401, 60.0, 1.0, 10.0, description="road works")
    hazard = bh.RsiZone("h", False, 100, 120.0, 0.0, math.nan)
    far = bh.RsiZone("f", False, 401, 60.0, 40.0, 5.0)
    res = bh.rsi_constraints(ROAD, 10.0, [work, hazard, far])
    caps = sorted((c.s_from, c.s_to, c.cap) for c in res.constraints)
    assert caps[0] == pytest.approx((50.0, 70.0, bh.RsiParams().work_zone_speed), abs=0.01)
    assert caps[1][2] == bh.RsiParams().hazard_speed
    assert {a.type for a in res.advisories} == {bh.WORK_ZONE, bh.HAZARD}
    sign = bh.RsiZone("s", True, 85, 40.0, 3.0, math.nan, description="限速20")
    res2 = bh.rsi_constraints(ROAD, 10.0, [sign])
    assert res2.constraints[0].cap == pytest.approx(20 / 3.6) and res2.advisories[0].type == bh.SPEED_LIMIT
    assert (
        bh.rsi_constraints(
            ROAD, 10.0, [bh.RsiZone("x", True, 85, 40.0, 3.0, 1.0, description="")]
        ).constraints
        == []
    )
    # a zone with a reference path along the road
    along = bh.RsiZone("p", False, 401, 0.0, 0.0, 1.0, paths=((((100.0, 0.5), (130.0, 0.5)), 2.0),))
    (c,) = bh.rsi_constraints(ROAD, 10.0, [along]).constraints
    assert (c.s_from, c.s_to) == pytest.approx((98.0, 132.0), abs=0.01)


def test_objects_behind_are_never_predicted_into_the_path() -> None:
    # a faster vehicle behind in our lane (or our own BSM with latency): its prediction runs through us
    follower = bh.Obstacle("f", bh.CLASS_VEHICLE, 6.0, 0.0, vx=9.0, length=4.5, width=1.8)
    own = bh.Obstacle("self", bh.CLASS_VEHICLE, 11.5, 0.0, vx=5.0, length=5.6, width=2.0)
    assert bh.objects_in_path(ROAD, 10.0, EGO, [follower, own]) == []


def test_planner_yields_to_an_emergency_vehicle_seen_by_perception() -> None:
    from planning_sim import road

    from roadedge.planning.planner import Inputs, Planner
    from roadedge.planning.tasks import route_from_path

    m = road("demo_intersection")
    planner = Planner(m)
    planner.set_route(route_from_path(m, [(-90.0, -5.25), (-20.0, -5.25)]))
    ego = bh.Ego(-60.0, -5.25, 0.0, 5.0)
    ambulance = bh.Obstacle("cam7", bh.CLASS_EMERGENCY, -90.0, -1.75, vx=12.0, length=6.0, width=2.2)
    plan = planner.plan(Inputs(ego, objects=[ambulance]))
    assert plan is not None and plan.behaviour == bh.B_YIELD_EMERGENCY
    assert [a.type for a in plan.advisories if a.type == bh.EVW] == [bh.EVW]
    # the same vehicle known only from its BSM object (no siren information here) does not
    as_bsm = bh.Obstacle("bsm:x", bh.CLASS_EMERGENCY, -90.0, -1.75, vx=12.0, source=bh.SOURCE_V2X_BSM)
    plan = planner.plan(Inputs(ego, objects=[as_bsm]))
    assert plan is not None and plan.behaviour == bh.B_LANE_FOLLOW


def test_speeds_from_rsi_texts() -> None:
    assert bh.sign_speed("限速30") == pytest.approx(30 / 3.6)
    assert bh.sign_speed("1.5 m/s") == pytest.approx(1.5)
    assert bh.sign_speed("no number") is None
    assert bh.event_speed("road works, limit 1.0 m/s") == pytest.approx(1.0)
    assert bh.event_speed("road works 401") is None  # a bare number is no speed
    zone = bh.RsiZone("w", False, 401, 60.0, 0.0, 10.0, description="works, limit 3.6 km/h")
    (c,) = bh.rsi_constraints(ROAD, 10.0, [zone]).constraints
    assert c.cap == pytest.approx(1.0)


def test_long_vehicle_in_the_next_lane_does_not_block() -> None:
    truck = bh.Obstacle("t", bh.CLASS_VEHICLE, 40.0, 3.5, length=10.0, width=2.5)
    assert bh.objects_in_path(ROAD, 10.0, EGO, [truck]) == []
    across = bh.Obstacle("a", bh.CLASS_VEHICLE, 40.0, 3.5, length=10.0, width=2.5, yaw=math.pi / 2)
    (hit,) = bh.objects_in_path(ROAD, 10.0, EGO, [across])  # the same truck across the road blocks
    assert hit.s == pytest.approx(40.0 - 1.25)


def test_an_object_just_past_the_intersection_stops_the_vehicle_at_the_stop_line() -> None:
    from planning_sim import link, road

    from roadedge.planning.planner import Inputs, Planner
    from roadedge.planning.tasks import route_from_path
    from roadedge.planning.v2x_link import LIGHT_PROTECTED_GREEN, PhaseSignal, PhaseStep

    m = road("demo_intersection")
    planner = Planner(m, link("demo_intersection"))
    planner.set_route(route_from_path(m, [(-90.0, -5.25), (60.0, -5.25)]))
    green = {(101, 1): PhaseSignal(1, (PhaseStep(LIGHT_PROTECTED_GREEN, 0.0, 60.0, 60.0, 60.0),))}
    ego = bh.Ego(-50.0, -5.25, 0.0, 5.0)
    queue = bh.Obstacle("car", bh.CLASS_VEHICLE, 17.0, -5.25, length=4.5, width=1.8)  # just past the box
    plan = planner.plan(Inputs(ego, signals=green, objects=[queue]))
    assert plan is not None and plan.behaviour == bh.B_STOP_OBJECT
    stop_x = plan.x[int(np.argmax(plan.velocity == 0.0))] + ego.base_to_front
    assert -12.5 < stop_x <= -12.0  # front at the stop line, not in the box
    far = bh.Obstacle("car", bh.CLASS_VEHICLE, 25.0, -5.25, length=4.5, width=1.8)  # room after the box
    plan = planner.plan(Inputs(ego, signals=green, objects=[far]))
    assert plan is not None
    stop_x = plan.x[int(np.argmax(plan.velocity == 0.0))] + ego.base_to_front
    assert stop_x == pytest.approx(25.0 - 2.25 - 4.0, abs=0.3)


def test_low_confidence_objects_count_only_when_their_track_persists() -> None:
    gate = bh.ConfidenceGate(bh.ObjectGateParams(min_confidence=0.5, persistence=0.5, max_gap=0.3))
    sure = bh.Obstacle("1", bh.CLASS_PEDESTRIAN, 20.0, 0.0, confidence=0.9)
    faint = bh.Obstacle("2", bh.CLASS_PEDESTRIAN, 20.0, 0.0, confidence=0.2)
    ghost = bh.Obstacle("0", bh.CLASS_PEDESTRIAN, 20.0, 0.0, confidence=0.2)  # untracked detection
    ids = [[o.id for o in gate.update(t, [sure, faint, ghost])] for t in np.arange(0.0, 0.75, 0.1)]
    assert ids[0] == ["1"] and ids[4] == ["1"]  # 0.4 s: not yet
    assert ids[5] == ["1", "2"] and ids[-1] == ["1", "2"]  # persisted 0.5 s; an id 0 never does
    assert gate.update(1.2, [faint]) == []  # gone for longer than max_gap: starts over
    assert gate.dropped > 0
    # not acted on: no stop, no warning, for a low-confidence object that does not persist
    stale = bh.ConfidenceGate()
    objs = stale.update(0.0, [faint])
    assert bh.stop_or_follow(bh.objects_in_path(ROAD, 10.0, EGO, objs), 10.0, EGO).constraints == []
    assert bh.collision_warnings(ROAD, 10.0, EGO, objs) == []
    assert stale.update(math.nan, [faint]) == []  # no time: no persistence
    assert [o.id for o in stale.update(math.nan, [sure])] == ["1"]
    for bad in ({"min_confidence": 1.5}, {"min_confidence": -0.1}, {"persistence": -1.0}, {"max_gap": 0.0}):
        with pytest.raises(ValueError):
            bh.ObjectGateParams(**bad)  # type: ignore[arg-type]


def test_planner_stops_for_a_low_confidence_object_only_once_it_persists() -> None:
    from test_planning_scenarios import demo_sweep

    planner, _ = demo_sweep()
    assert planner.ref is not None
    x, y = planner.ref.path.point_at(20.0)
    ego = bh.Ego(x, y, planner.ref.path.yaw_at(20.0), 2.0)
    ox, oy = planner.ref.path.point_at(34.0)
    faint = bh.Obstacle("7", bh.CLASS_OBSTACLE, ox, oy, length=1.0, width=1.0, confidence=0.3)

    def plan(t: float) -> Plan:
        p = planner.plan(Inputs(ego, time=t, objects=[faint]))
        assert p is not None
        return p

    first = plan(0.0)
    assert first.behaviour != bh.B_STOP_OBJECT and not any(a.type == bh.FCW for a in first.advisories)
    later = [plan(t) for t in np.arange(0.1, 0.65, 0.1)]
    assert later[-1].behaviour == bh.B_STOP_OBJECT  # persisted 0.5 s: acted on
