"""Lockstep execution: run an executor's ready callbacks until the graph is quiet.

After a new /clock step (or a replayed input) every subscriber takes it and everything it
triggers runs - timers due on the new time, their outputs, the subscribers of those -
before the caller moves on. Fast DDS delivers intra-process samples synchronously, so "no
ready callback" means "processed". This makes HIL runs and replays independent of CPU load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rclpy.executors import TimeoutException


class Stepper:
    """Runs an executor's ready callbacks until none is left for ``idle_rounds`` polls."""

    def __init__(self, executor: Any, idle_rounds: int = 2, max_callbacks: int = 1_000_000) -> None:
        self.executor = executor
        self.idle_rounds = idle_rounds
        self.max_callbacks = max_callbacks
        self.callbacks = 0

    def settle(self) -> int:
        """Run until quiet; returns how many callbacks ran. A callback's exception propagates."""
        idle = 0
        ran = 0
        while idle < self.idle_rounds:
            try:
                handler, _entity, _node = self.executor.wait_for_ready_callbacks(0.0)
            except TimeoutException:
                idle += 1
                continue
            idle = 0
            handler()
            if handler.exception() is not None:
                raise handler.exception()
            ran += 1
            if ran > self.max_callbacks:
                raise RuntimeError("graph did not settle: callbacks keep triggering each other")
        self.callbacks += ran
        return ran


