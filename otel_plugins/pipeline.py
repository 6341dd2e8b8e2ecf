"""One line pipeline for every entry point: lines in; decided records, lifecycle, log records and metrics out.

`run`, `tail`, `replay` and the OTLP `processor` each give every stream (one server's
output, one log file, one resource's records) a `LinePipeline`, and feed it lines with
the time they arrived. The pipeline owns the stream's state and applies the same chain
everywhere, in one direction:

    dialect (parse) -> policy (reads the phase) -> lifecycle (takes the decided line)
        -> crash folding -> log records (`LogSink`) and per-line metrics
        -> the follower (the wrapper's spans, progress and /health; run only)

Only the sinks differ: the wrapper and the commands export new OTLP records, the
processor rewrites the records it received. So a line gets the same decision, the same
attributes and the same metric points whichever way it came in.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .classify import Classified, Classifier
from .crash import CrashDump, CrashFolder
from .dialects import decode
from .dialects.fastpath import HotMatch, match_hot
from .dialects.suspect import find_suspect, find_suspect_or_ready
from .first_match import Finder
from .lifecycle import Lifecycle
from .policy import Policy, ProbePolicy, SampleSummary, Verdict
from .policy.paths import in_line_regex
from .policy.decide import IN_CRASH_DUMP, OWN_POLL, REASON_SHED
from .policy.repeats import RepeatWindows, message_of, repeatable
from .record import Event, Kind, Phase, Severity
from .sinks.passthrough import render

_log = logging.getLogger(__name__)

Attributes = Mapping[str, Any]


class LogSink(Protocol):
    """Where a pipeline's log records go."""

    def emit(self, classified: Classified, extra: Attributes | None = None) -> None: ...

    def emit_crash(self, dump: CrashDump, extra: Attributes | None = None) -> None: ...

    def emit_summary(self, summary: SampleSummary, extra: Attributes | None = None) -> None: ...


class LineMetrics(Protocol):
    """The per-line counters (probe responses, suppressed lines, log records by severity)."""

    def count_line(self, classified: Classified) -> None: ...

    def count_log(self, severity: Severity) -> None: ...

    def count_probe(self, path: str | None, status: int | None, verdict: Any, reason: Any = None) -> None: ...

    def count_suppressed(self, path: str | None, status: int | None, reason: Any, count: int = 1) -> None: ...


class Follower(Protocol):
    """Whoever turns lines into more than records: the wrapper's spans, progress and state."""

    def follow(self, classified: Classified) -> None: ...

    def crashed(self, dump: CrashDump) -> None: ...


