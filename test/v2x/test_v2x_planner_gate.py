"""Planning never acts on a V2X message marked unverified by verify on demand (over DDS, in process)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from rclpy.parameter import Parameter
from roadedge_msgs.msg import Bsm, V2xHeader

from roadedge import topics
from roadedge.ros.qos import qos_for
from roadedge.v2x.security import Verdict

pytestmark = pytest.mark.dds


def _emergency_bsm(node: Any, sender: str, verdict: int) -> Bsm:
    bsm = Bsm(emergency_vehicle=True, siren_in_use=2, lights_in_use=2, speed=12.0, length=6.0, width=2.2)
    bsm.v2x.sender_id = sender
    bsm.v2x.security_verdict = verdict
    bsm.position.latitude, bsm.position.longitude, _ = node.frame.to_geodetic(-90.0, -5.8, 0.0)
    return bsm


def test_security_verdicts_are_the_interface_constants() -> None:
    for verdict in Verdict:
        assert getattr(V2xHeader, f"VERDICT_{verdict.name}") == verdict.value


def test_planner_ignores_unverified_v2x_messages(ros: Any) -> None:
    from roadedge_nodes.planner import PlannerNode

    node = PlannerNode(context=ros.context, parameter_overrides=[Parameter("rate", value=1.0)])
    try:
        ros.add_node(node)
        pub = ros.node.create_publisher(Bsm, topics.V2X_RX_BSM.name, qos_for(topics.V2X_RX_BSM))
        ros.wait_for_matched(pub)
        pub.publish(_emergency_bsm(node, "aaaa", int(Verdict.UNVERIFIED)))
        pub.publish(_emergency_bsm(node, "bbbb", V2xHeader.VERDICT_VERIFIED))
        ros.spin_until(lambda: "bbbb" in node._evs, what="the verified BSM taken")
        ros.spin_until(lambda: node._bad.counts.get("v2x_unverified") == 1, what="the unverified one counted")
        assert "aaaa" not in node._evs and "bsm:aaaa" not in {ob.id for _, ob in node._bsm.values()}
        assert "aaaa" not in node._bsm
    finally:
        ros.executor.remove_node(node)
        node.destroy_node()


def test_planner_takes_bsms_from_arrays_verified_only(ros: Any) -> None:
    """A V2X node with bsm_array publishes the BSMs of a burst as one BsmArray: planning takes each
    element as it takes a Bsm (and still ignores the unverified ones)."""
    from roadedge_msgs.msg import BsmArray
    from roadedge_nodes.planner import PlannerNode

    node = PlannerNode(context=ros.context, parameter_overrides=[Parameter("rate", value=1.0)])
    try:
        ros.add_node(node)
        pub = ros.node.create_publisher(
            BsmArray, topics.V2X_RX_BSM_ARRAY.name, qos_for(topics.V2X_RX_BSM_ARRAY)
        )
        ros.wait_for_matched(pub)
        batch = BsmArray()
        batch.bsms = [
            _emergency_bsm(node, "cccc", int(Verdict.UNVERIFIED)),
            _emergency_bsm(node, "dddd", V2xHeader.VERDICT_VERIFIED),
            _emergency_bsm(node, "eeee", V2xHeader.VERDICT_VERIFIED),
        ]
        pub.publish(batch)
        ros.spin_until(lambda: "dddd" in node._evs and "eeee" in node._evs, what="the verified BSMs taken")
        assert "cccc" not in node._evs and "cccc" not in node._bsm
        assert node._bad.counts.get("v2x_unverified") == 1
    finally:
        ros.executor.remove_node(node)
        node.destroy_node()


def test_planner_ignores_the_work_zone_around_its_own_vehicle(ros: Any) -> None:
    """The RSU turns this sweeper's BSMs into an RSI work zone for others; the sweeper itself must not
    slow down inside it (its own id comes latched from v2x_obu), but a zone around another one counts."""
    from geometry_msgs.msg import Point
    from roadedge_msgs.msg import Rsi, RsiEvent, RsiPath
    from roadedge_nodes.planner import PlannerNode
    from std_msgs.msg import String

    from roadedge.v2x.work_zone import describe, working_vehicle

    own, other = "0102030405060708", "a1a2a3a4a5a6a7a8"
    assert working_vehicle(describe("sanitation vehicle at work", own, 1.5)) == own
    assert working_vehicle("road works, limit 1.5 m/s") is None
    node = PlannerNode(context=ros.context, parameter_overrides=[Parameter("rate", value=1.0)])
    try:
        ros.add_node(node)
        ids = ros.node.create_publisher(String, topics.V2X_STATION_ID.name, qos_for(topics.V2X_STATION_ID))
        ids.publish(String(data=own))  # latched: published before the planner may have matched
        ros.spin_until(lambda: node._own_station_id == own, what="the own station id taken")
        rsi = Rsi()
        rsi.v2x.sender_id = "00000000000000aa"
        rsi.v2x.security_verdict = V2xHeader.VERDICT_VERIFIED
        lat, lon, _ = node.frame.to_geodetic(0.0, 0.0, 0.0)
        rsi.reference_position.latitude, rsi.reference_position.longitude = lat, lon
        nowhere = Point(x=math.nan, y=math.nan, z=math.nan)
        rsi.events = [
            RsiEvent(rte_id=1, event_type=401, radius=3.0, description=describe("at work", own, 1.5)),
            RsiEvent(rte_id=2, event_type=401, radius=3.0, description=describe("at work", other, 1.5)),
            # no position and no path: it cannot be placed (counted, left out) - not at the reference
            RsiEvent(rte_id=3, event_type=401, radius=3.0, position=nowhere),
            # no position but a reference path: placed by its path
            RsiEvent(
                rte_id=4,
                event_type=401,
                position=nowhere,
                reference_paths=[RsiPath(points=[Point(x=0.0, y=0.0), Point(x=10.0, y=0.0)], radius=2.0)],
            ),
        ]
        pub = ros.node.create_publisher(Rsi, topics.V2X_RX_RSI.name, qos_for(topics.V2X_RX_RSI))
        ros.wait_for_matched(pub)
        pub.publish(rsi)
        ros.spin_until(lambda: "00000000000000aa" in node._rsi, what="the RSI taken")
        zones = node._rsi["00000000000000aa"][1]
        assert [z.id for z in zones] == ["00000000000000aa:e2", "00000000000000aa:e4"]
        assert node._own_work_zones == 1
        assert node._bad.counts.get("rsi_without_position") == 1
    finally:
        ros.executor.remove_node(node)
        node.destroy_node()
