"""SI layer for the BSM path history and path prediction: units, sentinels, boundaries, offset forms,
round trips through asn1tools, and pycrate (the independent UPER implementation) bit for bit."""

from __future__ import annotations

import calendar
import math
import random
from typing import Any

import pytest
import v2x_pycrate_ref as ref
from roadedge_msgs.msg import Bsm, GeoPoint, PathHistoryPoint

from roadedge.v2x import codec, si

NOW = float(calendar.timegm((2026, 6, 15, 8, 30, 12))) + 0.25
REF = GeoPoint(latitude=39.9087, longitude=116.3975, elevation=44.0)
NAN = float("nan")


def point(
    lat: float,
    lon: float,
    elev: float = NAN,
    t: float = 1.0,
    speed: float = NAN,
    heading: float = NAN,
    acc: float = NAN,
    elev_acc: float = NAN,
) -> PathHistoryPoint:
    return PathHistoryPoint(
        position=GeoPoint(latitude=lat, longitude=lon, elevation=elev),
        time_offset=t,
        speed=speed,
        heading=heading,
        position_accuracy=acc,
        elevation_accuracy=elev_acc,
    )


def bsm_with(points: list[PathHistoryPoint], radius: float = NAN, confidence: float = NAN) -> Bsm:
    bsm = Bsm(length=5.6, width=2.0, speed=5.0, heading=0.3, yaw_rate=0.1)
    bsm.v2x.sender_id = "0102030405060708"
    bsm.v2x.generation_time = si.to_time_msg(NOW)
    bsm.position = REF
    bsm.path_history = points
    bsm.path_radius_of_curvature = radius
    bsm.path_prediction_confidence = confidence
    bsm.path_history_gnss_status = si.GNSS_STATUS_NOT_SENT
    return bsm


def wire(bsm: Bsm) -> tuple[dict[str, Any], Bsm]:
    """SI -> ASN.1 -> UPER (asn1tools, checked against pycrate) -> ASN.1 -> SI."""
    kind, value = si.to_asn(bsm, NOW)
    data = codec.encode_frame(kind, value)
    assert data == ref.encode("MessageFrame", (kind, value))
    assert ref.decode("MessageFrame", data) == (kind, value)
    kind2, back = codec.decode_frame(data)
    out = si.from_asn(kind2, back, NOW)
    assert isinstance(out, Bsm)
    return value, out


def full_history(n: int = 23) -> list[PathHistoryPoint]:
    rng = random.Random(n)
    out = []
    for i in range(n):
        out.append(
            point(
                REF.latitude - 1e-5 * i * i,
                REF.longitude + 3e-6 * i,
                elev=rng.choice((NAN, 44.0 + 0.1 * i, 44.0 - 250.0, 2000.0)),
                t=0.1 * (i + 1) ** 2,
                speed=rng.choice((NAN, 0.0, 5.0, 163.8)),
                heading=rng.choice((NAN, -math.pi, 0.0, 1.0)),
                acc=rng.choice((NAN, 0.01, 0.5, 500.0)),
                elev_acc=rng.choice((NAN, 0.02, 200.0)),
            )
        )
    return out


def test_full_path_history_round_trip_and_pycrate_agrees() -> None:
    points = full_history()
    value, out = wire(bsm_with(points, radius=-25.0, confidence=0.9))
    crumbs = value["safetyExt"]["pathHistory"]["crumbData"]
    assert len(crumbs) == 23 and "currGNSSstatus" not in value["safetyExt"]["pathHistory"]
    assert len(out.path_history) == 23
    for p, q in zip(points, out.path_history, strict=True):
        assert q.position.latitude == pytest.approx(p.position.latitude, abs=0.6e-7)
        assert q.position.longitude == pytest.approx(p.position.longitude, abs=0.6e-7)
        if math.isnan(p.position.elevation):
            assert math.isnan(q.position.elevation)
        else:
            assert q.position.elevation == pytest.approx(p.position.elevation, abs=0.051)
        assert q.time_offset == pytest.approx(p.time_offset, abs=0.0051)
        for name, tol in (("speed", 0.011), ("position_accuracy", 0.0), ("elevation_accuracy", 0.0)):
            a, b = getattr(p, name), getattr(q, name)
            assert (math.isnan(a) and math.isnan(b)) or b == pytest.approx(a, abs=tol), name
        if math.isnan(p.heading):
            assert math.isnan(q.heading)
        else:
            assert si.wrap_angle(q.heading - p.heading) == pytest.approx(0.0, abs=math.radians(0.75))
    assert out.path_radius_of_curvature == pytest.approx(-25.0)
    assert out.path_prediction_confidence == pytest.approx(0.9)
    assert out.path_history_gnss_status == si.GNSS_STATUS_NOT_SENT
    # SI -> wire -> SI -> wire: the same bytes (the SI form holds everything the wire does)
    _, again = wire(out)
    assert si.to_asn(again, NOW) == si.to_asn(out, NOW)