class DirectStepper(Stepper):
    """A leaner :class:`Stepper` for one thread, used by the deterministic replay.

    Each wave takes a snapshot of what is ready - timers due, one message from each subscription
    that has one, pending service requests and responses - and then runs those callbacks directly,
    in the order rclpy's executor yields them (per node: timers, subscriptions, clients, services).
    What the callbacks publish is taken in the next wave, as with rclpy. The snapshot polls the
    entities (a take on an empty subscription costs about 1 us) instead of an rcl wait set
    (about 85 us per wait here, most of it blocked, plus rclpy's wait-set construction: about 60 %
    of a replay of a 60 s drive through localization, planner and controller). Guard conditions
    and waitables other than rclpy's default QoS-warning handlers need a wait set: then it waits.

    It polls only what can hold something, knowing the graph: the ``publish`` of every publisher of
    the executor's nodes is hooked, so a publish on a topic marks that topic's subscriptions, and a
    marked subscription is taken from until a take comes back empty (a new subscription starts
    marked: it may hold latched data). Subscriptions that also have publishers outside the
    executor's nodes (their matched publisher count says so; checked when the graph changes and
    every ``8 * sweep_every`` settles), and those still matching the graph's publishers (checked
    every settle until they have), are polled in every wave, as are services and clients while a
    client of the graph waits for a response. The first wave of every ``sweep_every``-th settle
    polls everything: a safety net for a delivery nothing announced. Which callbacks run, and in
    which order, is the same as when everything is polled in every wave - a subscription left
    out has nothing to take - at a sixth of the takes (the 60 s demo drive through localization,
    planner and controller: 114 k instead of 728 k).

    Nodes are visited in a fixed order - ``nodes`` as given, then the executor's others by name -
    where rclpy's executor keeps them in a set (an order that can differ between two runs).
    Only for single-threaded, synchronous callbacks (all of roadedge's nodes): a coroutine callback
    that awaits raises. Tasks the executor holds (future done-callbacks) run first in each wave.
    """

    def __init__(
        self,
        executor: Any,
        nodes: Sequence[Any] = (),
        idle_rounds: int = 1,
        max_callbacks: int = 1_000_000,
        sweep_every: int = 8,
    ) -> None:
        super().__init__(executor, idle_rounds, max_callbacks)
        self.order = list(nodes)
        self.waves = 0
        self.takes = 0
        self.sweep_every = max(1, sweep_every)
        self._settles = 0
        self._sweep = True
        self._waitable_cache: dict[Any, tuple[list[Any], list[Any]]] = {}
        self._node_set: set[Any] = set()
        self._nodes: list[Any] = []
        self._shape: list[tuple[Any, list[Any], list[Any], list[Any], list[Any], list[Any]]] = []
        self._others = False  # any guard condition or waitable that needs a wait set
        self._topic_subs: dict[str, list[Any]] = {}
        self._touched: set[str] = set()  # topics the graph published on since the last wave
        self._pending: set[Any] = set()  # subscriptions that may hold a message
        self._external: set[Any] = set()  # subscriptions with publishers outside the graph
        self._matching: set[Any] = set()  # subscriptions not yet matched with all the graph's publishers
        self._ours: dict[str, int] = {}  # topic -> publishers of the graph
        self._clients: list[Any] = []

    def settle(self) -> int:
        """Run until quiet; returns how many callbacks ran. A callback's exception propagates."""
        self._settles += 1
        if self._settles % self.sweep_every == 0:
            self._sweep = True
        if self._matching:
            ours = self._ours
            self._matching = {
                s for s in self._matching if s.handle.get_publisher_count() < ours.get(s.topic_name, 0)
            }
        idle = 0
        ran = 0
        while idle < self.idle_rounds:
            done = self._wave()
            if done == 0:
                idle += 1
                continue
            idle = 0
            ran += done
            if ran > self.max_callbacks:
                raise RuntimeError("graph did not settle: callbacks keep triggering each other")
        self.callbacks += ran
        return ran

    def nodes(self) -> list[Any]:
        executor = self.executor
        with executor._nodes_lock:
            if executor._nodes == self._node_set:
                return self._nodes
            present = set(executor._nodes)
        ordered = [n for n in self.order if n in present]
        rest = sorted((n for n in present if n not in ordered), key=lambda n: n.get_fully_qualified_name())
        self._node_set, self._nodes = present, ordered + rest
        return self._nodes

    def _refresh(self, nodes: list[Any]) -> None:
        """Rebuild the topic map when the graph's nodes or their entities changed."""
        shape = self._shape
        if len(shape) == len(nodes) and all(
            s[0] is n
            and s[1] == n._subscriptions
            and s[2] == n._publishers
            and s[3] == n._clients
            and s[4] == n._guards
            and s[5] == _waitable_list(n)
            for s, n in zip(shape, nodes, strict=True)
        ):
            return
        known = {sub for s in shape for sub in s[1]}
        self._shape = [
            (
                n,
                list(n._subscriptions),
                list(n._publishers),
                list(n._clients),
                list(n._guards),
                list(_waitable_list(n)),
            )
            for n in nodes
        ]
        self._topic_subs = {}
        for node in nodes:
            for sub in node._subscriptions:
                self._topic_subs.setdefault(sub.topic_name, []).append(sub)
                if sub not in known:
                    self._pending.add(sub)  # a new subscription: it may already hold (latched) data
            for pub in node._publishers:
                _hook(pub, self._touched)
        self._clients = [c for n in nodes for c in n._clients]
        self._pending &= {sub for subs in self._topic_subs.values() for sub in subs}
        self._others = any(s[4] or self._waitables(s[0]) for s in self._shape)
        self._check_external()
        self._sweep = True

    def _check_external(self) -> None:
        """Compare each subscription's matched publishers with the graph's publishers of its topic:
        more - some publish from outside the graph; fewer - matching (and the delivery of latched
        data) is still under way. Either is polled in every wave."""
        ours: dict[str, int] = {}
        for shape in self._shape:
            for pub in shape[2]:
                ours[pub.topic_name] = ours.get(pub.topic_name, 0) + 1
        self._ours = ours
        self._external, self._matching = set(), set()
        for topic, subs in self._topic_subs.items():
            for sub in subs:
                count = sub.handle.get_publisher_count()
                if count > ours.get(topic, 0):
                    self._external.add(sub)
                elif count < ours.get(topic, 0):
                    self._matching.add(sub)

    def _run_tasks(self) -> int:
        executor = self.executor
        if not executor._tasks:
            return 0
        with executor._tasks_lock:
            tasks = [t for t in executor._tasks if not t[0].executing() and not t[0].done()]
        ran = 0
        for task, _entity, _node in reversed(tasks):
            task()
            if task.exception() is not None:
                raise task.exception()
            ran += 1
        if tasks:
            with executor._tasks_lock:
                executor._tasks = [t for t in executor._tasks if not t[0].done() and not t[0].cancelled()]
        return ran

    def _wave(self) -> int:
        """One snapshot of everything ready, then its callbacks."""
        self.waves += 1
        ran = self._run_tasks()
        nodes = self.nodes()
        self._refresh(nodes)
        sweep = self._sweep
        if sweep:
            self._sweep = False
            if self._settles % (8 * self.sweep_every) == 0:
                self._check_external()
        pending = self._pending
        if self._touched:
            topic_subs = self._topic_subs
            for topic in self._touched:
                pending.update(topic_subs.get(topic, ()))
            self._touched.clear()
        poll = pending | self._external | self._matching
        calls = sweep or any(c._pending_requests for c in self._clients)
        guards_ready, waitables_ready = self._wait_for_others(nodes) if self._others else ({}, [])
        work: list[tuple[Any, list[Any], list[tuple[Any, Any]], list[Any], list[Any]]] = []
        for node in nodes:
            timers = [t for t in node._timers if t.handle.is_timer_ready()]
            messages = []
            for sub in node._subscriptions:
                if sweep or sub in poll:
                    self.takes += 1
                    info = sub.handle.take_message(sub.msg_type, sub.raw)
                    if info is not None:
                        messages.append((sub, info))
                        pending.add(sub)  # more may be queued: take again in the next wave
                    else:
                        pending.discard(sub)
            responses = []
            requests = []
            if calls:
                for cli in node._clients:
                    header, response = cli.handle.take_response(cli.srv_type.Response)
                    if header is not None:
                        responses.append((cli, header, response))
                for srv in node._services:
                    request, header = srv.handle.service_take_request(srv.srv_type.Request)
                    if header is not None:
                        requests.append((srv, request, header))
            if timers or messages or responses or requests:
                work.append((node, timers, messages, responses, requests))
        for waitable, data in waitables_ready:
            _run(waitable.execute(data))
            ran += 1
        for node, timers, messages, responses, requests in work:
            for tmr in timers:
                if tmr.handle.is_timer_ready():  # as rclpy: a timer may have been cancelled since
                    tmr.handle.call_timer()
                    tmr.callback()
                    ran += 1
            for sub, info in messages:
                if sub._callback_type is sub.CallbackType.MessageOnly:
                    sub.callback(info[0])
                else:
                    sub.callback(*info)
                ran += 1
            for gc in guards_ready.get(node, ()):
                gc._executor_triggered = False
                gc.callback()
                ran += 1
            for cli, header, response in responses:
                ran += 1
                try:
                    future = cli.get_pending_request(header.request_id.sequence_number)
                except KeyError:
                    continue  # the request was cancelled
                future._set_executor(self.executor)
                future.set_result(response)
            for srv, request, header in requests:
                srv.send_response(srv.callback(request, srv.srv_type.Response()), header)
                ran += 1
        return ran

    def _waitables(self, node: Any) -> list[Any]:
        """The node's waitables but rclpy's default QoS-warning handlers (cached while unchanged)."""
        current = list(_waitable_list(node))
        cached = self._waitable_cache.get(node)
        if cached is None or cached[0] != current:
            cached = (current, [w for w in current if not _default_qos_logger(w)])
            self._waitable_cache[node] = cached
        return cached[1]

    def _wait_for_others(self, nodes: list[Any]) -> tuple[dict[Any, list[Any]], list[tuple[Any, Any]]]:
        """Guard conditions and waitables (rarely any) are only seen through an rcl wait set."""
        guards = [(node, gc) for node in nodes for gc in node._guards]
        waitables = [w for node in nodes for w in self._waitables(node)]
        if not guards and not waitables:
            return {}, []
        from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

        counts = [w.get_num_entities() for w in waitables]
        wait_set = _rclpy.WaitSet(
            sum(c.num_subscriptions for c in counts),
            len(guards) + sum(c.num_guard_conditions for c in counts),
            sum(c.num_timers for c in counts),
            sum(c.num_clients for c in counts),
            sum(c.num_services for c in counts),
            sum(c.num_events for c in counts),
            self.executor._context.handle,
        )
        wait_set.clear_entities()
        for _node, gc in guards:
            wait_set.add_guard_condition(gc.handle)
        for waitable in waitables:
            waitable.add_to_wait_set(wait_set)
        wait_set.wait(0)
        ready = set(wait_set.get_ready_entities("guard_condition"))
        guards_ready: dict[Any, list[Any]] = {}
        for node, gc in guards:
            if gc.handle.pointer in ready or gc._executor_triggered:
                gc._executor_triggered = True
                guards_ready.setdefault(node, []).append(gc)
        return guards_ready, [(w, w.take_data()) for w in waitables if w.is_ready(wait_set)]


