"""`otel-plugins run` around llama.cpp as vendored in llama-cpp-python 0.3.36 (late 2026).

Real llama-server-0.3.36 and rpc-server-0.3.36 (ggml-rpc-server) from scripts/build_llama.sh;
the RPC server runs in a network namespace behind a rate-limited veth link, so a load
takes seconds. What is checked:

- at the default verbosity (3), at `-lv 4` and with `--log-jsonl`, the wrapper's /health
  goes loading -> ok with progress and an ETA: readiness from the child's own /health,
  transfer totals from the GGUF where no buffer line is printed;
- the wrapper's own /health polls never show up as probes (on 0.3.8, which logs them);
- the RPC tensor cache (`-c`): a cold then a warm load of the same model, cached bytes
  reported separately, progress closed at 1.0, `estimate --rpc-cache`;
- router mode: the per-model event stream becomes load spans and /health/models/<name>.

How close the ETA comes (a wall-time figure) is measured by bench/cache_eta.py, not here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import bed
import otlp_files
from otel_plugins import names
from otel_plugins.sources.child_health import own_source_address
from otel_plugins.transfer_plan import plan_transfers

pytestmark = [
    pytest.mark.bed,
    pytest.mark.skipif(
        bed.versioned_bin("llama-server", "0.3.36") is None or bed.versioned_bin("rpc-server", "0.3.36") is None,
        reason="llama-server-0.3.36/rpc-server-0.3.36 not built: run scripts/build_llama.sh",
    ),
]
REPO = Path(__file__).resolve().parent.parent
SERVER = bed.versioned_bin("llama-server", "0.3.36")
RPC = bed.versioned_bin("rpc-server", "0.3.36")
RATE = "200mbit"
RPC_PORT = 50052


def needs_netns():
    ok, why = bed.NetNS.available()
    if not ok:
        pytest.skip(f"network namespaces not permitted here: {why}")


class HealthSampler(threading.Thread):
    """Samples the wrapper's /health (and optionally one more path) every 0.2 s."""

    def __init__(self, port: int, paths=("/health",)):
        super().__init__(daemon=True)
        self.urls = {p: f"http://127.0.0.1:{port}{p}" for p in paths}
        self.stop = threading.Event()
        self.seen: dict[str, list[tuple[int, dict]]] = {p: [] for p in paths}

    def run(self):
        while not self.stop.is_set():
            for path, url in self.urls.items():
                try:
                    status, raw = bed.http_request(url, timeout=2)
                    self.seen[path].append((status, json.loads(raw)))
                except (OSError, ValueError):
                    pass
            self.stop.wait(0.2)

    def last(self, path="/health") -> dict:
        return self.seen[path][-1][1] if self.seen[path] else {}


def wrapped(argv, out: Path, health_port: int, extra=(), quiet=False) -> subprocess.Popen:
    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_EXPORTER_OTLP")}
    env["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", "otel_plugins", "run", "--output-dir", str(out), "--log-file", str(out / "server.log"),
               "--health-port", str(health_port), *(["--quiet"] if quiet else []), *extra, "--", *map(str, argv)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(out / "wrapper.err", "wb"), env=env,
                            start_new_session=True)


def server_argv(model, port, endpoint, *extra, binary=SERVER):
    return [binary, "-m", model, "--host", "127.0.0.1", "--port", port, "-c", "256", "-np", "1",
            "--rpc", endpoint, "-ngl", "99", *extra]


