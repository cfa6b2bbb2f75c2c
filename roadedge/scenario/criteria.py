"""Pass/fail criteria of a scenario, evaluated from the recorded run.

Everything here is a pure function over time series (numpy arrays of sim time in s and
the quantity): the ego track, the actors' tracks, the signal states, the advisories and the
task progress. :func:`evaluate` turns a :class:`~roadedge.scenario.schema.Scenario`'s
criteria and a :class:`RunData` into verdict rows (name, value, limit, pass).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from roadedge.scenario.schema import (
    AdvisoryExpectation,
    Intersection,
    Point,
    Scenario,
    SpeedLimitCriterion,
    StandstillExpectation,
    StopDistanceCriterion,
    StopLine,
    TaskSpec,
    VehicleSpec,
    Window,
    polyline_offset,
)

FloatArray = NDArray[np.float64]

#: below this speed (m/s) the ego counts as standing still
STOP_SPEED = 0.1
#: roadedge_msgs/TaskProgress STATE_COMPLETED
TASK_COMPLETED = 3
#: lights that forbid entering the intersection
RED_STATES = frozenset({"red"})


def _arr(values: Iterable[float] | FloatArray) -> FloatArray:
    return np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)


@dataclass
class EgoTrack:
    """Ego base_link pose and speed over time (t strictly increasing)."""

    t: FloatArray
    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    speed: FloatArray

    @classmethod
    def from_lists(
        cls,
        t: Sequence[float],
        x: Sequence[float],
        y: Sequence[float],
        yaw: Sequence[float],
        speed: Sequence[float],
    ) -> EgoTrack:
        return cls(_arr(t), _arr(x), _arr(y), _arr(yaw), _arr(speed))

    def __len__(self) -> int:
        return len(self.t)


@dataclass
class ActorTrack:
    id: str
    kind: str
    t: FloatArray
    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    length: float
    width: float

    def at(self, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.bool_]]:
        """Interpolated x, y, yaw at times t and a mask of where the actor exists."""
        valid = (t >= self.t[0]) & (t <= self.t[-1]) if len(self.t) else np.zeros(len(t), dtype=bool)
        if len(self.t) == 0:
            nan = np.full(len(t), np.nan)
            return nan, nan, nan, valid
        x = np.interp(t, self.t, self.x)
        y = np.interp(t, self.t, self.y)
        yaw = np.interp(t, self.t, np.unwrap(self.yaw))
        return x, y, yaw, valid


@dataclass
class SignalTrack:
    """State changes of one signal phase: states[i] holds from t[i] until t[i + 1]."""

    t: list[float]
    states: list[str]

    def state_at(self, t: float) -> str:
        if not self.t or t < self.t[0]:
            return "unavailable"
        i = int(np.searchsorted(np.asarray(self.t), t, side="right")) - 1
        return self.states[i]


@dataclass(frozen=True)
class AdvisoryEvent:
    t: float
    type: str  # schema.ADVISORY_TYPES key
    severity: int = 0
    target_id: str = ""
    text: str = ""


@dataclass(frozen=True)
class ProgressSample:
    t: float
    coverage: float
    state: int


@dataclass(frozen=True)
class RunEvent:
    """Something that happened in the run (fault injected, node restarted, ...)."""

    t: float
    kind: str
    text: str = ""
    end: float | None = None


@dataclass
class RunData:
    ego: EgoTrack
    actors: dict[str, ActorTrack] = field(default_factory=dict)
    signals: dict[tuple[int, int], SignalTrack] = field(default_factory=dict)  # (intersection, phase)
    advisories: list[AdvisoryEvent] = field(default_factory=list)
    progress: list[ProgressSample] = field(default_factory=list)
    events: list[RunEvent] = field(default_factory=list)
    end_time: float | None = None


@dataclass(frozen=True)
class Verdict:
    name: str
    value: float
    limit: str
    passed: bool
    detail: str = ""


# ---------------------------------------------------------------------------------------------
# Geometry


def footprint(
    x: float, y: float, yaw: float, front: float, rear: float, width: float
) -> list[tuple[float, float]]:
    """Corners of a rectangle reaching ``front`` ahead of and ``rear`` behind (x, y) along yaw."""
    c, s = math.cos(yaw), math.sin(yaw)
    half = width / 2.0
    return [
        (x + c * lon - s * lat, y + s * lon + c * lat)
        for lon, lat in ((front, half), (front, -half), (-rear, -half), (-rear, half))
    ]


def _seg_point(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    den = dx * dx + dy * dy
    u = 0.0 if den == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / den))
    return math.hypot(px - (ax + u * dx), py - (ay + u * dy))


def _separated(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> bool:
    """Separating axis test for two convex polygons."""
    for poly in (a, b):
        for i in range(len(poly)):
            (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % len(poly)]
            nx, ny = y2 - y1, x1 - x2
            pa = [nx * x + ny * y for x, y in a]
            pb = [nx * x + ny * y for x, y in b]
            if max(pa) < min(pb) or max(pb) < min(pa):
                return True
    return False


def polygon_distance(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Distance between two convex polygons; 0 when they overlap."""
    if not _separated(a, b):
        return 0.0
    best = math.inf
    for p, q in ((a, b), (b, a)):
        for px, py in p:
            for i in range(len(q)):
                (ax, ay), (bx, by) = q[i], q[(i + 1) % len(q)]
                best = min(best, _seg_point(px, py, ax, ay, bx, by))
    return best


