"""GNSS receiver emulator: NMEA 0183 at 10 Hz from the plant's pose, into a pty.

:class:`GnssEmulator` is pure: given the base_link pose in the map frame and a time, it
returns the NMEA sentences (RMC, VTG, GGA, GST by default) a receiver with the antenna at
the configured lever arm would send. Errors per fix quality are white noise plus a
first-order Gauss-Markov (slowly wandering) component; GST reports the configured sigma.
Outages (invalid GGA, or silence), position jumps, quality changes and garbage bytes can be
scheduled or injected at run time.

Two wrappers for the HIL rig: the ``gnss_emulator`` node (NODE / main) takes the pose from
hil/ground_truth and writes into a pty linked at its ``link`` parameter, with faults
injectable by name; ``python -m hil.gnss_emulator --link PATH`` is a plain process that
drives its own plant along a curved route (or reads poses as JSON lines on stdin:
``{"t": s, "x": m, "y": m, "yaw": rad, "speed": m/s}``). Both read back the RTCM bytes the
receiver node writes and count the CRC-valid frames.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import random
import select
import signal
import sys
import time
import tty
from dataclasses import dataclass, field, replace
from typing import Any

from roadedge_msgs.srv import InjectFault

from roadedge import topics
from roadedge.config import ConfigError, param
from roadedge.diagnostics import Health, Level
from roadedge.localization.geodesy import GeodeticOrigin, LeverArm, MapFrame
from roadedge.localization.gnss import EpochSpec, FixQuality, Rtcm3Framer, make_epoch
from roadedge.ros.node import RoadedgeNode, make_main


@dataclass(frozen=True)
class NoiseModel:
    """Horizontal error per axis (m, 1 sigma): white + Gauss-Markov(sigma, tau)."""

    white: float
    walk: float = 0.0
    tau: float = 60.0  # s
    vertical_factor: float = 2.0

    @property
    def sigma(self) -> float:
        return math.hypot(self.white, self.walk)


# Per fix quality, calibrated to published figures (horizontal CEP = 1.1774 sigma per axis for a
# circular error, R95 = 2.45 sigma):
# - SINGLE: u-blox ZED-F9P datasheet "PVT 1.5 m CEP" (multi-band, open sky, 24 h static); Unicore
#   UM980 1.5 m RMS; FAA GPS SPS performance analysis (PAN) reports, GPS-only L1: about 2-3 m
#   horizontal 95 %. Most of that error is not white: atmospheric, orbit/clock and multipath errors
#   change over minutes (measured autocorrelation of receiver fixes bends at about 1 min and has a
#   long-term tail, dlwilson "GPS correlation of errors"); receivers smooth code with carrier, so the
#   epoch-to-epoch jitter is a few decimetres. Model: 0.3 m white + 1.2 m Gauss-Markov, tau 60 s
#   -> 1.24 m per axis, CEP 1.46 m, R95 3.0 m.
# - DGPS (SBAS): ZED-F9P "SBAS 1.0 m CEP"; FAA WAAS PAN reports 0.6-1.1 m horizontal 95 %.
#   0.2 m white + 0.5 m over 60 s -> 0.54 m per axis, CEP 0.63 m, R95 1.3 m.
# - RTK: ZED-F9P "0.01 m + 1 ppm CEP"; carrier-phase noise is millimetres from epoch to epoch, the
#   rest wanders with multipath and residual atmosphere over tens of seconds. Float: 1-2 dm.
# bench/localization.py measures the filter against these and against variants (tau, white share).
DEFAULT_NOISE: dict[FixQuality, NoiseModel] = {
    FixQuality.RTK_FIXED: NoiseModel(white=0.005, walk=0.012, tau=30.0),
    FixQuality.RTK_FLOAT: NoiseModel(white=0.05, walk=0.17, tau=30.0),
    FixQuality.DGPS: NoiseModel(white=0.20, walk=0.50, tau=60.0),
    FixQuality.SINGLE: NoiseModel(white=0.30, walk=1.20, tau=60.0),
}


@dataclass(frozen=True)
class Outage:
    start: float  # s, emulator time
    end: float
    silent: bool = False  # True: no sentences at all; False: invalid GGA/RMC (receiver lost lock)


@dataclass(frozen=True)
class Jump:
    start: float
    end: float
    east: float  # m
    north: float


@dataclass
class GnssEmulatorConfig:
    origin: GeodeticOrigin = field(default_factory=lambda: GeodeticOrigin(31.2304, 121.4737, 12.0))
    antenna: LeverArm = field(default_factory=lambda: LeverArm(1.2, 0.0, 2.1))
    rate: float = 10.0  # Hz
    quality: FixQuality = FixQuality.RTK_FIXED
    noise: dict[FixQuality, NoiseModel] = field(default_factory=lambda: dict(DEFAULT_NOISE))
    geoid_separation: float = 10.3  # m, geoid above the ellipsoid (GGA field)
    utc_start: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    talker: str = "GN"
    sentences: tuple[str, ...] = ("RMC", "VTG", "GGA", "GST")
    outages: tuple[Outage, ...] = ()
    jumps: tuple[Jump, ...] = ()
    garbage_probability: float = 0.0  # per epoch: a burst of random bytes / a corrupted checksum
    velocity_sigma: float = 0.03  # m/s per axis, Doppler velocity noise (RMC/VTG speed and course)
    seed: int = 1


class GnssEmulator:
    def __init__(self, config: GnssEmulatorConfig | None = None):
        self.config = config or GnssEmulatorConfig()
        self.frame = MapFrame(self.config.origin)
        self.rng = random.Random(self.config.seed)
        self._velocity_rng = random.Random(self.config.seed + 7919)  # own stream: positions unchanged
        self.quality = self.config.quality
        self._walk = [0.0, 0.0, 0.0]
        self._last_t: float | None = None
        self._outages = list(self.config.outages)
        self._jumps = list(self.config.jumps)
        self.epochs = 0
        self.last_truth: tuple[float, float, float] | None = None  # antenna in map, without error
        self._last_yaw: tuple[float, float] | None = None  # (t, yaw) of the previous epoch

    # ---- run-time control (fault injection)
    def set_quality(self, quality: FixQuality) -> None:
        self.quality = FixQuality(quality)

    def add_outage(self, start: float, duration: float, silent: bool = False) -> None:
        self._outages.append(Outage(start, start + duration, silent))

    def add_jump(self, start: float, duration: float, east: float, north: float) -> None:
        self._jumps.append(Jump(start, start + duration, east, north))

    # ---- the model
    def _noise(self, t: float) -> tuple[float, float, float]:
        model = self.config.noise.get(self.quality, DEFAULT_NOISE[FixQuality.SINGLE])
        dt_ = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        if model.walk > 0:
            a = math.exp(-dt_ / model.tau) if model.tau > 0 else 0.0
            q = model.walk * math.sqrt(max(0.0, 1.0 - a * a))
            if self.epochs == 0:
                self._walk = [self.rng.gauss(0.0, model.walk) for _ in range(3)]
            else:
                self._walk = [a * w + self.rng.gauss(0.0, q) for w in self._walk]
        else:
            self._walk = [0.0, 0.0, 0.0]
        vf = model.vertical_factor
        return (
            self._walk[0] + self.rng.gauss(0.0, model.white),
            self._walk[1] + self.rng.gauss(0.0, model.white),
            vf * (self._walk[2] + self.rng.gauss(0.0, model.white)),
        )

    def epoch(
        self, t: float, x: float, y: float, yaw: float, speed: float = 0.0, z: float = 0.0
    ) -> list[str]:
        """NMEA sentences for time t (s since start) and base_link pose (map, m / rad)."""
        cfg = self.config
        outage = next((o for o in self._outages if o.start <= t < o.end), None)
        if outage is not None and outage.silent:
            self._last_t = t
            return []
        ax, ay, az = cfg.antenna.sensor_position(x, y, z, yaw)
        self.last_truth = (ax, ay, az)
        quality = FixQuality.INVALID if outage is not None else self.quality
        ne, nn, nu = self._noise(t)
        for j in self._jumps:
            if j.start <= t < j.end:
                ne += j.east
                nn += j.north
        lat, lon, h = self.frame.to_geodetic(ax + ne, ay + nn, az + nu)
        model = cfg.noise.get(self.quality, DEFAULT_NOISE[FixQuality.SINGLE])
        # Antenna velocity over ground: base_link's plus the yaw rate across the lever arm, with noise.
        w = 0.0
        if self._last_yaw is not None and 0.0 < t - self._last_yaw[0] <= 0.5:
            dyaw = math.atan2(math.sin(yaw - self._last_yaw[1]), math.cos(yaw - self._last_yaw[1]))
            w = dyaw / (t - self._last_yaw[0])
        self._last_yaw = (t, yaw)
        fwd, left = speed - w * cfg.antenna.y, w * cfg.antenna.x
        ve = math.cos(yaw) * fwd - math.sin(yaw) * left + self._velocity_rng.gauss(0.0, cfg.velocity_sigma)
        vn = math.sin(yaw) * fwd + math.cos(yaw) * left + self._velocity_rng.gauss(0.0, cfg.velocity_sigma)
        ground_speed = math.hypot(ve, vn)
        course = self.frame.yaw_to_heading(math.atan2(vn, ve), x, y)
        spec = EpochSpec(
            utc=cfg.utc_start + dt.timedelta(seconds=round(t, 3)),
            latitude=lat,
            longitude=lon,
            height=h,
            quality=quality,
            speed=ground_speed,
            course=course,
            num_satellites=22 if quality in (FixQuality.RTK_FIXED, FixQuality.RTK_FLOAT) else 14,
            hdop=0.7 if quality != FixQuality.SINGLE else 1.1,
            geoid_separation=cfg.geoid_separation,
            sigma_east=model.sigma,
            sigma_north=model.sigma,
            sigma_up=model.sigma * model.vertical_factor,
            age_of_corrections=1.0
            if quality in (FixQuality.RTK_FIXED, FixQuality.RTK_FLOAT, FixQuality.DGPS)
            else None,
            talker=cfg.talker,
            sentences=cfg.sentences,
        )
        lines = make_epoch(spec)
        if cfg.garbage_probability > 0 and self.rng.random() < cfg.garbage_probability:
            lines = self._corrupt(lines)
        self.epochs += 1
        return lines

    def _corrupt(self, lines: list[str]) -> list[str]:
        kind = self.rng.randrange(3)
        if kind == 0:  # random bytes (latin-1 keeps every byte value) before the epoch
            junk = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 40)))
            return [junk.decode("latin-1"), *lines]
        i = self.rng.randrange(len(lines))
        line = lines[i]
        if kind == 1:  # flip a character inside the body -> checksum error
            k = self.rng.randrange(1, max(2, line.find("*")))
            line = line[:k] + ("7" if line[k] != "7" else "3") + line[k + 1 :]
        else:  # truncated sentence
            line = line[: self.rng.randrange(1, len(line))] + "\r\n"
        return [*lines[:i], line, *lines[i + 1 :]]


# ---------------------------------------------------------------------- process wrapper


def route_command(t: float) -> tuple[float, float]:
    """A curved sweeping route for the standalone emulator: (target speed, steering angle)."""
    steer = 0.12 * math.sin(2 * math.pi * t / 40.0) + 0.05 * math.sin(2 * math.pi * t / 13.0)
    return 3.0, steer


class PtyPort:
    """The emulated receiver's serial port: a pty pair, the slave linked at a fixed path.

    Writes never block (a receiver that stops reading loses data, as on a real line);
    bytes the receiver writes back (RTCM corrections) are framed and counted.
    ``unplug()`` closes the pty so the reader sees an I/O error; ``plug()`` makes a new one.
    """

    def __init__(self, link: str = ""):
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None
        self.name = ""
        self.rtcm = Rtcm3Framer()
        self.dropped_writes = 0
        self.plug()

    def plug(self) -> None:
        if self.master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master, self.slave, self.name = master, slave, os.ttyname(slave)
        if self.link:
            os.makedirs(os.path.dirname(os.path.abspath(self.link)), exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)
            os.symlink(self.name, self.link)

    def unplug(self) -> None:
        for fd in (self.master, self.slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self.slave = None

    @property
    def plugged(self) -> bool:
        return self.master is not None

    def write(self, data: bytes) -> bool:
        if self.master is None:
            return False
        try:
            os.write(self.master, data)
        except OSError:  # buffer full: nobody reads the slave
            self.dropped_writes += 1
            return False
        return True

    def read_back(self) -> None:
        if self.master is None:
            return
        with contextlib.suppress(OSError):
            while data := os.read(self.master, 4096):
                self.rtcm.feed(data)

    def close(self) -> None:
        self.unplug()
        if self.link:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)


def _stop(*_: object) -> None:
    raise KeyboardInterrupt


def standalone_main(argv: list[str] | None = None) -> int:
    """``python -m hil.gnss_emulator``: the emulator as a plain process (no DDS)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--link", default="", help="symlink to create for the pty slave")
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--quality", type=int, default=int(FixQuality.RTK_FIXED))
    ap.add_argument("--origin", default="31.2304,121.4737,4.0", help="lat,lon,h of the map origin")
    ap.add_argument("--antenna", default="1.2,0.0,2.1", help="lever arm x,y,z in base_link (m)")
    ap.add_argument("--stdin-poses", action="store_true", help="read poses as JSON lines on stdin")
    ap.add_argument("--duration", type=float, default=0.0, help="s, 0 = forever")
    ap.add_argument("--outage", default="", help="start,duration (s)")
    ap.add_argument("--unplug", default="", help="start,duration (s): close the pty, then make a new one")
    ap.add_argument("--garbage", type=float, default=0.0, help="probability of a corrupted epoch")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    lat, lon, h = (float(v) for v in args.origin.split(","))
    ax, ay, az = (float(v) for v in args.antenna.split(","))
    outages: tuple[Outage, ...] = ()
    if args.outage:
        o_start, o_len = (float(v) for v in args.outage.split(","))
        outages = (Outage(o_start, o_start + o_len),)
    unplug = tuple(float(v) for v in args.unplug.split(",")) if args.unplug else (-1.0, 0.0)
    # Epochs on the UTC grid of the host clock, as a receiver's are on GNSS time: t = 0 is a whole second.
    wall = dt.datetime.now(dt.timezone.utc)
    start = time.monotonic() - wall.microsecond * 1e-6
    cfg = GnssEmulatorConfig(
        origin=GeodeticOrigin(lat, lon, h),
        antenna=LeverArm(ax, ay, az),
        rate=args.rate,
        quality=FixQuality(args.quality),
        outages=outages,
        garbage_probability=args.garbage,
        seed=args.seed,
        utc_start=wall.replace(microsecond=0),
    )
    emulator = GnssEmulator(cfg)
    port = PtyPort(args.link)
    signal.signal(signal.SIGTERM, _stop)
    print(json.dumps({"pty": port.name, "link": args.link}), flush=True)

    try:
        from roadedge_hil.plant import PlantCommand, VehiclePlant  # installed name
    except ImportError:  # running from the source tree
        from hil.plant import PlantCommand, VehiclePlant  # type: ignore[no-redef]

    plant = VehiclePlant()
    pose = {"t": 0.0, "x": 0.0, "y": 0.0, "yaw": 0.0, "speed": 0.0}
    period = 1.0 / cfg.rate
    next_tick = start + period * math.ceil((time.monotonic() - start) / period)
    stdin_buf = b""
    try:
        while True:
            now = time.monotonic()
            t = now - start
            if args.duration and t > args.duration:
                break
            unplugged = unplug[0] <= t < unplug[0] + unplug[1]
            if unplugged and port.plugged:
                port.unplug()
            elif not unplugged and not port.plugged:
                port.plug()
            timeout = max(0.0, next_tick - now)
            fds = ([port.master] if port.master is not None else []) + (
                [sys.stdin.fileno()] if args.stdin_poses else []
            )
            ready, _, _ = select.select(fds, [], [], timeout)
            if port.master is not None and port.master in ready:
                port.read_back()
            if args.stdin_poses and sys.stdin.fileno() in ready:
                chunk = os.read(sys.stdin.fileno(), 65536)
                if not chunk:
                    break
                stdin_buf += chunk
                *lines, stdin_buf = stdin_buf.split(b"\n")
                for raw in lines:
                    with contextlib.suppress(ValueError, TypeError):
                        pose.update({k: float(v) for k, v in json.loads(raw).items() if k in pose})
            if time.monotonic() < next_tick:
                continue
            next_tick += period
            if not args.stdin_poses:
                speed, steer = route_command(t)
                while plant.state.time < t:
                    plant.step(0.01, PlantCommand(enable=True, target_speed=speed, steering_angle=steer))
                st = plant.state
                pose = {"t": t, "x": st.x, "y": st.y, "yaw": st.yaw, "speed": st.speed}
            sentences = emulator.epoch(
                pose["t"] if args.stdin_poses else t, pose["x"], pose["y"], pose["yaw"], pose["speed"]
            )
            port.write("".join(sentences).encode("latin-1"))
    except KeyboardInterrupt:
        pass
    finally:
        summary = {
            "epochs": emulator.epochs,
            "dropped": port.dropped_writes,
            "rtcm": port.rtcm.counters.as_dict(),
        }
        print(json.dumps(summary), flush=True)
        port.close()
    return 0


