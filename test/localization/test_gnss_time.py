"""GNSS time stamping: fix time -> node clock through the offset estimator (jitter, garbage, steps,
midnight), and through the NMEA parser around midnight."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest

from hil.gnss_emulator import GnssEmulator, GnssEmulatorConfig
from roadedge.config import ConfigError, validate
from roadedge.localization.gnss import NmeaStreamParser
from roadedge.localization.gnss_time import GnssClockOffset

OFFSET = 1000.0  # s, node clock - GNSS time
FIXED_DELAY = 0.03  # s, receiver + serial line


def arrivals(n: int, seed: int = 1, t0: float = 1.7e9) -> list[tuple[float, float]]:
    """(fix time, arrival) at 10 Hz with a fixed delay and exponential jitter (poll period, load)."""
    rng = random.Random(seed)
    return [(t0 + 0.1 * k, t0 + 0.1 * k + OFFSET + FIXED_DELAY + rng.expovariate(1 / 0.02)) for k in range(n)]


def test_stamps_remove_the_jitter_of_arrival() -> None:
    est = GnssClockOffset(window=10.0, max_delay=0.5)
    errors, arrival_errors = [], []
    for k, (fix, arrival) in enumerate(arrivals(300)):
        stamp = est.stamp(fix, arrival)
        assert stamp is not None and stamp <= arrival + 1e-9
        if k >= 20:
            errors.append(stamp - (fix + OFFSET + FIXED_DELAY))
            arrival_errors.append(arrival - (fix + OFFSET + FIXED_DELAY))
    assert np.max(np.abs(errors)) < 0.005  # vs 20 ms mean, 100 ms worst arrival jitter
    assert np.std(errors) < 0.1 * np.std(arrival_errors)
    assert est.counters.accepted == 300 and est.counters.rejected == 0
    # A known latency (e.g. measured with PPS) is taken off.
    est2 = GnssClockOffset(latency=FIXED_DELAY)
    for fix, arrival in arrivals(100):
        stamp = est2.stamp(fix, arrival)
    assert stamp == pytest.approx(fix + OFFSET, abs=0.005)


def test_garbage_times_and_stalled_lines_are_stamped_on_arrival_without_moving_the_estimate() -> None:
    est = GnssClockOffset(max_delay=0.5)
    data = arrivals(100)
    for fix, arrival in data[:50]:
        est.stamp(fix, arrival)
    offset = est.offset
    fix, arrival = data[50]
    assert est.stamp(fix - 86400.0, arrival) is None  # a wrong date
    assert est.stamp(fix + 3600.0, arrival) is None  # a wrong hour: a delay < 0
    assert est.stamp(fix - 2.0, arrival) is None  # a 2 s stalled line
    assert est.stamp(None, arrival) is None
    assert est.stamp(float("nan"), arrival) is None
    assert est.counters.rejected == 3 and est.counters.no_time == 2 and est.counters.reanchors == 0
    for fix, arrival in data[51:]:
        assert est.stamp(fix, arrival) is not None
    assert est.offset == pytest.approx(offset, abs=0.005)


def test_a_clock_step_reanchors_after_consistent_samples() -> None:
    est = GnssClockOffset(reanchor_after=10)
    data = arrivals(200)
    for fix, arrival in data[:100]:
        est.stamp(fix, arrival)
    results = [est.stamp(fix, arrival + 5.0) for fix, arrival in data[100:]]  # host clock set 5 s ahead
    assert all(r is None for r in results[:9]) and results[9] is not None
    assert est.counters.reanchors == 1
    assert est.offset == pytest.approx(OFFSET + 5.0 + FIXED_DELAY, abs=0.05)
    assert all(r is not None for r in results[10:])


def test_time_of_day_without_a_date_crosses_midnight() -> None:
    est = GnssClockOffset()
    midnight = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc).timestamp()
    stamps, fixes = [], []
    for k in range(-20, 20):
        t = midnight + 0.1 * k
        tod = dt.datetime.fromtimestamp(t, dt.timezone.utc).time()
        fix = est.fix_time(None, tod, t + OFFSET + FIXED_DELAY)
        assert fix is not None
        fixes.append(fix)
        stamps.append(est.stamp(fix, t + OFFSET + FIXED_DELAY))
    assert np.allclose(np.diff(fixes), 0.1) and fixes[20] == pytest.approx(midnight)
    assert None not in stamps and np.allclose(np.diff(np.array(stamps, dtype=float)), 0.1)


def test_nmea_epochs_across_midnight_through_the_parser() -> None:
    start = dt.datetime(2026, 12, 31, 23, 59, 57, tzinfo=dt.timezone.utc)
    emu = GnssEmulator(GnssEmulatorConfig(utc_start=start))
    parser = NmeaStreamParser()
    est = GnssClockOffset()
    stamps = []
    for k in range(60):  # 6 s: into the new year
        arrival = 500.0 + 0.1 * k + 0.05
        for fix in parser.feed("".join(emu.epoch(0.1 * k, 3.0 * 0.1 * k, 0.0, 0.0, 3.0)).encode(), arrival):
            stamps.append(est.stamp(est.fix_time(fix.utc, fix.utc_time, arrival), arrival))
            last_utc = fix.utc
    assert last_utc is not None and last_utc.year == 2027
    assert len(stamps) >= 58 and None not in stamps
    # The first fix leaves with the next epoch (the parser learns the epoch's sentences): it anchors
    # late; the next, less delayed, lower the estimate to the true delay.
    assert np.allclose(np.diff(np.array(stamps[1:], dtype=float)), 0.1, atol=1e-3)
    assert stamps[-1] == pytest.approx(500.05 + 0.1 * (len(stamps) - 1), abs=1e-3)  # fix k=59 + 50 ms


def test_stamp_source_is_validated() -> None:
    from nodes.gnss_receiver import GnssReceiverConfig

    assert validate({}, GnssReceiverConfig, node="gnss_receiver", source="test").stamp_source == "receiver"
    with pytest.raises(ConfigError, match="stamp_source"):
        validate({"stamp_source": "gps"}, GnssReceiverConfig, node="gnss_receiver", source="test")
    with pytest.raises(ValueError):
        GnssClockOffset(window=0.0)
