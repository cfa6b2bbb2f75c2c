"""The localization node's outputs as CDR bytes: nav_msgs/Odometry, tf2_msgs/TFMessage, sensor_msgs/NavSatFix.

The node publishes odometry and /tf 50 times a second. Through the rosidl Python classes each cycle
builds some twenty message objects (Odometry, its header, stamp, pose, point, quaternion, twist, two
vectors, two covariance lists; two TransformStamped with theirs, the TFMessage), every field set through
a property, and the C serializer reads them all back: ~60 us a cycle. Here the frame names, which never
change, are written once into a template of the message's bytes and each cycle writes only the numbers
(``struct.pack_into`` at fixed offsets): the bytes rclpy would send (plain CDR, little endian, as Fast DDS
writes it; padding bytes are zero), so every subscriber, recorder and bag tool sees the usual messages.

A template is a sequence of fields, aligned as XCDR1 aligns them (from the end of the 4-byte
encapsulation header): a format character ``i`` (int32), ``I`` (uint32), ``b``/``B`` (int8/uint8),
``H`` (uint16) or ``d`` (float64) is a value given per message, in order; ``bytes`` is a constant string
(uint32 length including the NUL, the bytes, the NUL); ``Const(fmt, value)`` a constant number.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

CDR_LE = b"\x00\x01\x00\x00"
"""Encapsulation header: plain CDR, little endian, no options."""

_SIZE = {"b": 1, "B": 1, "H": 2, "i": 4, "I": 4, "d": 8}


@dataclass(frozen=True)
class Const:
    """A constant number in a template (e.g. a sequence length, a status that never changes)."""

    fmt: str
    value: int | float


Field = str | bytes | Const


class CdrTemplate:
    """A message of fixed layout: the constant bytes once, the values written per message."""

    def __init__(self, fields: Sequence[Field]) -> None:
        buf = bytearray(CDR_LE)
        runs: list[tuple[struct.Struct, int, int]] = []  # (struct, byte offset, value count)
        padding: list[int] = []
        run_fmt, run_start, run_count = "", -1, 0
        off = 0  # from the end of the encapsulation header

        def align(n: int) -> int:
            nonlocal off
            pad = -off % n
            padding.extend(range(len(buf), len(buf) + pad))
            off += pad
            buf.extend(b"\x00" * pad)
            return pad

        def close_run() -> None:
            nonlocal run_fmt, run_start, run_count
            if run_count:
                runs.append((struct.Struct("<" + run_fmt), run_start + len(CDR_LE), run_count))
            run_fmt, run_start, run_count = "", -1, 0

        for f in fields:
            if isinstance(f, str):
                if f not in _SIZE:
                    raise ValueError(f"unknown field format {f!r}")
                if run_start < 0:
                    align(_SIZE[f])
                    run_start = off
                else:
                    pad = align(_SIZE[f])
                    run_fmt += "x" * pad
                run_fmt += f
                run_count += 1
                off += _SIZE[f]
                buf.extend(b"\x00" * _SIZE[f])
                continue
            close_run()
            if isinstance(f, bytes):
                align(4)
                data = f + b"\x00"
                buf.extend(struct.pack("<I", len(data)) + data)
                off += 4 + len(data)
            else:
                align(_SIZE[f.fmt])
                buf.extend(struct.pack("<" + f.fmt, f.value))
                off += _SIZE[f.fmt]
        close_run()
        self.template = bytes(buf)
        self.padding = tuple(padding)
        """Offsets of the alignment bytes (zero here; rclpy leaves whatever its buffer held)."""
        self._runs = tuple(runs)
        self.count = sum(n for _, _, n in runs)

    def pack(self, *values: float | int) -> bytes:
        """The message with these values (as many as the template's value fields, in order)."""
        if len(values) != self.count:
            raise ValueError(f"{self.count} values expected, got {len(values)}")
        buf = bytearray(self.template)
        k = 0
        for st, offset, n in self._runs:
            st.pack_into(buf, offset, *values[k : k + n])
            k += n
        return bytes(buf)


STAMP: tuple[str, str] = ("i", "I")  # builtin_interfaces/Time: sec, nanosec
POSE: tuple[str, ...] = ("d",) * 7  # geometry_msgs/Pose: position x y z, orientation x y z w
TRANSFORM = POSE  # geometry_msgs/Transform: translation x y z, rotation x y z w (the same layout)


def odometry_template(frame_id: str, child_frame_id: str) -> CdrTemplate:
    """nav_msgs/Odometry; values: sec, nanosec, pose (7), pose covariance (36), twist linear and angular
    (6), twist covariance (36)."""
    return CdrTemplate(
        (*STAMP, frame_id.encode(), child_frame_id.encode(), *POSE, *("d",) * 36, *("d",) * 6, *("d",) * 36)
    )


def tf_template(frames: Sequence[tuple[str, str]]) -> CdrTemplate:
    """tf2_msgs/TFMessage of these (parent, child) transforms; values per transform: sec, nanosec,
    translation (3), rotation (4)."""
    fields: list[Field] = [Const("I", len(frames))]
    for parent, child in frames:
        fields += [*STAMP, parent.encode(), child.encode(), *TRANSFORM]
    return CdrTemplate(fields)


def navsatfix_template(frame_id: str, service: int, covariance_type: int) -> CdrTemplate:
    """sensor_msgs/NavSatFix; values: sec, nanosec, status (int8), latitude, longitude, altitude,
    position covariance (9)."""
    return CdrTemplate(
        (
            *STAMP,
            frame_id.encode(),
            "b",
            Const("H", service),
            "d",
            "d",
            "d",
            *("d",) * 9,
            Const("B", covariance_type),
        )
    )
