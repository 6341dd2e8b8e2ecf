"""Smoke tests proving the real test bed: model generation, llama-server
lifecycle, and a distributed load over a rate-limited network namespace.

Needs the binaries from scripts/build_llama.sh (else skipped) and the gguf +
numpy packages for model generation (else skipped).
"""
from __future__ import annotations

import pathlib
import re
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bed  # noqa: E402

LLAMA = bed.bin_path("llama-server")
RPC = bed.bin_path("rpc-server")

needs_llama = pytest.mark.skipif(
    LLAMA is None, reason="llama-server not found: run scripts/build_llama.sh or set LLAMA_SERVER_BIN")
needs_rpc = pytest.mark.skipif(
    RPC is None, reason="rpc-server not found: run scripts/build_llama.sh or set RPC_SERVER_BIN")

PROBE_RE = re.compile(r"log_server_r: request: GET /health 127\.0\.0\.1 (\d{3})")
TS_LINE_RE = re.compile(r"^\d+\.\d{2}\.\d{3}\.\d{3} [IWED] ", re.M)


def _model(dim: int, blocks: int) -> pathlib.Path:
    pytest.importorskip("gguf", reason="gguf package needed to generate the test model")
    pytest.importorskip("numpy", reason="numpy needed to generate the test model")
    return bed.ensure_model(dim, blocks)


@pytest.fixture(scope="module")
def small_model() -> pathlib.Path:
    return _model(256, 2)


def test_small_model_generated(small_model):
    assert small_model.is_file()
    size = small_model.stat().st_size
    assert 30e6 < size < 45e6, size
    with open(small_model, "rb") as f:
        assert f.read(4) == b"GGUF"


@needs_llama
def test_llama_server_lifecycle(small_model, tmp_path):
    port = bed.free_port()
    with bed.Processes() as procs:
        srv = procs.add(bed.start_llama_server(small_model, port, log_dir=tmp_path))
        base = f"http://127.0.0.1:{port}"
        seen = bed.wait_http(base + "/health", timeout=60, proc=srv, interval=0.01)
        assert seen[-1] == 200
        assert set(seen) <= {0, 503, 200}, seen

        status, body = bed.http_json(base + "/v1/chat/completions", "POST", {
            "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8})
        assert status == 200, body
        assert isinstance(body["choices"][0]["message"]["content"], str)
        assert body["usage"]["completion_tokens"] > 0

        status, _ = bed.http_request(base + "/no-such-endpoint")
        assert status == 404

        bed.wait_log(srv, r"request: GET /no-such-endpoint 127\.0\.0\.1 404", timeout=5)
        log = bed.read_log(srv, "err")
        assert bed.read_log(srv, "out") == "", "llama-server is expected to log on stderr only"
        assert TS_LINE_RE.search(log), "--log-prefix --log-timestamps format not found"
        assert "main: model loaded" in log
        assert "main: server is listening on http://127.0.0.1:%d" % port in log
        assert "request: POST /v1/chat/completions 127.0.0.1 200" in log
        probes = PROBE_RE.findall(log)
        assert "200" in probes
        if 503 in seen:
            assert "503" in probes

        # This build aborts on SIGTERM once loaded ("terminate called without an
        # active exception", -6); the async logger may drop the last
        # "cleaning up before exit..." line.  It must exit by itself, though.
        rc = bed.stop_process(srv, timeout=10)
        assert rc is not None and rc != -9, rc


@needs_llama
@needs_rpc
def test_distributed_load_over_netns(tmp_path):
    ok, reason = bed.NetNS.available()
    if not ok:
        pytest.skip(reason)
    model = _model(1024, 4)
    with bed.NetNS(rate="200mbit") as ns, bed.Processes() as procs:
        rport = bed.free_port()
        rpc = procs.add(bed.start_rpc_server(rport, host=ns.ns_ip, netns=ns, log_dir=tmp_path))
        bed.wait_tcp(ns.ns_ip, rport, timeout=20, proc=rpc)
        bed.wait_log(rpc, r"Starting RPC server on", timeout=10)

        port = bed.free_port()
        t0 = time.monotonic()
        srv = procs.add(bed.start_llama_server(model, port, rpc=f"{ns.ns_ip}:{rport}",
                                                 log_dir=tmp_path))
        m = bed.wait_log(srv, bed.RPC_BUFFER_RE, timeout=60)
        assert m.group("endpoint") == f"{ns.ns_ip}:{rport}"
        assert float(m.group("mib")) > 150

        seen = bed.wait_http(f"http://127.0.0.1:{port}/health", timeout=180, proc=srv,
                             interval=0.5)
        elapsed = time.monotonic() - t0
        assert seen[-1] == 200
        assert 503 in seen, seen
        # ~190 MiB of weights through a 200 Mbit/s link takes at least ~8 s
        assert elapsed > 5, f"load finished in {elapsed:.1f}s: shaping not applied?"
        log = bed.read_log(srv, "err")
        assert "503" in PROBE_RE.findall(log)
        assert "main: model loaded" in log
        assert "Accepted client connection" in bed.read_log(rpc, "out")

        stats = ns.qdisc_stats()
        sent = int(re.search(r"Sent (\d+) bytes", stats).group(1))
        assert sent > 150 * 2**20, stats
