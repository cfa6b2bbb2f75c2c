"""The ROS side of the bag tools: the recorder node, replay publishing and in-process stepping.

- :class:`Recorder` (executable ``recorder``): subscribes raw (serialized) to the chosen topics,
  with the QoS adapted to what their publishers offer (as ``ros2 bag record``), and writes them
  through :class:`roadedge.bag.recorder.BagRecorder`. Topics are found by graph discovery every
  ``discovery_period`` s; a named topic that has no publisher yet is subscribed with the type and
  QoS of roadedge's topic table, so early and latched messages are not missed.
- :class:`RclpySink`: the replay player's publishers (raw bytes, QoS from the bag's offered
  profiles) and ``/clock``.
- :func:`play_through`: the deterministic replay of an in-process graph: after each published
  input, run the ready callbacks until none is left (``DirectStepper`` of
  ``roadedge/ros/stepping.py``: every subscriber has taken the input and everything it triggered -
  timers on the new /clock, outputs, their subscribers - has run). Fast DDS delivers intra-process
  samples synchronously, so "nothing ready" means "processed".
- ``record(...)`` and ``play(...)``: what ``roadedge record`` / ``roadedge replay`` run;
  :func:`replay_scenario`: what ``roadedge regress`` replays (a HIL run's inputs through
  localization, planner and controller).
"""

from __future__ import annotations

import fnmatch
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rosgraph_msgs.msg import Clock

from roadedge import topics as topic_table
from roadedge.bag.errors import BagError
from roadedge.bag.live import LiveView
from roadedge.bag.recorder import BagRecorder, QosSpec
from roadedge.bag.replay import NS, BagMessage, BagSource, Player, PlayOptions, PlayStats
from roadedge.config import param
from roadedge.diagnostics import Health, Level
from roadedge.ros.node import RoadedgeNode, make_main, message_type
from roadedge.ros.qos import qos_for
from roadedge.ros.stepping import DirectStepper, Stepper

#: topics ``all_topics`` leaves out unless named
DEFAULT_EXCLUDE = ("/rosout", "/parameter_events")


@dataclass(frozen=True)
class RecorderConfig:
    output: str = param("", help="bag directory to create; empty: out/bags/roadedge_<UTC date_time>")
    storage: str = param("mcap", help="storage plugin", choices=("mcap", "sqlite3"))
    topics: list[str] = param([], help="topics to record (absolute, or relative to the node namespace)")
    all_topics: bool = param(False, help="record every topic discovered (except /rosout, /parameter_events)")
    exclude: list[str] = param([], help="fnmatch patterns of topics never to record")
    discovery_period: float = param(0.5, help="s between graph scans for new topics", low=0.05, high=60.0)
    depth: int = param(100, help="subscription queue depth", low=1, high=100000)
    live_port: int = param(
        0,
        help="also serve a Foxglove live view on this localhost port (0: off; needs foxglove-sdk)",
        low=0,
        high=65535,
    )


def qos_spec(profile: QoSProfile) -> QosSpec:
    """An rclpy QoS profile as rosbag2 metadata stores it."""

    def name(policy: Any) -> str:
        return str(policy.name).lower()

    return QosSpec(
        reliability=name(profile.reliability),
        durability=name(profile.durability),
        history=name(profile.history),
        depth=int(profile.depth),
        deadline_ns=int(profile.deadline.nanoseconds),
        lifespan_ns=int(profile.lifespan.nanoseconds),
        liveliness=name(profile.liveliness),
        liveliness_lease_ns=int(profile.liveliness_lease_duration.nanoseconds),
        avoid_ros_namespace_conventions=bool(profile.avoid_ros_namespace_conventions),
    )


def adapted_qos(offers: Sequence[QosSpec], depth: int) -> QoSProfile:
    """Subscription QoS that matches every offer: reliable/transient-local only if all offer it."""
    reliable = bool(offers) and all(o.reliability == "reliable" for o in offers)
    latched = bool(offers) and all(o.durability == "transient_local" for o in offers)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


def table_entry(name: str) -> topic_table.Topic | None:
    return topic_table.BY_NAME.get(name) or topic_table.BY_NAME.get(name.lstrip("/"))


