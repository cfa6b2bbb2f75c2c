"""GNSS time -> ROS time: stamp a fix with the time it is valid for, not the time it arrived.

A receiver computes the fix for its epoch (GGA/RMC UTC time) and sends it some tens of
milliseconds later over a serial line; the host reads it after another poll period. Stamping on
arrival puts the fix 3 m/s x 50-100 ms behind the vehicle, with jitter. :class:`GnssClockOffset`
estimates the offset between the host clock (the ROS clock, sim time on the HIL rig) and GNSS
time from pairs (fix time, arrival): the arrival is the fix time plus the offset plus a transport
delay that is never negative, so the smallest ``arrival - fix time`` over a sliding window is the
offset plus the smallest delay (subtract ``latency`` if that is known, e.g. measured with PPS).

Robustness: a sample whose delay is smaller than the current estimate's by more than
``tolerance`` (a less delayed sample lowers the estimate; the first fixes after start-up may
be late by an epoch) or larger by more than ``max_delay`` is rejected (garbage time fields, a receiver that
reports a wrong date after a cold start, a stalled line) and the caller stamps on arrival. When
``reanchor_after`` consecutive rejected samples agree with each other, the clock really stepped
(host clock set, sim time restarted, GPS week rollover): the estimate restarts from them.
Fixes with a time of day but no date (GGA without RMC/ZDA) take the day that puts them nearest
to the arrival, so midnight needs no special case.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import deque
from dataclasses import dataclass

DAY = 86400.0


def time_of_day_seconds(t: dt.time) -> float:
    return t.hour * 3600.0 + t.minute * 60.0 + t.second + t.microsecond * 1e-6


@dataclass
class ClockCounters:
    accepted: int = 0
    rejected: int = 0  # outside the delay bound: stamped on arrival
    no_time: int = 0  # no usable time in the epoch
    reanchors: int = 0  # the clock stepped; the estimate restarted

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class GnssClockOffset:
    def __init__(
        self,
        window: float = 10.0,
        max_delay: float = 0.5,
        tolerance: float = 0.2,
        reanchor_after: int = 10,
        latency: float = 0.0,
    ):
        if window <= 0 or max_delay <= 0 or tolerance < 0 or reanchor_after < 1:
            raise ValueError("window and max_delay must be > 0, tolerance >= 0, reanchor_after >= 1")
        self.window = window
        self.max_delay = max_delay
        self.tolerance = tolerance
        self.reanchor_after = reanchor_after
        self.latency = latency
        self.counters = ClockCounters()
        self._samples: deque[tuple[float, float]] = deque()  # (arrival, arrival - fix time)
        self._outliers: list[tuple[float, float]] = []

    @property
    def offset(self) -> float | None:
        """Host clock minus GNSS time (s), least-delayed sample of the window; None before the first."""
        if not self._samples:
            return None
        return min(d for _, d in self._samples)

    def fix_time(self, utc: dt.datetime | None, time_of_day: dt.time | None, arrival: float) -> float | None:
        """GNSS time of the epoch in seconds since the Unix epoch: from the full UTC date-time, or from
        the time of day on the day that puts it nearest to the arrival (offset removed)."""
        if utc is not None:
            return utc.timestamp()
        if time_of_day is None:
            return None
        tod = time_of_day_seconds(time_of_day)
        guess = arrival - (self.offset or 0.0)
        return tod + DAY * round((guess - tod) / DAY)

    def stamp(self, fix_time: float | None, arrival: float) -> float | None:
        """The host-clock time the fix is valid for, or None (reject: stamp on arrival)."""
        if fix_time is None or not (math.isfinite(fix_time) and math.isfinite(arrival)):
            self.counters.no_time += 1
            return None
        d = arrival - fix_time
        offset = self.offset
        if offset is not None and not (-self.tolerance <= d - offset <= self.max_delay):
            self.counters.rejected += 1
            self._outliers.append((arrival, d))
            ds = [x for _, x in self._outliers]
            if len(ds) >= self.reanchor_after:
                if max(ds) - min(ds) <= self.max_delay:
                    self._samples.clear()
                    self._samples.extend(self._outliers)
                    self._outliers.clear()
                    self.counters.reanchors += 1
                    return self._accepted(arrival)
                self._outliers = self._outliers[1:]  # they disagree: keep the most recent ones
            return None
        self._outliers.clear()
        self._samples.append((arrival, d))
        return self._accepted(arrival)

    def _accepted(self, arrival: float) -> float:
        while self._samples and self._samples[0][0] < arrival - self.window and len(self._samples) > 1:
            self._samples.popleft()
        self.counters.accepted += 1
        offset = self.offset
        assert offset is not None
        # the fix time in host time: arrival - d_now + (d_now - offset) ... = fix_time + offset
        return arrival - (self._samples[-1][1] - offset) - self.latency