# ---------------------------------------------------------------------- ROS node wrapper


#: the service that switches this emulator's faults (roadedge_msgs/srv/InjectFault)
FAULT_SERVICE = "hil/gnss/inject_fault"


@dataclass(frozen=True)
class GnssEmulatorNodeConfig:
    link: str = param("/tmp/roadedge/gnss0", help="path of the symlink to the pty the receiver opens")
    rate: float = param(10.0, help="epochs per second", low=0.1, high=50.0)
    quality: int = param(
        4, help="GGA fix quality (1 single, 2 DGPS, 4 RTK fixed, 5 RTK float)", choices=(1, 2, 4, 5)
    )
    origin_latitude: float = param(31.2304, help="deg, origin of the map frame the truth is in")
    origin_longitude: float = param(121.4737, help="deg")
    origin_altitude: float = param(4.0, help="m, ellipsoidal")
    antenna: list[float] = param([1.2, 0.0, 2.1], help="m, antenna lever arm x y z in base_link")
    geoid_separation: float = param(10.3, help="m, geoid above the ellipsoid (GGA)")
    noise_scale: float = param(1.0, help="multiplies the noise of every fix quality", low=0.0)
    garbage_probability: float = param(0.0, help="probability of a corrupted epoch", low=0.0, high=1.0)
    seed: int = param(1, help="noise seed")


