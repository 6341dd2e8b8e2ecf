"""A lost RPC peer is noticed when it drops, before a client request crashes the instance.

Real llama-server and rpc-server (scripts/build_llama.sh): the model is loaded across the
rpc-server, then the peer is killed, or its link cut inside a network namespace.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bed
import otlp_files
from otel_plugins import names

pytestmark = [
    pytest.mark.bed,
    pytest.mark.skipif(
        bed.bin_path("llama-server") is None or bed.bin_path("rpc-server") is None,
        reason="llama-server/rpc-server not built: run scripts/build_llama.sh",
    ),
]
REPO = Path(__file__).resolve().parent.parent


def wrapped(argv, out_dir: Path, health_port: int, policy: str) -> subprocess.Popen:
    (out_dir / "policy.yaml").write_text(policy)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_EXPORTER_OTLP")}
    env["PYTHONPATH"] = str(REPO)
    command = [
        sys.executable, "-m", "otel_plugins", "run", "--output-dir", str(out_dir), "--log-file", str(out_dir / "server.log"),
        "--health-port", str(health_port), "--policy", str(out_dir / "policy.yaml"), "--", *map(str, argv),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(out_dir / "wrapper.err", "wb"), env=env, start_new_session=True)


def health(port: int) -> tuple[int, dict]:
    try:
        status, body = bed.http_request(f"http://127.0.0.1:{port}/health", timeout=2)
        return status, json.loads(body)
    except (OSError, ValueError):
        return 0, {}


def wait_ready(port: int, proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (answer := health(port))[1].get("status") != "ok":
        assert proc.poll() is None, f"wrapper exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"instance never became ready: /health answers {answer}"
        time.sleep(0.1)


def test_killed_rpc_server_is_reported_within_two_seconds_and_the_crash_is_explained(tmp_path):
    model = bed.ensure_model(256, 2)
    rpc_port, port, health_port = bed.free_port(), bed.free_port(), bed.free_port()
    rpc = bed.start_rpc_server(rpc_port, log_dir=tmp_path)
    bed.wait_tcp("127.0.0.1", rpc_port, proc=rpc)
    endpoint = f"127.0.0.1:{rpc_port}"
    wrapper = wrapped(bed.llama_server_argv(model, port, rpc=endpoint), tmp_path, health_port, "rpc_peer:\n  lost_after_s: 1.5\n")
    try:
        wait_ready(health_port, wrapper)
        time.sleep(0.5)
        os.kill(rpc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        while True:
            status, body = health(health_port)
            if body.get("status") == "degraded":
                detected_after = time.monotonic() - killed_at
                break
            assert time.monotonic() - killed_at < 5, f"still {status} {body} 5 s after the kill"
            time.sleep(0.05)
        print(f"peer loss detected {detected_after:.3f}s after SIGKILL")
        assert detected_after <= 2.0
        assert status == 503 and body == {"status": "degraded", "reason": "rpc_peer_lost", "peer": endpoint}
        metrics = bed.http_request(f"http://127.0.0.1:{health_port}/metrics")[1].decode()
        assert f'llama_rpc_endpoint="{endpoint}"' in metrics
        assert any(line.startswith("llama_rpc_peer_state{") and line.endswith(" 2.0") for line in metrics.splitlines())
        assert any(line.startswith("llama_rpc_peer_losses_total{") and line.endswith(" 1.0") for line in metrics.splitlines())
        # The next client request aborts the server (GGML_ASSERT in ggml-rpc): the wrapper says why.
        try:
            bed.http_request(
                f"http://127.0.0.1:{port}/v1/chat/completions", "POST", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}, timeout=30
            )
        except OSError:
            pass
        code = wrapper.wait(60)
    finally:
        bed.stop_process(wrapper)
        bed.stop_process(rpc)
    assert code == 134, f"llama-server aborts (SIGABRT): wrapper exit {code}"
    spans = otlp_files.spans(tmp_path)
    instance = next(s for s in spans if s["name"] == names.SPAN_INSTANCE)
    lost = [e for e in instance["events"] if e["name"] == names.EVENT_PEER_LOST]
    assert lost and lost[0]["attrs"][names.RPC_ENDPOINT] == endpoint
    assert names.ATTR_PEER_SINCE_ACK in lost[0]["attrs"]
    assert instance["attrs"][names.ATTR_EXIT_CODE] == 134
    assert instance["attrs"][names.ATTR_EXIT_SIGNAL] == "SIGABRT"
    assert instance["status"]["code"] == 2
    cause = instance["attrs"]["llama.exit.cause"]
    assert "GGML_ASSERT" in cause and names.EVENT_PEER_LOST in cause
    records = otlp_files.logs(tmp_path)
    peer_records = [r for r in records if r["event_name"] == names.EVENT_PEER_LOST]
    assert peer_records and peer_records[0]["severity"] == "ERROR"
    crashes = [r for r in records if "exception.stacktrace" in r["attrs"]]
    assert len(crashes) == 1, [r["body"] for r in crashes]
    crash = crashes[0]
    assert crash["severity"] == "ERROR" and "GGML_ASSERT" in crash["body"]
    assert "ggml_abort" in crash["attrs"]["exception.stacktrace"]
    assert "[New LWP" in crash["attrs"]["exception.stacktrace"]
    assert not [r for r in records if str(r["body"]).startswith(("[New LWP", "#1 "))], "backtrace lines are folded into one record"
    # The passthrough keeps every line the server printed.
    assert b"[Inferior 1 (process" in (tmp_path / "server.log").read_bytes()


def test_cut_link_is_degraded_then_lost_then_recovered(tmp_path):
    """The link to the rpc-server is cut for 6 s in the middle of the weight transfer.

    While the instance is sending, the kernel's retransmissions show the cut; a cut while
    the instance only waits for a reply (nothing unacknowledged) is invisible to TCP until
    it sends again (see README, "RPC peer health").
    """
    available, why = bed.NetNS.available()
    if not available:
        pytest.skip(f"network namespaces not permitted here: {why}")
    model = bed.ensure_model(1024, 4)
    port, health_port, rpc_port = bed.free_port(), bed.free_port(), 50052
    lost_after_s = 2.0
    policy = f"rpc_peer:\n  lost_after_s: {lost_after_s}\n  degraded_retrans: 1\n  poll_interval_s: 0.2\n"
    with bed.NetNS(rate="200mbit") as ns:
        rpc = bed.start_rpc_server(rpc_port, host=ns.ns_ip, netns=ns, log_dir=tmp_path)
        bed.wait_tcp(ns.ns_ip, rpc_port, proc=rpc)
        endpoint = f"{ns.ns_ip}:{rpc_port}"
        wrapper = wrapped(bed.llama_server_argv(model, port, rpc=endpoint), tmp_path, health_port, policy)
        try:
            deadline = time.monotonic() + 60
            while (health(health_port)[1].get("progress") or 0) < 0.15:
                assert time.monotonic() < deadline and wrapper.poll() is None, "the transfer never started"
                time.sleep(0.05)
            ns.link_down()
            cut_at = time.time()
            time.sleep(6)
            ns.link_up()
            healed_at = time.time()
            wait_ready(health_port, wrapper, timeout=120)
            ready_at = time.time()
            wrapper.send_signal(signal.SIGTERM)
            wrapper.wait(30)
        finally:
            bed.stop_process(wrapper)
    instance = next(s for s in otlp_files.spans(tmp_path) if s["name"] == names.SPAN_INSTANCE)
    events = [(e["name"], e["time"] / 1e9) for e in instance["events"] if e["name"].startswith("llama.rpc.peer.")]
    print(f"peer events after the cut: {[(n, round(t - cut_at, 2)) for n, t in events]}; ready {ready_at - healed_at:.2f}s after the link came back")
    seen = [n for n, _ in events]
    assert names.EVENT_PEER_LOST in seen and names.EVENT_PEER_RECOVERED in seen, seen
    lost_at = next(t for n, t in events if n == names.EVENT_PEER_LOST)
    recovered_at = next(t for n, t in events if n == names.EVENT_PEER_RECOVERED)
    assert cut_at < lost_at <= cut_at + lost_after_s + 2.0, "lost within lost_after_s, plus one retransmission and one poll"
    assert healed_at < recovered_at <= healed_at + 15
    if names.EVENT_PEER_DEGRADED in seen:
        assert next(t for n, t in events if n == names.EVENT_PEER_DEGRADED) <= lost_at
    records = otlp_files.logs(tmp_path)
    assert any(r["event_name"] == names.EVENT_PEER_LOST and r["severity"] == "ERROR" for r in records)
    assert any(r["event_name"] == names.EVENT_PEER_RECOVERED for r in records)
