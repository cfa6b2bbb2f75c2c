"""Writes sample_drive.nmea: 45 s of a sweeper on a curved route, as a receiver logs it.

Generated (not recorded) with the GNSS emulator from the HIL plant, in a receiver style
different from the emulator's default: GGA first, GSA/GSV between, mixed talkers, RTK fixed
with a 5 s RTK-float spell and a 3 s loss of lock, and a few corrupted lines. Run from the
repository root: ``tools/with_env.sh python test/localization/data/make_sample_log.py``.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[3]), str(Path(__file__).resolve().parents[1])]

import pynmea2  # noqa: E402
from loc_sim import ANTENNA, curved_route  # noqa: E402

from hil.gnss_emulator import GnssEmulator, GnssEmulatorConfig, Outage  # noqa: E402
from hil.plant import PlantCommand, VehiclePlant  # noqa: E402
from roadedge.localization.gnss import FixQuality  # noqa: E402

OUT = Path(__file__).with_name("sample_drive.nmea")


def main() -> None:
    cfg = GnssEmulatorConfig(
        antenna=ANTENNA,
        talker="GN",
        sentences=("GGA", "RMC", "VTG", "GST"),
        outages=(Outage(32.0, 35.0),),
        garbage_probability=0.03,
        seed=2026,
        utc_start=dt.datetime(2026, 5, 18, 23, 59, 40, tzinfo=dt.timezone.utc),  # crosses midnight
    )
    emu = GnssEmulator(cfg)
    plant = VehiclePlant()
    gsa_fields = [
        "A",
        "3",
        "02",
        "05",
        "12",
        "13",
        "15",
        "18",
        "25",
        "29",
        "",
        "",
        "",
        "",
        "1.2",
        "0.7",
        "1.0",
    ]
    gsv_fields = [
        "1",
        "1",
        "04",
        "02",
        "45",
        "120",
        "44",
        "05",
        "30",
        "210",
        "40",
        "12",
        "62",
        "045",
        "47",
        "13",
        "15",
        "300",
        "35",
    ]
    gsa = str(pynmea2.GSA("GN", "GSA", tuple(gsa_fields))) + "\r\n"
    gsv = str(pynmea2.GSV("GP", "GSV", tuple(gsv_fields))) + "\r\n"
    lines: list[str] = []
    dt_ = 0.01
    for k in range(1, 4501):
        speed, steer = curved_route(plant.state.time)
        s = plant.step(dt_, PlantCommand(enable=True, target_speed=speed, steering_angle=steer))
        if k % 10:
            continue
        t = round(k * dt_, 3)
        emu.set_quality(FixQuality.RTK_FLOAT if 20.0 <= t < 25.0 else FixQuality.RTK_FIXED)
        epoch = emu.epoch(t, s.x, s.y, s.yaw, s.speed)
        lines += [*epoch[:1], gsa, *epoch[1:]]
        if k % 100 == 0:
            lines.append(gsv)
    OUT.write_bytes("".join(lines).encode("latin-1"))
    yaw_end = math.degrees(plant.state.yaw)
    print(f"{OUT}: {len(lines)} lines, {OUT.stat().st_size} bytes, yaw at the end {yaw_end:.0f} deg")


if __name__ == "__main__":
    main()
