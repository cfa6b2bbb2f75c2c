"""Work equipment over Modbus RTU across processes: equipment_modbus <-> pty <-> HIL slave, over DDS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from roadedge_msgs.msg import WorkEquipmentCommand, WorkEquipmentStatus
from roadedge_msgs.srv import InjectFault
from roadedge_nodes.equipment_modbus import LINK_LOST_FAULT

from roadedge import topics
from roadedge.ros.qos import qos_for

pytestmark = pytest.mark.dds


def modbus_health(diagnostics: list[Any]) -> list[Any]:
    return [s for array in diagnostics for s in array.status if s.name.endswith("equipment_modbus: modbus")]


def test_equipment_commands_reach_the_slave_and_faults_are_survived(
    ros, node_process, tmp_path: Path
) -> None:
    links = [str(tmp_path / "mb-slave"), str(tmp_path / "mb-master")]
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "equipment_modbus_slave": {"ros__parameters": {"links": links}},
                "equipment_modbus": {
                    "ros__parameters": {"port": links[1], "rate": 20.0, "reconnect_period": 0.2}
                },
            }
        )
    )
    status = ros.collect(WorkEquipmentStatus, topics.EQUIPMENT_STATUS.name)
    diagnostics = ros.collect(DiagnosticArray, topics.DIAGNOSTICS.name)
    node_process("equipment_modbus_slave", params)
    node_process("equipment_modbus", params)
    pub = ros.node.create_publisher(
        WorkEquipmentCommand, topics.EQUIPMENT_COMMAND.name, qos_for(topics.EQUIPMENT_COMMAND)
    )
    cmd = WorkEquipmentCommand(enable=True, main_brush=1, side_brush_left=1, main_brush_speed=12.0)
    cmd.suction_fan_speed = 0.6
    cmd.water_spray_flow = 2.0
    ros.node.create_timer(0.1, lambda: pub.publish(cmd))
    ros.spin_until(
        lambda: bool(status) and status[-1].main_brush == 1 and status[-1].suction_fan_speed > 0.5,
        20.0,
        "equipment status with the main brush down",
    )
    assert status[-1].side_brush_left == 1 and status[-1].enabled and status[-1].water_level > 0.5

    inject = ros.node.create_client(InjectFault, "hil/equipment_modbus_slave/inject_fault")
    ros.spin_until(lambda: inject.wait_for_service(timeout_sec=0.0), 10.0, "inject_fault service")

    def call(fault: str, active: bool) -> None:
        future = inject.call_async(InjectFault.Request(fault=fault, active=active))
        ros.spin_until(future.done, 10.0, f"inject {fault}")
        assert future.result().success

    # CRC errors: counted on /diagnostics, the node keeps running and recovers
    call("crc_error", True)
    ros.spin_until(
        lambda: any(kv.key == "crc_error" for s in modbus_health(diagnostics) for kv in s.values),
        10.0,
        "crc count",
    )
    call("crc_error", False)
    # unplug: the port goes away, diagnostics say so, the node reopens it after replug
    call("serial_unplug", True)
    ros.spin_until(lambda: any(s.level == b"\x02" for s in modbus_health(diagnostics)), 10.0, "port down")
    # ... and the status says the controller is lost, so the planner ends the work safely
    ros.spin_until(
        lambda: list(status[-1].fault_codes) == [LINK_LOST_FAULT] and not status[-1].enabled,
        10.0,
        "link-lost status",
    )
    call("serial_unplug", False)
    count = len(status)
    ros.spin_until(lambda: len(status) > count + 5, 10.0, "status again after replug")
    call("bin_full", True)
    ros.spin_until(lambda: status[-1].bin_full, 10.0, "bin full reported")
