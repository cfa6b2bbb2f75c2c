"""lanelet2 road map: loading from OSM with a projector around the site origin, lanelet geometry,
road edges (curbs), stop lines, speed limits, map matching and routing.

Coordinates are the map frame (ENU metres from the site origin). With projector "local_cartesian" (the
default) lanelet2's LocalCartesianProjector makes them exactly the ENU frame of the origin, the same frame
as localization's map frame; "utm" uses lanelet2's UtmProjector with the origin as offset (UTM grid axes,
which differ from ENU by the grid convergence, a fraction of a degree).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import numpy as np
import yaml

from roadedge.planning.geometry import Path, Projection, wrap_angle

ROAD_EDGE_TYPES = frozenset({"road_border", "curbstone"})
DEFAULT_SPEED_LIMIT = 50.0 / 3.6  # m/s, urban default when a lanelet has no speed_limit


class MapError(Exception):
    """The map, its site configuration or lanelet2 itself is unusable."""


def require_lanelet2() -> Any:
    """The lanelet2 module, or a MapError saying how to get it."""
    try:
        import lanelet2
        import lanelet2.io
        import lanelet2.projection
        import lanelet2.routing
        import lanelet2.traffic_rules
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MapError(
            "lanelet2 is not installed: roadedge's maps need it "
            "(pip install lanelet2==1.2.3; wheels exist for CPython 3.10-3.13 on manylinux x86_64)"
        ) from exc
    return lanelet2


@dataclass(frozen=True)
class Origin:
    latitude: float  # deg
    longitude: float  # deg
    elevation: float = 0.0  # m


@dataclass(frozen=True)
class Site:
    """A site of config/maps/sites.yaml: map file, geodetic origin, projector, optional V2X link."""

    name: str
    map_file: FsPath
    origin: Origin
    projector: str = "local_cartesian"
    v2x_link: FsPath | None = None


def load_sites(path: str | FsPath) -> dict[str, Site]:
    p = FsPath(path)
    try:
        raw = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise MapError(f"cannot read site file {p}: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("sites"), dict):
        raise MapError(f"{p}: expected a mapping 'sites: {{name: {{...}}}}'")
    sites: dict[str, Site] = {}
    for name, entry in raw["sites"].items():
        try:
            o = entry["origin"]
            origin = Origin(float(o["latitude"]), float(o["longitude"]), float(o.get("elevation", 0.0)))
            projector = str(entry.get("projector", "local_cartesian"))
            link = entry.get("v2x_link")
            sites[str(name)] = Site(
                name=str(name),
                map_file=p.parent / str(entry["map"]),
                origin=origin,
                projector=projector,
                v2x_link=p.parent / str(link) if link else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MapError(f"{p}: site {name!r} is malformed: {exc}") from exc
        if projector not in ("local_cartesian", "utm"):
            raise MapError(f"{p}: site {name!r}: projector must be local_cartesian or utm, not {projector!r}")
    return sites


def parse_speed_limit(value: str | None) -> float | None:
    """A lanelet2 speed_limit attribute ("30" = km/h, "30 km/h", "20 mph", "8.3 mps") in m/s."""
    if value is None:
        return None
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(km/h|kmh|mph|mps|m/s)?\s*", value)
    if not m:
        return None
    v = float(m.group(1))
    unit = m.group(2) or "km/h"
    if unit in ("km/h", "kmh"):
        return v / 3.6
    if unit == "mph":
        return v * 0.44704
    return v


@dataclass
class LaneletInfo:
    id: int
    centerline: Path
    left: Path
    right: Path
    left_type: str
    right_type: str
    speed_limit: float  # m/s
    turn_direction: str  # "", straight, left, right
    stop_line_id: int | None = None
    stop_line: Path | None = None
    traffic_light_ids: list[int] = field(default_factory=list)

    @property
    def length(self) -> float:
        return self.centerline.length

    def edge(self, side: str) -> Path | None:
        """The road edge (curb) bound on side 'left' or 'right', or None when that bound is not a curb."""
        if side == "right":
            return self.right if self.right_type in ROAD_EDGE_TYPES else None
        if side == "left":
            return self.left if self.left_type in ROAD_EDGE_TYPES else None
        raise ValueError("side must be 'left' or 'right'")


@dataclass(frozen=True)
class StopLineOnRoute:
    s: float  # m along the route path where the stop line crosses the route centre line
    stop_line_id: int
    lanelet_id: int


@dataclass
class RoutePath:
    """A route's lanelets and the concatenated centre line, with where each lanelet starts on it."""

    lanelet_ids: list[int]
    path: Path
    starts: list[float]  # m on path where each lanelet begins
    speed_limits: list[float]  # m/s per lanelet
    stop_lines: list[StopLineOnRoute]

    def lanelet_at(self, s: float) -> int:
        i = int(np.searchsorted(np.asarray(self.starts), s, side="right")) - 1
        return self.lanelet_ids[min(max(i, 0), len(self.lanelet_ids) - 1)]

    def speed_limit_at(self, s: float) -> float:
        i = int(np.searchsorted(np.asarray(self.starts), s, side="right")) - 1
        return self.speed_limits[min(max(i, 0), len(self.speed_limits) - 1)]


