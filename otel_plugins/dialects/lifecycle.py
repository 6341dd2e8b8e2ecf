"""Start, listen, load, ready, stop: the lifecycle markers of every producer, as rules.

Two tables, looked up by key so that a line costs one dict probe, not a regex per rule:
`TAGGED` for llama.cpp / llama-box `tag: message` lines (section 4 of the reference),
`WORDS` for untagged messages keyed by their first word (uvicorn, vLLM, SGLang,
GPUStack, llama-swap, ollama, ramalama). A dialect that has cut a message out of its own
prefix hands it to `WORDS` (`inner=WORDS`); the rule's kind, event and fields join its record.

Kinds: a marker is Kind.LIFECYCLE, except LOAD_FAILED (kind ERROR, severity ERROR when
the line states none: the operator must see it). Model-loading starts (`main: loading
model`) belong to `loading.py` (kind LOAD, event LOADING).
"""

from __future__ import annotations

import re

from otel_plugins import names
from otel_plugins.record import Event, Kind, Severity

from ._common import URL_HOST, URL_PORT
from .shape import F, INT, Conv, Keyed, Rule, Shape

# `srv  load_model: body`, `main: body`: llama.cpp's component and function tag.
_COMPONENT = r"(?:(?:srv|slt|slot|que|cli|cmn|res|ctx) +)?"
_BODY = r":(?: +(?P<body>.*)|$)"
TAG = _COMPONENT + r"(?P<tag>[A-Za-z_~][\w.~]*(?:\(\))?)" + _BODY

_ADDR = (F("host", names.SERVER_ADDRESS), F("port", names.SERVER_PORT, INT))
_URL = (F("url", names.SERVER_ADDRESS, URL_HOST), F("url", names.SERVER_PORT, URL_PORT))
_PID = (F("pid", names.PID, INT),)
_ARG = re.compile(r"--(model|port|alias) (\S+)")


def _arg(flag: str) -> Conv:
    """The last `--flag value` of a launch command line."""

    def value(args: str) -> str | int | None:
        found = [v for key, v in _ARG.findall(args) if key == flag]
        if not found:
            return None
        if flag == "port":
            return int(found[-1]) if found[-1].isdigit() else None
        return found[-1]

    return Conv("arg:" + flag, value)


_BOX = "llama-box"
_FAILED = dict(kind=Kind.ERROR, severity=Severity.ERROR)
_STOP = r".*cleaning up before exit"


def _rules(key: str, *rules: tuple) -> tuple[Rule, ...]:
    return tuple(Rule(f"{key}.{i}", pattern, event, **kw) for i, (pattern, event, kw) in enumerate(rules))


def r(pattern: str, event: Event | None, **kw) -> tuple:
    return pattern, event, kw


TAGGED = Keyed(
    "lifecycle.tagged",
    {
        "main": _rules(
            "main",
            r(r"listening, hostname = (?P<host>\S+), port = (?P<port>\d+)", Event.LISTENING, fields=_ADDR, producer=_BOX),
            r(r"HTTP server is listening, hostname: (?P<host>\S+), port: (?P<port>\d+)", Event.LISTENING, fields=_ADDR),
            r(r"model loaded", Event.LOADED),
            # llama-box v1 initialises its slots once the model is in memory.
            r(r"initializing server", Event.LOADED, producer=_BOX),
            r(r"starting server", Event.READY, producer=_BOX),
            r(r"server is listening on (?P<url>\S+)", Event.READY, fields=_URL),
            # Newer builds print the READY line above first; this one only confirms it.
            r(r"starting the main loop", None),
            r(r"exiting due to model loading error", Event.LOAD_FAILED, **_FAILED),
            r(_STOP, Event.STOPPING),
            r(r"binding port", Event.STARTING),
        ),
        "start": _rules(
            "start",
            r(r"starting\s*$", Event.STARTING, producer=_BOX),
            r(r"listening host = (?P<host>\S+), port = (?P<port>\d+)", Event.LISTENING, fields=_ADDR, producer=_BOX),
            r(r"server is ready", Event.READY, producer=_BOX),
            r(r"server is not ready", Event.NOT_READY, producer=_BOX),
            r(r"server is stopping", Event.STOPPING),
            r(r"binding port", Event.STARTING),
        ),
        "load": _rules(
            "load",
            r(
                r"spawning server instance with name=(?P<name>\S+) on port (?P<port>\d+)", Event.STARTING,
                fields=(F("name", names.MODEL_NAME), F("port", names.SERVER_PORT, INT)),
            ),
        ),
        "load_model": _rules(
            "load_model", r(r"failed to load model(?:, '(?P<path>.*)')?", Event.LOAD_FAILED, fields=(F("path", names.MODEL_PATH),), **_FAILED)
        ),
        "llama_model_load_from_file_impl": _rules("llama_model_load_from_file_impl", r(r"failed to load model", Event.LOAD_FAILED, **_FAILED)),
        "common_init_from_params": _rules(
            "common_init_from_params",
            r(r"failed to load model(?: '(?P<path>.*)')?", Event.LOAD_FAILED, fields=(F("path", names.MODEL_PATH),), **_FAILED),
        ),
        "operator()": _rules("operator()", r(_STOP, Event.STOPPING)),
    },
    by_tag=True,
)