def _waitable_list(node: Any) -> list[Any]:
    """The node's list of waitables (rclpy keeps it private; its property is a generator)."""
    waitables = getattr(node, "_Node__waitables", None)
    return waitables if isinstance(waitables, list) else list(node.waitables)


class _PublishHook:
    """Wraps a publisher's ``publish``: marks its topic in the steppers' sets, then publishes."""

    __slots__ = ("marks", "publish", "topic")

    def __init__(self, publish: Any, topic: str) -> None:
        self.publish = publish
        self.topic = topic
        self.marks: list[set[str]] = []

    def __call__(self, msg: Any) -> None:
        for touched in self.marks:
            touched.add(self.topic)
        self.publish(msg)


def _hook(pub: Any, touched: set[str]) -> None:
    hook = pub.__dict__.get("publish")
    if not isinstance(hook, _PublishHook):
        hook = _PublishHook(pub.publish, pub.topic_name)
        pub.publish = hook
    if not any(m is touched for m in hook.marks):
        hook.marks.append(touched)


def _default_qos_logger(waitable: Any) -> bool:
    """rclpy's default incompatible-QoS / incompatible-type handlers: they only log a warning.
    (Each joins every wait set; in a stepped process without a mismatch they never fire.)"""
    callback = getattr(waitable, "callback", None)
    return getattr(callback, "__name__", "").startswith("_default_incompatible_")


def _run(coroutine: Any) -> None:
    """Run a coroutine that never suspends (rclpy's wrappers of synchronous callbacks)."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("DirectStepper: a callback awaited something; use Stepper")
