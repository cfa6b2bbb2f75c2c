"""Signed envelope for V2X frames, modelled on IEEE 1609.2 / YD/T 3957 (ECDSA NIST P-256).

A frame on the radio link is a ``SecuredFrame`` (OER, ``asn1/security.asn``) carrying either
unsecured data or ``SignedData``: the application id (AID/PSID), the generation time
(Time64, microseconds since 2004-01-01 00:00 UTC), the payload (a UPER MessageFrame) and
the signer (the 8-byte digest of its certificate, or the full certificate about once a
second). The signature covers OER(ToBeSignedData) || SHA-256(signer certificate), so that
payload, generation time, AID and signer are all bound.

Certificates are explicit: a trust anchor (self-signed root that may issue) signs
end-entity certificates holding an id, a validity period, the AIDs they may sign and a
compressed P-256 public key. The trust store is a folder of ``*.cert`` files
(``config/v2x/trust/``); ``roadedge v2x-pki`` makes a test PKI.

Rejections are counted by kind: ``malformed_envelope``, ``unsigned``, ``unknown_signer``,
``bad_certificate``, ``expired_cert``, ``too_old``, ``future``, ``replay``,
``bad_signature``, ``wrong_aid``.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import asn1tools
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from roadedge.diagnostics import EventCounter

SECURITY_ASN = Path(__file__).parent / "asn1" / "security.asn"
PROTOCOL_VERSION = 3
CERT_VERSION = 3
#: 2004-01-01 00:00:00 UTC as a unix time: the epoch of 1609.2 Time32 / Time64.
EPOCH_2004 = 1072915200.0

#: AID (PSID) of each CSAE 53 message, as allocated for the Chinese C-V2X message set.
DEFAULT_AIDS: dict[str, int] = {
    "bsmFrame": 111,
    "mapFrame": 3618,
    "spatFrame": 3619,
    "rsiFrame": 3620,
    "rsmFrame": 3623,
}

POLICIES = ("enforce", "accept_unsigned", "disabled")

REJECTIONS = (
    "malformed_envelope",
    "unsigned",
    "unknown_signer",
    "bad_certificate",
    "expired_cert",
    "too_old",
    "future",
    "replay",
    "bad_signature",
    "wrong_aid",
)


class Verdict(IntEnum):
    """Same values as roadedge_msgs/V2xHeader VERDICT_*."""

    NOT_CHECKED = 0
    VERIFIED = 1
    UNSIGNED = 2
    #: signed, signature not checked: verify on demand found the message not relevant; consumers
    #: that act on V2X must not act on it.
    UNVERIFIED = 3


class SecurityError(Exception):
    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


@functools.lru_cache(maxsize=1)
def _spec() -> Any:
    return asn1tools.compile_files(str(SECURITY_ASN), "oer")


def to_time64(unix: float) -> int:
    return max(0, round((unix - EPOCH_2004) * 1e6))


def from_time64(value: int) -> float:
    return EPOCH_2004 + value / 1e6


def to_time32(unix: float) -> int:
    return max(0, min(0xFFFFFFFF, int(unix - EPOCH_2004)))


def from_time32(value: int) -> float:
    return EPOCH_2004 + float(value)


#: the one signature algorithm (immutable; built once: building it costs about a microsecond per frame)
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def _sig_fields(der: bytes) -> dict[str, bytes]:
    r, s = decode_dss_signature(der)
    return {"rSig": r.to_bytes(32, "big"), "sSig": s.to_bytes(32, "big")}


def _sig_der(fields: dict[str, bytes]) -> bytes:
    return encode_dss_signature(int.from_bytes(fields["rSig"], "big"), int.from_bytes(fields["sSig"], "big"))


def _compressed(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


# ----------------------------------------------------------------------- certificates
@dataclass(frozen=True)
class Certificate:
    encoded: bytes
    id: str
    issuer: bytes | None  # digest of the issuer, None = self-signed
    valid_from: float
    valid_until: float
    aids: tuple[int, ...]
    can_issue: bool
    verify_key: bytes
    tbs_encoded: bytes
    signature: dict[str, bytes] = field(repr=False)

    @functools.cached_property
    def digest(self) -> bytes:
        """HashedId8: the low-order 8 bytes of SHA-256 over the encoded certificate."""
        return self.hash[-8:]

    @functools.cached_property
    def digest_hex(self) -> str:
        return self.digest.hex()

    @functools.cached_property
    def hash(self) -> bytes:
        return hashlib.sha256(self.encoded).digest()

    @functools.cached_property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.verify_key)

    @classmethod
    def from_bytes(cls, data: bytes) -> Certificate:
        try:
            value = _spec().decode("Certificate", data)
        except Exception as exc:
            raise SecurityError("bad_certificate", f"cannot decode: {exc}") from exc
        return cls._from_value(value, bytes(data))

    @classmethod
    def _from_value(cls, value: dict[str, Any], encoded: bytes) -> Certificate:
        tbs = value["toBeSigned"]
        issuer_kind, issuer = tbs["issuer"]
        return cls(
            encoded=encoded,
            id=tbs["id"],
            issuer=None if issuer_kind == "self" else bytes(issuer),
            valid_from=from_time32(tbs["validityStart"]),
            valid_until=from_time32(tbs["validityEnd"]),
            aids=tuple(tbs["appPermissions"]),
            can_issue=bool(tbs["canIssue"]),
            verify_key=bytes(tbs["verifyKey"]),
            tbs_encoded=bytes(_spec().encode("ToBeSignedCertificate", tbs)),
            signature=value["signature"],
        )

    def signed_by(self, issuer_key: ec.EllipticCurvePublicKey) -> bool:
        try:
            issuer_key.verify(_sig_der(self.signature), self.tbs_encoded, _ECDSA_SHA256)
        except InvalidSignature:
            return False
        return True

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.encoded)

    @classmethod
    def load(cls, path: str | Path) -> Certificate:
        return cls.from_bytes(Path(path).read_bytes())


def issue_certificate(
    subject_key: ec.EllipticCurvePublicKey,
    cert_id: str,
    valid_from: float,
    valid_until: float,
    aids: list[int],
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: Certificate | None = None,
    can_issue: bool = False,
) -> Certificate:
    """A certificate for ``subject_key`` signed by ``issuer_key`` (self-signed if issuer is None)."""
    tbs: dict[str, Any] = {
        "version": CERT_VERSION,
        "issuer": ("self", None) if issuer is None else ("sha256AndDigest", issuer.digest),
        "id": cert_id,
        "validityStart": to_time32(valid_from),
        "validityEnd": to_time32(valid_until),
        "appPermissions": list(aids),
        "canIssue": can_issue,
        "verifyKey": _compressed(subject_key),
    }
    tbs_encoded = bytes(_spec().encode("ToBeSignedCertificate", tbs))
    signature = _sig_fields(issuer_key.sign(tbs_encoded, _ECDSA_SHA256))
    encoded = bytes(_spec().encode("Certificate", {"toBeSigned": tbs, "signature": signature}))
    return Certificate.from_bytes(encoded)


def generate_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def save_key(key: ec.EllipticCurvePrivateKey, path: str | Path) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    file = Path(path)
    file.write_bytes(pem)
    file.chmod(0o600)


def load_key(path: str | Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SecurityError("bad_certificate", f"{path}: not an EC private key")
    return key


# ----------------------------------------------------------------------- trust store
class TrustStore:
    """Trust anchors plus the certificates verified against them (cached by digest)."""

    def __init__(self, anchors: list[Certificate], max_known: int = 4096) -> None:
        self.anchors: dict[bytes, Certificate] = {}
        for cert in anchors:
            if cert.issuer is not None or not cert.can_issue or not cert.signed_by(cert.public_key):
                raise SecurityError("bad_certificate", f"{cert.id}: a trust anchor must be a self-signed CA")
            self.anchors[cert.digest] = cert
        self._known: OrderedDict[bytes, Certificate] = OrderedDict()
        self._max_known = max_known

    @classmethod
    def from_dir(cls, folder: str | Path, now: float | None = None) -> TrustStore:
        """Self-signed ``*.cert`` files are anchors; other ``*.cert`` files are pre-known signers."""
        certs = [Certificate.load(p) for p in sorted(Path(folder).glob("*.cert"))]
        store = cls([c for c in certs if c.issuer is None])
        for cert in certs:
            if cert.issuer is not None:
                store.add(cert, now)
        return store

    def lookup(self, digest: bytes) -> Certificate | None:
        cert = self._known.get(digest)
        if cert is None:
            return self.anchors.get(digest)
        return cert

    def add(self, cert: Certificate, now: float | None = None) -> Certificate:
        """Verify ``cert`` against an anchor (or a known CA) and remember it."""
        digest = cert.digest
        known = self._known.get(digest)
        if known is not None:
            self._known.move_to_end(digest)
            return known
        if cert.issuer is None:
            if digest in self.anchors:
                return self.anchors[digest]
            raise SecurityError(
                "unknown_signer", f"self-signed certificate {cert.id!r} is not a trust anchor"
            )
        issuer = self.lookup(cert.issuer)
        if issuer is None or not issuer.can_issue:
            raise SecurityError("unknown_signer", f"issuer {cert.issuer.hex()} of {cert.id!r} is not trusted")
        if not cert.signed_by(issuer.public_key):
            raise SecurityError("bad_certificate", f"certificate {cert.id!r} not signed by its issuer")
        t = time.time() if now is None else now
        if not issuer.valid_from <= t <= issuer.valid_until:
            raise SecurityError("expired_cert", f"issuer {issuer.id!r} outside its validity")
        self._known[digest] = cert
        if len(self._known) > self._max_known:
            self._known.popitem(last=False)
        return cert


# ----------------------------------------------------------------------- sign / verify
@dataclass
class SecurityPolicy:
    mode: str = "enforce"  # one of POLICIES
    max_age_s: float = 2.0  # older generation times are rejected (too_old)
    future_tolerance_s: float = 0.5  # generation times further ahead are rejected (future)
    aids: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_AIDS))

    def __post_init__(self) -> None:
        if self.mode not in POLICIES:
            raise ValueError(f"security policy {self.mode!r} not one of {POLICIES}")


class Signer:
    """Signs payloads with one key + certificate; the full certificate about once per interval."""

    def __init__(
        self, key: ec.EllipticCurvePrivateKey, cert: Certificate, cert_interval_s: float = 1.0
    ) -> None:
        if _compressed(key.public_key()) != cert.verify_key:
            raise SecurityError("bad_certificate", f"key does not match certificate {cert.id!r}")
        self.key = key
        self.cert = cert
        self.cert_interval_s = cert_interval_s
        self._cert_value = _spec().decode("Certificate", cert.encoded)
        self._last_cert = -float("inf")

    def sign(self, payload: bytes, aid: int, now: float | None = None) -> bytes:
        t = time.time() if now is None else now
        if aid not in self.cert.aids:
            raise SecurityError("wrong_aid", f"certificate {self.cert.id!r} does not permit AID {aid}")
        tbs = {"aid": aid, "generationTime": to_time64(t), "payload": payload}
        tbs_encoded = bytes(_spec().encode("ToBeSignedData", tbs))
        der = self.key.sign(tbs_encoded + self.cert.hash, _ECDSA_SHA256)
        signer: tuple[str, Any]
        if t - self._last_cert >= self.cert_interval_s:
            signer = ("certificate", self._cert_value)
            self._last_cert = t
        else:
            signer = ("digest", self.cert.digest)
        signed = {"hashId": "sha256", "tbsData": tbs, "signer": signer, "signature": _sig_fields(der)}
        return bytes(
            _spec().encode(
                "SecuredFrame", {"protocolVersion": PROTOCOL_VERSION, "content": ("signedData", signed)}
            )
        )


def wrap_unsigned(payload: bytes) -> bytes:
    return bytes(
        _spec().encode(
            "SecuredFrame", {"protocolVersion": PROTOCOL_VERSION, "content": ("unsecuredData", payload)}
        )
    )


@dataclass(slots=True)
class Unwrapped:
    payload: bytes
    verdict: Verdict
    aid: int | None = None
    generation_time: float | None = None
    signer_digest: str = ""


@dataclass(slots=True)
class SignedParts:
    """The fields of a SignedData that verification needs, with the exact signed bytes."""

    aid: int
    generation_time: int  # Time64
    payload: bytes
    tbs: bytes  # OER(ToBeSignedData) as received: the signed bytes
    signer_kind: str  # "digest" | "certificate"
    signer: bytes  # HashedId8, or the OER Certificate as received
    r: bytes
    s: bytes


def _oer_length(data: bytes, at: int) -> tuple[int, int]:
    first = data[at]
    if first < 0x80:
        return first, at + 1
    n = first & 0x7F
    if n == 0 or n > 4 or at + 1 + n > len(data):
        raise ValueError("bad OER length")
    return int.from_bytes(data[at + 1 : at + 1 + n], "big"), at + 1 + n


def _parse_fast(frame: bytes) -> bytes | SignedParts | None:
    """Direct parse of the canonical OER layout of SecuredFrame (the common case); None: not it."""
    if len(frame) < 3:
        return None
    tag = frame[1]
    if tag == 0x80:  # unsecuredData
        length, at = _oer_length(frame, 2)
        return frame[at : at + length] if at + length == len(frame) else None
    if tag != 0x81 or frame[2] != 0x00 or len(frame) < 3 + 4 + 8 + 1 + 1 + 8 + 64:
        return None
    tbs_start = 3
    aid = int.from_bytes(frame[3:7], "big")
    gen = int.from_bytes(frame[7:15], "big")
    length, at = _oer_length(frame, 15)
    payload = frame[at : at + length]
    tbs_end = at + length
    if len(payload) != length or tbs_end >= len(frame):
        return None
    sig_start = len(frame) - 64
    signer_tag = frame[tbs_end]
    if signer_tag == 0x80:
        if tbs_end + 1 + 8 != sig_start:
            return None
        kind = "digest"
    elif signer_tag == 0x81 and sig_start > tbs_end + 1:
        kind = "certificate"
    else:
        return None
    return SignedParts(
        aid,
        gen,
        payload,
        frame[tbs_start:tbs_end],
        kind,
        frame[tbs_end + 1 : sig_start],
        frame[sig_start : sig_start + 32],
        frame[sig_start + 32 :],
    )


def parse_envelope(frame: bytes) -> bytes | SignedParts:
    """SecuredFrame -> unsecured payload bytes or SignedParts; malformed input raises.

    The canonical layout is read directly (no generic decoder on the hot path); anything else
    goes through asn1tools, which also gives the error of a malformed frame.
    """
    try:
        fast = _parse_fast(frame)
    except (ValueError, IndexError):
        fast = None
    if fast is not None and (frame[0] == PROTOCOL_VERSION):
        return fast
    return parse_envelope_generic(frame)


def parse_envelope_generic(frame: bytes) -> bytes | SignedParts:
    """parse_envelope through the generic OER decoder only (reference for the direct parse)."""
    envelope = _spec().decode("SecuredFrame", frame)
    if envelope["protocolVersion"] != PROTOCOL_VERSION:
        raise ValueError(f"protocol version {envelope['protocolVersion']}")
    kind, content = envelope["content"]
    if kind == "unsecuredData":
        return bytes(content)
    if kind != "signedData":
        raise ValueError(f"content {kind}")
    tbs = content["tbsData"]
    signer_kind, signer = content["signer"]
    if signer_kind == "certificate":
        signer_bytes = bytes(_spec().encode("Certificate", signer))
    elif signer_kind == "digest":
        signer_bytes = bytes(signer)
    else:
        raise ValueError(f"signer {signer_kind}")
    sig = content["signature"]
    return SignedParts(
        int(tbs["aid"]),
        int(tbs["generationTime"]),
        bytes(tbs["payload"]),
        bytes(_spec().encode("ToBeSignedData", tbs)),
        signer_kind,
        signer_bytes,
        bytes(sig["rSig"]),
        bytes(sig["sSig"]),
    )


@dataclass(slots=True)
class Pending:
    """A signed frame after the cheap checks, before its signature is verified (or deferred)."""

    signed: SignedParts
    cert: Certificate | None  # None: certificate not known yet (verify on demand)
    generated: float
    replay_key: bytes


class Verifier:
    """Checks envelopes under a policy; every rejection raises SecurityError and is counted."""

    def __init__(
        self, trust: TrustStore | None, policy: SecurityPolicy, counter: EventCounter | None = None
    ) -> None:
        self.trust = trust
        self.policy = policy
        self.counter = counter if counter is not None else EventCounter()
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        # certificates seen in frames that were not verified (on demand), by digest, verified when needed
        self._unknown_certs: OrderedDict[bytes, bytes] = OrderedDict()

    def reject(self, kind: str, detail: str = "") -> SecurityError:
        self.counter.record(kind, detail)
        return SecurityError(kind, detail)

    def unwrap(self, frame: bytes, now: float | None = None) -> Unwrapped:
        """Envelope check with full verification of a signed frame (verify-all)."""
        t = time.time() if now is None else now
        opened = self.open(frame, t)
        return opened if isinstance(opened, Unwrapped) else self.finish(opened, t)

    def open(self, frame: bytes, now: float | None = None, defer: bool = False) -> Unwrapped | Pending:
        """Parse the envelope and run the cheap checks; a signed frame comes back as :class:`Pending`.

        The signature (and, with ``defer``, the certificate chain of a certificate not known yet) is
        checked by :meth:`finish`, or skipped by :meth:`defer` (verify on demand).
        """
        t = time.time() if now is None else now
        try:
            content = parse_envelope(frame)
        except Exception as exc:
            raise self.reject("malformed_envelope", f"{type(exc).__name__}: {str(exc)[:120]}") from exc
        if self.policy.mode == "disabled":
            return Unwrapped(content if isinstance(content, bytes) else content.payload, Verdict.NOT_CHECKED)
        if isinstance(content, bytes):
            if self.policy.mode == "accept_unsigned":
                return Unwrapped(content, Verdict.UNSIGNED)
            raise self.reject("unsigned", "unsigned frame under policy enforce")
        return self._check_signed(content, t, resolve=not defer)

    def _signer_cert(self, signed: SignedParts, now: float, resolve: bool) -> Certificate | None:
        """The signer's certificate; None only when not ``resolve`` and the certificate is not known yet."""
        assert self.trust is not None
        if signed.signer_kind == "certificate":
            digest = hashlib.sha256(signed.signer).digest()[-8:]
            cert = self.trust.lookup(digest)
            if cert is not None:
                return cert
            if not resolve:  # verifying an unknown certificate costs a signature check: later, on demand
                self._remember_unknown(digest, signed.signer)
                return None
            try:
                return self.trust.add(Certificate.from_bytes(signed.signer), now)
            except SecurityError as err:
                raise self.reject(err.kind, err.detail) from err
        cert = self.trust.lookup(signed.signer)
        if cert is not None:
            return cert
        unknown = self._unknown_certs.get(signed.signer)
        if unknown is not None and resolve:  # seen in a frame that was not verified (on demand)
            try:
                return self.trust.add(Certificate.from_bytes(unknown), now)
            except SecurityError as err:
                raise self.reject(err.kind, err.detail) from err
        if resolve:
            raise self.reject("unknown_signer", f"digest {signed.signer.hex()} not known")
        return None

    def _remember_unknown(self, digest: bytes, encoded: bytes) -> None:
        self._unknown_certs[digest] = encoded
        self._unknown_certs.move_to_end(digest)
        if len(self._unknown_certs) > 4096:
            self._unknown_certs.popitem(last=False)

    def _check_cert(self, cert: Certificate, signed: SignedParts, generated: float, now: float) -> None:
        if not (
            cert.valid_from <= generated <= cert.valid_until and cert.valid_from <= now <= cert.valid_until
        ):
            raise self.reject("expired_cert", f"certificate {cert.id!r} not valid at {generated:.0f}")
        if signed.aid not in cert.aids:
            raise self.reject("wrong_aid", f"certificate {cert.id!r} does not permit AID {signed.aid}")

    def _check_signed(self, signed: SignedParts, now: float, resolve: bool) -> Pending:
        if self.trust is None:
            raise self.reject("unknown_signer", "no trust store")
        cert = self._signer_cert(signed, now, resolve)
        generated = from_time64(signed.generation_time)
        if cert is not None and not (
            cert.valid_from <= generated <= cert.valid_until and cert.valid_from <= now <= cert.valid_until
        ):
            raise self.reject("expired_cert", f"certificate {cert.id!r} not valid at {generated:.0f}")
        if now - generated > self.policy.max_age_s:
            raise self.reject("too_old", f"generated {now - generated:.3f} s ago")
        if generated - now > self.policy.future_tolerance_s:
            raise self.reject("future", f"generated {generated - now:.3f} s ahead")
        if cert is not None and signed.aid not in cert.aids:
            raise self.reject("wrong_aid", f"certificate {cert.id!r} does not permit AID {signed.aid}")
        # a duplicate is the same signed content under the same signature (a forged payload is not)
        replay_key = hashlib.sha256(signed.tbs + signed.r + signed.s).digest()[:16]
        if replay_key in self._seen:
            raise self.reject("replay", f"duplicate from {cert.id if cert else signed.signer.hex()!r}")
        return Pending(signed, cert, generated, replay_key)

    def finish(self, pending: Pending, now: float | None = None) -> Unwrapped:
        """Verify the signature of an opened frame (and its certificate, if still unknown)."""
        t = time.time() if now is None else now
        signed = pending.signed
        cert = pending.cert
        if cert is None:  # deferred at open: resolve (verify the chain) and run the certificate checks now
            cert = self._signer_cert(signed, t, resolve=True)
            assert cert is not None
            self._check_cert(cert, signed, pending.generated, t)
        der = encode_dss_signature(int.from_bytes(signed.r, "big"), int.from_bytes(signed.s, "big"))
        try:
            cert.public_key.verify(der, signed.tbs + cert.hash, _ECDSA_SHA256)
        except (InvalidSignature, ValueError) as exc:
            raise self.reject("bad_signature", f"signer {cert.id!r}") from exc
        self._remember(pending.replay_key, pending.generated, t)
        return Unwrapped(signed.payload, Verdict.VERIFIED, signed.aid, pending.generated, cert.digest_hex)

    def defer(self, pending: Pending, now: float | None = None) -> Unwrapped:
        """Accept an opened frame without checking its signature, marked UNVERIFIED (verify on demand).

        Its replay key is remembered all the same: a copy that arrives when it has become relevant
        is a replay, not a fresh verified frame.
        """
        t = time.time() if now is None else now
        signed = pending.signed
        self._remember(pending.replay_key, pending.generated, t)
        if pending.cert is not None:
            claimed = pending.cert.digest_hex
        elif signed.signer_kind == "certificate":
            claimed = hashlib.sha256(signed.signer).digest()[-8:].hex()
        else:
            claimed = signed.signer.hex()
        return Unwrapped(signed.payload, Verdict.UNVERIFIED, signed.aid, pending.generated, claimed)

    def _remember(self, key: bytes, generated: float, now: float) -> None:
        self._seen[key] = generated
        horizon = now - self.policy.max_age_s - self.policy.future_tolerance_s - 1.0
        while self._seen:
            oldest_key = next(iter(self._seen))
            if self._seen[oldest_key] >= horizon and len(self._seen) <= 200_000:
                break
            del self._seen[oldest_key]

    def check_aid(self, unwrapped: Unwrapped, frame_kind: str) -> None:
        """The AID a verified frame was signed under must be the one of its message type."""
        if unwrapped.verdict not in (Verdict.VERIFIED, Verdict.UNVERIFIED):
            return
        expected = self.policy.aids.get(frame_kind)
        if expected is not None and unwrapped.aid != expected:
            raise self.reject("wrong_aid", f"{frame_kind} under AID {unwrapped.aid}, expected {expected}")
