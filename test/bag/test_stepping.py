"""DirectStepper (the deterministic replay's lockstep executor): polling only what the graph published
runs the same callbacks in the same order as polling everything, and still takes what comes from
outside the graph, latched data of a late subscription, and service calls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile  # noqa: E402
from std_msgs.msg import Int32  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from roadedge.ros.stepping import DirectStepper  # noqa: E402

pytestmark = pytest.mark.dds


class PollEverything(DirectStepper):
    """The reference: every subscription, client and service polled in every wave."""

    def _wave(self) -> int:
        self._sweep = True
        return super()._wave()


@pytest.fixture
def context() -> Iterator[Any]:
    ctx = rclpy.Context()
    rclpy.init(context=ctx, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    try:
        yield ctx
    finally:
        rclpy.shutdown(context=ctx)


def chain_graph(context: Any, log: list[str]) -> tuple[list[Any], Any]:
    """source -> a (x2, fan-out to b and c) -> b -> c; a also publishes twice per input."""
    lean = {"start_parameter_services": False, "enable_rosout": False}
    src = rclpy.create_node("src", context=context, **lean)
    a = rclpy.create_node("a", context=context, **lean)
    b = rclpy.create_node("b", context=context, **lean)
    c = rclpy.create_node("c", context=context, **lean)
    q = QoSProfile(depth=100)
    src_pub = src.create_publisher(Int32, "in", q)
    a_pub = a.create_publisher(Int32, "mid", q)
    b_pub = b.create_publisher(Int32, "out", q)

    def on_a(msg: Any) -> None:
        log.append(f"a{msg.data}")
        a_pub.publish(Int32(data=msg.data * 10))
        a_pub.publish(Int32(data=msg.data * 10 + 1))

    def on_b(msg: Any) -> None:
        log.append(f"b{msg.data}")
        b_pub.publish(Int32(data=msg.data + 1000))

    a.create_subscription(Int32, "in", on_a, q)
    b.create_subscription(Int32, "mid", on_b, q)
    c.create_subscription(Int32, "mid", lambda m: log.append(f"c-mid{m.data}"), q)
    c.create_subscription(Int32, "out", lambda m: log.append(f"c-out{m.data}"), q)
    return [src, a, b, c], src_pub


def run_chain(context: Any, stepper_class: type[DirectStepper]) -> tuple[list[str], DirectStepper]:
    log: list[str] = []
    nodes, pub = chain_graph(context, log)
    executor = SingleThreadedExecutor(context=context)
    for node in nodes:
        executor.add_node(node)
    stepper = stepper_class(executor, nodes, sweep_every=1000)  # no safety-net sweeps after the first
    try:
        stepper.settle()
        for k in range(12):
            pub.publish(Int32(data=k))
            if k % 3 != 2:  # sometimes two inputs queue up before the graph runs
                log.append("settle")
                stepper.settle()
        stepper.settle()
        return log, stepper
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()


def test_polling_what_was_published_runs_the_same_callbacks_in_the_same_order(context: Any) -> None:
    reference, full = run_chain(context, PollEverything)
    log, lean = run_chain(context, DirectStepper)
    assert log == reference
    assert log.count("a11") == 1 and "c-out1111" in log  # the chain ran to its end
    assert lean.takes < full.takes


def test_takes_from_a_publisher_outside_the_graph(context: Any) -> None:
    lean = {"start_parameter_services": False, "enable_rosout": False}
    inside = rclpy.create_node("inside", context=context, **lean)
    outside = rclpy.create_node("outside", context=context, **lean)  # not in the executor
    got: list[int] = []
    sub = inside.create_subscription(Int32, "ext", lambda m: got.append(m.data), 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(inside)
    stepper = DirectStepper(executor, [inside], sweep_every=1000)
    try:
        pub = outside.create_publisher(Int32, "ext", 10)
        deadline = time.monotonic() + 10.0  # matching is synchronous here; allow for it not to be
        while sub.get_publisher_count() < 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        stepper.settle()
        stepper.settle()  # past the first (sweeping) settle
        pub.publish(Int32(data=7))
        stepper.settle()
        assert got == [7]
    finally:
        executor.shutdown()
        inside.destroy_node()
        outside.destroy_node()


def test_late_subscription_gets_latched_data_and_services_answer(context: Any) -> None:
    lean = {"start_parameter_services": False, "enable_rosout": False}
    a = rclpy.create_node("a", context=context, **lean)
    b = rclpy.create_node("b", context=context, **lean)
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    pub = a.create_publisher(Int32, "map", latched)
    calls: list[str] = []

    def serve(req: Any, resp: Any) -> Any:
        calls.append("served")
        resp.success, resp.message = True, "ok"
        return resp

    a.create_service(Trigger, "reset", serve)
    client = b.create_client(Trigger, "reset")
    executor = SingleThreadedExecutor(context=context)
    for node in (a, b):
        executor.add_node(node)
    stepper = DirectStepper(executor, [a, b])
    try:
        stepper.settle()
        stepper.settle()
        pub.publish(Int32(data=42))
        stepper.settle()  # no subscriber yet
        got: list[int] = []
        b.create_subscription(Int32, "map", lambda m: got.append(m.data), latched)
        deadline = time.monotonic() + 10.0  # matching and the latched delivery may be asynchronous
        while not got and time.monotonic() < deadline:
            stepper.settle()
        assert got == [42]
        stepper.settle()
        stepper.settle()
        assert got == [42]
        future = client.call_async(Trigger.Request())
        stepper.settle()
        assert calls == ["served"] and future.done() and future.result().message == "ok"
    finally:
        executor.shutdown()
        a.destroy_node()
        b.destroy_node()
