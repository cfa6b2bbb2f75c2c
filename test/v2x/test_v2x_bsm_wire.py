"""BsmArray CDR written by roadedge.v2x.bsm_wire: the bytes rclpy would write (padding aside), read
back by rclpy's deserializer into the same messages; values that do not fit raise."""

from __future__ import annotations

import math
import random
import struct
from typing import Any

import pytest
from rclpy.serialization import deserialize_message, serialize_message
from roadedge_msgs.msg import Bsm, BsmArray, GeoPoint, PathHistoryPoint, V2xHeader
from std_msgs.msg import Header

from roadedge.v2x import codec, si
from roadedge.v2x.asn1_random import ValueGenerator
from roadedge.v2x.bsm_wire import BSM_FIELDS, POINT_FIELDS, bsm_array_cdr

NOW = 1_767_225_600.0


def test_layout_follows_the_message_definitions() -> None:
    """The writer's field order is the .msg order (a changed Bsm makes this fail, not the wire)."""
    assert tuple(Bsm.get_fields_and_field_types()) == BSM_FIELDS
    assert tuple(V2xHeader.get_fields_and_field_types().items()) == (
        ("header", "std_msgs/Header"),
        ("sender_id", "string"),
        ("msg_count", "uint8"),
        ("generation_time", "builtin_interfaces/Time"),
        ("security_verdict", "uint8"),
        ("signer_digest", "string"),
    )
    assert tuple(Header.get_fields_and_field_types()) == ("stamp", "frame_id")
    assert set(GeoPoint.get_fields_and_field_types().values()) == {"double"}
    assert tuple(BsmArray.get_fields_and_field_types()) == ("header", "bsms")
    # the types the writer's tail struct packs ("<3d3fB3x7f?3x3fBxHI?3B" after the position)
    tail = ["float"] * 3 + ["uint8"] + ["float"] * 7 + ["boolean"] + ["float"] * 3
    tail += ["uint8", "uint16", "uint32", "boolean", "uint8", "uint8", "uint8"]
    tail += ["sequence<roadedge_msgs/PathHistoryPoint>", "float", "float", "uint16"]
    assert list(Bsm.get_fields_and_field_types().values())[2:] == tail
    # a point: "<4x3d5f" (the 4 bytes pad the float64s to 8)
    assert tuple(PathHistoryPoint.get_fields_and_field_types()) == POINT_FIELDS
    assert (
        list(PathHistoryPoint.get_fields_and_field_types().values())
        == ["roadedge_msgs/GeoPoint"] + ["float"] * 5
    )


def _same(a: Any, b: Any) -> bool:
    """Field by field, NaN equal to NaN."""
    if hasattr(a, "get_fields_and_field_types"):
        return type(a) is type(b) and all(
            _same(getattr(a, f), getattr(b, f)) for f in a.get_fields_and_field_types()
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return bool(a == b)


def _random_bsms(rng: random.Random, n: int) -> list[Bsm]:
    gen = ValueGenerator(rng, max_items=2)
    member = next(m for m in codec.parsed()["MessageFrame"]["members"] if m and m["name"] == "bsmFrame")
    out = []
    for _ in range(n):
        _, value = codec.decode_frame(codec.encode_frame("bsmFrame", gen.value(member["type"])))
        msg = si.bsm_from_asn(value, NOW)
        msg.v2x.header.stamp.sec, msg.v2x.header.stamp.nanosec = (
            rng.randint(0, 2**31 - 1),
            rng.randint(0, 10**9),
        )
        msg.v2x.header.frame_id = "wgs84"[: rng.randint(0, 5)]
        msg.v2x.signer_digest = "".join(rng.choice("0123456789abcdef") for _ in range(rng.choice((0, 3, 16))))
        msg.v2x.security_verdict = rng.randint(0, 3)
        if rng.random() < 0.3:
            msg.v2x.sender_id = "über-" * rng.randint(0, 3)  # UTF-8, odd lengths
        out.append(msg)
    return out


def _path(rng: random.Random, n: int) -> list[PathHistoryPoint]:
    nan = float("nan")
    return [
        PathHistoryPoint(
            position=GeoPoint(
                latitude=rng.uniform(-90, 90),
                longitude=rng.uniform(-180, 180),
                elevation=rng.choice((nan, 4.5)),
            ),
            time_offset=rng.choice((nan, 0.01 * (i + 1))),
            speed=rng.choice((nan, 3.5)),
            heading=rng.uniform(-math.pi, math.pi),
            position_accuracy=rng.choice((nan, 0.5)),
            elevation_accuracy=nan,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("n", "points"),
    [(0, ()), (1, ()), (2, ()), (7, ()), (64, ()), (1, (1,)), (3, (0, 23, 1)), (5, (23, 0, 0, 2, 1))],
)
def test_bytes_are_rclpys_and_read_back_the_same(n: int, points: tuple[int, ...]) -> None:
    """Random BSMs (their path histories as the SI layer decodes random ones: mostly empty), and BSMs
    with ``points`` path history points each (0, 1 and 23, the standard's maximum), mixed."""
    rng = random.Random(n)
    bsms = _random_bsms(rng, n)
    for bsm, count in zip(bsms, points, strict=False):
        bsm.path_history = _path(rng, count)
        bsm.path_radius_of_curvature = rng.choice((float("nan"), float("inf"), -12.5))
        bsm.path_prediction_confidence = rng.choice((float("nan"), 0.5))
        bsm.path_history_gnss_status = rng.choice((si.GNSS_STATUS_NOT_SENT, 0, 6))
    array = BsmArray()
    array.header.stamp.sec, array.header.stamp.nanosec = 1_767_225_600, 123_456_789
    array.header.frame_id = "wgs84"
    array.bsms = bsms
    ours = bsm_array_cdr(1_767_225_600, 123_456_789, "wgs84", bsms)
    theirs = serialize_message(array)
    assert len(ours) == len(theirs)
    # where the bytes differ, ours is a zero padding byte (rclpy leaves its buffer's old bytes there)
    differ = [i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]
    assert all(ours[i] == 0 for i in differ)
    # at most 3 + 3 + 3 + 7 + 8 + 2 padding bytes per Bsm, 4 per path history point, 3 in the head
    assert len(differ) <= 3 + 26 * n + 4 * sum(points)
    # read back: the same messages as rclpy's own bytes give (float32 fields rounded alike)
    back = deserialize_message(ours, BsmArray)
    assert _same(back, deserialize_message(theirs, BsmArray))
    assert len(back.bsms) == n and (n == 0 or back.bsms[-1].v2x.sender_id == bsms[-1].v2x.sender_id)


def test_a_value_that_does_not_fit_raises() -> None:
    bsm = _random_bsms(random.Random(3), 1)[0]
    bsm._vehicle_class = 300  # uint8 (bypassing the setter's check, as the SI layer writes slots)
    with pytest.raises(struct.error):
        bsm_array_cdr(0, 0, "", [bsm])
    bsm = _random_bsms(random.Random(3), 1)[0]
    bsm._v2x._msg_count = 256  # bypassing the setter's check
    with pytest.raises(ValueError):
        bsm_array_cdr(0, 0, "", [bsm])
