"""Bad-input generators for the receive pipeline: truncated, oversized, random and mutated frames.

Used by the fuzz test (test/v2x/test_v2x_fuzz.py, via hypothesis) and the longer bounded run
(bench/v2x_fuzz.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from roadedge.v2x import codec
from roadedge.v2x.asn1_random import ValueGenerator
from roadedge.v2x.security import wrap_unsigned


def valid_payload(rng: random.Random, gen: ValueGenerator | None = None) -> bytes:
    """A random valid UPER MessageFrame."""
    g = gen or ValueGenerator(rng, max_items=2)
    return codec.encode("MessageFrame", g.value("MessageFrame"))


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(out) * 8)
        out[i // 8] ^= 0x80 >> (i % 8)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


def extend(data: bytes, rng: random.Random) -> bytes:
    return data + bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))


def splice(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 2:
        return data
    i, j = sorted(rng.sample(range(len(data)), 2))
    return data[:i] + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 16))) + data[j:]


def set_bytes(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(len(out))] = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.getrandbits(8)))
    return bytes(out)


MUTATORS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    flip_bits,
    truncate,
    extend,
    splice,
    set_bytes,
)


def bad_frame(
    rng: random.Random, seeds: list[bytes], max_bytes: int = codec.MAX_FRAME_BYTES
) -> tuple[str, bytes]:
    """One bad (or possibly still valid) frame and the name of how it was made."""
    r = rng.random()
    if r < 0.1:
        return "random", bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
    if r < 0.13:
        return "oversized", bytes(rng.getrandbits(8) for _ in range(max_bytes + rng.randint(1, 2000)))
    base = rng.choice(seeds)
    if r < 0.5:
        # a well-formed unsigned envelope around a mutated payload: reaches the UPER decoder
        payload = valid_payload(rng) if rng.random() < 0.3 else rng.choice(seeds)
        mutator = rng.choice(MUTATORS)
        return f"payload_{mutator.__name__}", wrap_unsigned(mutator(payload_of(payload), rng))
    mutator = rng.choice(MUTATORS)
    return mutator.__name__, mutator(base, rng)


def payload_of(frame: bytes) -> bytes:
    """The payload inside an envelope (or the bytes themselves if they are not one)."""
    from roadedge.v2x.security import SecurityPolicy, Verifier

    try:
        return Verifier(None, SecurityPolicy(mode="disabled")).unwrap(frame).payload
    except Exception:
        return frame
