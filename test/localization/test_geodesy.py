"""Map frame from a geodetic origin (pymap3d ENU), headings, lever arm."""

from __future__ import annotations

import math

import numpy as np
import pymap3d
import pytest

from roadedge.localization.geodesy import GeodeticOrigin, LeverArm, MapFrame, enu_covariance

ORIGIN = GeodeticOrigin(31.2304, 121.4737, 12.0)


def test_origin_maps_to_zero_and_round_trips() -> None:
    frame = MapFrame(ORIGIN)
    assert frame.to_map(ORIGIN.latitude, ORIGIN.longitude, ORIGIN.altitude) == pytest.approx(
        (0, 0, 0), abs=1e-6
    )
    for x, y, z in [(100.0, -50.0, 1.0), (-2500.0, 4000.0, -3.0), (0.01, 0.02, 0.0)]:
        lat, lon, h = frame.to_geodetic(x, y, z)
        assert frame.to_map(lat, lon, h) == pytest.approx((x, y, z), abs=1e-6)


def test_distances_match_an_independent_ecef_computation() -> None:
    frame = MapFrame(ORIGIN)
    lat, lon, h = 31.2404, 121.4837, 15.0  # ~1.1 km north, ~0.95 km east
    x, y, z = frame.to_map(lat, lon, h)
    a = np.array(pymap3d.geodetic2ecef(ORIGIN.latitude, ORIGIN.longitude, ORIGIN.altitude))
    b = np.array(pymap3d.geodetic2ecef(lat, lon, h))
    assert math.sqrt(x * x + y * y + z * z) == pytest.approx(float(np.linalg.norm(b - a)), abs=1e-6)
    assert 900 < x < 1000 and 1100 < y < 1120


def test_invalid_origin_rejected() -> None:
    with pytest.raises(ValueError):
        GeodeticOrigin(95.0, 0.0)
    with pytest.raises(ValueError):
        GeodeticOrigin(10.0, 10.0, math.nan)


def test_heading_and_yaw() -> None:
    frame = MapFrame(ORIGIN)
    assert frame.heading_to_yaw(0.0) == pytest.approx(math.pi / 2)  # north
    assert frame.heading_to_yaw(90.0) == pytest.approx(0.0)  # east
    assert frame.yaw_to_heading(math.pi) == pytest.approx(270.0)  # west
    # Away from the origin true north turns: east of it, toward the map's -x (west).
    conv = frame.convergence(5000.0, 0.0)
    expected = (
        5000.0
        / (6378137.0 * math.cos(math.radians(ORIGIN.latitude)))
        * math.sin(math.radians(ORIGIN.latitude))
    )
    assert conv == pytest.approx(expected, rel=0.02)
    yaw = frame.heading_to_yaw(10.0, 5000.0, 0.0)
    assert frame.yaw_to_heading(yaw, 5000.0, 0.0) == pytest.approx(10.0)


def test_lever_arm() -> None:
    arm = LeverArm(1.0, 0.5, 2.0)
    assert arm.sensor_position(10.0, 20.0, 0.0, 0.0) == pytest.approx((11.0, 20.5, 2.0))
    assert arm.sensor_position(10.0, 20.0, 0.0, math.pi / 2) == pytest.approx((9.5, 21.0, 2.0))
    ax, ay, az = arm.sensor_position(3.0, 4.0, 0.5, 0.7, roll=0.05, pitch=-0.03)
    assert arm.base_position(ax, ay, az, 0.7, roll=0.05, pitch=-0.03) == pytest.approx((3.0, 4.0, 0.5))
    # Rotations keep the lever arm's length.
    assert math.dist((ax, ay, az), (3.0, 4.0, 0.5)) == pytest.approx(math.sqrt(1 + 0.25 + 4))


def test_covariance_helpers() -> None:
    cov = enu_covariance([1.0, 0.2, 0, 0.2, 2.0, 0, 0, 0, 3.0])
    assert cov.shape == (3, 3) and cov[0, 1] == 0.2
    rotated = MapFrame(ORIGIN).rotate_covariance_to_map(cov, 0.0, 0.0)
    assert rotated == pytest.approx(cov)
