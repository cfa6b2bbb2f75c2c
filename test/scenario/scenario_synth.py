"""A tiny kinematic stand-in for the stack: drives a scenario's task so criteria have data.

It follows the task path at the target speed, stops for red lights (signal plans) and for actors
in its corridor, all with bounded acceleration. Knobs make it misbehave for failing cases.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from roadedge.scenario.criteria import (
    ActorTrack,
    AdvisoryEvent,
    EgoTrack,
    ProgressSample,
    RunData,
    signals_from_plan,
)
from roadedge.scenario.schema import Scenario, polyline_offset


@dataclass
class Knobs:
    ignore_red: bool = False
    ignore_actors: bool = False
    lateral_bias: float = 0.0  # m added to the curb offset
    brake: float = 2.0  # m/s^2
    accel: float = 1.0  # m/s^2
    dt: float = 0.1


def simulate(s: Scenario, knobs: Knobs | None = None) -> RunData:
    k = knobs or Knobs()
    path = s.task.path
    seg = [(a, b) for a, b in itertools.pairwise(path)]
    lengths = [math.hypot(b.x - a.x, b.y - a.y) for a, b in seg]
    total = sum(lengths)
    want = (
        (s.task.curb_offset if s.task.curb_side == "right" else -s.task.curb_offset)
        if s.task.kind == "sweep"
        else 0.0
    )
    want += k.lateral_bias
    _offset0, arc = polyline_offset(path, s.initial_pose.x, s.initial_pose.y)
    v = s.initial_pose.speed
    signals = signals_from_plan(s.intersections, s.duration + 1)

    def pose_at(arc_s: float) -> tuple[float, float, float]:
        rest = arc_s
        for (a, b), length in zip(seg, lengths, strict=False):
            if rest <= length or (a, b) == seg[-1]:
                u = rest / length
                yaw = math.atan2(b.y - a.y, b.x - a.x)
                cx, cy = a.x + u * (b.x - a.x), a.y + u * (b.y - a.y)
                return cx - math.sin(yaw) * want, cy + math.cos(yaw) * want, yaw
            rest -= length
        raise AssertionError

    t_list, xs, ys, yaws, vs, progress = [], [], [], [], [], []
    t = 0.0
    done_at = None
    while t <= s.duration:
        x, y, yaw = pose_at(arc)
        front = s.vehicle.base_to_front
        limit = s.task.target_speed if arc < total - 0.5 else 0.0
        stop_dist = total - arc - 0.5
        for inter in s.intersections:
            for line in inter.stop_lines:
                d = (line.x - x) * math.cos(yaw) + (line.y - y) * math.sin(yaw) - front
                lat = -(line.x - x) * math.sin(yaw) + (line.y - y) * math.cos(yaw)
                if abs(math.remainder(line.heading - yaw, 2 * math.pi)) > 0.5 or abs(lat) > 3.0 or d < -0.5:
                    continue
                state = signals[(inter.id, line.phase_id)].state_at(t)
                if not k.ignore_red and state in ("red", "yellow") and d > -0.2:
                    stop_dist = min(stop_dist, d - 1.0)
        if not k.ignore_actors:
            for actor in s.actors:
                st = actor.state_at(t)
                if st is None:
                    continue
                ax, ay, _, _ = st
                lon = (ax - x) * math.cos(yaw) + (ay - y) * math.sin(yaw) - front
                lat = -(ax - x) * math.sin(yaw) + (ay - y) * math.cos(yaw)
                if 0.0 < lon < 25.0 and abs(lat) < 3.5:
                    stop_dist = min(stop_dist, lon - 4.0)
        v_cap = math.sqrt(max(0.0, 2 * 0.8 * k.brake * max(stop_dist, 0.0)))
        target = min(limit, v_cap)
        dv = max(-k.brake * k.dt, min(k.accel * k.dt, target - v))
        v = max(0.0, v + dv)
        t_list.append(t), xs.append(x), ys.append(y), yaws.append(yaw), vs.append(v)
        if done_at is None and arc >= total - 2.0:
            done_at = t
        progress.append(ProgressSample(t, min(1.0, arc / (total - 2.0)), 3 if done_at is not None else 1))
        arc += v * k.dt
        t = round(t + k.dt, 6)
    actors = {}
    for actor in s.actors:
        timed = actor.timed()
        ts = (
            np.arange(timed[0][0], timed[-1][0] + 1e-9, 0.1)
            if len(timed) > 1
            else np.array([0.0, s.duration])
        )
        states = [actor.state_at(float(tt)) or (timed[0][1], timed[0][2], 0.0, 0.0) for tt in ts]
        actors[actor.id] = ActorTrack(
            actor.id,
            actor.kind,
            ts,
            np.array([p[0] for p in states]),
            np.array([p[1] for p in states]),
            np.array([p[2] for p in states]),
            actor.length,
            actor.width,
        )
    advisories = [AdvisoryEvent(5.0, "glosa", 0, "100", "GLOSA 6-8 m/s")]
    return RunData(
        EgoTrack.from_lists(t_list, xs, ys, yaws, vs), actors, signals, advisories, progress, [], s.duration
    )
