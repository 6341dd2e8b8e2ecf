"""What the processor holds besides the streams: batches the next hop refused, and records
the streams made when they closed. Both bounded; both thread-safe."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from ..sinks.telemetry import ExportStats
from .reply import Outcome, Reply

SCOPE = "otel_plugins"


class Forwarder(Protocol):
    def send(self, request: ExportLogsServiceRequest, timeout_s: float | None = None) -> Reply: ...

    def close(self) -> None: ...


class RefusedBatches:
    """Decided batches (their parts not yet taken) the next hop refused, by digest of what the sender
    sent; bounded in bytes and age."""

    def __init__(self, max_bytes: int, ttl_s: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes, self.ttl_s, self.clock = max_bytes, ttl_s, clock
        self.bytes = 0
        self._batches: OrderedDict[bytes, tuple[list[ExportLogsServiceRequest], int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, digest: bytes) -> list[ExportLogsServiceRequest] | None:
        with self._lock:
            entry = self._batches.pop(digest, None)
            if entry is None:
                return None
            self.bytes -= entry[1]
            return entry[0] if self.clock() - entry[2] < self.ttl_s else None

    def put(self, digest: bytes, parts: list[ExportLogsServiceRequest]) -> None:
        size = sum(part.ByteSize() for part in parts)
        with self._lock:
            if size > self.max_bytes:
                return
            # The oldest go first: their retry is decided again, which costs accuracy, not data.
            while self._batches and self.bytes + size > self.max_bytes:
                self.bytes -= self._batches.popitem(last=False)[1][1]
            self._batches[digest] = (parts, size, self.clock())
            self.bytes += size


class Outbox:
    """Records made by closing streams, with their stream's resource, until the next hop takes them."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.lost = 0
        self._entries: list[tuple[bytes, list[LogRecord]]] = []
        self._size = 0
        self._lock = threading.Lock()

    def add(self, resource: bytes, records: list[LogRecord]) -> None:
        with self._lock:
            self._entries.append((resource, records))
            self._size += len(records)
            while self._size > self.limit and self._entries:
                self.lost += len(dropped := self._entries.pop(0)[1])
                self._size -= len(dropped)

    def flush(self, forward: Forwarder, stats: ExportStats, timeout_s: float | None = None) -> Reply | None:
        with self._lock:
            entries, self._entries, size, self._size = self._entries, [], self._size, 0
        if not entries:
            return None
        request = ExportLogsServiceRequest()
        for resource, records in entries:
            resource_logs = request.resource_logs.add()
            resource_logs.resource.ParseFromString(resource)
            scope_logs = resource_logs.scope_logs.add()
            scope_logs.scope.name = SCOPE
            scope_logs.log_records.extend(records)
        reply = forward.send(request, timeout_s)
        if reply.outcome is Outcome.ACCEPTED:
            stats.add("logs", True, size)
        elif reply.outcome is Outcome.REJECTED:
            self.lost += size
        else:
            with self._lock:
                self._entries[:0] = entries
                self._size += size
        return reply

    def give_up(self) -> int:
        with self._lock:
            self.lost += self._size
            self._entries, self._size = [], 0
            return self.lost
