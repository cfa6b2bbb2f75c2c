"""Replay benchmark: speed factor and determinism of the deterministic replay of a 60 s drive through
the vehicle stack, and CPU and RSS of the whole vehicle stack at nominal rates.

    tools/with_env.sh python bench/replay.py [--scenario demo_sweep_intersection] [--duration 60]
        [--inputs BAG | --record] [--graph stack|slice|PROFILE] [--stack vehicle] [--feed hil]
        [--stack-seconds 6]

1. Inputs: a ``--duration`` s HIL run of ``--scenario`` (the demo: sweeping a curb route through a
   signalised intersection with an RSU, SPaT, MAP, objects), recorded by the runner. The run is kept in
   out/bench/<scenario>_<duration>s/ and reused by later runs (``--record`` makes a new one, and so does
   a kept run whose message types differ from the installed ones; the first run takes a minute
   longer); ``--inputs`` names another run's bag.
2. Replay speed (``--graph stack``): the run's recorded inputs (GNSS fix and velocity, curb range,
   vehicle and equipment status, objects, V2X) are replayed twice, message by message with /clock
   steps of 20 ms, through localization, planner and controller composed as in the run
   (``roadedge regress``'s replay), recording their outputs. speed_factor = bag seconds / wall seconds
   of the playback (the graph's start-up, ~2 s of imports and map loading, is printed apart);
   identical = the two output bags compare equal (exact, receive times included).
   ``--graph slice`` replays a synthetic drive of target speeds through chassis emulator + speed
   controller (the first vertical slice), ``--graph PROFILE`` through a profile's nodes.
3. Stack load: ``roadedge run <stack> --params-file config/hil/vehicle_on_rig.yaml`` fed by
   ``roadedge run <feed>`` (the rig's emulators on their wire protocols) for ``--stack-seconds`` s at
   nominal rates, working the scenario's task (plant at its start pose, the planner's mission, a
   localization reset as the HIL runner does; ``--no-drive``: standing); CPU (cores, averaged after
   start-up) and peak RSS of the stack's processes (the composed nodes and the chassis sender).

Ends with one line: RESULT speed_factor=<x> identical=<true|false> cpu_cores=<x> rss_mb=<x>
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from roadedge import local_dds
from roadedge.bag.replay import BagSource

ROOT = Path(__file__).resolve().parents[1]


def synthetic_inputs(path: Path, duration: float) -> Path:
    """A drive of target speeds: 0 -> 3 m/s, 1.5 m/s, stop, 4 m/s, ... (10 Hz, like an operator)."""
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Float32

    from roadedge.bag.recorder import BagRecorder

    plan = [(0.0, 3.0), (12.0, 1.5), (20.0, 0.0), (26.0, 4.0), (40.0, 2.0), (50.0, 0.0)]
    with BagRecorder(path) as bag:
        bag.add_topic("/control/target_speed", "std_msgs/msg/Float32")
        for k in range(round(duration * 10) + 1):
            t = k / 10
            value = [v for start, v in plan if start <= t % 60.0][-1]
            bag.write("/control/target_speed", round(t * 1e9), bytes(serialize_message(Float32(data=value))))
    return path


def graph_factory(name: str) -> Any:
    from rclpy.parameter import Parameter

    if name == "slice":
        from roadedge.ros.runner import node_class

        def make(context: Any) -> list[Any]:
            return [
                node_class(exe)(
                    context=context,
                    parameter_overrides=[Parameter("use_sim_time", value=True)],
                    config_source="bench",
                )
                for exe in ("chassis_emulator", "speed_controller")
            ]

        return make
    from roadedge.profiles import load_profile
    from roadedge.ros.runner import create_nodes

    profile = load_profile(name)
    return lambda context: create_nodes(profile, use_sim_time=True, context=context)


def scenario_inputs(args: argparse.Namespace) -> Path:
    """A HIL run of the scenario (its first ``duration`` s), kept for later benchmark runs."""
    import dataclasses

    from roadedge.ros.hil_runner import run_scenario
    from roadedge.scenario.schema import load_scenario, scenario_dir

    scenario = load_scenario(scenario_dir() / f"{args.scenario}.yaml")
    scenario = dataclasses.replace(scenario, duration=min(args.duration, scenario.duration))
    run_dir = ROOT / "out" / "bench" / f"{scenario.name}_{scenario.duration:g}s"
    bag = run_dir / "bag"
    stale: dict[str, str] = {}
    if not args.record and (bag / "metadata.yaml").is_file():
        from roadedge.bag.replay import BagSource

        with BagSource(bag) as kept:
            stale = kept.stale_topics()  # recorded before an interface change: record again
        for topic, why in sorted(stale.items()):
            print(f"kept run {bag}: {topic}: {why}")
    if args.record or stale or not (bag / "metadata.yaml").is_file():
        print(f"recording the inputs: {scenario.name} on the HIL rig, {scenario.duration:g} s", flush=True)
        started = time.perf_counter()
        result = run_scenario(scenario, run_dir, report=False)
        print(f"  recorded {result.bag} in {time.perf_counter() - started:.1f} s", flush=True)
    else:
        print(f"inputs: {bag} (a HIL run of {scenario.name} kept from before; --record for a new one)")
    return bag


def stack_replay_bench(args: argparse.Namespace, work: Path) -> tuple[float, bool, str]:
    """The run's inputs through localization, planner and controller, twice (roadedge regress's replay)."""
    from roadedge_nodes.recorder import replay_scenario

    from roadedge.bag.golden import REPLAY_OUTPUTS
    from roadedge.bag.regression import compare_bags
    from roadedge.scenario.schema import load_scenario, scenario_dir

    scenario = load_scenario(scenario_dir() / f"{args.scenario}.yaml")
    inputs = args.inputs or scenario_inputs(args)
    factors, cpu_factors, outs = [], [], []
    for k in range(2):
        out = work / f"outputs{k}"
        started, cpu0 = time.perf_counter(), time.process_time()
        run = replay_scenario(inputs, scenario, out, REPLAY_OUTPUTS)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
        play = run.stats.wall_seconds
        factors.append(run.stats.bag_seconds / play)
        cpu_factors.append(run.stats.bag_seconds / cpu)
        outs.append(out)
        print(
            f"replay {k + 1}: {run.stats.messages} inputs, {run.stats.clock_ticks} clock steps, "
            f"{run.stats.bag_seconds:.1f} s of bag: playback {play:.2f} s wall = {factors[-1]:.1f}x "
            f"(with the graph's start-up {wall:.2f} s = {run.stats.bag_seconds / wall:.1f}x; "
            f"process CPU {cpu:.2f} s); {sum(run.outputs.values())} outputs",
            flush=True,
        )
        if k == 0:
            print(f"  inputs: {', '.join(run.inputs)}")
    with BagSource(outs[0]) as first:
        present = [t for t in REPLAY_OUTPUTS if t in first.topics]
    comparison = compare_bags(outs[0], outs[1], present, compare_time=True)
    print(
        f"speed per CPU second (bag s / process CPU s incl. start-up, independent of other load): "
        f"{sum(cpu_factors) / len(cpu_factors):.1f}x; load average {os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} cores"
    )
    return sum(factors) / len(factors), comparison.passed, comparison.summary()


def replay_bench(args: argparse.Namespace, work: Path) -> tuple[float, bool, str]:
    from roadedge_nodes.recorder import play_through

    from roadedge.bag.recorder import BagRecorder
    from roadedge.bag.regression import compare_bags
    from roadedge.bag.replay import PlayOptions

    inputs = args.inputs or synthetic_inputs(work / "inputs", args.duration)
    factors = []
    outs = []
    for k in range(2):
        out = work / f"outputs{k}"
        with BagSource(inputs) as source, BagRecorder(out) as bag:
            options = PlayOptions(clock_hz=args.clock_hz, duration=args.duration)
            started = time.perf_counter()
            run = play_through(
                source, options, graph_factory(args.graph), record=bag, record_topics=args.outputs
            )
            wall = time.perf_counter() - started
        factors.append(run.stats.bag_seconds / wall)
        outs.append(out)
        print(
            f"replay {k + 1}: {run.stats.messages} inputs, {run.stats.clock_ticks} clock steps, "
            f"{run.stats.bag_seconds:.1f} s of bag in {wall:.2f} s wall = {factors[-1]:.1f}x; "
            f"outputs {run.outputs}",
            flush=True,
        )
    comparison = compare_bags(outs[0], outs[1], args.outputs, compare_time=True)
    return sum(factors) / len(factors), comparison.passed, comparison.summary()


def io_bench(work: Path, count: int = 20000) -> str:
    """Raw bag throughput: write and read back ``count`` VehicleStatus messages (MCAP and sqlite3)."""
    from rclpy.serialization import serialize_message
    from roadedge_msgs.msg import VehicleStatus

    from roadedge.bag.recorder import BagRecorder
    from roadedge.bag.replay import BagSource

    data = bytes(serialize_message(VehicleStatus(fault_codes=[1, 2, 3])))
    lines = []
    for storage in ("mcap", "sqlite3"):
        path = work / f"io_{storage}"
        started = time.perf_counter()
        with BagRecorder(path, storage=storage) as bag:
            bag.add_topic("/vehicle/status", "roadedge_msgs/msg/VehicleStatus")
            for k in range(count):
                bag.write("/vehicle/status", k * 20_000_000, data)
        write_s = time.perf_counter() - started
        started = time.perf_counter()
        with BagSource(path) as source:
            n = sum(1 for _ in source.messages())
        read_s = time.perf_counter() - started
        assert n == count
        lines.append(
            f"bag io {storage}: write {count / write_s:,.0f} msg/s, read {count / read_s:,.0f} msg/s "
            f"({len(data)} B messages)"
        )
    return "\n".join(lines)


def _cpu_s(proc: Any, last: dict[int, float]) -> float:
    """CPU seconds (user + system) of one process; what it had last if it has ended since."""
    import psutil

    try:
        times = proc.cpu_times()
        last[proc.pid] = times.user + times.system
    except psutil.NoSuchProcess:
        pass
    return last.get(proc.pid, 0.0)


def _rss(proc: Any) -> int:
    import psutil

    try:
        return int(proc.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


def drive_parameters(scenario: Any, work: Path) -> Path:
    """The scenario's start pose for the rig's plant and its task for the planner: the stack works
    (localization, planner, controller, V2X with its own BSMs) while it is measured."""
    import yaml

    from roadedge.ros.hil_runner import mission_params

    pose = scenario.initial_pose
    data = {
        "chassis_ecu": {
            "ros__parameters": {"initial_x": pose.x, "initial_y": pose.y, "initial_yaw": pose.yaw}
        },
        "planner": {"ros__parameters": mission_params(scenario)},
    }
    path = work / "drive.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def start_driving(scenario: Any, seconds: float) -> dict[str, float]:
    """Localization reset at the scenario's start pose (as the HIL runner does); then the rates of the
    stack's outputs over ``seconds``, from each one's first message on (they show that it works)."""
    import rclpy
    from nav_msgs.msg import Odometry
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from roadedge_msgs.msg import Trajectory, VehicleCommand

    from roadedge.ros.hil_runner import reset_localization
    from roadedge.ros.stepping import Stepper

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("bench_driver", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    arrivals: dict[str, list[float]] = {
        "/localization/odometry": [],
        "/planning/trajectory": [],
        "/vehicle/command": [],
    }
    reliable = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)  # best effort here lost ~10 %
    for topic, msg_type in zip(arrivals, (Odometry, Trajectory, VehicleCommand), strict=True):
        node.create_subscription(
            msg_type, topic, lambda _m, t=topic: arrivals[t].append(time.monotonic()), reliable
        )
    try:
        print(
            f"stack: localization reset: {reset_localization(node, scenario, Stepper(executor))}", flush=True
        )
        end = time.monotonic() + 1.0  # localization initialises from the reset and the next fixes
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        for times in arrivals.values():
            times.clear()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        return {
            topic: (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0
            for topic, t in arrivals.items()
        }
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)


def stack_bench(args: argparse.Namespace, work: Path) -> tuple[float, float]:
    import psutil

    local_dds.isolate()
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "roadedge.cli", "run"]
    from roadedge.scenario.schema import load_scenario, scenario_dir

    scenario = load_scenario(scenario_dir() / f"{args.scenario}.yaml")
    drive = ["--params-file", str(drive_parameters(scenario, work))] if args.drive else []
    procs = []
    try:
        if args.feed:
            feed_params = ["--params-file", str(ROOT / "config" / "hil" / "rig.yaml"), *drive]
            procs.append(
                subprocess.Popen(
                    [*cmd, args.feed, *(feed_params if args.feed == "hil" else [])],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        params = ["--params-file", str(args.stack_params), *drive] if args.stack_params else []
        stack = subprocess.Popen(
            [*cmd, args.stack, *params], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        procs.append(stack)
        ps = psutil.Process(stack.pid)
        time.sleep(args.warmup)  # start-up (imports, discovery) is not the nominal load
        if args.drive:
            rates = start_driving(scenario, 2.0)
            print("stack outputs while driving (Hz): " + ", ".join(f"{t} {r:.1f}" for t, r in rates.items()))
        if stack.poll() is not None:
            err = stack.stderr.read().decode(errors="replace") if stack.stderr else ""
            raise RuntimeError(f"stack {args.stack} exited with {stack.returncode}: {err[-500:]}")
        # the whole stack: the composed nodes' process and its children (the chassis sender process)
        tree = [ps, *ps.children(recursive=True)]
        last: dict[int, float] = {}
        cpu0 = {p.pid: _cpu_s(p, last) for p in tree}
        t0 = time.monotonic()
        rss = 0
        while time.monotonic() - t0 < args.stack_seconds:
            rss = max(rss, sum(_rss(p) for p in tree))
            time.sleep(0.25)
        used = sum(_cpu_s(p, last) - cpu0[p.pid] for p in tree)
        return used / (time.monotonic() - t0), rss / 2**20
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=60.0, help="s of drive to replay")
    p.add_argument("--scenario", default="demo_sweep_intersection", help="HIL scenario of the drive")
    p.add_argument("--inputs", type=Path, default=None, help="input bag (default: a HIL run of the scenario)")
    p.add_argument("--record", action="store_true", help="record the scenario's inputs again")
    p.add_argument(
        "--graph", default="stack", help="graph under test: stack (the vehicle's), slice, or a profile name"
    )
    p.add_argument("--outputs", nargs="+", default=["/vehicle/status", "/vehicle/command"])
    p.add_argument("--clock-hz", type=float, default=100.0, help="/clock steps per s of bag time (slice)")
    p.add_argument("--stack", default="vehicle", help="profile whose CPU and RSS are measured ('' to skip)")
    p.add_argument(
        "--stack-params",
        default=str(ROOT / "config" / "hil" / "vehicle_on_rig.yaml"),
        help="deployment parameters of the stack ('' for the profile's)",
    )
    p.add_argument("--feed", default="hil", help="profile run alongside to feed the stack ('' for none)")
    p.add_argument("--stack-seconds", type=float, default=6.0)
    p.add_argument(
        "--no-drive",
        dest="drive",
        action="store_false",
        help="measure the stack standing (no start pose, no task) instead of working the scenario's task",
    )
    p.add_argument("--warmup", type=float, default=5.0, help="s of start-up left out of the CPU figure")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="roadedge-bench-"))
    speed, identical, cpu, rss = math.nan, False, math.nan, math.nan
    try:
        print(io_bench(work), flush=True)
        bench = stack_replay_bench if args.graph == "stack" else replay_bench
        speed, identical, summary = bench(args, work)
        print(summary)
        if args.stack:
            try:
                cpu, rss = stack_bench(args, work)
                print(
                    f"stack {args.stack} (fed by {args.feed or 'nothing'}): {cpu:.2f} cores, {rss:.0f} MB RSS"
                )
            except (RuntimeError, OSError) as err:
                print(f"stack measurement failed: {err}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"RESULT speed_factor={speed:.1f} identical={str(identical).lower()} "
        f"cpu_cores={cpu:.2f} rss_mb={rss:.0f}"
    )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
