"""Regression compare: output topics of a candidate bag against a golden bag, field by field.

Messages are decoded with rosbags (the project's types included), flattened to
``field.sub[3].x`` paths, and compared in order per topic: numbers within per-field
tolerances (absolute and relative; NaN equals NaN), everything else exactly. Tolerances are
fnmatch patterns over ``<topic>:<field path>``; ``ignore`` drops fields such as header
stamps of wall-clock nodes. Counts must match; receive times can be compared too.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from roadedge.bag.errors import BagError
from roadedge.bag.msgdefs import MessageDefinitions
from roadedge.bag.replay import BagSource


@dataclass(frozen=True)
class Tolerance:
    pattern: str  # fnmatch over "<topic>:<field path>", e.g. "/vehicle/status:speed", "*:header.stamp.*"
    abs: float = 0.0
    rel: float = 0.0
    ignore: bool = False


@dataclass(frozen=True)
class Mismatch:
    topic: str
    index: int
    field: str
    expected: Any
    actual: Any


@dataclass
class TopicResult:
    topic: str
    expected_count: int
    actual_count: int
    compared: int = 0
    mismatch_count: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)  # the first few
    max_abs_diff: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.expected_count == self.actual_count and self.mismatch_count == 0


@dataclass
class Comparison:
    results: list[TopicResult]

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def summary(self) -> str:
        lines = []
        for r in self.results:
            state = "OK  " if r.passed else "DIFF"
            lines.append(
                f"{state} {r.topic}: {r.actual_count}/{r.expected_count} messages, "
                f"{r.mismatch_count} field mismatches"
            )
            for m in r.mismatches:
                lines.append(f"       #{m.index} {m.field}: golden {m.expected!r} != {m.actual!r}")
        lines.append("regression: " + ("PASS" if self.passed else "FAIL"))
        return "\n".join(lines)


def flatten(msg: Any, prefix: str = "") -> dict[str, Any]:
    """A decoded message as {field path: scalar}."""
    out: dict[str, Any] = {}
    if is_dataclass(msg) and not isinstance(msg, type):
        for f in fields(msg):
            if f.name == "__msgtype__":
                continue
            out.update(flatten(getattr(msg, f.name), f"{prefix}.{f.name}" if prefix else f.name))
    elif isinstance(msg, np.ndarray):
        for i, value in enumerate(msg.tolist()):
            out[f"{prefix}[{i}]"] = value
        out[f"{prefix}.len"] = len(msg)
    elif isinstance(msg, (list, tuple)):
        for i, value in enumerate(msg):
            out.update(flatten(value, f"{prefix}[{i}]"))
        out[f"{prefix}.len"] = len(msg)
    else:
        out[prefix] = msg
    return out


def _tolerance(tolerances: Sequence[Tolerance], key: str) -> Tolerance | None:
    for tol in tolerances:
        if fnmatch.fnmatchcase(key, tol.pattern):
            return tol
    return None


def values_equal(expected: Any, actual: Any, tol: Tolerance | None) -> bool:
    if (
        isinstance(expected, bool)
        or isinstance(actual, bool)
        or not (isinstance(expected, (int, float)) and isinstance(actual, (int, float)))
    ):
        return bool(expected == actual)
    a, b = float(expected), float(actual)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    if tol is None:
        return False
    return abs(a - b) <= tol.abs + tol.rel * abs(a)


def decoded_messages(
    source: BagSource, topic: str, defs: MessageDefinitions
) -> list[tuple[int, dict[str, Any]]]:
    info = source.topics[topic]
    store = defs.typestore([info.msgtype])
    out: list[tuple[int, dict[str, Any]]] = []
    for msg in source.messages([topic]):
        try:
            decoded = store.deserialize_cdr(msg.data, info.msgtype)
        except Exception as err:
            raise BagError(
                f"bag {source.path}: message {len(out)} of {topic} does not decode: {err}"
            ) from err
        out.append((msg.timestamp_ns, flatten(decoded)))
    return out


def compare_bags(
    golden: str | Path,
    candidate: str | Path,
    topics: Iterable[str] | None = None,
    tolerances: Sequence[Tolerance] = (),
    *,
    compare_time: bool = False,
    max_reported: int = 5,
    definitions: MessageDefinitions | None = None,
) -> Comparison:
    """Compare ``topics`` (default: every topic of the golden bag) of two bags."""
    defs = definitions or MessageDefinitions()
    results = []
    with BagSource(golden) as gold, BagSource(candidate) as cand:
        names = sorted(topics) if topics is not None else sorted(gold.topics)
        for name in names:
            if name not in gold.topics:
                raise BagError(f"golden bag {gold.path} has no topic {name}")
            expected = decoded_messages(gold, name, defs)
            if name not in cand.topics:
                results.append(TopicResult(name, len(expected), 0))
                continue
            if cand.topics[name].msgtype != gold.topics[name].msgtype:
                raise BagError(
                    f"topic {name}: golden type {gold.topics[name].msgtype}, "
                    f"candidate {cand.topics[name].msgtype}"
                )
            actual = decoded_messages(cand, name, defs)
            result = TopicResult(name, len(expected), len(actual))
            for index, ((t_exp, exp), (t_act, act)) in enumerate(zip(expected, actual, strict=False)):
                result.compared += 1
                if compare_time and t_exp != t_act:
                    result.mismatch_count += 1
                    if len(result.mismatches) < max_reported:
                        result.mismatches.append(Mismatch(name, index, "<receive time ns>", t_exp, t_act))
                for key in sorted(set(exp) | set(act)):
                    tol = _tolerance(tolerances, f"{name}:{key}")
                    if tol is not None and tol.ignore:
                        continue
                    e, a = exp.get(key), act.get(key)
                    if (
                        isinstance(e, (int, float))
                        and isinstance(a, (int, float))
                        and not isinstance(e, bool)
                    ):
                        diff = abs(float(e) - float(a))
                        if not math.isnan(diff):
                            result.max_abs_diff[key] = max(result.max_abs_diff.get(key, 0.0), diff)
                    if not values_equal(e, a, tol):
                        result.mismatch_count += 1
                        if len(result.mismatches) < max_reported:
                            result.mismatches.append(Mismatch(name, index, key, e, a))
            results.append(result)
    return Comparison(results)


def parse_tolerance(text: str) -> Tolerance:
    """``PATTERN=ABS``, ``PATTERN=ABS,REL`` or ``PATTERN=ignore`` (PATTERN over "<topic>:<field>")."""
    pattern, sep, value = text.rpartition("=")
    if not sep or not pattern:
        raise BagError(f"tolerance {text!r} is not PATTERN=ABS[,REL] or PATTERN=ignore")
    if value == "ignore":
        return Tolerance(pattern, ignore=True)
    try:
        parts = [float(v) for v in value.split(",")]
    except ValueError:
        raise BagError(f"tolerance {text!r}: {value!r} is not a number") from None
    if len(parts) > 2 or any(p < 0 for p in parts):
        raise BagError(f"tolerance {text!r}: give ABS or ABS,REL (>= 0)")
    return Tolerance(pattern, abs=parts[0], rel=parts[1] if len(parts) == 2 else 0.0)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m roadedge.bag.regression GOLDEN CANDIDATE``: 0 same, 1 different, 2 error."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m roadedge.bag.regression", description=__doc__)
    p.add_argument("golden", type=Path)
    p.add_argument("candidate", type=Path)
    p.add_argument(
        "--topics", nargs="+", default=None, help="topics to compare (default: all of the golden bag)"
    )
    p.add_argument(
        "--tol", nargs="+", default=[], help="PATTERN=ABS[,REL] or PATTERN=ignore, e.g. '*:header.*=ignore'"
    )
    p.add_argument("--compare-time", action="store_true", help="receive times must match too")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        tolerances = [parse_tolerance(t) for t in args.tol]
        result = compare_bags(
            args.golden, args.candidate, args.topics, tolerances, compare_time=args.compare_time
        )
    except BagError as err:
        print(f"regression: {err}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
