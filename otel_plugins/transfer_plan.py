"""Which weights cross the network to each RPC server, read from the GGUF and the launch flags.

Verbosity-proof totals: llama.cpp from late 2025 on prints no `model buffer size` line at
its default verbosity, so the bytes bound for each `--rpc` endpoint are worked out the way
llama.cpp assigns them (`llama_model::load_tensors`):

- the input embedding (`token_embd`) stays on the CPU;
- devices are the RPC servers first, in `--rpc` order (local GPUs, unknown here, follow);
- with `n_gpu_layers` = N (default: all), layers `n_layer + 1 - N` .. `n_layer` are
  offloaded, layer `n_layer` being the output layer (`output`, `output_norm`; a model
  without `output.weight` ties it to `token_embd`, which is then duplicated there);
- an offloaded layer goes to the first device whose cumulative `--tensor-split` share
  exceeds the layer's position; without `--tensor-split` llama.cpp splits by free device
  memory, which only the servers know: a plan is then made for a single device only.

Tensor cache (`ggml-rpc-server -c`): a weight larger than `HASH_THRESHOLD` is offered by
its FNV-1a hash first (`RPC_CMD_SET_TENSOR_HASH`, a few hundred bytes); the server answers
from `<cache dir>/<hash>` when that file exists, and only otherwise receives the data (and
saves it). A tensor counts as cached when a file of the cache directory holds exactly its
bytes: the server names each file after the hash of its content, so equal bytes mean the
server finds it. Content is compared rather than hashed because FNV-1a in Python would
read at a few MB/s; the comparison reads a 64 KiB prefix of each candidate once, then the
tensors whose prefix matched, in full.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .gguf_header import GGUFError, read_header, shard_paths

__all__ = [
    "HASH_THRESHOLD",
    "EndpointPlan",
    "PlanError",
    "PlannedTensor",
    "assign_layers",
    "cached_names",
    "model_tensors",
    "plan_transfers",
]

HASH_THRESHOLD = 10 * 1024 * 1024  # ggml-rpc.cpp: offered by hash when strictly larger
_PREFIX = 64 * 1024
_CHUNK = 8 * 1024 * 1024
_BLOCK = re.compile(r"^blk\.(\d+)\.")


class PlanError(ValueError):
    """A model or flag the plan cannot use; the message is one line naming it."""


@dataclass(frozen=True, slots=True)
class ModelTensor:
    name: str
    nbytes: int
    path: str
    offset: int  # of the data in `path`


@dataclass(frozen=True, slots=True)
class PlannedTensor:
    name: str
    nbytes: int
    hashed: bool  # offered by hash first (larger than HASH_THRESHOLD)
    cached: bool = False  # found in the server's cache directory


@dataclass(frozen=True, slots=True)
class EndpointPlan:
    """The weights one RPC endpoint receives, in llama.cpp's upload order."""

    endpoint: str
    tensors: tuple[PlannedTensor, ...]
    cache_known: bool = False  # a cache directory was given for this endpoint

    @property
    def total_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    @property
    def cached_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors if t.cached)

    @property
    def wire_bytes(self) -> int:
        """Weight bytes that cross the link (the hash messages themselves are left out)."""
        return self.total_bytes - self.cached_bytes

    @property
    def hashed(self) -> tuple[PlannedTensor, ...]:
        return tuple(t for t in self.tensors if t.hashed)


def model_tensors(path: str | os.PathLike[str]) -> tuple[int, list[ModelTensor]]:
    """(block count, tensors in file order) of a GGUF model, every shard of a split one."""
    path = os.fspath(path)
    tensors: list[ModelTensor] = []
    n_layer = None
    for shard in shard_paths(path):
        if not os.path.isfile(shard):
            raise PlanError(f"{path}: shard {os.path.basename(shard)} of the split model is missing")
        try:
            header = read_header(shard)
        except (OSError, GGUFError) as exc:
            raise PlanError(f"{shard}: not a readable GGUF file ({exc})") from None
        meta = header.metadata
        found = [ModelTensor(t.name, t.nbytes, shard, t.offset) for t in header.tensors]
        if n_layer is None:
            count = meta.get(f"{meta.get('general.architecture')}.block_count")
            n_layer = int(count) if isinstance(count, int) else None
        tensors.extend(found)
    if n_layer is None:
        raise PlanError(f"{path}: no block_count in the GGUF metadata")
    return n_layer, tensors


