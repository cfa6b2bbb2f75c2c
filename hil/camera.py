"""HIL camera: renders the scenario world from a vehicle or roadside camera pose (numpy + OpenCV).

Pure functions: ``render(world, camera, options)`` returns a BGR image, the ground-truth boxes of
the actors (projected, with visibility from an instance buffer) and the instance buffer itself.
``random_world(rng, ...)`` makes randomized street scenes for training and tests. Everything is
deterministic for a given seed. A thin ROS publisher (``CameraPublisher``) lives at the bottom and
imports rclpy lazily.

Drawing: the ground (asphalt, sidewalks, lane markings) as clipped ground polygons, curbs and every
actor as shaded 3D boxes (painter's algorithm over faces, back faces culled). Distortion is not
rendered (pinhole).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from roadedge.perception.geometry import Extrinsics, Intrinsics, PinholeCamera

CLASSES = ("pedestrian", "cyclist", "vehicle", "obstacle")
Colour = tuple[int, int, int]  # BGR

SKY: Colour = (225, 200, 170)
Z_NEAR = 0.1


@dataclass(frozen=True)
class Box3:
    """An upright box: bottom-centre (x, y, z), size (l along yaw, w, h), yaw, BGR colour."""

    x: float
    y: float
    z: float
    length: float
    width: float
    height: float
    yaw: float
    colour: Colour

    def corners(self) -> npt.NDArray[np.float64]:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        l2, w2 = self.length / 2, self.width / 2
        base = np.array([[l2, w2], [l2, -w2], [-l2, -w2], [-l2, w2]])
        xy = base @ np.array([[c, s], [-s, c]]) + [self.x, self.y]
        lo = np.column_stack([xy, np.full(4, self.z)])
        hi = np.column_stack([xy, np.full(4, self.z + self.height)])
        return np.vstack([lo, hi])


# faces of Box3.corners() with outward winding, and their outward normals in box coordinates
_FACES = ((0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7), (4, 5, 6, 7), (0, 3, 2, 1))
_NORMALS = np.array([[1, 0, 0], [0, -1, 0], [-1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64)


@dataclass(frozen=True)
class Actor:
    """A traffic participant or obstacle; ``parts`` are generated from kind, pose and appearance."""

    kind: str  # one of CLASSES
    x: float
    y: float
    yaw: float
    parts: tuple[Box3, ...]
    name: str = ""

    def corners(self) -> npt.NDArray[np.float64]:
        return np.vstack([p.corners() for p in self.parts])


@dataclass(frozen=True)
class GroundPatch:
    """A flat polygon on the ground (z slightly above 0 to order it over the plane)."""

    points: tuple[tuple[float, float], ...]
    colour: Colour
    z: float = 0.0


@dataclass(frozen=True)
class World:
    ground_colour: Colour = (95, 110, 100)
    patches: tuple[GroundPatch, ...] = ()
    scenery: tuple[Box3, ...] = ()
    actors: tuple[Actor, ...] = ()
    sun: tuple[float, float, float] = (0.4, 0.3, 0.85)


@dataclass(frozen=True)
class RenderOptions:
    noise_sigma: float = 2.0
    blur_sigma: float = 0.0
    gain: float = 1.0
    bias: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class GroundTruth:
    actor: int  # index in world.actors
    kind: str
    box: tuple[float, float, float, float]  # x1 y1 x2 y2, clipped to the image
    visibility: float  # visible pixels / pixels if drawn alone
    distance: float  # m from the camera to the actor (horizontal)


@dataclass
class Frame:
    image: npt.NDArray[np.uint8]
    truth: list[GroundTruth] = field(default_factory=list)
    instances: npt.NDArray[np.int16] | None = None


# ---------------------------------------------------------------- actors


def _shade(c: Sequence[float], k: float) -> Colour:
    return (int(min(255, c[0] * k)), int(min(255, c[1] * k)), int(min(255, c[2] * k)))


def _local(x: float, y: float, yaw: float, dx: float, dy: float) -> tuple[float, float]:
    c, s = math.cos(yaw), math.sin(yaw)
    return x + c * dx - s * dy, y + s * dx + c * dy


def pedestrian(
    x: float, y: float, yaw: float, height: float, shirt: Colour, trousers: Colour, skin: Colour
) -> Actor:
    h = height
    leg, torso = 0.47 * h, 0.36 * h
    head = h - leg - torso
    w = 0.26 * h
    parts = (
        Box3(x, y, 0.0, 0.22 * h / 1.7, w * 0.8, leg, yaw, trousers),
        Box3(x, y, leg, 0.25 * h / 1.7, w, torso, yaw, shirt),
        Box3(x, y, leg + torso, 0.2, 0.18, head, yaw, skin),
    )
    return Actor("pedestrian", x, y, yaw, parts)


def cyclist(
    x: float, y: float, yaw: float, frame: Colour, shirt: Colour, skin: Colour, trousers: Colour
) -> Actor:
    wheel = 0.66
    fx, fy = _local(x, y, yaw, 0.55, 0.0)
    rx, ry = _local(x, y, yaw, -0.55, 0.0)
    sx, sy = _local(x, y, yaw, -0.15, 0.0)
    tire: Colour = (30, 30, 30)
    parts = (
        Box3(fx, fy, 0.0, wheel, 0.06, wheel, yaw, tire),
        Box3(rx, ry, 0.0, wheel, 0.06, wheel, yaw, tire),
        Box3(x, y, 0.35, 1.0, 0.08, 0.25, yaw, frame),
        Box3(sx, sy, 0.6, 0.25, 0.3, 0.45, yaw, trousers),
        Box3(sx, sy, 1.05, 0.3, 0.4, 0.55, yaw, shirt),
        Box3(sx, sy, 1.6, 0.2, 0.18, 0.22, yaw, skin),
    )
    return Actor("cyclist", x, y, yaw, parts)


def vehicle(
    x: float,
    y: float,
    yaw: float,
    length: float,
    width: float,
    height: float,
    body: Colour,
    van: bool = False,
) -> Actor:
    glass: Colour = (70, 60, 50)
    tire: Colour = (25, 25, 25)
    clearance = 0.25
    parts: list[Box3] = []
    for dx in (0.33 * length, -0.33 * length):
        for dy in (0.42 * width, -0.42 * width):
            wx, wy = _local(x, y, yaw, dx, dy)
            parts.append(Box3(wx, wy, 0.0, 0.6, 0.2, clearance + 0.1, yaw, tire))
    if van:
        parts.append(Box3(x, y, clearance, length, width, height - clearance, yaw, body))
        cx, cy = _local(x, y, yaw, 0.5 * length - 0.05, 0.0)
        parts.append(Box3(cx, cy, 0.55 * height, 0.12, 0.9 * width, 0.3 * height, yaw, glass))
    else:
        body_h = 0.45 * height
        parts.append(Box3(x, y, clearance, length, width, body_h, yaw, body))
        cx, cy = _local(x, y, yaw, -0.05 * length, 0.0)
        parts.append(
            Box3(
                cx, cy, clearance + body_h, 0.5 * length, 0.9 * width, height - clearance - body_h, yaw, glass
            )
        )
        parts.append(Box3(cx, cy, height - 0.05, 0.45 * length, 0.88 * width, 0.05, yaw, body))
    return Actor("vehicle", x, y, yaw, tuple(parts))


def obstacle(x: float, y: float, yaw: float, variant: int, size: float, colour: Colour) -> Actor:
    if variant == 0:  # traffic cone: orange/white stack
        orange: Colour = (20, 90, 240)
        white: Colour = (235, 235, 235)
        parts = (
            Box3(x, y, 0.0, 0.4 * size / 0.7, 0.4 * size / 0.7, 0.04, yaw, (30, 30, 30)),
            Box3(x, y, 0.04, 0.26 * size / 0.7, 0.26 * size / 0.7, 0.25 * size, yaw, orange),
            Box3(x, y, 0.04 + 0.25 * size, 0.18 * size / 0.7, 0.18 * size / 0.7, 0.2 * size, yaw, white),
            Box3(x, y, 0.04 + 0.45 * size, 0.1 * size / 0.7, 0.1 * size / 0.7, 0.5 * size, yaw, orange),
        )
    elif variant == 1:  # garbage bag: two lumpy boxes
        parts = (
            Box3(x, y, 0.0, 0.7 * size, 0.6 * size, 0.55 * size, yaw, colour),
            Box3(x, y, 0.55 * size, 0.45 * size, 0.4 * size, 0.25 * size, yaw + 0.4, colour),
        )
    elif variant == 2:  # cardboard box
        parts = (Box3(x, y, 0.0, size, 0.8 * size, 0.6 * size, yaw, colour),)
    else:  # debris / tyre: low and flat
        parts = (Box3(x, y, 0.0, size, 0.9 * size, 0.3 * size, yaw, colour),)
    return Actor("obstacle", x, y, yaw, parts)


# ---------------------------------------------------------------- rendering


def _clip_near(poly: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Sutherland–Hodgman clip of an optical-frame polygon (N,3) against z >= Z_NEAR."""
    out: list[npt.NDArray[np.float64]] = []
    n = len(poly)
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        ina, inb = a[2] >= Z_NEAR, b[2] >= Z_NEAR
        if ina:
            out.append(a)
        if ina != inb:
            t = (Z_NEAR - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out) if out else np.zeros((0, 3))


