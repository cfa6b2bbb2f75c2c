"""Lockstep execution: run an executor's ready callbacks until the graph is quiet.

After a new /clock step (or a replayed input) every subscriber takes it and everything it
triggers runs - timers due on the new time, their outputs, the subscribers of those -
before the caller moves on. Fast DDS delivers intra-process samples synchronously, so "no
ready callback" means "processed". This makes HIL runs and replays independent of CPU load.
"""

from __future__ import annotations

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
