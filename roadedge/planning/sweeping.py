"""Curb-side sweeping: the curb-following reference line of a sweep task, work-equipment switching and
task progress (coverage).

The vehicle's centre line follows the road edge (the lanelets' right or left bound) at
curb_offset + width/2: curb_offset is, as in roadedge_msgs/SweepTask, the distance from the road edge to
the vehicle's side. Along the whole route the same bound is followed (through an intersection the
connecting lanelets' bounds continue it), so the line has no jumps; the brushes are down only within the
task's curb segments.

Equipment: brushes down, fan and spray on while the brushes' station is inside a curb segment, the
vehicle moves (>= min_work_speed), is on the route (lateral error within tolerance) and the task runs;
otherwise everything goes to its safe state. An equipment alarm (bin full, water low) or a fault ends the
task (ABORTED) with the equipment safe; the planner then stops the vehicle.

"Sanitation vehicle at work": true while a task runs. It travels as WorkEquipmentCommand.enable (true
while on duty, also with brushes up and fan off at a stop; false = task over, equipment safe). The
controller mirrors it to VehicleCommand.beacon_light (amber work beacon); the chassis reports it back in
VehicleStatus.beacon_light_on, which the BSM builder uses for the "at work" BSM. No extra topic.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from roadedge.planning.geometry import FloatArray, Path
from roadedge.planning.lanelet_map import MapError, RoadMap

# TaskProgress STATE_*
IDLE, RUNNING, PAUSED, COMPLETED, ABORTED, FAILED = range(6)
BRUSH_UP, BRUSH_DOWN = 0, 1


@dataclass(frozen=True)
class CurbSegmentSpec:
    segment_id: str
    lanelet_id: int
    side: str  # "right" | "left"
    start_s: float = 0.0  # m along the lanelet centre line
    end_s: float = math.nan  # NaN = lanelet end


@dataclass(frozen=True)
class SweepTaskSpec:
    task_id: str
    segments: tuple[CurbSegmentSpec, ...]
    curb_offset: float = 0.2  # m road edge -> vehicle side
    max_speed: float = 2.5  # m/s
    side_brush_speed: float = 10.0  # rad/s
    main_brush_speed: float = 12.0  # rad/s
    suction_fan_speed: float = 0.8  # 0..1
    water_spray_flow: float = 4.0  # L/min

    def validate(self) -> None:
        if not self.segments:
            raise ValueError("a sweep task needs at least one curb segment")
        sides = {seg.side for seg in self.segments}
        if not sides <= {"right", "left"}:
            raise ValueError("segment side must be right or left")
        if len(sides) != 1:
            raise ValueError("all segments of a task must follow the same side")
        for name in ("curb_offset", "max_speed"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0")
        if self.max_speed <= 0.0:
            raise ValueError("max_speed must be positive")


@dataclass(frozen=True)
class EquipmentCommand:
    """roadedge_msgs/WorkEquipmentCommand fields."""

    enable: bool
    side_brush_left: int
    side_brush_right: int
    main_brush: int
    side_brush_speed: float
    main_brush_speed: float
    suction_fan_speed: float
    water_spray_flow: float

    @staticmethod
    def safe() -> EquipmentCommand:
        return EquipmentCommand(False, BRUSH_UP, BRUSH_UP, BRUSH_UP, 0.0, 0.0, 0.0, 0.0)

    @property
    def working(self) -> bool:
        return self.enable and self.main_brush == BRUSH_DOWN


@dataclass
class RefLine:
    """A reference line over a route: path, lanelet per stretch, speed limits and stop lines on it."""

    path: Path
    lanelet_ids: list[int]
    starts: list[float]  # m on path where each lanelet begins
    speed_limits: list[float]
    stop_lines: list[tuple[float, int, int]]  # (s on path, stop line id, inbound lanelet id)
    lateral_offset: float = 0.0  # m from the followed edge (curb following), 0 for lane centre

    def index_at(self, s: float) -> int:
        i = int(np.searchsorted(np.asarray(self.starts), s, side="right")) - 1
        return min(max(i, 0), len(self.lanelet_ids) - 1)

    def speed_limit_at(self, s: float) -> float:
        return self.speed_limits[self.index_at(s)]

    def speed_limits_at(self, s: FloatArray) -> FloatArray:
        i = np.clip(
            np.searchsorted(np.asarray(self.starts), s, side="right") - 1, 0, len(self.lanelet_ids) - 1
        )
        return np.asarray(np.asarray(self.speed_limits)[i], dtype=np.float64)

    def lanelet_at(self, s: float) -> int:
        return self.lanelet_ids[self.index_at(s)]

    def station(self, lanelet_id: int, x: float, y: float) -> float:
        """Arc length on the path of (x, y), searched only along the (first) stretch of lanelet_id: a
        looped route passes its start point twice."""
        i = self.lanelet_ids.index(lanelet_id)
        a = self.starts[i]
        b = self.starts[i + 1] if i + 1 < len(self.starts) else self.path.length
        ia = int(np.searchsorted(self.path.s, a))
        ib = int(np.searchsorted(self.path.s, b))
        mid = (ia + ib) // 2
        return self.path.project(x, y, hint=mid, window=(ib - ia) // 2 + 3).s


def _stop_lines_on(path: Path, road: RoadMap, ids: Sequence[int]) -> list[tuple[float, int, int]]:
    out = []
    for lid in ids:
        info = road.lanelets[lid]
        if info.stop_line is None or info.stop_line_id is None:
            continue
        best = None
        for x, y in info.stop_line.points():
            pr = path.project(x, y)
            if best is None or abs(pr.lateral) < abs(best.lateral):
                best = pr
        if best is not None and not best.before_start and not best.after_end:
            out.append((best.s, info.stop_line_id, lid))
    return sorted(out)


def _starts_on(path: Path, pieces: Sequence[Path]) -> list[float]:
    """Where each consecutive piece begins on path. Pieces are in order: each is searched near where the
    previous one ends (a looped route passes the same place twice)."""
    starts = [0.0]
    for prev, pc in itertools.pairwise(pieces):
        x, y = pc.point_at(0.0)
        expect = starts[-1] + prev.length
        i0 = int(np.searchsorted(path.s, expect))
        spacing = path.length / max(len(path) - 1, 1)
        window = int((0.3 * prev.length + 5.0) / spacing) + 2
        pr = path.project(x, y, hint=min(i0, len(path) - 2), window=window)
        starts.append(max(pr.s, starts[-1]))
    return starts


def lane_ref_line(road: RoadMap, ids: Sequence[int], ds: float = 0.5) -> RefLine:
    """Reference line on the lanelets' centre lines."""
    rp = road.route_path(ids)
    path = rp.path.resample(ds)
    pieces = [road.lanelets[i].centerline for i in ids]
    return RefLine(
        path=path,
        lanelet_ids=list(ids),
        starts=_starts_on(path, pieces),
        speed_limits=[road.lanelets[i].speed_limit for i in ids],
        stop_lines=_stop_lines_on(path, road, ids),
    )


