"""Roadside object-list sensor of the HIL rig: the intersection's roadside sensing (a lidar or
radar-video unit on the RSU pole) reporting the actors it sees as RSM participants for the
RSU node (``v2x/tx/rsm`` in the roadside namespace), ranked by distance, at most 16 (CSAE).

Its ground truth is the scenario world's ``/hil/actors``; actors hidden from the roadside are
named in ``ignore``. The camera pipeline (roadside_perception) is the alternative that
exercises the detector itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from roadedge_msgs.msg import GeoPoint, Object, ObjectArray, Rsm, RsmParticipant

from roadedge import topics
from roadedge.config import param
from roadedge.localization.geodesy import yaw_of_quaternion
from roadedge.ros.node import RoadedgeNode, make_main
from roadedge.ros.qos import qos_for

#: CSAE RSM limit of participants per message
MAX_PARTICIPANTS = 16
PARTICIPANT_TYPES = {
    Object.CLASS_PEDESTRIAN: RsmParticipant.TYPE_PEDESTRIAN,
    Object.CLASS_CYCLIST: RsmParticipant.TYPE_NON_MOTOR,
    Object.CLASS_VEHICLE: RsmParticipant.TYPE_MOTOR,
    Object.CLASS_EMERGENCY_VEHICLE: RsmParticipant.TYPE_MOTOR,
}


@dataclass(frozen=True)
class RoadsideSensorConfig:
    x: float = param(0.0, help="m, sensor position in the map frame")
    y: float = param(0.0, help="m")
    max_range: float = param(80.0, help="m", low=1.0)
    rate: float = param(10.0, help="RSM per second", low=0.5, high=50.0)
    origin_latitude: float = param(0.0, help="deg, map origin (the RSM's reference position)")
    origin_longitude: float = param(0.0, help="deg")
    origin_altitude: float = param(0.0, help="m")
    ignore: list[str] = param([], help="actor ids the roadside cannot see")


class RoadsideSensor(RoadedgeNode[RoadsideSensorConfig]):
    Schema = RoadsideSensorConfig
    default_name = "roadside_sensor"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._actors: ObjectArray | None = None
        self._pub = self.publisher(topics.V2X_TX_RSM)
        # the world's ground truth, from outside the roadside namespace
        self.create_subscription(
            ObjectArray, "/" + topics.HIL_ACTORS.name, self._on_actors, qos_for(topics.HIL_ACTORS)
        )
        self.create_timer(1.0 / self.config.rate, self._publish)

    def _on_actors(self, msg: ObjectArray) -> None:
        self._actors = msg

    def rsm(self, objects: list[Object]) -> Rsm:
        c = self.config
        msg = Rsm()
        msg.reference_position = GeoPoint(
            latitude=c.origin_latitude, longitude=c.origin_longitude, elevation=c.origin_altitude
        )
        seen = []
        for obj in objects:
            if obj.classification not in PARTICIPANT_TYPES or any(
                s.sensor_id in c.ignore for s in obj.sources
            ):
                continue
            p = obj.pose.pose.position
            distance = math.hypot(p.x - c.x, p.y - c.y)
            if distance <= c.max_range:
                seen.append((distance, obj))
        stamp = self.get_clock().now().to_msg()
        for _, obj in sorted(seen, key=lambda item: item[0])[:MAX_PARTICIPANTS]:
            p, v = obj.pose.pose.position, obj.velocity.twist.linear
            participant = RsmParticipant()
            participant.type = PARTICIPANT_TYPES[obj.classification]
            participant.ptc_id = obj.id
            participant.source = RsmParticipant.SOURCE_LIDAR
            participant.measurement_time = stamp
            participant.position.x, participant.position.y = p.x, p.y  # the origin is the reference position
            participant.position_accuracy = 0.2
            participant.speed = math.hypot(v.x, v.y)
            participant.heading = yaw_of_quaternion(obj.pose.pose.orientation)
            participant.acceleration_longitudinal = participant.yaw_rate = math.nan
            participant.length, participant.width, participant.height = obj.size.x, obj.size.y, obj.size.z
            msg.participants.append(participant)
        return msg

    def _publish(self) -> None:
        if self._actors is not None:
            msg = self.rsm(list(self._actors.objects))
            if msg.participants:  # an RSM carries 1..16 participants: nothing seen, nothing sent
                self._pub.publish(msg)


NODE = RoadsideSensor
main = make_main(NODE)
