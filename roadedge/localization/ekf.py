"""Extended Kalman filter: GNSS position + IMU yaw rate + wheel speed / steering -> pose.

State (map frame, base_link origin): ``[x, y, yaw, v, w, b, k, ge, gn]`` with v the signed
longitudinal speed, w the yaw rate, b the gyro bias, k the wheel-speed scale factor
(wheel speed = k v) and (ge, gn) the slowly wandering part of the GNSS position error
(first-order Gauss-Markov, ``gnss_bias_tau``; its variance is ``gnss_bias_fraction``^2 of the
fix's reported variance, the rest is white). Real single-point errors are mostly that
wandering part; modelling it keeps the filter from averaging it away as if it were white, so
an aid that observes it (the curb range) keeps it through gaps in the curb. The motion model is a constant
speed / constant turn rate model integrated at the midpoint heading; process noise enters
as acceleration, yaw acceleration and bias random walks.

Measurements:

- GNSS antenna position (map, from NavSatFix via :mod:`roadedge.localization.geodesy`)
  with the covariance from the fix (so RTK fixed / float / DGPS / single are weighted by
  what they report, see :mod:`roadedge.localization.gnss`), through the lever arm, gated
  with the Mahalanobis distance (chi-square, 2 dof). A rejected streak longer than
  ``reinit_after`` re-initialises the position at the GNSS fix (the receiver was right, or
  the filter had drifted); it is counted and reported.
- range to the curb from a side range sensor (:mod:`roadedge.localization.curb`): the range the
  map's curb line predicts from the pose, gated (chi-square, 1 dof); the lateral aid that
  single-point GNSS needs for curb-side work. Returns where the map has no curb, at grazing
  incidence or with a parked car in the beam (gate) are dropped and counted.
- GNSS velocity (speed and course over ground of RMC/VTG, Doppler-based, centimetres per
  second even for single-point fixes) of the antenna: heading at speed, the wheel-speed scale
  and, through the lever arm, the yaw rate; gated (chi-square, 2 dof).
- wheel speed (k v), gyro (w + b), kinematic yaw rate from steering (v tan(delta) / L), and a
  zero-velocity update when the vehicle stands still (makes the gyro bias observable).

Without GNSS the filter dead-reckons; its covariance grows with the process noise, and
the Mahalanobis gate opens accordingly, so the first fix after an outage is accepted
with a correction bounded by the gate. The ``odom`` frame integrates only v and w, so it is
continuous; ``map -> odom`` absorbs the GNSS corrections (REP-105).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from scipy.stats import chi2

from roadedge.localization.curb import CurbLines, RangeMount, range_jacobian
from roadedge.localization.geodesy import LeverArm, wrap_angle

X, Y, YAW, V, W, B, K, GE, GN = range(9)
N = 9


@dataclass(frozen=True)
class EkfParams:
    wheelbase: float = 2.8  # m, for the kinematic yaw rate from steering
    antenna: LeverArm = field(default_factory=LeverArm)
    # process noise spectral densities (per sqrt(s))
    accel_noise: float = 0.8  # m/s^2
    yaw_accel_noise: float = 0.3  # rad/s^2
    gyro_bias_walk: float = 2e-4  # rad/s
    speed_scale_walk: float = 1e-5  # wheel speed scale factor (tyre wear, load)
    position_noise: float = 0.02  # m (wheel slip, unmodelled motion)
    yaw_noise: float = 0.002  # rad
    # measurement noise (1 sigma)
    speed_sigma: float = 0.05  # m/s
    speed_relative_sigma: float = 0.01  # wheel radius error, fraction of speed
    gyro_sigma: float = 0.003  # rad/s
    steering_yaw_rate_sigma: float = 0.02  # rad/s, plus steering_angle_sigma * |v| / L
    steering_angle_sigma: float = 0.01  # rad
    zero_velocity_sigma: float = 0.002  # m/s and rad/s while standing still
    gnss_min_sigma: float = 0.005  # m, floor on the fix's reported sigma
    gnss_sigma_scale: float = 1.0  # multiplies the fix's reported sigma
    gnss_bias_fraction: float = 0.8  # share of the fix's sigma that wanders slowly (0 = all white)
    gnss_bias_tau: float = 60.0  # s, correlation time of the wandering part
    gnss_time_sigma: float = 0.0  # s, uncertainty of a fix's time stamp (receive-time stamping)
    curb_map_sigma: float = 0.03  # m, 1 sigma of the map's curb lines, added to the sensor's
    range_gate_probability: float = 0.999  # Mahalanobis gate for curb ranges (chi-square, 1 dof)
    range_min_incidence: float = 0.5  # cos of the largest beam-to-curb-normal angle used (60 deg)
    # robustness
    gate_probability: float = 0.999  # Mahalanobis gate for GNSS (chi-square, 2 dof)
    reinit_after: float = 5.0  # s of continuous GNSS rejection before re-initialising at GNSS
    max_lag: float = 0.5  # s, older measurements are dropped
    max_step: float = 0.02  # s, prediction sub-step
    gnss_timeout: float = 1.0  # s without an accepted fix = GNSS outage (dead reckoning)
    # initialisation from GNSS
    init_min_distance: float = 1.0  # m between two fixes to take the heading from them
    init_min_speed: float = 0.3  # m/s
    init_window: float = 15.0  # s, the first of the two fixes is at most this old
    initial_speed_sigma: float = 0.5
    initial_yaw_rate_sigma: float = 0.1
    initial_bias_sigma: float = 0.005  # rad/s
    initial_scale_sigma: float = 0.02  # wheel speed scale factor
    max_position_sigma: float = 100.0  # m, covariance growth is capped here

    @property
    def gate(self) -> float:
        return float(chi2.ppf(self.gate_probability, 2))

    @property
    def range_gate(self) -> float:
        return float(chi2.ppf(self.range_gate_probability, 1))


class FilterState(Enum):
    UNINITIALIZED = "uninitialized"
    TRACKING = "tracking"  # GNSS accepted within gnss_timeout
    DEAD_RECKONING = "dead_reckoning"


@dataclass
class EkfCounters:
    gnss_accepted: int = 0
    gnss_rejected: int = 0
    gnss_reinit: int = 0  # re-initialisations after a rejected streak
    gnss_stale: int = 0  # dropped, older than max_lag
    gnss_bad: int = 0  # non-finite or non-positive-definite covariance
    resets: int = 0
    measurements_dropped: int = 0
    velocity_accepted: int = 0
    velocity_rejected: int = 0
    range_accepted: int = 0
    range_rejected: int = 0  # outside the gate (a parked car, a gap in the curb, a wrong map)
    range_no_curb: int = 0  # no curb in the beam on the map, out of range, or grazing incidence

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RangeUpdate:
    accepted: bool
    mahalanobis2: float
    predicted: float  # m, the range the map predicts (nan without a curb in the beam)


@dataclass(frozen=True)
class GnssUpdate:
    accepted: bool
    mahalanobis2: float
    correction: float  # m, norm of the position change it made (0 when rejected)
    reinitialized: bool = False


class LocalizationEkf:
    def __init__(self, params: EkfParams | None = None):
        self.p = params or EkfParams()
        self.gate = self.p.gate
        self.range_gate = self.p.range_gate
        self.counters = EkfCounters()
        self.x = np.zeros(N)
        self.P = np.eye(N)
        self.t: float | None = None
        self.initialized = False
        self.z = 0.0  # base_link height in map (scalar filter on GNSS up)
        self.z_var = 1e6
        self.odom = np.zeros(3)  # x, y, yaw of base_link in odom (continuous)
        self.last_gnss_time: float | None = None
        self._reject_since: float | None = None
        self._init_fix: tuple[float, np.ndarray, np.ndarray, float] | None = None
        self._last_speed: float | None = None
        self._last_yaw_rate: float = 0.0
        self._pre_yaw = 0.0  # integrated yaw rate before initialisation (rad)
        self._bias_var = 0.0  # m^2, stationary variance of the GNSS error's wandering part (per axis)

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Forget the estimate; re-initialise from the next GNSS fixes."""
        self.x = np.zeros(N)
        self.P = np.eye(N)
        self.initialized = False
        self._init_fix = None
        self._reject_since = None
        self.last_gnss_time = None
        self.counters.resets += 1

    def reset_to_pose(
        self, t: float, x: float, y: float, yaw: float, cov_xy_yaw: np.ndarray | None = None, z: float = 0.0
    ) -> None:
        """Initialise at a known pose (m, m, rad); cov_xy_yaw is 3x3 (x, y, yaw)."""
        self.x = np.array(
            [x, y, wrap_angle(yaw), self._last_speed or 0.0, self._last_yaw_rate, 0.0, 1.0, 0.0, 0.0]
        )
        self.P = np.diag(
            [
                0.1**2,
                0.1**2,
                0.05**2,
                self.p.initial_speed_sigma**2,
                self.p.initial_yaw_rate_sigma**2,
                self.p.initial_bias_sigma**2,
                self.p.initial_scale_sigma**2,
                self._bias_var or 1e-4,
                self._bias_var or 1e-4,
            ]
        )
        if cov_xy_yaw is not None:
            c = np.asarray(cov_xy_yaw, dtype=float)
            if c.shape == (3, 3) and np.all(np.isfinite(c)) and np.all(np.diag(c) > 0):
                idx = [X, Y, YAW]
                self.P[np.ix_(idx, idx)] = c
        self.z, self.z_var = z, 1.0
        self.t = t
        self.initialized = True
        self._init_fix = None
        self._reject_since = None
        self.counters.resets += 1

    # ------------------------------------------------------------------ queries
    @property
    def yaw(self) -> float:
        return float(self.x[YAW])

    def state(self, t: float | None = None) -> FilterState:
        if not self.initialized:
            return FilterState.UNINITIALIZED
        now = self.t if t is None else t
        if self.last_gnss_time is None or now is None or now - self.last_gnss_time > self.p.gnss_timeout:
            return FilterState.DEAD_RECKONING
        return FilterState.TRACKING

    def lateral_sigma(self) -> float:
        """1-sigma position uncertainty across the vehicle's heading (m)."""
        e = np.array([-math.sin(self.x[YAW]), math.cos(self.x[YAW])])
        return float(math.sqrt(max(e @ self.P[:2, :2] @ e, 0.0)))

    def horizontal_sigma(self) -> float:
        """1-sigma along the worst horizontal axis (m)."""
        return float(math.sqrt(max(np.linalg.eigvalsh(self.P[:2, :2]).max(), 0.0)))

    def map_to_odom(self) -> tuple[float, float, float]:
        """Transform map -> odom (x, y, yaw) such that map_T_base = map_T_odom * odom_T_base."""
        yaw_mo = wrap_angle(self.x[YAW] - self.odom[2])
        c, s = math.cos(yaw_mo), math.sin(yaw_mo)
        tx = self.x[X] - (c * self.odom[0] - s * self.odom[1])
        ty = self.x[Y] - (s * self.odom[0] + c * self.odom[1])
        return float(tx), float(ty), float(yaw_mo)

    # ------------------------------------------------------------------ prediction
    def predict(self, t: float) -> None:
        if self.t is None:
            self.t = t
            return
        dt_total = t - self.t
        if dt_total <= 0.0:
            return
        if not self.initialized:
            self._pre_yaw += self._last_yaw_rate * dt_total  # heading change while initialising
            self.t = t
            return
        steps = max(1, math.ceil(dt_total / self.p.max_step))
        dt = dt_total / steps
        for _ in range(steps):
            self._step(dt)
        self.t = t

    def _step(self, dt: float) -> None:
        x, p = self.x, self.p
        v, w = x[V], x[W]
        yaw_m = x[YAW] + 0.5 * w * dt
        c, s = math.cos(yaw_m), math.sin(yaw_m)
        F = np.eye(N)
        F[X, YAW] = -v * s * dt
        F[X, V] = c * dt
        F[X, W] = -v * s * dt * dt * 0.5
        F[Y, YAW] = v * c * dt
        F[Y, V] = s * dt
        F[Y, W] = v * c * dt * dt * 0.5
        F[YAW, W] = dt
        dx, dy, dyaw = v * c * dt, v * s * dt, w * dt
        x[X] += dx
        x[Y] += dy
        x[YAW] = wrap_angle(x[YAW] + dyaw)
        # odom: same motion, integrated from its own heading
        oc, os_ = math.cos(self.odom[2] + 0.5 * dyaw), math.sin(self.odom[2] + 0.5 * dyaw)
        self.odom[0] += v * oc * dt
        self.odom[1] += v * os_ * dt
        self.odom[2] = wrap_angle(self.odom[2] + dyaw)
        q = (
            np.array(
                [
                    p.position_noise**2,
                    p.position_noise**2,
                    p.yaw_noise**2,
                    p.accel_noise**2,
                    p.yaw_accel_noise**2,
                    p.gyro_bias_walk**2,
                    p.speed_scale_walk**2,
                    0.0,
                    0.0,
                ]
            )
            * dt
        )
        if p.gnss_bias_tau > 0.0:
            a = math.exp(-dt / p.gnss_bias_tau)
            F[GE, GE] = F[GN, GN] = a
            x[GE] *= a
            x[GN] *= a
            q[GE] = q[GN] = self._bias_var * (1.0 - a * a)
        self.P = F @ self.P @ F.T + np.diag(q)
        cap = p.max_position_sigma**2
        if self.P[X, X] > cap or self.P[Y, Y] > cap:
            scale = math.sqrt(cap / max(self.P[X, X], self.P[Y, Y]))
            self.P[:2, :] *= scale
            self.P[:, :2] *= scale
        self.z_var += (p.position_noise**2) * dt

    # ------------------------------------------------------------------ updates
    def _kalman(self, y: np.ndarray, H: np.ndarray, R: np.ndarray, gate: float | None) -> tuple[bool, float]:
        if H.shape[0] == 1:
            return self._kalman_scalar(float(y[0]), H[0], float(R[0, 0]), gate)
        S = H @ self.P @ H.T + R
        try:
            S_inv = np.linalg.inv(S)
        except np.linalg.LinAlgError:
            return False, math.inf
        d2 = float(y @ S_inv @ y)
        if gate is not None and d2 > gate:
            return False, d2
        K = self.P @ H.T @ S_inv
        self.x = self.x + K @ y
        self.x[YAW] = wrap_angle(self.x[YAW])
        IKH = np.eye(N) - K @ H
        self.P = IKH @ self.P @ IKH.T + K @ R @ K.T
        self.P = 0.5 * (self.P + self.P.T)
        return True, d2

    def _kalman_scalar(self, y: float, h: np.ndarray, r: float, gate: float | None) -> tuple[bool, float]:
        """One scalar measurement (most of them: wheel speed, gyro, steering), no matrix inverse."""
        ph = self.P @ h
        s = float(h @ ph) + r
        if not s > 0.0:
            return False, math.inf
        d2 = y * y / s
        if gate is not None and d2 > gate:
            return False, d2
        k = ph / s
        self.x = self.x + k * y
        self.x[YAW] = wrap_angle(self.x[YAW])
        self.P = self.P - np.outer(k, ph)
        self.P = 0.5 * (self.P + self.P.T)
        return True, d2

    def _advance(self, t: float) -> float | None:
        """Predict to t if it is newer; return the lag of t behind the filter (s), None = drop."""
        if self.t is None:
            self.t = t
        if t >= self.t:
            self.predict(t)
            return 0.0
        lag = self.t - t
        if lag > self.p.max_lag:
            self.counters.measurements_dropped += 1
            return None
        return lag

    def update_speed(self, t: float, speed: float, standing_still: bool | None = None) -> None:
        """Wheel / chassis speed (m/s, signed). standing_still: all wheels at zero."""
        if not math.isfinite(speed):
            self.counters.measurements_dropped += 1
            return
        self._last_speed = speed
        if self._advance(t) is None or not self.initialized:
            return
        still = standing_still if standing_still is not None else speed == 0.0
        if still:
            zs = self.p.zero_velocity_sigma
            H = np.zeros((2, N))
            H[0, V] = 1.0
            H[1, W] = 1.0
            self._kalman(np.array([0.0 - self.x[V], 0.0 - self.x[W]]), H, np.diag([zs**2, zs**2]), None)
            return
        # Wheel speed = scale factor x true speed; the scale is estimated while GNSS is good.
        sigma = self.p.speed_sigma + self.p.speed_relative_sigma * abs(speed)
        H = np.zeros((1, N))
        H[0, V] = self.x[K]
        H[0, K] = self.x[V]
        self._kalman(np.array([speed - self.x[K] * self.x[V]]), H, np.array([[sigma**2]]), None)

    def update_gyro(self, t: float, yaw_rate: float, sigma: float | None = None) -> None:
        """IMU yaw rate about base_link z (rad/s), bias included."""
        if not math.isfinite(yaw_rate):
            self.counters.measurements_dropped += 1
            return
        self._last_yaw_rate = yaw_rate - (self.x[B] if self.initialized else 0.0)
        if self._advance(t) is None or not self.initialized:
            return
        s = sigma if sigma is not None and sigma > 0 else self.p.gyro_sigma
        H = np.zeros((1, N))
        H[0, W] = 1.0
        H[0, B] = 1.0
        self._kalman(np.array([yaw_rate - self.x[W] - self.x[B]]), H, np.array([[s * s]]), None)

    def update_steering(self, t: float, speed: float, steering_angle: float) -> None:
        """Kinematic yaw rate v tan(delta) / L from the chassis."""
        if not (math.isfinite(speed) and math.isfinite(steering_angle)) or abs(steering_angle) > 1.4:
            self.counters.measurements_dropped += 1
            return
        scale = float(self.x[K]) if self.initialized and 0.5 < self.x[K] < 1.5 else 1.0
        rate = speed / scale * math.tan(steering_angle) / self.p.wheelbase
        if not self.initialized:
            self._last_yaw_rate = rate
        if self._advance(t) is None or not self.initialized:
            return
        s = self.p.steering_yaw_rate_sigma + self.p.steering_angle_sigma * abs(speed) / self.p.wheelbase
        H = np.zeros((1, N))
        H[0, W] = 1.0
        self._kalman(np.array([rate - self.x[W]]), H, np.array([[s * s]]), None)

    def update_range(
        self, t: float, measured: float, sigma: float, mount: RangeMount, curbs: CurbLines
    ) -> RangeUpdate:
        """A side range sensor's range to the curb (m), against the map's curb lines."""
        nan = math.nan
        if not self.initialized:
            return RangeUpdate(False, nan, nan)
        if not (math.isfinite(measured) and math.isfinite(sigma) and sigma > 0.0):
            self.counters.range_no_curb += 1  # no echo (+inf, REP-117) or a bad value: nothing to fuse
            return RangeUpdate(False, nan, nan)
        if not mount.min_range <= measured <= mount.max_range:
            self.counters.range_no_curb += 1
            return RangeUpdate(False, nan, nan)
        if self._advance(t) is None:
            return RangeUpdate(False, nan, nan)
        x, y, yaw = float(self.x[X]), float(self.x[Y]), float(self.x[YAW])
        ox, oy, dx, dy = mount.ray(x, y, yaw)
        # Search the curb within the position uncertainty on both sides of the sensor (the estimate may
        # put the sensor beyond the curb) and take the crossing nearest to the measured range.
        reach = 3.0 * self.horizontal_sigma() + 0.5
        hit = curbs.raycast(ox, oy, dx, dy, mount.max_range + reach, -reach, nearest_to=measured)
        if hit is None or hit.cos_incidence < self.p.range_min_incidence:
            self.counters.range_no_curb += 1
            return RangeUpdate(False, nan, nan if hit is None else hit.range)
        H = np.zeros((1, N))
        H[0, X], H[0, Y], H[0, YAW] = range_jacobian(mount, yaw, hit)
        r = sigma * sigma + self.p.curb_map_sigma**2
        ok, d2 = self._kalman(np.array([measured - hit.range]), H, np.array([[r]]), self.range_gate)
        if ok:
            self.counters.range_accepted += 1
        else:
            self.counters.range_rejected += 1
        return RangeUpdate(ok, d2, hit.range)

    def update_velocity(self, t: float, east: float, north: float, sigma: float) -> bool:
        """GNSS antenna velocity over ground in the map frame (m/s), 1-sigma per axis."""
        if not (math.isfinite(east) and math.isfinite(north) and math.isfinite(sigma) and sigma > 0.0):
            self.counters.measurements_dropped += 1
            return False
        if not self.initialized or self._advance(t) is None:
            return False
        lx, ly = self.p.antenna.x, self.p.antenna.y
        yaw, v, w = float(self.x[YAW]), float(self.x[V]), float(self.x[W])
        c, s = math.cos(yaw), math.sin(yaw)
        fwd, left = v - w * ly, w * lx  # antenna velocity in base_link
        pred = np.array([c * fwd - s * left, s * fwd + c * left])
        H = np.zeros((2, N))
        H[0, YAW], H[1, YAW] = -s * fwd - c * left, c * fwd - s * left
        H[0, V], H[1, V] = c, s
        H[0, W], H[1, W] = -c * ly - s * lx, -s * ly + c * lx
        ok, _ = self._kalman(np.array([east, north]) - pred, H, np.eye(2) * sigma * sigma, self.gate)
        if ok:
            self.counters.velocity_accepted += 1
        else:
            self.counters.velocity_rejected += 1
        return ok

    def update_gnss(self, t: float, east: float, north: float, up: float, cov: np.ndarray) -> GnssUpdate:
        """Antenna position in map (m) with its 3x3 (or 2x2) covariance (m^2)."""
        c = np.asarray(cov, dtype=float)
        if c.shape not in ((2, 2), (3, 3)) or not (
            math.isfinite(east) and math.isfinite(north) and np.all(np.isfinite(c))
        ):
            self.counters.gnss_bad += 1
            return GnssUpdate(False, math.inf, 0.0)
        R = c[:2, :2] * self.p.gnss_sigma_scale**2 + np.eye(2) * self.p.gnss_min_sigma**2
        if np.linalg.eigvalsh(R).min() <= 0:
            self.counters.gnss_bad += 1
            return GnssUpdate(False, math.inf, 0.0)
        f2 = min(max(self.p.gnss_bias_fraction, 0.0), 0.99) ** 2 if self.p.gnss_bias_tau > 0 else 0.0
        bias_var = f2 * float(np.trace(R)) / 2.0
        R = R * (1.0 - f2)
        up_var = float(c[2, 2]) if c.shape == (3, 3) and c[2, 2] > 0 else 4.0 * float(R[0, 0])
        meas = np.array([east, north])
        if not self.initialized:
            self._bias_var = bias_var
            self._try_init(t, meas, R / max(1.0 - f2, 1e-6), up, up_var)
            return GnssUpdate(self.initialized, 0.0, 0.0)
        self._set_bias_variance(bias_var)
        lag = self._advance(t)
        if lag is None:
            self.counters.gnss_stale += 1
            return GnssUpdate(False, math.inf, 0.0)
        lx, ly = self.p.antenna.x, self.p.antenna.y
        yaw = self.x[YAW]
        c_, s_ = math.cos(yaw), math.sin(yaw)
        v = self.x[V]
        if self.p.gnss_time_sigma > 0.0:
            # An uncertain stamp is an uncertain position along the track: widen R along it.
            along = np.array([c_, s_]) * v * self.p.gnss_time_sigma
            R = R + np.outer(along, along)
        pred = np.array(
            [
                self.x[X] + c_ * lx - s_ * ly - lag * v * c_ + self.x[GE],
                self.x[Y] + s_ * lx + c_ * ly - lag * v * s_ + self.x[GN],
            ]
        )
        H = np.zeros((2, N))
        H[0, X] = H[0, GE] = 1.0
        H[1, Y] = H[1, GN] = 1.0
        H[0, YAW] = -s_ * lx - c_ * ly + lag * v * s_
        H[1, YAW] = c_ * lx - s_ * ly - lag * v * c_
        H[0, V] = -lag * c_
        H[1, V] = -lag * s_
        before = self.x[:2].copy()
        ok, d2 = self._kalman(meas - pred, H, R, self.gate)
        if ok:
            self.counters.gnss_accepted += 1
            self.last_gnss_time = t
            self._reject_since = None
            self._update_height(up, up_var)
            return GnssUpdate(True, d2, float(np.linalg.norm(self.x[:2] - before)))
        self.counters.gnss_rejected += 1
        if self._reject_since is None:
            self._reject_since = t
        if t - self._reject_since >= self.p.reinit_after:
            # The fixes have disagreed for long: trust them, keep heading and speeds.
            base = meas - np.array([c_ * lx - s_ * ly, s_ * lx + c_ * ly])
            self.x[X], self.x[Y] = base
            self.x[GE] = self.x[GN] = 0.0
            for i in (X, Y, GE, GN):
                self.P[i, :] = 0.0
                self.P[:, i] = 0.0
            self.P[:2, :2] = R / max(1.0 - f2, 1e-6) + np.eye(2) * (lx * lx + ly * ly) * self.P[YAW, YAW]
            self._fix_bias_correlation()
            self.counters.gnss_reinit += 1
            self.last_gnss_time = t
            self._reject_since = None
            return GnssUpdate(False, d2, 0.0, reinitialized=True)
        return GnssUpdate(False, d2, 0.0)

    def _fix_bias_correlation(self) -> None:
        """Position taken from a fix (x = fix - lever arm, bias 0): the position's error is minus the
        fix's wandering error, so the two are fully anti-correlated."""
        v = max(self._bias_var, 1e-8)
        self.P[GE, GE] = self.P[GN, GN] = v
        self.P[X, GE] = self.P[GE, X] = self.P[Y, GN] = self.P[GN, Y] = -v

    def _set_bias_variance(self, bias_var: float) -> None:
        """A new stationary variance of the GNSS error's wandering part (the fix quality changed).

        A change by more than a factor of two means a different solution (RTK <-> single): its
        error is a new, independent one -- zero mean, the new variance, uncorrelated with the state.
        """
        old = self._bias_var
        self._bias_var = bias_var
        if old > 0.0 and 0.5 <= bias_var / old <= 2.0:
            return
        self.x[GE] = self.x[GN] = 0.0
        for i in (GE, GN):
            self.P[i, :] = 0.0
            self.P[:, i] = 0.0
            self.P[i, i] = max(bias_var, 1e-8)

    def _update_height(self, up: float, up_var: float) -> None:
        if not math.isfinite(up) or up_var <= 0:
            return
        z_meas = up - self.p.antenna.z
        k = self.z_var / (self.z_var + up_var)
        self.z += k * (z_meas - self.z)
        self.z_var *= 1.0 - k

    def _try_init(self, t: float, meas: np.ndarray, R: np.ndarray, up: float, up_var: float) -> None:
        if self.t is None or t > self.t:
            self.t = t
        first = self._init_fix
        if first is None or t - first[0] > self.p.init_window:
            self._init_fix = (t, meas, R, self._pre_yaw)
            return
        d = meas - first[1]
        dist = float(np.linalg.norm(d))
        sigma = math.sqrt(max(np.trace(R), np.trace(first[2])))
        speed = self._last_speed
        if dist < max(self.p.init_min_distance, 6.0 * sigma):
            return
        if speed is None or abs(speed) < self.p.init_min_speed:
            self._init_fix = (t, meas, R, self._pre_yaw)  # moving without wheel speed: wait for it
            return
        # The chord between the fixes points along the mean heading: add half the turn since.
        turned = self._pre_yaw - first[3]
        if abs(turned) > 1.0:  # too much turning for a chord: start over
            self._init_fix = (t, meas, R, self._pre_yaw)
            return
        yaw = math.atan2(d[1], d[0]) + 0.5 * turned
        if speed < 0:
            yaw = wrap_angle(yaw + math.pi)
        lx, ly = self.p.antenna.x, self.p.antenna.y
        c, s = math.cos(yaw), math.sin(yaw)
        base = meas - np.array([c * lx - s * ly, s * lx + c * ly])
        yaw_sigma = math.sqrt(np.trace(R) + np.trace(first[2])) / dist + 0.02 + 0.1 * abs(turned)
        self.x = np.array([base[0], base[1], yaw, speed, self._last_yaw_rate, 0.0, 1.0, 0.0, 0.0])
        self.P = np.zeros((N, N))
        self._fix_bias_correlation()
        self.P[:2, :2] = R + np.eye(2) * (lx * lx + ly * ly) * yaw_sigma**2
        self.P[YAW, YAW] = yaw_sigma**2
        self.P[V, V] = self.p.initial_speed_sigma**2
        self.P[W, W] = self.p.initial_yaw_rate_sigma**2
        self.P[B, B] = self.p.initial_bias_sigma**2
        self.P[K, K] = self.p.initial_scale_sigma**2
        self.z, self.z_var = (up - self.p.antenna.z, up_var) if math.isfinite(up) else (0.0, 1e6)
        self.initialized = True
        self.last_gnss_time = t
        self._init_fix = None


# ---------------------------------------------------------------------- accuracy


def required_accuracy_met(lateral_sigma: float, required_95: float) -> bool:
    """True when the 95 % lateral error bound (1.96 sigma) is within the mode's need."""
    return 1.96 * lateral_sigma <= required_95
