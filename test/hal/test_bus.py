"""Bus configuration and the framing of the pty CAN hub (the hub itself runs in the closed-loop tests)."""

from __future__ import annotations

import pytest

from roadedge.hal.bus import BusConfig, open_bus, split_frames


def frame(frame_id: int, data: bytes) -> bytes:
    return bytes([0xAA, 0, 0, 0, 0, len(data)]) + frame_id.to_bytes(4, "little") + data + b"\xbb"


def test_split_frames_skips_garbage_and_keeps_partial_frames() -> None:
    buffer = bytearray(
        b"\x00\x13" + frame(0x100, b"\xaa\xbb\x01") + b"\xaa\x00\x00\x00\x00\x0f" + frame(0x7, b"")
    )
    buffer += frame(0x200, bytes(8))[:7]
    frames, skipped = split_frames(buffer)
    assert [f[6:10] for f in frames] == [b"\x00\x01\x00\x00", b"\x07\x00\x00\x00"]
    assert skipped == 2 + 6  # leading noise, and a header with DLC 15 given up byte by byte
    assert bytes(buffer) == frame(0x200, bytes(8))[:7]  # kept for the next read


def test_unknown_interface_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown CAN interface"):
        open_bus(BusConfig("vcan", "x"))
