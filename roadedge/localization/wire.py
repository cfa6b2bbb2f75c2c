"""The localization node's outputs as CDR bytes: nav_msgs/Odometry, tf2_msgs/TFMessage, sensor_msgs/NavSatFix.

The node publishes odometry and /tf 50 times a second. Through the rosidl Python classes each cycle
builds some twenty message objects (Odometry, its header, stamp, pose, point, quaternion, twist, two
vectors, two covariance lists; two TransformStamped with theirs, the TFMessage), every field set through
a property, and the C serializer reads them all back: ~60 us a cycle. Here the frame names, which never
change, are written once into a template of the message's bytes and each cycle writes only the numbers
(``struct.pack_into`` at fixed offsets): the bytes rclpy would send (plain CDR, little endian, as Fast DDS
writes it; padding bytes are zero), so every subscriber, recorder and bag tool sees the usual messages.

The templates are :class:`roadedge.cdr.CdrTemplate` (the one place for roadedge's own CDR).
"""

from __future__ import annotations

from collections.abc import Sequence

from roadedge.cdr import POSE, STAMP, CdrTemplate, Const, Field

TRANSFORM = POSE  # geometry_msgs/Transform: translation x y z, rotation x y z w (the same layout)


def odometry_template(frame_id: str, child_frame_id: str) -> CdrTemplate:
    """nav_msgs/Odometry; values: sec, nanosec, pose (7), pose covariance (36), twist linear and angular
    (6), twist covariance (36)."""
    return CdrTemplate(
        (*STAMP, frame_id.encode(), child_frame_id.encode(), *POSE, *("d",) * 36, *("d",) * 6, *("d",) * 36)
    )


def tf_template(frames: Sequence[tuple[str, str]]) -> CdrTemplate:
    """tf2_msgs/TFMessage of these (parent, child) transforms; values per transform: sec, nanosec,
    translation (3), rotation (4)."""
    fields: list[Field] = [Const("I", len(frames))]
    for parent, child in frames:
        fields += [*STAMP, parent.encode(), child.encode(), *TRANSFORM]
    return CdrTemplate(fields)


def navsatfix_template(frame_id: str, service: int, covariance_type: int) -> CdrTemplate:
    """sensor_msgs/NavSatFix; values: sec, nanosec, status (int8), latitude, longitude, altitude,
    position covariance (9)."""
    return CdrTemplate(
        (
            *STAMP,
            frame_id.encode(),
            "b",
            Const("H", service),
            "d",
            "d",
            "d",
            *("d",) * 9,
            Const("B", covariance_type),
        )
    )
