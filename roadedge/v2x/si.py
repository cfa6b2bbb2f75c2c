"""The one SI conversion layer: CSAE 53 ASN.1 values <-> roadedge_msgs V2X messages (SI, ENU).

Units of the standard and their SI form:

- latitude / longitude 1e-7 deg (900000001 / 1800000001 unavailable) -> deg, NaN
- elevation 0.1 m (-4096 unavailable) -> m, NaN
- speed 0.02 m/s (8191 unavailable) -> m/s, NaN
- heading 0.0125 deg clockwise from north (28800 unavailable) -> ENU yaw rad (0 east, CCW +)
- steering wheel angle 1.5 deg, positive right (127 unavailable) -> rad, positive left
- acceleration 0.01 m/s^2 (2001 unavailable); lateral positive right -> positive left;
  vertical 0.02 g (-127 unavailable); yaw rate 0.01 deg/s, positive clockwise
  (32767 unavailable) -> rad/s CCW positive (SAE J670 vehicle axes, as CSAE 53 inherits)
- position accuracy 0.05 m (255 unavailable), orientation 360/65535 deg from north
  (65535 unavailable)
- vehicle width / length 1 cm, height 5 cm; lane width 1 cm; radius 0.1 m
- DSecond ms in the minute (65535 unavailable), MinuteOfTheYear (527040 unavailable),
  TimeMark 0.1 s (36001 unavailable), Confidence 0.005
- node and event offsets (PositionOffsetLLV, 1e-7 deg + 0.1 m) -> ENU metres from the
  reference position (pymap3d); on encoding the smallest offset form that fits is chosen.
- BSM path history (PathHistoryPoint): llvOffset from the BSM's position (or the path history's
  initialPosition) -> absolute GeoPoint (no offsetV -> elevation NaN); TimeOffset 10 ms
  (65535 unavailable) -> s before the BSM's time; CoarseHeading 1.5 deg clockwise from north
  (240 unavailable) -> ENU yaw; PositionConfidenceSet -> its class in m. BSM path prediction:
  RadiusOfCurvature 0.1 m, positive to the right, +-32767 straight -> m, positive to the left
  (like yaw_rate), +inf straight; Confidence 0.5 % -> 0..1.

Values out of range are clamped to the nearest representable value on encoding (the
standard's "or more" convention), NaN encodes as the unavailable sentinel.
"""

from __future__ import annotations

import calendar
import math
import time as _time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import pymap3d
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from roadedge_msgs.msg import (
    Bsm,
    GeoPoint,
    MapConnection,
    MapData,
    MapLane,
    MapLink,
    MapMovement,
    MapNode,
    PathHistoryPoint,
    Rsi,
    RsiEvent,
    RsiPath,
    RsiSign,
    Rsm,
    RsmParticipant,
    Spat,
    SpatIntersection,
    SpatPhase,
    SpatPhaseState,
    V2xHeader,
)
from std_msgs.msg import Header

NAN = float("nan")

# ----------------------------------------------------------------------- sentinels and units
LAT_UNAVAILABLE = 900_000_001
LON_UNAVAILABLE = 1_800_000_001
ELEV_UNAVAILABLE = -4096
SPEED_UNAVAILABLE = 8191
HEADING_UNAVAILABLE = 28800
STEER_UNAVAILABLE = 127
ACCEL_UNAVAILABLE = 2001
VERT_ACCEL_UNAVAILABLE = -127
YAW_RATE_UNAVAILABLE = 32767
SEMI_AXIS_UNAVAILABLE = 255
ORIENTATION_UNAVAILABLE = 65535
DSECOND_UNAVAILABLE = 65535
MOY_UNAVAILABLE = 527040
TIMEMARK_UNAVAILABLE = 36001

DEG_UNIT = 1e-7
ELEV_UNIT = 0.1
SPEED_UNIT = 0.02
HEADING_UNIT = 0.0125
STEER_UNIT = math.radians(1.5)
ACCEL_UNIT = 0.01
G = 9.80665
VERT_ACCEL_UNIT = 0.02 * G
YAW_RATE_UNIT = math.radians(0.01)
SEMI_AXIS_UNIT = 0.05
ORIENTATION_UNIT = 360.0 / 65535.0
TIMEMARK_UNIT = 0.1
CONFIDENCE_UNIT = 0.005
RADIUS_UNIT = 0.1
TIME_OFFSET_UNIT = 0.01
TIME_OFFSET_UNAVAILABLE = 65535
COARSE_HEADING_UNIT = 1.5
COARSE_HEADING_UNAVAILABLE = 240
RADIUS_STRAIGHT = 32767
PATH_HISTORY_MAX_POINTS = 23
#: Bsm.path_history_gnss_status when the path history carries no currGNSSstatus
GNSS_STATUS_NOT_SENT = 256
VEHICLE_HEIGHT_UNIT = 0.05

TRANSMISSIONS = ("neutral", "park", "forwardGears", "reverseGears", "reserved1", "reserved2", "reserved3")
_TRANSMISSIONS_ALL = (*TRANSMISSIONS, "unavailable")
EVENT_SOURCES = ("unknown", "police", "government", "meteorological", "internet", "detection")
PARTICIPANT_TYPES = ("unknown", "motor", "non-motor", "pedestrian", "rsu")
SOURCE_TYPES = ("unknown", "selfinfo", "v2x", "video", "microwaveRadar", "loop", "lidar", "integrated")
LIGHT_STATES = (
    "unavailable",
    "dark",
    "flashing-red",
    "red",
    "flashing-green",
    "permissive-green",
    "protected-green",
    "yellow",
    "flashing-yellow",
)
SIREN = ("unavailable", "notInUse", "inUse", "reserved")
LIGHTBAR = (
    "unavailable",
    "notInUse",
    "inUse",
    "yellowCautionLights",
    "schooldBusLights",
    "arrowSignsActive",
    "slowMovingVehicle",
    "freqStops",
)
#: CSAE ResponseType, in code order (roadedge_msgs/Bsm RESPONSE_*)
RESPONSE = (
    "notInUseOrNotEquipped",
    "emergency",
    "nonEmergency",
    "pursuit",
    "stationary",
    "slowMoving",
    "stopAndGoMovement",
)
EMERGENCY_RESPONSE = ("emergency", "pursuit")


# ----------------------------------------------------------------------- scalar helpers
def from_scaled(value: int | None, unit: float, unavailable: int | None = None) -> float:
    """ASN.1 integer -> SI float; None or the unavailable sentinel -> NaN."""
    if value is None or (unavailable is not None and value == unavailable):
        return NAN
    return value * unit


def to_scaled(value: float, unit: float, lo: int, hi: int, unavailable: int) -> int:
    """SI float -> ASN.1 integer in [lo, hi]; NaN / inf -> the unavailable sentinel."""
    if not math.isfinite(value):
        return unavailable
    return min(hi, max(lo, round(value / unit)))


def wrap_angle(angle: float) -> float:
    """Angle in (-pi, pi]."""
    out = math.atan2(math.sin(angle), math.cos(angle))
    return math.pi if out == -math.pi else out


def _clockwise_to_yaw(value: int | None, unit: float, unavailable: int) -> float:
    """A CSAE angle (``unit`` degrees clockwise from north) -> ENU yaw rad; None / ``unavailable`` -> NaN."""
    if value is None or value >= unavailable:
        return NAN
    return wrap_angle(math.pi / 2 - math.radians(value * unit))


def _yaw_to_clockwise(yaw: float, unit: float, unavailable: int) -> int:
    """ENU yaw rad -> a CSAE angle of ``unit`` degrees clockwise from north (``unavailable`` steps make
    the full circle); NaN -> ``unavailable``."""
    if not math.isfinite(yaw):
        return unavailable
    deg = (90.0 - math.degrees(yaw)) % 360.0
    return round(deg / unit) % unavailable


