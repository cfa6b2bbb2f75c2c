"""GNSS receiver core: NMEA 0183 byte stream -> fixes with covariance, and NMEA generation.

Parsing uses pynmea2 (GGA, RMC, VTG, GST, ZDA). Sentences of one receiver epoch (same UTC
time) are assembled into one :class:`GnssFix`:

- position and fix quality from GGA; ellipsoidal height = GGA altitude (above the geoid)
  + geoid separation;
- covariance (ENU, row-major, as in sensor_msgs/NavSatFix) from GST when the epoch has one
  (the error ellipse gives the east-north correlation), otherwise from a per-quality model
  scaled by HDOP; either way no sigma is below the floor of the fix quality, so an RTK-float
  fix never claims RTK-fixed accuracy;
- speed and course from RMC or VTG, UTC date and time from RMC or ZDA (for TimeReference).

An epoch is emitted as soon as it holds every sentence type the previous complete epoch
had (so the latency is that of the last sentence of the epoch, learned from the stream),
when a sentence of a later epoch arrives, or on :meth:`NmeaStreamParser.flush` after the
line went quiet. Garbage bytes, over-long lines, checksum and parse errors are counted and
dropped, never raised. :class:`Rtcm3Framer` does the same for RTCM 3 corrections (CRC-24Q).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import pynmea2

# --------------------------------------------------------------------------- fix quality


class FixQuality(IntEnum):
    """GGA quality indicator."""

    INVALID = 0
    SINGLE = 1  # autonomous single-point
    DGPS = 2  # DGNSS / SBAS
    PPS = 3
    RTK_FIXED = 4
    RTK_FLOAT = 5
    ESTIMATED = 6  # dead reckoning inside the receiver
    MANUAL = 7
    SIMULATION = 8


# sensor_msgs/NavSatStatus and NavSatFix constants (kept here so the core needs no ROS import)
STATUS_NO_FIX = -1
STATUS_FIX = 0
STATUS_SBAS_FIX = 1
STATUS_GBAS_FIX = 2
SERVICE_GPS = 1
SERVICE_GLONASS = 2
SERVICE_COMPASS = 4
SERVICE_GALILEO = 8
COVARIANCE_TYPE_UNKNOWN = 0
COVARIANCE_TYPE_APPROXIMATED = 1
COVARIANCE_TYPE_DIAGONAL_KNOWN = 2
COVARIANCE_TYPE_KNOWN = 3

TALKER_SERVICE = {
    "GP": SERVICE_GPS,
    "GL": SERVICE_GLONASS,
    "GA": SERVICE_GALILEO,
    "GB": SERVICE_COMPASS,
    "BD": SERVICE_COMPASS,
    "GN": SERVICE_GPS | SERVICE_GLONASS | SERVICE_COMPASS | SERVICE_GALILEO,
}


@dataclass(frozen=True)
class QualityModel:
    """1-sigma accuracy per fix quality: the model without GST, and the floor with it (m)."""

    horizontal: dict[FixQuality, float] = field(
        default_factory=lambda: {
            FixQuality.RTK_FIXED: 0.02,
            FixQuality.RTK_FLOAT: 0.3,
            FixQuality.DGPS: 0.7,
            FixQuality.SINGLE: 1.5,
            FixQuality.PPS: 1.5,
            FixQuality.ESTIMATED: 10.0,
            FixQuality.MANUAL: 10.0,
            FixQuality.SIMULATION: 1.5,
        }
    )
    floor: dict[FixQuality, float] = field(
        default_factory=lambda: {
            FixQuality.RTK_FIXED: 0.005,
            FixQuality.RTK_FLOAT: 0.05,
            FixQuality.DGPS: 0.2,
            FixQuality.SINGLE: 0.3,
            FixQuality.PPS: 0.3,
            FixQuality.ESTIMATED: 2.0,
            FixQuality.MANUAL: 2.0,
            FixQuality.SIMULATION: 0.005,
        }
    )
    vertical_factor: float = 2.0  # vertical sigma / horizontal sigma without GST
    hdop_scaled: frozenset[FixQuality] = frozenset({FixQuality.SINGLE, FixQuality.DGPS, FixQuality.PPS})

    def sigma(self, quality: FixQuality, hdop: float | None) -> float:
        base = self.horizontal.get(quality, 10.0)
        if quality in self.hdop_scaled and hdop is not None and math.isfinite(hdop) and hdop > 0:
            base *= max(hdop, 0.5)
        return base

    def floor_of(self, quality: FixQuality) -> float:
        return self.floor.get(quality, 1.0)


DEFAULT_QUALITY_MODEL = QualityModel()


def navsat_status(quality: FixQuality) -> int:
    if quality == FixQuality.INVALID:
        return STATUS_NO_FIX
    if quality in (FixQuality.RTK_FIXED, FixQuality.RTK_FLOAT):
        return STATUS_GBAS_FIX
    if quality == FixQuality.DGPS:
        return STATUS_SBAS_FIX
    return STATUS_FIX


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class GnssFix:
    """One receiver epoch. Angles in degrees (WGS-84), heights in metres, speeds in m/s."""

    receive_time: float  # s, the caller's clock when the epoch was complete
    utc_time: dt.time | None
    utc: dt.datetime | None  # full UTC date-time when a date is known (RMC/ZDA), else None
    latitude: float
    longitude: float
    altitude: float  # ellipsoidal (WGS-84) height = GGA altitude + geoid separation
    geoid_separation: float
    quality: FixQuality
    num_satellites: int
    hdop: float
    covariance: tuple[float, ...]  # 9 values, ENU, row-major, m^2
    covariance_type: int
    speed: float | None  # m/s over ground
    course: float | None  # deg true, clockwise from north
    age_of_corrections: float | None  # s
    service: int
    sentences: frozenset[str]

    @property
    def valid(self) -> bool:
        return self.quality != FixQuality.INVALID and math.isfinite(self.latitude)

    @property
    def status(self) -> int:
        return navsat_status(self.quality)

    @property
    def horizontal_sigma(self) -> float:
        return math.sqrt(max(self.covariance[0], self.covariance[4]))


def covariance_from_gst(
    std_lat: float | None,
    std_lon: float | None,
    std_alt: float | None,
    major: float | None,
    minor: float | None,
    orientation_deg: float | None,
    floor: float,
    vertical_factor: float,
) -> tuple[tuple[float, ...], int]:
    """ENU covariance from GST fields; sigmas below ``floor`` are raised to it."""
    s_e = max(std_lon or 0.0, floor)
    s_n = max(std_lat or 0.0, floor)
    s_u = max(std_alt or 0.0, floor * vertical_factor)
    c_en = 0.0
    ctype = COVARIANCE_TYPE_DIAGONAL_KNOWN
    if major and minor is not None and orientation_deg is not None and major > 0:
        # Semi-major axis at orientation (deg from true north, clockwise): unit vector in EN.
        th = math.radians(orientation_deg)
        ue, un = math.sin(th), math.cos(th)
        a2, b2 = major * major, minor * minor
        cov_ee = a2 * ue * ue + b2 * un * un
        cov_nn = a2 * un * un + b2 * ue * ue
        cov_en = (a2 - b2) * ue * un
        # Keep the ellipse's correlation, scaled to the (possibly floored) axis sigmas.
        if cov_ee > 0 and cov_nn > 0:
            rho = max(-0.99, min(0.99, cov_en / math.sqrt(cov_ee * cov_nn)))
            s_e = max(math.sqrt(cov_ee), floor) if not std_lon else s_e
            s_n = max(math.sqrt(cov_nn), floor) if not std_lat else s_n
            c_en = rho * s_e * s_n
            ctype = COVARIANCE_TYPE_KNOWN
    cov = (s_e * s_e, c_en, 0.0, c_en, s_n * s_n, 0.0, 0.0, 0.0, s_u * s_u)
    return cov, ctype


def covariance_from_quality(
    quality: FixQuality, hdop: float | None, model: QualityModel = DEFAULT_QUALITY_MODEL
) -> tuple[tuple[float, ...], int]:
    s = model.sigma(quality, hdop)
    v = s * model.vertical_factor
    return (s * s, 0.0, 0.0, 0.0, s * s, 0.0, 0.0, 0.0, v * v), COVARIANCE_TYPE_APPROXIMATED


# --------------------------------------------------------------------------- stream parser


@dataclass
class NmeaCounters:
    bytes_in: int = 0
    sentences: int = 0  # accepted (checksum ok, parsed)
    checksum_errors: int = 0
    parse_errors: int = 0
    garbage_bytes: int = 0  # bytes outside any $...*hh line
    overlong_lines: int = 0
    unsupported: int = 0  # well-formed sentences of types we do not use (GSA, GSV, ...)
    fixes: int = 0
    invalid_fixes: int = 0  # epochs whose GGA says no fix

    @property
    def errors(self) -> int:
        return self.checksum_errors + self.parse_errors + self.overlong_lines

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Epoch:
    time: dt.time | None
    gga: pynmea2.GGA | None = None
    rmc: pynmea2.RMC | None = None
    vtg: pynmea2.VTG | None = None
    gst: pynmea2.GST | None = None
    zda: pynmea2.ZDA | None = None
    types: set[str] = field(default_factory=set)
    talkers: set[str] = field(default_factory=set)
    emitted: bool = False
    last_time: float = 0.0


def _f(value: object) -> float | None:
    """A float from a pynmea2 field, None when empty or malformed."""
    if value is None or value == "":
        return None
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _seconds_between(a: dt.time, b: dt.time) -> float:
    """b - a in seconds for times of day, across midnight."""
    sa = a.hour * 3600 + a.minute * 60 + a.second + a.microsecond * 1e-6
    sb = b.hour * 3600 + b.minute * 60 + b.second + b.microsecond * 1e-6
    return (sb - sa) % 86400.0


class NmeaStreamParser:
    """Bytes in, :class:`GnssFix` out. Never raises on input; see :attr:`counters`."""

    MAX_LINE = 256
    SUPPORTED = frozenset({"GGA", "RMC", "VTG", "GST", "ZDA"})

    def __init__(self, quality_model: QualityModel = DEFAULT_QUALITY_MODEL, require_checksum: bool = True):
        self.model = quality_model
        self.require_checksum = require_checksum
        self.counters = NmeaCounters()
        self._buf = bytearray()
        self._epoch: _Epoch | None = None
        self._expected: frozenset[str] = frozenset()
        self._previous_types: frozenset[str] = frozenset()
        self._gst: tuple[dt.time, pynmea2.GST, FixQuality] | None = None  # last GST, for low-rate GST
        self.gst_max_age = 1.5  # s
        self._last_quality = FixQuality.INVALID
        self._date: dt.date | None = None
        self._last_utc: dt.datetime | None = None
        self.last_error: str = ""

    # ---- input
    def feed(self, data: bytes, receive_time: float) -> list[GnssFix]:
        self.counters.bytes_in += len(data)
        self._buf.extend(data)
        out: list[GnssFix] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > self.MAX_LINE:
                    self._drop_overlong()
                break
            raw = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            out.extend(self._line(raw, receive_time))
        return out

    def _drop_overlong(self) -> None:
        start = self._buf.rfind(b"$")
        if start > 0 and len(self._buf) - start <= self.MAX_LINE:
            self.counters.garbage_bytes += start
            del self._buf[:start]
            return
        self.counters.overlong_lines += 1
        self.counters.garbage_bytes += len(self._buf)
        self._buf.clear()

    def feed_lines(self, lines: Iterable[str], receive_time: float) -> list[GnssFix]:
        out: list[GnssFix] = []
        for line in lines:
            out.extend(self.feed(line.encode("ascii", "replace") + b"\n", receive_time))
        return out

    def flush(self, receive_time: float) -> list[GnssFix]:
        """Close the open epoch (call when the line has been quiet for a while)."""
        fix = self._close_epoch(receive_time)
        return [fix] if fix else []

    def _line(self, raw: bytes, now: float) -> list[GnssFix]:
        raw = raw.strip(b"\r \t\x00")
        if not raw:
            return []
        start = raw.find(b"$")
        if start < 0:
            start = raw.find(b"!")
        if start < 0:
            self.counters.garbage_bytes += len(raw)
            return []
        if start > 0:
            self.counters.garbage_bytes += start
            raw = raw[start:]
        if len(raw) > self.MAX_LINE:
            self.counters.overlong_lines += 1
            return []
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            self.counters.parse_errors += 1
            self.last_error = "non-ASCII bytes in sentence"
            return []
        try:
            msg = pynmea2.parse(text, check=self.require_checksum)
        except pynmea2.ChecksumError as exc:
            self.counters.checksum_errors += 1
            self.last_error = f"checksum: {exc}"[:120]
            return []
        except (pynmea2.ParseError, ValueError, TypeError, AttributeError, IndexError) as exc:
            self.counters.parse_errors += 1
            self.last_error = f"parse: {exc}"[:120]
            return []
        stype = getattr(msg, "sentence_type", "")
        if stype not in self.SUPPORTED:
            self.counters.unsupported += 1
            return []
        try:
            return self._sentence(msg, stype, now)
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            self.counters.parse_errors += 1
            self.last_error = f"{stype} fields: {exc}"[:120]
            return []

    def _sentence(self, msg: pynmea2.NMEASentence, stype: str, now: float) -> list[GnssFix]:
        out: list[GnssFix] = []
        stamp: dt.time | None = None
        if stype in ("GGA", "RMC", "GST", "ZDA"):
            stamp = msg.timestamp
            if stype in ("GGA", "GST") and not isinstance(stamp, dt.time):
                raise ValueError("missing time")
        # Validate the fields we will use before the sentence may open or close an epoch.
        if stype == "GGA":
            int(msg.gps_qual or 0)
        self.counters.sentences += 1
        ep = self._epoch
        if stamp is not None and ep is not None and ep.time is not None and stamp != ep.time:
            fix = self._close_epoch(now)
            if fix:
                out.append(fix)
            ep = None
        if ep is None:
            ep = self._epoch = _Epoch(time=stamp)
        elif ep.time is None and stamp is not None:
            ep.time = stamp
        setattr(ep, stype.lower(), msg)
        if stype == "GST" and stamp is not None:
            try:
                q = FixQuality(int(ep.gga.gps_qual or 0)) if ep.gga is not None else self._last_quality
            except ValueError:
                q = FixQuality.INVALID
            self._gst = (stamp, msg, q)
        ep.types.add(stype)
        ep.talkers.add(getattr(msg, "talker", ""))
        ep.last_time = now
        if stype == "RMC" and msg.datestamp:
            self._date = msg.datestamp
        if stype == "ZDA":
            with contextlib.suppress(TypeError, ValueError):
                self._date = dt.date(int(msg.year), int(msg.month), int(msg.day))
        if not ep.emitted and ep.gga is not None and self._expected and self._expected <= ep.types:
            fix = self._make_fix(ep, now)
            ep.emitted = True
            if fix:
                out.append(fix)
        return out

    def _close_epoch(self, now: float) -> GnssFix | None:
        ep = self._epoch
        self._epoch = None
        if ep is None:
            return None
        if ep.gga is not None and str(ep.gga.gps_qual or "0") != "0":
            # Learn the epoch's sentence set from fixes only; sentences at a lower rate than
            # the epochs (GST at 1 Hz on some receivers) drop out of the intersection.
            types = frozenset(ep.types)
            self._expected = types & self._previous_types if self._previous_types else types
            self._previous_types = types
        if ep.emitted or ep.gga is None:
            return None
        return self._make_fix(ep, now)

    # ---- assembly
    def _utc(self, t: dt.time | None) -> dt.datetime | None:
        if t is None or self._date is None:
            return None
        utc = dt.datetime.combine(self._date, t.replace(tzinfo=None), tzinfo=dt.timezone.utc)
        last = self._last_utc
        if last is not None and utc < last - dt.timedelta(hours=12):
            # Midnight passed and no RMC/ZDA told us the new date yet.
            self._date = self._date + dt.timedelta(days=1)
            utc += dt.timedelta(days=1)
        self._last_utc = utc
        return utc

    def _make_fix(self, ep: _Epoch, now: float) -> GnssFix | None:
        gga = ep.gga
        assert gga is not None
        try:
            quality = FixQuality(int(gga.gps_qual or 0))
        except ValueError:
            quality = FixQuality.INVALID
        lat = lon = alt = math.nan
        sep = _f(gga.geo_sep) or 0.0
        if quality != FixQuality.INVALID:
            try:
                lat, lon = float(gga.latitude), float(gga.longitude)
            except (TypeError, ValueError):
                quality = FixQuality.INVALID
            msl = _f(gga.altitude)
            alt = (msl + sep) if msl is not None else math.nan
            if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or (lat == 0.0 and lon == 0.0):
                quality = FixQuality.INVALID
        if quality == FixQuality.INVALID:
            lat = lon = alt = math.nan
            self.counters.invalid_fixes += 1
        hdop = _f(gga.horizontal_dil)
        gst = ep.gst
        self._last_quality = quality
        cached = self._gst
        if (
            gst is None
            and cached is not None
            and ep.time is not None
            and cached[2] == quality
            and _seconds_between(cached[0], ep.time) <= self.gst_max_age
        ):
            gst = cached[1]  # no GST this epoch: a recent one of the same quality still holds
        if gst is not None and quality != FixQuality.INVALID:
            g = gst
            cov, ctype = covariance_from_gst(
                _f(g.std_dev_latitude),
                _f(g.std_dev_longitude),
                _f(g.std_dev_altitude),
                _f(g.std_dev_major),
                _f(g.std_dev_minor),
                _f(g.orientation),
                self.model.floor_of(quality),
                self.model.vertical_factor,
            )
        elif quality != FixQuality.INVALID:
            cov, ctype = covariance_from_quality(quality, hdop, self.model)
        else:
            cov, ctype = (0.0,) * 9, COVARIANCE_TYPE_UNKNOWN
        speed = course = None
        if ep.rmc is not None and getattr(ep.rmc, "status", "V") == "A":
            kn = _f(ep.rmc.spd_over_grnd)
            speed = kn * 0.514444 if kn is not None else None
            course = _f(ep.rmc.true_course)
        if ep.vtg is not None:
            kmh = _f(ep.vtg.spd_over_grnd_kmph)
            if kmh is not None:
                speed = kmh / 3.6
            elif (kn := _f(ep.vtg.spd_over_grnd_kts)) is not None:
                speed = kn * 0.514444
            course = _f(ep.vtg.true_track) if _f(ep.vtg.true_track) is not None else course
        try:
            nsat = int(gga.num_sats or 0)
        except ValueError:
            nsat = 0
        service = 0
        for talker in ep.talkers:
            service |= TALKER_SERVICE.get(talker, 0)
        self.counters.fixes += 1
        return GnssFix(
            receive_time=now,
            utc_time=ep.time,
            utc=self._utc(ep.time),
            latitude=lat,
            longitude=lon,
            altitude=alt,
            geoid_separation=sep,
            quality=quality,
            num_satellites=nsat,
            hdop=hdop if hdop is not None else math.nan,
            covariance=cov,
            covariance_type=ctype,
            speed=speed,
            course=course,
            age_of_corrections=_f(gga.age_gps_data),
            service=service or SERVICE_GPS,
            sentences=frozenset(ep.types),
        )


# --------------------------------------------------------------------------- RTCM 3


def crc24q(data: bytes | bytearray | memoryview) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


@dataclass
class RtcmCounters:
    bytes_in: int = 0
    frames: int = 0
    crc_errors: int = 0
    garbage_bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Rtcm3Framer:
    """Splits an RTCM 3 byte stream into CRC-checked frames (0xD3, 10-bit length, CRC-24Q)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.counters = RtcmCounters()

    def feed(self, data: bytes) -> list[bytes]:
        self.counters.bytes_in += len(data)
        self._buf.extend(data)
        frames: list[bytes] = []
        while True:
            start = self._buf.find(b"\xd3")
            if start < 0:
                self.counters.garbage_bytes += len(self._buf)
                self._buf.clear()
                break
            if start:
                self.counters.garbage_bytes += start
                del self._buf[:start]
            if len(self._buf) < 3:
                break
            if self._buf[1] & 0xFC:  # reserved bits must be 0
                self.counters.garbage_bytes += 1
                del self._buf[0]
                continue
            length = ((self._buf[1] & 0x03) << 8) | self._buf[2]
            total = 3 + length + 3
            if len(self._buf) < total:
                break
            frame = bytes(self._buf[:total])
            if crc24q(frame[:-3]) == int.from_bytes(frame[-3:], "big"):
                frames.append(frame)
                self.counters.frames += 1
                del self._buf[:total]
            else:
                self.counters.crc_errors += 1
                del self._buf[0]
        return frames


