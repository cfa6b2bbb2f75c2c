"""Node base: parameters from a typed schema, topics from the topic map, /diagnostics, safe stop.

Every roadedge node derives from :class:`RoadedgeNode` (or :class:`RoadedgeLifecycleNode`
for drivers) and passes its parameter schema; ``main = make_main(NodeClass)`` gives it an
executable that leaves actuators safe on SIGINT/SIGTERM.
"""

from __future__ import annotations

import importlib
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.executors import Executor, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from roadedge import topics
from roadedge.config import ConfigError, load_yaml, schema_fields, validate
from roadedge.diagnostics import Health, Level
from roadedge.ros.qos import qos_for

S = TypeVar("S")

#: Parameter every lifecycle driver understands: configure and activate itself at start.
AUTOSTART = "autostart"

#: Whether publishers and subscriptions get rclpy's default QoS-event handlers (they log
#: incompatible QoS). Each handler joins every wait set; the HIL runner, which steps one
#: process holding the whole graph, switches them off to halve the executor's work.
QOS_EVENT_LOGGING = True


def _event_kwargs(kind: str) -> dict[str, Any]:
    if QOS_EVENT_LOGGING:
        return {}
    if kind == "publisher":
        return {"event_callbacks": PublisherEventCallbacks(use_default_callbacks=False)}
    return {"event_callbacks": SubscriptionEventCallbacks(use_default_callbacks=False)}


def message_type(type_name: str) -> Any:
    """The message class for "pkg/msg/Type"."""
    package, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def params_file_from_args(args: Sequence[str]) -> str | None:
    """The --params-file a node was started with (named in configuration errors)."""
    files = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--params-file"]
    return files[-1] if files else None


class HealthReporter:
    """Collects named Health sources and publishes them on /diagnostics at a fixed period."""

    def __init__(self, node: Node, period: float = 1.0) -> None:
        self._node = node
        self._sources: dict[str, Callable[[], Health]] = {}
        self._pub = node.create_publisher(
            DiagnosticArray,
            topics.DIAGNOSTICS.name,
            qos_for(topics.DIAGNOSTICS),
            **_event_kwargs("publisher"),
        )
        self._timer = node.create_timer(period, self.publish)

    def add(self, name: str, source: Callable[[], Health]) -> None:
        self._sources[name] = source

    def statuses(self) -> list[DiagnosticStatus]:
        out = []
        for name, source in self._sources.items():
            try:
                health = source()
            except Exception as err:  # a broken health source must not kill the node
                health = Health(Level.ERROR, f"health source failed: {err!r}")
            out.append(
                DiagnosticStatus(
                    level=bytes([int(health.level)]),
                    name=f"{self._node.get_name()}: {name}",
                    message=health.message,
                    hardware_id=self._node.get_fully_qualified_name(),
                    values=[KeyValue(key=k, value=v) for k, v in health.values.items()],
                )
            )
        return out

    def publish(self) -> None:
        if not self._sources:
            return
        msg = DiagnosticArray()
        msg.header.stamp = self._node.get_clock().now().to_msg()
        msg.status = self.statuses()
        self._pub.publish(msg)


class _RoadedgeMixin(Generic[S]):
    """What Node and LifecycleNode bases share. ``Schema`` is the node's parameter dataclass."""

    config: S
    health: HealthReporter

    def _setup(self, schema: type[S], config_source: str | None, extra: Sequence[str] = ()) -> None:
        node: Node = self  # type: ignore[assignment]
        overrides = {name: p.value for name, p in node._parameter_overrides.items()}
        source = config_source or params_file_from_args(sys.argv) or "parameters"
        values = {k: v for k, v in overrides.items() if k not in extra}
        self.config = validate(values, schema, node=node.get_name(), source=source)
        for name, field in schema_fields(schema).items():
            value = getattr(self.config, field.name)
            descriptor = ParameterDescriptor(
                description=str(field.metadata.get("help", "")), read_only=True, dynamic_typing=True
            )
            node.declare_parameter(name, value, descriptor)
        self.health = HealthReporter(node)

    def publisher(self, topic: topics.Topic, msg_type: Any = None) -> Any:
        node: Node = self  # type: ignore[assignment]
        return node.create_publisher(
            msg_type or message_type(topic.type), topic.name, qos_for(topic), **_event_kwargs("publisher")
        )

    def subscription(self, topic: topics.Topic, callback: Callable[[Any], None], msg_type: Any = None) -> Any:
        node: Node = self  # type: ignore[assignment]
        return node.create_subscription(
            msg_type or message_type(topic.type), topic.name, callback, qos_for(topic)
        )

    def now_s(self) -> float:
        """Node clock time in seconds (sim time under use_sim_time)."""
        node: Node = self  # type: ignore[assignment]
        return float(node.get_clock().now().nanoseconds) * 1e-9

    def on_safe_stop(self) -> None:
        """Called before the node goes away (SIGINT/SIGTERM, runner stop): leave actuators safe."""


