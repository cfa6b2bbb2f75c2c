"""Camera geometry: CameraInfo intrinsics, mounting extrinsics, projection and ground-plane back-projection.

Frames follow REP-103/105. The *parent* frame of a camera is ``base_link`` on the vehicle (x forward,
y left, z up, ground at z = 0) or the site's ENU frame on the roadside. The camera's mounting pose
(translation + roll/pitch/yaw) describes its *body* frame (x forward, y left, z up); pixels live in the
ROS *optical* frame (z forward, x right, y down), as in sensor_msgs/CameraInfo.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Columns: the optical frame's axes expressed in the camera body frame.
R_BODY_OPTICAL: FloatArray = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


class GeometryError(ValueError):
    """A camera description that cannot be used."""


def rotation_rpy(roll: float, pitch: float, yaw: float) -> FloatArray:
    """R = Rz(yaw) @ Ry(pitch) @ Rx(roll) (REP-103 fixed-axis roll, pitch, yaw)."""
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
    r: FloatArray = rz @ ry @ rx
    return r


@dataclass(frozen=True)
class Intrinsics:
    """sensor_msgs/CameraInfo semantics: K row-major 3x3, D for the distortion model."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    d: tuple[float, ...] = ()
    distortion_model: str = "plumb_bob"

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise GeometryError(f"image size must be positive, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0 and math.isfinite(self.cx) and math.isfinite(self.cy)):
            raise GeometryError("focal lengths must be positive and the principal point finite")
        if self.distortion_model not in ("plumb_bob", "rational_polynomial", ""):
            raise GeometryError(f"unsupported distortion model {self.distortion_model!r}")

    @property
    def k(self) -> FloatArray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def distorted(self) -> bool:
        return any(abs(c) > 0.0 for c in self.d)

    @classmethod
    def from_camera_info(cls, info: Mapping[str, Any]) -> Intrinsics:
        """From a CameraInfo-like mapping (camera_calibration_parsers YAML or message fields)."""
        try:
            width = int(info.get("width", info.get("image_width", 0)))
            height = int(info.get("height", info.get("image_height", 0)))
            k = info.get("k", info.get("K"))
            if k is None and "camera_matrix" in info:
                k = info["camera_matrix"]["data"]
            d = info.get("d", info.get("D"))
            if d is None and "distortion_coefficients" in info:
                d = info["distortion_coefficients"]["data"]
            kk = [float(v) for v in (k or [])]
            if len(kk) != 9:
                raise GeometryError("K must have 9 elements")
            model = str(info.get("distortion_model", "plumb_bob") or "plumb_bob")
            return cls(width, height, kk[0], kk[4], kk[2], kk[5], tuple(float(v) for v in d or ()), model)
        except (TypeError, KeyError, AttributeError) as exc:
            raise GeometryError(f"bad camera info: {exc}") from exc

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> Intrinsics:
        fx = width / 2.0 / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(width, height, fx, fx, (width - 1) / 2.0, (height - 1) / 2.0)

    def to_camera_info(self) -> dict[str, Any]:
        """CameraInfo fields (k, d, p, r row-major) for a publisher or a YAML file."""
        return {
            "width": self.width,
            "height": self.height,
            "distortion_model": self.distortion_model or "plumb_bob",
            "d": list(self.d) if self.d else [0.0] * 5,
            "k": [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0],
            "r": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            "p": [self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0],
        }

    def scaled(self, width: int, height: int) -> Intrinsics:
        sx, sy = width / self.width, height / self.height
        return Intrinsics(
            width,
            height,
            self.fx * sx,
            self.fy * sy,
            (self.cx + 0.5) * sx - 0.5,
            (self.cy + 0.5) * sy - 0.5,
            self.d,
            self.distortion_model,
        )


@dataclass(frozen=True)
class Extrinsics:
    """Camera body frame in the parent frame: translation (m) and roll/pitch/yaw (rad)."""

    x: float = 0.0
    y: float = 0.0
    z: float = 1.5
    roll: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> Extrinsics:
        vals = {k: float(m[k]) for k in ("x", "y", "z", "roll", "pitch", "yaw") if k in m}
        if not all(math.isfinite(v) for v in vals.values()):
            raise GeometryError("extrinsics must be finite")
        return cls(**vals)

    @property
    def rotation_parent_optical(self) -> FloatArray:
        return rotation_rpy(self.roll, self.pitch, self.yaw) @ R_BODY_OPTICAL

    @property
    def translation(self) -> FloatArray:
        return np.array([self.x, self.y, self.z])


@dataclass(frozen=True)
class GroundMeasurement:
    """A detection placed on the ground plane in the parent frame."""

    x: float
    y: float
    covariance: FloatArray = field(repr=False)  # 2x2, m^2
    range_m: float
    bearing: float  # rad, atan2 of the ray in the parent frame


@dataclass(frozen=True)
class PinholeCamera:
    """A calibrated camera mounted in a parent frame."""

    intrinsics: Intrinsics
    extrinsics: Extrinsics = Extrinsics()
    name: str = "camera"

    @property
    def rotation(self) -> FloatArray:
        return self.extrinsics.rotation_parent_optical

    def to_optical(self, points: npt.ArrayLike) -> FloatArray:
        """Parent-frame points (N,3) in the optical frame."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        return (p - self.extrinsics.translation) @ self.rotation

    def project_optical(self, pts_cam: FloatArray) -> FloatArray:
        """Optical-frame points (N,3, z > 0) to pixels (N,2), pinhole (no distortion)."""
        i = self.intrinsics
        z = pts_cam[:, 2]
        return np.stack([i.fx * pts_cam[:, 0] / z + i.cx, i.fy * pts_cam[:, 1] / z + i.cy], axis=1)

    def project(self, points: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Parent-frame points to (pixels (N,2), depth (N,)); pixels are NaN behind the camera."""
        pc = self.to_optical(points)
        depth = pc[:, 2].copy()
        uv = np.full((pc.shape[0], 2), np.nan)
        ok = depth > 1e-6
        uv[ok] = self.project_optical(pc[ok])
        return uv, depth

    def rays(self, uv: npt.ArrayLike) -> FloatArray:
        """Unit rays in the parent frame through pixels (N,2), undistorting when D is set."""
        pix = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        i = self.intrinsics
        if i.distorted:
            import cv2

            und = cv2.undistortPoints(pix.reshape(-1, 1, 2), i.k, np.asarray(i.d, dtype=np.float64))
            xn = und.reshape(-1, 2)
        else:
            xn = np.stack([(pix[:, 0] - i.cx) / i.fx, (pix[:, 1] - i.cy) / i.fy], axis=1)
        rc = np.concatenate([xn, np.ones((xn.shape[0], 1))], axis=1)
        rp = rc @ self.rotation.T
        norm: FloatArray = rp / np.linalg.norm(rp, axis=1, keepdims=True)
        return norm

    def ground_points(self, uv: npt.ArrayLike, ground_z: float = 0.0, max_range: float = 200.0) -> FloatArray:
        """Intersections of pixel rays with the plane z = ground_z: (N,3), NaN where the ray misses."""
        r = self.rays(uv)
        origin = self.extrinsics.translation
        out = np.full((r.shape[0], 3), np.nan)
        dz = r[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (ground_z - origin[2]) / dz
        ok = (dz < -1e-6) & (t > 0)
        pts = origin + r * t[:, None]
        horiz = np.hypot(pts[:, 0] - origin[0], pts[:, 1] - origin[1])
        ok &= horiz <= max_range
        out[ok] = pts[ok]
        return out

    def box_to_ground(
        self,
        box: Sequence[float],
        depth_m: float = 0.0,
        pixel_sigma: float = 2.0,
        pitch_sigma: float = 0.01,
        floor_sigma: float = 0.1,
        max_range: float = 120.0,
    ) -> GroundMeasurement | None:
        """Ground position of a box (x1, y1, x2, y2 in pixels) from its bottom centre.

        ``depth_m``: the object's typical depth along the ray; half of it is added so the point is
        the object's centre rather than its near face. The 2x2 covariance propagates ``pixel_sigma``
        on the contact point and ``pitch_sigma`` on the mounting through the ray intersection, so
        it grows roughly with range squared; ``floor_sigma`` is added isotropically.
        Returns None when the contact point is at or above the horizon or beyond ``max_range``.
        """
        x1, _y1, x2, y2 = (float(v) for v in box)
        u, v = 0.5 * (x1 + x2), y2
        probes = np.array([[u, v], [u + 1.0, v], [u, v + 1.0]])
        g = self.ground_points(probes, max_range=max_range)
        if not np.all(np.isfinite(g)):
            return None
        p0 = g[0, :2]
        ju = g[1, :2] - p0
        jv = g[2, :2] - p0
        cov = pixel_sigma**2 * (np.outer(ju, ju) + np.outer(jv, jv))
        origin = self.extrinsics.translation
        delta = p0 - origin[:2]
        rng = float(np.hypot(*delta))
        # pitch error: the range error along the ray is about range^2 / height * dpitch
        h = max(origin[2], 0.1)
        d_range = (rng**2 + h**2) / h * pitch_sigma
        direction = delta / max(rng, 1e-6)
        cov += d_range**2 * np.outer(direction, direction)
        cov += floor_sigma**2 * np.eye(2)
        centre = p0 + direction * (0.5 * depth_m)
        return GroundMeasurement(
            float(centre[0]),
            float(centre[1]),
            cov,
            rng + 0.5 * depth_m,
            math.atan2(direction[1], direction[0]),
        )

    def sees(self, x: float, y: float, z: float = 0.5, max_range: float = 80.0, margin: float = 0.0) -> bool:
        """Whether a parent-frame point is in front of the camera, inside the image and in range."""
        uv, depth = self.project([[x, y, z]])
        if not depth[0] > 0.1 or not np.all(np.isfinite(uv)):
            return False
        if np.hypot(x - self.extrinsics.x, y - self.extrinsics.y) > max_range:
            return False
        u, v = uv[0]
        i = self.intrinsics
        return bool(-margin <= u <= i.width + margin and -margin <= v <= i.height + margin)

    def width_at(self, box: Sequence[float], range_m: float) -> float:
        """Metric width of a box seen at a range (small-angle approximation)."""
        return float(box[2] - box[0]) * range_m / self.intrinsics.fx


def camera_from_config(cfg: Mapping[str, Any]) -> PinholeCamera:
    """``{name, camera_info: {...}, extrinsics: {x, y, z, roll, pitch, yaw}}`` or ``hfov_deg``+size."""
    if "camera_info" in cfg:
        intr = Intrinsics.from_camera_info(cfg["camera_info"])
    elif "hfov_deg" in cfg:
        intr = Intrinsics.from_fov(int(cfg["width"]), int(cfg["height"]), float(cfg["hfov_deg"]))
    else:
        raise GeometryError("camera config needs camera_info or hfov_deg/width/height")
    return PinholeCamera(
        intr, Extrinsics.from_mapping(cfg.get("extrinsics", {})), str(cfg.get("name", "camera"))
    )
