"""Frame <-> message pipelines shared by the OBU and RSU nodes and the benchmarks.

Receive: envelope check (security) -> UPER decode -> AID check -> SI conversion, every
failure counted by kind in one EventCounter and the frame dropped (never raised). With a
``relevance`` test (verify on demand, roadedge.v2x.relevance) the envelope's cheap checks run
first, then the decode, and only relevant frames have their signature verified; the others come
out marked ``Verdict.UNVERIFIED``.
Transmit: SI message -> ASN.1 -> UPER -> signed (or unsigned) envelope.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from roadedge.diagnostics import EventCounter
from roadedge.v2x import codec, si
from roadedge.v2x.security import (
    Pending,
    SecurityError,
    SecurityPolicy,
    Signer,
    Unwrapped,
    Verifier,
    wrap_unsigned,
)

#: relevance(kind, decoded value) -> verify this frame now (verify on demand)
RelevanceTest = Callable[[str, dict[str, Any]], bool]


@dataclass(slots=True)
class Received:
    kind: str  # MessageFrame alternative, e.g. "spatFrame"
    msg: Any  # the roadedge_msgs message, header filled except header.stamp
    verdict: int
    signer_digest: str


@dataclass
class ReceiveStats:
    frames: int = 0
    accepted: dict[str, int] = field(default_factory=dict)
    unverified: int = 0  # accepted without signature check (verify on demand: not relevant)


class Ingest:
    """One received frame in, one typed message out (or None, counted)."""

    def __init__(
        self,
        verifier: Verifier,
        max_frame_bytes: int = codec.MAX_FRAME_BYTES,
        relevance: RelevanceTest | None = None,
    ) -> None:
        self.verifier = verifier
        self.counter: EventCounter = verifier.counter
        self.max_frame_bytes = max_frame_bytes
        self.relevance = relevance  # None: verify every signed frame
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
        verifier = self.verifier
        relevance = self.relevance
        try:
            opened = verifier.unwrap(frame, t) if relevance is None else verifier.open(frame, t, defer=True)
        except SecurityError as err:  # counted by the verifier
            self.last_log = f"{err.kind} (#{self.counter.counts.get(err.kind, 0)}): {err.detail}"
            return None
        payload = opened.payload if isinstance(opened, Unwrapped) else opened.signed.payload
        try:
            kind, value = codec.decode_frame(payload)
        except codec.CodecError as err:
            self._drop(err.kind, err.detail)
            return None
        try:
            if isinstance(opened, Pending):
                assert relevance is not None
                if relevance(kind, value):
                    unwrapped = verifier.finish(opened, t)
                else:
                    unwrapped = verifier.defer(opened, t)
                    self.stats.unverified += 1
            else:
                unwrapped = opened
            verifier.check_aid(unwrapped, kind)
        except SecurityError as err:
            self.last_log = f"{err.kind}: {err.detail}"
            return None
        try:
            msg = si.from_asn(kind, value, t)
        except Exception as err:  # a value the standard allows but SI cannot express
            self._drop("convert_error", f"{kind}: {type(err).__name__}: {err}")
            return None
        v2x = msg.v2x
        v2x.security_verdict = int(unwrapped.verdict)
        digest = unwrapped.signer_digest
        v2x.signer_digest = digest
        if digest and not v2x.sender_id:
            v2x.sender_id = digest  # MAP / SPAT carry no id: name the signer
        accepted = self.stats.accepted
        accepted[kind] = accepted.get(kind, 0) + 1
        return Received(kind, msg, int(unwrapped.verdict), digest)


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
