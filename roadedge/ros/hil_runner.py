"""``roadedge hil <scenario>``: a HIL scenario on sim time in one process, with a verdict.

The runner owns /clock. It brings up the scenario world (actors), the device emulators,
the roadside graph and the vehicle graph (the stack of ``STACK`` below, composed from the
same node classes the launch files start), advances sim time in steps while the graph
keeps up (a step is published only after every node has seen the previous one), injects
the scenario's faults, records the run to a rosbag2 (MCAP), evaluates the pass/fail
criteria, prints the verdict table and writes a PNG report.
"""

from __future__ import annotations

import argparse
import itertools
import math
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from roadedge_hil.scenario_world import actor_namespace, actor_station_id
from roadedge_msgs.msg import AdvisoryArray, TaskProgress
from rosgraph_msgs.msg import Clock

from roadedge import topics
from roadedge.config import ConfigError
from roadedge.localization.curb import curb_aid_params, site_of_map
from roadedge.localization.geodesy import yaw_of_quaternion
from roadedge.profiles import PACKAGE_ROOT
from roadedge.ros import node as node_base
from roadedge.ros.qos import qos_for
from roadedge.ros.runner import make_executor, node_class
from roadedge.ros.stepping import Stepper
from roadedge.scenario import criteria
from roadedge.scenario.schema import ADVISORY_TYPES, Scenario, ScenarioError, load_scenario

DEFAULT_SCENARIO = PACKAGE_ROOT / "hil" / "scenarios" / "demo_sweep_intersection.yaml"
ADVISORY_NAMES = {v: k for k, v in ADVISORY_TYPES.items()}


@dataclass
class NodeSpec:
    """One node of a scenario run: executable, name and parameters derived from the scenario."""

    executable: str
    params: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    namespace: str | None = None  # the roadside runs in its own, as on its own box
    kwargs: dict[str, Any] = field(default_factory=dict)


class ScenarioMonitor(Node):
    """Collects what the criteria need, as a test bench would: ground truth, advisories, progress."""

    def __init__(self, scenario: Scenario, context: Any = None, epoch: float = 0.0) -> None:
        super().__init__(
            "hil_monitor", context=context, parameter_overrides=[Parameter("use_sim_time", value=True)]
        )
        self.scenario = scenario
        self.epoch = epoch  # unix time of scenario t = 0 on the sim clock
        self.ego: list[tuple[float, float, float, float, float]] = []
        self.advisories: list[criteria.AdvisoryEvent] = []
        self.progress: list[criteria.ProgressSample] = []
        self.events: list[criteria.RunEvent] = []
        self.clock_seen = 0.0
        self.diagnostics: dict[str, tuple[int, str]] = {}
        self.diagnostic_values: dict[str, dict[str, str]] = {}
        self.create_subscription(
            DiagnosticArray, topics.DIAGNOSTICS.name, self._on_diagnostics, qos_for(topics.DIAGNOSTICS)
        )
        self.create_subscription(
            Odometry, topics.GROUND_TRUTH.name, self._on_truth, qos_for(topics.GROUND_TRUTH)
        )
        self.create_subscription(
            AdvisoryArray, topics.ADVISORIES.name, self._on_advisories, qos_for(topics.ADVISORIES)
        )
        self.create_subscription(
            TaskProgress, topics.TASK_PROGRESS.name, self._on_progress, qos_for(topics.TASK_PROGRESS)
        )
        self.create_subscription(Clock, topics.CLOCK.name, self._on_clock, qos_for(topics.CLOCK))

    def t(self) -> float:
        return (self.get_clock().now().nanoseconds - int(self.epoch) * 1_000_000_000) * 1e-9

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.diagnostics[status.name] = (int.from_bytes(status.level, "little"), status.message)
            self.diagnostic_values[status.name] = {kv.key: kv.value for kv in status.values}

    def _on_clock(self, msg: Clock) -> None:
        self.clock_seen = (msg.clock.sec - self.epoch) + msg.clock.nanosec * 1e-9

    def _on_truth(self, msg: Odometry) -> None:
        t = (msg.header.stamp.sec - self.epoch) + msg.header.stamp.nanosec * 1e-9
        if self.ego and t <= self.ego[-1][0]:
            return
        p = msg.pose.pose.position
        self.ego.append((t, p.x, p.y, yaw_of_quaternion(msg.pose.pose.orientation), msg.twist.twist.linear.x))

    def _on_advisories(self, msg: AdvisoryArray) -> None:
        t = self.t()
        for adv in msg.advisories:
            name = ADVISORY_NAMES.get(int(adv.type), str(adv.type))
            self.advisories.append(
                criteria.AdvisoryEvent(t, name, int(adv.severity), adv.target_id, adv.text)
            )

    def _on_progress(self, msg: TaskProgress) -> None:
        self.progress.append(criteria.ProgressSample(self.t(), float(msg.coverage), int(msg.state)))

    def run_data(self, end_time: float) -> criteria.RunData:
        ego = (
            criteria.EgoTrack.from_lists(*(list(c) for c in zip(*self.ego, strict=True)))
            if self.ego
            else (criteria.EgoTrack.from_lists([], [], [], [], []))
        )
        return criteria.RunData(
            ego=ego,
            actors=actor_tracks(self.scenario, end_time),
            signals=criteria.signals_from_plan(self.scenario.intersections, end_time),
            advisories=self.advisories,
            progress=self.progress,
            events=self.events,
            end_time=end_time,
        )


