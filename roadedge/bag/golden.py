"""Golden summaries of a vehicle stack's outputs: what a regression run is compared with.

A run's outputs (odometry, vehicle command, trajectory, work-equipment command, advisories) are
sampled on a fixed grid of bag time (sample-and-hold: the last message at or before each grid
time) into a small table, one row per grid time and one column per key figure. The table is
written as CSV (a few KB per minute of drive, reviewed like code) and compared with another
run's table column by column: numbers within the column's tolerance, discrete values (modes,
behaviours, advisory types) exactly; each value may match the golden row or a neighbour within
``slack`` rows, so an event that moves by less than the grid step is not a difference.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roadedge import topics
from roadedge.bag.errors import BagError
from roadedge.bag.msgdefs import MessageDefinitions
from roadedge.bag.replay import NS, BagSource


def _abs(topic: topics.Topic) -> str:
    return topic.name if topic.name.startswith("/") else "/" + topic.name


#: What the vehicle's processing nodes (localization, planner, controller) put out: compared
#: between a live run, its replays and the golden summary.
REPLAY_OUTPUTS: tuple[str, ...] = tuple(
    _abs(t)
    for t in (
        topics.ODOMETRY,
        topics.VEHICLE_COMMAND,
        topics.TRAJECTORY,
        topics.EQUIPMENT_COMMAND,
        topics.ADVISORIES,
        topics.TASK_PROGRESS,
        topics.TF,
    )
)

ADVISORY_NAMES = (
    "FCW",
    "ICW",
    "RLVW",
    "GLOSA",
    "EVW",
    "VRUCW",
    "HAZARD",
    "WORK_ZONE",
    "SPEED_LIMIT",
    "EQUIP",
)


def _yaw(msg: Any) -> float:
    q = msg.pose.pose.orientation
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def _advisories(msg: Any) -> str:
    names = sorted(
        {ADVISORY_NAMES[a.type] if a.type < len(ADVISORY_NAMES) else str(a.type) for a in msg.advisories}
    )
    return "+".join(names) or "-"


@dataclass(frozen=True)
class Column:
    name: str
    topic: str
    value: Callable[[Any], float | int | str]
    tolerance: float | None  # None: compared exactly (discrete)
    unit: str = ""


_ODOM, _CMD = _abs(topics.ODOMETRY), _abs(topics.VEHICLE_COMMAND)
_TRAJ, _EQ, _ADV = _abs(topics.TRAJECTORY), _abs(topics.EQUIPMENT_COMMAND), _abs(topics.ADVISORIES)

#: The key figures and their tolerances (what a behaviour change must exceed to fail a regression).
COLUMNS: tuple[Column, ...] = (
    Column("x", _ODOM, lambda m: m.pose.pose.position.x, 0.3, "m"),
    Column("y", _ODOM, lambda m: m.pose.pose.position.y, 0.3, "m"),
    Column("yaw", _ODOM, _yaw, 0.03, "rad"),
    Column("v", _ODOM, lambda m: m.twist.twist.linear.x, 0.2, "m/s"),
    Column("cmd_enable", _CMD, lambda m: int(m.enable), None),
    Column("cmd_mode", _CMD, lambda m: int(m.drive_mode), None),
    Column("cmd_speed", _CMD, lambda m: m.target_speed, 0.3, "m/s"),
    Column("cmd_accel", _CMD, lambda m: m.target_acceleration, 0.4, "m/s^2"),
    Column("cmd_steer", _CMD, lambda m: m.steering_angle, 0.03, "rad"),
    Column("behaviour", _TRAJ, lambda m: int(m.behaviour), None),
    Column("plan_v", _TRAJ, lambda m: m.points[0].velocity if len(m.points) else 0.0, 0.3, "m/s"),
    Column("eq_enable", _EQ, lambda m: int(m.enable), None),
    Column("main_brush", _EQ, lambda m: int(m.main_brush), None),
    Column("suction", _EQ, lambda m: m.suction_fan_speed, 0.05, "0..1"),
    Column("spray", _EQ, lambda m: m.water_spray_flow, 0.5, "L/min"),
    Column("advisories", _ADV, _advisories, None),
)
BY_NAME = {c.name: c for c in COLUMNS}
MISSING = ""  # no message on the column's topic yet


@dataclass
class Summary:
    """Rows of (t, values...) on a grid of ``period`` s from the origin."""

    columns: tuple[str, ...]
    rows: list[tuple[float, tuple[Any, ...]]]
    period: float
    notes: dict[str, str] = field(default_factory=dict)

    def to_csv(self) -> str:
        out = io.StringIO()
        for key, value in self.notes.items():
            out.write(f"# {key}: {value}\n")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["t", *self.columns])
        for t, values in self.rows:
            writer.writerow([f"{t:.2f}", *(_fmt(v) for v in values)])
        return out.getvalue()

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_csv())
        return path


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.4f}"
        return "0.0000" if text == "-0.0000" else text
    return str(value)


def _parse(text: str, column: Column | None) -> Any:
    if text == MISSING:
        return MISSING
    if column is not None and column.tolerance is None:
        try:
            return int(text)
        except ValueError:
            return text
    try:
        return float(text)
    except ValueError:
        return text


def read_summary(path: str | Path) -> Summary:
    path = Path(path)
    if not path.is_file():
        raise BagError(f"golden summary {path} does not exist (write it with --update-golden)")
    notes: dict[str, str] = {}
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            notes[key.strip()] = value.strip()
        elif line.strip():
            lines.append(line)
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise BagError(f"golden summary {path} is empty") from None
    if not header or header[0] != "t":
        raise BagError(f"golden summary {path}: the first column must be t, not {header[:1]}")
    columns = tuple(header[1:])
    rows = []
    for number, record in enumerate(reader, start=2):
        if len(record) != len(header):
            raise BagError(
                f"golden summary {path} row {number}: {len(record)} fields, header has {len(header)}"
            )
        rows.append(
            (
                float(record[0]),
                tuple(_parse(v, BY_NAME.get(c)) for c, v in zip(columns, record[1:], strict=True)),
            )
        )
    period = float(notes.get("period", rows[1][0] - rows[0][0] if len(rows) > 1 else 0.5))
    return Summary(columns, rows, period, notes)


def message_time(decoded: Any, received_ns: int) -> int:
    """When the node computed a message: its header stamp (node clock), else the receive time.
    (A live run's recorder may take a message a step or two after it was sent; a replay's does not.)"""
    header = getattr(decoded, "header", None)
    if header is not None and (header.stamp.sec or header.stamp.nanosec):
        return int(header.stamp.sec) * NS + int(header.stamp.nanosec)
    return received_ns


def summarize(
    bag: str | Path,
    origin_ns: int,
    duration: float,
    *,
    period: float = 0.5,
    columns: Sequence[Column] = COLUMNS,
    definitions: MessageDefinitions | None = None,
    notes: dict[str, str] | None = None,
) -> Summary:
    """The key figures of ``bag`` on the grid origin + k * period, k = 1 .. duration / period,
    each the last value computed at or before the grid time (:func:`message_time`)."""
    defs = definitions or MessageDefinitions()
    grid = [round(k * period, 6) for k in range(1, int(duration / period + 1e-9) + 1)]
    table: dict[str, list[Any]] = {}
    with BagSource(bag) as source:
        by_topic: dict[str, list[Column]] = {}
        for col in columns:
            by_topic.setdefault(col.topic, []).append(col)
        for topic, cols in by_topic.items():
            values: dict[str, list[Any]] = {c.name: [MISSING] * len(grid) for c in cols}
            if topic in source.topics:
                msgtype = source.topics[topic].msgtype
                store = defs.typestore([msgtype])
                current: dict[str, Any] = dict.fromkeys(values, MISSING)
                k = 0
                for msg in source.messages([topic]):
                    decoded = store.deserialize_cdr(msg.data, msgtype)
                    t = (message_time(decoded, msg.timestamp_ns) - origin_ns) / NS
                    while k < len(grid) and grid[k] < t - 1e-9:
                        for name in values:
                            values[name][k] = current[name]
                        k += 1
                    if k >= len(grid):
                        break
                    for col in cols:
                        value = col.value(decoded)
                        current[col.name] = float(value) if isinstance(value, float) else value
                while k < len(grid):
                    for name in values:
                        values[name][k] = current[name]
                    k += 1
            table.update(values)
    names = tuple(c.name for c in columns)
    rows = [(t, tuple(table[n][i] for n in names)) for i, t in enumerate(grid)]
    return Summary(names, rows, period, {"period": f"{period:g}", **(notes or {})})


@dataclass(frozen=True)
class CellDiff:
    t: float
    column: str
    expected: Any
    actual: Any
    tolerance: float | None


@dataclass
class SummaryComparison:
    label: str
    diffs: list[CellDiff]
    problems: list[str]
    compared: int
    max_diff: dict[str, float]

    @property
    def passed(self) -> bool:
        return not self.diffs and not self.problems

    def report(self, limit: int = 12) -> str:
        lines = [
            f"{self.label}: " + ("PASS" if self.passed else "FAIL") + f" ({self.compared} rows compared)"
        ]
        lines += [f"  {p}" for p in self.problems]
        if self.max_diff:
            worst = ", ".join(f"{name} {diff:.3g}" for name, diff in self.max_diff.items())
            lines.append(f"  largest differences: {worst}")
        if self.diffs:
            lines.append(f"  {len(self.diffs)} cells outside tolerance, first ones:")
            lines.append(f"  {'t':>7}  {'column':<11} {'golden':>12} {'actual':>12}  tolerance")
            for d in self.diffs[:limit]:
                tol = "exact" if d.tolerance is None else f"{d.tolerance:g}"
                lines.append(
                    f"  {d.t:7.2f}  {d.column:<11} {_fmt(d.expected):>12} {_fmt(d.actual):>12}  {tol}"
                )
        return "\n".join(lines)


def _close(expected: Any, actual: Any, tolerance: float | None) -> bool:
    if isinstance(expected, float) and isinstance(actual, float) and tolerance is not None:
        if math.isnan(expected) or math.isnan(actual):
            return math.isnan(expected) and math.isnan(actual)
        return abs(expected - actual) <= tolerance + 1e-9
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)) and tolerance is None:
        return float(expected) == float(actual)
    return bool(expected == actual)


def _within_span(expected: Any, values: list[Any], tol: float) -> bool:
    numbers = [v for v in values if isinstance(v, float) and not math.isnan(v)]
    if not isinstance(expected, float) or len(numbers) < 2:
        return False
    return min(numbers) - tol <= expected <= max(numbers) + tol


def compare_summaries(
    golden: Summary,
    actual: Summary,
    *,
    label: str = "golden summary",
    slack: int = 1,
    tolerances: dict[str, float] | None = None,
    start: float = 0.0,
    end: float = math.inf,
) -> SummaryComparison:
    """Every golden cell must be matched by the actual value at the same grid time or within
    ``slack`` rows of it (numbers within the column tolerance, or inside the range the actual
    values span over those rows: the same change, a little earlier or later; discrete values
    exactly). Rows before ``start`` s and after ``end`` s are not compared."""
    problems = []
    if abs(golden.period - actual.period) > 1e-9:
        problems.append(f"grid period differs: golden {golden.period:g} s, actual {actual.period:g} s")
    missing = [c for c in golden.columns if c not in actual.columns]
    if missing:
        problems.append(f"columns missing in the actual summary: {', '.join(missing)}")
    if len(golden.rows) != len(actual.rows):
        problems.append(f"golden has {len(golden.rows)} rows, actual {len(actual.rows)} (another duration?)")
    index = {c: i for i, c in enumerate(actual.columns)}
    diffs: list[CellDiff] = []
    max_diff: dict[str, float] = {}
    n = min(len(golden.rows), len(actual.rows))
    compared = 0
    for row in range(n):
        t, values = golden.rows[row]
        if t < start - 1e-9 or t > end + 1e-9:
            continue
        compared += 1
        for ci, name in enumerate(golden.columns):
            if name not in index:
                continue
            col = BY_NAME.get(name)
            tol = (tolerances or {}).get(name, col.tolerance if col else 0.0)
            expected = values[ci]
            here = actual.rows[row][1][index[name]]
            if isinstance(expected, float) and isinstance(here, float):
                max_diff[name] = max(max_diff.get(name, 0.0), abs(expected - here))
            if _close(expected, here, tol):
                continue
            near = [
                actual.rows[r][1][index[name]] for r in range(max(0, row - slack), min(n, row + slack + 1))
            ]
            if any(_close(expected, value, tol) for value in near):
                continue
            if tol is not None and _within_span(expected, near, tol):
                continue  # a change that happened up to ``slack`` rows earlier or later
            diffs.append(CellDiff(t, name, expected, here, tol))
    return SummaryComparison(label, diffs, problems, compared, max_diff)


def tolerance_table(columns: Iterable[Column] = COLUMNS) -> str:
    return ", ".join(
        f"{c.name} {'exact' if c.tolerance is None else f'{c.tolerance:g} {c.unit}'.strip()}" for c in columns
    )