@dataclass
class LineCounts:
    """What one pipeline has seen, for the summary every command prints at its end."""

    lines: int = 0
    probes: int = 0
    suppressed: int = 0
    records: int = 0
    crashes: int = 0
    shed: int = 0  # passed through unparsed under overload (run)
    cut: int = 0  # longer than the line limit: cut before parsing
    own: int = 0  # about the wrapper's own requests to its server: dropped before the policy
    foreseen: int = 0  # polls known only by looking ahead (`foresee`): a live stream keeps them

    def add(self, other: LineCounts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def describe(self) -> str:
        parts = [f"lines {self.lines}", f"probes {self.probes}", f"suppressed {self.suppressed}"]
        if self.shed:
            parts.append(f"passed through unparsed under overload {self.shed}")
        if self.crashes:
            parts.append(f"crash dumps folded {self.crashes}")
        if self.own:
            parts.append(f"own /health polls dropped {self.own}")
        if self.foreseen:
            parts.append(f"polls known by looking ahead {self.foreseen}")
        if self.cut:
            parts.append(f"cut at the line limit {self.cut}")
        return ", ".join(parts)


def describe_lines(counts: LineCounts, stats: Any | None = None) -> str:
    """The one summary every entry point prints: the lines, then the log record accounting."""
    text = counts.describe()
    if stats is not None:
        state = "" if stats.settled else " so far"
        text += (
            f"\nlog records: emitted {stats.emitted['logs']}, exported {stats.exported['logs']},"
            f" dropped {stats.dropped()['logs']}{state} (export failures {stats.failed['logs']})"
        )
    return text


class LinePipeline:
    """The state and the chain of one stream.

    `line_time=True` (recorded logs) places each line at the time it carries, so a replay
    unfolds as it happened; otherwise each line is placed when it arrived (`arrival`, or
    `clock()`). The lifecycle is created and owned here; others read `phase` and register
    listeners with `on_phase_change`, and only its own methods move it.
    """

    def __init__(
        self,
        policy: Policy | ProbePolicy | None,
        logs: LogSink | None = None,
        *,
        metrics: LineMetrics | None = None,
        follower: Follower | None = None,
        line_time: bool = False,
        started_at: float | None = None,
        initial_phase: Phase = Phase.STARTING,
        clock: Callable[[], float] = time.time,
        own_line: Callable[[str | None, str | None], bool] | None = None,
    ) -> None:
        probe_policy = policy if isinstance(policy, ProbePolicy) else ProbePolicy(policy)
        self.lifecycle = Lifecycle(started_at, probe_policy.policy.load_deadline_s, initial=initial_phase)
        self.classifier = Classifier(
            probe_policy, clock=clock, lifecycle=self.lifecycle, trust_line_time=line_time, own_line=own_line
        )
        self.logs = logs
        self.metrics = metrics
        self.follower = follower
        self.crashes = CrashFolder()
        self.counts = LineCounts()
        self.last_crash: str | None = None
        self.closed = False
        # The line `quiet_passthrough` matched last, and its match: a source that then decides the
        # same line after all (`feed`) is spared matching it twice.
        self._looked_at: tuple[bytes, HotMatch] | None = None
        # Compiled when first asked for (`overload_scan`), keyed by whether only health paths count.
        self._readiness_scans: dict[bool, Finder] = {}
        # Messages decided under overload, whose printings within the window are shed as their
        # repeats (`quiet_passthrough`); and the line the check last let through, with its
        # message, for `feed` to note once it is decided.
        self.repeats = RepeatWindows(self.classifier.sampler.window_s)
        self._unseen: tuple[bytes, bytes, float] | None = None
        self._last_time: float | None = None  # the last line's time: a recorded log's end

    @property
    def phase(self) -> Phase:
        return self.lifecycle.phase

    def quiet_passthrough(self, raw: bytes, now: float) -> bytes | None:
        """For the source's overload check (sources.process.PipePump): what to pass through for
        `raw` if it is harmless to leave undecided, as deciding it would pass it through (the
        line itself, the line at DEBUG, or nothing when the policy drops it); None otherwise.

        Harmless: an access line the policy would take for a probe and keep below WARN now (a
        503 while loading, say, or a probe whose failure or sampling window is open, counted
        into that window's summary), judged from the fast path's key alone; or another printing
        of a message decided under overload within its window (`_repeat_passthrough`). No
        record is made. Before the server is ready a probe's meaning for the lifecycle is
        applied, as deciding it would (a 2xx may be what says the server is ready). A probe
        response is counted (`llama.probe.responses`) as deciding the line counts it, so that a
        probe storm shows on that counter, while the line itself is counted by the source, as
        shed. The fast path's match is kept, for `feed` if the source decides this same line
        after all."""
        hot = match_hot(decode(raw))
        if hot is None:
            return self._repeat_passthrough(raw, now)
        self._looked_at = (raw, hot)
        lifecycle = self.lifecycle
        # Not polling: that can only make a line a probe, never a failure into a quiet one.
        decision = self.classifier.policy.decide_access(hot, lifecycle.phase, lifecycle.overdue(now), False)
        if decision.kind is not Kind.PROBE:
            return None
        method, path, status = hot.key[:3]
        if decision.severity >= Severity.WARN or decision.verdict is Verdict.SAMPLE:
            # A failure its window raised already, or a probe its sampling window has a line of:
            # counted into that window's summary. The line that opens or closes a window is decided.
            again = self.classifier.again_in_window(decision, (method, path, status), now)
            if again is None:
                return None
            decision = again
        if lifecycle.awaiting_ready:
            # Its meaning for the lifecycle is applied as deciding the line would apply it: a 2xx
            # may be what says the server is ready (see `overload_scan`), a health path's loading
            # answer means only a health path can say so from now on.
            self.classifier.probe_answered(hot, decision, now)
        if self.metrics is not None:
            self.metrics.count_probe(path, status, decision.verdict.value, decision.reason)
        return render(raw, decision) or b""

    def _repeat_passthrough(self, raw: bytes, now: float) -> bytes | None:
        """The overload check for a line that is no access line: another printing of a message
        decided under overload within the window and in the same phase (`policy.repeats`) is
        passed through as that printing was, and shed. None otherwise: the line is decided, and
        noted by `feed`."""
        message = message_of(raw)
        if message is None:
            return None
        decision = self.repeats.repeat(message, now, self.lifecycle.phase)
        if decision is not None:
            return render(raw, decision) or b""
        self._unseen = (raw, message, now)
        return None

    def _note_decided(self, message: bytes, at: float, classified: Classified, extra: Attributes | None) -> None:
        """A line the overload check let through was decided: its next printings within the
        window may be shed, unless it was part of a dump, closed a window, is a lifecycle
        event, or `repeats.repeatable` says no."""
        if (
            classified.folded
            or classified.summaries
            or not repeatable(classified.decision)
            or classified.record.event is not None
            or self.crashes.collecting
        ):
            return
        self._summed_up(self.repeats.note(message, at, self.lifecycle.phase, classified.decision, extra))

    def _summed_up(self, closed: list[tuple[SampleSummary, Attributes | None]]) -> None:
        for summary, extra in closed:
            self._summaries((summary,), extra)

    def overload_scan(self) -> Finder:
        """For a source under overload (`PipePump`): the scan that finds the lines to decide now.
        Until the server is ready it also finds probes answered 2xx (`dialects.suspect.readiness_pattern`):
        one of them is what makes it ready, and passed over, the phase would stay at loading and
        a probe failing after it would be cleared as the loading answer. Only the paths whose
        2xx can move the phase are looked for: once a health path said loading, the health
        paths alone (a model list answered during warm-up is then shed, not decided line by line)."""
        lifecycle = self.lifecycle
        if not lifecycle.awaiting_ready:
            return find_suspect
        health_only = lifecycle.only_health_says_ready
        scan = self._readiness_scans.get(health_only)
        if scan is None:
            probes = self.classifier.policy.policy.probes
            paths = probes.paths if health_only else probes.paths | probes.poll_paths
            try:
                scan = find_suspect_or_ready(in_line_regex(paths))
            except Exception:  # RE2 refused the policy's paths (too many, say): the fixed scan serves
                _log.warning("the readiness scan could not be built from the policy's probe paths", exc_info=True)
                scan = find_suspect
            self._readiness_scans[health_only] = scan
        return scan

    def must_decide(self, raw: bytes) -> bool:
        """For a source about to pass `raw` over undecided under overload (`PipePump`): True when
        the line may belong to a record begun before it (a crash dump being folded, the indented
        rest of a warning's message), so that it must be decided after all, or the dump loses its
        frames and the message its end. A line passed over ends a message waiting for its rest."""
        return self.crashes.collecting or self.classifier.continues(raw)

    def on_phase_change(self, listener: Callable[[Phase, Phase, float], None]) -> None:
        self.lifecycle.on_change(listener)

    def feed(self, raw: bytes, arrival: float | None = None, extra: Attributes | None = None) -> bytes | None:
        """Decides one raw line (ending included); returns what to pass through (None: dropped)."""
        looked_at = self._looked_at
        if looked_at is not None and looked_at[0] is raw:
            self._looked_at = None
            classified = self.feed_text(looked_at[1].text, arrival, extra, looked_at[1])
        else:
            classified = self.feed_text(decode(raw), arrival, extra)
        unseen = self._unseen
        if unseen is not None:
            self._unseen = None
            if unseen[0] is raw:
                self._note_decided(unseen[1], unseen[2], classified, extra)
        if self.repeats.due != math.inf:  # a window is open: summed up once it is over, whatever comes next
            self._summed_up(self.repeats.expire(self.classifier.clock()))
        if classified.folded:  # part of a crash dump: printed as it came
            return raw
        return render(raw, classified.decision)

    def foresee(self, lines: Iterable[bytes]) -> None:
        """Hindsight for a recorded log, handed every line before the first is fed: a request
        series that polls anywhere in it is a poll from its first request (Classifier.foresee)."""
        # Only a GET or HEAD can poll: the other lines are not even decoded.
        self.classifier.foresee(decode(raw) for raw in lines if b"GET" in raw or b"HEAD" in raw)

    def feed_text(
        self, text: str, arrival: float | None = None, extra: Attributes | None = None, hot: HotMatch | None = None
    ) -> Classified:
        """Decides one line (`hot`: the fast path's match of `text`, when it was made already).
        A line that became part of a crash dump comes back `folded`: it is exported with its
        dump, not on its own."""
        classified = self.classifier.classify(text, arrival, hot)
        self._last_time = classified.time
        counts = self.counts
        counts.lines += 1
        if classified.decision is OWN_POLL:
            counts.own += 1
            return classified
        # An access line never belongs to a crash dump (the fast path keeps its Record unbuilt).
        if not classified.access_line and self.crashes.take(classified):
            classified.folded = True
            if classified.decision.kind is not Kind.ERROR:
                classified.decision = IN_CRASH_DUMP
            if classified.record.event is Event.CRASH:
                self.last_crash = classified.record.text[:512]
            self._finish_crash(classified.time, False, extra)
            return classified
        self._finish_crash(classified.time, False, extra)
        decision = classified.decision
        if self.metrics is not None:
            self.metrics.count_line(classified)
        if decision.kind is Kind.PROBE:
            counts.probes += 1
        if decision.emit:
            counts.records += 1
            if self.logs is not None:
                self.logs.emit(classified, extra)
        else:
            counts.suppressed += 1
        if classified.summaries:
            self._summaries(classified.summaries, extra)
        if self.follower is not None:
            self.follower.follow(classified)
        return classified

    def count_shed(self, lines: int) -> None:
        """Lines the source passed through without parsing them (see sources.process); none of
        them became a record, so they are exported as suppressed, with reason `shed`."""
        self.counts.shed += lines
        if self.metrics is not None and lines:
            self.metrics.count_suppressed(None, None, REASON_SHED, lines)

    def count_cut(self, lines: int) -> None:
        """Lines the source cut at its line limit (each piece was fed as a line of its own)."""
        self.counts.cut += lines

    def close(self, now: float | None = None, extra: Attributes | None = None) -> None:
        """End of the stream: close the sampling windows and the crash dump still open. Safe twice."""
        if self.closed:
            return
        self.closed = True
        if now is None:
            # A recorded log ends at its last line's time, a live stream now.
            last = self._last_time if self.classifier.trust_line_time else None
            end = last if last is not None else self.classifier.clock()
        else:
            end = now
        self._summaries(self.classifier.flush(end), extra)
        self._summed_up(self.repeats.close_all(end))
        self._finish_crash(time.time() if now is None else now, True, extra)
        self.counts.foreseen = self.classifier.foreseen_polls

    def _summaries(self, summaries: Any, extra: Attributes | None) -> None:
        for summary in summaries:
            self.counts.records += 1
            if self.metrics is not None:
                self.metrics.count_log(summary.severity)
            if self.logs is not None:
                self.logs.emit_summary(summary, extra)

    def _finish_crash(self, now: float, force: bool, extra: Attributes | None) -> None:
        dump = self.crashes.finished(now, force)
        if dump is None:
            return
        self.counts.crashes += 1
        self.counts.records += 1
        if self.metrics is not None:
            self.metrics.count_log(Severity.ERROR)
        if self.logs is not None:
            self.logs.emit_crash(dump, extra)
        if self.follower is not None:
            self.follower.crashed(dump)
