"""The own BSM's path history (concise breadcrumbs) and path prediction (roadedge.v2x.path_history)."""

from __future__ import annotations

import itertools
import math

import pymap3d
import pytest

from roadedge.v2x.path_history import (
    MAX_TIME_OFFSET_S,
    Crumb,
    PathHistory,
    PathHistoryPolicy,
    PathPredictor,
)

LAT0, LON0, H0 = 31.2304, 121.4737, 4.0
RATE = 10.0  # Hz, the BSM rate


def geo(e: float, n: float) -> tuple[float, float]:
    lat, lon, _ = pymap3d.enu2geodetic(e, n, 0.0, LAT0, LON0, H0)
    return float(lat), float(lon)


def enu(lat: float, lon: float) -> tuple[float, float]:
    e, n, _ = pymap3d.geodetic2enu(lat, lon, H0, LAT0, LON0, H0)
    return float(e), float(n)


def drive(history: PathHistory, path: list[tuple[float, float]], t0: float = 1000.0) -> list[float]:
    """Feed ENU points at RATE; returns their times."""
    times = []
    for i, (e, n) in enumerate(path):
        t = t0 + i / RATE
        lat, lon = geo(e, n)
        history.add(t, lat, lon, H0, 5.0, 0.0)
        times.append(t)
    return times


def straight(length: float, speed: float = 10.0, heading: float = 0.0) -> list[tuple[float, float]]:
    step = speed / RATE
    return [
        (i * step * math.cos(heading), i * step * math.sin(heading)) for i in range(int(length / step) + 1)
    ]


def turn(radius: float, angle: float, speed: float = 5.0) -> list[tuple[float, float]]:
    """A straight 20 m east, then a left turn of ``angle`` rad of ``radius`` m, then 20 m straight."""
    step = speed / RATE
    out = [(i * step - 20.0, 0.0) for i in range(int(20.0 / step))]
    n = int(radius * angle / step)
    out += [
        (radius * math.sin(k * step / radius), radius * (1 - math.cos(k * step / radius)))
        for k in range(n + 1)
    ]
    ex, ey = out[-1]
    out += [
        (ex + i * step * math.cos(angle), ey + i * step * math.sin(angle)) for i in range(1, int(20.0 / step))
    ]
    return out


def segment_distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    u = 0.0 if length2 == 0 else min(1.0, max(0.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2))
    return math.hypot(p[0] - a[0] - u * dx, p[1] - a[1] - u * dy)


def max_chord_error(points: list[Crumb], path: list[tuple[float, float]], times: list[float]) -> float:
    """Largest distance of a driven sample (since the oldest point) from the polyline of the points
    (newest first) ending at the current position: each sample against the chord spanning its time."""
    now = times[-1]
    nodes = [(now, path[-1])] + [(c.t, enu(c.latitude, c.longitude)) for c in points]
    worst = 0.0
    for t, p in zip(times, path, strict=True):
        for (t_new, b), (t_old, a) in itertools.pairwise(nodes):
            if t_old <= t <= t_new:
                worst = max(worst, segment_distance(p, a, b))
                break
    return worst


def test_straight_drive_keeps_few_points() -> None:
    history = PathHistory()
    path = straight(400.0)
    times = drive(history, path)
    points = history.points(times[-1])
    # a kept point every max_spacing (100 m) at most, until 300 m are covered
    assert 3 <= len(points) <= 4
    assert max_chord_error(points, path, times) < 0.05
    oldest = enu(points[-1].latitude, points[-1].longitude)
    assert 300.0 <= path[-1][0] - oldest[0] <= 400.0  # covers 300 m, not much more
    # newest first, time offsets as driven
    assert all(a.t > b.t for a, b in itertools.pairwise(points))
    for c in points:
        e, _ = enu(c.latitude, c.longitude)
        assert times[-1] - c.t == pytest.approx((path[-1][0] - e) / 10.0, abs=0.02)


@pytest.mark.parametrize("radius", [3.0, 10.0, 30.0])
def test_a_90_degree_turn_keeps_the_chord_error_within_1_m(radius: float) -> None:
    history = PathHistory()
    path = turn(radius, math.pi / 2)
    times = drive(history, path)
    points = history.points(times[-1])
    assert max_chord_error(points, path, times) <= 1.0
    # a turn needs points inside it; a wider radius needs more of them (the sagitta grows with it)
    inside = [c for c in points if 0.0 < enu(c.latitude, c.longitude)[0] < radius - 0.1]
    assert len(inside) >= 1
    assert len(points) <= 10


def test_tighter_error_keeps_more_points() -> None:
    loose, tight = PathHistory(), PathHistory(PathHistoryPolicy(max_error_m=0.2))
    path = turn(20.0, math.pi / 2)
    drive(loose, path)
    times = drive(tight, path)
    assert len(tight.points(times[-1])) > len(loose.points(times[-1]))
    assert max_chord_error(tight.points(times[-1]), path, times) <= 0.2


