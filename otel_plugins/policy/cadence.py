"""Recognises watchdogs by their behaviour: one client asking for one path again and again.

Where the lines carry usable times (a server's own clock, or when they arrived), the
requests must come at a steady interval. Where they do not (a file replayed without
timestamps, a backlog read all at once: the intervals are all near zero), repeating the
same request is what is left to go by.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from .config import ProbeMatcherConfig

_MAX_KEYS = 2048
_MIN_INTERVAL_S = 0.5


class CadenceTracker:
    def __init__(self, config: ProbeMatcherConfig) -> None:
        self._repeats = config.cadence_min_repeats
        self._tolerance = config.cadence_tolerance
        self._max_interval = config.cadence_max_interval_s
        self._seen: OrderedDict[tuple, deque[float]] = OrderedDict()

    def observe(self, key: tuple, when: float) -> bool:
        """Record one request at `when`; True once its last intervals are steady."""
        times = self._seen.get(key)
        if times is None:
            times = self._seen[key] = deque(maxlen=self._repeats + 1)
            if len(self._seen) > _MAX_KEYS:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(key)
        times.append(when)
        if len(times) <= self._repeats:
            return False
        intervals = [b - a for a, b in zip(times, list(times)[1:])]
        mean = sum(intervals) / len(intervals)
        if mean < _MIN_INTERVAL_S:
            return max(intervals) < _MIN_INTERVAL_S  # no usable time: the repetition alone
        if mean > self._max_interval:
            return False
        return all(abs(i - mean) <= self._tolerance * mean for i in intervals)
