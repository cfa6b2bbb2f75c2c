"""Object-list sensor of the HIL rig: a smart sensor (radar/lidar ECU) that reports the
scenario's actors it can see as an object list in base_link, with range-dependent noise.

Smart sensors on service vehicles send object lists rather than raw data; this emulator
gives the planner that input from the scenario's ground truth (hil/actors, hil/ground_truth)
within the sensor's range and field of view. The camera pipeline (hil/camera.py -> perception)
is the alternative when a scenario exercises the detector itself.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from nav_msgs.msg import Odometry
from roadedge_msgs.msg import Object, ObjectArray, ObjectSource

from roadedge import topics
from roadedge.config import param
from roadedge.localization.geodesy import yaw_of_quaternion
from roadedge.ros.node import RoadedgeNode, make_main


@dataclass(frozen=True)
class ObjectSensorConfig:
    sensor_id: str = param("front_radar", help="name in each object's sources")
    rate: float = param(10.0, help="object lists per second", low=0.5, high=100.0)
    mount_x: float = param(4.0, help="m, sensor position in base_link (front bumper)")
    max_range: float = param(60.0, help="m", low=1.0)
    half_fov: float = param(1.2, help="rad, half the horizontal field of view", low=0.05, high=math.pi)
    noise_at_10m: float = param(0.05, help="m, 1-sigma position noise at 10 m (grows linearly)", low=0.0)
    seed: int = param(0, help="noise seed")
    ignore: list[str] = param([], help="actor ids this sensor cannot see (e.g. hidden behind a bus)")


class ObjectSensor(RoadedgeNode[ObjectSensorConfig]):
    Schema = ObjectSensorConfig
    default_name = "object_sensor"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rng = random.Random(self.config.seed)
        self._pose: tuple[float, float, float] | None = None
        self._actors: ObjectArray | None = None
        self._pub = self.publisher(topics.OBJECTS)
        self.subscription(topics.GROUND_TRUTH, self._on_pose)
        self.subscription(topics.HIL_ACTORS, self._on_actors)
        self.create_timer(1.0 / self.config.rate, self._publish)

    def _on_pose(self, msg: Odometry) -> None:
        p = msg.pose.pose
        self._pose = (p.position.x, p.position.y, yaw_of_quaternion(p.orientation))

    def _on_actors(self, msg: ObjectArray) -> None:
        self._actors = msg

    def visible(self, obj: Object) -> Object | None:
        """The object as the sensor reports it in base_link, or None when out of view."""
        assert self._pose is not None
        c = self.config
        if any(s.sensor_id in c.ignore for s in obj.sources):
            return None
        x0, y0, yaw0 = self._pose
        dx, dy = obj.pose.pose.position.x - x0, obj.pose.pose.position.y - y0
        cos, sin = math.cos(yaw0), math.sin(yaw0)
        bx, by = cos * dx + sin * dy, -sin * dx + cos * dy  # base_link
        sx = bx - c.mount_x
        rng = math.hypot(sx, by)
        if rng > c.max_range or abs(math.atan2(by, sx)) > c.half_fov:
            return None
        sigma = c.noise_at_10m * max(rng, 1.0) / 10.0
        out = Object()
        out.id = obj.id
        out.classification = obj.classification
        out.class_confidence = 0.9
        out.existence_confidence = 0.95
        out.pose.pose.position.x = bx + self._rng.gauss(0.0, sigma)
        out.pose.pose.position.y = by + self._rng.gauss(0.0, sigma)
        out.pose.pose.position.z = obj.pose.pose.position.z
        rel_yaw = yaw_of_quaternion(obj.pose.pose.orientation) - yaw0
        out.pose.pose.orientation.z, out.pose.pose.orientation.w = (
            math.sin(rel_yaw / 2),
            math.cos(rel_yaw / 2),
        )
        for i in (0, 7):
            out.pose.covariance[i] = sigma * sigma
        out.size = obj.size
        vx, vy = obj.velocity.twist.linear.x, obj.velocity.twist.linear.y
        out.velocity.twist.linear.x = cos * vx + sin * vy
        out.velocity.twist.linear.y = -sin * vx + cos * vy
        out.tracked = True
        out.sources = [
            ObjectSource(
                type=ObjectSource.RADAR, sensor_id=c.sensor_id, stamp=self.get_clock().now().to_msg()
            )
        ]
        return out

    def _publish(self) -> None:
        if self._pose is None or self._actors is None:
            return
        msg = ObjectArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = "base_link"
        msg.objects = [o for o in (self.visible(obj) for obj in self._actors.objects) if o is not None]
        self._pub.publish(msg)


NODE = ObjectSensor
main = make_main(NODE)
