"""Drivers are lifecycle nodes that fail into a safe state; every node leaves actuators safe on
SIGINT and SIGTERM."""

from __future__ import annotations

import signal
from dataclasses import dataclass

import pytest
import rclpy
from rclpy.parameter import Parameter
from roadedge_msgs.msg import VehicleCommand, VehicleStatus

from roadedge import topics
from roadedge.config import ConfigError, param
from roadedge.ros.node import RoadedgeLifecycleNode
from roadedge.ros.qos import qos_for

pytestmark = pytest.mark.dds


@dataclass(frozen=True)
class DriverConfig:
    port: str = param("/dev/null", help="device")


class FakeDeviceDriver(RoadedgeLifecycleNode[DriverConfig]):
    """A driver whose device is a flag; records what the base calls."""

    Schema = DriverConfig
    default_name = "driver_under_test"

    def __init__(self, **kwargs) -> None:
        self.calls: list[str] = []
        self.device_ok = True
        super().__init__(**kwargs)

    def open_device(self) -> bool:
        self.calls.append("open")
        return self.device_ok

    def start_output(self) -> None:
        self.calls.append("start")

    def stop_output(self) -> None:
        self.calls.append("stop")

    def close_device(self) -> None:
        self.calls.append("close")


def test_driver_autostarts_and_a_fault_deactivates_into_the_safe_state(ros) -> None:
    driver = FakeDeviceDriver(context=ros.context)
    ros.add_node(driver)
    ros.spin_until(lambda: driver.active, 5.0, "autostart to active")
    assert driver.calls == ["open", "start"]
    driver.fault_to_inactive("bus off")
    assert not driver.active
    assert driver.calls[-2:] == ["stop", "stop"]  # immediate safe state, then the deactivate transition
    driver.destroy_node()


def test_driver_without_autostart_waits_and_a_failed_open_stays_unconfigured(ros) -> None:
    driver = FakeDeviceDriver(context=ros.context, parameter_overrides=[Parameter("autostart", value=False)])
    ros.add_node(driver)
    ros.spin_for(0.2)
    assert driver.calls == []
    driver.device_ok = False
    driver.trigger_configure()
    assert driver._state_machine.current_state[1] == "unconfigured"
    driver.destroy_node()


def test_autostart_must_be_a_boolean(ros) -> None:
    with pytest.raises(ConfigError, match="autostart"):
        FakeDeviceDriver(context=ros.context, parameter_overrides=[Parameter("autostart", value="yes")])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_controller_disables_actuation_when_stopped_by_signal(ros, node_process, sig) -> None:
    commands = ros.collect(VehicleCommand, topics.VEHICLE_COMMAND.name)
    status_pub = ros.node.create_publisher(
        VehicleStatus, topics.VEHICLE_STATUS.name, qos_for(topics.VEHICLE_STATUS)
    )
    ros.node.create_timer(0.02, lambda: status_pub.publish(VehicleStatus(speed=1.0)))
    controller = node_process("speed_controller")
    ros.spin_until(lambda: len(commands) > 10 and commands[-1].enable, 20.0, "enabled commands")
    assert controller.stop(sig) == 0
    ros.spin_for(0.3)
    assert commands[-1].enable is False
    assert rclpy.ok(context=ros.context)


def test_composed_profiles_run_single_threaded_by_default() -> None:
    """`roadedge run` composes a profile on one single-threaded executor unless --threads says
    otherwise: under rclpy's multi-threaded one the vehicle stack on the HIL rig could not keep its
    rates (odometry 16-24 Hz instead of 50) while using more than a core."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

    from roadedge.cli import build_parser
    from roadedge.ros.runner import make_executor

    assert build_parser().parse_args(["run", "vehicle"]).threads == 1
    assert build_parser().parse_args(["run", "vehicle", "--threads", "2"]).threads == 2
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        for threads, kind in ((1, SingleThreadedExecutor), (2, MultiThreadedExecutor)):
            executor = make_executor(threads, context) if threads > 1 else make_executor(context=context)
            assert isinstance(executor, kind)
            executor.shutdown()
    finally:
        rclpy.shutdown(context=context)
