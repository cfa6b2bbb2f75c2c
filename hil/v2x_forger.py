"""A forged V2X sender on the rig: frames that claim what they should not, as an attacker's
radio would send them (bad signature, a certificate no trust anchor issued, unsigned, replayed).

It joins the radio emulator as one more station; the vehicle's OBU must reject and count
every frame, and nothing it claims may reach planning. Follows the node clock (sim time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nav_msgs.msg import Odometry
from roadedge_msgs.msg import Bsm, Spat, SpatIntersection, SpatPhase, SpatPhaseState

from roadedge import topics
from roadedge.config import param
from roadedge.localization.geodesy import GeodeticOrigin, MapFrame, yaw_of_quaternion
from roadedge.profiles import CONFIG_DIR
from roadedge.ros.node import RoadedgeNode, make_main
from roadedge.ros.qos import qos_for
from roadedge.scenario.schema import ForgedSender, Scenario, load_scenario
from roadedge.v2x import codec, si
from roadedge.v2x.security import (
    DEFAULT_AIDS,
    Certificate,
    Signer,
    generate_key,
    issue_certificate,
    load_key,
    wrap_unsigned,
)
from roadedge.v2x.transport import RadioLink


class FrameForger:
    """Builds the forged frames of one scenario sender (pure; the clock is passed in)."""

    def __init__(self, forged: ForgedSender, trusted_pki: Path, now: float) -> None:
        self.forged = forged
        aids = sorted(DEFAULT_AIDS.values())
        if forged.kind in ("bad_signature", "replayed"):
            # a trusted station's credentials (an RSU's for roadside messages, a vehicle's for BSMs);
            # bad_signature then breaks the signature, replayed re-sends one genuine frame
            name = "obu2" if forged.message == "bsm" else "rsu1"
            key, cert = load_key(trusted_pki / f"{name}.key"), Certificate.load(trusted_pki / f"{name}.cert")
            self.signer: Signer | None = Signer(key, cert)
        elif forged.kind == "unknown_certificate":
            root_key, key = generate_key(), generate_key()
            root = issue_certificate(
                root_key.public_key(), "rogue-ca", now - 60, now + 86400, aids, root_key, None, True
            )
            cert = issue_certificate(key.public_key(), "rogue", now - 60, now + 86400, aids, root_key, root)
            self.signer = Signer(key, cert, cert_interval_s=0.0)
        else:
            self.signer = None  # unsigned
        self._replay: bytes | None = None

    def frame(self, msg: Any, now: float) -> bytes:
        kind, value = si.to_asn(msg, now)
        payload = codec.encode_frame(kind, value)
        if self.forged.kind == "replayed" and self._replay is not None:
            return self._replay
        if self.signer is None:
            return wrap_unsigned(payload)
        frame = self.signer.sign(payload, DEFAULT_AIDS[kind], now)
        if self.forged.kind == "bad_signature":
            frame = frame[:-1] + bytes([frame[-1] ^ 0x55])
        if self.forged.kind == "replayed":
            self._replay = frame
        return frame


def forged_spat(sender: ForgedSender, now: float, node_id: int = 101) -> Spat:
    """A SPAT that shows every phase green for a long while (what an attacker would want)."""
    spat = Spat()
    spat.v2x.sender_id = sender.id
    spat.name = "forged"
    phases = [
        SpatPhase(
            phase_id=phase,
            states=[
                SpatPhaseState(
                    light=SpatPhaseState.LIGHT_PROTECTED_GREEN,
                    start_time=0.0,
                    min_end_time=60.0,
                    max_end_time=60.0,
                    likely_end_time=60.0,
                    next_start_time=math.nan,
                    next_duration=math.nan,
                )
            ],
        )
        for phase in (1, 2)
    ]
    spat.intersections = [SpatIntersection(node_id=node_id, time_stamp=si.to_time_msg(now), phases=phases)]
    return spat


def forged_bsm(sender: ForgedSender, lat: float, lon: float, heading: float) -> Bsm:
    """An emergency vehicle with its siren on, placed where the victim will believe it."""
    bsm = Bsm()
    bsm.v2x.sender_id = sender.id
    bsm.position.latitude, bsm.position.longitude, bsm.position.elevation = lat, lon, math.nan
    bsm.position_semi_major = bsm.position_semi_minor = bsm.position_orientation = math.nan
    bsm.transmission = Bsm.TRANSMISSION_FORWARD
    bsm.speed, bsm.heading = 12.0, heading
    bsm.steering_wheel_angle = bsm.yaw_rate = math.nan
    bsm.acceleration_longitudinal = bsm.acceleration_lateral = bsm.acceleration_vertical = math.nan
    bsm.length, bsm.width, bsm.height = 5.5, 2.0, 2.4
    bsm.vehicle_class = 10
    bsm.emergency_vehicle = True
    bsm.siren_in_use = bsm.lights_in_use = 2
    return bsm


@dataclass(frozen=True, kw_only=True)
class V2xForgerConfig:
    scenario: str = param(help="scenario YAML file (its v2x.forged senders)")
    epoch: float = param(0.0, help="unix time of scenario t = 0", low=0.0)
    radio_port: int = param(help="UDP port of the forger's station in the radio emulator", low=1, high=65535)
    bind_port: int = param(help="UDP port the forger's radio delivers to", low=1, high=65535)
    rate: float = param(10.0, help="forged frames per second per sender", low=0.1, high=50.0)
    trusted_pki: str = param(
        "v2x/test_pki", help="folder with trusted stations' rsu1/obu2 keys (relative: config/)"
    )
    origin_latitude: float = param(0.0, help="deg, map origin")
    origin_longitude: float = param(0.0, help="deg")
    origin_altitude: float = param(0.0, help="m")
    behind: float = param(20.0, help="m behind the victim where a forged BSM places itself", low=0.0)


class V2xForger(RoadedgeNode[V2xForgerConfig]):
    Schema = V2xForgerConfig
    default_name = "v2x_forger"

    def __init__(self, scenario: Scenario | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = self.config
        self.scenario = scenario or load_scenario(c.scenario)
        now = self.now_s()
        pki = Path(c.trusted_pki) if Path(c.trusted_pki).is_absolute() else CONFIG_DIR / c.trusted_pki
        self.forgers = [FrameForger(f, pki, now) for f in self.scenario.v2x.forged]
        self.frame_map = MapFrame(GeodeticOrigin(c.origin_latitude, c.origin_longitude, c.origin_altitude))
        self.link = RadioLink("127.0.0.1", c.bind_port, "127.0.0.1", c.radio_port)
        self.sent = 0
        self._victim: tuple[float, float, float] | None = None
        # the victim's ground truth, from outside the forger's own namespace
        self.create_subscription(
            Odometry, "/" + topics.GROUND_TRUTH.name, self._on_victim, qos_for(topics.GROUND_TRUTH)
        )
        self.create_timer(1.0 / c.rate, self._send)

    def _on_victim(self, msg: Odometry) -> None:
        yaw = yaw_of_quaternion(msg.pose.pose.orientation)
        self._victim = (msg.pose.pose.position.x, msg.pose.pose.position.y, yaw)

    def _send(self) -> None:
        now = self.now_s()
        t = now - self.config.epoch
        for forger in self.forgers:
            f = forger.forged
            if not f.start <= t <= f.start + f.duration:
                continue
            if f.message == "spat":
                msg: Any = forged_spat(f, now)
            elif f.message == "bsm" and self._victim is not None:
                x, y, yaw = self._victim
                back = self.config.behind
                lat, lon, _ = self.frame_map.to_geodetic(
                    x - back * math.cos(yaw), y - back * math.sin(yaw), 0.0
                )
                msg = forged_bsm(f, lat, lon, yaw)
            else:
                continue
            if self.link.send(forger.frame(msg, now)):
                self.sent += 1

    def destroy_node(self) -> None:
        self.link.sock.close()
        super().destroy_node()


NODE = V2xForger
main = make_main(NODE)