def _poly_pixels(camera: PinholeCamera, pts_cam: npt.NDArray[np.float64]) -> npt.NDArray[np.int32] | None:
    clipped = _clip_near(pts_cam)
    if len(clipped) < 3:
        return None
    uv = camera.project_optical(clipped)
    uv = np.clip(uv, -1e5, 1e5)
    return np.round(uv * 16).astype(np.int32)  # 4 fractional bits for cv2 shift=4


def _faces(
    camera: PinholeCamera,
    boxes: Iterable[Box3],
    sun: npt.NDArray[np.float64],
    label: int,
) -> list[tuple[float, npt.NDArray[np.int32], Colour, int]]:
    cam_pos = camera.extrinsics.translation
    out: list[tuple[float, npt.NDArray[np.int32], Colour, int]] = []
    for b in boxes:
        corners = b.corners()
        cw = camera.to_optical(corners)
        c, s = math.cos(b.yaw), math.sin(b.yaw)
        rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        normals = _NORMALS @ rot.T
        for fi, face in enumerate(_FACES):
            centre = corners[list(face)].mean(axis=0)
            if float(np.dot(normals[fi], cam_pos - centre)) <= 0.0:
                continue  # back face
            px = _poly_pixels(camera, cw[list(face)])
            if px is None:
                continue
            light = 0.55 + 0.45 * max(0.0, float(np.dot(normals[fi], sun)))
            depth = float(np.linalg.norm(centre - cam_pos))
            out.append((depth, px, _shade(b.colour, light), label))
    return out


