"""The one QoS table. Topics name a class (roadedge.topics); the class names a profile here."""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

from roadedge.topics import BY_NAME, Topic

PROFILES: dict[str, QoSProfile] = {
    # Camera, GNSS, IMU: newest sample matters, losing one is fine.
    "sensor": qos_profile_sensor_data,
    # Commands to actuators and planners: every message, newest few.
    "command": QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST),
    # State feedback: reliable so controllers see every sample at 50 Hz on the same host.
    "status": QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST),
    # Decoded V2X messages: reliable, with room for bursts from many senders.
    "v2x": QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST),
    # Maps and static configuration: late joiners get the last one.
    "latched": QoSProfile(
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
        history=HistoryPolicy.KEEP_LAST,
    ),
    "diagnostics": QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE),
    # Same as tf2_ros, so real tools interoperate.
    "tf": QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE),
    "tf_static": QoSProfile(
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    ),
    "clock": QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT),
}


def qos_for(topic: Topic | str) -> QoSProfile:
    """The profile of a topic of the topic map (by Topic or by name)."""
    entry = BY_NAME[topic] if isinstance(topic, str) else topic
    return PROFILES[entry.qos]
