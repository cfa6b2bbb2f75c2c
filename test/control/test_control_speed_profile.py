"""Speed profile: acceleration, deceleration and jerk limits, stops, fallbacks."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from roadedge.control import speed_profile as sp
from roadedge.control.speed_profile import MotionLimits, curvature_speed_limit, plan_speed_profile

LIM = MotionLimits(max_acceleration=1.0, max_deceleration=1.5, max_jerk=1.0)


def check_limits(prof, lim: MotionLimits, tol: float = 1e-3) -> None:  # type: ignore[no-untyped-def]
    seg_a = prof.a[:-1]
    assert seg_a.max() <= lim.max_acceleration + tol
    assert seg_a.min() >= -lim.max_deceleration - tol
    assert np.abs(prof.jerk()).max() <= lim.max_jerk + tol


def test_start_cruise_stop_respects_all_limits() -> None:
    s = np.linspace(0.0, 120.0, 241)
    prof = plan_speed_profile(s, np.full(s.size, 8.0), 0.0, LIM, a0=0.0, stop_s=100.0)
    assert prof.mode == "jerk_limited"
    check_limits(prof, LIM)
    assert prof.v.max() == pytest.approx(8.0, abs=1e-3)
    assert np.all(prof.v[prof.s >= 100.0] == 0.0)
    assert prof.velocity_at(99.0) > 0.0
    t = prof.t[np.isfinite(prof.t)]
    assert np.all(np.diff(t) >= 0)


def test_speed_caps_and_curvature_limit() -> None:
    s = np.linspace(0.0, 60.0, 121)
    kappa = np.where((s > 20) & (s < 30), 0.1, 0.0)
    cap = curvature_speed_limit(kappa, 1.0, 8.0)
    assert cap[50] == pytest.approx(np.sqrt(10.0))
    prof = plan_speed_profile(s, cap, 2.0, LIM, a0=0.0)
    assert prof.mode == "jerk_limited"
    assert np.all(prof.v <= cap + 1e-6)
    check_limits(prof, LIM)


def test_stop_too_close_for_jerk_limit_uses_acceleration_limit_or_emergency() -> None:
    s = np.linspace(0.0, 50.0, 101)
    close = plan_speed_profile(s, np.full(s.size, 8.0), 8.0, LIM, a0=0.0, stop_s=22.0)
    assert close.mode in ("acceleration_limited", "jerk_limited")
    assert close.velocity_at(22.0) == 0.0
    tight = plan_speed_profile(s, np.full(s.size, 8.0), 8.0, LIM, a0=0.0, stop_s=10.0)
    assert tight.mode == "emergency"
    assert tight.velocity_at(10.0) == 0.0
    assert tight.a.min() >= -LIM.emergency_deceleration - 1e-6
    assert np.all(np.diff(tight.v) <= 1e-9)  # only braking


@pytest.mark.parametrize(
    "args",
    [
        (np.array([0.0, 1.0, 1.0]), np.ones(3), 1.0),  # not increasing
        (np.array([0.0, 1.0]), np.ones(3), 1.0),  # shape
        (np.array([0.0, 1.0]), np.ones(2), float("nan")),  # bad speed
        (np.array([0.0, 1.0]), np.ones(2), -1.0),
    ],
)
def test_bad_input_is_rejected(args: tuple) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        plan_speed_profile(args[0], args[1], args[2], LIM)


def test_limits_validation() -> None:
    with pytest.raises(ValueError):
        MotionLimits(max_jerk=0.0)
    with pytest.raises(ValueError):
        MotionLimits(max_deceleration=3.0, emergency_deceleration=2.0)


def test_no_dip_below_a_cap_before_accelerating_or_after_braking_to_it() -> None:
    """Leaving a 1.5 m/s cap (and braking into one): the profile keeps to the cap instead of dipping below
    it to start the next acceleration at its full rate (the change_weight comfort cost); with no such
    cost the programme does dip."""
    s = np.arange(0.0, 40.0, 1.0)
    leave = np.where(s <= 5.0, 1.5, 2.5)
    enter = np.where(s >= 15.0, 1.5, 2.5)
    for vmax, v0 in ((leave, 1.5), (enter, 2.5)):
        vmax[-1] = vmax[-2]
        prof = plan_speed_profile(s, vmax, v0, LIM, a0=0.0)
        assert prof.mode == "jerk_limited"
        check_limits(prof, LIM)
        assert prof.v.min() >= 1.5 - 1e-3 and np.all(prof.v <= vmax + 1e-6)
    dipping = plan_speed_profile(s, leave, 1.5, MotionLimits(1.0, 1.5, 1.0, change_weight=0.0), a0=0.0)
    assert dipping.v.min() < 1.4
    with pytest.raises(ValueError):
        MotionLimits(change_weight=-1.0)


def _programmes() -> list[tuple]:  # type: ignore[type-arg]
    """Speed-profile programmes of several shapes: (s, vmax, v0, a0, ref, limits) as _solve_lp takes them."""
    out = []
    rng = np.random.default_rng(5)
    for s, vmax, v0, a0, stop, lim in (
        (np.linspace(0.0, 120.0, 241), np.full(241, 8.0), 0.0, 0.0, 100.0, LIM),
        (
            np.linspace(0.0, 60.0, 121),
            curvature_speed_limit(np.where(np.arange(121) > 60, 0.1, 0.0), 1.0, 8.0),
            2.0,
            0.0,
            None,
            LIM,
        ),
        (np.arange(0.0, 40.0, 1.0), np.where(np.arange(40.0) <= 5.0, 1.5, 2.5), 1.5, 0.0, None, LIM),
        (
            np.arange(0.0, 40.0, 1.0),
            np.where(np.arange(40.0) <= 5.0, 1.5, 2.5),
            1.5,
            0.0,
            None,
            MotionLimits(1.0, 1.5, 1.0, change_weight=0.0),
        ),
        (np.linspace(0.0, 50.0, 101), np.full(101, 8.0), 8.0, -0.4, 22.0, LIM),  # a0 rows; may be infeasible
        (np.linspace(0.0, 50.0, 101), np.full(101, 8.0), 8.0, 0.0, 20.0, LIM),
        (np.linspace(0.0, 80.0, 81), np.full(81, 6.0), 4.0, 0.2, 70.0, LIM),  # a0 rows
        (np.cumsum(rng.uniform(0.5, 1.2, 80)), None, 3.0, 0.3, None, LIM),  # uneven stations
        (np.cumsum(rng.uniform(0.5, 1.2, 80)), None, 4.0, -0.2, 60.0, LIM),
    ):
        vm = 4.0 + 1.5 * np.sin(s / 6.0) if vmax is None else np.asarray(vmax, dtype=np.float64)
        if stop is not None:
            vm = np.where(s >= stop, 0.0, vm)
        ref = sp._passes(s, vm, v0, lim.max_acceleration, lim.max_deceleration)
        out.append((s, vm, v0, a0, ref, lim))
    return out


@pytest.mark.skipif(sp.highspy is None, reason="highspy not installed (linprog solves the programme)")
def test_highspy_solution_is_linprogs() -> None:
    """The programme handed to HiGHS directly gives linprog's answer: same feasibility verdict, same optimum
    (the same HiGHS release as scipy's: the same vertex), also after other models on the reused solver."""
    programmes = _programmes()
    expected = [sp._solve_linprog(sp._lp(*p)) for p in programmes]
    assert any(x is None for x in expected) and sum(x is not None for x in expected) >= 6
    for _ in range(2):  # twice in turn: nothing carries over from the previous model
        for p, want in zip(programmes, expected, strict=True):
            lp = sp._lp(*p)
            got = sp._solve_highs(lp)
            assert (got is None) == (want is None)
            if got is not None and want is not None:
                assert float(lp.c @ got) == pytest.approx(float(lp.c @ want), rel=1e-9, abs=1e-9)
                np.testing.assert_allclose(got, want, rtol=0.0, atol=1e-7)


@pytest.mark.skipif(sp.highspy is None, reason="highspy not installed")
def test_each_thread_has_its_own_solver() -> None:
    programmes = _programmes()
    alone = [sp._solve_highs(sp._lp(*p)) for p in programmes]
    results: dict[int, list] = {}  # type: ignore[type-arg]

    def work(k: int) -> None:
        results[k] = [sp._solve_highs(sp._lp(*p)) for p in programmes * 3]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results.values():
        for g, a in zip(got, alone * 3, strict=True):
            assert (g is None) == (a is None)
            if g is not None and a is not None:
                assert np.array_equal(g, a)
