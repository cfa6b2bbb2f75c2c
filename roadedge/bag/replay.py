"""Replay core: read a rosbag2 bag and hand its messages to a sink on time.

:class:`BagSource` opens MCAP and sqlite3 bags (a bag directory with metadata.yaml, or a
single ``.mcap`` / ``.db3`` file), including bags written by ``ros2 bag record``, and turns
every reader failure into a :class:`~roadedge.bag.errors.BagError` that names the bag and
says what is wrong (missing, not a bag, corrupt, truncated).

:class:`Player` schedules the messages: in real-time mode at ``rate`` times the recorded
pace from ``start_offset`` seconds into the bag, publishing ``/clock`` (the bag time)
before each message and at ``clock_hz`` in between; in deterministic mode as fast as
possible, message by message, calling the sink's :meth:`Sink.settle` after each step so the
graph has processed one input (and all it caused) before the next goes out.

The sink does the publishing (rclpy in ``nodes/recorder.py``); this module never imports
rclpy. ``replay_main`` is the ``roadedge replay`` command.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import math
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rosbags.interfaces import Qos
from rosbags.rosbag2 import Reader
from rosbags.rosbag2.errors import ReaderError

from roadedge.bag.errors import BagError
from roadedge.bag.msgdefs import MessageDefinitions

NS = 1_000_000_000


@dataclass(frozen=True)
class BagMessage:
    topic: str  # name to publish on (after remapping)
    source_topic: str  # name in the bag
    msgtype: str  # pkg/msg/Type
    timestamp_ns: int  # recorded receive time
    data: bytes  # serialized CDR


@dataclass(frozen=True)
class BagTopic:
    name: str
    msgtype: str
    count: int
    offered_qos: tuple[Qos, ...] = ()
    serialization_format: str = "cdr"
    type_hash: str = ""  # RIHS01 hash of the type as recorded (empty in bags older than Iron)


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) < 300 else text[:297] + "..."


MCAP_MAGIC = b"\x89MCAP0\r\n"
SQLITE_MAGIC = b"SQLite format 3\x00"


def check_storage_file(file: Path) -> None:
    """Cheap structural checks of a storage file: magic bytes, MCAP footer, SQLite size."""
    if file.suffix not in (".mcap", ".db3"):
        return
    size = file.stat().st_size
    with file.open("rb") as stream:
        head = stream.read(100)
        if file.suffix == ".mcap":
            if not head.startswith(MCAP_MAGIC):
                raise BagError(f"{file} is not an MCAP file (bad magic bytes)")
            stream.seek(max(0, size - len(MCAP_MAGIC)))
            if size < 2 * len(MCAP_MAGIC) or stream.read() != MCAP_MAGIC:
                raise BagError(f"{file} is truncated: no MCAP footer (recording interrupted or file cut)")
        else:
            if not head.startswith(SQLITE_MAGIC):
                raise BagError(f"{file} is not an SQLite database (bad header)")
            page_size = int.from_bytes(head[16:18], "big")
            page_size = 65536 if page_size == 1 else page_size
            pages = int.from_bytes(head[28:32], "big")
            if pages and size < pages * page_size:
                raise BagError(
                    f"{file} is truncated: {size} bytes on disk, its header says {pages * page_size}"
                )


class BagSource:
    """An opened, validated bag. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"bag {self.path} does not exist")
        if self.path.is_dir() and not (self.path / "metadata.yaml").is_file():
            raise BagError(f"{self.path} is not a rosbag2 directory (no metadata.yaml)")
        for file in [self.path] if self.path.is_file() else sorted(self.path.iterdir()):
            check_storage_file(file)
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except (ReaderError, FileNotFoundError) as err:
            raise BagError(f"cannot open bag {self.path}: {_describe(err)}") from err
        except Exception as err:
            raise BagError(f"bag {self.path} is corrupt or truncated: {_describe(err)}") from err
        self.topics: dict[str, BagTopic] = {}
        for conn in self._reader.connections:
            ext = conn.ext
            fmt = getattr(ext, "serialization_format", "cdr")
            qos = tuple(getattr(ext, "offered_qos_profiles", ()) or ())
            if conn.topic in self.topics:
                old = self.topics[conn.topic]
                self.topics[conn.topic] = BagTopic(
                    conn.topic, old.msgtype, old.count + conn.msgcount, old.offered_qos
                )
            else:
                digest = conn.digest if conn.digest.startswith("RIHS01_") else ""
                self.topics[conn.topic] = BagTopic(conn.topic, conn.msgtype, conn.msgcount, qos, fmt, digest)
        self._mcap_files = self._mismatched_mcap_channels()
        for topic in self.topics.values():
            if topic.serialization_format != "cdr":
                raise BagError(
                    f"bag {self.path}: topic {topic.name} uses {topic.serialization_format!r}, not cdr"
                )

    def _mismatched_mcap_channels(self) -> list[Path]:
        """Storage files to read directly, where rosbags would read no message of a topic.

        rosbags pairs the topics of metadata.yaml with those of the storage files by name, type and
        offered QoS. Older rosbag2 wrote "unset" QoS durations differently in the two places (the
        Foxy-era talker bags of rosbag2's own tests: deadline 0 in metadata.yaml, 2147483647 s in
        the MCAP channels and the sqlite3 topics table): rosbags then reads nothing. Such bags are
        read directly (mcap package, sqlite3), topics matched by name."""
        inner = getattr(self._reader, "storage", None)
        storages = getattr(inner, "storages", None)
        if not storages:
            return []
        stored = [(c.topic, c.msgtype, c.ext) for storage in storages for c in storage.connections]
        unmatched = [
            conn.topic
            for conn in self._reader.connections
            if conn.msgcount
            and not any(t == conn.topic and m == conn.msgtype and e == conn.ext for t, m, e in stored)
        ]
        if not unmatched:
            return []
        return sorted(f for f in self.path.iterdir() if f.suffix in (".mcap", ".db3"))

    def _mcap_messages(self, wanted: set[str], start_ns: int | None, stop_ns: int | None) -> Iterator[Any]:
        from mcap.reader import make_reader

        for file in self._mcap_files:
            if file.suffix == ".mcap":
                with file.open("rb") as stream:
                    for _schema, channel, message in make_reader(stream).iter_messages(
                        topics=sorted(wanted),
                        starting_at=start_ns,
                        ending_before=stop_ns,
                        log_time_order=True,
                    ):
                        yield channel.topic, int(message.log_time), message.data
                continue
            with contextlib.closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as db:
                names = dict(db.execute("SELECT id, name FROM topics").fetchall())
                rows = db.execute(
                    "SELECT topic_id, timestamp, data FROM messages WHERE timestamp >= ? AND timestamp < ? "
                    "ORDER BY timestamp, id",
                    (
                        start_ns if start_ns is not None else -(2**63),
                        stop_ns if stop_ns is not None else 2**63 - 1,
                    ),
                )
                for topic_id, timestamp, data in rows:
                    if names.get(topic_id) in wanted:
                        yield names[topic_id], int(timestamp), data

    def __enter__(self) -> BagSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._reader.close()

    @property
    def start_ns(self) -> int:
        return int(self._reader.start_time) if self.message_count else 0

    @property
    def end_ns(self) -> int:
        return int(self._reader.end_time) if self.message_count else 0

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / NS

    @property
    def message_count(self) -> int:
        return int(self._reader.message_count)

    @property
    def storage(self) -> str:
        files = [self.path] if self.path.is_file() else list(self.path.iterdir())
        return "mcap" if any(f.suffix == ".mcap" for f in files) else "sqlite3"

    def select(self, topics: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[str]:
        """Bag topics matching any ``topics`` pattern (all if empty) and no ``exclude`` pattern (fnmatch)."""
        out = []
        for name in sorted(self.topics):
            if topics and not any(fnmatch.fnmatchcase(name, p) for p in topics):
                continue
            if any(fnmatch.fnmatchcase(name, p) for p in exclude):
                continue
            out.append(name)
        missing = [p for p in topics if not any(c in "*?[" for c in p) and p not in self.topics]
        if missing:
            known = ", ".join(sorted(self.topics))
            raise BagError(f"bag {self.path} has no topic {', '.join(missing)} (topics: {known})")
        return out

    def stale_topics(self, definitions: MessageDefinitions | None = None) -> dict[str, str]:
        """Topics recorded with another definition of their type than the one installed (an older
        roadedge_msgs, say): their bytes would not deserialize, or into the wrong fields. Compared by
        the RIHS01 type hash the bag holds; topic -> why. Bags without hashes are not judged."""
        definitions = definitions or MessageDefinitions()
        stale = {}
        for topic in self.topics.values():
            if not topic.type_hash:
                continue
            installed = definitions.installed_hash(topic.msgtype)
            if installed is not None and installed != topic.type_hash:
                stale[topic.name] = (
                    f"{topic.msgtype} recorded as {topic.type_hash[:19]}..., installed {installed[:19]}...: "
                    "another definition of the type"
                )
        return stale

    def messages(
        self,
        topics: Sequence[str] | None = None,
        *,
        start_ns: int | None = None,
        stop_ns: int | None = None,
        remap: dict[str, str] | None = None,
    ) -> Iterator[BagMessage]:
        """Messages in recorded order; reading errors become BagError (corrupt or truncated)."""
        wanted = set(self.topics) if topics is None else set(topics)
        conns = [c for c in self._reader.connections if c.topic in wanted]
        remap = remap or {}
        if not conns:
            return
        count = 0
        try:
            if self._mcap_files:
                for topic, timestamp, data in self._mcap_messages(wanted, start_ns, stop_ns):
                    count += 1
                    msgtype = self.topics[topic].msgtype
                    yield BagMessage(remap.get(topic, topic), topic, msgtype, timestamp, bytes(data))
                return
            for conn, timestamp, data in self._reader.messages(
                connections=conns, start=start_ns, stop=stop_ns
            ):
                count += 1
                yield BagMessage(
                    remap.get(conn.topic, conn.topic), conn.topic, conn.msgtype, int(timestamp), bytes(data)
                )
        except BagError:
            raise
        except Exception as err:
            raise BagError(
                f"bag {self.path} is corrupt or truncated (after {count} good messages): {_describe(err)}"
            ) from err

    def check(self) -> int:
        """Read every message; the count read must match the metadata. Returns the count."""
        n = sum(1 for _ in self.messages())
        if n != self.message_count:
            raise BagError(
                f"bag {self.path} is truncated: metadata says {self.message_count} messages, read {n}"
            )
        return n


# ---------------------------------------------------------------------------------------------
# Playback


class Sink(Protocol):
    """Where the player's messages go (rclpy publishers in the node glue, a list in tests)."""

    def publish(self, msg: BagMessage) -> None: ...

    def clock(self, time_ns: int) -> None: ...

    def settle(self) -> None:
        """Deterministic mode: return once the graph has processed everything published so far."""
        ...


class WallClock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


@dataclass(frozen=True)
class PlayOptions:
    rate: float = 1.0  # x recorded pace (real-time mode)
    start_offset: float = 0.0  # s into the bag
    duration: float | None = None  # s of bag time to play from the offset (None: to the end)
    topics: tuple[str, ...] = ()  # fnmatch patterns; empty = all
    exclude: tuple[str, ...] = ()
    remap: dict[str, str] = field(default_factory=dict)
    clock: bool = True  # publish /clock with the bag time
    clock_hz: float = 100.0  # /clock ticks between messages (real-time mode; in deterministic mode, steps)
    deterministic: bool = False  # as fast as possible, message by message, settle after each
    loop: bool = False

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise BagError(f"rate must be a positive number, got {self.rate}")
        if self.start_offset < 0:
            raise BagError(f"start offset must be >= 0 s, got {self.start_offset}")
        if self.duration is not None and self.duration <= 0:
            raise BagError(f"duration must be > 0 s, got {self.duration}")
        if self.clock_hz < 0:
            raise BagError(f"clock rate must be >= 0 Hz, got {self.clock_hz}")


@dataclass
class PlayStats:
    messages: int = 0
    clock_ticks: int = 0
    bag_seconds: float = 0.0
    wall_seconds: float = 0.0
    per_topic: dict[str, int] = field(default_factory=dict)

    @property
    def speed_factor(self) -> float:
        return self.bag_seconds / self.wall_seconds if self.wall_seconds > 0 else math.inf


class Player:
    def __init__(
        self, source: BagSource, sink: Sink, options: PlayOptions | None = None, wall: WallClock | None = None
    ) -> None:
        self.source = source
        self.sink = sink
        self.options = options or PlayOptions()
        self.wall = wall or MonotonicClock()
        self.topics = source.select(self.options.topics, self.options.exclude)
        self._stop = False

    def stop(self) -> None:
        """Ask a running :meth:`run` to return after the current message (thread-safe)."""
        self._stop = True

    def window(self) -> tuple[int, int | None]:
        o = self.options
        start = self.source.start_ns + round(o.start_offset * NS)
        stop = None if o.duration is None else start + round(o.duration * NS) + 1
        return start, stop

    def run(self) -> PlayStats:
        stats = PlayStats(per_topic=dict.fromkeys(self.topics, 0))
        wall_start = self.wall.now()
        while True:
            before = stats.messages
            self._play_once(stats)
            if not self.options.loop or self._stop or stats.messages == before:
                break  # (an empty selection must not spin forever in loop mode)
        stats.wall_seconds = self.wall.now() - wall_start
        return stats

    def _play_once(self, stats: PlayStats) -> None:
        o = self.options
        start, stop = self.window()
        tick_ns = round(NS / o.clock_hz) if o.clock and o.clock_hz > 0 else 0
        wall0 = self.wall.now()
        next_tick = start
        last_ns = start

        def due(t_ns: int) -> float:
            return wall0 + (t_ns - start) / NS / o.rate

        last_clock = -1

        def tick(t_ns: int) -> None:
            nonlocal last_clock
            if t_ns == last_clock:
                return
            self.sink.clock(t_ns)
            last_clock = t_ns
            stats.clock_ticks += 1
            if o.deterministic:
                self.sink.settle()

        def clock_to(t_ns: int) -> None:
            """Clock ticks due before t_ns (at clock_hz), then t_ns itself."""
            nonlocal next_tick
            if not o.clock:
                return
            while tick_ns and next_tick < t_ns:
                if not o.deterministic:
                    self.wall.sleep(due(next_tick) - self.wall.now())
                tick(next_tick)
                next_tick += tick_ns
            tick(t_ns)

        if o.clock:
            tick(start)
            next_tick = start + tick_ns if tick_ns else start
        for msg in self.source.messages(self.topics, start_ns=start, stop_ns=stop, remap=o.remap):
            if self._stop:
                return
            clock_to(msg.timestamp_ns)
            if not o.deterministic:
                self.wall.sleep(due(msg.timestamp_ns) - self.wall.now())
            self.sink.publish(msg)
            if o.deterministic:
                self.sink.settle()
            stats.messages += 1
            stats.per_topic[msg.source_topic] += 1
            last_ns = msg.timestamp_ns
        stats.bag_seconds += (last_ns - start) / NS


# ---------------------------------------------------------------------------------------------
# Command line


def parse_remaps(items: Sequence[str]) -> dict[str, str]:
    """``from:=to`` pairs (the ros2 bag play syntax)."""
    out = {}
    for item in items:
        src, sep, dst = item.partition(":=")
        if not sep or not src or not dst:
            raise BagError(f"remap {item!r} is not of the form /from:=/to")
        out[src] = dst
    return out


def build_replay_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="roadedge replay", description="play a rosbag2 bag (MCAP or sqlite3)")
    p.add_argument("bag", type=Path, help="bag directory (with metadata.yaml) or a .mcap / .db3 file")
    p.add_argument("-r", "--rate", type=float, default=1.0, help="playback rate, x recorded pace (default 1)")
    p.add_argument("--start-offset", type=float, default=0.0, help="s into the bag to start at")
    p.add_argument("--duration", type=float, default=None, help="s of bag time to play")
    p.add_argument("--topics", nargs="+", default=[], help="topics (fnmatch patterns) to play; default all")
    p.add_argument("--exclude", nargs="+", default=[], help="topics (fnmatch patterns) to leave out")
    p.add_argument("--remap", "-m", nargs="+", default=[], help="remaps /from:=/to")
    p.add_argument(
        "--clock",
        type=float,
        default=100.0,
        metavar="HZ",
        help="publish /clock at this rate between messages (0: only with each message)",
    )
    p.add_argument("--no-clock", action="store_true", help="do not publish /clock")
    p.add_argument("--loop", "-l", action="store_true", help="play again from the start offset")
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="as fast as possible, message by message, waiting for subscribers (in-process graph)",
    )
    p.add_argument(
        "--profile",
        default=None,
        help="with --deterministic: run this profile's nodes in-process as the graph under test",
    )
    p.add_argument(
        "--record",
        type=Path,
        default=None,
        help="with --deterministic: record the graph's outputs to this bag",
    )
    p.add_argument("--record-topics", nargs="+", default=[], help="topics to record with --record")
    p.add_argument(
        "--live",
        type=int,
        default=0,
        metavar="PORT",
        help="also serve the played messages to Foxglove on ws://127.0.0.1:PORT (needs foxglove-sdk)",
    )
    p.add_argument("--info", action="store_true", help="print the bag's topics and exit")
    p.add_argument("--check", action="store_true", help="read every message to verify the bag, then exit")
    return p


