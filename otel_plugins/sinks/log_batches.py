"""Encoded log records, batched and exported off the caller's thread.

The SDK's `BatchLogRecordProcessor`, minus its per-record objects: records arrive already
encoded (`emit.otlp_encode`), wait in a bounded queue, and a worker thread sends them in
batches of at most `max_batch` every `delay_s` (or as soon as a batch is full). The
caller never waits: a full queue drops the record and counts it. What was sent, failed
or dropped is counted in the same `ExportStats` the SDK paths use, so after `shutdown`
`emitted == exported + dropped` holds exactly for line records too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .export_stats import ExportStats

# send(request, records) -> True when the next hop accepted the batch.
Send = Callable[[Any, int], bool]
_WARN, _ERROR = 13, 17  # SeverityNumber WARN, ERROR


class LogBatcher:
    def __init__(
        self,
        encode_request: Callable[[list[Any]], Any],
        send: Send,
        stats: ExportStats,
        *,
        counted: bool = True,
        max_queue: int = 2048,
        max_batch: int = 512,
        delay_s: float = 1.0,
        close_send: Callable[[], None] | None = None,
    ) -> None:
        if max_queue < 1 or max_batch < 1 or delay_s < 0:
            raise ValueError("max_queue and max_batch must be at least 1, delay_s not negative")
        self._encode_request = encode_request
        self._send = send
        self._close_send = close_send
        # Of several exporters of one record, one is counted: a record sent twice is one record.
        self.stats = stats if counted else ExportStats()
        self.max_queue = max_queue
        self.max_batch = min(max_batch, max_queue)
        self.delay_s = delay_s
        self._queue: list[Any] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._stopping = False
        self._aborted = False
        self._worker = threading.Thread(target=self._run, name="otel-log-batches", daemon=True)
        self._worker.start()

    def refuse(self) -> None:
        """One record emitted and dropped at once (the queue is too full for it)."""
        self.stats.count_emitted("logs")
        self.stats.add("logs", False, 1)

    def add(self, encoded: Any) -> None:
        """Queue one encoded record; never blocks (a full queue drops it, counted)."""
        with self._lock:
            queued = len(self._queue)
            if queued >= self.max_queue or self._stopping:
                self.refuse()
                return
            self._queue.append(encoded)
        self.stats.count_emitted("logs")
        if queued + 1 >= self.max_batch:
            self._wake.set()

    def force_flush(self, timeout_s: float = 30.0) -> bool:
        """Send what is queued now; True when all of it was handed to the next hop in time."""
        deadline = time.monotonic() + timeout_s
        self._wake.set()
        with self._idle:
            while self._queue or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
                self._wake.set()
        return True

    def join(self, timeout_s: float) -> bool:
        """Wait for the worker to end after `shutdown`, a send still in flight included; True when it has."""
        self._worker.join(max(0.0, timeout_s))
        return not self._worker.is_alive()

    def abort(self) -> None:
        """Stop sending: what is still queued counts as dropped once the stats are settled."""
        self._aborted = True
        self._wake.set()

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Flush within `timeout_s`, then stop the worker. Safe to call twice."""
        if self._stopping:
            return
        self.force_flush(timeout_s)
        with self._lock:
            self._stopping = True
            left = len(self._queue)
            self._queue.clear()
        if left:
            self.stats.add("logs", False, left)
        self._wake.set()
        self._worker.join(timeout=max(0.1, timeout_s))
        if self._close_send is not None:
            try:
                self._close_send()
            except Exception:  # noqa: BLE001 - closing a transport must not fail the caller
                pass

    def _run(self) -> None:
        while True:
            self._wake.wait(self.delay_s)
            self._wake.clear()
            while True:
                with self._lock:
                    if self._stopping and not self._queue:
                        self._idle.notify_all()
                        return
                    batch = self._queue[: self.max_batch]
                    del self._queue[: self.max_batch]
                    self._in_flight = len(batch)
                    if not batch:
                        self._idle.notify_all()
                        break
                self._export(batch)
                with self._lock:
                    self._in_flight = 0
                    more = len(self._queue) >= self.max_batch
                    self._idle.notify_all()
                if not more:
                    break

    def _export(self, batch: list[Any]) -> None:
        ok = False
        if not self._aborted:
            try:
                ok = bool(self._send(self._encode_request(batch), len(batch)))
            except Exception:  # noqa: BLE001 - an exporter fault is a failed export, not a crash
                ok = False
        self.stats.add("logs", ok, len(batch))


class LineLogs:
    """The fast path for line records: encode (`LogEncoder`), then batch and send (`LogBatcher`),
    to each configured exporter (a record is encoded once per wire format).

    A record may fill the queue according to its severity: below WARN half of it, WARN
    three quarters, ERROR and above all of it, so that a flood of probe lines (or of
    warnings) cannot crowd out the failure in its middle.
    """

    def __init__(self, targets: list[tuple[Any, LogBatcher]]) -> None:
        self.targets = targets

    def emit(
        self, time_ns: int, observed_ns: int, severity: int, severity_text: str, body: str, attributes: Any, event_name: str | None = None
    ) -> None:
        encoded: dict[Any, Any] = {}
        for encoder, batcher in self.targets:
            if severity < _ERROR and len(batcher._queue) >= batcher.max_queue * (3 if severity >= _WARN else 2) // 4:
                batcher.refuse()
                continue
            record = encoded.get(encoder.format)
            if record is None:
                record = encoded[encoder.format] = encoder.record(time_ns, observed_ns, severity, severity_text, body, attributes, event_name)
            batcher.add(record)

    def force_flush(self, timeout_s: float = 30.0) -> bool:
        return all([batcher.force_flush(timeout_s) for _, batcher in self.targets])

    def abort(self) -> None:
        for _, batcher in self.targets:
            batcher.abort()

    def shutdown(self, timeout_s: float = 5.0) -> None:
        for _, batcher in self.targets:
            batcher.shutdown(timeout_s)

    def join(self, timeout_s: float) -> bool:
        """Wait, `timeout_s` in all, for every worker to end; True when they have."""
        deadline = time.monotonic() + timeout_s
        return all([batcher.join(deadline - time.monotonic()) for _, batcher in self.targets])
