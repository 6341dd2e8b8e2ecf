"""Line in, decided record out: dialects, then the policy, then the lifecycle, in that order.

A `Classifier` is stateful (phase, sampling windows, pollers), so one instance follows
one stream: one server's output, one log file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import AnyStr

from . import names
from .dialects import decode, parse_line
from .dialects.fastpath import HotMatch, match_hot
from .lifecycle import Lifecycle
from .policy import Decision, Policy, Poll, PollerTracker, ProbePolicy, Sampler, SampleSummary, Verdict
from .policy.decide import OWN_POLL, REASON_CONTINUATION, REASON_FAILURE_REPEATED, REASON_SAMPLED
from .policy.paths import segment_words
from .policy.pollers import MAX_KEYS
from .record import Kind, Record, Severity

# An uptime clock that jumps back this far means the producer restarted in the same stream.
_RESTART_JUMP_S = 5.0
_POLL_METHODS = ("GET", "HEAD")
_INDENT = " \t"
_INDENT_BYTES = b" \t"
# How Rust's anyhow and eyre, and Java, print the error a failure was caused by: unindented.
_CAUSE = "Caused by:"
# Enum members as globals: a class attribute lookup per storm line costs more.
_NO_POLL, _FORESEEN = Poll.NO, Poll.FORESEEN


def _holds_any(text: str, words: Iterable[str]) -> bool:
    """Whether `text` holds one of `words` (a plain loop: `any()` over a generator costs more)."""
    for word in words:
        if word in text:
            return True
    return False


def _indent(line: AnyStr, blanks: AnyStr) -> int:
    """How many blanks `line` begins with."""
    return len(line) - len(line.lstrip(blanks))


class Classified:
    """One decided line. For a line the fast path matched (`hot`), the Record is only built
    when someone reads `record`: a probe storm is decided, counted and passed through
    without one."""

    __slots__ = ("_record", "hot", "decision", "time", "summaries", "folded")

    def __init__(
        self,
        record: Record | None,
        decision: Decision,
        time: float,
        summaries: Sequence[SampleSummary] = (),
        folded: bool = False,
        hot: HotMatch | None = None,
    ) -> None:
        self._record, self.hot, self.decision, self.time = record, hot, decision, time
        self.summaries = summaries
        self.folded = folded  # part of a crash dump, exported with it (see pipeline.LinePipeline)

    @property
    def record(self) -> Record:
        record = self._record
        if record is None:
            record = self._record = self.hot.record()  # type: ignore[union-attr]
        return record

    @property
    def emit(self) -> bool:
        return self.decision.emit

    @property
    def http_path(self) -> str | None:
        return self.hot.key[1] if self._record is None else self._record.fields.get(names.URL_PATH)  # type: ignore[union-attr]

    @property
    def http_status(self) -> int | None:
        return self.hot.key[2] if self._record is None else self._record.fields.get(names.HTTP_STATUS)  # type: ignore[union-attr]

    @property
    def access_line(self) -> bool:
        """An HTTP access line the fast path took: it means nothing for load, RPC or lifecycle."""
        return self.hot is not None


class Classifier:
    """Decides each line of one stream.

    With `trust_line_time` (recorded logs), a line is placed at the time it carries, and
    a line without one at the time of the line before, so a log replays as it happened.
    Without it (live streams), every line is placed at its observed time: `observed`,
    or `clock()`.
    """

    def __init__(
        self,
        policy: Policy | ProbePolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
        lifecycle: Lifecycle | None = None,
        trust_line_time: bool = True,
        own_line: Callable[[str | None, str | None], bool] | None = None,
    ) -> None:
        self.policy = policy if isinstance(policy, ProbePolicy) else ProbePolicy(policy)
        config = self.policy.policy
        self.clock = clock
        self.lifecycle = lifecycle or Lifecycle(load_deadline_s=config.load_deadline_s)
        self.sampler = Sampler(config.sample_window_s)
        # Probes failing over and over (a hung server probed every few seconds by several
        # orchestrators): the first failure per window is raised, its repeats are kept at DEBUG
        # and counted, and the count is raised when the window closes.
        self.failures = Sampler(config.sample_window_s, reason=REASON_FAILURE_REPEATED, severity=Severity.WARN)
        self._repeated: dict[Decision, Decision] = {}
        self.pollers = PollerTracker(config.probes) if config.probes.repeat_hint else None
        # Requests decided as polls only thanks to `foresee`: a live stream would have kept them.
        self.foreseen_polls = 0
        self.trust_line_time = trust_line_time
        self.own_line = own_line
        self._probe_paths = self.policy.matcher.probe_paths
        self._sampled: dict[Decision, Decision] = {}
        self._continued: dict[Decision, Decision] = {}
        self._loud: Decision | None = None  # the line before, when it was a warning or a failure
        self._loud_indent = 0  # how far that line was indented: its rest is indented further
        self._uptime_anchor: float | None = None
        self._last_uptime = 0.0
        self._last_time: float | None = None

    def classify_bytes(self, raw: bytes, observed: float | None = None) -> Classified:
        return self.classify(decode(raw), observed)

    def classify(self, text: str, observed: float | None = None, hot: HotMatch | None = None) -> Classified:
        """Decides `text`; `hot` is the fast path's match of it, when the caller made it already."""
        if hot is None:
            hot = match_hot(text)
        if hot is not None:
            return self._classify_access(hot, observed)
        record = parse_line(text)
        now = self._line_time(record.time_unix, record.uptime, observed)
        f = record.fields
        if self.own_line is not None and self.own_line(f.get(names.CLIENT_ADDRESS), f.get(names.URL_PATH)):
            return Classified(record, OWN_POLL, now)
        poll = _NO_POLL
        if self.pollers is not None and record.kind is Kind.HTTP:
            poll = self._polls(f.get(names.CLIENT_ADDRESS), f.get(names.HTTP_METHOD), f.get(names.URL_PATH), now)
        lifecycle = self.lifecycle
        phase, overdue, stopping = lifecycle.phase, lifecycle.overdue(now), lifecycle.stopping
        decision = self.policy.decide(record, phase, overdue=overdue, polling=poll is not _NO_POLL, stopping=stopping)
        if poll is _FORESEEN and decision != self.policy.decide(record, phase, overdue=overdue, stopping=stopping):
            self.foreseen_polls += 1
        summaries: Sequence[SampleSummary] = ()
        if decision.verdict is Verdict.SAMPLE:
            f = record.fields
            key = (f.get(names.HTTP_METHOD), f.get(names.URL_PATH), f.get(names.HTTP_STATUS))
            representative, summaries = self.sampler.admit(key, now)
            if not representative:
                decision = self._sampled_away(decision)
        elif decision.kind is Kind.PROBE and (self.failures.open or decision.severity >= Severity.WARN):
            key = (f.get(names.HTTP_METHOD), f.get(names.URL_PATH), f.get(names.HTTP_STATUS))
            decision, summaries = self._failing_probe(decision, key, now)
        decision = self._carry_on(record, text, decision)
        if decision.kind is Kind.PROBE:
            health = bool(f.get(names.HEALTH_CHECK)) or f.get(names.URL_PATH) in self._probe_paths
            lifecycle.observe(record, decision, now, health_path=health)
        else:
            lifecycle.observe(record, decision, now)
        return Classified(record, decision, now, summaries)

    def _classify_access(self, hot: HotMatch, observed: float | None) -> Classified:
        """The same steps as `classify` for an access line the fast path matched, read from
        its decision key instead of a Record (`tests/test_classify_fastpath.py` holds the two equal)."""
        if self.trust_line_time:
            time_unix, uptime = hot.clock()
            now = self._line_time(time_unix, uptime, observed)
        else:
            now = observed if observed is not None else self.clock()
        method, path, status, client, empty_rid, health_check = hot.key
        if self.own_line is not None and self.own_line(client, path):
            return Classified(None, OWN_POLL, now, hot=hot)
        # `_polls`, inline: this is the line a probe storm is made of.
        poll, pollers = _NO_POLL, self.pollers
        if pollers is not None and method in _POLL_METHODS:
            if path in self._probe_paths:
                pollers.prober(client)
            else:
                poll = pollers.observe(client, method, path, now)
        lifecycle = self.lifecycle
        phase, overdue = lifecycle.phase, lifecycle.overdue(now)
        decision = self.policy.decide_access(hot, phase, overdue, poll is not _NO_POLL)
        if poll is _FORESEEN and decision != self.policy.decide_access(hot, phase, overdue, False):
            self.foreseen_polls += 1
        summaries: Sequence[SampleSummary] = ()
        if decision.verdict is Verdict.SAMPLE:
            representative, summaries = self.sampler.admit((method, path, status), now)
            if not representative:
                decision = self._sampled_away(decision)
        elif decision.kind is Kind.PROBE and (self.failures.open or decision.severity >= Severity.WARN):
            decision, summaries = self._failing_probe(decision, (method, path, status), now)
        self._loud = None
        self.probe_answered(hot, decision, now)
        return Classified(None, decision, now, summaries, hot=hot)

    def _polls(self, client: str | None, method: str | None, path: str | None, now: float) -> Poll:
        """Counts a GET or HEAD for the pollers rule (policy.pollers): whether its client polls."""
        if method not in _POLL_METHODS:
            return _NO_POLL
        pollers = self.pollers
        if path in self._probe_paths:
            pollers.prober(client)  # type: ignore[union-attr]
            return _NO_POLL
        return pollers.observe(client, method, path, now)  # type: ignore[union-attr]

    def foresee(self, requests: Iterable[str]) -> None:
        """Hindsight for a recorded log, handed its request lines before any line is decided
        (LinePipeline.foresee leaves out the lines naming no GET or HEAD; any other line is
        parsed and passed over): the request series that repeat as the pollers rule says are
        polls from their first request on (a live stream learns a series only at its
        `repeat_min`-th request).

        A scout with the policy's rule and its own clock counts the requests. A line holding a
        probe path's word (`health`, `metrics`...) is not parsed, so a probe storm costs a few
        substring tests a line; the scout then knows no probers: a client's polls before its
        first probe are known ahead only by their repetition. A line without a time of its own
        is placed at the last request's time, not the last line's: close together either way."""
        if self.pollers is None:
            return
        scout = Classifier(self.policy, clock=self.clock)
        probe_words = segment_words(self.policy.policy.probes.paths)
        probe_paths = self._probe_paths
        polled: set[tuple] = set()
        for text in requests:
            if _holds_any(text, probe_words):
                continue
            hot = match_hot(text)
            if hot is not None:
                method, path, _status, client = hot.key[:4]
            else:
                record = parse_line(text)
                if record.kind is not Kind.HTTP:
                    continue
                f = record.fields
                method, path, client = f.get(names.HTTP_METHOD), f.get(names.URL_PATH), f.get(names.CLIENT_ADDRESS)
            if path in probe_paths or (client, method, path) in polled:
                continue  # a series known to poll needs no more counting
            time_unix, uptime = hot.clock() if hot is not None else (record.time_unix, record.uptime)
            now = scout._line_time(time_unix, uptime, None)
            if scout._polls(client, method, path, now) is not _NO_POLL and len(polled) < MAX_KEYS:
                polled.add((client, method, path))
        self.pollers.foresee(polled)

    def probe_answered(self, hot: HotMatch, decision: Decision, now: float) -> None:
        """What an access line the fast path matched means for the lifecycle (a probe answered
        2xx: ready, unless the health path said loading), as deciding it does; the overload
        check applies it to a probe it clears before the server is ready."""
        _method, path, status, _client, _empty_rid, health_check = hot.key
        kind = decision.kind
        health = kind is Kind.PROBE and (bool(health_check) or path in self._probe_paths)
        self.lifecycle.observe_access(kind, status, now, health_path=health)

    def continues(self, raw: bytes) -> bool:
        """Whether the line `raw` may go on from the warning or failure before it, for a source
        about to pass that line over undecided: a line indented further than that one (the rest
        of the message), or any line after a failure (a dump's frames follow it, with no word of
        their own). If it may not, the warning waits for its rest no longer, as if the line had
        been decided."""
        loud = self._loud
        if loud is None:
            return False
        if loud.severity >= Severity.ERROR or _indent(raw, _INDENT_BYTES) > self._loud_indent:
            return True
        self._loud = None
        return False

    def again_in_window(self, decision: Decision, key: tuple, now: float) -> Decision | None:
        """For the overload check, given a probe's decision before any window: when the line is
        another of a window still open (a failure raised already, or a sampled probe), it is
        counted into that window, as deciding it would, and its final decision returned; None
        when it would open or close a window."""
        if decision.verdict is Verdict.SAMPLE:
            return self._sampled_away(decision) if self.sampler.repeat(key, now) else None
        return self._repeat_of(decision) if self.failures.repeat(key, now) else None

    def _repeat_of(self, decision: Decision) -> Decision:
        repeated = self._repeated.get(decision)
        if repeated is None:
            repeated = self._repeated[decision] = replace(
                decision, verdict=Verdict.DOWNGRADE, severity=Severity.DEBUG, reason=REASON_FAILURE_REPEATED
            )
        return repeated

    def _failing_probe(self, decision: Decision, key: tuple, now: float) -> tuple[Decision, Sequence[SampleSummary]]:
        """A probe raised as failing is its window's first failure, or a repeat kept at DEBUG;
        any other probe only closes the failure windows that are due (a server that recovered
        has its last failures summed up at its next probe, not at the end of the stream)."""
        if decision.severity < Severity.WARN:
            return decision, self.failures.expire(now)
        first, closed = self.failures.admit(key, now)
        return (decision if first else self._repeat_of(decision)), closed

    def _sampled_away(self, decision: Decision) -> Decision:
        """The decision of a line its sampling window did not keep (one shared object per decision)."""
        away = self._sampled.get(decision)
        if away is None:
            away = self._sampled[decision] = replace(decision, reason=REASON_SAMPLED, emit=False)
        return away

    def _carry_on(self, record: Record, text: str, decision: Decision) -> Decision:
        """`decision`, or the warning's or failure's before it when this line carries it on (see
        `_continuation`); notes whether the line after this one may carry this one on."""
        unclaimed = record.severity is None and record.dialect == "other"
        # Measured inside the envelope: behind `name  | ` a message's rest is indented after the bar.
        if names.LOG_ENVELOPE not in record.fields:
            indent = _indent(text, _INDENT)
        else:
            indent = _indent(record.message or "", _INDENT) if unclaimed else 0
        loud = self._loud
        if loud is not None and unclaimed:
            message = record.message if record.message is not None else text
            if not message.strip():
                # A blank line says nothing: a failure's chain may go on after it (`Error: x`, a
                # blank, `Caused by:`). Decided as itself, it leaves the failure open.
                return decision
            if indent > self._loud_indent or (loud.severity >= Severity.ERROR and message.startswith(_CAUSE)):
                decision = self._continuation(loud)
                indent = self._loud_indent  # the message's rest: the line after it is measured against its head
        # An access line is complete on its one line, whichever path decided it.
        loud_enough = decision.emit and decision.severity >= Severity.WARN and record.kind is not Kind.HTTP
        self._loud = decision if loud_enough else None
        self._loud_indent = indent
        return decision

    def _continuation(self, loud: Decision) -> Decision:
        """An indented line no dialect claims, right after a warning or a failure, is the rest
        of that message (a wrapped console line, a multi-line exception message, an exception's
        fields printed after its traceback): it keeps the message's kind and level."""
        decision = self._continued.get(loud)
        if decision is None:
            decision = self._continued[loud] = Decision(Verdict.KEEP, loud.kind, loud.severity, REASON_CONTINUATION)
        return decision

    def flush(self, now: float | None = None) -> list[SampleSummary]:
        """Close every open sampling window (at the end of a stream, at `now`)."""
        return self.sampler.flush(now) + self.failures.flush(now)

    def _line_time(self, time_unix: float | None, uptime: float | None, observed: float | None) -> float:
        if not self.trust_line_time:
            return observed if observed is not None else self.clock()
        if time_unix is not None:
            now = time_unix
        elif uptime is not None:
            up = uptime
            if self._uptime_anchor is None or up + _RESTART_JUMP_S < self._last_uptime:
                base = self._last_time if self._last_time is not None else (observed or self.clock())
                self._uptime_anchor = base - up
            self._last_uptime = up
            now = self._uptime_anchor + up
        elif self._last_time is not None:
            return self._last_time
        else:
            now = observed if observed is not None else self.clock()
        self._last_time = now
        return now
