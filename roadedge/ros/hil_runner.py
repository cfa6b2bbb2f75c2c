"""``roadedge hil``: bring up a HIL graph in one process, watch it, print a verdict table."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import rclpy
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from roadedge_msgs.msg import VehicleStatus

from roadedge import topics
from roadedge.config import ConfigError
from roadedge.profiles import load_profile
from roadedge.ros.node import spin_until_signal
from roadedge.ros.qos import qos_for
from roadedge.ros.runner import create_nodes, make_executor


@dataclass
class SpeedTrace:
    times: list[float] = field(default_factory=list)
    speeds: list[float] = field(default_factory=list)


class SliceMonitor(Node):
    """Records the chassis speed seen over DDS, as a user's tool would."""

    def __init__(self) -> None:
        super().__init__("hil_monitor")
        self.trace = SpeedTrace()
        self._t0 = time.monotonic()
        self.create_subscription(
            VehicleStatus, topics.VEHICLE_STATUS.name, self._on_status, qos_for(topics.VEHICLE_STATUS)
        )

    def _on_status(self, msg: VehicleStatus) -> None:
        self.trace.times.append(time.monotonic() - self._t0)
        self.trace.speeds.append(float(msg.speed))

    def on_safe_stop(self) -> None:
        pass


def slice_verdict(
    trace: SpeedTrace, target: float, tolerance: float = 0.25
) -> list[tuple[str, str, str, bool]]:
    """Rows (criterion, value, limit, pass) for the first vertical slice."""
    reached = next(
        (t for t, v in zip(trace.times, trace.speeds, strict=True) if abs(v - target) < 0.15), None
    )
    rows = [("status received", f"{len(trace.speeds)} samples", "> 0", len(trace.speeds) > 0)]
    rows.append(
        (
            "time to reach target",
            "never" if reached is None else f"{reached:.1f} s",
            "<= 10 s",
            reached is not None and reached <= 10.0,
        )
    )
    held = [
        v
        for t, v in zip(trace.times, trace.speeds, strict=True)
        if reached is not None and t >= reached + 1.0
    ]
    error = max((abs(v - target) for v in held), default=float("inf"))
    rows.append(("speed error while holding", f"{error:.3f} m/s", f"<= {tolerance} m/s", error <= tolerance))
    return rows


def print_table(title: str, rows: list[tuple[str, str, str, bool]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{title}")
    print(f"  {'criterion':<{width}}  {'value':>14}  {'limit':>12}  result")
    for name, value, limit, ok in rows:
        print(f"  {name:<{width}}  {value:>14}  {limit:>12}  {'PASS' if ok else 'FAIL'}")
    print(f"verdict: {'PASS' if all(r[3] for r in rows) else 'FAIL'}\n")


def run_slice(duration: float, quiet: bool) -> int:
    profile = load_profile("slice")
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    try:
        try:
            nodes = create_nodes(profile)
        except ConfigError as err:
            print(f"configuration error: {err}")
            return 2
        monitor = SliceMonitor()
        target = float(nodes[[n.get_name() for n in nodes].index("speed_controller")].config.target_speed)
        executor = make_executor()
        for node in [*nodes, monitor]:
            executor.add_node(node)
        if not quiet:
            print(
                f"slice: chassis emulator + speed controller over DDS, target {target} m/s, {duration:.0f} s"
            )
        deadline = time.monotonic() + duration
        spin_until_signal(executor, [*nodes, monitor], until=lambda: time.monotonic() >= deadline)
        executor.shutdown()
        rows = slice_verdict(monitor.trace, target)
        print_table("first vertical slice", rows)
        for node in [*nodes, monitor]:
            node.destroy_node()
        return 0 if all(r[3] for r in rows) else 1
    finally:
        if rclpy.ok():
            rclpy.shutdown()


def hil_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="roadedge hil", description="run a HIL scenario")
    parser.add_argument("scenario", nargs="?", help="scenario YAML")
    parser.add_argument("--default", action="store_true", help="the default demo scenario")
    parser.add_argument("--duration", type=float, default=15.0, help="s of the slice run")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.scenario is None and not args.default:
        parser.error("name a scenario or pass --default")
    return run_slice(args.duration, args.quiet)
