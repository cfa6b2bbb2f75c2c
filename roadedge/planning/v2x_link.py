"""The configured link between lanelet2 map elements and V2X MAP nodes/lanes and SPAT phases, and the
signal state of a phase in SI (from roadedge_msgs/Spat, converted by the node).

Link file (config/maps/<site>_v2x.yaml): per intersection its MAP node (region, node_id) and per
approach the stop line, the inbound lanelets with their MAP lane ids, the MAP inbound link's upstream
node id and, per connecting lanelet (movement), the SPAT phase id that controls it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath

import yaml

from roadedge.planning.lanelet_map import MapError

# roadedge_msgs/SpatPhaseState LIGHT_*
LIGHT_UNAVAILABLE = 0
LIGHT_DARK = 1
LIGHT_FLASHING_RED = 2
LIGHT_RED = 3
LIGHT_FLASHING_GREEN = 4
LIGHT_PERMISSIVE_GREEN = 5
LIGHT_PROTECTED_GREEN = 6
LIGHT_YELLOW = 7
LIGHT_FLASHING_YELLOW = 8

GO_LIGHTS = frozenset({LIGHT_PERMISSIVE_GREEN, LIGHT_PROTECTED_GREEN, LIGHT_FLASHING_GREEN})
STOP_LIGHTS = frozenset({LIGHT_RED, LIGHT_FLASHING_RED, LIGHT_YELLOW})


@dataclass(frozen=True)
class Movement:
    lanelet: int  # connecting lanelet through the intersection
    maneuver: str
    phase_id: int


@dataclass(frozen=True)
class Approach:
    name: str
    stop_line: int
    upstream_node_id: int
    lanes: dict[int, int]  # inbound lanelet id -> MAP lane id
    movements: tuple[Movement, ...]


@dataclass(frozen=True)
class IntersectionLink:
    name: str
    region: int | None  # None: any region
    node_id: int
    approaches: tuple[Approach, ...]


@dataclass(frozen=True)
class SignalControl:
    """Which SPAT phase controls a route's passage over a stop line."""

    region: int | None
    node_id: int
    phase_id: int
    stop_line: int
    inbound_lanelet: int
    connecting_lanelet: int
    map_lane_id: int
    upstream_node_id: int


class V2xLink:
    def __init__(self, intersections: Sequence[IntersectionLink]) -> None:
        self.intersections = tuple(intersections)
        self._by_pair: dict[tuple[int, int], SignalControl] = {}
        for ix in self.intersections:
            for ap in ix.approaches:
                for inbound, lane_id in ap.lanes.items():
                    for mv in ap.movements:
                        self._by_pair[(inbound, mv.lanelet)] = SignalControl(
                            ix.region,
                            ix.node_id,
                            mv.phase_id,
                            ap.stop_line,
                            inbound,
                            mv.lanelet,
                            lane_id,
                            ap.upstream_node_id,
                        )

    @classmethod
    def load(cls, path: str | FsPath) -> V2xLink:
        p = FsPath(path)
        try:
            raw = yaml.safe_load(p.read_text())
            items = []
            for ix in raw["intersections"]:
                approaches = []
                for ap in ix["approaches"]:
                    approaches.append(
                        Approach(
                            name=str(ap.get("name", "")),
                            stop_line=int(ap["stop_line"]),
                            upstream_node_id=int(ap["upstream_node_id"]),
                            lanes={int(ln["lanelet"]): int(ln["lane_id"]) for ln in ap["lanes"]},
                            movements=tuple(
                                Movement(int(m["lanelet"]), str(m["maneuver"]), int(m["phase_id"]))
                                for m in ap["movements"]
                            ),
                        )
                    )
                region = ix.get("region")
                items.append(
                    IntersectionLink(
                        name=str(ix.get("name", "")),
                        region=None if region is None else int(region),
                        node_id=int(ix["node_id"]),
                        approaches=tuple(approaches),
                    )
                )
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
            raise MapError(f"cannot read V2X link {p}: {exc}") from exc
        return cls(items)

    def control_for(self, inbound_lanelet: int, next_lanelet: int) -> SignalControl | None:
        """The phase controlling the movement from inbound_lanelet into next_lanelet, if signalized."""
        return self._by_pair.get((inbound_lanelet, next_lanelet))

    def controls_on_route(self, lanelet_ids: Sequence[int]) -> list[SignalControl]:
        out = []
        for a, b in itertools.pairwise(lanelet_ids):
            c = self.control_for(a, b)
            if c is not None:
                out.append(c)
        return out

    def validate(self, lanelet_ids: set[int], stop_line_ids: set[int]) -> list[str]:
        """Problems of the link against a loaded map (unknown lanelets or stop lines)."""
        problems = []
        for ix in self.intersections:
            for ap in ix.approaches:
                if ap.stop_line not in stop_line_ids:
                    problems.append(f"{ix.name}/{ap.name}: stop line {ap.stop_line} not in the map")
                for lid in list(ap.lanes) + [m.lanelet for m in ap.movements]:
                    if lid not in lanelet_ids:
                        problems.append(f"{ix.name}/{ap.name}: lanelet {lid} not in the map")
        return problems


# --- signal state in SI -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseStep:
    """One step of a phase's sequence; times in s relative to the SPAT time stamp (NaN = unavailable)."""

    light: int
    start_time: float
    min_end_time: float = math.nan
    max_end_time: float = math.nan
    likely_end_time: float = math.nan

    def end(self, conservative: str = "likely") -> float:
        """End time: 'likely' falls back to min then max; 'min' / 'max' fall back to likely."""
        order = {
            "likely": (self.likely_end_time, self.min_end_time, self.max_end_time),
            "min": (self.min_end_time, self.likely_end_time, self.max_end_time),
            "max": (self.max_end_time, self.likely_end_time, self.min_end_time),
        }[conservative]
        for t in order:
            if math.isfinite(t):
                return t
        return math.inf


@dataclass(frozen=True)
class PhaseSignal:
    """A phase's sequence (first = current) as seen `age` seconds after the SPAT time stamp."""

    phase_id: int
    steps: tuple[PhaseStep, ...]
    age: float = 0.0  # s since the SPAT time stamp

    def light_at(self, t: float) -> int:
        """The light t seconds from now (LIGHT_UNAVAILABLE when the sequence does not reach t)."""
        tt = t + self.age
        for i, st in enumerate(self.steps):
            start = 0.0 if i == 0 else st.start_time
            end = st.end("likely")
            if not math.isfinite(start):
                start = self.steps[i - 1].end("likely") if i > 0 else 0.0
            if start <= tt < end:
                return st.light
        return LIGHT_UNAVAILABLE

    @property
    def current(self) -> int:
        return self.light_at(0.0)

    def remaining(self, which: str = "likely") -> float:
        """Seconds the current step lasts from now."""
        if not self.steps:
            return 0.0
        return max(0.0, self.steps[0].end(which) - self.age)

    def green_windows(self, horizon: float = 120.0) -> list[tuple[float, float]]:
        """(start, end) seconds from now of green steps within the horizon; the current green starts at 0.
        Ends are the minimum end when known (conservative), starts the likely start."""
        out = []
        prev_end = 0.0
        for i, st in enumerate(self.steps):
            start = 0.0 if i == 0 else (st.start_time if math.isfinite(st.start_time) else prev_end)
            end = st.end("min")
            prev_end = st.end("likely")
            if st.light in GO_LIGHTS:
                a, b = max(0.0, start - self.age), end - self.age
                if b > 0.0 and a < horizon:
                    out.append((a, min(b, horizon)))
        return out
