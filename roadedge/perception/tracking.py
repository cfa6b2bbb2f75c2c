"""Multi-object tracker on the ground plane: constant-velocity Kalman filters + Hungarian assignment.

Lifecycle: a new measurement starts a TENTATIVE track; ``confirm_hits`` updates confirm it; a
tentative track that misses is deleted. A CONFIRMED track that misses becomes LOST and keeps
predicting; if it is matched again within ``max_lost_s`` it is CONFIRMED again with the same id
(short occlusions), otherwise it is deleted. Association uses the Mahalanobis distance of the
measurement to the predicted position (gated at ``gate_chi2``) with a penalty for a different class.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from scipy.optimize import linear_sum_assignment

from roadedge.perception.objects import CLASS_SIZES, FloatArray, Measurement, ObjectEstimate, Source

H = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])


class TrackState(Enum):
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    LOST = "lost"


@dataclass(frozen=True)
class TrackerConfig:
    confirm_hits: int = 3
    max_lost_s: float = 1.5
    gate_chi2: float = 13.8  # chi2(2 dof) 99.9 %
    class_penalty: float = 6.0  # added to the squared Mahalanobis distance when labels differ
    accel_sigma: float = 2.0  # m/s^2, white-acceleration process noise
    init_speed_sigma: float = 4.0  # m/s
    max_dt: float = 2.0
    reset_backwards_s: float = 3.0


@dataclass
class Track:
    id: int
    x: FloatArray  # x, y, vx, vy
    p: FloatArray  # 4x4
    stamp: float
    born: float
    label_votes: Counter[str] = field(default_factory=Counter)
    state: TrackState = TrackState.TENTATIVE
    hits: int = 1
    last_update: float = 0.0
    score: float = 0.0
    size: tuple[float, float, float] = (1.0, 1.0, 1.0)
    yaw: float = 0.0
    sources: dict[tuple[str, str], Source] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.label_votes.most_common(1)[0][0] if self.label_votes else "unknown"

    @property
    def class_confidence(self) -> float:
        total = sum(self.label_votes.values())
        return self.label_votes[self.label] / total if total else 0.0


class Tracker:
    def __init__(self, config: TrackerConfig = TrackerConfig(), first_id: int = 1) -> None:
        self.config = config
        self.tracks: list[Track] = []
        self._ids = itertools.count(first_id)
        self.stamp: float | None = None

    # ---------------------------------------------------------------- Kalman filter
    def _predict(self, t: Track, stamp: float) -> None:
        dt = min(max(stamp - t.stamp, 0.0), self.config.max_dt)
        if dt <= 0.0:
            return
        f = np.eye(4)
        f[0, 2] = f[1, 3] = dt
        q = self.config.accel_sigma**2
        g = np.array([[dt**2 / 2, 0.0], [0.0, dt**2 / 2], [dt, 0.0], [0.0, dt]])
        t.x = f @ t.x
        t.p = f @ t.p @ f.T + q * g @ g.T
        t.stamp = stamp

    @staticmethod
    def _update(t: Track, m: Measurement) -> None:
        z = np.array([m.x, m.y])
        hm, r = H, m.cov
        if m.velocity is not None:
            z = np.array([m.x, m.y, m.velocity[0], m.velocity[1]])
            hm = np.eye(4)
            rv = m.velocity_cov if m.velocity_cov is not None else np.eye(2) * 1.0
            r = np.block([[m.cov, np.zeros((2, 2))], [np.zeros((2, 2)), rv]])
        s = hm @ t.p @ hm.T + r
        k = t.p @ hm.T @ np.linalg.inv(s)
        t.x = t.x + k @ (z - hm @ t.x)
        i_kh = np.eye(4) - k @ hm
        t.p = i_kh @ t.p @ i_kh.T + k @ r @ k.T  # Joseph form

    def _distance(self, t: Track, m: Measurement) -> float:
        s = H @ t.p @ H.T + m.cov
        d = np.array([m.x, m.y]) - t.x[:2]
        try:
            d2 = float(d @ np.linalg.solve(s, d))
        except np.linalg.LinAlgError:
            return math.inf
        if m.label != t.label and t.label_votes:
            d2 += self.config.class_penalty
        return d2

    # ---------------------------------------------------------------- public
    def step(
        self,
        stamp: float,
        measurements: Sequence[Measurement],
        observable: Callable[[float, float], bool] | None = None,
    ) -> list[ObjectEstimate]:
        """Predict to ``stamp``, associate, update, manage lifecycles; returns the reportable tracks.

        ``observable(x, y)`` says whether this batch's sensor could have seen a track there (a camera:
        in its image and range). Unmatched tracks it could not have seen are left alone, so several
        sensors with different fields of view and rates (cameras, RSM) share one tracker. None: all.
        """
        if self.stamp is not None and stamp < self.stamp:
            if stamp < self.stamp - self.config.reset_backwards_s:
                self.tracks.clear()  # time jumped back (replay restart): start over
            else:
                stamp = self.stamp  # a slightly late measurement (another source): no prediction back
        self.stamp = stamp
        valid = [m for m in measurements if _finite(m)]
        for t in self.tracks:
            self._predict(t, stamp)
        matched_t: set[int] = set()
        matched_m: set[int] = set()
        if self.tracks and valid:
            cost = np.array([[self._distance(t, m) for m in valid] for t in self.tracks])
            big = 1e6
            gated = np.where(cost <= self.config.gate_chi2, cost, big)
            rows, cols = linear_sum_assignment(gated)
            for r, c in zip(rows, cols, strict=True):
                if gated[r, c] >= big:
                    continue
                t, m = self.tracks[r], valid[c]
                self._update(t, m)
                self._absorb(t, m, stamp)
                matched_t.add(r)
                matched_m.add(c)
        survivors: list[Track] = []
        for i, t in enumerate(self.tracks):
            if i in matched_t:
                if (
                    t.state is TrackState.TENTATIVE and t.hits >= self.config.confirm_hits
                ) or t.state is TrackState.LOST:
                    t.state = TrackState.CONFIRMED
                survivors.append(t)
                continue
            if observable is not None and not observable(float(t.x[0]), float(t.x[1])):
                if stamp - t.last_update <= self.config.max_lost_s:
                    survivors.append(t)  # not in this sensor's view: no miss
                continue
            if t.state is TrackState.TENTATIVE:
                continue  # a tentative track that misses is dropped
            t.state = TrackState.LOST
            if stamp - t.last_update <= self.config.max_lost_s:
                survivors.append(t)
        self.tracks = survivors
        for j, m in enumerate(valid):
            if j not in matched_m:
                self.tracks.append(self._new_track(m, stamp))
        return self.estimates()

    def _new_track(self, m: Measurement, stamp: float) -> Track:
        s = self.config.init_speed_sigma**2
        p = np.zeros((4, 4))
        p[:2, :2] = m.cov
        p[2:, 2:] = np.eye(2) * s
        x = np.array([m.x, m.y, 0.0, 0.0])
        if m.velocity is not None:
            x[2:] = m.velocity
            p[2:, 2:] = m.velocity_cov if m.velocity_cov is not None else np.eye(2)
        t = Track(next(self._ids), x, p, stamp, stamp, last_update=stamp)
        self._absorb(t, m, stamp)
        t.hits = 1
        if self.config.confirm_hits <= 1 or m.confirmed:
            t.state = TrackState.CONFIRMED
        return t

    @staticmethod
    def _absorb(t: Track, m: Measurement, stamp: float) -> None:
        t.hits += 1
        t.last_update = stamp
        t.label_votes[m.label] += 1
        t.score = 0.7 * t.score + 0.3 * m.score if t.score else m.score
        t.size = m.size or CLASS_SIZES.get(m.label, CLASS_SIZES["unknown"])
        if m.yaw is not None:
            t.yaw = m.yaw
        t.sources[(m.source.kind, m.source.sensor_id)] = m.source

    def estimates(self, include_tentative: bool = False) -> list[ObjectEstimate]:
        out = []
        for t in self.tracks:
            if t.state is TrackState.TENTATIVE and not include_tentative:
                continue
            speed = float(np.hypot(t.x[2], t.x[3]))
            yaw = math.atan2(t.x[3], t.x[2]) if speed > 0.5 else t.yaw
            age = (self.stamp or t.born) - t.born
            lost_for = (self.stamp or t.last_update) - t.last_update
            existence = t.score * (1.0 - min(1.0, lost_for / max(self.config.max_lost_s, 1e-6)))
            out.append(
                ObjectEstimate(
                    id=t.id,
                    label=t.label,
                    x=float(t.x[0]),
                    y=float(t.x[1]),
                    cov=t.p[:2, :2].copy(),
                    vx=float(t.x[2]),
                    vy=float(t.x[3]),
                    vel_cov=t.p[2:, 2:].copy(),
                    yaw=yaw,
                    size=t.size,
                    class_confidence=t.class_confidence * t.score,
                    existence=existence,
                    age=age,
                    tracked=t.state is not TrackState.TENTATIVE,
                    sources=self._recent_sources(t),
                )
            )
        return out

    def _recent_sources(self, t: Track) -> tuple[Source, ...]:
        """Sources that contributed within ``max_lost_s`` (the latest one always counts)."""
        horizon = t.last_update - self.config.max_lost_s
        return tuple(s for s in t.sources.values() if s.stamp >= horizon) or tuple(t.sources.values())[-1:]

    def state_of(self, track_id: int) -> TrackState | None:
        return next((t.state for t in self.tracks if t.id == track_id), None)


def _finite(m: Measurement) -> bool:
    return bool(
        math.isfinite(m.x) and math.isfinite(m.y) and np.all(np.isfinite(m.cov)) and m.cov.shape == (2, 2)
    )
