"""The cloud_bridge node over real DDS and a real mosquitto: topics in, MQTT out, signed commands in."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter
from roadedge_msgs.msg import (
    Rsi,
    Spat,
    SpatIntersection,
    SpatPhase,
    SpatPhaseState,
    TaskProgress,
    VehicleStatus,
    WorkEquipmentStatus,
)
from roadedge_msgs.srv import StartSweepTask
from sensor_msgs.msg import NavSatFix
from std_msgs.msg import Bool

from roadedge import topics
from roadedge.cloud.auth import sign_command
from roadedge.cloud.broker import MosquittoBroker
from roadedge.cloud.opscentre import OpsCentre
from roadedge.cloud.pki import TestPki
from roadedge.cloud.schema import SCHEMA

pytestmark = pytest.mark.dds

TASK = {
    "task_id": "t-42",
    "segments": [{"segment_id": "s1", "lanelet_id": 1001, "side": "left", "start_s": 5.0, "end_s": None}],
    "curb_offset": 0.3,
    "max_speed": 1.5,
    "side_brush_speed": 8.0,
    "main_brush_speed": 10.0,
    "suction_fan_speed": 0.8,
    "water_spray_flow": 4.0,
}


def _params(
    broker: MosquittoBroker, pki: TestPki, tmp_path: Path, device: str, profile: str
) -> dict[str, Any]:
    files = pki.client(device)
    return {
        "fleet": "city",
        "site": "north",
        "device_id": device,
        "profile": profile,
        "broker_port": broker.port,
        "ca_file": str(pki.ca_file),
        "cert_file": str(files.cert),
        "key_file": str(files.key),
        "ops_keys": [f"ops-1={pki.ops_public_file}"],
        "queue_path": str(tmp_path / f"{device}.db"),
        "state_rate": 5.0,
        "diag_period": 1.0,
        "cloud_ack_timeout": 5.0,
    }


def _make(ros: Any, params: dict[str, Any]) -> Any:
    from nodes.cloud_bridge import CloudBridgeNode

    node = CloudBridgeNode(
        context=ros.context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]
    )
    ros.add_node(node)
    return node


def test_vehicle_bridge_uplink_remote_stop_and_sweep_task(
    ros: Any, broker: MosquittoBroker, pki: TestPki, ops: OpsCentre, tmp_path: Path
) -> None:
    node = _make(ros, _params(broker, pki, tmp_path, "sw-0001", "vehicle"))
    stops: list[Bool] = ros.collect(Bool, topics.CLOUD_REMOTE_STOP.name)
    diags: list[DiagnosticArray] = ros.collect(DiagnosticArray, topics.DIAGNOSTICS.name)
    tasks: list[Any] = []

    def start_task(req: Any, resp: Any) -> Any:
        tasks.append(req.task)
        resp.accepted = True
        return resp

    ros.node.create_service(StartSweepTask, "planning/start_sweep_task", start_task)
    fix_pub = ros.node.create_publisher(NavSatFix, topics.LOCALIZATION_GEODETIC.name, 10)
    status_pub = ros.node.create_publisher(VehicleStatus, topics.VEHICLE_STATUS.name, 10)
    eq_pub = ros.node.create_publisher(WorkEquipmentStatus, topics.EQUIPMENT_STATUS.name, 10)
    task_pub = ros.node.create_publisher(TaskProgress, topics.TASK_PROGRESS.name, 10)
    try:
        ros.wait_for_matched(fix_pub)
        ros.wait_for_matched(status_pub)
        ros.wait_for_matched(eq_pub)
        ros.wait_for_matched(task_pub)
        fix_pub.publish(NavSatFix(latitude=22.5431, longitude=114.0579, altitude=12.0))
        status_pub.publish(VehicleStatus(speed=1.25, drive_mode=VehicleStatus.MODE_SWEEPING, battery_soc=0.8))
        eq_pub.publish(WorkEquipmentStatus(enabled=True, bin_fill=0.4, water_level=0.2, water_low=True))
        task_pub.publish(TaskProgress(task_id="t-1", state=TaskProgress.STATE_RUNNING, coverage=0.5))
        log = ops.devices["sw-0001"]

        def state_with_equipment() -> bool:
            return any("equipment" in m["data"] for m in log.by_stream("state"))

        ros.spin_until(lambda: ops.wait_for(state_with_equipment, 0.0), 15.0, "state uplink")
        state = next(m["data"] for m in log.by_stream("state") if "equipment" in m["data"])
        assert state["pose"]["lat"] == pytest.approx(22.5431) and state["mode"] == "sweeping"
        assert state["water_level"] == pytest.approx(0.2) and "water_low" in state["alarms"]
        ros.spin_until(lambda: len(log.by_stream("task")) >= 1, 10.0, "task uplink")
        assert log.by_stream("task")[0]["data"]["coverage"] == pytest.approx(0.5)

        # unsigned / foreign-signed stops never reach the chassis topic
        ident = node.identity
        stranger = ec.generate_private_key(ec.SECP256R1())
        now = time.time()
        forged = {
            "schema": SCHEMA, "command": "remote_stop", "command_id": "x1", "target": "sw-0001",
            "issued_at": now, "expires_at": now + 60, "data": {"action": "stop"},
        }  # fmt: skip
        ops.send_raw(ident.down("remote_stop"), sign_command(stranger, "ops-1", forged))
        ops.send_raw(ident.down("remote_stop"), b"stop now please")
        ros.spin_until(lambda: len(ops.acks("sw-0001")) >= 2, 10.0, "two rejections")
        assert [a["status"] for a in ops.acks("sw-0001")] == ["rejected", "rejected"]
        assert stops == []

        cid = ops.command(ident, "remote_stop", {"action": "stop", "reason": "test"})
        ros.spin_until(lambda: len(stops) >= 1, 10.0, "remote stop on /cloud/remote_stop")
        assert stops[-1].data is True
        ros.spin_until(lambda: len(ops.acks("sw-0001")) >= 3, 10.0, "stop ack")
        assert ops.acks("sw-0001")[2]["command_id"] == cid and ops.acks("sw-0001")[2]["status"] == "accepted"

        cid = ops.command(ident, "sweep_task", TASK)
        ros.spin_until(lambda: len(ops.acks("sw-0001")) >= 4, 10.0, "task ack")
        assert ops.acks("sw-0001")[3] == {
            "command_id": cid, "command": "sweep_task", "status": "accepted", "reason": "task started",
            "digest": ops.acks("sw-0001")[3]["digest"],
        }  # fmt: skip
        assert tasks[0].task_id == "t-42" and tasks[0].segments[0].side == 1
        assert math.isnan(tasks[0].segments[0].end_s)

        def link_status() -> Any:
            for array in diags:
                for s in array.status:
                    if s.name.endswith("cloud link"):
                        return s
            return None

        ros.spin_until(lambda: link_status() is not None, 10.0, "cloud link diagnostics")
        values = {kv.key: kv.value for kv in link_status().values}
        assert "queue_size" in values and values["remote_stop"] == "true"
    finally:
        node.on_safe_stop()
        node.destroy_node()

    # a restarted bridge re-asserts the latched stop
    stops.clear()
    again = _make(ros, _params(broker, pki, tmp_path, "sw-0001", "vehicle"))
    try:
        ros.spin_until(lambda: len(stops) >= 1, 15.0, "stop re-asserted after restart")
        assert stops[-1].data is True
    finally:
        again.on_safe_stop()
        again.destroy_node()


def test_roadside_bridge_signal_uplink_and_rsi_update(
    ros: Any, broker: MosquittoBroker, pki: TestPki, ops: OpsCentre, tmp_path: Path
) -> None:
    node = _make(ros, _params(broker, pki, tmp_path, "rsu-0001", "roadside"))
    rsi: list[Rsi] = ros.collect(Rsi, topics.V2X_TX_RSI.name)
    spat_pub = ros.node.create_publisher(Spat, topics.V2X_TX_SPAT.name, 10)
    try:
        ros.wait_for_matched(spat_pub)
        state = SpatPhaseState(light=SpatPhaseState.LIGHT_PROTECTED_GREEN, likely_end_time=12.5)
        spat = Spat(
            intersections=[SpatIntersection(node_id=101, phases=[SpatPhase(phase_id=1, states=[state])])]
        )
        spat_pub.publish(spat)
        log = ops.devices["rsu-0001"]
        ros.spin_until(lambda: len(log.by_stream("signal")) >= 1, 15.0, "signal uplink")
        phase = log.by_stream("signal")[0]["data"]["intersections"][0]["phases"][0]
        assert phase == {"phase_id": 1, "light": "protected_green", "remaining": 12.5}

        ref = {"lat": 31.2304, "lon": 121.4737, "alt": 4.0}
        event = {"rte_id": 7, "event_type": 401, "position": {"lat": 31.2305, "lon": 121.4737}, "priority": 3}
        cid = ops.command(node.identity, "rsi_update", {"reference": ref, "events": [event]})
        ros.spin_until(lambda: len(rsi) >= 1, 10.0, "RSI handed to the RSU")
        e = rsi[0].events[0]
        assert e.rte_id == 7 and e.event_type == 401
        assert e.position.y == pytest.approx(11.1, abs=0.2) and abs(e.position.x) < 0.1  # 0.0001 deg north
        ros.spin_until(lambda: len(ops.acks("rsu-0001")) >= 1, 10.0, "rsi ack")
        assert (
            ops.acks("rsu-0001")[0]["command_id"] == cid and ops.acks("rsu-0001")[0]["status"] == "accepted"
        )
        # the RSI now being broadcast is reported back as the site's rsi stream
        ros.spin_until(lambda: len(log.by_stream("rsi")) >= 1, 10.0, "rsi uplink")
        back = log.by_stream("rsi")[0]["data"]["events"][0]["position"]
        assert back["lat"] == pytest.approx(31.2305, abs=1e-6)
    finally:
        node.on_safe_stop()
        node.destroy_node()


def test_bad_ros_input_is_dropped_not_sent(
    ros: Any, broker: MosquittoBroker, pki: TestPki, ops: OpsCentre, tmp_path: Path
) -> None:
    node = _make(ros, _params(broker, pki, tmp_path, "sw-0007", "vehicle"))
    fix_pub = ros.node.create_publisher(NavSatFix, topics.LOCALIZATION_GEODETIC.name, 10)
    status_pub = ros.node.create_publisher(VehicleStatus, topics.VEHICLE_STATUS.name, 10)
    try:
        ros.wait_for_matched(fix_pub)
        ros.wait_for_matched(status_pub)
        fix_pub.publish(NavSatFix(latitude=math.nan, longitude=114.0))
        status_pub.publish(VehicleStatus(speed=math.nan, drive_mode=200, battery_soc=math.inf))
        ros.spin_until(
            lambda: node.events.counts.get("no position for the state uplink", 0) >= 2, 10.0, "counted"
        )
        assert ops.devices["sw-0007"].by_stream("state") == []
        fix_pub.publish(NavSatFix(latitude=22.5, longitude=114.0, altitude=math.nan))
        log = ops.devices["sw-0007"]
        ros.spin_until(lambda: len(log.by_stream("state")) >= 1, 10.0, "state once the position is valid")
        state = log.by_stream("state")[0]["data"]
        assert state["speed"] == 0.0 and state["mode"] == "unknown" and state["battery"]["soc"] is None
        assert state["pose"]["alt"] is None
    finally:
        node.on_safe_stop()
        node.destroy_node()


def test_executable_refuses_a_missing_operations_key(node_process: Any, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "cloud_bridge:\n  ros__parameters:\n    fleet: city\n    site: north\n    device_id: sw-0001\n"
        f"    ops_keys: ['ops-1={tmp_path}/absent.pub']\n    queue_path: {tmp_path}/q.db\n"
    )
    proc = node_process("cloud_bridge", params)
    assert proc.proc.wait(30) == 2
    assert "absent.pub" in proc.output() and "configuration error" in proc.output()
