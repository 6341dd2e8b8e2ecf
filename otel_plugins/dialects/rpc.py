"""RPC servers and clients (reference section 5).

- llama-box v1: `srv rpcserver_start: listening hostname = H, port = P, allocatable_mib = A, capacity_mib = C`,
  `cli %25s: ip:port` with `accepted` / `closed`;
- llama-box v2: `srv start: proto vX.Y.Z, listening host = H, port = P, capacity_mib = C`,
  `srv loop: accepted ip:port`, `srv loop: closed ip:port`, `rpc_send_data: interrupted ... retrying...`;
- upstream rpc-server (plain printf): `Starting RPC server v5.1.0`, the `  endpoint       : ...`
  banner, `Accepted client connection[, free_mem=F, total_mem=T]`, `Client connection closed`,
  older `Starting RPC server on 0.0.0.0:50052, backend memory: 7686 MB`;
- ggml-rpc `[func] ...` debug/error lines (`[hello] version: 5.1.0`, `[send_data] ... retrying...`);
- GPUStack's worker: `Started RPC server for GPU 6 on port 40086, pid 290` (via `match_message`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from otel_plugins import names
from otel_plugins.record import Event, Kind, Record, Severity

from ._common import GPU_INDEX, MIB, RPC_CAPACITY_BYTES, host_port, new

_PRODUCER = "rpc-server"
_GGML_RPC = "ggml-rpc"  # the library both ends link: `[func] ...` lines and `Failed to connect to`
_PEER = re.compile(r"(?:to|from|with) (\[[0-9a-fA-F:]+\]:\d+|[\w.-]+:\d+)\b")

_V1_LISTEN = re.compile(r"srv +rpcserver_start: listening hostname = (\S+), port = (\d+), allocatable_mib = (\d+), capacity_mib = (\d+)")
_V2_LISTEN = re.compile(r"srv +start: proto v(\d+\.\d+\.\d+), listening host = (\S+), port = (\d+), capacity_mib = (\d+)")
_CLIENT = re.compile(r"(?:cli +|srv +loop: )(accepted|closed):? (\S+)\s*\Z")
_SRV_TAG = re.compile(r"srv +(rpcserver_\w+|rpc_\w+|start|loop): (.*)\Z", re.S)
_STARTING = re.compile(r"Starting RPC server (?:v(\d+\.\d+\.\d+)|on (\S+), backend memory: (\d+) MB)")
_BANNER = re.compile(r"  (endpoint|local cache|backend memory|transport|devices?) *: (.*)\Z")
_DEVICE = re.compile(r"  (\w+): (.*) \((\d+) MiB, (\d+) MiB free\)\s*\Z")
_ACCEPTED = re.compile(r"Accepted client connection(?:, free_mem=(\d+), total_mem=(\d+))?")
_BRACKET = re.compile(r"\[(~?[a-z_][a-z0-9_]*)\] (.*)\Z", re.S)
_FAILED_TO = re.compile(r"Failed to (connect to|accept client connection|create server socket|create backend)(?: (\S+))?")
_WARN_HOST = re.compile(r"WARNING: Host \('([^']*)'\) is != '127\.0\.0\.1'")
_BANNER_TEXT = ("Never expose the RPC server to an open network!", "This is an experimental feature and is not secure!")
_GPUSTACK_STARTED = re.compile(r"Started RPC server for GPU (\d+) on port (\d+), pid (\d+)")
_GPUSTACK_DOWN = re.compile(r"RPC server for GPU (\d+) is not running, pid (\d+), restarting")


def _endpoint(fields: dict, endpoint: str) -> None:
    fields[names.RPC_ENDPOINT] = endpoint
    host, port = host_port(endpoint)
    if port is not None:
        fields[names.SERVER_ADDRESS] = host
        fields[names.SERVER_PORT] = port


def _flow_event(message: str) -> Event | None:
    """Retries and failures on the RPC wire (both ends use the same words)."""
    low = message.lower()
    if "retrying" in low:
        return Event.RPC_RETRY
    if "failed" in low or "disconnected" in low:
        return Event.RPC_FAILED
    return None


class Rpc:
    name = "rpc"
    first = "scSACDRWF [!"

    def __call__(self, text: str) -> Record | None:
        handler = self._first.get(text[:1])
        return handler(self, text) if handler is not None else None

    def _rec(self, text: str, message: str, event: Event | None = None, **kw) -> Record:
        kw.setdefault("producer", _PRODUCER)
        return new(text, self.name, kind=Kind.RPC, event=event, message=message, **kw)

    # llama-box: `srv ...` and `cli ...`
    def _box(self, text: str) -> Record | None:
        if "rpc" not in text and " loop: " not in text and "start: proto" not in text and not text.startswith("cli "):
            return None
        m = _CLIENT.match(text)
        if m is not None:
            event = Event.RPC_ACCEPTED if m.group(1) == "accepted" else Event.RPC_CLOSED
            rec = self._rec(text, f"{m.group(1)} {m.group(2)}", event, producer="llama-box", tag="loop" if text.startswith("srv") else m.group(1))
            host, port = host_port(m.group(2))
            rec.fields[names.CLIENT_ADDRESS] = host
            if port is not None:
                rec.fields[names.CLIENT_PORT] = port
            return rec
        m = _V1_LISTEN.match(text)
        if m is not None:
            host, port, alloc, cap = m.groups()
            rec = self._rec(text, text.split(": ", 1)[1], Event.RPC_LISTENING, producer="llama-box", tag="rpcserver_start")
            _endpoint(rec.fields, f"{host}:{port}")
            rec.fields[names.RPC_MEMORY_BYTES] = int(alloc) * MIB
            rec.fields[RPC_CAPACITY_BYTES] = int(cap) * MIB
            return rec
        m = _V2_LISTEN.match(text)
        if m is not None:
            version, host, port, cap = m.groups()
            rec = self._rec(text, text.split(": ", 1)[1], Event.RPC_LISTENING, producer="llama-box", tag="start")
            _endpoint(rec.fields, f"{host}:{port}")
            rec.fields[names.RPC_VERSION] = version
            rec.fields[names.RPC_MEMORY_BYTES] = int(cap) * MIB
            rec.fields[RPC_CAPACITY_BYTES] = int(cap) * MIB
            return rec
        m = _SRV_TAG.match(text)
        if m is None or m.group(1) in ("start", "loop") and "stop" not in m.group(2):
            return None
        tag, body = m.groups()
        event = Event.STOPPING if "stop" in body and tag in ("start", "rpcserver_start") else _flow_event(body)
        return self._rec(text, body, event, producer="llama-box", tag=tag)

    # upstream rpc-server printf lines
    def _starting(self, text: str) -> Record | None:
        m = _STARTING.match(text)
        if m is None:
            return None
        version, endpoint, mem = m.groups()
        if version:
            rec = self._rec(text, text, Event.RPC_STARTED)
            rec.fields[names.RPC_VERSION] = version
            return rec
        rec = self._rec(text, text, Event.RPC_LISTENING)
        _endpoint(rec.fields, endpoint)
        rec.fields[names.RPC_MEMORY_BYTES] = int(mem) * MIB
        return rec

    def _indented(self, text: str) -> Record | None:
        m = _BANNER.match(text)
        if m is not None:
            key, value = m.groups()
            if key == "endpoint":
                rec = self._rec(text, text.strip(), Event.RPC_LISTENING)
                _endpoint(rec.fields, value.strip())
                return rec
            rec = self._rec(text, text.strip())
            if key == "backend memory" and value.endswith(" MB") and value[:-3].strip().isdigit():
                rec.fields[names.RPC_MEMORY_BYTES] = int(value[:-3]) * MIB
            return rec
        m = _DEVICE.match(text)
        if m is not None:
            return self._rec(text, text.strip())
        stripped = text.strip()
        if stripped in _BANNER_TEXT:
            return self._rec(text, stripped)
        return None

    def _upper(self, text: str) -> Record | None:
        if text.startswith("Accepted client connection"):
            m = _ACCEPTED.match(text)
            rec = self._rec(text, text, Event.RPC_ACCEPTED)
            if m is not None and m.group(1):
                rec.fields[names.RPC_MEMORY_BYTES] = int(m.group(1))
            return rec
        if text.startswith("Client connection closed"):
            return self._rec(text, text, Event.RPC_CLOSED)
        if text.startswith("Devices:"):
            return self._rec(text, text)
        if text.startswith("RDMA "):
            return self._rec(text, text)
        if text.startswith("WARNING: Host"):
            m = _WARN_HOST.match(text)
            if m is not None:
                return self._rec(text, text, severity=Severity.WARN)
            return None
        if text.startswith("Failed to "):
            m = _FAILED_TO.match(text)
            if m is None:
                return None
            client_side = m.group(1) == "connect to"
            rec = self._rec(text, text, Event.RPC_FAILED, severity=Severity.ERROR, producer=_GGML_RPC if client_side else _PRODUCER)
            if client_side and m.group(2):
                rec.fields[names.RPC_ENDPOINT] = m.group(2)
            return rec
        if text.startswith("Starting RPC server"):
            return self._starting(text)
        return None

    def _bracket(self, text: str) -> Record | None:
        m = _BRACKET.match(text)
        if m is None:
            return None
        tag, body = m.groups()
        event = _flow_event(body)
        rec = self._rec(text, body, event, tag=tag, producer=_GGML_RPC)
        if tag == "hello" and body.startswith("version: "):
            rec.fields[names.RPC_VERSION] = body[9:].strip()
        if event is not None:
            peer = _PEER.search(body)
            if peer is not None:
                rec.fields[names.RPC_ENDPOINT] = peer.group(1)
            if event is Event.RPC_FAILED:
                rec.severity = Severity.ERROR
        return rec

    def _bang(self, text: str) -> Record | None:
        return self._rec(text, text) if len(text) >= 10 and text.strip("!") == "" else None

    def _create(self, text: str) -> Record | None:
        if text.startswith("create_backend: "):
            return self._rec(text, text[16:], tag="create_backend")
        return self._box(text) if text.startswith("cli ") else None

    _first: dict[str, Callable[[Rpc, str], Record | None]] = {
        "s": _box,
        "c": _create,
        "S": _upper,
        "A": _upper,
        "C": _upper,
        "D": _upper,
        "R": _upper,
        "W": _upper,
        "F": _upper,
        " ": _indented,
        "[": _bracket,
        "!": _bang,
    }


RPC = Rpc()


def match_message(text: str, dialect: str, **kw) -> Record | None:
    """GPUStack's worker lines about the RPC servers it supervises."""
    if "RPC server for GPU" not in text:
        return None
    m = _GPUSTACK_STARTED.match(text)
    if m is not None:
        rec = new(text, dialect, kind=Kind.RPC, event=Event.RPC_STARTED, message=text, **kw)
        rec.fields.update({GPU_INDEX: int(m.group(1)), names.SERVER_PORT: int(m.group(2)), names.PID: int(m.group(3))})
        return rec
    m = _GPUSTACK_DOWN.match(text)
    if m is not None:
        rec = new(text, dialect, kind=Kind.RPC, event=Event.RPC_FAILED, message=text, **kw)
        rec.fields.update({GPU_INDEX: int(m.group(1)), names.PID: int(m.group(2))})
        return rec
    return None
