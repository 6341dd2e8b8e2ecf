"""A probe storm while the model loads, through the pump alone, with and without its overload check.

    .venv/bin/python bench/probe_storm.py [--mib 64]

One writer fills a pipe as fast as it can with llama-box lines: three `GET /health ... 503`
probes (the loading answer) to one ordinary line. `sources.process.PipePump` reads them into a
`LinePipeline` (no exporter: the pipeline's own cost), first without `quiet`, then with
the pipeline's `quiet_passthrough` check, which sheds the 503s it proves quiet instead of
deciding them (printing them at DEBUG, as deciding them would). Prints the pump's
throughput and what it decided and shed. A figure for people, not CI.
"""

from __future__ import annotations

import argparse
import os
import time

from otel_plugins.pipeline import LinePipeline
from otel_plugins.policy import Policy
from otel_plugins.sources.process import PipePump

PROBE = b"0.01.000.001 I srv  log_server_r: request: GET /health 127.0.0.1 503\n"
OTHER = b"0.01.000.002 I slot      release: id  0 | task 9 | stop processing: n_past = 54\n"


def run(total: int, check: bool) -> str:
    pipeline = LinePipeline(Policy())
    read_end, write_end = os.pipe()
    quiet = (lambda raw: pipeline.quiet_passthrough(raw, time.time())) if check else None
    pump = PipePump(open(read_end, "rb"), pipeline.feed, None, "storm", quiet=quiet)  # noqa: SIM115 - the pump closes it
    block = (PROBE * 3 + OTHER) * 4000
    start, sent = time.monotonic(), 0
    pump.start()
    with open(write_end, "wb", buffering=0) as pipe:
        while sent < total:
            pipe.write(block)
            sent += len(block)
    pump.join()
    wall = time.monotonic() - start
    return (f"overload check {'on ' if check else 'off'}: {sent / wall / 1e6:6.1f} MB/s through the pump,"
            f" decided {pump.lines}, shed {pump.shed_lines}, phase {pipeline.phase.value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=64)
    args = parser.parse_args()
    for check in (False, True):
        print(run(args.mib << 20, check), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
