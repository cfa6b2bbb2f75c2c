"""Vehicle camera perception: image + camera_info (+ RSM from the roadside) -> perception/objects.

The camera pipeline (ONNX detector -> ground plane -> tracker) lives in roadedge.perception; this node
wires topics. Tracking runs in the map frame (vehicle pose from localization/odometry; without
odometry the vehicle is taken to stand at the map origin), so roadside RSM participants fuse with the
camera's own tracks without duplicates; objects are published in base_link with all their sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from nav_msgs.msg import Odometry
from roadedge_msgs.msg import Object, ObjectArray, ObjectSource, Rsm
from sensor_msgs.msg import CameraInfo, Image

from roadedge import topics
from roadedge.config import param
from roadedge.diagnostics import EventCounter, Health, Level
from roadedge.localization.geodesy import GeodeticOrigin, MapFrame
from roadedge.perception.detector import Detector, ModelCardError, find_model_card
from roadedge.perception.fusion import Participant, participants_to_measurements
from roadedge.perception.geometry import Extrinsics, GeometryError, Intrinsics, PinholeCamera
from roadedge.perception.images import ImageError, to_bgr
from roadedge.perception.objects import CAMERA, LABELS, ROADSIDE_RSM, SIMULATION, ObjectEstimate
from roadedge.perception.pipeline import CameraTracker, Pose2D
from roadedge.perception.tracking import Tracker, TrackerConfig
from roadedge.ros.node import RoadedgeNode, make_main

CLASS_OF_LABEL = {label: i for i, label in enumerate(LABELS)}  # same order as Object.CLASS_*
SOURCE_TYPE = {
    CAMERA: ObjectSource.CAMERA,
    ROADSIDE_RSM: ObjectSource.ROADSIDE_RSM,
    SIMULATION: ObjectSource.SIMULATION,
}


@dataclass(frozen=True)
class PerceptionConfig:
    model: str = param("models/roadedge_det.yaml", help="model card (YAML next to the ONNX file)")
    providers: list[str] = param(["CPUExecutionProvider"], help="onnxruntime execution providers, in order")
    threads: int = param(1, help="onnxruntime intra-op threads", low=0, high=64)
    score_threshold: float = param(
        0.0, help="detection score threshold; 0 = the model card's", low=0.0, high=1.0
    )
    camera_name: str = param("front", help="sensor id in ObjectSource")
    mount_x: float = param(1.5, help="m, camera in base_link")
    mount_y: float = param(0.0, help="m, camera in base_link")
    mount_z: float = param(2.0, help="m, camera in base_link")
    mount_roll: float = param(0.0, help="rad")
    mount_pitch: float = param(0.087, help="rad, positive looks down")
    mount_yaw: float = param(0.0, help="rad")
    max_range: float = param(60.0, help="m, detections placed farther are dropped", low=1.0)
    confirm_hits: int = param(3, help="updates before a track is published", low=1, high=20)
    max_lost: float = param(1.0, help="s a confirmed track survives without updates", low=0.0)
    fuse_rsm: bool = param(True, help="fuse roadside RSM participants from v2x/rx/rsm")
    map_origin_latitude: float = param(
        31.2304, help="deg, WGS-84 origin of the map frame", low=-89.9, high=89.9
    )
    map_origin_longitude: float = param(121.4737, help="deg", low=-180.0, high=180.0)
    map_origin_altitude: float = param(4.0, help="m, ellipsoidal")
    frame_id: str = param("base_link", help="frame of the published objects")


def estimate_to_msg(o: ObjectEstimate, z: float = 0.0) -> Object:
    """An ObjectEstimate as roadedge_msgs/Object (pose centre at half height above z)."""
    m = Object()
    m.id = int(o.id) & 0xFFFFFFFF
    m.classification = CLASS_OF_LABEL.get(o.label, Object.CLASS_UNKNOWN)
    m.class_confidence = float(min(max(o.class_confidence, 0.0), 1.0))
    m.existence_confidence = float(min(max(o.existence, 0.0), 1.0))
    m.pose.pose.position.x = float(o.x)
    m.pose.pose.position.y = float(o.y)
    m.pose.pose.position.z = float(z + o.size[2] / 2)
    yaw = o.yaw if math.isfinite(o.yaw) else 0.0
    m.pose.pose.orientation.z = math.sin(yaw / 2)
    m.pose.pose.orientation.w = math.cos(yaw / 2)
    cov = np.zeros((6, 6))
    cov[:2, :2] = o.cov
    cov[2, 2] = 1.0
    cov[3, 3] = cov[4, 4] = 1e3
    cov[5, 5] = 1e3 if o.speed < 0.5 else 0.1
    m.pose.covariance = [float(v) for v in cov.ravel()]
    m.size.x, m.size.y, m.size.z = (float(v) for v in o.size)
    m.velocity.twist.linear.x = float(o.vx)
    m.velocity.twist.linear.y = float(o.vy)
    vcov = np.zeros((6, 6))
    vcov[:2, :2] = o.vel_cov
    vcov[2, 2] = vcov[3, 3] = vcov[4, 4] = vcov[5, 5] = 1e3
    m.velocity.covariance = [float(v) for v in vcov.ravel()]
    m.age = float(o.age)
    m.tracked = bool(o.tracked)
    for s in o.sources:
        src = ObjectSource()
        src.type = SOURCE_TYPE.get(s.kind, ObjectSource.CAMERA)
        src.sensor_id = s.sensor_id
        src.stamp = to_time(s.stamp)
        m.sources.append(src)
    return m


def to_time(t: float) -> Time:
    t = max(0.0, t) if math.isfinite(t) else 0.0
    sec = int(t)
    return Time(sec=sec, nanosec=min(int((t - sec) * 1e9), 999_999_999))


def from_time(t: Time) -> float:
    return float(t.sec) + float(t.nanosec) * 1e-9


def intrinsics_from_msg(info: CameraInfo) -> Intrinsics:
    return Intrinsics.from_camera_info(
        {
            "width": info.width,
            "height": info.height,
            "k": list(info.k),
            "d": list(info.d),
            "distortion_model": info.distortion_model or "plumb_bob",
        }
    )


def participants_from_rsm(msg: Rsm) -> list[Participant]:
    return [
        Participant(
            int(p.type),
            int(p.ptc_id),
            int(p.source),
            float(p.position.x),
            float(p.position.y),
            float(p.position.z),
            float(p.position_accuracy),
            float(p.speed),
            float(p.heading),
            float(p.length),
            float(p.width),
            float(p.height),
            from_time(p.measurement_time),
        )
        for p in msg.participants
    ]


def load_detector(model: str, providers: list[str], threads: int, score_threshold: float) -> Detector:
    return Detector(
        find_model_card(model),
        providers=providers,
        intra_op_threads=threads,
        score_threshold=score_threshold or None,
    )


class Perception(RoadedgeNode[PerceptionConfig]):
    Schema = PerceptionConfig
    default_name = "perception"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = self.config
        self.events = EventCounter()
        self.detector: Detector | None = None
        try:
            self.detector = load_detector(c.model, c.providers, c.threads, c.score_threshold)
        except (ModelCardError, OSError, RuntimeError, ValueError) as err:
            self._event("model_load_failed", str(err))
        self.extrinsics = Extrinsics(
            c.mount_x, c.mount_y, c.mount_z, c.mount_roll, c.mount_pitch, c.mount_yaw
        )
        self.tracker = Tracker(TrackerConfig(confirm_hits=c.confirm_hits, max_lost_s=c.max_lost))
        self.pipeline = CameraTracker(self.detector, [], self.tracker, max_range=c.max_range)
        self.map_frame = MapFrame(
            GeodeticOrigin(c.map_origin_latitude, c.map_origin_longitude, c.map_origin_altitude)
        )
        self.pose = Pose2D()
        self.frames = 0
        self.published = 0
        self.last_image_time: float | None = None
        self.last_latency_ms = 0.0
        self.pub = self.publisher(topics.OBJECTS)
        self.subscription(topics.CAMERA_FRONT_IMAGE, self._on_image)
        self.subscription(topics.CAMERA_FRONT_INFO, self._on_info)
        self.subscription(topics.ODOMETRY, self._on_odometry)
        if c.fuse_rsm:
            self.subscription(topics.V2X_RX_RSM, self._on_rsm)
        self.health.add("perception", self._health)

    def _event(self, kind: str, detail: str = "") -> None:
        text = self.events.record(kind, detail)
        if text:
            self.get_logger().warning(text)

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            intr = intrinsics_from_msg(msg)
        except GeometryError as err:
            self._event("bad_camera_info", str(err))
            return
        name = self.config.camera_name
        current = self.pipeline.cameras.get(name)
        if current is None or current.intrinsics != intr:
            self.pipeline.cameras[name] = PinholeCamera(intr, self.extrinsics, name)

    def _on_odometry(self, msg: Odometry) -> None:
        p = msg.pose.pose
        q = p.orientation
        yaw = math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
        if all(math.isfinite(v) for v in (p.position.x, p.position.y, yaw)):
            self.pose = Pose2D(p.position.x, p.position.y, yaw)
        else:
            self._event("bad_odometry")

    def _on_image(self, msg: Image) -> None:
        import time

        t0 = time.perf_counter()
        name = self.config.camera_name
        if name not in self.pipeline.cameras:
            self._event("no_camera_info", "image dropped until camera_info arrives")
            return
        if self.detector is None:
            self._event("no_model", "image dropped: no detector loaded")
            return
        try:
            image = to_bgr(msg.data, msg.width, msg.height, msg.encoding, msg.step)
        except ImageError as err:
            self._event("bad_image", str(err))
            return
        stamp = from_time(msg.header.stamp) or self.now_s()
        intr = self.pipeline.cameras[name].intrinsics
        if (image.shape[1], image.shape[0]) != (intr.width, intr.height):
            self._event("size_mismatch", f"image {image.shape[1]}x{image.shape[0]} vs camera_info")
            return
        try:
            ms = self.pipeline.measure(name, image, stamp, self.pose)
        except (RuntimeError, ValueError) as err:
            self._event("inference_failed", str(err))
            return
        self.pipeline.update(stamp, ms, name, self.pose)
        self.frames += 1
        self.last_image_time = self.now_s()
        self._publish(msg.header.stamp)
        self.last_latency_ms = (time.perf_counter() - t0) * 1000.0

    def _on_rsm(self, msg: Rsm) -> None:
        ref = msg.reference_position
        try:
            alt = ref.elevation if math.isfinite(ref.elevation) else self.config.map_origin_altitude
            ref_xy = self.map_frame.to_map(ref.latitude, ref.longitude, alt)[:2]
        except ValueError as err:
            self._event("bad_rsm_reference", str(err))
            return
        parts = participants_from_rsm(msg)
        ms = participants_to_measurements(parts, ref_xy, msg.v2x.sender_id or "rsu")
        if len(ms) < len(parts):
            self._event("rsm_participants_dropped", f"{len(parts) - len(ms)} without usable position")
        now = self.now_s()
        self.tracker.step(now, ms, observable=lambda x, y: False)  # RSM: no misses
        # without a live camera the roadside picture is still published
        if self.last_image_time is None or now - self.last_image_time > 0.3:
            self._publish(to_time(now))

    def _publish(self, stamp: Time) -> None:
        out = ObjectArray()
        out.header.stamp = stamp
        out.header.frame_id = self.config.frame_id
        for o in self.tracker.estimates():
            out.objects.append(estimate_to_msg(self.pose.object_to_child(o)))
        self.pub.publish(out)
        self.published += 1

    def _health(self) -> Health:
        values = {
            "frames": str(self.frames),
            "tracks": str(len(self.tracker.tracks)),
            "latency_ms": f"{self.last_latency_ms:.1f}",
            **self.events.values(),
        }
        if self.detector is None:
            return Health(Level.ERROR, "no detector model loaded", values)
        if self.config.camera_name not in self.pipeline.cameras:
            return Health(Level.WARN, "waiting for camera_info", values)
        return Health(Level.OK, "running", values)


NODE = Perception
main = make_main(NODE)
