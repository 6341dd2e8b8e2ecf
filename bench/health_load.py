"""Load on the health endpoint while the state changes underneath it.

A HealthServer on 127.0.0.1 answers `/health` for a state that is loading, with progress
moved by another thread every `--tick-ms`. Clients hold keep-alive `http.client`
connections and send until `--seconds` or `--requests`, whichever comes first, then the
script prints requests/s and p50/p99/max latency. Clients run as threads in the server's
process (`--mode thread`, they share its GIL), as separate processes (`--mode process`,
what a kubelet or a load balancer looks like), or both; `wrk` runs too when installed.

    .venv/bin/python bench/health_load.py --seconds 5 --mode both
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from otel_plugins.record import Phase  # noqa: E402
from otel_plugins.sinks.health import HealthServer  # noqa: E402
from otel_plugins.state import EndpointProgress, InstanceState  # noqa: E402

TOTAL_BYTES = 8 << 30


def client(port: int, path: str, deadline: float, budget: int) -> tuple[list[int], float]:
    """Sends GETs on one keep-alive connection; returns latencies in ns and the wall time."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    latencies: list[int] = []
    started = time.perf_counter()
    while len(latencies) < budget and time.monotonic() < deadline:
        start = time.perf_counter_ns()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter_ns() - start)
        if response.status not in (200, 503):
            raise RuntimeError(f"unexpected status {response.status}")
    elapsed = time.perf_counter() - started
    conn.close()
    return latencies, elapsed


def _process_client(port: int, path: str, seconds: float, budget: int, out) -> None:
    out.put(client(port, path, time.monotonic() + seconds, budget))


def run_clients(mode: str, port: int, path: str, workers: int, seconds: float, requests: int) -> tuple[list[int], float]:
    budget = max(1, requests // workers)
    if mode == "thread":
        results: list[tuple[list[int], float]] = [([], 0.0)] * workers
        deadline = time.monotonic() + seconds

        def work(i: int) -> None:
            results[i] = client(port, path, deadline, budget)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process running uvicorn threads
        out = ctx.Queue()
        procs = [ctx.Process(target=_process_client, args=(port, path, seconds, budget, out)) for _ in range(workers)]
        for p in procs:
            p.start()
        results = [out.get() for _ in procs]
        for p in procs:
            p.join()
    # Each client's wall time from its first request to its last response (so process
    # start-up is not counted); the slowest one bounds the run.
    latencies = sorted(x for r, _ in results for x in r)
    return latencies, max(elapsed for _, elapsed in results)


def report(label: str, latencies: list[int], elapsed: float) -> None:
    n = len(latencies)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    print(
        f"{label:>8}: {n} requests in {elapsed:.2f}s = {n / elapsed:,.0f} req/s; "
        f"p50 {q[49] / 1e6:.3f} ms, p99 {q[98] / 1e6:.3f} ms, max {latencies[-1] / 1e6:.3f} ms"
    )


def mutate(state: InstanceState, stop: threading.Event, tick_s: float) -> None:
    done, step = 0, TOTAL_BYTES // 10_000
    while not stop.wait(tick_s):
        done = (done + step) % TOTAL_BYTES
        state.set_endpoint(EndpointProgress("10.0.0.2:50052", bytes_total=TOTAL_BYTES, bytes_done=done, source="tcp"))
        state.update(progress=done / TOTAL_BYTES, eta_s=(TOTAL_BYTES - done) / 1e9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2, help="client threads or processes")
    parser.add_argument("--mode", choices=("thread", "process", "both"), default="both")
    parser.add_argument("--tick-ms", type=float, default=5.0, help="how often the progress changes")
    parser.add_argument("--path", default="/health")
    parser.add_argument("--no-wrk", action="store_true")
    args = parser.parse_args()

    state = InstanceState()
    state.update(phase=Phase.LOADING)
    stop = threading.Event()
    mutator = threading.Thread(target=mutate, args=(state, stop, args.tick_ms / 1000), daemon=True)
    mutator.start()
    server = HealthServer(state)
    port = server.start()
    print(f"HealthServer 127.0.0.1:{port} (uvicorn h11, asyncio loop), progress changes every {args.tick_ms} ms")
    try:
        client(port, args.path, time.monotonic() + 0.5, 200)  # warm up
        for mode in ("thread", "process") if args.mode == "both" else (args.mode,):
            latencies, elapsed = run_clients(mode, port, args.path, args.workers, args.seconds, args.requests)
            report(mode, latencies, elapsed)
        wrk = shutil.which("wrk")
        if wrk and not args.no_wrk:
            cmd = [wrk, f"-t{args.workers}", f"-c{args.workers}", f"-d{max(1, round(args.seconds))}s", "--latency",
                   f"http://127.0.0.1:{port}{args.path}"]
            print("$ " + " ".join(cmd))
            print(subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 30).stdout.rstrip())
        elif not args.no_wrk:
            print("wrk: not installed")
    finally:
        stop.set()
        server.stop()


if __name__ == "__main__":
    main()
