"""Signed envelope: every rejection kind is detected and counted; policies; the PKI command."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roadedge.diagnostics import EventCounter
from roadedge.v2x import pki, security
from roadedge.v2x.security import (
    DEFAULT_AIDS,
    Certificate,
    SecurityError,
    SecurityPolicy,
    Signer,
    TrustStore,
    Verdict,
    Verifier,
)

NOW = time.time()
BSM_AID = DEFAULT_AIDS["bsmFrame"]
MAP_AID = DEFAULT_AIDS["mapFrame"]


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki")
    assert pki.pki_main(["init", "--dir", str(folder)]) == 0
    assert pki.pki_main(["issue", "--dir", str(folder), "--name", "obu1", "--aid", str(BSM_AID)]) == 0
    assert pki.pki_main(["issue", "--dir", str(folder), "--name", "rsu1"]) == 0
    pki.issue(folder, "old", [BSM_AID], days=-1.0, now=NOW, valid_from=NOW - 10 * pki.DAY)
    other = folder / "other"
    pki.init_ca(other, "root")
    pki.issue(other, "stranger", [BSM_AID], ca="root")
    return folder


def _signer(folder: Path, name: str, interval: float = 0.0) -> Signer:
    return Signer(
        security.load_key(folder / f"{name}.key"), Certificate.load(folder / f"{name}.cert"), interval
    )


def _verifier(folder: Path, mode: str = "enforce") -> Verifier:
    trust = TrustStore([Certificate.load(folder / "root.cert")])
    return Verifier(trust, SecurityPolicy(mode=mode), EventCounter())


def _rejected(verifier: Verifier, frame: bytes, kind: str, now: float = NOW) -> None:
    before = verifier.counter.counts.get(kind, 0)
    with pytest.raises(SecurityError) as err:
        verifier.unwrap(frame, now)
    assert err.value.kind == kind, err.value
    assert verifier.counter.counts[kind] == before + 1


def test_signed_frame_verifies(pki_dir: Path) -> None:
    signer = _signer(pki_dir, "obu1")
    verifier = _verifier(pki_dir)
    frame = signer.sign(b"payload", BSM_AID, NOW)
    out = verifier.unwrap(frame, NOW + 0.05)
    assert out.payload == b"payload" and out.verdict == Verdict.VERIFIED
    assert out.aid == BSM_AID and out.generation_time == pytest.approx(NOW, abs=1e-6)
    assert out.signer_digest == signer.cert.digest.hex()
    assert verifier.counter.total() == 0


def test_digest_signer_after_certificate_seen(pki_dir: Path) -> None:
    signer = _signer(pki_dir, "obu1", interval=1.0)
    verifier = _verifier(pki_dir)
    first = signer.sign(b"a", BSM_AID, NOW)  # carries the certificate
    second = signer.sign(b"b", BSM_AID, NOW + 0.1)  # carries the digest only
    assert len(second) < len(first)
    fresh = _verifier(pki_dir)
    _rejected(fresh, second, "unknown_signer", NOW + 0.1)
    verifier.unwrap(first, NOW)
    assert verifier.unwrap(second, NOW + 0.1).payload == b"b"


def test_bad_signature(pki_dir: Path) -> None:
    verifier = _verifier(pki_dir)
    frame = bytearray(_signer(pki_dir, "obu1").sign(b"payload-xyz", BSM_AID, NOW))
    at = bytes(frame).index(b"payload-xyz")
    frame[at] ^= 0x01  # a forged payload under the original signature
    _rejected(verifier, bytes(frame), "bad_signature")
    frame2 = bytearray(_signer(pki_dir, "obu1").sign(b"payload-xyz", BSM_AID, NOW))
    frame2[-1] ^= 0x01  # a corrupted signature
    _rejected(verifier, bytes(frame2), "bad_signature")


def test_unknown_signer(pki_dir: Path) -> None:
    verifier = _verifier(pki_dir)
    frame = _signer(pki_dir / "other", "stranger").sign(b"x", BSM_AID, NOW)
    _rejected(verifier, frame, "unknown_signer")


def test_expired_certificate(pki_dir: Path) -> None:
    verifier = _verifier(pki_dir)
    frame = _signer(pki_dir, "old").sign(b"x", BSM_AID, NOW)
    _rejected(verifier, frame, "expired_cert")


def test_too_old_and_future(pki_dir: Path) -> None:
    verifier = _verifier(pki_dir)
    signer = _signer(pki_dir, "obu1")
    _rejected(verifier, signer.sign(b"x", BSM_AID, NOW - 10.0), "too_old")
    _rejected(verifier, signer.sign(b"y", BSM_AID, NOW + 5.0), "future")


def test_replay(pki_dir: Path) -> None:
    verifier = _verifier(pki_dir)
    frame = _signer(pki_dir, "obu1").sign(b"once", BSM_AID, NOW)
    verifier.unwrap(frame, NOW)
    _rejected(verifier, frame, "replay", NOW + 0.2)


def test_wrong_aid(pki_dir: Path) -> None:
    obu = _signer(pki_dir, "obu1")
    with pytest.raises(SecurityError, match="wrong_aid"):
        obu.sign(b"x", MAP_AID, NOW)  # the OBU certificate does not permit MAP
    verifier = _verifier(pki_dir)
    # an RSU certificate permits MAP, but a BSM payload under the MAP AID is refused
    out = verifier.unwrap(_signer(pki_dir, "rsu1").sign(b"bsm", MAP_AID, NOW), NOW)
    with pytest.raises(SecurityError, match="wrong_aid"):
        verifier.check_aid(out, "bsmFrame")
    assert verifier.counter.counts["wrong_aid"] == 1
    verifier.check_aid(out, "mapFrame")


def test_policies(pki_dir: Path) -> None:
    unsigned = security.wrap_unsigned(b"plain")
    _rejected(_verifier(pki_dir, "enforce"), unsigned, "unsigned")
    out = _verifier(pki_dir, "accept_unsigned").unwrap(unsigned, NOW)
    assert out.verdict == Verdict.UNSIGNED and out.payload == b"plain"
    signed = _signer(pki_dir, "obu1").sign(b"s", BSM_AID, NOW)
    assert _verifier(pki_dir, "accept_unsigned").unwrap(signed, NOW).verdict == Verdict.VERIFIED
    off = _verifier(pki_dir, "disabled")
    assert off.unwrap(signed, NOW).verdict == Verdict.NOT_CHECKED
    assert off.unwrap(unsigned, NOW).payload == b"plain"
    with pytest.raises(ValueError):
        SecurityPolicy(mode="lenient")


@pytest.mark.parametrize("frame", [b"", b"\x03", b"\xff" * 40, bytes(range(256))])
def test_malformed_envelope(pki_dir: Path, frame: bytes) -> None:
    _rejected(_verifier(pki_dir), frame, "malformed_envelope")


def test_trust_store_from_dir_and_anchor_rules(pki_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "root.cert").write_bytes((pki_dir / "root.cert").read_bytes())
    (tmp_path / "rsu1.cert").write_bytes((pki_dir / "rsu1.cert").read_bytes())
    store = TrustStore.from_dir(tmp_path)
    rsu = Certificate.load(pki_dir / "rsu1.cert")
    assert store.lookup(rsu.digest) is not None  # pre-known signer: digest-only frames verify at once
    with pytest.raises(SecurityError):
        TrustStore([rsu])  # an end-entity certificate cannot be an anchor


def test_pki_command(pki_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert pki.pki_main(["show", str(pki_dir / "rsu1.cert")]) == 0
    out = capsys.readouterr().out
    assert "id=rsu1" in out and str(MAP_AID) in out
    assert pki.pki_main(["issue", "--dir", str(pki_dir / "nowhere"), "--name", "x"]) == 1
    assert oct((pki_dir / "rsu1.key").stat().st_mode & 0o777) == "0o600"


def test_forged_copy_of_an_accepted_frame_is_a_bad_signature_not_a_replay(pki_dir: Path) -> None:
    verifier = _verifier(pki_dir)
    frame = _signer(pki_dir, "obu1").sign(b"genuine-payload", BSM_AID, NOW)
    verifier.unwrap(frame, NOW)
    forged = frame.replace(b"genuine-payload", b"genuine-PAYLOAD")
    _rejected(verifier, forged, "bad_signature")
    _rejected(verifier, frame, "replay")


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 2**32 - 1), st.booleans(), st.booleans())
def test_direct_envelope_parse_equals_generic_decoder(
    pki_dir: Path, payload: bytes, aid: int, with_cert: bool, unsigned: bool
) -> None:
    if unsigned:
        frame = security.wrap_unsigned(payload)
    else:
        key = security.load_key(pki_dir / "rsu1.key")
        root_key = security.load_key(pki_dir / "root.key")
        root = Certificate.load(pki_dir / "root.cert")
        cert = security.issue_certificate(key.public_key(), "any", NOW - 10, NOW + 10, [aid], root_key, root)
        signer = Signer(key, cert, 1e9)
        frame = signer.sign(payload, aid, NOW)  # carries the certificate
        if not with_cert:
            frame = signer.sign(payload, aid, NOW + 0.1)  # digest only
    parsed = security.parse_envelope(frame)
    assert parsed == security.parse_envelope_generic(frame)
    if not unsigned:
        assert isinstance(parsed, security.SignedParts)
        assert parsed.signer_kind == ("certificate" if with_cert else "digest")