def render(world: World, camera: PinholeCamera, options: RenderOptions = RenderOptions()) -> Frame:
    """Draw the world; return the image, ground-truth boxes and the instance buffer (actor index + 1)."""
    intr = camera.intrinsics
    h, w = intr.height, intr.width
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[:] = SKY
    inst = np.zeros((h, w), dtype=np.int16)
    sun = np.asarray(world.sun, dtype=np.float64)
    sun /= np.linalg.norm(sun)
    # ground plane: a large square around the camera, then ground patches in list order
    cx, cy = camera.extrinsics.x, camera.extrinsics.y
    big = 400.0
    ground = [((cx - big, cy - big), (cx + big, cy - big), (cx + big, cy + big), (cx - big, cy + big))]
    for pts, colour in [(ground[0], world.ground_colour)] + [(p.points, p.colour) for p in world.patches]:
        arr = np.array([[x, y, 0.0] for x, y in pts])
        px = _poly_pixels(camera, camera.to_optical(arr))
        if px is not None:
            cv2.fillPoly(img, [px], colour, lineType=cv2.LINE_AA, shift=4)
    # scenery and actors, painter's algorithm over all faces
    faces = _faces(camera, world.scenery, sun, 0)
    for i, actor in enumerate(world.actors):
        faces += _faces(camera, actor.parts, sun, i + 1)
    faces.sort(key=lambda f: -f[0])
    for _, px, colour, label in faces:
        cv2.fillPoly(img, [px], colour, lineType=cv2.LINE_AA, shift=4)
        cv2.fillPoly(inst, [px], label, shift=4)
    truth = _ground_truth(world, camera, inst)
    img = _camera_effects(img, options)
    return Frame(img, truth, inst)


def _ground_truth(world: World, camera: PinholeCamera, inst: npt.NDArray[np.int16]) -> list[GroundTruth]:
    intr = camera.intrinsics
    h, w = intr.height, intr.width
    sun = np.zeros(3)
    out: list[GroundTruth] = []
    counts = np.bincount(inst.ravel(), minlength=len(world.actors) + 1)
    for i, actor in enumerate(world.actors):
        pc = camera.to_optical(actor.corners())
        if np.all(pc[:, 2] < Z_NEAR):
            continue
        faces = _faces(camera, actor.parts, sun, 1)
        if not faces:
            continue
        allpx = np.vstack([f[1] for f in faces]) >> 4
        x0, y0 = max(0, int(allpx[:, 0].min()) - 1), max(0, int(allpx[:, 1].min()) - 1)
        x1, y1 = min(w, int(allpx[:, 0].max()) + 2), min(h, int(allpx[:, 1].max()) + 2)
        if x1 <= x0 or y1 <= y0:
            continue
        alone = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        off = np.array([x0 * 16, y0 * 16], dtype=np.int32)
        for _, px, _, _ in faces:
            cv2.fillPoly(alone, [px - off], 1, shift=4)
        ys, xs = np.nonzero(alone)
        if len(xs) == 0:
            continue
        box = (float(xs.min() + x0), float(ys.min() + y0), float(xs.max() + 1 + x0), float(ys.max() + 1 + y0))
        vis = float(counts[i + 1]) / float(len(xs))
        dist = math.hypot(actor.x - camera.extrinsics.x, actor.y - camera.extrinsics.y)
        out.append(GroundTruth(i, actor.kind, box, min(1.0, vis), dist))
    return out