def ego_footprint(vehicle: VehicleSpec, x: float, y: float, yaw: float) -> list[tuple[float, float]]:
    return footprint(x, y, yaw, vehicle.base_to_front, vehicle.length - vehicle.base_to_front, vehicle.width)


def actor_footprint(actor: ActorTrack, x: float, y: float, yaw: float) -> list[tuple[float, float]]:
    return footprint(x, y, yaw, actor.length / 2, actor.length / 2, actor.width)


# ---------------------------------------------------------------------------------------------
# Individual measures


def min_clearance(
    ego: EgoTrack, vehicle: VehicleSpec, actors: Iterable[ActorTrack]
) -> tuple[float, float, str]:
    """Smallest footprint distance between the ego and any actor: (metres, time, actor id)."""
    best = (math.inf, math.nan, "")
    for actor in actors:
        ax, ay, ayaw, valid = actor.at(ego.t)
        for i in np.flatnonzero(valid):
            # a cheap centre-distance bound skips the polygon test when far apart
            reach = vehicle.length + actor.length + vehicle.width + actor.width
            if math.hypot(ego.x[i] - ax[i], ego.y[i] - ay[i]) - reach > best[0]:
                continue
            d = polygon_distance(
                ego_footprint(vehicle, ego.x[i], ego.y[i], ego.yaw[i]),
                actor_footprint(actor, ax[i], ay[i], ayaw[i]),
            )
            if d < best[0]:
                best = (d, float(ego.t[i]), actor.id)
    return best


def stop_line_coordinates(
    ego: EgoTrack, vehicle: VehicleSpec, line: StopLine
) -> tuple[FloatArray, FloatArray]:
    """(s, lateral) of the ego front w.r.t. a stop line: s < 0 before the line."""
    fx = ego.x + vehicle.base_to_front * np.cos(ego.yaw)
    fy = ego.y + vehicle.base_to_front * np.sin(ego.yaw)
    c, s = math.cos(line.heading), math.sin(line.heading)
    dx, dy = fx - line.x, fy - line.y
    return dx * c + dy * s, -dx * s + dy * c


