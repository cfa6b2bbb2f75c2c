"""The bridge against a real mosquitto (TLS client certificates, ACL): uplink, downlink, outages."""

from __future__ import annotations

import math
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cloud_helpers import STATE, state, wait
from conftest import BridgeFactory
from cryptography.hazmat.primitives.asymmetric import ec
from paho.mqtt.enums import CallbackAPIVersion

from roadedge.cloud.auth import Command, sign_command
from roadedge.cloud.bridge import CommandResult
from roadedge.cloud.broker import MosquittoBroker
from roadedge.cloud.opscentre import OpsCentre
from roadedge.cloud.pki import TestPki
from roadedge.cloud.schema import SCHEMA

TASK = {
    "task_id": "t-7",
    "segments": [{"segment_id": "s1", "lanelet_id": 1001, "side": "right", "start_s": 0.0, "end_s": 80.0}],
    "curb_offset": 0.3,
    "max_speed": 1.5,
    "side_brush_speed": 8.0,
    "main_brush_speed": 10.0,
    "suction_fan_speed": 0.8,
    "water_spray_flow": 4.0,
}


class Recorder:
    def __init__(self) -> None:
        self.commands: list[Command] = []

    def __call__(self, command: Command) -> CommandResult:
        self.commands.append(command)
        return CommandResult("accepted")


def seqs(ops: OpsCentre, device: str, stream: str) -> list[int]:
    return [m["seq"] for m in ops.devices[device].by_stream(stream)]


def test_uplink_reaches_the_cloud_validated(make_bridge: BridgeFactory, ops: OpsCentre) -> None:
    bridge = make_bridge("sw-0001")
    wait(lambda: bridge.stats().connected, 10, "bridge connected")
    sent = [bridge.publish("state", state(i)) for i in range(5)]
    task = {"task_id": "t-1", "state": "running", "coverage": 0.25}
    sent.append(bridge.publish("task", task))
    assert None not in sent
    # bad input is counted and dropped, never sent
    assert bridge.publish("state", {**STATE, "speed": math.nan}) is None
    assert bridge.publish("state", {**STATE, "mode": "flying"}) is None
    assert bridge.publish("signal", {"intersections": []}) is None  # a roadside stream
    assert ops.wait_for(lambda: len(ops.devices["sw-0001"].first_seen) == 6, 10)
    log = ops.devices["sw-0001"]
    assert log.first_seen == sent and not ops.invalid
    assert log.messages[sent[-1]]["data"] == task
    first = log.messages[sent[0]]
    assert first["schema"] == SCHEMA and first["msg_id"] == f"sw-0001:{bridge.queue.epoch}:{sent[0]}"
    assert ops.wait_for(lambda: ops.devices["sw-0001"].online == b"1", 10)
    wait(lambda: bridge.stats().queue_size == 0, 10, "queue drained")
    assert bridge.stats().invalid_uplink == {"state": 2, "signal": 1}


