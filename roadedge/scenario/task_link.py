"""From a scenario's task (a curb line in map coordinates) to the planner's sweep task
(lanelet curb segments), the way an operator's dispatch tool would build it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from roadedge.planning.lanelet_map import RoadMap
from roadedge.scenario.schema import Scenario, TaskSpec


@dataclass(frozen=True)
class CurbSegment:
    segment_id: str
    lanelet_id: int
    side: str  # "right" | "left"
    start_s: float  # m along the lanelet centre line
    end_s: float  # m along the lanelet centre line


def _samples(task: TaskSpec, step: float) -> list[tuple[float, float, float]]:
    """(x, y, heading) every ``step`` m along the task's curb line."""
    out = []
    for a, b in zip(task.path, task.path[1:], strict=False):
        length = math.hypot(b.x - a.x, b.y - a.y)
        heading = math.atan2(b.y - a.y, b.x - a.x)
        n = max(1, int(length / step))
        out += [(a.x + (b.x - a.x) * k / n, a.y + (b.y - a.y) * k / n, heading) for k in range(n)]
    last, before = task.path[-1], task.path[-2]
    out.append((last.x, last.y, math.atan2(last.y - before.y, last.x - before.x)))
    return out


def curb_segments(
    task: TaskSpec,
    road_map: RoadMap,
    step: float = 1.0,
    min_length: float = 3.0,
    start: tuple[float, float] | None = None,
) -> list[CurbSegment]:
    """Lanelets along the curb line (matched at the vehicle's sweeping position), in order.

    The vehicle centre runs ``task.curb_offset`` inside the curb line; each sample there is
    matched to the lanelet heading the same way, consecutive samples on one lanelet merge.
    ``start`` (the vehicle's position when the task is given) drops the curb behind it.
    """
    inward = 1.0 if task.curb_side == "right" else -1.0  # right curb: the lane is to its left
    segments: list[CurbSegment] = []
    samples = _samples(task, step)
    if start is not None:  # the vehicle cannot sweep the curb behind it
        sx, sy = start
        nearest = min(range(len(samples)), key=lambda i: math.hypot(samples[i][0] - sx, samples[i][1] - sy))
        samples = samples[nearest:]
    for x, y, heading in samples:
        cx = x - inward * math.sin(heading) * task.curb_offset
        cy = y + inward * math.cos(heading) * task.curb_offset
        matched = road_map.match(cx, cy, heading, max_distance=3.0, max_heading=0.35)
        if matched is None:
            continue
        lanelet_id, projection = matched
        if road_map.lanelets[lanelet_id].edge(task.curb_side) is None:
            continue  # no curb on that side (an intersection): transit, not sweeping
        s = float(projection.s)
        if segments and segments[-1].lanelet_id == lanelet_id:
            last = segments[-1]
            segments[-1] = CurbSegment(
                last.segment_id, lanelet_id, last.side, last.start_s, max(last.end_s, s)
            )
        else:
            segments.append(CurbSegment(f"{task.task_id}-{len(segments)}", lanelet_id, task.curb_side, s, s))
    # Where a turning lanelet starts parallel to the curb it matches for a few samples: drop such slivers.
    segments = [seg for seg in segments if seg.end_s - seg.start_s >= min_length]
    if not segments:
        raise ValueError(f"task {task.task_id}: its curb line matches no lanelet of the map")
    return [
        CurbSegment(f"{task.task_id}-{i}", s.lanelet_id, s.side, s.start_s, s.end_s)
        for i, s in enumerate(segments)
    ]


def planner_curb_offset(scenario: Scenario) -> float:
    """The scenario gives curb line -> vehicle centre; the planner wants road edge -> vehicle side."""
    return max(0.0, scenario.task.curb_offset - scenario.vehicle.width / 2)
