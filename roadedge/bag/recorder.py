"""Recorder core: serialized messages in, a rosbag2 bag (MCAP or sqlite3) out.

The bag is what ``ros2 bag record`` on Jazzy writes: metadata.yaml version 9 with every
topic's type, serialization format, offered QoS profiles and RIHS01 type hash; in the
storage file the full ``ros2msg`` definition of each type with its dependencies (read
from the installed ``.msg`` files, as rosbag2 does); for MCAP also the ``offered_qos_profiles``
and ``topic_type_hash`` channel metadata and the ``rosbag2`` metadata record.

This module never imports rclpy: the node (``nodes/recorder.py``) feeds it the raw CDR bytes
that rclpy hands to a ``raw=True`` subscription, and the QoS of the matched publishers.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast

from rosbags.interfaces import (
    Connection,
    ConnectionExtRosbag2,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import StoragePlugin
from rosbags.rosbag2.errors import WriterError
from rosbags.rosbag2.storage_mcap import Channel, McapWriter, write_channel, write_string

from roadedge.bag.errors import BagError
from roadedge.bag.msgdefs import MessageDefinitions, normalize_type

STORAGES = ("mcap", "sqlite3")
#: rosbag2 metadata version written by Jazzy's rosbag2 (0.26.x)
METADATA_VERSION: Literal[9] = 9
INFINITE_NS = 0x7FFFFFFFFFFFFFFF


@dataclass(frozen=True)
class QosSpec:
    """A QoS profile as rosbag2 stores it (names as in rmw: reliable, best_effort, ...)."""

    reliability: str = "reliable"  # reliable | best_effort | system_default
    durability: str = "volatile"  # volatile | transient_local | system_default
    history: str = "keep_last"  # keep_last | keep_all | system_default
    depth: int = 10
    deadline_ns: int = INFINITE_NS
    lifespan_ns: int = INFINITE_NS
    liveliness: str = "automatic"
    liveliness_lease_ns: int = INFINITE_NS
    avoid_ros_namespace_conventions: bool = False

    def to_rosbags(self) -> Qos:
        def enum(cls: Any, value: str) -> Any:
            try:
                return cls[value.upper()]
            except KeyError:
                raise BagError(f"unknown QoS {cls.__name__} value {value!r}") from None

        def dur(ns: int) -> QosTime:
            return QosTime(ns // 1_000_000_000, ns % 1_000_000_000)

        return Qos(
            history=enum(QosHistory, self.history),
            depth=self.depth,
            reliability=enum(QosReliability, self.reliability),
            durability=enum(QosDurability, self.durability),
            deadline=dur(self.deadline_ns),
            lifespan=dur(self.lifespan_ns),
            liveliness=enum(QosLiveliness, self.liveliness),
            liveliness_lease_duration=dur(self.liveliness_lease_ns),
            avoid_ros_namespace_conventions=self.avoid_ros_namespace_conventions,
        )


class _McapStorage(McapWriter):
    """rosbags' MCAP writer plus the ``topic_type_hash`` channel metadata rosbag2 writes."""

    def add_connection(self, connection: Connection, offered_qos_profiles: str) -> None:
        metadata = BytesIO()
        write_string(metadata, "offered_qos_profiles")
        write_string(metadata, offered_qos_profiles)
        write_string(metadata, "topic_type_hash")
        write_string(metadata, connection.digest)
        self.channels.append(
            Channel(
                connection.id,
                connection.msgtype,
                connection.topic,
                cast(ConnectionExtRosbag2, connection.ext).serialization_format,
                metadata.getvalue(),
            )
        )
        self.channel_stats[connection.id] = 0
        write_channel(self.chunk.bio, self.channels[-1], self.schemas)


class _Writer(Writer):
    STORAGE_PLUGINS = {  # noqa: RUF012 - replaces the base class table
        StoragePlugin.SQLITE3: Writer.STORAGE_PLUGINS[StoragePlugin.SQLITE3],
        StoragePlugin.MCAP: _McapStorage,
    }


@dataclass(frozen=True)
class TopicStats:
    name: str
    type: str
    count: int