def curb_ref_line(
    road: RoadMap, ids: Sequence[int], side: str, offset_from_edge: float, ds: float = 0.5
) -> RefLine:
    """Reference line at offset_from_edge (m, the vehicle centre line's distance) from the lanelets'
    `side` bound, continued through every lanelet of the route."""
    bounds = []
    for lid in ids:
        info = road.lanelets[lid]
        bounds.append(info.right if side == "right" else info.left)
    edge = bounds[0]
    for b in bounds[1:]:
        edge = edge.concatenate(b, gap_tolerance=0.5)
    d = offset_from_edge if side == "right" else -offset_from_edge
    path = edge.resample(ds).offset(d).resample(ds)
    return RefLine(
        path=path,
        lanelet_ids=list(ids),
        starts=_starts_on(path, [b.offset(d) for b in bounds]),
        speed_limits=[road.lanelets[i].speed_limit for i in ids],
        stop_lines=_stop_lines_on(path, road, ids),
        lateral_offset=offset_from_edge,
    )


@dataclass(frozen=True)
class SweepParams:
    vehicle_width: float = 2.0  # m
    brush_station: float = 3.9  # m ahead of the rear axle where the side brushes sweep
    min_work_speed: float = 0.2  # m/s: below it the brushes lift
    lateral_tolerance: float = 0.3  # m: swept only while this close to the line (else off the route)
    off_route_distance: float = 1.5  # m: beyond this the vehicle has left the route


