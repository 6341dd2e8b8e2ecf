"""Messages a server prints again and again, for the overload check.

Under overload (`sources.process.PipePump`) a line that is no access line is decided, and
noted here, unless its words after the stamp it begins with (its message) are those of a
line noted within the sampling window and in the same phase: then it is that printing's
repeat, passed through as that printing was and counted into its window. A window closes at
the first printing after it (which is decided and opens the next), when the table is full,
or at the end of the stream, with a summary of how often the message was shed.

Only what cannot matter twice is noted: an informational, warning or progress line, decided
on its own (no dump, no summary, no lifecycle event). A failure, a lifecycle step, a load or
RPC line, an access line and an indented line (the rest of a message) are decided every time.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..record import Kind, Phase, Severity
from .decide import REASON_REPEATED, Decision
from .sampler import SampleSummary, open_for

# What two printings of one message differ by, when they differ only by when: the stamp a line
# begins with (an uptime, a date and time, bracketed or not).
_LEADING_STAMP = re.compile(rb"[\d\s.:,/+\-TZ\[\]]*")
_REPEATABLE_KINDS = frozenset({Kind.OTHER, Kind.PROGRESS})
# Longer lines are decided every time: the table keeps at most KEPT messages of this size.
MAX_MESSAGE_BYTES = 1024
KEPT = 256


def message_of(raw: bytes) -> bytes | None:
    """The words of `raw` after its leading stamp, or None when the line is never taken for a
    repeat (too long, or indented: it may be the rest of the message before it)."""
    if len(raw) > MAX_MESSAGE_BYTES or raw[:1] in (b" ", b"\t"):
        return None
    return raw[_LEADING_STAMP.match(raw).end() :]  # type: ignore[union-attr]


def repeatable(decision: Decision) -> bool:
    """Whether another printing of a line decided so may be shed as its repeat."""
    return decision.emit and decision.kind in _REPEATABLE_KINDS and decision.severity < Severity.ERROR


class _Printed:
    __slots__ = ("at", "phase", "decision", "extra", "shed")

    def __init__(self, at: float, phase: Phase, decision: Decision, extra: Any) -> None:
        self.at, self.phase, self.decision, self.extra = at, phase, decision, extra
        self.shed = 0  # printings shed since


Closed = list[tuple[SampleSummary, Any]]  # summaries, each with the `extra` its printing was noted with


class RepeatWindows:
    def __init__(self, window_s: float, kept: int = KEPT) -> None:
        self.window_s = window_s
        self._kept = kept
        self._printed: dict[bytes, _Printed] = {}
        self.due = math.inf  # when the earliest open window closes (the per-line check reads only this)

    def repeat(self, message: bytes, now: float, phase: Phase) -> Decision | None:
        """The decision of the printing `message` repeats within its window and in `phase`
        (this printing is counted into that window), or None: the line is to be decided."""
        printed = self._printed.get(message)
        if printed is None or printed.phase is not phase or not 0 <= now - printed.at < self.window_s:
            return None
        printed.shed += 1
        return printed.decision

    def note(self, message: bytes, at: float, phase: Phase, decision: Decision, extra: Any = None) -> Closed:
        """A printing of `message` was decided (`repeatable`): its window opens; returns the
        windows this closed (that message's window before, or all of them when the table is full)."""
        closed = self._close([message]) if message in self._printed else []
        if len(self._printed) >= self._kept:
            closed += self.close_all(at)
        self._printed[message] = _Printed(at, phase, decision, extra)
        self.due = min(self.due, at + self.window_s)
        return closed

    def expire(self, now: float) -> Closed:
        """Closes the windows that are over at `now`."""
        if now < self.due:
            return []
        return self._close([m for m, p in self._printed.items() if not 0 <= now - p.at < self.window_s])

    def close_all(self, now: float) -> Closed:
        """Closes every window, those not over yet summed up over the time they were open (at
        the end of the stream, or when the table is full)."""
        return self._close(list(self._printed), now)

    def _close(self, messages: list[bytes], now: float | None = None) -> Closed:
        closed: Closed = []
        for message in messages:
            printed = self._printed.pop(message)
            if printed.shed:
                text = message.decode("utf-8", "replace").strip()
                # A window closed early says how long it was open, not the window's length.
                span = self.window_s if now is None else open_for(printed.at, now, self.window_s)
                summary = SampleSummary(None, None, None, printed.shed, span, printed.at, REASON_REPEATED,
                                        printed.decision.severity, printed.decision.kind.value, text)
                closed.append((summary, printed.extra))
        self.due = min((p.at + self.window_s for p in self._printed.values()), default=math.inf)
        return closed
