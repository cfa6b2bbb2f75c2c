"""Image buffers (sensor_msgs/Image semantics) and the HIL camera renderer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from roadedge_hil.camera import (
    World,
    actor_from_object,
    intersection_world,
    labelled_truth,
    pedestrian,
    random_frame,
    render,
    vehicle,
)

from roadedge.perception.geometry import Extrinsics, Intrinsics, PinholeCamera
from roadedge.perception.images import ImageError, from_bgr, to_bgr


def test_encodings_and_padded_rows() -> None:
    bgr = np.arange(4 * 3 * 3, dtype=np.uint8).reshape(4, 3, 3)
    data, w, h, enc, step = from_bgr(bgr)
    assert (w, h, enc, step) == (3, 4, "bgr8", 9)
    np.testing.assert_array_equal(to_bgr(data, w, h, enc, step), bgr)
    rgb = bgr[:, :, ::-1].tobytes()
    np.testing.assert_array_equal(to_bgr(rgb, 3, 4, "rgb8"), bgr)
    padded = b"".join(bgr[r].tobytes() + b"\0\0\0" for r in range(4))  # step 12
    np.testing.assert_array_equal(to_bgr(padded, 3, 4, "bgr8", 12), bgr)
    mono = to_bgr(bytes(range(12)), 3, 4, "mono8")
    assert mono.shape == (4, 3, 3) and mono[1, 0, 0] == 3 == mono[1, 0, 2]


@pytest.mark.parametrize(
    "args",
    [
        (b"\0" * 10, 3, 4, "bgr8", 0),
        (b"\0" * 36, 3, 4, "yuv422", 0),
        (b"", 0, 4, "bgr8", 0),
        (b"\0" * 36, 3, 4, "bgr8", 5),
    ],
)
def test_bad_buffers_raise_image_error(args: tuple) -> None:
    with pytest.raises(ImageError):
        to_bgr(*args)


def test_renderer_is_deterministic_and_truth_matches_projection() -> None:
    a, cam, world = random_frame(42)
    b, _, _ = random_frame(42)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.truth == b.truth and a.image.shape == (480, 640, 3)
    assert not np.array_equal(a.image, random_frame(43)[0].image)
    for g in a.truth:
        uv, depth = cam.project(world.actors[g.actor].corners())
        if np.all(depth > 0.5):
            assert g.box[0] >= math.floor(uv[:, 0].min()) - 1 and g.box[2] <= math.ceil(uv[:, 0].max()) + 2


def test_occlusion_lowers_visibility_and_ignores() -> None:
    cam = PinholeCamera(Intrinsics.from_fov(640, 480, 70.0), Extrinsics(0, 0, 1.8, 0, 0.05, 0))
    ped = pedestrian(20.0, 0.0, 0.0, 1.75, (0, 0, 200), (40, 40, 40), (120, 150, 200))
    car = vehicle(12.0, 0.0, math.pi / 2, 4.5, 1.8, 1.6, (200, 30, 30))
    alone = render(World(actors=(ped,)), cam).truth[0]
    hidden = render(World(actors=(ped, car)), cam).truth
    assert alone.visibility > 0.99
    ped_hidden = next(g for g in hidden if g.actor == 0)
    assert ped_hidden.visibility < alone.visibility
    labels = labelled_truth(hidden)
    assert labels[1][2] is False  # the car is labelled
    ped_h = (ped_hidden.box[3] - ped_hidden.box[1]) >= 12 and ped_hidden.visibility >= 0.5
    assert labels[0][2] is (not ped_h)


def test_intersection_world_and_scenario_actors_render() -> None:
    cam = PinholeCamera(Intrinsics.from_fov(320, 240, 70.0), Extrinsics(-30, -1.75, 2.0, 0, 0.08, 0))
    base = intersection_world(1)
    actors = (
        actor_from_object("obstacle", -12.0, -5.25, 0.0, (8.0, 2.5, 0.6), 1),
        actor_from_object("cyclist", -15.0, 1.75, math.pi, (1.8, 0.6, 1.7), 2),
    )
    frame = render(World(base.ground_colour, base.patches, base.scenery, actors), cam)
    kinds = sorted(g.kind for g in frame.truth)
    assert kinds == ["cyclist", "obstacle"]
    truck = next(g for g in frame.truth if g.kind == "obstacle")
    assert truck.box[3] - truck.box[1] > 20  # the big obstacle is rendered tall (parked truck)
