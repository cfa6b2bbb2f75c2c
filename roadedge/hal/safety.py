"""The safety watchdog of roadedge: the one place that decides what reaches the actuators.

Every cycle the chassis HAL asks :meth:`SafetyWatchdog.step` for the command to send. The
watchdog passes a fresh, enabled command through the limits (steering angle and rate,
acceleration and jerk, maximum speed per drive mode) and replaces it with a controlled
stop when any fault is present:

======================  ==============================================================
fault                   condition
======================  ==============================================================
command_timeout         no fresh command for ``command_timeout_s`` after an enabled one
emergency_stop_input    the e-stop input (chassis e-stop button, remote e-stop) is active
emergency_stop_command  a command asked for an emergency stop (latched)
feedback_stale          a status frame with a timeout was not received in time
bus_down                the CAN bus reported bus-off or the device disappeared
frame_integrity         ``integrity_max_errors`` checksum/counter/decode rejections within
                        ``integrity_window_s``
======================  ==============================================================

A controlled stop keeps the chassis in autonomy, ramps the target speed to zero at
``stop_decel`` (``estop_decel`` and the e-stop flag for the e-stop faults), holds the
steering angle, turns the hazard lights on and sets the parking brake at standstill. Since
the stop is produced by the next ``step`` (50 Hz) and e-stop inputs request an immediate
extra frame, it reaches the bus within one cycle of detection.

A stop stays latched until its condition is gone and the vehicle stands still; the
e-stop faults also need a re-arm (a command with ``enable`` false and no e-stop flag).
The watchdog is pure: the caller passes the time (``now``, seconds, any monotonic clock).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

MODE_MANUAL, MODE_AUTONOMOUS, MODE_SWEEPING, MODE_REMOTE = 0, 1, 2, 3
MODES = (MODE_MANUAL, MODE_AUTONOMOUS, MODE_SWEEPING, MODE_REMOTE)
GEAR_PARK, GEAR_REVERSE = 1, 2
GEARS = (0, 1, 2, 3, 4)


class Fault(str, Enum):
    COMMAND_TIMEOUT = "command_timeout"
    EMERGENCY_STOP_INPUT = "emergency_stop_input"
    EMERGENCY_STOP_COMMAND = "emergency_stop_command"
    FEEDBACK_STALE = "feedback_stale"
    BUS_DOWN = "bus_down"
    FRAME_INTEGRITY = "frame_integrity"
    REMOTE_STOP = "remote_stop"  # operations centre's signed stop (cloud link): controlled, not an e-stop


ESTOP_FAULTS = frozenset({Fault.EMERGENCY_STOP_INPUT, Fault.EMERGENCY_STOP_COMMAND})


@dataclass(frozen=True)
class SafetyLimits:
    """Limits and timings of the watchdog (parameters of the chassis HAL)."""

    command_timeout_s: float = 0.2
    max_steering_angle: float = 0.6  # rad
    max_steering_rate: float = 0.8  # rad/s
    max_accel: float = 1.5  # m/s^2
    max_decel: float = 3.0  # m/s^2 (positive number)
    max_jerk: float = 4.0  # m/s^3
    max_speed_autonomous: float = 8.0  # m/s
    max_speed_sweeping: float = 2.5
    max_speed_remote: float = 3.0
    stop_decel: float = 2.0  # controlled stop
    estop_decel: float = 5.0  # emergency stop
    standstill_speed: float = 0.1
    integrity_max_errors: int = 3
    integrity_window_s: float = 1.0
    feedback_grace_s: float = 1.0  # after start/reconnect before missing feedback counts

    def max_speed(self, mode: int) -> float:
        return {
            MODE_AUTONOMOUS: self.max_speed_autonomous,
            MODE_SWEEPING: self.max_speed_sweeping,
            MODE_REMOTE: self.max_speed_remote,
        }.get(mode, 0.0)


@dataclass
class Output:
    """What to send this cycle, and why."""

    fields: dict[str, Any]
    stopping: bool
    faults: frozenset[Fault]
    clamped: tuple[str, ...] = ()


@dataclass
class _Counters:
    rejected_commands: int = 0
    clamps: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    rx_errors: dict[str, int] = field(default_factory=dict)


class SafetyWatchdog:
    """Command watchdog, e-stop, limits, stale feedback, bus and frame-integrity faults."""

    def __init__(self, limits: SafetyLimits, now: float) -> None:
        self.limits = limits
        self.counters = _Counters()
        self._start = now
        self._command: dict[str, Any] | None = None
        self._command_time = -math.inf
        self._ever_enabled = False
        self._estop_input = False
        self._estop_command = False
        self._remote_stop = False
        self._stale: tuple[str, ...] = ()
        self._bus_ok = True
        self._bus_since = now
        self._bus_went_down = False
        self._rx_errors: list[float] = []
        self._latched: set[Fault] = set()
        self._rearmed = True
        self._mode_override: int | None = None
        self._speed = 0.0  # measured
        self._v_out = 0.0  # last commanded target speed
        self._a_out = 0.0  # last commanded acceleration of the speed profile
        self._steer_out = 0.0
        self._steer_measured: float | None = None
        self._last_step: float | None = None
        self.detected_at: dict[Fault, float] = {}

    # --- inputs ---------------------------------------------------------------------------
    def command(self, fields: Mapping[str, Any], now: float, age: float = 0.0) -> bool:
        """A command arrived; ``age`` is now minus its header stamp. False if rejected as stale."""
        if age > self.limits.command_timeout_s or age < -self.limits.command_timeout_s:
            self.counters.rejected_commands += 1
            return False
        if int(fields.get("drive_mode", MODE_MANUAL)) not in MODES or int(fields.get("gear", 0)) not in GEARS:
            self.counters.rejected_commands += 1  # not a command this chassis can be given: dropped
            return False
        self._command = dict(fields)
        self._command_time = now
        if bool(fields.get("enable", False)):
            self._ever_enabled = True
        if bool(fields.get("emergency_stop", False)):
            self._estop_command = True
        elif not bool(fields.get("enable", False)):
            self._rearmed = True
            self._estop_command = False
        return True

    def estop_input(self, active: bool) -> None:
        self._estop_input = active

    def remote_stop(self, active: bool) -> None:
        """Remote controlled stop from the operations centre; holds while active."""
        self._remote_stop = active

    def feedback(self, speed: float | None = None, steering_angle: float | None = None) -> None:
        if speed is not None and math.isfinite(speed):
            self._speed = speed
        if steering_angle is not None and math.isfinite(steering_angle):
            self._steer_measured = steering_angle

    def stale_feedback(self, frames: list[str]) -> None:
        self._stale = tuple(frames)

    def bus_state(self, ok: bool, now: float) -> None:
        if ok and not self._bus_ok:
            self._bus_since = now  # feedback grace restarts after a reconnect
        if not ok:
            self._bus_went_down = True  # latched by the next step even if the bus is back by then
        self._bus_ok = ok

    def rx_error(self, kind: str, now: float) -> None:
        self.counters.rx_errors[kind] = self.counters.rx_errors.get(kind, 0) + 1
        self._rx_errors.append(now)

    def request_mode(self, mode: int) -> tuple[bool, str]:
        """SetDriveMode: refuse unknown modes, leaving manual is refused while a stop is latched."""
        if mode not in MODES:
            return False, f"unknown drive mode {mode}"
        if mode != MODE_MANUAL and self._latched:
            return False, "controlled stop latched: " + ", ".join(sorted(f.value for f in self._latched))
        if mode != MODE_MANUAL and abs(self._speed) > self.limits.max_speed(mode) + 0.5:
            return False, f"speed {self._speed:.1f} m/s above the limit of mode {mode}"
        self._mode_override = mode
        return True, "ok"

    # --- evaluation -----------------------------------------------------------------------
    def active_faults(self, now: float) -> set[Fault]:
        lim = self.limits
        faults: set[Fault] = set()
        if self._ever_enabled and now - self._command_time > lim.command_timeout_s:
            faults.add(Fault.COMMAND_TIMEOUT)
        if self._estop_input:
            faults.add(Fault.EMERGENCY_STOP_INPUT)
        if self._estop_command:
            faults.add(Fault.EMERGENCY_STOP_COMMAND)
        if self._remote_stop:
            faults.add(Fault.REMOTE_STOP)
        if self._stale and now - max(self._start, self._bus_since) > lim.feedback_grace_s:
            faults.add(Fault.FEEDBACK_STALE)
        if not self._bus_ok or self._bus_went_down:
            faults.add(Fault.BUS_DOWN)
        self._rx_errors = [t for t in self._rx_errors if now - t <= lim.integrity_window_s]
        if len(self._rx_errors) >= lim.integrity_max_errors:
            faults.add(Fault.FRAME_INTEGRITY)
        return faults

    def _update_latch(self, faults: set[Fault], now: float) -> None:
        for fault in faults - self._latched:
            self.counters.faults[fault.value] = self.counters.faults.get(fault.value, 0) + 1
            self.detected_at[fault] = now
            if fault in ESTOP_FAULTS:
                self._rearmed = False
        self._latched |= faults
        standstill = abs(self._speed) < self.limits.standstill_speed and abs(self._v_out) < 1e-6
        for fault in list(self._latched - faults):
            if not standstill:
                continue
            if fault in ESTOP_FAULTS and not self._rearmed:
                continue
            self._latched.discard(fault)

    def mode(self) -> int:
        if self._mode_override is not None:
            return self._mode_override
        return int((self._command or {}).get("drive_mode", MODE_MANUAL))

    def step(self, now: float) -> Output:
        """The command fields to send now."""
        dt = 0.02 if self._last_step is None else min(max(now - self._last_step, 0.0), 0.2)
        self._last_step = now
        faults = self.active_faults(now)
        self._update_latch(faults, now)
        self._bus_went_down = False
        cmd = dict(self._command or {})
        mode = self.mode()
        cmd["drive_mode"] = mode
        if mode == MODE_MANUAL and not (self._latched & ESTOP_FAULTS):
            # driver in control: no actuation at all
            self._v_out, self._a_out = abs(self._speed), 0.0
            self._steer_out = self._steer_measured or 0.0
            cmd.update(
                enable=False,
                target_speed=0.0,
                target_acceleration=0.0,
                steering_angle=self._steer_out,
                steering_rate=0.0,
                throttle=0.0,
                brake=0.0,
                emergency_stop=False,
            )
            return Output(cmd, False, frozenset(self._latched))
        if self._latched or not bool(cmd.get("enable", False)):
            return Output(self._stop(cmd, dt), True, frozenset(self._latched))
        return self._limited(cmd, mode, dt)

    def _stop(self, cmd: dict[str, Any], dt: float) -> dict[str, Any]:
        lim = self.limits
        estop = bool(self._latched & ESTOP_FAULTS)
        decel = lim.estop_decel if estop else lim.stop_decel
        if self._command is None or not self._ever_enabled:
            self._v_out = 0.0
        self._v_out = max(0.0, self._v_out - decel * dt)
        self._a_out = -decel if self._v_out > 0.0 else 0.0
        standstill = abs(self._speed) < lim.standstill_speed and self._v_out == 0.0
        cmd.update(
            enable=True,
            target_speed=self._v_out,
            target_acceleration=-decel,
            steering_angle=self._steer_out,
            steering_rate=0.0,
            use_pedals=False,
            throttle=0.0,
            brake=0.0,
            emergency_stop=estop,
            hazard_lights=1,
            park_brake=standstill,
        )
        if cmd["drive_mode"] == MODE_MANUAL:
            cmd["drive_mode"] = MODE_AUTONOMOUS
        if not self._ever_enabled and not estop:
            cmd["enable"] = False  # never actuated: nothing to stop
        return cmd

    def _clamp(self, name: str, value: float, lo: float, hi: float, clamped: list[str]) -> float:
        if not math.isfinite(value):
            clamped.append(name)
            return 0.0 if lo <= 0.0 <= hi else lo
        if value < lo or value > hi:
            clamped.append(name)
            self.counters.clamps[name] = self.counters.clamps.get(name, 0) + 1
            return min(max(value, lo), hi)
        return value

    def _limited(self, cmd: dict[str, Any], mode: int, dt: float) -> Output:
        lim = self.limits
        clamped: list[str] = []
        speed_limit = lim.max_speed(mode)
        v_target = self._clamp("target_speed", float(cmd.get("target_speed", 0.0)), 0.0, speed_limit, clamped)
        accel = float(cmd.get("target_acceleration", 0.0))
        a_ff = self._clamp("target_acceleration", accel, -lim.max_decel, lim.max_accel, clamped)
        # jerk-limited speed profile towards the target (acceleration reaches 0 with the target)
        if self._v_out > abs(self._speed) + 1.0:
            self._v_out = abs(self._speed) + 1.0  # never run away from the real vehicle
        error = v_target - self._v_out
        a_wanted = math.copysign(math.sqrt(2.0 * lim.max_jerk * abs(error)), error)
        a_wanted = max(-lim.max_decel, min(lim.max_accel, a_wanted))
        reach = error / max(dt, 1e-3)  # the acceleration that reaches the target in one step
        a_wanted = min(a_wanted, reach) if error > 0 else max(a_wanted, reach)
        a_step = lim.max_jerk * dt
        a = max(self._a_out - a_step, min(self._a_out + a_step, a_wanted))
        v_new = self._v_out + a * dt
        if (error >= 0 and v_new >= v_target) or (error <= 0 and v_new <= v_target):
            v_new, a = v_target, 0.0
        self._v_out, self._a_out = max(v_new, 0.0), a
        cmd["target_speed"] = self._v_out
        cmd["target_acceleration"] = a_ff
        # steering angle and rate
        max_angle = lim.max_steering_angle
        angle = float(cmd.get("steering_angle", 0.0))
        angle = self._clamp("steering_angle", angle, -max_angle, max_angle, clamped)
        rate = float(cmd.get("steering_rate", 0.0))
        rate = lim.max_steering_rate if rate <= 0.0 or not math.isfinite(rate) else rate
        rate = self._clamp("steering_rate", rate, 0.0, lim.max_steering_rate, clamped)
        step = rate * dt
        self._steer_out = max(self._steer_out - step, min(self._steer_out + step, angle))
        cmd["steering_angle"] = self._steer_out
        cmd["steering_rate"] = rate
        cmd["throttle"] = self._clamp("throttle", float(cmd.get("throttle", 0.0)), 0.0, 1.0, clamped)
        cmd["brake"] = self._clamp("brake", float(cmd.get("brake", 0.0)), 0.0, 1.0, clamped)
        if cmd.get("park_brake") and abs(self._speed) >= lim.standstill_speed:
            cmd["park_brake"] = False  # only honoured at standstill
            clamped.append("park_brake")
        cmd["emergency_stop"] = False
        return Output(cmd, False, frozenset(), tuple(clamped))