def red_light_violations(
    ego: EgoTrack,
    vehicle: VehicleSpec,
    intersections: Sequence[Intersection],
    signals: dict[tuple[int, int], SignalTrack],
) -> list[tuple[float, str, str]]:
    """Each crossing of a stop line (in its direction of travel) while its phase is red: (t, line, state)."""
    out: list[tuple[float, str, str]] = []
    for inter in intersections:
        for line in inter.stop_lines:
            track = signals.get((inter.id, line.phase_id))
            if track is None:
                continue
            s, lat = stop_line_coordinates(ego, vehicle, line)
            for i in range(1, len(s)):
                if s[i - 1] < 0.0 <= s[i] and abs(lat[i]) <= line.width / 2:
                    # interpolate the crossing time
                    frac = -s[i - 1] / (s[i] - s[i - 1])
                    t = float(ego.t[i - 1] + frac * (ego.t[i] - ego.t[i - 1]))
                    state = track.state_at(t)
                    if state in RED_STATES:
                        out.append((t, line.id, state))
    return sorted(out)


def first_stop(ego: EgoTrack, window: Window, *, onset: bool = False) -> int | None:
    """Index of the first sample in the window where the ego stands still.

    With ``onset``, only a stop that begins inside the window counts (the sample before moved).
    """
    still = np.abs(ego.speed) < STOP_SPEED
    mask = (ego.t >= window.start) & (ego.t <= window.end) & still
    if onset:
        moving_before = np.concatenate([[False], ~still[:-1]])
        mask &= moving_before
    idx = np.flatnonzero(mask)
    return int(idx[0]) if len(idx) else None


def max_deceleration(t: FloatArray, speed: FloatArray, window: float = 0.3) -> tuple[float, float]:
    """Largest deceleration (m/s^2, positive) over differences at least ``window`` s apart: (value, time)."""
    if len(t) < 2:
        return 0.0, math.nan
    j = np.searchsorted(t, t + window)
    ok = j < len(t)
    i = np.flatnonzero(ok)
    if len(i) == 0:
        i, jj = np.array([0]), np.array([len(t) - 1])
    else:
        jj = j[ok]
    dt = t[jj] - t[i]
    dt[dt <= 0] = np.inf
    decel = -(speed[jj] - speed[i]) / dt
    k = int(np.argmax(decel))
    return max(0.0, float(decel[k])), float(t[i[k]])


def curb_offset_errors(ego: EgoTrack, task: TaskSpec, moving_speed: float = 0.3) -> FloatArray:
    """Lateral error from the task's curb offset for samples where the ego moves along the curb."""
    path = task.path
    total = sum(math.hypot(b.x - a.x, b.y - a.y) for a, b in itertools.pairwise(path))
    want = task.curb_offset if task.curb_side == "right" else -task.curb_offset
    errors = []
    for i in range(len(ego.t)):
        if abs(ego.speed[i]) < moving_speed:
            continue
        offset, s = polyline_offset(path, float(ego.x[i]), float(ego.y[i]))
        if 0.0 < s < total:
            errors.append(offset - want)
    return _arr(errors)


def path_progress(ego: EgoTrack, path: Sequence[Point]) -> FloatArray:
    """Arc length along the path of each ego sample."""
    return _arr(polyline_offset(path, float(x), float(y))[1] for x, y in zip(ego.x, ego.y, strict=False))


def completion_time(run: RunData, task: TaskSpec, tolerance: float = 2.0) -> float:
    """When the task completed (TaskProgress COMPLETED, else the ego reaching the path end); inf if never."""
    for sample in run.progress:
        if sample.state == TASK_COMPLETED:
            return sample.t
    if run.progress:
        return math.inf
    path = task.path
    total = sum(math.hypot(b.x - a.x, b.y - a.y) for a, b in itertools.pairwise(path))
    progress = path_progress(run.ego, path)
    reached = np.flatnonzero(progress >= total - tolerance)
    return float(run.ego.t[reached[0]]) if len(reached) else math.inf


def signals_from_plan(
    intersections: Sequence[Intersection], t_end: float
) -> dict[tuple[int, int], SignalTrack]:
    """Signal tracks as the scenario's plans define them (when SPaT was not recorded)."""
    out = {}
    for inter in intersections:
        for phase in inter.phases:
            changes = phase.changes(t_end)
            out[(inter.id, phase.phase_id)] = SignalTrack([c[0] for c in changes], [c[1] for c in changes])
    return out


# ---------------------------------------------------------------------------------------------
# Verdicts


