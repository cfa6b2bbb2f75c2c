"""Behaviours and V2X applications as pure functions over SI inputs in the map frame (ENU, m, s, rad).

Each returns constraints on the speed profile along the reference path (a stop at an arc length, a speed
cap over a stretch, a lateral shift) and advisories (roadedge_msgs/Advisory fields). The planner combines
them; nothing here knows about ROS.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from roadedge.planning.geometry import Path, wrap_angle
from roadedge.planning.v2x_link import GO_LIGHTS, LIGHT_UNAVAILABLE, LIGHT_YELLOW, STOP_LIGHTS, PhaseSignal

# roadedge_msgs/Advisory TYPE_* and SEVERITY_*
FCW, ICW, RLVW, GLOSA, EVW, VRUCW, HAZARD, WORK_ZONE, SPEED_LIMIT, EQUIPMENT = range(10)
INFO, WARNING, CRITICAL = 0, 1, 2
# roadedge_msgs/Object CLASS_*
CLASS_UNKNOWN, CLASS_PEDESTRIAN, CLASS_CYCLIST, CLASS_VEHICLE, CLASS_OBSTACLE, CLASS_EMERGENCY = range(6)
VRU_CLASSES = frozenset({CLASS_PEDESTRIAN, CLASS_CYCLIST})
SOURCE_V2X_BSM = 3  # roadedge_msgs/ObjectSource V2X_BSM
# roadedge_msgs/Trajectory BEHAVIOUR_*
B_IDLE, B_LANE_FOLLOW, B_CURB_FOLLOW, B_STOP_OBJECT, B_STOP_SIGNAL, B_YIELD_EMERGENCY, B_MINIMAL_RISK = range(
    7
)


@dataclass(frozen=True)
class Advisory:
    type: int
    severity: int
    target_id: str = ""
    target_source: int = 0
    time_to_collision: float = math.inf
    distance: float = math.nan
    recommended_speed: float = math.nan
    recommended_speed_min: float = math.nan
    recommended_speed_max: float = math.nan
    text: str = ""


@dataclass(frozen=True)
class Ego:
    """The vehicle: rear-axle pose and speed, and its body."""

    x: float
    y: float
    yaw: float
    speed: float
    length: float = 5.6
    width: float = 2.0
    base_to_front: float = 4.4  # m from the rear axle to the front bumper


@dataclass(frozen=True)
class Obstacle:
    """An object (own perception, roadside RSM, or a BSM sender) in the map frame."""

    id: str
    kind: int  # Object CLASS_*
    x: float
    y: float
    vx: float = 0.0
    vy: float = 0.0
    length: float = 0.5
    width: float = 0.5
    source: int = 0  # ObjectSource type
    yaw: float = math.nan  # rad, heading of the body; NaN: that of the velocity, or along the road
    confidence: float = 1.0  # existence confidence 0..1 (V2X and roadside objects: 1)

    @property
    def radius(self) -> float:
        return 0.5 * math.hypot(self.length, self.width)

    def half_extents(self, path_yaw: float) -> tuple[float, float]:
        """Half extents (along, across) of the body relative to a path heading."""
        yaw = self.yaw
        if not math.isfinite(yaw):
            yaw = math.atan2(self.vy, self.vx) if math.hypot(self.vx, self.vy) > 0.5 else path_yaw
        c, s = abs(math.cos(yaw - path_yaw)), abs(math.sin(yaw - path_yaw))
        return 0.5 * (self.length * c + self.width * s), 0.5 * (self.length * s + self.width * c)


@dataclass(frozen=True)
class Constraint:
    """What a behaviour asks of the profile. stop_s: stand still at this arc length (front bumper at the
    target); cap: speed cap (m/s) over [s_from, s_to]; lateral_shift: m to the left (< 0: to the right)."""

    behaviour: int
    reason: str
    stop_s: float | None = None
    cap: float | None = None
    s_from: float = -math.inf
    s_to: float = math.inf
    lateral_shift: float = 0.0


@dataclass
class BehaviourResult:
    constraints: list[Constraint] = field(default_factory=list)
    advisories: list[Advisory] = field(default_factory=list)


# --- object confidence gate ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectGateParams:
    """Which objects planning acts on. An object whose existence confidence is below min_confidence neither
    stops the vehicle nor raises FCW/ICW/VRUCW/EVW, unless its track (the same non-empty id, not "0": an
    untracked detection never persists) has been reported without a gap longer than max_gap for at least
    persistence seconds; from then on it counts like a confident one until it has been gone for max_gap."""

    min_confidence: float = 0.5
    persistence: float = 0.5  # s
    max_gap: float = 0.3  # s

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be within 0..1, not {self.min_confidence}")
        if not (0.0 <= self.persistence <= 10.0 and 0.0 < self.max_gap <= 10.0):
            raise ValueError("persistence must be within 0..10 s and max_gap within (0, 10] s")


class ConfidenceGate:
    """Drops low-confidence objects that do not persist (rule: ObjectGateParams)."""

    def __init__(self, params: ObjectGateParams = ObjectGateParams()) -> None:
        self.params = params
        self._seen: dict[str, tuple[float, float]] = {}  # id -> (first seen, last seen) of a low one
        self.dropped = 0  # low-confidence objects not acted on, in all

    def update(self, now: float, objects: Sequence[Obstacle]) -> list[Obstacle]:
        p = self.params
        out = []
        for ob in objects:
            conf = ob.confidence if math.isfinite(ob.confidence) else 0.0
            if conf >= p.min_confidence:
                out.append(ob)
                continue
            if ob.id in ("", "0") or not math.isfinite(now):
                self.dropped += 1
                continue
            first, last = self._seen.get(ob.id, (now, now))
            if now - last > p.max_gap:
                first = now
            self._seen[ob.id] = (first, now)
            if now - first >= p.persistence:
                out.append(ob)
            else:
                self.dropped += 1
        if math.isfinite(now):
            self._seen = {k: v for k, v in self._seen.items() if now - v[1] <= p.max_gap}
        return out


# --- objects in the path: stop / follow, FCW -------------------------------------------------------------


@dataclass(frozen=True)
class ObjectParams:
    corridor_margin: float = 0.5  # m beyond the vehicle's half width
    prediction_time: float = 3.0  # s: an object predicted to enter the corridor within it blocks
    prediction_step: float = 0.25  # s
    standoff: float = 4.0  # m kept to a stopped object (front bumper to object edge)
    time_gap: float = 1.5  # s kept to a moving lead
    lead_deceleration: float = 3.0  # m/s^2 a moving lead is assumed able to brake with
    fcw_warning_ttc: float = 4.0  # s
    fcw_critical_ttc: float = 2.0  # s
    horizon: float = 80.0  # m ahead considered


@dataclass(frozen=True)
class PathObject:
    obstacle: Obstacle
    s: float  # m along the path of the object's near edge (blocking point)
    along_speed: float  # m/s of the object along the path
    entering_in: float  # s until it is in the corridor (0 = now)


def objects_in_path(
    path: Path, s_ego: float, ego: Ego, objects: Sequence[Obstacle], p: ObjectParams = ObjectParams()
) -> list[PathObject]:
    """Objects in the vehicle's corridor along the path ahead, now or within the prediction time, nearest
    first. s_ego is the rear axle's arc length."""
    half = 0.5 * ego.width + p.corridor_margin
    s_front = s_ego + ego.base_to_front
    out = []
    steps = np.arange(0.0, p.prediction_time + 1e-9, p.prediction_step)
    for ob in objects:
        if not all(math.isfinite(v) for v in (ob.x, ob.y, ob.vx, ob.vy)):
            continue
        if math.hypot(ob.x - ego.x, ob.y - ego.y) > p.horizon + ego.length + 20.0:
            continue
        now = path.project(ob.x, ob.y)
        along0, _ = ob.half_extents(now.yaw)
        if now.s + along0 < s_front - 0.5:
            continue  # behind or beside the vehicle now: braking cannot avoid it
        if s_ego - 1.5 <= now.s <= s_front and abs(now.lateral) < 0.5 * ego.width:
            continue  # inside our own footprint: our own BSM echoed back, or a ghost

        for t in steps:
            px, py = ob.x + ob.vx * t, ob.y + ob.vy * t
            pr = path.project(px, py)
            if pr.before_start or pr.after_end or pr.s < s_front - 0.5 or pr.s > s_ego + p.horizon:
                continue
            half_along, half_across = ob.half_extents(pr.yaw)
            if abs(pr.lateral) - half_across < half:
                along = ob.vx * math.cos(pr.yaw) + ob.vy * math.sin(pr.yaw)
                out.append(PathObject(ob, pr.s - half_along, along, float(t)))
                break
    out.sort(key=lambda o: o.s)
    return out


