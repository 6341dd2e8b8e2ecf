"""The text passthrough: the line as the server printed it, unless the policy says otherwise.

Dropped lines are removed; downgraded lines get their level rewritten to debug in place
(`I` -> `D` after a llama.cpp/llama-box prefix, `INFO:` -> `DEBUG:` for uvicorn), and every
other line, parsed or not, is returned byte for byte.
"""

from __future__ import annotations

import re

from ..policy import Decision, Verdict

_ANSI = rb"(?:\x1b\[[0-9;]*m)*"
_LLAMA_LEVEL = re.compile(
    rb"^(\.*" + _ANSI + rb"(?:\d+\.\d{2}\.\d{3}\.\d{3}|\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}\]) " + _ANSI + rb")[IWE] "
)
_UVICORN_LEVEL = re.compile(rb"^(" + _ANSI + rb"(?:\[[0-9: -]{19}\] )?(?:\(\w+ pid=\d+\) )?" + _ANSI + rb")INFO" + _ANSI + rb":    ")


def render(raw: bytes, decision: Decision) -> bytes | None:
    """The bytes to pass through for `raw` (line ending included), or None to drop it."""
    if not decision.emit:
        return None
    if decision.verdict is not Verdict.DOWNGRADE:
        return raw
    match = _LLAMA_LEVEL.match(raw)
    if match:
        # Sliced around the level letter: a substitution's template costs more than the match.
        level = match.end(1)
        return raw[:level] + b"D" + raw[level + 1 :]
    match = _UVICORN_LEVEL.match(raw)
    if match:
        # Keep uvicorn's column alignment: "INFO:     " and "DEBUG:    " are both ten wide.
        return match.group(1) + b"DEBUG:   " + raw[match.end() :]
    return raw
