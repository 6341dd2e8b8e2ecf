"""Model loading: buffer sizes, percent lines, progress dots, loading starts (reference section 3).

`load_tensors: RPC[172.17.0.3:50760] model buffer size = 104842.70 MiB` tells how many
bytes are about to cross the network to that RPC server (newer builds: `RPC0[host:port]`,
IPv6 `RPC0[[::1]:50052]`); the percent lines and dots tell how far the load is. Host-memory
buffers (`CPU_Mapped`, `CUDA_Host`) live in system RAM: device "CPU". KV-cache, output and
compute buffers (`llama_kv_cache_init: ... KV buffer size`) are context set-up, not weights,
and stay OTHER.
"""

from __future__ import annotations

from otel_plugins import names
from otel_plugins.record import Event, Kind

from ._common import LOAD_MMAP, MIB_BYTES, TRUE
from .shape import DOTS, INT, LEN, F, Shape

_COMPONENT = r"(?:(?:srv|cmn) +)?"
_TENSORS = _COMPONENT + r"(?P<tag>(?:llm_)?load_tensors):"
_SIZE = r" (?:model )?buffer size = +(?P<mib>\d+(?:\.\d+)?) MiB.*)$"
_BUFFER = (F("buf", names.LOAD_BUFFER), F("mib", names.LOAD_SIZE_BYTES, MIB_BYTES))


def _load(name: str, pattern: str, **kw) -> Shape:
    kw.setdefault("producer", "llama.cpp")
    kw.setdefault("kind", Kind.LOAD)
    return Shape("loading." + name, pattern, "loading", **kw)


LOADING = (
    _load(
        "percent", _COMPONENT + r"(?P<msg>loaded +(?P<pct>\d+)% model tensors into buffer.*)$", kind=Kind.PROGRESS, producer="llama-box",
        message="msg", fields=(F("pct", names.LOAD_PERCENT, INT),), examples=("loaded  36% model tensors into buffer",),
    ),
    _load(
        "rpc_buffer", _TENSORS + r" +(?P<msg>(?P<buf>RPC\d*\[(?P<ep>\[[^\]\s]+\]:\d+|[^\]\s]+)\])" + _SIZE,
        tag_group="tag", message="msg", const=((names.LOAD_DEVICE, "RPC"),), fields=(*_BUFFER, F("ep", names.RPC_ENDPOINT)),
        examples=("load_tensors: RPC[172.17.0.3:50760] model buffer size = 104842.70 MiB", "load_tensors: RPC0[[::1]:50052] model buffer size =   190.54 MiB"),
    ),
    _load(
        "host_buffer", _TENSORS + r" +(?P<msg>(?P<buf>[^\s_]+_(?:Host|Mapped))" + _SIZE,
        tag_group="tag", message="msg", const=((names.LOAD_DEVICE, "CPU"),), fields=_BUFFER,
        examples=("load_tensors:   CPU_Mapped model buffer size =  4685.30 MiB",),
    ),
    _load(
        "buffer", _TENSORS + r" +(?P<msg>(?P<buf>(?P<dev>[^\s_]+)(?:_\S*)?)" + _SIZE,
        tag_group="tag", message="msg", fields=(*_BUFFER, F("dev", names.LOAD_DEVICE)),
        examples=("load_tensors:        Metal model buffer size =  2375.91 MiB",),
    ),
    _load(
        "tensors_start", _TENSORS + r"\s*(?P<msg>loading model tensors, this can take a while\.\.\.(?: \(mmap = (?P<mmap>true|false)\))?.*)$",
        event=Event.LOADING, tag_group="tag", message="msg", fields=(F("mmap", LOAD_MMAP, TRUE),),
        examples=("load_tensors: loading model tensors, this can take a while... (mmap = false)",),
    ),
    _load("tensors", _TENSORS + r"\s*(?P<msg>.*)$", tag_group="tag", message="msg"),
    _load(
        "model", _COMPONENT + r"(?P<tag>main|load_model|load): (?P<msg>loading model(?: '(?P<path>.*)')?\s*)$", event=Event.LOADING,
        tag_group="tag", message="msg", fields=(F("path", names.MODEL_PATH),), examples=("load_model: loading model '/path/x.gguf'",),
    ),
    _load(
        "metal", _COMPONENT + r"ggml_backend_metal_log_allocated_size: (?P<msg>allocated buffer, size = +\d+(?:\.\d+)? MiB.*)$",
        tag="ggml_backend_metal_log_allocated_size", message="msg", const=((names.LOAD_DEVICE, "Metal"),),
    ),
)

# A line of progress dots only (one per percent, `LLAMA_LOG_CONT`, no prefix).
DOTS_ONLY = Shape(
    "loading.dots", r"(?P<dots>\.+)$", "llama.cpp", kind=Kind.PROGRESS, producer="llama.cpp",
    fields=(F("dots", names.LOAD_DOTS, LEN), F("dots", DOTS, LEN)), examples=("..........",),
)

__all__ = ["DOTS_ONLY", "LOADING"]