class BagRecorder:
    """Writes topics to a new rosbag2 directory. Thread-safe; use as a context manager."""

    def __init__(
        self,
        path: str | Path,
        *,
        storage: str = "mcap",
        definitions: MessageDefinitions | None = None,
        custom_data: dict[str, str] | None = None,
    ) -> None:
        if storage not in STORAGES:
            raise BagError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        self.storage = storage
        self.definitions = definitions or MessageDefinitions()
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        try:
            self._writer = _Writer(self.path, version=METADATA_VERSION, storage_plugin=plugin)
            for key, value in (custom_data or {}).items():
                self._writer.set_custom_data(key, value)
            self._writer.open()
        except WriterError as err:
            raise BagError(f"cannot create bag {self.path}: {err}") from err
        self._connections: dict[str, Connection] = {}
        self._types: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> BagRecorder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def topics(self) -> dict[str, str]:
        return dict(self._types)

    def add_topic(self, name: str, msgtype: str, offered_qos: Sequence[QosSpec] = ()) -> None:
        """Register a topic (once) with its type and the QoS its publishers offer."""
        msgtype = normalize_type(msgtype)
        with self._lock:
            if self._closed:
                raise BagError(f"bag {self.path} is closed")
            if name in self._connections:
                if self._types[name] != msgtype:
                    raise BagError(f"topic {name} already recorded as {self._types[name]}, not {msgtype}")
                return
            msgdef, digest = self.definitions.definition(msgtype)
            self._connections[name] = self._writer.add_connection(
                name,
                msgtype,
                msgdef=msgdef,
                rihs01=digest,
                serialization_format="cdr",
                offered_qos_profiles=[q.to_rosbags() for q in offered_qos] or [QosSpec().to_rosbags()],
            )
            self._types[name] = msgtype
            self._counts[name] = 0

    def write(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        """Append one serialized (CDR) message received at ``timestamp_ns``."""
        with self._lock:
            if self._closed:
                raise BagError(f"bag {self.path} is closed")
            connection = self._connections.get(topic)
            if connection is None:
                raise BagError(f"topic {topic} was not added to bag {self.path}")
            self._writer.write(connection, int(timestamp_ns), bytes(data))
            self._counts[topic] += 1

    def stats(self) -> list[TopicStats]:
        with self._lock:
            return [TopicStats(name, self._types[name], self._counts[name]) for name in sorted(self._types)]

    def close(self) -> None:
        """Finish the storage file and write metadata.yaml (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._writer.close()


def build_record_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="roadedge record", description="record topics to a rosbag2 bag")
    p.add_argument("topics", nargs="*", help="topics to record")
    p.add_argument(
        "-a", "--all", action="store_true", help="record every topic (except /rosout, /parameter_events)"
    )
    p.add_argument(
        "-o", "--output", type=Path, default=None, help="bag directory (default out/bags/roadedge_<time>)"
    )
    p.add_argument("-s", "--storage", choices=STORAGES, default="mcap", help="storage plugin (default mcap)")
    p.add_argument("--exclude", nargs="+", default=[], help="fnmatch patterns of topics not to record")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--use-sim-time", action="store_true", help="stamp messages with /clock time")
    p.add_argument(
        "--live",
        type=int,
        default=0,
        metavar="PORT",
        help="also serve a Foxglove live view on ws://127.0.0.1:PORT (needs foxglove-sdk)",
    )
    return p


def record_main(argv: Sequence[str]) -> int:
    """``roadedge record``: 0 done, 1 bag error, 2 usage error."""
    parser = build_record_parser()
    args = parser.parse_args(list(argv))
    if not args.topics and not args.all:
        parser.error("name topics to record or pass --all")
    if args.output is not None and args.output.exists():
        print(f"roadedge record: {args.output} exists already; not overwriting", file=sys.stderr)
        return 1
    glue = importlib.import_module("roadedge_nodes.recorder")
    try:
        code: int = glue.record(
            args.output,
            args.storage,
            args.topics,
            args.all,
            args.exclude,
            args.duration,
            args.use_sim_time,
            args.live,
        )
    except BagError as err:
        print(f"roadedge record: {err}", file=sys.stderr)
        return 1
    return code
