"""Signal-controller feed: plan timing, report framing, bad reports, conversion to SPAT."""

from __future__ import annotations

import contextlib
import math
import random

import pytest
from roadedge_hil.signal_controller import FixedTimePlan, PlanPhase, plan_from_config
from roadedge_msgs.msg import SpatPhaseState

from roadedge.v2x import codec, si
from roadedge.v2x.signal_feed import FeedError, decode_report, encode_report, report_to_spat

PLAN = FixedTimePlan(1, 101, [PlanPhase(1, green=20.0), PlanPhase(2, green=15.0, permissive=True)])


def test_plan_cycle_and_states() -> None:
    assert PLAN.cycle == 45.0
    r = PLAN.report(1000.0 * 45 + 21.0)
    p1, p2 = r.phases
    assert [s.light for s in p1.states] == [SpatPhaseState.LIGHT_YELLOW, SpatPhaseState.LIGHT_RED, 6]
    assert p1.states[0].likely_end_s == pytest.approx(2.0)
    assert p1.states[1].start_s == pytest.approx(2.0) and p1.states[1].likely_end_s == pytest.approx(24.0)
    assert p2.states[0].light == SpatPhaseState.LIGHT_RED and p2.states[0].likely_end_s == pytest.approx(4.0)
    assert p2.states[1].light == SpatPhaseState.LIGHT_PERMISSIVE_GREEN


def test_exactly_one_phase_green_at_a_time() -> None:
    for k in range(450):
        r = PLAN.report(k * 0.1)
        greens = [p.phase_id for p in r.phases if p.states[0].light in (5, 6)]
        assert len(greens) <= 1
        for p in r.phases:
            assert p.states[0].start_s == 0.0 and p.states[0].likely_end_s > 0.0


def test_report_round_trip_and_crc() -> None:
    r = PLAN.report(1_790_000_000.25)
    data = encode_report(r)
    back = decode_report(data)
    assert (back.region, back.node_id, back.status) == (1, 101, r.status)
    assert back.timestamp == pytest.approx(r.timestamp, abs=1e-3)
    assert back.phases[0].states[0].likely_end_s == pytest.approx(
        r.phases[0].states[0].likely_end_s, abs=0.051
    )
    bad = bytearray(data)
    bad[5] ^= 0xFF
    with pytest.raises(FeedError, match="CRC"):
        decode_report(bytes(bad))


def test_bad_reports_raise_feed_error_only() -> None:
    data = encode_report(PLAN.report(0.0))
    rng = random.Random(5)
    for cut in range(len(data)):
        with pytest.raises(FeedError):
            decode_report(data[:cut])
    for _ in range(300):
        blob = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 80)))
        with contextlib.suppress(FeedError):
            decode_report(blob)
    with pytest.raises(FeedError):
        decode_report(bytes([0x7E]) + bytes(5000) + bytes([0x7D]))


def test_report_to_spat_encodes_with_correct_si() -> None:
    t = 1_790_000_000.0 + 21.0 - (1_790_000_000.0 % 45.0)
    spat = report_to_spat(PLAN.report(t), "demo")
    kind, value = si.to_asn(spat, t + 0.05)
    data = codec.encode_frame(kind, value)
    out = si.from_asn(*codec.decode_frame(data), t + 0.05)
    inter = out.intersections[0]
    assert inter.node_id == 101 and si.from_time_msg(inter.time_stamp) == pytest.approx(t, abs=1e-3)
    s = inter.phases[0].states[0]
    assert s.light == SpatPhaseState.LIGHT_YELLOW and s.likely_end_time == pytest.approx(2.0)
    assert math.isnan(s.next_duration)


def test_plan_from_config() -> None:
    plan = plan_from_config(
        {"node_id": 7, "phases": [{"phase_id": 1, "green": 10}, {"phase_id": 2, "green": 5}]}
    )
    assert plan.cycle == 25.0
    with pytest.raises(ValueError):
        FixedTimePlan(0, 1, [])
