"""Downlink command authentication: JWS compact serialization (RFC 7515), ES256 only.

The operations centre signs every command with its ECDSA P-256 key; each edge box holds only
the centre's *public* key(s) (``kid`` -> key, for rotation). Why not an HMAC per vehicle: an
HMAC key on a vehicle can forge commands as well as check them, and a shared secret per vehicle
must also live in the cloud; a stolen sweeper (or a roadside box in a cabinet by the road) then
yields a key that signs commands. With a signature, no edge box holds anything that can sign,
one key pair serves the whole fleet, and the format is standard JOSE, so any cloud language
signs it with a stock library. Verification costs ~70 us, irrelevant at command rates.

Checks, in order; the first failure is the rejection reason sent back:
JWS shape -> header ``alg`` == ES256 (no ``none``, no HS*) -> known ``kid`` -> signature ->
JSON -> schema of the command named by the topic -> ``target`` is this device -> issued/expiry
window (clock skew allowed; lifetime bounded) -> ``command_id`` not seen before (persisted
until it expires, so a replay after a bridge restart is refused too) -> the profile accepts it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from roadedge.cloud.layout import DOWNLINK_COMMANDS, DeviceIdentity
from roadedge.cloud.schema import SCHEMA, check_command

MAX_COMMAND_BYTES = 64 * 1024
JWS_TYPE = "roadedge-cmd+jws"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64url_decode(text: str) -> bytes:
    if any(c not in _B64URL for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def digest(raw: bytes) -> str:
    """Short hex digest naming a raw command in an ack (also when it could not be parsed)."""
    return hashlib.sha256(raw).hexdigest()[:16]


def sign_command(key: ec.EllipticCurvePrivateKey, kid: str, payload: Mapping[str, Any]) -> bytes:
    """Operations-centre side: the compact JWS of ``payload`` (used by tests, bench and tools)."""
    header = b64url(json.dumps({"alg": "ES256", "kid": kid, "typ": JWS_TYPE}, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signing_input = f"{header}.{body}".encode("ascii")
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return f"{header}.{body}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}".encode("ascii")


def load_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("operations-centre key must be an ECDSA P-256 public key")
    return key


class ReplayGuard(Protocol):
    def seen(self, command_id: str) -> bool: ...

    def remember(self, command_id: str, expires_at: float) -> None: ...


class MemoryReplayGuard:
    """In-memory guard (the bridge uses the persistent one in the SQLite queue)."""

    def __init__(self) -> None:
        self._ids: dict[str, float] = {}

    def seen(self, command_id: str) -> bool:
        return command_id in self._ids

    def remember(self, command_id: str, expires_at: float) -> None:
        self._ids[command_id] = expires_at


@dataclass(frozen=True)
class Command:
    """A verified, validated downlink command."""

    command: str
    command_id: str
    issued_at: float
    expires_at: float
    data: dict[str, Any]
    digest: str
    kid: str


@dataclass(frozen=True)
class Rejection:
    reason: str
    digest: str
    command: str | None = None
    command_id: str | None = None


class CommandVerifier:
    def __init__(
        self,
        identity: DeviceIdentity,
        trusted_keys: Mapping[str, ec.EllipticCurvePublicKey],
        replay: ReplayGuard,
        clock: Callable[[], float],
        max_lifetime_s: float = 3600.0,
        clock_skew_s: float = 30.0,
    ) -> None:
        if not trusted_keys:
            raise ValueError("no trusted operations-centre key: every command would be rejected")
        self._identity = identity
        self._keys = dict(trusted_keys)
        self._replay = replay
        self._clock = clock
        self._max_lifetime = max_lifetime_s
        self._skew = clock_skew_s

    def verify(self, command: str | None, raw: bytes) -> Command | Rejection:
        """Verify ``raw`` received on the downlink topic of ``command`` (None: unknown topic)."""
        dg = digest(raw)
        if command is None:
            return Rejection("unknown command topic", dg)
        if len(raw) > MAX_COMMAND_BYTES:
            return Rejection(f"command larger than {MAX_COMMAND_BYTES} bytes", dg, command)
        try:
            text = raw.decode("ascii")
            header_b64, body_b64, sig_b64 = text.split(".")
            header = json.loads(b64url_decode(header_b64))
            body = b64url_decode(body_b64)
            sig = b64url_decode(sig_b64)
        except (UnicodeDecodeError, ValueError, binascii.Error):
            return Rejection("not a JWS compact serialization", dg, command)
        if not isinstance(header, dict):
            return Rejection("JWS header is not an object", dg, command)
        if header.get("alg") != "ES256":
            alg = str(header.get("alg"))[:16]
            return Rejection(f"JWS alg {alg!r} not accepted (ES256 only)", dg, command)
        if set(header) - {"alg", "kid", "typ"}:
            return Rejection("JWS header has unsupported parameters", dg, command)
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            return Rejection(f"unknown signing key id {str(kid)[:32]!r}", dg, command)
        if len(sig) != 64:
            return Rejection("bad signature length", dg, command)
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        try:
            key.verify(der, f"{header_b64}.{body_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return Rejection("bad signature", dg, command)
        try:
            payload = json.loads(body)
        except ValueError:
            return Rejection("signed payload is not JSON", dg, command)
        cid = payload.get("command_id") if isinstance(payload, dict) else None
        cid = cid if isinstance(cid, str) and len(cid) <= 128 else None
        problem = check_command(command, payload)
        if problem is not None:
            if isinstance(payload, dict) and payload.get("command") not in (None, command):
                problem = "command kind does not match its topic"
            return Rejection(f"invalid {command}: {problem}", dg, command, cid)
        assert cid is not None  # the schema requires it
        if payload["schema"] != SCHEMA:  # pragma: no cover - guarded by the schema const
            return Rejection("unsupported schema", dg, command, cid)
        if payload["target"] != self._identity.device:
            return Rejection("command is addressed to another device", dg, command, cid)
        now = self._clock()
        issued, expires = float(payload["issued_at"]), float(payload["expires_at"])
        if issued > now + self._skew:
            return Rejection("command issued in the future", dg, command, cid)
        if expires <= now:
            return Rejection("command expired", dg, command, cid)
        if expires <= issued or expires - issued > self._max_lifetime:
            reason = f"command lifetime must be within (0, {self._max_lifetime:g}] s"
            return Rejection(reason, dg, command, cid)
        if command == "uplink_ack":  # idempotent (a replay re-acknowledges): no id to remember
            return Command(command, cid, issued, expires, payload["data"], dg, str(kid))
        if self._replay.seen(cid):
            return Rejection("replayed command_id", dg, command, cid)
        if command not in DOWNLINK_COMMANDS[self._identity.profile]:
            return Rejection(f"a {self._identity.profile} does not accept {command}", dg, command, cid)
        self._replay.remember(cid, expires + self._skew)
        return Command(command, cid, issued, expires, payload["data"], dg, str(kid))
