"""One stream's load timeline: phases with times, buffers, RPC endpoints, progress, estimate.

The phases are the pipeline's own (its lifecycle's `on_phase_change`), so the report
shows the phases `run` and `tail` would have moved through. Times are seconds since the
stream's first line that carries a time (or an uptime clock); a stream without any is
laid out by line number instead.
"""

from __future__ import annotations

from collections import Counter

from .. import estimate as est
from .. import names
from ..classify import Classified
from ..record import Event as LineEvent
from ..record import Kind, Phase
from .model import Buffer, Capped, Event, Link, PhaseMark, ProgressPoint, Timeline, TransferEstimate

# Lifecycle milestones worth a mark on the chart (phases have their own).
_MILESTONES = frozenset({LineEvent.LISTENING, LineEvent.LOADED, LineEvent.READY, LineEvent.LOAD_FAILED, LineEvent.STOPPING})
_MAX_BUFFERS = 256
_MAX_ENDPOINTS = 256


class TimelineBuilder:
    """Fed every decided line of one stream, in order; `build` gives the Timeline or None."""

    def __init__(self, initial: Phase, *, max_points: int = 1000, max_marks: int = 200) -> None:
        self.phase = initial
        self.phases: Capped[PhaseMark] = Capped(max_marks)
        self.events: Capped[Event] = Capped(max_marks)
        self.buffers: dict[str, Buffer] = {}
        self.endpoints: dict[str, Counter] = {}
        self.progress: list[ProgressPoint] = []
        self.progress_seen = 0
        self.dots = 0
        self.load = False  # a load or progress line was seen
        self.first_time: float | None = None
        self.start_unix: float | None = None
        self.load_s: float | None = None
        self.end_s: float | None = None
        self._max_points = max_points
        self._stride = 1
        self._pending: list[Phase] = []
        self._load_started: float | None = None

    def phase_changed(self, previous: Phase, current: Phase, now: float) -> None:
        """The pipeline's lifecycle listener: stamped with the line's place in `observe`."""
        self._pending.append(current)

    def at(self, classified: Classified) -> float | None:
        """The line's offset in seconds, once the stream has shown a time (see the classifier:
        a line without one is placed at the time of the line before)."""
        record = classified.record
        if self.first_time is None:
            if record.time_unix is None and record.uptime is None:
                return None
            self.first_time = classified.time
            self.start_unix = record.time_unix
        return classified.time - self.first_time

    def observe(self, number: int, classified: Classified, at: float | None, error: bool) -> None:
        """One decided line at offset `at` (see `at`); `error`: an ERROR record the policy keeps on its own."""
        if at is not None:
            self.end_s = at if self.end_s is None else max(self.end_s, at)
        if number == 1:
            self.phases.add(PhaseMark(self.phase.value, 1, at))
        for phase in self._pending:
            self._moved(phase, number, at)
        self._pending.clear()
        record = classified.record
        f = record.fields
        if record.kind in (Kind.LOAD, Kind.PROGRESS):
            self.load = True
        self.dots += f.get(names.LOAD_DOTS, 0)
        if names.LOAD_SIZE_BYTES in f and names.LOAD_BUFFER in f:
            self._buffer(f)
        percent = f.get(names.LOAD_PERCENT)
        if percent is not None:
            self._point(ProgressPoint(number, at, int(percent), self.phase.value))
        endpoint = f.get(names.RPC_ENDPOINT)
        event = record.event
        if event is not None and event.value.startswith("rpc."):
            if endpoint is not None:
                self._endpoint(endpoint)[event.value] += 1
            self.events.add(Event(number, at, event.value, endpoint))
        elif event in _MILESTONES:
            self.events.add(Event(number, at, event.value))
        elif error:
            self.events.add(Event(number, at, "error", endpoint))

    def crashed(self, line: int, at: float | None) -> None:
        """A crash dump that began at `line`; `at`: the offset of its last line (see `at`)."""
        self.events.add(Event(line, at, "crash"))

    def _moved(self, phase: Phase, number: int, at: float | None) -> None:
        self.phase = phase
        self.phases.add(PhaseMark(phase.value, number, at))
        if phase is Phase.LOADING and self._load_started is None:
            self._load_started = at
        elif phase in (Phase.READY, Phase.FAILED) and self.load_s is None:
            if self._load_started is not None and at is not None:
                self.load_s = at - self._load_started

    def _buffer(self, f: dict) -> None:
        name = str(f[names.LOAD_BUFFER])
        endpoint = f.get(names.RPC_ENDPOINT)
        buffer = self.buffers.get(name)
        if buffer is None:
            if len(self.buffers) >= _MAX_BUFFERS:
                return
            buffer = self.buffers[name] = Buffer(name, f.get(names.LOAD_DEVICE), endpoint, 0)
        buffer.bytes += int(f[names.LOAD_SIZE_BYTES])  # llama.cpp splits large buffers: they add up
        if endpoint is not None:
            self._endpoint(endpoint)["buffer"] += 1

    def _endpoint(self, endpoint: str) -> Counter:
        events = self.endpoints.get(endpoint)
        if events is None:
            events = Counter() if len(self.endpoints) >= _MAX_ENDPOINTS else self.endpoints.setdefault(endpoint, Counter())
        return events

    def _point(self, point: ProgressPoint) -> None:
        # Thinned evenly rather than cut: a second load late in a long log stays on the chart.
        self.progress_seen += 1
        if (self.progress_seen - 1) % self._stride:
            return
        self.progress.append(point)
        if len(self.progress) >= self._max_points:
            self.progress = self.progress[::2]
            self._stride *= 2

    def build(self, bandwidth: float) -> Timeline | None:
        """The timeline, if the stream shows a load: a load or progress line, or a phase of one.
        (A server seen only answering probes moves to ready too, but that is no load to draw.)"""
        loaded = any(mark.phase in (Phase.LOADING.value, Phase.FAILED.value) for mark in self.phases.items)
        if not (self.load or loaded):
            return None
        return Timeline(
            axis="seconds" if self.first_time is not None else "lines",
            start_unix=self.start_unix,
            end_s=self.end_s,
            phases=self.phases,
            buffers=list(self.buffers.values()),
            endpoints=self.endpoints,
            progress=self.progress,
            progress_seen=self.progress_seen,
            dots=self.dots,
            events=self.events,
            load_s=self.load_s,
            estimate=transfer_estimate(list(self.buffers.values()), bandwidth),
        )