def until(predicate, proc, timeout=180.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"wrapper exited with {proc.returncode} before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout}s"
        time.sleep(0.1)


def status_of(url: str) -> int:
    try:
        return bed.http_request(url, timeout=2)[0]
    except OSError:
        return 0


def stop(proc) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(30)
    finally:
        bed.stop_process(proc)


def final_progress(span) -> dict:
    events = [e["attrs"] for e in span["events"] if e["name"] == "llama.load.progress"]
    assert events and events[-1]["llama.load.progress.ratio"] == 1.0, events[-3:]
    return events[-1]


def rpc_server(ns, env=None, cache=False):
    argv = ["stdbuf", "-oL", RPC, "-H", ns.ns_ip, "-p", RPC_PORT, *(["-c"] if cache else [])]
    proc = bed.start_process(argv, "rpc-server", netns=ns, env=env)
    bed.wait_tcp(ns.ns_ip, RPC_PORT, proc=proc)
    return proc, f"{ns.ns_ip}:{RPC_PORT}"


@pytest.mark.parametrize("flags", [(), ("-lv", "4"), ("--log-jsonl",)], ids=["verbosity3", "lv4", "jsonl"])
def test_health_goes_loading_to_ok_with_progress_at_any_verbosity(tmp_path, flags):
    needs_netns()
    model = bed.ensure_model(1024, 4)
    planned = plan_transfers(model, ["x:1"])["x:1"].total_bytes
    port, health_port = bed.free_port(), bed.free_port()
    with bed.NetNS(rate=RATE) as ns:
        _rpc, endpoint = rpc_server(ns)
        wrapper = wrapped(server_argv(model, port, endpoint, *flags), tmp_path, health_port)
        sampler = HealthSampler(health_port)
        sampler.start()
        try:
            until(lambda: sampler.last().get("status") == "ok", wrapper, what="/health ok")
        finally:
            sampler.stop.set()
            sampler.join(5)
            code = stop(wrapper)
    assert code in (0, 134, 143), code
    bodies = [body for _status, body in sampler.seen["/health"]]
    loading = [b for b in bodies if b.get("status") == "loading"]
    progress = [b["progress"] for b in loading if b["progress"] is not None]
    assert len(progress) >= 5, loading
    assert progress == sorted(progress), "progress only rises"
    assert 0 < progress[0] < 0.5 and progress[-1] > 0.8, progress
    assert any(b.get("eta_seconds") for b in loading), "an ETA while loading"
    assert bodies[-1] == {"status": "ok"}

    spans = otlp_files.spans(tmp_path)
    by_name = {s["name"]: s for s in spans}
    transfer, load, instance = by_name[names.SPAN_TRANSFER], by_name[names.SPAN_LOAD], by_name[names.SPAN_INSTANCE]
    assert transfer["parentSpanId"] == load["spanId"]
    assert transfer["attrs"]["llama.load.progress.source"] == "tcp"
    last = final_progress(transfer)
    # with -lv 4 the server's own buffer line (190.54 MiB, rounded) replaces the GGUF's figure
    assert abs(last["llama.load.bytes.total"] - planned) < (1 << 20 if flags == ("-lv", "4") else 1)
    assert not last.get("llama.load.bytes.cached"), "nothing is cached on a server without -c"
    assert any(e["name"] == "llama.ready" for e in instance["events"])
    log = (tmp_path / "server.log").read_text()
    assert "model loaded" in log
    if flags != ("-lv", "4"):
        assert "model buffer size" not in log, "this verbosity prints no buffer line: the totals came from the GGUF"


def test_own_health_polls_never_show_up_as_probes(tmp_path):
    """llama.cpp 0.3.8 logs every request, /health included: ours come from our own address and are dropped."""
    needs_netns()
    server_038, rpc_038 = bed.versioned_bin("llama-server", "0.3.8"), bed.versioned_bin("rpc-server", "0.3.8")
    if server_038 is None or rpc_038 is None:
        pytest.skip("llama-server-0.3.8/rpc-server-0.3.8 not built: run scripts/build_llama.sh")
    model = bed.ensure_model(1024, 4)
    port, health_port = bed.free_port(), bed.free_port()
    with bed.NetNS(rate=RATE) as ns:
        rpc = bed.start_process(["stdbuf", "-oL", rpc_038, "-H", ns.ns_ip, "-p", RPC_PORT], "rpc-server", netns=ns)
        bed.wait_tcp(ns.ns_ip, RPC_PORT, proc=rpc)
        argv = [server_038, "-m", model, "--host", "127.0.0.1", "--port", port, "-c", "256", "-np", "1",
                "--rpc", f"{ns.ns_ip}:{RPC_PORT}", "-ngl", "99", "--log-prefix", "--log-timestamps"]
        wrapper = wrapped(argv, tmp_path, health_port)
        ours = own_source_address("127.0.0.1", wrapper.pid)
        sampler = HealthSampler(health_port)
        sampler.start()
        try:
            until(lambda: sampler.last().get("status") == "ok", wrapper, what="/health ok")
            # an orchestrator's probe from 127.0.0.1 is still a probe
            assert bed.http_request(f"http://127.0.0.1:{port}/health")[0] == 200
            time.sleep(0.5)
        finally:
            sampler.stop.set()
            sampler.join(5)
            stop(wrapper)
    summary = (tmp_path / "wrapper.err").read_text()
    polls = [line for line in summary.splitlines() if "own /health polls dropped" in line]
    assert polls, f"the wrapper polled during the load and dropped its own lines: {summary}"
    assert int(polls[0].rsplit(" ", 1)[1]) >= 1
    passthrough = (tmp_path / "server.log").read_text()
    assert ours not in passthrough
    assert "GET /health 127.0.0.1 200" in passthrough, "the orchestrator's probe passes through"
    records = otlp_files.logs(tmp_path)
    assert not [r for r in records if r["attrs"].get("client.address") == ours]
    assert [r for r in records if r["attrs"].get("llama.log.kind") == "probe" and r["attrs"].get("client.address") == "127.0.0.1"]


def test_same_model_twice_through_the_tensor_cache(tmp_path):
    needs_netns()
    model = bed.ensure_model(2048, 2)  # ffn and output tensors are over 10 MiB: offered by hash
    plan = plan_transfers(model, ["x:1"])["x:1"]
    hashed = plan.hashed
    assert len(hashed) == 7 and sum(t.nbytes for t in hashed) == 317 << 20
    llama_cache = tmp_path / "llama-cache"
    cache_dir = llama_cache / "rpc"
    with bed.NetNS(rate=RATE) as ns:
        rpc, endpoint = rpc_server(ns, env=dict(os.environ, LLAMA_CACHE=str(llama_cache)), cache=True)
        results = {}
        for name, extra in (("cold", ["--rpc-cache", str(cache_dir)]), ("warm", ["--rpc-cache", str(cache_dir)]),
                            ("warm-unknown", [])):
            out, health_port = tmp_path / name, bed.free_port()
            wrapper = wrapped(server_argv(model, bed.free_port(), endpoint), out, health_port, extra, quiet=True)
            sampler = HealthSampler(health_port)
            sampler.start()
            try:
                until(lambda: sampler.last().get("status") == "ok", wrapper, what=f"{name} load ready")
            finally:
                sampler.stop.set()
                sampler.join(5)
                stop(wrapper)
            results[name] = sampler
            if name == "cold":
                saved = bed.read_log(rpc).count("[set_tensor] saved to")
                assert saved == len(hashed), bed.read_log(rpc)[-2000:]
                assert len(list(cache_dir.iterdir())) == len(hashed)
                estimate = subprocess.run(
                    [sys.executable, "-m", "otel_plugins", "estimate", "--model", str(model), "--rpc", endpoint,
                     "--bandwidth", "200Mbit/s", "--rpc-cache", str(cache_dir), "--json"],
                    capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
                assert estimate.returncode == 0, estimate.stderr
                link = json.loads(estimate.stdout)["links"][0]
                assert link["cached_bytes"] == 317 << 20
    for name, sampler in results.items():
        transfer = next(s for s in otlp_files.spans(tmp_path / name) if s["name"] == "llama.rpc.transfer")
        last = final_progress(transfer)
        assert last["llama.load.bytes.total"] == plan.total_bytes
        progress = [b["progress"] for _s, b in sampler.seen["/health"] if b.get("progress") is not None]
        assert progress == sorted(progress), f"{name}: progress only rises"
        if name == "cold":
            assert not last.get("llama.load.bytes.cached"), "a cold load takes nothing from the cache"
        elif name == "warm":
            # the cache directory was given: the plan knew which tensors the server holds
            assert last["llama.load.bytes.cached"] == 317 << 20
            loading = [b for _s, b in sampler.seen["/health"] if b.get("status") == "loading" and b.get("progress")]
            assert any(b["progress"] >= 0.3 and b["eta_seconds"] is not None for b in loading), loading
        else:
            # no cache directory: at completion, what the wire never carried is reported as cached
            assert 0.9 * (317 << 20) <= last["llama.load.bytes.cached"] <= 317 << 20, last


def test_router_streams_each_model_load(tmp_path):
    needs_netns()
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(bed.ensure_model(1024, 4), models / "big.gguf")
    os.symlink(bed.ensure_model(256, 2), models / "tiny.gguf")
    port, health_port = bed.free_port(), bed.free_port()
    with bed.NetNS(rate=RATE) as ns:
        _rpc, endpoint = rpc_server(ns)
        # the router hands its own arguments (--rpc, -ngl) to every model process it starts
        argv = [SERVER, "--models-dir", models, "--host", "127.0.0.1", "--port", port, "-c", "256", "-np", "1",
                "--models-max", "1", "--rpc", endpoint, "-ngl", "99"]
        wrapper = wrapped(argv, tmp_path, health_port)
        sampler = HealthSampler(health_port, ("/health", "/health/models/big"))
        try:
            until(lambda: status_of(f"http://127.0.0.1:{health_port}/health") == 200, wrapper, 60, "router ready")
            assert bed.http_request(f"http://127.0.0.1:{health_port}/health/models/nope")[0] == 404
            time.sleep(1.5)  # the event stream is followed from the router's start
            sampler.start()
            status, raw = bed.http_request(f"http://127.0.0.1:{port}/models/load", "POST", {"model": "big"})
            assert status == 200, raw
            until(lambda: sampler.last("/health/models/big").get("status") == "ok", wrapper, what="model big loaded")
            status, raw = bed.http_request(f"http://127.0.0.1:{port}/v1/chat/completions", "POST",
                                           {"model": "big", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
                                           timeout=120)
            assert status == 200, raw
        finally:
            sampler.stop.set()
            if sampler.is_alive():
                sampler.join(5)
            stop(wrapper)
    answers = sampler.seen["/health/models/big"]
    loading = [b for s, b in answers if s == 503 and b.get("status") == "loading"]
    assert loading, answers
    values = [b["progress"] for b in loading if b["progress"] is not None]
    assert values == sorted(values) and any(0 < v < 1 for v in values), values
    assert any(b["eta_seconds"] is not None for b in loading)
    assert answers[-1] == (200, {"status": "ok"})
    assert all(b.get("status") == "ok" for _s, b in sampler.seen["/health"]), "the router itself stays ok"

    spans = otlp_files.spans(tmp_path)
    instance = next(s for s in spans if s["name"] == "llama.instance")
    loads = [s for s in spans if s["name"] == names.SPAN_LOAD and s["attrs"].get("llama.model.name") == "big"]
    assert len(loads) == 1 and loads[0]["parentSpanId"] == instance["spanId"]
    assert loads[0]["status"].get("code") != 2
    ratios = [e["attrs"]["llama.load.progress.ratio"] for e in loads[0]["events"] if e["name"] == "llama.load.progress"]
    assert ratios == sorted(ratios) and ratios[-1] == 1.0 and any(0 < r < 1 for r in ratios), ratios
