"""Planar path geometry in the map frame (ENU, m): arc length, heading, curvature, projection, offsets.

One place for the path maths that planning (maps, behaviours, sweeping) and control share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def wrap_angle(a: float) -> float:
    """Angle wrapped to [-pi, pi)."""
    return (a + math.pi) % (2.0 * math.pi) - math.pi


@dataclass(frozen=True)
class Projection:
    """Where a point lies relative to a path."""

    s: float  # m along the path (clamped to [0, length])
    lateral: float  # m, signed: positive = left of the path direction
    index: int  # segment index i (between points i and i+1)
    x: float  # m, the foot point
    y: float
    yaw: float  # rad, path heading at the foot point
    curvature: float  # 1/m at the foot point
    before_start: bool  # the point projects before the first point
    after_end: bool  # the point projects beyond the last point


class Path:
    """A polyline with cumulative arc length, heading and signed curvature per point (left turns > 0)."""

    def __init__(self, xs: Sequence[float] | FloatArray, ys: Sequence[float] | FloatArray) -> None:
        x = np.asarray(xs, dtype=np.float64)
        y = np.asarray(ys, dtype=np.float64)
        if x.shape != y.shape or x.ndim != 1 or x.size < 2:
            raise ValueError("a path needs two or more points with matching x and y")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError("path points must be finite")
        # drop repeated points (zero-length segments)
        keep = np.ones(x.size, dtype=bool)
        keep[1:] = np.hypot(np.diff(x), np.diff(y)) > 1e-6
        x, y = x[keep], y[keep]
        if x.size < 2:
            raise ValueError("a path needs two or more distinct points")
        self.x: FloatArray = x
        self.y: FloatArray = y
        seg = np.hypot(np.diff(x), np.diff(y))
        self.s: FloatArray = np.concatenate(([0.0], np.cumsum(seg)))
        seg_yaw = np.arctan2(np.diff(y), np.diff(x))
        # point heading: mean direction of the adjacent segments
        yaw = np.empty(x.size)
        yaw[0] = seg_yaw[0]
        yaw[-1] = seg_yaw[-1]
        if x.size > 2:
            d = np.angle(np.exp(1j * (seg_yaw[1:] - seg_yaw[:-1])))
            yaw[1:-1] = seg_yaw[:-1] + 0.5 * d
        self.yaw: FloatArray = np.angle(np.exp(1j * yaw))
        self.seg_yaw: FloatArray = seg_yaw
        # curvature: heading change over the mean of adjacent segment lengths
        kappa = np.zeros(x.size)
        if x.size > 2:
            dpsi = np.angle(np.exp(1j * (seg_yaw[1:] - seg_yaw[:-1])))
            kappa[1:-1] = dpsi / (0.5 * (seg[1:] + seg[:-1]))
            kappa[0] = kappa[1]
            kappa[-1] = kappa[-2]
        self.curvature: FloatArray = kappa

    @property
    def length(self) -> float:
        return float(self.s[-1])

    def __len__(self) -> int:
        return int(self.x.size)

    @classmethod
    def from_points(cls, points: Sequence[tuple[float, float]]) -> Path:
        return cls([p[0] for p in points], [p[1] for p in points])

    def points(self) -> list[tuple[float, float]]:
        return list(zip(self.x.tolist(), self.y.tolist(), strict=True))

    def _segment_at(self, s: float) -> int:
        i = int(np.searchsorted(self.s, s, side="right")) - 1
        return min(max(i, 0), self.x.size - 2)

    def point_at(self, s: float) -> tuple[float, float]:
        """Position at arc length s; beyond the ends it extends the end segments straight."""
        i = self._segment_at(s)
        t = s - float(self.s[i])
        c, sn = math.cos(float(self.seg_yaw[i])), math.sin(float(self.seg_yaw[i]))
        return float(self.x[i]) + t * c, float(self.y[i]) + t * sn

    def yaw_at(self, s: float) -> float:
        i = self._segment_at(s)
        span = float(self.s[i + 1] - self.s[i])
        t = min(max((s - float(self.s[i])) / span, 0.0), 1.0)
        d = wrap_angle(float(self.yaw[i + 1] - self.yaw[i]))
        return wrap_angle(float(self.yaw[i]) + t * d)

    def curvature_at(self, s: float) -> float:
        return float(np.interp(s, self.s, self.curvature))

    def project(self, px: float, py: float, hint: int | None = None, window: int = 0) -> Projection:
        """Closest point of the path to (px, py); with hint and window > 0 only segments near hint."""
        n = self.x.size - 1
        lo, hi = 0, n
        if hint is not None and window > 0:
            lo, hi = max(0, hint - window), min(n, hint + window + 1)
        x0, y0 = self.x[lo:hi], self.y[lo:hi]
        dx, dy = self.x[lo + 1 : hi + 1] - x0, self.y[lo + 1 : hi + 1] - y0
        l2 = dx * dx + dy * dy
        t = np.clip(((px - x0) * dx + (py - y0) * dy) / l2, 0.0, 1.0)
        fx, fy = x0 + t * dx, y0 + t * dy
        d2 = (px - fx) ** 2 + (py - fy) ** 2
        k = int(np.argmin(d2))
        i = lo + k
        tt = float(t[k])
        seg_len = float(math.sqrt(l2[k]))
        s = float(self.s[i]) + tt * seg_len
        yaw = float(self.seg_yaw[i])
        c, sn = math.cos(yaw), math.sin(yaw)
        rx, ry = px - float(self.x[i]), py - float(self.y[i])
        along = rx * c + ry * sn
        lateral = -rx * sn + ry * c
        before = i == 0 and along < 0.0
        after = i == n - 1 and along > seg_len
        if before:
            s = along
        elif after:
            s = float(self.s[i]) + along
        foot_x, foot_y = float(fx[k]), float(fy[k])
        return Projection(
            s=s,
            lateral=lateral,
            index=i,
            x=foot_x,
            y=foot_y,
            yaw=self.yaw_at(s),
            curvature=self.curvature_at(s),
            before_start=before,
            after_end=after,
        )

    def offset(self, d: float) -> Path:
        """The parallel path at signed lateral distance d (positive = left). Cusps on tight inner curves
        (|d| >= radius) are not handled: callers keep |d| well below the curve radius."""
        nx = -np.sin(self.yaw)
        ny = np.cos(self.yaw)
        # mitre correction keeps the offset exact on polyline corners
        half = np.zeros(self.x.size)
        if self.x.size > 2:
            half[1:-1] = 0.5 * np.angle(np.exp(1j * (self.seg_yaw[1:] - self.seg_yaw[:-1])))
        scale = 1.0 / np.maximum(np.cos(half), 0.2)
        return Path(self.x + d * scale * nx, self.y + d * scale * ny)

    def slice(self, s0: float, s1: float) -> Path:
        """The part of the path between arc lengths s0 < s1 (clamped to the path)."""
        s0 = max(0.0, min(s0, self.length))
        s1 = max(0.0, min(s1, self.length))
        if s1 - s0 < 1e-6:
            raise ValueError("empty slice")
        inner = (self.s > s0) & (self.s < s1)
        a, b = self.point_at(s0), self.point_at(s1)
        xs = np.concatenate(([a[0]], self.x[inner], [b[0]]))
        ys = np.concatenate(([a[1]], self.y[inner], [b[1]]))
        return Path(xs, ys)

    def resample(self, ds: float) -> Path:
        """Equally spaced points (spacing <= ds), keeping both ends."""
        if ds <= 0.0:
            raise ValueError("ds must be positive")
        n = max(2, math.ceil(self.length / ds) + 1)
        ss = np.linspace(0.0, self.length, n)
        return Path(np.interp(ss, self.s, self.x), np.interp(ss, self.s, self.y))

    def reversed(self) -> Path:
        return Path(self.x[::-1], self.y[::-1])

    def concatenate(self, other: Path, gap_tolerance: float = 0.5) -> Path:
        """This path followed by other; their ends must meet within gap_tolerance (m)."""
        gap = math.hypot(float(other.x[0] - self.x[-1]), float(other.y[0] - self.y[-1]))
        if gap > gap_tolerance:
            raise ValueError(f"paths do not meet: gap {gap:.2f} m")
        return Path(np.concatenate((self.x, other.x[1:])), np.concatenate((self.y, other.y[1:])))


def smooth_curvature(path: Path, window_m: float) -> FloatArray:
    """Curvature averaged over a moving window of window_m metres (for feed-forward and speed limits)."""
    if window_m <= 0.0 or len(path) < 3:
        return np.asarray(path.curvature.copy(), dtype=np.float64)
    out = np.empty(len(path))
    for i, s in enumerate(path.s):
        m = (path.s >= s - 0.5 * window_m) & (path.s <= s + 0.5 * window_m)
        out[i] = float(np.mean(path.curvature[m]))
    return out