def test_downlink_commands_verified_and_acknowledged(make_bridge: BridgeFactory, ops: OpsCentre) -> None:
    handler = Recorder()
    bridge = make_bridge("sw-0001", handler=handler)
    wait(lambda: bridge.stats().connected, 10, "bridge connected")
    ident = bridge.identity
    ok = ops.command(ident, "remote_stop", {"action": "stop", "reason": "operator"})
    task = ops.command(ident, "sweep_task", TASK)
    assert ops.wait_for(lambda: len(ops.acks("sw-0001")) == 2, 10)
    assert [(a["command_id"], a["status"]) for a in ops.acks("sw-0001")] == [
        (ok, "accepted"),
        (task, "accepted"),
    ]
    assert [c.command for c in handler.commands] == ["remote_stop", "sweep_task"]
    assert handler.commands[1].data == TASK

    # every bad command: rejected with a reason, never handed to the vehicle interface
    stranger = ec.generate_private_key(ec.SECP256R1())
    now = time.time()
    body: dict[str, Any] = {
        "schema": SCHEMA,
        "command": "remote_stop",
        "command_id": "forged-1",
        "target": "sw-0001",
        "issued_at": now,
        "expires_at": now + 60,
        "data": {"action": "release", "reason": "x"},
    }
    ops.send_raw(ident.down("remote_stop"), b"{not a jws")
    ops.send_raw(ident.down("remote_stop"), sign_command(stranger, "ops-1", body))  # wrong key
    ops.command(ident, "remote_stop", {"action": "stop"}, command_id=ok)  # replay
    ops.command(ident, "remote_stop", {"action": "stop"}, overrides={"target": "sw-0002"})  # not for us
    ops.command(ident, "remote_stop", {"action": "stop"}, overrides={"expires_at": now - 5})  # expired
    ops.command(ident, "sweep_task", {**TASK, "max_speed": 50.0})  # out of range
    ops.command(
        ident, "rsi_update", {"reference": {"lat": 1.0, "lon": 2.0}, "events": []}
    )  # not for a vehicle
    assert ops.wait_for(lambda: len(ops.acks("sw-0001")) == 9, 10)
    rejected = ops.acks("sw-0001")[2:]
    assert all(a["status"] == "rejected" for a in rejected)
    reasons = [a["reason"] for a in rejected]
    for expected, got in zip(
        [
            "not a JWS",
            "bad signature",
            "replayed",
            "another device",
            "expired",
            "max_speed",
            "does not accept",
        ],
        reasons,
        strict=True,
    ):
        assert expected in got
    assert len(handler.commands) == 2
    stats = bridge.stats()
    assert stats.commands_accepted == 2 and stats.commands_rejected == 7


def test_roadside_profile_accepts_rsi_updates(make_bridge: BridgeFactory, ops: OpsCentre) -> None:
    handler = Recorder()
    rsu = make_bridge("rsu-0001", profile="roadside", handler=handler)
    wait(lambda: rsu.stats().connected, 10, "roadside bridge connected")
    event = {
        "rte_id": 3,
        "event_type": 401,
        "position": {"lat": 22.54, "lon": 114.05},
        "description": "road works",
    }
    cid = ops.command(
        rsu.identity, "rsi_update", {"reference": {"lat": 22.54, "lon": 114.05}, "events": [event]}
    )
    ops.command(rsu.identity, "remote_stop", {"action": "stop"})
    assert ops.wait_for(lambda: len(ops.acks("rsu-0001")) == 2, 10)
    acks = ops.acks("rsu-0001")
    assert acks[0]["command_id"] == cid and acks[0]["status"] == "accepted"
    assert acks[1]["status"] == "rejected"
    assert [c.command for c in handler.commands] == ["rsi_update"]
    assert rsu.publish("signal", {"intersections": [{"region": 1, "node_id": 2, "phases": []}]}) is not None
    assert rsu.publish("state", STATE) is None  # a vehicle stream


def test_broker_crash_and_restart_delivers_queued_messages_in_order(
    make_bridge: BridgeFactory, ops: OpsCentre, broker: MosquittoBroker
) -> None:
    bridge = make_bridge("sw-0001")
    wait(lambda: bridge.stats().connected, 10, "bridge connected")
    before = [bridge.publish("state", state(i)) for i in range(10)]
    assert ops.wait_for(lambda: len(ops.devices["sw-0001"].first_seen) == 10, 10)
    broker.wait_persisted(time.time())  # the centre's session survives the crash
    broker.kill()
    wait(lambda: not bridge.stats().connected, 10, "bridge sees the broker gone")
    during = [
        bridge.publish("state" if i % 3 else "task", state(i) if i % 3 else _task(i)) for i in range(30)
    ]
    assert bridge.stats().queue_size >= 30
    broker.start()
    assert ops.wait_connected(10)
    assert ops.wait_for(lambda: len(ops.devices["sw-0001"].first_seen) == 40, 15)
    log = ops.devices["sw-0001"]
    assert log.first_seen == before + during  # in order, none missing
    wait(lambda: bridge.stats().queue_size == 0, 10, "queue drained")
    assert bridge.stats().connects >= 2


