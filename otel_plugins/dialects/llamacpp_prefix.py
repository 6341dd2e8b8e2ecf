"""The llama.cpp `common/log.cpp` line prefixes (reference section 1).

- `M.SS.mmm.uuu L message`: llama.cpp with `--log-prefix --log-timestamps`, llama-box up to
  v0.0.133. Minutes since the logger started, unbounded (`22.02.326.005`, `1621.16.348.559`):
  an uptime, not a wall clock.
- `[YYYY-MM-DD HH:MM:SS.dddddd] L message`: llama-box v0.0.134+, local time without a zone
  (taken as UTC here). The six digits are epoch-milliseconds mod 1e6, so only the last
  three are the milliseconds of this second.
- `L message`: `--log-prefix` without timestamps.
`L` is I, W, E or D. The message is handed to the content dialects; the prefix adds the
clock and the stated level.
"""

from __future__ import annotations

import re

from otel_plugins.record import LEVEL_LETTERS, Kind, Record, Severity

from ._common import KIND_FOR, LOG_TIME, epoch
from .content import parse_content

_UPTIME = re.compile(r"(\d+)\.(\d\d)\.(\d{3})\.(\d{3}) ([IWEDTF])(?: |\Z)")
_WALL = re.compile(r"\[(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.\d{3}(\d{3})\] ([IWEDTF])(?: |\Z)")
_PLAIN = (Kind.OTHER, Kind.ERROR)
_LETTER = re.compile(r"([IWED]) (?=\S)")


class LlamaCppPrefix:
    name = "llama.cpp"
    first = "0123456789[IWED"

    def __call__(self, text: str) -> Record | None:
        first = text[:1]
        if first.isdigit():
            m = _UPTIME.match(text)
            if m is None:
                return None
            mi, s, ms, us, lvl = m.groups()
            rec = self._inner(text, m.end(), lvl, "llama.cpp")
            rec.uptime = ((int(mi) * 60 + int(s)) * 1_000_000 + int(ms) * 1000 + int(us)) / 1e6
            return rec
        if first == "[":
            if text[1:2] != "2" or text[5:6] != "-":
                return None
            m = _WALL.match(text)
            if m is None:
                return None
            y, mo, d, h, mi, s, ms, lvl = m.groups()
            rec = self._inner(text, m.end(), lvl, "llama-box")
            rec.time_unix = epoch(int(y), int(mo), int(d), int(h), int(mi), int(s), int(ms) / 1e3)
            rec.fields[LOG_TIME] = text[1:27]
            return rec
        if first in "IWED" and text[1:2] == " ":
            m = _LETTER.match(text)
            if m is None:
                return None
            return self._inner(text, m.end(), m.group(1), "llama.cpp")
        return None

    def _inner(self, text: str, end: int, lvl: str, producer: str) -> Record:
        rec = parse_content(text[end:])
        rec.text = text
        sev: Severity = LEVEL_LETTERS[lvl]
        rec.severity = sev
        if rec.dialect in ("other", "generic"):
            rec.dialect = self.name
        if rec.producer is None or (producer == "llama-box" and rec.producer == "llama.cpp"):
            rec.producer = producer
        if rec.event is None and rec.kind in _PLAIN:
            rec.kind = KIND_FOR[sev]
        return rec


LLAMACPP_PREFIX = LlamaCppPrefix()
