"""Capacity planning for a model load: how long the weights take to reach each RPC server.

llama-box (and llama-server with `--rpc`) pushes each RPC server's share of the weights
over the network before it answers its health check with 200. These pure functions
turn the launch arguments (`--rpc`, `--tensor-split`) plus a model size and the link
bandwidths into an `Estimate`, and the estimate into probe settings that leave a healthy
load alone: the orchestrator's deadline and a Kubernetes `startupProbe`.

The wrapper uses `load_deadline_s(estimate)` as the policy's expected-load deadline; the
command `otel-plugins estimate` prints the same numbers. Bad input raises
`EstimateError` (a `ValueError`) whose one-line message names the bad value.
"""

from __future__ import annotations


import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .argv import LaunchSpec

__all__ = [
    "DEFAULT_PROBE_PERIOD_S",
    "DEFAULT_REDUNDANCY",
    "Estimate",
    "EstimateError",
    "Link",
    "StartupProbe",
    "estimate_load",
    "format_bytes",
    "format_rate",
    "gguf_tensor_bytes",
    "load_deadline_s",
    "parse_bandwidth",
    "parse_cache_dirs",
    "cached_bytes_for",
    "parse_endpoints",
    "parse_size",
    "parse_tensor_split",
    "startup_probe",
]

DEFAULT_REDUNDANCY = 1.3
REDUNDANCY_RANGE = (1.0, 3.0)
DEFAULT_PROBE_PERIOD_S = 10
MIN_DEADLINE_S = 1.0
# Sane ranges: a model up to 1 EiB, a link from 1 bit/s to 1 Pbit/s. Beyond them the
# arithmetic overflows or underflows to an infinite deadline, and no real load is there.
MAX_MODEL_BYTES = 2**60
BANDWIDTH_RANGE = (1 / 8, 1e15 / 8)
# Without --rpc the whole model is budgeted over one link (storage or a network volume).
MODEL_LINK = "model"

SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
}  # fmt: skip
# Bytes per second for one unit; keys are lower case.
BANDWIDTH_UNITS: dict[str, float] = {
    "bit/s": 1 / 8, "kbit/s": 1e3 / 8, "mbit/s": 1e6 / 8, "gbit/s": 1e9 / 8, "tbit/s": 1e12 / 8,
    "bps": 1 / 8, "kbps": 1e3 / 8, "mbps": 1e6 / 8, "gbps": 1e9 / 8, "tbps": 1e12 / 8,
    "b/s": 1.0, "kb/s": 1e3, "mb/s": 1e6, "gb/s": 1e9, "tb/s": 1e12,
    "kib/s": 2.0**10, "mib/s": 2.0**20, "gib/s": 2.0**30, "tib/s": 2.0**40,
}  # fmt: skip
_SIZE_NAMES = "B, KiB, MiB, GiB, TiB, KB, MB, GB, TB"
_BANDWIDTH_NAMES = "bit/s, Kbit/s, Mbit/s, Gbit/s, B/s, KB/s, MB/s, GB/s, MiB/s, GiB/s"
_QUANTITY = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z/]*)\s*$")


class EstimateError(ValueError):
    """Input that cannot describe a load: the message is one line naming the bad value."""


@dataclass(frozen=True, slots=True)
class Link:
    """One RPC endpoint's share of the weights and how long it takes to cross its link."""

    endpoint: str
    share: float  # fraction of the model, 0..1
    bytes: float
    bandwidth: float  # bytes per second
    seconds: float  # transfer time before redundancy
    cached: float = 0.0  # bytes the RPC server holds in its tensor cache: left out of `bytes`


@dataclass(frozen=True, slots=True)
class Estimate:
    """Expected weight transfer of one load. Links transfer in parallel: the slowest bounds it."""

    model_bytes: int
    links: tuple[Link, ...]
    redundancy: float
    split_known: bool  # False: no --tensor-split, every endpoint is budgeted the whole model

    @property
    def transfer_s(self) -> float:
        return max((link.seconds for link in self.links), default=0.0)

    @property
    def expected_s(self) -> float:
        return self.transfer_s * self.redundancy