def _camera_effects(img: npt.NDArray[np.uint8], o: RenderOptions) -> npt.NDArray[np.uint8]:
    if o.blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), o.blur_sigma)
    if o.noise_sigma <= 0 and o.gain == 1.0 and o.bias == 0.0:
        return img
    rng = np.random.default_rng(o.seed)
    f = img.astype(np.float32) * o.gain + o.bias
    if o.noise_sigma > 0:
        f += rng.normal(0.0, o.noise_sigma, img.shape).astype(np.float32)
    return np.clip(f, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- randomized scenes


def _colour(rng: np.random.Generator, lo: int = 20, hi: int = 235) -> Colour:
    c = rng.integers(lo, hi, 3)
    return (int(c[0]), int(c[1]), int(c[2]))


_SKIN: tuple[Colour, ...] = ((140, 170, 220), (110, 140, 190), (80, 105, 150), (60, 80, 115), (150, 185, 230))
_CAR: tuple[Colour, ...] = (
    (240, 240, 240),
    (30, 30, 30),
    (150, 150, 150),
    (40, 40, 180),
    (160, 90, 30),
    (200, 200, 200),
    (60, 120, 60),
    (20, 180, 230),
)


def random_actor(rng: np.random.Generator, kind: str, x: float, y: float, yaw: float) -> Actor:
    if kind == "pedestrian":
        return pedestrian(
            x,
            y,
            yaw,
            float(rng.uniform(1.45, 1.95)),
            _colour(rng),
            _colour(rng, 10, 160),
            _SKIN[int(rng.integers(len(_SKIN)))],
        )
    if kind == "cyclist":
        return cyclist(
            x, y, yaw, _colour(rng), _colour(rng), _SKIN[int(rng.integers(len(_SKIN)))], _colour(rng, 10, 160)
        )
    if kind == "vehicle":
        van = bool(rng.random() < 0.3)
        length = float(rng.uniform(4.8, 7.0) if van else rng.uniform(3.8, 5.0))
        height = float(rng.uniform(2.0, 2.8) if van else rng.uniform(1.4, 1.7))
        width = float(rng.uniform(1.9, 2.2) if van else rng.uniform(1.7, 1.9))
        body = _CAR[int(rng.integers(len(_CAR)))] if rng.random() < 0.7 else _colour(rng)
        return vehicle(x, y, yaw, length, width, height, body, van)
    variant = int(rng.integers(4))
    colours = {
        1: (25, 25, 25) if rng.random() < 0.6 else (40, 120, 40),
        2: (60, 110, 160),
        3: _colour(rng, 30, 200),
    }
    size = float(rng.uniform(0.5, 0.8) if variant == 0 else rng.uniform(0.3, 0.8))
    return obstacle(x, y, yaw, variant, size, colours.get(variant, (0, 0, 0)))


def street_patches(
    rng: np.random.Generator,
    road_width: float,
    lanes: int,
    yaw: float,
    x0: float,
    y0: float,
    length: float = 300.0,
) -> tuple[list[GroundPatch], list[Box3]]:
    """A straight road through (x0, y0) along yaw: asphalt, sidewalks, dashed lane lines, curbs."""
    c, s = math.cos(yaw), math.sin(yaw)

    def rect(a0: float, a1: float, b0: float, b1: float) -> tuple[tuple[float, float], ...]:
        pts = [(a0, b0), (a1, b0), (a1, b1), (a0, b1)]
        return tuple((x0 + c * a - s * b, y0 + s * a + c * b) for a, b in pts)

    g = int(rng.integers(60, 110))
    asphalt: Colour = (g, g, g + int(rng.integers(-5, 6)))
    walk = int(rng.integers(120, 180))
    half = road_width / 2
    walk_w = float(rng.uniform(2.0, 5.0))
    patches = [
        GroundPatch(rect(-length, length, half, half + walk_w), (walk, walk, walk + 5)),
        GroundPatch(rect(-length, length, -half - walk_w, -half), (walk, walk, walk + 5)),
        GroundPatch(rect(-length, length, -half, half), asphalt),
    ]
    white: Colour = (230, 230, 230)
    yellow: Colour = (40, 190, 220)
    lane_w = road_width / lanes
    dash, gap = 3.0, float(rng.uniform(4.0, 9.0))
    for k in range(1, lanes):
        b = -half + k * lane_w
        centre = k == lanes // 2 and lanes % 2 == 0
        if centre:
            patches.append(GroundPatch(rect(-length, length, b - 0.08, b + 0.08), yellow))
            continue
        a = -length
        while a < length:
            patches.append(GroundPatch(rect(a, a + dash, b - 0.07, b + 0.07), white))
            a += dash + gap
    patches.append(GroundPatch(rect(-length, length, half - 0.35, half - 0.2), white))
    patches.append(GroundPatch(rect(-length, length, -half + 0.2, -half + 0.35), white))
    curb_h = float(rng.uniform(0.1, 0.2))
    kerb: Colour = (170, 170, 175)
    curbs = []
    for side in (1.0, -1.0):
        bx, by = x0 - s * side * (half + 0.1), y0 + c * side * (half + 0.1)
        curbs.append(Box3(bx, by, 0.0, 2 * length, 0.2, curb_h, yaw, kerb))
    return patches, curbs


def random_scenery(
    rng: np.random.Generator, road_width: float, yaw: float, x0: float, y0: float
) -> list[Box3]:
    """Buildings, poles and trees along the road (distractors)."""
    c, s = math.cos(yaw), math.sin(yaw)
    out: list[Box3] = []
    for side in (1.0, -1.0):
        a = float(rng.uniform(-40, 0))
        while a < 150:
            off = side * (road_width / 2 + float(rng.uniform(6.0, 12.0)))
            ln = float(rng.uniform(8, 25))
            bx, by = x0 + c * (a + ln / 2) - s * off, y0 + s * (a + ln / 2) + c * off
            out.append(
                Box3(
                    bx,
                    by,
                    0.0,
                    ln,
                    float(rng.uniform(6, 12)),
                    float(rng.uniform(4, 25)),
                    yaw,
                    _colour(rng, 60, 220),
                )
            )
            a += ln + float(rng.uniform(0, 10))
        a = float(rng.uniform(-20, 10))
        while a < 120:
            off = side * (road_width / 2 + float(rng.uniform(0.5, 1.5)))
            px, py = x0 + c * a - s * off, y0 + s * a + c * off
            if rng.random() < 0.5:
                out.append(Box3(px, py, 0.0, 0.15, 0.15, float(rng.uniform(4, 8)), yaw, (120, 120, 125)))
            else:
                out.append(Box3(px, py, 0.0, 0.3, 0.3, 2.2, yaw, (40, 60, 90)))
                green = (int(rng.integers(20, 70)), int(rng.integers(90, 160)), int(rng.integers(20, 80)))
                out.append(Box3(px, py, 2.2, 2.5, 2.5, float(rng.uniform(1.5, 3.0)), yaw + 0.3, green))
            a += float(rng.uniform(8, 25))
    return out


def random_camera(
    rng: np.random.Generator,
    width: int = 640,
    height: int = 480,
    roadside: bool | None = None,
) -> PinholeCamera:
    """A vehicle-mounted (1.2-2.8 m, slight pitch) or roadside (4-8 m, pitched down) camera at the origin."""
    if roadside is None:
        roadside = bool(rng.random() < 0.35)
    hfov = float(rng.uniform(55, 95))
    intr = Intrinsics.from_fov(width, height, hfov)
    if roadside:
        ext = Extrinsics(
            0.0,
            0.0,
            float(rng.uniform(4.0, 8.0)),
            0.0,
            math.radians(float(rng.uniform(12, 30))),
            float(rng.uniform(-0.3, 0.3)),
        )
    else:
        ext = Extrinsics(
            0.0,
            0.0,
            float(rng.uniform(1.2, 2.8)),
            float(rng.uniform(-0.02, 0.02)),
            math.radians(float(rng.uniform(0, 10))),
            float(rng.uniform(-0.1, 0.1)),
        )
    return PinholeCamera(intr, ext, "roadside" if roadside else "front")


def random_world(
    rng: np.random.Generator,
    camera: PinholeCamera,
    n_actors: int | None = None,
    kinds: Sequence[str] = CLASSES,
) -> World:
    """A straight street seen by ``camera``, actors placed in its view at 3-45 m."""
    lanes = int(rng.integers(2, 5))
    road_width = lanes * float(rng.uniform(3.0, 3.7))
    cam = camera.extrinsics
    layout = rng.random()
    bands: list[tuple[float, float, float]] = []  # (x0, y0, yaw) of each road, for placing actors
    if layout < 0.35:  # an intersection ahead (the rig's sites)
        lanes = 2 * int(rng.integers(1, 3))
        road_width = lanes * float(rng.uniform(3.0, 3.7))
        # the camera stands on one of the roads (or its sidewalk), looking roughly along it
        d = float(rng.uniform(5.0, 35.0))
        road_yaw = cam.yaw + float(rng.normal(0.0, 0.3))
        lat = float(rng.uniform(-1.0, 1.0)) * (road_width / 2 + 1.0)
        x0 = cam.x + d * math.cos(road_yaw) - lat * math.sin(road_yaw)
        y0 = cam.y + d * math.sin(road_yaw) + lat * math.cos(road_yaw)
        p0, b0 = intersection_parts(rng, road_width / 2, lanes)
        patches, scenery = place(p0, b0, x0, y0, road_yaw)
        bands = [(x0, y0, road_yaw), (x0, y0, road_yaw + math.pi / 2)]
    else:
        if layout < 0.55:  # a road crossing the view in front of the camera
            road_yaw = cam.yaw + math.pi / 2 + float(rng.normal(0, 0.3))
            d = float(rng.uniform(4.0, 25.0))
            x0, y0 = cam.x + d * math.cos(cam.yaw), cam.y + d * math.sin(cam.yaw)
        else:
            road_yaw = cam.yaw + float(rng.normal(0, 0.2))
            lateral = float(rng.uniform(-0.4, 0.4)) * road_width
            x0 = cam.x - math.sin(road_yaw) * lateral
            y0 = cam.y + math.cos(road_yaw) * lateral
        patches, curbs = street_patches(rng, road_width, lanes, road_yaw, x0, y0)
        scenery = curbs + random_scenery(rng, road_width, road_yaw, x0, y0)
        bands = [(x0, y0, road_yaw)]
    # nothing built on top of the camera
    scenery = [b for b in scenery if math.hypot(b.x - cam.x, b.y - cam.y) > max(b.length, b.width) / 2 + 2.0]
    if n_actors is None:
        n_actors = int(rng.integers(1, 9))
    half_fov = math.atan2(camera.intrinsics.width / 2, camera.intrinsics.fx)
    actors: list[Actor] = []
    placed: list[tuple[float, float, float]] = []
    tries = 0
    while len(actors) < n_actors and tries < 50 * n_actors:
        tries += 1
        kind = kinds[int(rng.integers(len(kinds)))]
        rng_m = float(3.0 + 42.0 * rng.random() ** 1.5)
        if kind == "obstacle":
            rng_m = float(3.0 + 22.0 * rng.random() ** 1.3)
        bearing = cam.yaw + float(rng.uniform(-1.0, 1.0)) * half_fov * 0.95
        x, y = cam.x + rng_m * math.cos(bearing), cam.y + rng_m * math.sin(bearing)
        on_road = [
            (byaw, abs(-math.sin(byaw) * (x - bx) + math.cos(byaw) * (y - by)) <= road_width / 2 + 2.0)
            for bx, by, byaw in bands
        ]
        if not any(ok for _, ok in on_road):
            continue  # stay on the roads and sidewalks
        road_yaw = next(byaw for byaw, ok in on_road if ok)
        radius = {"pedestrian": 0.5, "cyclist": 1.0, "vehicle": 3.0, "obstacle": 0.6}[kind]
        if any(math.hypot(x - px, y - py) < radius + pr for px, py, pr in placed):
            continue
        if kind in ("vehicle", "cyclist"):
            yaw = road_yaw + (0.0 if rng.random() < 0.5 else math.pi) + float(rng.normal(0, 0.15))
            if rng.random() < 0.15:
                yaw += math.pi / 2
        else:
            yaw = float(rng.uniform(-math.pi, math.pi))
        actors.append(random_actor(rng, kind, x, y, yaw))
        placed.append((x, y, radius))
    sun = (float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)), float(rng.uniform(0.3, 1.2)))
    g = _colour(rng, 60, 140)
    return World(g, tuple(patches), tuple(scenery), tuple(actors), sun)


