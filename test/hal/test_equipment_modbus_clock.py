"""The Modbus equipment HAL on sim time: a starved HIL rig is not a device fault, a real one is.

The serial link's own timing (cycle pacing, reply timeout) is on the wall clock; what the rest of
the stack sees (command freshness, the link-lost status that ends the work) is on the node clock
and, for link loss, also needs failed wall-clock cycles in a row. The node runs here on /clock
published by the test, against the HIL slave on a pty hub in this process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rclpy.parameter import Parameter
from roadedge_hil.equipment_modbus_slave import UP, EquipmentModel, EquipmentParams, ModbusEquipmentSlave
from roadedge_msgs.msg import WorkEquipmentCommand, WorkEquipmentStatus
from roadedge_nodes.equipment_modbus import LINK_LOST_FAULT, EquipmentModbus
from rosgraph_msgs.msg import Clock

from roadedge import topics
from roadedge.hal.bus import PtyHub
from roadedge.hal.modbus import LinkLoss, RegisterMap
from roadedge.ros.qos import qos_for

ROOT = Path(__file__).resolve().parents[2]
REGMAP = ROOT / "config" / "chassis" / "equipment_modbus.yaml"


# --- the decision itself (pure) -------------------------------------------------------------------------


def test_link_loss_needs_both_clocks() -> None:
    loss = LinkLoss(after_s=2.0, cycles=5)
    loss.good(100.0)
    # rig stall: many failed wall-clock cycles, the node clock stands still
    for _ in range(50):
        loss.failed(100.0)
    assert loss.failed_in_row == 50 and not loss.lost(100.0)
    # a rig faster than real time: seconds of sim time over a few failed cycles
    loss.good(100.0)
    for t in (100.8, 101.6, 102.4, 103.2):
        loss.failed(t)
    assert loss.silent_for(103.2) > 2.0 and not loss.lost(103.2)
    # a real fault: both
    loss.failed(103.3)
    assert loss.lost(103.3)
    loss.good(103.4)  # one good reply ends it
    assert not loss.lost(110.0)


def test_link_loss_window_restarts_when_the_clock_steps_back() -> None:
    loss = LinkLoss(after_s=2.0, cycles=2)
    loss.failed(1000.0)  # the window starts at the first cycle, even without a good reply
    loss.failed(1003.0)
    assert loss.lost(1003.0)
    loss.reset()
    loss.good(5000.0)
    loss.failed(10.0)  # the clock stepped back (sim restarted, system time set back)
    loss.failed(11.0)
    assert not loss.lost(11.0) and loss.lost(12.0)


# --- the node on sim time -----------------------------------------------------------------------------


class Rig:
    """equipment_modbus on /clock from the test, the HIL slave behind a pty hub, a planner stand-in."""

    def __init__(self, ros: Any, tmp_path: Path) -> None:
        self.ros = ros
        self.hub = PtyHub([tmp_path / "slave", tmp_path / "master"], raw=True)
        self.hub.start()
        self.master = self.hub.links[1]
        quick = EquipmentModel(EquipmentParams(brush_travel_s=0.1, speed_lag_s=0.1))  # a quicker test
        self.slave = ModbusEquipmentSlave(
            RegisterMap(REGMAP), str(tmp_path / "slave"), quick, heartbeat_timeout_s=0.8
        )
        self.slave.start()
        self.sim = 1000.0
        self.commanding = True
        self.clock_pub = ros.node.create_publisher(Clock, topics.CLOCK.name, qos_for(topics.CLOCK))
        self.cmd_pub = ros.node.create_publisher(
            WorkEquipmentCommand, topics.EQUIPMENT_COMMAND.name, qos_for(topics.EQUIPMENT_COMMAND)
        )
        self.status: list[WorkEquipmentStatus] = ros.collect(
            WorkEquipmentStatus, topics.EQUIPMENT_STATUS.name
        )
        self.publish_clock()
        params = {
            "use_sim_time": True,
            "port": str(self.master),
            "rate": 20.0,
            "reconnect_period": 0.1,
            "command_timeout": 0.5,
            "link_lost_after": 2.0,
            "link_lost_cycles": 5,
        }
        self.node = EquipmentModbus(
            context=ros.context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]
        )
        ros.add_node(self.node)
        ros.wait_for_matched(self.cmd_pub)

    def publish_clock(self) -> None:
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = int(self.sim), round((self.sim % 1.0) * 1e9) % 1_000_000_000
        self.clock_pub.publish(msg)

    def step(self, sim_s: float = 0.1, wall_s: float = 0.05) -> None:
        """One step of the rig: sim time advances, the planner commands, wall time passes."""
        self.sim += sim_s
        self.publish_clock()
        if self.commanding:
            cmd = WorkEquipmentCommand(enable=True, main_brush=1, side_brush_left=1, main_brush_speed=12.0)
            cmd.suction_fan_speed, cmd.water_spray_flow = 0.6, 2.0
            cmd.header.stamp.sec, cmd.header.stamp.nanosec = int(self.sim), 0
            self.cmd_pub.publish(cmd)
        self.ros.spin_for(wall_s)

    def run_until(self, predicate: Callable[[], bool], sim_limit: float, what: str, **step: float) -> float:
        """Step until ``predicate``; returns the sim time it took."""
        start = self.sim
        while not predicate():
            if self.sim - start > sim_limit:
                raise AssertionError(f"no {what} within {sim_limit} s of sim time")
            self.step(**step)
        return self.sim - start

    def lost_seen(self) -> bool:
        return any(LINK_LOST_FAULT in s.fault_codes for s in self.status)

    def good_status(self) -> bool:
        return (
            bool(self.status)
            and not list(self.status[-1].fault_codes)
            and self.node.link_loss.failed_in_row == 0
        )

    def close(self) -> None:
        self.node.on_safe_stop()
        self.ros.executor.remove_node(self.node)
        self.node.destroy_node()
        self.slave.stop()
        self.hub.stop()


@pytest.fixture
def rig(ros: Any, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(ros, tmp_path)
    try:
        yield r
    finally:
        r.close()


def wall_wait(rig: Rig, predicate: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        rig.ros.spin_for(0.02)


pytestmark = pytest.mark.dds


def test_rig_stall_is_no_device_fault_but_an_unplug_is(rig: Rig) -> None:
    model, loss = rig.slave.model, rig.node.link_loss
    rig.run_until(
        lambda: (
            rig.good_status() and rig.status[-1].main_brush == 1 and rig.status[-1].suction_fan_speed > 0.5
        ),
        20.0,
        "status with the main brush down",
    )

    # 1. The whole rig stalls: wall time passes, sim time does not (no /clock, no planner command), and
    # the controller does not answer meanwhile. Neither the command timeout nor link loss may fire.
    rig.hub.mute_to.add(rig.master)
    wall_wait(rig, lambda: loss.failed_in_row >= 8, 5.0, "failed cycles during the stall")
    rig.ros.spin_for(0.6)  # past command_timeout (0.5 s) in wall time
    assert not loss.lost(rig.node.decision_time()) and not rig.lost_seen()
    assert model.command.get("enable") and model.command.get("main_brush") == 1  # still the planner's
    rig.hub.mute_to.discard(rig.master)
    rig.run_until(rig.good_status, 5.0, "good status after the stall")

    # 2. A rig faster than real time: a short wall-clock hiccup spans more sim time than link_lost_after.
    rig.hub.mute_to.add(rig.master)
    for _ in range(7):
        rig.step(sim_s=0.4, wall_s=0.01)  # 2.8 s of sim time in a few failed cycles
    rig.hub.mute_to.discard(rig.master)
    rig.run_until(rig.good_status, 5.0, "good status after the hiccup")
    assert not rig.lost_seen()

    # 3. Garbage on the line: counted, never actuated, not a lost link while it is short.
    crc_before = rig.node.link.events.counts.get("crc_error", 0) if rig.node.link else 0
    rig.hub.noise_to[rig.master] = b"\x00\xff\x13\x37garbage"
    wall_wait(rig, lambda: loss.failed_in_row >= 2, 5.0, "cycles with garbage")
    del rig.hub.noise_to[rig.master]
    assert rig.node.link is not None and rig.node.link.events.counts.get("crc_error", 0) > crc_before
    assert model.command.get("enable") and model.command.get("main_brush") == 1
    rig.run_until(rig.good_status, 5.0, "good status after the garbage")
    assert not rig.lost_seen()

    # 4. A real unplug with sim time running: link lost within link_lost_after (+ cycles and a publish)
    # of sim time, and the controller's own watchdog leaves the equipment safe.
    rig.hub.unplug(rig.master)
    took = rig.run_until(rig.lost_seen, 6.0, "link-lost status", sim_s=0.2)
    assert 1.8 <= took <= 3.0, took
    assert not rig.status[-1].enabled and list(rig.status[-1].fault_codes) == [LINK_LOST_FAULT]
    wall_wait(
        rig,
        lambda: (
            (f := model.fields())["main_brush"] == UP
            and f["side_brush_left"] == UP
            and f["suction_fan_speed"] < 0.05
            and f["water_spray_flow"] < 0.05
        ),
        5.0,
        "equipment safe after the unplug",
    )
    rig.hub.replug(rig.master)
    rig.run_until(rig.good_status, 10.0, "good status after the replug")


def test_stale_command_puts_the_equipment_in_the_safe_state_on_sim_time(rig: Rig) -> None:
    model = rig.slave.model
    rig.run_until(lambda: bool(model.command.get("enable")), 20.0, "the planner's command at the slave")
    # the planner stops commanding while sim time runs on, 4x faster than wall time: after
    # command_timeout (0.5 s) of sim time, not of wall time, the master writes the safe state (the
    # link is up: this is not the slave's own watchdog)
    rig.commanding = False
    took = rig.run_until(
        lambda: not model.command.get("enable"), 5.0, "the safe state written", sim_s=0.1, wall_s=0.025
    )
    assert 0.35 <= took <= 1.5, took
    assert rig.slave.watchdog_trips == 0 and rig.node.link is not None and rig.node.link.connected
    wall_wait(
        rig,
        lambda: (f := model.fields())["main_brush"] == UP and f["suction_fan_speed"] < 0.05,
        5.0,
        "brushes up and fan off",
    )
