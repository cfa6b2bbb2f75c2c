"""Camera pipeline: detections -> ground-plane measurements -> (multi-camera merge) -> tracker.

The tracker works in a *world* frame (site ENU on the roadside; the vehicle's map/odom frame on the
vehicle, via the current vehicle pose) so that velocities are over ground; estimates are handed back
in whichever frame the caller asks for (``Pose2D.inverse_object``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from roadedge.perception.detector import Detection, Detector
from roadedge.perception.geometry import PinholeCamera
from roadedge.perception.objects import CAMERA, CLASS_SIZES, Measurement, ObjectEstimate, Source
from roadedge.perception.tracking import Tracker, TrackerConfig


@dataclass(frozen=True)
class Pose2D:
    """A planar pose of a child frame (e.g. base_link) in a parent frame (map)."""

    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0

    def _rot(self) -> npt.NDArray[np.float64]:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return np.array([[c, -s], [s, c]])

    def measurement_to_parent(self, m: Measurement) -> Measurement:
        r = self._rot()
        p = r @ np.array([m.x, m.y]) + np.array([self.x, self.y])
        vel = None if m.velocity is None else tuple(float(v) for v in r @ np.asarray(m.velocity))
        vcov = None if m.velocity_cov is None else r @ m.velocity_cov @ r.T
        yaw = None if m.yaw is None else m.yaw + self.yaw
        return replace(
            m,
            x=float(p[0]),
            y=float(p[1]),
            cov=r @ m.cov @ r.T,
            velocity=vel,  # type: ignore[arg-type]
            velocity_cov=vcov,
            yaw=yaw,
        )

    def object_to_child(self, o: ObjectEstimate) -> ObjectEstimate:
        """An estimate in the parent frame expressed in the child frame (velocity keeps its ground speed)."""
        rt = self._rot().T
        p = rt @ (np.array([o.x, o.y]) - np.array([self.x, self.y]))
        v = rt @ np.array([o.vx, o.vy])
        return replace(
            o,
            x=float(p[0]),
            y=float(p[1]),
            cov=rt @ o.cov @ rt.T,
            vx=float(v[0]),
            vy=float(v[1]),
            vel_cov=rt @ o.vel_cov @ rt.T,
            yaw=o.yaw - self.yaw,
        )


def detections_to_measurements(
    detections: Sequence[Detection],
    camera: PinholeCamera,
    stamp: float,
    min_score: float = 0.0,
    pixel_sigma: float = 2.0,
    pitch_sigma: float = 0.01,
    max_range: float = 80.0,
) -> list[Measurement]:
    """Place each detection on the ground plane of the camera's parent frame."""
    out = []
    for d in detections:
        if d.score < min_score:
            continue
        length, width, height = CLASS_SIZES.get(d.label, CLASS_SIZES["unknown"])
        depth = min(length, width) if d.label in ("vehicle", "cyclist") else width
        g = camera.box_to_ground(
            d.box, depth_m=depth, pixel_sigma=pixel_sigma, pitch_sigma=pitch_sigma, max_range=max_range
        )
        if g is None:
            continue
        seen_w = camera.width_at(d.box, g.range_m)
        size = (length, max(width, min(seen_w, 3.0 * width)), height)
        out.append(
            Measurement(g.x, g.y, g.covariance, d.label, d.score, Source(CAMERA, camera.name, stamp), size)
        )
    return out


