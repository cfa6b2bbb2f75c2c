"""End-to-end protection of CAN frames: checksums and rolling counters.

The algorithms are named in the chassis YAML map (``xor8``, ``crc8_sae_j1850``) together
with the byte range they cover; the checksum byte itself is zero while computing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def xor8(data: bytes) -> int:
    """XOR of all bytes."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def _crc8_table(poly: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_J1850 = _crc8_table(0x1D)


def crc8_sae_j1850(data: bytes) -> int:
    """CRC-8 SAE J1850 (poly 0x1D, init 0xFF, final XOR 0xFF; check("123456789") = 0x4B)."""
    crc = 0xFF
    for byte in data:
        crc = _J1850[crc ^ byte]
    return crc ^ 0xFF


ALGORITHMS: dict[str, Callable[[bytes], int]] = {
    "xor8": xor8,
    "crc8_sae_j1850": crc8_sae_j1850,
}


@dataclass(frozen=True)
class CounterCheck:
    """Verdict of a received rolling counter."""

    ok: bool
    reason: str = ""


class CounterTracker:
    """Receive-side rolling counter: a repeated value or a jump beyond ``max_delta`` is rejected.

    After a rejected jump the tracker resynchronises on that value, so one lost burst costs
    one frame, not all following ones.
    """

    def __init__(self, modulo: int, max_delta: int = 1) -> None:
        self.modulo = modulo
        self.max_delta = max_delta
        self.last: int | None = None

    def check(self, value: int) -> CounterCheck:
        last, self.last = self.last, value
        if last is None:
            return CounterCheck(True)
        delta = (value - last) % self.modulo
        if delta == 0:
            return CounterCheck(False, "counter_repeated")
        if delta > self.max_delta:
            return CounterCheck(False, "counter_jump")
        return CounterCheck(True)

    def reset(self) -> None:
        self.last = None
