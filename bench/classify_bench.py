"""Classify throughput on one core, and full OTLP log emission, for 1M-line mixes built
from real line shapes (probe storms during loads, client traffic, load and RPC lines).

    .venv/bin/python bench/classify_bench.py [--lines 1000000] [--emit-lines 200000]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

from otel_plugins.classify import Classifier

PROBES = [
    "{t} I srv       log_server_response: rid  | GET /v1/models 127.0.0.1:{port} | status 503 | cost {cost:.2f}s",
    "{t} I srv  log_server_r: request: GET /health 127.0.0.1 503",
    "{t} I srv  log_server_r: request: GET /v1/models 127.0.0.1 503",
    "INFO:     127.0.0.1:{port} - \"GET /health HTTP/1.1\" 200 OK",
    "[2025-05-01 10:00:{s:02d}.123{ms:03d}] I srv                  response: rid 7{port} | GET /health 127.0.0.1:{port} | status 200 | cost 0.{ms:02d}ms | closed",
]
OTHERS = [
    "{t} I srv       log_server_response: rid 86{port} | POST /v1/chat/completions 10.0.3.7:{port} | status 200 | cost 4.75s",
    "{t} I srv        log_server_request: rid 86{port} | POST /v1/chat/completions 10.0.3.7:{port}",
    "INFO:     10.101.56.92:{port} - \"POST /v1/chat/completions HTTP/1.1\" 200 OK",
    "{t} I load_tensors: RPC[172.17.0.3:50760] model buffer size = 104842.70 MiB",
    "{t} I loaded  {pct:2d}% model tensors into buffer",
    "{t} I slot update_slots: id  0 | task 12 | new prompt, n_ctx_slot = 4096, n_keep = 0, n_prompt_tokens = 29",
    "{t} W llama_init_from_model: n_ctx_per_seq (256) < n_ctx_train (2048) -- the full capacity of the model will not be utilized",
    "Accepted client connection, free_mem=25276514304, total_mem=25276514304",
    "llama_model_loader: - kv   3:                           general.finetune str              = it",
    "2025-07-29 11:46:15.369416+00:00 - gpustack.worker.worker_manager - INFO - Started RPC server for GPU 6 on port 40086, pid 290",
]


def build(lines: int, probe_share: float, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(lines):
        minutes, rest = divmod(i // 20, 60)
        template = rng.choice(PROBES) if rng.random() < probe_share else rng.choice(OTHERS)
        text = template.format(
            t=f"{minutes}.{rest:02d}.{rng.randrange(1000):03d}.{rng.randrange(1000):03d}",
            port=rng.randrange(30000, 65000), cost=rng.random() * 1e6, s=rest % 60, ms=rng.randrange(100), pct=i % 100,
        )
        out.append(text.encode() + b"\n")
    return out


def classify_rate(lines: list[bytes]) -> float:
    classifier = Classifier()
    classify = classifier.classify_bytes
    start = time.process_time()
    for raw in lines:
        classify(raw)
    return len(lines) / (time.process_time() - start)


def emit_rate(lines: list[bytes], directory: Path) -> tuple[float, int]:
    from otel_plugins.emit.logs import LogEmitter
    from otel_plugins.sinks.telemetry import setup_telemetry

    telemetry = setup_telemetry("bench", directory, environ={})
    emitter = LogEmitter(telemetry)
    classifier = Classifier()
    start = time.perf_counter()
    for raw in lines:
        emitter.emit(classifier.classify_bytes(raw))
    telemetry.shutdown()
    elapsed = time.perf_counter() - start
    return len(lines) / elapsed, telemetry.stats.exported["logs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--emit-lines", type=int, default=200_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    for name, share in (("probe-heavy (80% probes)", 0.8), ("mixed (20% probes)", 0.2)):
        lines = build(args.lines, share)
        rate = classify_rate(lines)
        print(f"classify {name}: {rate:,.0f} lines/s, {1e6 / rate:.2f} µs/line over {len(lines):,} lines (CPU time, one core)")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        lines = build(args.emit_lines, 0.5)
        rate, exported = emit_rate(lines, Path(tmp))
        print(f"classify + OTLP log emission (batch processor, OTLP JSON file): {rate:,.0f} lines/s wall, {exported:,} records exported of {len(lines):,}")


if __name__ == "__main__":
    main()
