"""The own vehicle's path history and path prediction for its BSM (CSAE 53 VehicleSafetyExtensions).

Path history, after the concise representation of SAE J2945/1: of the positions the vehicle reports
(at its BSM rate), only the points needed to draw its recent path within ``max_error_m`` are kept.
A new sample is checked against the chord from the last kept point to it: when a sample buffered
since that point lies more than ``max_error_m`` from the chord, or the chord is longer than
``max_spacing_m``, the sample before the new one becomes a kept point. So the polyline of the kept
points, ending at the current position, is within ``max_error_m`` of every sample (straight driving
keeps a point every ``max_spacing_m``, a turn as many as its curvature needs). Kept are at most
``max_points`` (23, the ASN.1 limit), covering ``max_distance_m`` of path (the oldest kept point is the
first one at or beyond it) and ``max_age_s`` (655.34 s, the largest TimeOffset).
A sample that jumps (faster than ``max_jump_speed``) or goes back in time starts a new history; one
within ``min_step_m`` of the previous sample (standing still) is not buffered.

Path prediction: radius of curvature = speed / yaw rate (positive = left, ENU like the yaw rate),
straight (+inf) when the yaw rate is below ``straight_yaw_rate`` or the radius beyond what the
standard holds. Confidence, a simple rule: how steady the yaw rate is, 1 - |filtered yaw acceleration|
/ ``full_yaw_accel`` clamped to 0..1 (a steady curve or straight line: 1; entering or leaving a turn
briskly: towards 0); 0 below ``min_speed`` (a standing vehicle has no path to predict: sent as
straight with confidence 0). The yaw acceleration is low-pass filtered with time constant ``tau_s``.

Pure Python, no ROS: positions in degrees / metres, times in seconds (the BSM's clock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: WGS-84
_A = 6378137.0
_E2 = 6.69437999014e-3
#: the largest TimeOffset (65534 x 10 ms)
MAX_TIME_OFFSET_S = 655.34
#: PathHistoryPointList ::= SEQUENCE (SIZE(1..23))
MAX_POINTS = 23
#: beyond this (RadiusOfCurvature 32767 x 0.1 m) the standard sends "straight"
MAX_RADIUS_M = 3276.6
#: samples are projected on a plane around an origin that moves along once they are this far from it
_REORIGIN_M = 5000.0


@dataclass(frozen=True)
class PathHistoryPolicy:
    max_error_m: float = 1.0
    max_spacing_m: float = 100.0
    max_points: int = MAX_POINTS
    max_distance_m: float = 300.0
    max_age_s: float = MAX_TIME_OFFSET_S
    min_step_m: float = 0.2
    max_jump_speed: float = 70.0
    max_buffer: int = 400

    def __post_init__(self) -> None:
        if not 1 <= self.max_points <= MAX_POINTS:
            raise ValueError(f"max_points {self.max_points} outside 1..{MAX_POINTS}")
        if not 0.0 < self.max_age_s <= MAX_TIME_OFFSET_S:
            raise ValueError(f"max_age_s {self.max_age_s} outside (0, {MAX_TIME_OFFSET_S}]")
        if self.max_error_m <= 0 or self.max_spacing_m <= 0 or self.max_distance_m <= 0:
            raise ValueError("max_error_m, max_spacing_m and max_distance_m must be positive")
        if self.max_buffer < 2:
            raise ValueError("max_buffer must be at least 2")


@dataclass(frozen=True)
class Crumb:
    """One sample of the own path: time s, position deg / m, speed m/s, heading rad ENU yaw (NaN:
    unknown); ``x``, ``y``: metres east / north on the history's local plane (internal)."""

    t: float
    latitude: float
    longitude: float
    elevation: float
    speed: float
    heading: float
    x: float = 0.0
    y: float = 0.0


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    """Distance from P to the segment A-B (metres on the plane)."""
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    if length2 <= 0.0:
        return math.hypot(px - ax, py - ay)
    u = ((px - ax) * dx + (py - ay) * dy) / length2
    u = 0.0 if u < 0.0 else 1.0 if u > 1.0 else u
    return math.hypot(px - ax - u * dx, py - ay - u * dy)


