"""Speed profile along a path with acceleration, deceleration, jerk and lateral-acceleration limits.

The profile is solved in the squared speed b = v^2 over arc length, where the acceleration of a segment is
linear in b: a_i = (b_(i+1) - b_i) / (2 ds_i). Jerk between segments is v * (a_(i+1) - a_i) / ds; it is
bounded using the acceleration-limited profile (forward/backward passes, the pointwise largest profile
under the acceleration limits) as v, which is never below the solution's v, so the bound is conservative.
The linear programme (HiGHS) maximises the speed everywhere within the limits, less a small cost per
change of acceleration (`change_weight`): without it the optimum may dip below a cap just before the cap
ends so as to start the next acceleration at its full rate.

When the jerk-limited programme is infeasible (a stop that appeared too close), the acceleration-limited
profile is used; when even that cannot stop in time, the stop is made with the emergency deceleration.
The result says which one was used.

The programme goes to HiGHS as scipy's ``linprog(method="highs")`` would hand it over (the same column-wise
matrix, bounds, options: presolve on, dual simplex), through the highspy binding of the same HiGHS release
that scipy bundles, into one Highs object per thread; this skips linprog's per-call input checks and
result bookkeeping (about 60 % of the time of a call at planning sizes: ~1.8 -> ~0.75 ms), and the
solution is the one linprog returns, accepted under the same rule (optimal, and within linprog's
feasibility tolerance). Without highspy installed, linprog solves it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

try:
    import highspy
except ImportError:  # an install without it (e.g. a distribution's scipy only): linprog, the same solution
    highspy = None

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
A0_MIN_SPEED = 2.0  # m/s: below it the first jerk step is not tied to the current acceleration (a crawl
# into a stop point would follow from a deceleration that has to unwind first)


@dataclass(frozen=True)
class MotionLimits:
    max_acceleration: float = 1.0  # m/s^2
    max_deceleration: float = 1.5  # m/s^2, comfortable braking (positive number)
    max_jerk: float = 1.0  # m/s^3
    max_lateral_acceleration: float = 1.0  # m/s^2
    emergency_deceleration: float = 5.0  # m/s^2, used only when a comfortable stop is impossible
    change_weight: float = 2.0  # m^3/s^2 of v^2-area given up per m/s^2 of acceleration change (comfort)

    def __post_init__(self) -> None:
        for name in ("max_acceleration", "max_deceleration", "max_jerk", "max_lateral_acceleration"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be positive")
        if self.emergency_deceleration < self.max_deceleration:
            raise ValueError("emergency_deceleration must be >= max_deceleration")
        if not self.change_weight >= 0.0:
            raise ValueError("change_weight must be >= 0")


@dataclass(frozen=True)
class SpeedProfile:
    s: FloatArray  # m
    v: FloatArray  # m/s per point
    a: FloatArray  # m/s^2 per point (the acceleration of the segment that starts there; last: 0 or the last)
    t: FloatArray  # s from the first point; inf past a standstill
    mode: str  # "jerk_limited", "acceleration_limited" or "emergency"

    def velocity_at(self, s: float) -> float:
        return float(np.interp(s, self.s, self.v))

    def jerk(self) -> FloatArray:
        """Jerk at the interior points (m/s^3), from the segment accelerations."""
        if self.s.size < 3:
            return np.zeros(0)
        ds_mid = 0.5 * (np.diff(self.s)[1:] + np.diff(self.s)[:-1])
        return self.v[1:-1] * np.diff(self.a[:-1]) / ds_mid


def curvature_speed_limit(curvature: FloatArray, max_lateral_acceleration: float, cap: float) -> FloatArray:
    k = np.abs(curvature)
    with np.errstate(divide="ignore"):
        lim = np.where(k > 1e-6, np.sqrt(max_lateral_acceleration / np.maximum(k, 1e-9)), cap)
    return np.minimum(lim, cap)


def _passes(s: FloatArray, vmax: FloatArray, v0: float, acc: float, dec: float) -> FloatArray:
    v: FloatArray = np.array(vmax, dtype=np.float64)
    v[0] = v0  # the vehicle is where it is; the backward pass decides whether that is too fast
    ds = np.diff(s)
    for i in range(ds.size):  # forward: acceleration limit
        v[i + 1] = min(v[i + 1], math.sqrt(v[i] ** 2 + 2.0 * acc * ds[i]))
    for i in range(ds.size - 1, -1, -1):  # backward: deceleration limit
        v[i] = min(v[i], math.sqrt(v[i + 1] ** 2 + 2.0 * dec * ds[i]))
    return v


def _times(s: FloatArray, v: FloatArray) -> FloatArray:
    t = np.zeros(s.size)
    for i in range(1, s.size):
        vm = v[i - 1] + v[i]
        t[i] = t[i - 1] + (2.0 * (s[i] - s[i - 1]) / vm if vm > 1e-6 else math.inf)
    return t


def _accelerations(s: FloatArray, v: FloatArray) -> FloatArray:
    a = np.zeros(s.size)
    a[:-1] = (v[1:] ** 2 - v[:-1] ** 2) / (2.0 * np.diff(s))
    a[-1] = a[-2] if s.size > 1 and v[-1] > 1e-3 else 0.0
    return a


def plan_speed_profile(
    s: FloatArray,
    v_max: FloatArray,
    v0: float,
    limits: MotionLimits,
    a0: float | None = None,
    stop_s: float | None = None,
) -> SpeedProfile:
    """Speed profile over the points s (increasing, m) under the per-point speed caps v_max (m/s).

    v0: current speed; a0: current acceleration (bounds the first jerk) or None; stop_s: stand still at and
    beyond this arc length (a stop line, a stand-off behind an object)."""
    s = np.asarray(s, dtype=np.float64)
    vmax = np.maximum(np.asarray(v_max, dtype=np.float64), 0.0)
    if s.ndim != 1 or s.size < 2 or vmax.shape != s.shape or np.any(np.diff(s) <= 0.0):
        raise ValueError("s must increase strictly and match v_max")
    if not (math.isfinite(v0) and v0 >= 0.0):
        raise ValueError("v0 must be a finite speed >= 0")
    if stop_s is not None:
        vmax = np.where(s >= stop_s - 1e-9, 0.0, vmax)
        if stop_s < s[-1] and not np.any(np.isclose(s, stop_s)):
            # make the stop point a profile point so the vehicle stops exactly there
            k = int(np.searchsorted(s, stop_s))
            if k > 0:
                s = np.insert(s, k, stop_s)
                vmax = np.insert(vmax, k, 0.0)
    ref = _passes(s, vmax, v0, limits.max_acceleration, limits.max_deceleration)
    mode = "jerk_limited"
    if ref[0] < v0 - 1e-6:  # cannot slow down in time with the comfortable deceleration
        v = _emergency(s, vmax, v0, limits)
        return SpeedProfile(s, v, _accelerations(s, v), _times(s, v), "emergency")
    v_lp = _solve_lp(s, vmax, v0, a0, ref, limits)
    if v_lp is None:
        mode = "acceleration_limited"
        v = ref
        v[0] = v0
    else:
        v = v_lp
    return SpeedProfile(s, v, _accelerations(s, v), _times(s, v), mode)


def _emergency(s: FloatArray, vmax: FloatArray, v0: float, limits: MotionLimits) -> FloatArray:
    """Brake with the smallest constant deceleration (up to the emergency one) that meets every cap."""
    dist = s - s[0]
    need = np.zeros(s.size)
    m = (vmax < v0) & (dist > 1e-9)
    need[m] = (v0**2 - vmax[m] ** 2) / (2.0 * dist[m])
    dec = min(max(float(np.max(need)), limits.max_deceleration), limits.emergency_deceleration)
    v = _passes(s, vmax, v0, limits.max_acceleration, dec)
    v[0] = v0
    ds = np.diff(s)
    for i in range(ds.size):  # from the actual speed, never faster than braking with dec allows
        v[i + 1] = min(
            v[i + 1], math.sqrt(max(v[i] ** 2 - 2.0 * dec * ds[i], 0.0)) if v[i + 1] < v[i] else v[i + 1]
        )
    return v


class _Lp(NamedTuple):
    """minimise c x subject to A x <= b_ub and lower <= x <= upper; A as coordinates (rows, cols, vals)."""

    c: FloatArray
    rows: IntArray
    cols: IntArray
    vals: FloatArray
    b_ub: FloatArray
    lower: FloatArray
    upper: FloatArray


# scipy.optimize.linprog's acceptance of an optimal HiGHS solution: bounds and rows hold within this
# (sqrt of its default tol 1e-9, times 10); a solution outside is reported as a failure (status 4)
_FEASIBILITY_TOL = math.sqrt(1e-9) * 10.0
# the options linprog(method="highs") sets; the rest are HiGHS's defaults, as there
_HIGHS_OPTIONS: tuple[tuple[str, bool | int | str], ...] = (
    ("output_flag", False),
    ("log_to_console", False),
    ("presolve", "on"),
    ("simplex_strategy", 1),  # dual simplex (kSimplexStrategyDual)
    ("highs_debug_level", 0),
)
_solvers = threading.local()


def _highs() -> Any:
    """This thread's Highs object (a model passed to it replaces the previous one with its basis)."""
    h = getattr(_solvers, "highs", None)
    if h is None:
        h = highspy.Highs()
        for name, value in _HIGHS_OPTIONS:
            if h.setOptionValue(name, value) != highspy.HighsStatus.kOk:
                raise RuntimeError(f"HiGHS refused option {name}={value!r}")
        _solvers.highs = h
    return h


