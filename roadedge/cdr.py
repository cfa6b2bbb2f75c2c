"""Messages written as CDR bytes by roadedge itself, for the hot paths where rclpy's generic path costs
more than the work: the planner's trajectory, localization's odometry and /tf, the V2X node's BsmArray.

rclpy builds a Python object per field (a checking property each) and its C serializer reads them all
back; for a message of a few hundred points or at 50 Hz that is most of the node's time. The bytes here
are the ones rclpy would send - plain CDR (XCDR1), little endian, as Fast DDS writes it, aligned from the
end of the 4-byte encapsulation header, a string as a uint32 length (bytes + NUL), the bytes and a NUL -
except that padding bytes are zero where rclpy leaves whatever its buffer held. Every layout is checked
against rclpy's serializer byte for byte (padding aside) and read back through its deserializer in the
tests, so a change of a .msg file fails there. Publishers take the bytes as they are
(``Publisher.publish(bytes)``); subscribers, recorders and bag tools see the usual messages.

:class:`CdrTemplate` serves messages of fixed layout (constant strings written once, numbers per message);
messages with sequences write their layout with :func:`pad` and :data:`CDR_LE`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

CDR_LE = b"\x00\x01\x00\x00"
"""Encapsulation header: plain CDR, little endian, no options."""


def pad(offset: int, align: int) -> int:
    """Bytes of padding before a field of ``align`` bytes at ``offset`` (counted after the header)."""
    return -offset % align


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