def random_frame(
    seed: int, width: int = 640, height: int = 480, roadside: bool | None = None
) -> tuple[Frame, PinholeCamera, World]:
    """One randomized, deterministic training/evaluation frame."""
    rng = np.random.default_rng(seed)
    camera = random_camera(rng, width, height, roadside)
    world = random_world(rng, camera)
    opts = RenderOptions(
        noise_sigma=float(rng.uniform(0.0, 6.0)),
        blur_sigma=float(rng.uniform(0.0, 1.2)),
        gain=float(rng.uniform(0.6, 1.3)),
        bias=float(rng.uniform(-25, 25)),
        seed=seed,
    )
    return render(world, camera, opts), camera, world


# ---------------------------------------------------------------- scenario worlds


def world_from_scenario(spec: dict[str, Any], seed: int = 0) -> World:
    """A world from a scenario mapping.

    ``{road: {width, lanes, yaw, x, y}, actors: [{kind, x, y, yaw, name}]}``; appearance from ``seed``.
    """
    rng = np.random.default_rng(seed)
    road = spec.get("road", {})
    patches, curbs = street_patches(
        rng,
        float(road.get("width", 7.0)),
        int(road.get("lanes", 2)),
        float(road.get("yaw", 0.0)),
        float(road.get("x", 0.0)),
        float(road.get("y", 0.0)),
    )
    actors = [actor_from_spec(a, rng) for a in spec.get("actors", [])]
    return World(patches=tuple(patches), scenery=tuple(curbs), actors=tuple(actors))


