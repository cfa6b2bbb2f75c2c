"""v2x_obu in-process over DDS: own BSM from localization + vehicle status (event flags) on the radio
link; received frames -> /v2x/rx/bsm; garbage frames counted, the node keeps working."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from obu_rig import diag_values, obu_on_radio, signed_outgo, test_pki
from roadedge_msgs.msg import Bsm, GeoPoint, V2xHeader, VehicleStatus
from sensor_msgs.msg import NavSatFix, NavSatStatus
from std_msgs.msg import String

from roadedge import topics
from roadedge.ros.qos import qos_for
from roadedge.v2x.pipeline import Ingest
from roadedge.v2x.security import Certificate, SecurityPolicy, TrustStore, Verifier

pytestmark = pytest.mark.dds


def test_obu_bsm_out_and_frames_in(ros: Any, tmp_path: Path) -> None:
    trust = test_pki(tmp_path, "obu", "other")
    with obu_on_radio(
        ros,
        trust,
        cert_file=str(tmp_path / "obu.cert"),
        key_file=str(tmp_path / "obu.key"),
        station_id="00112233AABBCCDD",
        vehicle_class=71,
    ) as rig:
        obu, radio = rig.obu, rig.radio
        # its own id, latched for planning (subscribed after it was published)
        own_id = ros.collect(String, topics.V2X_STATION_ID.name, qos_for(topics.V2X_STATION_ID))
        ros.spin_until(lambda: bool(own_id), timeout=10.0, what="the OBU's station id")
        assert own_id[0].data == "00112233aabbccdd"

        fix_pub = ros.node.create_publisher(NavSatFix, topics.LOCALIZATION_GEODETIC.name, 10)
        odom_pub = ros.node.create_publisher(Odometry, topics.ODOMETRY.name, 10)
        status_pub = ros.node.create_publisher(VehicleStatus, topics.VEHICLE_STATUS.name, 10)
        received: list[Bsm] = ros.collect(Bsm, topics.V2X_RX_BSM.name)
        diags: list[DiagnosticArray] = ros.collect(DiagnosticArray, "/diagnostics")

        fix = NavSatFix(latitude=31.2303, longitude=121.4736, altitude=5.5)
        fix.status.status = NavSatStatus.STATUS_FIX
        fix.position_covariance = [0.04, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.1]
        fix.position_covariance_type = NavSatFix.COVARIANCE_TYPE_DIAGONAL_KNOWN
        odom = Odometry()
        yaw = math.radians(30.0)
        odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
        status = VehicleStatus(
            speed=2.5,
            acceleration=0.3,
            yaw_rate=0.05,
            gear=VehicleStatus.GEAR_DRIVE,
            drive_mode=VehicleStatus.MODE_SWEEPING,
            hazard_lights_on=True,
            beacon_light_on=True,
        )
        verifier = Verifier(TrustStore([Certificate.load(tmp_path / "root.cert")]), SecurityPolicy())
        ingest = Ingest(verifier)
        got: list[Bsm] = []

        def pump() -> bool:
            fix_pub.publish(fix)
            odom_pub.publish(odom)
            status_pub.publish(status)
            try:
                frame = radio.recv(65535)
            except TimeoutError:
                return False
            out = ingest(frame)
            if out is not None and out.msg.speed > 0:
                got.append(out.msg)
            return bool(got)

        try:
            ros.spin_until(pump, timeout=15.0, what="own BSM on the radio link")
        except AssertionError:
            raise AssertionError(
                f"skipped={obu.bsm_skipped} counts={obu.station.counter.counts} sent={obu.station.link.sent}"
                f" ingest={ingest.counter.counts} {ingest.stats}"
            ) from None
        bsm = got[-1]
        assert bsm.v2x.sender_id == "00112233aabbccdd"
        assert bsm.position.latitude == pytest.approx(31.2303, abs=1e-7)
        assert bsm.position.elevation == pytest.approx(5.5, abs=0.05)
        assert bsm.position_semi_major == pytest.approx(0.2, abs=0.03)
        assert bsm.heading == pytest.approx(yaw, abs=1e-3)
        assert bsm.speed == pytest.approx(2.5, abs=0.01)
        assert bsm.transmission == Bsm.TRANSMISSION_FORWARD
        assert bsm.event_flags & Bsm.EVENT_HAZARD_LIGHTS
        assert bsm.lights_in_use == 6  # slowMovingVehicle: sweeping with the beacon on
        assert bsm.response_type == Bsm.RESPONSE_SLOW_MOVING and not bsm.emergency_vehicle
        assert bsm.vehicle_class == 71 and bsm.length == pytest.approx(5.6)
        # path prediction from speed / yaw rate: 2.5 m/s / 0.05 rad/s = 50 m to the left, steady
        assert bsm.path_radius_of_curvature == pytest.approx(50.0, abs=0.05)
        assert bsm.path_prediction_confidence == pytest.approx(1.0)
        assert verifier.counter.total() == 0

        # driving north: the path history (breadcrumbs behind the vehicle, newest first) fills
        start = time.monotonic()
        got.clear()

        def driving() -> bool:
            fix.latitude = 31.2303 + (time.monotonic() - start) * 2.5 / 111_000.0
            pump()
            return any(b.path_history and b.position.latitude > 31.2303 + 5e-6 for b in got)

        ros.spin_until(driving, timeout=15.0, what="own BSM with a path history")
        bsm = next(b for b in got if b.path_history and b.position.latitude > 31.2303 + 5e-6)
        assert 1 <= len(bsm.path_history) <= 23
        crumb = bsm.path_history[-1]  # the oldest: where the vehicle stood
        assert crumb.position.latitude == pytest.approx(31.2303, abs=2e-7)
        assert 0.1 < crumb.time_offset < 15.0
        assert crumb.position.elevation == pytest.approx(5.5, abs=0.05)
        assert crumb.speed == pytest.approx(2.5, abs=0.02) and crumb.heading == pytest.approx(yaw, abs=0.02)
        assert bsm.path_history_gnss_status == 256  # not sent

        # frames in: a signed BSM from another vehicle, then garbage of every kind
        msg = Bsm()
        msg.v2x.sender_id = "0102030405060708"
        msg.position = GeoPoint(latitude=31.2305, longitude=121.4738, elevation=4.0)
        msg.speed, msg.heading, msg.length, msg.width = 8.0, 0.0, 4.5, 1.8
        frame = signed_outgo(tmp_path, "other")(msg)
        assert frame is not None
        rng = random.Random(1)
        garbage = [b"", b"\x03", frame[: len(frame) // 2], bytes(9000), frame[:-1] + b"\x00"]
        garbage += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))) for _ in range(20)]
        for g in garbage:
            rig.send(g)
        rig.send(frame)
        ros.spin_until(
            lambda: any(b.speed == pytest.approx(8.0) for b in received), timeout=10.0, what="rx BSM"
        )
        rx = next(b for b in received if b.speed == pytest.approx(8.0))
        assert (
            rx.v2x.security_verdict == V2xHeader.VERDICT_VERIFIED and rx.v2x.sender_id == "0102030405060708"
        )
        assert rx.v2x.header.stamp.sec > 0

        def dropped() -> int:
            values = diag_values(diags, "v2x_obu")
            return int(values.get("decode_failures", 0)) + int(values.get("security_rejections", 0))

        ros.spin_until(lambda: dropped() >= len(garbage), timeout=10.0, what="garbage frames counted")
        assert obu.active
