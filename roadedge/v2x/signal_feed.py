"""The traffic-signal-controller feed the RSU turns into SPAT.

Roadside signal controllers report their phase status over the roadside LAN; the
protocols in the field (GB/T 20999-2017, NTCIP 1202, vendor UDP pushes) differ, so the RSU
node reads one compact report format and a per-vendor adapter (or the HIL emulator
``hil/signal_controller.py``) produces it. One UDP datagram is one report, framed like
GB/T 20999 (0x7E start, 0x7D end, CRC-16/CCITT) but with a payload of our own:

    u8  version (1)
    u16 region, u16 node_id, u16 status bits (IntersectionStatusObject numbering)
    u64 timestamp, ms since the unix epoch (UTC), the instant the timings refer to
    u8  phase count, then per phase:
        u8 phase_id, u8 state count, then per state:
            u8 light (LightState), u16 start, u16 min_end, u16 max_end, u16 likely_end
            (0.1 s relative to the timestamp, 0xFFFF = unknown)

All integers big-endian.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from roadedge_msgs.msg import Spat, SpatIntersection, SpatPhase, SpatPhaseState

from roadedge.v2x import si

START = 0x7E
END = 0x7D
VERSION = 1
UNKNOWN = 0xFFFF
MAX_REPORT_BYTES = 4096


class FeedError(ValueError):
    pass


@dataclass
class StateReport:
    light: int  # CSAE LightState / SpatPhaseState.LIGHT_*
    start_s: float
    likely_end_s: float
    min_end_s: float = math.nan
    max_end_s: float = math.nan


@dataclass
class PhaseReport:
    phase_id: int
    states: list[StateReport] = field(default_factory=list)


@dataclass
class SignalReport:
    region: int
    node_id: int
    status: int
    timestamp: float  # unix seconds
    phases: list[PhaseReport] = field(default_factory=list)


def crc16_ccitt(data: bytes, crc: int = 0xFFFF) -> int:
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def _tenths(value: float) -> int:
    if not math.isfinite(value):
        return UNKNOWN
    return max(0, min(UNKNOWN - 1, round(value * 10)))


def _seconds(value: int) -> float:
    return math.nan if value == UNKNOWN else value / 10.0


def encode_report(report: SignalReport) -> bytes:
    body = bytearray(
        struct.pack(
            ">BHHHQB",
            VERSION,
            report.region,
            report.node_id,
            report.status,
            round(report.timestamp * 1000),
            len(report.phases),
        )
    )
    for phase in report.phases:
        body += struct.pack(">BB", phase.phase_id, len(phase.states))
        for s in phase.states:
            body += struct.pack(
                ">BHHHH",
                s.light,
                _tenths(s.start_s),
                _tenths(s.min_end_s),
                _tenths(s.max_end_s),
                _tenths(s.likely_end_s),
            )
    body += struct.pack(">H", crc16_ccitt(bytes(body)))
    return bytes([START]) + bytes(body) + bytes([END])


def decode_report(frame: bytes) -> SignalReport:
    """Parse one report; anything malformed raises FeedError."""
    if len(frame) > MAX_REPORT_BYTES:
        raise FeedError(f"oversized report ({len(frame)} bytes)")
    if len(frame) < 2 + 16 + 2 or frame[0] != START or frame[-1] != END:
        raise FeedError("bad framing")
    body, crc = frame[1:-3], struct.unpack(">H", frame[-3:-1])[0]
    if crc16_ccitt(body) != crc:
        raise FeedError("CRC mismatch")
    try:
        version, region, node_id, status, stamp_ms, n_phases = struct.unpack_from(">BHHHQB", body, 0)
        if version != VERSION:
            raise FeedError(f"version {version}")
        offset = 16
        phases = []
        for _ in range(n_phases):
            phase_id, n_states = struct.unpack_from(">BB", body, offset)
            offset += 2
            states = []
            for _ in range(n_states):
                light, start, mn, mx, likely = struct.unpack_from(">BHHHH", body, offset)
                offset += 9
                states.append(
                    StateReport(light, _seconds(start), _seconds(likely), _seconds(mn), _seconds(mx))
                )
            phases.append(PhaseReport(phase_id, states))
    except struct.error as err:
        raise FeedError(f"truncated report: {err}") from err
    if offset != len(body):
        raise FeedError(f"{len(body) - offset} trailing bytes")
    return SignalReport(region, node_id, status, stamp_ms / 1000.0, phases)


def report_to_spat(report: SignalReport, name: str = "") -> Spat:
    """The feed report as the SI Spat message (timings stay relative to the report time)."""
    msg = Spat()
    msg.name = name
    msg.v2x.header.frame_id = "wgs84"
    msg.v2x.generation_time = si.to_time_msg(report.timestamp)
    inter = SpatIntersection(
        region=report.region,
        node_id=report.node_id,
        status=report.status,
        time_stamp=si.to_time_msg(report.timestamp),
    )
    for phase in report.phases[:16]:
        out = SpatPhase(phase_id=phase.phase_id)
        for s in phase.states[:16]:
            out.states.append(
                SpatPhaseState(
                    light=s.light if 0 <= s.light <= 8 else SpatPhaseState.LIGHT_UNAVAILABLE,
                    start_time=s.start_s,
                    min_end_time=s.min_end_s,
                    max_end_time=s.max_end_s,
                    likely_end_time=s.likely_end_s,
                    next_start_time=math.nan,
                    next_duration=math.nan,
                )
            )
        if out.states:
            inter.phases.append(out)
    msg.intersections = [inter]
    return msg
