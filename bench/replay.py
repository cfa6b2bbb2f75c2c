"""Replay benchmark: speed factor and determinism of a deterministic replay, CPU and RSS of a stack.

    tools/with_env.sh python bench/replay.py [--duration 60] [--inputs BAG] [--graph slice|PROFILE]
                                            [--stack vehicle] [--feed hil] [--stack-seconds 8]

1. Replay speed: a ``--duration`` s input bag (default: a synthetic drive - target speeds on
   control/target_speed at 10 Hz - or ``--inputs`` a recorded one) is replayed twice, message by
   message with /clock steps at ``--clock-hz``, through an in-process graph (``slice``: chassis
   emulator + speed controller; or a profile's nodes), recording its outputs. speed_factor = bag
   seconds / wall seconds of the replay; identical = the two output bags compare equal (exact,
   receive times included).
2. Stack load: ``roadedge run <stack>`` (with ``roadedge run <feed>`` feeding it, e.g. the HIL
   emulators) for ``--stack-seconds`` s at nominal rates; CPU (cores, averaged after start-up) and
   peak RSS of the stack process.

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


def replay_bench(args: argparse.Namespace, work: Path) -> tuple[float, bool, str]:
    from roadedge_nodes.recorder import play_through

    from roadedge.bag.recorder import BagRecorder
    from roadedge.bag.regression import compare_bags
    from roadedge.bag.replay import BagSource, PlayOptions

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


def stack_bench(args: argparse.Namespace) -> tuple[float, float]:
    import psutil

    local_dds.isolate()
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "roadedge.cli", "run"]
    procs = []
    try:
        if args.feed:
            procs.append(
                subprocess.Popen(
                    [*cmd, args.feed], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        stack = subprocess.Popen(
            [*cmd, args.stack], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        procs.append(stack)
        ps = psutil.Process(stack.pid)
        time.sleep(args.warmup)  # start-up (imports, discovery) is not the nominal load
        if stack.poll() is not None:
            err = stack.stderr.read().decode(errors="replace") if stack.stderr else ""
            raise RuntimeError(f"stack {args.stack} exited with {stack.returncode}: {err[-500:]}")
        cpu0 = ps.cpu_times()
        t0 = time.monotonic()
        rss = 0
        while time.monotonic() - t0 < args.stack_seconds:
            rss = max(rss, ps.memory_info().rss)
            time.sleep(0.25)
        cpu1 = ps.cpu_times()
        cores = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (time.monotonic() - t0)
        return cores, rss / 2**20
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
    p.add_argument("--inputs", type=Path, default=None, help="input bag (default: synthetic drive)")
    p.add_argument("--graph", default="slice", help="graph under test: slice or a profile name")
    p.add_argument("--outputs", nargs="+", default=["/vehicle/status", "/vehicle/command"])
    p.add_argument("--clock-hz", type=float, default=100.0, help="/clock steps per s of bag time")
    p.add_argument("--stack", default="vehicle", help="profile whose CPU and RSS are measured ('' to skip)")
    p.add_argument("--feed", default="hil", help="profile run alongside to feed the stack ('' for none)")
    p.add_argument("--stack-seconds", type=float, default=8.0)
    p.add_argument("--warmup", type=float, default=3.0)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="roadedge-bench-"))
    speed, identical, cpu, rss = math.nan, False, math.nan, math.nan
    try:
        print(io_bench(work), flush=True)
        speed, identical, summary = replay_bench(args, work)
        print(summary)
        if args.stack:
            try:
                cpu, rss = stack_bench(args)
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
