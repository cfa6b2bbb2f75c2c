"""Frame <-> message pipelines shared by the OBU and RSU nodes and the benchmarks.

Receive: envelope check (security) -> UPER decode -> AID check -> SI conversion, every
failure counted by kind in one EventCounter and the frame dropped (never raised).
Transmit: SI message -> ASN.1 -> UPER -> signed (or unsigned) envelope.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from roadedge.diagnostics import EventCounter
from roadedge.v2x import codec, si
from roadedge.v2x.security import (
    SecurityError,
    SecurityPolicy,
    Signer,
    Verifier,
    wrap_unsigned,
)


@dataclass
class Received:
    kind: str  # MessageFrame alternative, e.g. "spatFrame"
    msg: Any  # the roadedge_msgs message, header filled except header.stamp
    verdict: int
    signer_digest: str


@dataclass
class ReceiveStats:
    frames: int = 0
    accepted: dict[str, int] = field(default_factory=dict)


class Ingest:
    """One received frame in, one typed message out (or None, counted)."""

    def __init__(self, verifier: Verifier, max_frame_bytes: int = codec.MAX_FRAME_BYTES) -> None:
        self.verifier = verifier
        self.counter: EventCounter = verifier.counter
        self.max_frame_bytes = max_frame_bytes
        self.stats = ReceiveStats()
        self.last_log: str | None = None

    def _drop(self, kind: str, detail: str) -> None:
        self.last_log = self.counter.record(kind, detail)

    def __call__(self, frame: bytes, now: float | None = None) -> Received | None:
        t = time.time() if now is None else now
        self.stats.frames += 1
        self.last_log = None
        if len(frame) > self.max_frame_bytes:
            self._drop("oversized", f"{len(frame)} bytes")
            return None
        try:
            unwrapped = self.verifier.unwrap(frame, t)
        except SecurityError as err:  # counted by the verifier
            self.last_log = f"{err.kind} (#{self.counter.counts.get(err.kind, 0)}): {err.detail}"
            return None
        try:
            kind, value = codec.decode_frame(unwrapped.payload)
        except codec.CodecError as err:
            self._drop(err.kind, err.detail)
            return None
        try:
            self.verifier.check_aid(unwrapped, kind)
        except SecurityError as err:
            self.last_log = f"{err.kind}: {err.detail}"
            return None
        try:
            msg = si.from_asn(kind, value, t)
        except Exception as err:  # a value the standard allows but SI cannot express
            self._drop("convert_error", f"{kind}: {type(err).__name__}: {err}")
            return None
        msg.v2x.security_verdict = int(unwrapped.verdict)
        msg.v2x.signer_digest = unwrapped.signer_digest
        if not msg.v2x.sender_id and unwrapped.signer_digest:
            msg.v2x.sender_id = unwrapped.signer_digest  # MAP / SPAT carry no id: name the signer
        self.stats.accepted[kind] = self.stats.accepted.get(kind, 0) + 1
        return Received(kind, msg, int(unwrapped.verdict), unwrapped.signer_digest)


class Outgo:
    """Typed message -> frame bytes, signed with ``signer`` (or unsigned when None)."""

    def __init__(self, signer: Signer | None, policy: SecurityPolicy | None = None) -> None:
        self.signer = signer
        self.policy = policy or SecurityPolicy()
        self.counter = EventCounter()

    def __call__(self, msg: Any, now: float | None = None) -> bytes | None:
        t = time.time() if now is None else now
        try:
            kind, value = si.to_asn(msg, t)
            payload = codec.encode_frame(kind, value)
            if self.signer is None:
                return wrap_unsigned(payload)
            return self.signer.sign(payload, self.policy.aids[kind], t)
        except (codec.CodecError, SecurityError, ValueError, KeyError) as err:
            self.counter.record("encode_error", f"{type(msg).__name__}: {err}")
            return None
