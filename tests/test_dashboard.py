"""The Grafana dashboard: a file Grafana provisions as it is (the datasource a template
variable, no `__inputs`), whose queries use only metrics the project exports; and the
docker-compose example that provisions it."""

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
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
COMPOSE = REPO / "examples" / "docker-compose"
# Variables Grafana defines itself; everything else a query names must be a template variable.
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__all", "__name", "__from", "__to"}
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
        names.ATTR_EXIT_SIGNAL, names.ATTR_EXIT_REQUESTED, names.ATTR_LOAD_OUTCOME, names.ATTR_SIGNAL,
    )
} | {"job", "instance", "le"}  # fmt: skip
# Grafana's variables, replaced by something PromQL accepts before promtool parses a query.
VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
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
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", query.strip())
        found.append((f"variable {var['name']}", inner.group(1) if inner else query))
    return found


def test_dashboard_shape():
    """Grafana schema ~39, the datasource variable on every panel, unique ids, the required panels."""
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41
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


def datasource_references(node, where="dashboard"):
    """(where, value) of every `datasource` field anywhere in the JSON."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield where, value
            else:
                yield from datasource_references(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from datasource_references(item, f"{where}[{i}]")


def test_dashboard_follows_grafana_file_provisioning():
    """What Grafana's file provider loads as it is: no `__inputs` (only the UI import
    substitutes them), a stable uid and no id, one `datasource` variable of type prometheus,
    every datasource reference resolving to it, every `$variable` defined."""
    board = dashboard()
    assert "__inputs" not in board and "__requires" not in board
    assert board["id"] is None
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", board["uid"])
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert [v for v in variables.values() if v["type"] == "datasource"] == [variables["datasource"]]
    for where, reference in datasource_references(board):
        if reference == {"type": "grafana", "uid": "-- Grafana --"}:  # the built-in annotations
            continue
        assert reference == DATASOURCE, f"{where}: {reference}"
    text = json.dumps(board)
    used = set(re.findall(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", text))
    for name in {a or b for a, b in used}:
        assert name in variables or name in BUILTIN_VARIABLES, f"${name} is not a template variable"


def test_compose_example_provisions_what_the_dashboard_needs():
    """The compose files mount the dashboard where the provider looks, define a Prometheus
    datasource for the variable to pick, set every variable the gateway requires (and the
    one its prometheus exporter reads), and Prometheus keeps the gateway's labels."""
    compose = yaml.safe_load((COMPOSE / "docker-compose.yaml").read_text(encoding="utf-8"))
    provider = yaml.safe_load((COMPOSE / "grafana-dashboards.yaml").read_text(encoding="utf-8"))["providers"][0]
    assert provider["type"] == "file"
    mounts = {m.split(":")[1]: m.split(":")[0] for m in compose["services"]["grafana"]["volumes"]}
    assert (COMPOSE / mounts[provider["options"]["path"]]).resolve() == DASHBOARD.parent
    datasources = yaml.safe_load((COMPOSE / "grafana-datasource.yaml").read_text(encoding="utf-8"))["datasources"]
    assert any(d["type"] == "prometheus" and d["url"] == "http://prometheus:9090" for d in datasources)

    from otel_plugins.collector import config as cfg

    environment = compose["services"]["otelcol"]["environment"]
    required = {s.env for s in cfg.GATEWAY_SETTINGS if s.default is None}
    assert required <= set(environment), sorted(required - set(environment))
    assert set(environment) <= {s.env for s in cfg.GATEWAY_SETTINGS}, "a variable the gateway does not read"
    prometheus_port = environment[cfg.PROMETHEUS.env].rsplit(":", 1)[1]
    scrape = yaml.safe_load((COMPOSE / "prometheus.yml").read_text(encoding="utf-8"))["scrape_configs"]
    gateway_jobs = [job for job in scrape if f"otelcol:{prometheus_port}" in job["static_configs"][0]["targets"]]
    assert gateway_jobs and all(job.get("honor_labels") is True for job in gateway_jobs)
