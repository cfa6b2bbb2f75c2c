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
import math
import socket
import sys
import threading
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
from roadedge_msgs.msg import AdvisoryArray, TaskProgress
from rosgraph_msgs.msg import Clock

from roadedge import topics
from roadedge.config import ConfigError
from roadedge.profiles import PACKAGE_ROOT
from roadedge.ros.qos import qos_for
from roadedge.ros.runner import make_executor, node_class
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
    kwargs: dict[str, Any] = field(default_factory=dict)


def yaw_of(msg: Odometry) -> float:
    q = msg.pose.pose.orientation
    return math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))


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

    def _on_clock(self, msg: Clock) -> None:
        self.clock_seen = (msg.clock.sec - self.epoch) + msg.clock.nanosec * 1e-9

    def _on_truth(self, msg: Odometry) -> None:
        t = (msg.header.stamp.sec - self.epoch) + msg.header.stamp.nanosec * 1e-9
        if self.ego and t <= self.ego[-1][0]:
            return
        p = msg.pose.pose.position
        self.ego.append((t, p.x, p.y, yaw_of(msg), msg.twist.twist.linear.x))

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
    """Publishes /clock in steps; a step goes out only when the monitor saw the previous one."""

    def __init__(self, node: Node, monitor: ScenarioMonitor, step: float, rate: float | None) -> None:
        self.epoch = monitor.epoch
        self._pub = node.create_publisher(Clock, topics.CLOCK.name, qos_for(topics.CLOCK))
        self._monitor = monitor
        self.step = step
        self.rate = rate  # real-time factor cap; None = as fast as the graph keeps up
        self.now = 0.0

    def publish(self, t: float) -> None:
        # integer nanoseconds: epoch + t as one float would lose the step's precision
        total = int(self.epoch) * 1_000_000_000 + round(t * 1e9)
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(total, 1_000_000_000)
        self._pub.publish(msg)

    def advance(self, stop: threading.Event, timeout: float = 30.0) -> bool:
        """Next step; False if the graph did not follow within timeout (wall) seconds."""
        self.now += self.step
        self.publish(self.now)
        deadline = time.monotonic() + timeout
        while self._monitor.clock_seen + 1e-6 < self.now:
            if stop.is_set() or time.monotonic() > deadline:
                return False
            time.sleep(0.0005)
        return True


@dataclass
class RunContext:
    """What a stack builder may use: the run folder, the sim epoch, and rig devices to stop at the end."""

    run_dir: Path
    epoch: float
    devices: list[Any] = field(default_factory=list)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def v2x_rig(scenario: Scenario, ctx: RunContext) -> list[NodeSpec]:
    """Radio emulator between the RSU and the vehicle's OBU, the RSU with its signal controllers."""
    from roadedge_hil.radio_emulator import Channel, RadioEmulator, Station

    from roadedge.localization.geodesy import GeodeticOrigin, MapFrame

    rsu = scenario.v2x.rsu
    if rsu is None or scenario.map.origin is None:
        return []
    origin = scenario.map.origin
    frame = MapFrame(GeodeticOrigin(origin.lat, origin.lon, origin.alt))
    lat, lon, _ = frame.to_geodetic(rsu.position.x, rsu.position.y, 0.0)
    rsu_port, obu_port, feed_port = free_udp_port(), free_udp_port(), free_udp_port()
    stations = [Station("rsu", 0, rsu_port, latitude=lat, longitude=lon), Station("obu", 0, obu_port)]
    channel = Channel(
        loss=scenario.v2x.loss,
        latency_ms=scenario.v2x.latency * 1000.0,
        jitter_ms=scenario.v2x.jitter * 1000.0,
        range_m=rsu.range,
        seed=scenario.seed,
    )
    radio = RadioEmulator(stations, channel)
    radio.start()
    ctx.devices.append(radio)
    pki = "v2x/test_pki"
    common = {"security_policy": "enforce", "trust_dir": "v2x/trust"}
    return [
        NodeSpec(
            "scenario_signals",
            {"scenario": str(scenario.source or ""), "epoch": ctx.epoch, "rsu_port": feed_port},
        ),
        NodeSpec(
            "v2x_rsu",
            {
                **common,
                "bind_port": rsu_port,
                "radio_port": stations[0].radio_port,
                "signal_feed_port": feed_port,
                "cert_file": f"{pki}/rsu1.cert",
                "key_file": f"{pki}/rsu1.key",
                "map_file": "v2x/maps/demo_intersection.yaml",
                "spat_name": scenario.name,
            },
        ),
        NodeSpec(
            "v2x_obu",
            {
                **common,
                "bind_port": obu_port,
                "radio_port": stations[1].radio_port,
                "cert_file": f"{pki}/obu1.cert",
                "key_file": f"{pki}/obu1.key",
                "vehicle_length": scenario.vehicle.length,
                "vehicle_width": scenario.vehicle.width,
            },
        ),
    ]