def heading_to_yaw(heading: int | None) -> float:
    """CSAE Heading (0.0125 deg clockwise from north) -> ENU yaw rad; 28800 -> NaN."""
    return _clockwise_to_yaw(heading, HEADING_UNIT, HEADING_UNAVAILABLE)


def yaw_to_heading(yaw: float) -> int:
    """ENU yaw rad -> CSAE Heading; NaN -> 28800 (unavailable)."""
    return _yaw_to_clockwise(yaw, HEADING_UNIT, HEADING_UNAVAILABLE)


def orientation_to_yaw(value: int) -> float:
    return _clockwise_to_yaw(value, ORIENTATION_UNIT, ORIENTATION_UNAVAILABLE)


def yaw_to_orientation(yaw: float) -> int:
    return _yaw_to_clockwise(yaw, ORIENTATION_UNIT, ORIENTATION_UNAVAILABLE)


def bits_to_int(bits: tuple[bytes, int] | None) -> int:
    """asn1tools BIT STRING -> int with named bit n as 1 << n."""
    if bits is None:
        return 0
    data, nbits = bits
    raw = int.from_bytes(data, "big") >> (len(data) * 8 - nbits) if nbits else 0
    out = 0
    for n in range(nbits):
        if raw & (1 << (nbits - 1 - n)):
            out |= 1 << n
    return out


def int_to_bits(value: int, nbits: int) -> tuple[bytes, int]:
    """int with named bit n as 1 << n -> asn1tools BIT STRING of nbits bits."""
    raw = 0
    for n in range(nbits):
        if value & (1 << n):
            raw |= 1 << (nbits - 1 - n)
    nbytes = (nbits + 7) // 8
    return ((raw << (nbytes * 8 - nbits)).to_bytes(nbytes, "big"), nbits)


def _enum_index(names: Sequence[str], name: str | None, default: int = 0) -> int:
    if name is None:
        return default
    try:
        return names.index(name)
    except ValueError:
        return default


def _enum_name(names: Sequence[str], index: int, default: int = 0) -> str:
    return names[index] if 0 <= index < len(names) else names[default]


# ----------------------------------------------------------------------- time
def to_time_msg(t: float | None) -> Time:
    """Unix seconds -> builtin_interfaces/Time; None / NaN -> zero (unavailable)."""
    if t is None or not math.isfinite(t) or t <= 0:
        return Time()
    sec = math.floor(t)
    nsec = round((t - sec) * 1e9)
    if nsec >= 1_000_000_000:
        sec, nsec = sec + 1, nsec - 1_000_000_000
    return Time(sec=int(sec), nanosec=int(nsec))


def from_time_msg(t: Time) -> float | None:
    if t.sec == 0 and t.nanosec == 0:
        return None
    return float(t.sec) + float(t.nanosec) * 1e-9


def _year_start(year: int) -> float:
    return float(calendar.timegm((year, 1, 1, 0, 0, 0)))


def moy_to_unix(moy: int | None, dsecond: int | None, now: float) -> float | None:
    """MinuteOfTheYear (+ DSecond ms) -> unix seconds, in the year that puts it nearest ``now``."""
    if moy is None or moy >= MOY_UNAVAILABLE:
        return None
    ms = 0 if dsecond is None or dsecond >= DSECOND_UNAVAILABLE else dsecond
    year = datetime.fromtimestamp(now, tz=timezone.utc).year
    candidates = [_year_start(y) + moy * 60.0 + ms / 1000.0 for y in (year - 1, year, year + 1)]
    return min(candidates, key=lambda c: abs(c - now))


