"""End to end: `otel-plugins run` on the real llama-server (weights over RPC) exports OTLP to a
gateway Collector (rendered gateway.yaml) in front of a real Jaeger and a real Prometheus,
while an agent Collector (rendered agent.yaml) tails the wrapped server's --log-file.

Probes hit /health and /v1/models every 0.2 s during the load, as GPUStack does; one chat
request and one 404 follow. Then: Jaeger has the instance trace with its load span, the
per-endpoint transfer span and progress events; Prometheus has the load-progress, bytes and
probe-verdict series; the agent delivered the server's lines with the policy applied.

The wrapper runs with `loading_verdict: drop`, so probe 503s during the load never reach the
log file: a 503 of upstream llama-server carries nothing that proves "loading" on its own
line, and the agent would keep it visible at WARN (README, "Where the Collector cannot
match the Python side").

Binaries: scripts/build_collector.sh (otelcol), scripts/build_jaeger.sh (jaeger),
scripts/install_prometheus.sh (prometheus), scripts/build_llama.sh (llama-server, rpc-server).
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
from otel_plugins import names
from otel_plugins.collector import agent_config, gateway_config, to_yaml
from otel_plugins.policy import Policy
from services import Collector, Jaeger, Prometheus, missing_reason

pytestmark = [pytest.mark.collector, pytest.mark.bed]

REPO = Path(__file__).resolve().parent.parent
WRAPPER = [sys.executable, "-m", "otel_plugins"]
SERVICE = "llama-server"
AGENT_SERVICE = "llama-serve-logs"


def need_everything() -> None:
    for name in ("otelcol", "jaeger", "prometheus"):
        reason = missing_reason(name)
        if reason:
            pytest.skip(reason)
    if bed.bin_path("llama-server") is None or bed.bin_path("rpc-server") is None:
        pytest.skip("llama-server/rpc-server not built: run `bash scripts/build_llama.sh`")


class Prober(threading.Thread):
    """GET /health and /v1/models every 0.2 s, like an orchestrator during the load."""

    def __init__(self, base: str, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.base, self.interval = base, interval
        self.stop = threading.Event()
        self.statuses: list[int] = []

    def run(self) -> None:
        while not self.stop.is_set():
            for path in ("/health", "/v1/models"):
                try:
                    self.statuses.append(bed.http_request(self.base + path, timeout=2)[0])
                except OSError:
                    self.statuses.append(0)
            self.stop.wait(self.interval)


def wait_until(predicate, timeout: float, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met after {timeout}s")
        time.sleep(interval)


def records(path: Path) -> list[dict]:
    """Log records of an OTLP JSON lines file, with their resource's service.name."""
    out = []
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        for rl in json.loads(line).get("resourceLogs", []):
            resource = {a["key"]: next(iter(a["value"].values())) for a in rl["resource"].get("attributes", [])}
            for sl in rl["scopeLogs"]:
                for r in sl["logRecords"]:
                    attrs = {a["key"]: next(iter(a["value"].values()), None) for a in r.get("attributes", [])}
                    out.append({"service": resource.get("service.name"), "severity": r.get("severityText"), "body": r["body"].get("stringValue", ""), "attrs": attrs})
    return out


def tags(items: list[dict]) -> dict:
    return {t["key"]: t["value"] for t in items}