def stop_or_follow(
    in_path: Sequence[PathObject], s_ego: float, ego: Ego, p: ObjectParams = ObjectParams()
) -> BehaviourResult:
    """Stop behind the nearest object in the path (a moving lead: behind it by the time gap) and warn FCW."""
    res = BehaviourResult()
    if not in_path:
        return res
    o = in_path[0]
    lead_speed = max(0.0, o.along_speed) if o.entering_in == 0.0 else 0.0
    # where the lead would stand after braking hard, minus stand-off and time gap
    stop_front = o.s + lead_speed**2 / (2.0 * p.lead_deceleration) - p.standoff - p.time_gap * lead_speed
    res.constraints.append(
        Constraint(B_STOP_OBJECT, f"object {o.obstacle.id}", stop_s=stop_front - ego.base_to_front)
    )
    gap = o.s - (s_ego + ego.base_to_front)
    closing = ego.speed - lead_speed
    ttc = gap / closing if closing > 0.1 and gap > 0.0 else (0.0 if gap <= 0.0 else math.inf)
    kind = VRUCW if o.obstacle.kind in VRU_CLASSES else FCW
    if ttc < p.fcw_warning_ttc:
        sev = CRITICAL if ttc < p.fcw_critical_ttc else WARNING
        res.advisories.append(
            Advisory(kind, sev, o.obstacle.id, o.obstacle.source, ttc, gap, text="object ahead in path")
        )
    return res


