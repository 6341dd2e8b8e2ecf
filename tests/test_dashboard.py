"""The Grafana dashboard: importable JSON whose queries use only metrics the project exports."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess

import pytest
import yaml

import prom_names
from otel_plugins import names

REPO = pathlib.Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "collector-config" / "grafana" / "otel-plugins-dashboard.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
PANELS = {
    "Instance phase",
    "Load progress",
    "Load ETA",
    "Transfer throughput per RPC endpoint",
    "Probe responses by verdict",
    "Suppressed lines",
    "Log records by severity",
    "Exits",
    "RPC peer state",
}
# Labels a query may match or group on: the attributes the metrics carry, plus resource labels.
LABELS = {
    prom_names.label_name(a)
    for a in (
        names.RPC_ENDPOINT, names.ATTR_PHASE, names.ATTR_INSTANCE_KEY, names.URL_PATH, names.HTTP_STATUS,
        names.ATTR_VERDICT, names.ATTR_REASON, names.ATTR_LOG_SEVERITY, names.ATTR_EXIT_CODE,
        names.ATTR_EXIT_SIGNAL, names.ATTR_LOAD_OUTCOME, names.ATTR_SIGNAL,
    )
} | {"job", "instance", "le"}  # fmt: skip
# Grafana's variables, replaced by something PromQL accepts before promtool parses a query.
VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "${DS_PROMETHEUS}": "prometheus",
    "$job": ".*",
    "$instance": ".*",
}


def dashboard() -> dict:
    with open(DASHBOARD, encoding="utf-8") as f:
        return json.load(f)


def panels(board: dict) -> list[dict]:
    """Every panel, rows' nested panels included."""
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found += panel.get("panels", [])
    return found


def queries(board: dict) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    found = [
        (f"panel {p['id']} {p['title']!r} target {t.get('refId')}", t["expr"])
        for p in panels(board)
        for t in p.get("targets", [])
    ]
    for var in board["templating"]["list"]:
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", query.strip())
        found.append((f"variable {var['name']}", inner.group(1) if inner else query))
    return found


def test_dashboard_shape():
    """Grafana schema ~39, a DS_PROMETHEUS input used by every panel, unique ids, the required panels."""
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41
    assert [i["name"] for i in board["__inputs"]] == ["DS_PROMETHEUS"]
    assert board["__inputs"][0]["pluginId"] == "prometheus"
    all_panels = panels(board)
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids))
    assert PANELS <= {p["title"] for p in all_panels}
    for panel in all_panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        if panel["type"] != "row":
            assert panel["datasource"] == DATASOURCE, panel["title"]
            assert panel["targets"], panel["title"]
            assert all(t["datasource"] == DATASOURCE for t in panel["targets"]), panel["title"]


def test_queries_use_only_exported_metrics():
    """Every metric name in a query is one the project exports (names.METRICS, translated)."""
    exported = prom_names.exported_series()
    for where, expr in queries(dashboard()):
        used = prom_names.metric_names(expr)
        assert used, f"{where}: no metric in {expr!r}"
        assert used <= exported, f"{where}: {sorted(used - exported)} not exported"


def test_queries_use_only_known_labels():
    """Queries match and group only on labels the metrics carry."""
    for where, expr in queries(dashboard()):
        used = prom_names.label_names(expr)
        assert used <= LABELS, f"{where}: {sorted(used - LABELS)}"


def test_metric_name_extraction():
    """The extractor finds metric names and skips functions, keywords, labels and variables."""
    expr = (
        'histogram_quantile(0.9, sum by (le, job) (rate(a_bucket{job=~"$job", x="b_total"}[$__rate_interval])))'
        " / on (job) group_left b_ratio + ignoring(c) c_total offset 5m or max(d) > bool 1e3"
    )
    assert prom_names.metric_names(expr) == {"a_bucket", "b_ratio", "c_total", "d"}
    assert prom_names.label_names(expr) == {"le", "job", "x", "c"}


def test_queries_parse(tmp_path):
    """Every query is valid PromQL: promtool checks them as recording rules."""
    path, why_not = prom_names.promtool()
    if path is None:
        pytest.skip(why_not)
    rules = []
    for number, (where, expr) in enumerate(queries(dashboard())):
        for variable, value in VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{where}: unknown variable in {expr!r}"
        rules.append({"record": f"dashboard:query_{number}", "expr": expr})
    file = tmp_path / "dashboard-queries.yml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    done = subprocess.run([path, "check", "rules", str(file)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
