"""uvicorn and the Python servers that run on it: vLLM, SGLang, KServe.

- uvicorn default: `INFO:     10.101.56.92:49632 - "GET /health HTTP/1.1" 200 OK` and
  `INFO:     Application startup complete.`;
- SGLang wraps every line in `[YYYY-MM-DD HH:MM:SS] ` or `[YYYY-MM-DD HH:MM:SS TP0] `
  (older: `[HH:MM:SS TP0] `) and states no level of its own;
- vLLM: `INFO 05-06 21:00:52 [api_server.py:602] message` (older without the `[`), the
  year is not printed so the time stays in `llama.log.time` only;
- KServe: `2025-05-14 17:45:10.901 uvicorn.access INFO:     127.0.0.1:42226 1647689 - "POST ..."`
  and `2025-05-14 17:45:10.901 1647689 kserve.trace message`.
The `(APIServer pid=1) ` process prefix is an envelope, removed before these run.
"""

from __future__ import annotations

import re

from otel_plugins import names
from otel_plugins.record import Kind, Record

from . import lifecycle
from ._common import HTTP_VERSION, LOG_TIME, host_port, kind_for, level, new, parse_iso, put_http

_LEVELS = ("INFO", "WARNING", "ERROR", "DEBUG", "CRITICAL", "TRACE")
_UVICORN = re.compile(r"(INFO|WARNING|ERROR|DEBUG|CRITICAL|TRACE):(\s+)(.*)\Z", re.S)
_ACCESS = re.compile(r'(\S+?)(?::(\d+))?(?: \d+)? - "([A-Z]+) (\S+) HTTP/([\d.]+)" (\d{3})(?: (.*))?\Z', re.S)
_SGLANG = re.compile(r"\[((?:\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d)(?: ([^\]]+))?\] (.*)\Z", re.S)
_VLLM = re.compile(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) (\d\d-\d\d \d\d:\d\d:\d\d)(?:\.\d+)? \[?([\w.\-]+?)(?::\d+)?\] (.*)\Z", re.S)
_KSERVE = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) (?:(\d+) )?([A-Za-z_][\w.]*) (.*)\Z", re.S)


class Uvicorn:
    name = "uvicorn"
    first = "IWEDCT[0123456789"

    def __call__(self, text: str) -> Record | None:
        first = text[:1]
        if first in "IWEDCT":
            if text.startswith(_LEVELS):
                return self._uvicorn(text, "uvicorn") or self._vllm(text)
            return None
        if first == "[":
            return self._sglang(text)
        if first.isdigit() and text[4:5] == "-" and text[10:11] == " " and text[19:20] in ". ":
            return self._kserve(text)
        return None

    def _uvicorn(self, text: str, producer: str, strict: bool = True) -> Record | None:
        m = _UVICORN.match(text)
        if m is None:
            return None
        lvl, space, msg = m.groups()
        sev = level(lvl)
        a = _ACCESS.match(msg)
        if a is not None:
            client, port, method, target, version, status, reason = a.groups()
            rec = new(text, self.name, kind=Kind.HTTP, severity=sev, producer=producer, message=msg)
            f = rec.fields
            put_http(f, method, target)
            host, p = host_port(client) if port is None else (client, int(port))
            f[names.CLIENT_ADDRESS] = host
            if p is not None:
                f[names.CLIENT_PORT] = p
            f[HTTP_VERSION] = version
            f[names.HTTP_STATUS] = int(status)
            f[names.HTTP_STAGE] = "response"
            return rec
        hit = lifecycle.match_message(msg)
        if hit is not None:
            return lifecycle.to_record(text, self.name, hit, severity=sev, producer=producer, message=msg)
        if strict and len(space) < 2:  # uvicorn pads `INFO:` to 9 columns; `WARNING: Host ...` is rpc-server's
            return None
        return new(text, self.name, kind=kind_for(sev), severity=sev, producer=producer, message=msg)

    def _vllm(self, text: str) -> Record | None:
        m = _VLLM.match(text)
        if m is None:
            return None
        lvl, when, src, msg = m.groups()
        sev = level(lvl)
        hit = lifecycle.match_message(msg)
        if hit is not None:
            rec = lifecycle.to_record(text, self.name, hit, severity=sev, producer="vllm", tag=src, message=msg)
        else:
            rec = new(text, self.name, kind=kind_for(sev), severity=sev, producer="vllm", tag=src, message=msg)
        rec.fields[LOG_TIME] = when
        return rec

    def _sglang(self, text: str) -> Record | None:
        if not text[1:2].isdigit():
            return None
        m = _SGLANG.match(text)
        if m is None:
            return None
        when, rank, msg = m.groups()
        rec = self._uvicorn(msg, "sglang", strict=False) if msg.startswith(_LEVELS) else None
        if rec is None:
            hit = lifecycle.match_message(msg)
            if hit is not None:
                rec = lifecycle.to_record(text, self.name, hit, producer="sglang", message=msg)
            else:
                rec = new(text, self.name, producer="sglang", message=msg)
        rec.text = text
        if rank:
            rec.tag = rank
        rec.fields[LOG_TIME] = when
        if len(when) > 8:
            rec.time_unix = parse_iso(when)
        return rec

    def _kserve(self, text: str) -> Record | None:
        m = _KSERVE.match(text)
        if m is None:
            return None
        when, pid, logger, rest = m.groups()
        rec = self._uvicorn(rest, "kserve", strict=False) if rest.startswith(_LEVELS) else None
        if rec is None:
            rec = new(text, self.name, producer="kserve", message=rest)
        rec.text = text
        rec.tag = logger
        if pid:
            rec.fields[names.PID] = int(pid)
        rec.fields[LOG_TIME] = when
        rec.time_unix = parse_iso(when)
        return rec


UVICORN = Uvicorn()
