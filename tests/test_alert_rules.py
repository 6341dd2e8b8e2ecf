"""The Prometheus alert rules: real `promtool check/test rules`, and names the project exports."""

from __future__ import annotations

import pathlib
import re
import subprocess

import pytest
import yaml

import prom_names
from otel_plugins import names

# Every metric name the rules (and their promtool fixtures) use, as the Collector's
# prometheus exporter exposes it: the one place to fix if the exporters say otherwise.
PROM: dict[str, str] = {
    names.METRIC_PHASE: "llama_instance_phase",
    names.METRIC_BYTES_DONE: "llama_load_bytes",
    names.METRIC_BYTES_TOTAL: "llama_load_size_bytes",
    names.METRIC_ETA: "llama_load_eta_seconds",
    names.METRIC_PROBES: "llama_probe_responses_total",
    names.METRIC_LOG_RECORDS: "llama_log_records_total",
    names.METRIC_EXITS: "llama_instance_exits_total",
    names.METRIC_PEER_STATE: "llama_rpc_peer_state",
    names.METRIC_DEADLINE: "llama_load_deadline_timestamp_seconds",
}
# Attributes the rules match or group on, and the resource labels every series has.
LABELS: dict[str, str] = {
    names.RPC_ENDPOINT: "llama_rpc_endpoint",
    names.ATTR_PHASE: "llama_phase",
    names.ATTR_INSTANCE_KEY: "llama_instance_key",
    names.URL_PATH: "url_path",
    names.HTTP_STATUS: "http_response_status_code",
    names.ATTR_VERDICT: "llama_policy_verdict",
    names.ATTR_LOG_SEVERITY: "llama_log_severity",
    names.ATTR_EXIT_CODE: "process_exit_code",
    names.ATTR_EXIT_SIGNAL: "llama_exit_signal",
    names.ATTR_EXIT_REQUESTED: "llama_exit_requested",
}
RESOURCE_LABELS = {"job", "instance"}

REPO = pathlib.Path(__file__).resolve().parent.parent
RULES = REPO / "collector-config" / "prometheus" / "otel-plugins-rules.yml"
FIXTURES = sorted((REPO / "collector-config" / "prometheus" / "tests").glob("*.yml"))
ALERTS = {
    "LlamaWeightTransferStalled",
    "LlamaLoadOverdue",
    "LlamaLoadBehindEstimate",
    "LlamaProbesFailingAfterReady",
    "LlamaErrorLogRate",
    "LlamaInstanceExitedAbnormally",
    "LlamaRpcPeerLost",
}
SPECS = {name: (kind, unit) for name, kind, unit, _ in names.METRICS}


def rules() -> list[dict]:
    with open(RULES, encoding="utf-8") as f:
        return [rule for group in yaml.safe_load(f)["groups"] for rule in group["rules"]]


def known_names() -> set[str]:
    return set(PROM.values())


@pytest.fixture(scope="session")
def promtool() -> str:
    """The real promtool (installed from Debian's package if missing); skips only if that fails."""
    path, why_not = prom_names.promtool()
    if path is None:
        pytest.skip(why_not)
    return path


def test_prom_names_follow_the_exporter_translation():
    """The names table agrees with the translation of names.METRICS (change both if the exporter differs)."""
    for otel_name, prom in PROM.items():
        assert otel_name in SPECS, f"{otel_name} is not in names.METRICS"
        kind, unit = SPECS[otel_name]
        assert prom_names.prometheus_name(otel_name, kind, unit) == prom
    for attribute, label in LABELS.items():
        assert prom_names.label_name(attribute) == label


def test_the_alerts_are_all_there_and_complete():
    """Every alert has an expression, a `for:`, a severity, a summary and a description."""
    found = rules()
    assert {rule["alert"] for rule in found} == ALERTS
    for rule in found:
        assert rule["expr"].strip()
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_rules_use_only_exported_names():
    """Every metric in a rule is in the names table, and the project exports it."""
    exported = prom_names.exported_series()
    for rule in rules():
        used = prom_names.metric_names(rule["expr"])
        assert used, rule["alert"]
        assert used <= known_names(), f"{rule['alert']}: {sorted(used - known_names())} not in PROM"
        assert used <= exported, f"{rule['alert']}: {sorted(used - exported)} not exported"


def test_rules_use_only_known_labels():
    """Rules match and group only on labels the metrics carry."""
    allowed = set(LABELS.values()) | RESOURCE_LABELS
    for rule in rules():
        used = prom_names.label_names(rule["expr"])
        assert used <= allowed, f"{rule['alert']}: {sorted(used - allowed)}"


def test_fixtures_fire_and_hold_every_alert():
    """The promtool fixtures have, for every alert, a case that fires and one that does not."""
    fires: set[str] = set()
    silent: set[str] = set()
    series: set[str] = set()
    for path in FIXTURES:
        with open(path, encoding="utf-8") as f:
            for test in yaml.safe_load(f)["tests"]:
                series |= {s["series"].split("{")[0].strip() for s in test.get("input_series", [])}
                for case in test.get("alert_rule_test", []):
                    (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    assert fires == ALERTS and silent == ALERTS
    assert series <= known_names(), sorted(series - known_names())


def test_promtool_check_rules(promtool):
    """`promtool check rules` accepts the rule file."""
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_promtool_test_rules(promtool, fixture):
    """`promtool test rules` passes on the series fixtures (each alert fires and holds as expected)."""
    done = subprocess.run([promtool, "test", "rules", str(fixture)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def readme_anchors() -> set[str]:
    """GitHub's anchors of the README's headings: lower case, punctuation dropped, spaces to dashes."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}


def test_every_alert_has_a_runbook_in_the_readme():
    """`runbook_url` on every alert names a README section, and that section says what to do."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    anchors = readme_anchors()
    for rule in rules():
        url = rule["annotations"].get("runbook_url", "")
        page, _, anchor = url.partition("#")
        assert page == "README.md" and anchor in anchors, (rule["alert"], url)
        section = text.split(f"### {rule['alert']}\n", 1)[1].split("\n#", 1)[0]
        assert "**Do:**" in section, f"{rule['alert']}: the runbook section has no **Do:** paragraph"


def test_rules_header_matches_the_exports():
    """The header no longer calls the deadline gauge proposed: it is in names.METRICS and exported."""
    header = RULES.read_text(encoding="utf-8").split("groups:", 1)[0].lower()
    assert "proposed" not in header and "never fire" not in header
    assert names.METRIC_DEADLINE in SPECS