def rtcm3_frame(message_number: int, payload: bytes) -> bytes:
    """A well-formed RTCM 3 frame (for tests and emulators): 12-bit message number first."""
    body = bytes([(message_number >> 4) & 0xFF, ((message_number & 0x0F) << 4)]) + payload
    if len(body) > 1023:
        raise ValueError("RTCM 3 payload too long")
    head = bytes([0xD3, (len(body) >> 8) & 0x03, len(body) & 0xFF])
    crc = crc24q(head + body)
    return head + body + crc.to_bytes(3, "big")


# --------------------------------------------------------------------------- generation


def _lat_field(lat: float) -> tuple[str, str]:
    hemi = "N" if lat >= 0 else "S"
    a = abs(lat)
    deg = int(a)
    minutes = (a - deg) * 60.0
    if round(minutes, 7) >= 60.0:
        deg, minutes = deg + 1, 0.0
    return f"{deg:02d}{minutes:010.7f}", hemi


def _lon_field(lon: float) -> tuple[str, str]:
    hemi = "E" if lon >= 0 else "W"
    a = abs(lon)
    deg = int(a)
    minutes = (a - deg) * 60.0
    if round(minutes, 7) >= 60.0:
        deg, minutes = deg + 1, 0.0
    return f"{deg:03d}{minutes:010.7f}", hemi


