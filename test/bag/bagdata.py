"""Sample messages for bag tests: built with rclpy's generated classes, serialized by rclpy."""

from __future__ import annotations

from typing import Any

from builtin_interfaces.msg import Time
from nav_msgs.msg import Odometry
from rclpy.serialization import serialize_message
from roadedge_msgs.msg import Advisory, AdvisoryArray, Spat, SpatIntersection, SpatPhase, SpatPhaseState
from sensor_msgs.msg import NavSatFix
from std_msgs.msg import Float32, String

TOPICS = {
    "/chatter": "std_msgs/msg/String",
    "/sensing/gnss/fix": "sensor_msgs/msg/NavSatFix",
    "/localization/odometry": "nav_msgs/msg/Odometry",
    "/v2x/rx/spat": "roadedge_msgs/msg/Spat",
    "/planning/advisories": "roadedge_msgs/msg/AdvisoryArray",
    "/control/target_speed": "std_msgs/msg/Float32",
}


def make(topic: str, i: int) -> Any:
    """The i-th message of a topic (deterministic content)."""
    if topic == "/chatter":
        return String(data=f"hello {i} \u4f60\u597d")
    if topic == "/sensing/gnss/fix":
        msg = NavSatFix()
        msg.header.stamp = Time(sec=100 + i, nanosec=5)
        msg.header.frame_id = "gnss"
        msg.latitude, msg.longitude, msg.altitude = 31.2304 + i * 1e-6, 121.4737, 4.0
        msg.position_covariance = [float(k) for k in range(9)]
        return msg
    if topic == "/localization/odometry":
        msg = Odometry()
        msg.header.frame_id = "map"
        msg.child_frame_id = "base_link"
        msg.pose.pose.position.x = 1.5 * i
        msg.twist.twist.linear.x = 2.5
        return msg
    if topic == "/v2x/rx/spat":
        state = SpatPhaseState(light=SpatPhaseState.LIGHT_RED, likely_end_time=float(i % 7))
        phase = SpatPhase(
            phase_id=1, states=[state, SpatPhaseState(light=SpatPhaseState.LIGHT_PROTECTED_GREEN)]
        )
        inter = SpatIntersection(node_id=101, phases=[phase])
        msg = Spat(name=f"spat{i}", intersections=[inter])
        msg.v2x.sender_id = "00000000000000aa"
        msg.v2x.msg_count = i % 128
        return msg
    if topic == "/planning/advisories":
        adv = Advisory(
            type=Advisory.TYPE_GLOSA, severity=1, target_id=str(i), recommended_speed=5.0, text=f"GLOSA {i}"
        )
        return AdvisoryArray(advisories=[adv] * (i % 3))
    if topic == "/control/target_speed":
        return Float32(data=0.25 * i)
    raise KeyError(topic)


def serialized(topic: str, i: int) -> bytes:
    return bytes(serialize_message(make(topic, i)))
