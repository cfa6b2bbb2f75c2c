"""Curb lines, the side range sensor's geometry (ray cast, Jacobian), its emulator, and bad ranges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hil.curb_sensor import CurbRangeEmulator, CurbRangeModel
from roadedge.localization.curb import (
    CurbLines,
    RangeMount,
    curb_aid_params,
    load_site_curbs,
    offset_polyline,
    range_jacobian,
    site_of_map,
)
from roadedge.localization.ekf import EkfParams, LocalizationEkf

RIGHT = RangeMount(1.0, -1.0, -math.pi / 2, 0.05, 4.0)


def test_raycast_first_nearest_and_behind() -> None:
    curbs = CurbLines([[(-50.0, -7.0), (50.0, -7.0)], [(-50.0, -9.0), (50.0, -9.0)]])
    ox, oy, dx, dy = RIGHT.ray(0.0, -5.8, 0.0)
    assert (ox, oy) == pytest.approx((1.0, -6.8)) and (dx, dy) == pytest.approx((0.0, -1.0))
    hit = curbs.raycast(ox, oy, dx, dy, 4.0)
    assert hit is not None and hit.range == pytest.approx(0.2) and hit.cos_incidence == pytest.approx(1.0)
    far = curbs.raycast(ox, oy, dx, dy, 4.0, nearest_to=2.1)
    assert far is not None and far.range == pytest.approx(2.2)
    # The estimate puts the sensor 0.3 m beyond the curb: only a search behind the origin finds it.
    ox, oy, dx, dy = RIGHT.ray(0.0, -6.5, 0.0)
    assert curbs.raycast(ox, oy, dx, dy, 1.0) is None
    behind = curbs.raycast(ox, oy, dx, dy, 1.0, -1.0, nearest_to=0.2)
    assert behind is not None and behind.range == pytest.approx(-0.5)
    assert curbs.raycast(ox, oy, 1.0, 0.0, 100.0) is None  # parallel to the curbs
    assert len(CurbLines([])) == 0 and CurbLines([]).raycast(0, 0, 1, 0, 10) is None
    assert len(CurbLines([[(0.0, 0.0)], [(0.0, 0.0), (math.nan, 1.0)]])) == 0  # degenerate lines dropped


def test_range_jacobian_matches_finite_differences() -> None:
    curbs = CurbLines([[(-20.0, -12.0), (20.0, -4.0)]])  # an oblique curb
    mount = RangeMount(1.3, -0.9, -1.4)
    x0 = np.array([0.5, -3.0, 0.25])

    def rng(x: np.ndarray) -> float:
        hit = curbs.raycast(*mount.ray(*x), 10.0)
        assert hit is not None
        return hit.range

    hit = curbs.raycast(*mount.ray(*x0), 10.0)
    assert hit is not None
    analytic = range_jacobian(mount, float(x0[2]), hit)
    eps = 1e-6
    numeric = [(rng(x0 + eps * e) - rng(x0 - eps * e)) / (2 * eps) for e in np.eye(3)]
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-7)


def test_offset_polyline_is_to_the_left_for_positive_offsets() -> None:
    pts = offset_polyline([0.0, 1.0, 2.0], [0.0, 0.0, 0.0], -1.2)
    assert pts[:, 1] == pytest.approx([-1.2, -1.2, -1.2])


def test_site_curbs_and_the_hil_start_pose() -> None:
    curbs = load_site_curbs("demo_intersection")
    assert len(curbs) > 50
    # The demo scenarios start at (-85, -5.8) heading east; the curb is at y = -7.
    emu = CurbRangeEmulator(curbs, RIGHT, CurbRangeModel(sigma=0.0))
    assert emu.true_range(-85.0, -5.8, 0.0) == pytest.approx(0.2, abs=1e-6)
    assert math.isinf(emu.true_range(0.0, -5.8, 0.0))  # in the middle of the intersection: no curb
    assert site_of_map("config/maps/demo_intersection.osm") == "demo_intersection"
    assert site_of_map("elsewhere.osm") is None and curb_aid_params("elsewhere.osm") == {}
    from roadedge.config import ConfigError

    with pytest.raises(ConfigError, match="no_such_site"):
        load_site_curbs("no_such_site")


def test_emulator_clutter_dropout_and_no_echo() -> None:
    curbs = CurbLines([[(-50.0, -7.0), (50.0, -7.0)]])
    clutter = CurbRangeEmulator(curbs, RIGHT, CurbRangeModel(0.0, clutter_probability=1.0), seed=2)
    assert all(RIGHT.min_range <= clutter.measure(0.0, -4.0, 0.0) <= 2.0 for _ in range(50))
    dropout = CurbRangeEmulator(curbs, RIGHT, CurbRangeModel(0.0, dropout_probability=1.0))
    assert math.isinf(dropout.measure(0.0, -5.8, 0.0)) and dropout.echoes == 0
    assert math.isinf(CurbRangeEmulator(curbs, RIGHT).measure(0.0, 10.0, 0.0))  # nothing within 4 m


def test_bad_and_useless_ranges_are_counted_not_fused() -> None:
    curbs = CurbLines([[(-50.0, -7.0), (50.0, -7.0)]])
    ekf = LocalizationEkf(EkfParams())
    assert not ekf.update_range(0.0, 0.2, 0.02, RIGHT, curbs).accepted  # not initialised: ignored
    ekf.reset_to_pose(0.0, 0.0, -5.8, 0.0)
    for r in (math.inf, math.nan, -1.0, 10.0):
        assert not ekf.update_range(0.1, r, 0.02, RIGHT, curbs).accepted
    assert not ekf.update_range(0.1, 0.2, 0.0, RIGHT, curbs).accepted  # no sigma
    assert ekf.counters.range_no_curb == 5
    along = RangeMount(1.0, -1.0, -0.2)  # nearly parallel to the curb: grazing, unusable
    assert not ekf.update_range(0.1, 3.0, 0.02, along, curbs).accepted and ekf.counters.range_no_curb == 6
    assert ekf.update_range(0.1, 0.25, 0.02, RIGHT, curbs).accepted
    assert not ekf.update_range(0.2, 2.5, 0.02, RIGHT, curbs).accepted  # a 2.3 m jump: gate
    assert ekf.counters.range_accepted == 1 and ekf.counters.range_rejected == 1
    assert np.all(np.isfinite(ekf.x)) and np.all(np.isfinite(ekf.P))
