"""The examples run as documented (the launcher and FastAPI ones are exercised in their own tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

import otlp_files
from otel_plugins.policy import Policy, Verdict

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_replay_example_drops_loading_probes_and_exports_the_rest(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, OTEL_PLUGINS=str(Path(sys.executable).with_name("otel-plugins")))
    env = {k: v for k, v in env.items() if not k.startswith("OTEL_EXPORTER_OTLP")}
    result = subprocess.run([str(EXAMPLES / "replay_recorded_log.sh"), str(out)], env=env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    source = (EXAMPLES / "logs" / "llama-box-rpc-load.log").read_bytes().splitlines()
    kept = Path(f"{out}.passthrough.log").read_bytes().splitlines()
    kept_set = set(kept)
    dropped = [line for line in source if line not in kept_set and line.replace(b" I srv", b" D srv", 1) not in kept_set]
    assert dropped and all(b"GET /v1/models 127.0.0.1" in line and b"status 503" in line for line in dropped)
    records = otlp_files.logs(out)
    assert len(records) == len(kept)
    failing_after_ready = [r for r in records if r["attrs"].get("llama.policy.reason") == "probe_failed_after_ready"]
    assert len(failing_after_ready) == 1 and failing_after_ready[0]["severity"] == "WARN"


def test_example_policy_file_is_valid_and_documents_every_key():
    policy = Policy.from_yaml(EXAMPLES / "policy.yaml")
    assert policy.loading_verdict is Verdict.DROP
    documented = yaml.safe_load((EXAMPLES / "policy.yaml").read_text())
    assert set(documented) == set(Policy().to_mapping())
    assert set(documented["probes"]) == set(Policy().to_mapping()["probes"])
    assert set(documented["rpc_peer"]) == set(Policy().to_mapping()["rpc_peer"])


def test_docker_compose_file_mounts_files_that_exist():
    compose_dir = EXAMPLES / "docker-compose"
    compose = yaml.safe_load((compose_dir / "docker-compose.yaml").read_text())
    assert set(compose["services"]) == {"otelcol", "jaeger", "prometheus", "grafana"}
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (compose_dir / source).exists(), source
