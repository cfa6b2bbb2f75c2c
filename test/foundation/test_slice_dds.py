"""First vertical slice over real DDS: speed controller drives the emulated chassis to a target speed."""

from __future__ import annotations

from pathlib import Path

import pytest
from roadedge_msgs.msg import VehicleCommand, VehicleStatus

from roadedge import topics

ROOT = Path(__file__).resolve().parents[2]
SLICE = ROOT / "config" / "hil" / "slice.yaml"

pytestmark = pytest.mark.dds


def test_slice_reaches_and_holds_target_speed(ros, node_process) -> None:
    status = ros.collect(VehicleStatus, topics.VEHICLE_STATUS.name)
    commands = ros.collect(VehicleCommand, topics.VEHICLE_COMMAND.name)
    node_process("chassis_emulator", SLICE)
    controller = node_process("speed_controller", SLICE)
    ros.spin_until(lambda: len(status) > 0 and len(commands) > 0, 20.0, "status and commands")
    ros.spin_until(lambda: abs(status[-1].speed - 3.0) < 0.15, 30.0, "speed within 0.15 m/s of 3.0")
    # Holding: the next 2 s of samples stay near the target.
    start = len(status)
    ros.spin_until(lambda: len(status) - start >= 100, 10.0, "100 more status samples")
    held = [s.speed for s in status[start:]]
    assert max(abs(v - 3.0) for v in held) < 0.25, held
    assert all(c.enable for c in commands[-50:])
    # SIGTERM: the controller leaves the vehicle safe (its last command disables actuation).
    assert controller.stop() == 0
    ros.spin_for(0.3)
    assert commands[-1].enable is False
