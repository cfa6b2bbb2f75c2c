"""The safety watchdog, fault by fault, with an injected clock (50 Hz steps)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from roadedge.hal.safety import (
    MODE_AUTONOMOUS,
    MODE_MANUAL,
    MODE_SWEEPING,
    Fault,
    SafetyLimits,
    SafetyWatchdog,
)

DT = 0.02
LIM = SafetyLimits()


def drive(speed: float = 2.0, mode: int = MODE_AUTONOMOUS, **extra: object) -> dict[str, object]:
    return {"enable": True, "drive_mode": mode, "gear": 4, "target_speed": speed, **extra}


class Rig:
    """Watchdog + a vehicle that follows the commanded speed exactly."""

    def __init__(self) -> None:
        self.t = 0.0
        self.wd = SafetyWatchdog(LIM, now=0.0)
        self.out = self.wd.step(0.0)

    def run(
        self, seconds: float, command: dict[str, object] | None = None, each: Callable[[], None] | None = None
    ):
        for _ in range(round(seconds / DT)):
            self.t += DT
            if command is not None:
                self.wd.command(command, self.t)
            if each:
                each()
            self.out = self.wd.step(self.t)
            self.wd.feedback(speed=float(self.out.fields["target_speed"]))
            self.wd.stale_feedback([])
        return self.out

    def cruising(self) -> Rig:
        self.run(3.0, drive(2.0))
        assert not self.out.stopping and self.out.fields["target_speed"] == pytest.approx(2.0)
        return self


def assert_controlled_stop(rig: Rig, fault: Fault, estop: bool = False) -> None:
    out = rig.out
    assert out.stopping and fault in out.faults
    assert out.fields["enable"] is True and out.fields["hazard_lights"] == 1
    assert out.fields["emergency_stop"] is estop
    decel = LIM.estop_decel if estop else LIM.stop_decel
    assert out.fields["target_acceleration"] == -decel
    assert rig.wd.detected_at[fault] <= rig.t  # detected, and the stop is in this very step


def test_fresh_enabled_command_passes_through() -> None:
    rig = Rig().cruising()
    assert rig.out.faults == frozenset()
    assert rig.out.fields["gear"] == 4


def test_command_timeout_stops_within_one_cycle() -> None:
    rig = Rig().cruising()
    last = rig.t
    # no more commands: fault exactly when the timeout passes, stop in that step
    while not rig.out.stopping:
        rig.run(DT)
    assert rig.t - last <= LIM.command_timeout_s + DT + 1e-9
    assert_controlled_stop(rig, Fault.COMMAND_TIMEOUT)
    speeds = []
    rig.run(1.5, each=lambda: speeds.append(float(rig.out.fields["target_speed"])))
    assert speeds == sorted(speeds, reverse=True) and speeds[-1] == 0.0
    assert rig.out.fields["park_brake"] is True
    # commands come back: the latch clears at standstill, driving resumes
    rig.run(1.0, drive(1.0))
    assert not rig.out.stopping and rig.out.fields["target_speed"] > 0.5


def test_stale_command_stamp_is_rejected_and_counted() -> None:
    rig = Rig().cruising()
    assert not rig.wd.command(drive(3.0), rig.t, age=1.0)
    assert not rig.wd.command(drive(3.0, gear=9), rig.t)
    assert not rig.wd.command(drive(3.0, mode=7), rig.t)
    assert rig.wd.counters.rejected_commands == 3
    while not rig.out.stopping:  # the rejected commands never refresh the watchdog
        rig.run(DT, drive(3.0, gear=9))
    assert Fault.COMMAND_TIMEOUT in rig.out.faults


def test_emergency_stop_input_is_latched_until_rearmed() -> None:
    rig = Rig().cruising()
    rig.wd.estop_input(True)
    rig.run(DT, drive(2.0))
    assert_controlled_stop(rig, Fault.EMERGENCY_STOP_INPUT, estop=True)
    rig.wd.estop_input(False)
    rig.run(2.0, drive(2.0))
    assert rig.out.stopping  # still latched: no re-arm yet
    assert rig.out.fields["target_speed"] == 0.0
    rig.run(0.1, {"enable": False, "drive_mode": MODE_AUTONOMOUS})
    rig.run(1.0, drive(1.0))
    assert not rig.out.stopping


def test_emergency_stop_command() -> None:
    rig = Rig().cruising()
    rig.run(DT, drive(2.0, emergency_stop=True))
    assert_controlled_stop(rig, Fault.EMERGENCY_STOP_COMMAND, estop=True)


def test_stale_feedback() -> None:
    rig = Rig().cruising()
    rig.wd.stale_feedback(["VCU_DriveStatus"])
    rig.t += DT
    rig.wd.command(drive(2.0), rig.t)
    rig.out = rig.wd.step(rig.t)
    assert_controlled_stop(rig, Fault.FEEDBACK_STALE)


def test_missing_feedback_within_grace_after_start_is_not_a_fault() -> None:
    wd = SafetyWatchdog(LIM, now=0.0)
    wd.stale_feedback(["VCU_DriveStatus"])
    wd.command(drive(1.0), 0.5)
    assert Fault.FEEDBACK_STALE not in wd.step(0.5).faults
    wd.command(drive(1.0), LIM.feedback_grace_s + 0.1)
    assert Fault.FEEDBACK_STALE in wd.step(LIM.feedback_grace_s + 0.1).faults


def test_bus_down_and_reconnect() -> None:
    rig = Rig().cruising()
    rig.wd.bus_state(False, rig.t)
    rig.run(DT, drive(2.0))
    assert_controlled_stop(rig, Fault.BUS_DOWN)
    rig.wd.bus_state(True, rig.t)
    rig.run(2.0, drive(2.0))
    assert Fault.BUS_DOWN not in rig.out.faults


def test_frame_integrity_errors_are_counted_and_stop_past_the_threshold() -> None:
    rig = Rig().cruising()
    rig.wd.rx_error("checksum", rig.t)
    rig.wd.rx_error("counter_repeated", rig.t)
    rig.run(DT, drive(2.0))
    assert not rig.out.stopping  # two isolated errors: counted only
    rig.wd.rx_error("checksum", rig.t)
    rig.run(DT, drive(2.0))
    assert_controlled_stop(rig, Fault.FRAME_INTEGRITY)
    assert rig.wd.counters.rx_errors == {"checksum": 2, "counter_repeated": 1}


def test_enable_false_brings_a_controlled_stop_without_fault() -> None:
    rig = Rig().cruising()
    rig.run(DT, {"enable": False, "drive_mode": MODE_AUTONOMOUS})
    assert rig.out.stopping and rig.out.faults == frozenset()


def test_max_speed_depends_on_mode() -> None:
    rig = Rig()
    rig.run(6.0, drive(20.0, mode=MODE_SWEEPING))
    assert rig.out.fields["target_speed"] == pytest.approx(LIM.max_speed_sweeping)
    assert "target_speed" in rig.out.clamped
    rig.run(8.0, drive(20.0, mode=MODE_AUTONOMOUS))
    assert rig.out.fields["target_speed"] == pytest.approx(LIM.max_speed_autonomous)


def test_acceleration_and_jerk_limits() -> None:
    rig = Rig()
    speeds = []
    rig.run(5.0, drive(6.0), each=lambda: speeds.append(float(rig.out.fields["target_speed"])))
    accels = [(b - a) / DT for a, b in itertools.pairwise(speeds)]
    jerks = [(b - a) / DT for a, b in itertools.pairwise(accels)]
    assert max(accels) <= LIM.max_accel + 1e-6
    # jerk limited, except the final snap onto the target (less than 0.01 m/s of speed)
    arrive = speeds.index(6.0)
    assert 6.0 - speeds[arrive - 1] < 0.01
    assert max(abs(j) for j in jerks[: arrive - 2]) <= LIM.max_jerk + 1e-6
    assert speeds[-1] == pytest.approx(6.0)
    out = rig.run(DT, drive(6.0, target_acceleration=-9.0))
    assert out.fields["target_acceleration"] == -LIM.max_decel


def test_steering_angle_and_rate_limits() -> None:
    rig = Rig()
    angles = []
    rig.run(
        2.0,
        drive(1.0, steering_angle=1.2),
        each=lambda: angles.append(float(rig.out.fields["steering_angle"])),
    )
    steps = [abs(b - a) for a, b in itertools.pairwise(angles)]
    assert max(steps) <= LIM.max_steering_rate * DT + 1e-9
    assert angles[-1] == pytest.approx(LIM.max_steering_angle)
    out = rig.run(DT, drive(1.0, steering_angle=0.0, steering_rate=5.0))
    assert out.fields["steering_rate"] == LIM.max_steering_rate and "steering_rate" in out.clamped


def test_manual_mode_sends_no_actuation_and_nan_is_safe() -> None:
    rig = Rig()
    out = rig.run(0.2, drive(2.0, mode=MODE_MANUAL))
    assert out.fields["enable"] is False
    out = rig.run(0.2, drive(float("nan"), steering_angle=float("inf")))
    assert out.fields["target_speed"] == 0.0 and out.fields["steering_angle"] == 0.0


def test_set_drive_mode_refuses_while_latched() -> None:
    rig = Rig().cruising()
    rig.wd.estop_input(True)
    rig.run(DT, drive(2.0))
    ok, why = rig.wd.request_mode(MODE_SWEEPING)
    assert not ok and "emergency_stop_input" in why
    assert rig.wd.request_mode(9)[0] is False
    assert rig.wd.request_mode(MODE_MANUAL)[0] is True


def test_remote_stop_is_a_controlled_stop_held_while_active() -> None:
    rig = Rig().cruising()
    rig.wd.remote_stop(True)
    rig.run(DT, drive(2.0))
    assert_controlled_stop(rig, Fault.REMOTE_STOP)
    rig.run(3.0, drive(2.0))  # fresh commands do not override the operations centre's stop
    assert rig.out.stopping and rig.out.fields["target_speed"] == 0.0
    rig.wd.remote_stop(False)
    rig.run(1.0, drive(1.0))  # released: not an e-stop, no re-arm needed
    assert not rig.out.stopping and rig.out.fields["target_speed"] > 0.5