class RoadedgeNode(Node, _RoadedgeMixin[S]):
    """A plain node with a validated parameter schema.

    Subclasses set ``Schema`` (parameter dataclass) and ``default_name``.
    """

    Schema: ClassVar[type[Any]]
    default_name: ClassVar[str]

    def __init__(self, name: str | None = None, *, config_source: str | None = None, **kwargs: Any) -> None:
        super().__init__(name or self.default_name, **kwargs)
        self._setup(self.Schema, config_source)


class RoadedgeLifecycleNode(LifecycleNode, _RoadedgeMixin[S]):
    """A managed node for drivers: configure opens the device, activate starts actuation.

    With the ``autostart`` parameter (default true) it configures and activates itself,
    since the in-process runner and plain launch files have no lifecycle manager.
    A fault calls :meth:`fault_to_inactive`, which deactivates into the safe state.
    """

    Schema: ClassVar[type[Any]]
    default_name: ClassVar[str]

    def __init__(self, name: str | None = None, *, config_source: str | None = None, **kwargs: Any) -> None:
        name = name or self.default_name
        super().__init__(name, **kwargs)
        autostart_override = self._parameter_overrides.get(AUTOSTART)
        autostart = True if autostart_override is None else autostart_override.value
        if not isinstance(autostart, bool):
            raise ConfigError(f"parameter '{AUTOSTART}' of node '{name}': expected true or false")
        self._setup(self.Schema, config_source, extra=(AUTOSTART,))
        self.declare_parameter(AUTOSTART, autostart, ParameterDescriptor(read_only=True))
        self._autostart_timer = self.create_timer(0.0, self._autostart) if autostart else None

    def _autostart(self) -> None:
        assert self._autostart_timer is not None
        self._autostart_timer.cancel()
        self.destroy_timer(self._autostart_timer)
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # Subclasses implement these; defaults succeed.
    def open_device(self) -> bool:
        return True

    def close_device(self) -> None:
        pass

    def start_output(self) -> None:
        pass

    def stop_output(self) -> None:
        """Bring outputs to their safe state (called on deactivate, fault and shutdown)."""

    @property
    def active(self) -> bool:
        return bool(self._state_machine.current_state[1] == "active")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            ok = self.open_device()
        except Exception as err:
            self.get_logger().error(f"configure failed: {err}")
            ok = False
        return TransitionCallbackReturn.SUCCESS if ok else TransitionCallbackReturn.FAILURE

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.start_output()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_output()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.close_device()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop_output()
        self.close_device()
        return TransitionCallbackReturn.SUCCESS

    def fault_to_inactive(self, reason: str) -> None:
        """A driver fault: safe state now, then deactivate (a supervisor may re-activate)."""
        self.get_logger().error(f"fault: {reason}; deactivating into the safe state")
        self.stop_output()
        if self.active:
            self.trigger_deactivate()

    def on_safe_stop(self) -> None:
        self.stop_output()


class _StopFlag:
    def __init__(self) -> None:
        self.raised = False

    def __call__(self, signum: int, frame: object) -> None:
        self.raised = True


def spin_until_signal(
    executor: Executor, nodes: Sequence[Any], until: Callable[[], bool] | None = None
) -> None:
    """Spin until SIGINT/SIGTERM (or ``until()``), then let every node leave its outputs safe.

    rclpy's own handlers would shut the context down first, after which a node can no
    longer publish its stop command; so ours only raise a flag.
    """
    flag = _StopFlag()
    previous = {sig: signal.signal(sig, flag) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not flag.raised and rclpy.ok() and not (until and until()):
            executor.spin_once(timeout_sec=0.05)
    finally:
        for node in nodes:
            try:
                node.on_safe_stop()
            except Exception as err:
                node.get_logger().error(f"safe stop failed: {err!r}")
        # Let the DDS writers deliver the stop messages before the context goes; no more
        # spinning, so no timer can publish a non-safe command after them.
        time.sleep(0.1)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def make_main(node_class: type[Any]) -> Callable[[list[str] | None], int]:
    """``main`` for a node executable: init, validate parameters, spin, stop safely."""

    def main(args: list[str] | None = None) -> int:
        argv = sys.argv if args is None else args
        params_file = params_file_from_args(argv)
        if params_file is not None:
            try:  # rcl would fail with a parser trace; say what is wrong instead
                load_yaml(params_file)
            except ConfigError as err:
                print(f"[{node_class.__name__}] configuration error: {err}", file=sys.stderr)
                return 2
        rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
        try:
            try:
                node = node_class()
            except ConfigError as err:
                print(f"[{node_class.__name__}] configuration error: {err}", file=sys.stderr)
                return 2
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            spin_until_signal(executor, [node])
            executor.shutdown()
            node.destroy_node()
            return 0
        finally:
            if rclpy.ok():
                rclpy.shutdown()

    return main
