"""What `otel-plugins report` found, as plain data: the renderers read it, `as_dict` is the JSON.

Every list a person reads is bounded: at most `limit` entries are shown and the rest are
counted (`Shown.more`), and every collection the aggregation keeps while reading is capped
too (`Capped`), so an endless log costs bounded memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass
class InfoPlus:
    """INFO and above: how many lines, and how many of them are probe noise."""

    lines: int = 0
    probes: int = 0

    def add(self, probe: bool) -> None:
        self.lines += 1
        self.probes += probe

    @property
    def share(self) -> float | None:
        """The seed's signal-to-noise figure: probe lines / INFO+ lines (None: no INFO+ line)."""
        return self.probes / self.lines if self.lines else None


@dataclass
class FamilyRow:
    family: str
    lines: int = 0
    probes: int = 0
    before: InfoPlus = field(default_factory=InfoPlus)
    after: InfoPlus = field(default_factory=InfoPlus)


@dataclass
class RequestSource:
    """Requests of one client for one method, path and status."""

    client: str | None
    method: str | None
    path: str | None
    status: int | None
    lines: int = 0
    info_plus_after: int = 0
    intervals: int = 0  # between timed lines of this source, summed over streams
    span_s: float = 0.0  # first to last timed line, summed over streams

    @property
    def per_minute(self) -> float | None:
        return 60.0 * self.intervals / self.span_s if self.intervals and self.span_s > 0 else None


@dataclass
class ErrorEntry:
    """One ERROR record the policy keeps: a line (identical messages folded, with a count),
    or a crash dump or traceback folded into one record as the pipeline exports it."""

    input: str
    line: int
    message: str
    count: int = 1
    crash: bool = False
    frames: int = 0  # lines of the dump's stack trace
    stacktrace: tuple[str, ...] = ()  # its first lines


@dataclass
class Capped(Generic[T]):
    """A list that keeps its first `cap` items and counts the rest."""

    cap: int
    items: list[T] = field(default_factory=list)
    more: int = 0

    def add(self, item: T) -> bool:
        if len(self.items) < self.cap:
            self.items.append(item)
            return True
        self.more += 1
        return False


@dataclass
class PhaseMark:
    phase: str
    line: int
    at_s: float | None


@dataclass
class Buffer:
    name: str
    device: str | None
    endpoint: str | None
    bytes: int


@dataclass
class ProgressPoint:
    line: int
    at_s: float | None
    percent: int
    phase: str


@dataclass
class Event:
    line: int
    at_s: float | None
    what: str  # an Event value (rpc.retry, ready, ...), "error" or "crash"
    endpoint: str | None = None


@dataclass
class Link:
    endpoint: str
    bytes: int
    transfer_s: float


@dataclass
class TransferEstimate:
    """`estimate.estimate_load` over the buffers the log printed, at the bandwidth given."""

    bandwidth_bytes_per_s: float
    redundancy: float
    links: list[Link]
    transfer_s: float
    expected_s: float
    deadline_s: int


@dataclass
class Timeline:
    axis: str  # "seconds" when the stream carries times, else "lines"
    start_unix: float | None  # the first line's wall-clock time, when it states one
    phases: Capped[PhaseMark]
    buffers: list[Buffer]
    endpoints: dict[str, Counter]  # RPC endpoint -> events seen for it ("buffer" counts its buffer lines)
    progress: list[ProgressPoint]
    progress_seen: int  # percent lines seen; `progress` is thinned evenly when there are too many
    dots: int
    events: Capped[Event]
    load_s: float | None  # first loading phase to ready or failed
    estimate: TransferEstimate | None


@dataclass
class StreamReport:
    input: str
    lines: int
    cut: int
    records: int
    crash_dumps: int
    sample_summaries: int
    final_phase: str
    timeline: Timeline | None


@dataclass
class Shown(Generic[T]):
    items: list[T]
    more: int


@dataclass
class Report:
    inputs: list[str]
    policy: str | None
    streams: list[StreamReport]
    families: list[FamilyRow]
    kinds: dict[str, Counter]  # kind -> verdict (and "not_emitted") -> lines
    before: InfoPlus
    after: InfoPlus
    probe_sources: Shown[RequestSource]
    http_kept: Shown[RequestSource]  # other HTTP requests left at INFO+: a probe the policy missed shows here
    errors: Shown[ErrorEntry]

    @property
    def lines(self) -> int:
        return sum(s.lines for s in self.streams)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _sources(shown: Shown[RequestSource]) -> dict[str, Any]:
    rows = [asdict(s) | {"span_s": _round(s.span_s), "per_minute": _round(s.per_minute, 2)} for s in shown.items]
    return {"shown": rows, "more": shown.more}


def _timeline_dict(t: Timeline) -> dict[str, Any]:
    return {
        "axis": t.axis,
        "start_unix": t.start_unix,
        "phases": [asdict(p) | {"at_s": _round(p.at_s)} for p in t.phases.items],
        "phases_more": t.phases.more,
        "load_s": _round(t.load_s),
        "buffers": [asdict(b) for b in t.buffers],
        "rpc_endpoints": [{"endpoint": ep, "events": dict(sorted(events.items()))} for ep, events in t.endpoints.items()],
        "progress": {
            "points": [asdict(p) | {"at_s": _round(p.at_s)} for p in t.progress],
            "seen": t.progress_seen,
            "dots": t.dots,
        },
        "events": {"shown": [asdict(e) | {"at_s": _round(e.at_s)} for e in t.events.items], "more": t.events.more},
        "estimate": None if t.estimate is None else asdict(t.estimate),
    }


def as_dict(report: Report) -> dict[str, Any]:
    """The `--json` document."""
    kinds = {kind: dict(sorted(verdicts.items())) for kind, verdicts in sorted(report.kinds.items())}
    return {
        "inputs": report.inputs,
        "policy": report.policy,
        "lines": {
            "total": report.lines,
            "cut": sum(s.cut for s in report.streams),
            "by_family": {f.family: f.lines for f in report.families},
            "by_kind": {kind: sum(v for k, v in verdicts.items() if k != "not_emitted") for kind, verdicts in kinds.items()},
            "by_kind_verdict": kinds,
        },
        "records": {
            "total": sum(s.records for s in report.streams),
            "crash_dumps": sum(s.crash_dumps for s in report.streams),
            "sample_summaries": sum(s.sample_summaries for s in report.streams),
        },
        "info_plus": {"before": asdict(report.before), "after": asdict(report.after)},
        "noise_share": {"before": report.before.share, "after": report.after.share},
        "families": [
            {"family": f.family, "lines": f.lines, "probes": f.probes,
             "info_plus_before": f.before.lines, "info_plus_after": f.after.lines}
            for f in report.families
        ],  # fmt: skip
        "probe_sources": _sources(report.probe_sources),
        "http_kept": _sources(report.http_kept),
        "errors": {"shown": [asdict(e) for e in report.errors.items], "more": report.errors.more},
        "streams": [
            {"input": s.input, "lines": s.lines, "cut": s.cut, "records": s.records, "crash_dumps": s.crash_dumps,
             "final_phase": s.final_phase, "timeline": None if s.timeline is None else _timeline_dict(s.timeline)}
            for s in report.streams
        ],  # fmt: skip
    }
