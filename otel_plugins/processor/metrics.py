"""The processor's line metrics: `InstanceMetrics`, added up per batch.

The pipeline counts each line as it is decided (probe responses, suppressed lines, records
by severity). In the processor a batch holds thousands of lines and a handful of series,
and one SDK `Counter.add` costs about as much as deciding the line: the additions are
summed per series and handed to the SDK once per batch (`flush`). The instruments, their
attributes and the exported points are those of every other entry point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..emit.metrics import InstanceMetrics


class BatchedMetrics(InstanceMetrics):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[tuple, int] = {}

    def _add(self, name: str, amount: int, extra: Mapping[str, Any]) -> None:
        key = (name, *extra.items())
        self._pending[key] = self._pending.get(key, 0) + amount

    def flush(self) -> None:
        """Add what was counted since the last flush (callers hold the processor's lock)."""
        pending, self._pending = self._pending, {}
        for (name, *items), amount in pending.items():
            super()._add(name, amount, dict(items))
