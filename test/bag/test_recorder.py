"""The recorder's bags, read back by independent readers (mcap + mcap_ros2, sqlite3, rosbags)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml
from bagdata import TOPICS, make, serialized
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rclpy.serialization import deserialize_message
from roadedge_msgs.msg import Spat
from rosbags.rosbag2 import Reader

from roadedge.bag.errors import BagError
from roadedge.bag.msgdefs import MessageDefinitions
from roadedge.bag.recorder import BagRecorder, QosSpec

N = 25
SENSOR = QosSpec(reliability="best_effort", depth=5)
LATCHED = QosSpec(durability="transient_local", depth=1)


def record(path: Path, storage: str) -> None:
    with BagRecorder(path, storage=storage) as rec:
        for topic, msgtype in TOPICS.items():
            qos = [SENSOR] if "sensing" in topic else [LATCHED] if "spat" in topic else []
            rec.add_topic(topic, msgtype, qos)
        for i in range(N):
            for k, topic in enumerate(TOPICS):
                rec.write(topic, 1_000_000_000 + i * 100_000_000 + k, serialized(topic, i))
        assert {s.name: s.count for s in rec.stats()} == dict.fromkeys(TOPICS, N)


def test_mcap_read_back_by_the_mcap_ros2_decoder(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    record(bag, "mcap")
    files = sorted(bag.iterdir())
    assert [f.name for f in files] == ["bag.mcap", "metadata.yaml"]
    seen: dict[str, int] = dict.fromkeys(TOPICS, 0)
    with (bag / "bag.mcap").open("rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        assert summary is not None
        for channel in summary.channels.values():
            schema = summary.schemas[channel.schema_id]
            assert schema.encoding == "ros2msg" and channel.message_encoding == "cdr"
            assert schema.name == TOPICS[channel.topic]
            assert channel.metadata["topic_type_hash"].startswith("RIHS01_")
            qos = yaml.safe_load(channel.metadata["offered_qos_profiles"])
            if "sensing" in channel.topic:
                assert qos[0]["reliability"] == "best_effort" and qos[0]["depth"] == 5
        for _schema, channel, message, decoded in reader.iter_decoded_messages():
            i = seen[channel.topic]
            seen[channel.topic] += 1
            expect = make(channel.topic, i)
            assert message.log_time == 1_000_000_000 + i * 100_000_000 + list(TOPICS).index(channel.topic)
            if channel.topic == "/chatter":
                assert decoded.data == expect.data
            elif channel.topic == "/sensing/gnss/fix":
                assert (decoded.latitude, decoded.header.frame_id) == (expect.latitude, "gnss")
                assert list(decoded.position_covariance) == list(expect.position_covariance)
            elif channel.topic == "/localization/odometry":
                assert decoded.pose.pose.position.x == expect.pose.pose.position.x
                assert decoded.child_frame_id == "base_link"
            elif channel.topic == "/v2x/rx/spat":
                assert decoded.name == expect.name and decoded.v2x.msg_count == expect.v2x.msg_count
                states = decoded.intersections[0].phases[0].states
                assert [s.light for s in states] == [3, 6] and states[0].likely_end_time == i % 7
            elif channel.topic == "/planning/advisories":
                assert [a.text for a in decoded.advisories] == [f"GLOSA {i}"] * (i % 3)
            else:
                assert decoded.data == pytest.approx(expect.data)
    assert seen == dict.fromkeys(TOPICS, N)


def test_metadata_is_what_jazzy_rosbag2_writes(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    record(bag, "mcap")
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 9 and meta["storage_identifier"] == "mcap"
    assert meta["message_count"] == N * len(TOPICS) and meta["relative_file_paths"] == ["bag.mcap"]
    defs = MessageDefinitions()
    for entry in meta["topics_with_message_count"]:
        topic = entry["topic_metadata"]
        assert entry["message_count"] == N
        assert topic["type"] == TOPICS[topic["name"]] and topic["serialization_format"] == "cdr"
        # the hash rosidl generated for the installed type
        assert topic["type_description_hash"] == defs.installed_hash(topic["type"])
        qos = topic["offered_qos_profiles"]
        assert isinstance(qos, list) and {"history", "depth", "reliability", "durability"} <= set(qos[0])
    spat = next(e for e in meta["topics_with_message_count"] if e["topic_metadata"]["name"] == "/v2x/rx/spat")
    assert spat["topic_metadata"]["offered_qos_profiles"][0]["durability"] == "transient_local"


def test_definitions_follow_rosbag2_local_source() -> None:
    text, digest = MessageDefinitions().definition("roadedge_msgs/msg/Spat")
    root = (Path(__file__).resolve().parents[2] / "interfaces/roadedge_msgs/msg/Spat.msg").read_text()
    assert text.startswith(root)  # the installed file verbatim, comments included
    sections = [line[5:] for line in text.splitlines() if line.startswith("MSG: ")]
    # dependencies depth-first in sorted order, each once
    assert sections == [
        "roadedge_msgs/SpatIntersection",
        "builtin_interfaces/Time",
        "roadedge_msgs/SpatPhase",
        "roadedge_msgs/SpatPhaseState",
        "roadedge_msgs/V2xHeader",
        "std_msgs/Header",
    ]
    assert digest.startswith("RIHS01_")


def test_sqlite3_bag(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    record(bag, "sqlite3")
    db = bag / "bag.db3"
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT schema_version FROM schema").fetchone()[0] == 4
        topics = dict(con.execute("SELECT name, type FROM topics").fetchall())
        assert topics == TOPICS
        defs = dict(con.execute("SELECT topic_type, encoding FROM message_definitions").fetchall())
        assert defs["roadedge_msgs/msg/Spat"] == "ros2msg"
        (count,) = con.execute("SELECT COUNT(*) FROM messages").fetchone()
        assert count == N * len(TOPICS)
    finally:
        con.close()
    with Reader(bag) as reader:
        assert reader.message_count == N * len(TOPICS)
        raw = [bytes(data) for conn, _t, data in reader.messages() if conn.topic == "/v2x/rx/spat"]
    # CDR padding bytes from rclpy are not initialised: compare decoded messages
    assert [deserialize_message(data, Spat) for data in raw] == [make("/v2x/rx/spat", i) for i in range(N)]


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="storage must be one of"):
        BagRecorder(tmp_path / "x", storage="rosbag1")
    (tmp_path / "exists").mkdir()
    with pytest.raises(BagError, match="cannot create bag"):
        BagRecorder(tmp_path / "exists")
    with BagRecorder(tmp_path / "b") as rec:
        with pytest.raises(BagError, match="not of the form"):
            rec.add_topic("/x", "String")
        with pytest.raises(BagError, match="no message definition for nope_msgs/msg/Foo"):
            rec.add_topic("/x", "nope_msgs/msg/Foo")
        rec.add_topic("/x", "std_msgs/msg/String")
        rec.add_topic("/x", "std_msgs/String")  # same type again: fine
        with pytest.raises(BagError, match="already recorded as std_msgs/msg/String"):
            rec.add_topic("/x", "std_msgs/msg/Float32")
        with pytest.raises(BagError, match="was not added"):
            rec.write("/y", 1, b"")
    with pytest.raises(BagError, match="closed"):
        rec.write("/x", 1, b"\x00\x01\x00\x00")


def test_record_command_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from roadedge.bag.recorder import record_main

    with pytest.raises(SystemExit) as info:
        record_main([])
    assert info.value.code == 2 and "name topics to record or pass --all" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    assert record_main(["/chatter", "-o", str(tmp_path / "taken")]) == 1
    assert "exists already" in capsys.readouterr().err


def test_mcap_structure_is_complete(tmp_path: Path) -> None:
    """Every record a rosbag2 reader relies on: header profile ros2, chunks with message indexes, the
    rosbag2 metadata record, statistics, chunk/metadata indexes and summary offsets, then the footer."""
    from mcap import records
    from mcap.stream_reader import StreamReader

    bag = tmp_path / "bag"
    record(bag, "mcap")
    with (bag / "bag.mcap").open("rb") as stream:
        recs = list(StreamReader(stream, validate_crcs=True).records)
    kinds = [type(r).__name__ for r in recs]
    assert isinstance(recs[0], records.Header) and recs[0].profile == "ros2"
    assert isinstance(recs[-1], records.Footer)
    assert kinds.count("Message") == N * len(TOPICS)
    assert {"MessageIndex", "ChunkIndex", "Statistics", "MetadataIndex", "SummaryOffset", "DataEnd"} <= set(
        kinds
    )
    meta = next(r for r in recs if isinstance(r, records.Metadata))
    assert meta.name == "rosbag2"
    inner = yaml.safe_load(meta.metadata["serialized_metadata"])
    assert inner["version"] == 9 and inner["message_count"] == N * len(TOPICS)
    stats = next(r for r in recs if isinstance(r, records.Statistics))
    assert stats.message_count == N * len(TOPICS) and stats.channel_count == len(TOPICS)
