"""CSAE 53 ASN.1 module: asn1tools and pycrate (independent UPER) agree bit for bit."""

from __future__ import annotations

import random
from typing import Any

import pytest
import v2x_pycrate_ref as ref
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roadedge.v2x import codec
from roadedge.v2x.asn1_random import ValueGenerator

ROUND_TRIPS_PER_KIND = 60


def _frames(kind: str, n: int, seed: int) -> list[Any]:
    gen = ValueGenerator(random.Random(seed))
    frame = codec.parsed()["MessageFrame"]
    member = next(m for m in frame["members"] if m and m["name"] == kind)
    return [(kind, gen.value(member["type"])) for _ in range(n)]


@pytest.mark.parametrize("kind", codec.FRAME_KINDS)
def test_every_frame_kind_agrees_bit_for_bit(kind: str) -> None:
    for value in _frames(kind, ROUND_TRIPS_PER_KIND, seed=codec.FRAME_KINDS.index(kind)):
        ours = codec.encode("MessageFrame", value)
        theirs = ref.encode("MessageFrame", value)
        assert ours == theirs, value
        assert ref.decode("MessageFrame", ours) == value
        assert codec.decode("MessageFrame", theirs) == value
        assert codec.decode_frame(ours) == value


def test_every_type_of_the_module_agrees() -> None:
    gen = ValueGenerator(random.Random(7), max_items=2)
    names = sorted(codec.parsed())
    assert len(names) > 120
    for name in names:
        for _ in range(3):
            value = gen.value(name)
            data = codec.encode(name, value)
            assert data == ref.encode(name, value), name
            assert codec.decode(name, data) == value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.sampled_from(codec.FRAME_KINDS))
def test_property_round_trip(rng: random.Random, kind: str) -> None:
    gen = ValueGenerator(rng, max_items=4)
    frame = codec.parsed()["MessageFrame"]
    member = next(m for m in frame["members"] if m and m["name"] == kind)
    value = (kind, gen.value(member["type"]))
    data = codec.encode("MessageFrame", value)
    assert data == ref.encode("MessageFrame", value)
    assert codec.decode("MessageFrame", data) == value


def test_known_bit_layout() -> None:
    # MsgCount 0..127: 7 bits; Position3D: 1 presence bit, lat 31 bits, long 32 bits
    assert codec.encode("MsgCount", 127) == bytes([0b11111110])
    pos = {"lat": -900000000, "long": -1799999999}
    assert codec.encode("Position3D", pos) == bytes(8)
    # Speed 8191 (unavailable) is 13 ones
    assert codec.encode("Speed", 8191) == bytes([0xFF, 0xF8])


def test_fixed_bsm_vector_stays_stable() -> None:
    bsm = {
        "msgCnt": 5,
        "id": bytes.fromhex("0102030405060708"),
        "secMark": 12345,
        "pos": {"lat": 399_000_000, "long": 1_163_000_000, "elevation": 500},
        "transmission": "forwardGears",
        "speed": 500,
        "heading": 7200,
        "accelSet": {"long": 10, "lat": 0, "vert": 0, "yaw": 0},
        "brakes": {"brakePadel": "off"},
        "size": {"width": 200, "length": 600, "height": 60},
        "vehicleClass": {"classification": 71},
        "safetyExt": {"events": (b"\x80\x00", 13)},
    }
    data = codec.encode_frame("bsmFrame", bsm)
    assert data == ref.encode("MessageFrame", ("bsmFrame", bsm))
    assert codec.decode_frame(data) == ("bsmFrame", bsm)


def test_out_of_range_value_refused_on_encode() -> None:
    with pytest.raises(codec.CodecError):
        codec.encode("Speed", 8192)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff" * 3, bytes(codec.MAX_FRAME_BYTES + 1)])
def test_malformed_frames_raise_codec_error_only(data: bytes) -> None:
    with pytest.raises(codec.CodecError):
        codec.decode_frame(data)