def _fmt(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:g}"


def check_stop_distance(s: Scenario, run: RunData, crit: StopDistanceCriterion) -> Verdict:
    name = f"stop_distance {crit.target}"
    limit = f"{_fmt(crit.min)}..{_fmt(crit.max)} m"
    i = first_stop(run.ego, crit.window, onset=True)
    if i is None:
        return Verdict(name, math.nan, limit, False, "ego did not stop in the window")
    ego = run.ego
    kind, _, ref = crit.target.partition(":")
    if kind == "stop_line":
        found = s.stop_line(ref)
        assert found is not None
        line = found[1]
        sl, _ = stop_line_coordinates(ego, s.vehicle, line)
        value = float(-sl[i])
    else:
        track = run.actors.get(ref)
        if track is None:
            return Verdict(name, math.nan, limit, False, f"actor {ref} not in the recording")
        ax, ay, ayaw, valid = track.at(ego.t[i : i + 1])
        if not valid[0]:
            return Verdict(name, math.nan, limit, False, f"actor {ref} absent when the ego stopped")
        value = polygon_distance(
            ego_footprint(s.vehicle, ego.x[i], ego.y[i], ego.yaw[i]),
            actor_footprint(track, ax[0], ay[0], ayaw[0]),
        )
    ok = crit.min <= value <= crit.max
    return Verdict(name, round(value, 3), limit, ok, f"stopped at t={ego.t[i]:.1f} s")


def check_advisory(run: RunData, exp: AdvisoryExpectation) -> Verdict:
    hits = [
        a
        for a in run.advisories
        if a.type == exp.type and a.t in exp.window and (exp.sender is None or a.target_id == exp.sender)
    ]
    who = f" from {exp.sender}" if exp.sender else ""
    name = f"advisory {exp.type}{who}" if exp.expect else f"no advisory {exp.type}{who}"
    limit = ">= 1" if exp.expect else "== 0"
    ok = bool(hits) if exp.expect else not hits
    detail = f"first at t={hits[0].t:.1f} s" if hits else ""
    return Verdict(name, float(len(hits)), limit, ok, detail)


def check_standstill(run: RunData, exp: StandstillExpectation) -> Verdict:
    # "never stops" is about coming to a halt: standing at the start of the run is not a stop
    i = first_stop(run.ego, exp.window, onset=not exp.expect)
    w = exp.window
    span = f"[{_fmt(w.start)}, {_fmt(w.end)}] s"
    name = exp.name or (f"stops in {span}" if exp.expect else f"no stop in {span}")
    value = math.nan if i is None else float(run.ego.t[i])
    ok = (i is not None) == exp.expect
    return Verdict(
        name,
        value,
        "a stop" if exp.expect else "no stop",
        ok,
        "" if i is None else f"first standstill at t={value:.1f} s",
    )


def check_speed_limit(
    s: Scenario, run: RunData, crit: SpeedLimitCriterion, tolerance: float = 0.05
) -> Verdict:
    ego = run.ego
    mask = (ego.t >= crit.window.start) & (ego.t <= crit.window.end)
    name = "speed_limit" + (f" in {crit.zone}" if crit.zone else "")
    if crit.zone is not None:
        zone = next(e for e in s.v2x.rsi if e.id == crit.zone)
        end = math.inf if zone.duration is None else zone.start + zone.duration
        inside = np.array(
            [zone.contains(float(x), float(y)) for x, y in zip(ego.x, ego.y, strict=False)], dtype=bool
        )
        mask &= inside & (ego.t >= zone.start) & (ego.t <= end)
    if not mask.any():
        return Verdict(name, math.nan, f"<= {crit.max:g} m/s", False, "ego never in the checked zone/window")
    value = float(np.max(np.abs(ego.speed[mask])))
    return Verdict(name, round(value, 3), f"<= {crit.max:g} m/s", value <= crit.max + tolerance)