def _attr(attrs: Any, key: str) -> str:
    """A lanelet2 AttributeMap value or "" (AttributeMap has no .get)."""
    return str(attrs[key]) if key in attrs else ""


def _path_of(ls: Any) -> Path:
    return Path([p.x for p in ls], [p.y for p in ls])


class RoadMap:
    """A loaded lanelet2 map with its routing graph (vehicle traffic rules, right-hand traffic)."""

    def __init__(self, path: str | FsPath, origin: Origin, projector: str = "local_cartesian") -> None:
        ll2 = require_lanelet2()
        p = FsPath(path)
        if not p.is_file():
            raise MapError(f"map file not found: {p}")
        io_origin = ll2.io.Origin(origin.latitude, origin.longitude, origin.elevation)
        if projector == "local_cartesian":
            proj = ll2.projection.LocalCartesianProjector(io_origin)
        elif projector == "utm":
            proj = ll2.projection.UtmProjector(io_origin)
        else:
            raise MapError(f"unknown projector {projector!r}")
        try:
            lmap, errors = ll2.io.loadRobust(str(p), proj)
        except Exception as exc:  # lanelet2 raises its own exception types
            raise MapError(f"lanelet2 cannot load {p}: {exc}") from exc
        if errors:
            raise MapError(f"{p}: {len(errors)} lanelet2 parse errors, first: {errors[0]}")
        self.origin = origin
        self.projector_name = projector
        self.file = p
        self._ll2 = ll2
        self._map = lmap
        self._projector = proj
        rules = ll2.traffic_rules.create(
            ll2.traffic_rules.Locations.Germany, ll2.traffic_rules.Participants.Vehicle
        )
        self._graph = ll2.routing.RoutingGraph(lmap, rules)
        self.lanelets: dict[int, LaneletInfo] = {}
        for ll in lmap.laneletLayer:
            attrs = ll.attributes
            info = LaneletInfo(
                id=int(ll.id),
                centerline=_path_of(ll.centerline),
                left=_path_of(ll.leftBound),
                right=_path_of(ll.rightBound),
                left_type=_attr(ll.leftBound.attributes, "type"),
                right_type=_attr(ll.rightBound.attributes, "type"),
                speed_limit=parse_speed_limit(_attr(attrs, "speed_limit") or None) or DEFAULT_SPEED_LIMIT,
                turn_direction=_attr(attrs, "turn_direction"),
            )
            for reg in ll.trafficLights():
                info.traffic_light_ids.append(int(reg.id))
                stop = reg.stopLine
                if stop is not None and info.stop_line is None:
                    info.stop_line_id = int(stop.id)
                    info.stop_line = _path_of(stop)
            self.lanelets[info.id] = info
        if not self.lanelets:
            raise MapError(f"{p}: no lanelets")

    @classmethod
    def from_site(cls, site: Site) -> RoadMap:
        return cls(site.map_file, site.origin, site.projector)

    # --- topology -------------------------------------------------------------------------------------
    def _ll(self, lanelet_id: int) -> Any:
        if lanelet_id not in self.lanelets:
            raise MapError(f"no lanelet {lanelet_id} in {self.file.name}")
        return self._map.laneletLayer[lanelet_id]

    def successors(self, lanelet_id: int) -> list[int]:
        return sorted(int(x.id) for x in self._graph.following(self._ll(lanelet_id)))

    def neighbour(self, lanelet_id: int, side: str) -> int | None:
        """The adjacent same-direction lanelet on `side` ("left" | "right") that the traffic rules allow a
        lane change into (lanelet2 routing graph); None where there is none."""
        ll = self._ll(lanelet_id)
        other = self._graph.left(ll) if side == "left" else self._graph.right(ll)
        return int(other.id) if other is not None else None

    def route(self, start: int, goal: int, via: Sequence[int] = ()) -> list[int]:
        """Lanelet ids of the shortest route from start to goal (through via, in order), both included.
        start == goal with no via is the one lanelet."""
        if start == goal and not via:
            self._ll(start)
            return [start]
        if via:
            path = self._graph.shortestPathWithVia(
                self._ll(start), [self._ll(v) for v in via], self._ll(goal)
            )
        else:
            path = self._graph.shortestPath(self._ll(start), self._ll(goal))
        if path is None:
            raise MapError(f"no route from lanelet {start} to {goal} via {list(via)}")
        return [int(x.id) for x in path]

    def connect(self, ids: Sequence[int]) -> list[int]:
        """The given lanelets in order, with the shortest connections inserted where one does not directly
        follow the previous one (e.g. a sweep route over non-adjacent curb segments)."""
        if not ids:
            raise MapError("empty lanelet sequence")
        out = [ids[0]]
        for nxt in ids[1:]:
            if nxt == out[-1]:
                continue
            if nxt in self.successors(out[-1]):
                out.append(nxt)
            else:
                out.extend(self.route(out[-1], nxt)[1:])
        return out

    def route_path(self, ids: Sequence[int]) -> RoutePath:
        """The concatenated centre line of consecutive lanelets and the stop lines crossing it."""
        path: Path | None = None
        starts: list[float] = []
        for lid in ids:
            c = self.lanelets[self._ll(lid).id].centerline
            starts.append(0.0 if path is None else path.length)
            path = c if path is None else path.concatenate(c, gap_tolerance=0.5)
        assert path is not None
        stops: list[StopLineOnRoute] = []
        for lid, s0 in zip(ids, starts, strict=True):
            info = self.lanelets[lid]
            if info.stop_line is not None and info.stop_line_id is not None:
                mx = float(np.mean(info.stop_line.x))
                my = float(np.mean(info.stop_line.y))
                proj = info.centerline.project(mx, my)
                stops.append(StopLineOnRoute(s0 + proj.s, info.stop_line_id, lid))
        return RoutePath(
            lanelet_ids=list(ids),
            path=path,
            starts=starts,
            speed_limits=[self.lanelets[i].speed_limit for i in ids],
            stop_lines=stops,
        )

    # --- matching ------------------------------------------------------------------------------------
    def match(
        self,
        x: float,
        y: float,
        yaw: float | None = None,
        max_distance: float = 3.0,
        max_heading: float = 1.0,
    ) -> tuple[int, Projection] | None:
        """The lanelet whose centre line is nearest to (x, y) and, given yaw, heads within max_heading rad
        of it; None when none is within max_distance m."""
        best: tuple[float, int, Projection] | None = None
        for lid, info in self.lanelets.items():
            pr = info.centerline.project(x, y)
            if pr.before_start or pr.after_end:
                continue
            d = abs(pr.lateral)
            if d > max_distance:
                continue
            if yaw is not None and abs(wrap_angle(yaw - pr.yaw)) > max_heading:
                continue
            if best is None or d < best[0]:
                best = (d, lid, pr)
        return None if best is None else (best[1], best[2])

    def to_geodetic(self, x: float, y: float, z: float = 0.0) -> tuple[float, float, float]:
        gps = self._projector.reverse(self._ll2.core.BasicPoint3d(x, y, z))
        return float(gps.lat), float(gps.lon), float(gps.alt)

    def to_local(self, lat: float, lon: float, alt: float = 0.0) -> tuple[float, float, float]:
        p = self._projector.forward(self._ll2.core.GPSPoint(lat, lon, alt))
        return float(p.x), float(p.y), float(p.z)


def heading_change(path: Path) -> float:
    """Total signed heading change along a path (rad); a lap of a counter-clockwise loop is +2 pi."""
    return float(np.sum(np.angle(np.exp(1j * np.diff(path.seg_yaw))))) if len(path) > 2 else 0.0


__all__ = [
    "DEFAULT_SPEED_LIMIT",
    "ROAD_EDGE_TYPES",
    "LaneletInfo",
    "MapError",
    "Origin",
    "RoadMap",
    "RoutePath",
    "Site",
    "StopLineOnRoute",
    "heading_change",
    "load_sites",
    "parse_speed_limit",
    "require_lanelet2",
]