def actor_from_spec(a: dict[str, Any], rng: np.random.Generator | None = None) -> Actor:
    rng = rng or np.random.default_rng(0)
    kind = str(a["kind"])
    if kind not in CLASSES:
        raise ValueError(f"unknown actor kind {kind!r}")
    actor = random_actor(rng, kind, float(a["x"]), float(a["y"]), float(a.get("yaw", 0.0)))
    return Actor(actor.kind, actor.x, actor.y, actor.yaw, actor.parts, str(a.get("name", "")))


def move_actor(actor: Actor, x: float, y: float, yaw: float | None = None) -> Actor:
    """The same actor translated (and rotated about its origin) to a new pose."""
    yaw = actor.yaw if yaw is None else yaw
    dyaw = yaw - actor.yaw
    c, s = math.cos(dyaw), math.sin(dyaw)
    parts = []
    for p in actor.parts:
        dx, dy = p.x - actor.x, p.y - actor.y
        parts.append(
            Box3(
                x + c * dx - s * dy,
                y + s * dx + c * dy,
                p.z,
                p.length,
                p.width,
                p.height,
                p.yaw + dyaw,
                p.colour,
            )
        )
    return Actor(actor.kind, x, y, yaw, tuple(parts), actor.name)


def labelled_truth(
    truth: Sequence[GroundTruth],
    min_height: float = 12.0,
    min_visibility: float = 0.5,
) -> list[tuple[tuple[float, float, float, float], str, bool]]:
    """(box, kind, ignore) for training and evaluation: small or mostly hidden actors are ignored."""
    out = []
    for g in truth:
        ignore = g.visibility < min_visibility or (g.box[3] - g.box[1]) < min_height
        out.append((g.box, g.kind, ignore))
    return out


# ---------------------------------------------------------------- scenario actors and the HIL node


