"""Bags laid out exactly as ``ros2 bag record`` on Jazzy writes them, made without rosbags.

MCAP: written with the ``mcap`` package's writer (chunked, CRCs, message indexes, summary),
profile ros2, schemas ``ros2msg`` with the installed definitions, channel metadata
``offered_qos_profiles`` (YAML string) and ``topic_type_hash``, the ``rosbag2`` metadata
record, file ``<bag>_0.mcap``. sqlite3: the Jazzy schema (version 4) by plain SQL.
metadata.yaml: version 9, ros_distro jazzy, the field order and layout of rosbag2 0.26.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from mcap.writer import IndexType
from mcap.writer import Writer as McapFileWriter

from roadedge.bag.msgdefs import MessageDefinitions

INF = {"sec": 9223372036, "nsec": 854775807}


def qos_yaml(reliability: str = "reliable", durability: str = "volatile", depth: int = 10) -> str:
    return (
        f"- history: keep_last\n  depth: {depth}\n  reliability: {reliability}\n  durability: {durability}\n"
        "  deadline:\n    sec: 9223372036\n    nsec: 854775807\n"
        "  lifespan:\n    sec: 9223372036\n    nsec: 854775807\n"
        "  liveliness: automatic\n"
        "  liveliness_lease_duration:\n    sec: 9223372036\n    nsec: 854775807\n"
        "  avoid_ros_namespace_conventions: false"
    )


def _metadata(
    storage: str,
    file_name: str,
    topics: dict[str, tuple[str, str, str, int]],
    start: int,
    end: int,
    count: int,
) -> str:
    lines = [
        "rosbag2_bagfile_information:",
        "  version: 9",
        f"  storage_identifier: {storage}",
        "  duration:",
        f"    nanoseconds: {end - start}",
        "  starting_time:",
        f"    nanoseconds_since_epoch: {start}",
        f"  message_count: {count}",
        "  topics_with_message_count:",
    ]
    for name, (msgtype, qos, digest, n) in topics.items():
        lines += [
            "    - topic_metadata:",
            f"        name: {name}",
            f"        type: {msgtype}",
            "        serialization_format: cdr",
            "        offered_qos_profiles:",
            *("          " + line for line in qos.splitlines()),
            f"        type_description_hash: {digest}",
            f"      message_count: {n}",
        ]
    lines += [
        '  compression_format: ""',
        '  compression_mode: ""',
        "  relative_file_paths:",
        f"    - {file_name}",
        "  files:",
        f"    - path: {file_name}",
        "      starting_time:",
        f"        nanoseconds_since_epoch: {start}",
        "      duration:",
        f"        nanoseconds: {end - start}",
        f"      message_count: {count}",
        "  custom_data: ~",
        "  ros_distro: jazzy",
    ]
    return "\n".join(lines) + "\n"


def write_jazzy_bag(
    path: Path,
    storage: str,
    topics: dict[str, str],
    messages: Sequence[tuple[str, int, bytes]],
    qos: dict[str, str] | None = None,
    type_hashes: dict[str, str] | None = None,
) -> Path:
    """A bag directory as Jazzy's rosbag2 writes it; messages are (topic, time ns, cdr bytes).
    ``type_hashes``: a topic's recorded RIHS01 hash instead of the installed type's (a bag recorded
    with another definition of the type)."""
    defs = MessageDefinitions()
    path.mkdir(parents=True)
    qos = qos or {}
    counts = {t: sum(1 for m in messages if m[0] == t) for t in topics}
    info = {}
    for name, msgtype in topics.items():
        text, digest = defs.definition(msgtype)
        digest = (type_hashes or {}).get(name, digest)
        info[name] = (msgtype, qos.get(name, qos_yaml()), digest, counts[name], text)
    start = min(m[1] for m in messages)
    end = max(m[1] for m in messages)
    mcap = storage.startswith("mcap")
    file_name = f"{path.name}_0.{'mcap' if mcap else 'db3'}"
    if mcap:
        with (path / file_name).open("wb") as stream:
            # default: chunked, zstd (as rosbag2's MCAP plugin); "mcap-fastwrite": its fastwrite preset
            fast = storage == "mcap-fastwrite"
            writer = McapFileWriter(
                stream, use_chunking=not fast, index_types=IndexType.NONE if fast else IndexType.ALL
            )
            writer.start(profile="ros2", library="rosbag2 (mcap_vendor 0.8.0)")
            schema_ids: dict[str, int] = {}
            channel_ids: dict[str, int] = {}
            for name, (msgtype, q, digest, _n, text) in info.items():
                if msgtype not in schema_ids:
                    schema_ids[msgtype] = writer.register_schema(msgtype, "ros2msg", text.encode())
                channel_ids[name] = writer.register_channel(
                    name, "cdr", schema_ids[msgtype], {"offered_qos_profiles": q, "topic_type_hash": digest}
                )
            for seq, (topic, t, data) in enumerate(messages):
                writer.add_message(channel_ids[topic], log_time=t, data=data, publish_time=t, sequence=seq)
            meta = _metadata(
                "mcap", file_name, {k: v[:4] for k, v in info.items()}, start, end, len(messages)
            )
            inner = meta.split("\n", 1)[1]
            writer.add_metadata("rosbag2", {"serialized_metadata": inner})
            writer.finish()
    else:
        con = sqlite3.connect(path / file_name)
        con.executescript(
            "CREATE TABLE schema(schema_version INTEGER PRIMARY KEY,ros_distro TEXT NOT NULL);"
            "CREATE TABLE metadata(id INTEGER PRIMARY KEY,metadata_version INTEGER NOT NULL,"
            "metadata TEXT NOT NULL);"
            "CREATE TABLE topics(id INTEGER PRIMARY KEY,name TEXT NOT NULL,type TEXT NOT NULL,"
            "serialization_format TEXT NOT NULL,offered_qos_profiles TEXT NOT NULL,"
            "type_description_hash TEXT NOT NULL);"
            "CREATE TABLE message_definitions(id INTEGER PRIMARY KEY,topic_type TEXT NOT NULL,"
            "encoding TEXT NOT NULL,encoded_message_definition TEXT NOT NULL,"
            "type_description_hash TEXT NOT NULL);"
            "CREATE TABLE messages(id INTEGER PRIMARY KEY,topic_id INTEGER NOT NULL,"
            "timestamp INTEGER NOT NULL, "
            "data BLOB NOT NULL);"
            "CREATE INDEX timestamp_idx ON messages (timestamp ASC);"
            "INSERT INTO schema (schema_version, ros_distro) VALUES (4, 'jazzy');"
        )
        ids = {}
        for name, (msgtype, q, digest, _n, text) in info.items():
            cur = con.execute(
                "INSERT INTO topics(name, type, serialization_format, offered_qos_profiles, "
                "type_description_hash) VALUES (?, ?, ?, ?, ?)",
                (name, msgtype, "cdr", q, digest),
            )
            ids[name] = cur.lastrowid
            con.execute(
                "INSERT INTO message_definitions (topic_type, encoding, encoded_message_definition, "
                "type_description_hash) VALUES (?, ?, ?, ?)",
                (msgtype, "ros2msg", text, digest),
            )
        con.executemany(
            "INSERT INTO messages (timestamp, topic_id, data) VALUES (?, ?, ?)",
            [(t, ids[topic], data) for topic, t, data in messages],
        )
        meta = _metadata("sqlite3", file_name, {k: v[:4] for k, v in info.items()}, start, end, len(messages))
        con.execute(
            "INSERT INTO metadata (metadata_version, metadata) VALUES (?, ?)", (9, meta.split("\n", 1)[1])
        )
        con.commit()
        con.close()
    (path / "metadata.yaml").write_text(
        _metadata(
            "mcap" if mcap else storage,
            file_name,
            {k: v[:4] for k, v in info.items()},
            start,
            end,
            len(messages),
        )
    )
    return path
