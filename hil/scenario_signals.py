"""Signal controllers of a scenario on the rig: the scenario's phase plans pushed to the RSU
node as signal-controller reports (roadedge.v2x.signal_feed, UDP on loopback), on the node
clock, so SPAT follows sim time exactly.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from roadedge.config import param
from roadedge.ros.node import RoadedgeNode, make_main
from roadedge.scenario.schema import LIGHT_STATES, Intersection, PhasePlan, Scenario, load_scenario
from roadedge.v2x.signal_feed import PhaseReport, SignalReport, StateReport, encode_report

#: IntersectionStatusObject bit 5: fixedTimeOperation
FIXED_TIME_OPERATION = 1 << 5


def phase_states(plan: PhasePlan, t: float, count: int = 3) -> list[StateReport]:
    """The current and the next ``count - 1`` states of a phase at scenario time t."""
    states = []
    start = 0.0
    state, remaining = plan.state_at(t)
    for _ in range(count):
        end = start + remaining
        states.append(StateReport(LIGHT_STATES[state], start, end, end, end))
        start = end
        state, remaining = plan.state_at(t + end + 1e-6)
        remaining += 1e-6
    return states


def signal_report(intersection: Intersection, t: float, epoch: float) -> SignalReport:
    """The report a fixed-time controller sends at scenario time t (epoch: unix time of t = 0)."""
    phases = [PhaseReport(plan.phase_id, phase_states(plan, t)) for plan in intersection.phases]
    return SignalReport(intersection.region, intersection.id, FIXED_TIME_OPERATION, epoch + t, phases)


@dataclass(frozen=True)
class ScenarioSignalsConfig:
    scenario: str = param(help="scenario YAML file")
    epoch: float = param(0.0, help="unix time of scenario t = 0 (the sim clock's start)", low=0.0)
    rsu_host: str = param("127.0.0.1", help="RSU signal feed address (loopback on the rig)")
    rsu_port: int = param(47301, help="RSU signal feed UDP port", low=1, high=65535)
    rate: float = param(10.0, help="reports per second", low=0.1, high=100.0)


class ScenarioSignals(RoadedgeNode[ScenarioSignalsConfig]):
    Schema = ScenarioSignalsConfig
    default_name = "scenario_signals"

    def __init__(self, scenario: Scenario | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.config.rsu_host.startswith("127."):
            raise ValueError("the rig's signal controllers stay on loopback (127.0.0.0/8)")
        self.scenario = scenario or load_scenario(self.config.scenario)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sent = 0
        self.create_timer(1.0 / self.config.rate, self._send)

    def _send(self) -> None:
        t = self.now_s() - self.config.epoch
        for intersection in self.scenario.intersections:
            frame = encode_report(signal_report(intersection, t, self.config.epoch))
            try:
                self._sock.sendto(frame, (self.config.rsu_host, self.config.rsu_port))
                self.sent += 1
            except OSError as err:
                self.get_logger().warning(f"signal feed: {err}", throttle_duration_sec=5.0)

    def destroy_node(self) -> None:
        self._sock.close()
        super().destroy_node()


NODE = ScenarioSignals
main = make_main(NODE)
