"""The llama.cpp `common/log.cpp` line prefixes (reference section 1).

- `M.SS.mmm.uuu L message`: llama.cpp with `--log-prefix --log-timestamps`, llama-box up to
  v0.0.133. Minutes since the logger started, unbounded (`22.02.326.005`, `1621.16.348.559`):
  an uptime, not a wall clock.
- `[YYYY-MM-DD HH:MM:SS.dddddd] L message`: llama-box v0.0.134+, local time without a zone
  (taken as UTC here). The six digits are epoch-milliseconds mod 1e6, so only the last
  three are the milliseconds of this second.
- `L message`: `--log-prefix` without timestamps.
`L` is I, W, E or D. The message goes to the content dialects (`CONTENT`); the prefix adds
the clock and the stated level, and names the producer where the content did not.
"""

from __future__ import annotations

from ._common import LOG_TIME, epoch
from .content import CONTENT
from .shape import TIME, UPTIME, Conv, F, Shape


def _uptime(s: str) -> float:
    # `M.SS.mmm.uuu`: the digits without the dots are M * 10^8 + SS * 10^6 + microseconds.
    n = int(s.replace(".", ""))
    return ((n // 100_000_000) * 60_000_000 + n % 100_000_000) / 1e6


def _wall(s: str) -> float | None:
    # `2025-05-15 16:41:00.460014`: the last three digits are the milliseconds.
    return epoch(int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]), int(s[17:19]), int(s[23:26]) / 1e3)


UPTIME_CLOCK = Conv("llama_uptime", _uptime)
WALL_CLOCK = Conv("llama_box_wall", _wall)
_WEAK = frozenset((None, "llama.cpp"))
_REST = r"(?: (?P<msg>.*)|$)"
# The prefixes up to the level letter (the fast path appends a content shape after one space).
UPTIME_HEAD = r"(?P<uptime>\d+\.\d\d\.\d{3}\.\d{3}) (?P<lvl>[IWEDTF])"
WALL_HEAD = r"\[(?P<when>2\d{3}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6})\] (?P<lvl>[IWEDTF])"

UPTIME_PREFIX = Shape(
    "llama.cpp.uptime", UPTIME_HEAD + _REST, "llama.cpp",
    level="lvl", producer="llama.cpp", weak_producers=_WEAK, message="msg", fields=(F("uptime", UPTIME, UPTIME_CLOCK),),
    inner=CONTENT, examples=("0.00.167.597 I load_tensors: RPC[172.17.0.3:50760] model buffer size = 104842.70 MiB",),
)
WALL_PREFIX = Shape(
    "llama.cpp.wall", WALL_HEAD + _REST, "llama.cpp",
    level="lvl", producer="llama-box", weak_producers=_WEAK, message="msg",
    fields=(F("when", LOG_TIME), F("when", TIME, WALL_CLOCK)), inner=CONTENT,
    examples=("[2025-05-15 16:41:00.460014] I load_tensors: loading model tensors, this can take a while... (mmap = false)",),
)
LETTER_PREFIX = Shape(
    "llama.cpp.letter", r"(?P<lvl>[IWED]) (?P<msg>\S.*)$", "llama.cpp", level="lvl", producer="llama.cpp", weak_producers=_WEAK,
    message="msg", inner=CONTENT, examples=("W llama_init_from_model: n_ctx_per_seq (256) < n_ctx_train (2048)",),
)
LLAMACPP_PREFIX = (UPTIME_PREFIX, WALL_PREFIX, LETTER_PREFIX)

__all__ = ["LLAMACPP_PREFIX", "UPTIME_HEAD", "UPTIME_PREFIX", "WALL_HEAD", "WALL_PREFIX"]
