"""planner and controller nodes in process (no discovery waits): parameters, message conversions,
bad input counted and dropped, services."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from geometry_msgs.msg import Point
from nav_msgs.msg import Odometry
from rclpy.parameter import Parameter
from roadedge_msgs.msg import (
    Bsm,
    CurbSegment,
    Object,
    ObjectArray,
    Rsi,
    RsiEvent,
    Rsm,
    RsmParticipant,
    Spat,
    SpatIntersection,
    SpatPhase,
    SpatPhaseState,
    Trajectory,
    TrajectoryPoint,
)
from roadedge_msgs.srv import CancelTask, StartSweepTask

from roadedge.config import ConfigError
from roadedge.planning import behaviours as bh

pytestmark = pytest.mark.dds


@pytest.fixture
def nodes(ros: Any) -> Iterator[Any]:
    made: list[Any] = []

    def make(cls: Any, **params: Any) -> Any:
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        node = cls(context=ros.context, parameter_overrides=overrides)
        made.append(node)
        return node

    yield make
    for n in made:
        n.destroy_node()


def odom(x: float, y: float, yaw: float = 0.0, v: float = 0.0) -> Odometry:
    o = Odometry()
    o.pose.pose.position.x, o.pose.pose.position.y = x, y
    o.pose.pose.orientation.z, o.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    o.twist.twist.linear.x = v
    return o


def test_planner_mission_from_parameters_and_conversions(nodes: Any) -> None:
    from roadedge_nodes.planner import PlannerNode

    node = nodes(
        PlannerNode,
        task_kind="sweep",
        task_path=[-80.0, -7.0, -20.0, -7.0],
        task_curb_offset=1.2,
        task_id="p",
    )
    assert node.core.task is not None and node.core.task.spec.curb_offset == pytest.approx(0.2)
    node._on_odometry(odom(-60.0, -5.8, 0.0, 2.0))
    lat0, lon0, alt0 = node.frame.to_geodetic(0.0, 0.0, 0.0)

    # objects in base_link (ground velocity in base_link axes): a pedestrian 10 m ahead, 0.2 m left, walking
    # to the left at 1 m/s
    arr = ObjectArray()
    arr.header.frame_id = "base_link"
    ped = Object(id=5, classification=Object.CLASS_PEDESTRIAN)
    ped.pose.pose.position.x, ped.pose.pose.position.y = 10.0, 0.2
    ped.velocity.twist.linear.y = 1.0
    ped.size.x = ped.size.y = 0.5
    ped.existence_confidence = 0.8
    bad = Object(id=6)
    bad.pose.pose.position.x = math.nan
    arr.objects = [ped, bad]
    node._on_objects(arr)
    (ob,) = node._objects[1]
    assert (ob.x, ob.y) == pytest.approx((-50.0, -5.6)) and (ob.vx, ob.vy) == pytest.approx((0.0, 1.0))
    assert ob.confidence == pytest.approx(0.8)  # the existence confidence, for the confidence gate
    assert node._bad.counts.get("object") == 1

    # RSM participant 10 m east of the site origin; RSI work zone at the origin + (-40, -5)
    rsm = Rsm()
    rsm.v2x.sender_id = "rsu1"
    rsm.reference_position.latitude, rsm.reference_position.longitude = lat0, lon0
    rsm.participants = [
        RsmParticipant(
            type=RsmParticipant.TYPE_PEDESTRIAN,
            ptc_id=3,
            position=Point(x=10.0, y=0.0),
            speed=1.0,
            heading=math.pi / 2,
            length=0.5,
            width=0.5,
        ),
        RsmParticipant(type=RsmParticipant.TYPE_MOTOR, ptc_id=4, position=Point(x=math.nan, y=0.0)),
    ]
    node._on_rsm(rsm)
    (p,) = node._rsm["rsu1"][1]
    assert p.kind == bh.CLASS_PEDESTRIAN and (p.x, p.y) == pytest.approx((10.0, 0.0), abs=0.01)
    assert (p.vx, p.vy) == pytest.approx((0.0, 1.0), abs=1e-6) and p.source == 4
    assert node._bad.counts.get("rsm_participant") == 1
    rsi = Rsi()
    rsi.v2x.sender_id = "rsu1"
    rsi.reference_position.latitude, rsi.reference_position.longitude = lat0, lon0
    rsi.events = [RsiEvent(rte_id=1, event_type=401, position=Point(x=-40.0, y=-5.0), radius=5.0)]
    node._on_rsi(rsi)
    (z,) = node._rsi["rsu1"][1]
    assert (z.x, z.y) == pytest.approx((-40.0, -5.0), abs=0.01) and z.type_code == 401

    # emergency BSM 30 m behind
    bsm = Bsm(
        emergency_vehicle=True,
        siren_in_use=2,
        lights_in_use=2,
        speed=12.0,
        heading=0.0,
        length=6.0,
        width=2.2,
    )
    bsm.v2x.sender_id = "ab12"
    bsm.position.latitude, bsm.position.longitude, _ = node.frame.to_geodetic(-90.0, -5.8, alt0)
    node._on_bsm(bsm)
    assert "ab12" in node._evs and node._bsm["ab12"][1].kind == bh.CLASS_EMERGENCY
    bsm_bad = Bsm()
    bsm_bad.position.latitude = math.nan
    node._on_bsm(bsm_bad)
    assert node._bad.counts.get("bsm_position") == 1

    # SPAT: phase 1 red for 20 s
    spat = Spat()
    ix = SpatIntersection(node_id=101)
    ix.phases = [
        SpatPhase(
            phase_id=1,
            states=[
                SpatPhaseState(
                    light=SpatPhaseState.LIGHT_RED,
                    start_time=0.0,
                    min_end_time=20.0,
                    max_end_time=20.0,
                    likely_end_time=20.0,
                )
            ],
        )
    ]
    spat.intersections = [ix]
    node._on_spat(spat)
    sig = node._signals[(101, 1)][1]
    assert sig.current == SpatPhaseState.LIGHT_RED

    # one planning cycle with all of it: the pedestrian ahead stops the vehicle, advisories out
    node._tick()
    plan = node._last_plan
    assert plan is not None and plan.behaviour == bh.B_YIELD_EMERGENCY
    types = {a.type for a in plan.advisories}
    assert bh.EVW in types and bh.WORK_ZONE in types
    assert plan.velocity[-1] == 0.0


def test_planner_services_and_bad_parameters(nodes: Any) -> None:
    from roadedge_nodes.planner import PlannerNode

    node = nodes(PlannerNode)
    req = StartSweepTask.Request()
    req.task.task_id = "s"
    req.task.segments = [CurbSegment(segment_id="a", lanelet_id=2302, side=0, start_s=0.0, end_s=math.nan)]
    req.task.curb_offset, req.task.max_speed = 0.2, 2.0
    resp = node._on_start(req, StartSweepTask.Response())
    assert resp.accepted, resp.message
    req.task.max_speed = -1.0
    assert not node._on_start(req, StartSweepTask.Response()).accepted
    assert not node._on_cancel(CancelTask.Request(task_id="other"), CancelTask.Response()).success
    assert node._on_cancel(CancelTask.Request(task_id="s"), CancelTask.Response()).success
    with pytest.raises(ConfigError, match="task_path"):
        nodes(PlannerNode, task_kind="route", task_path=[1.0, 2.0, 3.0])
    with pytest.raises(ConfigError, match="site"):
        nodes(PlannerNode, site="nowhere")
    with pytest.raises(ConfigError, match="min_object_confidence"):
        nodes(PlannerNode, min_object_confidence=1.5)
    gated = nodes(PlannerNode, min_object_confidence=0.7, object_persistence=1.0)
    assert gated.core.params.object_gate == bh.ObjectGateParams(0.7, 1.0)


def test_controller_reads_serialized_trajectories_and_drops_bad_bytes(nodes: Any) -> None:
    """The controller's raw subscription: little-endian CDR read by trajectory_wire, other
    encapsulations through rclpy, garbage counted and dropped."""
    from rclpy.serialization import serialize_message
    from roadedge_nodes.controller import ControllerNode

    node = nodes(ControllerNode, status_timeout=0.0)
    traj = Trajectory()
    traj.behaviour = Trajectory.BEHAVIOUR_CURB_FOLLOW
    for x, v in [(0.0, 2.0), (5.0, 2.5), (10.0, 3.0)]:
        pt = TrajectoryPoint()
        pt.pose.position.x, pt.pose.position.y, pt.velocity, pt.curvature = x, 1.0, v, math.nan
        traj.points.append(pt)
    data = bytes(serialize_message(traj))
    node._on_trajectory(data)
    ref = node.core.reference
    assert ref is not None and ref.behaviour == Trajectory.BEHAVIOUR_CURB_FOLLOW
    assert ref.velocity.tolist() == [2.0, 2.5, 3.0] and ref.path.x.tolist() == [0.0, 5.0, 10.0]
    node._on_trajectory(traj)  # a message object (a direct call) reads the same
    assert node.core.reference.velocity.tolist() == [2.0, 2.5, 3.0]
    for bad in (data[:30], b"", b"\x00\x00\x00\x00" + bytes(3), b"\xff" * 40):
        node._on_trajectory(bad)
    assert node._bad.counts.get("trajectory") == 4
    assert node.core.reference.velocity.tolist() == [2.0, 2.5, 3.0]


def test_controller_drops_bad_trajectories_and_stops_on_stale_odometry(nodes: Any) -> None:
    from roadedge_nodes.controller import ControllerNode

    node = nodes(ControllerNode, status_timeout=0.0)
    node._tick()
    assert node._last.reason == "no_odometry" and node._last.target_speed == 0.0
    traj = Trajectory()
    for x, v in [(0.0, 2.0), (10.0, math.nan)]:
        pt = TrajectoryPoint()
        pt.pose.position.x, pt.velocity = x, v
        traj.points.append(pt)
    node._on_trajectory(traj)
    assert node._bad.counts.get("trajectory") == 1 and node.core.reference is None
    traj.points[1].velocity = 2.0
    node._on_trajectory(traj)
    assert node.core.reference is not None
    node._on_odometry(odom(1.0, 0.0, 0.0, 1.0))
    node._tick()
    assert node._last.reason == "tracking" and node._last.target_speed > 0.0
    node._odom_time -= 1.0  # odometry one second old
    node._tick()
    assert node._last.reason.startswith("stale") and node._last.hazard_lights == 1
    node._on_odometry(odom(math.nan, 0.0))
    assert node._bad.counts.get("odometry") == 1
    health = node._health()
    assert "lateral_error_m" in health.values