@dataclass(frozen=True, slots=True)
class StartupProbe:
    """Kubernetes startupProbe fields whose budget (period x threshold) covers the deadline."""

    period_s: int
    failure_threshold: int
    timeout_s: int = 1

    @property
    def budget_s(self) -> int:
        return self.period_s * self.failure_threshold


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _quantity(text: str, what: str, names: str) -> tuple[float, str]:
    match = _QUANTITY.match(text)
    if not match:
        raise EstimateError(f"{what} {text!r} is not a number with a unit ({names})")
    value = float(match.group(1))
    if not math.isfinite(value):
        raise EstimateError(f"{what} {text!r} is not a finite number")
    if not match.group(2):
        raise EstimateError(f"{what} {text!r} has no unit (use one of {names})")
    return value, match.group(2)


def parse_size(text: str) -> int:
    """`'104842.70MiB'` -> bytes. Units B, KiB..TiB (1024) and KB..TB (1000), any case."""
    value, unit = _quantity(text, "--size", _SIZE_NAMES)
    factor = SIZE_UNITS.get(unit.lower())
    if factor is None:
        raise EstimateError(f"--size {text!r}: unknown unit {unit!r} (use one of {_SIZE_NAMES})")
    size = value * factor
    if not size <= MAX_MODEL_BYTES:
        raise EstimateError(f"--size {text!r} is more than 1 EiB")
    if round(size) <= 0:
        raise EstimateError(f"--size {text!r} must be at least 1 byte")
    return round(size)


def parse_bandwidth(text: str) -> float:
    """`'10Gbit/s'` -> bytes per second. Bits: bit/s..Tbit/s (or bps..Tbps); bytes: B/s, KB/s..TB/s, KiB/s..TiB/s.

    A byte unit written with a lower-case `b` (`'10Gb/s'`) is refused as ambiguous.
    """
    value, unit = _quantity(text, "--bandwidth", _BANDWIDTH_NAMES)
    key = unit.lower()
    factor = BANDWIDTH_UNITS.get(key)
    if factor is None:
        raise EstimateError(f"--bandwidth {text!r}: unknown unit {unit!r} (use one of {_BANDWIDTH_NAMES})")
    if key.endswith("b/s") and unit[-3] == "b":
        raise EstimateError(f"--bandwidth {text!r}: ambiguous unit {unit!r} (write bits as Gbit/s, bytes as GB/s)")
    if value <= 0:
        raise EstimateError(f"--bandwidth {text!r} must be greater than 0")
    low, high = BANDWIDTH_RANGE
    if not low <= value * factor <= high:
        raise EstimateError(f"--bandwidth {text!r} is outside 1 bit/s to 1 Pbit/s")
    return value * factor


def parse_tensor_split(text: str) -> tuple[float, ...]:
    """llama-box's `--tensor-split`: shares separated by `,` or `/`, RPC servers first."""
    parts = [p.strip() for p in re.split(r"[,/]", text)]
    shares: list[float] = []
    for part in parts:
        try:
            share = float(part)
        except ValueError:
            raise EstimateError(f"--tensor-split {text!r}: {part!r} is not a number") from None
        if not math.isfinite(share) or share < 0:
            raise EstimateError(f"--tensor-split {text!r}: share {part!r} must be a finite number, 0 or more")
        shares.append(share)
    if sum(shares) <= 0:
        raise EstimateError(f"--tensor-split {text!r}: the shares add up to 0")
    return tuple(shares)


def parse_endpoints(text: str) -> tuple[str, ...]:
    """`--rpc host:port,host:port` (IPv6 as `[::1]:50052`) -> endpoints in order."""
    endpoints: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        host, sep, port = part.rpartition(":")
        if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
            raise EstimateError(f"--rpc endpoint {part!r} is not host:port")
        endpoints.append(part)
    return tuple(endpoints)


