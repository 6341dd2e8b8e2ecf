"""A Collector outage under `otel-plugins run`: the Collector goes away for 30 s, then comes back.

Slow: about 55 s (a 48 s child; the outage starts 5 s in). Marked `collector` because it
needs the real Collector (scripts/build_collector.sh); its name says `45s` so that nobody
is surprised. The wrapper exports OTLP/HTTP to a Collector whose otlp receiver writes
every record to a file; the first Collector is stopped, and after 30 s a second one is
started on the same port, writing to a second file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import otlp_files
import pytest
from services import Collector, missing_reason

from otel_plugins import names

pytestmark = pytest.mark.collector

REPO = Path(__file__).resolve().parent.parent
TICKER = Path(__file__).resolve().parent / "children" / "ticker.py"
CHILD_SECONDS = 48.0
OUTAGE_AT_S = 5.0
OUTAGE_S = 30.0
QUEUE_SIZE = 4096  # otel_plugins.sinks.telemetry.QUEUE_SIZE: the bound on buffered log records
BATCH = 512  # the SDK's default export batch: one may be in flight besides the queue
RESUME_WITHIN_S = 15.0

CONFIG = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:OTELCOL_PORT_OTLP_HTTP}
exporters:
  file/logs:
    path: ${env:OUTAGE_DIR}/logs.jsonl
    flush_interval: 100ms
  file/metrics:
    path: ${env:OUTAGE_DIR}/metrics.jsonl
    flush_interval: 100ms
  file/traces:
    path: ${env:OUTAGE_DIR}/traces.jsonl
    flush_interval: 100ms
service:
  pipelines:
    logs: {receivers: [otlp], exporters: [file/logs]}
    metrics: {receivers: [otlp], exporters: [file/metrics]}
    traces: {receivers: [otlp], exporters: [file/traces]}
"""
_TICK = re.compile(r"\btick (\d+) at (\d+\.\d+)")
_RECORDS = re.compile(r"log records: emitted (\d+), exported (\d+), dropped (\d+)( so far)? \(export failures (\d+)\)")


def collector(directory: Path, port: int | None = None) -> Collector:
    directory.mkdir(parents=True, exist_ok=True)
    c = Collector(CONFIG, env={"OUTAGE_DIR": str(directory)}, ports=["otlp_http"])
    if port is not None:
        c.ports["otlp_http"] = port  # the same endpoint the wrapper was given
    return c


def ticks(directory: Path) -> list[tuple[int, float]]:
    """(tick number, time printed) of every tick record the Collector wrote."""
    out = []
    for record in otlp_files.logs(directory):
        m = _TICK.search(str(record["body"]))
        if m:
            out.append((int(m.group(1)), float(m.group(2))))
    return out


