"""v2x_rsu process: signed BSMs of a sweeper at work arrive over UDP -> the RSU's RSI carries a work zone;
when the BSMs clear the flag the zone is withdrawn. A forged at-work BSM never makes a zone."""

from __future__ import annotations

import math
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from obu_rig import diag_values
from roadedge_msgs.msg import Bsm, GeoPoint, Rsi
from test_v2x_nodes_dds import Procs, free_udp_ports

from roadedge.v2x import pki
from roadedge.v2x.pipeline import Ingest, Outgo
from roadedge.v2x.security import (
    DEFAULT_AIDS,
    Certificate,
    SecurityPolicy,
    Signer,
    TrustStore,
    Verifier,
    load_key,
)

pytestmark = pytest.mark.dds

REF = (31.2304, 121.4737)  # config/v2x/rsi_demo.yaml reference
M_PER_DEG = 111_320.0


@pytest.fixture
def procs(tmp_path: Path) -> Any:
    p = Procs(tmp_path)
    yield p
    p.stop()


def _sweeper_bsm(sender: str, east: float, at_work: bool) -> Bsm:
    msg = Bsm()
    msg.v2x.sender_id = sender
    msg.position = GeoPoint(
        latitude=REF[0] - 5.0 / M_PER_DEG,
        longitude=REF[1] + east / (M_PER_DEG * math.cos(math.radians(REF[0]))),
        elevation=4.0,
    )
    msg.speed, msg.heading, msg.length, msg.width = 1.0, 0.0, 5.6, 2.0
    msg.vehicle_class = 71
    msg.lights_in_use = 6 if at_work else 1  # slowMovingVehicle while sweeping with the beacon on
    return msg


def test_rsu_turns_a_sweeper_at_work_into_an_rsi_work_zone(ros: Any, procs: Procs, tmp_path: Path) -> None:
    pki_dir = tmp_path / "pki"
    pki.init_ca(pki_dir)
    pki.issue(pki_dir, "rsu", sorted(DEFAULT_AIDS.values()))
    pki.issue(pki_dir, "sweeper", [DEFAULT_AIDS["bsmFrame"]])
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "root.cert").write_bytes((pki_dir / "root.cert").read_bytes())
    radio_port, node_port, feed = free_udp_ports(3)
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "/**/v2x_rsu": {
                    "ros__parameters": {
                        "trust_dir": str(trust),
                        "security_policy": "enforce",
                        "verify": "on_demand",  # an at-work BSM is relevant: verified all the same
                        "bind_port": node_port,
                        "radio_port": radio_port,
                        "cert_file": str(pki_dir / "rsu.cert"),
                        "key_file": str(pki_dir / "rsu.key"),
                        "rsi_file": "v2x/rsi_demo.yaml",  # standing event rte_id 1
                        "rsi_rate": 1.0,
                        "map_rate": 0.0,
                        "spat_rate": 0.0,
                        "signal_feed_port": feed,
                        "work_zone": True,
                        "work_zone_length_ahead": 25.0,
                        "work_zone_speed": 1.2,
                        "work_zone_timeout": 1.5,
                    }
                }
            }
        )
    )
    radio = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    radio.bind(("127.0.0.1", radio_port))
    radio.settimeout(0.05)
    diags: list[DiagnosticArray] = ros.collect(DiagnosticArray, "/diagnostics")
    sweeper = Outgo(
        Signer(load_key(pki_dir / "sweeper.key"), Certificate.load(pki_dir / "sweeper.cert"), 0.0)
    )
    # what a vehicle's OBU makes of the RSU's frames
    obu = Ingest(Verifier(TrustStore([Certificate.load(pki_dir / "root.cert")]), SecurityPolicy()))
    procs.start("v2x_rsu", "--ros-args", "--params-file", str(params))
    state = {"east": 0.0, "at_work": True, "last_send": 0.0}
    rsis: list[Rsi] = []

    def pump() -> None:
        now = time.time()
        if now - state["last_send"] >= 0.1:  # the sweeper's BSM at 10 Hz, a forger's at-work BSM beside it
            state["last_send"] = now
            state["east"] += 0.1
            frame = sweeper(_sweeper_bsm("5eeb000000000001", state["east"], bool(state["at_work"])), now)
            forged = sweeper(_sweeper_bsm("f0f0000000000002", 30.0, True), now)
            assert frame is not None and forged is not None
            radio.sendto(frame, ("127.0.0.1", node_port))
            radio.sendto(forged[:-1] + bytes([forged[-1] ^ 1]), ("127.0.0.1", node_port))
        try:
            got = obu(radio.recv(65535))
        except TimeoutError:
            return
        if got is not None and got.kind == "rsiFrame":
            rsis.append(got.msg)

    def zone_in(rsi: Rsi) -> bool:
        return any(e.rte_id == 200 for e in rsi.events)

    def until(predicate: Any, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}\n{procs.logs()}")
            pump()
            ros.executor.spin_once(timeout_sec=0.0)

    try:
        until(lambda: any(zone_in(r) for r in rsis), 40.0, "an RSI with the work zone")
        rsi = next(r for r in rsis if zone_in(r))
        assert rsi.v2x.security_verdict == 1 and rsi.v2x.sender_id == "0000000000000065"
        assert sorted(e.rte_id for e in rsi.events) == [1, 200]  # standing event + the zone, no forged one
        zone = next(e for e in rsi.events if e.rte_id == 200)
        assert zone.event_type == 401 and "limit 1.2 m/s" in zone.description
        assert zone.position.y == pytest.approx(-5.0, abs=0.3) and 0.0 < zone.position.x < state["east"] + 0.3
        pts = zone.reference_paths[0].points
        assert pts[-1].x - zone.position.x == pytest.approx(25.0, abs=0.3)  # ahead along its heading (east)
        # refreshed while the flag stays: the zone follows the vehicle
        x0 = zone.position.x
        until(
            lambda: (
                zone_in(rsis[-1])
                and next(e for e in rsis[-1].events if e.rte_id == 200).position.x > x0 + 0.2
            ),
            10.0,
            "a refreshed work zone",
        )
        # the flag clears: the next RSI has the standing event only
        state["at_work"] = False
        n = len(rsis)
        until(lambda: len(rsis) > n and not zone_in(rsis[-1]), 10.0, "the work zone withdrawn")
        assert [e.rte_id for e in rsis[-1].events] == [1]
        until(lambda: int(diag_values(diags, "v2x_rsu").get("withdrawn", 0)) >= 1, 10.0, "diagnostics")
        values = diag_values(diags, "v2x_rsu")
        assert int(values["started"]) == 1 and int(values.get("dropped_bad_signature", 0)) >= 1, values
    finally:
        radio.close()