# --- crossing traffic and VRUs: ICW, VRUCW ---------------------------------------------------------------


@dataclass(frozen=True)
class ConflictParams:
    horizon_time: float = 6.0  # s
    step: float = 0.1  # s
    vehicle_radius: float = 2.5  # m: closer than this (centre to centre, beyond the body radii) = conflict
    vru_radius: float = 1.5  # m
    warning_ttc: float = 4.0
    critical_ttc: float = 2.0
    same_direction: float = 0.6  # rad: vehicles heading within this are FCW's, not ICW's


def time_to_conflict(
    path: Path, s_ego: float, ego: Ego, ob: Obstacle, radius: float, horizon: float, step: float
) -> float:
    """First time (s) the object, moving at constant velocity, comes within radius of the vehicle's body
    moving along the path at its current speed; inf if not within the horizon."""
    ego_r = 0.5 * ego.length
    centre = 0.5 * ego.base_to_front  # body centre ahead of the rear axle (approximately)
    for t in np.arange(0.0, horizon + 1e-9, step):
        ex, ey = path.point_at(s_ego + centre + max(ego.speed, 0.0) * t)
        ox, oy = ob.x + ob.vx * t, ob.y + ob.vy * t
        if math.hypot(ox - ex, oy - ey) < radius + ego_r + ob.radius - 0.5 * ego.length + 0.5 * ego.width:
            return float(t)
    return math.inf


def collision_warnings(
    path: Path, s_ego: float, ego: Ego, objects: Sequence[Obstacle], p: ConflictParams = ConflictParams()
) -> list[Advisory]:
    """ICW for crossing vehicles and VRUCW for pedestrians/cyclists on a conflict course."""
    out = []
    for ob in objects:
        if not all(math.isfinite(v) for v in (ob.x, ob.y, ob.vx, ob.vy)):
            continue
        vru = ob.kind in VRU_CLASSES
        if not vru:
            sp = math.hypot(ob.vx, ob.vy)
            if sp < 0.5:
                continue  # parked / stopped: the path check handles it
            if abs(wrap_angle(math.atan2(ob.vy, ob.vx) - ego.yaw)) < p.same_direction:
                continue
        radius = p.vru_radius if vru else p.vehicle_radius
        ttc = time_to_conflict(path, s_ego, ego, ob, radius, p.horizon_time, p.step)
        if ttc < p.warning_ttc:
            sev = CRITICAL if ttc < p.critical_ttc else WARNING
            d = math.hypot(ob.x - ego.x, ob.y - ego.y)
            kind = VRUCW if vru else ICW
            out.append(Advisory(kind, sev, ob.id, ob.source, ttc, d, text="conflict course"))
    return out


# --- signals: red light stop / RLVW and GLOSA ------------------------------------------------------------