def actor_tracks(scenario: Scenario, end_time: float, dt: float = 0.1) -> dict[str, criteria.ActorTrack]:
    """Ground-truth tracks of the scenario's actors, sampled where each exists."""
    tracks = {}
    for actor in scenario.actors:
        samples = [(k * dt, actor.state_at(k * dt)) for k in range(int(end_time / dt) + 1)]
        present = [(t, st) for t, st in samples if st is not None]
        tracks[actor.id] = criteria.ActorTrack(
            actor.id,
            actor.kind,
            np.array([t for t, _ in present]),
            np.array([st[0] for _, st in present]),
            np.array([st[1] for _, st in present]),
            np.array([st[2] for _, st in present]),
            actor.length,
            actor.width,
        )
    return tracks


class SimClock:
    """Publishes /clock: the epoch (unix time of scenario t = 0) plus scenario time."""

    def __init__(self, node: Node, epoch: float) -> None:
        self.epoch = epoch
        self._pub = node.create_publisher(Clock, topics.CLOCK.name, qos_for(topics.CLOCK))
        self.now = 0.0

    def publish(self, t: float) -> None:
        # integer nanoseconds: epoch + t as one float would lose the step's precision
        total = int(self.epoch) * 1_000_000_000 + round(t * 1e9)
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(total, 1_000_000_000)
        self._pub.publish(msg)
        self.now = t


#: What a scenario run records: the inputs a replay needs, the stack's outputs, and ground truth.
RECORDED_TOPICS = tuple(
    t.name if t.name.startswith("/") else "/" + t.name
    for t in (
        topics.CLOCK,
        topics.GROUND_TRUTH,
        topics.HIL_ACTORS,
        topics.GNSS_FIX,
        topics.GNSS_VEL,
        topics.CURB_RANGE,
        topics.IMU,
        topics.VEHICLE_STATUS,
        topics.VEHICLE_COMMAND,
        topics.EQUIPMENT_COMMAND,
        topics.EQUIPMENT_STATUS,
        topics.ODOMETRY,
        topics.OBJECTS,
        topics.V2X_RX_BSM,
        topics.V2X_RX_BSM_ARRAY,  # the V2X node's bsm_array option (dense traffic)
        topics.V2X_RX_MAP,
        topics.V2X_RX_SPAT,
        topics.V2X_RX_RSI,
        topics.V2X_RX_RSM,
        topics.V2X_STATION_ID,
        topics.TRAJECTORY,
        topics.ADVISORIES,
        topics.TASK_PROGRESS,
        topics.DIAGNOSTICS,
        topics.TF,
    )
)


#: The roadside box's graph is separate from the vehicle's (here: a namespace of the one process).
ROADSIDE_NAMESPACE = "roadside"


