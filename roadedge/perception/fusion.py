"""Roadside <-> vehicle: tracked objects to RSM participants (risk-prioritized, CSAE limit 16), and RSM
participants back to measurements that the vehicle's tracker fuses with its own camera.

Plain data only; the nodes convert to and from roadedge_msgs/Rsm (SI/ENU, offsets from the message's
reference position, as produced and consumed by the V2X node).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from roadedge.perception.objects import ROADSIDE_RSM, Measurement, ObjectEstimate, Source
from roadedge.perception.pipeline import risk_score

MAX_PARTICIPANTS = 16  # CSAE 53 RSM: SEQUENCE (SIZE(1..16)) OF ParticipantData

# roadedge_msgs/RsmParticipant constants
TYPE_UNKNOWN, TYPE_MOTOR, TYPE_NON_MOTOR, TYPE_PEDESTRIAN, TYPE_RSU = 0, 1, 2, 3, 4
SOURCE_VIDEO = 3
LABEL_TO_TYPE = {
    "vehicle": TYPE_MOTOR,
    "emergency_vehicle": TYPE_MOTOR,
    "cyclist": TYPE_NON_MOTOR,
    "pedestrian": TYPE_PEDESTRIAN,
}
TYPE_TO_LABEL = {TYPE_MOTOR: "vehicle", TYPE_NON_MOTOR: "cyclist", TYPE_PEDESTRIAN: "pedestrian"}


@dataclass(frozen=True)
class Participant:
    """Mirror of roadedge_msgs/RsmParticipant (position: ENU offset from the reference position)."""

    type: int
    ptc_id: int
    source: int
    x: float
    y: float
    z: float
    position_accuracy: float  # m, 1-sigma; NaN unavailable
    speed: float  # m/s; NaN unavailable
    heading: float  # rad, ENU yaw; NaN unavailable
    length: float
    width: float
    height: float
    measurement_time: float  # s


def select_for_rsm(
    objects: Sequence[ObjectEstimate],
    max_participants: int = MAX_PARTICIPANTS,
    conflict_point: tuple[float, float] = (0.0, 0.0),
    min_existence: float = 0.05,
) -> list[ObjectEstimate]:
    """The ``max_participants`` riskiest confirmed objects, riskiest first."""
    cands = [o for o in objects if o.tracked and o.existence >= min_existence]
    cands.sort(key=lambda o: (-risk_score(o, conflict_point), o.id))
    return cands[: max(0, min(max_participants, MAX_PARTICIPANTS))]


def to_participants(
    objects: Sequence[ObjectEstimate],
    stamp: float,
    reference_xy: tuple[float, float] = (0.0, 0.0),
    max_participants: int = MAX_PARTICIPANTS,
    conflict_point: tuple[float, float] = (0.0, 0.0),
) -> list[Participant]:
    """Site-frame objects to RSM participants; positions relative to the reference point."""
    out = []
    for o in select_for_rsm(objects, max_participants, conflict_point):
        acc = math.sqrt(max(float(np.max(np.linalg.eigvalsh(o.cov))), 0.0))
        speed = o.speed
        heading = math.atan2(o.vy, o.vx) if speed > 0.3 else (o.yaw if math.isfinite(o.yaw) else math.nan)
        out.append(
            Participant(
                type=LABEL_TO_TYPE.get(o.label, TYPE_UNKNOWN),
                ptc_id=o.id % 65536,
                source=SOURCE_VIDEO,
                x=o.x - reference_xy[0],
                y=o.y - reference_xy[1],
                z=0.0,
                position_accuracy=acc,
                speed=speed,
                heading=heading,
                length=o.size[0],
                width=o.size[1],
                height=o.size[2],
                measurement_time=stamp,
            )
        )
    return out


def label_of(p: Participant) -> str:
    if p.type in TYPE_TO_LABEL:
        return TYPE_TO_LABEL[p.type]
    return "obstacle" if max(p.length, p.width) < 1.5 else "unknown"


def participants_to_measurements(
    participants: Sequence[Participant],
    reference_xy: tuple[float, float],
    sender: str,
    default_accuracy: float = 2.0,
    speed_sigma: float = 0.7,
    max_accuracy: float = 10.0,
) -> list[Measurement]:
    """RSM participants to measurements in the frame where the RSM reference point is ``reference_xy``.

    Participants without a usable position accuracy get ``default_accuracy``; ones worse than
    ``max_accuracy`` or non-finite are dropped (the caller counts the difference).
    """
    out = []
    for p in participants:
        if p.type == TYPE_RSU or not (math.isfinite(p.x) and math.isfinite(p.y)):
            continue
        acc = (
            p.position_accuracy
            if math.isfinite(p.position_accuracy) and p.position_accuracy > 0
            else default_accuracy
        )
        if acc > max_accuracy:
            continue
        vel = None
        vcov = None
        if math.isfinite(p.speed) and math.isfinite(p.heading):
            vel = (p.speed * math.cos(p.heading), p.speed * math.sin(p.heading))
            vcov = np.eye(2) * speed_sigma**2
        size = (p.length, p.width, p.height if math.isfinite(p.height) else 1.5)
        out.append(
            Measurement(
                x=p.x + reference_xy[0],
                y=p.y + reference_xy[1],
                cov=np.eye(2) * acc**2,
                label=label_of(p),
                score=0.8,
                source=Source(ROADSIDE_RSM, sender, p.measurement_time),
                size=size,
                velocity=vel,
                velocity_cov=vcov,
                yaw=p.heading if math.isfinite(p.heading) else None,
                external_id=p.ptc_id,
                confirmed=True,
            )
        )
    return out