def transfer_estimate(buffers: list[Buffer], bandwidth: float) -> TransferEstimate | None:
    """The capacity math of `otel-plugins estimate`, fed with the sizes the log printed: each
    RPC endpoint's buffers are its share of the model, local devices transfer nothing."""
    rpc: dict[str, int] = {}
    local = 0
    for b in buffers:
        if b.endpoint is not None:
            rpc[b.endpoint] = rpc.get(b.endpoint, 0) + b.bytes
        else:
            local += b.bytes
    total = sum(rpc.values()) + local
    try:
        if rpc:
            split = [*rpc.values(), local]
            estimate = est.estimate_load(total, [bandwidth], endpoints=list(rpc), tensor_split=split)
        else:
            estimate = est.estimate_load(total, [bandwidth])
    except est.EstimateError:  # no sizes (every buffer 0 bytes): nothing to estimate
        return None
    return TransferEstimate(
        bandwidth_bytes_per_s=bandwidth,
        redundancy=estimate.redundancy,
        links=[Link(link.endpoint, round(link.bytes), round(link.seconds, 3)) for link in estimate.links],
        transfer_s=round(estimate.transfer_s, 3),
        expected_s=round(estimate.expected_s, 3),
        deadline_s=int(est.load_deadline_s(estimate)),
    )