def _solve_highs(lp: _Lp) -> FloatArray | None:
    """The optimum x of the programme, or None when it has none (or HiGHS's is not within tolerance)."""
    nv, nr = lp.c.size, lp.b_ub.size
    # column-wise, rows ascending in each column: the matrix linprog hands to HiGHS (no duplicate entries)
    order = np.lexsort((lp.rows, lp.cols))
    cols = lp.cols[order]
    start = np.searchsorted(cols, np.arange(nv + 1)).astype(np.int32)
    index = lp.rows[order].astype(np.int32)
    value = np.ascontiguousarray(lp.vals[order])
    inf = highspy.kHighsInf
    model = highspy.HighsLp()  # filled as scipy's HiGHS wrapper fills it
    model.num_col_ = nv
    model.num_row_ = nr
    model.a_matrix_.num_col_ = nv
    model.a_matrix_.num_row_ = nr
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.col_cost_ = lp.c
    model.col_lower_ = lp.lower
    model.col_upper_ = np.where(np.isinf(lp.upper), inf, lp.upper)
    model.row_lower_ = np.full(nr, -inf)
    model.row_upper_ = lp.b_ub
    model.a_matrix_.start_ = start
    model.a_matrix_.index_ = index
    model.a_matrix_.value_ = value
    h = _highs()
    status = h.passModel(model)
    if status == highspy.HighsStatus.kError or h.run() == highspy.HighsStatus.kError:
        return None
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    solution = h.getSolution()
    x = np.asarray(solution.col_value, dtype=np.float64)
    row = np.asarray(solution.row_value, dtype=np.float64)
    tol = _FEASIBILITY_TOL
    if (
        x.size != nv
        or not (np.all(np.isfinite(x)) and np.all(np.isfinite(row)))
        or np.any(x < lp.lower - tol)
        or np.any(x > lp.upper + tol)
        or np.any(lp.b_ub - row < -tol)
    ):
        return None
    return x


