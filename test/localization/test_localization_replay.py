"""A recorded NMEA log replayed through the GNSS core (and the EKF) gives a continuous, plausible track."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np

from roadedge.localization.ekf import EkfParams, LocalizationEkf
from roadedge.localization.geodesy import GeodeticOrigin, LeverArm, MapFrame, enu_covariance
from roadedge.localization.gnss import FixQuality, NmeaStreamParser, log_epochs

LOG = Path(__file__).with_name("data") / "sample_drive.nmea"
ORIGIN = GeodeticOrigin(31.2304, 121.4737, 12.0)


def replay() -> tuple[NmeaStreamParser, list[tuple[float, object]]]:
    parser = NmeaStreamParser()
    fixes = []
    epochs = log_epochs(LOG.read_bytes())
    for t, chunk in epochs:
        for i in range(0, len(chunk), 64):  # as a serial port would deliver it
            fixes += [(t, f) for f in parser.feed(chunk[i : i + 64], t)]
        fixes += [(t, f) for f in parser.flush(t + 0.03)]  # the line goes quiet between epochs
    return parser, fixes


def test_log_epochs_split_by_utc_across_midnight() -> None:
    epochs = log_epochs(LOG.read_bytes())
    times = [t for t, _ in epochs]
    assert len(epochs) == 450
    assert times[0] == 0.0
    assert np.allclose(np.diff(times), 0.1, atol=1e-6)  # 23:59:40 .. 00:00:25 without a jump back
    assert b"".join(chunk for _, chunk in epochs) == LOG.read_bytes()


def test_replayed_log_gives_continuous_plausible_track() -> None:
    parser, fixes = replay()
    c = parser.counters
    assert c.checksum_errors + c.garbage_bytes + c.parse_errors > 0  # the log has corrupted lines
    valid = [(t, f) for t, f in fixes if f.valid]  # type: ignore[attr-defined]
    invalid = [t for t, f in fixes if not f.valid]  # type: ignore[attr-defined]
    assert len(valid) >= 400 and 25 <= len(invalid) <= 31  # 3 s lost lock
    qualities = {f.quality for _, f in valid}  # type: ignore[attr-defined]
    assert qualities == {FixQuality.RTK_FIXED, FixQuality.RTK_FLOAT}
    utc = [f.utc for _, f in valid]  # type: ignore[attr-defined]
    assert all(b > a for a, b in itertools.pairwise(utc))
    assert utc[0].day == 18 and utc[-1].day == 19  # the date rolls over at midnight

    frame = MapFrame(ORIGIN)
    pts = np.array([frame.to_map(f.latitude, f.longitude, f.altitude) for _, f in valid])  # type: ignore[attr-defined]
    times = np.array([t for t, _ in valid])
    speeds = np.array([f.speed for _, f in valid])  # type: ignore[attr-defined]
    step = np.hypot(np.diff(pts[:, 0]), np.diff(pts[:, 1]))
    dt = np.diff(times)
    # Continuous: steps agree with the reported speed, except across the lost-lock gap.
    expected = speeds[1:] * dt
    contiguous = dt < 0.25  # a corrupted GGA loses one epoch
    assert np.all(dt > 0.05) and contiguous.sum() >= len(dt) - 1
    sigma = np.array([f.horizontal_sigma for _, f in valid])  # type: ignore[attr-defined]
    tolerance = 0.05 + 0.1 * expected + 4.0 * np.hypot(sigma[1:], sigma[:-1])  # 4 sigma of the fixes
    assert np.all((np.abs(step - expected) < tolerance)[contiguous])
    assert np.abs(step - expected)[~contiguous].max() < 1.0
    assert np.max(speeds) < 5.0 and np.max(np.abs(np.diff(pts[:, 2]))) < 1.0
    # Through an EKF with only GNSS and its own speed: a smooth track, no jumps.
    ekf = LocalizationEkf(EkfParams(antenna=LeverArm(1.2, 0.3, 2.1)))
    track = []
    for t, f in valid:
        ekf.update_speed(t, f.speed or 0.0)  # type: ignore[attr-defined]
        e, n, u = frame.to_map(f.latitude, f.longitude, f.altitude)  # type: ignore[attr-defined]
        ekf.update_gnss(t, e, n, u, enu_covariance(f.covariance))  # type: ignore[attr-defined]
        if ekf.initialized:
            track.append((t, ekf.x[0], ekf.x[1], ekf.x[3]))
    tr = np.array(track)
    assert len(tr) > 350 and ekf.counters.gnss_rejected <= 3
    jumps = np.hypot(np.diff(tr[:, 1]), np.diff(tr[:, 2])) - np.abs(tr[1:, 3]) * np.diff(tr[:, 0])
    assert np.max(np.abs(jumps)) < 0.3
    assert math.isfinite(ekf.lateral_sigma()) and ekf.lateral_sigma() < 0.1
