"""SI conversion layer: units, sentinels, boundaries, offsets, time, full message round trips."""

from __future__ import annotations

import calendar
import math
import random
from typing import Any

import pytest
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
)

from roadedge.v2x import codec, si
from roadedge.v2x.asn1_random import ValueGenerator

NOW = float(calendar.timegm((2026, 6, 15, 8, 30, 12))) + 0.25
REF = GeoPoint(latitude=39.9087, longitude=116.3975, elevation=44.0)


def nan_or_close(a: float, b: float, tol: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol


# ----------------------------------------------------------------------- scalars
def test_position_units_and_sentinels() -> None:
    p = si.position_from_asn({"lat": 399087000, "long": 1163975000, "elevation": 440})
    assert p.latitude == pytest.approx(39.9087, abs=1e-9)
    assert p.longitude == pytest.approx(116.3975, abs=1e-9)
    assert p.elevation == pytest.approx(44.0)
    u = si.position_from_asn({"lat": si.LAT_UNAVAILABLE, "long": si.LON_UNAVAILABLE, "elevation": -4096})
    assert math.isnan(u.latitude) and math.isnan(u.longitude) and math.isnan(u.elevation)
    assert si.position_to_asn(u) == {"lat": si.LAT_UNAVAILABLE, "long": si.LON_UNAVAILABLE}
    # boundaries and clamping
    edge = si.position_to_asn(GeoPoint(latitude=-90.0, longitude=180.0, elevation=99999.0))
    assert edge == {"lat": -900000000, "long": 1800000000, "elevation": 61439}
    low = si.position_to_asn(GeoPoint(latitude=90.0, longitude=-179.9999999, elevation=-1000.0))
    assert low == {"lat": 900000000, "long": -1799999999, "elevation": -4095}
    assert si.position_to_asn(GeoPoint(latitude=1e-7, longitude=-1e-7, elevation=0.1)) == {
        "lat": 1,
        "long": -1,
        "elevation": 1,
    }


@pytest.mark.parametrize(
    ("heading", "yaw_deg"),
    [(0, 90.0), (7200, 0.0), (14400, -90.0), (21600, 180.0), (3600, 45.0), (28799, 90.0125)],
)
def test_heading_to_enu_yaw(heading: int, yaw_deg: float) -> None:
    yaw = si.heading_to_yaw(heading)
    assert math.degrees(si.wrap_angle(yaw - math.radians(yaw_deg))) == pytest.approx(0.0, abs=1e-9)
    assert si.yaw_to_heading(yaw) == heading


def test_heading_unavailable_and_wrap() -> None:
    assert math.isnan(si.heading_to_yaw(28800))
    assert si.yaw_to_heading(float("nan")) == 28800
    assert si.yaw_to_heading(math.radians(90.0 + 0.0124 / 2)) == 0  # rounds to north, never 28800
    assert si.yaw_to_heading(math.radians(90.00001)) == 0


def test_speed_and_scalar_sentinels() -> None:
    assert si.from_scaled(500, si.SPEED_UNIT, si.SPEED_UNAVAILABLE) == pytest.approx(10.0)
    assert math.isnan(si.from_scaled(8191, si.SPEED_UNIT, si.SPEED_UNAVAILABLE))
    assert si.to_scaled(163.8, si.SPEED_UNIT, 0, 8190, 8191) == 8190
    assert si.to_scaled(1000.0, si.SPEED_UNIT, 0, 8190, 8191) == 8190  # clamp, never the sentinel
    assert si.to_scaled(-1.0, si.SPEED_UNIT, 0, 8190, 8191) == 0
    assert si.to_scaled(float("nan"), si.SPEED_UNIT, 0, 8190, 8191) == 8191
    assert si.to_scaled(float("inf"), si.SPEED_UNIT, 0, 8190, 8191) == 8191
    assert si.to_scaled(0.01, si.SPEED_UNIT, 0, 8190, 8191) in (0, 1)


def test_bit_strings_map_named_bit_n_to_one_shifted_n() -> None:
    bits = si.int_to_bits(Bsm.EVENT_HAZARD_LIGHTS | Bsm.EVENT_AIR_BAG_DEPLOYMENT, 13)
    assert bits == (bytes([0b10000000, 0b00001000]), 13)
    assert si.bits_to_int(bits) == Bsm.EVENT_HAZARD_LIGHTS | Bsm.EVENT_AIR_BAG_DEPLOYMENT
    assert si.bits_to_int(None) == 0


# ----------------------------------------------------------------------- time
def test_minute_of_the_year_and_dsecond() -> None:
    moy, ms = si.unix_to_moy(NOW)
    assert moy == (31 + 28 + 31 + 30 + 31 + 14) * 1440 + 8 * 60 + 30
    assert ms == 12250
    assert si.moy_to_unix(moy, ms, NOW) == pytest.approx(NOW)
    assert si.moy_to_unix(527040, 0, NOW) is None
    assert si.moy_to_unix(moy, 65535, NOW) == pytest.approx(NOW - 12.25)


def test_minute_of_the_year_across_new_year() -> None:
    new_year = float(calendar.timegm((2027, 1, 1, 0, 0, 30)))
    last_minute = si.unix_to_moy(new_year - 60.0)[0]
    assert last_minute == 365 * 1440 - 1
    # received just after midnight, generated just before: previous year
    assert si.moy_to_unix(last_minute, 30000, new_year) == pytest.approx(new_year - 60.0)
    leap = float(calendar.timegm((2028, 12, 31, 23, 59, 0)))
    assert si.unix_to_moy(leap)[0] == 527039  # the largest valid value (leap year)


def test_dsecond_alone_picks_the_nearest_minute() -> None:
    assert si.unix_to_dsecond(NOW) == 12250
    assert si.dsecond_to_unix(12250, NOW) == pytest.approx(NOW)
    # generated 59.9 s into the previous minute, received 0.2 s into this one
    assert si.dsecond_to_unix(59900, NOW - 12.05) == pytest.approx(NOW - 12.35)
    assert si.dsecond_to_unix(65535, NOW) is None


def test_timemark() -> None:
    assert si.timemark_to_s(355) == pytest.approx(35.5)
    assert math.isnan(si.timemark_to_s(36001))
    assert si.s_to_timemark(35.54) == 355
    assert si.s_to_timemark(5000.0) == 36000
    assert si.s_to_timemark(float("nan")) == 36001


def test_time_msg_zero_means_unavailable() -> None:
    assert si.from_time_msg(Time()) is None
    assert si.from_time_msg(si.to_time_msg(NOW)) == pytest.approx(NOW)
    assert si.to_time_msg(None) == Time()


# ----------------------------------------------------------------------- offsets
@pytest.mark.parametrize(
    ("east", "north", "up", "form"),
    [
        (10.0, 5.0, 0.0, "position-LL1"),
        (-150.0, 60.0, 1.5, "position-LL3"),
        (800.0, -700.0, -3.0, "position-LL4"),
        (15000.0, 10000.0, 12.0, "position-LL5"),
        (80000.0, 0.0, 0.0, "position-LatLon"),
    ],
)
def test_offsets_enu_round_trip(east: float, north: float, up: float, form: str) -> None:
    offset = si.enu_to_offset(Point(x=east, y=north, z=up), REF)
    assert offset["offsetLL"][0] == form
    codec.encode("PositionOffsetLLV", offset)  # valid for the ASN.1 type
    back = si.offset_to_enu(offset, REF)
    assert back.x == pytest.approx(east, abs=0.02 + 1e-6 * abs(east))
    assert back.y == pytest.approx(north, abs=0.02 + 1e-6 * abs(east))
    if abs(east) < 1000 and abs(north) < 1000:
        assert back.z == pytest.approx(up, abs=0.06)


def test_offset_from_ll_units() -> None:
    # 1000 units of 1e-7 deg north is ~11.1 m at any longitude
    p = si.offset_to_enu({"offsetLL": ("position-LL1", {"lon": 0, "lat": 1000})}, REF)
    assert p.y == pytest.approx(11.10, abs=0.01) and abs(p.x) < 1e-6
    v = si.offset_to_enu(
        {"offsetLL": ("position-LL1", {"lon": 0, "lat": 0}), "offsetV": ("offset1", -5)}, REF
    )
    assert v.z == pytest.approx(-0.5, abs=1e-6)
    e = si.offset_to_enu(
        {"offsetLL": ("position-LL1", {"lon": 0, "lat": 0}), "offsetV": ("elevation", 500)}, REF
    )
    assert e.z == pytest.approx(6.0, abs=1e-6)


# ----------------------------------------------------------------------- messages
def _round(msg: object) -> object:
    kind, value = si.to_asn(msg, NOW)
    data = codec.encode_frame(kind, value)
    kind2, value2 = codec.decode_frame(data)
    assert kind2 == kind
    return si.from_asn(kind2, value2, NOW)


def test_bsm_round_trip_si() -> None:
    bsm = Bsm()
    bsm.v2x.sender_id = "a1b2c3d4e5f60708"
    bsm.v2x.msg_count = 42
    bsm.v2x.generation_time = si.to_time_msg(NOW)
    bsm.position = REF
    bsm.position_semi_major, bsm.position_semi_minor, bsm.position_orientation = 1.5, 0.5, 0.3
    bsm.transmission = Bsm.TRANSMISSION_FORWARD
    bsm.speed, bsm.heading, bsm.steering_wheel_angle = 3.33, -2.0, 0.2
    bsm.acceleration_longitudinal, bsm.acceleration_lateral = -1.23, 0.45
    bsm.acceleration_vertical, bsm.yaw_rate = float("nan"), 0.1
    bsm.brake_pedal_applied = True
    bsm.length, bsm.width, bsm.height = 7.2, 2.3, 3.1
    bsm.vehicle_class = 71
    bsm.event_flags = Bsm.EVENT_HAZARD_LIGHTS | Bsm.EVENT_HARD_BRAKING
    bsm.exterior_lights = 1 | (1 << 4)
    out = _round(bsm)
    assert isinstance(out, Bsm)
    assert out.v2x.sender_id == bsm.v2x.sender_id and out.v2x.msg_count == 42
    assert si.from_time_msg(out.v2x.generation_time) == pytest.approx(NOW, abs=1e-3)
    assert out.position.latitude == pytest.approx(REF.latitude, abs=1e-7)
    assert out.position.elevation == pytest.approx(44.0, abs=0.05)
    assert out.position_semi_major == pytest.approx(1.5, abs=0.025)
    assert out.position_orientation == pytest.approx(0.3, abs=1e-3)
    assert out.speed == pytest.approx(3.33, abs=0.01)
    assert out.heading == pytest.approx(-2.0, abs=math.radians(0.0125))
    assert out.steering_wheel_angle == pytest.approx(0.2, abs=math.radians(0.75))
    assert out.acceleration_longitudinal == pytest.approx(-1.23, abs=0.005)
    assert out.acceleration_lateral == pytest.approx(0.45, abs=0.005)
    assert math.isnan(out.acceleration_vertical)
    assert out.yaw_rate == pytest.approx(0.1, abs=math.radians(0.005))
    assert out.brake_pedal_applied
    assert (out.length, out.width) == pytest.approx((7.2, 2.3))
    assert out.height == pytest.approx(3.1, abs=0.025)
    assert out.vehicle_class == 71
    assert out.event_flags == bsm.event_flags and out.exterior_lights == bsm.exterior_lights
    assert out.transmission == Bsm.TRANSMISSION_FORWARD


@pytest.mark.parametrize("code", range(7))
def test_bsm_response_type_round_trip(code: int) -> None:
    """Every CSAE ResponseType survives a round trip; emergency_vehicle follows it."""
    bsm = Bsm(response_type=code, siren_in_use=2, length=5.0, width=2.0)
    bsm.position = REF
    value = si.to_asn(bsm, NOW)[1]
    if code:
        assert value["emergencyExt"]["responseType"] == si.RESPONSE[code]
    else:  # notInUseOrNotEquipped is what an absent field means: not sent
        assert "responseType" not in value["emergencyExt"]
    out = _round(bsm)
    assert isinstance(out, Bsm)
    assert out.response_type == code
    assert out.emergency_vehicle == (code in (Bsm.RESPONSE_EMERGENCY, Bsm.RESPONSE_PURSUIT))


def test_bsm_emergency_flag_alone_is_sent_as_emergency() -> None:
    bsm = Bsm(emergency_vehicle=True, length=5.0, width=2.0)
    bsm.position = REF
    out = _round(bsm)
    assert isinstance(out, Bsm)
    assert out.response_type == Bsm.RESPONSE_EMERGENCY and out.emergency_vehicle
    # no extension at all: nothing in use
    plain = Bsm(length=5.0, width=2.0)
    plain.position = REF
    assert "emergencyExt" not in si.to_asn(plain, NOW)[1]


def test_bsm_all_unavailable() -> None:
    bsm = Bsm()
    nan = float("nan")
    bsm.position = GeoPoint(latitude=nan, longitude=nan, elevation=nan)
    bsm.position_semi_major = bsm.position_semi_minor = bsm.position_orientation = nan
    bsm.transmission = Bsm.TRANSMISSION_UNAVAILABLE
    bsm.speed = bsm.heading = bsm.steering_wheel_angle = nan
    bsm.acceleration_longitudinal = bsm.acceleration_lateral = bsm.acceleration_vertical = nan
    bsm.yaw_rate = bsm.height = nan
    _kind, value = si.to_asn(bsm, NOW)
    assert value["speed"] == 8191 and value["heading"] == 28800 and "angle" not in value
    assert value["accelSet"] == {"long": 2001, "lat": 2001, "vert": -127, "yaw": 32767}
    out = _round(bsm)
    assert isinstance(out, Bsm)
    for name in (
        "speed",
        "heading",
        "steering_wheel_angle",
        "acceleration_longitudinal",
        "acceleration_lateral",
        "acceleration_vertical",
        "yaw_rate",
        "height",
        "position_semi_major",
    ):
        assert math.isnan(getattr(out, name)), name
    assert math.isnan(out.position.latitude) and math.isnan(out.position.elevation)
    assert out.transmission == Bsm.TRANSMISSION_UNAVAILABLE


def _map() -> MapData:
    lane = MapLane(
        lane_id=2,
        width=3.5,
        maneuvers=0b11,
        lane_sharing=0,
        speed_limit=float("nan"),
        points=[Point(x=-60.0, y=-5.0, z=0.0), Point(x=-10.0, y=-5.0, z=0.0)],
        connects_to=[
            MapConnection(remote_region=1, remote_node_id=8, connecting_lane_id=1, maneuvers=1, phase_id=3)
        ],
    )
    link = MapLink(
        name="Chang'an Ave EB",
        upstream_region=1,
        upstream_node_id=6,
        width=7.0,
        speed_limit=16.66,
        points=[Point(x=-200.0, y=0.0, z=0.0), Point(x=-10.0, y=0.0, z=0.0)],
        movements=[MapMovement(remote_region=1, remote_node_id=8, phase_id=3)],
        lanes=[lane],
    )
    msg = MapData()
    msg.v2x.msg_count = 3
    msg.v2x.generation_time = si.to_time_msg(NOW)
    msg.nodes = [MapNode(name="Tiananmen", region=1, node_id=7, reference_position=REF, in_links=[link])]
    return msg


def test_map_round_trip_si() -> None:
    out = _round(_map())
    assert isinstance(out, MapData)
    node = out.nodes[0]
    assert (node.name, node.region, node.node_id) == ("Tiananmen", 1, 7)
    link = node.in_links[0]
    assert link.width == pytest.approx(7.0) and link.speed_limit == pytest.approx(16.66, abs=0.01)
    assert link.points[0].x == pytest.approx(-200.0, abs=0.02)
    assert link.movements[0].phase_id == 3
    lane = link.lanes[0]
    assert lane.width == pytest.approx(3.5) and lane.maneuvers == 0b11 and math.isnan(lane.speed_limit)
    assert lane.points[1].y == pytest.approx(-5.0, abs=0.02)
    c = lane.connects_to[0]
    assert (c.remote_node_id, c.connecting_lane_id, c.maneuvers, c.phase_id) == (8, 1, 1, 3)
    # MinuteOfTheYear has minute resolution
    assert si.from_time_msg(out.v2x.generation_time) == pytest.approx(NOW - 12.25)


def test_spat_round_trip_si() -> None:
    msg = Spat()
    msg.name = "Tiananmen"
    msg.v2x.generation_time = si.to_time_msg(NOW)
    state = SpatPhaseState(
        light=SpatPhaseState.LIGHT_PROTECTED_GREEN,
        start_time=0.0,
        min_end_time=float("nan"),
        max_end_time=60.0,
        likely_end_time=23.4,
        next_start_time=float("nan"),
        next_duration=float("nan"),
    )
    red = SpatPhaseState(
        light=SpatPhaseState.LIGHT_RED,
        start_time=26.4,
        min_end_time=float("nan"),
        max_end_time=float("nan"),
        likely_end_time=80.0,
        next_start_time=float("nan"),
        next_duration=float("nan"),
    )
    msg.intersections = [
        SpatIntersection(
            region=1,
            node_id=7,
            status=1 << 5,
            time_stamp=si.to_time_msg(NOW),
            phases=[SpatPhase(phase_id=3, states=[state, red])],
        )
    ]
    out = _round(msg)
    assert isinstance(out, Spat)
    inter = out.intersections[0]
    assert inter.status == 1 << 5 and inter.node_id == 7
    assert si.from_time_msg(inter.time_stamp) == pytest.approx(NOW, abs=1e-3)
    s0, s1 = inter.phases[0].states
    assert s0.light == SpatPhaseState.LIGHT_PROTECTED_GREEN
    assert s0.likely_end_time == pytest.approx(23.4) and s0.max_end_time == pytest.approx(60.0)
    assert math.isnan(s0.min_end_time) and math.isnan(s0.next_duration)
    assert s1.light == SpatPhaseState.LIGHT_RED and s1.start_time == pytest.approx(26.4)


def test_spat_utc_timing_is_made_relative() -> None:
    hour_s = NOW % 3600.0
    moy, ms = si.unix_to_moy(NOW)
    value = {
        "msgCnt": 1,
        "intersections": [
            {
                "intersectionId": {"id": 7},
                "status": (b"\x00\x00", 16),
                "moy": moy,
                "timeStamp": ms,
                "phases": [
                    {
                        "id": 1,
                        "phaseStates": [
                            {
                                "light": "red",
                                "timing": (
                                    "utcTiming",
                                    {
                                        "startUTCTime": round(hour_s * 10),
                                        "likelyEndUTCTime": round((hour_s + 12) * 10),
                                    },
                                ),
                            }
                        ],
                    }
                ],
            }
        ],
    }
    out = si.spat_from_asn(value, NOW)
    st = out.intersections[0].phases[0].states[0]
    assert st.start_time == pytest.approx(0.0, abs=0.06) and st.likely_end_time == pytest.approx(
        12.0, abs=0.06
    )


def test_rsi_without_positions_stays_without() -> None:
    """eventPos / signPos are OPTIONAL: absent decodes as NaN (not the reference position) and NaN is
    sent as absent."""
    nan = float("nan")
    msg = Rsi()
    msg.reference_position = REF
    path = RsiPath(points=[Point(x=0.0, y=0.0, z=0.0), Point(x=50.0, y=0.0, z=0.0)], radius=3.0)
    msg.events = [
        RsiEvent(rte_id=1, event_type=401, position=Point(x=nan, y=nan, z=nan), reference_paths=[path])
    ]
    msg.signs = [RsiSign(rts_id=2, sign_type=85, position=Point(x=nan, y=nan, z=nan), description="30")]
    value = si.to_asn(msg, NOW)[1]
    assert "eventPos" not in value["rtes"][0] and "signPos" not in value["rtss"][0]
    out = _round(msg)
    assert isinstance(out, Rsi)
    assert math.isnan(out.events[0].position.x) and math.isnan(out.signs[0].position.y)
    assert out.events[0].reference_paths[0].points[1].x == pytest.approx(50.0, abs=0.05)
    # a placed event keeps its position
    msg.events[0].position = Point(x=25.0, y=-3.0, z=0.0)
    placed = _round(msg)
    assert isinstance(placed, Rsi)
    assert placed.events[0].position.x == pytest.approx(25.0, abs=0.05)


def test_rsi_round_trip_si() -> None:
    msg = Rsi()
    msg.v2x.sender_id = "00000000000000a1"
    msg.v2x.generation_time = si.to_time_msg(NOW)
    msg.reference_position = REF
    path = RsiPath(points=[Point(x=0.0, y=0.0, z=0.0), Point(x=50.0, y=0.0, z=0.0)], radius=3.0)
    msg.events = [
        RsiEvent(
            rte_id=1,
            event_type=401,
            source=RsiEvent.SOURCE_DETECTION,
            position=Point(x=25.0, y=-3.0, z=0.0),
            radius=30.0,
            description="sweeper at work, lane 2",
            start_time=si.to_time_msg(NOW - 600),
            end_time=Time(),
            priority=5,
            reference_paths=[path],
            confidence=0.9,
        )
    ]
    msg.signs = [
        RsiSign(
            rts_id=2,
            sign_type=38,
            position=Point(x=-40.0, y=2.0, z=0.0),
            description="限速30",
            priority=3,
            reference_paths=[],
        )
    ]
    out = _round(msg)
    assert isinstance(out, Rsi)
    ev = out.events[0]
    assert (ev.rte_id, ev.event_type, ev.source, ev.priority) == (1, 401, RsiEvent.SOURCE_DETECTION, 5)
    assert ev.position.x == pytest.approx(25.0, abs=0.02) and ev.radius == pytest.approx(30.0)
    assert ev.description == "sweeper at work, lane 2" and ev.confidence == pytest.approx(0.9)
    assert si.from_time_msg(ev.start_time) == pytest.approx(NOW - 600 - 12.25)
    assert si.from_time_msg(ev.end_time) is None
    assert ev.reference_paths[0].points[1].x == pytest.approx(50.0, abs=0.02)
    assert ev.reference_paths[0].radius == pytest.approx(3.0)
    sign = out.signs[0]
    assert sign.description == "限速30" and sign.sign_type == 38 and sign.priority == 3


def test_rsm_round_trip_si() -> None:
    msg = Rsm()
    msg.v2x.sender_id = "00000000000000a1"
    msg.reference_position = REF
    msg.participants = [
        RsmParticipant(
            type=RsmParticipant.TYPE_PEDESTRIAN,
            ptc_id=17,
            source=RsmParticipant.SOURCE_LIDAR,
            measurement_time=si.to_time_msg(NOW - 0.1),
            position=Point(x=12.0, y=-4.0, z=0.0),
            position_accuracy=0.4,
            speed=1.4,
            heading=math.pi / 2,
            acceleration_longitudinal=float("nan"),
            yaw_rate=float("nan"),
            length=0.5,
            width=0.5,
            height=1.7,
        )
    ]
    out = _round(msg)
    assert isinstance(out, Rsm)
    p = out.participants[0]
    assert (p.type, p.ptc_id, p.source) == (RsmParticipant.TYPE_PEDESTRIAN, 17, RsmParticipant.SOURCE_LIDAR)
    assert si.from_time_msg(p.measurement_time) == pytest.approx(NOW - 0.1, abs=1e-3)
    assert p.position.x == pytest.approx(12.0, abs=0.02) and p.position.y == pytest.approx(-4.0, abs=0.02)
    assert p.position_accuracy == pytest.approx(0.5)  # the a50cm class covers 0.4 m
    assert p.speed == pytest.approx(1.4, abs=0.01) and p.heading == pytest.approx(math.pi / 2, abs=1e-3)
    assert math.isnan(p.acceleration_longitudinal)
    assert p.height == pytest.approx(1.7, abs=0.025)
    assert math.isnan(p.yaw_rate)  # no AccelerationSet4Way sent
    # a turning vehicle: yaw rate (J670 clockwise in the frame, ENU counter-clockwise here) and acceleration
    msg.participants[0].yaw_rate, msg.participants[0].acceleration_longitudinal = 0.25, -1.5
    turning = _round(msg)
    assert isinstance(turning, Rsm)
    q = turning.participants[0]
    assert q.yaw_rate == pytest.approx(0.25, abs=math.radians(0.005))
    assert q.acceleration_longitudinal == pytest.approx(-1.5, abs=0.005)
    assert si.to_asn(msg, NOW)[1]["participants"][0]["accelSet"]["yaw"] == round(-math.degrees(0.25) / 0.01)


@pytest.mark.parametrize("kind", codec.FRAME_KINDS)
def test_any_valid_frame_converts_and_back(kind: str) -> None:
    """Every valid value of the message set converts to SI, and the SI message encodes again."""
    gen = ValueGenerator(random.Random(11), max_items=2)
    frame = codec.parsed()["MessageFrame"]
    member = next(m for m in frame["members"] if m and m["name"] == kind)
    for _ in range(40):
        value = gen.value(member["type"])
        msg = si.from_asn(kind, value, NOW)
        kind2, again = si.to_asn(msg, NOW)
        assert kind2 == kind
        codec.encode_frame(kind2, again)


def test_spat_unknown_timing_extension_is_unavailable() -> None:
    # a CHOICE alternative from a later version of the standard decodes as (None, None)
    value = {
        "msgCnt": 1,
        "intersections": [
            {
                "intersectionId": {"id": 7},
                "status": (b"\x00\x00", 16),
                "phases": [{"id": 1, "phaseStates": [{"light": "red", "timing": (None, None)}]}],
            }
        ],
    }
    state = si.spat_from_asn(value, NOW).intersections[0].phases[0].states[0]
    assert state.light == SpatPhaseState.LIGHT_RED and math.isnan(state.likely_end_time)


def _all_slots_set(msg: Any) -> None:
    for slot in type(msg).__slots__:
        assert hasattr(msg, slot), f"{type(msg).__name__}.{slot} not set"
    for name in msg.get_fields_and_field_types():
        value = getattr(msg, name)
        if hasattr(value, "get_fields_and_field_types"):
            _all_slots_set(value)


def test_bsm_built_slot_by_slot_is_a_complete_checked_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """bsm_from_asn writes the message's slots directly (no default constructor): every slot of the
    message and its nested messages is set, every value passes the generated setters' type and range
    checks (what ROS_PYTHON_CHECK_FIELDS=1 enforces), and the message serializes like one built by the
    constructor from the same field values."""
    from rclpy.serialization import serialize_message

    gen = ValueGenerator(random.Random(5), max_items=2)
    frame = codec.parsed()["MessageFrame"]
    member = next(m for m in frame["members"] if m and m["name"] == "bsmFrame")
    monkeypatch.setattr(si, "_CHECK_FIELDS", False)  # the deployed default (the test harness sets it)
    for _ in range(60):
        _, value = codec.decode_frame(codec.encode_frame("bsmFrame", gen.value(member["type"])))
        msg = si.bsm_from_asn(value, NOW)
        _all_slots_set(msg)
        assert msg._check_fields is False and msg.v2x.generation_time._check_fields is False
        checked = si._checked(si.bsm_from_asn(value, NOW))  # raises AssertionError on a bad type / range
        assert checked._check_fields and checked.v2x._check_fields and checked.v2x.header.stamp._check_fields
        fields = {name: getattr(msg, name) for name in Bsm.get_fields_and_field_types()}
        assert serialize_message(msg) == serialize_message(Bsm(check_fields=True, **fields))
