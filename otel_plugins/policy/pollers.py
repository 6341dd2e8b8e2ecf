"""Recognises pollers by what they do, not by who they are.

A request for a polled path (the model list, server status, `HEAD /`) is a probe when a
client keeps sending the same one (`repeat_min` times, each within
`repeat_max_interval_s` of the last), or when the client is already known as a prober
because it asked a health, readiness or metrics path: an orchestrator's other polls are
polls too. Lines without a usable time count as close together, so a replayed file
without timestamps is judged on repetition alone.
"""

from __future__ import annotations

from collections import OrderedDict

from .config import ProbeMatcherConfig

_MAX_KEYS = 2048


class PollerTracker:
    def __init__(self, config: ProbeMatcherConfig) -> None:
        self._min = config.repeat_min
        self._max_gap = config.repeat_max_interval_s
        self._seen: OrderedDict[tuple, list[float]] = OrderedDict()  # (client, method, path) -> [count, last time]
        self._probers: OrderedDict[object, None] = OrderedDict()

    def prober(self, client: object) -> None:
        """`client` asked a probe path. A line that names no client names no prober: its other
        requests may be anyone's (ollama's app logs its UI's requests and its health poll alike)."""
        if client is None:
            return
        self._probers[client] = None
        self._probers.move_to_end(client)
        if len(self._probers) > _MAX_KEYS:
            self._probers.popitem(last=False)

    def observe(self, client: object, method: str, path: str, when: float | None) -> bool:
        """Count one request; True when its client polls (a known prober, or repeating itself)."""
        key = (client, method, path)
        entry = self._seen.get(key)
        if entry is None:
            entry = self._seen[key] = [0, when]
            if len(self._seen) > _MAX_KEYS:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(key)
        last = entry[1]
        if when is not None and last is not None and when - last > self._max_gap:
            entry[0] = 0
        entry[0] += 1
        entry[1] = when
        return client in self._probers or entry[0] >= self._min
