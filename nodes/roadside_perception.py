"""Roadside perception: several intersection cameras -> one tracker in the site ENU frame ->
perception/objects (frame "site") and RSM participants (max 16, riskiest first) on v2x/tx/rsm for the
RSU node. Cameras and the site come from a YAML file (config/perception/<site>_cameras.yaml).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from roadedge_msgs.msg import ObjectArray, Rsm, RsmParticipant
from roadedge_nodes.perception import (
    estimate_to_msg,
    find_model_card,
    from_time,
    intrinsics_from_msg,
    load_detector,
    to_time,
)
from sensor_msgs.msg import CameraInfo, Image

from roadedge import topics
from roadedge.config import ConfigError, load_yaml, param
from roadedge.diagnostics import EventCounter, Health, Level
from roadedge.localization.geodesy import GeodeticOrigin
from roadedge.perception.detector import Detector, ModelCardError
from roadedge.perception.fusion import MAX_PARTICIPANTS, to_participants
from roadedge.perception.geometry import GeometryError, PinholeCamera, camera_from_config
from roadedge.perception.images import ImageError, to_bgr
from roadedge.perception.pipeline import CameraTracker
from roadedge.perception.tracking import Tracker, TrackerConfig
from roadedge.ros.node import RoadedgeNode, make_main

__all__ = ["RoadsidePerception", "find_model_card"]


@dataclass(frozen=True)
class RoadsidePerceptionConfig:
    cameras_file: str = param("config/perception/site_demo_cameras.yaml", help="site origin and cameras YAML")
    model: str = param("models/roadedge_det.yaml", help="model card")
    providers: list[str] = param(["CPUExecutionProvider"], help="onnxruntime execution providers")
    threads: int = param(1, help="onnxruntime intra-op threads", low=0, high=64)
    score_threshold: float = param(0.0, help="0 = the model card's", low=0.0, high=1.0)
    rsm_rate: float = param(10.0, help="Hz of RSM hand-over to the RSU node", low=0.1, high=50.0)
    max_participants: int = param(16, help="per RSM (CSAE limit 16)", low=1, high=16)
    confirm_hits: int = param(3, help="updates before a track is published", low=1, high=20)
    max_lost: float = param(1.0, help="s a track survives without updates", low=0.0)
    max_range: float = param(80.0, help="m from a camera", low=1.0)
    rsu_id: str = param("", help="sender id for the RSM header (the V2X node may override)")


@dataclass(frozen=True)
class Site:
    origin: GeodeticOrigin
    conflict_point: tuple[float, float]
    cameras: tuple[tuple[PinholeCamera, str], ...]  # camera, topic prefix


def load_site(path: str) -> Site:
    try:
        raw = load_yaml(find_model_card(path))
    except ModelCardError as err:
        raise ConfigError(str(err)) from err
    try:
        o = raw["site"]["origin"]
        origin = GeodeticOrigin(float(o["latitude"]), float(o["longitude"]), float(o.get("elevation", 0.0)))
        cp = raw["site"].get("conflict_point", [0.0, 0.0])
        cams = []
        for c in raw["cameras"]:
            cam = camera_from_config(c)
            cams.append((cam, str(c.get("topic", f"sensing/camera/{cam.name}"))))
    except (KeyError, TypeError, ValueError, GeometryError) as err:
        raise ConfigError(f"{path}: bad site/cameras file: {err!r}") from err
    if not cams:
        raise ConfigError(f"{path}: no cameras")
    return Site(origin, (float(cp[0]), float(cp[1])), tuple(cams))


class RoadsidePerception(RoadedgeNode[RoadsidePerceptionConfig]):
    Schema = RoadsidePerceptionConfig
    default_name = "roadside_perception"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = self.config
        self.events = EventCounter()
        self.site = load_site(c.cameras_file)
        self.detector: Detector | None = None
        try:
            self.detector = load_detector(c.model, c.providers, c.threads, c.score_threshold)
        except (ModelCardError, OSError, RuntimeError, ValueError) as err:
            self._event("model_load_failed", str(err))
        self.tracker = Tracker(TrackerConfig(confirm_hits=c.confirm_hits, max_lost_s=c.max_lost))
        self.pipeline = CameraTracker(
            self.detector, [cam for cam, _ in self.site.cameras], self.tracker, max_range=c.max_range
        )
        self.frames: dict[str, int] = {cam.name: 0 for cam, _ in self.site.cameras}
        self.msg_count = 0
        self.latency_ms = 0.0
        self.objects_pub = self.publisher(topics.OBJECTS)
        self.rsm_pub = self.publisher(topics.V2X_TX_RSM)
        for cam, prefix in self.site.cameras:
            image_topic = topics.Topic(
                f"{prefix}/image_raw", "sensor_msgs/msg/Image", "sensor", "camera -> here"
            )
            info_topic = topics.Topic(f"{prefix}/camera_info", "sensor_msgs/msg/CameraInfo", "sensor", "")
            self.subscription(image_topic, lambda m, n=cam.name: self._on_image(n, m))
            self.subscription(info_topic, lambda m, n=cam.name: self._on_info(n, m))
        self.create_timer(1.0 / c.rsm_rate, self._publish_rsm)
        self.health.add("roadside_perception", self._health)

    def _event(self, kind: str, detail: str = "") -> None:
        text = self.events.record(kind, detail)
        if text:
            self.get_logger().warning(text)

    def _on_info(self, name: str, msg: CameraInfo) -> None:
        try:
            intr = intrinsics_from_msg(msg)
        except GeometryError as err:
            self._event("bad_camera_info", f"{name}: {err}")
            return
        cam = self.pipeline.cameras[name]
        if cam.intrinsics != intr:
            self.pipeline.cameras[name] = PinholeCamera(intr, cam.extrinsics, name)

    def _on_image(self, name: str, msg: Image) -> None:
        t0 = time.perf_counter()
        if self.detector is None:
            self._event("no_model", "image dropped: no detector loaded")
            return
        try:
            image = to_bgr(msg.data, msg.width, msg.height, msg.encoding, msg.step)
        except ImageError as err:
            self._event("bad_image", f"{name}: {err}")
            return
        intr = self.pipeline.cameras[name].intrinsics
        if (image.shape[1], image.shape[0]) != (intr.width, intr.height):
            self._event("size_mismatch", f"{name}: image {image.shape[1]}x{image.shape[0]} vs calibration")
            return
        stamp = from_time(msg.header.stamp) or self.now_s()
        try:
            ms = self.pipeline.measure(name, image, stamp)
        except (RuntimeError, ValueError) as err:
            self._event("inference_failed", str(err))
            return
        self.pipeline.update(stamp, ms, name)
        self.frames[name] += 1
        out = ObjectArray()
        out.header.stamp = msg.header.stamp
        out.header.frame_id = "site"
        out.objects = [estimate_to_msg(o) for o in self.tracker.estimates()]
        self.objects_pub.publish(out)
        self.latency_ms = (time.perf_counter() - t0) * 1000.0

    def build_rsm(self, now: float) -> Rsm:
        parts = to_participants(
            self.tracker.estimates(),
            now,
            (0.0, 0.0),
            min(self.config.max_participants, MAX_PARTICIPANTS),
            self.site.conflict_point,
        )
        msg = Rsm()
        msg.v2x.header.stamp = to_time(now)
        msg.v2x.header.frame_id = "wgs84"
        msg.v2x.sender_id = self.config.rsu_id
        msg.v2x.msg_count = self.msg_count % 128
        o = self.site.origin
        msg.reference_position.latitude = o.latitude
        msg.reference_position.longitude = o.longitude
        msg.reference_position.elevation = o.altitude
        for p in parts:
            m = RsmParticipant()
            m.type, m.ptc_id, m.source = p.type, p.ptc_id, p.source
            m.measurement_time = to_time(p.measurement_time)
            m.position.x, m.position.y, m.position.z = p.x, p.y, p.z
            m.position_accuracy = p.position_accuracy
            m.speed = p.speed
            m.heading = p.heading if math.isfinite(p.heading) else math.nan
            m.acceleration_longitudinal = m.yaw_rate = math.nan
            m.length, m.width, m.height = p.length, p.width, p.height
            msg.participants.append(m)
        return msg

    def _publish_rsm(self) -> None:
        now = self.now_s()
        msg = self.build_rsm(self.tracker.stamp if self.tracker.stamp is not None else now)
        if msg.participants:  # CSAE: SIZE(1..16)
            self.rsm_pub.publish(msg)
            self.msg_count += 1

    def _health(self) -> Health:
        values = {f"frames_{k}": str(v) for k, v in self.frames.items()}
        values.update(
            tracks=str(len(self.tracker.tracks)),
            rsm_sent=str(self.msg_count),
            latency_ms=f"{self.latency_ms:.1f}",
            **self.events.values(),
        )
        if self.detector is None:
            return Health(Level.ERROR, "no detector model loaded", values)
        return Health(Level.OK, "running", values)


NODE = RoadsidePerception
main = make_main(NODE)
