"""GPUStack's Python logging format, `%(asctime)s - %(name)s - %(levelname)s - %(message)s`.

`2025-08-12 10:39:04.097779+08:00 - gpustack.server.server - INFO - Serving on 0.0.0.0:80.`
(older `2025-03-04T19:55:05+08:00 - ...`). The same shape without the logger name is
Python's and ramalama's CLI format (`2026-03-29 13:05:36 - ERROR - Failed to serve ...`,
`2026-07-04 04:30:58,796 - INFO - ...`), parsed here too with no producer.
Messages about RPC servers and the instance lifecycle are classified by `rpc` and
`lifecycle`; the rest keeps its stated level (kind ERROR at ERROR and above).
"""

from __future__ import annotations

import re

from otel_plugins.record import Record

from . import lifecycle, rpc
from ._common import LOG_TIME, kind_for, level, new, parse_iso

_LINE = re.compile(
    r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?) - "
    r"(?:([\w.\-]+) - )?(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL) - (.*)\Z",
    re.S,
)


class GpuStack:
    name = "gpustack"
    first = "0123456789"

    def __call__(self, text: str) -> Record | None:
        if not text[:1].isdigit() or text[4:5] != "-" or " - " not in text[:48]:
            return None
        m = _LINE.match(text)
        if m is None:
            return None
        when, logger, lvl, msg = m.groups()
        sev = level(lvl)
        producer = None
        if logger:
            producer = "gpustack" if logger.startswith("gpustack") else logger.split(".", 1)[0]
        rec = rpc.match_message(msg, self.name, severity=sev, producer=producer, tag=logger)
        if rec is None:
            hit = lifecycle.match_message(msg)
            if hit is not None:
                rec = lifecycle.to_record(text, self.name, hit, severity=sev, producer=producer, tag=logger, message=msg)
            else:
                rec = new(text, self.name, kind=kind_for(sev), severity=sev, producer=producer, tag=logger, message=msg)
        rec.text = text
        rec.fields[LOG_TIME] = when
        rec.time_unix = parse_iso(when)
        return rec


GPUSTACK = GpuStack()