def intersection_parts(rng: np.random.Generator, half_width: float = 7.0, lanes: int = 4,
                       ) -> tuple[list[GroundPatch], list[Box3]]:  # fmt: skip
    """Two straight roads crossing at the origin (curbs at +-half_width), buildings in the corner blocks."""
    patches: list[GroundPatch] = []
    scenery: list[Box3] = []
    for yaw in (0.0, math.pi / 2):
        p, _ = street_patches(rng, 2 * half_width, lanes, yaw, 0.0, 0.0, length=150.0)
        patches += p
        c, s = math.cos(yaw), math.sin(yaw)
        seg = 150.0 - half_width
        for along in (half_width + seg / 2, -(half_width + seg / 2)):  # curbs stop at the junction
            for side in (1.0, -1.0):
                a, b = along, side * (half_width + 0.1)
                scenery.append(Box3(c * a - s * b, s * a + c * b, 0.0, seg, 0.2, 0.15, yaw, (170, 170, 175)))
    for qx in (1.0, -1.0):
        for qy in (1.0, -1.0):
            a = half_width + float(rng.uniform(6.0, 10.0))
            while a < 120.0:
                ln = float(rng.uniform(8, 25))
                depth = float(rng.uniform(6, 12))
                h = float(rng.uniform(4, 25))
                off = half_width + float(rng.uniform(6.0, 10.0)) + depth / 2
                scenery.append(
                    Box3(qx * (a + ln / 2), qy * off, 0.0, ln, depth, h, 0.0, _colour(rng, 60, 220))
                )
                scenery.append(
                    Box3(qx * off, qy * (a + ln / 2), 0.0, depth, ln, h, 0.0, _colour(rng, 60, 220))
                )
                a += ln + float(rng.uniform(2, 10))
            a = half_width + float(rng.uniform(3.0, 8.0))
            while a < 100.0:
                side = half_width + float(rng.uniform(0.6, 1.5))
                for px, py in ((qx * a, qy * side), (qx * side, qy * a)):
                    if rng.random() < 0.5:
                        scenery.append(
                            Box3(px, py, 0.0, 0.15, 0.15, float(rng.uniform(4, 8)), 0.0, (120, 120, 125))
                        )
                    else:
                        scenery.append(Box3(px, py, 0.0, 0.3, 0.3, 2.2, 0.0, (40, 60, 90)))
                        green = (
                            int(rng.integers(20, 70)),
                            int(rng.integers(90, 160)),
                            int(rng.integers(20, 80)),
                        )
                        scenery.append(Box3(px, py, 2.2, 2.5, 2.5, float(rng.uniform(1.5, 3.0)), 0.3, green))
                a += float(rng.uniform(10, 25))
    return patches, scenery


def place(patches: Sequence[GroundPatch], boxes: Sequence[Box3], x: float, y: float, yaw: float,
          ) -> tuple[list[GroundPatch], list[Box3]]:  # fmt: skip
    """Patches and boxes moved from the origin to pose (x, y, yaw)."""
    c, s = math.cos(yaw), math.sin(yaw)

    def tf(px: float, py: float) -> tuple[float, float]:
        return x + c * px - s * py, y + s * px + c * py

    out_p = [GroundPatch(tuple(tf(px, py) for px, py in p.points), p.colour, p.z) for p in patches]
    out_b = [Box3(*tf(b.x, b.y), b.z, b.length, b.width, b.height, b.yaw + yaw, b.colour) for b in boxes]
    return out_p, out_b


def intersection_world(seed: int = 0, half_width: float = 7.0, lanes: int = 4) -> World:
    """The rig's sites: a four-way intersection at the origin (config/maps demo_intersection geometry)."""
    rng = np.random.default_rng(seed)
    patches, scenery = intersection_parts(rng, half_width, lanes)
    return World(ground_colour=_colour(rng, 60, 140), patches=tuple(patches), scenery=tuple(scenery))


def actor_from_object(
    kind: str, x: float, y: float, yaw: float, size: tuple[float, float, float], key: int
) -> Actor:
    """A renderable actor for a ground-truth object; appearance seeded by ``key`` (stable per id)."""
    rng = np.random.default_rng(key)
    length, width, height = size
    if kind == "pedestrian":
        return pedestrian(
            x,
            y,
            yaw,
            height if height > 1.0 else 1.75,
            _colour(rng),
            _colour(rng, 10, 160),
            _SKIN[int(rng.integers(len(_SKIN)))],
        )
    if kind == "cyclist":
        return random_actor(rng, "cyclist", x, y, yaw)
    if kind in ("vehicle", "emergency_vehicle"):
        body = (240, 240, 240) if kind == "emergency_vehicle" else _CAR[int(rng.integers(len(_CAR)))]
        return vehicle(x, y, yaw, length or 4.5, width or 1.8, height or 1.5, body, van=height > 1.9)
    if max(length, width) > 2.0:  # a large static obstacle (parked truck, skip)
        h = max(height, 0.4 * max(length, width))
        return Actor("obstacle", x, y, yaw, (Box3(x, y, 0.0, length, width, h, yaw, (60, 90, 120)),))
    return random_actor(rng, "obstacle", x, y, yaw)