@dataclass(frozen=True)
class SignalParams:
    comfort_deceleration: float = 1.5  # m/s^2
    max_deceleration: float = 3.0  # m/s^2, the most the vehicle brakes for a signal
    reaction_time: float = 0.5  # s, planning + actuation latency
    glosa_min_speed: float = 1.0  # m/s: advising slower than this is not useful ...
    glosa_min_fraction: float = 0.4  # ... nor slower than this fraction of the speed limit
    glosa_margin: float = 1.0  # s after the green starts / before it ends
    glosa_horizon: float = 300.0  # m: beyond this no advice
    stop_margin: float = 0.15  # m: the front bumper stops this far before the line


@dataclass(frozen=True)
class SignalDecision:
    stop: bool
    result: BehaviourResult


def stopping_distance(v: float, deceleration: float, reaction_time: float) -> float:
    return v * reaction_time + v * v / (2.0 * deceleration)


def signal_decision(
    distance: float,
    stop_s: float,
    speed: float,
    speed_limit: float,
    signal: PhaseSignal | None,
    p: SignalParams = SignalParams(),
    phase_name: str = "",
) -> SignalDecision:
    """Decide at a signalized stop line `distance` m ahead of the front bumper (stop_s: the rear-axle arc
    length to stand still at). Red (or yellow that cannot be cleared) -> stop at the line; a stop needing
    more than the comfortable deceleration raises RLVW (critical when beyond max_deceleration, still
    braking: the vehicle never enters on red on purpose). Yellow that cannot be stopped for within
    max_deceleration but is cleared before red -> pass. Unknown signal (no SPAT) -> stop (treat as red).
    Green -> GLOSA band for passing within the green; red with a reachable next green -> GLOSA cap."""
    res = BehaviourResult()
    v = max(speed, 0.0)
    if distance < -0.5:
        return SignalDecision(False, res)  # already past the line
    d_comf = stopping_distance(v, p.comfort_deceleration, p.reaction_time)
    d_max = stopping_distance(v, p.max_deceleration, p.reaction_time)
    light = signal.current if signal is not None else LIGHT_UNAVAILABLE
    t_arrive = distance / v if v > 0.1 else math.inf

    def stop(reason: str) -> SignalDecision:
        res.constraints.append(Constraint(B_STOP_SIGNAL, reason, stop_s=stop_s - p.stop_margin))
        if distance < d_comf and v > 0.1:
            sev = CRITICAL if distance < d_max else WARNING
            res.advisories.append(
                Advisory(RLVW, sev, phase_name, 0, t_arrive, distance, 0.0, text=f"red light ahead: {reason}")
            )
        return SignalDecision(True, res)

    if signal is None or light == LIGHT_UNAVAILABLE:
        return stop("no signal state")
    if light in GO_LIGHTS:
        remaining = signal.remaining("min")
        # passes if it reaches the line while green at (at least) its current speed
        if t_arrive < remaining - 0.2 or distance < 0.5:
            _glosa(res, distance, v, speed_limit, signal, p, phase_name)
            return SignalDecision(False, res)
        if distance >= d_comf:
            _glosa(res, distance, v, speed_limit, signal, p, phase_name)
            # green now but not long enough at this speed: stop unless GLOSA makes it (re-checked each cycle)
            if any(a.type == GLOSA and a.recommended_speed > v + 0.1 for a in res.advisories):
                return SignalDecision(False, res)
            return stop("green ends before arrival")
        return SignalDecision(False, res)  # too close to stop comfortably when it turns: proceed
    if light == LIGHT_YELLOW:
        remaining = signal.remaining("min")
        if distance < d_max and t_arrive < remaining:
            return SignalDecision(False, res)  # dilemma zone: clear on yellow
        return stop("yellow")
    if light in STOP_LIGHTS:
        _glosa(res, distance, v, speed_limit, signal, p, phase_name)
        return stop("red")
    return stop("signal dark or unknown")