def _task(i: int) -> dict[str, Any]:
    return {"task_id": "t-1", "state": "running", "coverage": min(1.0, i / 30)}


def test_bridge_restart_keeps_queued_messages(
    make_bridge: BridgeFactory, ops: OpsCentre, broker: MosquittoBroker
) -> None:
    first = make_bridge("sw-0003")
    wait(lambda: first.stats().connected, 10, "bridge connected")
    broker.stop()
    wait(lambda: not first.stats().connected, 10, "bridge sees the broker gone")
    queued = [first.publish("task", _task(i)) for i in range(20)]
    first.stop()
    first.queue.close()
    second = make_bridge("sw-0003", start=False)  # same queue file
    assert len(second.queue) == 20 and second.queue.epoch == first.queue.epoch
    second.start()
    broker.start()
    assert ops.wait_for(lambda: len(ops.devices["sw-0003"].first_seen) == 20, 15)
    assert ops.devices["sw-0003"].first_seen == queued


def test_backpressure_bounds_the_queue(
    make_bridge: BridgeFactory, ops: OpsCentre, broker: MosquittoBroker
) -> None:
    bridge = make_bridge("sw-0004", capacity=40)
    wait(lambda: bridge.stats().connected, 10, "bridge connected")
    broker.stop()
    wait(lambda: not bridge.stats().connected, 10, "bridge sees the broker gone")
    tasks = []
    for i in range(200):
        bridge.publish("state", state(i))
        if i % 10 == 0:
            tasks.append(bridge.publish("task", _task(i)))
    stats = bridge.stats()
    assert stats.queue_size <= 40
    assert stats.thinned > 0 and stats.dropped.get("state", 0) > 0 and "task" not in stats.dropped
    broker.start()
    assert ops.wait_for(lambda: set(tasks) <= set(seqs(ops, "sw-0004", "task")), 15)
    assert seqs(ops, "sw-0004", "task") == tasks


def _raw_client(
    pki: TestPki, broker: MosquittoBroker, cn: str, ca: str | None = None
) -> tuple[mqtt.Client, Any]:
    files = pki.client(cn)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{cn}", protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=ca or str(pki.ca_file), certfile=str(files.cert), keyfile=str(files.key))
    result: dict[str, Any] = {"connack": None, "suback": None, "ev": threading.Event(), "messages": []}

    def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        result["connack"] = rc
        result["ev"].set()

    def on_subscribe(_c: Any, _u: Any, _m: Any, rcs: Any, _p: Any) -> None:
        result["suback"] = rcs
        result["ev"].set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = lambda _c, _u, msg: result["messages"].append(msg.topic)
    return client, result


def test_acl_keeps_each_device_in_its_subtree(
    make_bridge: BridgeFactory, ops: OpsCentre, broker: MosquittoBroker, pki: TestPki
) -> None:
    victim = make_bridge("sw-0001", handler=Recorder())
    wait(lambda: victim.stats().connected, 10, "victim connected")
    client, result = _raw_client(pki, broker, "sw-0002")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        assert result["ev"].wait(10) and not result["connack"].is_failure
        result["ev"].clear()
        client.subscribe(victim.identity.down_filter, qos=1)
        assert result["ev"].wait(10)
        # mosquitto 2.0 grants the subscription but the ACL filters every message on it
        ops.command(victim.identity, "remote_stop", {"action": "stop"})
        assert ops.wait_for(lambda: len(ops.acks("sw-0001")) == 1, 10)
        forged = b'{"schema":"roadedge.cloud/1"}'
        client.publish(victim.identity.up("state"), forged, qos=1).wait_for_publish(5)
        client.publish("roadedge/v1/city/north/sw-0001/down/remote_stop", b"x", qos=1).wait_for_publish(5)
        own = client.publish("roadedge/v1/city/north/sw-0002/up/online", b"1", qos=1)
        own.wait_for_publish(5)
        assert ops.wait_for(lambda: ops.devices["sw-0002"].online == b"1", 10)  # own subtree works
    finally:
        client.disconnect()
        client.loop_stop()
    victim.publish("task", _task(1))
    assert ops.wait_for(lambda: len(ops.devices["sw-0001"].by_stream("task")) == 1, 10)
    assert not ops.invalid  # the forged state never reached the cloud
    assert result["messages"] == []  # never saw the victim's command
    assert victim.stats().commands_rejected == 0  # the forged command never reached the victim