def _gguf_file_bytes(path: str) -> int:
    """Bytes of every tensor of one GGUF file, from its header (gguf_header: bounded by the file)."""
    from .gguf_header import GGUFError, read_header

    try:
        return sum(tensor.nbytes for tensor in read_header(path).tensors)
    except FileNotFoundError:
        raise
    except (OSError, GGUFError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EstimateError(f"{path}: not a readable GGUF file ({first})") from None


def gguf_tensor_bytes(path: str | os.PathLike[str]) -> int:
    """Exact bytes of every tensor of a GGUF model, adding all shards of a split model.

    A split model is named `<prefix>-00001-of-0000N.gguf`; any one shard may be given.
    """
    from .gguf_header import shard_paths

    path = os.fspath(path)
    total = 0
    for shard in shard_paths(path):
        if shard != path and not os.path.isfile(shard):
            raise EstimateError(f"{path}: shard {os.path.basename(shard)} of the split model is missing")
        total += _gguf_file_bytes(shard)
    return total


def estimate_load(
    model_bytes: int,
    bandwidths: Sequence[float],
    *,
    endpoints: Sequence[str] = (),
    tensor_split: Sequence[float] | None = None,
    redundancy: float = DEFAULT_REDUNDANCY,
    cached: Mapping[str, float] | None = None,
) -> Estimate:
    """Transfer time per RPC endpoint and for the load.

    `bandwidths` are bytes per second, one for every endpoint in order, or one for all.
    `tensor_split` lists the RPC endpoints' shares first, then local devices' (which
    transfer nothing); shares are proportions of the model (GPUStack passes MiB). Without
    it the split is unknown and each endpoint is budgeted the whole model, an upper
    bound. Without `endpoints` the whole model crosses one link named "model". `cached`
    maps endpoints to bytes their server already holds (`cached_bytes_for_launch`), which
    do not cross the link.
    """
    if model_bytes <= 0:
        raise EstimateError(f"model size {model_bytes} bytes must be greater than 0")
    low, high = REDUNDANCY_RANGE
    if not low <= redundancy <= high:
        raise EstimateError(f"--redundancy {redundancy:g} is outside [{low:.1f}, {high:.1f}] (1.2 to 1.5 is typical)")
    names = tuple(endpoints) or (MODEL_LINK,)
    if not endpoints and tensor_split is not None:
        raise EstimateError(
            "--tensor-split without --rpc: every share is a local device, nothing crosses the network"
        )
    if len(bandwidths) not in (1, len(names)):
        raise EstimateError(
            f"{_count(len(bandwidths), '--bandwidth value')} for {_count(len(names), 'endpoint')}:"
            " give one for all or one per --rpc endpoint, in order"
        )
    for bandwidth in bandwidths:
        if not bandwidth > 0 or not math.isfinite(bandwidth):
            raise EstimateError(f"--bandwidth {bandwidth:g} B/s must be greater than 0")
    if tensor_split is None:
        shares = [1.0] * len(names)
    else:
        if len(tensor_split) < len(names):
            raise EstimateError(
                f"--tensor-split has {_count(len(tensor_split), 'share')} but --rpc names {_count(len(names), 'endpoint')}"
                " (RPC servers' shares come first)"
            )
        if not all(math.isfinite(s) and s >= 0 for s in tensor_split) or not any(tensor_split):
            raise EstimateError(f"--tensor-split {','.join(f'{s:g}' for s in tensor_split)}: shares must be 0 or more, not all 0")
        # Scaled to the largest share first, so that huge shares (1e308,1e308) cannot add up to infinity.
        largest = max(tensor_split)
        scaled = [s / largest for s in tensor_split]
        whole = sum(scaled)
        shares = [s / whole for s in scaled[: len(names)]]
    links = []
    for i, (name, share) in enumerate(zip(names, shares)):
        bandwidth = bandwidths[0] if len(bandwidths) == 1 else bandwidths[i]
        held = min(float((cached or {}).get(name, 0.0)), model_bytes * share)
        size = model_bytes * share - held
        links.append(Link(name, share, size, bandwidth, size / bandwidth, held))
    return Estimate(model_bytes, tuple(links), redundancy, tensor_split is not None)


def load_deadline_s(estimate: Estimate) -> float:
    """The expected-load deadline: transfer time x redundancy, rounded up to a whole second (at least 1)."""
    return max(MIN_DEADLINE_S, float(math.ceil(round(estimate.expected_s, 6))))


def startup_probe(estimate: Estimate, period_s: int = DEFAULT_PROBE_PERIOD_S) -> StartupProbe:
    """A startupProbe whose periodSeconds x failureThreshold is at least the deadline."""
    if period_s <= 0:
        raise EstimateError(f"--probe-period {period_s} must be greater than 0")
    return StartupProbe(period_s, max(1, math.ceil(load_deadline_s(estimate) / period_s)))


def format_bytes(count: float) -> str:
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= factor:
            return f"{count / factor:.2f} {unit}"
    return f"{count:.0f} B"


def format_rate(bytes_per_s: float) -> str:
    bits = bytes_per_s * 8
    for unit, factor in (("Tbit/s", 1e12), ("Gbit/s", 1e9), ("Mbit/s", 1e6), ("Kbit/s", 1e3)):
        if bits >= factor:
            return f"{bits / factor:g} {unit}"
    return f"{bits:g} bit/s"


def parse_cache_dirs(values: Sequence[str]) -> dict[str, str]:
    """`--rpc-cache [HOST:PORT=]DIR` values -> {endpoint or "*": directory}; the directory must exist."""
    dirs: dict[str, str] = {}
    for value in values:
        endpoint, eq, directory = value.rpartition("=")
        key = endpoint if eq else "*"
        if eq:
            parse_endpoints(endpoint)
        if not os.path.isdir(directory):
            raise EstimateError(f"--rpc-cache {value!r}: {directory!r} is not a directory")
        dirs[key] = directory
    return dirs


def cached_bytes_for(
    model: str, endpoints: Sequence[str], tensor_split: Sequence[float] | None, cache_dirs: Mapping[str, str],
    n_gpu_layers: int | None = None,
) -> dict[str, int]:
    """Per endpoint, the bytes of its share that its rpc-server's cache directory holds."""
    from .transfer_plan import PlanError, plan_transfers

    dirs = {ep: cache_dirs.get(ep) or cache_dirs.get("*") for ep in endpoints}
    try:
        plans = plan_transfers(
            model, endpoints, tensor_split=tensor_split, n_gpu_layers=n_gpu_layers,
            cache_dirs={ep: d for ep, d in dirs.items() if d},
        )
    except PlanError as exc:
        raise EstimateError(str(exc)) from None
    return {ep: plan.cached_bytes for ep, plan in plans.items()}


def deadline_for_launch(
    spec: LaunchSpec, bandwidths: Sequence[str], redundancy: float = DEFAULT_REDUNDANCY,
    cache_dirs: Mapping[str, str] | None = None,
) -> float:
    """The expected-load deadline of a launch, from its own --model, --rpc and --tensor-split
    (less what the RPC servers' cache directories already hold)."""
    if not spec.model:
        raise EstimateError("--bandwidth needs the server's --model (-m) to size the transfer")
    split = parse_tensor_split(spec.tensor_split) if spec.tensor_split and spec.rpc_endpoints else None
    cached = None
    if cache_dirs and spec.rpc_endpoints:
        from .child_sources import gpu_layers

        cached = cached_bytes_for(spec.model, spec.rpc_endpoints, split, cache_dirs, gpu_layers(spec.n_gpu_layers))
    estimate = estimate_load(
        gguf_tensor_bytes(spec.model),
        [parse_bandwidth(b) for b in bandwidths],
        endpoints=spec.rpc_endpoints,
        tensor_split=split,
        redundancy=redundancy,
        cached=cached,
    )
    return load_deadline_s(estimate)