def assign_layers(
    n_layer: int, n_devices: int, tensor_split: Sequence[float] | None = None, n_gpu_layers: int | None = None
) -> list[int | None]:
    """Device index (None: the CPU) of layers 0..n_layer, the last being the output layer."""
    if n_devices <= 0:
        return [None] * (n_layer + 1)
    ngl = n_layer + 1 if n_gpu_layers is None or n_gpu_layers < 0 else n_gpu_layers
    splits = list(tensor_split or ())[:n_devices]
    splits += [0.0] * (n_devices - len(splits))
    if sum(splits) <= 0:
        if n_devices > 1:
            raise PlanError("several devices and no --tensor-split: llama.cpp splits by free device memory")
        splits = [1.0]
    cumulative, running = [], 0.0
    for share in splits:
        running += share
        cumulative.append(running)
    cumulative = [c / running for c in cumulative]
    start = max(n_layer + 1 - ngl, 0)
    active = min(ngl, n_layer + 1)
    out: list[int | None] = []
    for il in range(n_layer + 1):
        if il < start or il - start >= active:
            out.append(None)
        else:
            out.append(min(n_devices - 1, bisect.bisect_right(cumulative, (il - start) / active)))
    return out


def _layer_of(name: str, n_layer: int) -> int | None:
    match = _BLOCK.match(name)
    if match:
        return int(match.group(1))
    if name.startswith(("output.", "output_norm.")):
        return n_layer
    return None  # token_embd and the rest stay with the input (the CPU)


def _upload_order(tensors: list[ModelTensor], n_layer: int) -> list[tuple[ModelTensor, int]]:
    """llama.cpp creates (and so uploads) the output layer's tensors first, then block by block."""
    placed = [(t, layer) for t in tensors if (layer := _layer_of(t.name, n_layer)) is not None]
    if not any(t.name == "output.weight" for t, _ in placed):
        embed = next((t for t in tensors if t.name == "token_embd.weight"), None)
        if embed is not None:  # tied embeddings: the output layer gets a copy
            placed.append((ModelTensor("output.weight", embed.nbytes, embed.path, embed.offset), n_layer))
    return sorted(placed, key=lambda item: (item[1] != n_layer, item[1]))


def plan_transfers(
    model: str | os.PathLike[str],
    endpoints: Sequence[str],
    *,
    tensor_split: Sequence[float] | None = None,
    n_gpu_layers: int | None = None,
    cache_dirs: Mapping[str, str] | None = None,
) -> dict[str, EndpointPlan]:
    """Per `--rpc` endpoint, the weights it receives; `cache_dirs` maps endpoints to cache directories."""
    if not endpoints:
        return {}
    n_layer, tensors = model_tensors(model)
    n_devices = max(len(endpoints), len(tensor_split or ()))
    devices = assign_layers(n_layer, n_devices, tensor_split, n_gpu_layers)
    per_endpoint: dict[str, list[ModelTensor]] = {ep: [] for ep in endpoints}
    for tensor, layer in _upload_order(tensors, n_layer):
        device = devices[layer]
        if device is not None and device < len(endpoints):
            per_endpoint[endpoints[device]].append(tensor)
    plans = {}
    for endpoint, mine in per_endpoint.items():
        cache_dir = (cache_dirs or {}).get(endpoint)
        cached = cached_names([t for t in mine if t.nbytes > HASH_THRESHOLD], cache_dir) if cache_dir else set()
        planned = tuple(PlannedTensor(t.name, t.nbytes, t.nbytes > HASH_THRESHOLD, t.name in cached) for t in mine)
        plans[endpoint] = EndpointPlan(endpoint, planned, cache_dir is not None)
    return plans


def _read(path: str, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def _same(path: str, offset: int, size: int, cache_file: str) -> bool:
    with open(path, "rb") as model, open(cache_file, "rb") as cached:
        model.seek(offset)
        left = size
        while left > 0:
            step = min(_CHUNK, left)
            if model.read(step) != cached.read(step):
                return False
            left -= step
    return True


def cached_names(tensors: Iterable[ModelTensor], cache_dir: str | os.PathLike[str]) -> set[str]:
    """Names of the tensors whose exact bytes are a file of `cache_dir` (an rpc-server's `-c` cache)."""
    wanted = list(tensors)
    sizes = {t.nbytes for t in wanted}
    by_key: dict[tuple[int, bytes], list[str]] = {}
    try:
        entries = list(os.scandir(cache_dir))
    except OSError as exc:
        raise PlanError(f"--rpc-cache {os.fspath(cache_dir)}: {exc.strerror or exc}") from None
    for entry in entries:
        try:
            if not entry.is_file() or entry.stat().st_size not in sizes:
                continue
            key = (entry.stat().st_size, hashlib.blake2b(_read(entry.path, 0, _PREFIX), digest_size=16).digest())
        except OSError:
            continue
        by_key.setdefault(key, []).append(entry.path)
    found = set()
    for tensor in wanted:
        prefix = hashlib.blake2b(_read(tensor.path, tensor.offset, _PREFIX), digest_size=16).digest()
        for candidate in by_key.get((tensor.nbytes, prefix), ()):
            try:
                if _same(tensor.path, tensor.offset, tensor.nbytes, candidate):
                    found.add(tensor.name)
                    break
            except OSError:
                continue
    return found