def test_wrapper_gateway_agent_jaeger_prometheus(tmp_path, capsys):
    """The whole path: wrapper -> gateway -> Jaeger/Prometheus, server log -> agent -> gateway."""
    need_everything()
    model = bed.ensure_model(1024, 4)
    serve_dir, rpc_dir = tmp_path / "serve", tmp_path / "rpc_server"
    serve_dir.mkdir()
    rpc_dir.mkdir()
    gateway_logs = tmp_path / "gateway-logs.jsonl"
    report: dict = {}
    with Jaeger() as jaeger:
        gateway = Collector(to_yaml(gateway_config(health_check=False)), ports=["grpc", "http", "prom"])
        gateway.extra_env.update(
            OTLP_GRPC_ENDPOINT=f"127.0.0.1:{gateway.ports['grpc']}",
            OTLP_HTTP_ENDPOINT=f"127.0.0.1:{gateway.ports['http']}",
            TRACES_ENDPOINT=jaeger.otlp_grpc_endpoint,
            PROMETHEUS_ENDPOINT=f"127.0.0.1:{gateway.ports['prom']}",
            LOGS_FILE=str(gateway_logs),
        )
        with gateway, Prometheus([f"127.0.0.1:{gateway.ports['prom']}"]) as prom:
            agent_env = {
                "GPUSTACK_SERVE_LOGS": str(serve_dir / "*.log"),
                "GPUSTACK_RPC_SERVER_LOGS": str(rpc_dir / "*.out"),
                "FILELOG_START_AT": "beginning",
                "OTEL_GATEWAY_ENDPOINT": f"127.0.0.1:{gateway.ports['grpc']}",
                "AGENT_COUNT_INTERVAL": "1s",
                "AGENT_STORAGE_DIR": str(tmp_path / "agent-storage"),
            }
            with Collector(to_yaml(agent_config(Policy(), health_check=False)), env=agent_env):
                code, prober = run_wrapped_server(model, serve_dir, rpc_dir, tmp_path, gateway.ports["grpc"])
                report["wrapper_exit"] = code
                # Traces: the instance trace with load, transfer and progress events.
                jaeger.wait_for_traces(SERVICE, timeout=30)
                wanted = {names.SPAN_INSTANCE, names.SPAN_LOAD, names.SPAN_TRANSFER}
                spans = wait_until(lambda: (found := [s for t in jaeger.traces(SERVICE) for s in t["spans"]]) and wanted <= {s["operationName"] for s in found} and found,
                                   30, what="instance, load and transfer spans in Jaeger")
                by_name: dict[str, list[dict]] = {}
                for s in spans:
                    by_name.setdefault(s["operationName"], []).append(s)
                instance, load = by_name[names.SPAN_INSTANCE][0], by_name[names.SPAN_LOAD][0]
                transfer = by_name[names.SPAN_TRANSFER][0]
                assert load["traceID"] == instance["traceID"] == transfer["traceID"]
                assert any(r["spanID"] == instance["spanID"] for r in load["references"])
                assert any(r["spanID"] == load["spanID"] for r in transfer["references"])
                transfer_tags = tags(transfer["tags"])
                assert transfer_tags[names.RPC_ENDPOINT] == prober.endpoint
                assert transfer_tags[names.ATTR_BYTES_TOTAL] > 100 * 1024 * 1024
                events = [tags(log["fields"]) for s in (load, transfer) for log in s["logs"]]
                progress = [e for e in events if e.get("event") == names.EVENT_PROGRESS]
                for key in (names.ATTR_BYTES_DONE, names.ATTR_BYTES_TOTAL, names.ATTR_SOURCE):
                    assert all(key in e for e in progress), (key, progress[0])
                # A heartbeat (no byte counted yet: source buffer or dots, after 10 s of a slow
                # start) has no ratio by design; every event counted from tcp or a percent has one.
                counted = [e for e in progress if e[names.ATTR_SOURCE] in ("tcp", "percent")]
                assert len(counted) >= 3, events[:5]
                assert all(names.ATTR_PROGRESS_RATIO in e for e in counted), counted[0]
                heartbeats = [e for e in progress if e not in counted]
                assert all(e[names.ATTR_SOURCE] in ("buffer", "dots") for e in heartbeats), heartbeats[:3]
                progress = [e for e in progress if names.ATTR_PROGRESS_RATIO in e]
                # Bytes done over bytes total, per progress event (no time in it): reaches 1, starts below.
                done_shares = [e[names.ATTR_PROGRESS_RATIO] for e in progress]
                assert max(done_shares) == 1.0 and min(done_shares) < 1.0
                report["jaeger"] = {
                    "spans": sorted({s["operationName"] for s in spans}),
                    "transfer": {k: transfer_tags.get(k) for k in (names.RPC_ENDPOINT, names.ATTR_BYTES_TOTAL, names.ATTR_BYTES_DONE, names.ATTR_SOURCE)},
                    "progress_events": len(progress),
                    "first_event": progress[0],
                }
                # Metrics: the series names the gateway's prometheus exporter gives them.
                metric_names = wait_until(lambda: prometheus_names(prom, {"llama_probe_responses_total", "llama_load_bytes"}), 60, what="llama_* series in Prometheus")
                report["prometheus_names"] = sorted(metric_names)
                ratio = prom.wait_for(f'llama_load_progress_ratio{{service_name="{SERVICE}"}}', timeout=30)
                assert max(float(r["value"][1]) for r in ratio) == 1.0
                done = prom.wait_for(f'llama_load_bytes{{service_name="{SERVICE}",llama_rpc_endpoint="{prober.endpoint}"}}', timeout=30)
                total = prom.wait_for(f'llama_load_size_bytes{{service_name="{SERVICE}",llama_rpc_endpoint="{prober.endpoint}"}}', timeout=30)
                assert float(done[0]["value"][1]) >= 0.95 * float(total[0]["value"][1]) > 100e6
                probes = prom.wait_for(f'llama_probe_responses_total{{service_name="{SERVICE}"}}', timeout=30)
                verdicts = {series_key(r["metric"]): float(r["value"][1]) for r in probes}
                assert any(k.endswith(" 503 drop") for k in verdicts), verdicts
                report["prometheus"] = {
                    "llama_load_progress_ratio": [(r["metric"].get("llama_rpc_endpoint"), r["value"][1]) for r in ratio],
                    "llama_load_bytes": done[0]["value"][1],
                    "llama_load_size_bytes": total[0]["value"][1],
                    "llama_probe_responses_total": verdicts,
                }
                # The agent's counts of what it saw, through the same gateway.
                agent_probes = prom.wait_for(f'llama_probe_responses_total{{service_name="{AGENT_SERVICE}"}}', timeout=30)
                report["prometheus"]["agent llama_probe_responses_total"] = {
                    series_key(r["metric"]): float(r["value"][1]) for r in agent_probes
                }
                # Logs: the agent's records of the server's lines, via the gateway's file.
                agent_records = wait_until(
                    lambda: [r for r in records(gateway_logs) if r["service"] == AGENT_SERVICE and "/no-such-route" in r["body"]] and records(gateway_logs),
                    60, what="the agent's records at the gateway",
                )
    agent_records = [r for r in agent_records if r["service"] == AGENT_SERVICE]
    missing = [r for r in agent_records if r["attrs"].get(names.URL_PATH) == "/no-such-route"]
    assert missing and all(r["severity"] == "WARN" for r in missing), missing
    chat = [r for r in agent_records if r["attrs"].get(names.URL_PATH) == "/v1/chat/completions"]
    assert chat and all(r["severity"] == "INFO" for r in chat)
    probes = [r for r in agent_records if r["attrs"].get("llama.log.kind") == "probe"]
    assert probes and all(r["severity"] == "DEBUG" for r in probes if r["attrs"].get(names.HTTP_STATUS) == 200)
    loud_503 = [r for r in probes if r["attrs"].get(names.HTTP_STATUS) == 503 and r["severity"] != "DEBUG"]
    assert not loud_503, "probe 503s are downgraded or dropped"
    assert any("RPC[" in r["body"] and "model buffer size" in r["body"] for r in agent_records)
    assert any(r["attrs"].get("log.file.path", "").endswith(".out") for r in agent_records), "the rpc-server's log is tailed too"
    report["agent"] = {
        "records": len(agent_records),
        "probes by (status, severity)": sorted({(r["attrs"].get(names.HTTP_STATUS), r["severity"]) for r in probes}),
        "404": [(r["severity"], r["body"][-60:]) for r in missing],
    }
    report["prober"] = {s: prober.statuses.count(s) for s in set(prober.statuses)}
    with capsys.disabled():
        print("\nE2E " + json.dumps(report, indent=1, default=str))


