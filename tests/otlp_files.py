"""Reads the OTLP JSON files the embedded default writes (one ExportRequest per line)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _complete_lines(text_lines) -> Iterator[str]:
    """The finished requests: a writer (ours or the Collector's file exporter) ends each with a
    newline, so a last line without one is still being written by a writer the test is polling."""
    for line in text_lines:
        if line.endswith("\n") and line.strip():
            yield line


def complete_lines(path: Path) -> list[str]:
    """The finished request lines of a file another process may be writing right now."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8", errors="replace") as requests:
        return list(_complete_lines(requests))


def _requests(path: Path) -> list[dict]:
    return [json.loads(line) for line in complete_lines(path)]


def value(any_value: dict) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in any_value:
            return any_value[key]
    if "intValue" in any_value:
        return int(any_value["intValue"])
    if "arrayValue" in any_value:
        return [value(v) for v in any_value["arrayValue"].get("values", [])]
    return None


def attrs(items: list[dict] | None) -> dict[str, Any]:
    return {item["key"]: value(item.get("value", {})) for item in items or []}


def spans(directory: Path) -> list[dict]:
    out = []
    for request in _requests(Path(directory) / "traces.jsonl"):
        for resource_spans in request.get("resourceSpans", []):
            resource = attrs(resource_spans.get("resource", {}).get("attributes"))
            for scope in resource_spans.get("scopeSpans", []):
                for span in scope.get("spans", []):
                    span = dict(span)
                    span["attrs"] = attrs(span.get("attributes"))
                    span["resource"] = resource
                    span["events"] = [
                        {"name": e["name"], "attrs": attrs(e.get("attributes")), "time": int(e["timeUnixNano"])}
                        for e in span.get("events", [])
                    ]
                    out.append(span)
    return out


def iter_logs(directory: Path) -> Iterator[dict]:
    """The log records one at a time, the file read a request at a time (a flood's output does
    not fit in memory as one list)."""
    path = Path(directory) / "logs.jsonl"
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as requests:
        for line in _complete_lines(requests):
            for resource_logs in json.loads(line).get("resourceLogs", []):
                for scope in resource_logs.get("scopeLogs", []):
                    for record in scope.get("logRecords", []):
                        yield {
                            "body": value(record.get("body", {})),
                            "severity": record.get("severityText"),
                            "severity_number": record.get("severityNumber"),
                            "attrs": attrs(record.get("attributes")),
                            "event_name": record.get("eventName"),
                        }


def logs(directory: Path) -> list[dict]:
    return list(iter_logs(directory))


def metric_points(directory: Path) -> dict[str, list[dict]]:
    """Every data point of every metric, by metric name, in export order."""
    out: dict[str, list[dict]] = {}
    for request in _requests(Path(directory) / "metrics.jsonl"):
        for resource_metrics in request.get("resourceMetrics", []):
            for scope in resource_metrics.get("scopeMetrics", []):
                for metric in scope.get("metrics", []):
                    for kind in ("gauge", "sum", "histogram"):
                        for point in metric.get(kind, {}).get("dataPoints", []):
                            entry = {"attrs": attrs(point.get("attributes")), "kind": kind}
                            if "asInt" in point:
                                entry["value"] = int(point["asInt"])
                            elif "asDouble" in point:
                                entry["value"] = point["asDouble"]
                            elif kind == "histogram":
                                entry["value"] = int(point.get("count", 0))
                            out.setdefault(metric["name"], []).append(entry)
    return out