def merge_simultaneous(measurements: Sequence[Measurement], gate_chi2: float = 9.21) -> list[Measurement]:
    """Fuse same-class measurements of one instant that are statistically the same object.

    Overlapping cameras see an object twice; two measurements in one tracker step would otherwise
    make a duplicate track. Each group is fused by information (inverse-covariance) weighting.
    """
    groups: list[list[Measurement]] = []
    for m in sorted(measurements, key=lambda m: float(np.trace(m.cov))):
        for g in groups:
            h = g[0]
            if h.label != m.label or h.source.sensor_id == m.source.sensor_id:
                continue
            d = np.array([m.x - h.x, m.y - h.y])
            if float(d @ np.linalg.solve(h.cov + m.cov, d)) <= gate_chi2:
                g.append(m)
                break
        else:
            groups.append([m])
    out = []
    for g in groups:
        if len(g) == 1:
            out.append(g[0])
            continue
        infos = [np.linalg.inv(m.cov) for m in g]
        cov = np.linalg.inv(sum(infos))
        mean = cov @ sum(i @ np.array([m.x, m.y]) for i, m in zip(infos, g, strict=True))
        best = max(g, key=lambda m: m.score)
        sources = [m.source for m in g]
        fused = replace(
            best,
            x=float(mean[0]),
            y=float(mean[1]),
            cov=cov,
            source=Source(best.source.kind, "+".join(s.sensor_id for s in sources), best.source.stamp),
        )
        out.append(fused)
    return out


class CameraTracker:
    """Detector + one or more calibrated cameras + one tracker in a world frame."""

    def __init__(
        self,
        detector: Detector | None,
        cameras: Sequence[PinholeCamera],
        tracker: Tracker | None = None,
        min_score: float = 0.0,
        max_range: float = 80.0,
    ) -> None:
        self.detector = detector
        self.cameras = {c.name: c for c in cameras}
        self.tracker = tracker or Tracker(TrackerConfig())
        self.min_score = min_score
        self.max_range = max_range
        self.last_detections: list[Detection] = []

    def measure(
        self, camera_name: str, image: npt.NDArray[np.uint8], stamp: float, pose: Pose2D | None = None
    ) -> list[Measurement]:
        """Detect in one image and place the detections in the world frame."""
        if self.detector is None:
            return []
        camera = self.cameras[camera_name]
        self.last_detections = self.detector.detect(image)
        ms = detections_to_measurements(
            self.last_detections, camera, stamp, self.min_score, max_range=self.max_range
        )
        if pose is not None:
            ms = [pose.measurement_to_parent(m) for m in ms]
        return ms

    def update(
        self,
        stamp: float,
        measurements: Sequence[Measurement],
        camera_name: str | None = None,
        pose: Pose2D | None = None,
    ) -> list[ObjectEstimate]:
        """Tracker step; with ``camera_name`` only tracks that camera can see count a miss."""
        if camera_name is None:
            return self.tracker.step(stamp, merge_simultaneous(measurements))
        cam = self.cameras[camera_name]
        p = pose or Pose2D()
        c, s = math.cos(p.yaw), math.sin(p.yaw)

        def observable(x: float, y: float) -> bool:
            dx, dy = x - p.x, y - p.y  # world -> the camera's parent frame
            return cam.sees(c * dx + s * dy, -s * dx + c * dy, max_range=self.max_range)

        return self.tracker.step(stamp, merge_simultaneous(measurements), observable)

    def process(
        self, camera_name: str, image: npt.NDArray[np.uint8], stamp: float, pose: Pose2D | None = None
    ) -> list[ObjectEstimate]:
        ms = self.measure(camera_name, image, stamp, pose)
        return self.update(stamp, ms, camera_name, pose)


def risk_score(
    o: ObjectEstimate,
    conflict_point: tuple[float, float] = (0.0, 0.0),
    weights: Callable[[str], float] | None = None,
) -> float:
    """Priority of an object for a size-limited broadcast: vulnerable, fast, near the conflict zone."""
    w = (
        weights(o.label)
        if weights
        else {"pedestrian": 3.0, "cyclist": 2.5, "obstacle": 1.5}.get(o.label, 1.0)
    )
    dist = math.hypot(o.x - conflict_point[0], o.y - conflict_point[1])
    # approaching the conflict point raises the risk
    closing = 0.0
    if dist > 1e-3:
        closing = max(0.0, -((o.x - conflict_point[0]) * o.vx + (o.y - conflict_point[1]) * o.vy) / dist)
    return w * (1.0 + o.speed / 5.0 + closing / 3.0) / (1.0 + dist / 20.0) * max(o.existence, 0.05)
