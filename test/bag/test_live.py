"""Optional Foxglove live view: channels advertised with ros2msg schemas; a clear error without the SDK."""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
import time
from typing import Any

import pytest
from bagdata import serialized

from roadedge.bag.live import LiveView, LiveViewUnavailable


def ws_messages(port: int, want: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Minimal WebSocket client (RFC 6455): handshake, then read the server's text frames."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: foxglove.sdk.v1, foxglove.websocket.v1\r\n\r\n"
        ).encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(4096)
    head, buf = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        while len(buf) < 2 or len(buf) < _frame_len(buf):
            buf += sock.recv(65536)
        n = _frame_len(buf)
        frame, buf = buf[:n], buf[n:]
        opcode, payload = frame[0] & 0x0F, frame[_header_len(frame) :]
        if opcode == 1:
            out.append(json.loads(payload))
    sock.close()
    return out


def _header_len(b: bytes) -> int:
    n = b[1] & 0x7F
    return 2 + (2 if n == 126 else 8 if n == 127 else 0)


def _frame_len(b: bytes) -> int:
    if len(b) < 2:
        return 2
    n = b[1] & 0x7F
    if n == 126:
        return 4 + int.from_bytes(b[2:4], "big") if len(b) >= 4 else 4
    if n == 127:
        return 10 + int.from_bytes(b[2:10], "big") if len(b) >= 10 else 10
    return 2 + n


def test_live_view_advertises_ros2_channels() -> None:
    pytest.importorskip("foxglove", reason="optional foxglove-sdk not installed")
    live = LiveView(port=0)
    try:
        live.add_topic("/v2x/rx/spat", "roadedge_msgs/msg/Spat")
        live.add_topic("/chatter", "std_msgs/String")
        for i in range(3):
            live.log("/chatter", 1_000 + i, serialized("/chatter", i))
        live.log("/unknown", 1, b"")
        assert live.dropped == 1
        messages = ws_messages(live.port, want=2)
    finally:
        live.close()
    assert messages[0]["op"] == "serverInfo" and messages[0]["name"] == "roadedge"
    channels = {c["topic"]: c for c in messages[1]["channels"]}
    assert messages[1]["op"] == "advertise" and set(channels) == {"/v2x/rx/spat", "/chatter"}
    spat = channels["/v2x/rx/spat"]
    assert (spat["encoding"], spat["schemaName"], spat["schemaEncoding"]) == (
        "cdr",
        "roadedge_msgs/msg/Spat",
        "ros2msg",
    )
    assert "MSG: roadedge_msgs/SpatPhaseState" in spat["schema"]


def test_clear_error_without_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "foxglove", None)  # import foxglove -> ImportError
    with pytest.raises(LiveViewUnavailable, match=r"pip install foxglove-sdk==0\.30\.3"):
        LiveView(port=0)