@functools.lru_cache(maxsize=1)
def _node_class() -> type:
    """The thin publisher node (built lazily: importing this module never needs rclpy)."""
    from dataclasses import dataclass as _dc

    from nav_msgs.msg import Odometry
    from roadedge_msgs.msg import ObjectArray
    from sensor_msgs.msg import CameraInfo, Image

    from roadedge import topics
    from roadedge.config import param
    from roadedge.diagnostics import Health, Level
    from roadedge.perception.images import from_bgr
    from roadedge.ros.node import RoadedgeNode

    kinds = {1: "pedestrian", 2: "cyclist", 3: "vehicle", 4: "obstacle", 5: "emergency_vehicle"}

    @_dc(frozen=True)
    class HilCameraConfig:
        name: str = param("front", help="camera name; topics sensing/camera/<name>/{image_raw,camera_info}")
        rate: float = param(10.0, help="frames per second", low=0.1, high=60.0)
        width: int = param(640, help="pixels", low=16, high=4096)
        height: int = param(480, help="pixels", low=16, high=4096)
        hfov_deg: float = param(70.0, help="horizontal field of view", low=10.0, high=170.0)
        mounted_on_vehicle: bool = param(True, help="true: pose = hil/ground_truth + mount; false: fixed")
        x: float = param(1.5, help="m, mount in base_link, or position in the site frame")
        y: float = param(0.0, help="m")
        z: float = param(2.0, help="m")
        roll: float = param(0.0, help="rad")
        pitch: float = param(0.087, help="rad, positive looks down")
        yaw: float = param(0.0, help="rad")
        noise_sigma: float = param(2.0, help="image noise, grey levels", low=0.0)
        seed: int = param(0, help="appearance seed")

    class HilCamera(RoadedgeNode[HilCameraConfig]):
        Schema = HilCameraConfig
        default_name = "hil_camera"

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            c = self.config
            self.intrinsics = Intrinsics.from_fov(c.width, c.height, c.hfov_deg)
            self.world = intersection_world(c.seed)
            self.actors: tuple[Actor, ...] = ()
            self.vehicle_pose: tuple[float, float, float] | None = None
            self.frames = 0
            prefix = f"sensing/camera/{c.name}"
            self.image_pub = self.publisher(
                topics.Topic(f"{prefix}/image_raw", "sensor_msgs/msg/Image", "sensor", "")
            )
            self.info_pub = self.publisher(
                topics.Topic(f"{prefix}/camera_info", "sensor_msgs/msg/CameraInfo", "sensor", "")
            )
            self.subscription(topics.HIL_ACTORS, self._on_actors)
            if c.mounted_on_vehicle:
                self.subscription(topics.GROUND_TRUTH, self._on_pose)
            self.create_timer(1.0 / c.rate, self._tick)
            self.health.add("hil_camera", lambda: Health(Level.OK, "rendering", {"frames": str(self.frames)}))

        def _on_pose(self, msg: Odometry) -> None:
            p, q = msg.pose.pose.position, msg.pose.pose.orientation
            yaw = math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
            self.vehicle_pose = (p.x, p.y, yaw)

        def _on_actors(self, msg: ObjectArray) -> None:
            out = []
            for o in msg.objects:
                q = o.pose.pose.orientation
                yaw = math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
                kind = kinds.get(int(o.classification), "obstacle")
                out.append(
                    actor_from_object(
                        kind,
                        o.pose.pose.position.x,
                        o.pose.pose.position.y,
                        yaw,
                        (o.size.x, o.size.y, o.size.z),
                        int(o.id) + 7919 * self.config.seed,
                    )
                )
            self.actors = tuple(out)

        def camera(self) -> PinholeCamera | None:
            c = self.config
            if not c.mounted_on_vehicle:
                return PinholeCamera(
                    self.intrinsics, Extrinsics(c.x, c.y, c.z, c.roll, c.pitch, c.yaw), c.name
                )
            if self.vehicle_pose is None:
                return None
            vx, vy, vyaw = self.vehicle_pose
            cx = vx + math.cos(vyaw) * c.x - math.sin(vyaw) * c.y
            cy = vy + math.sin(vyaw) * c.x + math.cos(vyaw) * c.y
            return PinholeCamera(
                self.intrinsics, Extrinsics(cx, cy, c.z, c.roll, c.pitch, vyaw + c.yaw), c.name
            )

        def _tick(self) -> None:
            cam = self.camera()
            if cam is None:
                return
            world = World(self.world.ground_colour, self.world.patches, self.world.scenery, self.actors)
            frame = render(world, cam, RenderOptions(noise_sigma=self.config.noise_sigma, seed=self.frames))
            stamp = self.get_clock().now().to_msg()
            data, w, h, enc, step = from_bgr(frame.image)
            img = Image(width=w, height=h, encoding=enc, step=step, data=data)
            img.header.stamp = stamp
            img.header.frame_id = f"{self.config.name}_optical"
            info = CameraInfo()
            fields = self.intrinsics.to_camera_info()
            info.header = img.header
            info.width, info.height = w, h
            info.distortion_model = fields["distortion_model"]
            info.d, info.k, info.r, info.p = fields["d"], fields["k"], fields["r"], fields["p"]
            self.info_pub.publish(info)
            self.image_pub.publish(img)
            self.frames += 1

    return HilCamera


def __getattr__(name: str) -> Any:
    if name == "NODE":
        return _node_class()
    if name == "main":
        from roadedge.ros.node import make_main

        return make_main(_node_class())
    raise AttributeError(name)
