"""Trajectory tracking: lateral path control with curvature feed-forward and longitudinal PID with
acceleration feed-forward, producing the fields of roadedge_msgs/VehicleCommand (run at 50 Hz).

Lateral law (rear-axle reference, kinematic bicycle): commanded curvature
    kappa = kappa_ff - k1 * e_y - k2 * e_psi
with e_y the signed lateral error (left of the path > 0) and e_psi the heading error. The path-tracking
error dynamics in arc length are then e_y'' + k2 e_y' + k1 e_y = 0: with k1 = w^2 and k2 = 2 zeta w
(w in 1/m) the response is the same at every speed. kappa_ff is the path curvature averaged over a window
that starts a preview time ahead (the steering actuator's lag and rate limit). Steering = atan(L kappa).

Longitudinal: target speed = profile speed a short preview ahead of the projection (compensates the drive
lag), target acceleration = profile acceleration + PID on the speed error (anti-windup, integrator only
while moving). Inputs that go stale (odometry, trajectory, vehicle status) trigger a controlled stop:
target speed 0 at the configured deceleration, hazard lights on, steering held.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from roadedge.planning.geometry import FloatArray, Path, wrap_angle

# VehicleCommand constants (mirrored: roadedge/control is pure Python and imports no messages)
GEAR_NONE = 0
GEAR_PARK = 1
GEAR_DRIVE = 4
MODE_AUTONOMOUS = 1
MODE_SWEEPING = 2
LIGHT_OFF = 0
LIGHT_ON = 1


@dataclass(frozen=True)
class ControllerParams:
    wheelbase: float = 2.8  # m
    max_steering_angle: float = 0.6  # rad
    max_steering_rate: float = 0.5  # rad/s, sent as steering_rate (0 = chassis default)
    lateral_bandwidth: float = 0.6  # 1/m, w of the error dynamics
    lateral_damping: float = 1.0  # zeta
    max_lateral_rate: float = 1.5  # rad/s: w * speed is capped here (latency and steering lag at speed)
    min_control_speed: float = 0.5  # m/s below which heading feedback is faded out
    steering_preview_time: float = 0.25  # s: actuator lag + half the rate-limited ramp
    feedforward_window: float = 1.0  # m, curvature averaged over at least this length (centred)
    feedforward_window_time: float = 0.0  # s: and over the distance covered in this time (rate limit)
    speed_preview_time: float = 0.3  # s, the drive's lag (acceleration feed-forward preview)
    speed_target_preview_time: float = 0.1  # s, preview of the speed target
    min_speed_preview: float = 0.3  # m: lets a profile that starts from standstill pull away
    kp: float = 0.4  # (m/s^2) per (m/s)
    ki: float = 0.1  # (m/s^2) per m
    kd: float = 0.0  # (m/s^2) per (m/s^2)
    integral_limit: float = 1.0  # m/s^2, bound of the integral term
    max_acceleration: float = 1.5  # m/s^2, command bounds
    max_deceleration: float = 3.0  # m/s^2
    stop_deceleration: float = 1.5  # m/s^2, controlled stop on stale inputs
    standstill_speed: float = 0.05  # m/s
    hold_deceleration: float = 0.5  # m/s^2 commanded at standstill with a zero target (brake hold)
    stop_snap_distance: float = 0.25  # m: this close to a stop point (plus the distance to brake at
    stop_snap_deceleration: float = 1.5  # m/s^2 from the current speed) the vehicle holds ...
    stop_snap_speed: float = 1.0  # m/s ... when slower than this
    restart_distance: float = 1.0  # m the stop point must move ahead before a holding vehicle pulls away
    max_lateral_error: float = 2.0  # m beyond which the controller stops: off the trajectory
    odometry_timeout: float = 0.2  # s
    trajectory_timeout: float = 1.0  # s
    status_timeout: float = 0.2  # s

    @property
    def k1(self) -> float:
        return self.lateral_bandwidth**2

    @property
    def k2(self) -> float:
        return 2.0 * self.lateral_damping * self.lateral_bandwidth


@dataclass(frozen=True)
class VehicleState:
    """Rear-axle pose in the map frame and motion, from localization (and the chassis)."""

    x: float  # m
    y: float  # m
    yaw: float  # rad
    speed: float  # m/s, signed
    acceleration: float = 0.0  # m/s^2


@dataclass
class Reference:
    """A trajectory to track: path points with speed, acceleration and curvature per point."""

    path: Path
    velocity: FloatArray
    acceleration: FloatArray
    curvature: FloatArray
    lateral_offset: FloatArray
    behaviour: int = 1
    stamp: float = 0.0  # s, node clock time the trajectory was made

    @classmethod
    def from_points(
        cls,
        xs: list[float],
        ys: list[float],
        velocity: list[float],
        acceleration: list[float] | None = None,
        curvature: list[float] | None = None,
        lateral_offset: list[float] | None = None,
        behaviour: int = 1,
        stamp: float = 0.0,
    ) -> Reference:
        """From trajectory points; repeated points are merged (the path drops them)."""
        x = np.asarray(xs, dtype=np.float64)
        y = np.asarray(ys, dtype=np.float64)
        n = x.size
        if n < 2 or y.size != n or len(velocity) != n:
            raise ValueError("a trajectory needs two or more points with matching fields")
        keep = np.ones(n, dtype=bool)
        keep[1:] = np.hypot(np.diff(x), np.diff(y)) > 1e-6

        def col(values: list[float] | None, default: float) -> FloatArray:
            arr = np.full(n, default) if values is None else np.asarray(values, dtype=np.float64)
            if arr.size != n:
                raise ValueError("trajectory field length mismatch")
            return np.asarray(arr[keep], dtype=np.float64)

        path = Path(x[keep], y[keep])
        v = col(velocity, 0.0)
        if not np.all(np.isfinite(v)) or np.any(v < 0.0):
            raise ValueError("trajectory velocities must be finite and >= 0")
        kap = col(curvature, math.nan)
        kap = np.where(np.isfinite(kap), kap, path.curvature)
        return cls(
            path=path,
            velocity=v,
            acceleration=np.nan_to_num(col(acceleration, 0.0)),
            curvature=kap,
            lateral_offset=np.nan_to_num(col(lateral_offset, 0.0)),
            behaviour=behaviour,
            stamp=stamp,
        )


@dataclass(frozen=True)
class TrackingError:
    lateral: float  # m, vehicle left of the path > 0
    heading: float  # rad, vehicle yaw - path yaw
    speed: float  # m/s, vehicle speed - reference speed
    station: float  # m, arc length of the projection on the reference
    lateral_offset: float  # m, the reference's lateral offset there (curb following: from the road edge)


@dataclass(frozen=True)
class ControlOutput:
    """VehicleCommand fields."""

    enable: bool
    drive_mode: int
    target_speed: float
    target_acceleration: float
    steering_angle: float
    steering_rate: float
    gear: int
    hazard_lights: int
    beacon_light: int
    emergency_stop: bool = False
    park_brake: bool = False
    reason: str = "tracking"  # tracking | standstill | no_trajectory | stale:<inputs> | off_path
    error: TrackingError | None = None


@dataclass
class _Pid:
    integral: float = 0.0
    last_error: float | None = None


@dataclass
class TrajectoryController:
    params: ControllerParams = field(default_factory=ControllerParams)
    reference: Reference | None = None
    _pid: _Pid = field(default_factory=_Pid)
    _hint: int | None = None
    _last_steer: float = 0.0
    _holding: bool = False
    last_error: TrackingError | None = None

    def set_reference(self, ref: Reference) -> None:
        self.reference = ref
        self._hint = None

    def reset(self) -> None:
        self._pid = _Pid()
        self._hint = None

    @staticmethod
    def _distance_to_stop(ref: Reference, s: float) -> float:
        """Distance from s to where the reference comes to a final standstill (the start of its trailing
        run of zero speeds; inf when it ends moving, <= 0 when it stands still everywhere ahead)."""
        moving = np.nonzero(ref.velocity > 1e-3)[0]
        if moving.size == 0:
            return 0.0
        last = int(moving[-1])
        if last == ref.velocity.size - 1:
            return math.inf
        return float(ref.path.s[last + 1] - s)

    def _feedforward_curvature(self, ref: Reference, s: float, speed: float) -> float:
        p = self.params
        s0 = s + max(speed, 0.0) * p.steering_preview_time
        w = max(p.feedforward_window, max(speed, 0.0) * p.feedforward_window_time)
        ss = np.linspace(s0 - 0.5 * w, s0 + 0.5 * w, 9)
        return float(np.mean(np.interp(ss, ref.path.s, ref.curvature)))

    def stop_output(self, state_speed: float, reason: str, sweeping: bool = False) -> ControlOutput:
        """Controlled stop: decelerate to standstill, hold the steering, hazard lights on."""
        p = self.params
        self._pid = _Pid()
        standstill = abs(state_speed) < p.standstill_speed
        return ControlOutput(
            enable=True,
            drive_mode=MODE_SWEEPING if sweeping else MODE_AUTONOMOUS,
            target_speed=0.0,
            target_acceleration=-(p.hold_deceleration if standstill else p.stop_deceleration),
            steering_angle=self._last_steer,
            steering_rate=p.max_steering_rate,
            gear=GEAR_DRIVE,
            hazard_lights=LIGHT_ON,
            beacon_light=LIGHT_ON if sweeping else LIGHT_OFF,
            park_brake=False,
            reason=reason,
            error=self.last_error,
        )

    def update(
        self,
        now: float,
        state: VehicleState,
        dt: float,
        odometry_stamp: float,
        status_stamp: float | None = None,
        sweeping: bool = False,
    ) -> ControlOutput:
        """One control step at time now (s) for a step of dt (s). Stamps are the node clock times of the
        last inputs; status_stamp None means no vehicle status is used."""
        p = self.params
        stale = []
        if now - odometry_stamp > p.odometry_timeout:
            stale.append("odometry")
        if status_stamp is not None and now - status_stamp > p.status_timeout:
            stale.append("vehicle_status")
        ref = self.reference
        if ref is None:
            return self.stop_output(state.speed, "no_trajectory", sweeping)
        if now - ref.stamp > p.trajectory_timeout:
            stale.append("trajectory")
        if stale:
            return self.stop_output(state.speed, "stale:" + ",".join(stale), sweeping)

        window = 20 if self._hint is not None else 0
        pr = ref.path.project(state.x, state.y, hint=self._hint, window=window)
        self._hint = pr.index
        e_y = pr.lateral
        e_psi = wrap_angle(state.yaw - pr.yaw)
        v = max(state.speed, 0.0)
        v_ref_here = float(np.interp(pr.s, ref.path.s, ref.velocity))
        err = TrackingError(
            lateral=e_y,
            heading=e_psi,
            speed=state.speed - v_ref_here,
            station=pr.s,
            lateral_offset=float(np.interp(pr.s, ref.path.s, ref.lateral_offset)),
        )
        self.last_error = err
        if abs(e_y) > p.max_lateral_error or (pr.after_end and pr.s - ref.path.length > 1.0):
            return self.stop_output(state.speed, "off_path", sweeping)

        # lateral
        kff = self._feedforward_curvature(ref, pr.s, v)
        fade = min(1.0, v / p.min_control_speed) if p.min_control_speed > 0 else 1.0
        # heading error measured against a path curving under the vehicle: compensate the ff's own e_psi
        w = min(p.lateral_bandwidth, p.max_lateral_rate / max(v, 0.1))
        k1, k2 = w * w, 2.0 * p.lateral_damping * w
        kappa = kff - fade * (k1 * e_y + k2 * math.sin(e_psi))
        steer = math.atan(p.wheelbase * kappa)
        steer = max(-p.max_steering_angle, min(p.max_steering_angle, steer))
        self._last_steer = steer

        # longitudinal: hold at a stop point once close to it (localization noise and lag must not make the
        # vehicle creep over a stop line); pull away only when the stop point has moved restart_distance on
        d_stop = self._distance_to_stop(ref, pr.s)
        if self._holding and d_stop > p.restart_distance:
            self._holding = False
        elif (
            not self._holding
            and v < p.stop_snap_speed
            and d_stop <= p.stop_snap_distance + v * v / (2.0 * p.stop_snap_deceleration)
        ):
            self._holding = True
        if self._holding:
            self._pid = _Pid()
            return ControlOutput(
                enable=True,
                drive_mode=MODE_SWEEPING if sweeping else MODE_AUTONOMOUS,
                target_speed=0.0,
                target_acceleration=-p.hold_deceleration,
                steering_angle=steer,
                steering_rate=p.max_steering_rate,
                gear=GEAR_DRIVE,
                hazard_lights=LIGHT_OFF,
                beacon_light=LIGHT_ON if sweeping else LIGHT_OFF,
                reason="standstill",
                error=err,
            )
        # the speed target where the vehicle is (the chassis closes its own speed loop on it); the
        # acceleration feed-forward from where it will be once the drive has responded (its lag)
        s_here = pr.s + (v * p.speed_target_preview_time if v > p.standstill_speed else p.min_speed_preview)
        v_target = float(np.interp(s_here, ref.path.s, ref.velocity))
        s_prev = pr.s + v * p.speed_preview_time
        a_ff = float(np.interp(s_prev, ref.path.s, ref.acceleration))
        at_end = pr.s >= ref.path.length - 0.05 or (v_target < 1e-3 and v < p.standstill_speed)
        e_v = v_target - v
        if v > p.standstill_speed and dt > 0.0:
            self._pid.integral += p.ki * e_v * dt
            self._pid.integral = max(-p.integral_limit, min(p.integral_limit, self._pid.integral))
        d_term = 0.0
        if self._pid.last_error is not None and dt > 0.0:
            d_term = p.kd * (e_v - self._pid.last_error) / dt
        self._pid.last_error = e_v
        a_cmd = a_ff + p.kp * e_v + self._pid.integral + d_term
        reason = "tracking"
        if v_target < 1e-3 and v < p.standstill_speed:
            a_cmd = -p.hold_deceleration
            self._pid.integral = 0.0
            reason = "standstill"
        elif at_end and v_target < 1e-3:
            a_cmd = min(a_cmd, 0.0)
        a_cmd = max(-p.max_deceleration, min(p.max_acceleration, a_cmd))
        return ControlOutput(
            enable=True,
            drive_mode=MODE_SWEEPING if sweeping else MODE_AUTONOMOUS,
            target_speed=max(0.0, v_target),
            target_acceleration=a_cmd,
            steering_angle=steer,
            steering_rate=p.max_steering_rate,
            gear=GEAR_DRIVE,
            hazard_lights=LIGHT_OFF,
            beacon_light=LIGHT_ON if sweeping else LIGHT_OFF,
            reason=reason,
            error=err,
        )
