"""The fallback: any line nobody else claimed still gets a level when it states or shows one.

- a level word at the start (`ERROR: ...`, `warning: ...`, `INFO ...`) is the stated level;
- llama.cpp's `tag: message` shape keeps its tag (dialect "llama.cpp"), and a level word
  right after the tag counts as stated;
- with no stated level, a plainly failing message (`error loading model`, `failed to
  allocate`, `unable to ...`, `out of memory`) gets Severity.ERROR (`ERROR_WORDS`);
- Chromium's `[pid:MMDD/HHMMSS.mmm:LEVEL:file(line)]` (LM Studio's log).
Whatever has neither tag nor level is dialect "other", kind OTHER, message = the line.
"""

from __future__ import annotations

from otel_plugins.record import Severity

from .lifecycle import TAG
from .shape import Chain, Rule, Shape

_UPPER = "TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|FATAL|PANIC"
# A message that plainly reports a failure; the words are a cheap pre-check for the regex.
ERROR_WORDS = r"(?i:.*?\b(?:error|failed|failure|unable to|(?:out of|insufficient) memory|abort(?:ed|ing)?)\b)"
_WORDS = ("err", "fail", "unable", "memory", "abort")

CHROMIUM = Shape(
    "generic.chromium", r"\[\d+:\d+/\d+\.\d+:(?P<lvl>[A-Z]+)(?:\d+)?:(?P<tag>[^\]]+)\] (?P<msg>.*)$", "generic",
    level="lvl", producer="chromium", tag_group="tag", message="msg",
    examples=("[1234:0101/120000.123:ERROR:foo.cc(12)] chromium error",),
)
LEVEL_START = Shape(
    "generic.level",
    rf"(?:(?P<lvl>{_UPPER})(?::\s*(?P<m1>.*)|\s+-\s+(?P<m2>.*)|\s+(?P<m3>\S.*))"
    r"|(?P<lvl2>trace|debug|info|warn|warning|error|fatal|Warning|Error):\s*(?P<m4>.*))$",
    "generic", level=("lvl", "lvl2"), message=("m1", "m2", "m3", "m4"),
    examples=("ERROR: uvicorn-like strict failure", "warning: this is only a warning"),
)

# `tag: message`: the tag a level word (`WARNING: ...` read as a tag), else a level word
# or error words in the message.
TAG_LEVEL = Shape(
    "tag.level", rf"(?:(?:srv|slt|slot|que|cli|cmn|res|ctx) +)?(?P<lvl>{_UPPER}):(?: +(?P<body>.*)|$)", "llama.cpp",
    level="lvl", message="body",
)
BODY_LEVEL = Rule("tag.body_level", r"(?P<lvl>(?i:trace|debug|info|warn|warning|error|err|critical|fatal)):", None, kind=None, level="lvl")
BODY_ERROR = Rule("tag.body_error", ERROR_WORDS, None, kind=None, severity=Severity.ERROR, words=_WORDS)
TAGGED = Shape(
    "tag", TAG, "llama.cpp", producer="llama.cpp", tag_group="tag", message="body", inner=Chain("tag.body", (BODY_LEVEL, BODY_ERROR)),
    examples=("llama_model_load: error loading model: done", "llama_model_loader: warning: something odd"),
)
TAG_SHAPES = (TAG_LEVEL, TAGGED)

GENERIC_ERROR = Shape("generic.error", ERROR_WORDS + ".*", "generic", severity=Severity.ERROR, words=_WORDS, examples=("unable to allocate backend buffer",))
OTHER = Shape("other", r".*", "other", examples=("Running without SSL",))
LEVELS_FIRST = (CHROMIUM, LEVEL_START, *TAG_SHAPES)  # then the prefixed line (`pipeline`), then:
FALLBACK = (GENERIC_ERROR, OTHER)

__all__ = ["BODY_ERROR", "ERROR_WORDS", "FALLBACK", "LEVELS_FIRST", "TAG_SHAPES"]
