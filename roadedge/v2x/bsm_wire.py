"""roadedge_msgs/msg/BsmArray as CDR bytes, written straight from the Bsm objects' fields.

With ``bsm_array`` the V2X node publishes the BSMs of a receive burst as one BsmArray: at a large
intersection thousands of BSMs a second. rclpy's generic path converts each Bsm to a C struct (a
class-name check and a Python property call per field, six nested messages per BSM, three strings
allocated and freed) and then serializes that: about 5 us per BSM. Here the same bytes are written
with a few ``struct`` calls per BSM (about 2 us); the message on the wire is the one rclpy would send
(plain CDR, little endian, as Fast DDS writes it; padding bytes zero where rclpy leaves whatever was in
its buffer), so every subscriber, recorder and bag tool sees a normal BsmArray. ``test_v2x_bsm_wire``
checks it against rclpy byte for byte (padding aside) and through rclpy's deserializer.

Layout (XCDR1, alignment counted from the end of the 4-byte encapsulation header)::

    BsmArray: header.stamp (int32, uint32), header.frame_id (string), uint32 count, Bsm * count
    Bsm: v2x.header.stamp (int32, uint32), v2x.header.frame_id (string), v2x.sender_id (string),
         v2x.msg_count (uint8), v2x.generation_time (int32, uint32 aligned to 4),
         v2x.security_verdict (uint8), v2x.signer_digest (string aligned to 4),
         then, aligned to 8, a fixed 100-byte tail: position (3 float64), 3 float32, uint8,
         7 float32, bool, 3 float32, uint8, uint16, uint32, bool, 3 uint8 (explicit padding below),
         uint32 count of path_history; then per PathHistoryPoint 4 padding bytes and 44 bytes:
         position (3 float64), 5 float32; then path_radius_of_curvature, path_prediction_confidence
         (float32), path_history_gnss_status (uint16)

A string is a uint32 length (bytes + the terminating NUL), the UTF-8 bytes and a NUL. The tail starts
8-aligned, so that the path_history count ends 4 bytes past an 8-aligned offset, and so does every
PathHistoryPoint (4 bytes of padding before its float64s, 44 bytes); every Bsm thus ends 14 bytes past
an 8-aligned offset and the next one starts after 2 padding bytes. Only the paddings before a string's
length, before generation_time and before the tail vary with the string lengths. A BSM without path
history (the common case) is written with one ``struct`` call after its strings, as before.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from roadedge.cdr import CDR_LE

_ZEROS = bytes(8)
_STAMP_STRING = struct.Struct("<iII")  # stamp sec, nanosec, length of the string that follows
_U32 = struct.Struct("<I")
_TIME_U8 = struct.Struct("<iIB")  # generation_time sec, nanosec, security_verdict
_TAIL = struct.Struct("<3d3fB3x7f?3x3fBxHI?3BI")  # ... + the path_history count
assert _TAIL.size == 100
# the same tail with no path history (its count 0: 4 zero bytes), the path prediction and the next Bsm's
# 2 padding bytes
_TAIL_NO_HISTORY = struct.Struct("<3d3fB3x7f?3x3fBxHI?3B4x2fH2x")
assert _TAIL_NO_HISTORY.size == 112
_POINT = struct.Struct("<4x3d5f")  # 4 padding bytes, then 8-aligned: position, 5 float32
assert _POINT.size == 48
_AFTER_HISTORY = struct.Struct("<2fH2x")  # prediction, GNSS status, the next Bsm's padding
_POSITION = attrgetter("_latitude", "_longitude", "_elevation")
_POINT_FIELDS = attrgetter("_time_offset", "_speed", "_heading", "_position_accuracy", "_elevation_accuracy")
#: the Bsm fields after ``v2x`` and ``position``, in the order of the .msg (the order on the wire)
TAIL_FIELDS = (
    "position_semi_major",
    "position_semi_minor",
    "position_orientation",
    "transmission",
    "speed",
    "heading",
    "steering_wheel_angle",
    "acceleration_longitudinal",
    "acceleration_lateral",
    "acceleration_vertical",
    "yaw_rate",
    "brake_pedal_applied",
    "length",
    "width",
    "height",
    "vehicle_class",
    "event_flags",
    "exterior_lights",
    "emergency_vehicle",
    "response_type",
    "siren_in_use",
    "lights_in_use",
)
_TAIL_FIELDS = attrgetter(*(f"_{name}" for name in TAIL_FIELDS))
#: the Bsm fields after ``path_history``
AFTER_HISTORY_FIELDS = ("path_radius_of_curvature", "path_prediction_confidence", "path_history_gnss_status")
_AFTER_HISTORY_FIELDS = attrgetter(*(f"_{name}" for name in AFTER_HISTORY_FIELDS))
_TAIL_AND_AFTER_FIELDS = attrgetter(*(f"_{name}" for name in (*TAIL_FIELDS, *AFTER_HISTORY_FIELDS)))
#: every field of a Bsm in wire order (``v2x``, ``position`` and the path history's points are messages)
BSM_FIELDS = ("v2x", "position", *TAIL_FIELDS, "path_history", *AFTER_HISTORY_FIELDS)
#: the fields of a PathHistoryPoint in wire order (``position`` a GeoPoint)
POINT_FIELDS = ("position", "time_offset", "speed", "heading", "position_accuracy", "elevation_accuracy")


def bsm_array_cdr(stamp_sec: int, stamp_nanosec: int, frame_id: str, bsms: Sequence[Any]) -> bytes:
    """The serialized BsmArray (encapsulation header included) of ``bsms`` (roadedge_msgs Bsm objects,
    read through their field slots), ready for ``Publisher.publish``. A value that does not fit its
    field raises ``struct.error`` / ``ValueError`` / ``OverflowError`` (never wrong bytes)."""
    out = bytearray(CDR_LE)
    name = frame_id.encode()
    out += _STAMP_STRING.pack(stamp_sec, stamp_nanosec, len(name) + 1)
    out += name
    out.append(0)
    out += _ZEROS[: -(len(out) - 4) % 4]
    out += _U32.pack(len(bsms))
    string_start = _STAMP_STRING.pack
    u32 = _U32.pack
    time_u8 = _TIME_U8.pack
    tail = _TAIL.pack
    tail_no_history = _TAIL_NO_HISTORY.pack
    point_pack = _POINT.pack
    after_history = _AFTER_HISTORY.pack
    for msg in bsms:  # every Bsm starts 4-aligned (after the count, or after the previous one's padding)
        v2x = msg._v2x
        header = v2x._header
        stamp = header._stamp
        name = header._frame_id.encode()
        out += string_start(stamp._sec, stamp._nanosec, len(name) + 1)
        out += name
        out.append(0)
        out += _ZEROS[: -(len(out) - 4) % 4]
        sender = v2x._sender_id.encode()
        out += u32(len(sender) + 1)
        out += sender
        out.append(0)
        out.append(v2x._msg_count)
        out += _ZEROS[: -(len(out) - 4) % 4]
        generation = v2x._generation_time
        out += time_u8(generation._sec, generation._nanosec, v2x._security_verdict)
        out += _ZEROS[: -(len(out) - 4) % 4]
        signer = v2x._signer_digest.encode()
        out += u32(len(signer) + 1)
        out += signer
        out.append(0)
        out += _ZEROS[: -(len(out) - 4) % 8]
        history = msg._path_history
        if not history:
            out += tail_no_history(*_POSITION(msg._position), *_TAIL_AND_AFTER_FIELDS(msg))
            continue
        out += tail(*_POSITION(msg._position), *_TAIL_FIELDS(msg), len(history))
        for point in history:
            out += point_pack(*_POSITION(point._position), *_POINT_FIELDS(point))
        out += after_history(*_AFTER_HISTORY_FIELDS(msg))
    if bsms:
        del out[-2:]  # the last Bsm's padding: nothing follows it
    return bytes(out)