def _glosa(
    res: BehaviourResult,
    distance: float,
    v: float,
    speed_limit: float,
    signal: PhaseSignal,
    p: SignalParams,
    phase_name: str,
) -> None:
    """GLOSA advice: a speed band to reach the line within a green window, and a cap for the approach."""
    if distance > p.glosa_horizon or distance < 1.0:
        return
    for a, b in signal.green_windows():
        lo_t = a + p.glosa_margin if a > 0.0 else 0.0
        hi_t = b - p.glosa_margin
        if hi_t <= lo_t or hi_t <= 0.0:
            continue
        v_hi = min(speed_limit, distance / lo_t if lo_t > 0.0 else speed_limit)
        v_lo = max(p.glosa_min_speed, p.glosa_min_fraction * speed_limit, distance / hi_t)
        if v_lo <= v_hi:
            res.advisories.append(
                Advisory(
                    GLOSA,
                    INFO,
                    phase_name,
                    0,
                    math.inf,
                    distance,
                    v_hi,
                    v_lo,
                    v_hi,
                    text="green light optimal speed",
                )
            )
            if v_hi < speed_limit - 1e-6:
                res.constraints.append(Constraint(B_STOP_SIGNAL, "glosa", cap=v_hi, s_to=math.inf))
            return


# --- emergency vehicle (EVW) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EmergencyVehicle:
    id: str
    x: float
    y: float
    heading: float  # rad, NaN = unknown
    speed: float  # m/s, NaN = unknown
    siren: bool
    lights: bool


@dataclass(frozen=True)
class EvwParams:
    detect_range: float = 150.0  # m
    lateral_window: float = 8.0  # m: |lateral offset| of the EV in the ego frame to count as same road
    heading_window: float = 0.8  # rad
    yield_speed: float = 0.0  # m/s while yielding
    pullover_shift: float = 0.6  # m, the most the vehicle moves right when pulling over
    edge_clearance: float = 0.3  # m kept between the body and the road edge / lane bound when pulling over
    passed_margin: float = 10.0  # m ahead of the ego front when the EV has passed


def emergency_yield(
    ego: Ego, evs: Sequence[EmergencyVehicle], p: EvwParams = EvwParams(), room_right: float = math.inf
) -> BehaviourResult:
    """Yield (pull right, slow to yield_speed) to an active emergency vehicle approaching from behind in the
    same direction; EVW advisory with the time until it reaches the vehicle. room_right: m between the
    body's right side and the right road edge (or lane bound); the pull-over shift keeps edge_clearance of
    it (a sweeper at its curb offset is already pulled over: no shift)."""
    res = BehaviourResult()
    c, s = math.cos(ego.yaw), math.sin(ego.yaw)
    best: tuple[float, EmergencyVehicle, float] | None = None
    for ev in evs:
        if not (ev.siren or ev.lights) or not (math.isfinite(ev.x) and math.isfinite(ev.y)):
            continue
        dx, dy = ev.x - ego.x, ev.y - ego.y
        lon = dx * c + dy * s
        lat = -dx * s + dy * c
        if lon > ego.base_to_front + p.passed_margin or abs(lat) > p.lateral_window:
            continue
        if lon < -p.detect_range:
            continue
        if math.isfinite(ev.heading) and abs(wrap_angle(ev.heading - ego.yaw)) > p.heading_window:
            continue
        if lon > ego.base_to_front:  # ahead of us: passing / passed
            continue
        closing = (ev.speed if math.isfinite(ev.speed) else 0.0) - max(ego.speed, 0.0)
        ttc = -lon / closing if closing > 0.1 and lon < 0.0 else (0.0 if lon >= 0.0 else math.inf)
        if best is None or -lon < best[0]:
            best = (-lon, ev, ttc)
    if best is None:
        return res
    dist, ev, ttc = best
    res.constraints.append(
        Constraint(
            B_YIELD_EMERGENCY,
            f"emergency vehicle {ev.id}",
            cap=p.yield_speed,
            s_from=-math.inf,
            lateral_shift=-min(p.pullover_shift, max(room_right - p.edge_clearance, 0.0)),
        )
    )
    res.advisories.append(
        Advisory(EVW, CRITICAL, ev.id, 3, ttc, dist, p.yield_speed, text="emergency vehicle behind: yield")
    )
    return res


# --- RSI: hazards, work zones, speed-limit signs -----------------------------------------------------------


@dataclass(frozen=True)
class RsiZone:
    """An RSI event or sign in the map frame (reference path points or position + radius)."""

    id: str
    is_sign: bool
    type_code: int  # event_type or sign_type
    x: float
    y: float
    radius: float  # m, NaN = default
    paths: tuple[tuple[tuple[tuple[float, float], ...], float], ...] = ()  # (points, half width)
    description: str = ""


