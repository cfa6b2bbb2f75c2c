"""The shipped detector: model card valid, precision/recall on held-out rendered frames, closed HIL loop."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from roadedge_hil.camera import (
    RenderOptions,
    World,
    actor_from_object,
    labelled_truth,
    move_actor,
    random_frame,
    render,
)

from roadedge.perception.detector import Detector, ModelCard
from roadedge.perception.geometry import Extrinsics, Intrinsics, PinholeCamera
from roadedge.perception.metrics import Counts, match_frame
from roadedge.perception.pipeline import CameraTracker
from roadedge.perception.tracking import Tracker, TrackerConfig

ROOT = Path(__file__).resolve().parents[2]
CARD = ROOT / "models" / "roadedge_det.yaml"
HELD_OUT = 900_000  # tools/train_detector.py trains on seeds 0..N-1 and evaluates from here

# Measured on 150 held-out frames (the model card: precision 0.77, recall 0.70) and on
# the 60 frames below (precision 0.76, recall 0.65); asserted with margin.
MIN_PRECISION = 0.65
MIN_RECALL = 0.55


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(CARD, intra_op_threads=1)


def test_model_card_is_complete() -> None:
    card = ModelCard.load(CARD)
    assert card.classes == ("pedestrian", "cyclist", "vehicle", "obstacle")
    assert card.model_path.exists() and card.model_path.stat().st_size < 5_000_000
    assert card.output.layout == "yolov8" and (card.input.width, card.input.height) == (320, 240)
    raw = __import__("yaml").safe_load(CARD.read_text())
    assert {"training", "metrics", "limitations", "licence"} <= set(raw)
    assert raw["metrics"]["precision"] >= MIN_PRECISION and raw["metrics"]["recall"] >= MIN_RECALL


def test_precision_and_recall_on_held_out_rendered_frames(detector: Detector) -> None:
    counts = Counts()
    for seed in range(HELD_OUT + 500, HELD_OUT + 560):  # not the card's 200 evaluation frames
        frame, _, _ = random_frame(seed)
        dets = detector.detect(frame.image)
        match_frame(
            counts, [(d.box, d.score, d.label) for d in dets], labelled_truth(frame.truth, min_height=20.0)
        )
    assert counts.tp > 60
    assert counts.precision >= MIN_PRECISION, counts.summary()
    assert counts.recall >= MIN_RECALL, counts.summary()


def test_closed_hil_loop_tracks_rendered_actors(detector: Detector) -> None:
    """Renderer -> detector -> ground plane -> tracker: a crossing pedestrian and a parked car are
    tracked at their true positions with one stable id each; the pedestrian's velocity is right."""
    cam = PinholeCamera(
        Intrinsics.from_fov(640, 480, 70.0), Extrinsics(0.0, 0.0, 2.0, 0.0, math.radians(5), 0.0), "front"
    )
    from roadedge_hil.camera import intersection_world

    base = intersection_world(3)
    ped = actor_from_object("pedestrian", 14.0, -3.0, math.pi / 2, (0.5, 0.6, 1.75), 11)
    car = actor_from_object("vehicle", 22.0, 4.0, 0.0, (4.5, 1.8, 1.5), 12)
    pipe = CameraTracker(detector, [cam], Tracker(TrackerConfig(confirm_hits=3)))
    ids: dict[str, set[int]] = {"pedestrian": set(), "vehicle": set()}
    est = []
    for k in range(25):
        t = k * 0.1
        p = move_actor(ped, 14.0, -3.0 + 1.4 * t)
        world = World(base.ground_colour, base.patches, base.scenery, (p, car))
        frame = render(world, cam, RenderOptions(noise_sigma=2.0, seed=k))
        est = pipe.process("front", frame.image, t)
        for o in est:
            if o.label in ids:
                ids[o.label].add(o.id)
    assert len(ids["pedestrian"]) == 1 and len(ids["vehicle"]) == 1, ids
    (pe,) = [o for o in est if o.label == "pedestrian"]
    (ve,) = [o for o in est if o.label == "vehicle"]
    assert math.hypot(pe.x - 14.0, pe.y - (-3.0 + 1.4 * 2.4)) < 1.5
    assert math.hypot(ve.x - 22.0, ve.y - 4.0) < 3.0
    assert abs(pe.vy - 1.4) < 0.8 and abs(pe.vx) < 0.8
    assert np.trace(ve.cov) > np.trace(pe.cov)  # farther away -> less certain


def test_two_roadside_cameras_track_each_actor_once() -> None:
    """The demo site's two roadside cameras see the same actors: one track each, fed by both cameras."""
    import yaml
    from roadedge_hil.camera import intersection_world

    from roadedge.perception.geometry import camera_from_config

    site = yaml.safe_load((ROOT / "config/perception/site_demo_cameras.yaml").read_text())
    cams = [camera_from_config(c) for c in site["cameras"]]
    base = intersection_world(7)
    truth = {"pedestrian": (5.0, 8.0), "vehicle": (6.0, 1.75)}
    actors = (
        actor_from_object("pedestrian", *truth["pedestrian"], 0.0, (0.5, 0.6, 1.75), 21),
        actor_from_object("vehicle", *truth["vehicle"], math.pi, (4.5, 1.8, 1.5), 22),
    )
    world = World(base.ground_colour, base.patches, base.scenery, actors)
    frames = {
        c.name: render(world, c, RenderOptions(noise_sigma=2.0, seed=i)).image for i, c in enumerate(cams)
    }
    roadside = Detector(CARD, intra_op_threads=1, score_threshold=0.3)  # as the roadside node runs it
    pipe = CameraTracker(roadside, cams, Tracker(TrackerConfig(confirm_hits=3)))
    est = []
    for k in range(12):
        for i, cam in enumerate(cams):
            est = pipe.process(cam.name, frames[cam.name], k * 0.1 + i * 0.02)
    for label, (x, y) in truth.items():
        near = [o for o in est if math.hypot(o.x - x, o.y - y) < 3.0]
        assert len(near) == 1, (label, [(o.label, round(o.x, 1), round(o.y, 1)) for o in est])
        assert near[0].label == label
        assert {s.sensor_id for s in near[0].sources} == {"north", "east"}