def bag_info(source: BagSource) -> str:
    lines = [
        f"bag:      {source.path}",
        f"storage:  {source.storage}",
        f"duration: {source.duration_s:.3f} s",
        f"messages: {source.message_count}",
        "topics:",
    ]
    width = max((len(t) for t in source.topics), default=0)
    stale = source.stale_topics()
    for topic in sorted(source.topics.values(), key=lambda t: t.name):
        note = f"  (not played: {stale[topic.name]})" if topic.name in stale else ""
        lines.append(f"  {topic.name.ljust(width)}  {topic.msgtype}  {topic.count}{note}")
    return "\n".join(lines)


def options_from_args(args: argparse.Namespace) -> PlayOptions:
    return PlayOptions(
        rate=args.rate,
        start_offset=args.start_offset,
        duration=args.duration,
        topics=tuple(args.topics),
        exclude=tuple(args.exclude),
        remap=parse_remaps(args.remap),
        clock=not args.no_clock,
        clock_hz=args.clock,
        deterministic=args.deterministic,
        loop=args.loop,
    )


def replay_main(argv: Sequence[str]) -> int:
    """``roadedge replay <bag>``: 0 done, 1 bag error, 2 usage error."""
    parser = build_replay_parser()
    args = parser.parse_args(list(argv))
    try:
        options = options_from_args(args)
        with BagSource(args.bag) as source:
            if args.info or args.check:
                print(bag_info(source))
                if args.check:
                    print(f"check: {source.check()} messages read, bag OK")
                return 0
            source.select(options.topics, options.exclude)  # unknown topics fail before ROS starts
            glue = _ros_glue()
            stats: PlayStats = glue.play(
                source,
                options,
                profile=args.profile,
                record=args.record,
                record_topics=args.record_topics,
                live_port=args.live,
            )
    except BagError as err:
        print(f"roadedge replay: {err}", file=sys.stderr)
        return 1
    print(
        f"replayed {stats.messages} messages ({stats.bag_seconds:.2f} s of bag time) in "
        f"{stats.wall_seconds:.2f} s: {stats.speed_factor:.1f}x"
    )
    return 0


def _ros_glue() -> Any:
    """The rclpy side of the bag tools (imported only when ROS is needed)."""
    import importlib

    return importlib.import_module("roadedge_nodes.recorder")
