"""The scenario's world on the rig: other road users moving on their trajectories, published
as ground truth (``hil/actors``, map frame) for the sensor emulators (camera renderer,
roadside camera, object sensors) and the scenario monitor. Follows the node clock (sim time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from roadedge_msgs.msg import Object, ObjectArray, ObjectSource

from roadedge import topics
from roadedge.config import param
from roadedge.ros.node import RoadedgeNode, make_main
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


class ScenarioWorld(RoadedgeNode[ScenarioWorldConfig]):
    Schema = ScenarioWorldConfig
    default_name = "scenario_world"

    def __init__(self, scenario: Scenario | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario or load_scenario(self.config.scenario)
        self._pub = self.publisher(topics.HIL_ACTORS)
        self.create_timer(1.0 / self.config.rate, self._publish)

    def objects_at(self, t: float) -> ObjectArray:
        msg = ObjectArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = "map"
        for index, actor in enumerate(self.scenario.actors):
            state = actor.state_at(t)
            if state is not None:
                msg.objects.append(actor_object(actor, index, state))
        return msg

    def _publish(self) -> None:
        self._pub.publish(self.objects_at(self.now_s() - self.config.epoch))


NODE = ScenarioWorld
main = make_main(NODE)
