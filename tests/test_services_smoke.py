"""Smoke tests: the real OpenTelemetry Collector, Jaeger and Prometheus start and work.

Binaries: scripts/build_collector.sh (otelcol), scripts/build_jaeger.sh (jaeger),
scripts/install_prometheus.sh (prometheus). A test is skipped only when one is missing.
"""
from __future__ import annotations

import json
import pathlib
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from services import (Collector, Jaeger, Prometheus, missing_reason,  # noqa: E402
                      otlp_log_record, otlp_logs_json, otlp_spans_json, post_json)

pytestmark = pytest.mark.collector


def need(*names: str) -> None:
    for name in names:
        reason = missing_reason(name)
        if reason:
            pytest.skip(reason)


def wait_until(pred, timeout: float = 15.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            return value
        time.sleep(interval)


# OTLP/HTTP in -> transform -> filter -> attributes -> batch -> file (OTLP JSON lines).
FILE_PIPELINE = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTELCOL_PORT_OTLP_HTTP}
processors:
  transform:
    error_mode: ignore
    log_statements:
      - context: log
        statements:
          - set(log.attributes["smoke.transformed"], true)
  filter:
    error_mode: ignore
    log_conditions:
      - log.attributes["drop.me"] == true
  attributes:
    actions:
      - key: smoke.added
        value: by-attributes-processor
        action: insert
  memory_limiter:
    check_interval: 1s
    limit_mib: 256
  batch:
    timeout: 100ms
exporters:
  file:
    path: ${env:OTELCOL_TMPDIR}/logs.jsonl
    flush_interval: 100ms
  debug:
    verbosity: basic
service:
  pipelines:
    logs:
      receivers: [otlp]
      processors: [memory_limiter, transform, filter, attributes, batch]
      exporters: [file, debug]
"""


def test_collector_otlp_http_to_file_exporter():
    need("otelcol")
    with Collector(FILE_PIPELINE, ports=["otlp_http"]) as col:
        url = f"http://127.0.0.1:{col.ports['otlp_http']}/v1/logs"
        status, body = post_json(url, otlp_logs_json("smoke-svc", "hello from smoke test",
                                                     {"k": "v"}))
        assert status == 200, body
        status, body = post_json(url, otlp_logs_json("smoke-svc", "this one is filtered out",
                                                     {"drop.me": True}))
        assert status == 200, body

        out = col.tmpdir / "logs.jsonl"
        text = wait_until(lambda: out.exists() and "hello from smoke test" in out.read_text()
                          and out.read_text())
        assert text, f"file exporter wrote nothing; log:\n{col.log_text()[-3000:]}"

    records = []
    for line in text.splitlines():
        for rl in json.loads(line)["resourceLogs"]:
            for sl in rl["scopeLogs"]:
                records.extend(sl["logRecords"])
    bodies = [r["body"]["stringValue"] for r in records]
    assert bodies == ["hello from smoke test"]
    attrs = {a["key"]: a["value"] for a in records[0]["attributes"]}
    assert attrs["k"] == {"stringValue": "v"}
    assert attrs["smoke.transformed"] == {"boolValue": True}
    assert attrs["smoke.added"] == {"stringValue": "by-attributes-processor"}


# OTLP/HTTP logs -> count connector -> metrics -> prometheus exporter <- real Prometheus.
COUNT_TO_PROMETHEUS = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTELCOL_PORT_OTLP_HTTP}
connectors:
  count:
    logs:
      smoke.log.count:
        description: log records of the smoke test, by kind
        conditions:
          - log.attributes["kind"] != nil
        attributes:
          - key: kind
  forward:
exporters:
  prometheus:
    endpoint: 127.0.0.1:${env:OTELCOL_PORT_PROM}
    resource_to_telemetry_conversion:
      enabled: true
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [forward]
    logs/count:
      receivers: [forward]
      exporters: [count]
    metrics:
      receivers: [count]
      exporters: [prometheus]
"""


def test_collector_prometheus_exporter_scraped_by_prometheus():
    need("otelcol", "prometheus")
    with Collector(COUNT_TO_PROMETHEUS, ports=["otlp_http", "prom"]) as col:
        url = f"http://127.0.0.1:{col.ports['otlp_http']}/v1/logs"
        # One request: the count connector emits a *delta* sum per export call, and the
        # prometheus exporter does not add up non-contiguous deltas (it shows the last one).
        # (It also counts per resource: keep the records under one resource.)
        payload = otlp_logs_json("smoke-svc", records=[otlp_log_record("counted", {"kind": k})
                                                       for k in ("a", "a", "b")])
        status, body = post_json(url, payload)
        assert status == 200, body
        with Prometheus([f"127.0.0.1:{col.ports['prom']}"]) as prom:
            expr = 'smoke_log_count_total{kind="a"}'
            result = prom.wait_for(expr, timeout=30)
            assert result[0]["metric"]["service_name"] == "smoke-svc"
            assert float(result[0]["value"][1]) == 2.0
            up = prom.query("up")
            assert [float(r["value"][1]) for r in up] == [1.0]


def test_jaeger_receives_otlp_http_json_span():
    need("jaeger")
    with Jaeger() as jaeger:
        trace_id = "0af7651916cd43dd8448eb211c80319c"
        status, body = post_json(jaeger.otlp_http_url,
                                 otlp_spans_json("smoke-jaeger", "smoke-op", trace_id=trace_id,
                                                 attributes={"llm.model": "tiny"}))
        assert status == 200, body
        traces = jaeger.wait_for_traces("smoke-jaeger")
        assert "smoke-jaeger" in jaeger.services()
        span = traces[0]["spans"][0]
        assert traces[0]["traceID"] == trace_id
        assert span["operationName"] == "smoke-op"
        assert {"key": "llm.model", "type": "string", "value": "tiny"} in span["tags"]
        v3 = jaeger.trace(trace_id)
        spans = v3["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"]
        assert spans[0]["name"] == "smoke-op"
