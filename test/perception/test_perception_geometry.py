"""Camera geometry: CameraInfo intrinsics, extrinsics, ground back-projection, range-dependent covariance."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from roadedge_hil.camera import World, pedestrian, render

from roadedge.perception.geometry import (
    Extrinsics,
    GeometryError,
    Intrinsics,
    PinholeCamera,
    camera_from_config,
)

INFO = {
    "width": 640,
    "height": 480,
    "k": [500.0, 0, 319.5, 0, 500.0, 239.5, 0, 0, 1],
    "d": [0, 0, 0, 0, 0],
    "distortion_model": "plumb_bob",
}


def front(pitch_deg: float = 5.0, yaw: float = 0.0) -> PinholeCamera:
    return PinholeCamera(
        Intrinsics.from_camera_info(INFO), Extrinsics(1.0, 0.0, 2.0, 0.0, math.radians(pitch_deg), yaw)
    )


def test_camera_info_round_trip_and_validation() -> None:
    i = Intrinsics.from_camera_info(INFO)
    assert (i.fx, i.cy, i.width) == (500.0, 239.5, 640)
    assert Intrinsics.from_camera_info(i.to_camera_info()) == Intrinsics(
        640, 480, 500, 500, 319.5, 239.5, (0.0,) * 5
    )
    calib = {
        "image_width": 640,
        "image_height": 480,
        "camera_matrix": {"data": INFO["k"]},
        "distortion_coefficients": {"data": [0.1, 0, 0, 0, 0]},
    }  # camera_calibration_parsers YAML
    assert Intrinsics.from_camera_info(calib).distorted
    with pytest.raises(GeometryError):
        Intrinsics.from_camera_info({"width": 640, "height": 480, "k": [1, 2, 3]})
    with pytest.raises(GeometryError):
        Intrinsics.from_camera_info({**INFO, "width": 0})


def test_optical_frame_convention() -> None:
    cam = front(pitch_deg=0.0)
    uv, depth = cam.project([[11.0, 0.0, 2.0], [11.0, 1.0, 2.0], [11.0, 0.0, 3.0], [-5.0, 0.0, 2.0]])
    np.testing.assert_allclose(uv[0], [319.5, 239.5])
    assert uv[1, 0] < 319.5  # +y (left) is left in the image
    assert uv[2, 1] < 239.5  # +z (up) is up in the image
    assert depth[0] == pytest.approx(10.0) and np.isnan(uv[3]).all()


@pytest.mark.parametrize("yaw", [0.0, 0.7])
def test_ground_points_invert_projection(yaw: float) -> None:
    cam = front(8.0, yaw)
    pts = np.array([[6.0, -2.0, 0.0], [20.0, 3.0, 0.0], [40.0, 0.5, 0.0]])
    pts[:, :2] = pts[:, :2] @ np.array([[math.cos(yaw), math.sin(yaw)], [-math.sin(yaw), math.cos(yaw)]])
    uv, _ = cam.project(pts)
    np.testing.assert_allclose(cam.ground_points(uv), pts, atol=1e-6)
    assert np.isnan(cam.ground_points([[320, 0]])).all()  # above the horizon


def test_distorted_rays_match_opencv_projection() -> None:
    info = {**INFO, "d": [-0.2, 0.05, 0.001, -0.001, 0.0]}
    cam = PinholeCamera(Intrinsics.from_camera_info(info), Extrinsics(0, 0, 2.0, 0, math.radians(10), 0))
    p = np.array([[15.0, 2.0, 0.0]])
    pc = cam.to_optical(p)
    uv, _ = cv2.projectPoints(pc, np.zeros(3), np.zeros(3), cam.intrinsics.k, np.array(info["d"]))
    np.testing.assert_allclose(cam.ground_points(uv.reshape(-1, 2)), p, atol=1e-3)


def test_box_to_ground_on_a_rendered_pedestrian_and_covariance_grows_with_range() -> None:
    cam = front(5.0)
    traces = []
    for x in (8.0, 16.0, 32.0):
        world = World(actors=(pedestrian(x, 1.0, 0.0, 1.75, (0, 0, 200), (50, 50, 50), (120, 150, 200)),))
        (gt,) = render(world, cam).truth
        g = cam.box_to_ground(gt.box, depth_m=0.3)
        assert g is not None
        assert math.hypot(g.x - x, g.y - 1.0) < 0.06 * x  # a few % of range
        assert g.range_m == pytest.approx(math.hypot(x - 1.0, 1.0), rel=0.06)
        traces.append(float(np.trace(g.covariance)))
        _w, v = np.linalg.eigh(g.covariance)
        assert abs(abs(v[0, 1]) - 1) < 0.2  # the larger axis is along the ray (~x here)
    assert traces[1] > 3 * traces[0] and traces[2] > 3 * traces[1]


def test_camera_from_config() -> None:
    cam = camera_from_config(
        {
            "name": "north",
            "hfov_deg": 90,
            "width": 640,
            "height": 480,
            "extrinsics": {"z": 6.0, "pitch": 0.4, "yaw": -1.57},
        }
    )
    assert cam.name == "north" and cam.intrinsics.fx == pytest.approx(320.0) and cam.extrinsics.z == 6.0
    with pytest.raises(GeometryError):
        camera_from_config({"name": "x"})
    with pytest.raises(GeometryError):
        camera_from_config({"hfov_deg": 90, "width": 640, "height": 480, "extrinsics": {"z": float("nan")}})