def _time_field(t: dt.datetime) -> str:
    return t.strftime("%H%M%S.") + f"{t.microsecond // 10000:02d}"


def _render(talker: str, stype: str, fields: Sequence[str]) -> str:
    msg = pynmea2.TalkerSentence.sentence_types[stype](talker, stype, tuple(fields))
    return str(msg) + "\r\n"


@dataclass(frozen=True)
class EpochSpec:
    """What a receiver reports for one epoch (input of :func:`make_epoch`)."""

    utc: dt.datetime
    latitude: float  # deg
    longitude: float  # deg
    height: float  # m, ellipsoidal
    quality: FixQuality
    speed: float = 0.0  # m/s
    course: float = 0.0  # deg true
    num_satellites: int = 18
    hdop: float = 0.8
    geoid_separation: float = 0.0  # m (geoid above ellipsoid)
    sigma_east: float = 0.02  # m, reported in GST
    sigma_north: float = 0.02
    sigma_up: float = 0.04
    age_of_corrections: float | None = None
    talker: str = "GN"
    sentences: tuple[str, ...] = ("RMC", "VTG", "GGA", "GST")


def make_epoch(spec: EpochSpec) -> list[str]:
    """NMEA sentences (with checksums, CRLF-terminated) for one epoch."""
    t = _time_field(spec.utc)
    valid = spec.quality != FixQuality.INVALID
    if valid:
        lat, ns = _lat_field(spec.latitude)
        lon, ew = _lon_field(spec.longitude)
    else:
        lat = ns = lon = ew = ""
    knots = spec.speed / 0.514444
    out: list[str] = []
    for stype in spec.sentences:
        if stype == "GGA":
            age = f"{spec.age_of_corrections:.1f}" if spec.age_of_corrections is not None and valid else ""
            msl = f"{spec.height - spec.geoid_separation:.4f}" if valid else ""
            fields = [
                t,
                lat,
                ns,
                lon,
                ew,
                str(int(spec.quality)),
                f"{spec.num_satellites:02d}",
                f"{spec.hdop:.2f}",
                msl,
                "M",
                f"{spec.geoid_separation:.3f}",
                "M",
                age,
                "0000" if age else "",
            ]
            out.append(_render(spec.talker, "GGA", fields))
        elif stype == "RMC":
            mode = {FixQuality.RTK_FIXED: "R", FixQuality.RTK_FLOAT: "F", FixQuality.DGPS: "D"}.get(
                spec.quality, "A" if valid else "N"
            )
            fields = [
                t,
                "A" if valid else "V",
                lat,
                ns,
                lon,
                ew,
                f"{knots:.3f}" if valid else "",
                f"{spec.course % 360.0:.2f}" if valid else "",
                spec.utc.strftime("%d%m%y"),
                "",
                "",
                mode,
            ]
            out.append(_render(spec.talker, "RMC", fields))
        elif stype == "VTG":
            fields = [
                f"{spec.course % 360.0:.2f}" if valid else "",
                "T",
                "",
                "M",
                f"{knots:.3f}" if valid else "",
                "N",
                f"{spec.speed * 3.6:.3f}" if valid else "",
                "K",
                "A" if valid else "N",
            ]
            out.append(_render(spec.talker, "VTG", fields))
        elif stype == "GST" and valid:
            major = max(spec.sigma_east, spec.sigma_north)
            minor = min(spec.sigma_east, spec.sigma_north)
            orient = 90.0 if spec.sigma_east >= spec.sigma_north else 0.0
            rms = math.hypot(spec.sigma_east, spec.sigma_north)
            fields = [
                t,
                f"{rms:.3f}",
                f"{major:.3f}",
                f"{minor:.3f}",
                f"{orient:.1f}",
                f"{spec.sigma_north:.3f}",
                f"{spec.sigma_east:.3f}",
                f"{spec.sigma_up:.3f}",
            ]
            out.append(_render(spec.talker, "GST", fields))
        elif stype == "ZDA":
            fields = [t, f"{spec.utc.day:02d}", f"{spec.utc.month:02d}", f"{spec.utc.year:04d}", "00", "00"]
            out.append(_render(spec.talker, "ZDA", fields))
    return out