def default_stack(scenario: Scenario, ctx: RunContext) -> list[NodeSpec]:
    """The rig's emulators, the roadside, and the unchanged vehicle stack, parameterised from the scenario."""
    pose = scenario.initial_pose
    origin = scenario.map.origin
    geodetic = (
        {"origin_latitude": origin.lat, "origin_longitude": origin.lon, "origin_altitude": origin.alt}
        if origin
        else {}
    )
    gnss_link = str(ctx.run_dir / "gnss0")
    return [
        # the rig
        NodeSpec("scenario_world", {"scenario": str(scenario.source or ""), "epoch": ctx.epoch}),
        NodeSpec(
            "chassis_emulator",
            {"initial_x": pose.x, "initial_y": pose.y, "initial_yaw": pose.yaw, "status_rate": 50.0},
        ),
        NodeSpec("gnss_emulator", {"link": gnss_link, "seed": scenario.seed, **geodetic}),
        # the roadside and the radio
        *v2x_rig(scenario, ctx),
        # the vehicle
        NodeSpec("gnss_receiver", {"port": gnss_link}),
        NodeSpec("localization", geodetic),
        NodeSpec(
            "planner",
            {"vehicle_width": scenario.vehicle.width, "base_to_front": scenario.vehicle.base_to_front},
        ),
        NodeSpec("controller", {}),
    ]


def sweep_task_request(scenario: Scenario) -> Any:
    """The StartSweepTask request an operator would send for the scenario's curb line."""
    from roadedge_msgs.msg import CurbSegment as CurbSegmentMsg
    from roadedge_msgs.srv import StartSweepTask

    from roadedge.planning.lanelet_map import RoadMap, load_sites
    from roadedge.scenario.task_link import curb_segments, planner_curb_offset

    sites = load_sites(PACKAGE_ROOT / "config" / "maps" / "sites.yaml")
    site = next(s for s in sites.values() if Path(s.map_file).name == Path(scenario.map.file).name)
    road_map = RoadMap.from_site(site)
    request = StartSweepTask.Request()
    task = request.task
    task.task_id = scenario.task.task_id
    task.curb_offset = planner_curb_offset(scenario)
    task.max_speed = scenario.task.target_speed
    task.side_brush_speed, task.main_brush_speed = 10.0, 12.0
    task.suction_fan_speed, task.water_spray_flow = 0.8, 4.0
    for seg in curb_segments(scenario.task, road_map):
        task.segments.append(
            CurbSegmentMsg(
                segment_id=seg.segment_id,
                lanelet_id=seg.lanelet_id,
                side=CurbSegmentMsg.SIDE_LEFT if seg.side == "left" else CurbSegmentMsg.SIDE_RIGHT,
                start_s=seg.start_s,
                end_s=seg.end_s,
            )
        )
    return request


@dataclass
class RunResult:
    scenario: Scenario
    verdicts: list[criteria.Verdict]
    run: criteria.RunData
    report: Path | None
    bag: Path | None
    wall_time: float
    diagnostics: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return criteria.passed(self.verdicts)


