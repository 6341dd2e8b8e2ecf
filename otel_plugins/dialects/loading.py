"""Model loading: buffer sizes, percent lines, progress dots, loading starts (reference section 3).

`load_tensors: RPC[172.17.0.3:50760] model buffer size = 104842.70 MiB` tells how many
bytes are about to cross the network to that RPC server; the percent lines and dots tell
how far the load is. KV-cache, output and compute buffers (`llama_kv_cache_init: ...
KV buffer size`) are context set-up, not weights, and stay OTHER.
"""

from __future__ import annotations

import re

from otel_plugins import names
from otel_plugins.record import Event, Kind, Record

from ._common import LOAD_MMAP, MIB, new

_LOAD_TAGS = ("load_tensors", "llm_load_tensors")
_COMPONENT = re.compile(r"(?:srv|cmn) +")
_BUFFER = re.compile(r"(?P<tag>(?:llm_)?load_tensors): +(?P<buf>\S+) (?:model )?buffer size = +(?P<mib>\d+(?:\.\d+)?) MiB")
_LOAD_LINE = re.compile(r"(?P<tag>(?:llm_)?load_tensors): ?(?P<body>.*)\Z", re.S)
_MMAP = re.compile(r"loading model tensors, this can take a while\.\.\.(?: \(mmap = (?P<mmap>true|false)\))?")
_PERCENT = re.compile(r"loaded +(?P<pct>\d+)% model tensors into buffer")
_MODEL = re.compile(r"(?P<tag>main|load_model|load): loading model(?: '(?P<path>.*)')?\s*\Z")
_METAL = re.compile(r"ggml_backend_metal_log_allocated_size: (?P<body>allocated buffer, size = +(?P<mib>\d+(?:\.\d+)?) MiB.*)")
_RPC_BUF = re.compile(r"RPC\d*\[(?P<ep>[^\]]+)\]\Z")


def buffer_device(buf: str) -> tuple[str, str | None]:
    """`RPC0[10.0.0.2:50052]` -> ("RPC", "10.0.0.2:50052"); `CUDA0` -> ("CUDA0", None).

    Host-memory buffers (`CPU_Mapped`, `CUDA_Host`) live in system RAM: device "CPU".
    """
    m = _RPC_BUF.match(buf)
    if m is not None:
        return "RPC", m.group("ep")
    base, _, suffix = buf.partition("_")
    return ("CPU" if suffix in ("Host", "Mapped") else base), None


def dots_record(text: str, count: int) -> Record:
    """A line made only of progress dots (one per percent, `LLAMA_LOG_CONT`, no prefix)."""
    rec = new(text, "llama.cpp", kind=Kind.PROGRESS, producer="llama.cpp", message=text, leading_dots=count)
    rec.fields[names.LOAD_DOTS] = count
    return rec


class Loading:
    name = "loading"
    first = "lmscg"

    def __call__(self, text: str) -> Record | None:
        if "load" not in text and "allocated buffer" not in text:
            return None
        body = text
        if body[:1] in "sc":  # `srv    load_model: ...`, `cmn ...`
            m = _COMPONENT.match(body)
            if m is not None:
                body = body[m.end() :]
        first = body[:1]
        if first == "l":
            if body.startswith("loaded "):
                m = _PERCENT.match(body)
                if m is not None:
                    rec = new(text, self.name, kind=Kind.PROGRESS, producer="llama-box", message=body)
                    rec.fields[names.LOAD_PERCENT] = int(m.group("pct"))
                    return rec
                return None
            if body.startswith("load"):
                return self._tensors(text, body) or self._model(text, body)
            if body.startswith("llm_load_tensors"):
                return self._tensors(text, body)
            return None
        if first == "m":
            return self._model(text, body)
        if first == "g":
            m = _METAL.match(body)
            if m is not None:
                rec = new(text, self.name, kind=Kind.LOAD, producer="llama.cpp", tag="ggml_backend_metal_log_allocated_size", message=m.group("body"))
                rec.fields[names.LOAD_DEVICE] = "Metal"
                return rec
        return None

    def _tensors(self, text: str, body: str) -> Record | None:
        m = _BUFFER.match(body)
        if m is not None:
            buf = m.group("buf")
            device, endpoint = buffer_device(buf)
            rec = new(text, self.name, kind=Kind.LOAD, producer="llama.cpp", tag=m.group("tag"), message=body[len(m.group("tag")) + 1 :].lstrip())
            f = rec.fields
            f[names.LOAD_BUFFER] = buf
            f[names.LOAD_DEVICE] = device
            if endpoint is not None:
                f[names.RPC_ENDPOINT] = endpoint
            f[names.LOAD_SIZE_BYTES] = round(float(m.group("mib")) * MIB)
            return rec
        m = _LOAD_LINE.match(body)
        if m is None:
            return None
        msg = m.group("body").lstrip()
        rec = new(text, self.name, kind=Kind.LOAD, producer="llama.cpp", tag=m.group("tag"), message=msg)
        mm = _MMAP.match(msg)
        if mm is not None:
            rec.event = Event.LOADING
            if mm.group("mmap"):
                rec.fields[LOAD_MMAP] = mm.group("mmap") == "true"
        return rec

    def _model(self, text: str, body: str) -> Record | None:
        m = _MODEL.match(body)
        if m is None:
            return None
        tag = m.group("tag")
        rec = new(text, self.name, kind=Kind.LOAD, event=Event.LOADING, producer="llama.cpp", tag=tag, message=body[len(tag) + 2 :])
        if m.group("path"):
            rec.fields[names.MODEL_PATH] = m.group("path")
        return rec


LOADING = Loading()
