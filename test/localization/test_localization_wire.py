"""The localization outputs written as CDR bytes (roadedge.localization.wire) are the messages the rosidl
classes and rclpy's serializer make: byte for byte apart from alignment padding, and field for field
through rclpy's deserializer; the node publishes what it published through the rosidl classes before."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from geometry_msgs.msg import Quaternion, TransformStamped
from nav_msgs.msg import Odometry
from rclpy.parameter import Parameter
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import NavSatFix, NavSatStatus
from tf2_msgs.msg import TFMessage

from roadedge.localization import wire
from roadedge.localization.ekf import FilterState


def same_bytes(ours: bytes, msg: Any, template: wire.CdrTemplate) -> None:
    ref = bytes(serialize_message(msg))
    assert len(ours) == len(ref)
    pad = set(template.padding)
    differ = [i for i, (a, b) in enumerate(zip(ours, ref, strict=True)) if a != b and i not in pad]
    assert not differ, f"bytes differ at {differ[:10]}"
    assert all(ours[i] == 0 for i in pad)
    assert deserialize_message(ours, type(msg)) == msg


def test_odometry_bytes_are_rclpys() -> None:
    rng = np.random.default_rng(1)
    for frame, child in (("map", "base_link"), ("odom", "b"), ("", "base_footprint_long_name")):
        t = wire.odometry_template(frame, child)
        v = rng.normal(size=85).tolist()
        msg = Odometry()
        msg.header.stamp.sec, msg.header.stamp.nanosec = 1_795_000_000, 999_999_999
        msg.header.frame_id, msg.child_frame_id = frame, child
        p = msg.pose.pose
        p.position.x, p.position.y, p.position.z = v[0:3]
        p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w = v[3:7]
        msg.pose.covariance = v[7:43]
        w = msg.twist.twist
        w.linear.x, w.linear.y, w.linear.z, w.angular.x, w.angular.y, w.angular.z = v[43:49]
        msg.twist.covariance = v[49:85]
        same_bytes(t.pack(1_795_000_000, 999_999_999, *v), msg, t)


def test_tf_and_navsatfix_bytes_are_rclpys() -> None:
    frames = [("map", "odom"), ("odom", "base_link"), ("base_link", "x")]
    t = wire.tf_template(frames)
    values: list[float | int] = []
    transforms = []
    for k, (parent, child) in enumerate(frames):
        tf = TransformStamped()
        tf.header.stamp.sec, tf.header.stamp.nanosec = k - 1, 20_000_000 * k
        tf.header.frame_id, tf.child_frame_id = parent, child
        tr, q = tf.transform.translation, tf.transform.rotation
        tr.x, tr.y, tr.z, q.x, q.y, q.z, q.w = (0.1 * k, -3.0, 2.5e6, 0.0, 0.0, math.sin(k), math.cos(k))
        transforms.append(tf)
        values += [k - 1, 20_000_000 * k, tr.x, tr.y, tr.z, q.x, q.y, q.z, q.w]
    same_bytes(t.pack(*values), TFMessage(transforms=transforms), t)

    for status in (NavSatStatus.STATUS_FIX, NavSatStatus.STATUS_NO_FIX):
        g = wire.navsatfix_template("base_link", NavSatStatus.SERVICE_GPS, 3)
        fix = NavSatFix()
        fix.header.stamp.sec, fix.header.frame_id = 7, "base_link"
        fix.status = NavSatStatus(status=status, service=NavSatStatus.SERVICE_GPS)
        fix.latitude, fix.longitude, fix.altitude = 31.2304, 121.4737, -4.5
        fix.position_covariance = [float(i) / 7 for i in range(9)]
        fix.position_covariance_type = 3
        ours = g.pack(7, 0, status, 31.2304, 121.4737, -4.5, *[float(i) / 7 for i in range(9)])
        same_bytes(ours, fix, g)


def test_template_rejects_bad_use() -> None:
    t = wire.odometry_template("map", "base_link")
    with pytest.raises(ValueError):
        t.pack(1, 2, 3.0)
    with pytest.raises(ValueError):
        wire.CdrTemplate(("q",))


def _yaw_quaternion(yaw: float) -> Quaternion:
    return Quaternion(x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2))


def reference_outputs(node: Any, stamp: Any) -> tuple[Odometry, TFMessage, NavSatFix]:
    """The node's outputs as it built them through the rosidl classes before the CDR templates."""
    ekf = node.ekf
    x = ekf.x
    odom = Odometry()
    odom.header.stamp = stamp
    odom.header.frame_id = "map"
    odom.child_frame_id = "base_link"
    odom.pose.pose.position.x, odom.pose.pose.position.y = float(x[0]), float(x[1])
    odom.pose.pose.position.z = float(ekf.z)
    odom.pose.pose.orientation = _yaw_quaternion(float(x[2]))
    pc = np.zeros((6, 6))
    idx = [0, 1, 5]
    pc[np.ix_(idx, idx)] = ekf.P[np.ix_([0, 1, 2], [0, 1, 2])]
    pc[2, 2] = ekf.z_var
    pc[3, 3] = pc[4, 4] = 0.01
    odom.pose.covariance = [float(v) for v in pc.flatten()]
    odom.twist.twist.linear.x = float(x[3])
    odom.twist.twist.angular.z = float(x[4])
    tc = np.zeros((6, 6))
    tc[0, 0], tc[5, 5] = ekf.P[3, 3], ekf.P[4, 4]
    tc[1, 1] = tc[2, 2] = tc[3, 3] = tc[4, 4] = 0.01
    odom.twist.covariance = [float(v) for v in tc.flatten()]
    mx, my, myaw = ekf.map_to_odom()
    ox, oy, oyaw = ekf.odom
    tf = TFMessage(
        transforms=[
            node._transform("map", "odom", stamp, mx, my, 0.0, _yaw_quaternion(myaw)),
            node._transform(
                "odom", "base_link", stamp, float(ox), float(oy), float(ekf.z), _yaw_quaternion(float(oyaw))
            ),
        ]
    )
    lat, lon, h = node.frame.to_geodetic(float(ekf.x[0]), float(ekf.x[1]), float(ekf.z))
    fix = NavSatFix()
    fix.header.stamp = stamp
    fix.header.frame_id = "base_link"
    tracking = ekf.state() == FilterState.TRACKING
    fix.status = NavSatStatus(
        status=NavSatStatus.STATUS_FIX if tracking else NavSatStatus.STATUS_NO_FIX,
        service=NavSatStatus.SERVICE_GPS,
    )
    fix.latitude, fix.longitude, fix.altitude = lat, lon, h
    cov = np.zeros((3, 3))
    cov[:2, :2] = ekf.P[:2, :2]
    cov[2, 2] = ekf.z_var
    fix.position_covariance = [float(v) for v in cov.flatten()]
    fix.position_covariance_type = NavSatFix.COVARIANCE_TYPE_KNOWN
    return odom, tf, fix


