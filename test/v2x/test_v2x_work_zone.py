"""Work zones from vehicles at work (RSU): start, follow, withdraw on flag clear or stale BSMs."""

from __future__ import annotations

import itertools
import math

import pytest
from roadedge_msgs.msg import Bsm, GeoPoint, PathHistoryPoint, Rsi

from roadedge.v2x import codec, si
from roadedge.v2x.work_zone import LIGHTBAR_SLOW_MOVING, WorkZoneParams, WorkZoneTracker

REF = GeoPoint(latitude=31.2304, longitude=121.4737, elevation=4.0)
M_PER_DEG = 111_320.0


def _bsm(
    sender: str, east: float, north: float = -5.0, lights: int = LIGHTBAR_SLOW_MOVING, flags: int = 0
) -> Bsm:
    msg = Bsm()
    msg.v2x.sender_id = sender
    msg.position = GeoPoint(
        latitude=REF.latitude + north / M_PER_DEG,
        longitude=REF.longitude + east / (M_PER_DEG * math.cos(math.radians(REF.latitude))),
        elevation=4.0,
    )
    msg.heading = 0.0  # east
    msg.speed = 1.0
    msg.lights_in_use = lights
    msg.event_flags = flags
    msg.vehicle_class = 71
    return msg


def test_a_zone_starts_with_the_way_the_vehicle_reports_it_came() -> None:
    """The first BSM's path history (newest first, time offsets back) gives the way it came at once:
    the last length_behind metres of it; points without a time or position are left out."""
    params = WorkZoneParams(length_ahead=30.0, length_behind=10.0, half_width=2.0)
    tracker = WorkZoneTracker(params, REF)
    bsm = _bsm("aa", 20.0)
    nan = float("nan")
    history = []
    for k, (east, t) in enumerate(
        [(17.0, 3.0), (14.0, 6.0), (0.0, nan), (11.0, 9.0), (8.0, 12.0), (5.0, 15.0)]
    ):
        crumb = _bsm("aa", east).position
        if k == 2:
            crumb = GeoPoint(latitude=nan, longitude=nan, elevation=nan)
        history.append(PathHistoryPoint(position=crumb, time_offset=t, speed=1.0, heading=0.0))
    bsm.path_history = history
    assert tracker.update(bsm, trusted=True, now=0.0) == "started"
    (ev,) = tracker.events(0.1)
    pts = [(round(p.x, 1), round(p.y, 1)) for p in ev.reference_paths[0].points]
    assert pts == [(11.0, -5.0), (14.0, -5.0), (17.0, -5.0), (20.0, -5.0), (50.0, -5.0)]
    # without a path history: the vehicle's position and the way ahead only, as before
    tracker = WorkZoneTracker(params, REF)
    tracker.update(_bsm("bb", 20.0), trusted=True, now=0.0)
    (ev,) = tracker.events(0.1)
    assert [(round(p.x, 1), round(p.y, 1)) for p in ev.reference_paths[0].points] == [
        (20.0, -5.0),
        (50.0, -5.0),
    ]


def test_zone_starts_follows_the_vehicle_and_is_withdrawn_when_the_flag_clears() -> None:
    params = WorkZoneParams(length_ahead=30.0, length_behind=10.0, half_width=2.0, speed_advice=1.5)
    tracker = WorkZoneTracker(params, REF)
    assert tracker.update(_bsm("aa", 0.0), trusted=True, now=0.0) == "started"
    (ev,) = tracker.events(0.1)
    assert ev.rte_id == 200 and ev.event_type == 401 and ev.priority == 5
    assert (ev.position.x, ev.position.y) == pytest.approx((0.0, -5.0), abs=0.05)
    assert ev.description == "sanitation vehicle at work (aa), limit 1.5 m/s" and ev.radius == pytest.approx(
        2.0
    )
    (path,) = ev.reference_paths
    assert [c for p in path.points for c in (p.x, p.y)] == pytest.approx([0.0, -5.0, 30.0, -5.0], abs=0.05)
    for k in range(1, 16):  # drives east at 1 m/s
        assert tracker.update(_bsm("aa", float(k)), trusted=True, now=float(k)) is None
    (ev,) = tracker.events(15.1)
    pts = [(p.x, p.y) for p in ev.reference_paths[0].points]
    assert pts[-1] == pytest.approx((45.0, -5.0), abs=0.05)  # 30 m ahead of x = 15
    assert pts[-2] == pytest.approx((15.0, -5.0), abs=0.05)  # the vehicle
    assert 4.0 <= pts[0][0] <= 7.0  # about length_behind (10 m) of the way it came (points >= 2 m apart)
    assert all(b[0] > a[0] for a, b in itertools.pairwise(pts))
    # the flag clears: withdrawn at once
    assert tracker.update(_bsm("aa", 16.0, lights=1), trusted=True, now=16.0) == "withdrawn"
    assert tracker.events(16.1) == [] and tracker.withdrawn == 1
    assert tracker.update(_bsm("aa", 17.0, lights=1), trusted=True, now=17.0) is None