def test_no_path_history_no_prediction_no_extension() -> None:
    """The message defaults (empty history, radius 0) send nothing: a producer that does not know
    about path history sends the BSM it sent before."""
    plain = Bsm(length=5.0, width=2.0)
    plain.position = REF
    assert "safetyExt" not in si.to_asn(plain, NOW)[1]
    _, out = wire(plain)
    assert out.path_history == [] and out.path_history_gnss_status == si.GNSS_STATUS_NOT_SENT
    assert math.isnan(out.path_radius_of_curvature) and math.isnan(out.path_prediction_confidence)
    # the extension for other reasons (events) still has no path history
    plain.event_flags = Bsm.EVENT_HAZARD_LIGHTS
    value, out = wire(plain)
    assert set(value["safetyExt"]) == {"events"} and out.path_history == []
    assert math.isnan(out.path_radius_of_curvature)


@pytest.mark.parametrize(
    ("radius", "sent", "back"),
    [
        (math.inf, 32767, math.inf),
        (-math.inf, 32767, math.inf),
        (3276.6, -32766, 3276.6),
        (-3276.6, 32766, -3276.6),
        (3276.7, 32767, math.inf),  # beyond the range: straight (the standard's overflow rule)
        (-50000.0, 32767, math.inf),
        (20.0, -200, 20.0),  # left: negative in CSAE (positive = curving right)
        (-20.0, 200, -20.0),
        (0.1, -1, 0.1),
        (0.01, -1, 0.1),  # below the unit: the smallest radius on that side
        (-0.01, 1, -0.1),
    ],
)
def test_radius_of_curvature(radius: float, sent: int, back: float) -> None:
    value, out = wire(bsm_with([], radius=radius, confidence=0.5))
    assert value["safetyExt"]["pathPrediction"] == {"radiusOfCurve": sent, "confidence": 100}
    assert out.path_radius_of_curvature == pytest.approx(back)
    assert out.path_prediction_confidence == pytest.approx(0.5)


def test_radius_and_confidence_sentinels() -> None:
    assert si.radius_from_asn(-32767) == math.inf and si.radius_from_asn(32767) == math.inf
    assert math.isnan(si.radius_from_asn(0))  # a zero radius is no path: unusable
    assert si.radius_from_asn(32766) == pytest.approx(-3276.6)
    assert si.path_prediction_to_asn(NAN, 0.5) is None
    assert si.path_prediction_to_asn(0.0, 0.5) is None  # the message default: not sent
    assert si.path_prediction_to_asn(10.0, NAN) == {"radiusOfCurve": -100, "confidence": 0}
    assert si.path_prediction_to_asn(10.0, 1.0)["confidence"] == 200
    assert si.path_prediction_to_asn(10.0, 7.0)["confidence"] == 200
    assert si.path_prediction_to_asn(10.0, -1.0)["confidence"] == 0
    assert si.path_prediction_to_asn(10.0, 0.0025)["confidence"] == 0  # rounds half to even
    value = {"radiusOfCurve": 0, "confidence": 200}
    bsm = _decoded_bsm({"pathPrediction": value})
    assert math.isnan(bsm.path_radius_of_curvature) and bsm.path_prediction_confidence == 1.0


def test_time_offset_boundaries() -> None:
    assert si.s_to_time_offset(NAN) == 65535 and math.isnan(si.time_offset_to_s(65535))
    assert si.s_to_time_offset(0.0) == 1  # 0 is no TimeOffset: the smallest, 10 ms
    assert si.s_to_time_offset(-3.0) == 1
    assert si.s_to_time_offset(0.01) == 1 and si.time_offset_to_s(1) == pytest.approx(0.01)
    assert si.s_to_time_offset(655.34) == 65534 and si.time_offset_to_s(65534) == pytest.approx(655.34)
    assert si.s_to_time_offset(700.0) == 65534  # "or more", never the unavailable value
    assert si.s_to_time_offset(math.inf) == 65535
    _, out = wire(
        bsm_with([point(REF.latitude, REF.longitude, t=NAN), point(REF.latitude, REF.longitude, t=0.0)])
    )
    assert math.isnan(out.path_history[0].time_offset)
    assert out.path_history[1].time_offset == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("coarse", "yaw_deg"), [(0, 90.0), (60, 0.0), (120, -90.0), (180, 180.0), (239, 91.5), (1, 88.5)]
)
def test_coarse_heading(coarse: int, yaw_deg: float) -> None:
    yaw = si.coarse_heading_to_yaw(coarse)
    assert math.degrees(si.wrap_angle(yaw - math.radians(yaw_deg))) == pytest.approx(0.0, abs=1e-9)
    assert si.yaw_to_coarse_heading(yaw) == coarse


