"""Every name the project emits is in `otel_plugins/names.py` and in the README's table,
and none sits in a namespace the semantic conventions own.

The names are collected from real telemetry: `otel-plugins replay` of every dialect's
test input, and (on the bed) `otel-plugins run` around llama-server with an rpc-server.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import bed
import otlp_files
from otel_plugins import environment_variables, names

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
REFERENCE = {entry.name for entry in names.REFERENCE}
# Semantic-convention names the project uses (everything else must be under llama.*).
SEMCONV = {
    "service.name", "http.request.method", "url.path", "url.query", "url.full", "http.response.status_code", "http.response.body.size",
    "network.protocol.version", "client.address", "client.port", "server.address", "server.port", "user_agent.original",
    "host.name", "container.name", "process.executable.name", "process.command_args", "process.pid", "process.exit.code",
    "exception.type", "exception.message", "exception.stacktrace", "exception", "log.iostream", "log.file.path", "log.file.name",
}  # fmt: skip
# Vendor span names adopted where the meaning is the same (vllm-project/vllm#31162).
ALIGNED = {names.SPAN_LOAD}
# Emitted by dialects/_common.py, which is not this change's to edit: the rename waits there.
PENDING = {"rpc.capacity_bytes": names.RPC_CAPACITY_BYTES}


def generated(tag: str) -> str:
    begin = re.search(rf"<!-- {tag}:begin[^>]*-->\n", README)
    assert begin, f"README has no {tag}:begin marker"
    return README[begin.end() : README.index(f"<!-- {tag}:end -->")]


def test_readme_names_table_is_names_py():
    assert generated("names") == names.markdown_table(), "run `python -m otel_plugins.names` into the README"


def test_readme_environment_table_is_the_module():
    assert generated("env") == environment_variables.markdown_table(), "run `python -m otel_plugins.environment_variables` into the README"


def test_every_variable_the_code_reads_is_documented():
    """OTEL_PLUGINS_* and OTEL_* names in the package's code are all in environment_variables.REFERENCE."""
    documented = [v.name for _, variables in environment_variables.REFERENCE for v in variables]
    patterns = [re.compile("^" + re.escape(n).replace(re.escape("[{SIGNAL}_]"), "(?:(?:TRACES|METRICS|LOGS)_)?") + "$") for n in documented]
    # The Collector configs' own variables are documented with them (collector-config/README.md).
    code = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "otel_plugins").rglob("*.py") if "collector" not in p.parts)
    used = set(re.findall(r'"(OTEL_[A-Z_]+)"', code)) - {"OTEL_EXPORTER_OTLP_"}
    missing = {name for name in used if not any(p.match(name) for p in patterns)}
    assert not missing, sorted(missing)


def test_names_stay_out_of_reserved_namespaces():
    """The project's names are llama.*; the rest are semantic conventions, never custom names
    inside rpc.*, otel.*, process.*, log.record.* or exception.*."""
    for name in REFERENCE:
        assert name.startswith("llama.") or name in SEMCONV or name in ALIGNED, name
    assert not any(n.startswith(("rpc.", "otel.", "log.record.")) for n in REFERENCE)


def emitted_names(directory: Path) -> dict[str, set[str]]:
    """Span, event, metric and attribute names in the OTLP JSON files of `directory`."""
    found: dict[str, set[str]] = {"span": set(), "event": set(), "metric": set(), "attribute": set()}
    for span in otlp_files.spans(directory):
        found["span"].add(span["name"])
        found["attribute"] |= set(span["attrs"])
        for event in span["events"]:
            found["event"].add(event["name"])
            found["attribute"] |= set(event["attrs"])
    for record in otlp_files.logs(directory):
        found["attribute"] |= set(record["attrs"])
        if record["event_name"]:
            found["event"].add(record["event_name"])
    for metric, points in otlp_files.metric_points(directory).items():
        found["metric"].add(metric)
        for point in points:
            found["attribute"] |= set(point["attrs"])
    return found


def assert_documented(found: dict[str, set[str]]) -> None:
    for kind, seen in found.items():
        unknown = {n for n in seen if n not in REFERENCE and n not in PENDING}
        assert not unknown, f"{kind} names emitted but not in names.REFERENCE / the README: {sorted(unknown)}"


def test_replayed_dialects_emit_only_documented_names(tmp_path):
    """Every dialect's test input through `otel-plugins replay` (all record fields)."""
    log = tmp_path / "all.log"
    log.write_bytes(b"".join(p.read_bytes() for p in sorted((REPO / "tests" / "testdata" / "dialects").glob("*/input.log"))))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-m", "otel_plugins", "replay", "--no-passthrough", "--output-dir", str(tmp_path / "out"), str(log)],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = emitted_names(tmp_path / "out")
    assert len(found["attribute"]) > 30, found
    assert_documented(found)


def test_dialect_field_names_are_names_py():
    from otel_plugins.dialects import _common

    constants = {v for k, v in vars(_common).items() if k.isupper() and isinstance(v, str) and "." in v}
    assert constants <= REFERENCE, sorted(constants - REFERENCE)


@pytest.mark.bed
@pytest.mark.skipif(bed.bin_path("llama-server") is None or bed.bin_path("rpc-server") is None,
                    reason="llama-server/rpc-server not built: run scripts/build_llama.sh")  # fmt: skip
def test_a_wrapped_distributed_load_emits_only_documented_names(tmp_path):
    """llama-server loading over an rpc-server, both under `otel-plugins run`, probed, a chat,
    a 404, then stopped: spans, events, log records and metrics."""
    from test_run_bed import start_wrapped, wait_health

    model = bed.ensure_model(256, 2)
    rpc_port, port, health_port = bed.free_port(), bed.free_port(), bed.free_port()
    rpc_dir, serve_dir = tmp_path / "rpc", tmp_path / "serve"
    rpc_dir.mkdir()
    serve_dir.mkdir()
    rpc = start_wrapped([bed.bin_path("rpc-server"), "-H", "127.0.0.1", "-p", str(rpc_port)], rpc_dir, None, ["--instance-key", "names"], log_name="rpc")
    server = None
    try:
        bed.wait_tcp("127.0.0.1", rpc_port, timeout=30, proc=rpc)
        server = start_wrapped(bed.llama_server_argv(model, port, rpc=f"127.0.0.1:{rpc_port}"), serve_dir, health_port,
                               ["--instance-key", "names", "--load-deadline", "600"])  # fmt: skip
        bed.wait_tcp("127.0.0.1", health_port, timeout=30, proc=server)
        wait_health(f"http://127.0.0.1:{health_port}/health", "ok", 120, server)
        bed.http_request(f"http://127.0.0.1:{port}/v1/chat/completions", "POST", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}, timeout=60)
        bed.http_request(f"http://127.0.0.1:{port}/no-such-route")
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        rpc.send_signal(signal.SIGTERM)
        rpc.wait(30)
    finally:
        bed.stop_process(server)
        bed.stop_process(rpc)
    serve, rpc_found = emitted_names(serve_dir), emitted_names(rpc_dir)
    assert {names.SPAN_INSTANCE, names.SPAN_LOAD, names.SPAN_TRANSFER} <= serve["span"], serve["span"]
    assert names.SPAN_RPC_SERVER in rpc_found["span"]
    assert_documented(serve)
    assert_documented(rpc_found)
