"""Start, listen, load, ready, stop: the lifecycle markers of every producer.

Two tables, looked up by key so that a line costs one dict probe, not a regex per rule:
`_BY_TAG` for llama.cpp / llama-box `tag: message` lines (section 4 of the reference),
`_BY_WORD` for untagged messages keyed by their first word (uvicorn, vLLM, SGLang,
GPUStack, llama-swap, ollama, ramalama). Other dialects call `match_message` on the
message they have already cut out of their own prefix.

Kinds: a marker is Kind.LIFECYCLE, except LOAD_FAILED (kind ERROR: the operator must see
it) — the event carries the lifecycle meaning either way. Model-loading starts
(`main: loading model`) belong to `loading.py` (kind LOAD, event LOADING).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from typing import NamedTuple

from otel_plugins import names
from otel_plugins.record import Event, Kind, Record, Severity

from ._common import new, split_tag, url_host_port


class Rule(NamedTuple):
    regex: re.Pattern
    event: Event | None
    fields: Callable[[re.Match], dict] | None = None
    kind: Kind = Kind.LIFECYCLE
    producer: str | None = None
    severity: Severity | None = None  # only used when the line states no level


class Hit(NamedTuple):
    event: Event | None
    kind: Kind
    fields: dict
    producer: str | None
    severity: Severity | None


def _addr(m: re.Match) -> dict:
    out: dict = {names.SERVER_ADDRESS: m.group("host")} if m.group("host") else {}
    out[names.SERVER_PORT] = int(m.group("port"))
    return out


def _url(m: re.Match) -> dict:
    host, port = url_host_port(m.group("url"))
    out: dict = {}
    if host:
        out[names.SERVER_ADDRESS] = host
    if port is not None:
        out[names.SERVER_PORT] = port
    return out


def _pid(m: re.Match) -> dict:
    return {names.PID: int(m.group("pid"))}


def _port(m: re.Match) -> dict:
    return {names.SERVER_PORT: int(m.group("port"))}


def _spawn(m: re.Match) -> dict:
    return {names.MODEL_NAME: m.group("name"), names.SERVER_PORT: int(m.group("port"))}


def _path(m: re.Match) -> dict:
    return {names.MODEL_PATH: m.group("path")} if m.group("path") else {}


_ARG = re.compile(r"--(model|port|alias) (\S+)")


def _launch(m: re.Match) -> dict:
    out: dict = {}
    for key, value in _ARG.findall(m.group("args")):
        if key == "model":
            out[names.MODEL_PATH] = value
        elif key == "alias":
            out[names.MODEL_NAME] = value
        elif value.isdigit():
            out[names.SERVER_PORT] = int(value)
    return out


def _r(pattern: str) -> re.Pattern:
    return re.compile(pattern)


_BOX = "llama-box"
_FAILED = dict(kind=Kind.ERROR, severity=Severity.ERROR)
_STOP = _r(r".*cleaning up before exit")

_BY_TAG: dict[str, tuple[Rule, ...]] = {
    "main": (
        Rule(_r(r"listening, hostname = (?P<host>\S+), port = (?P<port>\d+)"), Event.LISTENING, _addr, producer=_BOX),
        Rule(_r(r"HTTP server is listening, hostname: (?P<host>\S+), port: (?P<port>\d+)"), Event.LISTENING, _addr),
        Rule(_r(r"model loaded"), Event.LOADED),
        # llama-box v1 initialises its slots once the model is in memory.
        Rule(_r(r"initializing server"), Event.LOADED, producer=_BOX),
        Rule(_r(r"starting server"), Event.READY, producer=_BOX),
        Rule(_r(r"server is listening on (?P<url>\S+)"), Event.READY, _url),
        # Newer builds print the READY line above first; this one only confirms it.
        Rule(_r(r"starting the main loop"), None),
        Rule(_r(r"exiting due to model loading error"), Event.LOAD_FAILED, **_FAILED),
        Rule(_STOP, Event.STOPPING),
        Rule(_r(r"binding port"), Event.STARTING),
    ),
    "start": (
        Rule(_r(r"starting\s*\Z"), Event.STARTING, producer=_BOX),
        Rule(_r(r"listening host = (?P<host>\S+), port = (?P<port>\d+)"), Event.LISTENING, _addr, producer=_BOX),
        Rule(_r(r"server is ready"), Event.READY, producer=_BOX),
        Rule(_r(r"server is not ready"), Event.NOT_READY, producer=_BOX),
        Rule(_r(r"server is stopping"), Event.STOPPING),
        Rule(_r(r"binding port"), Event.STARTING),
    ),
    "load": (
        Rule(_r(r"spawning server instance with name=(?P<name>\S+) on port (?P<port>\d+)"), Event.STARTING, _spawn),
    ),
    "load_model": (Rule(_r(r"failed to load model(?:, '(?P<path>.*)')?"), Event.LOAD_FAILED, _path, **_FAILED),),
    "llama_model_load_from_file_impl": (Rule(_r(r"failed to load model"), Event.LOAD_FAILED, **_FAILED),),
    "common_init_from_params": (Rule(_r(r"failed to load model(?: '(?P<path>.*)')?"), Event.LOAD_FAILED, _path, **_FAILED),),
    "operator()": (Rule(_STOP, Event.STOPPING),),
}

_BY_WORD: dict[str, tuple[Rule, ...]] = {
    "exiting": (Rule(_r(r"exiting due to model loading error"), Event.LOAD_FAILED, **_FAILED),),
    "Received": (Rule(_r(r"Received second interrupt"), Event.STOPPING, producer="llama.cpp"),),
    "received": (Rule(_r(r"received (?:signal|second interrupt)"), Event.STOPPING),),
    # uvicorn
    "Started": (Rule(_r(r"Started server process \[(?P<pid>\d+)\]"), Event.STARTING, _pid, producer="uvicorn"),),
    "Waiting": (
        Rule(_r(r"Waiting for application startup"), Event.STARTING, producer="uvicorn"),
        Rule(_r(r"Waiting for application shutdown"), Event.STOPPING, producer="uvicorn"),
    ),
    "Application": (
        Rule(_r(r"Application startup complete"), Event.READY, producer="uvicorn"),
        Rule(_r(r"Application shutdown complete"), Event.STOPPING, producer="uvicorn"),
    ),
    "Uvicorn": (Rule(_r(r"Uvicorn running on (?P<url>\S+)"), Event.LISTENING, _url, producer="uvicorn"),),
    "Shutting": (Rule(_r(r"Shutting down"), Event.STOPPING),),
    "Finished": (Rule(_r(r"Finished server process \[(?P<pid>\d+)\]"), Event.STOPPING, _pid, producer="uvicorn"),),
    # vLLM, GPUStack, ollama
    "Starting": (
        Rule(_r(r"Starting vLLM (?:API )?server(?: \d+)? on (?P<url>\S+)"), Event.LISTENING, _url, producer="vllm"),
        Rule(_r(r"Starting GPUStack server"), Event.STARTING, producer="gpustack"),
        Rule(_r(r"Starting gpustack"), Event.STARTING, producer="gpustack"),
        Rule(_r(r"Starting [\w.-]+ server"), Event.STARTING),
    ),
    "Run": (Rule(_r(r"Run llama-box: \S+ with arguments: (?P<args>.*)"), Event.STARTING, _launch),),
    "GPUStack": (Rule(_r(r"GPUStack Server is ready"), Event.READY, producer="gpustack"),),
    "Serving": (Rule(_r(r"Serving on (?P<url>\S+?)\.?\Z"), Event.LISTENING, _url),),
    "serving": (Rule(_r(r"serving on port (?P<port>\d+)"), Event.LISTENING, _port, producer="ramalama"),),
    "Listening": (Rule(_r(r"Listening on (?P<url>\S+)"), Event.LISTENING, _url),),
    # SGLang
    "The": (Rule(_r(r"The server is fired up and ready to roll"), Event.READY, producer="sglang"),),
    # llama-swap
    "llama-swap": (Rule(_r(r"llama-swap listening on (?P<url>\S+)"), Event.LISTENING, _url, producer="llama-swap"),),
    # ollama runner
    "llama": (
        Rule(_r(r"llama runner started in"), Event.READY, producer="ollama"),
        Rule(_r(r"llama runner (?:process )?(?:has )?terminated"), Event.STOPPING, producer="ollama"),
    ),
    "starting": (Rule(_r(r"starting llama server"), Event.STARTING, producer="ollama"),),
    "waiting": (Rule(_r(r"waiting for llama runner to start"), Event.STARTING, producer="ollama"),),
}


def _apply(rules: tuple[Rule, ...], text: str) -> Hit | None:
    for rule in rules:
        m = rule.regex.match(text)
        if m is not None:
            return Hit(rule.event, rule.kind, rule.fields(m) if rule.fields else {}, rule.producer, rule.severity)
    return None


def match_tagged(tag: str, body: str) -> Hit | None:
    rules = _BY_TAG.get(tag)
    return _apply(rules, body) if rules else None


def match_message(message: str) -> Hit | None:
    """A lifecycle marker in an untagged message, or None."""
    word = message[: message.find(" ")] if " " in message else message
    rules = _BY_WORD.get(word)
    return _apply(rules, message) if rules else None


def to_record(text: str, dialect: str, hit: Hit, **kw) -> Record:
    rec = new(text, dialect, kind=hit.kind, event=hit.event, **kw)
    rec.fields.update(hit.fields)
    if rec.producer is None:
        rec.producer = hit.producer
    if rec.severity is None:
        rec.severity = hit.severity
    return rec


class Lifecycle:
    """llama.cpp / llama-box lifecycle markers, with or without a tag."""

    name = "lifecycle"
    first = string.ascii_letters

    def __call__(self, text: str) -> Record | None:
        parts = split_tag(text)
        if parts is not None:
            _comp, tag, body = parts
            hit = match_tagged(tag, body)
            if hit is not None:
                rec = to_record(text, self.name, hit, tag=tag, message=body)
                if rec.producer is None:
                    rec.producer = "llama.cpp"
                return rec
        hit = match_message(text)
        if hit is None:
            return None
        return to_record(text, self.name, hit, message=text)


LIFECYCLE = Lifecycle()

__all__ = ["LIFECYCLE", "Hit", "match_message", "match_tagged", "to_record"]
