"""Recognises watchdogs by their rhythm: one client asking for one path at a steady interval."""

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
        if not _MIN_INTERVAL_S <= mean <= self._max_interval:
            return False
        return all(abs(i - mean) <= self._tolerance * mean for i in intervals)
