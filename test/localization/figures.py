"""Localization figures over several noise seeds (not a test; about a minute of CPU).

    tools/with_env.sh python test/localization/figures.py [seeds]

Prints the lateral error p95 per GNSS noise model, the 20 s outage error, the correction
at recovery and the 5 m jump rejection, pooled over the seeds, in one RESULT line at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parent)]

from loc_sim import SimConfig, p95, run  # noqa: E402

from hil.gnss_emulator import DEFAULT_NOISE, Jump, NoiseModel, Outage  # noqa: E402
from roadedge.localization.gnss import FixQuality  # noqa: E402


def main(seeds: int = 8) -> None:
    models = {
        "rtk_fixed": (FixQuality.RTK_FIXED, None),
        "rtk_float": (FixQuality.RTK_FLOAT, None),
        "single_white1.0_wander0.15": (FixQuality.SINGLE, {FixQuality.SINGLE: NoiseModel(1.0, 0.15, 60.0)}),
        "single_default_0.8_wander1.0": (
            FixQuality.SINGLE,
            {FixQuality.SINGLE: DEFAULT_NOISE[FixQuality.SINGLE]},
        ),
    }
    result: dict[str, float] = {}
    for name, (quality, noise) in models.items():
        lat = []
        for seed in range(1, seeds + 1):
            r = run(SimConfig(quality=quality, noise=noise, seed=seed, duration=60.0))
            lat.append(r.errors()[0][r.window(15.0)])
        result[f"lat_p95_{name}"] = p95(np.concatenate(lat))
        print(f"{name:32s} lateral p95 {result[f'lat_p95_{name}']:.3f} m over {seeds} runs")
    for imu in (True, False):
        worst, corrections = [], []
        for seed in range(1, seeds + 1):
            r = run(SimConfig(outages=(Outage(40.0, 60.0),), duration=62.0, seed=seed, imu=imu))
            worst.append(float(r.errors()[2][r.window(40.0, 60.05)].max()))
            corrections.append(next(u.correction for t, u in r.gnss if t >= 60.0))
        key = "imu" if imu else "no_imu"
        result[f"outage20_max_{key}"] = max(worst)
        result[f"recovery_step_max_{key}"] = max(corrections)
        print(
            f"20 s outage ({key:6s}) horizontal error max {max(worst):.3f} m (median {np.median(worst):.3f}),"
            f" recovery step max {max(corrections):.3f} m"
        )
    jump = []
    for seed in range(1, seeds + 1):
        r = run(SimConfig(jumps=(Jump(30.0, 32.0, 5.0, 0.0),), duration=40.0, seed=seed))
        jump.append(float(r.errors()[2][r.window(29.0, 40.0)].max()))
    result["jump5m_error_max"] = max(jump)
    print(f"5 m jump for 2 s: error max {max(jump):.3f} m")
    print("RESULT " + " ".join(f"{k}={v:.3f}" for k, v in result.items()))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
