"""`otel-plugins estimate`: how long a load's weight transfer takes, and probe settings that wait for it.

    otel-plugins estimate (--model FILE.gguf | --size 104842.70MiB) --bandwidth 10Gbit/s
        [--rpc host:port,host:port [--tensor-split 50000,50000,4000]] [--redundancy 1.3]
        [--probe-period 10] [--json]

`--bandwidth` is repeated once per `--rpc` endpoint in order, or given once for all.
`--json` prints one object:

    model_bytes             exact tensor bytes (--model) or the --size in bytes
    redundancy              the factor applied to the transfer time
    split_known             false without --tensor-split: each endpoint is budgeted the whole model
    links[]                 one per --rpc endpoint (or one named "model" without --rpc):
        endpoint, share (0..1 of the model), bytes (to transfer), cached_bytes (with
        --rpc-cache: held by the server's cache, left out of bytes), bandwidth_bytes_per_s,
        transfer_s (before redundancy), expected_s (with redundancy)
    transfer_s              slowest link's transfer time: links transfer in parallel
    expected_s              transfer_s x redundancy
    deadline_s              orchestrator health-check deadline: expected_s rounded up (integer)
    startup_probe           Kubernetes fields: periodSeconds, failureThreshold, timeoutSeconds
    startup_probe_budget_s  periodSeconds x failureThreshold, always >= deadline_s
"""

from __future__ import annotations

import argparse
import json
import sys

