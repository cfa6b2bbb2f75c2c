"""Multi-process: RSU node -> radio emulator -> OBU node, signed MAP + SPAT as typed topics over DDS;
a forged and a replayed frame injected on the radio are rejected and counted."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from obu_rig import diag_values
from roadedge_msgs.msg import MapData, Spat, SpatPhaseState, V2xHeader

from roadedge.v2x import codec, pki, si
from roadedge.v2x.security import DEFAULT_AIDS, SecurityError, SecurityPolicy, Verifier

pytestmark = pytest.mark.dds

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv"))
BIN = VENV / "lib" / "roadedge"
REF = (31.2304, 121.4737, 4.0)


def free_udp_ports(n: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in socks]
    for s in socks:
        s.close()
    return ports


class Procs:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, exe: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.folder / f"{exe}-{len(self.procs)}.log"
        proc = subprocess.Popen([str(BIN / exe), *args], stdout=log.open("w"), stderr=subprocess.STDOUT)
        self.procs.append((proc, log))
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for _, log in self.procs)

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc, _ in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path)
    yield p
    p.stop()


def test_rsu_map_spat_reach_obu_forged_and_replayed_rejected(ros: Any, procs: Procs, tmp_path: Path) -> None:
    # test PKI: one root, an RSU and an OBU certificate; both nodes trust the root
    pki_dir = tmp_path / "pki"
    pki.init_ca(pki_dir)
    rsu_cert = pki.issue(pki_dir, "rsu", sorted(DEFAULT_AIDS.values()))
    pki.issue(pki_dir, "obu", [DEFAULT_AIDS["bsmFrame"]])
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "root.cert").write_bytes((pki_dir / "root.cert").read_bytes())

    rsu_radio, rsu_node, obu_radio, obu_node, atk_radio, atk_node, feed = free_udp_ports(7)
    emu_cfg = tmp_path / "radio.yaml"
    emu_cfg.write_text(
        yaml.safe_dump(
            {
                "channel": {"latency_ms": 2.0, "range_m": 300.0},
                "stations": [
                    {
                        "name": "rsu",
                        "radio_port": rsu_radio,
                        "node_port": rsu_node,
                        "latitude": REF[0],
                        "longitude": REF[1],
                    },
                    {"name": "obu", "radio_port": obu_radio, "node_port": obu_node},
                    {"name": "attacker", "radio_port": atk_radio, "node_port": atk_node},
                ],
            }
        )
    )
    sig_cfg = tmp_path / "signal.yaml"
    plan = {"node_id": 101, "phases": [{"phase_id": 1, "green": 15.0}, {"phase_id": 2, "green": 15.0}]}
    sig_cfg.write_text(yaml.safe_dump({"rsu_port": feed, "rate_hz": 10.0, "plan": plan}))
    common = {"trust_dir": str(trust), "security_policy": "enforce"}
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "/**/v2x_rsu": {
                    "ros__parameters": {
                        **common,
                        "bind_port": rsu_node,
                        "radio_port": rsu_radio,
                        "cert_file": str(pki_dir / "rsu.cert"),
                        "key_file": str(pki_dir / "rsu.key"),
                        "cert_interval": 0.0,
                        "map_file": "v2x/maps/demo_intersection.yaml",
                        "map_rate": 2.0,
                        "spat_rate": 10.0,
                        "signal_feed_port": feed,
                    }
                },
                "/**/v2x_obu": {
                    "ros__parameters": {
                        **common,
                        "bind_port": obu_node,
                        "radio_port": obu_radio,
                        "cert_file": str(pki_dir / "obu.cert"),
                        "key_file": str(pki_dir / "obu.key"),
                        "bsm_rate": 0.0,
                    }
                },
            }
        )
    )

    # the attacker's radio: hears everything (to replay it) and can transmit
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attacker.bind(("127.0.0.1", atk_node))
    attacker.settimeout(0.05)

    maps: list[MapData] = ros.collect(MapData, "v2x/rx/map")
    spats: list[Spat] = ros.collect(Spat, "v2x/rx/spat")
    diags: list[DiagnosticArray] = ros.collect(DiagnosticArray, "/diagnostics")

    procs.start("radio_emulator", "--ros-args", "-p", f"config_file:={emu_cfg}")
    procs.start("signal_controller", "--ros-args", "-p", f"config_file:={sig_cfg}")
    procs.start("v2x_rsu", "--ros-args", "--params-file", str(params))
    procs.start("v2x_obu", "--ros-args", "--params-file", str(params))
    try:
        ros.spin_until(
            lambda: len(maps) >= 1 and len(spats) >= 3, timeout=40.0, what="MAP and SPAT at the OBU"
        )
    except AssertionError:
        attacker.close()
        raise AssertionError(procs.logs()) from None

    # ---- MAP in SI / ENU
    m = maps[-1]
    assert m.v2x.security_verdict == V2xHeader.VERDICT_VERIFIED
    assert m.v2x.signer_digest == rsu_cert.digest.hex()
    node = m.nodes[0]
    assert node.node_id == 101 and node.name == "demo_intersection"
    assert node.reference_position.latitude == pytest.approx(REF[0], abs=1e-7)
    assert node.reference_position.longitude == pytest.approx(REF[1], abs=1e-7)
    assert node.reference_position.elevation == pytest.approx(REF[2], abs=0.05)
    east = next(link for link in node.in_links if link.name == "eastbound")
    assert east.upstream_node_id == 1014 and east.width == pytest.approx(7.0)
    assert east.speed_limit == pytest.approx(13.89, abs=0.01)
    lane1 = next(lane for lane in east.lanes if lane.lane_id == 1)
    assert lane1.points[-1].x == pytest.approx(-12.0, abs=0.02)
    assert lane1.points[-1].y == pytest.approx(-1.75, abs=0.02)
    assert lane1.maneuvers == 0b011  # straight + left
    assert {c.phase_id for c in lane1.connects_to} == {1}

    # ---- SPAT in SI: states and timings of the fixed-time plan (cycle 40 s)
    s = spats[-1]
    assert s.v2x.security_verdict == V2xHeader.VERDICT_VERIFIED
    inter = s.intersections[0]
    assert inter.node_id == 101 and {p.phase_id for p in inter.phases} == {1, 2}
    stamp = si.from_time_msg(inter.time_stamp)
    assert stamp is not None and abs(stamp - time.time()) < 5.0
    tc = stamp % 40.0
    p1 = next(p for p in inter.phases if p.phase_id == 1).states[0]
    greens = (SpatPhaseState.LIGHT_PROTECTED_GREEN,)
    if tc < 14.9:
        assert p1.light in greens and p1.likely_end_time == pytest.approx(15.0 - tc, abs=0.15)
    elif 15.1 < tc < 17.9:
        assert p1.light == SpatPhaseState.LIGHT_YELLOW
    elif 20.1 < tc < 39.9:
        assert p1.light == SpatPhaseState.LIGHT_RED and p1.likely_end_time == pytest.approx(
            40.0 - tc, abs=0.15
        )
    assert all(math.isfinite(p.states[0].likely_end_time) for p in inter.phases)

    # ---- attacker: forge a captured SPAT (payload byte flipped), replay a captured one unchanged
    peek = Verifier(None, SecurityPolicy(mode="disabled"))
    attacker.setblocking(False)
    while True:  # drop what queued up while waiting: replay fresh frames only
        try:
            attacker.recv(65535)
        except BlockingIOError:
            break
    attacker.settimeout(0.05)
    forged = replayed = None
    deadline = time.monotonic() + 10.0
    while (forged is None or replayed is None) and time.monotonic() < deadline:
        try:
            frame = attacker.recv(65535)
        except TimeoutError:
            continue
        try:  # the air carries V2X frames only, but a loopback port may get a stray datagram
            payload = peek.unwrap(frame).payload
            kind, _ = codec.decode_frame(payload)
        except (SecurityError, codec.CodecError):
            continue
        if kind != "spatFrame":
            continue
        if forged is None:
            data = bytearray(frame)
            data[frame.index(payload) + len(payload) // 2] ^= 0x10  # inside the signed payload
            forged = bytes(data)
            attacker.sendto(forged, ("127.0.0.1", atk_radio))
        else:
            replayed = frame
            attacker.sendto(replayed, ("127.0.0.1", atk_radio))
    attacker.close()
    assert forged is not None and replayed is not None

    def counted() -> bool:
        values = diag_values(diags, "v2x_obu")
        return int(values.get("dropped_replay", 0)) >= 1 and int(values.get("dropped_bad_signature", 0)) >= 1

    try:
        ros.spin_until(counted, timeout=15.0, what="forged and replayed frames counted by v2x_obu")
    except AssertionError:
        raise AssertionError(f"{diag_values(diags, 'v2x_obu')}\n{procs.logs()}") from None
    values = diag_values(diags, "v2x_obu")
    assert int(values.get("dropped_bad_signature", 0)) >= 1, values
    assert int(values["security_rejections"]) >= 2
    # genuine traffic still flows after the attack
    n = len(spats)
    ros.spin_until(lambda: len(spats) > n + 2, timeout=10.0, what="SPAT after the attack")
