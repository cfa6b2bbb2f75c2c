"""planner + controller over real DDS against the chassis emulator (hil/plant.py): a sweep mission along
the eastbound curb of demo_intersection, equipment commands, task progress, services, stale-input stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nav_msgs.msg import Odometry
from roadedge_msgs.msg import CurbSegment, TaskProgress, VehicleCommand, WorkEquipmentCommand
from roadedge_msgs.srv import CancelTask, StartSweepTask

from roadedge import topics
from roadedge.ros.qos import qos_for

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "config" / "planning" / "sweeper.yaml"

pytestmark = pytest.mark.dds


def write_params(tmp_path: Path) -> Path:
    p = tmp_path / "chain.yaml"
    p.write_text(
        "chassis_emulator:\n  ros__parameters:\n    initial_x: -86.0\n    initial_y: -5.8\n"
        "planner:\n  ros__parameters:\n    task_kind: sweep\n    task_id: dds\n"
        "    task_path: [-80.0, -7.0, -66.0, -7.0]\n    task_target_speed: 2.5\n    task_curb_offset: 1.2\n"
    )
    return p


def test_sweep_mission_over_dds(ros: Any, node_process: Any, tmp_path: Path) -> None:
    mission = write_params(tmp_path)
    truth: list[Odometry] = []
    odom_pub = ros.node.create_publisher(Odometry, topics.ODOMETRY.name, qos_for(topics.ODOMETRY))
    relay = {"on": True}

    def on_truth(msg: Odometry) -> None:
        truth.append(msg)
        if relay["on"]:
            odom_pub.publish(msg)

    ros.node.create_subscription(Odometry, topics.GROUND_TRUTH.name, on_truth, qos_for(topics.GROUND_TRUTH))
    commands = ros.collect(VehicleCommand, topics.VEHICLE_COMMAND.name)
    equipment = ros.collect(WorkEquipmentCommand, topics.EQUIPMENT_COMMAND.name)
    progress = ros.collect(TaskProgress, topics.TASK_PROGRESS.name)
    node_process("chassis_emulator", mission)
    node_process("planner", PARAMS, ros_args=["--params-file", str(mission)])
    node_process("controller", PARAMS)
    ros.spin_until(lambda: len(truth) > 0 and len(commands) > 0, 30.0, "ground truth and commands")
    ros.spin_until(
        lambda: any(e.main_brush == WorkEquipmentCommand.BRUSH_DOWN for e in equipment), 40.0, "brushes down"
    )
    ros.spin_until(
        lambda: bool(progress) and progress[-1].state == TaskProgress.STATE_COMPLETED, 60.0, "task completed"
    )
    assert progress[-1].task_id == "dds" and progress[-1].coverage >= 0.9
    ros.spin_until(lambda: abs(truth[-1].twist.twist.linear.x) < 0.01, 20.0, "standstill at the end")
    # on the curb line: centre 1.2 m from the curb at y = -7
    moving = [m for m in truth if m.twist.twist.linear.x > 1.0]
    assert moving and max(abs(m.pose.pose.position.y + 5.8) for m in moving) < 0.3
    assert any(c.beacon_light == VehicleCommand.LIGHT_ON for c in commands)
    assert equipment[-1].enable is False  # task over: equipment safe

    # services: a task on a lanelet that does not exist is refused; nothing to cancel now
    start = ros.node.create_client(StartSweepTask, "planning/start_sweep_task")
    cancel = ros.node.create_client(CancelTask, "planning/cancel_task")
    ros.spin_until(lambda: start.service_is_ready() and cancel.service_is_ready(), 20.0, "planner services")
    req = StartSweepTask.Request()
    req.task.task_id = "bad"
    req.task.segments = [
        CurbSegment(segment_id="x", lanelet_id=99999, side=0, start_s=0.0, end_s=float("nan"))
    ]
    req.task.max_speed = 2.0
    fut = start.call_async(req)
    ros.spin_until(fut.done, 20.0, "start reply")
    assert fut.result().accepted is False and "99999" in fut.result().message
    fut = cancel.call_async(CancelTask.Request(task_id=""))
    ros.spin_until(fut.done, 20.0, "cancel reply")
    assert fut.result().success is False

    # a new task along the rest of the curb, then cancel it: equipment safe, vehicle stops
    req = StartSweepTask.Request()
    req.task.task_id = "second"
    req.task.segments = [CurbSegment(segment_id="a", lanelet_id=2302, side=0, start_s=40.0, end_s=60.0)]
    req.task.curb_offset = 0.2
    req.task.max_speed = 2.0
    fut = start.call_async(req)
    ros.spin_until(fut.done, 20.0, "start reply")
    assert fut.result().accepted is True, fut.result().message
    ros.spin_until(lambda: truth[-1].twist.twist.linear.x > 0.5, 30.0, "moving again")
    fut = cancel.call_async(CancelTask.Request(task_id="second"))
    ros.spin_until(fut.done, 20.0, "cancel reply")
    assert fut.result().success is True
    ros.spin_until(lambda: progress[-1].state == TaskProgress.STATE_ABORTED, 20.0, "task aborted")
    ros.spin_until(lambda: abs(truth[-1].twist.twist.linear.x) < 0.01, 30.0, "stopped after cancel")
    assert equipment[-1].enable is False

    # odometry goes stale: the controller commands a controlled stop with hazard lights
    relay["on"] = False
    ros.spin_until(
        lambda: commands[-1].target_speed == 0.0 and commands[-1].hazard_lights == VehicleCommand.LIGHT_ON,
        10.0,
        "controlled stop on stale odometry",
    )
