"""Curb range sensor of the HIL rig: a side-looking range sensor (sensor_msgs/Range) over the map's curbs.

A curb sweeper carries an ultrasonic or single-beam lidar sensor on its right side, level with the
curb face, looking across at the curb. :class:`CurbRangeEmulator` is pure: given the true base_link
pose it casts the beam against the curb lines (the same map the vehicle uses, as on a surveyed site)
and returns the range with white noise; with ``clutter_probability`` an object between the sensor and
the curb (a parked car, leaves, a pedestrian's leg) returns a shorter range; where no curb is within
``max_range`` the range is +inf (REP-117: no echo). The ``curb_sensor`` node takes the pose from
hil/ground_truth and publishes sensing/curb/right/range at ``rate``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from nav_msgs.msg import Odometry
from sensor_msgs.msg import Range

from roadedge import topics
from roadedge.config import param
from roadedge.diagnostics import Health, Level
from roadedge.localization.curb import CurbLines, RangeMount, load_site_curbs
from roadedge.localization.geodesy import yaw_of_quaternion
from roadedge.ros.node import RoadedgeNode, make_main


@dataclass(frozen=True)
class CurbRangeModel:
    sigma: float = 0.02  # m, 1 sigma white noise of a return
    clutter_probability: float = 0.0  # per measurement: an object nearer than the curb
    dropout_probability: float = 0.0  # per measurement: no echo although a curb is there


class CurbRangeEmulator:
    def __init__(
        self, curbs: CurbLines, mount: RangeMount, model: CurbRangeModel | None = None, seed: int = 1
    ):
        self.curbs = curbs
        self.mount = mount
        self.model = model or CurbRangeModel()
        self.rng = random.Random(seed)
        self.measurements = 0
        self.echoes = 0

    def true_range(self, x: float, y: float, yaw: float) -> float:
        """Range along the beam to the nearest curb, +inf without one within max_range."""
        ox, oy, dx, dy = self.mount.ray(x, y, yaw)
        hit = self.curbs.raycast(ox, oy, dx, dy, self.mount.max_range)
        return math.inf if hit is None else hit.range

    def measure(self, x: float, y: float, yaw: float) -> float:
        """What the sensor reports for base_link at (x, y, yaw): m, or +inf (no echo)."""
        self.measurements += 1
        m, mount = self.model, self.mount
        r = self.true_range(x, y, yaw)
        if math.isfinite(r) and m.dropout_probability > 0 and self.rng.random() < m.dropout_probability:
            return math.inf
        if m.clutter_probability > 0 and self.rng.random() < m.clutter_probability:
            far = min(r, mount.max_range)
            r = self.rng.uniform(mount.min_range, far)
        if not math.isfinite(r):
            return math.inf
        r = max(mount.min_range, r + self.rng.gauss(0.0, m.sigma))
        self.echoes += 1
        return r


@dataclass(frozen=True)
class CurbSensorConfig:
    site: str = param(
        "demo_intersection", help="site of config/maps/sites.yaml whose road edges are the curbs"
    )
    sites_file: str = param("", help="sites file; empty = config/maps/sites.yaml of the package")
    frame_id: str = param("curb_range_right", help="frame of the sensor (localization's /tf_static)")
    mount: list[float] = param(
        [1.0, -1.0, -1.5707963], help="x y yaw of the sensor in base_link (m, m, rad; -pi/2 looks right)"
    )
    min_range: float = param(0.05, help="m", low=0.0)
    max_range: float = param(4.0, help="m", low=0.1)
    field_of_view: float = param(0.05, help="rad, beam width reported in the message", low=0.0)
    rate: float = param(20.0, help="measurements per second", low=0.5, high=200.0)
    sigma: float = param(0.02, help="m, 1 sigma noise", low=0.0)
    clutter_probability: float = param(
        0.0, help="probability of a return nearer than the curb", low=0.0, high=1.0
    )
    seed: int = param(1, help="noise seed")


class CurbSensorNode(RoadedgeNode[CurbSensorConfig]):
    Schema = CurbSensorConfig
    default_name = "curb_sensor"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = self.config
        if len(c.mount) != 3:
            from roadedge.config import ConfigError

            raise ConfigError("parameter 'mount' of node 'curb_sensor': needs x, y, yaw")
        self.emulator = CurbRangeEmulator(
            load_site_curbs(c.site, c.sites_file),
            RangeMount(c.mount[0], c.mount[1], c.mount[2], c.min_range, c.max_range),
            CurbRangeModel(c.sigma, c.clutter_probability),
            c.seed,
        )
        self._pose: tuple[float, float, float] | None = None
        self._pub = self.publisher(topics.CURB_RANGE)
        self.subscription(topics.GROUND_TRUTH, self._on_truth)
        self.create_timer(1.0 / c.rate, self._tick)
        self.health.add("emulator", self._health)

    def _on_truth(self, msg: Odometry) -> None:
        p = msg.pose.pose
        self._pose = (p.position.x, p.position.y, yaw_of_quaternion(p.orientation))

    def _tick(self) -> None:
        if self._pose is None:
            return
        c = self.config
        msg = Range()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = c.frame_id
        msg.radiation_type = Range.INFRARED
        msg.field_of_view = c.field_of_view
        msg.min_range = c.min_range
        msg.max_range = c.max_range
        msg.range = self.emulator.measure(*self._pose)
        self._pub.publish(msg)

    def _health(self) -> Health:
        e = self.emulator
        values = {
            "measurements": str(e.measurements),
            "echoes": str(e.echoes),
            "curb_segments": str(len(e.curbs)),
        }
        if self._pose is None:
            return Health(Level.WARN, "no ground truth yet", values)
        return Health(Level.OK, "emulating", values)


NODE = CurbSensorNode
main = make_main(NODE)
