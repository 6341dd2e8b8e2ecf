"""Sampling windows: the first probe response per window per (method, path, status) is kept,
the rest are counted and summarised when the window closes."""

from __future__ import annotations

from dataclasses import dataclass

SampleKey = tuple[str | None, str | None, int | None]


@dataclass(frozen=True, slots=True)
class SampleSummary:
    method: str | None
    path: str | None
    status: int | None
    suppressed: int
    window_s: float
    start: float

    @property
    def message(self) -> str:
        status = "" if self.status is None else f" {self.status}"
        return (
            f"suppressed {self.suppressed} probe responses {self.method or '-'} {self.path or '-'}{status}"
            f" in {self.window_s:g}s"
        )


class Sampler:
    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._windows: dict[SampleKey, list[float]] = {}  # key -> [start, suppressed]

    def admit(self, key: SampleKey, now: float) -> tuple[bool, list[SampleSummary]]:
        """Whether this line is its window's representative, and the windows this time closed."""
        closed = self.expire(now) if self._windows else []
        window = self._windows.get(key)
        if window is None:
            self._windows[key] = [now, 0]
            return True, closed
        window[1] += 1
        return False, closed

    def expire(self, now: float) -> list[SampleSummary]:
        closed = []
        for key, (start, suppressed) in list(self._windows.items()):
            if now - start >= self.window_s:
                del self._windows[key]
                if suppressed:
                    closed.append(SampleSummary(*key, int(suppressed), self.window_s, start))
        return closed

    def flush(self) -> list[SampleSummary]:
        closed = [
            SampleSummary(*key, int(suppressed), self.window_s, start)
            for key, (start, suppressed) in self._windows.items()
            if suppressed
        ]
        self._windows.clear()
        return closed
