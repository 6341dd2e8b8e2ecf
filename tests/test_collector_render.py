"""collector-config/ is rendered from the Python policy, validates with the real Collector,
and matches the golden fragments in collector-config/testdata/.

Golden files: `<name>.policy.yaml` (input) and `<name>.expected.yaml` (the policy-dependent
part of the agent: the transform and filter processors and the count connector).
Regenerate them with `UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_collector_render.py`.
The real binary comes from scripts/build_collector.sh; validation tests skip without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from otel_plugins.collector import agent_config, find_otelcol, render_agent, render_gateway, to_yaml, validate_text
from otel_plugins.collector import ottl
from otel_plugins.policy import Policy, PolicyError, Verdict

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "collector-config"
TESTDATA = CONFIG_DIR / "testdata"
POLICIES = sorted(p.name[: -len(".policy.yaml")] for p in TESTDATA.glob("*.policy.yaml"))
CLI = [sys.executable, "-m", "otel_plugins"]


def otelcol() -> str:
    binary = find_otelcol()
    if binary is None:
        pytest.skip("otelcol not found at .testbed/bin/otelcol; run `bash scripts/build_collector.sh`")
    return binary


def policy_named(name: str) -> Policy:
    return Policy() if name == "default" else Policy.from_yaml(TESTDATA / f"{name}.policy.yaml")


def policy_fragment(policy: Policy) -> str:
    config = agent_config(policy)
    fragment = {
        "processors": {k: config["processors"][k] for k in ("transform/llama_policy", "filter/llama_policy")},
        "connectors": {"count/llama_policy": config["connectors"]["count/llama_policy"]},
    }
    return to_yaml(fragment)


def test_committed_files_are_what_render_produces():
    """collector-config/agent.yaml and gateway.yaml are exactly the default policy's rendering."""
    assert (CONFIG_DIR / "agent.yaml").read_text() == render_agent(Policy()), "run `otel-plugins collector render`"
    assert (CONFIG_DIR / "gateway.yaml").read_text() == render_gateway(), "run `otel-plugins collector render`"


