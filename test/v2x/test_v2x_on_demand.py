"""Verify on demand: relevance test, and the receive pipeline verifying only relevant frames."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from roadedge_msgs.msg import Bsm, GeoPoint, V2xHeader

from roadedge.v2x import codec, pki, si
from roadedge.v2x.pipeline import Ingest, Outgo
from roadedge.v2x.relevance import Relevance, RelevancePolicy
from roadedge.v2x.security import (
    DEFAULT_AIDS,
    Certificate,
    SecurityPolicy,
    Signer,
    TrustStore,
    Verdict,
    Verifier,
    load_key,
    wrap_unsigned,
)

NOW = time.time()
OWN = (31.2304, 121.4737)
M_PER_DEG_LAT = 111_320.0


def _bsm(north_m: float = 0.0, east_m: float = 0.0, flags: int = 0, emergency: bool = False) -> Bsm:
    msg = Bsm()
    msg.v2x.sender_id = "0102030405060708"
    msg.position = GeoPoint(
        latitude=OWN[0] + north_m / M_PER_DEG_LAT,
        longitude=OWN[1] + east_m / (M_PER_DEG_LAT * math.cos(math.radians(OWN[0]))),
        elevation=4.0,
    )
    msg.speed, msg.heading, msg.length, msg.width = 5.0, 0.0, 4.5, 1.8
    msg.event_flags = flags
    if emergency:
        msg.emergency_vehicle, msg.siren_in_use = True, 2
    return msg


def _value(msg: Bsm) -> dict[str, object]:
    kind, value = codec.decode_frame(codec.encode_frame(*si.to_asn(msg, NOW)))
    assert kind == "bsmFrame"
    return value


# ----------------------------------------------------------------------------- relevance
def test_relevance_by_distance_kind_and_events() -> None:
    rel = Relevance(RelevancePolicy(radius_m=150.0))
    far = _value(_bsm(north_m=400.0))
    assert rel("bsmFrame", far)  # own position unknown: everything is verified
    rel.set_own_position(*OWN)
    assert rel.own_position == pytest.approx(OWN)
    assert rel("bsmFrame", _value(_bsm(north_m=140.0)))
    assert rel("bsmFrame", _value(_bsm(east_m=-140.0)))
    assert not rel("bsmFrame", _value(_bsm(north_m=160.0)))
    assert not rel("bsmFrame", _value(_bsm(east_m=120.0, north_m=100.0)))  # 156 m
    assert not rel("bsmFrame", far)
    assert rel("bsmFrame", _value(_bsm(north_m=400.0, flags=Bsm.EVENT_HARD_BRAKING)))
    assert rel("bsmFrame", _value(_bsm(north_m=400.0, emergency=True)))
    unavailable = _bsm(north_m=400.0)
    unavailable.position.latitude = math.nan
    assert rel("bsmFrame", _value(unavailable))
    for kind in ("mapFrame", "spatFrame", "rsiFrame", "rsmFrame"):
        assert rel(kind, {})
    rel.set_own_position(math.nan, OWN[1])  # position lost: back to verifying everything
    assert rel.own_position is None and rel("bsmFrame", far)


def test_relevance_without_event_rule_and_across_the_date_line() -> None:
    rel = Relevance(RelevancePolicy(radius_m=100.0, events=False))
    rel.set_own_position(0.0, 179.9999)
    near = {"pos": {"lat": 0, "long": -1_799_999_000}}  # 0.0001 + 0.0001 deg across +-180: ~22 m
    assert rel("bsmFrame", near)
    assert not rel("bsmFrame", {"pos": {"lat": 0, "long": 1_790_000_000}})
    far_braking = _value(_bsm(north_m=400.0, flags=Bsm.EVENT_HARD_BRAKING))
    rel.set_own_position(*OWN)
    assert not rel("bsmFrame", far_braking)
    with pytest.raises(ValueError):
        RelevancePolicy(radius_m=math.nan)


# ----------------------------------------------------------------------------- pipeline
@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    pki.init_ca(folder)
    pki.issue(folder, "obu", [DEFAULT_AIDS["bsmFrame"]])
    pki.issue(folder, "rsu", list(DEFAULT_AIDS.values()))
    return folder


def _signer(folder: Path, name: str, interval: float = 0.0) -> Signer:
    return Signer(load_key(folder / f"{name}.key"), Certificate.load(folder / f"{name}.cert"), interval)


def _ingest(folder: Path, on_demand: bool = True, radius: float = 150.0) -> Ingest:
    verifier = Verifier(TrustStore([Certificate.load(folder / "root.cert")]), SecurityPolicy())
    if not on_demand:
        return Ingest(verifier)
    rel = Relevance(RelevancePolicy(radius_m=radius))
    rel.set_own_position(*OWN)
    return Ingest(verifier, relevance=rel)


def _forge(frame: bytes) -> bytes:
    return frame[:-1] + bytes([frame[-1] ^ 0x01])  # last byte of the signature


def test_only_relevant_frames_are_verified(pki_dir: Path) -> None:
    ingest = _ingest(pki_dir)
    out = Outgo(_signer(pki_dir, "obu"))
    near, far = out(_bsm(north_m=50.0), NOW), out(_bsm(north_m=500.0), NOW + 0.01)
    assert near is not None and far is not None
    got_near = ingest(near, NOW + 0.02)
    got_far = ingest(far, NOW + 0.02)
    assert got_near is not None and got_near.verdict == Verdict.VERIFIED
    assert got_near.msg.v2x.security_verdict == V2xHeader.VERDICT_VERIFIED
    assert got_far is not None and got_far.verdict == Verdict.UNVERIFIED == 3
    assert got_far.msg.v2x.security_verdict == 3 and got_far.msg.v2x.signer_digest == got_near.signer_digest
    assert got_far.msg.speed == pytest.approx(5.0)
    assert ingest.stats.unverified == 1 and ingest.stats.accepted == {"bsmFrame": 2}
    # a forged signature: rejected when relevant, published marked unverified when not
    forged_near, forged_far = out(_bsm(north_m=60.0), NOW), out(_bsm(north_m=600.0), NOW)
    assert forged_near is not None and forged_far is not None
    assert ingest(_forge(forged_near), NOW + 0.02) is None
    assert ingest.counter.counts == {"bad_signature": 1}
    marked = ingest(_forge(forged_far), NOW + 0.02)
    assert marked is not None and marked.verdict == Verdict.UNVERIFIED
    # verify all: the same far frame is verified (and the forged one rejected)
    every = _ingest(pki_dir, on_demand=False)
    checked = every(far, NOW + 0.02)
    assert checked is not None and checked.verdict == Verdict.VERIFIED
    assert every(_forge(forged_far), NOW + 0.02) is None and every.counter.counts == {"bad_signature": 1}


def test_cheap_checks_apply_to_every_frame(pki_dir: Path) -> None:
    ingest = _ingest(pki_dir)
    signer = _signer(pki_dir, "obu")
    far = codec.encode_frame(*si.to_asn(_bsm(north_m=500.0), NOW))
    assert ingest(wrap_unsigned(far), NOW) is None  # enforce: unsigned is rejected, relevant or not
    assert ingest(signer.sign(far, DEFAULT_AIDS["bsmFrame"], NOW - 5.0), NOW) is None
    assert ingest(signer.sign(far, DEFAULT_AIDS["bsmFrame"], NOW + 5.0), NOW) is None
    # a BSM under the MAP AID (the RSU may sign both): the AID must be the one of the message type
    assert ingest(_signer(pki_dir, "rsu").sign(far, DEFAULT_AIDS["mapFrame"], NOW), NOW) is None
    assert ingest.counter.counts == {"unsigned": 1, "too_old": 1, "future": 1, "wrong_aid": 1}
    near = signer.sign(codec.encode_frame(*si.to_asn(_bsm(north_m=5.0), NOW)), DEFAULT_AIDS["bsmFrame"], NOW)
    assert ingest(near, NOW) is not None
    assert ingest(near, NOW + 0.1) is None and ingest.counter.counts["replay"] == 1


def test_a_copy_of_an_unverified_frame_is_a_replay_when_it_becomes_relevant(pki_dir: Path) -> None:
    ingest = _ingest(pki_dir)
    frame = Outgo(_signer(pki_dir, "obu"))(_bsm(north_m=500.0), NOW)
    assert frame is not None
    first = ingest(frame, NOW + 0.01)
    assert first is not None and first.verdict == Verdict.UNVERIFIED
    assert ingest.relevance is not None
    ingest.relevance.set_own_position(OWN[0] + 480.0 / M_PER_DEG_LAT, OWN[1])  # the vehicle drove north
    assert ingest(frame, NOW + 0.5) is None and ingest.counter.counts == {"replay": 1}


def test_infrastructure_messages_are_always_verified(pki_dir: Path) -> None:
    ingest = _ingest(pki_dir, radius=0.0)
    signer = _signer(pki_dir, "rsu")
    frame = signer.sign(codec.encode_frame(*_map_value()), DEFAULT_AIDS["mapFrame"], NOW)
    got = ingest(frame, NOW)
    assert got is not None and got.kind == "mapFrame" and got.verdict == Verdict.VERIFIED
    forged = _forge(signer.sign(codec.encode_frame(*_map_value()), DEFAULT_AIDS["mapFrame"], NOW))
    assert ingest(forged, NOW) is None and ingest.counter.counts == {"bad_signature": 1}


def _map_value() -> tuple[str, dict[str, object]]:
    from roadedge.config import load_yaml
    from roadedge.v2x.site import map_from_yaml
    from roadedge.v2x.station import config_path

    return si.to_asn(map_from_yaml(load_yaml(config_path("v2x/maps/demo_intersection.yaml"))), NOW)


def test_certificate_seen_only_in_an_unverified_frame_is_verified_when_needed(pki_dir: Path) -> None:
    """The full certificate came in a far (unverified) frame; a later near frame names it by digest."""
    ingest = _ingest(pki_dir)
    signer = _signer(pki_dir, "obu", interval=10.0)  # full certificate in the first frame only
    aid = DEFAULT_AIDS["bsmFrame"]
    first = signer.sign(codec.encode_frame(*si.to_asn(_bsm(north_m=800.0), NOW)), aid, NOW)
    second = signer.sign(codec.encode_frame(*si.to_asn(_bsm(north_m=20.0), NOW)), aid, NOW + 0.1)
    assert len(first) > len(second) + 40  # certificate vs digest
    got = ingest(first, NOW + 0.1)
    assert got is not None and got.verdict == Verdict.UNVERIFIED
    assert ingest.verifier.trust is not None and not ingest.verifier.trust._known  # not verified yet
    got = ingest(second, NOW + 0.15)
    assert got is not None and got.verdict == Verdict.VERIFIED
    # a digest nobody has shown a certificate for: unverified when far, rejected when relevant
    other = _ingest(pki_dir)
    assert other(second, NOW + 0.15) is None and other.counter.counts == {"unknown_signer": 1}


@pytest.mark.parametrize("on_demand", [True, False])
def test_a_burst_gives_what_frame_by_frame_gives(pki_dir: Path, on_demand: bool) -> None:
    """Ingest.burst (staged: envelopes, decodes, signatures, conversions) accepts, marks, rejects and
    counts like one frame at a time; a frame repeated within the burst is a replay."""
    out = Outgo(_signer(pki_dir, "obu"))
    signer = _signer(pki_dir, "obu")
    good = [out(_bsm(north_m=d), NOW + i * 0.01) for i, d in enumerate((20.0, 500.0, 90.0, 900.0, 10.0))]
    assert all(f is not None for f in good)
    frames: list[bytes] = [f for f in good if f is not None]
    frames[1:1] = [
        _forge(frames[0]),
        b"",
        b"\x03\x81garbage",
        bytes(9000),
    ]  # forged near, malformed, oversized
    frames.append(_forge(frames[6]))  # forged far: marked unverified on demand
    frames.append(wrap_unsigned(codec.encode_frame(*si.to_asn(_bsm(), NOW))))  # unsigned under enforce
    bad_payload = signer.sign(b"\x00\x01", DEFAULT_AIDS["bsmFrame"], NOW)  # decodes to nothing valid
    frames.append(bad_payload)
    one = _ingest(pki_dir, on_demand)
    expected = [one(f, NOW + 0.1) for f in frames]
    burst = _ingest(pki_dir, on_demand)
    received, logs = burst.burst(frames, NOW + 0.1)
    assert [(r.kind, r.verdict, r.signer_digest, r.msg.speed, r.msg.position.latitude) for r in received] == [
        (r.kind, r.verdict, r.signer_digest, r.msg.speed, r.msg.position.latitude) for r in expected if r
    ]
    assert burst.counter.counts == one.counter.counts and burst.counter.counts["bad_signature"] >= 1
    assert burst.stats == one.stats and logs
    # the same frame twice in one burst: the second copy is a replay, as frame by frame
    again = _ingest(pki_dir, on_demand)
    got, _ = again.burst([frames[0], frames[6], frames[0], frames[6]], NOW + 0.1)
    assert len(got) == 2 and again.counter.counts == {"replay": 2}
