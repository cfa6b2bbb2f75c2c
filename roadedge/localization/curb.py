"""Curb lines of the map and a side range sensor looking at them: the lateral aid of a curb sweeper.

A sweeper working along a curb carries a side-looking range sensor (ultrasonic or single-beam lidar,
sensor_msgs/Range) at the height of the curb face. Its range to the curb, compared with the range the
map's curb line predicts from the estimated pose, is a measurement of the vehicle's lateral position and
heading relative to the curb -- the direction that single-point GNSS, whose error wanders by a metre
over minutes, cannot give to better than about 2 m (95 %). :class:`CurbLines` holds the map's curb
polylines (map frame, m) and casts the sensor's ray against them; :func:`range_jacobian` gives the
measurement's derivative for the EKF (:meth:`roadedge.localization.ekf.LocalizationEkf.update_range`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RangeMount:
    """A range sensor in base_link: position (m) and beam direction (rad, 0 = forward, -pi/2 = right)."""

    x: float = 0.0
    y: float = -1.0
    yaw: float = -math.pi / 2
    min_range: float = 0.05  # m
    max_range: float = 4.0  # m

    def ray(self, x: float, y: float, yaw: float) -> tuple[float, float, float, float]:
        """Origin and unit direction of the beam in the map for base_link at (x, y, yaw)."""
        c, s = math.cos(yaw), math.sin(yaw)
        ox = x + c * self.x - s * self.y
        oy = y + s * self.x + c * self.y
        return ox, oy, math.cos(yaw + self.yaw), math.sin(yaw + self.yaw)


@dataclass(frozen=True)
class RayHit:
    range: float  # m along the beam
    normal_x: float  # unit normal of the hit segment (map frame)
    normal_y: float
    cos_incidence: float  # |n . d|, 1 = perpendicular to the curb


class CurbLines:
    """Curb polylines in the map frame; ray casting against all their segments (numpy, vectorised)."""

    def __init__(self, polylines: Iterable[Sequence[tuple[float, float]] | np.ndarray]):
        a_list, b_list = [], []
        for line in polylines:
            pts = np.asarray(line, dtype=float).reshape(-1, 2)
            if pts.shape[0] < 2 or not np.all(np.isfinite(pts)):
                continue
            a_list.append(pts[:-1])
            b_list.append(pts[1:])
        if a_list:
            a, b = np.concatenate(a_list), np.concatenate(b_list)
            keep = np.hypot(*(b - a).T) > 1e-6
            self.a, self.b = a[keep], b[keep]
        else:
            self.a = self.b = np.zeros((0, 2))

    def __len__(self) -> int:
        return int(self.a.shape[0])

    def raycast(
        self,
        ox: float,
        oy: float,
        dx: float,
        dy: float,
        max_range: float,
        min_range: float = 0.0,
        nearest_to: float | None = None,
    ) -> RayHit | None:
        """The first crossing of the line o + r d (min_range < r <= max_range) with a curb segment, or
        with ``nearest_to`` the crossing whose r is nearest to it. A negative min_range looks behind the
        origin: an estimate a little beyond the curb still finds it (r < 0)."""
        if not len(self):
            return None
        e = self.b - self.a  # segment vectors
        denom = dx * e[:, 1] - dy * e[:, 0]  # cross(d, e)
        wx, wy = self.a[:, 0] - ox, self.a[:, 1] - oy
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (wx * e[:, 1] - wy * e[:, 0]) / denom  # cross(w, e) / cross(d, e)
            u = (wx * dy - wy * dx) / denom  # cross(w, d) / cross(d, e)
        ok = (np.abs(denom) > 1e-12) & (r > min_range) & (r <= max_range) & (u >= 0.0) & (u <= 1.0)
        if not np.any(ok):
            return None
        key = r[ok] if nearest_to is None else np.abs(r[ok] - nearest_to)
        i = int(np.flatnonzero(ok)[np.argmin(key)])
        ex, ey = e[i]
        length = math.hypot(ex, ey)
        nx, ny = -ey / length, ex / length
        return RayHit(float(r[i]), nx, ny, abs(nx * dx + ny * dy))


def range_jacobian(mount: RangeMount, yaw: float, hit: RayHit) -> tuple[float, float, float]:
    """d range / d (x, y, yaw) of base_link for a hit on a straight curb segment.

    The beam o + r d meets the line n . (p - a) = 0 at r = n . (a - o) / (n . d); o and d turn with the
    vehicle's yaw.
    """
    c, s = math.cos(yaw), math.sin(yaw)
    dx, dy = math.cos(yaw + mount.yaw), math.sin(yaw + mount.yaw)
    nd = hit.normal_x * dx + hit.normal_y * dy
    do_dyaw = (-s * mount.x - c * mount.y, c * mount.x - s * mount.y)
    dd_dyaw = (-dy, dx)
    dr_dx = -hit.normal_x / nd
    dr_dy = -hit.normal_y / nd
    dr_dyaw = (
        -(hit.normal_x * do_dyaw[0] + hit.normal_y * do_dyaw[1]) / nd
        - hit.range * (hit.normal_x * dd_dyaw[0] + hit.normal_y * dd_dyaw[1]) / nd
    )
    return dr_dx, dr_dy, dr_dyaw


def offset_polyline(xs: Sequence[float], ys: Sequence[float], offset: float) -> np.ndarray:
    """A polyline shifted by ``offset`` m to its left (negative: right), point by point along the normals
    of the mean direction of the adjacent segments (for test routes and emulated curbs)."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    heading = np.arctan2(np.gradient(y), np.gradient(x))
    return np.column_stack((x - offset * np.sin(heading), y + offset * np.cos(heading)))


