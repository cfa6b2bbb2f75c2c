"""The map frame and WGS-84: the one geodesy module of roadedge.

The ``map`` frame (REP-105) is a local east-north-up tangent plane at a geodetic origin
given in configuration (WGS-84, ellipsoidal height). Conversions use pymap3d. Headings
(degrees clockwise from true north, as in NMEA and V2X) and map yaw (radians
counter-clockwise from the map's x axis = east at the origin) convert with the meridian
convergence at the point, which is ~0.05 deg 10 km away from the origin at 30 deg latitude.

Vehicle frames follow REP-103: base_link x forward, y left, z up. The GNSS antenna sits at
a lever arm (x, y, z) in base_link.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymap3d


@dataclass(frozen=True)
class GeodeticOrigin:
    latitude: float  # deg
    longitude: float  # deg
    altitude: float = 0.0  # m above the WGS-84 ellipsoid

    def __post_init__(self) -> None:
        if not (-90.0 < self.latitude < 90.0) or not (-180.0 <= self.longitude <= 180.0):
            raise ValueError(f"geodetic origin out of range: {self.latitude}, {self.longitude}")
        if not math.isfinite(self.altitude):
            raise ValueError("geodetic origin altitude must be finite")


def yaw_of_quaternion(q: Any) -> float:
    """Yaw (rad, about z) of a quaternion with x, y, z, w fields (geometry_msgs/Quaternion)."""
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def wrap_angle(angle: float) -> float:
    """Angle in (-pi, pi]."""
    return math.atan2(math.sin(angle), math.cos(angle))


class MapFrame:
    """map (local ENU at ``origin``) <-> WGS-84 geodetic."""

    def __init__(self, origin: GeodeticOrigin):
        self.origin = origin

    def to_map(self, latitude: float, longitude: float, altitude: float) -> tuple[float, float, float]:
        """Geodetic (deg, deg, m ellipsoidal) -> map (x east, y north, z up) in m."""
        o = self.origin
        e, n, u = pymap3d.geodetic2enu(latitude, longitude, altitude, o.latitude, o.longitude, o.altitude)
        return float(e), float(n), float(u)

    def to_geodetic(self, x: float, y: float, z: float) -> tuple[float, float, float]:
        """map (m) -> geodetic (deg, deg, m ellipsoidal)."""
        o = self.origin
        lat, lon, h = pymap3d.enu2geodetic(x, y, z, o.latitude, o.longitude, o.altitude)
        return float(lat), float(lon), float(h)

    def convergence(self, x: float, y: float) -> float:
        """Angle (rad, CCW) from the map's y axis to true north at map point (x, y)."""
        lat, lon, h = self.to_geodetic(x, y, 0.0)
        # A point 10 m due north of (lat, lon) along the local meridian, back in map.
        n_lat = lat + math.degrees(10.0 / 6_378_137.0)
        x2, y2, _ = self.to_map(n_lat, lon, h)
        return math.atan2(-(x2 - x), y2 - y)

    def heading_to_yaw(self, heading_deg: float, x: float = 0.0, y: float = 0.0) -> float:
        """True heading (deg clockwise from north) at map point -> map yaw (rad CCW from x)."""
        conv = self.convergence(x, y) if (x or y) else 0.0
        return wrap_angle(math.pi / 2 - math.radians(heading_deg) + conv)

    def yaw_to_heading(self, yaw: float, x: float = 0.0, y: float = 0.0) -> float:
        """Map yaw (rad) at map point -> true heading in deg [0, 360)."""
        conv = self.convergence(x, y) if (x or y) else 0.0
        return math.degrees(math.pi / 2 - yaw + conv) % 360.0

    def rotate_covariance_to_map(self, cov_enu: np.ndarray, x: float, y: float) -> np.ndarray:
        """A 2x2 or 3x3 covariance in the local ENU of (x, y) -> map axes."""
        g = self.convergence(x, y)
        c, s = math.cos(g), math.sin(g)
        r = np.eye(cov_enu.shape[0])
        r[:2, :2] = [[c, -s], [s, c]]
        out: np.ndarray = r @ cov_enu @ r.T
        return out


@dataclass(frozen=True)
class LeverArm:
    """Sensor position in base_link (m): x forward, y left, z up."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0

    def offset(self, yaw: float, roll: float = 0.0, pitch: float = 0.0) -> tuple[float, float, float]:
        """The lever arm rotated into map axes (ZYX Euler yaw, pitch, roll)."""
        cr, sr = math.cos(roll), math.sin(roll)
        cp, sp = math.cos(pitch), math.sin(pitch)
        cy, sy = math.cos(yaw), math.sin(yaw)
        x, y, z = self.x, self.y, self.z
        # R = Rz(yaw) Ry(pitch) Rx(roll)
        x1, y1, z1 = x, cr * y - sr * z, sr * y + cr * z
        x2, y2, z2 = cp * x1 + sp * z1, y1, -sp * x1 + cp * z1
        return cy * x2 - sy * y2, sy * x2 + cy * y2, z2

    def sensor_position(
        self, x: float, y: float, z: float, yaw: float, roll: float = 0.0, pitch: float = 0.0
    ) -> tuple[float, float, float]:
        """base_link origin in map -> sensor position in map."""
        dx, dy, dz = self.offset(yaw, roll, pitch)
        return x + dx, y + dy, z + dz

    def base_position(
        self, x: float, y: float, z: float, yaw: float, roll: float = 0.0, pitch: float = 0.0
    ) -> tuple[float, float, float]:
        """Sensor position in map -> base_link origin in map."""
        dx, dy, dz = self.offset(yaw, roll, pitch)
        return x - dx, y - dy, z - dz


def enu_covariance(flat9: tuple[float, ...] | list[float]) -> np.ndarray:
    """NavSatFix position_covariance (row-major ENU) -> 3x3 array."""
    return np.asarray(flat9, dtype=float).reshape(3, 3)
