"""UDP radio link and the radio emulator on loopback: broadcast, range, loss, bad input."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from roadedge_hil.radio_emulator import Channel, RadioEmulator, Station, distance_m
from roadedge_msgs.msg import Bsm, GeoPoint

from roadedge.v2x import codec, security
from roadedge.v2x.pipeline import Ingest, Outgo
from roadedge.v2x.security import SecurityPolicy, Verifier
from roadedge.v2x.transport import RadioLink

RSU_POS = (31.2304, 121.4737)


def wait_for(pred: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return pred()


class Rig:
    def __init__(self, channel: Channel) -> None:
        self.links = {name: RadioLink("127.0.0.1", 0, "127.0.0.1", 0) for name in ("rsu", "near", "far")}
        stations = [
            Station("rsu", 0, self.links["rsu"].local_address[1], latitude=RSU_POS[0], longitude=RSU_POS[1]),
            Station("near", 0, self.links["near"].local_address[1]),
            Station("far", 0, self.links["far"].local_address[1]),
        ]
        self.emulator = RadioEmulator(stations, channel)
        for st in stations:
            self.links[st.name].radio = ("127.0.0.1", st.radio_port)
        self.got: dict[str, list[bytes]] = {name: [] for name in self.links}
        for name, link in self.links.items():
            link.start(self.got[name].append)
        self.emulator.start()

    def close(self) -> None:
        self.emulator.close()
        for link in self.links.values():
            link.close()


@pytest.fixture
def rig_factory() -> Iterator[Callable[[Channel], Rig]]:
    rigs: list[Rig] = []

    def make(channel: Channel) -> Rig:
        rigs.append(Rig(channel))
        return rigs[-1]

    yield make
    for r in rigs:
        r.close()


def bsm_frame(lat: float, lon: float) -> bytes:
    msg = Bsm()
    msg.position = GeoPoint(latitude=lat, longitude=lon, elevation=5.0)
    msg.speed = msg.heading = 1.0
    msg.length, msg.width = 5.0, 2.0
    frame = Outgo(None)(msg)
    assert frame is not None
    return frame


def test_broadcast_reaches_every_other_station(rig_factory: Callable[[Channel], Rig]) -> None:
    rig = rig_factory(Channel(latency_ms=1.0))
    rig.links["rsu"].send(b"hello-from-rsu")
    assert wait_for(lambda: rig.got["near"] == [b"hello-from-rsu"] and rig.got["far"] == [b"hello-from-rsu"])
    assert rig.got["rsu"] == []
    assert rig.emulator.stats.delivered == 2


def test_range_uses_positions_learned_from_bsm(rig_factory: Callable[[Channel], Rig]) -> None:
    rig = rig_factory(Channel(latency_ms=0.0, range_m=300.0))
    rig.links["near"].send(bsm_frame(RSU_POS[0] + 0.001, RSU_POS[1]))  # ~111 m north of the RSU
    rig.links["far"].send(bsm_frame(RSU_POS[0] + 0.01, RSU_POS[1]))  # ~1.1 km north
    assert wait_for(lambda: rig.emulator.stats.received == 2 and len(rig.got["rsu"]) == 1)
    rig.links["rsu"].send(b"map")
    assert wait_for(lambda: rig.got["near"][-1:] == [b"map"])
    assert wait_for(lambda: rig.emulator.stats.received == 3)
    # "map" was scheduled for every station in range in one step, and "near" has it: "far" never will
    assert b"map" not in rig.got["far"]
    assert rig.emulator.stats.out_of_range >= 2
    assert distance_m(RSU_POS, (RSU_POS[0] + 0.01, RSU_POS[1])) == pytest.approx(1112, abs=2)


def test_loss_drops_deliveries(rig_factory: Callable[[Channel], Rig]) -> None:
    rig = rig_factory(Channel(latency_ms=0.0, loss=0.5, seed=3))
    for i in range(100):
        rig.links["rsu"].send(f"f{i}".encode())
    stats = rig.emulator.stats
    assert wait_for(lambda: stats.received == 100 and stats.delivered + stats.lost == 200)
    assert 50 < stats.lost < 150
    assert wait_for(lambda: len(rig.got["near"]) + len(rig.got["far"]) == stats.delivered)


def test_emulator_refuses_non_loopback() -> None:
    with pytest.raises(ValueError):
        RadioEmulator([], Channel(), bind_host="0.0.0.0")


def test_signed_frames_through_the_emulator(
    rig_factory: Callable[[Channel], Rig], tmp_path_factory: pytest.TempPathFactory
) -> None:
    from roadedge.v2x import pki

    folder = tmp_path_factory.mktemp("pki")
    pki.init_ca(folder)
    pki.issue(folder, "obu", [security.DEFAULT_AIDS["bsmFrame"]])
    signer = security.Signer(
        security.load_key(folder / "obu.key"), security.Certificate.load(folder / "obu.cert"), 0.0
    )
    rig = rig_factory(Channel(latency_ms=1.0))
    msg = Bsm()
    msg.v2x.sender_id = "0102030405060708"
    msg.position = GeoPoint(latitude=RSU_POS[0], longitude=RSU_POS[1], elevation=4.0)
    msg.speed, msg.heading, msg.length, msg.width = 2.5, 0.0, 6.0, 2.0
    frame = Outgo(signer)(msg)
    assert frame is not None
    rig.links["near"].send(frame)
    rig.links["near"].send(b"\x00garbage")
    assert wait_for(lambda: len(rig.got["rsu"]) == 2)
    ingest = Ingest(
        Verifier(security.TrustStore([security.Certificate.load(folder / "root.cert")]), SecurityPolicy())
    )
    out = [ingest(f) for f in rig.got["rsu"]]
    assert out[1] is None and ingest.counter.counts == {"malformed_envelope": 1}
    assert out[0] is not None and out[0].kind == "bsmFrame"
    assert out[0].msg.speed == pytest.approx(2.5) and out[0].msg.v2x.sender_id == "0102030405060708"
    assert out[0].verdict == security.Verdict.VERIFIED
    assert codec.decode_frame(security.Verifier(None, SecurityPolicy(mode="disabled")).unwrap(frame).payload)


def test_link_hands_frames_in_bursts_bounded_by_burst_max() -> None:
    """Frames waiting in the socket are drained burst by burst, at most burst_max frames each, in order:
    a node ingests a burst staged and publishes its BSMs as one BsmArray."""
    link = RadioLink("127.0.0.1", 0, "127.0.0.1", 9)
    sender = RadioLink("127.0.0.1", 0, "127.0.0.1", link.local_address[1])
    bursts: list[list[bytes]] = []
    try:
        for i in range(25):  # all waiting before the receive thread starts: one wake-up drains them
            assert sender.send(bytes([i]))
        link.start_bursts(bursts.append, burst_max=10)
        assert wait_for(lambda: sum(len(b) for b in bursts) >= 25)
        assert [f[0] for b in bursts for f in b] == list(range(25))
        assert all(1 <= len(b) <= 10 for b in bursts) and len(bursts) >= 3
    finally:
        link.close()
        sender.close()