def _solve_linprog(lp: _Lp) -> FloatArray | None:
    """The same through scipy's linprog (its per-call checks included): the fallback and the reference."""
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix

    a_ub = csr_matrix((lp.vals, (lp.rows, lp.cols)), shape=(lp.b_ub.size, lp.c.size))
    bounds = np.column_stack((lp.lower, lp.upper))
    res = linprog(lp.c, A_ub=a_ub, b_ub=lp.b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        return None
    return np.asarray(res.x, dtype=np.float64)


def _lp(
    s: FloatArray, vmax: FloatArray, v0: float, a0: float | None, ref: FloatArray, limits: MotionLimits
) -> _Lp:
    """The programme in b = v^2 (n points), then the auxiliary u_i >= |a_i - a_(i-1)| (interior points)."""
    n = s.size
    ds = np.diff(s)
    k = 1.0 / (2.0 * ds)  # a_i = k_i (b_(i+1) - b_i)
    seg = np.arange(n - 1)
    # acceleration: k (b1 - b0) <= acc and -k (b1 - b0) <= dec
    acc_rows = [
        (np.concatenate((seg, seg)), np.concatenate((seg + 1, seg)), np.concatenate((k, -k))),
        (np.concatenate((seg, seg)), np.concatenate((seg + 1, seg)), np.concatenate((-k, k))),
    ]
    rows = [acc_rows[0][0], acc_rows[1][0] + (n - 1)]
    cols = [acc_rows[0][1], acc_rows[1][1]]
    vals = [acc_rows[0][2], acc_rows[1][2]]
    ub = [np.full(n - 1, limits.max_acceleration), np.full(n - 1, limits.max_deceleration)]
    r = 2 * (n - 1)
    # jerk at interior point i: (v_ref / ds_mid) * (a_i - a_(i-1)) within +-jerk
    idx = np.arange(1, n - 1)
    idx = idx[ref[idx] >= 1e-3]
    if idx.size:
        dsm = 0.5 * (ds[idx - 1] + ds[idx])
        scale = ref[idx] / dsm
        ka, kb = k[idx], k[idx - 1]
        c_next, c_here, c_prev = scale * ka, scale * (-ka - kb), scale * kb
        m = idx.size
        for sign in (1.0, -1.0):
            rr = np.arange(r, r + m)
            rows.append(np.concatenate((rr, rr, rr)))
            cols.append(np.concatenate((idx + 1, idx, idx - 1)))
            vals.append(sign * np.concatenate((c_next, c_here, c_prev)))
            ub.append(np.full(m, limits.max_jerk))
            r += m
    if a0 is not None and math.isfinite(a0) and v0 > A0_MIN_SPEED:
        # first segment's acceleration within one jerk step of the current acceleration
        slack = limits.max_jerk * ds[0] / max(v0, 0.1)
        for sign, bound in ((1.0, a0 + slack), (-1.0, -(a0 - slack))):
            rows.append(np.array([r, r]))
            cols.append(np.array([1, 0]))
            vals.append(sign * np.array([k[0], -k[0]]))
            ub.append(np.array([bound]))
            r += 1
    # comfort: each change of acceleration between segments costs change_weight per m/s^2 (an auxiliary
    # u_i >= |a_i - a_(i-1)|); without it the programme may dip below a cap to start the next
    # acceleration at full rate (the same jerk, more speed further on)
    m = n - 2
    nv = n + max(m, 0)
    if m > 0 and limits.change_weight > 0.0:
        i = np.arange(1, n - 1)
        ka, kb = k[i], k[i - 1]
        uu = n + np.arange(m)
        for sign in (1.0, -1.0):  # sign * (a_i - a_(i-1)) - u_i <= 0
            rr = np.arange(r, r + m)
            rows.append(np.concatenate((rr, rr, rr, rr)))
            cols.append(np.concatenate((i + 1, i, i - 1, uu)))
            vals.append(np.concatenate((sign * ka, sign * (-ka - kb), sign * kb, -np.ones(m))))
            ub.append(np.zeros(m))
            r += m
    else:
        nv = n
    lower = np.zeros(nv)
    upper = np.full(nv, np.inf)
    upper[:n] = vmax**2
    lower[0] = upper[0] = v0 * v0
    weights = np.zeros(nv)
    weights[:n] = -np.concatenate(([0.5 * ds[0]], 0.5 * (ds[1:] + ds[:-1]), [0.5 * ds[-1]]))
    weights[n:] = limits.change_weight
    return _Lp(
        weights,
        np.concatenate(rows),
        np.concatenate(cols),
        np.concatenate(vals),
        np.concatenate(ub),
        lower,
        upper,
    )


def _solve_lp(
    s: FloatArray, vmax: FloatArray, v0: float, a0: float | None, ref: FloatArray, limits: MotionLimits
) -> FloatArray | None:
    lp = _lp(s, vmax, v0, a0, ref, limits)
    x = _solve_highs(lp) if highspy is not None else _solve_linprog(lp)
    if x is None:
        return None
    b = np.clip(x[: s.size], 0.0, None)
    return np.asarray(np.sqrt(b), dtype=np.float64)
