"""Downlink command verification (pure): every way a command can be wrong is refused with a reason."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from roadedge.cloud.auth import Command, CommandVerifier, MemoryReplayGuard, Rejection, b64url, sign_command
from roadedge.cloud.layout import DeviceIdentity
from roadedge.cloud.queue import StoreAndForwardQueue
from roadedge.cloud.schema import SCHEMA

OPS = ec.generate_private_key(ec.SECP256R1())
ROGUE = ec.generate_private_key(ec.SECP256R1())
VEHICLE = DeviceIdentity("city", "north", "sw-0001")
ROADSIDE = DeviceIdentity("city", "north", "rsu-0001", "roadside")
NOW = 1_800_000_000.0
STOP = {"action": "stop", "reason": "operator"}
TASK = {
    "task_id": "t-1",
    "segments": [{"segment_id": "s1", "lanelet_id": 1001, "side": "right", "start_s": 0.0, "end_s": None}],
    "curb_offset": 0.3,
    "max_speed": 1.5,
    "side_brush_speed": 8.0,
    "main_brush_speed": 10.0,
    "suction_fan_speed": 0.8,
    "water_spray_flow": 4.0,
}


def payload(command: str = "remote_stop", data: Any = None, **over: Any) -> dict[str, Any]:
    doc = {
        "schema": SCHEMA,
        "command": command,
        "command_id": "c-1",
        "target": "sw-0001",
        "issued_at": NOW - 1,
        "expires_at": NOW + 60,
        "data": STOP if data is None else data,
    }
    doc.update(over)
    return doc


def verifier(ident: DeviceIdentity = VEHICLE, replay: Any = None) -> CommandVerifier:
    guard = MemoryReplayGuard() if replay is None else replay
    return CommandVerifier(ident, {"ops-1": OPS.public_key()}, guard, lambda: NOW)


def reason(result: Command | Rejection) -> str:
    assert isinstance(result, Rejection), f"expected a rejection, got {result}"
    return result.reason


def test_valid_commands_pass() -> None:
    v = verifier()
    ok = v.verify("remote_stop", sign_command(OPS, "ops-1", payload()))
    assert isinstance(ok, Command) and ok.data == STOP and ok.command_id == "c-1"
    task = v.verify("sweep_task", sign_command(OPS, "ops-1", payload("sweep_task", TASK, command_id="c-2")))
    assert isinstance(task, Command) and task.data["segments"][0]["lanelet_id"] == 1001


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "not a JWS"),
        (b"garbage", "not a JWS"),
        (b"a.b.c.d", "not a JWS"),
        (b"\xff\xfe.x.y", "not a JWS"),
    ],
)
def test_malformed(raw: bytes, expected: str) -> None:
    assert expected in reason(verifier().verify("remote_stop", raw))


def _forge(header: dict[str, Any], body: dict[str, Any], sig: bytes) -> bytes:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(body).encode())}.{b64url(sig)}".encode()


def test_unsigned_and_foreign_signatures_are_refused() -> None:
    v = verifier()
    assert "alg 'none'" in reason(v.verify("remote_stop", _forge({"alg": "none"}, payload(), b"")))
    assert "HS256" in reason(
        v.verify("remote_stop", _forge({"alg": "HS256", "kid": "ops-1"}, payload(), b"x" * 32))
    )
    assert "unknown signing key" in reason(v.verify("remote_stop", sign_command(OPS, "ops-2", payload())))
    assert "bad signature" in reason(v.verify("remote_stop", sign_command(ROGUE, "ops-1", payload())))
    # a valid signature over a different payload
    good = sign_command(OPS, "ops-1", payload()).decode().split(".")
    tampered = payload(data={"action": "release", "reason": "x"})
    good[1] = base64.urlsafe_b64encode(json.dumps(tampered).encode()).rstrip(b"=").decode()
    assert "bad signature" in reason(v.verify("remote_stop", ".".join(good).encode()))


@pytest.mark.parametrize(
    ("topic_command", "doc", "expected"),
    [
        ("remote_stop", payload(target="sw-0002"), "another device"),
        ("remote_stop", payload(expires_at=NOW - 1), "expired"),
        ("remote_stop", payload(issued_at=NOW + 300, expires_at=NOW + 400), "future"),
        ("remote_stop", payload(expires_at=NOW + 7200), "lifetime"),
        ("remote_stop", payload(data={"action": "explode"}), "invalid remote_stop"),
        ("remote_stop", payload(data={"action": "stop", "x": 1}), "invalid remote_stop"),
        ("sweep_task", payload(), "does not match its topic"),
        ("sweep_task", payload("sweep_task", {**TASK, "max_speed": 30.0}), "max_speed"),
        ("sweep_task", payload("sweep_task", {**TASK, "segments": []}), "segments"),
        ("remote_stop", payload(schema="roadedge.cloud/2"), "invalid"),
        (None, payload(), "unknown command topic"),
    ],
)
def test_invalid_commands(topic_command: str | None, doc: dict[str, Any], expected: str) -> None:
    assert expected in reason(verifier().verify(topic_command, sign_command(OPS, "ops-1", doc)))


def test_profile_decides_what_is_accepted() -> None:
    rsu = verifier(ROADSIDE)
    doc = payload(target="rsu-0001")
    assert "roadside does not accept remote_stop" in reason(
        rsu.verify("remote_stop", sign_command(OPS, "ops-1", doc))
    )


def test_replay_refused_across_restart(tmp_path: Path) -> None:
    raw = sign_command(OPS, "ops-1", payload())
    queue = StoreAndForwardQueue(tmp_path / "q.db")
    assert isinstance(verifier(replay=queue).verify("remote_stop", raw), Command)
    assert "replayed" in reason(verifier(replay=queue).verify("remote_stop", raw))
    queue.close()
    reopened = StoreAndForwardQueue(tmp_path / "q.db")
    assert "replayed" in reason(verifier(replay=reopened).verify("remote_stop", raw))
    # expired ids are forgotten (their commands fail the expiry check anyway)
    assert reopened.forget_expired(NOW + 3600) == 1
    reopened.close()


def test_no_trusted_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        CommandVerifier(VEHICLE, {}, MemoryReplayGuard(), time.time)
