"""Random valid values of any type of the CSAE 53 module, for property tests and fuzzing.

Walks asn1tools' parse tree; biased towards range boundaries; sizes capped so that values
stay small enough for fast tests.
"""

from __future__ import annotations

import random
import string
from typing import Any

from roadedge.v2x.codec import parsed

_IA5 = string.ascii_letters + string.digits + " -_.,:/"


class ValueGenerator:
    def __init__(
        self, rng: random.Random, max_items: int = 3, max_text: int = 12, max_depth: int = 12
    ) -> None:
        self.rng = rng
        self.max_items = max_items
        self.max_text = max_text
        self.max_depth = max_depth
        self.types = parsed()

    def value(self, type_name: str) -> Any:
        return self._gen(self.types[type_name], 0)

    # ----------------------------------------------------------------- helpers
    def _int(self, lo: int, hi: int) -> int:
        r = self.rng.random()
        if r < 0.15:
            return lo
        if r < 0.3:
            return hi
        return self.rng.randint(lo, hi)

    def _size(self, size: Any, default_hi: int) -> int:
        lo, hi = 0, default_hi
        if size:
            first = size[0]
            if isinstance(first, (list, tuple)):
                lo, hi = int(first[0]), int(first[1])
            else:
                lo = hi = int(first)
        return self._int(lo, max(lo, min(hi, lo + default_hi)))

    def _gen(self, desc: dict[str, Any], depth: int) -> Any:
        kind = desc["type"]
        if kind in self.types:  # a type reference
            merged = dict(self.types[kind])
            return self._gen(merged, depth + 1)
        if kind == "INTEGER":
            lo, hi = desc["restricted-to"][0]
            return self._int(int(lo), int(hi))
        if kind == "ENUMERATED":
            names = [v[0] for v in desc["values"] if v is not None]
            return self.rng.choice(names)
        if kind == "BIT STRING":
            n = self._size(desc.get("size"), 16)
            nbytes = (n + 7) // 8
            raw = self.rng.getrandbits(n) if n else 0
            return ((raw << (nbytes * 8 - n)).to_bytes(nbytes, "big"), n)
        if kind == "OCTET STRING":
            n = self._size(desc.get("size"), self.max_text)
            return bytes(self.rng.getrandbits(8) for _ in range(n))
        if kind == "IA5String":
            n = self._size(desc.get("size"), self.max_text)
            return "".join(self.rng.choice(_IA5) for _ in range(n))
        if kind == "BOOLEAN":
            return self.rng.random() < 0.5
        if kind == "SEQUENCE":
            out: dict[str, Any] = {}
            for member in desc["members"]:
                if member is None:
                    continue
                if member.get("optional") and (depth > self.max_depth or self.rng.random() < 0.5):
                    continue
                out[member["name"]] = self._gen(member, depth + 1)
            return out
        if kind == "SEQUENCE OF":
            n = self._size(desc.get("size"), self.max_items if depth < self.max_depth else 1)
            return [self._gen(desc["element"], depth + 1) for _ in range(n)]
        if kind == "CHOICE":
            members = [m for m in desc["members"] if m is not None]
            member = self.rng.choice(members)
            return (member["name"], self._gen(member, depth + 1))
        raise NotImplementedError(kind)
