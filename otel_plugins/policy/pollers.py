"""Recognises pollers by what they do, not by who they are.

A request for a polled path (the model list, server status, `HEAD /`) is a probe when a
client keeps sending the same one (`repeat_min` times, each within
`repeat_max_interval_s` of the last), or when the client is already known as a prober
because it asked a health, readiness or metrics path: an orchestrator's other polls are
polls too. Lines without a usable time count as close together, so a replayed file
without timestamps is judged on repetition alone.

A live stream learns a series only as it goes: its first `repeat_min - 1` requests are kept
as the client's. A recorded log can be looked over first (`foresee`): a series that polls
anywhere in it is a poll from its first request.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Iterable

from .config import ProbeMatcherConfig

MAX_KEYS = 2048  # series and probers each: a week of logs names fewer clients


class Poll(enum.Enum):
    """What the rule says of one request."""

    NO = "no"
    SEEN = "seen"  # its client is a known prober, or has repeated it `repeat_min` times
    FORESEEN = "foreseen"  # only the look ahead knows: its series polls later in the recording


_NO, _SEEN, _FORESEEN = Poll.NO, Poll.SEEN, Poll.FORESEEN  # as globals: looked up per request


class PollerTracker:
    def __init__(self, config: ProbeMatcherConfig) -> None:
        self._min = config.repeat_min
        self._max_gap = config.repeat_max_interval_s
        self._seen: OrderedDict[tuple, list[float]] = OrderedDict()  # (client, method, path) -> [count, last time]
        self._probers: OrderedDict[object, None] = OrderedDict()
        self._foreseen: frozenset[tuple] = frozenset()

    def foresee(self, series: Iterable[tuple]) -> None:
        """`series`, (client, method, path) keys a look over the whole recording found polled
        (see classify.Classifier.foresee), are polls from their first request on."""
        self._foreseen = frozenset(series)

    def prober(self, client: object) -> None:
        """`client` asked a probe path. A line that names no client names no prober: its other
        requests may be anyone's (ollama's app logs its UI's requests and its health poll alike)."""
        if client is None:
            return
        self._probers[client] = None
        self._probers.move_to_end(client)
        if len(self._probers) > MAX_KEYS:
            self._probers.popitem(last=False)

    def observe(self, client: object, method: str, path: str, when: float | None) -> Poll:
        """Count one request; whether its client polls (a known prober, or repeating itself)."""
        key = (client, method, path)
        entry = self._seen.get(key)
        if entry is None:
            entry = self._seen[key] = [0, when]
            if len(self._seen) > MAX_KEYS:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(key)
        last = entry[1]
        if when is not None and last is not None and when - last > self._max_gap:
            entry[0] = 0
        entry[0] += 1
        entry[1] = when
        if client in self._probers or entry[0] >= self._min:
            return _SEEN
        return _FORESEEN if key in self._foreseen else _NO
