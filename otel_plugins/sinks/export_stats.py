"""What each signal's exporters delivered or lost, counted the same way on every export path."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ExportStats:
    """Telemetry records by signal: emitted, exported, failed in export. Thread-safe.

    The SDK's batch processors drop records silently when their queue is full, and drop
    what is still queued when shutdown times out. So until shutdown, `dropped()` counts
    failed exports; once the log pipeline is shut down (`settle()`), every log record
    emitted and not exported is dropped, and `emitted == exported + dropped` exactly.
    A signal that goes to no exporter (`off`, e.g. OTEL_LOGS_EXPORTER=none) is not counted.
    """

    emitted: Counter = field(default_factory=Counter)
    exported: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    settled: bool = False
    off: frozenset[str] = frozenset()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, signal: str, ok: bool, count: int) -> None:
        with self._lock:
            (self.exported if ok else self.failed)[signal] += count

    def count_emitted(self, signal: str, count: int = 1) -> None:
        if signal in self.off:
            return
        with self._lock:
            self.emitted[signal] += count

    def settle(self) -> None:
        self.settled = True

    def dropped(self) -> Counter:
        with self._lock:
            dropped = Counter(self.failed)
            if self.settled:
                for signal, emitted in self.emitted.items():
                    dropped[signal] = max(0, emitted - self.exported[signal])
            return dropped