def test_coarse_heading_unavailable_and_wrap() -> None:
    assert math.isnan(si.coarse_heading_to_yaw(240)) and math.isnan(si.coarse_heading_to_yaw(None))
    assert si.yaw_to_coarse_heading(NAN) == 240
    assert si.yaw_to_coarse_heading(math.radians(90.0 + 0.74)) == 0  # rounds to north, never 240
    assert si.yaw_to_coarse_heading(math.radians(90.0 + 0.76)) == 239


@pytest.mark.parametrize(
    ("dlat", "form"),
    [
        (2047, "position-LL1"),
        (-2048, "position-LL2"),  # LL1 holds -2048 too, but the encoder keeps it symmetric
        (8191, "position-LL2"),
        (32767, "position-LL3"),
        (131071, "position-LL4"),
        (2097151, "position-LL5"),
        (8388607, "position-LL6"),
        (8388608, "position-LatLon"),
    ],
)
def test_offset_forms_smallest_that_fits(dlat: int, form: str) -> None:
    lat0 = 300_000_000
    ref_pos = GeoPoint(latitude=lat0 * 1e-7, longitude=REF.longitude, elevation=NAN)
    bsm = bsm_with([point((lat0 + dlat) * 1e-7, REF.longitude - 1e-7)])
    bsm.position = ref_pos
    value, out = wire(bsm)
    offset = value["safetyExt"]["pathHistory"]["crumbData"][0]["llvOffset"]
    assert offset["offsetLL"][0] == form and "offsetV" not in offset
    if form != "position-LatLon":
        assert offset["offsetLL"][1] == {"lat": dlat, "lon": -1}
    assert round(out.path_history[0].position.latitude * 1e7) == lat0 + dlat


def test_unavailable_positions() -> None:
    # the BSM's own position unavailable: absolute positions (position-LatLon)
    bsm = bsm_with([point(REF.latitude, REF.longitude, elev=50.0)])
    bsm.position = GeoPoint(latitude=NAN, longitude=NAN, elevation=NAN)
    value, out = wire(bsm)
    llv = value["safetyExt"]["pathHistory"]["crumbData"][0]["llvOffset"]
    assert llv["offsetLL"] == ("position-LatLon", {"lat": 399087000, "lon": 1163975000})
    assert llv["offsetV"] == ("elevation", 500)
    assert out.path_history[0].position.latitude == pytest.approx(REF.latitude, abs=1e-9)
    assert out.path_history[0].position.elevation == pytest.approx(50.0)
    # a point's position unavailable: the unavailable values, NaN again
    value, out = wire(bsm_with([point(NAN, NAN)]))
    llv = value["safetyExt"]["pathHistory"]["crumbData"][0]["llvOffset"]
    assert llv == {"offsetLL": ("position-LatLon", {"lat": si.LAT_UNAVAILABLE, "lon": si.LON_UNAVAILABLE})}
    assert math.isnan(out.path_history[0].position.latitude)
    assert math.isnan(out.path_history[0].position.longitude)


def test_vertical_offsets() -> None:
    pts = [point(REF.latitude, REF.longitude, elev=e) for e in (44.0, 50.3, 44.0 - 204.7, 44.0 + 204.8, NAN)]
    value, out = wire(bsm_with(pts))
    crumbs = value["safetyExt"]["pathHistory"]["crumbData"]
    assert crumbs[0]["llvOffset"]["offsetV"] == ("offset1", 0)
    assert crumbs[1]["llvOffset"]["offsetV"] == ("offset1", 63)
    assert crumbs[2]["llvOffset"]["offsetV"] == ("offset6", -2047)
    assert crumbs[3]["llvOffset"]["offsetV"] == ("elevation", 2488)  # beyond offset6: absolute
    assert "offsetV" not in crumbs[4]["llvOffset"]
    assert [p.position.elevation for p in out.path_history[:4]] == pytest.approx([44.0, 50.3, -160.7, 248.8])
    assert math.isnan(out.path_history[4].position.elevation)
    # the BSM's elevation unavailable: a point's elevation is sent absolute
    bsm = bsm_with([point(REF.latitude, REF.longitude, elev=12.3)])
    bsm.position = GeoPoint(latitude=REF.latitude, longitude=REF.longitude, elevation=NAN)
    value, out = wire(bsm)
    assert value["safetyExt"]["pathHistory"]["crumbData"][0]["llvOffset"]["offsetV"] == ("elevation", 123)
    assert out.path_history[0].position.elevation == pytest.approx(12.3)