def test_stale_bsms_withdraw_the_zone_and_untrusted_ones_never_start_it() -> None:
    tracker = WorkZoneTracker(WorkZoneParams(timeout=2.0), REF)
    assert tracker.update(_bsm("bb", 0.0), trusted=False, now=0.0) is None
    assert tracker.events(0.0) == [] and tracker.ignored_untrusted == 1
    tracker.update(_bsm("bb", 0.0), trusted=True, now=0.0)
    assert len(tracker.events(1.9)) == 1
    assert tracker.events(2.1) == [] and tracker.withdrawn == 1
    # an untrusted BSM without the flag does not withdraw a zone either
    tracker.update(_bsm("bb", 0.0), trusted=True, now=3.0)
    tracker.update(_bsm("bb", 0.0, lights=1), trusted=False, now=3.1)
    assert len(tracker.events(3.2)) == 1


def test_event_flags_vehicle_classes_and_the_zone_limit() -> None:
    params = WorkZoneParams(event_mask=Bsm.EVENT_HAZARD_LIGHTS, vehicle_classes=frozenset({71}), max_zones=2)
    tracker = WorkZoneTracker(params, REF)
    assert tracker.update(_bsm("c1", 0.0, lights=1, flags=Bsm.EVENT_HAZARD_LIGHTS), True, 0.0) == "started"
    car = _bsm("c2", 0.0)
    car.vehicle_class = 10
    assert tracker.update(car, True, 0.0) is None
    assert tracker.update(_bsm("c3", 50.0), True, 0.0) == "started"
    assert tracker.update(_bsm("c4", 80.0), True, 0.0) is None and tracker.ignored_full == 1
    assert [e.rte_id for e in tracker.events(0.5)] == [200, 201]
    tracker.update(_bsm("c1", 0.0, lights=1), True, 1.0)  # c1 withdrawn: its id is free again
    assert tracker.update(_bsm("c4", 80.0), True, 1.0) == "started"
    assert sorted(e.rte_id for e in tracker.events(1.5)) == [200, 201]
    unknown = _bsm("c5", 0.0)
    unknown.position.latitude = math.nan
    assert tracker.update(unknown, True, 1.0) is None


def test_heading_unavailable_and_first_vehicle_as_reference() -> None:
    tracker = WorkZoneTracker(WorkZoneParams(length_ahead=20.0))
    msg = _bsm("dd", 10.0)
    msg.heading = math.nan
    tracker.update(msg, True, 0.0)
    assert tracker.reference is not None and tracker.reference.latitude == pytest.approx(
        msg.position.latitude
    )
    (ev,) = tracker.events(0.0)
    assert len(ev.reference_paths[0].points) == 2  # a stub: standing, direction unknown
    moved = _bsm("dd", 14.0)
    moved.heading = math.nan
    tracker.update(moved, True, 1.0)
    (ev,) = tracker.events(1.0)
    last = ev.reference_paths[0].points[-1]
    assert (last.x, last.y) == pytest.approx((24.0, 0.0), abs=0.1)  # ahead in the direction it came


def test_work_zone_rsi_encodes_and_decodes() -> None:
    tracker = WorkZoneTracker(WorkZoneParams(), REF)
    for k in range(40):
        tracker.update(_bsm("ee", 2.5 * k), True, float(k))
    rsi = Rsi()
    rsi.v2x.sender_id = "0000000000000065"
    rsi.reference_position = REF
    rsi.events = tracker.events(40.0)
    kind, value = si.to_asn(rsi, 1.0e9)
    back = si.from_asn(*codec.decode_frame(codec.encode_frame(kind, value)), 1.0e9)
    (ev,) = back.events
    assert ev.rte_id == 200 and "sanitation vehicle at work" in ev.description
    assert (ev.position.x, ev.position.y) == pytest.approx((97.5, -5.0), abs=0.2)
    assert 2 <= len(ev.reference_paths[0].points) <= 32


@pytest.mark.parametrize(
    "kwargs",
    [{"timeout": 0.0}, {"length_ahead": math.nan}, {"rte_id_base": 254}, {"max_zones": 9}, {"priority": 8}],
)
def test_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        WorkZoneParams(**kwargs)  # type: ignore[arg-type]
