"""Sampling windows: the first line per window per (method, path, status) is the window's
representative, the rest are counted and summarised when the window closes.

Two uses: quiet probe responses under the `sample` verdict (the rest are not emitted), and
probes failing over and over (the rest are kept at DEBUG; the summary is a warning, so a
probe that keeps failing is raised once per window, with how often it failed). `repeats.py`
sums up a message shed under overload as a repeat in a `SampleSummary` too."""

from __future__ import annotations

from dataclasses import dataclass

from ..record import Severity
from .decide import REASON_FAILURE_REPEATED, REASON_REPEATED, REASON_SAMPLED

SampleKey = tuple[str | None, str | None, int | None]


@dataclass(frozen=True, slots=True)
class SampleSummary:
    method: str | None
    path: str | None
    status: int | None
    suppressed: int
    window_s: float  # how long the window was open: its length, or less when the stream ended first
    start: float
    reason: str = REASON_SAMPLED
    severity: Severity = Severity.INFO
    kind: str = "probe"  # what the summed-up lines were (a repeated message's own kind)
    text: str | None = None  # a repeated message's words

    @property
    def message(self) -> str:
        if self.reason == REASON_REPEATED:
            return f"printed {self.suppressed} more times in {self.window_s:g}s, shed under overload: {self.text}"
        status = "" if self.status is None else f" {self.status}"
        request = f"{self.method or '-'} {self.path or '-'}{status}"
        if self.reason == REASON_FAILURE_REPEATED:
            return f"probe {request} failed {self.suppressed} more times in {self.window_s:g}s (kept at DEBUG)"
        return f"suppressed {self.suppressed} probe responses {request} in {self.window_s:g}s"


class Sampler:
    def __init__(self, window_s: float, *, reason: str = REASON_SAMPLED, severity: Severity = Severity.INFO) -> None:
        self.window_s = window_s
        self.reason, self.severity = reason, severity
        self._windows: dict[SampleKey, list[float]] = {}  # key -> [start, suppressed]
        # The earliest open window's start: `expire` is asked on every probe, and most of the time
        # not even that window is due.
        self._oldest = float("inf")

    @property
    def open(self) -> bool:
        """Whether a window is open (one may be due to close)."""
        return bool(self._windows)

    def admit(self, key: SampleKey, now: float) -> tuple[bool, list[SampleSummary]]:
        """Whether this line is its window's representative, and the windows this time closed."""
        closed = self.expire(now) if self._windows else []
        window = self._windows.get(key)
        if window is None:
            self._windows[key] = [now, 0]
            self._oldest = min(self._oldest, now)
            return True, closed
        window[1] += 1
        return False, closed

    def repeat(self, key: SampleKey, now: float) -> bool:
        """Counts a line into its key's window if one is open and not due to close (then True);
        a line that would open or close a window is left to `admit` (False)."""
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.window_s:
            return False
        window[1] += 1
        return True

    def expire(self, now: float) -> list[SampleSummary]:
        if now - self._oldest < self.window_s:
            return []
        closed = []
        for key, (start, suppressed) in list(self._windows.items()):
            if now - start >= self.window_s:
                del self._windows[key]
                if suppressed:
                    closed.append(self._summary(key, start, suppressed))
        self._oldest = min((start for start, _n in self._windows.values()), default=float("inf"))
        return closed

    def flush(self, now: float | None = None) -> list[SampleSummary]:
        """Closes every window (the end of the stream at `now`): one not over yet is summed up over
        the time it was open, not the window's length."""
        closed = [
            self._summary(key, start, suppressed, None if now is None else open_for(start, now, self.window_s))
            for key, (start, suppressed) in self._windows.items()
            if suppressed
        ]
        self._windows.clear()
        self._oldest = float("inf")
        return closed

    def _summary(self, key: SampleKey, start: float, suppressed: float, span: float | None = None) -> SampleSummary:
        return SampleSummary(*key, int(suppressed), self.window_s if span is None else span, start, self.reason, self.severity)


def open_for(start: float, now: float, window_s: float) -> float:
    """How long a window opened at `start` and closed early at `now` was open, to a tenth of a second."""
    return round(min(window_s, max(0.0, now - start)), 1)