class GnssEmulatorNode(RoadedgeNode[GnssEmulatorNodeConfig]):
    """hil/ground_truth (nav_msgs/Odometry) -> NMEA at ``rate`` into a pty.

    Faults by name on ``hil/gnss/inject_fault`` (roadedge_msgs/srv/InjectFault):
    ``gnss_outage`` (lost lock), ``gnss_jump`` (value = metres east), ``gnss_quality``
    (value = GGA quality), ``serial_unplug`` (the pty disappears until inactive).
    """

    Schema = GnssEmulatorNodeConfig
    default_name = "gnss_emulator"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = self.config
        if len(c.antenna) != 3:
            raise ConfigError("parameter 'antenna' of node 'gnss_emulator': needs x, y, z")
        noise = {
            q: replace(m, white=m.white * c.noise_scale, walk=m.walk * c.noise_scale)
            for q, m in DEFAULT_NOISE.items()
        }
        self.emulator = GnssEmulator(
            GnssEmulatorConfig(
                origin=GeodeticOrigin(c.origin_latitude, c.origin_longitude, c.origin_altitude),
                antenna=LeverArm(*c.antenna),
                rate=c.rate,
                quality=FixQuality(c.quality),
                noise=noise,
                geoid_separation=c.geoid_separation,
                garbage_probability=c.garbage_probability,
                seed=c.seed,
                utc_start=dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
            )
        )
        self.port = PtyPort(c.link)
        self._truth: Any = None
        self._t0: float | None = None
        self._outage_since: float | None = None
        self.subscription(topics.GROUND_TRUTH, self._on_truth)
        self.create_service(InjectFault, FAULT_SERVICE, self._on_fault)
        self.create_timer(1.0 / c.rate, self._tick)
        self.health.add("emulator", self._health)
        self.get_logger().info(f"GNSS emulator on {self.port.name} (link {c.link})")

    def _on_truth(self, msg: Any) -> None:
        self._truth = msg

    def _now(self) -> float:
        now = self.now_s()
        if self._t0 is None:
            self._t0 = now
        return now - self._t0

    def _tick(self) -> None:
        t = self._now()
        self.port.read_back()
        m = self._truth
        if m is None:
            return
        p, q = m.pose.pose.position, m.pose.pose.orientation
        yaw = math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
        v, w = m.twist.twist.linear.x, m.twist.twist.angular.z
        # The antenna is where the vehicle is now, not where the last truth sample saw it.
        age = self.now_s() - (m.header.stamp.sec + m.header.stamp.nanosec * 1e-9)
        age = age if 0.0 < age < 0.5 else 0.0
        yaw_mid = yaw + 0.5 * w * age
        x, y = p.x + v * math.cos(yaw_mid) * age, p.y + v * math.sin(yaw_mid) * age
        lines = self.emulator.epoch(t, x, y, yaw + w * age, v, p.z)
        self.port.write("".join(lines).encode("latin-1"))

    def _on_fault(self, request: Any, response: Any) -> Any:
        t = self._now()
        kind, active, value = request.fault, bool(request.active), float(request.value)
        emu = self.emulator
        if kind == "gnss_outage":
            if active:
                emu.add_outage(t, 1e9)
            else:
                emu._outages = [o for o in emu._outages if o.end < 1e8]
        elif kind == "gnss_jump":
            if active:
                emu.add_jump(t, 1e9, value or 5.0, 0.0)
            else:
                emu._jumps = [j for j in emu._jumps if j.end < 1e8]
        elif kind == "gnss_quality":
            emu.set_quality(FixQuality(int(value)) if active else FixQuality(self.config.quality))
        elif kind == "serial_unplug":
            (self.port.unplug if active else self.port.plug)()
        else:
            response.success = False
            response.message = f"unknown fault {kind!r}"
            return response
        response.success = True
        response.message = f"{kind} {'on' if active else 'off'} at t={t:.1f} s"
        self.get_logger().info(response.message)
        return response

    def _health(self) -> Health:
        values = {
            "epochs": str(self.emulator.epochs),
            "quality": self.emulator.quality.name,
            "dropped_writes": str(self.port.dropped_writes),
        }
        values.update({f"rtcm_{k}": str(v) for k, v in self.port.rtcm.counters.as_dict().items()})
        if self._truth is None:
            return Health(Level.WARN, "no ground truth yet", values)
        return Health(Level.OK, "emulating", values)

    def on_safe_stop(self) -> None:
        self.port.close()


NODE = GnssEmulatorNode
main = make_main(NODE)


if __name__ == "__main__":
    sys.exit(standalone_main())
