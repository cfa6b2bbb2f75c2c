"""The operations centre's remote stop reaches the chassis as a controlled stop:
/cloud/remote_stop (from the cloud bridge, which only publishes verified stops) ->
chassis_hal safety watchdog -> CAN -> chassis ECU; releasing it lets driving resume."""

from __future__ import annotations

from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from roadedge_msgs.msg import VehicleStatus
from std_msgs.msg import Bool
from test_chassis_dds import write_params

from roadedge import topics
from roadedge.ros.qos import qos_for

pytestmark = pytest.mark.dds


def test_remote_stop_stops_the_vehicle_and_release_resumes(ros, node_process, tmp_path: Path) -> None:
    params = write_params(tmp_path, transport="socket")  # the rig's loopback TCP CAN hub
    status = ros.collect(VehicleStatus, topics.VEHICLE_STATUS.name)
    diagnostics = ros.collect(DiagnosticArray, topics.DIAGNOSTICS.name)
    stop_pub = ros.node.create_publisher(
        Bool, topics.CLOUD_REMOTE_STOP.name, qos_for(topics.CLOUD_REMOTE_STOP)
    )
    node_process("chassis_ecu", params)
    node_process("chassis_hal", params)
    node_process("speed_controller", params)
    ros.spin_until(lambda: bool(status) and abs(status[-1].speed - 1.5) < 0.15, 30.0, "speed 1.5 m/s")

    stop_pub.publish(Bool(data=True))
    ros.spin_until(lambda: status[-1].speed < 0.01, 15.0, "standstill after the remote stop")
    ros.spin_until(
        lambda: any(
            "remote_stop" in s.message for a in diagnostics for s in a.status if "chassis_hal" in s.name
        ),
        5.0,
        "remote_stop diagnostic",
    )
    ros.spin_for(1.0)  # the controller keeps commanding 1.5 m/s: the stop holds
    assert status[-1].speed < 0.01

    stop_pub.publish(Bool(data=False))
    ros.spin_until(lambda: status[-1].speed > 1.0, 20.0, "driving again after release")
