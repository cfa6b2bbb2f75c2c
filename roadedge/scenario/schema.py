"""The HIL scenario format: typed dataclasses and a loader whose errors name the field.

A scenario file (YAML, ``hil/scenarios/*.yaml``) describes one run on the rig: the map and
the local ENU origin, the ego vehicle's start pose and its route or sweep task, the signal
plans of the intersections, the other road users (pedestrians, vehicles, an emergency
vehicle) with their trajectories, the V2X conditions (loss, latency, RSU, RSI events, a
forged sender), the faults to inject, and the pass/fail criteria.

Positions are metres in the map frame (ENU, x east, y north), headings radians
counter-clockwise from east, times seconds of sim time from the start of the run.

Any problem raises :class:`ScenarioError` naming the field path, e.g.
``actors[1].trajectory[0].t: expected a number, got 'soon'``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

ACTOR_KINDS = ("pedestrian", "cyclist", "vehicle", "emergency_vehicle", "obstacle")
#: default footprint (length, width) in m per actor kind
ACTOR_SIZES: dict[str, tuple[float, float]] = {
    "pedestrian": (0.5, 0.5),
    "cyclist": (1.8, 0.6),
    "vehicle": (4.6, 1.8),
    "emergency_vehicle": (5.5, 2.0),
    "obstacle": (1.0, 1.0),
}
OBSERVERS = ("vehicle", "roadside")
FAULT_KINDS = ("can_loss", "gnss_outage", "serial_unplug")
FORGERY_KINDS = ("unsigned", "bad_signature", "unknown_certificate", "replayed")
V2X_MESSAGES = ("bsm", "map", "spat", "rsi", "rsm")
RSI_KINDS = ("work_zone", "hazard", "speed_limit")
TASK_KINDS = ("route", "sweep")
#: SPaT light names (roadedge_msgs/SpatPhaseState LIGHT_* without the prefix), "green" = protected green
LIGHT_STATES: dict[str, int] = {
    "unavailable": 0,
    "dark": 1,
    "flashing_red": 2,
    "red": 3,
    "flashing_green": 4,
    "permissive_green": 5,
    "protected_green": 6,
    "green": 6,
    "yellow": 7,
    "flashing_yellow": 8,
}
#: advisory names (roadedge_msgs/Advisory TYPE_* lower case)
ADVISORY_TYPES: dict[str, int] = {
    "fcw": 0,
    "icw": 1,
    "rlvw": 2,
    "glosa": 3,
    "evw": 4,
    "vrucw": 5,
    "hazard": 6,
    "work_zone": 7,
    "speed_limit": 8,
    "equipment": 9,
}


class ScenarioError(ValueError):
    """An invalid scenario; ``path`` is the field (``actors[1].trajectory[0].t``)."""

    def __init__(self, path: str, reason: str, source: str | None = None) -> None:
        self.path = path
        self.reason = reason
        self.source = source
        where = f"{path}: " if path else ""
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}{where}{reason}")


# ---------------------------------------------------------------------------------------------
# Dataclasses


@dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True)
class Pose:
    x: float
    y: float
    yaw: float = 0.0  # rad
    speed: float = 0.0  # m/s


@dataclass(frozen=True)
class GeoOrigin:
    lat: float  # deg
    lon: float  # deg
    alt: float = 0.0  # m


@dataclass(frozen=True)
class MapSpec:
    file: str  # lanelet2 OSM map, relative to the repository root or absolute
    origin: GeoOrigin | None = None  # geodetic origin of the ENU map frame


@dataclass(frozen=True)
class VehicleSpec:
    length: float = 5.6  # m
    width: float = 2.0  # m
    base_to_front: float = 4.4  # m from base_link (rear axle) to the front bumper


@dataclass(frozen=True)
class TaskSpec:
    kind: str  # "route" (drive the path) or "sweep" (follow the curb line at curb_offset)
    path: tuple[Point, ...]  # route centreline, or the curb line for a sweep
    target_speed: float = 2.0  # m/s
    curb_side: str = "right"
    curb_offset: float = 1.2  # m from the curb line to the vehicle centreline (sweep)
    task_id: str = "task"


@dataclass(frozen=True)
class PhaseStep:
    state: str  # a LIGHT_STATES key
    duration: float  # s


@dataclass(frozen=True)
class PhasePlan:
    phase_id: int
    steps: tuple[PhaseStep, ...]  # repeated cyclically
    offset: float = 0.0  # s into the cycle at t = 0

    @property
    def cycle(self) -> float:
        return sum(step.duration for step in self.steps)

    def state_at(self, t: float) -> tuple[str, float]:
        """The light at time t and the seconds until it changes."""
        phase = (t + self.offset) % self.cycle
        for step in self.steps:
            if phase < step.duration:
                return step.state, step.duration - phase
            phase -= step.duration
        return self.steps[-1].state, 0.0  # float rounding at the cycle end

    def changes(self, t_end: float) -> list[tuple[float, str]]:
        """(time, new state) from t = 0 (first entry at 0) until t_end."""
        out: list[tuple[float, str]] = []
        t = 0.0
        while t < t_end:
            state, remaining = self.state_at(t)
            if not out or out[-1][1] != state:
                out.append((t, state))
            t += max(remaining, 1e-6)
        return out


@dataclass(frozen=True)
class StopLine:
    id: str
    phase_id: int
    x: float
    y: float
    heading: float  # rad, direction of travel of the approach through the line
    width: float = 7.0  # m, across the approach


@dataclass(frozen=True)
class Intersection:
    id: int  # SPaT/MAP intersection node id
    position: Point
    phases: tuple[PhasePlan, ...]
    stop_lines: tuple[StopLine, ...] = ()
    region: int = 0


@dataclass(frozen=True)
class TrajectoryPoint:
    x: float
    y: float
    t: float | None = None  # s; given for every point, or derived from speeds
    speed: float | None = None  # m/s on the leg that starts here


@dataclass(frozen=True)
class Actor:
    id: str
    kind: str
    trajectory: tuple[TrajectoryPoint, ...]
    start_time: float = 0.0  # s; trajectory times are relative to it
    speed: float | None = None  # m/s for legs without a time or point speed
    length: float = 0.5
    width: float = 0.5
    visible_to: tuple[str, ...] = OBSERVERS  # who can sense it: "vehicle", "roadside"
    v2x: bool = False  # broadcasts BSM (e.g. an emergency vehicle)
    siren: bool = False

    def timed(self) -> list[tuple[float, float, float]]:
        """Absolute (t, x, y) of each trajectory point."""
        points = self.trajectory
        out: list[tuple[float, float, float]] = []
        t = self.start_time
        for i, point in enumerate(points):
            if point.t is not None:
                t = self.start_time + point.t
            elif i > 0:
                prev = points[i - 1]
                speed = prev.speed if prev.speed is not None else self.speed
                assert speed is not None and speed > 0, "validated by the loader"
                t = out[-1][0] + math.hypot(point.x - prev.x, point.y - prev.y) / speed
            out.append((t, point.x, point.y))
        return out

    def state_at(self, t: float) -> tuple[float, float, float, float] | None:
        """(x, y, heading, speed) at time t; None before it appears or after it leaves."""
        timed = self.timed()
        if t < timed[0][0] or t > timed[-1][0] or len(timed) < 2:
            if len(timed) == 1 and t >= timed[0][0]:
                return timed[0][1], timed[0][2], 0.0, 0.0
            return None
        for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(timed):
            if t0 <= t <= t1:
                dt = t1 - t0
                frac = (t - t0) / dt if dt > 0 else 1.0
                heading = math.atan2(y1 - y0, x1 - x0)
                speed = math.hypot(x1 - x0, y1 - y0) / dt if dt > 0 else 0.0
                return x0 + frac * (x1 - x0), y0 + frac * (y1 - y0), heading, speed
        return None


@dataclass(frozen=True)
class RsuSpec:
    id: str
    position: Point
    range: float = 300.0  # m
    broadcasts: tuple[str, ...] = ("map", "spat")


@dataclass(frozen=True)
class RsiEvent:
    id: str
    kind: str  # RSI_KINDS
    path: tuple[Point, ...]  # affected road section (centreline)
    radius: float = 5.0  # m around the path
    speed_limit: float | None = None  # m/s
    start: float = 0.0
    duration: float | None = None  # s; None = until the end

    def contains(self, x: float, y: float) -> bool:
        return polyline_distance(self.path, x, y) <= self.radius


@dataclass(frozen=True)
class ForgedSender:
    id: str  # sender id the forger claims (hex)
    message: str  # V2X_MESSAGES
    kind: str = "bad_signature"  # FORGERY_KINDS
    start: float = 0.0
    duration: float = 10.0
    claims: str = ""  # what it pretends, free text (e.g. "all red", "emergency vehicle behind")


@dataclass(frozen=True)
class V2xSpec:
    loss: float = 0.0  # probability a frame is dropped
    latency: float = 0.0  # s
    jitter: float = 0.0  # s
    rsu: RsuSpec | None = None
    rsi: tuple[RsiEvent, ...] = ()
    forged: tuple[ForgedSender, ...] = ()


@dataclass(frozen=True)
class Fault:
    kind: str  # FAULT_KINDS
    start: float
    duration: float
    device: str = ""  # serial_unplug: which serial device ("work_equipment", "gnss")


@dataclass(frozen=True)
class Window:
    start: float = 0.0
    end: float = math.inf

    def __contains__(self, t: object) -> bool:
        return isinstance(t, (int, float)) and self.start <= t <= self.end


@dataclass(frozen=True)
class CollisionCriterion:
    clearance: float = 0.0  # m; footprints must stay farther apart than this


@dataclass(frozen=True)
class StopDistanceCriterion:
    target: str  # "stop_line:<id>" or "actor:<id>"
    min: float = 0.0  # m between the ego front and the target when the ego stops
    max: float = math.inf
    window: Window = Window()


@dataclass(frozen=True)
class CurbOffsetCriterion:
    max: float  # m, largest |lateral error| from the task's curb offset
    rms: float | None = None  # m


@dataclass(frozen=True)
class AdvisoryExpectation:
    type: str  # ADVISORY_TYPES key
    expect: bool = True  # False: must not appear
    window: Window = Window()
    sender: str | None = None  # only advisories naming this target id


@dataclass(frozen=True)
class StandstillExpectation:
    expect: bool  # True: the ego stands still at some time in the window; False: never
    window: Window = Window()
    name: str = ""


@dataclass(frozen=True)
class SpeedLimitCriterion:
    max: float  # m/s
    zone: str | None = None  # an RSI event id: only while the ego is inside it
    window: Window = Window()


@dataclass(frozen=True)
class Criteria:
    collision: CollisionCriterion | None = None
    red_light_violation: bool = False  # checked when True
    stop_distance: tuple[StopDistanceCriterion, ...] = ()
    max_deceleration: float | None = None  # m/s^2
    curb_offset_error: CurbOffsetCriterion | None = None
    coverage: float | None = None  # minimum 0..1
    time_limit: float | None = None  # s: the task completes by then
    advisories: tuple[AdvisoryExpectation, ...] = ()
    standstill: tuple[StandstillExpectation, ...] = ()
    speed_limit: tuple[SpeedLimitCriterion, ...] = ()


@dataclass(frozen=True)
class Scenario:
    name: str
    duration: float  # s of sim time
    map: MapSpec
    initial_pose: Pose
    task: TaskSpec
    description: str = ""
    vehicle: VehicleSpec = VehicleSpec()
    intersections: tuple[Intersection, ...] = ()
    actors: tuple[Actor, ...] = ()
    v2x: V2xSpec = V2xSpec()
    faults: tuple[Fault, ...] = ()
    criteria: Criteria = Criteria()
    seed: int = 0
    tags: tuple[str, ...] = ()
    source: str | None = field(default=None, compare=False)

    def stop_line(self, line_id: str) -> tuple[Intersection, StopLine] | None:
        for inter in self.intersections:
            for line in inter.stop_lines:
                if line.id == line_id:
                    return inter, line
        return None

    def actor(self, actor_id: str) -> Actor | None:
        return next((a for a in self.actors if a.id == actor_id), None)


# ---------------------------------------------------------------------------------------------
# Geometry shared by the loader, criteria and report


def polyline_distance(path: Sequence[Point], x: float, y: float) -> float:
    """Unsigned distance from (x, y) to a polyline."""
    return abs(polyline_offset(path, x, y)[0])


def polyline_offset(path: Sequence[Point], x: float, y: float) -> tuple[float, float]:
    """(signed lateral offset, arc length) of (x, y) w.r.t. the nearest point of a polyline.

    Positive offsets are left of the direction of travel.
    """
    if len(path) == 1:
        return math.hypot(x - path[0].x, y - path[0].y), 0.0
    best = (math.inf, 0.0, 0.0)  # distance, signed, s
    s0 = 0.0
    for a, b in itertools.pairwise(path):
        dx, dy = b.x - a.x, b.y - a.y
        seg = math.hypot(dx, dy)
        if seg == 0.0:
            continue
        u = max(0.0, min(1.0, ((x - a.x) * dx + (y - a.y) * dy) / (seg * seg)))
        px, py = a.x + u * dx, a.y + u * dy
        dist = math.hypot(x - px, y - py)
        if dist < best[0]:
            cross = dx * (y - a.y) - dy * (x - a.x)
            best = (dist, math.copysign(dist, cross) if dist > 0 else 0.0, s0 + u * seg)
        s0 += seg
    return best[1], best[2]


# ---------------------------------------------------------------------------------------------
# Loader


class _Reader:
    """Typed access to a YAML mapping that reports the path of any bad field."""

    def __init__(self, data: Any, path: str, source: str | None) -> None:
        self.source = source
        self.path = path
        if not isinstance(data, Mapping):
            raise ScenarioError(path, f"expected a mapping, got {_show(data)}", source)
        self.data: Mapping[str, Any] = data
        self.used: set[str] = set()

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def err(self, key: str, reason: str) -> ScenarioError:
        return ScenarioError(self.sub(key), reason, self.source)

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def raw(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        low: float | None = None,
        high: float | None = None,
        required: bool = False,
        positive: bool = False,
    ) -> float:
        value = self.raw(key)
        if value is None:
            if required or default is None:
                raise self.err(key, "required field missing (expected a number)")
            return default
        return _number(value, self.sub(key), self.source, low=low, high=high, positive=positive)

    def opt_number(self, key: str, *, low: float | None = None, positive: bool = False) -> float | None:
        value = self.raw(key)
        if value is None:
            return None
        return _number(value, self.sub(key), self.source, low=low, positive=positive)

    def integer(self, key: str, default: int | None = None, *, low: int | None = None) -> int:
        value = self.raw(key)
        if value is None:
            if default is None:
                raise self.err(key, "required field missing (expected an integer)")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.err(key, f"expected an integer, got {_show(value)}")
        if low is not None and value < low:
            raise self.err(key, f"must be >= {low}, got {value}")
        return value

    def string(self, key: str, default: str | None = None, *, choices: Sequence[str] | None = None) -> str:
        value = self.raw(key)
        if value is None:
            if default is None:
                raise self.err(key, "required field missing (expected a string)")
            return default
        if isinstance(value, (int, float)) and not isinstance(value, bool) and choices is None:
            value = str(value)
        if not isinstance(value, str) or not value:
            raise self.err(key, f"expected a non-empty string, got {_show(value)}")
        if choices is not None and value not in choices:
            raise self.err(key, f"expected one of {', '.join(choices)}; got {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.err(key, f"expected true or false, got {_show(value)}")
        return value

    def mapping(self, key: str, *, required: bool = False) -> _Reader | None:
        value = self.raw(key)
        if value is None:
            if required:
                raise self.err(key, "required field missing (expected a mapping)")
            return None
        return _Reader(value, self.sub(key), self.source)

    def items(
        self, key: str, parse: Callable[[Any, str], T], *, required: bool = False, min_items: int = 0
    ) -> tuple[T, ...]:
        value = self.raw(key)
        if value is None:
            if required:
                raise self.err(key, "required field missing (expected a list)")
            return ()
        if not isinstance(value, list):
            raise self.err(key, f"expected a list, got {_show(value)}")
        if len(value) < min_items:
            raise self.err(key, f"expected at least {min_items} item(s), got {len(value)}")
        return tuple(parse(item, f"{self.sub(key)}[{i}]") for i, item in enumerate(value))

    def strings(
        self, key: str, default: tuple[str, ...], choices: Sequence[str] | None = None
    ) -> tuple[str, ...]:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, list):
            raise self.err(key, f"expected a list of strings, got {_show(value)}")
        out = []
        for i, item in enumerate(value):
            path = f"{self.sub(key)}[{i}]"
            if not isinstance(item, str):
                raise ScenarioError(path, f"expected a string, got {_show(item)}", self.source)
            if choices is not None and item not in choices:
                raise ScenarioError(path, f"expected one of {', '.join(choices)}; got {item!r}", self.source)
            out.append(item)
        return tuple(out)

    def done(self) -> None:
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            key = str(unknown[0])
            raise self.err(key, f"unknown field (known here: {', '.join(sorted(self.used))})")


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(
    value: Any,
    path: str,
    source: str | None,
    *,
    low: float | None = None,
    high: float | None = None,
    positive: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScenarioError(path, f"expected a number, got {_show(value)}", source)
    number = float(value)
    if not math.isfinite(number):
        raise ScenarioError(path, f"expected a finite number, got {value}", source)
    if positive and number <= 0:
        raise ScenarioError(path, f"must be > 0, got {value}", source)
    if low is not None and number < low:
        raise ScenarioError(path, f"must be >= {low}, got {value}", source)
    if high is not None and number > high:
        raise ScenarioError(path, f"must be <= {high}, got {value}", source)
    return number


def _point(data: Any, path: str, source: str | None) -> Point:
    if isinstance(data, list):
        if len(data) != 2:
            raise ScenarioError(path, f"expected [x, y], got a list of {len(data)}", source)
        return Point(_number(data[0], f"{path}[0]", source), _number(data[1], f"{path}[1]", source))
    r = _Reader(data, path, source)
    point = Point(r.number("x", required=True), r.number("y", required=True))
    r.done()
    return point


def _window(data: Any, path: str, source: str | None) -> Window:
    if data is None:
        return Window()
    if not isinstance(data, list) or len(data) != 2:
        raise ScenarioError(path, f"expected [start, end] in s, got {_show(data)}", source)
    start = _number(data[0], f"{path}[0]", source, low=0.0)
    end = math.inf if data[1] in (None, "end") else _number(data[1], f"{path}[1]", source)
    if end <= start:
        raise ScenarioError(path, f"end ({end}) must be after start ({start})", source)
    return Window(start, end)


class _Parser:
    def __init__(self, source: str | None) -> None:
        self.source = source

    def reader(self, data: Any, path: str) -> _Reader:
        return _Reader(data, path, self.source)

    def point(self, data: Any, path: str) -> Point:
        return _point(data, path, self.source)

    def scenario(self, data: Any) -> Scenario:
        r = self.reader(data, "")
        name = r.string("name")
        duration = r.number("duration", required=True, positive=True)
        map_r = r.mapping("map", required=True)
        assert map_r is not None
        origin_r = map_r.mapping("origin")
        origin = None
        if origin_r is not None:
            origin = GeoOrigin(
                origin_r.number("lat", required=True, low=-90, high=90),
                origin_r.number("lon", required=True, low=-180, high=180),
                origin_r.number("alt", 0.0),
            )
            origin_r.done()
        map_spec = MapSpec(map_r.string("file"), origin)
        map_r.done()
        pose_r = r.mapping("initial_pose", required=True)
        assert pose_r is not None
        pose = Pose(
            pose_r.number("x", required=True),
            pose_r.number("y", required=True),
            pose_r.number("yaw", 0.0),
            pose_r.number("speed", 0.0, low=0.0),
        )
        pose_r.done()
        vehicle = VehicleSpec()
        veh_r = r.mapping("vehicle")
        if veh_r is not None:
            vehicle = VehicleSpec(
                veh_r.number("length", vehicle.length, positive=True),
                veh_r.number("width", vehicle.width, positive=True),
                veh_r.number("base_to_front", vehicle.base_to_front, low=0.0),
            )
            veh_r.done()
        task = self.task(r.raw("task"), r.sub("task"))
        intersections = r.items("intersections", self.intersection)
        actors = r.items("actors", self.actor)
        v2x_r = r.mapping("v2x")
        v2x = self.v2x(v2x_r) if v2x_r is not None else V2xSpec()
        faults = r.items("faults", self.fault)
        crit_r = r.mapping("criteria")
        criteria = self.criteria(crit_r) if crit_r is not None else Criteria()
        scenario = Scenario(
            name=name,
            duration=duration,
            map=map_spec,
            initial_pose=pose,
            task=task,
            description=r.string("description", " ").strip(),
            vehicle=vehicle,
            intersections=intersections,
            actors=actors,
            v2x=v2x,
            faults=faults,
            criteria=criteria,
            seed=r.integer("seed", 0, low=0),
            tags=r.strings("tags", ()),
            source=self.source,
        )
        r.done()
        self.cross_check(scenario)
        return scenario

    def task(self, data: Any, path: str) -> TaskSpec:
        if data is None:
            raise ScenarioError(path, "required field missing (expected a mapping)", self.source)
        r = self.reader(data, path)
        kind = r.string("kind", choices=TASK_KINDS)
        task = TaskSpec(
            kind=kind,
            path=r.items("path", self.point, required=True, min_items=2),
            target_speed=r.number("target_speed", 2.0, positive=True),
            curb_side=r.string("curb_side", "right", choices=("left", "right")),
            curb_offset=r.number("curb_offset", 1.2, low=0.0),
            task_id=r.string("task_id", "task"),
        )
        r.done()
        return task

    def intersection(self, data: Any, path: str) -> Intersection:
        r = self.reader(data, path)
        inter_id = r.integer("id", low=0)
        if not r.has("position"):
            raise r.err("position", "required field missing (expected {x, y})")
        position = self.point(r.raw("position"), r.sub("position"))
        phases = r.items("phases", self.phase, required=True, min_items=1)
        inter = Intersection(
            id=inter_id,
            position=position,
            phases=phases,
            stop_lines=r.items("stop_lines", self.stop_line),
            region=r.integer("region", 0, low=0),
        )
        ids = [p.phase_id for p in phases]
        for i, phase_id in enumerate(ids):
            if phase_id in ids[:i]:
                raise ScenarioError(
                    f"{r.sub('phases')}[{i}].phase_id", f"duplicate phase id {phase_id}", self.source
                )
        for i, line in enumerate(inter.stop_lines):
            if line.phase_id not in ids:
                raise ScenarioError(
                    f"{r.sub('stop_lines')}[{i}].phase_id",
                    f"no phase {line.phase_id} in this intersection (phases: {ids})",
                    self.source,
                )
        r.done()
        return inter

    def phase(self, data: Any, path: str) -> PhasePlan:
        r = self.reader(data, path)
        plan = PhasePlan(
            phase_id=r.integer("phase_id", low=0),
            steps=r.items("plan", self.phase_step, required=True, min_items=1),
            offset=r.number("offset", 0.0, low=0.0),
        )
        r.done()
        return plan

    def phase_step(self, data: Any, path: str) -> PhaseStep:
        r = self.reader(data, path)
        step = PhaseStep(r.string("state", choices=tuple(LIGHT_STATES)), r.number("duration", positive=True))
        r.done()
        return step

    def stop_line(self, data: Any, path: str) -> StopLine:
        r = self.reader(data, path)
        line = StopLine(
            id=r.string("id"),
            phase_id=r.integer("phase_id", low=0),
            x=r.number("x", required=True),
            y=r.number("y", required=True),
            heading=r.number("heading", required=True),
            width=r.number("width", 7.0, positive=True),
        )
        r.done()
        return line

    def trajectory_point(self, data: Any, path: str) -> TrajectoryPoint:
        if isinstance(data, list):
            point = self.point(data, path)
            return TrajectoryPoint(point.x, point.y)
        r = self.reader(data, path)
        tp = TrajectoryPoint(
            x=r.number("x", required=True),
            y=r.number("y", required=True),
            t=r.opt_number("t", low=0.0),
            speed=r.opt_number("speed", positive=True),
        )
        r.done()
        return tp

    def actor(self, data: Any, path: str) -> Actor:
        r = self.reader(data, path)
        kind = r.string("kind", choices=ACTOR_KINDS)
        length, width = ACTOR_SIZES[kind]
        trajectory = r.items("trajectory", self.trajectory_point, required=True, min_items=1)
        speed = r.opt_number("speed", positive=True)
        actor = Actor(
            id=r.string("id"),
            kind=kind,
            trajectory=trajectory,
            start_time=r.number("start_time", 0.0, low=0.0),
            speed=speed,
            length=r.number("length", length, positive=True),
            width=r.number("width", width, positive=True),
            visible_to=r.strings("visible_to", OBSERVERS, OBSERVERS),
            v2x=r.boolean("v2x", kind == "emergency_vehicle"),
            siren=r.boolean("siren", kind == "emergency_vehicle"),
        )
        r.done()
        # timing: every point after the first needs a time, or a speed for the leg into it
        prev_t: float | None = None
        tpath = r.sub("trajectory")
        for i, point in enumerate(trajectory):
            if point.t is None and i == 0:
                prev_t = 0.0
                continue
            if point.t is None:
                leg_speed = trajectory[i - 1].speed if trajectory[i - 1].speed is not None else speed
                if leg_speed is None:
                    raise ScenarioError(
                        f"{tpath}[{i}].t",
                        f"expected a number (or give {path}.speed or {tpath}[{i - 1}].speed)",
                        self.source,
                    )
                prev_t = None  # derived times always increase
                continue
            if prev_t is not None and point.t <= prev_t:
                raise ScenarioError(
                    f"{tpath}[{i}].t",
                    f"must be after the previous point ({prev_t}), got {point.t}",
                    self.source,
                )
            prev_t = point.t
        return actor

    def v2x(self, r: _Reader) -> V2xSpec:
        rsu_r = r.mapping("rsu")
        rsu = None
        if rsu_r is not None:
            rsu = RsuSpec(
                id=rsu_r.string("id"),
                position=self.point(rsu_r.raw("position"), rsu_r.sub("position")),
                range=rsu_r.number("range", 300.0, positive=True),
                broadcasts=rsu_r.strings("broadcasts", ("map", "spat"), V2X_MESSAGES),
            )
            rsu_r.done()
        spec = V2xSpec(
            loss=r.number("loss", 0.0, low=0.0, high=1.0),
            latency=r.number("latency", 0.0, low=0.0, high=10.0),
            jitter=r.number("jitter", 0.0, low=0.0, high=10.0),
            rsu=rsu,
            rsi=r.items("rsi", self.rsi),
            forged=r.items("forged", self.forged),
        )
        r.done()
        return spec

    def rsi(self, data: Any, path: str) -> RsiEvent:
        r = self.reader(data, path)
        event = RsiEvent(
            id=r.string("id"),
            kind=r.string("kind", choices=RSI_KINDS),
            path=r.items("path", self.point, required=True, min_items=1),
            radius=r.number("radius", 5.0, positive=True),
            speed_limit=r.opt_number("speed_limit", positive=True),
            start=r.number("start", 0.0, low=0.0),
            duration=r.opt_number("duration", positive=True),
        )
        r.done()
        return event

    def forged(self, data: Any, path: str) -> ForgedSender:
        r = self.reader(data, path)
        forged = ForgedSender(
            id=r.string("id"),
            message=r.string("message", choices=V2X_MESSAGES),
            kind=r.string("kind", "bad_signature", choices=FORGERY_KINDS),
            start=r.number("start", 0.0, low=0.0),
            duration=r.number("duration", 10.0, positive=True),
            claims=r.string("claims", " ").strip(),
        )
        r.done()
        return forged

    def fault(self, data: Any, path: str) -> Fault:
        r = self.reader(data, path)
        kind = r.string("kind", choices=FAULT_KINDS)
        fault = Fault(
            kind=kind,
            start=r.number("start", required=True, low=0.0),
            duration=r.number("duration", required=True, positive=True),
            device=r.string("device", " ").strip(),
        )
        if kind == "serial_unplug" and not fault.device:
            raise r.err("device", "required for serial_unplug (which serial device to unplug)")
        r.done()
        return fault

    def criteria(self, r: _Reader) -> Criteria:
        collision = None
        if r.has("collision"):
            value = r.raw("collision")
            if value is True:
                collision = CollisionCriterion()
            elif value is not False:
                c = self.reader(value, r.sub("collision"))
                collision = CollisionCriterion(c.number("clearance", 0.0, low=0.0))
                c.done()
        curb = None
        curb_r = r.mapping("curb_offset_error")
        if curb_r is not None:
            curb = CurbOffsetCriterion(
                curb_r.number("max", positive=True), curb_r.opt_number("rms", positive=True)
            )
            curb_r.done()
        criteria = Criteria(
            collision=collision,
            red_light_violation=r.boolean("red_light_violation", False),
            stop_distance=r.items("stop_distance", self.stop_distance),
            max_deceleration=r.opt_number("max_deceleration", positive=True),
            curb_offset_error=curb,
            coverage=None if not r.has("coverage") else r.number("coverage", low=0.0, high=1.0),
            time_limit=r.opt_number("time_limit", positive=True),
            advisories=r.items("advisories", self.advisory),
            standstill=r.items("standstill", self.standstill),
            speed_limit=r.items("speed_limit", self.speed_limit),
        )
        r.done()
        return criteria

    def stop_distance(self, data: Any, path: str) -> StopDistanceCriterion:
        r = self.reader(data, path)
        target = r.string("target")
        if not (target.startswith("stop_line:") or target.startswith("actor:")):
            raise r.err("target", f"expected 'stop_line:<id>' or 'actor:<id>', got {target!r}")
        crit = StopDistanceCriterion(
            target=target,
            min=r.number("min", 0.0, low=0.0),
            max=r.number("max", math.inf, low=0.0) if r.has("max") else math.inf,
            window=_window(r.raw("window"), r.sub("window"), self.source),
        )
        if crit.max < crit.min:
            raise r.err("max", f"must be >= min ({crit.min}), got {crit.max}")
        r.done()
        return crit

    def advisory(self, data: Any, path: str) -> AdvisoryExpectation:
        r = self.reader(data, path)
        exp = AdvisoryExpectation(
            type=r.string("type", choices=tuple(ADVISORY_TYPES)),
            expect=r.boolean("expect", True),
            window=_window(r.raw("window"), r.sub("window"), self.source),
            sender=r.string("sender") if r.has("sender") else None,
        )
        r.done()
        return exp

    def standstill(self, data: Any, path: str) -> StandstillExpectation:
        r = self.reader(data, path)
        if not r.has("expect"):
            raise r.err("expect", "required field missing (expected true or false)")
        exp = StandstillExpectation(
            expect=r.boolean("expect", True),
            window=_window(r.raw("window"), r.sub("window"), self.source),
            name=r.string("name", " ").strip(),
        )
        r.done()
        return exp

    def speed_limit(self, data: Any, path: str) -> SpeedLimitCriterion:
        r = self.reader(data, path)
        crit = SpeedLimitCriterion(
            max=r.number("max", positive=True),
            zone=r.string("zone") if r.has("zone") else None,
            window=_window(r.raw("window"), r.sub("window"), self.source),
        )
        r.done()
        return crit

    def cross_check(self, s: Scenario) -> None:
        """References between sections: ids unique and resolvable, times inside the run."""
        src = self.source
        seen: set[str] = set()
        for i, actor in enumerate(s.actors):
            if actor.id in seen:
                raise ScenarioError(f"actors[{i}].id", f"duplicate actor id {actor.id!r}", src)
            seen.add(actor.id)
        line_ids: set[str] = set()
        inter_ids: set[int] = set()
        for i, inter in enumerate(s.intersections):
            if inter.id in inter_ids:
                raise ScenarioError(f"intersections[{i}].id", f"duplicate intersection id {inter.id}", src)
            inter_ids.add(inter.id)
            for j, line in enumerate(inter.stop_lines):
                if line.id in line_ids:
                    raise ScenarioError(
                        f"intersections[{i}].stop_lines[{j}].id", f"duplicate stop line id {line.id!r}", src
                    )
                line_ids.add(line.id)
        for i, fault in enumerate(s.faults):
            if fault.start >= s.duration:
                raise ScenarioError(
                    f"faults[{i}].start",
                    f"{fault.start} s is not before the end of the run (duration {s.duration} s)",
                    src,
                )
        rsi_ids = {e.id for e in s.v2x.rsi}
        for i, crit in enumerate(s.criteria.stop_distance):
            kind, _, ref = crit.target.partition(":")
            ok = ref in line_ids if kind == "stop_line" else s.actor(ref) is not None
            if not ok:
                known = sorted(line_ids) if kind == "stop_line" else [a.id for a in s.actors]
                raise ScenarioError(
                    f"criteria.stop_distance[{i}].target", f"no {kind} {ref!r} (known: {known})", src
                )
        for i, lim in enumerate(s.criteria.speed_limit):
            if lim.zone is not None and lim.zone not in rsi_ids:
                raise ScenarioError(
                    f"criteria.speed_limit[{i}].zone",
                    f"no RSI event {lim.zone!r} in v2x.rsi (known: {sorted(rsi_ids)})",
                    src,
                )
        if s.criteria.curb_offset_error is not None and s.task.kind != "sweep":
            raise ScenarioError(
                "criteria.curb_offset_error", "only meaningful for a sweep task (task.kind: sweep)", src
            )
        if s.criteria.red_light_violation and not line_ids:
            raise ScenarioError(
                "criteria.red_light_violation", "needs at least one stop line in intersections", src
            )


def parse_scenario(data: Any, source: str | None = None) -> Scenario:
    """Validate an already-parsed YAML document."""
    return _Parser(source).scenario(data)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; every problem is a ScenarioError naming the field."""
    file = Path(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise ScenarioError("", f"cannot read scenario file: {err.strerror or err}", source) from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ScenarioError("", f"not valid YAML{where}: {problem}", source) from err
    return parse_scenario(data, source)


def scenario_dir(root: str | Path | None = None) -> Path:
    """hil/scenarios of the repository (or of an installed share/roadedge)."""
    base = Path(root) if root is not None else Path(__file__).resolve().parents[2]
    return base / "hil" / "scenarios"
