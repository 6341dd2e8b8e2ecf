"""GPUStack's Python logging format, `%(asctime)s - %(name)s - %(levelname)s - %(message)s`.

`2025-08-12 10:39:04.097779+08:00 - gpustack.server.server - INFO - Serving on 0.0.0.0:80.`
(older `2025-03-04T19:55:05+08:00 - ...`). The same shape without the logger name is
Python's and ramalama's CLI format (`2026-03-29 13:05:36 - ERROR - Failed to serve ...`,
`2026-07-04 04:30:58,796 - INFO - ...`), parsed here too with no producer.
Messages about RPC servers and the instance lifecycle are looked up in the `rpc` and
`lifecycle` rules; the rest keeps its stated level (kind ERROR at ERROR and above).
"""

from __future__ import annotations

from ._common import ISO_TIME, LOG_TIME
from .lifecycle import WORDS
from .rpc import GPUSTACK as RPC_RULES
from .shape import PRODUCER, TIME, Conv, F, Keyed, Shape


def _producer(logger: str) -> str:
    return "gpustack" if logger.startswith("gpustack") else logger.split(".", 1)[0]


MESSAGES = Keyed("gpustack.messages", {k: RPC_RULES.table.get(k, ()) + WORDS.table.get(k, ()) for k in {**RPC_RULES.table, **WORDS.table}})

GPUSTACK = Shape(
    "gpustack",
    r"(?P<when>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?) - "
    r"(?:(?P<logger>[\w.\-]+) - )?(?P<lvl>DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL) - (?P<msg>.*)$",
    "gpustack", level="lvl", tag_group="logger", message="msg", needle=" - ", inner=MESSAGES,
    fields=(F("logger", PRODUCER, Conv("logger_producer", _producer)), F("when", LOG_TIME), F("when", TIME, ISO_TIME)),
    examples=("2025-08-12 10:39:04.097779+08:00 - gpustack.server.server - INFO - Serving on 0.0.0.0:80.",),
)

__all__ = ["GPUSTACK"]