from .. import estimate as est
from .. import extras
from .common import UsageError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "estimate", help="estimate the RPC weight transfer of a load and recommend probe settings",
        description="Capacity planner: the expected weight transfer time per RPC endpoint and in total, and"
        " an orchestrator deadline and Kubernetes startupProbe that will not kill a healthy load.",
    )
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--model", metavar="FILE", help="GGUF model: its exact tensor bytes (all shards of a split model)")
    size.add_argument("--size", metavar="SIZE", help="model size, e.g. 104842.70MiB (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)")
    parser.add_argument("--rpc", metavar="HOST:PORT[,...]", help="RPC servers, as given to llama-box --rpc")
    parser.add_argument(
        "--tensor-split", metavar="SHARES", help="llama-box --tensor-split: RPC servers' shares first, then local devices"
    )
    parser.add_argument(
        "--bandwidth", metavar="RATE", action="append", required=True,
        help="link bandwidth, e.g. 10Gbit/s or 1.2GB/s; repeat per --rpc endpoint in order, or once for all",
    )  # fmt: skip
    parser.add_argument(
        "--redundancy", metavar="FACTOR", default=str(est.DEFAULT_REDUNDANCY),
        help=f"safety factor on the transfer time, 1.0 to 3.0 (default {est.DEFAULT_REDUNDANCY})",
    )  # fmt: skip
    parser.add_argument(
        "--probe-period", metavar="SECONDS", default=str(est.DEFAULT_PROBE_PERIOD_S),
        help=f"startupProbe periodSeconds (default {est.DEFAULT_PROBE_PERIOD_S})",
    )  # fmt: skip
    parser.add_argument(
        "--rpc-cache", metavar="[HOST:PORT=]DIR", action="append", default=[],
        help="an rpc-server's tensor cache directory (its `-c`, $LLAMA_CACHE/rpc): tensors found there do not cross the link",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object (keys: see the module docstring)")
    parser.set_defaults(handler=run)


def _number(option: str, text: str, kind: type = float) -> float:
    try:
        return kind(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not {'an integer' if kind is int else 'a number'}") from None


def build_estimate(args: argparse.Namespace) -> est.Estimate:
    """The estimate the arguments describe; every bad value raises UsageError."""
    try:
        model_bytes = est.gguf_tensor_bytes(args.model) if args.model else est.parse_size(args.size)
        bandwidths = [est.parse_bandwidth(text) for text in args.bandwidth]
        endpoints = est.parse_endpoints(args.rpc) if args.rpc else ()
        split = est.parse_tensor_split(args.tensor_split) if args.tensor_split else None
        redundancy = _number("--redundancy", args.redundancy)
        cached = None
        if args.rpc_cache:
            if not (args.model and endpoints):
                raise UsageError("--rpc-cache needs --model and --rpc (the cache is matched tensor by tensor)")
            cached = est.cached_bytes_for(args.model, endpoints, split, est.parse_cache_dirs(args.rpc_cache))
        return est.estimate_load(
            model_bytes, bandwidths, endpoints=endpoints, tensor_split=split, redundancy=redundancy, cached=cached
        )
    except est.EstimateError as exc:
        raise UsageError(str(exc)) from None


def as_dict(estimate: est.Estimate, probe: est.StartupProbe, cached_known: bool = False) -> dict:
    return {
        "model_bytes": estimate.model_bytes,
        "redundancy": estimate.redundancy,
        "split_known": estimate.split_known,
        "links": [
            {
                "endpoint": link.endpoint,
                "share": round(link.share, 6),
                "bytes": round(link.bytes),
                **({"cached_bytes": round(link.cached)} if cached_known else {}),
                "bandwidth_bytes_per_s": link.bandwidth,
                "transfer_s": round(link.seconds, 3),
                "expected_s": round(link.seconds * estimate.redundancy, 3),
            }
            for link in estimate.links
        ],
        "transfer_s": round(estimate.transfer_s, 3),
        "expected_s": round(estimate.expected_s, 3),
        "deadline_s": int(est.load_deadline_s(estimate)),
        "startup_probe": {
            "periodSeconds": probe.period_s,
            "failureThreshold": probe.failure_threshold,
            "timeoutSeconds": probe.timeout_s,
        },
        "startup_probe_budget_s": probe.budget_s,
    }


def as_table(estimate: est.Estimate, probe: est.StartupProbe) -> str:
    r = estimate.redundancy
    split = "--tensor-split shares (RPC servers first)" if estimate.split_known else (
        "no --tensor-split: each endpoint is budgeted the whole model (upper bound)"
    )  # fmt: skip
    lines = [
        f"model        {est.format_bytes(estimate.model_bytes)} ({estimate.model_bytes:,} bytes)",
        f"split        {split}",
        f"redundancy   x{r:g}",
        "",
        f"{'endpoint':<24} {'share':>6}  {'size':>11}  {'bandwidth':>13}  {'transfer':>10}  {f'x{r:g}':>10}",
    ]
    for link in estimate.links:
        lines.append(
            f"{link.endpoint:<24} {link.share:>6.1%}  {est.format_bytes(link.bytes):>11}  {est.format_rate(link.bandwidth):>13}"
            f"  {link.seconds:>8.2f} s  {link.seconds * r:>8.2f} s"
        )
        if link.cached:
            lines.append(f"{'':<24} {'':>6}  {est.format_bytes(link.cached):>11}  held by the rpc-server's tensor cache")
    deadline = int(est.load_deadline_s(estimate))
    lines += [
        f"{'total (parallel: the slowest link)':<60}  {estimate.transfer_s:>8.2f} s  {estimate.expected_s:>8.2f} s",
        "",
        "recommended probe settings",
        f"  orchestrator health-check deadline  {deadline} s",
        f"  Kubernetes startupProbe             periodSeconds: {probe.period_s}, failureThreshold: {probe.failure_threshold},"
        f" timeoutSeconds: {probe.timeout_s}  ({probe.budget_s} s >= {deadline} s)",
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    if args.model:
        extras.require("gguf", "estimate --model")
    estimate = build_estimate(args)
    period = int(_number("--probe-period", args.probe_period, int))
    try:
        probe = est.startup_probe(estimate, period)
    except est.EstimateError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        sys.stdout.write(json.dumps(as_dict(estimate, probe, bool(args.rpc_cache)), indent=2) + "\n")
    else:
        sys.stdout.write(as_table(estimate, probe))
    return 0
