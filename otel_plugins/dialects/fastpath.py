"""Fast paths for the lines that come in storms: probe and access lines.

Orchestrators probe every few seconds and clients poll; these few shapes are most of a
busy log. Each is matched here by one anchored regex and built straight into the Record
the general dialects would build, skipping the ANSI, envelope and dialect-chain work.
`tests/test_dialects_fastpath.py` holds the two equal on generated lines of every shape;
anything unusual (a query string, IPv6, ANSI, an envelope) falls through to the general path.
"""

from __future__ import annotations

import re

from otel_plugins.record import Kind, Record, Severity

_IPV4 = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"
_PATH = r"/[^\s?\"]*"
_UPTIME = r"(\d+)\.(\d\d)\.(\d{3})\.(\d{3}) I "
# llama.cpp (llama-cpp-python 0.3.8 and 2024-25 builds): `srv  log_server_r: request: GET /health 127.0.0.1 503`
_UPSTREAM = re.compile(_UPTIME + rf"srv  log_server_r: (request: ([A-Z]+) ({_PATH}) ({_IPV4}) (\d{{3}}))\Z")
# llama-box v1: `srv       log_server_response: rid  | GET /v1/models 127.0.0.1:60838 | status 503 | cost 28.33s`
_BOX_V1 = re.compile(
    _UPTIME + rf"srv +log_server_response: (rid (\d*) \| ([A-Z]+) ({_PATH}) ({_IPV4}):(\d+) \| status (\d{{3}}) \| cost (\d+\.\d\d)s)\Z"
)
# uvicorn access: `INFO:     127.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK`
_UVICORN = re.compile(rf"INFO: +(({_IPV4}):(\d+) - \"([A-Z]+) ({_PATH}) HTTP/(\d(?:\.\d)?)\" (\d{{3}}) [A-Za-z][A-Za-z ]*)\Z")


def _uptime(m: re.Match) -> float:
    return ((int(m.group(1)) * 60 + int(m.group(2))) * 1_000_000 + int(m.group(3)) * 1000 + int(m.group(4))) / 1e6


def fast_parse(text: str) -> Record | None:
    """The Record for a hot line, or None when the general path must decide."""
    first = text[:1]
    if first == "I":
        m = _UVICORN.match(text)
        if m is None:
            return None
        _, addr, port, method, path, version, status = m.groups()
        fields = {
            "http.request.method": method,
            "url.path": path,
            "client.address": addr,
            "client.port": int(port),
            "network.protocol.version": version,
            "http.response.status_code": int(status),
            "llama.http.stage": "response",
        }
        return Record(text, "uvicorn", Kind.HTTP, Severity.INFO, None, None, "uvicorn", None, m.group(1), fields)
    if not first.isdigit():
        return None
    if "log_server_r: request" in text:
        m = _UPSTREAM.match(text)
        if m is None:
            return None
        method, path, addr, status = m.group(6, 7, 8, 9)
        fields = {
            "http.request.method": method,
            "url.path": path,
            "client.address": addr,
            "http.response.status_code": int(status),
            "llama.http.stage": "response",
        }
        return Record(text, "llama-server", Kind.HTTP, Severity.INFO, None, _uptime(m), "llama.cpp", "log_server_r", m.group(5), fields)
    if "log_server_response" in text:
        m = _BOX_V1.match(text)
        if m is None:
            return None
        rid, method, path, addr, port, status, cost = m.group(6, 7, 8, 9, 10, 11, 12)
        fields = {
            "llama.request.id": rid,
            "http.request.method": method,
            "url.path": path,
            "client.address": addr,
            "client.port": int(port),
            "llama.http.stage": "response",
            "http.response.status_code": int(status),
            "llama.request.cost_s": float(cost),
        }
        return Record(
            text, "llama-box", Kind.HTTP, Severity.INFO, None, _uptime(m), "llama-box", "log_server_response", m.group(5), fields
        )
    return None