@dataclass(frozen=True)
class RsiParams:
    work_zone_codes: frozenset[int] = frozenset({401, 402, 403, 404, 405, 406, 407})  # road works family
    work_zone_speed: float = 1.5  # m/s (lower when the event's text states a lower limit)
    hazard_speed: float = 5.0  # m/s
    default_radius: float = 10.0  # m
    speed_limit_sign_codes: frozenset[int] = frozenset({85, 38})  # GB 5768 speed-limit sign codes in use
    sign_reach: float = 300.0  # m a sign without reference path applies after its position
    lane_half_width: float = 1.75  # m
    horizon: float = 200.0  # m


def _extent_on_path(
    path: Path, pts: Sequence[tuple[float, float]], radius: float, reach: float
) -> tuple[float, float] | None:
    ss = []
    for x, y in pts:
        pr = path.project(x, y)
        if pr.before_start or pr.after_end:
            continue
        if abs(pr.lateral) <= radius + reach:
            ss.append(pr.s)
    if not ss:
        return None
    return min(ss) - radius, max(ss) + radius


def sign_speed(description: str) -> float | None:
    """A speed from a sign's or event's text ("30", "限速30", "30 km/h" = km/h; "1.5 m/s", "1.5 mps"), m/s."""
    m = re.search(r"([0-9]{1,3}(?:\.[0-9]+)?)\s*(km/h|kmh|m/s|mps)?", description)
    if not m:
        return None
    v = float(m.group(1))
    return v if m.group(2) in ("m/s", "mps") else v / 3.6


def event_speed(description: str) -> float | None:
    """A speed limit stated in an event's text with its unit ("limit 1.5 m/s", "限速 20 km/h"), m/s."""
    m = re.search(r"([0-9]{1,3}(?:\.[0-9]+)?)\s*(km/h|kmh|m/s|mps)", description)
    if not m:
        return None
    v = float(m.group(1))
    return v if m.group(2) in ("m/s", "mps") else v / 3.6


def rsi_constraints(
    path: Path, s_ego: float, zones: Sequence[RsiZone], p: RsiParams = RsiParams()
) -> BehaviourResult:
    res = BehaviourResult()
    for z in zones:
        r = z.radius if math.isfinite(z.radius) and z.radius > 0.0 else p.default_radius
        if z.is_sign:
            if z.type_code not in p.speed_limit_sign_codes:
                continue
            v = sign_speed(z.description)
            if v is None:
                continue
            ext = _extent_on_path(path, [(z.x, z.y)], 0.0, p.lane_half_width + r)
            if ext is None or ext[0] - s_ego > p.horizon:
                continue
            end = ext[0] + p.sign_reach
            if z.paths:
                ends = [_extent_on_path(path, pts, hw, p.lane_half_width) for pts, hw in z.paths]
                valid = [e for e in ends if e is not None]
                if valid:
                    end = max(e[1] for e in valid)
            if end < s_ego:
                continue
            res.constraints.append(
                Constraint(B_LANE_FOLLOW, f"speed limit sign {z.id}", cap=v, s_from=ext[0], s_to=end)
            )
            res.advisories.append(
                Advisory(
                    SPEED_LIMIT, INFO, z.id, 4, math.inf, max(0.0, ext[0] - s_ego), v, text=z.description
                )
            )
            continue
        found = [_extent_on_path(path, pts, hw, p.lane_half_width) for pts, hw in z.paths]
        if not any(e is not None for e in found) and math.isfinite(z.x) and math.isfinite(z.y):
            found = [_extent_on_path(path, [(z.x, z.y)], r, p.lane_half_width)]
        pieces = [e for e in found if e is not None]
        if not pieces:
            continue
        a, b = min(e[0] for e in pieces), max(e[1] for e in pieces)
        if b < s_ego or a - s_ego > p.horizon:
            continue
        work = z.type_code in p.work_zone_codes
        v = p.work_zone_speed if work else p.hazard_speed
        stated = event_speed(z.description)
        if stated is not None and stated > 0.0:
            v = min(v, stated)
        res.constraints.append(Constraint(B_LANE_FOLLOW, f"rsi event {z.id}", cap=v, s_from=a, s_to=b))
        res.advisories.append(
            Advisory(
                WORK_ZONE if work else HAZARD,
                WARNING,
                z.id,
                4,
                math.inf,
                max(0.0, a - s_ego),
                v,
                text=z.description or ("work zone" if work else "hazard"),
            )
        )
    return res