WORDS = Keyed(
    "lifecycle.words",
    {
        "exiting": _rules("exiting", r(r"exiting due to model loading error", Event.LOAD_FAILED, **_FAILED)),
        "Received": _rules("Received", r(r"Received second interrupt", Event.STOPPING, producer="llama.cpp")),
        "received": _rules("received", r(r"received (?:signal|second interrupt)", Event.STOPPING)),
        # uvicorn
        "Started": _rules("Started", r(r"Started server process \[(?P<pid>\d+)\]", Event.STARTING, fields=_PID, producer="uvicorn")),
        "Waiting": _rules(
            "Waiting",
            r(r"Waiting for application startup", Event.STARTING, producer="uvicorn"),
            r(r"Waiting for application shutdown", Event.STOPPING, producer="uvicorn"),
        ),
        "Application": _rules(
            "Application",
            r(r"Application startup complete", Event.READY, producer="uvicorn"),
            r(r"Application shutdown complete", Event.STOPPING, producer="uvicorn"),
        ),
        "Uvicorn": _rules("Uvicorn", r(r"Uvicorn running on (?P<url>\S+)", Event.LISTENING, fields=_URL, producer="uvicorn")),
        "Shutting": _rules("Shutting", r(r"Shutting down", Event.STOPPING)),
        "Finished": _rules("Finished", r(r"Finished server process \[(?P<pid>\d+)\]", Event.STOPPING, fields=_PID, producer="uvicorn")),
        # vLLM, GPUStack, ollama
        "Starting": _rules(
            "Starting",
            r(r"Starting vLLM (?:API )?server(?: \d+)? on (?P<url>\S+)", Event.LISTENING, fields=_URL, producer="vllm"),
            r(r"Starting GPUStack server", Event.STARTING, producer="gpustack"),
            r(r"Starting gpustack", Event.STARTING, producer="gpustack"),
            r(r"Starting [\w.-]+ server", Event.STARTING),
        ),
        "Run": _rules(
            "Run",
            r(
                r"Run llama-box: \S+ with arguments: (?P<args>.*)", Event.STARTING,
                fields=(F("args", names.MODEL_PATH, _arg("model")), F("args", names.MODEL_NAME, _arg("alias")), F("args", names.SERVER_PORT, _arg("port"))),
            ),
        ),
        "GPUStack": _rules("GPUStack", r(r"GPUStack Server is ready", Event.READY, producer="gpustack")),
        "Serving": _rules("Serving", r(r"Serving on (?P<url>\S+?)\.?$", Event.LISTENING, fields=_URL)),
        "serving": _rules("serving", r(r"serving on port (?P<port>\d+)", Event.LISTENING, fields=(F("port", names.SERVER_PORT, INT),), producer="ramalama")),
        "Listening": _rules("Listening", r(r"Listening on (?P<url>\S+)", Event.LISTENING, fields=_URL)),
        # SGLang
        "The": _rules("The", r(r"The server is fired up and ready to roll", Event.READY, producer="sglang")),
        # llama-swap
        "llama-swap": _rules("llama-swap", r(r"llama-swap listening on (?P<url>\S+)", Event.LISTENING, fields=_URL, producer="llama-swap")),
        # ollama runner
        "llama": _rules(
            "llama",
            r(r"llama runner started in", Event.READY, producer="ollama"),
            r(r"llama runner (?:process )?(?:has )?terminated", Event.STOPPING, producer="ollama"),
        ),
        "starting": _rules("starting", r(r"starting llama server", Event.STARTING, producer="ollama")),
        "waiting": _rules("waiting", r(r"waiting for llama runner to start", Event.STARTING, producer="ollama")),
    },
)

# A message that one of the word rules matches (each starts with its key word).
WORD_MESSAGE = WORDS.rules() + ".*"

# The llama.cpp / llama-box markers as a dialect of their own: a tagged line the tag table
# knows (producer llama.cpp unless the rule names one), else a message the word table knows.
LIFECYCLE_TAGGED = Shape(
    "lifecycle.tagged", _COMPONENT + "(?P<tag>" + TAGGED.keys() + ")" + _BODY, "lifecycle", tag_group="tag", message="body", inner=TAGGED, required=True,
    default_producer="llama.cpp", guard=_COMPONENT + "(?:" + "|".join(re.escape(k) + ": +" + TAGGED.rules(k) for k in TAGGED.table) + ").*$", examples=("main: model loaded", "srv  start: server is ready"),
)
LIFECYCLE_WORDS = Shape("lifecycle.words", WORD_MESSAGE + "$", "lifecycle", inner=WORDS, required=True, examples=("Uvicorn running on http://0.0.0.0:8000",))
LIFECYCLE = (LIFECYCLE_TAGGED, LIFECYCLE_WORDS)

__all__ = ["LIFECYCLE", "TAG", "TAGGED", "WORDS", "WORD_MESSAGE"]
