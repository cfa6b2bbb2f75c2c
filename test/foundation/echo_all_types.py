"""Second process of the interface round trip: echoes every message, answers every service."""

from __future__ import annotations

import contextlib
import sys

import rclpy
import roadedge_msgs.msg
import roadedge_msgs.srv
from message_filler import fill
from rclpy.executors import ExternalShutdownException
from rclpy.qos import QoSProfile, ReliabilityPolicy

QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def message_types() -> list[type]:
    return [
        getattr(roadedge_msgs.msg, n)
        for n in dir(roadedge_msgs.msg)
        if n[0].isupper() and not n.startswith("_")
    ]


def service_types() -> list[type]:
    return [
        getattr(roadedge_msgs.srv, n)
        for n in dir(roadedge_msgs.srv)
        if n[0].isupper() and not n.endswith(("_Request", "_Response", "_Event"))
    ]


def main() -> None:
    rclpy.init(args=sys.argv)
    node = rclpy.create_node("echo_all_types")
    keep = []
    for msg_type in message_types():
        pub = node.create_publisher(msg_type, f"echo_out/{msg_type.__name__}", QOS)
        keep.append(pub)
        keep.append(node.create_subscription(msg_type, f"echo_in/{msg_type.__name__}", pub.publish, QOS))
    for srv_type in service_types():
        keep.append(
            node.create_service(srv_type, f"echo_srv/{srv_type.__name__}", lambda req, resp: fill(resp, 11))
        )
    with contextlib.suppress(KeyboardInterrupt, ExternalShutdownException):
        rclpy.spin(node)


if __name__ == "__main__":
    main()