@dataclass
class RunContext:
    """What a stack builder may use: the run folder, the sim epoch, and rig devices to stop at the end."""

    run_dir: Path
    epoch: float
    devices: list[Any] = field(default_factory=list)
    camera_perception: bool = False


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def v2x_rig(scenario: Scenario, ctx: RunContext) -> list[NodeSpec]:
    """The C-V2X side of the rig: a radio emulator between the vehicle's OBU, the RSU (with its signal
    controllers and road events) when the scenario has one, and the OBUs of actors that carry one."""
    from roadedge_hil.radio_emulator import Channel, RadioEmulator, Station

    from roadedge.localization.geodesy import GeodeticOrigin, MapFrame

    origin = scenario.map.origin
    if origin is None:
        return []
    pki, common = "v2x/test_pki", {"security_policy": "enforce", "trust_dir": "v2x/trust"}
    stations: list[Any] = []
    specs: list[NodeSpec] = []

    def station(name: str, **position: float) -> tuple[int, Any]:
        node_port = free_udp_port()
        stations.append(Station(name, 0, node_port, **position))  # radio_port 0: the emulator picks
        return node_port, stations[-1]

    obu_port, obu_station = station("obu")
    rsu = scenario.v2x.rsu
    if rsu is not None:
        lat, lon, _ = MapFrame(GeodeticOrigin(origin.lat, origin.lon, origin.alt)).to_geodetic(
            rsu.position.x, rsu.position.y, 0.0
        )
        rsu_port, rsu_station = station("rsu", latitude=lat, longitude=lon)
    v2x_actors = [a for a in scenario.actors if a.v2x]
    actor_stations = {a.id: station(f"actor-{a.id}") for a in v2x_actors}
    forger = station("forger") if scenario.v2x.forged else None
    channel = Channel(
        loss=scenario.v2x.loss,
        latency_ms=scenario.v2x.latency * 1000.0,
        jitter_ms=scenario.v2x.jitter * 1000.0,
        range_m=rsu.range if rsu is not None else 300.0,
        seed=scenario.seed,
    )
    radio = RadioEmulator(stations, channel)  # binds the radio ports it was given as 0
    radio.start()
    ctx.devices.append(radio)

    specs.append(
        NodeSpec(
            "v2x_obu",
            {
                **common,
                "bind_port": obu_port,
                "radio_port": obu_station.radio_port,
                "cert_file": f"{pki}/obu1.cert",
                "key_file": f"{pki}/obu1.key",
                "vehicle_length": scenario.vehicle.length,
                "vehicle_width": scenario.vehicle.width,
            },
        )
    )
    if rsu is not None:
        feed_port = free_udp_port()
        specs += [
            NodeSpec(
                "scenario_signals",
                {
                    "scenario": str(scenario.source or ""),
                    "epoch": ctx.epoch,
                    "rsu_port": feed_port,
                    "origin_latitude": origin.lat,
                    "origin_longitude": origin.lon,
                    "origin_altitude": origin.alt,
                },
                namespace=ROADSIDE_NAMESPACE,
            ),
            NodeSpec(
                "v2x_rsu",
                {
                    **common,
                    "bind_port": rsu_port,
                    "radio_port": rsu_station.radio_port,
                    "signal_feed_port": feed_port,
                    "cert_file": f"{pki}/rsu1.cert",
                    "key_file": f"{pki}/rsu1.key",
                    "map_file": "v2x/maps/demo_intersection.yaml",
                    "spat_name": scenario.name,
                    # an RSU that sends RSI also announces vehicles at work (the sweeper) as work zones
                    "work_zone": "rsi" in rsu.broadcasts,
                },
                namespace=ROADSIDE_NAMESPACE,
            ),
        ]
        if "rsm" in rsu.broadcasts:  # the roadside's own sensing, shared as RSM
            specs.append(
                NodeSpec(
                    "roadside_sensor",
                    {
                        "x": rsu.position.x,
                        "y": rsu.position.y,
                        "origin_latitude": origin.lat,
                        "origin_longitude": origin.lon,
                        "origin_altitude": origin.alt,
                        "ignore": [a.id for a in scenario.actors if "roadside" not in a.visible_to],
                    },
                    namespace=ROADSIDE_NAMESPACE,
                )
            )
    if forger is not None:
        port, st = forger
        specs.append(
            NodeSpec(
                "v2x_forger",
                {
                    "scenario": str(scenario.source or ""),
                    "epoch": ctx.epoch,
                    "radio_port": st.radio_port,
                    "bind_port": port,
                    "trusted_pki": pki,
                    "origin_latitude": origin.lat,
                    "origin_longitude": origin.lon,
                    "origin_altitude": origin.alt,
                },
                namespace="forger",
            )
        )
    for actor in v2x_actors:
        port, st = actor_stations[actor.id]
        specs.append(
            NodeSpec(
                "v2x_obu",
                {
                    **common,
                    "bind_port": port,
                    "radio_port": st.radio_port,
                    "cert_file": f"{pki}/obu2.cert",
                    "key_file": f"{pki}/obu2.key",
                    "station_id": actor_station_id(actor.id),
                    "bsm_rate": 0.0,  # it sends the BSM the world hands it
                },
                namespace=actor_namespace(actor.id),
            )
        )
    return specs