def create_stack(specs: list[NodeSpec], context: Any) -> list[Any]:
    nodes = []
    for spec in specs:
        cls = node_class(spec.executable)
        params = {**spec.params, "use_sim_time": True}
        nodes.append(
            cls(
                name=spec.name,
                parameter_overrides=[Parameter(k, value=v) for k, v in params.items()],
                config_source=f"scenario parameters of {spec.name or spec.executable}",
                context=context,
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
) -> RunResult:
    """Run one scenario to its duration; returns verdicts and where the outputs went."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    ctx = RunContext(out_dir.resolve(), epoch=float(int(time.time())))
    task_request = sweep_task_request(scenario)
    try:
        nodes = create_stack(stack(scenario, ctx), context)
        monitor = ScenarioMonitor(scenario, context, ctx.epoch)
        clock_node = rclpy.create_node("hil_clock", context=context)
        clock = SimClock(clock_node, monitor, step, rate)
        executor = make_executor(1, context)
        for node in [*nodes, monitor, clock_node]:
            executor.add_node(node)
        spinner = threading.Thread(target=_spin, args=(executor, stop), daemon=True)
        spinner.start()
        clock.publish(0.0)
        _start_task(clock_node, scenario, monitor, stop, task_request)
        wall_start = time.monotonic()
        last_report = 0.0
        while clock.now < scenario.duration - 1e-9 and not stop.is_set():
            if not clock.advance(stop):
                monitor.events.append(criteria.RunEvent(clock.now, "stall", "graph stopped following /clock"))
                break
            if rate is not None:
                ahead = clock.now / rate - (time.monotonic() - wall_start)
                if ahead > 0:
                    time.sleep(ahead)
            if progress and clock.now - last_report >= 5.0:
                last_report = clock.now
                progress(clock.now, scenario.duration)
        end_time = clock.now
        for node in nodes:
            node.on_safe_stop()
        stop.set()
        spinner.join(5.0)
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
            scenario, verdicts, run, report_path, None, time.monotonic() - started, dict(monitor.diagnostics)
        )
    finally:
        stop.set()
        for device in ctx.devices:
            device.stop()
        if context.ok():
            rclpy.shutdown(context=context)


def _call(node: Node, srv_type: Any, name: str, request: Any, stop: threading.Event) -> str:
    """Call a service of the stack (spun by the runner's executor thread); the answer as text."""
    client = node.create_client(srv_type, name)
    if not client.wait_for_service(timeout_sec=10.0):
        return f"no {name} service"
    future = client.call_async(request)
    deadline = time.monotonic() + 10.0
    while not future.done() and time.monotonic() < deadline and not stop.is_set():
        time.sleep(0.01)
    response = future.result() if future.done() else None
    node.destroy_client(client)
    return "no answer" if response is None else str(response.message)


def _start_task(
    node: Node, scenario: Scenario, monitor: ScenarioMonitor, stop: threading.Event, task_request: Any
) -> None:
    """What the operator does at the start of a shift: initialise localization, dispatch the task."""
    from roadedge_msgs.srv import ResetLocalization, StartSweepTask

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
    text = _call(node, ResetLocalization, "localization/reset", reset, stop)
    monitor.events.append(criteria.RunEvent(0.0, "localization", f"reset at the start pose: {text}"))
    text = _call(node, StartSweepTask, "planning/start_sweep_task", task_request, stop)
    monitor.events.append(criteria.RunEvent(0.0, "task", f"sweep task {scenario.task.task_id}: {text}"))


def _spin(executor: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            executor.spin_once(timeout_sec=0.05)
        except Exception as err:  # a node's crash must end the run visibly, not hang it
            print(f"hil: executor error: {err!r}", file=sys.stderr)
            stop.set()


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

    result = run_scenario(scenario, out, rate=args.rate, progress=show)
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
