"""Tracker: stable ids through short occlusions, velocity, lifecycle, bad input."""

from __future__ import annotations

import math

import numpy as np

from roadedge.perception.objects import CAMERA, Measurement, Source
from roadedge.perception.tracking import Tracker, TrackerConfig, TrackState

DT = 0.1


def meas(x: float, y: float, t: float, label: str = "pedestrian", sigma: float = 0.15) -> Measurement:
    return Measurement(x, y, np.eye(2) * sigma**2, label, 0.9, Source(CAMERA, "front", t))


def by_label(est: list, label: str) -> list:
    return [e for e in est if e.label == label]


def test_ids_survive_short_occlusion_and_velocity_is_estimated() -> None:
    rng = np.random.default_rng(1)
    tr = Tracker()
    ids: dict[str, set[int]] = {"pedestrian": set(), "vehicle": set()}
    last = []
    for k in range(60):
        t = k * DT
        ped = (10.0 + 1.4 * t, 2.0)  # walking +x at 1.4 m/s
        veh = (20.0, -5.0 + 8.0 * t * 0.5)  # +y at 4 m/s
        ms = [meas(veh[0] + rng.normal(0, 0.1), veh[1] + rng.normal(0, 0.1), t, "vehicle")]
        occluded = 20 <= k < 28  # 0.8 s behind something
        if not occluded:
            ms.append(meas(ped[0] + rng.normal(0, 0.1), ped[1] + rng.normal(0, 0.1), t))
        est = tr.step(t, ms)
        for lab in ids:
            ids[lab] |= {e.id for e in by_label(est, lab)}
        if occluded and k > 21:
            (p,) = by_label(est, "pedestrian")
            assert tr.state_of(p.id) is TrackState.LOST
            assert abs(p.x - ped[0]) < 1.0  # predicted through the occlusion
        last = est
    assert len(ids["pedestrian"]) == 1 and len(ids["vehicle"]) == 1
    (p,) = by_label(last, "pedestrian")
    (v,) = by_label(last, "vehicle")
    assert tr.state_of(p.id) is TrackState.CONFIRMED
    assert math.hypot(p.vx - 1.4, p.vy) < 0.3
    assert math.hypot(v.vx, v.vy - 4.0) < 0.4
    assert p.tracked and p.age > 5.0 and p.sources[0].sensor_id == "front"


def test_crossing_pedestrians_keep_their_ids() -> None:
    tr = Tracker()
    first: dict[int, float] = {}
    for k in range(50):
        t = k * DT
        a = meas(5.0 + 1.5 * t, 0.0 + 0.0 * t, t)
        b = meas(12.5 - 1.5 * t, 0.6, t)  # passes a at t = 2.5 s, 0.6 m apart
        est = tr.step(t, [a, b])
        if k == 10:
            first = {e.id: e.y for e in est}
    end = {e.id: e.y for e in tr.estimates()}
    assert set(end) == set(first)
    for i in first:
        assert abs(end[i] - first[i]) < 0.3  # the track on y=0 is still on y=0


def test_lifecycle_tentative_confirmed_lost_deleted() -> None:
    tr = Tracker(TrackerConfig(confirm_hits=3, max_lost_s=0.5))
    assert tr.step(0.0, [meas(3, 3, 0.0)]) == []  # tentative is not reported
    assert tr.tracks[0].state is TrackState.TENTATIVE
    tr.step(0.1, [])
    assert tr.tracks == []  # a tentative track that misses is dropped
    for k in range(3):
        est = tr.step(0.2 + k * DT, [meas(3, 3, 0.2 + k * DT)])
    assert len(est) == 1 and tr.tracks[0].state is TrackState.CONFIRMED
    tid = est[0].id
    est = tr.step(0.5, [])
    assert tr.state_of(tid) is TrackState.LOST and est[0].existence < 0.9
    tr.step(0.9, [])
    assert tr.state_of(tid) is TrackState.LOST
    tr.step(1.1, [])
    assert tr.state_of(tid) is None  # deleted after max_lost_s


def test_far_measurement_starts_a_new_track_and_nan_is_dropped() -> None:
    tr = Tracker(TrackerConfig(confirm_hits=1))
    (a,) = tr.step(0.0, [meas(0, 0, 0.0)])
    bad = Measurement(float("nan"), 0.0, np.eye(2), "pedestrian", 0.9, Source(CAMERA, "front", 0.1))
    est = tr.step(0.1, [meas(30, 0, 0.1), bad])
    assert len(est) == 2 and {e.id for e in est} == {a.id, a.id + 1}


def test_time_going_backwards_resets_but_late_measurements_fuse() -> None:
    tr = Tracker(TrackerConfig(confirm_hits=1))
    tr.step(10.0, [meas(0, 0, 10.0)])
    est = tr.step(9.8, [meas(0.1, 0, 9.8)])  # 0.2 s late (another source): same track
    assert len(est) == 1 and est[0].age == 0.0 and tr.stamp == 10.0
    tr.step(11.0, [meas(0, 0, 11.0)])
    est = tr.step(5.0, [meas(0, 0, 5.0)])  # replay restarted
    assert len(est) == 1 and est[0].age == 0.0 and est[0].id == 2


def test_a_sensor_that_cannot_see_a_track_does_not_count_a_miss() -> None:
    """Two sensors with different fields of view share one tracker (cameras, RSM)."""
    tr = Tracker(TrackerConfig(confirm_hits=3, max_lost_s=1.0))

    def left_only(x: float, y: float) -> bool:
        return y > 0

    for k in range(10):
        t = k * DT
        tr.step(t, [meas(5.0, 3.0, t)], observable=left_only)  # the left camera sees A
        tr.step(t + 0.05, [meas(5.0, -3.0, t + 0.05)], observable=lambda x, y: y < 0)  # the right one sees B
    est = tr.estimates()
    assert len(est) == 2 and all(tr.state_of(e.id) is TrackState.CONFIRMED for e in est)
    # a sensor that sees nothing (an RSM about elsewhere) changes nobody's lifecycle
    tr.step(1.0, [], observable=lambda x, y: False)
    assert all(tr.state_of(e.id) is TrackState.CONFIRMED for e in est)