def vehicle_sensing(scenario: Scenario, ctx: RunContext) -> list[NodeSpec]:
    """What the vehicle sees the actors with: the rig's object-list sensor, or the camera pipeline
    (HIL camera renderer -> ONNX perception) when the run asks for it."""
    hidden = [a.id for a in scenario.actors if "vehicle" not in a.visible_to]
    if ctx.camera_perception:
        origin = scenario.map.origin
        geodetic = (
            {
                "map_origin_latitude": origin.lat,
                "map_origin_longitude": origin.lon,
                "map_origin_altitude": origin.alt,
            }
            if origin
            else {}
        )
        return [
            NodeSpec("camera", {"name": "front", "seed": scenario.seed}),
            NodeSpec("perception", geodetic),
        ]
    return [NodeSpec("object_sensor", {"seed": scenario.seed, "ignore": hidden})]


#: The vehicle's processing nodes: what a replay of a run's recorded inputs runs again (roadedge regress).
VEHICLE_PROCESSING = ("localization", "planner", "controller")


def vehicle_processing(scenario: Scenario) -> dict[str, NodeSpec]:
    """The vehicle's processing nodes with the scenario's parameters (the same for a run and its replay)."""
    origin = scenario.map.origin
    geodetic = (
        {"origin_latitude": origin.lat, "origin_longitude": origin.lon, "origin_altitude": origin.alt}
        if origin
        else {}
    )
    return {
        "localization": NodeSpec("localization", {**geodetic, **curb_aid_params(scenario.map.file)}),
        "planner": NodeSpec(
            "planner",
            {
                "vehicle_width": scenario.vehicle.width,
                "base_to_front": scenario.vehicle.base_to_front,
                **mission_params(scenario),
            },
        ),
        "controller": NodeSpec("controller", {}),
    }


def default_stack(scenario: Scenario, ctx: RunContext) -> list[NodeSpec]:
    """The rig's emulators, the roadside, and the unchanged vehicle stack, parameterised from the scenario."""
    pose = scenario.initial_pose
    origin = scenario.map.origin
    geodetic = (
        {"origin_latitude": origin.lat, "origin_longitude": origin.lon, "origin_altitude": origin.alt}
        if origin
        else {}
    )
    processing = vehicle_processing(scenario)
    gnss_link = str(ctx.run_dir / "gnss0")
    world_origin = (
        {"origin_latitude": origin.lat, "origin_longitude": origin.lon, "origin_altitude": origin.alt}
        if origin
        else {}
    )
    return [
        # the rig
        NodeSpec(
            "scenario_world", {"scenario": str(scenario.source or ""), "epoch": ctx.epoch, **world_origin}
        ),
        NodeSpec(
            "chassis_emulator",
            {"initial_x": pose.x, "initial_y": pose.y, "initial_yaw": pose.yaw, "status_rate": 50.0},
        ),
        NodeSpec("gnss_emulator", {"link": gnss_link, "seed": scenario.seed, **geodetic}),
        # the side curb range sensor over the road edges of the scenario's site map
        *[
            NodeSpec("curb_sensor", {"site": s, "seed": scenario.seed})
            for s in [site_of_map(scenario.map.file)]
            if s
        ],
        NodeSpec(
            "equipment_modbus_slave",
            {"links": [str(ctx.run_dir / "mb-slave"), str(ctx.run_dir / "mb-master")]},
        ),
        *vehicle_sensing(scenario, ctx),
        # the roadside and the radio
        *v2x_rig(scenario, ctx),
        # the vehicle
        NodeSpec("gnss_receiver", {"port": gnss_link}),
        processing["localization"],
        # reply timeout 0.5 s: the emulator shares the rig's CPU, so a starved rig answers late, not never
        NodeSpec("equipment_modbus", {"port": str(ctx.run_dir / "mb-master"), "rate": 10.0, "timeout": 0.5}),
        processing["planner"],
        processing["controller"],
        # the run's record
        NodeSpec(
            "recorder",
            {"output": str(ctx.run_dir / "bag"), "storage": "mcap", "topics": list(RECORDED_TOPICS)},
        ),
    ]