@pytest.mark.skipif(missing_reason("otelcol") is not None, reason=str(missing_reason("otelcol")))
def test_collector_outage_45s(tmp_path):
    """30 s without a Collector: no crash, no blocked child, export resumes promptly, and every record is delivered or counted as dropped."""
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first = collector(first_dir).start()
    second = None
    port = first.ports["otlp_http"]
    report = tmp_path / "ticker.json"
    passthrough = tmp_path / "passthrough.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(PYTHONPATH=str(REPO), OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
               TICK_SECONDS=str(CHILD_SECONDS), TICK_REPORT=str(report))
    errors = tmp_path / "wrapper.err"
    started = time.time()
    with open(errors, "wb") as err:
        wrapper = subprocess.Popen(
            [sys.executable, "-m", "otel_plugins", "run", "--log-file", str(passthrough), "--output-dir", str(tmp_path / "otel"),
             "--", sys.executable, str(TICKER)],
            stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True,
        )
    try:
        time.sleep(OUTAGE_AT_S)
        assert wrapper.poll() is None, errors.read_text()
        outage_at = time.time()
        first.stop()
        while time.time() < outage_at + OUTAGE_S:
            assert wrapper.poll() is None, f"wrapper died during the outage: {errors.read_text()}"
            time.sleep(0.2)
        second = collector(second_dir, port).start()
        restarted_at = time.time()
        resumed_at = None
        while resumed_at is None and time.time() < restarted_at + RESUME_WITHIN_S + 5:
            if otlp_files.logs(second_dir):
                resumed_at = time.time()
            time.sleep(0.05)
        code = wrapper.wait(CHILD_SECONDS + 30)
        child_end = time.time()
        time.sleep(0.5)  # the file exporter flushes every 100 ms
        delivered = otlp_files.logs(first_dir) + otlp_files.logs(second_dir)
        before, after = ticks(first_dir), ticks(second_dir)
        points = otlp_files.metric_points(second_dir)
        telemetry = {
            key: [p["value"] for p in points.get(metric, []) if p["attrs"].get(names.ATTR_SIGNAL) == "logs"]
            for key, metric in (("exported", names.METRIC_TELEMETRY_EXPORTED), ("dropped", names.METRIC_TELEMETRY_DROPPED))
        }
    finally:
        if wrapper.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(wrapper.pid, signal.SIGKILL)
            wrapper.wait(10)
        first.stop()
        if second is not None:
            second.stop()

    stderr = errors.read_text()
    child = json.loads(report.read_text())
    summary = _RECORDS.search(stderr)
    assert summary, stderr
    emitted, exported, dropped = (int(summary.group(i)) for i in (1, 2, 3))
    outage_end = restarted_at
    during = [n for n, t in after if outage_at <= t < outage_end]
    print(
        f"\nchild: {child['lines']} lines, longest gap {child['max_gap_s'] * 1000:.1f} ms at {child['worst_at_s']:.1f} s;"
        f" Collector down from {outage_at - started:.1f} s to {outage_end - started:.1f} s after the wrapper started;"
        f" first record after the restart in {resumed_at - restarted_at if resumed_at else float('nan'):.2f} s;"
        f"\nwrapper: exit {code} at {child_end - started:.1f} s; emitted {emitted} = exported {exported} + dropped {dropped} (export failures {summary.group(5)});"
        f" collector files: {len(before)} ticks before the outage, {len(after)} after the restart"
        f" ({len(during)} of them printed during the outage, ticks {min(during, default=None)}..{max(during, default=None)});"
        f" telemetry metrics at the end: {({k: v[-1] for k, v in telemetry.items() if v})}"
    )
    # No crash, and the child's own exit code.
    assert code == 0, stderr
    # The child was never blocked: no write took long, and the passthrough kept every line in order.
    assert child["max_gap_s"] <= 1.0, child
    local = [int(m.group(1)) for m in _TICK.finditer(passthrough.read_text())]
    assert local == list(range(child["lines"]))
    # Export resumed, and promptly: retries and back-off stayed bounded.
    assert resumed_at is not None and resumed_at - restarted_at <= RESUME_WITHIN_S, (restarted_at, resumed_at)
    assert any(t >= outage_end for _, t in after), "nothing printed after the restart was delivered"
    # What was buffered within the bound during the outage was delivered; not more than the bound.
    assert 0 < len(during) <= QUEUE_SIZE + BATCH, len(during)
    # Every record is delivered once or counted as dropped, and the counts agree everywhere.
    numbers = [n for n, _ in before + after]
    assert len(numbers) == len(set(numbers)), "a record was delivered twice"
    assert summary.group(4) is None, "the exit summary is not settled"
    assert emitted == exported + dropped
    assert dropped > 0, "a 30 s outage at 100 lines/s must overflow a 4096-record buffer"
    assert len(delivered) == exported, (len(delivered), exported)
    assert telemetry["exported"] and telemetry["exported"][-1] == exported, telemetry
    assert telemetry["dropped"] and telemetry["dropped"][-1] == dropped, telemetry
