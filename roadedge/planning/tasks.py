"""Missions from polylines: a lane route from a driven path, a sweep task from a curb line.

The HIL scenarios (roadedge.scenario TaskSpec) and operators describe a job as a polyline in the map
frame; the planner works on lanelets. These functions match the polyline to the map.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from roadedge.planning.geometry import Path, wrap_angle
from roadedge.planning.lanelet_map import MapError, RoadMap
from roadedge.planning.sweeping import CurbSegmentSpec, SweepTaskSpec

Point = tuple[float, float]


def _samples(points: Sequence[Point], step: float) -> list[tuple[float, float, float]]:
    if len(points) < 2:
        raise MapError("a mission path needs two or more points")
    try:
        path = Path.from_points(list(points))
    except ValueError as exc:
        raise MapError(f"bad mission path: {exc}") from exc
    n = max(2, math.ceil(path.length / step) + 1)
    out = []
    for i in range(n):
        s = path.length * i / (n - 1)
        x, y = path.point_at(s)
        out.append((x, y, path.yaw_at(s)))
    return out


def route_from_path(
    road: RoadMap, points: Sequence[Point], step: float = 1.0, tolerance: float = 2.0
) -> list[int]:
    """The lanelets a driven polyline (lane centre) runs through, in order, connected by routing. Where
    lanelets overlap (branches through an intersection) the one continuing the sequence is kept."""
    ids: list[int] = []
    for x, y, yaw in _samples(points, step):
        cands: list[tuple[bool, float, int]] = []
        for lid, info in road.lanelets.items():
            pr = info.centerline.project(x, y)
            if pr.before_start or pr.after_end or abs(pr.lateral) > tolerance:
                continue
            if abs(wrap_angle(pr.yaw - yaw)) > 1.0:
                continue
            cands.append((pr.s > info.length - 0.5, abs(pr.lateral), lid))  # a lanelet's very end: last
        if not cands:
            continue
        cands.sort()
        names = [c[2] for c in cands]
        if ids and ids[-1] in names:
            continue
        succ = set(road.successors(ids[-1])) if ids else set()
        pick = next((lid for lid in names if lid in succ), names[0])
        ids.append(pick)
    if not ids:
        raise MapError("the path matches no lanelet")
    # a path starting exactly where one lanelet ends and the next begins belongs to the next
    x0, y0 = points[0]
    if (
        len(ids) > 1
        and road.lanelets[ids[0]].centerline.project(x0, y0).s > road.lanelets[ids[0]].length - 0.5
    ):
        ids = ids[1:]
    x1, y1 = points[-1]
    if len(ids) > 1 and road.lanelets[ids[-1]].centerline.project(x1, y1).s < 0.5:
        ids = ids[:-1]
    # where branches overlap (the lanelets through an intersection start together) an early sample may
    # match a sibling of the branch the path takes: drop a lanelet that the next one cannot follow when
    # the next one is a sibling of it
    out: list[int] = [ids[0]]
    for nxt in ids[1:]:
        if len(out) >= 2 and nxt not in road.successors(out[-1]) and nxt in road.successors(out[-2]):
            out[-1] = nxt
        elif nxt != out[-1]:
            out.append(nxt)
    return road.connect(out)


def curb_segments_from_line(
    road: RoadMap,
    points: Sequence[Point],
    side: str = "right",
    centre_offset: float = 1.2,
    step: float = 1.0,
    tolerance: float = 0.5,
    min_length: float = 3.0,
) -> list[CurbSegmentSpec]:
    """Curb segments along a curb polyline: the route the vehicle takes centre_offset m from the curb, and
    on it the stretches where the line lies on the lanelet's `side` road edge (at least min_length m)."""
    if side not in ("right", "left"):
        raise MapError("side must be right or left")
    try:
        curb = Path.from_points(list(points))
    except ValueError as exc:
        raise MapError(f"bad curb line: {exc}") from exc
    d = centre_offset if side == "right" else -centre_offset
    centre = curb.resample(step).offset(d)
    ids = route_from_path(road, centre.points(), step)
    samples = _samples(points, step)
    segments: list[CurbSegmentSpec] = []
    for lid in ids:
        info = road.lanelets[lid]
        edge = info.edge(side)
        if edge is None:
            continue
        ss = []
        for x, y, yaw in samples:
            pr = edge.project(x, y)
            if (
                pr.before_start
                or pr.after_end
                or abs(pr.lateral) > tolerance
                or abs(wrap_angle(pr.yaw - yaw)) > 0.5
            ):
                continue
            ss.append(info.centerline.project(x, y).s)
        if not ss or max(ss) - min(ss) < min_length:
            continue
        a, b = min(ss), max(ss)
        a = 0.0 if a < step else a
        segments.append(
            CurbSegmentSpec(f"{lid}:{len(segments)}", lid, side, a, math.nan if b > info.length - step else b)
        )
    if not segments:
        raise MapError("the curb line matches no road edge of the map")
    return segments


def sweep_task_from_curb_line(
    road: RoadMap,
    points: Sequence[Point],
    side: str = "right",
    centre_offset: float = 1.2,
    target_speed: float = 2.5,
    vehicle_width: float = 2.0,
    task_id: str = "task",
) -> SweepTaskSpec:
    """A sweep task along a curb polyline with the vehicle centre line centre_offset m from the curb
    (SweepTask.curb_offset is edge-to-side: centre_offset - width / 2)."""
    curb_offset = centre_offset - 0.5 * vehicle_width
    if curb_offset < 0.0:
        raise MapError(f"centre offset {centre_offset} m puts the vehicle over the curb")
    return SweepTaskSpec(
        task_id,
        tuple(curb_segments_from_line(road, points, side, centre_offset)),
        curb_offset=curb_offset,
        max_speed=target_speed,
    )