@dataclass
class SweepTask:
    """A running sweep task: reference line, segments on it, equipment decisions and progress."""

    spec: SweepTaskSpec
    ref: RefLine
    segments: list[tuple[float, float]]  # (s0, s1) on ref.path per task segment
    params: SweepParams = field(default_factory=SweepParams)
    state: int = RUNNING
    swept: list[list[tuple[float, float]]] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    message: str = ""
    current_segment: int = 0
    _last_s: float | None = None
    _last_cmd: EquipmentCommand | None = None

    @classmethod
    def build(cls, road: RoadMap, spec: SweepTaskSpec, params: SweepParams = SweepParams()) -> SweepTask:
        spec.validate()
        for seg in spec.segments:
            if seg.lanelet_id not in road.lanelets:
                raise MapError(f"segment {seg.segment_id}: no lanelet {seg.lanelet_id}")
        side = spec.segments[0].side
        ids = road.connect([seg.lanelet_id for seg in spec.segments])
        ref = curb_ref_line(road, ids, side, spec.curb_offset + 0.5 * params.vehicle_width)
        segs = []
        notes = []
        for seg in spec.segments:
            info = road.lanelets[seg.lanelet_id]
            end = info.length if not math.isfinite(seg.end_s) else min(seg.end_s, info.length)
            start = max(0.0, seg.start_s)
            if end - start < 0.5:
                notes.append(f"segment {seg.segment_id} shorter than 0.5 m: skipped")
                continue
            if info.edge(side) is None:  # e.g. across an intersection: the lane bound continues the line
                notes.append(f"segment {seg.segment_id}: no curb on the {side}, following the lane bound")
            a = ref.station(seg.lanelet_id, *info.centerline.point_at(start))
            b = ref.station(seg.lanelet_id, *info.centerline.point_at(end))
            segs.append((min(a, b), max(a, b)))
        if not segs:
            raise MapError("no sweepable segment in the task: " + "; ".join(notes))
        swept: list[list[tuple[float, float]]] = [[] for _ in segs]
        return cls(spec=spec, ref=ref, segments=segs, params=params, swept=swept, message="; ".join(notes))

    @property
    def total_length(self) -> float:
        return float(sum(b - a for a, b in self.segments))

    @property
    def swept_length(self) -> float:
        return float(sum(sum(b - a for a, b in iv) for iv in self.swept))

    @property
    def coverage(self) -> float:
        tot = self.total_length
        return min(1.0, self.swept_length / tot) if tot > 0 else 0.0

    @property
    def active(self) -> bool:
        return self.state in (RUNNING, PAUSED)

    @property
    def end_s(self) -> float:
        """Where the vehicle stops at the end of the task: the last segment's end."""
        return self.segments[-1][1] if self.segments else self.ref.path.length

    def _add(self, k: int, a: float, b: float) -> None:
        s0, s1 = self.segments[k]
        a, b = max(a, s0), min(b, s1)
        if b <= a:
            return
        iv = sorted([*self.swept[k], (a, b)])
        merged = [iv[0]]
        for x, y in iv[1:]:
            if x <= merged[-1][1] + 1e-6:
                merged[-1] = (merged[-1][0], max(merged[-1][1], y))
            else:
                merged.append((x, y))
        self.swept[k] = merged

    def alarm(self, name: str, message: str) -> None:
        if name not in self.alarms:
            self.alarms.append(name)
        if self.active:
            self.state = ABORTED
            self.message = message

    def cancel(self, message: str = "cancelled") -> None:
        if self.active:
            self.state = ABORTED
            self.message = message

    def update(
        self,
        s: float,
        lateral_error: float,
        speed: float,
        bin_full: bool = False,
        water_low: bool = False,
        fault: bool = False,
    ) -> EquipmentCommand:
        """One step at the vehicle's arc length s (rear axle) on the reference line; returns the equipment
        command for now."""
        p = self.params
        if bin_full:
            self.alarm("bin_full", "hopper full: task ended")
        if water_low:
            self.alarm("water_low", "water tank low: task ended")
        if fault:
            self.alarm("equipment_fault", "equipment fault: task ended")
        station = s + p.brush_station
        on_route = abs(lateral_error) < p.off_route_distance
        if self.active and station >= self.end_s - 0.2:
            self.state = COMPLETED
            self.message = "all segments swept" if self.coverage >= 0.95 else "route ended"
        within = [k for k, (a, b) in enumerate(self.segments) if a <= station <= b]
        if within:
            self.current_segment = within[0]
        else:
            ahead = [k for k, (a, _) in enumerate(self.segments) if a > station]
            self.current_segment = ahead[0] if ahead else len(self.segments) - 1
        moving = speed >= p.min_work_speed
        working = self.state == RUNNING and bool(within) and moving and on_route
        if self.state in (RUNNING, PAUSED):
            self.state = RUNNING if moving or not within else PAUSED
        if working and self._last_s is not None and abs(lateral_error) <= p.lateral_tolerance:
            prev_station = self._last_s + p.brush_station
            if 0.0 < station - prev_station < 5.0 and self._last_cmd is not None and self._last_cmd.working:
                for k in within:
                    self._add(k, prev_station, station)
        self._last_s = s
        side = self.spec.segments[0].side
        if working:
            cmd = EquipmentCommand(
                True,
                BRUSH_DOWN if side == "left" else BRUSH_UP,
                BRUSH_DOWN if side == "right" else BRUSH_UP,
                BRUSH_DOWN,
                self.spec.side_brush_speed,
                self.spec.main_brush_speed,
                self.spec.suction_fan_speed,
                self.spec.water_spray_flow,
            )
        elif self.active:  # on duty, idle: brushes up, fan and spray off; enable marks "at work"
            cmd = EquipmentCommand(True, BRUSH_UP, BRUSH_UP, BRUSH_UP, 0.0, 0.0, 0.0, 0.0)
        else:
            cmd = EquipmentCommand.safe()
        self._last_cmd = cmd
        return cmd
