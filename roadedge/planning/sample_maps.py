"""Generator of roadedge's own lanelet2 sample maps for the HIL sites (config/maps/*.osm).

    tools/with_env.sh python -m roadedge.planning.sample_maps config/maps

hil_block:        a rounded-rectangle street (120 m x 80 m at the centre line, 15 m corner radius) around a
                  city block; one lane each way (3.5 m), curbs (type road_border) on both sides. The outer
                  lane runs counter-clockwise (lanelets 1001..1008), the inner lane clockwise (1101..1108);
                  both have their curb on the right. Speed limit 30 km/h, 20 km/h in the corners.
demo_intersection: the signalized four-way intersection of hil/scenarios/demo_sweep_intersection.yaml, centre
                  at the origin; four 80 m arms (from 12 m to 92 m) with two 3.5 m lanes each way, curbs
                  on both sides (|offset| = 7 m) and curb corners (radius 5 m) that are the right bounds of
                  the right-turn lanelets. Arm k (0 south, 1 east, 2 north, 3 west), base = 2000 + 100 k:
                  inbound lanelets base+1 (inner) and base+2 (curb lane) with stop line 3000+k (across both)
                  and traffic light regulatory element 4000+k; outbound base+3 (inner), base+4 (curb lane);
                  connecting lanelets base+11 (inner straight), base+12 (left), base+21 (curb-lane
                  straight), base+22 (right). Eastbound is arm 3: 2301/2302 -> 2311/2321 -> 2103/2104.

Local coordinates are ENU metres from the site origin (config/maps/sites.yaml); the files carry lat/lon
written with lanelet2's LocalCartesianProjector from that origin.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path as FsPath
from typing import Any

from roadedge.planning.lanelet_map import require_lanelet2

Point = tuple[float, float]

BLOCK_ORIGIN = (31.28500, 121.16000, 0.0)
INTERSECTION_ORIGIN = (31.2304, 121.4737, 4.0)  # hil/scenarios/demo_sweep_intersection.yaml
LANE_WIDTH = 3.5


class _Builder:
    def __init__(self, first_id: int = 100000) -> None:
        self.ll2 = require_lanelet2()
        self.core = self.ll2.core
        self.next_id = first_id
        self.points: dict[tuple[int, int], Any] = {}
        self.map = self.core.LaneletMap()

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def point(self, p: Point) -> Any:
        key = (round(p[0] * 1000), round(p[1] * 1000))  # mm grid: shared end points become one node
        if key not in self.points:
            self.points[key] = self.core.Point3d(self._id(), p[0], p[1], 0.0)
        return self.points[key]

    def line(self, pts: list[Point], kind: str, subtype: str | None = None, lid: int | None = None) -> Any:
        attrs = {"type": kind}
        if subtype:
            attrs["subtype"] = subtype
        ls = self.core.LineString3d(lid if lid is not None else self._id(), [self.point(p) for p in pts])
        for k, v in attrs.items():
            ls.attributes[k] = v
        self.map.add(ls)
        return ls

    def lanelet(self, lid: int, left: Any, right: Any, speed_kmh: float, turn: str | None = None) -> Any:
        ll = self.core.Lanelet(lid, left, right)
        ll.attributes["type"] = "lanelet"
        ll.attributes["subtype"] = "road"
        ll.attributes["location"] = "urban"
        ll.attributes["one_way"] = "yes"
        ll.attributes["speed_limit"] = f"{speed_kmh:g}"
        if turn:
            ll.attributes["turn_direction"] = turn
        self.map.add(ll)
        return ll

    def write(self, path: FsPath, origin: tuple[float, float, float]) -> None:
        io, proj = self.ll2.io, self.ll2.projection
        projector = proj.LocalCartesianProjector(io.Origin(*origin))
        path.parent.mkdir(parents=True, exist_ok=True)
        io.write(str(path), self.map, projector)


def _arc(cx: float, cy: float, r: float, a0: float, a1: float, step_deg: float = 5.0) -> list[Point]:
    n = max(2, math.ceil(abs(math.degrees(a1 - a0)) / step_deg) + 1)
    return [
        (cx + r * math.cos(a0 + (a1 - a0) * i / (n - 1)), cy + r * math.sin(a0 + (a1 - a0) * i / (n - 1)))
        for i in range(n)
    ]


def _straight(a: Point, b: Point, step: float = 5.0) -> list[Point]:
    n = max(2, math.ceil(math.hypot(b[0] - a[0], b[1] - a[1]) / step) + 1)
    return [(a[0] + (b[0] - a[0]) * i / (n - 1), a[1] + (b[1] - a[1]) * i / (n - 1)) for i in range(n)]


def block_sections(
    offset: float, half_x: float = 60.0, half_y: float = 40.0, radius: float = 15.0
) -> list[list[Point]]:
    """The 8 counter-clockwise sections (bottom straight, SE corner, right straight, ...) of the rounded
    rectangle at lateral offset `offset` outward from the centre line."""
    r = radius + offset
    cx, cy = half_x - radius, half_y - radius
    hx, hy = half_x + offset, half_y + offset
    return [
        _straight((-cx, -hy), (cx, -hy)),
        _arc(cx, -cy, r, -math.pi / 2, 0.0),
        _straight((hx, -cy), (hx, cy)),
        _arc(cx, cy, r, 0.0, math.pi / 2),
        _straight((cx, hy), (-cx, hy)),
        _arc(-cx, cy, r, math.pi / 2, math.pi),
        _straight((-hx, cy), (-hx, -cy)),
        _arc(-cx, -cy, r, math.pi, 1.5 * math.pi),
    ]


def build_block(out: FsPath) -> None:
    b = _Builder()
    centre = block_sections(0.0)
    outer = block_sections(LANE_WIDTH)
    inner = block_sections(-LANE_WIDTH)
    for i in range(8):
        corner = i % 2 == 1
        speed = 20.0 if corner else 30.0
        divider = b.line(centre[i], "line_thin", "dashed")
        outer_curb = b.line(outer[i], "road_border")
        inner_curb = b.line(inner[i], "road_border")
        # outer lane, counter-clockwise: divider on the left, outer curb on the right
        b.lanelet(1001 + i, divider, outer_curb, speed)
        # inner lane, clockwise: sections run backwards; inner curb on the right
        b.lanelet(1101 + (8 - i) % 8, divider.invert(), inner_curb.invert(), speed)
    b.write(out, BLOCK_ORIGIN)


def _rot(k: int) -> Callable[[Point], Point]:
    c, s = round(math.cos(k * math.pi / 2)), round(math.sin(k * math.pi / 2))
    return lambda p: (c * p[0] - s * p[1], s * p[0] + c * p[1])


def build_intersection(out: FsPath, arm: float = 80.0, box: float = 12.0) -> None:
    """Four-way intersection, two lanes each way (lane 1 inner, lane 2 along the curb)."""
    b = _Builder()
    w = LANE_WIDTH
    far = box + arm
    lanelet2 = b.ll2
    for k in range(4):
        rot = _rot(k)
        base = 2000 + 100 * k

        def pts(points: list[Point], rot: Callable[[Point], Point] = rot) -> list[Point]:
            return [rot(p) for p in points]

        centre = b.line(pts(_straight((0.0, -far), (0.0, -box))), "line_thin", "solid")
        div_in = b.line(pts(_straight((w, -far), (w, -box))), "line_thin", "dashed")
        div_out = b.line(pts(_straight((-w, -box), (-w, -far))), "line_thin", "dashed")
        curb_in = b.line(pts(_straight((2 * w, -far), (2 * w, -box))), "road_border")
        curb_out = b.line(pts(_straight((-2 * w, -box), (-2 * w, -far))), "road_border")
        in1 = b.lanelet(base + 1, centre, div_in, 30.0)
        in2 = b.lanelet(base + 2, div_in, curb_in, 30.0)
        b.lanelet(base + 3, centre.invert(), div_out, 30.0)
        b.lanelet(base + 4, div_out, curb_out, 30.0)
        stop = b.line(pts([(0.0, -box), (w, -box), (2 * w, -box)]), "stop_line", lid=3000 + k)
        light = b.line(
            pts([(2 * w + 1.0, -box - 0.5), (2 * w + 1.5, -box - 0.5)]), "traffic_light", "red_yellow_green"
        )
        light.attributes["height"] = "1.2"
        for p in light:
            p.z = 5.0
        attrs = lanelet2.core.AttributeMap({"type": "regulatory_element", "subtype": "traffic_light"})
        reg = lanelet2.core.TrafficLight(4000 + k, attrs, [light], stop)
        in1.addRegulatoryElement(reg)
        in2.addRegulatoryElement(reg)
        b.map.add(reg)
        # curb corner from this arm's inbound curb to the next arm's (counter-clockwise) outbound curb
        b.line(pts(_arc(box, -box, box - 2 * w, math.pi, 0.5 * math.pi)), "road_border")
    for k in range(4):
        rot = _rot(k)
        base = 2000 + 100 * k

        def pts(points: list[Point], rot: Callable[[Point], Point] = rot) -> list[Point]:
            return [rot(p) for p in points]

        # straight: to arm k+2, both lanes
        s0 = b.line(pts(_straight((0.0, -box), (0.0, box))), "virtual")
        s1 = b.line(pts(_straight((w, -box), (w, box))), "virtual")
        s2 = b.line(pts(_straight((2 * w, -box), (2 * w, box))), "virtual")
        b.lanelet(base + 11, s0, s1, 30.0, "straight")
        b.lanelet(base + 21, s1, s2, 30.0, "straight")
        # left from the inner lane: to arm k+3's inner outbound lane, arcs around (-box, -box)
        left = b.line(pts(_arc(-box, -box, box, 0.0, 0.5 * math.pi)), "virtual")
        right = b.line(pts(_arc(-box, -box, box + w, 0.0, 0.5 * math.pi)), "virtual")
        b.lanelet(base + 12, left, right, 20.0, "left")
        # right from the curb lane: to arm k+1's curb lane; the right bound is the curb corner
        left = b.line(pts(_arc(box, -box, box - w, math.pi, 0.5 * math.pi)), "virtual")
        corner = next(
            ls
            for ls in b.map.lineStringLayer
            if ls.attributes["type"] == "road_border" and len(ls) > 3 and _near(ls, pts([(2 * w, -box)])[0])
        )
        b.lanelet(base + 22, left, corner, 15.0, "right")
    b.write(out, INTERSECTION_ORIGIN)


def _near(ls: Any, p: Point) -> bool:
    return math.hypot(ls[0].x - p[0], ls[0].y - p[1]) < 1e-3


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = FsPath(args[0] if args else "config/maps")
    build_block(folder / "hil_block.osm")
    build_intersection(folder / "demo_intersection.osm")
    print(f"wrote {folder / 'hil_block.osm'} and {folder / 'demo_intersection.osm'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