def _connects(client: mqtt.Client, port: int) -> bool:
    """True if the broker answers CONNECT with a successful CONNACK."""
    outcome: list[bool] = []
    client.on_connect = lambda _c, _u, _f, rc, _p: outcome.append(not rc.is_failure)
    try:
        client.connect("127.0.0.1", port)
        for _ in range(50):
            if client.loop(0.2) != mqtt.MQTT_ERR_SUCCESS or outcome:
                break
    except (ssl.SSLError, OSError):
        return False
    finally:
        client.disconnect()
    return outcome == [True]


def test_tls_client_certificate_is_required(broker: MosquittoBroker, pki: TestPki, tmp_path: Path) -> None:
    files = pki.client("sw-0009")
    good = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sw-0009", protocol=mqtt.MQTTv5)
    good.tls_set(ca_certs=str(pki.ca_file), certfile=str(files.cert), keyfile=str(files.key))
    assert _connects(good, broker.port)  # the check below can fail
    other = TestPki(tmp_path / "other")  # a certificate from a CA the broker does not trust
    stranger = other.client("sw-0001")
    intruder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder", protocol=mqtt.MQTTv5)
    intruder.tls_set(ca_certs=str(pki.ca_file), certfile=str(stranger.cert), keyfile=str(stranger.key))
    assert not _connects(intruder, broker.port)
    anonymous = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="anon", protocol=mqtt.MQTTv5)
    anonymous.tls_set(ca_certs=str(pki.ca_file))
    assert not _connects(anonymous, broker.port)
    plain = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="plain", protocol=mqtt.MQTTv5)
    assert not _connects(plain, broker.port)


def _late_centre(broker: MosquittoBroker, pki: TestPki) -> OpsCentre:
    files = pki.client("ops-centre")
    centre = OpsCentre(
        "127.0.0.1", broker.port, str(pki.ca_file), str(files.cert), str(files.key), pki.ops_key
    )
    centre.start()
    return centre


def test_cloud_ack_recovers_what_the_broker_dropped(
    make_bridge: BridgeFactory, broker: MosquittoBroker, pki: TestPki
) -> None:
    """No consumer session yet: the broker PUBACKs and drops. End-to-end acks resend; PUBACK-only loses."""
    e2e = make_bridge("sw-0005", cloud_ack_timeout_s=1.0)
    hop = make_bridge("sw-0006", delivery="broker")
    wait(lambda: e2e.stats().connected and hop.stats().connected, 10, "bridges connected")
    sent = [e2e.publish("task", _task(i)) for i in range(5)]
    for i in range(5):
        hop.publish("task", _task(i))
    wait(lambda: e2e.stats().broker_acked >= 5 and len(hop.queue) == 0, 10, "broker PUBACKs")
    centre = _late_centre(broker, pki)
    try:
        assert centre.wait_for(lambda: len(centre.devices["sw-0005"].first_seen) == 5, 15)
        assert centre.devices["sw-0005"].first_seen == sent
        wait(lambda: len(e2e.queue) == 0, 10, "end-to-end acknowledged")
        assert e2e.stats().resends >= 1 and e2e.stats().cloud_acked == 5
        assert centre.devices["sw-0006"].first_seen == []  # delivery="broker": gone with the broker
    finally:
        centre.stop()
