"""v2x_obu with verify: on_demand, in process over DDS: the relevance centre follows the vehicle's fix; a
far BSM comes out marked unverified, a near one verified, a forged near one is rejected."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from obu_rig import diag_values, obu_on_radio, signed_outgo, test_pki
from roadedge_msgs.msg import Bsm, GeoPoint, V2xHeader
from sensor_msgs.msg import NavSatFix, NavSatStatus

from roadedge import topics
from roadedge.v2x.security import Verdict

pytestmark = pytest.mark.dds

OWN = (31.2304, 121.4737)
M_PER_DEG = 111_320.0


def _bsm(north_m: float, speed: float) -> Bsm:
    msg = Bsm()
    msg.v2x.sender_id = "0102030405060708"
    msg.position = GeoPoint(latitude=OWN[0] + north_m / M_PER_DEG, longitude=OWN[1], elevation=4.0)
    msg.speed, msg.heading, msg.length, msg.width = speed, 0.0, 4.5, 1.8
    return msg


def test_obu_verifies_on_demand_around_its_own_fix(ros: Any, tmp_path: Path) -> None:
    trust = test_pki(tmp_path, "other")
    other = signed_outgo(tmp_path, "other")
    with obu_on_radio(ros, trust, bsm_rate=0.0, verify="on_demand", relevance_radius=200.0) as rig:
        obu = rig.obu
        assert obu.station is not None and obu.station.relevance is not None
        received: list[Bsm] = ros.collect(Bsm, topics.V2X_RX_BSM.name)
        diags: list[DiagnosticArray] = ros.collect(DiagnosticArray, "/diagnostics")
        fix_pub = ros.node.create_publisher(NavSatFix, topics.LOCALIZATION_GEODETIC.name, 10)
        fix = NavSatFix(latitude=OWN[0], longitude=OWN[1], altitude=4.0)
        fix.status.status = NavSatStatus.STATUS_FIX

        def centred() -> bool:
            fix_pub.publish(fix)
            own = obu.station.relevance.own_position if obu.station and obu.station.relevance else None
            return own is not None and math.dist(own, OWN) < 1e-6

        ros.spin_until(centred, timeout=10.0, what="relevance centre at the fix")
        far, near, forged = _bsm(900.0, 3.0), _bsm(50.0, 4.0), _bsm(60.0, 5.0)
        frames = [other(far), other(near), other(forged)]
        assert all(f is not None for f in frames)
        bad = frames[2][:-1] + bytes([frames[2][-1] ^ 1])  # type: ignore[index]
        for frame in (frames[0], frames[1], bad):
            rig.send(frame)  # type: ignore[arg-type]

        def by_speed(v: float) -> Bsm | None:
            return next((b for b in received if abs(b.speed - v) < 0.01), None)

        ros.spin_until(lambda: by_speed(3.0) is not None and by_speed(4.0) is not None, what="both BSMs")
        far_rx, near_rx = by_speed(3.0), by_speed(4.0)
        assert far_rx is not None and far_rx.v2x.security_verdict == Verdict.UNVERIFIED
        assert near_rx is not None and near_rx.v2x.security_verdict == V2xHeader.VERDICT_VERIFIED

        def counted() -> bool:
            values = diag_values(diags, "v2x_obu")
            return values.get("dropped_bad_signature") == "1" and values.get("rx_unverified_on_demand") == "1"

        ros.spin_until(counted, timeout=10.0, what="forged near BSM rejected, one unverified in diagnostics")
        assert by_speed(5.0) is None