def unix_to_moy(t: float) -> tuple[int, int]:
    """unix seconds -> (MinuteOfTheYear, DSecond ms within the minute)."""
    year = datetime.fromtimestamp(t, tz=timezone.utc).year
    since = t - _year_start(year)
    moy = int(since // 60)
    ms = round((since - moy * 60) * 1000)
    if ms >= 60000:  # rounding up into the next minute
        moy, ms = moy + 1, ms - 60000
    return min(moy, MOY_UNAVAILABLE - 1), ms


def dsecond_to_unix(dsecond: int | None, now: float) -> float | None:
    """DSecond alone (BSM secMark): the instant with that ms-in-minute nearest ``now``."""
    if dsecond is None or dsecond >= DSECOND_UNAVAILABLE:
        return None
    minute = math.floor(now / 60.0) * 60.0
    offset = dsecond / 1000.0
    best = minute - 60.0 + offset  # the nearest of the previous, this and the next minute (first on a tie)
    here = minute + offset
    if abs(here - now) < abs(best - now):
        best = here
    ahead = minute + 60.0 + offset
    if abs(ahead - now) < abs(best - now):
        best = ahead
    return best


def unix_to_dsecond(t: float) -> int:
    ms = round((t % 60.0) * 1000)
    return ms % 60000


def timemark_to_s(mark: int | None) -> float:
    return from_scaled(mark, TIMEMARK_UNIT, TIMEMARK_UNAVAILABLE)


def s_to_timemark(seconds: float) -> int:
    return to_scaled(seconds, TIMEMARK_UNIT, 0, 36000, TIMEMARK_UNAVAILABLE)


# ----------------------------------------------------------------------- positions
def position_from_asn(pos: dict[str, Any], target: GeoPoint | None = None) -> GeoPoint:
    """Position3D -> GeoPoint (filled in place when ``target`` is given)."""
    out = GeoPoint() if target is None else target
    lat = pos["lat"]
    lon = pos["long"]
    out.latitude = NAN if lat == LAT_UNAVAILABLE else lat * DEG_UNIT
    out.longitude = NAN if lon == LON_UNAVAILABLE else lon * DEG_UNIT
    out.elevation = from_scaled(pos.get("elevation"), ELEV_UNIT, ELEV_UNAVAILABLE)
    return out


def position_to_asn(point: GeoPoint) -> dict[str, Any]:
    out: dict[str, Any] = {
        "lat": to_scaled(point.latitude, DEG_UNIT, -900_000_000, 900_000_000, LAT_UNAVAILABLE),
        "long": to_scaled(point.longitude, DEG_UNIT, -1_799_999_999, 1_800_000_000, LON_UNAVAILABLE),
    }
    if math.isfinite(point.elevation):
        out["elevation"] = to_scaled(point.elevation, ELEV_UNIT, -4095, 61439, ELEV_UNAVAILABLE)
    return out


_LL_FORMS = (
    ("position-LL1", 2047),
    ("position-LL2", 8191),
    ("position-LL3", 32767),
    ("position-LL4", 131071),
    ("position-LL5", 2097151),
    ("position-LL6", 8388607),
)
_V_FORMS = (
    ("offset1", 63),
    ("offset2", 127),
    ("offset3", 255),
    ("offset4", 511),
    ("offset5", 1023),
    ("offset6", 2047),
)


def _ref_h(ref: GeoPoint) -> float:
    return ref.elevation if math.isfinite(ref.elevation) else 0.0


def offset_to_enu(offset: dict[str, Any], ref: GeoPoint) -> Point:
    """PositionOffsetLLV -> ENU metres from ``ref`` (curvature handled by pymap3d)."""
    form, ll = offset["offsetLL"]
    if form == "position-LatLon":
        lat = ll["lat"] * DEG_UNIT
        lon = ll["lon"] * DEG_UNIT
    else:
        lat = ref.latitude + ll["lat"] * DEG_UNIT
        lon = ref.longitude + ll["lon"] * DEG_UNIT
    h = _ref_h(ref)
    vertical = offset.get("offsetV")
    if vertical is not None:
        vform, v = vertical
        h = (h if v == ELEV_UNAVAILABLE else v * ELEV_UNIT) if vform == "elevation" else h + v * ELEV_UNIT
    e, n, u = pymap3d.geodetic2enu(lat, lon, h, ref.latitude, ref.longitude, _ref_h(ref))
    return Point(x=float(e), y=float(n), z=float(u))


def enu_to_offset(point: Point, ref: GeoPoint, with_vertical: bool = True) -> dict[str, Any]:
    """ENU metres from ``ref`` -> the smallest PositionOffsetLLV form that holds it.

    A point or reference that is unavailable (NaN) encodes as a zero offset.
    """
    values = (point.x, point.y, point.z, ref.latitude, ref.longitude)
    if not all(math.isfinite(v) for v in values):
        return {"offsetLL": ("position-LL1", {"lon": 0, "lat": 0})}
    lat, lon, h = pymap3d.enu2geodetic(point.x, point.y, point.z, ref.latitude, ref.longitude, _ref_h(ref))
    dlat = round((float(lat) - ref.latitude) / DEG_UNIT)
    dlon = round((float(lon) - ref.longitude) / DEG_UNIT)
    span = max(abs(dlat), abs(dlon))
    offset: dict[str, Any]
    for form, limit in _LL_FORMS:
        if span <= limit:
            offset = {"offsetLL": (form, {"lon": dlon, "lat": dlat})}
            break
    else:
        absolute = GeoPoint(latitude=float(lat), longitude=float(lon), elevation=NAN)
        pos = position_to_asn(absolute)
        offset = {"offsetLL": ("position-LatLon", {"lon": pos["long"], "lat": pos["lat"]})}
    if with_vertical:
        dh = round((float(h) - _ref_h(ref)) / ELEV_UNIT)
        if dh != 0:
            for vform, vlimit in _V_FORMS:
                if abs(dh) <= vlimit:
                    offset["offsetV"] = (vform, dh)
                    break
            else:
                offset["offsetV"] = (
                    "elevation",
                    to_scaled(float(h), ELEV_UNIT, -4095, 61439, ELEV_UNAVAILABLE),
                )
    return offset


# ----------------------------------------------------------------------- header
def _hex_id(raw: bytes | None) -> str:
    return raw.hex() if raw else ""


def _id_bytes(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = text.encode()
    return raw[:8].rjust(8, b"\x00")


def set_time(target: Time, t: float | None) -> None:
    """Fill a builtin_interfaces/Time in place (cheaper than a new message); None -> zero."""
    if t is None or not math.isfinite(t) or t <= 0:
        target.sec, target.nanosec = 0, 0
        return
    sec = math.floor(t)
    nsec = round((t - sec) * 1e9)
    if nsec >= 1_000_000_000:
        sec, nsec = sec + 1, nsec - 1_000_000_000
    target.sec, target.nanosec = int(sec), int(nsec)


def _header(header: V2xHeader, msg_count: int, sender: bytes | None, generation: float | None) -> None:
    """Fill the message's own V2xHeader in place."""
    header.header.frame_id = "wgs84"
    header.sender_id = _hex_id(sender)
    header.msg_count = int(msg_count)
    set_time(header.generation_time, generation)


def _gen_time(header: V2xHeader, now: float) -> float:
    t = from_time_msg(header.generation_time)
    return now if t is None else t


# ----------------------------------------------------------------------- BSM
def _bare(cls: Any) -> Any:
    """A message of a generated rosidl class without running its ``__init__`` (which builds every field
    from a default, nested messages included); the caller writes every field's slot (``_<field>``)."""
    msg = cls.__new__(cls)
    msg._check_fields = False
    return msg


def _checked(msg: Any) -> Any:
    """Under ROS_PYTHON_CHECK_FIELDS=1, pass every field of a message built by :func:`_bare` (and its
    nested messages) through the generated setters' type and range checks, as a constructor would."""
    for name in msg.get_fields_and_field_types():
        value = getattr(msg, name)
        if hasattr(value, "get_fields_and_field_types"):
            _checked(value)
        elif isinstance(value, list):
            for item in value:
                if hasattr(item, "get_fields_and_field_types"):
                    _checked(item)
        msg._check_fields = True
        setattr(msg, name, value)
    return msg


#: what the generated constructors set (True only with ROS_PYTHON_CHECK_FIELDS=1)
_CHECK_FIELDS: bool = bool(Time()._check_fields)
_EMERGENCY_CODES = frozenset(EMERGENCY_RESPONSE)
_RESPONSE_INDEX = {name: i for i, name in enumerate(RESPONSE)}
_SIREN_INDEX = {name: i for i, name in enumerate(SIREN)}
_LIGHTBAR_INDEX = {name: i for i, name in enumerate(LIGHTBAR)}
_TRANSMISSION_INDEX = {name: min(i, 7) for i, name in enumerate(_TRANSMISSIONS_ALL)}


def bsm_from_asn(value: dict[str, Any], now: float | None = None) -> Bsm:
    """BasicSafetyMessage -> Bsm.

    The hot path of BSM ingest (thousands a second at a large intersection): the message and its
    nested messages are not built from defaults first; every field slot is written here exactly once,
    with the type the field has (float / int / bool / str: the decoder checked the ASN.1 ranges, so every
    value fits its field; test_v2x_si checks the result against the generated setters' checks).
    """
    now = _time.time() if now is None else now
    stamp = _bare(Time)
    stamp._sec = 0
    stamp._nanosec = 0
    header = _bare(Header)
    header._stamp = stamp
    header._frame_id = "wgs84"
    gen = _bare(Time)
    gen._sec = gen._nanosec = 0
    set_time(gen, dsecond_to_unix(value["secMark"], now))
    v2x = _bare(V2xHeader)
    v2x._header = header
    sender = value["id"]
    v2x._sender_id = sender.hex() if sender else ""
    v2x._msg_count = value["msgCnt"]
    v2x._generation_time = gen
    v2x._security_verdict = 0
    v2x._signer_digest = ""
    msg = _bare(Bsm)
    msg._v2x = v2x
    pos = value["pos"]
    lat = pos["lat"]
    lon = pos["long"]
    elevation = pos.get("elevation")
    point = _bare(GeoPoint)
    point._latitude = NAN if lat == LAT_UNAVAILABLE else lat * DEG_UNIT
    point._longitude = NAN if lon == LON_UNAVAILABLE else lon * DEG_UNIT
    point._elevation = NAN if elevation is None or elevation == ELEV_UNAVAILABLE else elevation * ELEV_UNIT
    msg._position = point
    acc = value.get("posAccuracy")
    if acc is not None:
        major = acc["semiMajor"]
        minor = acc["semiMinor"]
        msg._position_semi_major = NAN if major == SEMI_AXIS_UNAVAILABLE else major * SEMI_AXIS_UNIT
        msg._position_semi_minor = NAN if minor == SEMI_AXIS_UNAVAILABLE else minor * SEMI_AXIS_UNIT
        msg._position_orientation = orientation_to_yaw(acc["orientation"])
    else:
        msg._position_semi_major = msg._position_semi_minor = msg._position_orientation = NAN
    msg._transmission = _TRANSMISSION_INDEX.get(value["transmission"], 7)
    speed = value["speed"]
    msg._speed = NAN if speed == SPEED_UNAVAILABLE else speed * SPEED_UNIT
    msg._heading = heading_to_yaw(value["heading"])
    angle = value.get("angle")
    msg._steering_wheel_angle = NAN if angle is None or angle == STEER_UNAVAILABLE else -angle * STEER_UNIT
    accel = value["accelSet"]
    along, alat, avert, ayaw = accel["long"], accel["lat"], accel["vert"], accel["yaw"]
    msg._acceleration_longitudinal = NAN if along == ACCEL_UNAVAILABLE else along * ACCEL_UNIT
    msg._acceleration_lateral = NAN if alat == ACCEL_UNAVAILABLE else -alat * ACCEL_UNIT
    msg._acceleration_vertical = NAN if avert == VERT_ACCEL_UNAVAILABLE else avert * VERT_ACCEL_UNIT
    msg._yaw_rate = NAN if ayaw == YAW_RATE_UNAVAILABLE else -ayaw * YAW_RATE_UNIT
    msg._brake_pedal_applied = value["brakes"].get("brakePadel") == "on"
    size = value["size"]
    msg._width = size["width"] * 0.01
    msg._length = size["length"] * 0.01
    height = size.get("height")
    msg._height = NAN if height is None else height * VEHICLE_HEIGHT_UNIT
    msg._vehicle_class = value["vehicleClass"]["classification"]
    safety = value.get("safetyExt")
    if safety is None:
        msg._event_flags = msg._exterior_lights = 0
        msg._path_history = []
        msg._path_history_gnss_status = GNSS_STATUS_NOT_SENT
        msg._path_radius_of_curvature = msg._path_prediction_confidence = NAN
    else:
        msg._event_flags = bits_to_int(safety.get("events")) & 0xFFFF
        msg._exterior_lights = bits_to_int(safety.get("lights"))
        history = safety.get("pathHistory")
        if history is None:
            msg._path_history = []
            msg._path_history_gnss_status = GNSS_STATUS_NOT_SENT
        else:
            msg._path_history = path_history_from_asn(history, pos)
            status = history.get("currGNSSstatus")
            msg._path_history_gnss_status = GNSS_STATUS_NOT_SENT if status is None else bits_to_int(status)
        prediction = safety.get("pathPrediction")
        if prediction is None:
            msg._path_radius_of_curvature = msg._path_prediction_confidence = NAN
        else:
            msg._path_radius_of_curvature = radius_from_asn(prediction["radiusOfCurve"])
            msg._path_prediction_confidence = prediction["confidence"] * CONFIDENCE_UNIT
    emergency = value.get("emergencyExt")
    if emergency is None:
        msg._emergency_vehicle = False
        msg._response_type = msg._siren_in_use = msg._lights_in_use = 0
    else:
        response = emergency.get("responseType")
        msg._emergency_vehicle = response in _EMERGENCY_CODES
        msg._response_type = _RESPONSE_INDEX.get(response, 0)  # type: ignore[arg-type]
        msg._siren_in_use = _SIREN_INDEX.get(emergency.get("sirenUse"), 0)  # type: ignore[arg-type]
        msg._lights_in_use = _LIGHTBAR_INDEX.get(emergency.get("lightsUse"), 0)  # type: ignore[arg-type]
    return _checked(msg) if _CHECK_FIELDS else msg


def bsm_to_asn(msg: Bsm, now: float | None = None) -> dict[str, Any]:
    now = _time.time() if now is None else now
    value: dict[str, Any] = {
        "msgCnt": msg.v2x.msg_count % 128,
        "id": _id_bytes(msg.v2x.sender_id),
        "secMark": unix_to_dsecond(_gen_time(msg.v2x, now)),
        "pos": position_to_asn(msg.position),
    }
    if math.isfinite(msg.position_semi_major) or math.isfinite(msg.position_semi_minor):
        value["posAccuracy"] = {
            "semiMajor": to_scaled(msg.position_semi_major, SEMI_AXIS_UNIT, 0, 254, SEMI_AXIS_UNAVAILABLE),
            "semiMinor": to_scaled(msg.position_semi_minor, SEMI_AXIS_UNIT, 0, 254, SEMI_AXIS_UNAVAILABLE),
            "orientation": yaw_to_orientation(msg.position_orientation),
        }
    value["transmission"] = (
        TRANSMISSIONS[msg.transmission] if msg.transmission < len(TRANSMISSIONS) else "unavailable"
    )
    value["speed"] = to_scaled(msg.speed, SPEED_UNIT, 0, 8190, SPEED_UNAVAILABLE)
    value["heading"] = yaw_to_heading(msg.heading)
    if math.isfinite(msg.steering_wheel_angle):
        value["angle"] = to_scaled(-msg.steering_wheel_angle, STEER_UNIT, -126, 126, STEER_UNAVAILABLE)
    value["accelSet"] = {
        "long": to_scaled(msg.acceleration_longitudinal, ACCEL_UNIT, -2000, 2000, ACCEL_UNAVAILABLE),
        "lat": to_scaled(-msg.acceleration_lateral, ACCEL_UNIT, -2000, 2000, ACCEL_UNAVAILABLE),
        "vert": to_scaled(msg.acceleration_vertical, VERT_ACCEL_UNIT, -126, 127, VERT_ACCEL_UNAVAILABLE),
        "yaw": to_scaled(-msg.yaw_rate, YAW_RATE_UNIT, -32766, 32766, YAW_RATE_UNAVAILABLE),
    }
    value["brakes"] = {"brakePadel": "on" if msg.brake_pedal_applied else "off"}
    size: dict[str, Any] = {
        "width": to_scaled(msg.width, 0.01, 0, 1023, 0),
        "length": to_scaled(msg.length, 0.01, 0, 4095, 0),
    }
    if math.isfinite(msg.height):
        size["height"] = to_scaled(msg.height, VEHICLE_HEIGHT_UNIT, 0, 127, 0)
    value["size"] = size
    value["vehicleClass"] = {"classification": msg.vehicle_class}
    history = path_history_to_asn(msg.path_history, msg.position, msg.path_history_gnss_status)
    prediction = path_prediction_to_asn(msg.path_radius_of_curvature, msg.path_prediction_confidence)
    if msg.event_flags or msg.exterior_lights or history is not None or prediction is not None:
        safety: dict[str, Any] = {}
        if msg.event_flags:
            safety["events"] = int_to_bits(msg.event_flags, 13)
        if history is not None:
            safety["pathHistory"] = history
        if prediction is not None:
            safety["pathPrediction"] = prediction
        if msg.exterior_lights:
            safety["lights"] = int_to_bits(msg.exterior_lights, 9)
        value["safetyExt"] = safety
    if msg.emergency_vehicle or msg.response_type or msg.siren_in_use or msg.lights_in_use:
        emergency: dict[str, Any] = {}
        if 0 < msg.response_type < len(RESPONSE):
            emergency["responseType"] = RESPONSE[msg.response_type]
        elif msg.emergency_vehicle:  # set by a producer that only knows yes/no
            emergency["responseType"] = "emergency"
        if msg.siren_in_use:
            emergency["sirenUse"] = _enum_name(SIREN, msg.siren_in_use)
        if msg.lights_in_use:
            emergency["lightsUse"] = _enum_name(LIGHTBAR, msg.lights_in_use)
        value["emergencyExt"] = emergency
    return value


# ----------------------------------------------------------------------- BSM path history / prediction
_ELEV_CONFIDENCE = (
    "unavailable",
    "elev-500-00",
    "elev-200-00",
    "elev-100-00",
    "elev-050-00",
    "elev-020-00",
    "elev-010-00",
    "elev-005-00",
    "elev-002-00",
    "elev-001-00",
    "elev-000-50",
    "elev-000-20",
    "elev-000-10",
    "elev-000-05",
    "elev-000-02",
    "elev-000-01",
)


def coarse_heading_to_yaw(heading: int | None) -> float:
    """CSAE CoarseHeading (1.5 deg clockwise from north) -> ENU yaw rad; None / 240 -> NaN."""
    return _clockwise_to_yaw(heading, COARSE_HEADING_UNIT, COARSE_HEADING_UNAVAILABLE)


def yaw_to_coarse_heading(yaw: float) -> int:
    """ENU yaw rad -> CSAE CoarseHeading; NaN -> 240 (unavailable)."""
    return _yaw_to_clockwise(yaw, COARSE_HEADING_UNIT, COARSE_HEADING_UNAVAILABLE)


def time_offset_to_s(value: int) -> float:
    """TimeOffset (10 ms back from the BSM's time, 1..65534) -> s; 65535 -> NaN."""
    return NAN if value >= TIME_OFFSET_UNAVAILABLE else value * TIME_OFFSET_UNIT


def s_to_time_offset(seconds: float) -> int:
    """s before the BSM's time -> TimeOffset, clamped to 0.01..655.34 s; NaN -> 65535."""
    return to_scaled(seconds, TIME_OFFSET_UNIT, 1, TIME_OFFSET_UNAVAILABLE - 1, TIME_OFFSET_UNAVAILABLE)


def radius_from_asn(value: int) -> float:
    """RadiusOfCurvature (0.1 m, positive = curving right, +-32767 straight) -> m, positive = left,
    +inf straight. 0 (a zero radius, no vehicle path) -> NaN."""
    if value >= RADIUS_STRAIGHT or value <= -RADIUS_STRAIGHT:
        return math.inf
    if value == 0:
        return NAN
    return -value * RADIUS_UNIT


def path_prediction_to_asn(radius: float, confidence: float) -> dict[str, Any] | None:
    """Bsm path prediction -> PathPrediction, or None (not sent) when ``radius`` is NaN or 0 (the
    message default). Radii of 3276.7 m and more are sent as straight (the standard's overflow rule);
    a NaN confidence is sent as 0."""
    if math.isnan(radius) or radius == 0.0:
        return None
    if math.isinf(radius):
        value = RADIUS_STRAIGHT
    else:
        value = -round(radius / RADIUS_UNIT)
        if abs(value) >= RADIUS_STRAIGHT:
            value = RADIUS_STRAIGHT
        elif value == 0:  # below 5 cm: the smallest radius on that side
            value = -1 if radius > 0 else 1
    return {"radiusOfCurve": value, "confidence": to_scaled(confidence, CONFIDENCE_UNIT, 0, 200, 0)}


def path_history_from_asn(history: dict[str, Any], bsm_pos: dict[str, Any]) -> list[PathHistoryPoint]:
    """PathHistory -> Bsm.path_history: absolute positions (offsets added to the initialPosition when
    sent, to the BSM's position otherwise; an unavailable reference gives NaN), newest first as sent."""
    initial = history.get("initialPosition")
    ref = initial["pos"] if initial is not None else bsm_pos
    lat0: int | None = ref["lat"]
    lon0: int | None = ref["long"]
    elev0: int | None = ref.get("elevation")
    if lat0 == LAT_UNAVAILABLE:
        lat0 = None
    if lon0 == LON_UNAVAILABLE:
        lon0 = None
    if elev0 == ELEV_UNAVAILABLE:
        elev0 = None
    points = []
    for crumb in history["crumbData"]:
        llv = crumb["llvOffset"]
        form, ll = llv["offsetLL"]
        lat: int | None
        lon: int | None
        if form == "position-LatLon":
            lat = None if ll["lat"] == LAT_UNAVAILABLE else ll["lat"]
            lon = None if ll["lon"] == LON_UNAVAILABLE else ll["lon"]
        else:
            lat = None if lat0 is None else lat0 + ll["lat"]
            lon = None if lon0 is None else lon0 + ll["lon"]
        position = _bare(GeoPoint)
        position._latitude = NAN if lat is None else lat * DEG_UNIT
        position._longitude = NAN if lon is None else lon * DEG_UNIT
        vertical = llv.get("offsetV")
        if vertical is None:
            position._elevation = NAN
        else:
            vform, v = vertical
            if vform == "elevation":
                position._elevation = NAN if v == ELEV_UNAVAILABLE else v * ELEV_UNIT
            else:
                position._elevation = NAN if elev0 is None else (elev0 + v) * ELEV_UNIT
        point = _bare(PathHistoryPoint)
        point._position = position
        point._time_offset = time_offset_to_s(crumb["timeOffset"])
        speed = crumb.get("speed")
        point._speed = NAN if speed is None or speed == SPEED_UNAVAILABLE else speed * SPEED_UNIT
        point._heading = coarse_heading_to_yaw(crumb.get("heading"))
        accuracy = crumb.get("posAccuracy")
        if accuracy is None:
            point._position_accuracy = point._elevation_accuracy = NAN
        else:
            point._position_accuracy = _POS_CONFIDENCE_M[_enum_index(_POS_CONFIDENCE, accuracy["pos"])]
            point._elevation_accuracy = _POS_CONFIDENCE_M[
                _enum_index(_ELEV_CONFIDENCE, accuracy.get("elevation"))
            ]
        points.append(point)
    return points


def _ll_offset(lat: int, lon: int, lat0: int | None, lon0: int | None) -> tuple[str, dict[str, int]]:
    """The smallest PositionOffsetLL holding (lat, lon) (1e-7 deg) from the reference, or the absolute
    position-LatLon when the reference or the point is unavailable or the offset too large."""
    if lat0 is not None and lon0 is not None and lat != LAT_UNAVAILABLE and lon != LON_UNAVAILABLE:
        dlat = lat - lat0
        dlon = lon - lon0
        span = max(abs(dlat), abs(dlon))
        for form, limit in _LL_FORMS:
            if span <= limit:
                return form, {"lon": dlon, "lat": dlat}
    return "position-LatLon", {"lon": lon, "lat": lat}


def path_history_to_asn(
    points: Sequence[PathHistoryPoint], ref: GeoPoint, gnss_status: int = GNSS_STATUS_NOT_SENT
) -> dict[str, Any] | None:
    """Bsm.path_history -> PathHistory with offsets from the BSM's position ``ref`` (the smallest form
    that fits; no initialPosition), or None when there are no points. Only the first (newest) 23 points
    are sent; a point's elevation is sent when it is available (offsetV); its optional speed, heading
    and accuracy when they are."""
    if not points:
        return None
    ref_pos = position_to_asn(ref)
    lat0: int | None = None if ref_pos["lat"] == LAT_UNAVAILABLE else ref_pos["lat"]
    lon0: int | None = None if ref_pos["long"] == LON_UNAVAILABLE else ref_pos["long"]
    elev0: int | None = ref_pos.get("elevation")
    crumbs = []
    for point in points[:PATH_HISTORY_MAX_POINTS]:
        pos = position_to_asn(point.position)
        llv: dict[str, Any] = {"offsetLL": _ll_offset(pos["lat"], pos["long"], lat0, lon0)}
        elev = pos.get("elevation")
        if elev is not None:
            llv["offsetV"] = ("elevation", elev)
            if elev0 is not None:
                dh = elev - elev0
                for vform, vlimit in _V_FORMS:
                    if abs(dh) <= vlimit:
                        llv["offsetV"] = (vform, dh)
                        break
        crumb: dict[str, Any] = {"llvOffset": llv, "timeOffset": s_to_time_offset(point.time_offset)}
        if math.isfinite(point.speed):
            crumb["speed"] = to_scaled(point.speed, SPEED_UNIT, 0, SPEED_UNAVAILABLE - 1, SPEED_UNAVAILABLE)
        if math.isfinite(point.position_accuracy) or math.isfinite(point.elevation_accuracy):
            accuracy = {"pos": accuracy_to_confidence(point.position_accuracy)}
            if math.isfinite(point.elevation_accuracy):
                index = _POS_CONFIDENCE.index(accuracy_to_confidence(point.elevation_accuracy))
                accuracy["elevation"] = _ELEV_CONFIDENCE[index]
            crumb["posAccuracy"] = accuracy
        if math.isfinite(point.heading):
            crumb["heading"] = yaw_to_coarse_heading(point.heading)
        crumbs.append(crumb)
    history: dict[str, Any] = {}
    if 0 <= gnss_status < GNSS_STATUS_NOT_SENT:
        history["currGNSSstatus"] = int_to_bits(gnss_status, 8)
    history["crumbData"] = crumbs
    return history


# ----------------------------------------------------------------------- MAP
def _node_ref(ref: dict[str, Any]) -> tuple[int, int]:
    return int(ref.get("region", 0)), int(ref["id"])


def _make_ref(region: int, node_id: int) -> dict[str, Any]:
    out: dict[str, Any] = {"id": int(node_id)}
    if region:
        out["region"] = int(region)
    return out


def _speed_limit(limits: list[dict[str, Any]] | None) -> float:
    if not limits:
        return NAN
    chosen = next((s for s in limits if s["type"] == "vehicleMaxSpeed"), limits[0])
    return from_scaled(chosen["speed"], SPEED_UNIT, SPEED_UNAVAILABLE)


def _make_speed_limit(speed: float) -> list[dict[str, Any]] | None:
    if not math.isfinite(speed):
        return None
    return [{"type": "vehicleMaxSpeed", "speed": to_scaled(speed, SPEED_UNIT, 0, 8190, SPEED_UNAVAILABLE)}]


def _points(points: list[dict[str, Any]] | None, ref: GeoPoint) -> list[Point]:
    return [offset_to_enu(p["posOffset"], ref) for p in points or []]


def _make_points(points: Sequence[Point], ref: GeoPoint) -> list[dict[str, Any]] | None:
    if len(points) < 2:
        return None
    return [{"posOffset": enu_to_offset(p, ref)} for p in points[:31]]


def map_from_asn(value: dict[str, Any], now: float | None = None) -> MapData:
    now = _time.time() if now is None else now
    msg = MapData()
    _header(msg.v2x, value["msgCnt"], None, moy_to_unix(value.get("timeStamp"), None, now))
    for node in value["nodes"]:
        ref = position_from_asn(node["refPos"])
        region, node_id = _node_ref(node["id"])
        out_node = MapNode(name=node.get("name", ""), region=region, node_id=node_id, reference_position=ref)
        for link in node.get("inLinks", []):
            up_region, up_id = _node_ref(link["upstreamNodeId"])
            out_link = MapLink(
                name=link.get("name", ""),
                upstream_region=up_region,
                upstream_node_id=up_id,
                width=link["linkWidth"] * 0.01,
                speed_limit=_speed_limit(link.get("speedLimits")),
                points=_points(link.get("points"), ref),
            )
            for mv in link.get("movements", []):
                r, n = _node_ref(mv["remoteIntersection"])
                out_link.movements.append(
                    MapMovement(remote_region=r, remote_node_id=n, phase_id=mv.get("phaseId", -1))
                )
            for lane in link["lanes"]:
                attrs = lane.get("laneAttributes") or {}
                out_lane = MapLane(
                    lane_id=lane["laneID"],
                    width=from_scaled(lane.get("laneWidth"), 0.01),
                    maneuvers=bits_to_int(lane.get("maneuvers")),
                    lane_sharing=bits_to_int(attrs.get("shareWith")),
                    speed_limit=_speed_limit(lane.get("speedLimits")),
                    points=_points(lane.get("points"), ref),
                )
                for conn in lane.get("connectsTo", []):
                    r, n = _node_ref(conn["remoteIntersection"])
                    cl = conn.get("connectingLane")
                    out_lane.connects_to.append(
                        MapConnection(
                            remote_region=r,
                            remote_node_id=n,
                            connecting_lane_id=cl["lane"] if cl else -1,
                            maneuvers=bits_to_int(cl.get("maneuver")) if cl else 0,
                            phase_id=conn.get("phaseId", -1),
                        )
                    )
                out_link.lanes.append(out_lane)
            out_node.in_links.append(out_link)
        msg.nodes.append(out_node)
    return msg


def _name(text: str) -> str | None:
    clean = "".join(c for c in text if 32 <= ord(c) < 127)[:63]
    return clean or None


def map_to_asn(msg: MapData, now: float | None = None) -> dict[str, Any]:
    now = _time.time() if now is None else now
    value: dict[str, Any] = {
        "msgCnt": msg.v2x.msg_count % 128,
        "timeStamp": unix_to_moy(_gen_time(msg.v2x, now))[0],
        "nodes": [],
    }
    for node in msg.nodes:
        ref = node.reference_position
        out_node: dict[str, Any] = {
            "id": _make_ref(node.region, node.node_id),
            "refPos": position_to_asn(ref),
        }
        if name := _name(node.name):
            out_node["name"] = name
        links = []
        for link in node.in_links:
            out_link: dict[str, Any] = {
                "upstreamNodeId": _make_ref(link.upstream_region, link.upstream_node_id),
                "linkWidth": to_scaled(link.width, 0.01, 0, 32767, 0),
                "lanes": [],
            }
            if name := _name(link.name):
                out_link["name"] = name
            if limits := _make_speed_limit(link.speed_limit):
                out_link["speedLimits"] = limits
            if points := _make_points(link.points, ref):
                out_link["points"] = points
            if link.movements:
                movements = []
                for mv in link.movements[:32]:
                    m: dict[str, Any] = {"remoteIntersection": _make_ref(mv.remote_region, mv.remote_node_id)}
                    if mv.phase_id >= 0:
                        m["phaseId"] = mv.phase_id
                    movements.append(m)
                out_link["movements"] = movements
            for lane in link.lanes[:32]:
                out_lane: dict[str, Any] = {"laneID": lane.lane_id}
                if math.isfinite(lane.width):
                    out_lane["laneWidth"] = to_scaled(lane.width, 0.01, 0, 32767, 0)
                if lane.lane_sharing:
                    out_lane["laneAttributes"] = {
                        "shareWith": int_to_bits(lane.lane_sharing, 10),
                        "laneType": ("vehicle", (b"\x00", 8)),
                    }
                if lane.maneuvers:
                    out_lane["maneuvers"] = int_to_bits(lane.maneuvers, 12)
                if lane.connects_to:
                    conns = []
                    for c in lane.connects_to[:8]:
                        conn: dict[str, Any] = {
                            "remoteIntersection": _make_ref(c.remote_region, c.remote_node_id)
                        }
                        if c.connecting_lane_id >= 0:
                            cl: dict[str, Any] = {"lane": c.connecting_lane_id}
                            if c.maneuvers:
                                cl["maneuver"] = int_to_bits(c.maneuvers, 12)
                            conn["connectingLane"] = cl
                        if c.phase_id >= 0:
                            conn["phaseId"] = c.phase_id
                        conns.append(conn)
                    out_lane["connectsTo"] = conns
                if limits := _make_speed_limit(lane.speed_limit):
                    out_lane["speedLimits"] = limits
                if points := _make_points(lane.points, ref):
                    out_lane["points"] = points
                out_link["lanes"].append(out_lane)
            if out_link["lanes"]:
                links.append(out_link)
        if links:
            out_node["inLinks"] = links[:32]
        value["nodes"].append(out_node)
    return value


# ----------------------------------------------------------------------- SPAT
def _timing_from_asn(timing: tuple[str, dict[str, Any]] | None, stamp: float | None) -> list[float]:
    """TimeChangeDetails -> [start, min_end, max_end, likely_end, next_start, next_duration] s."""
    if timing is None or not isinstance(timing[1], dict):  # absent, or an unknown extension alternative
        return [NAN] * 6
    form, t = timing
    if form == "counting":
        counting = ("startTime", "minEndTime", "maxEndTime", "likelyEndTime", "nextStartTime", "nextDuration")
        return [timemark_to_s(t.get(k)) for k in counting]
    # utcTiming: tenths of a second within the UTC hour -> relative to the intersection stamp
    keys = ("startUTCTime", "minEndUTCTime", "maxEndUTCTime", "likelyEndUTCTime", "nextStartUTCTime")
    base = (stamp % 3600.0) if stamp is not None else 0.0
    out = []
    for k in keys:
        s = timemark_to_s(t.get(k))
        # within +-30 min of the stamp; an instant already past counts as now (0)
        out.append(max(0.0, (s - base + 1800.0) % 3600.0 - 1800.0) if math.isfinite(s) else NAN)
    end = timemark_to_s(t.get("nextEndUTCTime"))
    if math.isfinite(end) and math.isfinite(out[4]):
        out.append(max(0.0, (end - base + 1800.0) % 3600.0 - 1800.0) - out[4])
    else:
        out.append(NAN)
    return out


def spat_from_asn(value: dict[str, Any], now: float | None = None) -> Spat:
    now = _time.time() if now is None else now
    msg_time = moy_to_unix(value.get("timeStamp"), None, now)
    msg = Spat()
    _header(msg.v2x, value["msgCnt"], None, msg_time)
    msg.name = value.get("name", "")
    for inter in value["intersections"]:
        region, node_id = _node_ref(inter["intersectionId"])
        moy = inter.get("moy", value.get("timeStamp"))
        stamp = moy_to_unix(moy, inter.get("timeStamp"), now)
        if stamp is None and inter.get("timeStamp") is not None:
            stamp = dsecond_to_unix(inter["timeStamp"], now)
        out = SpatIntersection(
            region=region, node_id=node_id, status=bits_to_int(inter["status"]), time_stamp=to_time_msg(stamp)
        )
        for phase in inter["phases"]:
            out_phase = SpatPhase(phase_id=phase["id"])
            for state in phase["phaseStates"]:
                times = _timing_from_asn(state.get("timing"), stamp)
                out_phase.states.append(
                    SpatPhaseState(
                        light=_enum_index(LIGHT_STATES, state["light"]),
                        start_time=times[0],
                        min_end_time=times[1],
                        max_end_time=times[2],
                        likely_end_time=times[3],
                        next_start_time=times[4],
                        next_duration=times[5],
                    )
                )
            out.phases.append(out_phase)
        msg.intersections.append(out)
    if msg_time is None and msg.intersections:
        msg.v2x.generation_time = msg.intersections[0].time_stamp
    return msg


def spat_to_asn(msg: Spat, now: float | None = None) -> dict[str, Any]:
    now = _time.time() if now is None else now
    value: dict[str, Any] = {
        "msgCnt": msg.v2x.msg_count % 128,
        "timeStamp": unix_to_moy(_gen_time(msg.v2x, now))[0],
        "intersections": [],
    }
    if name := _name(msg.name):
        value["name"] = name
    for inter in msg.intersections[:32]:
        out: dict[str, Any] = {
            "intersectionId": _make_ref(inter.region, inter.node_id),
            "status": int_to_bits(inter.status, 16),
            "phases": [],
        }
        stamp = from_time_msg(inter.time_stamp)
        if stamp is not None:
            out["moy"], out["timeStamp"] = unix_to_moy(stamp)
        for phase in inter.phases[:16]:
            states = []
            for s in phase.states[:16]:
                counting: dict[str, Any] = {
                    "startTime": s_to_timemark(s.start_time) if math.isfinite(s.start_time) else 0,
                    "likelyEndTime": s_to_timemark(s.likely_end_time),
                }
                for key, v in (
                    ("minEndTime", s.min_end_time),
                    ("maxEndTime", s.max_end_time),
                    ("nextStartTime", s.next_start_time),
                    ("nextDuration", s.next_duration),
                ):
                    if math.isfinite(v):
                        counting[key] = s_to_timemark(v)
                states.append({"light": _enum_name(LIGHT_STATES, s.light), "timing": ("counting", counting)})
            if states:
                out["phases"].append({"id": phase.phase_id, "phaseStates": states})
        if out["phases"]:
            value["intersections"].append(out)
    return value


# ----------------------------------------------------------------------- RSI
def _description(desc: tuple[str, Any] | None) -> str:
    if desc is None:
        return ""
    form, text = desc
    if form == "textGB2312":
        return bytes(text).decode("gb2312", errors="replace")
    return str(text)


def _make_description(text: str) -> tuple[str, Any] | None:
    if not text:
        return None
    if all(32 <= ord(c) < 127 for c in text):
        return ("textString", text[:512])
    raw = text.encode("gb2312", errors="replace")[:512]
    return ("textGB2312", raw if len(raw) >= 2 else raw + b" ")


def _priority(raw: bytes | None) -> int:
    return (raw[0] >> 5) & 0x7 if raw else 0


def _paths(paths: list[dict[str, Any]] | None, ref: GeoPoint) -> list[RsiPath]:
    return [
        RsiPath(
            points=[offset_to_enu(p, ref) for p in path["activePath"]],
            radius=path["pathRadius"] * RADIUS_UNIT,
        )
        for path in paths or []
    ]


def _make_paths(paths: Sequence[RsiPath], ref: GeoPoint) -> list[dict[str, Any]] | None:
    out = [
        {
            "activePath": [enu_to_offset(p, ref) for p in path.points[:32]],
            "pathRadius": to_scaled(path.radius, RADIUS_UNIT, 0, 65535, 0),
        }
        for path in paths[:8]
        if len(path.points) >= 2
    ]
    return out or None


def _time_details(details: dict[str, Any] | None, now: float) -> tuple[Time, Time]:
    if not details:
        return Time(), Time()
    return (
        to_time_msg(moy_to_unix(details.get("startTime"), None, now)),
        to_time_msg(moy_to_unix(details.get("endTime"), None, now)),
    )


def _make_time_details(start: Time, end: Time) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    t0, t1 = from_time_msg(start), from_time_msg(end)
    if t0 is not None:
        out["startTime"] = unix_to_moy(t0)[0]
    if t1 is not None:
        out["endTime"] = unix_to_moy(t1)[0]
    return out or None


def _absent_point() -> Point:
    """An RSI event or sign sent without a position (eventPos / signPos are OPTIONAL): NaN, not the
    reference position, so that a consumer cannot mistake it for an event at the RSU's reference."""
    return Point(x=NAN, y=NAN, z=NAN)


def _has_position(point: Point) -> bool:
    return math.isfinite(point.x) and math.isfinite(point.y)


def rsi_from_asn(value: dict[str, Any], now: float | None = None) -> Rsi:
    now = _time.time() if now is None else now
    msg = Rsi()
    _header(msg.v2x, value["msgCnt"], value["id"], moy_to_unix(value.get("moy"), None, now))
    ref = position_from_asn(value["refPos"])
    msg.reference_position = ref
    for rte in value.get("rtes", []):
        start, end = _time_details(rte.get("timeDetails"), now)
        pos = rte.get("eventPos")
        msg.events.append(
            RsiEvent(
                rte_id=rte["rteId"],
                event_type=rte["eventType"],
                source=_enum_index(EVENT_SOURCES, rte["eventSource"]),
                position=offset_to_enu(pos, ref) if pos else _absent_point(),
                radius=from_scaled(rte.get("eventRadius"), RADIUS_UNIT),
                description=_description(rte.get("description")),
                start_time=start,
                end_time=end,
                priority=_priority(rte.get("priority")),
                reference_paths=_paths(rte.get("referencePaths"), ref),
                confidence=from_scaled(rte.get("eventConfidence"), CONFIDENCE_UNIT),
            )
        )
    for rts in value.get("rtss", []):
        start, end = _time_details(rts.get("timeDetails"), now)
        pos = rts.get("signPos")
        msg.signs.append(
            RsiSign(
                rts_id=rts["rtsId"],
                sign_type=rts["signType"],
                position=offset_to_enu(pos, ref) if pos else _absent_point(),
                description=_description(rts.get("description")),
                start_time=start,
                end_time=end,
                priority=_priority(rts.get("priority")),
                reference_paths=_paths(rts.get("referencePaths"), ref),
            )
        )
    return msg


def _common_rsi_fields(item: Any, ref: GeoPoint, out: dict[str, Any]) -> None:
    if desc := _make_description(item.description):
        out["description"] = desc
    if details := _make_time_details(item.start_time, item.end_time):
        out["timeDetails"] = details
    out["priority"] = bytes([(min(item.priority, 7) & 0x7) << 5])
    if paths := _make_paths(item.reference_paths, ref):
        out["referencePaths"] = paths


def rsi_to_asn(msg: Rsi, now: float | None = None) -> dict[str, Any]:
    now = _time.time() if now is None else now
    ref = msg.reference_position
    value: dict[str, Any] = {
        "msgCnt": msg.v2x.msg_count % 128,
        "moy": unix_to_moy(_gen_time(msg.v2x, now))[0],
        "id": _id_bytes(msg.v2x.sender_id),
        "refPos": position_to_asn(ref),
    }
    rtes = []
    for ev in msg.events[:8]:
        rte: dict[str, Any] = {
            "rteId": ev.rte_id,
            "eventType": ev.event_type,
            "eventSource": _enum_name(EVENT_SOURCES, ev.source),
        }
        if _has_position(ev.position):
            rte["eventPos"] = enu_to_offset(ev.position, ref)
        if math.isfinite(ev.radius):
            rte["eventRadius"] = to_scaled(ev.radius, RADIUS_UNIT, 0, 65535, 0)
        _common_rsi_fields(ev, ref, rte)
        if math.isfinite(ev.confidence):
            rte["eventConfidence"] = to_scaled(ev.confidence, CONFIDENCE_UNIT, 0, 200, 0)
        rtes.append(_ordered(rte, _RTE_ORDER))
    rtss = []
    for sign in msg.signs[:16]:
        rts: dict[str, Any] = {
            "rtsId": sign.rts_id,
            "signType": sign.sign_type,
        }
        if _has_position(sign.position):
            rts["signPos"] = enu_to_offset(sign.position, ref)
        _common_rsi_fields(sign, ref, rts)
        rtss.append(_ordered(rts, _RTS_ORDER))
    if rtes:
        value["rtes"] = rtes
    if rtss:
        value["rtss"] = rtss
    return value


_RTE_ORDER = (
    "rteId",
    "eventType",
    "eventSource",
    "eventPos",
    "eventRadius",
    "description",
    "timeDetails",
    "priority",
    "referencePaths",
    "referenceLinks",
    "eventConfidence",
)
_RTS_ORDER = (
    "rtsId",
    "signType",
    "signPos",
    "description",
    "timeDetails",
    "priority",
    "referencePaths",
    "referenceLinks",
)


def _ordered(d: dict[str, Any], order: Sequence[str]) -> dict[str, Any]:
    return {k: d[k] for k in order if k in d}


# ----------------------------------------------------------------------- RSM
def rsm_from_asn(value: dict[str, Any], now: float | None = None) -> Rsm:
    now = _time.time() if now is None else now
    msg = Rsm()
    _header(msg.v2x, value["msgCnt"], value["id"], None)
    ref = position_from_asn(value["refPos"])
    msg.reference_position = ref
    for p in value["participants"]:
        accel = p.get("accelSet")
        size = p["size"]
        cls = p.get("vehicleClass")
        msg.participants.append(
            RsmParticipant(
                type=_enum_index(PARTICIPANT_TYPES, p["ptcType"]),
                ptc_id=p["ptcId"],
                source=_enum_index(SOURCE_TYPES, p["source"]),
                vehicle_id=_hex_id(p.get("id")),
                measurement_time=to_time_msg(dsecond_to_unix(p["secMark"], now)),
                position=offset_to_enu(p["pos"], ref),
                position_accuracy=_POS_CONFIDENCE_M[_enum_index(_POS_CONFIDENCE, p["posConfidence"]["pos"])],
                speed=from_scaled(p["speed"], SPEED_UNIT, SPEED_UNAVAILABLE),
                heading=heading_to_yaw(p["heading"]),
                acceleration_longitudinal=from_scaled(accel["long"], ACCEL_UNIT, ACCEL_UNAVAILABLE)
                if accel
                else NAN,
                yaw_rate=-from_scaled(accel["yaw"], YAW_RATE_UNIT, YAW_RATE_UNAVAILABLE) if accel else NAN,
                length=size["length"] * 0.01,
                width=size["width"] * 0.01,
                height=from_scaled(size.get("height"), VEHICLE_HEIGHT_UNIT),
                vehicle_class=cls["classification"] if cls else 0,
            )
        )
    return msg


_POS_CONFIDENCE = (
    "unavailable",
    "a500m",
    "a200m",
    "a100m",
    "a50m",
    "a20m",
    "a10m",
    "a5m",
    "a2m",
    "a1m",
    "a50cm",
    "a20cm",
    "a10cm",
    "a5cm",
    "a2cm",
    "a1cm",
)
_POS_CONFIDENCE_M = (
    NAN,
    500.0,
    200.0,
    100.0,
    50.0,
    20.0,
    10.0,
    5.0,
    2.0,
    1.0,
    0.5,
    0.2,
    0.1,
    0.05,
    0.02,
    0.01,
)


def accuracy_to_confidence(metres: float) -> str:
    """Smallest PositionConfidence class that covers ``metres``; NaN -> unavailable."""
    if not math.isfinite(metres):
        return "unavailable"
    best = 1
    for i in range(1, len(_POS_CONFIDENCE_M)):
        if _POS_CONFIDENCE_M[i] >= metres:
            best = i
    return _POS_CONFIDENCE[best]


def rsm_to_asn(msg: Rsm, now: float | None = None) -> dict[str, Any]:
    now = _time.time() if now is None else now
    ref = msg.reference_position
    participants = []
    for p in msg.participants[:16]:
        t = from_time_msg(p.measurement_time)
        out: dict[str, Any] = {
            "ptcType": _enum_name(PARTICIPANT_TYPES, p.type),
            "ptcId": p.ptc_id,
            "source": _enum_name(SOURCE_TYPES, p.source),
        }
        if p.vehicle_id:
            out["id"] = _id_bytes(p.vehicle_id)
        out["secMark"] = unix_to_dsecond(now if t is None else t)
        out["pos"] = enu_to_offset(p.position, ref)
        out["posConfidence"] = {"pos": accuracy_to_confidence(p.position_accuracy)}
        out["speed"] = to_scaled(p.speed, SPEED_UNIT, 0, 8190, SPEED_UNAVAILABLE)
        out["heading"] = yaw_to_heading(p.heading)
        if math.isfinite(p.acceleration_longitudinal) or math.isfinite(p.yaw_rate):
            out["accelSet"] = {
                "long": to_scaled(p.acceleration_longitudinal, ACCEL_UNIT, -2000, 2000, ACCEL_UNAVAILABLE),
                "lat": ACCEL_UNAVAILABLE,
                "vert": VERT_ACCEL_UNAVAILABLE,
                "yaw": to_scaled(-p.yaw_rate, YAW_RATE_UNIT, -32766, 32766, YAW_RATE_UNAVAILABLE),
            }
        size: dict[str, Any] = {
            "width": to_scaled(p.width, 0.01, 0, 1023, 0),
            "length": to_scaled(p.length, 0.01, 0, 4095, 0),
        }
        if math.isfinite(p.height):
            size["height"] = to_scaled(p.height, VEHICLE_HEIGHT_UNIT, 0, 127, 0)
        out["size"] = size
        if p.vehicle_class:
            out["vehicleClass"] = {"classification": p.vehicle_class}
        participants.append(out)
    return {
        "msgCnt": msg.v2x.msg_count % 128,
        "id": _id_bytes(msg.v2x.sender_id),
        "refPos": position_to_asn(ref),
        "participants": participants,
    }


# ----------------------------------------------------------------------- dispatch
FROM_ASN: dict[str, Callable[..., Any]] = {
    "bsmFrame": bsm_from_asn,
    "mapFrame": map_from_asn,
    "spatFrame": spat_from_asn,
    "rsiFrame": rsi_from_asn,
    "rsmFrame": rsm_from_asn,
}
TO_ASN: dict[type, tuple[str, Callable[..., dict[str, Any]]]] = {
    Bsm: ("bsmFrame", bsm_to_asn),
    MapData: ("mapFrame", map_to_asn),
    Spat: ("spatFrame", spat_to_asn),
    Rsi: ("rsiFrame", rsi_to_asn),
    Rsm: ("rsmFrame", rsm_to_asn),
}


def from_asn(kind: str, value: dict[str, Any], now: float | None = None) -> Any:
    """(frame kind, ASN.1 dict) -> the roadedge_msgs message."""
    return FROM_ASN[kind](value, now)


def to_asn(msg: Any, now: float | None = None) -> tuple[str, dict[str, Any]]:
    """roadedge_msgs message -> (frame kind, ASN.1 dict) ready for codec.encode_frame."""
    kind, fn = TO_ASN[type(msg)]
    return kind, fn(msg, now)