def test_limits_points_distance_and_age() -> None:
    # a slalom keeps many points: at most 23
    history = PathHistory()
    path = [(i * 0.5, 4.0 * math.sin(i * 0.5 / 2.0)) for i in range(4000)]
    times = drive(history, path)
    points = history.points(times[-1])
    assert len(points) == 23
    assert max_chord_error(points, path, times) <= 1.0
    # distance: the oldest point is the first at or beyond the limit
    short = PathHistory(PathHistoryPolicy(max_distance_m=50.0))
    times = drive(short, path)
    points = short.points(times[-1])
    run, (x, y) = 0.0, path[-1]
    for c in points:
        e, n = enu(c.latitude, c.longitude)
        run += math.hypot(x - e, y - n)
        x, y = e, n
    assert 50.0 <= run < 50.0 + 100.0 and len(points) < 23
    # age: nothing older than the largest TimeOffset (655.34 s) is sent
    parked = PathHistory()
    times = drive(parked, straight(150.0))
    assert parked.points(times[-1])
    assert parked.points(times[-1] + MAX_TIME_OFFSET_S + 20.0) == []
    with pytest.raises(ValueError):
        PathHistoryPolicy(max_points=24)
    with pytest.raises(ValueError):
        PathHistoryPolicy(max_age_s=700.0)


def test_standing_still_adds_nothing_and_time_offsets_grow() -> None:
    history = PathHistory()
    times = drive(history, straight(150.0))
    before = history.points(times[-1])
    lat, lon = geo(150.0, 0.0)
    for k in range(1, 300):  # 30 s parked, GNSS jitter of a few cm
        history.add(times[-1] + k / RATE, lat + 1e-7 * (k % 3), lon, H0, 0.0, 0.0)
    later = history.points(times[-1] + 30.0)
    assert [c.t for c in later] == [c.t for c in before]  # the same points, 30 s older


def test_jump_or_clock_going_back_restarts_the_history() -> None:
    history = PathHistory()
    times = drive(history, straight(150.0))
    assert history.points(times[-1])
    lat, lon = geo(5000.0, 0.0)  # 4.85 km in 0.1 s
    history.add(times[-1] + 0.1, lat, lon)
    assert history.resets == 1  # only the sample after the jump is left
    assert [c.t for c in history.points(times[-1] + 0.2)] == [times[-1] + 0.1]
    history.add(times[-1] + 0.3, *geo(5001.0, 0.0))
    history.add(10.0, *geo(0.0, 0.0))  # the clock went back (a replay restarted)
    assert history.resets == 2 and [c.t for c in history.points(10.5)] == [10.0]
    # unavailable samples are ignored; the same instant twice counts once
    history.add(math.nan, LAT0, LON0)
    history.add(11.0, math.nan, LON0)
    history.add(10.0, *geo(3.0, 0.0))
    assert history.latest is not None and history.latest.t == 10.0 and history.resets == 2


def test_points_exclude_the_current_position() -> None:
    history = PathHistory()
    history.add(100.0, LAT0, LON0)
    assert history.points(100.0) == []  # only the current position: nothing to send yet
    assert len(history.points(100.5)) == 1


def test_far_drive_reprojects_without_losing_accuracy() -> None:
    history = PathHistory()
    path = straight(12000.0, speed=30.0, heading=0.3)
    path += [(path[-1][0] - 30.0 / RATE * i * math.sin(0.3), path[-1][1] + 3.0 * i) for i in range(1, 30)]
    times = drive(history, path)
    assert history.resets == 0  # moving the plane's origin along is no jump
    assert max_chord_error(history.points(times[-1]), path[-3000:], times[-3000:]) <= 1.0


def test_path_prediction() -> None:
    pred = PathPredictor()
    assert pred.update(0.0, 10.0, 0.0) == (math.inf, 1.0)  # straight
    radius, conf = pred.update(0.1, 10.0, 0.0)
    assert radius == math.inf and conf == 1.0
    # a steady left turn: R = v / yaw rate, positive left; confidence high once steady
    for k in range(2, 40):
        radius, conf = pred.update(k / 10.0, 5.0, 0.25)
    assert radius == pytest.approx(20.0) and conf > 0.95
    radius, conf = pred.update(4.0, 5.0, -0.25)  # right, the yaw rate swung: low confidence
    assert radius == pytest.approx(-20.0) and conf < 0.5
    # reverse: the speed's magnitude (the curve in the direction of travel)
    assert pred.update(4.1, -5.0, -0.25)[0] == pytest.approx(-20.0)
    # standing: straight with confidence 0; a tiny yaw rate or a huge radius: straight
    assert pred.update(4.2, 0.1, 0.25) == (math.inf, 0.0)
    assert pred.update(4.3, 5.0, 5e-5)[0] == math.inf
    assert pred.update(4.4, 20.0, 0.005)[0] == math.inf  # 4000 m > 3276.6 m
    assert pred.update(4.5, 20.0, 0.0062)[0] == pytest.approx(20.0 / 0.0062)
    # unknown input: not sent
    r, c = pred.update(4.6, math.nan, 0.1)
    assert math.isnan(r) and math.isnan(c)
    r, c = pred.update(4.7, 5.0, math.nan)
    assert math.isnan(r) and math.isnan(c)
