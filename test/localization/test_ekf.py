"""EKF acceptance against the HIL plant's ground truth (pure Python, no DDS).

The route is curved (S-bends, 3 m/s); GNSS goes emulator -> NMEA bytes -> GNSS core ->
geodesy -> EKF, IMU gyro has a 0.004 rad/s bias, wheel speed a 0.5 % scale error.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from loc_sim import ANTENNA, SimConfig, p95, run

from hil.gnss_emulator import Jump, NoiseModel, Outage
from roadedge.localization.ekf import EkfParams, FilterState, LocalizationEkf, required_accuracy_met
from roadedge.localization.gnss import FixQuality

# "Single-point noise" of the acceptance test: white 1.0 m per axis plus a slowly wandering
# 0.15 m (Gauss-Markov, 60 s). A filter cannot remove the wandering part of a real
# single-point error; with the emulator's default single model (0.8 m white + 1.0 m over
# 120 s) the lateral p95 is about 1.1 m -- see the report in the issue.
SINGLE_ACCEPTANCE = {FixQuality.SINGLE: NoiseModel(white=1.0, walk=0.15, tau=60.0)}

OUTAGE_START, OUTAGE_END = 40.0, 60.0
OUTAGE_BOUND = 0.6  # m, horizontal error bound during a 20 s outage at 3 m/s (60 m driven, 1 %)


@pytest.fixture(scope="module")
def rtk() -> object:
    return run(SimConfig(quality=FixQuality.RTK_FIXED, duration=60.0))


def test_rtk_fixed_lateral_p95_within_10_cm(rtk: object) -> None:
    r = rtk
    lat, lon, _ = r.errors()  # type: ignore[attr-defined]
    w = r.window(10.0)  # type: ignore[attr-defined]
    assert w.sum() > 4500
    assert p95(lat[w]) <= 0.10
    assert p95(lon[w]) <= 0.10
    # The filter knows its accuracy: errors within 3 sigma, and it says curb sweeping is possible.
    sig = r.lateral_sigma[w]  # type: ignore[attr-defined]
    assert np.mean(np.abs(lat[w]) <= 3 * sig) >= 0.95
    assert required_accuracy_met(r.ekf.lateral_sigma(), 0.10)  # type: ignore[attr-defined]
    assert r.ekf.counters.gnss_rejected <= 5  # type: ignore[attr-defined]
    # Gyro bias estimated (truth 0.004 rad/s).
    assert r.ekf.x[5] == pytest.approx(0.004, abs=0.001)  # type: ignore[attr-defined]
    # Wheel speed scale factor estimated (truth 1.005).
    assert r.ekf.x[6] == pytest.approx(1.005, abs=0.002)  # type: ignore[attr-defined]


def test_single_point_lateral_p95_within_half_a_metre() -> None:
    # p95 over six runs with different noise (seeds), so that no lucky seed decides.
    lateral = []
    for seed in range(1, 7):
        r = run(SimConfig(quality=FixQuality.SINGLE, noise=SINGLE_ACCEPTANCE, duration=50.0, seed=seed))
        lateral.append(r.errors()[0][r.window(15.0)])
        # ... and the filter reports that this is not good enough for curb sweeping.
        assert not required_accuracy_met(r.ekf.lateral_sigma(), 0.10)
    assert p95(np.concatenate(lateral)) <= 0.5


def test_without_imu_steering_and_wheel_speed_suffice_for_rtk() -> None:
    r = run(SimConfig(quality=FixQuality.RTK_FIXED, imu=False, duration=60.0))
    lat, _, _ = r.errors()
    assert p95(lat[r.window(10.0)]) <= 0.10


@pytest.mark.parametrize("imu", [True, False])
def test_20_s_outage_error_bounded_and_recovery_within_the_gate(imu: bool) -> None:
    r = run(SimConfig(outages=(Outage(OUTAGE_START, OUTAGE_END),), duration=75.0, imu=imu))
    lat, _, hor = r.errors()
    during = r.window(OUTAGE_START, OUTAGE_END + 0.05)
    assert hor[during].max() <= OUTAGE_BOUND
    # The covariance grows through the outage and covers the error.
    sig = r.lateral_sigma
    i0, i1 = np.searchsorted(r.t, [OUTAGE_START + 1.5, OUTAGE_END - 0.01])
    assert sig[i1] > 5 * sig[i0]
    assert np.all(np.abs(lat[during]) <= 3 * sig[during] + 0.02)
    # Recovery: the first fix after the outage is accepted (not rejected as a jump) and
    # moves the estimate by less than the gate allows; then RTK accuracy is back.
    after = [(t, u) for t, u in r.gnss if t >= OUTAGE_END]
    first = after[0][1]
    assert first.accepted and first.mahalanobis2 <= r.ekf.gate
    assert first.correction <= OUTAGE_BOUND
    assert all(u.accepted for _, u in after)
    lat_after = lat[r.window(OUTAGE_END + 5.0)]
    assert p95(lat_after) <= 0.10
    # REP-105: odom is continuous (steps no longer than the motion), map -> odom takes the correction.
    w = r.window(OUTAGE_END - 1.0, OUTAGE_END + 1.0)
    odom_steps = np.hypot(*np.diff(r.odom[w][:, :2], axis=0).T)
    map_steps = np.hypot(*np.diff(r.est[w][:, :2], axis=0).T)
    assert odom_steps.max() <= 3.2 * 0.01 + 1e-3 < map_steps.max()
    mx, my, myaw = r.ekf.map_to_odom()
    ox, oy, _ = r.ekf.odom
    base = (mx + math.cos(myaw) * ox - math.sin(myaw) * oy, my + math.sin(myaw) * ox + math.cos(myaw) * oy)
    assert base == pytest.approx((r.ekf.x[0], r.ekf.x[1]), abs=1e-9)


def test_outage_state_is_dead_reckoning() -> None:
    ekf = LocalizationEkf(EkfParams(antenna=ANTENNA))
    ekf.reset_to_pose(0.0, 0.0, 0.0, 0.0)
    ekf.last_gnss_time = 0.0
    for k in range(1, 301):
        ekf.update_speed(k * 0.01, 3.0)
    assert ekf.state() == FilterState.DEAD_RECKONING
    assert ekf.x[0] == pytest.approx(9.0, abs=0.1)


def test_injected_5_m_jump_is_rejected() -> None:
    r = run(SimConfig(jumps=(Jump(30.0, 32.0, 5.0, 0.0),), duration=45.0))
    _, _, hor = r.errors()
    during = [u for t, u in r.gnss if 30.0 <= t < 32.0]
    assert len(during) >= 18 and not any(u.accepted for u in during)
    assert hor[r.window(29.0, 40.0)].max() <= 0.10
    assert r.ekf.counters.gnss_reinit == 0
    assert all(u.accepted for t, u in r.gnss if t > 32.5)


def test_persistent_jump_reinitialises_at_gnss_after_reinit_after_seconds() -> None:
    r = run(SimConfig(jumps=(Jump(30.0, 45.0, 5.0, 0.0),), duration=50.0))
    assert r.ekf.counters.gnss_reinit >= 1
    reinit = [t for t, u in r.gnss if u.reinitialized]
    assert reinit[0] == pytest.approx(30.0 + r.ekf.p.reinit_after, abs=0.2)


def test_fix_quality_weighting_single_fixes_barely_move_an_rtk_track() -> None:
    # RTK fixed for 30 s, then single-point fixes: the estimate must not follow their noise.
    params = EkfParams(antenna=ANTENNA)
    r_rtk = run(SimConfig(duration=30.0, params=params))
    assert p95(r_rtk.errors()[0][r_rtk.window(10.0)]) <= 0.10
    ekf = r_rtk.ekf
    sigma_before = ekf.lateral_sigma()
    rng = np.random.default_rng(1)
    x0, y0 = ekf.x[0], ekf.x[1]
    t = ekf.t or 30.0
    for k in range(1, 21):  # 2 s of single-point fixes around the true position, no motion
        e, n = rng.normal(0.0, 1.5, 2)
        ekf.update_gnss(t + 0.1 * k, x0 + e, y0 + n, 0.0, np.diag([2.25, 2.25, 9.0]))
    assert math.hypot(ekf.x[0] - x0, ekf.x[1] - y0) < 1.5  # it moved with the vehicle, not the noise
    assert ekf.lateral_sigma() < 1.0 and sigma_before < 0.05


def test_garbage_on_the_line_does_not_hurt() -> None:
    r = run(SimConfig(garbage_probability=0.2, duration=40.0))
    assert r.parser.counters.errors + r.parser.counters.garbage_bytes > 50
    assert p95(r.errors()[0][r.window(10.0)]) <= 0.10


def test_reset_reinitialises_from_gnss_and_reset_to_pose() -> None:
    r = run(SimConfig(duration=20.0))
    ekf = r.ekf
    ekf.reset()
    assert ekf.state() == FilterState.UNINITIALIZED and ekf.counters.resets == 1
    ekf.reset_to_pose(20.0, 5.0, 6.0, 1.0, np.diag([0.01, 0.01, 0.001]))
    assert ekf.initialized and ekf.x[:3] == pytest.approx([5.0, 6.0, 1.0])
    assert ekf.P[0, 0] == pytest.approx(0.01)


def test_bad_measurements_are_dropped_not_fatal() -> None:
    ekf = LocalizationEkf()
    ekf.reset_to_pose(0.0, 0.0, 0.0, 0.0)
    assert not ekf.update_gnss(0.1, math.nan, 0.0, 0.0, np.eye(3)).accepted
    assert not ekf.update_gnss(0.1, 0.0, 0.0, 0.0, -np.eye(3)).accepted
    assert not ekf.update_gnss(0.1, 0.0, 0.0, 0.0, np.eye(4)).accepted
    ekf.update_speed(0.2, math.inf)
    ekf.update_gyro(0.2, math.nan)
    ekf.update_steering(0.2, 1.0, 3.0)
    ekf.update_speed(-5.0, 1.0)  # far too old
    assert ekf.counters.gnss_bad == 3 and ekf.counters.measurements_dropped == 4
    assert np.all(np.isfinite(ekf.x)) and np.all(np.isfinite(ekf.P))
