"""Localization figures: lateral error p95 per GNSS noise model, with and without the curb range aid.

    tools/with_env.sh python bench/localization.py [--seeds 8] [--duration 60]

Closed loop without DDS (test/localization/loc_sim.py): the HIL plant drives a curved route;
GNSS goes emulator -> NMEA -> parser -> EKF; IMU, wheel speed and steering with noise and bias.
The noise models are those of hil/gnss_emulator.py (DEFAULT_NOISE, calibrated to datasheet and
FAA figures; see there) and variants of the single-point one (correlation time, white share).
"With curb" adds the side curb range sensor along a curb that follows the route, with an 8 s
gap and 5 % clutter. Errors are pooled over the seeds after 15 s (initialisation). Also the
20 s outage error and the 5 m jump (RTK). Ends with one RESULT line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "test" / "localization")]

from loc_sim import SimConfig, p95, run  # noqa: E402

from hil.curb_sensor import CurbRangeModel  # noqa: E402
from hil.gnss_emulator import DEFAULT_NOISE, Jump, NoiseModel, Outage  # noqa: E402
from roadedge.localization.gnss import FixQuality  # noqa: E402

S = FixQuality.SINGLE
MODELS: dict[str, tuple[FixQuality, NoiseModel]] = {
    "rtk_fixed": (FixQuality.RTK_FIXED, DEFAULT_NOISE[FixQuality.RTK_FIXED]),
    "rtk_float": (FixQuality.RTK_FLOAT, DEFAULT_NOISE[FixQuality.RTK_FLOAT]),
    "sbas_dgps": (FixQuality.DGPS, DEFAULT_NOISE[FixQuality.DGPS]),
    "single_default": (S, DEFAULT_NOISE[S]),
    "single_tau30": (S, NoiseModel(0.3, 1.2, 30.0)),
    "single_tau300": (S, NoiseModel(0.3, 1.2, 300.0)),
    "single_white_heavy": (S, NoiseModel(0.9, 0.85, 60.0)),
    "single_old_test_model": (S, NoiseModel(1.0, 0.15, 60.0)),
}


def lateral_p95(quality: FixQuality, noise: NoiseModel, curb: bool, seeds: int, duration: float) -> float:
    lat = []
    for seed in range(1, seeds + 1):
        cfg = SimConfig(quality=quality, noise={quality: noise}, seed=seed, duration=duration)
        if curb:
            cfg.curb = True
            cfg.curb_gaps = ((30.0, 38.0),)
            cfg.curb_model = CurbRangeModel(0.02, 0.05, 0.05)
        r = run(cfg)
        lat.append(r.errors()[0][r.window(15.0)])
    return p95(np.concatenate(lat))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--duration", type=float, default=60.0)
    args = ap.parse_args()
    result: dict[str, float] = {}
    print(
        f"{'model':24s} {'sigma/axis':>10s} {'CEP':>6s} {'lat p95':>8s} {'+curb':>8s} (m, {args.seeds} seeds)"
    )
    for name, (quality, noise) in MODELS.items():
        plain = lateral_p95(quality, noise, False, args.seeds, args.duration)
        aided = lateral_p95(quality, noise, True, args.seeds, args.duration)
        result[f"lat_p95_{name}"] = plain
        result[f"lat_p95_{name}_curb"] = aided
        print(f"{name:24s} {noise.sigma:10.3f} {1.1774 * noise.sigma:6.2f} {plain:8.3f} {aided:8.3f}")
    for imu in (True, False):
        worst, steps = [], []
        for seed in range(1, args.seeds + 1):
            r = run(SimConfig(outages=(Outage(40.0, 60.0),), duration=62.0, seed=seed, imu=imu))
            worst.append(float(r.errors()[2][r.window(40.0, 60.05)].max()))
            steps.append(next(u.correction for t, u in r.gnss if t >= 60.0))
        key = "imu" if imu else "no_imu"
        result[f"outage20_max_{key}"] = max(worst)
        result[f"recovery_step_max_{key}"] = max(steps)
        print(f"20 s outage ({key}): error max {max(worst):.3f} m, recovery step max {max(steps):.3f} m")
    jump = []
    for seed in range(1, args.seeds + 1):
        r = run(SimConfig(jumps=(Jump(30.0, 32.0, 5.0, 0.0),), duration=40.0, seed=seed))
        jump.append(float(r.errors()[2][r.window(29.0, 40.0)].max()))
    result["jump5m_error_max"] = max(jump)
    print(f"5 m jump for 2 s (RTK): error max {max(jump):.3f} m")
    print("RESULT " + " ".join(f"{k}={v:.3f}" for k, v in result.items()))


if __name__ == "__main__":
    main()
