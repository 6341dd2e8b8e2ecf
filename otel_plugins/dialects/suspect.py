"""The overload scan: which lines of a chunk could matter, found in one pass.

When a server writes faster than its lines can be decided, the wrapper decides only the
lines this scan finds (`sources.process.PipePump`) and passes the rest through, counted.
So the scan must find every line that could be a failure or move the lifecycle or the
load, and little else. It is read off the declarations, not kept as a second list:

- every shape that makes a line loud (WARN and above, kind ERROR) or lifecycle, load,
  progress or RPC contributes the longest literal its every match holds;
- the failure rules' trigger words and the shapes' own `words`, in any case;
- what no single shape owns: level words and letters (`E`, `ERROR`, pino's `"level":50`),
  4xx/5xx statuses, and the generic words of trouble.

Until the server is ready, the scan also finds a probe path answered 2xx (`readiness_pattern`,
from the policy's paths): that answer moves the phase, and a probe failing after it must not
pass for the loading answer.

A shape whose literal is too short to be worth a search (a frame's `.`) relies on the
generic part, or on its dump being collected (`LinePipeline.must_decide`): once a crash
head is decided, every line is, until the dump is done. `tests/test_overload_scan.py` feeds
the corpora through the pump in overload and checks that no WARN or ERROR record is lost.

RE2, not `re`: a DFA looks for all of this in one pass, about 120 MB/s here, where `re`'s
backtracking alternation managed 6 MB/s, slower than a flooding server writes.
"""

from __future__ import annotations

import functools
import re

import re2

from otel_plugins.first_match import Finder, first_match
from otel_plugins.record import Kind, Severity

from .failures import WORDS as FAILURE_WORDS
from .pipeline import all_shapes
from .regex import longest_literal
from .shape import LEVELS, Shape

# Shorter literals match too much ordinary text to be worth a search.
_MIN_LITERAL = 5
_TELLING_KINDS = (Kind.ERROR, Kind.LIFECYCLE, Kind.LOAD, Kind.PROGRESS, Kind.RPC)
# What no one shape owns. `^` rather than a newline in front: a match must never begin on
# the line before the one it is about.
_GENERIC = (
    r"\d [WEF] |\] [WEF] |^[WEF] ",  # llama.cpp's level letters, after an uptime, a bracket, or first
    r"\b[WEF]\d{4} \d\d:\d\d:\d\d",  # glog's and klog's letter before the day and time
    r"\[[WEF](?:\d{4} | [\w./-]+\.(?:cpp|cc|c|h|hpp):\d+\])",  # PyTorch's c10 (`[E ProcessGroupNCCL.cpp:1153]`)
    r"\"level\":\s*[4-6]0\b",  # pino's numbers
    r"(?:^|[ \t\r\f\v\"|])[45]\d\d(?:[ \t\r\f\v|]|$)",  # a 4xx or 5xx status
    r"\"status(?:_code)?\":\s*\"?[45]\d\d\b",  # and in a JSON log (llama.cpp's and llamafile's `"status":404`)
    r"(?i:error|fail|abort|exception|fatal|panic|crash|exited|terminat|signal|killed|segmentation|core dumped"
    r"|out of memory|insufficient memory|oom|GGML_ASSERT|terminate called|exit (?:code|status)|status=\d)",
    r"SIG[A-Z]{3}",
    # RPC peers, in lines whose shapes hold too short a literal (`RPC0 (host:port)`, llama-box's
    # `cli   accepted: host:port`).
    r"RPC|[Aa]ccepted|[Cc]losed",
    r"^\.\.\.\.",  # llama.cpp's loading dots
    r"\|[=#]{3}",  # a text progress bar (`loading.bar`: its only literal is a `|`)
)


def _level_words() -> list[str]:
    """Level spellings of WARN and above that are words, matched in any case (`level=warn`);
    letters and numbers need context (`_GENERIC`)."""
    return sorted(w for w, s in LEVELS.items() if s >= Severity.WARN and w.isalpha() and len(w) >= 3)


def telling(shape: Shape) -> bool:
    """A shape whose lines the scan must find: loud, a failure, a lifecycle, load, progress or RPC line, or an event."""
    loud = shape.severity is not None and shape.severity >= Severity.WARN
    return loud or shape.kind in _TELLING_KINDS or shape.event is not None


def declared_literals() -> list[tuple[str, bool]]:
    """(literal, case-insensitive) every telling shape's matches hold, long enough to search for."""
    found: set[tuple[str, bool]] = set()
    for shape in all_shapes():
        if not isinstance(shape, Shape) or not telling(shape):
            continue
        literal = longest_literal(shape.regex)
        if len(literal) >= _MIN_LITERAL:
            found.add((literal, bool(shape.regex.flags & re.IGNORECASE)))
        for word in shape.words or ():
            found.add((word, True))
    found.update((word, True) for word in FAILURE_WORDS)
    return sorted(found)


def suspect_pattern() -> str:
    """The scan as one RE2 alternation (multi-line: `^` and `$` at every line)."""
    literals = declared_literals()
    exact = [re.escape(text) for text, folded in literals if not folded]
    folded = [re.escape(text) for text, folded in literals if folded]
    parts = [*_GENERIC, r"(?i:\b(?:" + "|".join(_level_words()) + r")\b)"]
    if exact:
        parts.append("|".join(exact))
    if folded:
        parts.append("(?i:" + "|".join(folded) + ")")
    return "(?m)" + "|".join(parts)


SUSPECT = re2.compile(suspect_pattern().encode())
# Where the scan finds the next line that could matter in data[pos:endpos], or -1.
find_suspect = first_match(SUSPECT)

# A 2xx status, delimited as `_GENERIC`'s 4xx/5xx one is, or a JSON log's.
_SUCCESS = r"(?:(?:^|[ \t\r\f\v\"|])2\d\d(?:[ \t\r\f\v|]|$)|\"status(?:_code)?\":\s*\"?2\d\d\b)"


def readiness_pattern(path_regex: str) -> str:
    """The scan while the server is not ready yet: `suspect_pattern`'s, and any line answering
    one of the paths `path_regex` finds (`policy.paths.in_line_regex`) with a 2xx, before or
    after the path (GIN prints the status first). Such a probe is what says the server is
    ready: passed over, the phase would stay at loading, and a probe failing after it would be
    cleared as the loading answer."""
    answered = f"{path_regex}[^\n]*{_SUCCESS}|{_SUCCESS}[^\n]*{path_regex}"
    return suspect_pattern() + "|" + answered


@functools.lru_cache(maxsize=8)
def find_suspect_or_ready(path_regex: str) -> Finder:
    """`find_suspect` with `readiness_pattern`'s answers (compiled once per set of paths)."""
    return first_match(re2.compile(readiness_pattern(path_regex).encode()))
