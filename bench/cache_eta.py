"""Cold and warm loads through the RPC tensor cache, and how good the ETA was.

    .venv/bin/python bench/cache_eta.py [--dim 2048] [--blocks 2] [--rate 200mbit] [--no-cache-dir | --plain] [--check]

The same random-weight model (scripts/make_model.py) is loaded twice by the real
llama-server 0.3.36 into a real `ggml-rpc-server -c` inside a network namespace whose link
is shaped to `--rate`, each load under `otel-plugins run --rpc-cache <its cache dir>`
(unless `--no-cache-dir`). The wrapper's /health is sampled every 0.1 s. Printed per load:
load time (the wrapper's llama.load span), transfer window (first progress > 0 to 1.0, the
end taken at the middle of the sampling interval in which progress reached 1.0),
cached bytes, and the ETA error at a quarter of the transfer window: |eta - actual
remaining| / actual remaining at the first sample after 25 % of the window.
`--check` exits 1 when an error exceeds 15 %. Needs root (namespaces) and the 0.3.36 bed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import bed  # noqa: E402
import otlp_files  # noqa: E402

from otel_plugins import names  # noqa: E402

VERSION = "0.3.36"
VERBOSE = False


def sample(url: str, stop: threading.Event, out: list, interval: float = 0.1) -> None:
    start = time.monotonic()
    while not stop.is_set():
        try:
            _status, raw = bed.http_request(url, timeout=2)
            out.append((time.monotonic() - start, json.loads(raw)))
        except (OSError, ValueError):
            out.append((time.monotonic() - start, {}))
        stop.wait(interval)


def one_load(model: Path, endpoint: str, out: Path, cache_dir: str | None) -> dict:
    out.mkdir(parents=True)
    port, health_port = bed.free_port(), bed.free_port()
    server = bed.versioned_bin("llama-server", VERSION)
    argv = [server, "-m", model, "--host", "127.0.0.1", "--port", port, "-c", "256", "-np", "1",
            "--rpc", endpoint, "-ngl", "99"]
    command = [sys.executable, "-m", "otel_plugins", "run", "--output-dir", str(out), "--log-file", str(out / "server.log"),
               "--health-port", str(health_port), "--quiet"]
    if cache_dir:
        command += ["--rpc-cache", cache_dir]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_EXPORTER_OTLP")}
    env["PYTHONPATH"] = str(REPO)
    wrapper = subprocess.Popen([*command, "--", *map(str, argv)], stdout=subprocess.DEVNULL,
                               stderr=open(out / "wrapper.err", "wb"), env=env, start_new_session=True)
    samples: list = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(f"http://127.0.0.1:{health_port}/health", stop, samples), daemon=True)
    sampler.start()
    try:
        deadline = time.monotonic() + 300
        while not (samples and samples[-1][1].get("status") == "ok"):
            if wrapper.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"load did not become ready ({out}/wrapper.err)")
            time.sleep(0.1)
    finally:
        stop.set()
        sampler.join(5)
        wrapper.send_signal(signal.SIGTERM)
        try:
            wrapper.wait(30)
        except subprocess.TimeoutExpired:
            wrapper.kill()
    return summarize(samples, out)


def summarize(samples: list, out: Path) -> dict:
    spans = {s["name"]: s for s in otlp_files.spans(out)}
    load = spans[names.SPAN_LOAD]
    load_s = (int(load["endTimeUnixNano"]) - int(load["startTimeUnixNano"])) / 1e9
    transfer = spans.get(names.SPAN_TRANSFER, {"events": []})
    finals = [e["attrs"] for e in transfer["events"] if e["attrs"].get(names.ATTR_PROGRESS_RATIO) == 1.0]
    cached = finals[-1].get(names.ATTR_BYTES_CACHED, 0) if finals else 0
    total = finals[-1].get(names.ATTR_BYTES_TOTAL) if finals else None
    moving = [(t, b) for t, b in samples if (b.get("progress") or 0) > 0 or b.get("status") == "ok"]
    start = moving[0][0] if moving else None
    done_at = next((i for i, (t, b) in enumerate(moving) if b.get("status") == "ok" or (b.get("progress") or 0) >= 1.0), None)
    # the transfer ended within the sampling interval in which progress reached 1.0: its midpoint
    end = None if done_at is None else (moving[done_at][0] + moving[max(0, done_at - 1)][0]) / 2
    error = eta = remaining = None
    if start is not None and end is not None and end > start:
        quarter = start + 0.25 * (end - start)
        at = next(((t, b) for t, b in moving if t >= quarter and b.get("status") == "loading"), None)
        if at is not None and at[1].get("eta_seconds") is not None:
            eta, remaining = at[1]["eta_seconds"], end - at[0]
            error = abs(eta - remaining) / remaining if remaining > 0 else None
    if VERBOSE:
        for t, b in samples:
            print(f"  {out.name} {t:6.2f} {b}")
    return {"load_s": load_s, "window_s": None if start is None or end is None else end - start,
            "total": total, "cached": cached, "eta_at_quarter": eta, "remaining_at_quarter": remaining, "error": error}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--rate", default="200mbit")
    parser.add_argument("--no-cache-dir", action="store_true", help="run without --rpc-cache (the wrapper learns nothing up front)")
    parser.add_argument("--plain", action="store_true", help="rpc-server without -c: both loads cross the link whole")
    parser.add_argument("--check", action="store_true", help="exit 1 if an ETA error at 25 %% exceeds 15 %%")
    parser.add_argument("--samples", action="store_true", help="print every /health sample")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.samples
    if bed.versioned_bin("rpc-server", VERSION) is None:
        sys.exit("cache_eta: rpc-server-0.3.36 not built; run scripts/build_llama.sh")
    ok, why = bed.NetNS.available()
    if not ok:
        sys.exit(f"cache_eta: {why}")
    model = bed.ensure_model(args.dim, args.blocks)
    work = Path(tempfile.mkdtemp(prefix="cache-eta-"))
    results = {}
    try:
        with bed.NetNS(rate=args.rate) as ns:
            llama_cache = work / "llama-cache"
            cache_flag = [] if args.plain else ["-c"]
            rpc = bed.start_process(["stdbuf", "-oL", bed.versioned_bin("rpc-server", VERSION), "-H", ns.ns_ip, "-p", "50052", *cache_flag],
                                    "rpc-server", netns=ns, env=dict(os.environ, LLAMA_CACHE=str(llama_cache)))
            bed.wait_tcp(ns.ns_ip, 50052, proc=rpc)
            cache_dir = None if args.no_cache_dir or args.plain else str(llama_cache / "rpc")
            for name in ("cold", "warm"):
                results[name] = one_load(model, f"{ns.ns_ip}:50052", work / name, cache_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"model {model.name}, link {args.rate}, rpc-server {'without' if args.plain else 'with'} -c,"
          f" --rpc-cache {'no' if args.no_cache_dir or args.plain else 'yes'}")
    print(f"{'load':<6}{'load s':>8}{'window s':>10}{'MiB':>8}{'cached MiB':>12}{'eta@25%':>9}{'actual':>8}{'error':>8}")
    worst = 0.0
    for name, r in results.items():
        fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
        print(f"{name:<6}{r['load_s']:>8.2f}{fmt(r['window_s'], '.2f'):>10}{fmt(r['total'] and r['total'] / 2**20, '.1f'):>8}"
              f"{r['cached'] / 2**20:>12.1f}{fmt(r['eta_at_quarter'], '.2f'):>9}{fmt(r['remaining_at_quarter'], '.2f'):>8}"
              f"{fmt(r['error'] and 100 * r['error'], '.1f'):>7}%")
        worst = max(worst, r["error"] if r["error"] is not None else float("inf"))
    if args.check and worst > 0.15:
        print(f"cache_eta: ETA error {worst:.0%} at a quarter of a load exceeds 15 %", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
