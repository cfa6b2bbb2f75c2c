"""The roadside operations of a scenario on the rig, on the node clock (sim time):

- signal controllers: the scenario's phase plans pushed to the RSU node as signal-controller
  reports (roadedge.v2x.signal_feed, UDP on loopback), so SPAT follows sim time exactly;
- road events: the scenario's RSI events (work zones, hazards, speed limits) handed to the
  RSU on ``v2x/tx/rsi`` while they are active, as the roadside operator's console would.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from roadedge import topics
from roadedge.config import param
from roadedge.ros.node import RoadedgeNode, make_main
from roadedge.scenario.schema import LIGHT_STATES, Intersection, PhasePlan, RsiEvent, Scenario, load_scenario
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


#: CSAE / GB/T 29100 event type of each scenario RSI kind (401: road works; 501: hazard on the road);
#: GB 5768 sign type 85: speed limit.
RSI_EVENT_TYPES = {"work_zone": 401, "hazard": 501}
SPEED_LIMIT_SIGN = 85


def rsi_message(events: list[RsiEvent], t: float, epoch: float, origin: tuple[float, float, float]) -> Any:
    """roadedge_msgs/Rsi of the events active at scenario time t; offsets from the map origin."""
    from builtin_interfaces.msg import Time
    from geometry_msgs.msg import Point
    from roadedge_msgs.msg import GeoPoint, Rsi, RsiPath, RsiSign
    from roadedge_msgs.msg import RsiEvent as RsiEventMsg

    def stamp(seconds: float | None) -> Time:
        if seconds is None:
            return Time()
        total = int(epoch) * 1_000_000_000 + round(seconds * 1e9)
        sec, nsec = divmod(total, 1_000_000_000)
        return Time(sec=sec, nanosec=nsec)

    msg = Rsi()
    msg.reference_position = GeoPoint(latitude=origin[0], longitude=origin[1], elevation=origin[2])
    for index, event in enumerate(events):
        if not (event.start <= t and (event.duration is None or t <= event.start + event.duration)):
            continue
        path = RsiPath(points=[Point(x=p.x, y=p.y) for p in event.path], radius=event.radius)
        centre = event.path[len(event.path) // 2]
        end = None if event.duration is None else event.start + event.duration
        limit = "" if event.speed_limit is None else f"limit {event.speed_limit:.1f} m/s"
        if event.kind == "speed_limit":
            msg.signs.append(
                RsiSign(
                    rts_id=index,
                    sign_type=SPEED_LIMIT_SIGN,
                    position=Point(x=centre.x, y=centre.y),
                    description=limit or event.id,
                    start_time=stamp(event.start),
                    end_time=stamp(end),
                    priority=3,
                    reference_paths=[path],
                )
            )
            continue
        msg.events.append(
            RsiEventMsg(
                rte_id=index,
                event_type=RSI_EVENT_TYPES[event.kind],
                source=RsiEventMsg.SOURCE_DETECTION,
                position=Point(x=centre.x, y=centre.y),
                radius=event.radius,
                description=f"{event.id} {event.kind.replace('_', ' ')} {limit}".strip(),
                start_time=stamp(event.start),
                end_time=stamp(end),
                priority=5,
                reference_paths=[path],
                confidence=1.0,
            )
        )
    return msg


@dataclass(frozen=True)
class ScenarioSignalsConfig:
    scenario: str = param(help="scenario YAML file")
    epoch: float = param(0.0, help="unix time of scenario t = 0 (the sim clock's start)", low=0.0)
    rsu_host: str = param("127.0.0.1", help="RSU signal feed address (loopback on the rig)")
    rsu_port: int = param(47301, help="RSU signal feed UDP port", low=1, high=65535)
    rate: float = param(10.0, help="reports per second", low=0.1, high=100.0)
    rsi_rate: float = param(1.0, help="RSI updates to the RSU per second", low=0.1, high=10.0)
    origin_latitude: float = param(0.0, help="deg, map origin (reference position of the RSI)")
    origin_longitude: float = param(0.0, help="deg")
    origin_altitude: float = param(0.0, help="m")


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
        if self.scenario.v2x.rsi:
            self._rsi_pub = self.publisher(topics.V2X_TX_RSI)
            self.create_timer(1.0 / self.config.rsi_rate, self._send_rsi)

    def _send_rsi(self) -> None:
        c = self.config
        origin = (c.origin_latitude, c.origin_longitude, c.origin_altitude)
        self._rsi_pub.publish(
            rsi_message(list(self.scenario.v2x.rsi), self.now_s() - c.epoch, c.epoch, origin)
        )

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
