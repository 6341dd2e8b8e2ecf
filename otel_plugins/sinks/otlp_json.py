"""`otel_plugins_json_file`: the upstream OTLP JSON file exporters, writing where the
embedded default writes.

opentelemetry-exporter-otlp-json-file registers `otlp_json_file`; built without arguments
(as `opentelemetry-instrument` builds exporters) it writes to stdout, which in a launcher
is the launcher's own output. Under this name of our own, the same exporters append to
`traces.jsonl`, `metrics.jsonl` and `logs.jsonl` under `OTEL_PLUGINS_OUTPUT_DIR`
(default `./otel-out`), the files `otel-plugins run` writes. The format is upstream's:
nothing is encoded here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.json.file import FileMetricExporter as _Metrics
from opentelemetry.exporter.otlp.json.file import FileSpanExporter as _Spans
from opentelemetry.exporter.otlp.json.file._log_exporter import FileLogExporter as _Logs

from ..environment_variables import OTEL_PLUGINS_OUTPUT_DIR as OUTPUT_DIR_ENV
from .exporter_config import FILE_NAMES


def default_path(signal: str, path: str | os.PathLike[str] | None, kwargs: dict[str, Any]) -> Path | None:
    """`path`, else the file under OTEL_PLUGINS_OUTPUT_DIR (None when a stream is given)."""
    if path is not None or kwargs.get("stream") is not None:
        return Path(path) if path is not None else None
    path = Path(os.environ.get(OUTPUT_DIR_ENV) or "otel-out") / FILE_NAMES[signal]
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class FileSpanExporter(_Spans):
    def __init__(self, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        super().__init__(default_path("traces", path, kwargs), **kwargs)


class FileMetricExporter(_Metrics):
    def __init__(self, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        super().__init__(default_path("metrics", path, kwargs), **kwargs)


class FileLogExporter(_Logs):
    def __init__(self, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        super().__init__(default_path("logs", path, kwargs), **kwargs)


__all__ = ["OUTPUT_DIR_ENV", "FileLogExporter", "FileMetricExporter", "FileSpanExporter"]
