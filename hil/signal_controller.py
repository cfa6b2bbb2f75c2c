"""Traffic-signal-controller emulator for the HIL rig: a fixed-time plan pushing phase reports.

It sends the report format of ``roadedge.v2x.signal_feed`` (one UDP datagram per report,
10 Hz by default) to the RSU node, as a roadside signal controller does on the roadside LAN.
The plan: phases served in order, each green -> yellow -> all-red; a phase is red while
the others are served.

    signal_controller --ros-args -p config_file:=v2x/signal_controller.yaml   (a node, runner)
    python -m roadedge_hil.signal_controller --config config/v2x/signal_controller.yaml   (plain process)
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roadedge.config import ConfigError, load_yaml, param
from roadedge.diagnostics import Health, Level
from roadedge.ros.node import RoadedgeNode, make_main
from roadedge.v2x.signal_feed import PhaseReport, SignalReport, StateReport, encode_report
from roadedge.v2x.station import config_path

GREEN_PROTECTED = 6
GREEN_PERMISSIVE = 5
YELLOW = 7
RED = 3

#: IntersectionStatusObject bit 5: fixedTimeOperation
FIXED_TIME_OPERATION = 1 << 5


@dataclass
class PlanPhase:
    phase_id: int
    green: float
    yellow: float = 3.0
    all_red: float = 2.0
    permissive: bool = False


@dataclass
class FixedTimePlan:
    region: int
    node_id: int
    phases: list[PlanPhase]
    offset: float = 0.0  # s, cycle start relative to the unix epoch
    states_per_phase: int = 3
    status: int = FIXED_TIME_OPERATION
    _segments: dict[int, list[tuple[int, float, float]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError("a plan needs at least one phase")
        start = 0.0
        cycle = self.cycle
        for ph in self.phases:
            green = GREEN_PERMISSIVE if ph.permissive else GREEN_PROTECTED
            g_end = start + ph.green
            y_end = g_end + ph.yellow
            segs = [(green, start, g_end), (YELLOW, g_end, y_end)]
            if y_end - start < cycle:
                segs.append((RED, y_end, start + cycle))
            self._segments[ph.phase_id] = segs
            start += ph.green + ph.yellow + ph.all_red

    @property
    def cycle(self) -> float:
        return sum(p.green + p.yellow + p.all_red for p in self.phases)

    def report(self, t: float) -> SignalReport:
        """The phase status at unix time ``t`` (times relative to ``t``)."""
        cycle = self.cycle
        tc = (t - self.offset) % cycle
        phases = []
        for ph in self.phases:
            segs = self._segments[ph.phase_id]
            # unroll the segments over three cycles and find the one holding tc
            timeline = [(light, a + k * cycle, b + k * cycle) for k in (-1, 0, 1, 2) for light, a, b in segs]
            idx = next(i for i, (_, a, b) in enumerate(timeline) if a <= tc < b)
            states = []
            for light, a, b in timeline[idx : idx + self.states_per_phase]:
                start = max(0.0, a - tc)
                end = b - tc
                states.append(StateReport(light, start, end, end, end))
            phases.append(PhaseReport(ph.phase_id, states))
        return SignalReport(self.region, self.node_id, self.status, t, phases)


def plan_from_config(tree: dict[str, Any]) -> FixedTimePlan:
    phases = [PlanPhase(**p) for p in tree["phases"]]
    return FixedTimePlan(
        int(tree.get("region", 0)), int(tree["node_id"]), phases, float(tree.get("offset", 0.0))
    )


class SignalControllerEmulator:
    def __init__(self, plan: FixedTimePlan, target: tuple[str, int], rate_hz: float = 10.0) -> None:
        if not target[0].startswith("127."):
            raise ValueError("the signal controller emulator stays on loopback (127.0.0.0/8)")
        self.plan = plan
        self.target = target
        self.period = 1.0 / rate_hz
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sent = 0
        self._stop = threading.Event()

    def send_once(self, t: float | None = None) -> None:
        report = self.plan.report(time.time() if t is None else t)
        try:
            self.sock.sendto(encode_report(report), self.target)
            self.sent += 1
        except OSError:
            pass

    def run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            self.send_once()
            next_t += self.period
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()


def emulator_from_config(tree: dict[str, Any]) -> SignalControllerEmulator:
    plan = plan_from_config(tree["plan"])
    target = (str(tree.get("rsu_host", "127.0.0.1")), int(tree["rsu_port"]))
    return SignalControllerEmulator(plan, target, float(tree.get("rate_hz", 10.0)))


def cli_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="signal_controller", description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    args, _unknown = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    try:
        emulator = emulator_from_config(load_yaml(args.config))
    except (ConfigError, KeyError, ValueError, TypeError) as err:
        print(f"signal_controller: configuration error: {err}", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: emulator.stop())
    plan = emulator.plan
    print(
        f"signal_controller: node {plan.node_id}, cycle {plan.cycle:.1f} s -> {emulator.target}", flush=True
    )
    emulator.run()
    print(f"signal_controller: sent={emulator.sent}", flush=True)
    return 0


@dataclass(frozen=True)
class SignalControllerConfig:
    config_file: str = param(
        "v2x/signal_controller.yaml", help="plan and target YAML (relative: under config/)"
    )


class SignalControllerNode(RoadedgeNode[SignalControllerConfig]):
    """The emulator as a node: reports sent by a node timer (sim time follows /clock)."""

    Schema = SignalControllerConfig
    default_name = "signal_controller"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            self.emulator = emulator_from_config(load_yaml(config_path(self.config.config_file)))
        except (ConfigError, KeyError, ValueError, TypeError) as err:
            raise ConfigError(f"signal_controller: {self.config.config_file}: {err}") from err
        self.create_timer(self.emulator.period, lambda: self.emulator.send_once(self.now_s()))
        self.health.add("feed", self._health)

    def _health(self) -> Health:
        return Health(
            Level.OK, "ok", {"sent": str(self.emulator.sent), "cycle_s": f"{self.emulator.plan.cycle:.1f}"}
        )


NODE = SignalControllerNode
main = make_main(NODE)

if __name__ == "__main__":
    sys.exit(cli_main())
