"""Replay core without ROS: bags from ros2 bag (Jazzy layout) and from the recorder, scheduling,
/clock, filters, remaps, deterministic stepping, and clear errors for broken bags."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from bagdata import TOPICS, make, serialized
from jazzy_bag import qos_yaml, write_jazzy_bag
from rclpy.serialization import deserialize_message
from roadedge_msgs.msg import Spat
from std_msgs.msg import String

from roadedge.bag.errors import BagError
from roadedge.bag.recorder import BagRecorder
from roadedge.bag.replay import BagMessage, BagSource, Player, PlayOptions, parse_remaps, replay_main

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


@dataclass
class ListSink:
    events: list[tuple] = field(default_factory=list)
    wall: FakeWall | None = None

    def publish(self, msg: BagMessage) -> None:
        self.events.append(("msg", msg.topic, msg.timestamp_ns, msg.data, self.wall.t if self.wall else None))

    def clock(self, time_ns: int) -> None:
        self.events.append(("clock", time_ns))

    def settle(self) -> None:
        self.events.append(("settle",))

    def messages(self) -> list[tuple]:
        return [e for e in self.events if e[0] == "msg"]


@dataclass
class FakeWall:
    t: float = 100.0
    slept: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept.append(seconds)
            self.t += seconds


def sample_messages(n: int = 21) -> list[tuple[str, int, bytes]]:
    """/chatter every 100 ms, /v2x/rx/spat every 200 ms (same times: chatter first)."""
    out = []
    for i in range(n):
        out.append(("/chatter", T0 + i * 100 * MS, serialized("/chatter", i)))
        if i % 2 == 0:
            out.append(("/v2x/rx/spat", T0 + i * 100 * MS, serialized("/v2x/rx/spat", i // 2)))
    return out


JAZZY_TOPICS = {"/chatter": "std_msgs/msg/String", "/v2x/rx/spat": "roadedge_msgs/msg/Spat"}


@pytest.fixture(params=["mcap", "mcap-fastwrite", "sqlite3"])
def jazzy_bag(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return write_jazzy_bag(
        tmp_path / "rosbag2_2026_11_25-10_00_00",
        request.param,
        JAZZY_TOPICS,
        sample_messages(),
        qos={"/v2x/rx/spat": qos_yaml(durability="transient_local", depth=1)},
    )


def test_bag_from_ros2_bag_record(jazzy_bag: Path) -> None:
    with BagSource(jazzy_bag) as source:
        assert source.message_count == 32 and source.duration_s == pytest.approx(2.0)
        assert source.storage == (
            "mcap" if any(f.suffix == ".mcap" for f in jazzy_bag.iterdir()) else "sqlite3"
        )
        assert {t.name: (t.msgtype, t.count) for t in source.topics.values()} == {
            "/chatter": ("std_msgs/msg/String", 21),
            "/v2x/rx/spat": ("roadedge_msgs/msg/Spat", 11),
        }
        spat_qos = source.topics["/v2x/rx/spat"].offered_qos[0]
        assert spat_qos.durability.name == "TRANSIENT_LOCAL" and spat_qos.depth == 1
        sink = ListSink()
        stats = Player(source, sink, PlayOptions(deterministic=True, clock_hz=0)).run()
    assert stats.messages == 32 and stats.per_topic == {"/chatter": 21, "/v2x/rx/spat": 11}
    msgs = sink.messages()
    assert [m[2] for m in msgs] == sorted(m[2] for m in msgs)
    chatter = [deserialize_message(m[3], String).data for m in msgs if m[1] == "/chatter"]
    assert chatter == [make("/chatter", i).data for i in range(21)]
    spats = [deserialize_message(m[3], Spat) for m in msgs if m[1] == "/v2x/rx/spat"]
    assert spats == [make("/v2x/rx/spat", i) for i in range(11)]
    # deterministic: every message and every clock step is followed by a settle, never a sleep
    for i, event in enumerate(sink.events):
        if event[0] in ("msg", "clock"):
            assert sink.events[i + 1] == ("settle",)


def test_single_mcap_file_without_metadata(tmp_path: Path) -> None:
    bag = write_jazzy_bag(tmp_path / "b", "mcap", JAZZY_TOPICS, sample_messages())
    (bag / "metadata.yaml").unlink()
    with BagSource(bag / "b_0.mcap") as source:
        assert source.message_count == 32 and set(source.topics) == set(JAZZY_TOPICS)
        assert source.check() == 32


def test_realtime_schedule_rate_offset_duration_and_clock(jazzy_bag: Path) -> None:
    wall = FakeWall()
    sink = ListSink(wall=wall)
    options = PlayOptions(rate=2.0, start_offset=0.5, duration=1.0, clock_hz=10.0)
    with BagSource(jazzy_bag) as source:
        stats = Player(source, sink, options, wall).run()
    msgs = sink.messages()
    times = [(m[2] - T0) / 1e9 for m in msgs]
    assert times[0] == pytest.approx(0.5) and times[-1] == pytest.approx(1.5)
    assert len([m for m in msgs if m[1] == "/chatter"]) == 11
    for m in msgs:  # published at (t - offset) / rate after the start
        assert m[4] - 100.0 == pytest.approx(((m[2] - T0) / 1e9 - 0.5) / 2.0, abs=1e-6)
    clocks = [e[1] for e in sink.events if e[0] == "clock"]
    assert clocks == sorted(clocks) and len(clocks) == len(set(clocks))
    assert clocks[0] == T0 + 500 * MS
    # the clock shows each message's time before the message goes out
    last_clock = None
    for event in sink.events:
        if event[0] == "clock":
            last_clock = event[1]
        elif event[0] == "msg":
            assert last_clock == event[2]
    assert stats.speed_factor == pytest.approx(2.0, rel=1e-6)
    assert ("settle",) not in sink.events


def test_clock_ticks_between_messages(tmp_path: Path) -> None:
    msgs = [
        ("/chatter", T0, serialized("/chatter", 0)),
        ("/chatter", T0 + 1_000 * MS, serialized("/chatter", 1)),
    ]
    bag = write_jazzy_bag(tmp_path / "b", "mcap", {"/chatter": "std_msgs/msg/String"}, msgs)
    sink = ListSink()
    with BagSource(bag) as source:
        Player(source, sink, PlayOptions(deterministic=True, clock_hz=4.0)).run()
    clocks = [(e[1] - T0) / MS for e in sink.events if e[0] == "clock"]
    assert clocks == [0, 250, 500, 750, 1000]
    sink = ListSink()
    with BagSource(bag) as source:
        Player(source, sink, PlayOptions(deterministic=True, clock=False)).run()
    assert [e[0] for e in sink.events] == ["msg", "settle", "msg", "settle"]


def test_topic_filters_and_remaps(jazzy_bag: Path) -> None:
    sink = ListSink()
    options = PlayOptions(
        topics=("/v2x/*",), remap={"/v2x/rx/spat": "/vehicle1/v2x/rx/spat"}, deterministic=True
    )
    with BagSource(jazzy_bag) as source:
        Player(source, sink, options).run()
        assert {m[1] for m in sink.messages()} == {"/vehicle1/v2x/rx/spat"} and len(sink.messages()) == 11
        assert source.select(exclude=("/chat*",)) == ["/v2x/rx/spat"]
        with pytest.raises(BagError, match="has no topic /nope"):
            Player(source, ListSink(), PlayOptions(topics=("/nope",)))
    assert parse_remaps(["/a:=/b", "c:=d"]) == {"/a": "/b", "c": "d"}
    with pytest.raises(BagError, match="not of the form"):
        parse_remaps(["/a=/b"])
    with pytest.raises(BagError, match="rate must be a positive number"):
        PlayOptions(rate=0.0)


def test_recorder_bag_replays(tmp_path: Path) -> None:
    with BagRecorder(tmp_path / "rec") as rec:
        for topic, msgtype in TOPICS.items():
            rec.add_topic(topic, msgtype)
        for i in range(10):
            for topic in TOPICS:
                rec.write(topic, T0 + i * MS, serialized(topic, i))
    sink = ListSink()
    with BagSource(tmp_path / "rec") as source:
        assert source.check() == 60
        Player(source, sink, PlayOptions(deterministic=True)).run()
    assert len(sink.messages()) == 60


def truncated_copy(bag: Path, dst: Path, keep: float) -> Path:
    dst.mkdir()
    for f in bag.iterdir():
        data = f.read_bytes()
        if f.suffix in (".mcap", ".db3"):
            data = data[: int(len(data) * keep)]
        (dst / f.name).write_bytes(data)
    return dst


def read_all(path: Path) -> int:
    with BagSource(path) as source:
        return source.check()


def test_corrupt_and_truncated_bags_give_clear_errors(jazzy_bag: Path, tmp_path: Path) -> None:
    with pytest.raises(BagError, match="does not exist"):
        BagSource(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match="not a rosbag2 directory"):
        BagSource(tmp_path / "empty")
    for keep in (0.5, 0.9):
        cut = truncated_copy(jazzy_bag, tmp_path / f"cut{keep}", keep)
        with pytest.raises(BagError) as info:
            read_all(cut)
        text = str(info.value)
        assert str(cut) in text and ("corrupt" in text or "truncated" in text or "cannot open" in text), text
    garbage = truncated_copy(jazzy_bag, tmp_path / "garbage", 1.0)
    for f in garbage.iterdir():
        if f.suffix in (".mcap", ".db3"):
            f.write_bytes(b"\x89MCAP0\r\n" + bytes(range(256)) * 20)
    with pytest.raises(BagError) as info:
        read_all(garbage)
    assert str(garbage) in str(info.value)
    broken_meta = truncated_copy(jazzy_bag, tmp_path / "meta", 1.0)
    (broken_meta / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 9\n")
    with pytest.raises(BagError, match="cannot open bag"):
        read_all(broken_meta)


def test_replay_command_info_check_and_errors(
    jazzy_bag: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert replay_main([str(jazzy_bag), "--check"]) == 0
    out = capsys.readouterr().out
    assert "check: 32 messages read, bag OK" in out and "roadedge_msgs/msg/Spat  11" in out
    cut = truncated_copy(jazzy_bag, tmp_path / "cut", 0.6)
    assert replay_main([str(cut), "--check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("roadedge replay: ") and str(cut) in err
    assert replay_main([str(jazzy_bag), "--topics", "/nope"]) == 1
    assert "has no topic /nope" in capsys.readouterr().err


def test_replay_command_mode_errors(jazzy_bag: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay_main([str(jazzy_bag), "--deterministic"]) == 1
    assert "name it with --profile" in capsys.readouterr().err
    assert replay_main([str(jazzy_bag), "--record", "/tmp/x"]) == 1
    assert "need --deterministic" in capsys.readouterr().err
    assert replay_main([str(jazzy_bag), "--remap", "/a=/b"]) == 1
    assert "not of the form" in capsys.readouterr().err


def test_loop_replays_again_and_stops_on_request(jazzy_bag: Path) -> None:
    sink = ListSink()

    with BagSource(jazzy_bag) as source:
        player = Player(
            source, sink, PlayOptions(loop=True, deterministic=True, clock=False, topics=("/v2x/*",))
        )

        def settle() -> None:
            if len(sink.messages()) >= 25:
                player.stop()

        sink.settle = settle  # type: ignore[method-assign]
        stats = player.run()
    assert stats.messages == 25 and len(sink.messages()) == 25  # 11 + 11 + 3, stopped in the third pass
    with BagSource(jazzy_bag) as source:
        empty = Player(source, ListSink(), PlayOptions(loop=True, start_offset=100.0)).run()
    assert empty.messages == 0


def test_metadata_qos_other_than_storage_qos(jazzy_bag: Path) -> None:
    """Older rosbag2 wrote "unset" QoS durations differently in metadata.yaml and in the storage files
    (the Foxy-era talker bags of rosbag2's own tests: deadline 0 in metadata.yaml, 2147483647 s in the
    MCAP channels and the sqlite3 topics table), and listed the topics in another order: rosbags reads
    no message of such a bag. Every message is still read, on its own topic."""
    meta_path = jazzy_bag / "metadata.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    info = meta["rosbag2_bagfile_information"]
    info["topics_with_message_count"].reverse()
    for topic in info["topics_with_message_count"]:
        qos = topic["topic_metadata"]["offered_qos_profiles"]  # a list since Iron, a YAML string before
        qos = yaml.safe_load(qos) if isinstance(qos, str) else qos
        qos[0]["deadline"] = {"sec": 0, "nsec": 0}
        topic["topic_metadata"]["offered_qos_profiles"] = qos
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    with BagSource(jazzy_bag) as source:
        assert source.check() == 32
        msgs = list(source.messages())
        assert [m.timestamp_ns for m in msgs] == sorted(m.timestamp_ns for m in msgs)
        chatter = [deserialize_message(m.data, String).data for m in msgs if m.topic == "/chatter"]
        assert chatter == [make("/chatter", i).data for i in range(21)]
        spats = [deserialize_message(m.data, Spat) for m in msgs if m.topic == "/v2x/rx/spat"]
        assert spats == [make("/v2x/rx/spat", i) for i in range(11)]
        window = list(
            source.messages(["/chatter"], start_ns=msgs[5].timestamp_ns, stop_ns=msgs[9].timestamp_ns)
        )
        assert window and all(msgs[5].timestamp_ns <= m.timestamp_ns < msgs[9].timestamp_ns for m in window)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_topics_recorded_with_another_type_definition_are_named_and_not_played(
    storage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bag from before an interface change (its Spat has another RIHS01 hash than the installed
    one): its bytes would not deserialize, so the topic is named and left out, the rest plays."""
    older = "RIHS01_" + "ab" * 32
    bag = write_jazzy_bag(
        tmp_path / "old", storage, JAZZY_TOPICS, sample_messages(), type_hashes={"/v2x/rx/spat": older}
    )
    with BagSource(bag) as source:
        stale = source.stale_topics()
    assert list(stale) == ["/v2x/rx/spat"]
    assert "roadedge_msgs/msg/Spat recorded as RIHS01_abababababab" in stale["/v2x/rx/spat"]
    assert replay_main([str(bag), "--info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.strip().startswith("/v2x/rx/spat") and "not played" in line for line in lines)
    assert any(line.strip().startswith("/chatter") and "not played" not in line for line in lines)
