#!/usr/bin/env python3
"""Longer bounded fuzz run of the V2X receive pipeline (envelope, security, UPER decode, SI conversion).

Seeds: signed and unsigned frames of random valid messages of every MessageFrame kind. Inputs:
random bytes, oversized frames, and seeds mutated (bit flips, truncation, extension, splices,
byte sets), either as a whole or as the payload of a well-formed unsigned envelope (so that the
UPER decoder and the SI conversion see them; the pipeline runs with policy accept_unsigned).
A crash is any exception escaping the pipeline; each is printed with its input (hex).

    tools/with_env.sh python bench/v2x_fuzz.py [--seconds 60] [--seed 1] [--max-inputs N]

Ends with one line: RESULT inputs=<n> crashes=<n> accepted=<n> dropped=<n> inputs_per_s=<x>
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="time bound")
    ap.add_argument("--max-inputs", type=int, default=1_000_000, help="input bound")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    from roadedge.v2x import codec, fuzz, pki, security
    from roadedge.v2x.asn1_random import ValueGenerator
    from roadedge.v2x.pipeline import Ingest
    from roadedge.v2x.security import DEFAULT_AIDS, Certificate, SecurityPolicy, TrustStore, Verifier

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pki.init_ca(folder)
        pki.issue(folder, "rsu", sorted(DEFAULT_AIDS.values()))
        signer = security.Signer(
            security.load_key(folder / "rsu.key"), Certificate.load(folder / "rsu.cert"), 0.0
        )
        trust = TrustStore([Certificate.load(folder / "root.cert")])
    gen = ValueGenerator(rng, max_items=3)
    seeds: list[bytes] = []
    for kind in codec.FRAME_KINDS:
        member = next(m for m in codec.parsed()["MessageFrame"]["members"] if m and m["name"] == kind)
        for _ in range(20):
            payload = codec.encode_frame(kind, gen.value(member["type"]))
            seeds.append(signer.sign(payload, DEFAULT_AIDS[kind], None))
            seeds.append(security.wrap_unsigned(payload))
    ingest = Ingest(Verifier(trust, SecurityPolicy(mode="accept_unsigned", max_age_s=1e9)))

    made: Counter[str] = Counter()
    crashes = 0
    start = time.perf_counter()
    n = 0
    while n < args.max_inputs and time.perf_counter() - start < args.seconds:
        name, frame = fuzz.bad_frame(rng, seeds)
        made[name] += 1
        n += 1
        try:
            ingest(frame)
        except Exception:
            crashes += 1
            if crashes <= 20:
                print(f"CRASH #{crashes} ({name}): {frame.hex()}\n{traceback.format_exc()}")
    elapsed = time.perf_counter() - start
    accepted = sum(ingest.stats.accepted.values())
    dropped = ingest.counter.total()
    print(f"inputs by generator: {dict(sorted(made.items()))}")
    print(f"accepted by kind: {dict(sorted(ingest.stats.accepted.items()))}")
    print(f"dropped by reason: {dict(sorted(ingest.counter.counts.items()))}")
    if accepted + dropped + crashes != n:
        print(f"ACCOUNTING MISMATCH: {n} inputs, {accepted} accepted + {dropped} dropped + {crashes} crashes")
    print(
        f"RESULT inputs={n} crashes={crashes} accepted={accepted} dropped={dropped} "
        f"inputs_per_s={n / elapsed:.0f}"
    )
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
