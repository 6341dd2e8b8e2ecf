"""Streams in, one `Report` out: every line goes through the shared `LinePipeline`.

Each input is one stream with its own pipeline (its own phase, sampling windows and
crash folder), exactly as `classify` and `replay` would see it. The report only counts
what the pipeline decided; it decides nothing itself.

Before = the severity a line states (INFO when it states none); after = the policy's
severity for the lines it emits (a line folded into a crash dump is emitted with it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from .. import names
from ..classify import Classified
from ..crash import CrashDump
from ..dialects import decode
from ..pipeline import LinePipeline
from ..policy import Policy, SampleSummary
from ..record import Kind, Severity
from .model import NOT_EMITTED, ErrorEntry, FamilyRow, InfoPlus, Report, RequestSource, Shown, StreamReport
from .timeline import TimelineBuilder

MAX_LINE_BYTES = 1 << 20  # longer lines are cut here before parsing; the rest is skipped
_SKIP_CHUNK = 1 << 16
_MAX_SOURCES = 10_000  # distinct (client, method, path, status) kept while reading, per table
_MAX_ERRORS = 1_000  # distinct error messages kept while reading
_STACK_LINES = 12

SourceKey = tuple[Any, Any, Any, Any]


def bounded_lines(stream: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[bytes, bool]]:
    """(line, cut) for every line; a line longer than `limit` bytes is cut to `limit` and the
    rest of it is read in chunks and skipped, so one endless line cannot grow memory."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(b"\n"):
            yield line, False
            continue
        rest = line
        while rest and not rest.endswith(b"\n"):
            rest = stream.readline(_SKIP_CHUNK)
        yield line[:limit], True


class _Sink:
    """The pipeline's LogSink: the report exports nothing, it keeps the folded crash dumps."""

    def __init__(self) -> None:
        self.crashes: list[CrashDump] = []
        self.summaries = 0

    def emit(self, classified: Classified, extra: object = None) -> None:
        pass

    def emit_crash(self, dump: CrashDump, extra: object = None) -> None:
        self.crashes.append(dump)

    def emit_summary(self, summary: SampleSummary, extra: object = None) -> None:
        self.summaries += 1


class _Sources:
    """Requests counted by (client, method, path, status), with a rate from the lines that
    carry their own time (first to last such line, per stream)."""

    def __init__(self) -> None:
        self.rows: dict[SourceKey, RequestSource] = {}
        self.more = 0
        self._timing: dict[SourceKey, list[float]] = {}  # this stream: [first, last, timed lines]

    def add(self, f: dict, loud: bool, at: float | None) -> None:
        key = (f.get(names.CLIENT_ADDRESS), f.get(names.HTTP_METHOD), f.get(names.URL_PATH), f.get(names.HTTP_STATUS))
        row = self.rows.get(key)
        if row is None:
            if len(self.rows) >= _MAX_SOURCES:
                self.more += 1
                return
            row = self.rows[key] = RequestSource(*key)
        row.lines += 1
        row.info_plus_after += loud
        if at is not None:
            seen = self._timing.setdefault(key, [at, at, 0])
            seen[1] = at
            seen[2] += 1

    def end_stream(self) -> None:
        for key, (first, last, timed) in self._timing.items():
            self.rows[key].intervals += int(timed) - 1
            self.rows[key].span_s += last - first
        self._timing.clear()

    def ranked(self) -> list[RequestSource]:
        return sorted(self.rows.values(), key=lambda s: (-s.lines, str(s.client), str(s.path), str(s.status)))


