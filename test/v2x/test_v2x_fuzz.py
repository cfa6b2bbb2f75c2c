"""Fuzz: truncated, oversized, random and mutated frames never crash the receive pipeline; each
dropped frame is counted (hypothesis drives the generators of roadedge.v2x.fuzz)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roadedge.v2x import codec, fuzz, pki, security, si
from roadedge.v2x.asn1_random import ValueGenerator
from roadedge.v2x.pipeline import Ingest
from roadedge.v2x.relevance import Relevance, RelevancePolicy
from roadedge.v2x.security import DEFAULT_AIDS, Certificate, SecurityPolicy, TrustStore, Verifier

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ingest, list[bytes]]:
    folder: Path = tmp_path_factory.mktemp("pki")
    pki.init_ca(folder)
    pki.issue(folder, "rsu", sorted(DEFAULT_AIDS.values()))
    signer = security.Signer(
        security.load_key(folder / "rsu.key"), Certificate.load(folder / "rsu.cert"), 0.0
    )
    rng = random.Random(2)
    gen = ValueGenerator(rng, max_items=2)
    seeds = []
    for kind in codec.FRAME_KINDS:
        member = next(m for m in codec.parsed()["MessageFrame"]["members"] if m and m["name"] == kind)
        for _ in range(4):
            payload = codec.encode_frame(kind, gen.value(member["type"]))
            seeds.append(signer.sign(payload, DEFAULT_AIDS[kind], None))
            seeds.append(security.wrap_unsigned(payload))
    trust = TrustStore([Certificate.load(folder / "root.cert")])
    # accept_unsigned: mutated payloads in well-formed unsigned envelopes reach the decoder too
    return Ingest(Verifier(trust, SecurityPolicy(mode="accept_unsigned", max_age_s=1e9))), seeds


@pytest.fixture(scope="module")
def on_demand(world: tuple[Ingest, list[bytes]]) -> Ingest:
    """The same trust under verify on demand: most random BSM positions are far from the own one."""
    trust = world[0].verifier.trust
    relevance = Relevance(RelevancePolicy(radius_m=100.0))
    relevance.set_own_position(31.2304, 121.4737)
    return Ingest(Verifier(trust, SecurityPolicy(max_age_s=1e9)), relevance=relevance)


def _check(ingest: Ingest, frame: bytes) -> None:
    before_frames = ingest.stats.frames
    before = ingest.counter.total() + sum(ingest.stats.accepted.values())
    out = ingest(frame)  # must not raise
    assert ingest.stats.frames == before_frames + 1
    after = ingest.counter.total() + sum(ingest.stats.accepted.values())
    assert after == before + 1, "every frame is either accepted or counted as dropped"
    if out is not None:
        assert out.kind in codec.FRAME_KINDS


@SETTINGS
@given(st.randoms(use_true_random=False))
def test_mutated_frames_never_crash_and_are_counted(
    world: tuple[Ingest, list[bytes]], rng: random.Random
) -> None:
    ingest, seeds = world
    _name, frame = fuzz.bad_frame(rng, seeds)
    _check(ingest, frame)


@SETTINGS
@given(st.randoms(use_true_random=False))
def test_mutated_frames_never_crash_under_verify_on_demand(
    world: tuple[Ingest, list[bytes]], on_demand: Ingest, rng: random.Random
) -> None:
    _name, frame = fuzz.bad_frame(rng, world[1])
    _check(on_demand, frame)


@SETTINGS
@given(st.binary(max_size=600))
def test_random_bytes_never_crash(world: tuple[Ingest, list[bytes]], data: bytes) -> None:
    _check(world[0], data)


@SETTINGS
@given(st.binary(max_size=300))
def test_codec_raises_only_codec_error(data: bytes) -> None:
    try:
        kind, value = codec.decode_frame(data)
    except codec.CodecError:
        return
    si.from_asn(kind, value)  # whatever decodes also converts


def test_truncations_of_every_seed(world: tuple[Ingest, list[bytes]]) -> None:
    ingest, seeds = world
    dropped_before = ingest.counter.total()
    n = 0
    for frame in seeds[:10]:
        for cut in range(len(frame)):
            _check(ingest, frame[:cut])
            n += 1
    assert ingest.counter.total() - dropped_before == n  # no truncated frame is ever accepted


def test_oversized_counted(world: tuple[Ingest, list[bytes]]) -> None:
    ingest, _ = world
    before = ingest.counter.counts.get("oversized", 0)
    assert ingest(bytes(codec.MAX_FRAME_BYTES + 1)) is None
    assert ingest.counter.counts["oversized"] == before + 1