def load_site_curbs(site: str, sites_file: str = "") -> CurbLines:
    """The road edges (lanelet2 bounds of type road_border / curbstone) of a site's map as curb lines.

    Raises :class:`roadedge.config.ConfigError` when the site, its map or lanelet2 is unusable.
    """
    from pathlib import Path

    from roadedge.config import ConfigError
    from roadedge.planning.lanelet_map import MapError, RoadMap, load_sites

    path = Path(sites_file) if sites_file else Path(__file__).resolve().parents[2] / "config/maps/sites.yaml"
    if not path.is_file():
        from ament_index_python.packages import get_package_share_directory  # type: ignore[import-not-found]

        path = Path(get_package_share_directory("roadedge")) / "config/maps/sites.yaml"
    try:
        sites = load_sites(path)
        if site not in sites:
            raise MapError(f"site {site!r} not in {path} ({sorted(sites)})")
        road = RoadMap.from_site(sites[site])
    except MapError as exc:
        raise ConfigError(f"curb lines: {exc}") from exc
    lines: dict[tuple[float, ...], np.ndarray] = {}
    for info in road.lanelets.values():
        for side in ("left", "right"):
            edge = info.edge(side)
            if edge is None:
                continue
            pts = np.column_stack((edge.x, edge.y))
            key = tuple(np.round(np.sort(pts, axis=0).ravel(), 3))  # a bound shared by two lanelets once
            lines.setdefault(key, pts)
    return CurbLines(lines.values())


def site_of_map(map_file: str, sites_file: str = "") -> str | None:
    """The site of config/maps/sites.yaml whose lanelet2 map is ``map_file`` (by file name), or None."""
    from pathlib import Path

    from roadedge.planning.lanelet_map import MapError, load_sites

    path = Path(sites_file) if sites_file else Path(__file__).resolve().parents[2] / "config/maps/sites.yaml"
    try:
        sites = load_sites(path)
    except MapError:
        return None
    name = Path(map_file).name
    return next((s.name for s in sites.values() if s.map_file.name == name), None)


def curb_aid_params(map_file: str) -> dict[str, object]:
    """Localization parameters that fuse the side curb range over the road edges of the site whose map
    this is (HIL runs); empty when the map is no site's."""
    site = site_of_map(map_file)
    return {"use_curb_range": True, "curb_site": site} if site else {}
