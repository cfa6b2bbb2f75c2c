"""NMEA core: parsing, epochs, covariance from quality and GST, garbage, RTCM framing, generation."""

from __future__ import annotations

import datetime as dt
import math
import random

import pynmea2
import pytest

from roadedge.localization.gnss import (
    COVARIANCE_TYPE_APPROXIMATED,
    COVARIANCE_TYPE_DIAGONAL_KNOWN,
    COVARIANCE_TYPE_KNOWN,
    STATUS_GBAS_FIX,
    STATUS_NO_FIX,
    EpochSpec,
    FixQuality,
    NmeaStreamParser,
    Rtcm3Framer,
    covariance_from_gst,
    crc24q,
    make_epoch,
    rtcm3_frame,
)

UTC = dt.datetime(2026, 3, 14, 8, 30, 0, tzinfo=dt.timezone.utc)


def spec(**kw: object) -> EpochSpec:
    base: dict[str, object] = dict(
        utc=UTC, latitude=31.2304, longitude=121.4737, height=25.0, quality=FixQuality.RTK_FIXED,
        speed=2.5, course=30.0, geoid_separation=10.3, sigma_east=0.015, sigma_north=0.02, sigma_up=0.04,
    )  # fmt: skip
    base.update(kw)
    return EpochSpec(**base)  # type: ignore[arg-type]


def stream(*specs: EpochSpec) -> bytes:
    return "".join(line for s in specs for line in make_epoch(s)).encode()


def test_generated_sentences_have_valid_checksums_and_parse_back() -> None:
    lines = make_epoch(spec(sentences=("RMC", "VTG", "GGA", "GST", "ZDA")))
    assert [line[3:6] for line in lines] == ["RMC", "VTG", "GGA", "GST", "ZDA"]
    for line in lines:
        assert line.endswith("\r\n")
        body, checksum = line[1:].strip().split("*")
        expected = 0
        for ch in body:
            expected ^= ord(ch)
        assert int(checksum, 16) == expected
        pynmea2.parse(line.strip(), check=True)


def test_epoch_fields_and_ellipsoidal_height() -> None:
    parser = NmeaStreamParser()
    fixes = parser.feed(stream(spec()), 1.0) + parser.flush(1.05)
    assert len(fixes) == 1
    fix = fixes[0]
    assert fix.latitude == pytest.approx(31.2304, abs=1e-9)  # 1e-7 minutes resolution: ~0.2 mm
    assert fix.longitude == pytest.approx(121.4737, abs=1e-9)
    # GGA carries height above the geoid; the fix reports the ellipsoidal height.
    assert fix.altitude == pytest.approx(25.0, abs=1e-3)
    assert fix.geoid_separation == pytest.approx(10.3)
    assert fix.quality == FixQuality.RTK_FIXED and fix.status == STATUS_GBAS_FIX
    assert fix.speed == pytest.approx(2.5, abs=1e-3)
    assert fix.course == pytest.approx(30.0)
    assert fix.utc == UTC
    assert fix.sentences == {"RMC", "VTG", "GGA", "GST"}
    # GST: latitude sigma is north, longitude sigma is east (ENU covariance order)
    assert fix.covariance[0] == pytest.approx(0.015**2, rel=1e-3)
    assert fix.covariance[4] == pytest.approx(0.02**2, rel=1e-3)
    assert fix.covariance[8] == pytest.approx(0.04**2, rel=1e-3)
    assert fix.covariance_type in (COVARIANCE_TYPE_KNOWN, COVARIANCE_TYPE_DIAGONAL_KNOWN)


def test_epoch_emitted_without_waiting_once_the_sentence_set_is_learned() -> None:
    parser = NmeaStreamParser()
    assert parser.feed(stream(spec()), 1.0) == []  # first epoch: set unknown, waits
    second = spec(utc=UTC + dt.timedelta(seconds=0.1))
    data = stream(second)
    gst_start = data.index(b"$GNGST")
    early = parser.feed(data[:gst_start], 1.1)
    assert [f.utc for f in early] == [UTC]  # the first epoch closes when the next begins
    done = parser.feed(data[gst_start:], 1.11)
    assert len(done) == 1 and done[0].utc == second.utc and done[0].receive_time == 1.11


def test_covariance_per_fix_quality_without_gst() -> None:
    sigmas = {}
    for quality in (FixQuality.RTK_FIXED, FixQuality.RTK_FLOAT, FixQuality.DGPS, FixQuality.SINGLE):
        parser = NmeaStreamParser()
        fix = (parser.feed(stream(spec(quality=quality, sentences=("RMC", "GGA"), hdop=1.0)), 0.0)
               + parser.flush(0.1))[0]  # fmt: skip
        assert fix.covariance_type == COVARIANCE_TYPE_APPROXIMATED
        sigmas[quality] = math.sqrt(fix.covariance[0])
    assert (
        sigmas[FixQuality.RTK_FIXED]
        < sigmas[FixQuality.RTK_FLOAT]
        < sigmas[FixQuality.DGPS]
        < sigmas[FixQuality.SINGLE]
    )
    assert sigmas[FixQuality.RTK_FIXED] <= 0.03 and sigmas[FixQuality.SINGLE] >= 1.0


