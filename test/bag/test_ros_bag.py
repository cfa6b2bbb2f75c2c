"""Bag tools over real DDS: the recorder node, live replay, and deterministic replay of a graph."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from bagdata import make
from jazzy_bag import write_jazzy_bag
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from roadedge_msgs.msg import Spat
from roadedge_nodes.recorder import RclpySink, Recorder, play_through
from rosgraph_msgs.msg import Clock
from std_msgs.msg import Float32, String

from roadedge.bag.live import LiveView
from roadedge.bag.recorder import BagRecorder
from roadedge.bag.regression import compare_bags
from roadedge.bag.replay import BagSource, Player, PlayOptions
from roadedge.ros.runner import node_class

pytestmark = pytest.mark.dds

RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def test_recorder_node(ros: Any, tmp_path: Path) -> None:
    bag_path = tmp_path / "rec"
    chatter = ros.node.create_publisher(String, "/chatter", RELIABLE)
    spat = ros.node.create_publisher(Spat, "/v2x/rx/spat", LATCHED)
    spat.publish(make("/v2x/rx/spat", 0))  # before the recorder exists: latched, still recorded
    recorder = Recorder(
        context=ros.context,
        parameter_overrides=[
            Parameter("output", value=str(bag_path)),
            Parameter("topics", value=["/chatter", "/v2x/rx/spat", "/control/target_speed"]),
            Parameter("discovery_period", value=0.1),
        ],
    )
    ros.add_node(recorder)
    target = ros.node.create_publisher(Float32, "/control/target_speed", RELIABLE)
    ros.spin_until(lambda: recorder.recorded().get("/v2x/rx/spat") == 1, what="latched SPaT recorded")
    ros.wait_for_matched(chatter)
    ros.wait_for_matched(target)
    for i in range(20):
        chatter.publish(make("/chatter", i))
        target.publish(make("/control/target_speed", i))
    ros.spin_until(
        lambda: (
            recorder.recorded().get("/chatter") == 20
            and recorder.recorded().get("/control/target_speed") == 20
        ),
        what="20 messages recorded per topic",
    )
    ros.executor.remove_node(recorder)
    recorder.destroy_node()
    meta = yaml.safe_load((bag_path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    qos = {
        t["topic_metadata"]["name"]: t["topic_metadata"]["offered_qos_profiles"][0]
        for t in meta["topics_with_message_count"]
    }
    # as ros2 bag record: what discovery tells about the publishers (DDS does not announce the depth)
    assert (
        qos["/v2x/rx/spat"]["durability"] == "transient_local"
        and qos["/chatter"]["reliability"] == "reliable"
    )
    assert qos["/chatter"]["durability"] == "volatile"
    texts = []
    with (bag_path / "rec.mcap").open("rb") as stream:
        for _s, channel, _m, decoded in make_reader(
            stream, decoder_factories=[DecoderFactory()]
        ).iter_decoded_messages():
            if channel.topic == "/chatter":
                texts.append(decoded.data)
    assert texts == [make("/chatter", i).data for i in range(20)]


def test_recorder_follows_a_best_effort_publisher(ros: Any, tmp_path: Path) -> None:
    from rclpy.qos import qos_profile_sensor_data
    from roadedge_msgs.msg import VehicleStatus

    recorder = Recorder(
        context=ros.context,
        parameter_overrides=[
            Parameter("output", value=str(tmp_path / "bag")),
            Parameter("topics", value=["/vehicle/status"]),  # topic map: reliable
            Parameter("discovery_period", value=0.1),
        ],
    )
    ros.add_node(recorder)
    assert recorder._qos["/vehicle/status"].reliability == ReliabilityPolicy.RELIABLE
    pub = ros.node.create_publisher(VehicleStatus, "/vehicle/status", qos_profile_sensor_data)
    ros.spin_until(
        lambda: recorder._qos["/vehicle/status"].reliability == ReliabilityPolicy.BEST_EFFORT,
        what="recorder re-subscribed best effort",
    )
    ros.wait_for_matched(pub)
    ros.spin_until(
        lambda: (pub.publish(VehicleStatus(speed=1.0)) or recorder.recorded()["/vehicle/status"]) >= 5,
        what="best-effort messages recorded",
    )
    ros.executor.remove_node(recorder)
    recorder.destroy_node()


def test_live_replay(ros: Any, tmp_path: Path) -> None:
    bag_path = tmp_path / "in"
    with BagRecorder(bag_path) as bag:
        bag.add_topic("/chatter", "std_msgs/msg/String")
        from rclpy.serialization import serialize_message

        for i in range(10):
            bag.write(
                "/chatter", 5_000_000_000 + i * 20_000_000, bytes(serialize_message(make("/chatter", i)))
            )
    got = ros.collect(String, "/replayed", RELIABLE)
    clocks = ros.collect(Clock, "/clock", QoSProfile(depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT))
    player_node = __import__("rclpy").create_node("player", context=ros.context)
    try:
        with BagSource(bag_path) as source:
            options = PlayOptions(rate=4.0, remap={"/chatter": "/replayed"}, clock_hz=50.0)
            live = LiveView(port=0)
            sink = RclpySink(player_node, source, options, live=live)
            ros.wait_for_matched(sink.publishers["/replayed"])
            thread = threading.Thread(target=Player(source, sink, options).run)
            thread.start()
            ros.spin_until(lambda: len(got) == 10, what="10 replayed messages")
            thread.join()
            live.close()
    finally:
        player_node.destroy_node()
    assert live.logged == 10  # the Foxglove live view got what was played
    assert sink.skipped == []
    assert [m.data for m in got] == [make("/chatter", i).data for i in range(10)]
    times = [c.clock.sec + c.clock.nanosec * 1e-9 for c in clocks]
    assert times and times == sorted(times) and times[-1] == pytest.approx(5.18)


def test_player_leaves_out_a_topic_recorded_with_another_type_definition(ros: Any, tmp_path: Path) -> None:
    from rclpy.serialization import serialize_message

    messages = [
        ("/chatter", 10**9, bytes(serialize_message(make("/chatter", 0)))),
        ("/v2x/rx/spat", 10**9, bytes(serialize_message(Spat()))),
    ]
    topics = {"/chatter": "std_msgs/msg/String", "/v2x/rx/spat": "roadedge_msgs/msg/Spat"}
    bag = write_jazzy_bag(
        tmp_path / "old", "mcap", topics, messages, type_hashes={"/v2x/rx/spat": "RIHS01_" + "0" * 64}
    )
    player_node = __import__("rclpy").create_node("player_stale", context=ros.context)
    try:
        with BagSource(bag) as source:
            sink = RclpySink(player_node, source, PlayOptions())
    finally:
        player_node.destroy_node()
    assert list(sink.publishers) == ["/chatter"]
    assert len(sink.skipped) == 1
    assert sink.skipped[0].startswith("/v2x/rx/spat (roadedge_msgs/msg/Spat recorded")


def target_speed_bag(path: Path) -> Path:
    """Inputs of the slice graph: target speeds over 6 s, and a tick so /clock runs to the end."""
    from rclpy.serialization import serialize_message

    with BagRecorder(path) as bag:
        bag.add_topic("/control/target_speed", "std_msgs/msg/Float32")
        for t, value in ((0.2, 2.0), (2.0, 4.0), (4.0, 1.0), (6.0, 1.0)):
            bag.write("/control/target_speed", int(t * 1e9), bytes(serialize_message(Float32(data=value))))
    return path


def slice_graph(context: Any) -> list[Any]:
    nodes = []
    for exe in ("chassis_emulator", "speed_controller"):
        cls = node_class(exe)
        nodes.append(
            cls(
                context=context,
                parameter_overrides=[Parameter("use_sim_time", value=True)],
                config_source="test",
            )
        )
    return nodes


def test_deterministic_replay_is_identical(tmp_path: Path) -> None:
    inputs = target_speed_bag(tmp_path / "inputs")
    outputs = ["/vehicle/status", "/vehicle/command"]
    runs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        with BagSource(inputs) as source, BagRecorder(out) as bag:
            run = play_through(
                source, PlayOptions(clock_hz=100.0), slice_graph, record=bag, record_topics=outputs
            )
        # the bag spans 0.2 .. 6.0 s: one /clock step per 10 ms
        assert run.stats.messages == 4 and run.stats.clock_ticks == 581
        assert run.outputs["/vehicle/status"] >= 290 and run.outputs["/vehicle/command"] >= 290, run.outputs
        runs.append(out)
    result = compare_bags(runs[0], runs[1], outputs, compare_time=True)
    assert result.passed, result.summary()
    # the graph really ran: the chassis followed the 4 m/s target
    from roadedge.bag.msgdefs import MessageDefinitions
    from roadedge.bag.regression import decoded_messages

    with BagSource(runs[0]) as source:
        status = decoded_messages(source, "/vehicle/status", MessageDefinitions())
    speed_at_4s = [flat["speed"] for t, flat in status if 3.8e9 <= t <= 4.0e9]
    assert speed_at_4s and max(speed_at_4s) > 3.0