class Recorder(RoadedgeNode[RecorderConfig]):
    Schema = RecorderConfig
    default_name = "recorder"

    def __init__(self, *, bag: BagRecorder | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        c = self.config
        if bag is None:
            output = Path(c.output) if c.output else default_bag_path()
            bag = BagRecorder(output, storage=c.storage, custom_data={"recorder": "roadedge"})
            self._owns_bag = True
        else:
            self._owns_bag = False
        self.bag = bag
        self.live: LiveView | None = None
        if c.live_port:
            try:
                self.live = LiveView(port=c.live_port, definitions=bag.definitions)
                self.get_logger().info(f"Foxglove live view on ws://127.0.0.1:{self.live.port}")
            except BagError as err:  # missing package or port in use: record anyway, say why no live view
                self.get_logger().error(f"no live view: {err}")
        self._wanted = [self.resolve_topic_name(t) for t in c.topics]
        self._subs: dict[str, Any] = {}
        self._qos: dict[str, QoSProfile] = {}
        self._classes: dict[str, Any] = {}
        self.errors = 0
        self._last_error_log = 0.0
        self._lock = threading.Lock()
        self._discover()
        self.create_timer(c.discovery_period, self._discover)
        self.health.add("recording", self._health)

    def wants(self, name: str) -> bool:
        c = self.config
        if any(fnmatch.fnmatchcase(name, p) for p in c.exclude):
            return False
        if name in self._wanted:
            return True
        return c.all_topics and name not in DEFAULT_EXCLUDE

    def _discover(self) -> None:
        found = dict(self.get_topic_names_and_types())
        for name, types in found.items():
            if name in self._subs:
                self._readapt(name)
                continue
            if not types or not self.wants(name):
                continue
            offers = [qos_spec(info.qos_profile) for info in self.get_publishers_info_by_topic(name)]
            if not offers and name not in self._wanted:
                continue  # no publisher (only subscribers): nothing to record, no QoS to match yet
            if not offers and (entry := table_entry(name)) is not None:
                offers = [qos_spec(qos_for(entry))]
            self._subscribe(name, types[0], offers)
        for name in self._wanted:  # named but not seen yet: the topic table knows its type and QoS
            entry = table_entry(name)
            if name not in self._subs and name not in found and entry is not None and self.wants(name):
                self._subscribe(name, entry.type, [qos_spec(qos_for(entry))])

    def _subscribe(self, name: str, msgtype: str, offers: list[QosSpec]) -> None:
        try:
            cls = message_type(msgtype)
            self.bag.add_topic(name, msgtype, offers)
            if self.live is not None:
                self.live.add_topic(name, msgtype)
        except (BagError, ImportError, AttributeError, ValueError) as err:
            self._subs[name] = None  # do not retry every scan
            self.get_logger().error(f"cannot record {name} ({msgtype}): {err}")
            return
        qos = adapted_qos(offers, self.config.depth)
        self._classes[name] = cls
        self._create(name, qos)
        self.get_logger().info(f"recording {name} ({msgtype}, {qos.reliability.name.lower()})")

    def _create(self, name: str, qos: QoSProfile) -> None:
        self._qos[name] = qos
        self._subs[name] = self.create_subscription(
            self._classes[name], name, lambda data, topic=name: self._on_message(topic, data), qos, raw=True
        )

    def _readapt(self, name: str) -> None:
        """A publisher that offers less (best effort, volatile) than we subscribed with would never
        match: subscribe again with the weaker QoS (never the other way, so no churn)."""
        current = self._qos.get(name)
        if current is None or self._subs.get(name) is None:
            return
        offers = [qos_spec(info.qos_profile) for info in self.get_publishers_info_by_topic(name)]
        if not offers:
            return
        wanted = adapted_qos(offers, self.config.depth)
        weaker_reliability = (
            current.reliability == ReliabilityPolicy.RELIABLE
            and wanted.reliability == ReliabilityPolicy.BEST_EFFORT
        )
        weaker_durability = (
            current.durability == DurabilityPolicy.TRANSIENT_LOCAL
            and wanted.durability == DurabilityPolicy.VOLATILE
        )
        if not (weaker_reliability or weaker_durability):
            return
        reliability = ReliabilityPolicy.BEST_EFFORT if weaker_reliability else current.reliability
        durability = DurabilityPolicy.VOLATILE if weaker_durability else current.durability
        self.destroy_subscription(self._subs[name])
        self._create(
            name,
            QoSProfile(
                history=HistoryPolicy.KEEP_LAST,
                depth=self.config.depth,
                reliability=reliability,
                durability=durability,
            ),
        )
        self.get_logger().warning(
            f"{name}: a publisher offers {reliability.name.lower()}/{durability.name.lower()}: "
            "subscribed again to match"
        )

    def _on_message(self, topic: str, data: bytes) -> None:
        stamp = self.get_clock().now().nanoseconds
        if self.live is not None:
            self.live.log(topic, stamp, data)
        try:
            self.bag.write(topic, stamp, data)
        except BagError as err:
            with self._lock:
                self.errors += 1
                now = time.monotonic()
                if now - self._last_error_log > 5.0:
                    self._last_error_log = now
                    self.get_logger().error(f"write failed ({self.errors} so far): {err}")

    def recorded(self) -> dict[str, int]:
        return {s.name: s.count for s in self.bag.stats()}

    def _health(self) -> Health:
        counts = self.recorded()
        values = {
            "topics": str(len(counts)),
            "messages": str(sum(counts.values())),
            "errors": str(self.errors),
        }
        if self.errors:
            return Health(Level.WARN, "some messages could not be written", values)
        return Health(Level.OK, f"recording to {self.bag.path}", values)

    def on_safe_stop(self) -> None:
        if self._owns_bag:
            self.bag.close()
        if self.live is not None:
            self.live.close()
            self.live = None

    def destroy_node(self) -> None:
        self.on_safe_stop()
        super().destroy_node()


def default_bag_path(root: Path | None = None) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y_%m_%d-%H_%M_%S")
    return (root or Path("out") / "bags") / f"roadedge_{stamp}"


# ---------------------------------------------------------------------------------------------
# Replay


def replay_qos(offered: Sequence[Any], deterministic: bool) -> QoSProfile:
    """Publisher QoS from the offered profiles recorded in the bag (rosbags Qos tuples)."""
    reliable = not offered or all(q.reliability.name == "RELIABLE" for q in offered)
    latched = bool(offered) and all(q.durability.name == "TRANSIENT_LOCAL" for q in offered)
    depth = max([int(q.depth) for q in offered] + [10])
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=max(depth, 1000) if deterministic else depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


class RclpySink:
    """Publishes a bag's messages (raw CDR) and /clock from one node."""

    def __init__(
        self,
        node: Node,
        source: BagSource,
        options: PlayOptions,
        stepper: Stepper | None = None,
        live: LiveView | None = None,
    ) -> None:
        self.node = node
        self.stepper = stepper
        self.live = live
        self.publishers: dict[str, Any] = {}
        self.skipped: list[str] = []
        stale = source.stale_topics()
        for name in source.select(options.topics, options.exclude):
            info = source.topics[name]
            out = options.remap.get(name, name)
            if name in stale:
                self.skipped.append(f"{name} ({stale[name]})")
                continue
            try:
                cls = message_type(info.msgtype)
            except (ImportError, AttributeError, ValueError):
                self.skipped.append(f"{name} ({info.msgtype}: type not installed)")
                continue
            self.publishers[out] = node.create_publisher(
                cls, out, replay_qos(info.offered_qos, options.deterministic)
            )
            if live is not None:
                live.add_topic(out, info.msgtype)
        self._clock = (
            node.create_publisher(Clock, topic_table.CLOCK.name, qos_for(topic_table.CLOCK))
            if options.clock
            else None
        )

    def publish(self, msg: BagMessage) -> None:
        pub = self.publishers.get(msg.topic)
        if pub is not None:
            pub.publish(msg.data)
            if self.live is not None:
                self.live.log(msg.topic, msg.timestamp_ns, msg.data)

    def clock(self, time_ns: int) -> None:
        if self._clock is not None:
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = divmod(int(time_ns), NS)
            self._clock.publish(msg)

    def settle(self) -> None:
        if self.stepper is not None:
            self.stepper.settle()


@dataclass
class GraphRun:
    stats: PlayStats
    outputs: dict[str, int]
    inputs: tuple[str, ...] = ()


def graph_inputs(nodes: Sequence[Any], available: Sequence[str]) -> tuple[str, ...]:
    """Topics of ``available`` that the graph subscribes to and does not publish itself."""
    subscribed = {sub.topic_name for node in nodes for sub in node.subscriptions}
    published = {pub.topic_name for node in nodes for pub in node.publishers}
    return tuple(sorted((subscribed - published - {"/clock", "/parameter_events"}) & set(available)))


def play_through(
    source: BagSource,
    options: PlayOptions,
    make_nodes: Callable[[Any], list[Any]],
    *,
    record: BagRecorder | None = None,
    record_topics: Sequence[str] = (),
    context: Any = None,
    prepare: Callable[[Node, Stepper], None] | None = None,
    inputs_from_graph: bool = False,
) -> GraphRun:
    """Deterministic replay through an in-process graph, optionally recording its outputs.

    ``make_nodes(context)`` builds the graph under test (nodes on sim time). The player, the graph
    and the recorder share one single-threaded executor; each input is published and then the
    graph settles (:class:`Stepper`) before the next. ``prepare(player_node, stepper)`` runs once
    with /clock at the start of the bag, before the first input (e.g. a service call that
    initialises the graph as the live run did). ``inputs_from_graph``: play only the topics of the
    selection that the graph subscribes to and does not publish (its inputs, not its outputs).
    """
    options = PlayOptions(**{**options.__dict__, "deterministic": True})
    own_context = context is None
    if own_context:
        context = rclpy.Context()
        rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    executor = SingleThreadedExecutor(context=context)
    nodes: list[Any] = []
    try:
        nodes = list(make_nodes(context))
        if inputs_from_graph:
            selected = source.select(options.topics, options.exclude)
            options = PlayOptions(**{**options.__dict__, "topics": graph_inputs(nodes, selected)})
        # no parameter services or rosout: fewer entities make each step cheaper
        lean = {"start_parameter_services": False, "enable_rosout": False}
        player = rclpy.create_node("roadedge_replay", context=context, **lean)
        nodes.append(player)
        recorder = None
        if record is not None:
            recorder = Recorder(
                bag=record,
                context=context,
                parameter_overrides=[
                    Parameter("topics", value=list(record_topics)),
                    Parameter("use_sim_time", value=True),
                    Parameter("depth", value=10000),
                ],
                config_source="replay --record",
                **lean,
            )
            nodes.append(recorder)
        for node in nodes:
            executor.add_node(node)
        stepper = DirectStepper(executor, nodes)
        sink = RclpySink(player, source, options, stepper)
        for name in sink.skipped:
            print(f"replay: not playing {name}", file=sys.stderr)
        stepper.settle()
        playback = Player(source, sink, options)
        if prepare is not None:
            if options.clock:
                sink.clock(playback.window()[0])
                stepper.settle()
            prepare(player, stepper)
        stats = playback.run()
        stepper.settle()
        for node in nodes:  # as the HIL runner ends a run: the graph stops safely, then the recorder
            if node is not recorder and hasattr(node, "on_safe_stop"):
                node.on_safe_stop()
        stepper.settle()
        outputs = recorder.recorded() if recorder is not None else {}
        if recorder is not None:
            recorder.on_safe_stop()
        return GraphRun(stats, outputs, tuple(sink.publishers))
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        if own_context and context.ok():
            rclpy.shutdown(context=context)


def play(
    source: BagSource,
    options: PlayOptions,
    *,
    profile: str | None = None,
    record: Path | None = None,
    record_topics: Sequence[str] = (),
    live_port: int = 0,
) -> PlayStats:
    """``roadedge replay``: real time (or --deterministic through a profile's in-process graph)."""
    if options.deterministic:
        if profile is None:
            raise BagError("--deterministic steps an in-process graph: name it with --profile")
        from roadedge.profiles import load_profile
        from roadedge.ros.runner import create_nodes

        prof = load_profile(profile)
        bag = BagRecorder(record) if record is not None else None
        try:
            run = play_through(
                source,
                options,
                lambda ctx: create_nodes(prof, use_sim_time=True, context=ctx),
                record=bag,
                record_topics=record_topics,
            )
        finally:
            if bag is not None:
                bag.close()
        if record is not None:
            print(f"recorded outputs to {record}: {run.outputs}")
        return run.stats
    if profile is not None or record is not None:
        raise BagError(
            "--profile and --record need --deterministic (use `roadedge record` alongside a live replay)"
        )
    live = LiveView(port=live_port) if live_port else None
    if live is not None:
        print(f"Foxglove live view on ws://127.0.0.1:{live.port}", flush=True)
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("roadedge_replay")
    try:
        sink = RclpySink(node, source, options, live=live)
        for name in sink.skipped:
            print(f"replay: not playing {name}", file=sys.stderr)
        player = Player(source, sink, options)
        try:
            return player.run()
        except KeyboardInterrupt:
            player.stop()
            return PlayStats()
    finally:
        node.destroy_node()
        if live is not None:
            live.close()
        if rclpy.ok():
            rclpy.shutdown()


# ---------------------------------------------------------------------------------------------
# roadedge record


def record(
    output: Path | None,
    storage: str,
    names: Sequence[str],
    all_topics: bool,
    exclude: Sequence[str],
    duration: float | None,
    use_sim_time: bool,
    live_port: int = 0,
) -> int:
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    try:
        path = output or default_bag_path()
        bag = BagRecorder(path, storage=storage, custom_data={"recorder": "roadedge record"})
        node = Recorder(
            bag=bag,
            parameter_overrides=[
                Parameter("topics", value=list(names)),
                Parameter("all_topics", value=all_topics),
                Parameter("exclude", value=list(exclude)),
                Parameter("storage", value=storage),
                Parameter("use_sim_time", value=use_sim_time),
                Parameter("live_port", value=live_port),
            ],
            config_source="roadedge record",
        )
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        print(f"recording to {path} ({storage}); Ctrl-C to stop", flush=True)
        from roadedge.ros.node import spin_until_signal

        deadline = None if duration is None else time.monotonic() + duration
        spin_until_signal(
            executor, [node], until=(lambda: time.monotonic() >= deadline) if deadline else None
        )
        executor.shutdown()
        counts = node.recorded()
        node.destroy_node()
        bag.close()
        print(f"recorded {sum(counts.values())} messages on {len(counts)} topics to {path}")
        for name, count in sorted(counts.items()):
            print(f"  {name}: {count}")
        return 0
    finally:
        if rclpy.ok():
            rclpy.shutdown()


NODE = Recorder
main = make_main(NODE)


# ---------------------------------------------------------------------------------------------
# roadedge regress: a scenario run's recorded inputs through the vehicle's processing nodes


def replay_scenario(
    bag: Path,
    scenario: Any,
    output: Path,
    outputs: Sequence[str],
    clock_hz: float = 50.0,
) -> GraphRun:
    """Deterministic replay of a run's bag through localization, planner and controller with the
    scenario's parameters (as the HIL runner composed them), recording ``outputs``. Played: the
    recorded topics these nodes subscribe to and do not publish themselves (sensors, vehicle and
    equipment status, objects, V2X). Localization is initialised at the scenario's start pose, as
    the runner did at t = 0."""
    from roadedge.ros.hil_runner import (
        VEHICLE_PROCESSING,
        create_stack,
        reset_localization,
        vehicle_processing,
    )

    specs = vehicle_processing(scenario)
    with BagSource(bag) as source, BagRecorder(output, custom_data={"recorder": "roadedge regress"}) as rec:
        options = PlayOptions(clock_hz=clock_hz)
        answers: list[str] = []
        return play_through(
            source,
            options,
            lambda context: create_stack([specs[name] for name in VEHICLE_PROCESSING], context),
            record=rec,
            record_topics=outputs,
            prepare=lambda node, stepper: answers.append(reset_localization(node, scenario, stepper)),
            inputs_from_graph=True,
        )
