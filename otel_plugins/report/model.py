"""What `otel-plugins report` found, as plain data, read by the three renderers.

Every list a person reads is bounded: at most `limit` entries are shown and the rest are
counted (`Shown.more`), and every collection the aggregation keeps while reading is capped
too (`Capped`), so an endless log costs bounded memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
NOT_EMITTED = "not_emitted"  # beside the verdicts: lines dropped or sampled away


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
    end_s: float | None  # offset of the stream's last line
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
    foreseen_polls: int  # probes known only by reading the stream ahead: a live stream keeps them
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
    kinds: dict[str, Counter]  # kind -> verdict (and NOT_EMITTED) -> lines
    before: InfoPlus
    after: InfoPlus
    probe_sources: Shown[RequestSource]
    http_kept: Shown[RequestSource]  # other HTTP requests left at INFO+: a probe the policy missed shows here
    errors: Shown[ErrorEntry]

    @property
    def lines(self) -> int:
        return sum(s.lines for s in self.streams)

    @property
    def foreseen_polls(self) -> int:
        return sum(s.foreseen_polls for s in self.streams)

    def kind_rows(self) -> list[tuple[str, int, Counter]]:
        """(kind, lines, verdicts) by lines, most first; a line has one verdict, and is also
        counted under NOT_EMITTED when the policy does not emit it."""
        rows = [(kind, sum(n for v, n in verdicts.items() if v != NOT_EMITTED), verdicts) for kind, verdicts in self.kinds.items()]
        return sorted(rows, key=lambda row: (-row[1], row[0]))
