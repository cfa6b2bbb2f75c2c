"""roadedge_msgs/msg/Trajectory as CDR bytes, built from and read into numpy arrays.

The planner publishes a trajectory of a few hundred points ten times a second and the controller
reads every one. Through the rosidl Python classes that costs about 5 ms a cycle (a Python object per
point, pose, position, orientation and duration, each field set through a checking property, then
converted again by the C serializer; the reader does it all backwards). Here the same bytes are
written and read with one numpy structured array: the message on the wire is the one rclpy would
send (plain CDR, little endian, as Fast DDS writes it; padding bytes are zero), so every other
subscriber, recorder and bag tool sees a normal Trajectory (conventions: :mod:`roadedge.cdr`).

Layout (XCDR1, alignment counted from the end of the 4-byte encapsulation header)::

    header.stamp (int32 sec, uint32 nanosec), header.frame_id (uint32 length incl. NUL, bytes, NUL)
    uint8 behaviour, uint32 point count (aligned to 4)
    per point: Duration time_from_start (int32, uint32), Pose (7 float64, aligned to 8),
               float32 velocity, acceleration, curvature, lateral_offset

A point is 80 bytes; only the first pose may need 4 bytes of padding after its Duration (the next
points start 8-aligned). The array below therefore holds (pose_i, floats_i, Duration_{i+1}) records
that start at the first pose.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from roadedge.cdr import CDR_LE, pad

if TYPE_CHECKING:  # the controller reads trajectories without loading the planner
    from roadedge.planning.planner import Plan

_RECORD = np.dtype(
    [
        ("px", "<f8"),
        ("py", "<f8"),
        ("pz", "<f8"),
        ("qx", "<f8"),
        ("qy", "<f8"),
        ("qz", "<f8"),
        ("qw", "<f8"),
        ("velocity", "<f4"),
        ("acceleration", "<f4"),
        ("curvature", "<f4"),
        ("lateral_offset", "<f4"),
        ("next_sec", "<i4"),
        ("next_nanosec", "<u4"),
    ]
)
assert _RECORD.itemsize == 80
_HEAD = struct.Struct("<iiI")  # stamp sec, nanosec, frame_id length
_U32 = struct.Struct("<I")
_DURATION = struct.Struct("<iI")


@dataclass(frozen=True)
class TrajectoryArrays:
    """The fields of a decoded Trajectory, one array per point field (float64 as rclpy gives them)."""

    stamp_sec: int
    stamp_nanosec: int
    frame_id: str
    behaviour: int
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    velocity: npt.NDArray[np.float64]
    acceleration: npt.NDArray[np.float64]
    curvature: npt.NDArray[np.float64]
    lateral_offset: npt.NDArray[np.float64]


def encode_plan(plan: Plan, stamp_sec: int, stamp_nanosec: int, frame_id: str = "map") -> bytes:
    """The Trajectory message of ``plan`` (serialized), field for field as the planner node fills it:
    time_from_start truncated to whole ns (capped at 1e5 s), orientation from yaw about z, float32
    fields rounded from float64."""
    n = len(plan.x)
    t = np.minimum(np.asarray(plan.time, dtype=np.float64)[:n], 1e5)
    sec = np.trunc(t)
    nanosec = ((t - sec) * 1e9).astype(np.int64)
    rec = np.zeros(n, dtype=_RECORD)
    rec["px"] = plan.x
    rec["py"] = plan.y
    half = [0.5 * float(a) for a in plan.yaw]  # math.sin/cos: the values the node always sent
    rec["qz"] = [math.sin(h) for h in half]
    rec["qw"] = [math.cos(h) for h in half]
    rec["velocity"] = plan.velocity
    rec["acceleration"] = plan.acceleration
    rec["curvature"] = plan.curvature
    rec["lateral_offset"] = plan.lateral_offset
    if n > 1:
        rec["next_sec"][:-1] = sec[1:]
        rec["next_nanosec"][:-1] = nanosec[1:]
    name = frame_id.encode() + b"\x00"
    head = bytearray(_HEAD.pack(stamp_sec, stamp_nanosec, len(name)))
    head += name
    head.append(int(plan.behaviour) & 0xFF)
    head += bytes(pad(len(head), 4))
    head += _U32.pack(n)
    if n:
        head += _DURATION.pack(int(sec[0]), int(nanosec[0]))
        head += bytes(pad(len(head), 8))
    return CDR_LE + bytes(head) + rec.tobytes()[: 80 * n - 8 if n else 0]


def decode(data: bytes | bytearray | memoryview) -> TrajectoryArrays:
    """Read a serialized Trajectory (plain CDR, little endian). ValueError if it is not one."""
    buf = memoryview(data).cast("B")
    if bytes(buf[:4]) != CDR_LE:
        raise ValueError(f"not little-endian plain CDR (encapsulation {bytes(buf[:4]).hex()})")
    body = buf[4:]
    size = len(body)
    try:
        sec, nanosec, name_len = _HEAD.unpack_from(body, 0)
        off = 12 + name_len
        if name_len < 1 or off + 1 > size or body[off - 1] != 0:
            raise ValueError("bad header.frame_id")
        frame_id = bytes(body[12 : off - 1]).decode()
        behaviour = body[off]
        off += 1
        off += pad(off, 4)
        (n,) = _U32.unpack_from(body, off)
        off += 4
        if n == 0:
            empty = np.zeros(0)
            return TrajectoryArrays(sec, nanosec, frame_id, behaviour, *([empty] * 6))
        off += 8  # the first time_from_start (the controller does not use it)
        off += pad(off, 8)
        end = off + 80 * n - 8
        if end > size:
            raise ValueError(f"{n} points need {end} bytes, the message has {size}")
    except struct.error as exc:
        raise ValueError(f"truncated trajectory: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"bad header.frame_id: {exc}") from None
    raw = bytearray(80 * n)
    raw[: end - off] = body[off:end]
    rec = np.frombuffer(raw, dtype=_RECORD)

    def f64(name: str) -> npt.NDArray[np.float64]:
        return rec[name].astype(np.float64)

    return TrajectoryArrays(
        sec,
        nanosec,
        frame_id,
        behaviour,
        f64("px"),
        f64("py"),
        f64("velocity"),
        f64("acceleration"),
        f64("curvature"),
        f64("lateral_offset"),
    )


def from_message(msg: Any) -> TrajectoryArrays:
    """The same arrays from a deserialized Trajectory (rosidl object)."""
    pts = msg.points

    def col(values: list[float]) -> npt.NDArray[np.float64]:
        return np.array(values, dtype=np.float64)

    return TrajectoryArrays(
        int(msg.header.stamp.sec),
        int(msg.header.stamp.nanosec),
        str(msg.header.frame_id),
        int(msg.behaviour),
        col([p.pose.position.x for p in pts]),
        col([p.pose.position.y for p in pts]),
        col([p.velocity for p in pts]),
        col([p.acceleration for p in pts]),
        col([p.curvature for p in pts]),
        col([p.lateral_offset for p in pts]),
    )