def test_cli_render_writes_both_files(tmp_path):
    """`otel-plugins collector render --out DIR` writes the same two files the committed ones are."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for key in [k for k in env if k.startswith("OTEL_PLUGINS_")]:
        del env[key]
    done = subprocess.run([*CLI, "collector", "render", "--out", str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "agent.yaml").read_text() == (CONFIG_DIR / "agent.yaml").read_text()
    assert (tmp_path / "gateway.yaml").read_text() == (CONFIG_DIR / "gateway.yaml").read_text()


def test_bad_policy_is_one_clear_line(tmp_path):
    """An invalid policy file fails render with exit code 2 and a message naming the key and the allowed values."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("ready_verdict: shout\n")
    done = subprocess.run(
        [*CLI, "collector", "render", "--policy", str(bad), "--out", str(tmp_path / "out")],
        env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["otel-plugins: invalid policy: ready_verdict: 'shout' is not one of keep, downgrade, drop, sample"]
    assert not (tmp_path / "out").exists()
    with pytest.raises(PolicyError, match="probes.clients"):
        Policy.from_mapping({"probes": {"clients": ["not-a-network"]}})


@pytest.mark.parametrize("name", POLICIES)
def test_golden_policy_fragments(name):
    """The policy-dependent part of the agent matches testdata/<name>.expected.yaml."""
    rendered = policy_fragment(policy_named(name))
    golden = TESTDATA / f"{name}.expected.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(rendered)
    assert golden.exists(), f"missing {golden}: run with UPDATE_GOLDEN=1"
    assert rendered == golden.read_text()


def test_policy_maps_onto_ottl():
    """Verdicts map as documented: sample degrades, the louder verdict wins, drops reach the filter."""
    assert ottl.probe_verdict(Policy()) is Verdict.DOWNGRADE
    assert ottl.probe_verdict(policy_named("sample")) is Verdict.DOWNGRADE
    assert ottl.probe_verdict(policy_named("keep_ready")) is Verdict.KEEP
    assert ottl.probe_verdict(policy_named("drop")) is Verdict.DROP
    drop = "\n".join(ottl.log_statements(policy_named("drop")))
    assert 'set(log.attributes["llama.policy.verdict"], "drop")' in drop
    assert "sample" not in "\n".join(ottl.log_statements(policy_named("sample")))
    deadline = "\n".join(ottl.log_statements(policy_named("deadline")))
    assert ottl.REASON_LOADING not in deadline, "with a deadline the empty rid must not quiet a failing probe"
    assert "SEVERITY_NUMBER_ERROR" in deadline
    orchestrator = "\n".join(ottl.log_statements(policy_named("orchestrator")))
    assert '"10.42.0.0/16"' in orchestrator and '"fd00::/8"' in orchestrator and "/status/live" in orchestrator
    assert ottl.drop_conditions(Policy()) == ['log.attributes["llama.policy.verdict"] == "drop"']


@pytest.mark.collector
@pytest.mark.parametrize("name", ["default", *POLICIES])
def test_otelcol_validate_accepts_every_rendering(name):
    """`otelcol validate` passes for the agent (every exporter variant) and the gateway."""
    binary = otelcol()
    policy = policy_named(name)
    for exporter in ("otlp", "file", "debug"):
        result = validate_text(to_yaml(agent_config(policy, exporter=exporter)), binary)
        assert result.ok, f"{name}/{exporter}: {result.output}"
    result = validate_text(render_gateway(), binary)
    assert result.ok, result.output


@pytest.mark.collector
def test_cli_check_validates_the_committed_files():
    """`otel-plugins collector check` runs the real `otelcol validate` on both committed files."""
    otelcol()
    done = subprocess.run([*CLI, "collector", "check", str(CONFIG_DIR)], env=dict(os.environ, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": valid (") == 2


@pytest.mark.collector
def test_otelcol_validate_rejects_a_broken_config():
    """Validation is real: a config referring to an unknown processor fails."""
    config = agent_config(Policy())
    config["service"]["pipelines"]["logs/export"]["processors"].append("no_such_processor")
    result = validate_text(yaml.safe_dump(config), otelcol())
    assert not result.ok and "no_such_processor" in result.output


@pytest.mark.parametrize("name", ["default", *POLICIES])
def test_rendered_yaml_has_no_anchors(name):
    """A value used twice (the count connector's url.path/status keys, the exporter lists) is
    written twice: no `&id001` anchor and `*id001` alias for a reader to chase."""
    import re

    for text in (render_agent(policy_named(name)), render_gateway(), policy_fragment(policy_named(name))):
        assert not re.search(r"[&*]id\d+", text)
        assert yaml.safe_load(text)


def test_agent_keeps_state_and_gateway_accumulates():
    """The production agent reads and queues through file_storage (no batch processor on the
    export path); the gateway turns deltas into cumulative series with deltatocumulative."""
    agent = yaml.safe_load(render_agent(Policy()))
    assert agent["extensions"]["file_storage"]["directory"].startswith("${env:AGENT_STORAGE_DIR")
    assert "file_storage" in agent["service"]["extensions"]
    assert agent["receivers"]["filelog/llama"]["storage"] == "file_storage"
    assert agent["exporters"]["otlp_grpc/gateway"]["sending_queue"]["storage"] == "file_storage"
    assert "batch" not in agent["service"]["pipelines"]["logs/export"]["processors"]
    gateway = yaml.safe_load(render_gateway())
    assert "deltatocumulative" in gateway["service"]["pipelines"]["metrics"]["processors"]
    assert "transform/prometheus_deltas" not in gateway["processors"]  # the hand-made delta rewrite is gone


def test_every_agent_attribute_is_cut_from_the_body():
    """The agent redacts a record's attributes only where its body (or `log.file.path`) holds a
    secret's marker (collector/redaction.py). That is safe only while every attribute is cut
    from the body: parsers and moves read the body or the working `_` attributes parsed from
    it, added values are plain literals that hold no marker, and the policy's statements read
    nothing but the record. A new operator that breaks this must widen the scan first."""
    from otel_plugins import redact

    config = agent_config(Policy())
    receiver = config["receivers"]["filelog/llama"]
    assert not {"attributes", "resource"} & set(receiver), "static receiver attributes are not in the scan"
    assert receiver["include_file_path"] and not receiver["include_file_name"]
    markers = [*redact.markers(), *redact.FOLDED_ONTO_ASCII]

    def from_body(field: str) -> bool:
        return field == "body" or field.startswith("attributes._")

    for op in receiver["operators"]:
        where = f"{op['type']} {op['id']}"
        if "from" in op:
            assert from_body(op["from"]), where
        if "parse_from" in op:
            assert from_body(op["parse_from"]), where
        if op["type"] == "add":
            value = str(op["value"])
            assert not value.startswith("EXPR(") and "${" not in value, where
            assert not any(m in value.lower() for m in markers), where
    for block in config["processors"]["transform/llama_policy"]["log_statements"]:
        if block["context"] == "log":
            for statement in block["statements"]:
                assert "resource." not in statement and "scope." not in statement, statement
