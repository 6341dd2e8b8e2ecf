"""The processor's core: received batches are decided per stream, then forwarded, then answered.

`export` decides a batch in place (one batch at a time: the streams' state is one) and
hands it to the next hop; the sender hears back only what the next hop said. A batch the
next hop refused is kept decided (`RefusedBatches`), so the sender's retry of the same
bytes is forwarded as decided the first time instead of being fed to the streams again.

At most `max_in_flight` batches are held (decoding, deciding or forwarding); beyond that,
`admission()` says no and the receivers answer "retry", as when the next hop is down.

Records the streams make when they close (a sampling window's summary, a crash dump
without gdb's closing line) wait in the `Outbox` and leave with the housekeeping tick.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from ..dialects import parse_line
from ..pipeline import LineCounts, LineMetrics, LinePipeline
from ..policy import Policy, ProbePolicy
from ..sinks.otlp_forward import split_request
from ..sinks.telemetry import ExportStats
from .holding import Forwarder, Outbox, RefusedBatches
from .records import RecordSink
from .reply import Outcome, Reply
from .streams import FILE_NAME, FILE_PATH, ResourceIdentity, Stream, StreamTable

# Dialects that claim any text: a record whose producer already set a severity is only
# taken for a server's line when a real dialect recognises it.
_CATCH_ALL = frozenset({"other", "generic"})
_NO_ATTRIBUTES: tuple[frozenset[str], None] = (frozenset(), None)


def _identity_attributes(record: LogRecord) -> tuple[set[str], str | bytes | None]:
    """The keys a record already has, and the log file its own attributes name."""
    present: set[str] = set()
    path = name = None
    for kv in record.attributes:
        key = kv.key
        present.add(key)
        if key == FILE_PATH:
            path = kv.value.string_value
        elif key == FILE_NAME:
            name = kv.value.string_value
    return present, path or name


class LogProcessor:
    def __init__(
        self,
        policy: Policy | None,
        forward: Forwarder,
        *,
        metrics: LineMetrics | None = None,
        stats: ExportStats | None = None,
        max_in_flight: int = 8,
        idle_s: float = 3600.0,
        max_streams: int = 10_000,
        refused_bytes: int = 64 << 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        probe_policy = ProbePolicy(policy)  # compiled once, shared by every stream
        self.forward = forward
        self.stats = stats or ExportStats()
        self.clock = clock
        self.sink = RecordSink()
        self.streams = StreamTable(lambda: LinePipeline(probe_policy, self.sink, metrics=metrics), idle_s=idle_s, max_streams=max_streams)
        self.refused = RefusedBatches(refused_bytes)
        self.outbox = Outbox()
        self.counts = LineCounts()  # of the streams closed so far
        self.batches = {outcome: 0 for outcome in Outcome}
        self.closing = False
        self._max_in_flight = max_in_flight
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def admission(self) -> Iterator[bool]:
        """True while one of the `max_in_flight` places is held for a batch; False: answer "retry"."""
        admitted = not self.closing and self._slots.acquire(blocking=False)
        try:
            yield admitted
        finally:
            if admitted:
                self._slots.release()

    def export(self, request: ExportLogsServiceRequest, digest: bytes | None = None, timeout_s: float | None = None) -> Reply:
        """Decide and forward one admitted batch; `digest` identifies what the sender sent."""
        parts = self.refused.take(digest) if digest is not None else None
        if parts is None:
            received_at = self.clock()
            with self._lock:
                self._decide(request, received_at)
            parts = split_request(request)
        rejected = 0
        for index, part in enumerate(parts):
            reply = self.forward.send(part, timeout_s)
            if reply.outcome is not Outcome.ACCEPTED:
                if reply.outcome is Outcome.RETRY and digest is not None:
                    # Only the parts not taken yet go again when the sender retries.
                    self.refused.put(digest, parts[index:])
                break
            self.stats.add("logs", True, sum(len(s.log_records) for r in part.resource_logs for s in r.scope_logs))
            if reply.response is not None:
                rejected += reply.response.partial_success.rejected_log_records
        self.batches[reply.outcome] += 1
        if reply.outcome is Outcome.ACCEPTED and len(parts) > 1 and rejected:
            response = ExportLogsServiceResponse()
            response.partial_success.rejected_log_records = rejected
            response.partial_success.error_message = "the next hop rejected some records"
            return Reply.accepted(response)
        return reply

    def _decide(self, request: ExportLogsServiceRequest, received_at: float) -> None:
        sink, streams = self.sink, self.streams
        evicted: list[Stream] = []
        for resource_logs in request.resource_logs:
            identity = ResourceIdentity(resource_logs.resource)
            for scope_logs in resource_logs.scope_logs:
                records = scope_logs.log_records
                dropped: list[int] = []
                made: list[LogRecord] = []
                key = pipeline = None
                for index, record in enumerate(records):
                    body = record.body
                    if not body.HasField("string_value"):
                        continue  # not a line: passes as it came
                    text = body.string_value
                    present, file = _identity_attributes(record) if record.attributes else _NO_ATTRIBUTES
                    if record.severity_number and parse_line(text).dialect in _CATCH_ALL:
                        continue  # its producer's record, not a server's line
                    stream_key = identity.for_record(file)
                    if stream_key != key or pipeline is None:
                        key, pipeline = stream_key, streams.get(stream_key, resource_logs.resource, evicted).pipeline
                    sink.begin(record, text, present)
                    observed = record.observed_time_unix_nano
                    pipeline.feed_text(text, observed / 1e9 if observed else received_at)
                    if not sink.kept:
                        dropped.append(index)
                    if sink.made:
                        made += sink.take_made()
                for index in reversed(dropped):
                    del records[index]
                if made:
                    records.extend(made)
        sink.current = None
        for stream in evicted:
            self._close(stream, received_at)

    def _close(self, stream: Stream, now: float) -> None:
        stream.pipeline.close(now)
        self.counts.add(stream.pipeline.counts)
        made = self.sink.take_made()
        if made:
            self.outbox.add(stream.resource, made)

    def housekeeping(self) -> None:
        """Close idle streams and send what the closed streams made."""
        with self._lock:
            now = self.clock()
            for stream in self.streams.expired():
                self._close(stream, now)
        self.outbox.flush(self.forward, self.stats)

    def line_counts(self) -> LineCounts:
        with self._lock:
            counts = LineCounts()
            counts.add(self.counts)
            for stream in self.streams:
                counts.add(stream.pipeline.counts)
            return counts

    def close(self, timeout_s: float = 5.0) -> int:
        """Refuse new batches, wait for those in flight, close every stream and send what they made.
        Returns the records that could not be delivered (counted as dropped logs)."""
        self.closing = True
        deadline = time.monotonic() + timeout_s
        held = 0
        while held < self._max_in_flight and self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            held += 1
        with self._lock:
            now = self.clock()
            for stream in self.streams.drain():
                self._close(stream, now)
        self.outbox.flush(self.forward, self.stats, max(0.5, deadline - time.monotonic()))
        lost = self.outbox.give_up()
        if lost:
            self.stats.add("logs", False, lost)
        return lost
