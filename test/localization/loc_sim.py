"""Closed-loop localization simulation without DDS: plant -> sensors -> NMEA -> EKF.

Ground truth is the HIL plant (hil/plant.py) driven along a curved route. GNSS goes the
whole way a real fix goes: the emulator writes NMEA bytes, the GNSS core parses them into
fixes with covariance, geodesy converts them to the map frame, the EKF fuses them. The IMU
gyro has a constant bias and white noise; wheel speed has a scale error and noise;
steering has noise. With ``curb=True`` the route runs along a curb (the true path shifted
``curb_offset`` to the right, with gaps where the route time is in ``curb_gaps``), which the map
and the side range sensor (hil/curb_sensor.py) both know.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np

from hil.curb_sensor import CurbRangeEmulator, CurbRangeModel
from hil.gnss_emulator import GnssEmulator, GnssEmulatorConfig, Jump, NoiseModel, Outage
from hil.plant import PlantCommand, VehiclePlant
from roadedge.localization.curb import CurbLines, RangeMount, offset_polyline
from roadedge.localization.ekf import EkfParams, GnssUpdate, LocalizationEkf, RangeUpdate
from roadedge.localization.geodesy import LeverArm, MapFrame, enu_covariance
from roadedge.localization.gnss import FixQuality, NmeaStreamParser

ANTENNA = LeverArm(1.2, 0.3, 2.1)
CURB_MOUNT = RangeMount(1.0, -1.0, -math.pi / 2, 0.05, 4.0)


def curved_route(t: float) -> tuple[float, float]:
    """(target speed m/s, steering rad): S-bends and a loop, like a sweeper on city streets."""
    speed = 3.0 if t > 2.0 else 1.5 * t
    steer = 0.10 * math.sin(2 * math.pi * t / 30.0) + 0.04 * math.sin(2 * math.pi * t / 11.0)
    return speed, steer


@dataclass
class SimConfig:
    duration: float = 90.0
    dt: float = 0.01
    quality: FixQuality = FixQuality.RTK_FIXED
    noise: dict[FixQuality, NoiseModel] | None = None
    outages: tuple[Outage, ...] = ()
    jumps: tuple[Jump, ...] = ()
    garbage_probability: float = 0.0
    quality_changes: tuple[tuple[float, FixQuality], ...] = ()  # (time s, new fix quality)
    imu: bool = True
    gyro_bias: float = 0.004  # rad/s
    gyro_noise: float = 0.003  # rad/s per 100 Hz sample
    speed_scale: float = 1.005  # wheel radius error
    speed_noise: float = 0.02  # m/s per 50 Hz sample
    steer_noise: float = 0.003  # rad
    gnss_velocity: bool = True  # fuse speed and course over ground (RMC/VTG)
    curb: bool = False
    curb_offset: float = 1.2  # m, curb to the right of base_link
    curb_gaps: tuple[tuple[float, float], ...] = ()  # route times (s) without a curb (driveways, junctions)
    curb_model: CurbRangeModel = field(default_factory=CurbRangeModel)
    curb_rate_divider: int = 5  # 100 Hz / 5 = 20 Hz
    seed: int = 7
    params: EkfParams = field(default_factory=lambda: EkfParams(antenna=ANTENNA))


@dataclass
class SimResult:
    t: np.ndarray
    truth: np.ndarray  # N x 3 (x, y, yaw)
    est: np.ndarray  # N x 3
    odom: np.ndarray  # N x 3, base_link in the odom frame
    lateral_sigma: np.ndarray
    initialized: np.ndarray
    gnss: list[tuple[float, GnssUpdate]]
    ekf: LocalizationEkf
    parser: NmeaStreamParser
    ranges: list[tuple[float, RangeUpdate]] = field(default_factory=list)

    def errors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lateral, longitudinal, horizontal) error of base_link, m, w.r.t. the true heading."""
        dx = self.est[:, 0] - self.truth[:, 0]
        dy = self.est[:, 1] - self.truth[:, 1]
        yaw = self.truth[:, 2]
        lat = -np.sin(yaw) * dx + np.cos(yaw) * dy
        lon = np.cos(yaw) * dx + np.sin(yaw) * dy
        return lat, lon, np.hypot(dx, dy)

    def window(self, start: float, end: float = math.inf) -> np.ndarray:
        return (self.t >= start) & (self.t < end) & self.initialized


