"""RPC servers and clients (reference section 5).

- llama-box v1: `srv rpcserver_start: listening hostname = H, port = P, allocatable_mib = A, capacity_mib = C`,
  `cli %25s: ip:port` with `accepted` / `closed`;
- llama-box v2: `srv start: proto vX.Y.Z, listening host = H, port = P, capacity_mib = C`,
  `srv loop: accepted ip:port`, `srv loop: closed ip:port`, `rpc_send_data: interrupted ... retrying...`;
- upstream rpc-server (plain printf): `Starting RPC server v5.1.0`, the `  endpoint       : ...`
  banner, `Accepted client connection[, free_mem=F, total_mem=T]`, `Client connection closed`,
  older `Starting RPC server on 0.0.0.0:50052, backend memory: 7686 MB`;
- ggml-rpc `[func] ...` debug/error lines (`[hello] version: 5.1.0`, `[send_data] ... retrying...`):
  a retry is RPC_RETRY, a failure or disconnection RPC_FAILED at ERROR;
- GPUStack's worker: `Started RPC server for GPU 6 on port 40086, pid 290` (`GPUSTACK` rules).
"""

from __future__ import annotations

import re

from otel_plugins import names
from otel_plugins.record import Event, Kind, Severity

from ._common import ENDPOINT_HOST, GPU_INDEX, HOST, MIB_INT_BYTES, PORT, RPC_CACHE_DIR, RPC_CACHE_FILE, RPC_CAPACITY_BYTES, STRIP, event_map
from .shape import EVENT, INT, MESSAGE, Conv, F, Keyed, Rule, Shape

_PRODUCER = "rpc-server"
_GGML_RPC = "ggml-rpc"  # the library both ends link: `[func] ...` lines and `Failed to connect to`
_BOX = "llama-box"
_PEER = re.compile(r"(?:to|from|with) (\[[0-9a-fA-F:]+\]:\d+|[\w.-]+:\d+)\b")


def _flow(message: str) -> Event | None:
    """Retries and failures on the RPC wire (both ends use the same words)."""
    low = message.lower()
    if "retrying" in low:
        return Event.RPC_RETRY
    if "failed" in low or "disconnected" in low:
        return Event.RPC_FAILED
    return None


def _peer(message: str) -> str | None:
    m = _PEER.search(message)
    return m.group(1) if m is not None else None


FLOW_EVENT = Conv("rpc_flow_event", _flow)
PEER = Conv("rpc_peer", _peer)
_CLIENT_EVENT = event_map({"accepted": Event.RPC_ACCEPTED, "closed": Event.RPC_CLOSED})
_ENDPOINT = (
    F("ep", names.RPC_ENDPOINT), F("ep", names.SERVER_ADDRESS, ENDPOINT_HOST), F("ep", names.SERVER_PORT, PORT),
)
_HOST_ENDPOINT = (
    F(("host", "port"), names.RPC_ENDPOINT, Conv("host:port", ":".join)),
    F("host", names.SERVER_ADDRESS),
    F("port", names.SERVER_PORT, INT),
)
_CLIENT = (F("addr", names.CLIENT_ADDRESS, HOST), F("addr", names.CLIENT_PORT, PORT), F("ev", EVENT, _CLIENT_EVENT))
_BRACKET_TAG = r"\[(?P<tag>~?[a-z_][a-z0-9_]*)\] "


def _rpc(name: str, pattern: str, event: Event | None = None, **kw) -> Shape:
    kw.setdefault("producer", _PRODUCER)
    return Shape("rpc." + name, pattern, "rpc", kind=Kind.RPC, event=event, **kw)


