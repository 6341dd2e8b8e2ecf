"""Zero-code instrumentation: a plain launcher under `opentelemetry-instrument`, and the library launcher."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bed
import otlp_files
from otel_plugins import names

REPO = Path(__file__).resolve().parent.parent
LLAMA_SERVER = bed.bin_path("llama-server")
needs_bed = pytest.mark.skipif(LLAMA_SERVER is None, reason="llama-server not built: run scripts/build_llama.sh")


def instrument_command() -> str:
    found = Path(sys.executable).with_name("opentelemetry-instrument")
    return str(found) if found.exists() else shutil.which("opentelemetry-instrument") or "opentelemetry-instrument"


@needs_bed
@pytest.mark.bed
def test_launcher_under_opentelemetry_instrument(tmp_path):
    """The unmodified launcher's llama-server launch gets an instance trace, log records and metrics."""
    model = bed.ensure_model(256, 2)
    log_file = tmp_path / "serve.log"
    env = dict(
        os.environ,
        OTEL_TRACES_EXPORTER="otel_plugins_json_file",
        OTEL_METRICS_EXPORTER="otel_plugins_json_file",
        OTEL_LOGS_EXPORTER="otel_plugins_json_file",
        OTEL_PLUGINS_OUTPUT_DIR=str(tmp_path / "out"),
        OTEL_SERVICE_NAME="gpustack-worker",
        OTEL_METRIC_EXPORT_INTERVAL="500",
    )
    result = subprocess.run(
        [instrument_command(), sys.executable, str(REPO / "examples" / "zero_code_launcher.py"), str(LLAMA_SERVER), str(model), str(log_file)],
        env=env, capture_output=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert b"chat answered 200" in result.stdout
    spans = otlp_files.spans(tmp_path / "out")
    instance = next(s for s in spans if s["name"] == names.SPAN_INSTANCE)
    assert instance["resource"]["service.name"] == "gpustack-worker"
    assert instance["attrs"]["process.executable.name"] == "llama-server"
    assert any(e["name"] == "llama.ready" for e in instance["events"])
    assert any(s["name"] == names.SPAN_LOAD for s in spans)
    # The launcher's log file still gets the server's output, probes rewritten to D.
    text = log_file.read_bytes()
    assert b"POST /v1/chat/completions 127.0.0.1 200" in text
    assert b"I srv  log_server_r: request: GET /v1/models 127.0.0.1 200" not in text
    records = otlp_files.logs(tmp_path / "out")
    assert any(r["attrs"].get("url.path") == "/v1/chat/completions" for r in records)
    assert "llama.probe.responses" in otlp_files.metric_points(tmp_path / "out")


def test_other_commands_are_not_touched():
    """Only llama executables are instrumented; `echo` keeps its own pipes and output."""
    from otel_plugins.instrumentation import LlamaLaunchInstrumentor

    instrumentor = LlamaLaunchInstrumentor()
    instrumentor.instrument()
    try:
        assert subprocess.Popen.__module__ == "otel_plugins.instrumentation"
        out = subprocess.run(["echo", "hello"], capture_output=True, text=True, check=True).stdout
        assert out == "hello\n"
    finally:
        instrumentor.uninstrument()
    assert subprocess.Popen.__module__ == "subprocess"


@needs_bed
@pytest.mark.bed
def test_library_launcher_example(tmp_path):
    """The library example runs the instance, sees it ready, and stops it."""
    model = bed.ensure_model(256, 2)
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "launcher_library.py"), str(LLAMA_SERVER), str(model)],
        cwd=tmp_path, capture_output=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert b"launcher: phase ready" in result.stderr
    assert any(s["name"] == names.SPAN_INSTANCE for s in otlp_files.spans(tmp_path / "otel-out"))
