"""Roadside objects -> RSM participants (risk order, limit 16) and vehicle-side fusion with sources."""

from __future__ import annotations

import math

import numpy as np

from roadedge.perception.fusion import (
    MAX_PARTICIPANTS,
    TYPE_MOTOR,
    TYPE_PEDESTRIAN,
    TYPE_UNKNOWN,
    Participant,
    participants_to_measurements,
    select_for_rsm,
    to_participants,
)
from roadedge.perception.objects import CAMERA, ROADSIDE_RSM, Measurement, ObjectEstimate, Source
from roadedge.perception.pipeline import Pose2D, merge_simultaneous
from roadedge.perception.tracking import Tracker


def obj(i: int, label: str, x: float, y: float, vx: float = 0.0, vy: float = 0.0) -> ObjectEstimate:
    return ObjectEstimate(
        i, label, x, y, np.eye(2) * 0.25, vx, vy, np.eye(2), 0.0, (0.5, 0.6, 1.7), 0.9, 0.9, 2.0, True
    )


def test_rsm_keeps_the_16_riskiest_vulnerable_and_near_first() -> None:
    objs = [obj(i, "vehicle", 40.0 + i, 30.0) for i in range(1, 25)]  # far parked cars
    objs += [obj(100 + i, "pedestrian", 3.0 * i - 6.0, -4.0, vy=1.2) for i in range(5)]  # at the crossing
    objs.append(obj(200, "vehicle", -15.0, 0.0, vx=10.0))  # approaching fast
    objs.append(obj(300, "obstacle", 2.0, 2.0))
    untracked = obj(400, "pedestrian", 0.0, 0.0)
    untracked.tracked = False
    chosen = select_for_rsm([*objs, untracked])
    assert len(chosen) == MAX_PARTICIPANTS
    ids = [o.id for o in chosen]
    assert 400 not in ids
    assert set(ids[:6]) == {100, 101, 102, 103, 104, 200}  # crossing pedestrians, approaching car
    assert 300 in ids and ids.index(300) < ids.index(1)  # the obstacle ahead of the far parked cars
    parts = to_participants(objs, stamp=12.5, reference_xy=(10.0, -5.0))
    assert len(parts) == 16 and len({p.ptc_id for p in parts}) == 16
    ped = next(p for p in parts if p.ptc_id == 102)
    assert ped.type == TYPE_PEDESTRIAN and (ped.x, ped.y) == (-10.0, 1.0)
    assert math.isclose(ped.heading, math.pi / 2) and math.isclose(ped.speed, 1.2)
    assert 0.49 < ped.position_accuracy < 0.51 and ped.measurement_time == 12.5
    assert next(p for p in parts if p.ptc_id == 200).type == TYPE_MOTOR
    assert next(p for p in parts if p.ptc_id == 300).type == TYPE_UNKNOWN


def part(
    ptc: int, x: float, y: float, t: float, type_: int = TYPE_PEDESTRIAN, acc: float = 0.5
) -> Participant:
    return Participant(type_, ptc, 3, x, y, 0.0, acc, 0.0, math.nan, 0.5, 0.6, 1.7, t)


def test_vehicle_fuses_rsm_with_its_camera_without_duplicates() -> None:
    """Pedestrian A is seen by the camera and by the RSU; B is hidden from the camera."""
    tr = Tracker()
    pose = Pose2D(100.0, 50.0, math.pi / 2)  # vehicle in map, heading north
    ref_xy = (90.0, 40.0)  # RSM reference position in map
    a_map, b_map = (101.0, 62.0), (96.0, 66.0)  # B is behind a parked truck for the camera
    for k in range(20):
        t = k * 0.1
        # camera measurement of A in base_link (x forward = north): forward 12 m, left -1 m
        cam = Measurement(12.0, -1.0, np.eye(2) * 0.3**2, "pedestrian", 0.8, Source(CAMERA, "front", t))
        tr.step(t, [pose.measurement_to_parent(cam)])
        if k % 2 == 0:  # RSM at 5 Hz, 50 ms late, positions with a 0.3 m bias
            parts = [
                part(7, a_map[0] - ref_xy[0] + 0.3, a_map[1] - ref_xy[1], t - 0.05),
                part(8, b_map[0] - ref_xy[0], b_map[1] - ref_xy[1] - 0.3, t - 0.05),
            ]
            tr.step(t - 0.05, participants_to_measurements(parts, ref_xy, "rsu-1"))
    est = [pose.object_to_child(o) for o in tr.estimates()]
    assert len(est) == 2, [(o.x, o.y, o.source_kinds()) for o in est]
    a = min(est, key=lambda o: math.hypot(o.x - 12.0, o.y + 1.0))
    b = next(o for o in est if o is not a)
    assert a.source_kinds() == {CAMERA, ROADSIDE_RSM}
    assert b.source_kinds() == {ROADSIDE_RSM} and b.label == "pedestrian" and b.tracked
    assert math.hypot(b.x - 16.0, b.y - 4.0) < 0.6  # map (96, 66) is 16 m ahead, 4 m left
    assert any(s.sensor_id == "rsu-1" for s in b.sources)


def test_bad_participants_are_dropped() -> None:
    parts = [
        part(1, math.nan, 0.0, 0.0),
        part(2, 1.0, 1.0, 0.0, acc=50.0),
        part(3, 1.0, 1.0, 0.0, type_=4),
        part(4, 1.0, 2.0, 0.0, acc=math.nan),
    ]
    ms = participants_to_measurements(parts, (0.0, 0.0), "rsu")
    assert [m.external_id for m in ms] == [4] and ms[0].cov[0, 0] == 4.0 and ms[0].confirmed


def test_overlapping_cameras_merge_into_one_measurement() -> None:
    a = Measurement(10.0, 0.0, np.diag([1.0, 0.04]), "pedestrian", 0.9, Source(CAMERA, "north", 1.0))
    b = Measurement(10.3, 0.1, np.diag([0.04, 1.0]), "pedestrian", 0.7, Source(CAMERA, "east", 1.0))
    c = Measurement(10.2, 0.0, np.eye(2) * 0.04, "vehicle", 0.7, Source(CAMERA, "east", 1.0))
    out = merge_simultaneous([a, b, c])
    assert len(out) == 2
    fused = next(m for m in out if m.label == "pedestrian")
    assert fused.source.sensor_id in ("north+east", "east+north")
    assert abs(fused.x - 10.3) < 0.05 and abs(fused.y - 0.0) < 0.05  # each camera's good axis wins
    assert np.trace(fused.cov) < 0.1