RPC = (
    # llama-box
    _rpc(
        "box.loop_client", r"srv +(?P<tag>loop): (?P<ev>accepted|closed):? (?P<addr>\S+)\s*$",
        producer=_BOX, tag_group="tag", fields=(*_CLIENT, F(("ev", "addr"), MESSAGE, Conv("join", " ".join))),
        examples=("srv loop: accepted 10.0.0.5:40000",),
    ),
    _rpc(
        "box.cli_client", r"cli +(?P<ev>accepted|closed):? (?P<addr>\S+)\s*$",
        producer=_BOX, tag_group="ev", fields=(*_CLIENT, F(("ev", "addr"), MESSAGE, Conv("join", " ".join))),
        examples=("cli                  accepted: 10.0.0.5:40000",),
    ),
    _rpc(
        "box.v1_listening",
        r"srv +(?P<tag>rpcserver_start): (?P<msg>listening hostname = (?P<host>\S+), port = (?P<port>\d+),"
        r" allocatable_mib = (?P<alloc>\d+), capacity_mib = (?P<cap>\d+).*)$",
        Event.RPC_LISTENING, producer=_BOX, tag_group="tag", message="msg",
        fields=(*_HOST_ENDPOINT, F("alloc", names.RPC_MEMORY_BYTES, MIB_INT_BYTES), F("cap", RPC_CAPACITY_BYTES, MIB_INT_BYTES)),
        examples=("srv rpcserver_start: listening hostname = 0.0.0.0, port = 50052, allocatable_mib = 1000, capacity_mib = 2000",),
    ),
    _rpc(
        "box.v2_listening",
        r"srv +(?P<tag>start): (?P<msg>proto v(?P<version>\d+\.\d+\.\d+), listening host = (?P<host>\S+), port = (?P<port>\d+),"
        r" capacity_mib = (?P<cap>\d+).*)$",
        Event.RPC_LISTENING, producer=_BOX, tag_group="tag", message="msg",
        fields=(
            *_HOST_ENDPOINT, F("version", names.RPC_VERSION),
            F("cap", names.RPC_MEMORY_BYTES, MIB_INT_BYTES), F("cap", RPC_CAPACITY_BYTES, MIB_INT_BYTES),
        ),
        examples=("srv start: proto v3.0.0, listening host = 0.0.0.0, port = 50052, capacity_mib = 2000",),
    ),
    # `start: ... stop` is the RPC server's (the main server's `start:` lines are lifecycle's)
    _rpc("box.stopping", r"srv +(?P<tag>rpcserver_start|start): (?P<msg>.*stop.*)$", Event.STOPPING,
         producer=_BOX, tag_group="tag", message="msg", needle="rpc"),
    _rpc("box.loop_stop", r"srv +(?P<tag>loop): (?P<msg>.*stop.*)$", producer=_BOX, tag_group="tag", message="msg", fields=(F("msg", EVENT, FLOW_EVENT),)),
    _rpc(
        "box.rpc_tag", r"srv +(?P<tag>rpcserver_\w+|rpc_\w+): (?P<msg>.*)$", producer=_BOX, tag_group="tag", message="msg",
        fields=(F("msg", EVENT, FLOW_EVENT),), examples=("srv             rpc_send_data: failed to send data, retrying",),
    ),
    _rpc("create_backend", r"(?P<tag>create_backend): (?P<msg>.*)$", tag_group="tag", message="msg"),
    # upstream rpc-server
    _rpc(
        "accepted", r"Accepted client connection(?:, free_mem=(?P<free>\d+), total_mem=(?P<total>\d+))?.*", Event.RPC_ACCEPTED,
        fields=(F("free", names.RPC_MEMORY_BYTES, INT),), examples=("Accepted client connection, free_mem=25276514304, total_mem=25276514304",),
    ),
    _rpc("closed", r"Client connection closed.*", Event.RPC_CLOSED, examples=("Client connection closed",)),
    _rpc("devices", r"(?:Devices:|RDMA ).*"),
    _rpc("warn_host", r"WARNING: Host \('[^']*'\) is != '127\.0\.0\.1'.*", severity=Severity.WARN),
    _rpc(
        "failed_connect", r"Failed to connect to(?: (?P<ep>\S+))?.*", Event.RPC_FAILED, severity=Severity.ERROR, producer=_GGML_RPC,
        fields=(F("ep", names.RPC_ENDPOINT),), examples=("Failed to connect to 10.0.0.2:50052",),
    ),
    _rpc("failed_server", r"Failed to (?:accept client connection|create server socket|create backend).*", Event.RPC_FAILED, severity=Severity.ERROR),
    _rpc(
        "starting", r"Starting RPC server v(?P<version>\d+\.\d+\.\d+).*", Event.RPC_STARTED,
        fields=(F("version", names.RPC_VERSION),), examples=("Starting RPC server v5.1.0",),
    ),
    _rpc(
        "starting_old", r"Starting RPC server on (?P<ep>\S+), backend memory: (?P<mb>\d+) MB.*", Event.RPC_LISTENING,
        fields=(*_ENDPOINT, F("mb", names.RPC_MEMORY_BYTES, MIB_INT_BYTES)),
        examples=("Starting RPC server on 0.0.0.0:50052, backend memory: 7686 MB",),
    ),
    _rpc(
        "banner_endpoint", r"  (?P<msg>endpoint *: \s*(?P<ep>.*?))\s*$", Event.RPC_LISTENING, message="msg",
        fields=_ENDPOINT, examples=("  endpoint       : 0.0.0.0:50052",),
    ),
    _rpc(
        "banner_cache", r"  (?P<msg>local cache *: +(?P<dir>/\S*|[A-Za-z]:\\\S*))\s*$", message="msg", fields=(F("dir", RPC_CACHE_DIR),),
        examples=("  local cache    : /tmp/bed/llama-cache/rpc",),
    ),
    _rpc("banner_memory", r"  (?P<msg>backend memory *: +(?P<mb>\d+) MB)$", message="msg", fields=(F("mb", names.RPC_MEMORY_BYTES, MIB_INT_BYTES),)),
    _rpc("banner", r"  (?P<msg>(?:endpoint|local cache|backend memory|transport|devices?) *: .*?)\s*$", message="msg"),
    _rpc("device", r"  (?P<msg>\w+: .* \(\d+ MiB, \d+ MiB free\))\s*$", message="msg", examples=("  CPU: AMD Ryzen (63676 MiB, 63676 MiB free)",)),
    _rpc(
        "warning_banner",
        r" \s*(?P<msg>Never expose the RPC server to an open network!|This is an experimental feature and is not secure!)\s*$",
        message="msg",
    ),
    # ggml-rpc `[func] message`
    _rpc(
        "bracket_retry", _BRACKET_TAG + r"(?P<msg>(?i:.*retrying).*)$", Event.RPC_RETRY, producer=_GGML_RPC,
        tag_group="tag", message="msg", fields=(F("msg", names.RPC_ENDPOINT, PEER),),
        examples=("[send_data] interrupted: Connection reset by peer, retrying...",),
    ),
    _rpc(
        "bracket_failed", _BRACKET_TAG + r"(?P<msg>(?i:.*(?:failed|disconnected)).*)$", Event.RPC_FAILED, severity=Severity.ERROR,
        producer=_GGML_RPC, tag_group="tag", message="msg", fields=(F("msg", names.RPC_ENDPOINT, PEER),),
        examples=("[recv_msg] failed to recv data from 10.0.0.2:50052",),
    ),
    _rpc(
        "bracket_cache", r"\[(?P<tag>set_tensor)\] (?P<msg>saved to '(?P<file>[^']+)')\s*$", producer=_PRODUCER, tag_group="tag", message="msg",
        fields=(F("file", RPC_CACHE_FILE),), examples=("[set_tensor] saved to '/tmp/bed/llama-cache/rpc/bbc8767303d75fda'",),
    ),
    _rpc(
        "bracket_hello", r"\[(?P<tag>hello)\] (?P<msg>version: (?P<version>.*))$", producer=_GGML_RPC, tag_group="tag", message="msg",
        fields=(F("version", names.RPC_VERSION, STRIP),),
    ),
    _rpc("bracket", _BRACKET_TAG + r"(?P<msg>.*)$", producer=_GGML_RPC, tag_group="tag", message="msg"),
    _rpc("bang", r"!{10,}$"),
    # The client's device list: `llama_prepare_model_devices: using device RPC0 (127.0.0.1:60763) (unknown id) - 24105 MiB free`,
    # `cmn  common_param:   - RPC0    : 127.0.0.1:60763 (24105 MiB, 24105 MiB free)`, older `using device RPC(RPC[host:port])`.
    _rpc(
        "device", r"(?:\w+ +)?(?P<tag>\w+): +(?P<msg>(?:using device RPC\d*\s*\((?:RPC\d*\[(?P<ep>.*?)\]|(?P<ep2>[^)\s]+))\)|- RPC\d* *: (?P<ep3>\S+) \().*)$",
        producer="llama.cpp", tag_group="tag", message="msg", fields=(F("ep", names.RPC_ENDPOINT), F("ep2", names.RPC_ENDPOINT), F("ep3", names.RPC_ENDPOINT)),
        needle="RPC",
        examples=("llama_prepare_model_devices: using device RPC0 (127.0.0.1:47847) (unknown id) - 24105 MiB free",),
    ),
)

# GPUStack's worker lines about the RPC servers it supervises (message rules, keyed by first word).
GPUSTACK = Keyed(
    "rpc.gpustack",
    {
        "Started": (
            Rule(
                "rpc.gpustack.started", r"Started RPC server for GPU (?P<gpu>\d+) on port (?P<port>\d+), pid (?P<pid>\d+)", Event.RPC_STARTED,
                kind=Kind.RPC, fields=(F("gpu", GPU_INDEX, INT), F("port", names.SERVER_PORT, INT), F("pid", names.PID, INT)),
            ),
        ),
        "RPC": (
            Rule(
                "rpc.gpustack.down", r"RPC server for GPU (?P<gpu>\d+) is not running, pid (?P<pid>\d+), restarting", Event.RPC_FAILED,
                kind=Kind.RPC, fields=(F("gpu", GPU_INDEX, INT), F("pid", names.PID, INT)),
            ),
        ),
    },
)

__all__ = ["GPUSTACK", "RPC"]