class ReportBuilder:
    def __init__(self, policy: Policy, *, bandwidth: float, limit: int = 10, policy_name: str | None = None) -> None:
        self.policy = policy
        self.policy_name = policy_name
        self.bandwidth = bandwidth
        self.limit = limit
        self.streams: list[StreamReport] = []
        self.families: dict[str, FamilyRow] = {}
        self.kinds: dict[str, Counter] = {}
        self.before = InfoPlus()
        self.after = InfoPlus()
        self.probes = _Sources()
        self.requests = _Sources()  # HTTP requests the policy keeps at INFO+: where a missed probe shows
        self.errors: dict[tuple[str, str], ErrorEntry] = {}
        self.errors_more = 0

    def add_stream(self, name: str, lines: Iterable[tuple[bytes, bool]], ahead: Iterable[bytes] = ()) -> None:
        """`ahead`: the same lines read once before (`LinePipeline.foresee`), when they can be."""
        sink = _Sink()
        pipeline = LinePipeline(self.policy, sink, line_time=True)
        pipeline.foresee(ahead)
        timeline = TimelineBuilder(pipeline.phase)
        pipeline.on_phase_change(timeline.phase_changed)
        # Each dump being folded: its first line and the offset of its last (a dump has no time of its own).
        folding: dict[int, tuple[int, float | None]] = {}
        number = 0
        for number, (raw, cut) in enumerate(lines, 1):
            pipeline.counts.cut += cut  # the pipeline counts cut lines; the source does the cutting
            classified = pipeline.feed_text(decode(raw))
            at = self._count(name, number, classified, timeline)
            if classified.folded and (dump := pipeline.crashes.open_dump) is not None:
                folding[id(dump)] = (folding.get(id(dump), (number, None))[0], at)
            self._crashes(name, sink, folding, number, timeline)
        pipeline.close()
        self._crashes(name, sink, folding, number, timeline)
        self.probes.end_stream()
        self.requests.end_stream()
        counts = pipeline.counts
        self.streams.append(
            StreamReport(name, counts.lines, counts.cut, counts.records, counts.crashes, sink.summaries,
                         counts.foreseen, pipeline.phase.value, timeline.build(self.bandwidth))
        )  # fmt: skip

    def _count(self, name: str, number: int, c: Classified, timeline: TimelineBuilder) -> float | None:
        """Counts one decided line; returns its offset on the timeline (None before the stream shows a time)."""
        record, decision = c.record, c.decision
        probe = decision.kind is Kind.PROBE
        stated = Severity.INFO if record.severity is None else record.severity
        after = decision.emit and decision.severity >= Severity.INFO
        family = self.families.get(record.dialect)
        if family is None:
            family = self.families[record.dialect] = FamilyRow(record.dialect)
        family.lines += 1
        family.probes += probe
        if stated >= Severity.INFO:
            self.before.add(probe)
            family.before.add(probe)
        if after:
            self.after.add(probe)
            family.after.add(probe)
        verdicts = self.kinds.setdefault(decision.kind.value, Counter())
        verdicts[decision.verdict.value] += 1
        if not decision.emit:
            verdicts[NOT_EMITTED] += 1
        at = timeline.at(c)
        # Only lines that carry their own time measure a rate.
        timed = at if record.time_unix is not None or record.uptime is not None else None
        if probe:
            self.probes.add(record.fields, after, timed)
        elif decision.kind is Kind.HTTP and after:
            self.requests.add(record.fields, True, timed)
        error = decision.emit and decision.severity >= Severity.ERROR and not c.folded
        if error:
            self._error(name, number, record.message or record.text)
        timeline.observe(number, c, at, error)
        return at

    def _error(self, name: str, number: int, message: str, dump: CrashDump | None = None) -> None:
        key = (name, message if dump is None else f"{number}\0{message}")
        entry = self.errors.get(key)
        if entry is not None:
            entry.count += 1
        elif len(self.errors) >= _MAX_ERRORS:
            self.errors_more += 1
        else:
            entry = self.errors[key] = ErrorEntry(name, number, message[:1000])
            if dump is not None:
                entry.crash = True
                entry.frames = len(dump.lines)
                entry.stacktrace = tuple(line[:300] for line in dump.lines[:_STACK_LINES])

    def _crashes(self, name: str, sink: _Sink, folding: dict[int, tuple[int, float | None]], number: int, timeline: TimelineBuilder) -> None:
        """Takes the dumps the pipeline folded, each placed at its first line and its last line's offset."""
        for dump in sink.crashes:
            line, at = folding.pop(id(dump), (number, None))
            self._error(name, line, dump.message, dump)
            timeline.crashed(line, at)
        sink.crashes.clear()

    def build(self, inputs: list[str]) -> Report:
        errors = list(self.errors.values())
        return Report(
            inputs=inputs,
            policy=self.policy_name,
            streams=self.streams,
            families=sorted(self.families.values(), key=lambda f: (-f.lines, f.family)),
            kinds=self.kinds,
            before=self.before,
            after=self.after,
            probe_sources=self._shown(self.probes.ranked(), self.probes.more),
            http_kept=self._shown(self.requests.ranked(), self.requests.more),
            errors=self._shown(errors, self.errors_more),
        )

    def _shown(self, items: list, uncounted: int) -> Shown:
        return Shown(items[: self.limit], max(0, len(items) - self.limit) + uncounted)