def series_key(metric: dict) -> str:
    return " ".join(str(metric.get(k)) for k in ("url_path", "http_response_status_code", "llama_policy_verdict"))


def prometheus_names(prom: Prometheus, want: set[str]) -> set[str] | None:
    from services import http_get_json

    found = {n for n in http_get_json(f"{prom.url}/api/v1/label/__name__/values")["data"] if n.startswith("llama_")}
    return found if want <= found else None


def run_wrapped_server(model, serve_dir: Path, rpc_dir: Path, tmp: Path, gateway_grpc: int):
    """rpc-server (in a 200 Mbit/s namespace when allowed, else on 127.0.0.1) and the wrapped
    llama-server exporting OTLP to the gateway; probes during the load, a chat and a 404."""
    port, health_port = bed.free_port(), bed.free_port()
    policy = tmp / "policy.yaml"
    policy.write_text("loading_verdict: drop\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{gateway_grpc}", OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    for key in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_PLUGINS_POLICY"):
        env.pop(key, None)
    available, _why = bed.NetNS.available()
    netns = bed.NetNS(rate="200mbit") if available else None
    wrapper = rpc = None
    prober = Prober(f"http://127.0.0.1:{port}")
    try:
        if netns is not None:
            netns.setup()
        host = netns.ns_ip if netns is not None else "127.0.0.1"
        rpc_port = 50052 if netns is not None else bed.free_port()
        rpc = bed.start_rpc_server(rpc_port, host=host, netns=netns, log_dir=rpc_dir)
        bed.wait_tcp(host, rpc_port, timeout=30, proc=rpc)
        prober.endpoint = f"{host}:{rpc_port}"
        argv = bed.llama_server_argv(model, port, rpc=prober.endpoint)
        command = [*WRAPPER, "run", "--policy", str(policy), "--output-dir", str(tmp / "wrapper-out"), "--log-file", str(serve_dir / "1.log"),
                   "--instance-key", "e2e-1", "--health-port", str(health_port), "--", *map(str, argv)]
        with open(tmp / "wrapper.err", "wb") as err:
            wrapper = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        bed.wait_tcp("127.0.0.1", health_port, timeout=30, proc=wrapper)
        prober.start()
        bed.wait_http(f"http://127.0.0.1:{port}/health", timeout=180, expect=200, proc=wrapper)
        time.sleep(0.5)
        prober.stop.set()
        prober.join(5)
        status, body = bed.http_request(f"http://127.0.0.1:{port}/v1/chat/completions", "POST",
                                        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}, timeout=120)
        assert status == 200, body
        assert bed.http_request(f"http://127.0.0.1:{port}/no-such-route")[0] == 404
        time.sleep(6)  # one more metric export interval of the wrapper
        wrapper.send_signal(signal.SIGTERM)
        code = wrapper.wait(60)
    finally:
        prober.stop.set()
        bed.stop_process(wrapper)
        bed.stop_process(rpc)
        if netns is not None:
            netns.cleanup()
    assert 503 in prober.statuses or 0 in prober.statuses, prober.statuses[:20]
    return code, prober
