"""The scenario's world on the rig: other road users moving on their trajectories, published
as ground truth (``hil/actors``, map frame) for the sensor emulators (camera renderer,
roadside camera, object sensors) and the scenario monitor. Follows the node clock (sim time).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from roadedge_msgs.msg import Bsm, Object, ObjectArray, ObjectSource

from roadedge import topics
from roadedge.config import param
from roadedge.localization.geodesy import GeodeticOrigin, MapFrame
from roadedge.ros.node import RoadedgeNode, make_main
from roadedge.ros.qos import qos_for
from roadedge.scenario.schema import Actor, Scenario, load_scenario

ACTOR_CLASSES = {
    "pedestrian": Object.CLASS_PEDESTRIAN,
    "cyclist": Object.CLASS_CYCLIST,
    "vehicle": Object.CLASS_VEHICLE,
    "emergency_vehicle": Object.CLASS_EMERGENCY_VEHICLE,
    "obstacle": Object.CLASS_OBSTACLE,
}
ACTOR_HEIGHTS = {
    "pedestrian": 1.75,
    "cyclist": 1.7,
    "vehicle": 1.5,
    "emergency_vehicle": 2.4,
    "obstacle": 0.6,
}


@dataclass(frozen=True)
class ScenarioWorldConfig:
    scenario: str = param(help="scenario YAML file")
    rate: float = param(20.0, help="ground-truth rate, Hz", low=1.0, high=200.0)
    epoch: float = param(0.0, help="unix time of scenario t = 0 (the sim clock's start)", low=0.0)
    bsm_rate: float = param(10.0, help="BSM rate of actors with an on-board unit, Hz", low=0.1, high=20.0)
    origin_latitude: float = param(0.0, help="deg, geodetic origin of the map frame (actors' BSMs)")
    origin_longitude: float = param(0.0, help="deg")
    origin_altitude: float = param(0.0, help="m")


def actor_object(actor: Actor, index: int, state: tuple[float, float, float, float]) -> Object:
    x, y, heading, speed = state
    obj = Object()
    obj.id = index + 1
    obj.classification = ACTOR_CLASSES[actor.kind]
    obj.class_confidence = 1.0
    obj.existence_confidence = 1.0
    obj.pose.pose.position.x = x
    obj.pose.pose.position.y = y
    obj.pose.pose.position.z = ACTOR_HEIGHTS[actor.kind] / 2
    obj.pose.pose.orientation.z = math.sin(heading / 2)
    obj.pose.pose.orientation.w = math.cos(heading / 2)
    obj.size.x, obj.size.y, obj.size.z = actor.length, actor.width, ACTOR_HEIGHTS[actor.kind]
    obj.velocity.twist.linear.x = speed * math.cos(heading)
    obj.velocity.twist.linear.y = speed * math.sin(heading)
    obj.tracked = True
    obj.sources = [ObjectSource(type=ObjectSource.SIMULATION, sensor_id=actor.id)]
    return obj


def actor_namespace(actor_id: str) -> str:
    return f"actors/{actor_id}"


def actor_station_id(actor_id: str) -> str:
    """A stable 8-byte temporary id (hex) for an actor's OBU."""
    return hashlib.sha256(actor_id.encode()).hexdigest()[:16]


def actor_bsm(actor: Actor, state: tuple[float, float, float, float], frame: MapFrame, stamp: Any) -> Bsm:
    x, y, heading, speed = state
    lat, lon, h = frame.to_geodetic(x, y, 0.0)
    bsm = Bsm()
    bsm.v2x.header.stamp = stamp
    bsm.v2x.sender_id = actor_station_id(actor.id)
    bsm.position.latitude, bsm.position.longitude, bsm.position.elevation = lat, lon, h
    bsm.position_semi_major = bsm.position_semi_minor = bsm.position_orientation = math.nan
    bsm.transmission = Bsm.TRANSMISSION_FORWARD
    bsm.speed, bsm.heading = speed, heading
    bsm.steering_wheel_angle = math.nan
    bsm.acceleration_longitudinal = bsm.acceleration_lateral = bsm.acceleration_vertical = math.nan
    bsm.yaw_rate = math.nan
    bsm.length, bsm.width, bsm.height = actor.length, actor.width, ACTOR_HEIGHTS[actor.kind]
    bsm.vehicle_class = 10
    emergency = actor.kind == "emergency_vehicle"
    bsm.emergency_vehicle = emergency
    bsm.siren_in_use = 2 if emergency and actor.siren else 1
    bsm.lights_in_use = 2 if emergency and actor.siren else 1
    return bsm


class ScenarioWorld(RoadedgeNode[ScenarioWorldConfig]):
    Schema = ScenarioWorldConfig
    default_name = "scenario_world"

    def __init__(self, scenario: Scenario | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario or load_scenario(self.config.scenario)
        self._pub = self.publisher(topics.HIL_ACTORS)
        self.create_timer(1.0 / self.config.rate, self._publish)
        # Actors with an on-board unit hand their BSM to their own OBU node (namespace actors/<id>).
        self._bsm_pubs = {
            actor.id: self.create_publisher(
                Bsm, f"/{actor_namespace(actor.id)}/{topics.V2X_TX_BSM.name}", qos_for(topics.V2X_TX_BSM)
            )
            for actor in self.scenario.actors
            if actor.v2x
        }
        if self._bsm_pubs:
            c = self.config
            self._frame = MapFrame(GeodeticOrigin(c.origin_latitude, c.origin_longitude, c.origin_altitude))
            self.create_timer(1.0 / c.bsm_rate, self._publish_bsms)

    def objects_at(self, t: float) -> ObjectArray:
        msg = ObjectArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = "map"
        for index, actor in enumerate(self.scenario.actors):
            state = actor.state_at(t)
            if state is not None:
                msg.objects.append(actor_object(actor, index, state))
        return msg

    def _publish_bsms(self) -> None:
        t = self.now_s() - self.config.epoch
        for actor in self.scenario.actors:
            state = actor.state_at(t) if actor.v2x else None
            if state is not None:
                self._bsm_pubs[actor.id].publish(
                    actor_bsm(actor, state, self._frame, self.get_clock().now().to_msg())
                )

    def _publish(self) -> None:
        self._pub.publish(self.objects_at(self.now_s() - self.config.epoch))


NODE = ScenarioWorld
main = make_main(NODE)