def _decoded_bsm(safety: dict[str, Any], pos: dict[str, int] | None = None) -> Bsm:
    kind, value = si.to_asn(bsm_with([]), NOW)
    value["safetyExt"] = safety
    if pos is not None:
        value["pos"] = pos
    k, back = codec.decode_frame(codec.encode_frame(kind, value))
    out = si.from_asn(k, back, NOW)
    assert isinstance(out, Bsm)
    return out


def test_decoding_what_other_senders_send() -> None:
    """Forms our encoder does not use: initialPosition as the reference, an absolute point, an offset
    from an unavailable reference elevation, the unavailable sentinels, GNSS status bits."""
    history = {
        "initialPosition": {"pos": {"lat": 399000000, "long": 1163000000}, "heading": 100},
        "currGNSSstatus": si.int_to_bits(0b1000_0010, 8),  # isHealthy, networkCorrectionsPresent
        "crumbData": [
            {
                "llvOffset": {"offsetLL": ("position-LL1", {"lon": -5, "lat": 7}), "offsetV": ("offset2", 3)},
                "timeOffset": 65535,
                "speed": 8191,
                "heading": 240,
            },
            {
                "llvOffset": {
                    "offsetLL": ("position-LatLon", {"lon": 1163975000, "lat": 399087000}),
                    "offsetV": ("elevation", -4096),
                },
                "timeOffset": 1,
                "posAccuracy": {"pos": "unavailable", "elevation": "elev-000-01"},
            },
        ],
    }
    out = _decoded_bsm({"pathHistory": history})
    first, second = out.path_history
    assert first.position.latitude == pytest.approx(39.9000007, abs=1e-10)  # from initialPosition
    assert first.position.longitude == pytest.approx(116.2999995, abs=1e-10)
    assert math.isnan(first.position.elevation)  # initialPosition without elevation: unknown
    assert math.isnan(first.time_offset) and math.isnan(first.speed) and math.isnan(first.heading)
    assert math.isnan(first.position_accuracy) and math.isnan(first.elevation_accuracy)
    assert second.position.latitude == pytest.approx(REF.latitude, abs=1e-10)
    assert math.isnan(second.position.elevation)
    assert second.time_offset == pytest.approx(0.01)
    assert math.isnan(second.position_accuracy) and second.elevation_accuracy == pytest.approx(0.01)
    assert out.path_history_gnss_status == 2 | 128
    assert math.isnan(out.path_radius_of_curvature)
    # and encoded again: absolute positions kept, relative to the BSM's position, status as it was
    value, again = wire(out)
    history_out = value["safetyExt"]["pathHistory"]
    assert "initialPosition" not in history_out and history_out["currGNSSstatus"] == si.int_to_bits(130, 8)
    assert again.path_history[0].position.latitude == pytest.approx(39.9000007, abs=1e-10)
    assert again.path_history_gnss_status == 130


@pytest.mark.parametrize("status", [0, 1, 0b0101_0101, 255, si.GNSS_STATUS_NOT_SENT])
def test_gnss_status_round_trip(status: int) -> None:
    bsm = bsm_with([point(REF.latitude + 1e-6, REF.longitude)])
    bsm.path_history_gnss_status = status
    value, out = wire(bsm)
    assert ("currGNSSstatus" in value["safetyExt"]["pathHistory"]) == (status != si.GNSS_STATUS_NOT_SENT)
    assert out.path_history_gnss_status == status


def test_more_than_23_points_sends_the_newest_23() -> None:
    pts = [point(REF.latitude + 1e-6 * i, REF.longitude, t=0.1 * (i + 1)) for i in range(30)]
    _, out = wire(bsm_with(pts))
    assert len(out.path_history) == 23
    assert out.path_history[-1].time_offset == pytest.approx(2.3)


def test_accuracy_classes() -> None:
    pts = [
        point(REF.latitude, REF.longitude, acc=a, elev_acc=e)
        for a, e in ((0.3, NAN), (NAN, 3.0), (600.0, 0.001))
    ]
    value, out = wire(bsm_with(pts))
    crumbs = value["safetyExt"]["pathHistory"]["crumbData"]
    assert crumbs[0]["posAccuracy"] == {"pos": "a50cm"}  # the smallest class that covers it
    assert crumbs[1]["posAccuracy"] == {"pos": "unavailable", "elevation": "elev-005-00"}
    assert crumbs[2]["posAccuracy"] == {"pos": "a500m", "elevation": "elev-000-01"}
    got = [(p.position_accuracy, p.elevation_accuracy) for p in out.path_history]
    assert got[0][0] == 0.5 and math.isnan(got[0][1])
    assert math.isnan(got[1][0]) and got[1][1] == 5.0
    assert got[2] == (500.0, 0.01)
