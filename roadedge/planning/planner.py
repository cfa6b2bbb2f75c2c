"""The planner core: a reference line (lane route or sweep task), the behaviours' constraints, and the
speed profile -> a trajectory (roadedge_msgs/Trajectory fields), advisories, equipment command, progress.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
    conflicts: bh.ConflictParams = field(default_factory=bh.ConflictParams)
    signals: bh.SignalParams = field(default_factory=bh.SignalParams)
    evw: bh.EvwParams = field(default_factory=bh.EvwParams)
    rsi: bh.RsiParams = field(default_factory=bh.RsiParams)
    sweep: SweepParams = field(default_factory=SweepParams)
    shift_ramp: float = 8.0  # m over which a lateral shift (pull over) is blended in
    max_lateral_error_on_route: float = 3.0  # m: beyond this the vehicle is off the route -> stop


@dataclass(frozen=True)
class Inputs:
    ego: bh.Ego
    acceleration: float = 0.0
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

    # --- missions ---------------------------------------------------------------------------------------
    def set_route(self, lanelet_ids: Sequence[int]) -> None:
        """Lane following along a route (e.g. RoadMap.route(start, goal))."""
        self.ref = lane_ref_line(self.road, lanelet_ids, self.params.ds)
        self.task = None
        self._hint = None
        self._mrm_stop_s = None

    def start_sweep(self, spec: SweepTaskSpec) -> SweepTask:
        task = SweepTask.build(self.road, spec, self.params.sweep)
        self.task = task
        self.ref = task.ref
        self._hint = None
        self._mrm_stop_s = None
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
        off_route = abs(pr.lateral) > p.max_lateral_error_on_route
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

        # objects in the path (own perception, roadside), FCW/VRU/ICW
        objs = list(inp.objects)
        in_path = bh.objects_in_path(ref.path, s_ego, ego, objs, p.objects)
        _merge(result, bh.stop_or_follow(in_path, s_ego, ego, p.objects))
        blocking = {o.obstacle.id for o in in_path}
        result.advisories.extend(
            a
            for a in bh.collision_warnings(ref.path, s_ego, ego, objs, p.conflicts)
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
        _merge(result, bh.emergency_yield(ego, evs, p.evw, at_curb=sweeping))
        # RSI
        _merge(result, bh.rsi_constraints(ref.path, s_ego, inp.rsi, p.rsi))

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
        kap = base.curvature
        vmax = np.minimum(
            vmax, curvature_speed_limit(kap, p.limits.max_lateral_acceleration, p.lane_speed_cap)
        )
        stop_s: float | None = None
        behaviour = bh.B_CURB_FOLLOW if sweeping else bh.B_LANE_FOLLOW
        reason = "route"
        shift = 0.0
        for c in result.constraints:
            if c.cap is not None:
                if c.behaviour == bh.B_YIELD_EMERGENCY:
                    behaviour, reason = c.behaviour, c.reason
                    if c.cap <= 0.0:
                        continue  # a yield to a standstill becomes a stop point (below)
                m = (s_axis >= c.s_from) & (s_axis <= c.s_to)
                vmax = np.where(m, np.minimum(vmax, c.cap), vmax)
            shift = min(shift, c.lateral_shift)
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
                need = v0 / max(p.evw_yield_time - p.signals.reaction_time, 0.5)
                yield_dec = min(max(p.soft_cap_deceleration, need), p.signals.max_deceleration)
                self._yield_stop_s = s_ego + v0 * v0 / (2.0 * yield_dec)
            stop_s = self._yield_stop_s if stop_s is None else min(stop_s, self._yield_stop_s)
        else:
            self._yield_stop_s = None
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
        s_prof = np.arange(s_ego, end, p.profile_ds)
        s_prof = np.append(s_prof, end) if end - s_prof[-1] > 1e-3 else s_prof
        if s_prof.size < 2:
            s_prof = np.array([s_ego, s_ego + p.ds])
        v_prof_max = np.interp(s_prof, s_axis, vmax)
        ahead = s_axis > s_ego
        for j in range(1, s_prof.size):
            m = ahead & (s_axis > s_prof[j - 1]) & (s_axis <= s_prof[j])
            if m.any():
                v_prof_max[j] = min(v_prof_max[j], float(vmax[m].min()))
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

        # lateral shift (pull over), blended in over shift_ramp ahead
        path = base
        lat = np.full(s_axis.size, ref.lateral_offset)
        if shift != 0.0:
            w = np.clip((s_axis - s_ego) / p.shift_ramp, 0.0, 1.0)
            nx, ny = -np.sin(base.yaw), np.cos(base.yaw)
            path = Path(base.x + shift * w * nx, base.y + shift * w * ny)
            lat = lat + (-shift * w if ref.lateral_offset else shift * w)
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


def _merge(into: bh.BehaviourResult, other: bh.BehaviourResult) -> None:
    into.constraints.extend(other.constraints)
    into.advisories.extend(other.advisories)