def path_from(points: list[tuple[float, float]], start: tuple[float, float]) -> list[tuple[float, float]]:
    """The polyline from the point nearest to ``start`` on: the mission begins where the vehicle is."""
    best = (math.inf, 0, points[0])
    for i, (a, b) in enumerate(itertools.pairwise(points)):
        dx, dy = b[0] - a[0], b[1] - a[1]
        seg = dx * dx + dy * dy
        u = 0.0 if seg == 0 else max(0.0, min(1.0, ((start[0] - a[0]) * dx + (start[1] - a[1]) * dy) / seg))
        foot = (a[0] + u * dx, a[1] + u * dy)
        dist = math.hypot(foot[0] - start[0], foot[1] - start[1])
        if dist < best[0]:
            best = (dist, i, foot)
    _, i, foot = best
    rest = [p for p in points[i + 1 :] if math.hypot(p[0] - foot[0], p[1] - foot[1]) > 1e-6]
    return [foot, *rest]


def mission_params(scenario: Scenario) -> dict[str, Any]:
    """The planner's start mission: the scenario's route or sweep task, from the vehicle's start on."""
    task = scenario.task
    pose = scenario.initial_pose
    path = path_from([(p.x, p.y) for p in task.path], (pose.x, pose.y))
    return {
        "task_kind": task.kind,
        "task_path": [c for point in path for c in point],
        "task_id": task.task_id,
        "task_target_speed": task.target_speed,
        "task_curb_side": task.curb_side,
        "task_curb_offset": task.curb_offset,
    }


@dataclass
class RunResult:
    scenario: Scenario
    verdicts: list[criteria.Verdict]
    run: criteria.RunData
    report: Path | None
    bag: Path | None
    wall_time: float
    diagnostics: dict[str, tuple[int, str]] = field(default_factory=dict)
    diagnostic_values: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return criteria.passed(self.verdicts)


def create_stack(specs: list[NodeSpec], context: Any) -> list[Any]:
    node_base.QOS_EVENT_LOGGING = False  # one stepped process: keep the wait sets small
    nodes = []
    for spec in specs:
        cls = node_class(spec.executable)
        params = {**spec.params, "use_sim_time": True}
        nodes.append(
            cls(
                name=spec.name,
                namespace=spec.namespace,
                parameter_overrides=[Parameter(k, value=v) for k, v in params.items()],
                config_source=f"scenario parameters of {spec.name or spec.executable}",
                context=context,
                # the run needs no remote parameter services; fewer entities make each step cheaper
                start_parameter_services=False,
                enable_rosout=False,
                **spec.kwargs,
            )
        )
    return nodes