def test_gst_sigma_is_floored_by_fix_quality() -> None:
    # An RTK-float fix whose GST claims 1 cm still gets at least the float floor (5 cm).
    parser = NmeaStreamParser()
    s = spec(quality=FixQuality.RTK_FLOAT, sigma_east=0.01, sigma_north=0.01)
    fix = (parser.feed(stream(s), 0.0) + parser.flush(0.1))[0]
    assert math.sqrt(fix.covariance[0]) == pytest.approx(0.05)


def test_gst_error_ellipse_gives_east_north_correlation() -> None:
    # Semi-major 2 m pointing north-east (45 deg), semi-minor 0.5 m, no per-axis sigmas.
    cov, ctype = covariance_from_gst(None, None, 3.0, 2.0, 0.5, 45.0, floor=0.01, vertical_factor=2.0)
    assert ctype == COVARIANCE_TYPE_KNOWN
    assert cov[0] == pytest.approx(cov[4])
    assert cov[1] == cov[3] > 0  # positively correlated east and north
    assert cov[0] + cov[4] == pytest.approx(2.0**2 + 0.5**2)
    assert cov[8] == pytest.approx(9.0)


def test_invalid_fix_and_lost_lock() -> None:
    parser = NmeaStreamParser()
    fixes = parser.feed(stream(spec(quality=FixQuality.INVALID)), 0.0) + parser.flush(0.1)
    assert len(fixes) == 1
    assert not fixes[0].valid and fixes[0].status == STATUS_NO_FIX and math.isnan(fixes[0].latitude)
    assert parser.counters.invalid_fixes == 1


def test_garbage_checksum_errors_and_truncation_are_counted_never_raised() -> None:
    parser = NmeaStreamParser()
    rng = random.Random(3)
    good = stream(*(spec(utc=UTC + dt.timedelta(seconds=0.1 * k)) for k in range(50)))
    noisy = bytearray()
    for k, line in enumerate(good.split(b"\r\n")):
        if k % 7 == 3:
            noisy += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))  # binary junk
        if k % 11 == 5 and len(line) > 10:
            line = line[:8] + b"X" + line[9:]  # corrupted body: checksum mismatch
        noisy += line + b"\r\n"
    noisy += b"$GPGGA,no,checksum,here\r\n$GPGGA,123519*00\r\n" + b"$" * 1000 + b"\n"
    fixes = []
    for i in range(0, len(noisy), 37):  # arbitrary chunking, as a serial port delivers
        fixes += parser.feed(bytes(noisy[i : i + 37]), i / 1000)
    c = parser.counters
    assert c.checksum_errors >= 4
    assert c.garbage_bytes > 100
    assert c.overlong_lines + c.parse_errors >= 1
    assert 40 <= len(fixes) <= 50
    assert all(abs(f.latitude - 31.2304) < 1e-6 for f in fixes if f.valid)


def test_fuzzed_bytes_never_raise() -> None:
    rng = random.Random(11)
    parser = NmeaStreamParser()
    alphabet = b"$GPGNRMCVTGSTA,*0123456789.NSEW\r\n"
    for _ in range(300):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 200)))
        parser.feed(data, 0.0)
    parser.flush(1.0)
    assert parser.counters.bytes_in > 0


def test_midnight_rollover_without_rmc() -> None:
    parser = NmeaStreamParser()
    late = dt.datetime(2026, 3, 14, 23, 59, 59, 900000, tzinfo=dt.timezone.utc)
    parser.feed(stream(spec(utc=late)), 0.0)
    fixes = parser.feed(stream(spec(utc=late + dt.timedelta(seconds=0.2), sentences=("GGA",))), 0.2)
    fixes += parser.flush(0.3)
    assert fixes[-1].utc == dt.datetime(2026, 3, 15, 0, 0, 0, 100000, tzinfo=dt.timezone.utc)


def test_rtcm3_framer_checks_crc_and_resynchronises() -> None:
    assert crc24q(b"") == 0
    frames = [rtcm3_frame(1005, bytes(range(19))), rtcm3_frame(1077, bytes(200)), rtcm3_frame(1230, b"\x00")]
    bad = bytearray(frames[1])
    bad[10] ^= 0xFF
    data = b"junk" + frames[0] + bytes(bad) + b"\xd3" + frames[2] + frames[0]
    framer = Rtcm3Framer()
    out = []
    for i in range(0, len(data), 13):
        out += framer.feed(data[i : i + 13])
    assert out == [frames[0], frames[2], frames[0]]
    assert framer.counters.crc_errors >= 1 and framer.counters.garbage_bytes >= 4


def test_gst_at_a_lower_rate_than_the_fixes() -> None:
    # GST once a second, fixes at 10 Hz: every fix gets GST-based covariance, none waits for GST.
    parser = NmeaStreamParser()
    fixes = []
    for k in range(30):
        sentences = ("RMC", "GGA", "GST") if k % 10 == 0 else ("RMC", "GGA")
        s = spec(utc=UTC + dt.timedelta(seconds=0.1 * k), sentences=sentences, sigma_east=0.03)
        fixes += parser.feed(stream(s), 0.1 * k)
    fixes += parser.flush(3.0)
    assert len(fixes) == 30
    assert all(
        f.receive_time == pytest.approx(round(f.utc.timestamp() - UTC.timestamp(), 1)) for f in fixes[2:]
    )
    assert all(math.sqrt(f.covariance[0]) == pytest.approx(0.03) for f in fixes)