def test_node_publishes_what_the_rosidl_classes_built(ros: Any) -> None:
    """Odometry, /tf and the geodetic pose of the node, from a filter state with every covariance entry
    set, equal the messages the node built field by field before (the stamp aside: read once per output);
    without a subscriber the geodetic pose is not computed."""
    from nodes.localization import LocalizationNode

    node = LocalizationNode(context=ros.context, parameter_overrides=[Parameter("use_imu", value=False)])
    try:
        out: dict[str, list[bytes]] = {"odom": [], "tf": [], "geo": []}
        node._odom_pub.publish = out["odom"].append
        node._tf_pub.publish = out["tf"].append
        node._geo_pub.publish = out["geo"].append
        ekf = node.ekf
        t = node.now_s()
        ekf.reset_to_pose(t, 12.5, -7.25, 2.9, None, 0.4)
        ekf.update_speed(t, 3.2, standing_still=False)
        rng = np.random.default_rng(3)
        a = rng.normal(size=(ekf.P.shape[0],) * 2)
        ekf.P = a @ a.T + np.eye(ekf.P.shape[0])  # every entry nonzero and distinct
        ekf.x[3], ekf.x[4] = 3.2, -0.05
        ekf.odom[:] = (40.0, -3.0, 1.1)
        ekf.z_var = 0.37
        for tracking in (True, False):
            ekf.t = node.now_s() + 10.0  # predict() leaves the state alone (a step back in time)
            ekf.last_gnss_time = ekf.t if tracking else None
            node._publish()
            node._geo_pub.get_subscription_count = lambda: 0
            node._publish_geodetic()
            assert not out["geo"]
            node._geo_pub.get_subscription_count = lambda: 1
            node._publish_geodetic()
            odom = deserialize_message(out["odom"].pop(), Odometry)
            tf = deserialize_message(out["tf"].pop(), TFMessage)
            fix = deserialize_message(out["geo"].pop(), NavSatFix)
            assert odom.header.stamp.sec > 0
            for msg, want in zip((odom, tf, fix), reference_outputs(node, odom.header.stamp), strict=True):
                if isinstance(msg, NavSatFix):
                    msg.header.stamp = odom.header.stamp
                assert msg == want
            assert fix.status.status == (NavSatStatus.STATUS_FIX if tracking else NavSatStatus.STATUS_NO_FIX)
    finally:
        node.destroy_node()
