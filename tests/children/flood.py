"""A server that floods its stdout with llama-box-like log lines as fast as it can.

Environment:
    FLOOD_BYTES   how many bytes to write (default 512 MiB)
    FLOOD_REPORT  a file to write {"wall_s", "bytes", "lines", "cpu_s"} to at the end
    FLOOD_MODE    "format" (default): every line is formatted on its own, with its own
                  uptime stamp, port and cost, as a real server's logger does;
                  "replay": a pre-built 4 MiB block of such lines is written over and over
                  (the fastest a writer can go; no real server logs this way)
    FLOOD_FAILURES  one line in this many (default 1000) is a failure: an `E` line or a
                  uvicorn 500 access line, alternately; the report counts them ("failures")

Lines go through a 64 KiB buffer, as stdio's do into a pipe. About 40 % are probes
(`GET /health ... 503` during a load, `/v1/models`), the rest client traffic, slot,
load and warning lines.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

PROBES = (
    "{t} I srv  log_server_r: request: GET /health 127.0.0.1 503\n",
    "{t} I srv       log_server_response: rid  | GET /v1/models 127.0.0.1:{port} | status 503 | cost {cost}s\n",
    "{t} I srv  log_server_r: request: GET /v1/models 127.0.0.1 200\n",
    "{t} I srv       log_server_response: rid  | GET /health 127.0.0.1:{port} | status 200 | cost 0.{ms:02d}s\n",
)
OTHERS = (
    "{t} I srv       log_server_response: rid 86{port} | POST /v1/chat/completions 10.0.3.7:{port} | status 200 | cost {cost}s\n",
    "{t} I srv        log_server_request: rid 86{port} | POST /v1/chat/completions 10.0.3.7:{port}\n",
    "{t} I slot update_slots: id  0 | task {port} | new prompt, n_ctx_slot = 4096, n_keep = 0, n_prompt_tokens = 29\n",
    "{t} I slot      release: id  0 | task {port} | stop processing: n_past = 54, truncated = 0\n",
    "{t} I loaded  {pct:2d}% model tensors into buffer\n",
    "{t} W llama_init_from_model: n_ctx_per_seq (256) < n_ctx_train (2048) -- the full capacity of the model will not be utilized\n",
    "llama_model_loader: - kv   3:                           general.finetune str              = it\n",
    "{t} I srv  log_server_r: request: POST /v1/completions 10.0.3.7 200\n",
)
FAILURES = (
    "{t} E srv    send_error: task id = {port}, error: the request exceeds the available context size\n",
    'INFO:     10.0.3.7:{port} - "POST /v1/chat/completions HTTP/1.1" 500 Internal Server Error\n',
)
BUFFER = 1 << 16


def lines(rng: random.Random, every: int):
    """An endless stream of formatted lines; the uptime stamp advances 1 µs a line; line n is a failure when n % every == 0."""
    probes, others = PROBES, OTHERS
    n = 0
    while True:
        n += 1
        us = n
        t = f"{us // 60_000_000}.{us // 1_000_000 % 60:02d}.{us // 1000 % 1000:03d}.{us % 1000:03d}"
        if n % every == 0:
            template = FAILURES[n // every % 2]
        else:
            template = probes[n % 4] if rng.random() < 0.4 else others[n % 8]
        yield template.format(t=t, port=30000 + n % 35000, cost=f"{n % 97}.{n % 89:02d}", ms=n % 100, pct=n % 100).encode()


def main() -> int:
    total = int(os.environ.get("FLOOD_BYTES", str(512 << 20)))
    report = os.environ.get("FLOOD_REPORT")
    mode = os.environ.get("FLOOD_MODE", "format")
    every = int(os.environ.get("FLOOD_FAILURES", "1000"))
    rng = random.Random(5)
    out = sys.stdout.fileno()
    written = count = 0
    start, cpu = time.monotonic(), time.process_time()
    stream = lines(rng, every)
    if mode == "replay":
        block, size = [], 0
        while size < 4 << 20:
            line = next(stream)
            block.append(line)
            size += len(line)
        data, block_lines = b"".join(block), len(block)
        view = memoryview(data)
        while written < total:
            chunk = view[: min(len(data), total - written)] if total - written < len(data) else view
            done = 0
            while done < len(chunk):
                done += os.write(out, chunk[done:])
            written += len(chunk)
            if len(chunk) == len(data):
                count += block_lines
            else:  # the last chunk: a line cut at its end is a line too (the reader sees it at EOF)
                tail = bytes(chunk)
                count += tail.count(b"\n") + (not tail.endswith(b"\n"))
    else:
        pending, size = [], 0
        for line in stream:
            pending.append(line)
            size += len(line)
            if size >= BUFFER:
                data = b"".join(pending)
                view, done = memoryview(data), 0
                while done < len(data):
                    done += os.write(out, view[done:])
                written += size
                count += len(pending)
                pending, size = [], 0
                if written >= total:
                    break
    wall = time.monotonic() - start
    if report:
        with open(report, "w") as f:
            failures = count // every if mode == "format" else _failures_replayed(count, block_lines, every) if count else 0
            json.dump({"wall_s": wall, "bytes": written, "lines": count, "cpu_s": time.process_time() - cpu, "mode": mode, "failures": failures}, f)
    return 0


def _failures_replayed(count: int, block_lines: int, every: int) -> int:
    """Failure lines among the first `count` lines of the block written over and over."""
    whole, rest = divmod(count, block_lines)
    return whole * (block_lines // every) + rest // every


if __name__ == "__main__":
    sys.exit(main())