def evaluate(s: Scenario, run: RunData) -> list[Verdict]:
    """Verdict rows for every criterion the scenario sets."""
    c = s.criteria
    ego = run.ego
    out: list[Verdict] = []
    if len(ego) == 0:
        return [Verdict("ego track", 0.0, "> 0 samples", False, "no ego pose recorded")]
    if c.collision is not None:
        d, t, who = min_clearance(ego, s.vehicle, run.actors.values())
        detail = f"closest: {who} at t={t:.1f} s" if who else "no actors"
        out.append(
            Verdict(
                "collision (min clearance)",
                round(d, 3),
                f"> {c.collision.clearance:g} m",
                d > c.collision.clearance,
                detail,
            )
        )
    if c.red_light_violation:
        signals = run.signals or signals_from_plan(s.intersections, float(ego.t[-1]) + 1.0)
        violations = red_light_violations(ego, s.vehicle, s.intersections, signals)
        detail = ", ".join(f"{line} at t={t:.1f} s" for t, line, _ in violations)
        out.append(Verdict("red_light_violation", float(len(violations)), "== 0", not violations, detail))
    for crit in c.stop_distance:
        out.append(check_stop_distance(s, run, crit))
    if c.max_deceleration is not None:
        value, t = max_deceleration(ego.t, ego.speed)
        out.append(
            Verdict(
                "max_deceleration",
                round(value, 3),
                f"<= {c.max_deceleration:g} m/s^2",
                value <= c.max_deceleration,
                f"at t={t:.1f} s" if value > 0 else "",
            )
        )
    if c.curb_offset_error is not None:
        errors = curb_offset_errors(ego, s.task)
        if len(errors) == 0:
            out.append(
                Verdict(
                    "curb_offset_error",
                    math.nan,
                    f"<= {c.curb_offset_error.max:g} m",
                    False,
                    "ego never moved along the curb",
                )
            )
        else:
            worst = float(np.max(np.abs(errors)))
            out.append(
                Verdict(
                    "curb_offset_error (max)",
                    round(worst, 3),
                    f"<= {c.curb_offset_error.max:g} m",
                    worst <= c.curb_offset_error.max,
                )
            )
            if c.curb_offset_error.rms is not None:
                rms = float(np.sqrt(np.mean(errors**2)))
                out.append(
                    Verdict(
                        "curb_offset_error (rms)",
                        round(rms, 3),
                        f"<= {c.curb_offset_error.rms:g} m",
                        rms <= c.curb_offset_error.rms,
                    )
                )
    if c.coverage is not None:
        cov = run.progress[-1].coverage if run.progress else math.nan
        out.append(
            Verdict(
                "coverage",
                round(cov, 3),
                f">= {c.coverage:g}",
                cov >= c.coverage,
                "" if run.progress else "no task progress recorded",
            )
        )
    if c.time_limit is not None:
        t_done = completion_time(run, s.task)
        out.append(
            Verdict(
                "time_limit (task completed)",
                round(t_done, 2),
                f"<= {c.time_limit:g} s",
                t_done <= c.time_limit,
            )
        )
    for exp in c.advisories:
        out.append(check_advisory(run, exp))
    for stand in c.standstill:
        out.append(check_standstill(run, stand))
    for lim in c.speed_limit:
        out.append(check_speed_limit(s, run, lim))
    return out


def passed(verdicts: Sequence[Verdict]) -> bool:
    return bool(verdicts) and all(v.passed for v in verdicts)


def format_table(verdicts: Sequence[Verdict]) -> str:
    """A plain-text verdict table for the terminal."""
    rows = [("criterion", "value", "limit", "result", "detail")]
    for v in verdicts:
        value = "n/a" if math.isnan(v.value) else _fmt(v.value)
        rows.append((v.name, value, v.limit, "PASS" if v.passed else "FAIL", v.detail))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join(r[i].ljust(widths[i]) for i in range(4)) + ("  " + r[4] if r[4] else ""))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    overall = "PASS" if passed(verdicts) else "FAIL"
    lines.append(f"overall: {overall} ({sum(v.passed for v in verdicts)}/{len(verdicts)} criteria)")
    return "\n".join(lines)
