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
    unmatched: int = 0  # align="time": messages at a receive time the other bag has none at
    max_unmatched: int = 0

    @property
    def passed(self) -> bool:
        if self.mismatch_count:
            return False
        if self.max_unmatched or self.unmatched:
            return self.unmatched <= self.max_unmatched
        return self.expected_count == self.actual_count


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
            unmatched = f", {r.unmatched} unpaired" if r.unmatched else ""
            lines.append(
                f"{state} {r.topic}: {r.actual_count}/{r.expected_count} messages{unmatched}, "
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


Decoded = list[tuple[int, dict[str, Any]]]


def pair_by_time(expected: Decoded, actual: Decoded) -> tuple[list[tuple[Any, Any]], int]:
    """Messages paired by receive time (in order among equal times); and how many have no partner."""
    pairs = []
    i = j = unpaired = 0
    while i < len(expected) and j < len(actual):
        if expected[i][0] == actual[j][0]:
            pairs.append((expected[i], actual[j]))
            i, j = i + 1, j + 1
        elif expected[i][0] < actual[j][0]:
            i, unpaired = i + 1, unpaired + 1
        else:
            j, unpaired = j + 1, unpaired + 1
    return pairs, unpaired + (len(expected) - i) + (len(actual) - j)


def compare_bags(
    golden: str | Path,
    candidate: str | Path,
    topics: Iterable[str] | None = None,
    tolerances: Sequence[Tolerance] = (),
    *,
    compare_time: bool = False,
    max_reported: int = 5,
    definitions: MessageDefinitions | None = None,
    align: str = "index",
    max_unmatched: int = 0,
) -> Comparison:
    """Compare ``topics`` (default: every topic of the golden bag) of two bags.

    ``align="index"`` pairs the n-th messages of a topic (counts must match); ``align="time"``
    pairs messages with the same receive time (a replay against its live run: the live graph
    may have sent one more or one less at the ends) and allows ``max_unmatched`` unpaired ones.
    """
    if align not in ("index", "time"):
        raise BagError(f"align must be 'index' or 'time', not {align!r}")
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
            result = TopicResult(name, len(expected), len(actual), max_unmatched=max_unmatched)
            if align == "time":
                pairs, result.unmatched = pair_by_time(expected, actual)
            else:
                pairs = list(zip(expected, actual, strict=False))
            for index, ((t_exp, exp), (t_act, act)) in enumerate(pairs):
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


# ---------------------------------------------------------------------------------------------
# roadedge regress: record a scenario run, replay its inputs through the stack, compare outputs


#: s of a live run not compared with its replay (start-up)
LIVE_START = 1.0
#: grid rows an event may move between two runs of a scenario (golden summary vs a new run)
GOLDEN_SLACK = 2


def default_golden(name: str, duration: float) -> Path:
    from roadedge.profiles import PACKAGE_ROOT

    return PACKAGE_ROOT / "test" / "bag" / "golden" / f"{name}_{duration:g}s.csv"


@dataclass
class RegressResult:
    live_bag: Path
    replays: list[Path]
    identical: Comparison
    live: Any  # golden.SummaryComparison: replay against the outputs recorded live in the same run
    golden: Any | None  # golden.SummaryComparison against the committed summary (None: none given)
    summary: Any  # golden.Summary of the first replay
    speed_factors: list[float]

    @property
    def passed(self) -> bool:
        return self.identical.passed and self.live.passed and (self.golden is None or self.golden.passed)


def regress(
    scenario: Any,
    out: Path,
    *,
    bag: Path | None = None,
    golden: Path | None = None,
    update_golden: bool = False,
    replays: int = 2,
    period: float = 0.5,
    progress: Any = print,
) -> RegressResult:
    """Run ``scenario`` on the HIL rig (unless ``bag`` holds a run), replay its recorded inputs
    ``replays`` times through localization, planner and controller, and compare: the replays with
    each other (identical, receive times included), the first with the outputs recorded live, and
    its summary with the golden one (or write that with ``update_golden``)."""
    import shutil
    import time

    from roadedge.bag import golden as gold

    out.mkdir(parents=True, exist_ok=True)
    if bag is None:
        from roadedge.ros.hil_runner import run_scenario

        progress(f"regress: running {scenario.name} on the HIL rig ({scenario.duration:g} s of sim time)")
        run = run_scenario(scenario, out / "live", report=False)
        if run.bag is None:
            raise BagError(f"the run of {scenario.name} wrote no bag")
        bag = run.bag
    with BagSource(bag) as source:
        origin, duration = source.start_ns, source.duration_s
        missing = [t for t in gold.REPLAY_OUTPUTS[:4] if t not in source.topics]
        if missing:
            raise BagError(
                f"bag {bag} has no live outputs {', '.join(missing)}: not a run of the vehicle stack"
            )
    glue = _ros_glue()
    paths, factors = [], []
    for k in range(replays):
        path = out / f"replay{k + 1}"
        if path.exists():
            shutil.rmtree(path)
        started = time.perf_counter()
        graph = glue.replay_scenario(bag, scenario, path, gold.REPLAY_OUTPUTS)
        wall = time.perf_counter() - started
        factors.append(graph.stats.bag_seconds / wall if wall > 0 else math.inf)
        progress(
            f"regress: replay {k + 1}: {graph.stats.messages} inputs, {graph.stats.bag_seconds:.1f} s of bag "
            f"in {wall:.1f} s ({factors[-1]:.1f}x); outputs {sum(graph.outputs.values())}"
        )
        if k == 0:
            progress(f"regress: inputs {', '.join(graph.inputs)}")
        paths.append(path)
    outputs = [t for t in gold.REPLAY_OUTPUTS if t != "/tf"]
    with BagSource(paths[0]) as first:
        present = [t for t in outputs if t in first.topics]
    identical = (
        compare_bags(paths[0], paths[1], present, compare_time=True)
        if len(paths) > 1
        else Comparison([TopicResult("(one replay)", 0, 0)])
    )
    notes = {"scenario": scenario.name, "duration": f"{duration:g} s", "tolerances": gold.tolerance_table()}
    summary = gold.summarize(paths[0], origin, duration, period=period, notes=notes)
    # the first second of a live run is not reproducible: its nodes start following /clock at
    # slightly different steps (discovery); the replay's all start at once. Nor is its last step:
    # the safe-stop commands at the end reach the live recorder or not (it may lag a step or two)
    live = gold.compare_summaries(
        gold.summarize(bag, origin, duration, period=period),
        summary,
        label="replay vs live outputs",
        start=LIVE_START,
        end=duration - period,
    )
    summary.write(out / "summary.csv")
    golden_cmp = None
    if golden is not None:
        if update_golden:
            summary.write(golden)
            progress(f"regress: wrote the golden summary {golden}")
        else:
            # a fresh run differs from the one the golden summary came from by the rig's own jitter
            # (start-up, radio and serial timing): events may move by up to GOLDEN_SLACK rows
            golden_cmp = gold.compare_summaries(
                gold.read_summary(golden), summary, label=f"golden {golden}", slack=GOLDEN_SLACK
            )
    return RegressResult(bag, paths, identical, live, golden_cmp, summary, factors)


def regress_main(argv: Sequence[str]) -> int:
    """``roadedge regress <scenario>``: 0 pass, 1 regression, 2 error."""
    import argparse
    import dataclasses
    import sys

    from roadedge.config import ConfigError
    from roadedge.scenario.schema import ScenarioError, load_scenario, scenario_dir

    p = argparse.ArgumentParser(
        prog="roadedge regress",
        description="record a HIL scenario run, replay its inputs through localization, planner and "
        "controller twice (deterministic), and compare the outputs: replays identical, replay vs the "
        "outputs recorded live, and vs the golden summary (test/bag/golden/<scenario>_<duration>s.csv)",
    )
    p.add_argument("scenario", help="scenario YAML or name in hil/scenarios")
    p.add_argument("--bag", type=Path, default=None, help="a run's bag (roadedge hil ...): skip the run")
    p.add_argument("--duration", type=float, default=None, help="s of the scenario to run (default: all)")
    p.add_argument("--out", type=Path, default=None, help="work folder (default out/regress/<scenario>)")
    p.add_argument("--golden", type=Path, default=None, help="golden summary CSV (default: see above)")
    p.add_argument("--update-golden", action="store_true", help="write the golden summary from this run")
    args = p.parse_args(list(argv))
    path = Path(args.scenario)
    if not path.exists() and not path.suffix:
        path = scenario_dir() / f"{args.scenario}.yaml"
    try:
        scenario = load_scenario(path)
    except (ScenarioError, ConfigError, OSError) as err:
        print(f"roadedge regress: {err}", file=sys.stderr)
        return 2
    if args.duration is not None:
        if not 0 < args.duration <= scenario.duration:
            print(f"roadedge regress: --duration must be in (0, {scenario.duration:g}] s", file=sys.stderr)
            return 2
        scenario = dataclasses.replace(scenario, duration=args.duration)
    out = args.out or Path("out") / "regress" / scenario.name
    try:
        duration = scenario.duration
        if args.bag is not None:
            with BagSource(args.bag) as source:
                duration = round(source.duration_s, 3)
        golden = args.golden or default_golden(scenario.name, duration)
        if not golden.exists() and not args.update_golden and args.golden is None:
            print(f"regress: no golden summary {golden} yet (write one with --update-golden)")
            golden = None
        result = regress(scenario, out, bag=args.bag, golden=golden, update_golden=args.update_golden)
    except BagError as err:
        print(f"roadedge regress: {err}", file=sys.stderr)
        return 2
    print(("replays identical: " + ("yes" if result.identical.passed else "NO")).ljust(24))
    if not result.identical.passed:
        print(result.identical.summary())
    print(result.live.report())
    if result.golden is not None:
        print(result.golden.report())
    print(f"summary: {out / 'summary.csv'}; replays: {', '.join(str(p) for p in result.replays)}")
    print("regress: " + ("PASS" if result.passed else "FAIL"))
    return 0 if result.passed else 1


def _ros_glue() -> Any:
    import importlib

    return importlib.import_module("roadedge_nodes.recorder")
