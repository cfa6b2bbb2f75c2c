"""Health reporting without ROS: levels, statuses and counted, rate-limited events.

Nodes publish these on /diagnostics through ``roadedge.ros.node``; the core libraries use
them to report bad input (counted and rate-limited, never fatal).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum


class Level(IntEnum):
    """Same values as diagnostic_msgs/DiagnosticStatus."""

    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


@dataclass
class Health:
    """One named status, turned into a DiagnosticStatus by the node base."""

    level: Level = Level.OK
    message: str = "ok"
    values: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def worst(*items: Health) -> Health:
        if not items:
            return Health()
        worst = max(items, key=lambda h: int(h.level))
        merged: dict[str, str] = {}
        for item in items:
            merged.update(item.values)
        return Health(worst.level, worst.message, merged)


class RateLimiter:
    """True at most once per ``period`` seconds (per key), so logs never flood."""

    def __init__(self, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._period = period
        self._clock = clock
        self._last: dict[str, float] = {}

    def ready(self, key: str = "") -> bool:
        now = self._clock()
        last = self._last.get(key)
        if last is None or now - last >= self._period:
            self._last[key] = now
            return True
        return False


class EventCounter:
    """Counts events by kind (e.g. decode failures) and says when one is worth logging.

    ``record`` returns the text to log, or None while the rate limit holds; counts are
    never lost and appear in the diagnostics values.
    """

    def __init__(self, log_period: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.counts: dict[str, int] = {}
        self.last_detail: dict[str, str] = {}
        self._limiter = RateLimiter(log_period, clock)

    def record(self, kind: str, detail: str = "") -> str | None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.last_detail[kind] = detail
        if self._limiter.ready(kind):
            suffix = f": {detail}" if detail else ""
            return f"{kind} (#{self.counts[kind]}){suffix}"
        return None

    def total(self) -> int:
        return sum(self.counts.values())

    def values(self) -> dict[str, str]:
        return {kind: str(count) for kind, count in sorted(self.counts.items())}


class RateMeter:
    """Events per second over a sliding window (rx/tx rates in diagnostics)."""

    def __init__(self, window: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._stamps: list[float] = []

    def tick(self) -> None:
        self._stamps.append(self._clock())

    def rate(self) -> float:
        now = self._clock()
        self._stamps = [t for t in self._stamps if now - t <= self._window]
        return len(self._stamps) / self._window