# --------------------------------------------------------------------------- log replay

_TIMED = (b"GGA", b"RMC", b"GST", b"ZDA", b"GLL", b"GNS")


def _time_of_day(line: bytes) -> float | None:
    """Seconds of the UTC time field of a timed sentence, None for other lines."""
    if len(line) < 8 or line[:1] != b"$" or line[3:6] not in _TIMED:
        return None
    body, star, checksum = line[1:].partition(b"*")
    if not star:  # truncated or unchecked: no time to trust
        return None
    acc = 0
    for byte in body:
        acc ^= byte
    try:
        if int(checksum[:2], 16) != acc:
            return None
    except ValueError:
        return None
    fields = line.split(b",")
    stamp = fields[5] if line[3:6] == b"GLL" and len(fields) > 5 else fields[1] if len(fields) > 1 else b""
    try:
        h, m, s = int(stamp[0:2]), int(stamp[2:4]), float(stamp[4:])
    except ValueError:
        return None
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 61):
        return None
    return h * 3600.0 + m * 60.0 + s


def log_epochs(data: bytes) -> list[tuple[float, bytes]]:
    """Split a recorded NMEA log into (seconds since its first epoch, bytes of the epoch).

    Epochs are told apart by the UTC time of day of the timed sentences (midnight wraps);
    untimed lines (VTG, GSA, GSV, garbage) stay with the epoch they follow, so the bytes
    of the log are replayed unchanged and the parser sees what the receiver sent.
    """
    out: list[tuple[float, bytes]] = []
    chunk = bytearray()
    first: float | None = None
    current: float | None = None
    offset = 0.0
    for line in data.splitlines(keepends=True):
        tod = _time_of_day(line.strip())
        if tod is not None:
            if current is not None and tod + offset < current - 43200.0:
                offset += 86400.0
            tod += offset
            if first is None:
                first = tod
            if current is not None and tod != current and chunk:
                out.append((current - first, bytes(chunk)))
                chunk.clear()
            current = tod
        chunk.extend(line)
    if chunk:
        start = first if first is not None else 0.0
        out.append(((current if current is not None else start) - start, bytes(chunk)))
    return out
