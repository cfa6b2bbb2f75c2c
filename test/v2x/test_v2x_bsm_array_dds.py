"""v2x_obu with bsm_array (dense traffic), in process over DDS: the BSMs of a receive burst come out as
one roadedge_msgs/BsmArray on v2x/rx/bsm_array (at most burst_max frames each), none on v2x/rx/bsm;
every element is the message v2x/rx/bsm would carry (SI values, security verdict, reception stamp)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from obu_rig import obu_on_radio, signed_outgo, test_pki
from roadedge_msgs.msg import Bsm, BsmArray, GeoPoint, V2xHeader

from roadedge import topics

pytestmark = pytest.mark.dds


def test_obu_publishes_the_bsms_of_a_burst_as_one_array(ros: Any, tmp_path: Path) -> None:
    trust = test_pki(tmp_path, "other")
    other = signed_outgo(tmp_path, "other")
    with obu_on_radio(ros, trust, bsm_rate=0.0, bsm_array=True, burst_max=2) as rig:
        obu = rig.obu
        arrays: list[BsmArray] = ros.collect(BsmArray, topics.V2X_RX_BSM_ARRAY.name)
        singles: list[Bsm] = ros.collect(Bsm, topics.V2X_RX_BSM.name)
        frames = []
        for i in range(5):
            msg = Bsm()
            msg.v2x.sender_id = f"010203040506070{i}"
            msg.position = GeoPoint(latitude=31.2304 + i * 1e-4, longitude=121.4737, elevation=4.0)
            msg.speed, msg.heading, msg.length, msg.width = 1.0 + i, 0.0, 4.5, 1.8
            frames.append(other(msg))
        assert all(f is not None for f in frames)
        for frame in [*frames[:2], b"\x03garbage", *frames[2:]]:
            rig.send(frame)  # type: ignore[arg-type]

        ros.spin_until(lambda: sum(len(a.bsms) for a in arrays) >= 5, timeout=10.0, what="5 BSMs in arrays")
        got = sorted((b for a in arrays for b in a.bsms), key=lambda b: b.speed)
        assert [round(b.speed, 2) for b in got] == [1.0, 2.0, 3.0, 4.0, 5.0]
        assert [b.v2x.sender_id for b in got] == [f"010203040506070{i}" for i in range(5)]
        assert all(b.v2x.security_verdict == V2xHeader.VERDICT_VERIFIED for b in got)
        assert all(b.v2x.header.stamp.sec > 0 and b.v2x.header.frame_id == "wgs84" for b in got)
        assert got[2].position.latitude == pytest.approx(31.2306, abs=1e-7)
        assert all(1 <= len(a.bsms) <= 2 and a.header.stamp.sec > 0 for a in arrays)
        assert len(arrays) >= 3
        assert obu.station.counter.total() == 1  # the garbage frame, counted
        assert singles == []
