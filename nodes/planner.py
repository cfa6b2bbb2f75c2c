"""Planner: lanelet2 map + sweep tasks + behaviours/V2X applications -> /planning/trajectory (10 Hz),
/planning/advisories, /vehicle/work_equipment/command, /planning/task_progress; services
planning/start_sweep_task (StartSweepTask) and planning/cancel_task (CancelTask). Logic: roadedge.planning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from roadedge_msgs.msg import Advisory as AdvisoryMsg
from roadedge_msgs.msg import (
    AdvisoryArray,
    Bsm,
    ObjectArray,
    Rsi,
    Rsm,
    Spat,
    TaskProgress,
    V2xHeader,
    WorkEquipmentCommand,
    WorkEquipmentStatus,
)
from roadedge_msgs.srv import CancelTask, StartSweepTask
from std_msgs.msg import String

from roadedge import topics
from roadedge.config import ConfigError, param
from roadedge.diagnostics import EventCounter, Health, Level
from roadedge.localization.geodesy import GeodeticOrigin, MapFrame, yaw_of_quaternion
from roadedge.planning import behaviours as bh
from roadedge.planning.lanelet_map import MapError, RoadMap, load_sites
from roadedge.planning.planner import Inputs, Plan, Planner, PlannerParams
from roadedge.planning.sweeping import CurbSegmentSpec, SweepParams, SweepTaskSpec
from roadedge.planning.tasks import route_from_path, sweep_task_from_curb_line
from roadedge.planning.trajectory_wire import encode_plan
from roadedge.planning.v2x_link import PhaseSignal, PhaseStep, V2xLink
from roadedge.ros.node import RoadedgeNode, make_main
from roadedge.v2x.work_zone import working_vehicle


@dataclass(frozen=True)
class PlannerConfig:
    sites_file: str = param("", help="site table; empty = config/maps/sites.yaml of the package")
    site: str = param("demo_intersection", help="site of sites_file: lanelet2 map, origin, V2X link")
    rate: float = param(10.0, help="planning rate, Hz", low=1.0, high=50.0)
    vehicle_width: float = param(2.0, help="m", low=0.5)
    base_to_front: float = param(4.4, help="m, rear axle to front bumper", low=0.5)
    lane_speed_cap: float = param(8.0, help="m/s, highest speed planned anywhere", low=0.5, high=30.0)
    evw_yield_time: float = param(5.0, help="s to slow down for an emergency vehicle from behind", low=1.0)
    input_timeout: float = param(1.0, help="s after which objects / V2X inputs are dropped", low=0.1)
    min_object_confidence: float = param(
        0.5,
        help="existence confidence below which an object neither stops the vehicle nor raises a warning, "
        "unless its track persists for object_persistence s",
        low=0.0,
        high=1.0,
    )
    object_persistence: float = param(
        0.5, help="s a low-confidence track must persist (gaps < 0.3 s) to be acted on", low=0.0, high=10.0
    )
    task_kind: str = param(
        "", help="mission at start: '' (wait for a task), route or sweep", choices=("", "route", "sweep")
    )
    task_path: list[float] = param(
        [0.0], help="mission polyline x0, y0, x1, y1, ... (m, map): lane centre (route) or curb line (sweep)"
    )
    task_id: str = param("task", help="task id of the start mission")
    task_target_speed: float = param(2.5, help="m/s of the start mission", low=0.1, high=30.0)
    task_curb_side: str = param("right", help="curb side of a sweep mission", choices=("right", "left"))
    task_curb_offset: float = param(
        1.2, help="m from the curb line to the vehicle centre line (sweep)", low=0.0
    )
    route_goal_lanelet: int = param(0, help="lane following from the matched lanelet to this one (0 = none)")


V2X_BSM, ROADSIDE_RSM = 3, 4  # ObjectSource types
_RSM_CLASS = {1: bh.CLASS_VEHICLE, 2: bh.CLASS_CYCLIST, 3: bh.CLASS_PEDESTRIAN}  # RsmParticipant TYPE_*


def _sites_file(configured: str) -> FsPath:
    if configured:
        return FsPath(configured)
    path = FsPath(__file__).resolve().parent.parent / "config/maps/sites.yaml"
    if not path.is_file():
        from ament_index_python.packages import get_package_share_directory

        path = FsPath(get_package_share_directory("roadedge")) / "config/maps/sites.yaml"
    return path


class PlannerNode(RoadedgeNode[PlannerConfig]):
    Schema = PlannerConfig
    default_name = "planner"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = self.config
        path = _sites_file(c.sites_file)
        try:
            sites = load_sites(path)
            if c.site not in sites:
                raise MapError(f"site {c.site!r} not in {path} ({sorted(sites)})")
            site = sites[c.site]
            self.road = RoadMap.from_site(site)
            link = V2xLink.load(site.v2x_link) if site.v2x_link is not None else None
        except MapError as exc:
            raise ConfigError(f"node 'planner': {exc}") from exc
        o = site.origin
        self.frame = MapFrame(GeodeticOrigin(o.latitude, o.longitude, o.elevation))
        cap = min(c.lane_speed_cap, c.task_target_speed) if c.task_kind == "route" else c.lane_speed_cap
        sweep = SweepParams(vehicle_width=c.vehicle_width)
        gate = bh.ObjectGateParams(c.min_object_confidence, c.object_persistence)
        params = PlannerParams(
            lane_speed_cap=cap, evw_yield_time=c.evw_yield_time, sweep=sweep, object_gate=gate
        )
        self.core = Planner(self.road, link, params)
        self._route_pending = c.route_goal_lanelet != 0
        if c.task_kind:
            self._start_mission(c)
        self._bad = EventCounter()
        self._ego: bh.Ego | None = None
        self._acc = 0.0
        self._objects: tuple[float, list[bh.Obstacle]] = (-math.inf, [])
        self._rsm: dict[str, tuple[float, list[bh.Obstacle]]] = {}
        self._bsm: dict[str, tuple[float, bh.Obstacle]] = {}
        self._rsi: dict[str, tuple[float, list[bh.RsiZone]]] = {}
        self._signals: dict[tuple[int, int], tuple[float, PhaseSignal]] = {}
        self._evs: dict[str, tuple[float, bh.EmergencyVehicle]] = {}
        self._equipment: WorkEquipmentStatus | None = None
        self._last_plan: Plan | None = None
        self._traj_pub = self.publisher(topics.TRAJECTORY)
        self._adv_pub = self.publisher(topics.ADVISORIES)
        self._eq_pub = self.publisher(topics.EQUIPMENT_COMMAND)
        self._progress_pub = self.publisher(topics.TASK_PROGRESS)
        self.subscription(topics.ODOMETRY, self._on_odometry)
        self.subscription(topics.OBJECTS, self._on_objects)
        self.subscription(topics.EQUIPMENT_STATUS, self._on_equipment)

        # V2X: never act on a message whose signature was not checked (the V2X node's verify on demand
        # marks it security_verdict UNVERIFIED); counted as dropped_v2x_unverified, not logged
        def verified_only(handler: Any) -> Any:
            def take(msg: Any) -> None:
                if msg.v2x.security_verdict == V2xHeader.VERDICT_UNVERIFIED:
                    self._bad.counts["v2x_unverified"] = self._bad.counts.get("v2x_unverified", 0) + 1
                    return
                handler(msg)

            return take

        self.subscription(topics.V2X_RX_SPAT, verified_only(self._on_spat))
        self.subscription(topics.V2X_RX_BSM, verified_only(self._on_bsm))
        take_bsm = verified_only(self._on_bsm)  # V2X nodes with bsm_array: the BSMs of a burst together
        self.subscription(topics.V2X_RX_BSM_ARRAY, lambda batch: [take_bsm(b) for b in batch.bsms])
        self.subscription(topics.V2X_RX_RSM, verified_only(self._on_rsm))
        self.subscription(topics.V2X_RX_RSI, verified_only(self._on_rsi))
        self._own_work_zones = 0  # RSI events ignored because they are this vehicle's own work zone
        self._own_station_id = ""  # from v2x_obu: RSI work zones around this vehicle are not obstacles to it
        self.subscription(topics.V2X_STATION_ID, self._on_station_id)
        self.create_service(StartSweepTask, "planning/start_sweep_task", self._on_start)
        self.create_service(CancelTask, "planning/cancel_task", self._on_cancel)
        self.create_timer(1.0 / c.rate, self._tick)
        self.health.add("planning", self._health)

    def _reject(self, kind: str, detail: str = "") -> None:
        text = self._bad.record(kind, detail)
        if text is not None:
            self.get_logger().warning(f"dropped bad input: {text}")

    # --- inputs -----------------------------------------------------------------------------------------
    def _on_odometry(self, msg: Any) -> None:
        p = msg.pose.pose
        vals = (p.position.x, p.position.y, msg.twist.twist.linear.x)
        if not all(math.isfinite(v) for v in vals):
            self._reject("odometry")
            return
        c = self.config
        self._ego = bh.Ego(
            p.position.x,
            p.position.y,
            yaw_of_quaternion(p.orientation),
            msg.twist.twist.linear.x,
            width=c.vehicle_width,
            base_to_front=c.base_to_front,
        )

    def _on_objects(self, msg: ObjectArray) -> None:
        ego = self._ego
        out = []
        for o in msg.objects:
            x, y = o.pose.pose.position.x, o.pose.pose.position.y
            vx, vy = o.velocity.twist.linear.x, o.velocity.twist.linear.y
            if not all(math.isfinite(v) for v in (x, y, vx, vy)):
                self._reject("object")
                continue
            if msg.header.frame_id in ("base_link", "") and ego is not None:  # vehicle frame -> map
                # velocities are ground velocities expressed in the array's frame (roadedge.perception)
                cy, sy = math.cos(ego.yaw), math.sin(ego.yaw)
                x, y = ego.x + cy * x - sy * y, ego.y + sy * x + cy * y
                vx, vy = cy * vx - sy * vy, sy * vx + cy * vy
            src = o.sources[0].type if o.sources else 0
            q = o.pose.pose.orientation
            yaw = yaw_of_quaternion(q) if abs(q.x) + abs(q.y) + abs(q.z) + abs(q.w) > 1e-6 else math.nan
            if math.isfinite(yaw) and msg.header.frame_id in ("base_link", "") and ego is not None:
                yaw += ego.yaw
            out.append(
                bh.Obstacle(
                    str(o.id),
                    int(o.classification),
                    x,
                    y,
                    vx,
                    vy,
                    o.size.x,
                    o.size.y,
                    src,
                    yaw,
                    float(o.existence_confidence),
                )
            )
        self._objects = (self.now_s(), out)

    def _on_spat(self, msg: Spat) -> None:
        now = self.now_s()
        for ix in msg.intersections:
            ts = ix.time_stamp.sec + ix.time_stamp.nanosec * 1e-9
            recv = msg.v2x.header.stamp.sec + msg.v2x.header.stamp.nanosec * 1e-9
            # timings are relative to the intersection time stamp (UTC); under sim time or with a stamp far
            # off, to the reception time; with neither, the message is taken as current
            if ts > 0 and abs(now - ts) < 60.0:
                age = max(0.0, now - ts)
            elif recv > 0 and abs(now - recv) < 60.0:
                age = max(0.0, now - recv)
            else:
                age = 0.0
            for ph in ix.phases:
                steps = tuple(
                    PhaseStep(s.light, s.start_time, s.min_end_time, s.max_end_time, s.likely_end_time)
                    for s in ph.states
                )
                self._signals[(int(ix.node_id), int(ph.phase_id))] = (
                    now,
                    PhaseSignal(int(ph.phase_id), steps, age),
                )

    def _on_bsm(self, msg: Bsm) -> None:
        """Every BSM sender is an object (FCW/ICW); an emergency vehicle also feeds EVW."""
        g = msg.position
        if not (math.isfinite(g.latitude) and math.isfinite(g.longitude)):
            self._reject("bsm_position")
            return
        x, y, _ = self.frame.to_map(g.latitude, g.longitude, self.frame.origin.altitude)
        now = self.now_s()
        sender = msg.v2x.sender_id
        sp = float(msg.speed) if math.isfinite(msg.speed) else 0.0
        hd = float(msg.heading) if math.isfinite(msg.heading) else 0.0
        length = float(msg.length) if math.isfinite(msg.length) and msg.length > 0 else 4.5
        width = float(msg.width) if math.isfinite(msg.width) and msg.width > 0 else 1.8
        kind = bh.CLASS_EMERGENCY if msg.emergency_vehicle else bh.CLASS_VEHICLE
        ob = bh.Obstacle(
            f"bsm:{sender}", kind, x, y, sp * math.cos(hd), sp * math.sin(hd), length, width, V2X_BSM, hd
        )
        self._bsm[sender] = (now, ob)
        if msg.emergency_vehicle:
            ev = bh.EmergencyVehicle(
                sender,
                x,
                y,
                float(msg.heading),
                float(msg.speed),
                msg.siren_in_use == 2,
                msg.lights_in_use == 2,
            )
            self._evs[sender] = (now, ev)

    def _on_equipment(self, msg: WorkEquipmentStatus) -> None:
        self._equipment = msg

    def _start_mission(self, c: PlannerConfig) -> None:
        xy = c.task_path
        if len(xy) < 4 or len(xy) % 2:
            raise ConfigError("node 'planner': task_path needs x, y pairs of two or more points")
        points = [(float(xy[i]), float(xy[i + 1])) for i in range(0, len(xy), 2)]
        try:
            if c.task_kind == "route":
                self.core.set_route(route_from_path(self.road, points))
            else:
                spec = sweep_task_from_curb_line(
                    self.road,
                    points,
                    c.task_curb_side,
                    c.task_curb_offset,
                    c.task_target_speed,
                    c.vehicle_width,
                    c.task_id,
                )
                self.core.start_sweep(spec)
        except (MapError, ValueError) as exc:
            raise ConfigError(f"node 'planner': mission from task_path: {exc}") from exc
        ids = self.core.ref.lanelet_ids if self.core.ref else []
        self.get_logger().info(f"mission {c.task_kind} {c.task_id}: lanelets {ids}")

    def _on_rsm(self, msg: Rsm) -> None:
        g = msg.reference_position
        if not (math.isfinite(g.latitude) and math.isfinite(g.longitude)):
            self._reject("rsm_reference")
            return
        ox, oy, _ = self.frame.to_map(g.latitude, g.longitude, self.frame.origin.altitude)
        out = []
        for p in msg.participants:
            if not (math.isfinite(p.position.x) and math.isfinite(p.position.y)):
                self._reject("rsm_participant")
                continue
            sp = p.speed if math.isfinite(p.speed) else 0.0
            hd = p.heading if math.isfinite(p.heading) else 0.0
            kind = _RSM_CLASS.get(int(p.type), bh.CLASS_UNKNOWN)
            out.append(
                bh.Obstacle(
                    f"rsm:{msg.v2x.sender_id}:{p.ptc_id}",
                    kind,
                    ox + p.position.x,
                    oy + p.position.y,
                    sp * math.cos(hd),
                    sp * math.sin(hd),
                    max(float(p.length), 0.5),
                    max(float(p.width), 0.5),
                    ROADSIDE_RSM,
                    float(p.heading) if math.isfinite(p.heading) else math.nan,
                )
            )
        self._rsm[msg.v2x.sender_id] = (self.now_s(), out)

    def _on_station_id(self, msg: String) -> None:
        self._own_station_id = msg.data.lower()

    def _placed(self, item: Any, sign: bool = False) -> bool:
        """An RSI event needs a position or a reference path to be placed on the map; a sign needs a
        position. Without them (eventPos / signPos are OPTIONAL) it is counted and left out."""
        if math.isfinite(item.position.x) and math.isfinite(item.position.y):
            return True
        if not sign and any(rp.points for rp in item.reference_paths):
            return True
        self._reject("rsi_without_position")
        return False

    def _is_own_work_zone(self, description: str) -> bool:
        own = self._own_station_id
        if own and working_vehicle(description) == own:
            self._own_work_zones += 1
            return True
        return False

    def _on_rsi(self, msg: Rsi) -> None:
        g = msg.reference_position
        if not (math.isfinite(g.latitude) and math.isfinite(g.longitude)):
            self._reject("rsi_reference")
            return
        ox, oy, _ = self.frame.to_map(g.latitude, g.longitude, self.frame.origin.altitude)

        def paths(items: Any) -> tuple[tuple[tuple[tuple[float, float], ...], float], ...]:
            return tuple(
                (tuple((ox + q.x, oy + q.y) for q in rp.points), float(rp.radius))
                for rp in items
                if rp.points
            )

        zones = [
            bh.RsiZone(
                f"{msg.v2x.sender_id}:e{e.rte_id}",
                False,
                int(e.event_type),
                ox + e.position.x,
                oy + e.position.y,
                float(e.radius),
                paths(e.reference_paths),
                e.description,
            )
            for e in msg.events
            if self._placed(e) and not self._is_own_work_zone(e.description)
        ] + [
            bh.RsiZone(
                f"{msg.v2x.sender_id}:s{s.rts_id}",
                True,
                int(s.sign_type),
                ox + s.position.x,
                oy + s.position.y,
                math.nan,
                paths(s.reference_paths),
                s.description,
            )
            for s in msg.signs
            if self._placed(s, sign=True)
        ]
        self._rsi[msg.v2x.sender_id] = (self.now_s(), zones)

    # --- services ---------------------------------------------------------------------------------------
    def _on_start(self, req: Any, resp: Any) -> Any:
        t = req.task
        try:
            spec = SweepTaskSpec(
                t.task_id,
                tuple(
                    CurbSegmentSpec(
                        s.segment_id,
                        int(s.lanelet_id),
                        "left" if s.side == 1 else "right",
                        float(s.start_s),
                        float(s.end_s),
                    )
                    for s in t.segments
                ),
                float(t.curb_offset),
                float(t.max_speed),
                float(t.side_brush_speed),
                float(t.main_brush_speed),
                float(t.suction_fan_speed),
                float(t.water_spray_flow),
            )
            self.core.start_sweep(spec)
        except (ValueError, MapError) as exc:
            resp.accepted, resp.message = False, str(exc)
            return resp
        resp.accepted, resp.message = True, f"task {t.task_id} started"
        return resp

    def _on_cancel(self, req: Any, resp: Any) -> Any:
        task = self.core.task
        if task is None or not task.active or (req.task_id and req.task_id != task.spec.task_id):
            resp.success, resp.message = False, "no such running task"
            return resp
        self.core.cancel("cancelled by request")
        resp.success, resp.message = True, "task cancelled: stopping"
        return resp

    # --- planning ---------------------------------------------------------------------------------------
    def _tick(self) -> None:
        if self._ego is None:
            return
        if self._route_pending:
            self._route_pending = False
            hit = self.road.match(self._ego.x, self._ego.y, self._ego.yaw)
            try:
                if hit is None:
                    raise MapError("vehicle not on a lanelet")
                self.core.set_route(self.road.route(hit[0], self.config.route_goal_lanelet))
            except MapError as exc:
                self.get_logger().error(f"no route to lanelet {self.config.route_goal_lanelet}: {exc}")
        if self.core.ref is None:
            return
        now = self.now_s()
        tmo = self.config.input_timeout
        eq = self._equipment
        objects = list(self._objects[1]) if now - self._objects[0] < tmo else []
        for t, obs in self._rsm.values():
            if now - t < tmo:
                objects.extend(obs)
        objects.extend(ob for t, ob in self._bsm.values() if now - t < tmo)
        inp = Inputs(
            ego=self._ego,
            acceleration=self._acc,
            time=now,
            objects=objects,
            emergency_vehicles=[ev for t, ev in self._evs.values() if now - t < tmo],
            signals={k: v for k, (t, v) in self._signals.items() if now - t < tmo},
            rsi=[z for t, zs in self._rsi.values() if now - t < 10.0 * tmo for z in zs],
            bin_full=bool(eq.bin_full) if eq is not None else False,
            water_low=bool(eq.water_low) if eq is not None else False,
            equipment_fault=bool(eq.fault_codes) if eq is not None else False,
        )
        plan = self.core.plan(inp)
        if plan is None:
            return
        self._last_plan = plan
        stamp = self.get_clock().now().to_msg()
        # the Trajectory's CDR straight from the plan's arrays (trajectory_wire): the same message
        # as filling rosidl objects point by point, without ~5 ms of Python objects per cycle
        self._traj_pub.publish(encode_plan(plan, stamp.sec, stamp.nanosec, "map"))
        adv = AdvisoryArray()
        adv.header.stamp = stamp
        for a in plan.advisories:
            m = AdvisoryMsg()
            m.type, m.severity, m.target_id, m.target_source = (
                a.type,
                a.severity,
                a.target_id,
                a.target_source,
            )
            m.time_to_collision, m.distance = float(a.time_to_collision), float(a.distance)
            m.recommended_speed = float(a.recommended_speed)
            m.recommended_speed_min, m.recommended_speed_max = (
                float(a.recommended_speed_min),
                float(a.recommended_speed_max),
            )
            m.text = a.text
            adv.advisories.append(m)
        self._adv_pub.publish(adv)
        if plan.equipment is not None:
            e = plan.equipment
            cmd = WorkEquipmentCommand()
            cmd.header.stamp = stamp
            cmd.enable = e.enable
            cmd.side_brush_left, cmd.side_brush_right, cmd.main_brush = (
                e.side_brush_left,
                e.side_brush_right,
                e.main_brush,
            )
            cmd.side_brush_speed, cmd.main_brush_speed = float(e.side_brush_speed), float(e.main_brush_speed)
            cmd.suction_fan_speed, cmd.water_spray_flow = (
                float(e.suction_fan_speed),
                float(e.water_spray_flow),
            )
            self._eq_pub.publish(cmd)
        task = self.core.task
        if task is not None:
            pr = TaskProgress()
            pr.header.stamp = stamp
            pr.task_id = task.spec.task_id
            pr.state = task.state
            pr.coverage = float(task.coverage)
            pr.distance_swept = float(task.swept_length)
            pr.distance_total = float(task.total_length)
            pr.current_segment = task.current_segment
            pr.alarms = list(task.alarms)
            pr.message = task.message
            self._progress_pub.publish(pr)

    def on_safe_stop(self) -> None:
        if self.core.task is not None and self.core.task.active:
            cmd = WorkEquipmentCommand()
            cmd.header.stamp = self.get_clock().now().to_msg()
            cmd.enable = False
            self._eq_pub.publish(cmd)

    def _health(self) -> Health:
        p = self._last_plan
        values = {f"dropped_{k}": str(n) for k, n in self._bad.counts.items()}
        values["own_work_zone_events"] = str(self._own_work_zones)
        if p is None:
            return Health(Level.OK, "idle: no route or task", values)
        values.update(
            behaviour=str(p.behaviour),
            reason=p.reason,
            profile=p.profile_mode,
            lateral_error_m=f"{p.lateral_error:.3f}",
            ignored_low_confidence_objects=str(self.core.object_gate.dropped),
        )
        task = self.core.task
        if task is not None:
            values.update(task=task.spec.task_id, state=str(task.state), coverage=f"{task.coverage:.3f}")
        return Health(Level.OK if p.profile_mode != "emergency" else Level.WARN, p.reason, values)


NODE = PlannerNode
main = make_main(NODE)