def run_scenario(
    scenario: Scenario,
    out_dir: Path,
    *,
    stack: Callable[[Scenario, RunContext], list[NodeSpec]] = default_stack,
    rate: float | None = None,
    step: float = 0.02,
    progress: Callable[[float, float], None] | None = None,
    report: bool = True,
    camera_perception: bool = False,
) -> RunResult:
    """Run one scenario to its duration; returns verdicts and where the outputs went."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    bag_dir = out_dir / "bag"
    if bag_dir.exists():  # a new run replaces the last one's record
        shutil.rmtree(bag_dir)
    ctx = RunContext(out_dir.resolve(), epoch=float(int(time.time())), camera_perception=camera_perception)
    try:
        nodes = create_stack(stack(scenario, ctx), context)
        monitor = ScenarioMonitor(scenario, context, ctx.epoch)
        clock_node = rclpy.create_node("hil_clock", context=context)
        clock = SimClock(clock_node, ctx.epoch)
        executor = make_executor(1, context)
        for node in [*nodes, monitor, clock_node]:
            executor.add_node(node)
        stepper = Stepper(executor, idle_rounds=1)
        clock.publish(0.0)
        stepper.settle()
        _start_task(clock_node, scenario, monitor, stepper)
        faults = FaultSchedule(clock_node, scenario, monitor, stepper)
        wall_start = time.monotonic()
        last_report = 0.0
        steps = 0
        while clock.now < scenario.duration - 1e-9:
            steps += 1
            clock.publish(steps * step)
            stepper.settle()
            faults.due(clock.now)
            if rate is not None:
                ahead = clock.now / rate - (time.monotonic() - wall_start)
                if ahead > 0:
                    time.sleep(ahead)
            if progress and clock.now - last_report >= 5.0:
                last_report = clock.now
                progress(clock.now, scenario.duration)
        end_time = clock.now
        recorders = [n for n in nodes if n.get_name() == "recorder"]
        for node in nodes:
            if node not in recorders:
                node.on_safe_stop()
        stepper.settle()
        for node in recorders:  # last, so it records the stop
            node.on_safe_stop()
        run = monitor.run_data(end_time)
        verdicts = criteria.evaluate(scenario, run)
        report_path = None
        if report:
            from roadedge.scenario.report import render_report

            report_path = render_report(scenario, run, verdicts, out_dir / "report.png")
        executor.shutdown()
        for node in [*nodes, monitor, clock_node]:
            node.destroy_node()
        return RunResult(
            scenario,
            verdicts,
            run,
            report_path,
            bag_dir if bag_dir.exists() else None,
            time.monotonic() - started,
            dict(monitor.diagnostics),
            dict(monitor.diagnostic_values),
        )
    finally:
        for device in ctx.devices:
            device.stop()
        if context.ok():
            rclpy.shutdown(context=context)


def fault_services() -> dict[tuple[str, str], tuple[str, str]]:
    """Where each fault of a scenario is injected: (service, fault name) by (kind, device), the
    services named by the emulators that offer them."""
    from roadedge_hil import chassis_emulator, equipment_modbus_slave, gnss_emulator

    equipment = equipment_modbus_slave.INJECT_FAULT_SERVICE
    return {
        ("can_loss", ""): (chassis_emulator.FAULT_SERVICE, "can_loss"),
        ("gnss_outage", ""): (gnss_emulator.FAULT_SERVICE, "gnss_outage"),
        ("serial_unplug", "gnss"): (gnss_emulator.FAULT_SERVICE, "serial_unplug"),
        ("serial_unplug", "work_equipment"): (equipment, "serial_unplug"),
        ("serial_unplug", ""): (equipment, "serial_unplug"),
    }


class FaultSchedule:
    """Switches the scenario's faults on and off at their times through the emulators' services."""

    def __init__(self, node: Node, scenario: Scenario, monitor: ScenarioMonitor, stepper: Stepper) -> None:
        self._node, self._monitor, self._stepper = node, monitor, stepper
        self._services = fault_services()
        self._pending = sorted(
            [(f.start, True, f) for f in scenario.faults]
            + [(f.start + f.duration, False, f) for f in scenario.faults],
            key=lambda item: item[0],
        )

    def due(self, t: float) -> None:
        from roadedge_msgs.srv import InjectFault

        while self._pending and self._pending[0][0] <= t + 1e-9:
            _, active, fault = self._pending.pop(0)
            service, name = self._services[(fault.kind, fault.device)]
            answer = _call(
                self._node,
                InjectFault,
                service,
                InjectFault.Request(fault=name, active=active),
                self._stepper,
            )
            end = fault.start + fault.duration if active else None
            what = f"{fault.kind}{' ' + fault.device if fault.device else ''} {'on' if active else 'off'}"
            self._monitor.events.append(criteria.RunEvent(t, "fault", f"{what}: {answer}", end))


def _call(node: Node, srv_type: Any, name: str, request: Any, stepper: Stepper) -> str:
    """Call a service of the stack in the runner's process; the answer as text."""
    client: Any = node.create_client(srv_type, name)
    deadline = time.monotonic() + 10.0
    while not client.service_is_ready() and time.monotonic() < deadline:
        stepper.settle()
        time.sleep(0.01)
    if not client.service_is_ready():
        return f"no {name} service"
    future = client.call_async(request)
    while not future.done() and time.monotonic() < deadline:
        stepper.settle()
    response = future.result() if future.done() else None
    node.destroy_client(client)
    return "no answer" if response is None else str(response.message)


