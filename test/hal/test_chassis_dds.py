"""Closed loop across processes over DDS and CAN:

speed_controller -> /vehicle/command -> chassis_hal -> CAN (pty hub) -> chassis_ecu (plant)
-> CAN -> chassis_hal -> /vehicle/status -> speed_controller; work equipment on CAN; faults
injected through roadedge_msgs/srv/InjectFault end in a controlled stop and a diagnostic.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from roadedge_msgs.msg import VehicleStatus, WorkEquipmentCommand, WorkEquipmentStatus
from roadedge_msgs.srv import InjectFault, SetDriveMode

from roadedge import topics
from roadedge.ros.qos import qos_for

pytestmark = pytest.mark.dds


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_params(tmp_path: Path, transport: str = "pty") -> Path:
    """The rig's CAN hub on ptys, or on loopback TCP (``socket``); the HAL's sender SCHED_FIFO 5."""
    links = [str(tmp_path / "can-ecu"), str(tmp_path / "can-hal")]
    if transport == "socket":
        links = [f"socket://127.0.0.1:{free_port()}" for _ in range(2)]
    hal = {"can_interface": "serial", "can_channel": links[1], "realtime_priority": 5}
    params = {
        "chassis_ecu": {"ros__parameters": {"can_interface": "serial", "hub_links": links}},
        "chassis_hal": {"ros__parameters": hal},
        "speed_controller": {"ros__parameters": {"target_speed": 1.5}},
    }
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def sender_process(hal_pid: int) -> psutil.Process:
    """The chassis HAL's sender process (``python -m roadedge.hal.sender``), a child of the node's."""
    for child in psutil.Process(hal_pid).children(recursive=True):
        try:
            if "roadedge.hal.sender" in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    raise LookupError(f"no sender process under pid {hal_pid}")


def safety_errors(diagnostics: list[Any]) -> list[str]:
    return [
        s.message
        for array in diagnostics
        for s in array.status
        if s.name.endswith("chassis_hal: safety") and s.level == b"\x02"
    ]


def call(ros: Any, client: Any, request: Any) -> Any:
    ros.spin_until(lambda: client.wait_for_service(timeout_sec=0.0), 15.0, f"service {client.srv_name}")
    future = client.call_async(request)
    ros.spin_until(future.done, 10.0, f"reply of {client.srv_name}")
    return future.result()


def test_closed_loop_equipment_and_faults_across_processes(ros, node_process, tmp_path: Path) -> None:
    params = write_params(tmp_path)
    status = ros.collect(VehicleStatus, topics.VEHICLE_STATUS.name)
    equipment = ros.collect(WorkEquipmentStatus, topics.EQUIPMENT_STATUS.name)
    truth = ros.collect(Odometry, topics.GROUND_TRUTH.name)
    diagnostics = ros.collect(DiagnosticArray, topics.DIAGNOSTICS.name)
    node_process("chassis_ecu", params)
    hal = node_process("chassis_hal", params)
    controller = node_process("speed_controller", params)

    # controller -> HAL -> CAN -> ECU -> CAN -> HAL -> /vehicle/status -> controller
    # (On a loaded machine a stalled sender can trip the ECU's command timeout for a moment - the
    # ECU then rightly drops autonomy - so wait for the state rather than sample one instant.)
    ros.spin_until(
        lambda: (
            bool(status)
            and bool(truth)
            and abs(status[-1].speed - 1.5) < 0.15
            and status[-1].gear == VehicleStatus.GEAR_DRIVE
            and status[-1].autonomy_enabled
        ),
        30.0,
        "speed 1.5 m/s in drive with autonomy enabled",
    )
    assert abs(truth[-1].twist.twist.linear.x - status[-1].speed) < 0.2

    # the sender's SCHED_FIFO: applied, or refused with what to grant - a diagnostic either way
    # (/diagnostics comes at 1 Hz: wait for it rather than look at what arrived so far)
    def realtime_reports() -> list:
        return [s for a in diagnostics for s in a.status if s.name.endswith("chassis_hal: realtime")]

    ros.spin_until(lambda: bool(realtime_reports()), 15.0, "a realtime diagnostic")
    realtime = realtime_reports()
    message = realtime[-1].message
    assert message == "SCHED_FIFO 5" or (message.startswith("refused") and "LimitRTPRIO=5" in message)

    # work equipment on CAN: command reaches the emulated upper body, status comes back
    pub = ros.node.create_publisher(
        WorkEquipmentCommand, topics.EQUIPMENT_COMMAND.name, qos_for(topics.EQUIPMENT_COMMAND)
    )
    cmd = WorkEquipmentCommand(enable=True, main_brush=1, side_brush_left=1, main_brush_speed=10.0)
    cmd.suction_fan_speed = 0.8
    timer = ros.node.create_timer(0.1, lambda: pub.publish(cmd))
    ros.spin_until(
        lambda: bool(equipment) and equipment[-1].main_brush == 1 and equipment[-1].suction_fan_speed > 0.6,
        15.0,
        "main brush down and fan running",
    )
    assert equipment[-1].side_brush_left == 1 and equipment[-1].enabled
    ros.node.destroy_timer(timer)

    # SetDriveMode
    modes = ros.node.create_client(SetDriveMode, "vehicle/set_drive_mode")
    assert not call(ros, modes, SetDriveMode.Request(mode=9)).success
    assert call(ros, modes, SetDriveMode.Request(mode=VehicleStatus.MODE_AUTONOMOUS)).success

    # bad checksums from the chassis -> frame_integrity -> controlled stop -> resumes when healthy
    inject = ros.node.create_client(InjectFault, "hil/chassis_ecu/inject_fault")
    assert call(ros, inject, InjectFault.Request(fault="bad_checksum", active=True)).success
    ros.spin_until(
        lambda: any("frame_integrity" in m for m in safety_errors(diagnostics)), 10.0, "diagnostic"
    )
    ros.spin_until(lambda: abs(truth[-1].twist.twist.linear.x) < 0.02, 10.0, "standstill after bad checksums")
    assert call(ros, inject, InjectFault.Request(fault="bad_checksum", active=False)).success
    ros.spin_until(lambda: truth[-1].twist.twist.linear.x > 1.0, 20.0, "driving again")

    # the controller dies -> command_timeout -> controlled stop
    controller.stop(signal.SIGKILL)
    ros.spin_until(
        lambda: any("command_timeout" in m for m in safety_errors(diagnostics)), 10.0, "diagnostic"
    )
    ros.spin_until(lambda: abs(truth[-1].twist.twist.linear.x) < 0.02, 10.0, "standstill after timeout")

    # a new controller drives again
    node_process("speed_controller", params)
    ros.spin_until(lambda: truth[-1].twist.twist.linear.x > 1.0, 20.0, "driving with the new controller")

    # the sender process dies (SIGKILL) -> the HAL starts a new one and counts it; the new sender
    # has no command until the controller's next one (the chassis' own 0.25 s command timeout covers
    # the gap: a restart slower than that is a controlled stop), so it drives on fresh commands only
    killed = sender_process(hal.proc.pid)
    killed.kill()
    ros.spin_until(
        lambda: any(
            s.name.endswith("chassis_hal: can")
            and {v.key: v.value for v in s.values}.get("sender_restarts") == "1"
            for a in diagnostics[-3:]
            for s in a.status
        ),
        15.0,
        "sender_restarts 1 in the CAN diagnostic",
    )
    assert sender_process(hal.proc.pid).pid != killed.pid
    ros.spin_until(lambda: truth[-1].twist.twist.linear.x > 1.0, 20.0, "driving through the restarted sender")

    # the e-stop button -> emergency stop (through the restarted sender), latched
    assert call(ros, inject, InjectFault.Request(fault="estop", active=True)).success
    ros.spin_until(lambda: any("emergency_stop_input" in m for m in safety_errors(diagnostics)), 10.0, "diag")
    ros.spin_until(lambda: abs(truth[-1].twist.twist.linear.x) < 0.02, 10.0, "standstill after e-stop")
    ros.spin_until(lambda: status[-1].emergency_stop_active, 5.0, "e-stop reported in /vehicle/status")
