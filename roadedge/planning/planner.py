"""The planner core: a reference line (lane route or sweep task), the behaviours' constraints, and the
speed profile -> a trajectory (roadedge_msgs/Trajectory fields), advisories, equipment command, progress.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from roadedge.control.speed_profile import MotionLimits, curvature_speed_limit, plan_speed_profile
from roadedge.planning import behaviours as bh
from roadedge.planning.geometry import FloatArray, Path
from roadedge.planning.lanelet_map import RoadMap
from roadedge.planning.sweeping import (
    COMPLETED,
    EquipmentCommand,
    RefLine,
    SweepParams,
    SweepTask,
    SweepTaskSpec,
    lane_ref_line,
)
from roadedge.planning.v2x_link import PhaseSignal, V2xLink


@dataclass(frozen=True)
class PlannerParams:
    horizon: float = 80.0  # m ahead
    backward: float = 3.0  # m behind the rear axle kept in the trajectory
    ds: float = 0.5  # m between trajectory points
    profile_ds: float = 1.0  # m between the speed profile's points (the programme's size)
    evw_yield_time: float = 5.0  # s to slow to the EVW yield speed (harder than soft caps when needed)
    soft_cap_deceleration: float = 1.2  # m/s^2 to reach a speed cap below the current speed / to stop on an
    # ended task or off the route (caps never cause emergency braking; stops for objects and signals may)
    lane_speed_cap: float = 8.0  # m/s overall cap
    limits: MotionLimits = field(default_factory=MotionLimits)
    objects: bh.ObjectParams = field(default_factory=bh.ObjectParams)
    object_gate: bh.ObjectGateParams = field(default_factory=bh.ObjectGateParams)
    conflicts: bh.ConflictParams = field(default_factory=bh.ConflictParams)
    signals: bh.SignalParams = field(default_factory=bh.SignalParams)
    evw: bh.EvwParams = field(default_factory=bh.EvwParams)
    rsi: bh.RsiParams = field(default_factory=bh.RsiParams)
    sweep: SweepParams = field(default_factory=SweepParams)
    shift_ramp: float = 8.0  # m over which a lateral shift (pull over) is blended in
    rsi_lane_change: bool = True  # lane following: change lane around an RSI event where the map allows it
    lane_change_length: float = 25.0  # m, the shortest blend into the other lane (and back)
    lane_change_time: float = 4.0  # s: the blend lasts at least this long at the current speed
    lane_change_margin: float = 3.0  # m the body is fully in the other lane before and after the zone
    lane_change_clearance: float = 0.5  # m from the zone (its radius) to the body in the other lane
    lane_change_clear_behind: float = 30.0  # m behind the rear axle the other lane must be free of objects
    lane_change_clear_ahead: float = 10.0  # m after the lane change back
    max_lateral_error_on_route: float = 3.0  # m: beyond this the vehicle is off the route -> stop


@dataclass(frozen=True)
class Inputs:
    ego: bh.Ego
    acceleration: float = 0.0
    time: float = math.nan  # s (node clock) of these inputs: the object confidence gate's persistence
    objects: Sequence[bh.Obstacle] = ()
    emergency_vehicles: Sequence[bh.EmergencyVehicle] = ()
    signals: Mapping[tuple[int, int], PhaseSignal] = field(default_factory=dict)  # (node_id, phase_id)
    rsi: Sequence[bh.RsiZone] = ()
    bin_full: bool = False
    water_low: bool = False
    equipment_fault: bool = False


@dataclass
class Plan:
    behaviour: int
    x: FloatArray
    y: FloatArray
    yaw: FloatArray
    velocity: FloatArray
    acceleration: FloatArray
    curvature: FloatArray
    lateral_offset: FloatArray
    time: FloatArray
    advisories: list[bh.Advisory]
    equipment: EquipmentCommand | None
    reason: str
    profile_mode: str
    s_ego: float
    lateral_error: float
    at_work: bool


class Planner:
    def __init__(
        self, road: RoadMap, link: V2xLink | None = None, params: PlannerParams = PlannerParams()
    ) -> None:
        self.road = road
        self.link = link
        self.params = params
        self.ref: RefLine | None = None
        self.task: SweepTask | None = None
        self._hint: int | None = None
        self._mrm_stop_s: float | None = None
        self._yield_stop_s: float | None = None
        self.object_gate = bh.ConfidenceGate(params.object_gate)
        self._lane_change: LaneChange | None = None
        self._pull: tuple[float, float, float, float] | None = None  # pull over/back: see _pull_over

    # --- missions ---------------------------------------------------------------------------------------
    def set_route(self, lanelet_ids: Sequence[int]) -> None:
        """Lane following along a route (e.g. RoadMap.route(start, goal))."""
        self.ref = lane_ref_line(self.road, lanelet_ids, self.params.ds)
        self.task = None
        self._hint = None
        self._mrm_stop_s = None
        self._pull = None

    def start_sweep(self, spec: SweepTaskSpec) -> SweepTask:
        task = SweepTask.build(self.road, spec, self.params.sweep)
        self.task = task
        self.ref = task.ref
        self._hint = None
        self._mrm_stop_s = None
        self._pull = None
        return task

    def cancel(self, message: str = "cancelled") -> None:
        if self.task is not None:
            self.task.cancel(message)

    # --- planning ---------------------------------------------------------------------------------------
    def plan(self, inp: Inputs) -> Plan | None:
        ref = self.ref
        if ref is None:
            return None
        p = self.params
        ego = inp.ego
        window = 40 if self._hint is not None else 0
        pr = ref.path.project(ego.x, ego.y, hint=self._hint, window=window)
        if window and abs(pr.lateral) > 2.0:  # the hint may have lost the vehicle: search everywhere
            pr = ref.path.project(ego.x, ego.y)
        self._hint = pr.index
        s_ego = pr.s
        s0 = max(0.0, s_ego - p.backward)
        s1 = min(ref.path.length, s_ego + p.horizon)
        if s1 - s0 < 2 * p.ds:
            s0 = max(0.0, s1 - 2 * p.ds)
        ss = np.arange(s0, s1, p.ds)
        ss = np.append(ss, s1) if s1 - ss[-1] > 1e-3 else ss
        base = ref.path.slice(float(ss[0]), float(ss[-1])).resample(p.ds)
        s_axis = ss[0] + base.s
        result = bh.BehaviourResult()
        sweeping = self.task is not None and self.task.active

        objs = self.object_gate.update(inp.time, inp.objects)
        # RSI events: a lane change around one where the map has a lane to change into and it is clear
        rsi = bh.rsi_constraints(ref.path, s_ego, inp.rsi, p.rsi)
        lane_change = self._rsi_lane_change(ref, s_ego, ego, rsi, inp.rsi, objs)
        driven = pr.lateral - (float(lane_change.offset_at(s_ego)) if lane_change is not None else 0.0)
        if self._pull is not None:
            driven -= float(_blend(self._pull, s_ego))
        off_route = abs(driven) > p.max_lateral_error_on_route
        # objects in the path (own perception, roadside), FCW/VRU/ICW: along the path driven
        drive = lane_change.path if lane_change is not None and lane_change.path is not None else ref.path
        in_path = bh.objects_in_path(drive, s_ego, ego, objs, p.objects)
        _merge(result, bh.stop_or_follow(in_path, s_ego, ego, p.objects))
        blocking = {o.obstacle.id for o in in_path}
        result.advisories.extend(
            a
            for a in bh.collision_warnings(drive, s_ego, ego, objs, p.conflicts)
            if a.target_id not in blocking
        )
        # signals
        s_front = s_ego + ego.base_to_front
        for s_line, _line_id, inbound in ref.stop_lines:
            if s_line < s_front - 0.5 or s_line - s_front > p.horizon:
                continue
            signal, name = self._signal_for(ref, inbound, inp.signals)
            if signal is None and name == "":
                continue  # not a signalized stop line we know
            dec = bh.signal_decision(
                s_line - s_front,
                s_line - ego.base_to_front,
                ego.speed,
                self._speed_limit(ref, s_ego),
                signal,
                p.signals,
                name,
            )
            for c in dec.result.constraints:
                if c.cap is not None:  # GLOSA cap applies on the approach only
                    c = bh.Constraint(c.behaviour, c.reason, cap=c.cap, s_from=s_ego, s_to=s_line)
                result.constraints.append(c)
            result.advisories.extend(dec.result.advisories)
            break  # the next stop line only
        # emergency vehicles
        # emergency vehicles: from their BSM, and objects perception or the roadside classed as one (their
        # siren state is unknown: yielding is the safe assumption)
        evs = list(inp.emergency_vehicles)
        evs += [
            bh.EmergencyVehicle(
                o.id,
                o.x,
                o.y,
                math.atan2(o.vy, o.vx) if math.hypot(o.vx, o.vy) > 0.5 else math.nan,
                math.hypot(o.vx, o.vy),
                True,
                True,
            )
            for o in objs
            if o.kind == bh.CLASS_EMERGENCY and o.source != bh.SOURCE_V2X_BSM
        ]
        _merge(result, bh.emergency_yield(ego, evs, p.evw, room_right=self._room_right(ref, s_ego, ego)))
        # RSI: a zone's cap holds while any part of the body is in it, so for the rear axle (the profile's
        # station) it starts base_to_front before the zone and ends the rear overhang after it; a zone
        # passed in the other lane has none
        rear = max(ego.length - ego.base_to_front, 0.0)
        result.constraints.extend(
            replace(c, s_from=c.s_from - ego.base_to_front, s_to=c.s_to + rear) if c.cap is not None else c
            for c in rsi.constraints
            if lane_change is None or c.reason != lane_change.reason
        )
        result.advisories.extend(rsi.advisories)

        # task progress and equipment
        equipment = None
        if self.task is not None:
            was_active = self.task.active
            equipment = self.task.update(
                s_ego, pr.lateral, ego.speed, inp.bin_full, inp.water_low, inp.equipment_fault
            )
            if was_active and not self.task.active and self.task.state != COMPLETED:
                result.advisories.append(
                    bh.Advisory(bh.EQUIPMENT, bh.CRITICAL, self.task.spec.task_id, text=self.task.message)
                )
        task_ended = self.task is not None and not self.task.active

        # speed caps and stops
        vmax = np.minimum(ref.speed_limits_at(s_axis), p.lane_speed_cap)
        if sweeping and self.task is not None:
            vmax = np.minimum(vmax, self.task.spec.max_speed)
        kap = base.curvature  # (of the lane changed into and back, where one is under way)
        if lane_change is not None:
            lc_off = lane_change.offset_at(s_axis)
            kap = Path(base.x - lc_off * np.sin(base.yaw), base.y + lc_off * np.cos(base.yaw)).curvature
        vmax = np.minimum(
            vmax, curvature_speed_limit(kap, p.limits.max_lateral_acceleration, p.lane_speed_cap)
        )
        stop_s: float | None = None
        behaviour = bh.B_CURB_FOLLOW if sweeping else bh.B_LANE_FOLLOW
        reason = "route"
        shift = 0.0
        caps: list[tuple[float, float, float]] = []  # (cap, s_from, s_to)
        for c in result.constraints:
            shift = min(shift, c.lateral_shift)
            if c.cap is not None:
                if c.behaviour == bh.B_YIELD_EMERGENCY:
                    behaviour, reason = c.behaviour, c.reason
                    if c.cap <= 0.0:
                        continue  # a yield to a standstill becomes a stop point (below)
                m = (s_axis >= c.s_from) & (s_axis <= c.s_to)
                vmax = np.where(m, np.minimum(vmax, c.cap), vmax)
                caps.append((c.cap, c.s_from, c.s_to))
            if c.stop_s is not None and (stop_s is None or c.stop_s < stop_s):
                stop_s = c.stop_s
                if behaviour != bh.B_YIELD_EMERGENCY:
                    behaviour, reason = c.behaviour, c.reason
        if stop_s is not None and behaviour == bh.B_STOP_OBJECT:
            stop_s = self._keep_box_clear(ref, s_ego, ego, stop_s)
        end_stop = ref.path.length - 0.1
        if self.task is not None:  # stop once the brushes have passed the last segment's end
            end_stop = min(end_stop, self.task.end_s - p.sweep.brush_station + 0.3)
        if stop_s is None or end_stop < stop_s:
            stop_s = end_stop if end_stop <= s_axis[-1] + 1e-6 else stop_s
        # yielding to an emergency vehicle with a yield speed of zero: a stop point fixed when it began
        yielding = behaviour == bh.B_YIELD_EMERGENCY and any(
            c.behaviour == bh.B_YIELD_EMERGENCY and c.cap is not None and c.cap <= 0.0
            for c in result.constraints
        )
        if yielding:
            if self._yield_stop_s is None:
                v0 = max(ego.speed, 0.0)
                t_stop = max(p.evw_yield_time - p.signals.reaction_time, 0.5)
                yield_dec = min(max(p.soft_cap_deceleration, v0 / t_stop), p.signals.max_deceleration)
                d = v0 * v0 / (2.0 * yield_dec)
                if shift < 0.0:  # pulling over: stop where the shift is done, if that is within the time
                    d = max(d, min(p.shift_ramp, 0.5 * v0 * t_stop))
                self._yield_stop_s = s_ego + d
            stop_s = self._yield_stop_s if stop_s is None else min(stop_s, self._yield_stop_s)
        else:
            self._yield_stop_s = None
        pull = self._pull_over(s_ego, behaviour == bh.B_YIELD_EMERGENCY, shift, yielding)
        if task_ended or off_route:
            # stop with comfortable braking from where this began (latched until a new mission)
            if self._mrm_stop_s is None:
                v0 = max(ego.speed, 0.0)
                self._mrm_stop_s = s_ego + v0 * v0 / (2.0 * p.soft_cap_deceleration)
            stop_s = min(self._mrm_stop_s, stop_s) if stop_s is not None else self._mrm_stop_s
            behaviour, reason = bh.B_MINIMAL_RISK, ("task ended" if task_ended else "off route")
            if self.task is not None and self.task.state == COMPLETED:
                behaviour, reason = bh.B_IDLE, "task completed"
        if stop_s is not None and stop_s <= s_ego + 0.05:
            stop_s = max(stop_s, s_ego + 0.05)

        # profile from the vehicle's station
        # (on a coarser grid: each point capped by the lowest cap since the previous point)
        end = float(s_axis[-1])
        s_prof = _profile_stations(s_ego, end, p.profile_ds, [k for c in caps for k in c[1:]])
        if s_prof.size < 2:
            s_prof = np.array([s_ego, s_ego + p.ds])
        v_prof_max = np.interp(s_prof, s_axis, vmax)
        ahead = s_axis > s_ego
        for j in range(1, s_prof.size):
            m = ahead & (s_axis > s_prof[j - 1]) & (s_axis <= s_prof[j])
            if m.any():
                v_prof_max[j] = min(v_prof_max[j], float(vmax[m].min()))
        for cap, a, b in caps:  # exactly at the stations (a cap's start is one of them)
            m = (s_prof >= a - 1e-9) & (s_prof <= b)
            v_prof_max = np.where(m, np.minimum(v_prof_max, cap), v_prof_max)
        # caps below the current speed are reached with comfortable braking, not an emergency stop
        v0 = max(ego.speed, 0.0)
        if not yielding:  # (a yield to a standstill has its latched stop point instead)
            soft = p.soft_cap_deceleration
            if behaviour == bh.B_YIELD_EMERGENCY:  # down to the yield speed within evw_yield_time
                need = (v0 - p.evw.yield_speed) / max(p.evw_yield_time - p.signals.reaction_time, 0.5)
                soft = min(max(soft, need), p.limits.max_deceleration)
            ramp = np.sqrt(np.maximum(v0 * v0 - 2.0 * soft * (s_prof - s_ego), 0.0))
            v_prof_max = np.maximum(v_prof_max, ramp)
        prof = plan_speed_profile(
            s_prof,
            v_prof_max,
            max(ego.speed, 0.0),
            p.limits,
            a0=inp.acceleration,
            stop_s=stop_s if stop_s is not None and stop_s < s_prof[-1] + 1e-6 else None,
        )
        v = np.sqrt(np.interp(s_axis, prof.s, prof.v**2))  # constant acceleration between points
        # a segment's (constant) acceleration belongs to its middle, not to its start: interpolated from
        # the starts it would reach the vehicle half a segment late
        if prof.s.size > 1:
            a = np.interp(s_axis, 0.5 * (prof.s[1:] + prof.s[:-1]), prof.a[:-1])
        else:
            a = np.interp(s_axis, prof.s, prof.a)
        t = (
            np.interp(s_axis, prof.s, np.where(np.isfinite(prof.t), prof.t, 1e6))
            if prof.s.size
            else s_axis * 0
        )
        behind = s_axis < s_ego
        v[behind] = prof.v[0]
        a[behind] = prof.a[0]
        t[behind] = 0.0

        # lateral shift (lane change, pull over and back), blended smoothly from where it began (latched)
        path = base
        lat = np.full(s_axis.size, ref.lateral_offset)
        if pull is not None or lane_change is not None:
            off = np.zeros(s_axis.size)
            if pull is not None:
                off = off + _blend(pull, s_axis)
            if lane_change is not None:
                off = off + lane_change.offset_at(s_axis)
                if behaviour == bh.B_LANE_FOLLOW:
                    reason = f"lane change around {lane_change.reason}"
            nx, ny = -np.sin(base.yaw), np.cos(base.yaw)
            path = Path(base.x + off * nx, base.y + off * ny)
            # lateral_offset: from the followed edge (a left curb: measured to the right) or the lane centre
            left_curb = self.task is not None and self.task.spec.segments[0].side == "left"
            lat = lat - off if left_curb and ref.lateral_offset else lat + off
        at_work = self.task is not None and self.task.active
        return Plan(
            behaviour=behaviour,
            x=path.x,
            y=path.y,
            yaw=path.yaw,
            velocity=v,
            acceleration=a,
            curvature=path.curvature,
            lateral_offset=lat,
            time=t,
            advisories=result.advisories,
            equipment=equipment,
            reason=reason,
            profile_mode=prof.mode,
            s_ego=s_ego,
            lateral_error=pr.lateral,
            at_work=at_work,
        )

    def _rsi_lane_change(
        self,
        ref: RefLine,
        s_ego: float,
        ego: bh.Ego,
        rsi: bh.BehaviourResult,
        zones: Sequence[bh.RsiZone],
        objects: Sequence[bh.Obstacle],
    ) -> LaneChange | None:
        """Lane following: around the nearest RSI event ahead (hazard or work zone), change into the
        adjacent same-direction lane where the lanelet2 map allows a lane change over the whole manoeuvre,
        the zone leaves that lane free, the manoeuvre can still begin ahead of the vehicle, and no object
        is in that lane from lane_change_clear_behind behind the vehicle to lane_change_clear_ahead after
        the manoeuvre. Otherwise (and always while sweeping: the task follows its curb) the zone's cap
        applies: the vehicle slows. Once begun, a lane change is kept (an object that then enters the
        other lane is stopped for like any object in the path)."""
        p = self.params
        lc = self._lane_change
        if lc is not None and s_ego > lc.s3:
            lc = self._lane_change = None
        if lc is not None:
            if s_ego >= lc.s0:
                return lc  # begun: finished as planned
            if lc.reason in _reasons(rsi) and self._lane_clear(lc, s_ego, ego, objects):
                return lc  # planned, still announced and still clear
        self._lane_change = None
        if self.task is not None or not p.rsi_lane_change:
            return None
        events = sorted(
            (c for c in rsi.constraints if c.cap is not None and c.reason.startswith("rsi event ")),
            key=lambda c: c.s_from,
        )
        if not events:
            return None
        c = events[0]  # the nearest only: a later one is decided once this one is passed
        zone = next((z for z in zones if f"rsi event {z.id}" == c.reason), None)
        if zone is None:
            return None
        length = max(p.lane_change_length, max(ego.speed, 0.0) * p.lane_change_time)
        s1 = c.s_from - ego.base_to_front - p.lane_change_margin
        s2 = c.s_to + (ego.length - ego.base_to_front) + p.lane_change_margin
        s0, s3 = s1 - length, s2 + length
        if s0 < s_ego or s3 > ref.path.length:
            return None  # too late to begin, or the route ends first: slow down instead
        stations = np.append(np.arange(s0, s3, 2.0), s3)
        for side in ("left", "right"):
            offsets = []
            for s in stations:
                other = self.road.neighbour(ref.lanelet_at(float(s)), side)
                if other is None:
                    break
                x, y = ref.path.point_at(float(s))
                centre = self.road.lanelets[other].centerline.project(x, y)
                offsets.append(-centre.lateral)  # the other lane's centre, left of the path > 0
            else:
                d = float(np.median(offsets))
                if max(abs(o - d) for o in offsets) > 0.5 or abs(d) < 1.0:
                    continue
                cand = LaneChange(c.reason, s0, s1, s2, s3, d, ref.path)
                if self._zone_clear_of(cand, zone, ego) and self._lane_clear(cand, s_ego, ego, objects):
                    self._lane_change = cand.with_path()
                    return self._lane_change
        return None

    def _zone_clear_of(self, lc: LaneChange, zone: bh.RsiZone, ego: bh.Ego) -> bool:
        """The zone (its points and radius) stays lane_change_clearance away from the body in the other
        lane."""
        r = (
            zone.radius
            if math.isfinite(zone.radius) and zone.radius > 0.0
            else self.params.rsi.default_radius
        )
        shapes = [(pts, hw) for pts, hw in zone.paths if pts] or [(((zone.x, zone.y),), r)]
        for pts, radius in shapes:
            dense = _densify(pts, 1.0)
            for x, y in dense:
                pr = lc.base.project(x, y)
                if pr.before_start or pr.after_end:
                    continue
                if abs(pr.lateral - lc.offset) - radius < 0.5 * ego.width + self.params.lane_change_clearance:
                    return False
        return True

    def _lane_clear(self, lc: LaneChange, s_ego: float, ego: bh.Ego, objects: Sequence[bh.Obstacle]) -> bool:
        p = self.params
        half = 0.5 * abs(lc.offset)
        for ob in objects:
            if not (math.isfinite(ob.x) and math.isfinite(ob.y)):
                continue
            pr = lc.base.project(ob.x, ob.y)
            along = s_ego - p.lane_change_clear_behind <= pr.s <= lc.s3 + p.lane_change_clear_ahead
            if along and abs(pr.lateral - lc.offset) < half + ob.radius:
                return False
        return True

    def _room_right(self, ref: RefLine, s_ego: float, ego: bh.Ego) -> float:
        """m between the body's right side, on the reference line, and the right bound of the lanelet there
        (a curb, or the lane line: pulling over stays within the lane)."""
        info = self.road.lanelets.get(ref.lanelet_at(s_ego))
        if info is None:
            return 0.0
        x, y = ref.path.point_at(s_ego)
        return abs(info.right.project(x, y).lateral) - 0.5 * ego.width

    def _pull_over(
        self, s_ego: float, yield_on: bool, shift: float, to_stop: bool
    ) -> tuple[float, float, float, float] | None:
        """The lateral shift in effect: (start s, offset there, offset at the end, length), blended smoothly.
        Pulling over begins where the yield began and is done by its stop point (at most over shift_ramp);
        once the yield is over the vehicle moves back to the line over shift_ramp from where it then is."""
        p = self.params
        pull = self._pull
        now = _blend(pull, s_ego) if pull is not None else 0.0
        if yield_on and shift < 0.0:
            if pull is None or abs(pull[2] - shift) > 0.05:  # (the room varies a little along a lane)
                length = p.shift_ramp
                if to_stop and self._yield_stop_s is not None:
                    length = min(0.75 * max(self._yield_stop_s - s_ego, 0.0), p.shift_ramp)
                if length < 1.0:  # (nearly) standing: no room to move sideways
                    return pull
                self._pull = (s_ego, now, shift, length)
        elif pull is not None and pull[2] != 0.0:  # the yield is over: back to the line
            self._pull = (s_ego, now, 0.0, p.shift_ramp) if abs(now) > 1e-3 else None
        elif pull is not None and s_ego > pull[0] + pull[3]:
            self._pull = None
        return self._pull

    def _keep_box_clear(self, ref: RefLine, s_ego: float, ego: bh.Ego, stop_s: float) -> float:
        """An object stop that would leave the vehicle standing in an intersection (past a stop line,
        before the end of the connecting lanelet plus its length) moves back to the stop line, when that
        can still be reached with comfortable braking."""
        p = self.params
        s_front = s_ego + ego.base_to_front
        for s_line, _, inbound in ref.stop_lines:
            line_stop = s_line - ego.base_to_front - p.signals.stop_margin
            if s_line < s_front or stop_s <= line_stop:
                continue
            i = ref.lanelet_ids.index(inbound)
            box_end = ref.starts[i + 2] if i + 2 < len(ref.starts) else ref.path.length
            rear_at_stop = stop_s - (ego.length - ego.base_to_front)
            if rear_at_stop < box_end:  # some of the body would stand in the box
                v = max(ego.speed, 0.0)
                if line_stop - s_ego >= v * v / (2.0 * p.limits.max_deceleration):
                    return line_stop
            break
        return stop_s

    def _speed_limit(self, ref: RefLine, s: float) -> float:
        v = min(ref.speed_limit_at(s), self.params.lane_speed_cap)
        if self.task is not None and self.task.active:
            v = min(v, self.task.spec.max_speed)
        return v

    def _signal_for(
        self, ref: RefLine, inbound: int, signals: Mapping[tuple[int, int], PhaseSignal]
    ) -> tuple[PhaseSignal | None, str]:
        if self.link is None:
            return None, ""
        ids = ref.lanelet_ids
        if inbound not in ids:
            return None, ""
        i = ids.index(inbound)
        if i + 1 >= len(ids):
            return None, ""
        ctl = self.link.control_for(inbound, ids[i + 1])
        if ctl is None:
            return None, ""
        return signals.get((ctl.node_id, ctl.phase_id)), f"{ctl.node_id}/{ctl.phase_id}"


@dataclass(frozen=True)
class LaneChange:
    """A lane change around an RSI event: into the other lane (offset m, left > 0) over [s0, s1], in it
    until s2, back over [s2, s3] (arc lengths of the reference); path: the reference as driven."""

    reason: str
    s0: float
    s1: float
    s2: float
    s3: float
    offset: float
    base: Path
    path: Path | None = None

    def offset_at(self, s: Any) -> Any:
        into = _blend((self.s0, 0.0, self.offset, self.s1 - self.s0), s)
        back = _blend((self.s2, self.offset, 0.0, self.s3 - self.s2), s)
        return np.where(np.asarray(s) < self.s2, into, back)

    def with_path(self) -> LaneChange:
        b = self.base
        off = self.offset_at(b.s)
        return replace(self, path=Path(b.x - off * np.sin(b.yaw), b.y + off * np.cos(b.yaw)))


def _reasons(res: bh.BehaviourResult) -> set[str]:
    return {c.reason for c in res.constraints}


def _densify(pts: Sequence[tuple[float, float]], step: float) -> list[tuple[float, float]]:
    out = [pts[0]]
    for (ax, ay), (bx, by) in itertools.pairwise(pts):
        n = max(1, math.ceil(math.hypot(bx - ax, by - ay) / step))
        out.extend((ax + (bx - ax) * k / n, ay + (by - ay) * k / n) for k in range(1, n + 1))
    return out


def _blend(pull: tuple[float, float, float, float], s: Any) -> Any:
    """Offset (m, left > 0) at s of a lateral shift (start s, offset there, offset at the end, length),
    smoothstep in between (no jump in curvature at either end beyond what the controller follows)."""
    s0, a, b, length = pull
    u = np.clip((s - s0) / length, 0.0, 1.0)
    return a + (b - a) * u * u * (3.0 - 2.0 * u)


def _profile_stations(s_ego: float, end: float, ds: float, knots: Sequence[float]) -> FloatArray:
    """The speed profile's stations: every ds from s_ego to end, with each knot (where a speed cap
    starts) made a station, so that speed varies linearly in v^2 between stations and a cap holds from
    its start on, not from the next grid point. A knot closer than ds / 2 to a grid station replaces it
    (s_ego itself stays); one closer than that to s_ego is left out (the vehicle is already there)."""
    s = np.arange(s_ego, end, ds)
    s = np.append(s, end) if end - s[-1] > 1e-3 else s
    for k in sorted(knots):
        if not (s_ego + 0.5 * ds <= k < end - 0.5 * ds):
            continue
        j = int(np.argmin(np.abs(s - k)))
        if abs(s[j] - k) < 0.5 * ds and j > 0:
            s[j] = k
        else:
            s = np.insert(s, int(np.searchsorted(s, k)), k)
        s = np.sort(s)
    keep = np.concatenate(([True], np.diff(s) > 1e-3))
    return np.asarray(s[keep], dtype=np.float64)


def _merge(into: bh.BehaviourResult, other: bh.BehaviourResult) -> None:
    into.constraints.extend(other.constraints)
    into.advisories.extend(other.advisories)
