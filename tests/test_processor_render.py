"""`otel-plugins collector render --mode agent-processor`: the committed agent-processor.yaml is what
the renderer makes, it validates with the real Collector (DNS and static replicas), and its
shape keeps a stream together and nothing lost (the routing key is the stream's resource)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from processor_bed import CLI, python_env

from otel_plugins.collector import find_otelcol, validate_text
from otel_plugins.collector.agent_processor import EXPORTER, STORAGE, agent_processor_config, render_agent_processor

REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "collector-config" / "agent-processor.yaml"
ENV = {"AGENT_HOST_NAME": "node-1", "AGENT_STORAGE_DIR": "/tmp/otel-plugins-validate-storage"}


def render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "collector", "render", *args], env=python_env(), capture_output=True, text=True, timeout=60)


def test_committed_file_is_what_render_produces(tmp_path):
    """collector-config/agent-processor.yaml is the CLI's rendering, byte for byte."""
    done = render("--mode", "agent-processor", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "agent-processor.yaml").read_text() == COMMITTED.read_text() == render_agent_processor(
        source="--mode agent-processor (the policy is the processor's, not in this file)"
    )


def test_the_stream_is_the_resource_and_routing_key():
    """The file path moves to the resource beside host.name, and load_balancing routes by resource."""
    config = agent_processor_config()
    operators = config["receivers"]["file_log/llama"]["operators"]
    assert {"type": "move", "id": "stream_file", "from": 'attributes["log.file.path"]', "to": 'resource["log.file.path"]'} in operators
    assert any(op["type"] == "add" and op["field"] == 'resource["host.name"]' for op in operators)
    exporter = config["exporters"][EXPORTER]
    assert exporter["routing_key"] == "resource"
    queue = exporter["sending_queue"]
    assert queue["storage"] == STORAGE and queue["num_consumers"] == 1 and queue["block_on_overflow"] is True
    assert exporter["retry_on_failure"]["max_elapsed_time"] == "0s"
    assert exporter["protocol"]["otlp"]["sending_queue"] == {"enabled": False}
    assert config["receivers"]["file_log/llama"]["storage"] == STORAGE


@pytest.mark.collector
@pytest.mark.parametrize("processors", [None, ["10.0.0.1:4317", "10.0.0.2:4317"]], ids=["dns", "static"])
def test_rendered_agent_validates(processors):
    """`otelcol validate` accepts the agent with the DNS resolver and with a static list."""
    binary = find_otelcol()
    if binary is None:
        pytest.skip("otelcol not found at .testbed/bin/otelcol; run `bash scripts/build_collector.sh`")
    result = validate_text(render_agent_processor(processors), binary, ENV)
    assert result.ok, result.output


def test_static_replicas_from_the_cli():
    """--processors renders a static resolver with those endpoints."""
    done = subprocess.run([*CLI, "collector", "render", "--mode", "agent-processor", "--processors", "a:4317, b:4317", "--stdout", "agent"],
                          env=python_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    resolver = yaml.safe_load(done.stdout)["exporters"][EXPORTER]["resolver"]
    assert resolver == {"static": {"hostnames": ["a:4317", "b:4317"]}}


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--mode", "agent-processor", "--processors", "a:4317,b"), "'b' is not HOST:PORT"),
        (("--processors", "a:4317"), "only with --mode agent-processor"),
        (("--mode", "agent-processor", "--stdout", "gateway"), "--stdout gateway"),
    ],
)
def test_bad_render_flags_are_one_line(args, named, tmp_path):
    done = render(*args, "--out", str(tmp_path / "out"))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and named in lines[0], done.stderr
    assert not (tmp_path / "out").exists()
