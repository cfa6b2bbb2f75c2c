"""Perception's plain data types: measurements on the ground plane and object estimates with sources."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

LABELS = ("unknown", "pedestrian", "cyclist", "vehicle", "obstacle", "emergency_vehicle")
# typical (length, width, height) in m, used when only a camera box is known
CLASS_SIZES: dict[str, tuple[float, float, float]] = {
    "pedestrian": (0.5, 0.6, 1.7),
    "cyclist": (1.8, 0.6, 1.7),
    "vehicle": (4.5, 1.9, 1.6),
    "emergency_vehicle": (5.5, 2.1, 2.2),
    "obstacle": (0.6, 0.6, 0.5),
    "unknown": (1.0, 1.0, 1.0),
}

# source kinds, same meaning as roadedge_msgs/ObjectSource
CAMERA = "camera"
LIDAR = "lidar"
RADAR = "radar"
V2X_BSM = "v2x_bsm"
ROADSIDE_RSM = "roadside_rsm"
SIMULATION = "simulation"


@dataclass(frozen=True)
class Source:
    kind: str  # CAMERA, ROADSIDE_RSM, ...
    sensor_id: str
    stamp: float  # s, time of the source's measurement


@dataclass
class Measurement:
    """One observation of an object on the ground plane of the working frame."""

    x: float
    y: float
    cov: FloatArray  # 2x2 m^2
    label: str
    score: float
    source: Source
    size: tuple[float, float, float] | None = None  # l, w, h
    velocity: tuple[float, float] | None = None  # vx, vy if the source measures it (RSM)
    velocity_cov: FloatArray | None = None
    yaw: float | None = None
    external_id: int | None = None  # e.g. the RSM ptcId
    confirmed: bool = False  # already a confirmed track at the source (RSM): no tentative phase


@dataclass
class ObjectEstimate:
    id: int
    label: str
    x: float
    y: float
    cov: FloatArray = field(default_factory=lambda: np.eye(2))
    vx: float = 0.0
    vy: float = 0.0
    vel_cov: FloatArray = field(default_factory=lambda: np.eye(2))
    yaw: float = 0.0
    size: tuple[float, float, float] = (1.0, 1.0, 1.0)
    class_confidence: float = 0.0
    existence: float = 0.0
    age: float = 0.0
    tracked: bool = False
    sources: tuple[Source, ...] = ()

    @property
    def speed(self) -> float:
        return float(np.hypot(self.vx, self.vy))

    def source_kinds(self) -> set[str]:
        return {s.kind for s in self.sources}
