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
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
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

    def __init__(self, scenario: Scenario, context: Any = None) -> None:
        super().__init__(
            "hil_monitor", context=context, parameter_overrides=[Parameter("use_sim_time", value=True)]
        )
        self.scenario = scenario
        self.ego: list[tuple[float, float, float, float, float]] = []
        self.advisories: list[criteria.AdvisoryEvent] = []
        self.progress: list[criteria.ProgressSample] = []
        self.events: list[criteria.RunEvent] = []
        self.clock_seen = 0.0
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
        return float(self.get_clock().now().nanoseconds) * 1e-9

    def _on_clock(self, msg: Clock) -> None:
        self.clock_seen = msg.clock.sec + msg.clock.nanosec * 1e-9

    def _on_truth(self, msg: Odometry) -> None:
        t = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
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
        self._pub = node.create_publisher(Clock, topics.CLOCK.name, qos_for(topics.CLOCK))
        self._monitor = monitor
        self.step = step
        self.rate = rate  # real-time factor cap; None = as fast as the graph keeps up
        self.now = 0.0

    def publish(self, t: float) -> None:
        msg = Clock()
        msg.clock.sec = int(t)
        msg.clock.nanosec = round((t - int(t)) * 1e9)
        self._pub.publish(msg)

    def advance(self, stop: threading.Event, timeout: float = 5.0) -> bool:
        """Next step; False if the graph did not follow within timeout (wall) seconds."""
        self.now += self.step
        self.publish(self.now)
        deadline = time.monotonic() + timeout
        while self._monitor.clock_seen + 1e-9 < self.now:
            if stop.is_set() or time.monotonic() > deadline:
                return False
            time.sleep(0.0005)
        return True


def default_stack(scenario: Scenario) -> list[NodeSpec]:
    """Nodes of a scenario run. Node executables not installed yet are left out (with a note)."""
    pose = scenario.initial_pose
    return [
        NodeSpec("scenario_world", {"scenario": str(scenario.source or "")}),
        NodeSpec(
            "chassis_emulator",
            {"initial_x": pose.x, "initial_y": pose.y, "initial_yaw": pose.yaw, "status_rate": 50.0},
        ),
        NodeSpec("speed_controller", {"target_speed": scenario.task.target_speed}),
    ]


@dataclass
class RunResult:
    scenario: Scenario
    verdicts: list[criteria.Verdict]
    run: criteria.RunData
    report: Path | None
    bag: Path | None
    wall_time: float

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
    stack: Callable[[Scenario], list[NodeSpec]] = default_stack,
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
    try:
        nodes = create_stack(stack(scenario), context)
        monitor = ScenarioMonitor(scenario, context)
        clock_node = rclpy.create_node("hil_clock", context=context)
        clock = SimClock(clock_node, monitor, step, rate)
        executor = make_executor(1, context)
        for node in [*nodes, monitor, clock_node]:
            executor.add_node(node)
        spinner = threading.Thread(target=_spin, args=(executor, stop), daemon=True)
        spinner.start()
        clock.publish(0.0)
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
        return RunResult(scenario, verdicts, run, report_path, None, time.monotonic() - started)
    finally:
        stop.set()
        if context.ok():
            rclpy.shutdown(context=context)


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
    print()
    print(criteria.format_table(result.verdicts))
    print(f"verdict: {'PASS' if result.passed else 'FAIL'}  ({result.wall_time:.0f} s wall)")
    if result.report:
        print(f"report: {result.report}")
    if result.bag:
        print(f"bag:    {result.bag}")
    return 0 if result.passed else 1