def _start_task(node: Node, scenario: Scenario, monitor: ScenarioMonitor, stepper: Stepper) -> None:
    """What the operator does at the start of a shift: initialise localization at the start pose
    (the planner starts the scenario's mission from its parameters)."""
    text = reset_localization(node, scenario, stepper)
    monitor.events.append(criteria.RunEvent(0.0, "localization", f"reset at the start pose: {text}"))


def reset_localization(node: Node, scenario: Scenario, stepper: Stepper) -> str:
    """Initialise localization at the scenario's start pose (a run's start, and its replay's)."""
    from roadedge_msgs.srv import ResetLocalization

    reset = ResetLocalization.Request(use_pose=True)
    reset.pose.header.frame_id = "map"
    pose = scenario.initial_pose
    reset.pose.pose.pose.position.x, reset.pose.pose.pose.position.y = pose.x, pose.y
    reset.pose.pose.pose.orientation.z, reset.pose.pose.pose.orientation.w = (
        math.sin(pose.yaw / 2),
        math.cos(pose.yaw / 2),
    )
    for i, var in enumerate((0.25, 0.25, 1.0, 0.01, 0.01, 0.01)):
        reset.pose.pose.covariance[i * 7] = var
    return _call(node, ResetLocalization, "localization/reset", reset, stepper)


def hil_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="roadedge hil", description="run a HIL scenario on sim time")
    parser.add_argument("scenario", nargs="?", help="scenario YAML (hil/scenarios/*.yaml)")
    parser.add_argument(
        "--default", action="store_true", help=f"the default demo scenario ({DEFAULT_SCENARIO.name})"
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default out/hil/<scenario>)")
    parser.add_argument(
        "--rate", type=float, default=None, help="cap on sim/wall speed (default: as fast as it runs)"
    )
    parser.add_argument("--quiet", action="store_true", help="only the verdict table")
    parser.add_argument(
        "--camera",
        action="store_true",
        help="the vehicle sees through the HIL camera and ONNX detector, not the object-list sensor",
    )
    args = parser.parse_args(argv)
    if args.scenario is None and not args.default:
        parser.error("name a scenario or pass --default")
    path = Path(args.scenario) if args.scenario else DEFAULT_SCENARIO
    try:
        scenario = load_scenario(path)
    except (ScenarioError, ConfigError) as err:
        print(f"roadedge hil: {err}", file=sys.stderr)
        return 2
    out = args.out or Path("out") / "hil" / scenario.name
    if not args.quiet:
        print(f"scenario {scenario.name}: {scenario.description}")
        print(f"  {scenario.duration:.0f} s of sim time; outputs in {out}/")

    def show(t: float, total: float) -> None:
        if not args.quiet:
            print(f"  t = {t:5.1f} / {total:.0f} s", flush=True)

    result = run_scenario(scenario, out, rate=args.rate, progress=show, camera_perception=args.camera)
    if not args.quiet:
        for event in result.run.events:
            print(f"  event t={event.t:.1f} s {event.kind}: {event.text}")
        for name, (level, message) in sorted(result.diagnostics.items()):
            if level > 0:
                print(f"  diagnostics {['OK', 'WARN', 'ERROR', 'STALE'][min(level, 3)]} {name}: {message}")
    print()
    print(criteria.format_table(result.verdicts))
    print(f"verdict: {'PASS' if result.passed else 'FAIL'}  ({result.wall_time:.0f} s wall)")
    if result.report:
        print(f"report: {result.report}")
    if result.bag:
        print(f"bag:    {result.bag}")
    return 0 if result.passed else 1
