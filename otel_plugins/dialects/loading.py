"""Model loading: buffer sizes, percent lines, progress dots, loading starts (reference section 3).

`load_tensors: RPC[172.17.0.3:50760] model buffer size = 104842.70 MiB` tells how many
bytes are about to cross the network to that RPC server (newer builds: `RPC0[host:port]`,
IPv6 `RPC0[[::1]:50052]`); the percent lines and dots tell how far the load is. Host-memory
buffers (`CPU_Mapped`, `CUDA_Host`) live in system RAM: device "CPU". KV-cache, output and
compute buffers (`llama_kv_cache_init: ... KV buffer size`) are context set-up, not weights:
OTHER, or LOAD without a size where they name an RPC server (its endpoint).
"""

from __future__ import annotations

from otel_plugins import names
from otel_plugins.record import Event, Kind

from ._common import LOAD_MMAP, MIB_BYTES, TRUE
from .shape import DOTS, INT, LEN, Conv, F, Shape

_COMPONENT = r"(?:(?:srv|cmn) +)?"
_TENSORS = _COMPONENT + r"(?P<tag>(?:llm_)?load_tensors):"
_SIZE = r" (?:model )?buffer size = +(?P<mib>\d+(?:\.\d+)?) MiB.*)$"
_BUFFER = (F("buf", names.LOAD_BUFFER), F("mib", names.LOAD_SIZE_BYTES, MIB_BYTES))
_PERCENT_OF_ONE = Conv("percent_of_one", lambda s: min(100, int(float(s) * 100)))


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
    # Newer builds: `load_hparams: model size: ...`, `srv    load_model: loaded multimodal model, '...'`,
    # and the memory breakdown row of an RPC device.
    _load("hparams", _COMPONENT + r"(?P<tag>load_hparams): (?P<msg>.*)$", tag_group="tag", message="msg"),
    _load("loaded_part", _COMPONENT + r"(?P<tag>load_model): (?P<msg>loaded .*)$", tag_group="tag", message="msg"),
    _load(
        "memory_breakdown", _COMPONENT + r"(?P<tag>common_memory_breakdown_print): (?P<msg>\|\s+- RPC\d* \((?P<ep>[^)\s]+)\) \|.*)$",
        tag_group="tag", message="msg", fields=(F("ep", names.RPC_ENDPOINT),),
    ),
    # llama-server's router mode: a child's load progress (`value` 0..1).
    _load(
        "router_child", r"(?P<tag>cmd_child_to_router):state:(?P<msg>\{\"state\":\"loading\".*?\"value\":(?P<value>\d+(?:\.\d+)?).*)$",
        kind=Kind.PROGRESS, tag_group="tag", message="msg", fields=(F("value", names.LOAD_PERCENT, _PERCENT_OF_ONE),),
        examples=('cmd_child_to_router:state:{"state":"loading","payload":{"stages":["text_model"],"current":"text_model","value":0.1797194480895996}}',),
    ),
    _load(
        "metal", _COMPONENT + r"ggml_backend_metal_log_allocated_size: (?P<msg>allocated buffer, size = +\d+(?:\.\d+)? MiB.*)$",
        tag="ggml_backend_metal_log_allocated_size", message="msg", const=((names.LOAD_DEVICE, "Metal"),),
    ),
    # A context buffer on an RPC server (KV cache, compute): where, not how many weights.
    _load(
        "rpc_context_buffer", _COMPONENT + r"(?P<tag>\w+): +(?P<msg>(?P<buf>RPC\d*\[(?P<ep>\[[^\]\s]+\]:\d+|[^\]\s]+)\]) (?:KV|compute|output|RS) buffer size = .*)$",
        tag_group="tag", message="msg", const=((names.LOAD_DEVICE, "RPC"),), fields=(F("buf", names.LOAD_BUFFER), F("ep", names.RPC_ENDPOINT)),
        needle=" buffer size = ", examples=("llama_kv_cache: RPC0[127.0.0.1:60763] KV buffer size =     0.50 MiB",),
    ),
)

# A text progress bar with a count (KoboldCpp, and any `|====>   | 1934/2985` printer): how far, not how much.
PROGRESS_BAR = Shape(
    "loading.bar", r" *\|[=#>. -]*\| *\d+/\d+\b.*", "loading", kind=Kind.PROGRESS,
    examples=("  |================================>                 | 1934/2985 - 0.00MB/s",),
)

# A line of progress dots only (one per percent, `LLAMA_LOG_CONT`, no prefix).
DOTS_ONLY = Shape(
    "loading.dots", r"(?P<dots>\.+)$", "llama.cpp", kind=Kind.PROGRESS, producer="llama.cpp",
    fields=(F("dots", names.LOAD_DOTS, LEN), F("dots", DOTS, LEN)), examples=("..........",),
)

__all__ = ["DOTS_ONLY", "LOADING", "PROGRESS_BAR"]