class PathHistory:
    """Breadcrumbs of the own vehicle's recent path (see the module docstring)."""

    def __init__(self, policy: PathHistoryPolicy | None = None) -> None:
        self.policy = policy or PathHistoryPolicy()
        self._kept: list[Crumb] = []  # oldest first; the last is the anchor of the current chord
        self._buffer: list[Crumb] = []  # the samples after the anchor; the last is the latest
        self._origin = (0.0, 0.0)
        self._scale = (0.0, 0.0)  # metres per degree of longitude, latitude at the origin
        self.resets = 0

    # ------------------------------------------------------------------ plane
    def _set_origin(self, latitude: float, longitude: float) -> None:
        phi = math.radians(latitude)
        w = 1.0 - _E2 * math.sin(phi) ** 2
        n = _A / math.sqrt(w)
        m = _A * (1.0 - _E2) / w**1.5
        self._origin = (latitude, longitude)
        self._scale = (math.radians(1.0) * n * math.cos(phi), math.radians(1.0) * m)

    def _project(self, latitude: float, longitude: float) -> tuple[float, float]:
        dlon = (longitude - self._origin[1] + 180.0) % 360.0 - 180.0
        return dlon * self._scale[0], (latitude - self._origin[0]) * self._scale[1]

    def _crumb(self, c: Crumb) -> Crumb:
        x, y = self._project(c.latitude, c.longitude)
        return Crumb(c.t, c.latitude, c.longitude, c.elevation, c.speed, c.heading, x, y)

    def _reorigin(self, latitude: float, longitude: float) -> None:
        self._set_origin(latitude, longitude)
        self._kept = [self._crumb(c) for c in self._kept]
        self._buffer = [self._crumb(c) for c in self._buffer]

    # ------------------------------------------------------------------ input
    def reset(self) -> None:
        self._kept.clear()
        self._buffer.clear()

    @property
    def latest(self) -> Crumb | None:
        if self._buffer:
            return self._buffer[-1]
        return self._kept[-1] if self._kept else None

    def add(
        self,
        t: float,
        latitude: float,
        longitude: float,
        elevation: float = math.nan,
        speed: float = math.nan,
        heading: float = math.nan,
    ) -> None:
        """A new position sample of the own vehicle (at most one per BSM is enough); a sample with an
        unavailable time or position is ignored."""
        if not (math.isfinite(t) and math.isfinite(latitude) and math.isfinite(longitude)):
            return
        p = self.policy
        latest = self.latest
        if latest is not None and t <= latest.t:
            if t < latest.t:  # the clock went back (a replay restarted): a new history
                self.reset()
                self.resets += 1
                latest = None
            else:
                return  # the same instant again
        if latest is None:
            self._set_origin(latitude, longitude)
        x, y = self._project(latitude, longitude)
        if math.hypot(x, y) > _REORIGIN_M:
            self._reorigin(latitude, longitude)
            x, y = 0.0, 0.0
            latest = self.latest  # in the new plane
        sample = Crumb(t, latitude, longitude, elevation, speed, heading, x, y)
        if latest is None:
            self._kept.append(sample)
            return
        step = math.hypot(x - latest.x, y - latest.y)
        if step > p.max_jump_speed * (t - latest.t) + p.max_error_m:  # a position jump, not driving
            self.reset()
            self.resets += 1
            self._kept.append(sample)
            return
        if step < p.min_step_m:
            return  # standing still (GNSS noise): nothing new to draw
        anchor = self._kept[-1]
        buffer = self._buffer
        if buffer and (
            math.hypot(x - anchor.x, y - anchor.y) > p.max_spacing_m
            or len(buffer) >= p.max_buffer
            or any(_segment_distance(b.x, b.y, anchor.x, anchor.y, x, y) > p.max_error_m for b in buffer)
        ):
            self._kept.append(buffer[-1])  # the last sample the chord still held
            buffer.clear()
        buffer.append(sample)
        self._prune(sample)

    def _prune(self, current: Crumb) -> None:
        """Drop kept points beyond the distance, count and age limits (seen from ``current``)."""
        p = self.policy
        kept = self._kept
        covered = 0.0
        x, y = current.x, current.y
        keep = 0
        for i in range(len(kept) - 1, -1, -1):
            c = kept[i]
            if current.t - c.t > p.max_age_s:
                break
            keep += 1
            covered += math.hypot(x - c.x, y - c.y)
            x, y = c.x, c.y
            if covered >= p.max_distance_m or keep >= p.max_points:
                break
        if keep < len(kept):
            del kept[: len(kept) - keep]
            if not kept:  # every kept point too old: the anchor restarts at the oldest buffered sample
                kept.append(self._buffer.pop(0))

    # ------------------------------------------------------------------ output
    def points(self, now: float) -> list[Crumb]:
        """The path history for a BSM generated at ``now``: the kept points, newest first, at least
        5 ms older than ``now`` (the current position is the BSM's own), within the limits."""
        p = self.policy
        out: list[Crumb] = []
        latest = self.latest
        if latest is None:
            return out
        covered = 0.0
        x, y = latest.x, latest.y
        for c in reversed(self._kept):
            age = now - c.t
            if age > p.max_age_s:
                break
            covered += math.hypot(x - c.x, y - c.y)
            x, y = c.x, c.y
            if age >= 0.005:
                out.append(c)
            if covered >= p.max_distance_m or len(out) >= p.max_points:
                break
        return out


class PathPredictor:
    """Radius of curvature and confidence of the own path ahead (see the module docstring)."""

    def __init__(
        self,
        min_speed: float = 0.5,
        straight_yaw_rate: float = 1e-4,
        full_yaw_accel: float = 0.5,
        tau_s: float = 0.5,
    ) -> None:
        self.min_speed = min_speed
        self.straight_yaw_rate = straight_yaw_rate
        self.full_yaw_accel = full_yaw_accel
        self.tau_s = tau_s
        self._last: tuple[float, float] | None = None  # (t, yaw rate)
        self._yaw_accel = 0.0

    def update(self, t: float, speed: float, yaw_rate: float) -> tuple[float, float]:
        """(radius m, positive left, +inf straight; confidence 0..1), or (NaN, NaN) when the speed or
        the yaw rate is unknown. ``speed`` is taken as its magnitude (the curvature in the direction of
        travel is yaw rate / |speed| forwards and in reverse)."""
        if not (math.isfinite(t) and math.isfinite(speed) and math.isfinite(yaw_rate)):
            self._last = None
            return math.nan, math.nan
        last = self._last
        if last is not None and t > last[0]:
            dt = t - last[0]
            accel = abs(yaw_rate - last[1]) / dt
            alpha = dt / (self.tau_s + dt)
            self._yaw_accel += alpha * (accel - self._yaw_accel)
        elif last is None:
            self._yaw_accel = 0.0
        self._last = (t, yaw_rate)
        speed = abs(speed)
        if speed < self.min_speed:
            return math.inf, 0.0
        confidence = min(1.0, max(0.0, 1.0 - self._yaw_accel / self.full_yaw_accel))
        if abs(yaw_rate) < self.straight_yaw_rate:
            return math.inf, confidence
        radius = speed / yaw_rate
        if abs(radius) > MAX_RADIUS_M:
            return math.inf, confidence
        return radius, confidence