def route_curb(cfg: SimConfig) -> CurbLines:
    """The curb along the route: the noiseless true path shifted to the right, cut at the gaps."""
    plant = VehiclePlant()
    pts: list[tuple[float, float, float]] = []
    for k in range(1, round((cfg.duration + 5.0) / cfg.dt) + 1):
        speed_cmd, steer_cmd = curved_route(plant.state.time)
        s = plant.step(cfg.dt, PlantCommand(enable=True, target_speed=speed_cmd, steering_angle=steer_cmd))
        if k % 20 == 0:
            pts.append((s.time, s.x, s.y))
    arr = np.array(pts)
    shifted = offset_polyline(arr[:, 1], arr[:, 2], -cfg.curb_offset)
    keep = np.ones(len(arr), dtype=bool)
    for a, b in cfg.curb_gaps:
        keep &= ~((arr[:, 0] >= a) & (arr[:, 0] < b))
    pieces, start = [], None
    for i, k in enumerate([*keep, False]):
        if k and start is None:
            start = i
        elif not k and start is not None:
            pieces.append(shifted[start:i])
            start = None
    return CurbLines(pieces)


def run(cfg: SimConfig) -> SimResult:
    rng = random.Random(cfg.seed)
    plant = VehiclePlant()
    curbs = route_curb(cfg) if cfg.curb else None
    curb_sensor = (
        CurbRangeEmulator(curbs, CURB_MOUNT, cfg.curb_model, seed=cfg.seed + 1000)
        if curbs is not None
        else None
    )
    ranges: list[tuple[float, RangeUpdate]] = []
    emu_cfg = GnssEmulatorConfig(
        antenna=ANTENNA,
        quality=cfg.quality,
        outages=cfg.outages,
        jumps=cfg.jumps,
        garbage_probability=cfg.garbage_probability,
        seed=cfg.seed,
    )
    if cfg.noise is not None:
        emu_cfg.noise.update(cfg.noise)
    emulator = GnssEmulator(emu_cfg)
    frame = MapFrame(emu_cfg.origin)
    parser = NmeaStreamParser()
    ekf = LocalizationEkf(cfg.params)
    steps = round(cfg.duration / cfg.dt)
    t_log, truth, est, sig, init, odom = [], [], [], [], [], []
    gnss: list[tuple[float, GnssUpdate]] = []
    for k in range(1, steps + 1):
        speed_cmd, steer_cmd = curved_route(plant.state.time)
        s = plant.step(cfg.dt, PlantCommand(enable=True, target_speed=speed_cmd, steering_angle=steer_cmd))
        t = round(k * cfg.dt, 6)
        if k % 2 == 0:  # chassis status, 50 Hz
            v = s.speed * cfg.speed_scale + rng.gauss(0.0, cfg.speed_noise)
            ekf.update_speed(t, v, standing_still=s.speed == 0.0)
            ekf.update_steering(t, v, s.steering_angle + rng.gauss(0.0, cfg.steer_noise))
        if cfg.imu:  # 100 Hz
            ekf.update_gyro(t, s.yaw_rate + cfg.gyro_bias + rng.gauss(0.0, cfg.gyro_noise))
        if curb_sensor is not None and curbs is not None and k % cfg.curb_rate_divider == 0:
            r_meas = curb_sensor.measure(s.x, s.y, s.yaw)
            ranges.append((t, ekf.update_range(t, r_meas, cfg.curb_model.sigma or 0.02, CURB_MOUNT, curbs)))
        for t_change, q in cfg.quality_changes:
            if abs(t - t_change) < cfg.dt / 2:
                emulator.set_quality(q)
        if k % 10 == 0:  # GNSS, 10 Hz
            data = "".join(emulator.epoch(t, s.x, s.y, s.yaw, s.speed)).encode("latin-1")
            for fix in parser.feed(data, t):
                if not fix.valid:
                    continue
                e, n, u = frame.to_map(fix.latitude, fix.longitude, fix.altitude)
                gnss.append((t, ekf.update_gnss(fix.receive_time, e, n, u, enu_covariance(fix.covariance))))
                if cfg.gnss_velocity and fix.speed is not None and fix.course is not None:
                    yaw_v = frame.heading_to_yaw(fix.course, e, n)
                    ekf.update_velocity(
                        fix.receive_time, fix.speed * math.cos(yaw_v), fix.speed * math.sin(yaw_v), 0.05
                    )
        ekf.predict(t)
        t_log.append(t)
        truth.append((s.x, s.y, s.yaw))
        est.append((ekf.x[0], ekf.x[1], ekf.x[2]))
        odom.append(tuple(ekf.odom))
        sig.append(ekf.lateral_sigma() if ekf.initialized else math.nan)
        init.append(ekf.initialized)
    return SimResult(
        np.array(t_log),
        np.array(truth),
        np.array(est),
        np.array(odom),
        np.array(sig),
        np.array(init),
        gnss,
        ekf,
        parser,
        ranges,
    )


def p95(values: np.ndarray) -> float:
    return float(np.percentile(np.abs(values), 95))
