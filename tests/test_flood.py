"""Flood: a child writes lines as fast as it can under `otel-plugins run`.

The child (tests/children/flood.py) formats llama-box-like lines with its own uptime stamp,
about 40 % probes, and one line in 1,000 a failure (an `E` line or a uvicorn 500). Its
output outruns what the wrapper can decide, so the wrapper sheds: it decides only the
lines a cheap scan finds could matter and passes the rest through, counted. These tests
assert behaviour, never a wall-time ratio (those swing on a 2-core machine and live in
`bench/flood.py --check`):

- every line is accounted for exactly: decided + shed == written;
- every failure line is exported as an ERROR record (embedded file sink), none lost;
- log records: emitted == exported + dropped; with a real Collector behind a slow link,
  what it wrote is what the wrapper says it exported;
- the wrapper's RSS stays bounded and it exits within its start-up and export deadline.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import otlp_files
from otel_plugins import names
from otel_plugins.sinks.telemetry import SHUTDOWN_TIMEOUT_S
from otel_plugins.sources.process import PipePump

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("flood_bench", REPO / "bench" / "flood.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules["flood_bench"] = bench
_spec.loader.exec_module(bench)

FLOOD_BYTES = int(os.environ.get("FLOOD_TEST_BYTES", str(64 << 20)))
RSS_BOUND_MB = 150.0  # asserted: the idle wrapper takes ~40 MB; holding the flood would take GBs
STARTUP_SLACK_S = 10.0  # the wrapper's own start (imports) on a loaded machine


def check_run(run, nbytes: int) -> None:
    """One wrapped run: the child wrote everything, the wrapper exited 0 in time, and its accounting is exact."""
    print(run.line())
    assert run.bytes >= nbytes, run.line()
    assert run.wrapper_exit == 0, run.stderr[-2000:]
    s = run.summary
    assert run.settled and {"emitted", "exported", "dropped", "lines", "shed"} <= set(s), run.stderr[-2000:]
    assert s["emitted"] == s["exported"] + s["dropped"], run.line()
    assert s["lines"] + s["shed"] == run.lines, (s, run.lines)
    assert run.peak_rss_mb <= RSS_BOUND_MB, run.line()
    # Bounded exit: the wrapper outlives its child by its start-up and the export deadline, no more.
    assert run.wrapper_wall_s - run.child_wall_s <= SHUTDOWN_TIMEOUT_S + STARTUP_SLACK_S, run.line()


def test_flood_sheds_only_harmless_lines_and_exports_every_failure(tmp_path, capsys):
    """Per-line formatted output faster than we decide: some lines are shed, every failure line is an ERROR record."""
    with capsys.disabled():
        run = bench.wrapped(FLOOD_BYTES, "format", tmp_path, None, "wrapped-file-sink")
        check_run(run, FLOOD_BYTES)
    assert run.summary["shed"] > 0, run.line()  # the flood was more than we decide: we shed
    assert run.failures > 0 and run.failures_exported == run.failures, run.line()
    # What was shed is exported too: llama.log.suppressed{llama.policy.reason=shed}, last point.
    points = otlp_files.metric_points(tmp_path / "wrapped-file-sink-otel").get(names.METRIC_SUPPRESSED, [])
    shed = [p["value"] for p in points if p["attrs"].get(names.ATTR_REASON) == "shed"]
    assert shed and shed[-1] == run.summary["shed"], (shed[-3:], run.line())


def test_flood_with_the_otlp_endpoint_at_a_closed_port(tmp_path, capsys):
    """The same flood exporting nowhere: everything accounted for as dropped, nothing blocks, exit bounded."""
    with capsys.disabled():
        run = bench.wrapped(FLOOD_BYTES, "replay", tmp_path, bench.closed_endpoint(), "wrapped-closed-port")
        check_run(run, FLOOD_BYTES)
    assert run.summary["exported"] == 0, run.line()  # nothing can be delivered to a closed port
    assert run.summary["shed"] > 0, run.line()


needs_slow_collector = pytest.mark.skipif(
    bench.missing_reason("otelcol") is not None or not bench.bed.NetNS.available()[0],
    reason=bench.missing_reason("otelcol") or bench.bed.NetNS.available()[1],
)


@pytest.mark.collector
@needs_slow_collector
def test_flood_with_a_collector_that_accepts_slowly(tmp_path, capsys):
    """Exporting to a real Collector behind 1 mbit/s: what the Collector wrote is what we say we exported."""
    with capsys.disabled():
        run = bench.wrapped_slow(FLOOD_BYTES, "format", tmp_path)
        check_run(run, FLOOD_BYTES)
    s = run.summary
    assert s["emitted"] >= 1000, run.line()
    assert run.collector_logs == s["exported"], run.line()
    # The wrapper's own counters, in its last metric export, say the same.
    assert run.telemetry_metrics == {"exported": s["exported"], "dropped": s["dropped"]}, run.line()


# --- the pump itself: what it passes through is what the child wrote ----------------------


class HashingSink:
    """A binary sink that keeps only a SHA-256 and a byte count of what it was given."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def test_pump_passes_a_flood_through_byte_for_byte(tmp_path):
    """Under shedding (256 MiB as fast as possible) the passthrough of an identity handler is exactly the child's output."""
    nbytes = 256 << 20
    env = bench.child_env(nbytes, "replay", tmp_path / "direct.json")
    with open(tmp_path / "direct.out", "wb") as out:
        subprocess.run([sys.executable, str(bench.CHILD)], stdout=out, env=env, check=True, timeout=120)
    expected = hashlib.sha256((tmp_path / "direct.out").read_bytes()).hexdigest()
    (tmp_path / "direct.out").unlink()
    sink, seen = HashingSink(), []
    child = subprocess.Popen([sys.executable, str(bench.CHILD)], stdout=subprocess.PIPE,
                             env=bench.child_env(nbytes, "replay", tmp_path / "pumped.json"))
    reports: list[int] = []
    pump = PipePump(child.stdout, lambda raw: seen.append(len(raw)) or raw, sink, "test-pump", on_shed=reports.append)
    pump.start()
    assert child.wait(120) == 0
    pump.join(60)
    assert not pump.is_alive()
    written = json.loads((tmp_path / "pumped.json").read_text())
    print(f"\npump: {written['lines']} lines, {len(seen)} decided, {pump.shed_lines} shed")
    assert sink.size == nbytes and sink.digest.hexdigest() == expected
    assert pump.shed_lines > 0 and pump.handler_errors == 0
    # Shedding is reported as it happens, chunk by chunk, and adds up to what was shed.
    assert len(reports) > 1 and sum(reports) == pump.shed_lines and min(reports) > 0
    assert all(n > 1 for n in seen)  # whole lines only, never a fragment


def test_pump_splits_lines_across_reads_and_passes_overlong_lines_unparsed():
    """Lines cut across reads reach the handler whole; a line over 4 MiB is passed through unparsed, and the next is decided again."""
    read_end, write_end = os.pipe()
    sink, seen = io.BytesIO(), []
    pipe = open(read_end, "rb")  # noqa: SIM115 - the pump closes it at EOF
    pump = PipePump(pipe, lambda raw: seen.append(raw) or raw.upper(), sink, "test-pump")
    pump.start()
    lines = [b"0.00.000.%03d I line %d\n" % (i, i) for i in range(200)]
    overlong = b"x" * (5 << 20) + b"\n"
    data = b"".join(lines[:100]) + overlong + b"".join(lines[100:]) + b"last line without a newline"
    with open(write_end, "wb", buffering=0) as w:
        for i in range(0, len(data), 7777):  # odd sizes: every line boundary falls somewhere new
            w.write(data[i : i + 7777])
            time.sleep(0.0002)  # slowly enough that the pump never falls behind (and sheds)
    pump.join(30)
    assert seen == lines + [b"last line without a newline"]
    assert sink.getvalue() == b"".join(x.upper() for x in lines[:100]) + overlong + b"".join(x.upper() for x in lines[100:]) + b"LAST LINE WITHOUT A NEWLINE"
    assert pump.shed_lines == 1


def test_shedding_decides_every_suspect_the_overload_check_does_not_clear():
    """Under overload a suspect line is decided unless the check proves it harmless; the plain
    lines pass through unchanged, a cleared probe passes through as deciding it would print it
    (at DEBUG, or not at all under a drop policy), and both are counted as shed, nothing else."""
    from otel_plugins.pipeline import LinePipeline
    from otel_plugins.policy import Policy, Verdict

    pipeline = LinePipeline(Policy())
    probe_503 = b"0.01.000.001 I srv  log_server_r: request: GET /health 127.0.0.1 503\n"
    business_503 = b"0.01.000.002 I srv  log_server_r: request: POST /v1/chat/completions 10.0.0.7 503\n"
    error = b"0.01.000.003 E srv    send_error: task id = 7, error: out of memory\n"
    plain = b"0.01.000.004 I slot      release: id  0 | task 9 | stop processing: n_past = 54\n"
    assert pipeline.quiet_passthrough(probe_503, time.time()) is not None  # loading: the loading answer is quiet
    assert pipeline.quiet_passthrough(business_503, time.time()) is None
    data = probe_503 + plain + business_503 + probe_503 + error + plain
    printed = LinePipeline(Policy()).feed(probe_503)  # what deciding it passes through
    assert printed == probe_503.replace(b" I srv", b" D srv")
    seen, sink = [], io.BytesIO()
    pump = PipePump(io.BytesIO(), lambda raw: seen.append(raw) or raw, sink, "test-pump",
                    quiet=lambda raw: pipeline.quiet_passthrough(raw, time.time()))
    pump.shed(data, 0, len(data))
    assert seen == [business_503, error]
    assert pump.shed_lines == 4 and sink.getvalue() == printed + plain + business_503 + printed + error + plain
    # A policy that drops probes while loading: they leave the passthrough, shed all the same.
    dropping = LinePipeline(Policy(loading_verdict=Verdict.DROP))
    seen.clear()
    sink = io.BytesIO()
    pump = PipePump(io.BytesIO(), lambda raw: seen.append(raw) or raw, sink, "test-pump",
                    quiet=lambda raw: dropping.quiet_passthrough(raw, time.time()))
    pump.shed(data, 0, len(data))
    assert seen == [business_503, error]
    assert pump.shed_lines == 4 and sink.getvalue() == plain + business_503 + error + plain
    # Once ready, a probe's 503 is a probe failing after ready: decided, never shed.
    pipeline.feed_text("0.02.000.000 I srv  llama_server: model loaded")
    assert pipeline.phase.value == "ready"
    assert pipeline.quiet_passthrough(probe_503, time.time()) is None
    # A check that fails is our fault: the line is decided as if there were no check.
    seen.clear()
    broken = PipePump(io.BytesIO(), lambda raw: seen.append(raw) or raw, io.BytesIO(), "test-pump", quiet=lambda raw: 1 / 0)
    broken.shed(data, 0, len(data))
    assert seen == [probe_503, business_503, probe_503, error] and broken.handler_errors == 4


@pytest.mark.parametrize("answered", [
    b"0.01.000.002 I srv  log_server_r: request: GET /health 127.0.0.1 200\n",
    b"0.01.000.002 I srv       log_server_response: rid  | GET /v1/models 127.0.0.1:5050 | status 200 | cost 0.00s\n",
    b'INFO:     10.0.0.4:5050 - "GET /readyz HTTP/1.1" 200 OK\n',
    b'[GIN] 2025/01/02 - 10:00:00 | 200 |      15.1\xc2\xb5s |      10.0.0.4 | GET      "/healthz"\n',
])
def test_a_probe_answered_ok_before_ready_moves_the_phase_under_overload(answered):
    """Until the server is ready, a probe answered 2xx is what says it is ready: passed over, the
    phase would stay at loading and a probe failing after it would pass as the loading answer.
    So the scan finds it while the phase is not ready, and the overload check moves the phase as
    deciding it would (or has it decided, when the fast path does not know its shape): the 503
    after it is raised, never cleared."""
    from otel_plugins.pipeline import LinePipeline
    from otel_plugins.policy import Policy

    loading = b"0.01.000.001 I srv  log_server_r: request: GET /v1/models 127.0.0.1 503\n"
    failing = b"0.01.000.004 I srv  log_server_r: request: GET /health 127.0.0.1 503\n"
    business = b"0.01.000.003 I srv  log_server_r: request: POST /v1/chat/completions 10.0.0.7 200\n"
    data = loading + business + answered + business + failing + business

    class Records:
        def __init__(self) -> None:
            self.reasons: list[tuple[str, str | None]] = []

        def emit(self, classified, extra=None) -> None:
            self.reasons.append((classified.decision.severity.name, classified.decision.reason))

    records = Records()
    pipeline, seen, sink = LinePipeline(Policy(), records), [], io.BytesIO()
    pump = PipePump(io.BytesIO(), lambda raw: seen.append(raw) or pipeline.feed(raw), sink, "test-pump",
                    quiet=lambda raw: pipeline.quiet_passthrough(raw, time.time()), scan=pipeline.overload_scan)
    pump.shed(data, 0, len(data))
    from otel_plugins.dialects.fastpath import match_hot

    cleared = match_hot(answered.decode()) is not None  # the check reads the fast path's shapes only
    assert seen == ([failing] if cleared else [answered, failing]) and pipeline.phase.value == "ready"
    assert records.reasons[-1] == ("WARN", "probe_failed_after_ready")
    assert pump.shed_lines + pump.lines == 6 and pump.lines == len(seen)
    # The first 503 was the loading answer, cleared and passed through at DEBUG.
    assert sink.getvalue() == loading.replace(b" I srv", b" D srv") + business + pipeline_render(answered) + business + failing + business
    # Once ready, a healthy probe is harmless again: shed with the business lines, as is the
    # failing probe's repeat; the model list's 503 is a new failure after ready: decided.
    seen.clear()
    pump.shed(data, 0, len(data))
    assert seen == [loading]


def test_a_failing_probe_repeated_under_overload_is_shed_into_its_window_summary():
    """After ready, the first failing probe is decided and raised; its repeats within the window
    are what deciding them would make (DEBUG, counted into the window), so under overload they
    are shed, printed at DEBUG, and the window's WARN summary counts every one of them."""
    from otel_plugins.pipeline import LinePipeline
    from otel_plugins.policy import Policy

    class Records:
        def __init__(self) -> None:
            self.loud: list[str | None] = []
            self.summaries: list = []

        def emit(self, classified, extra=None) -> None:
            if classified.decision.severity.name == "WARN":
                self.loud.append(classified.decision.reason)

        def emit_summary(self, summary, extra=None) -> None:
            self.summaries.append(summary)

    failing = b"0.01.000.001 I srv  log_server_r: request: GET /health 127.0.0.1 503\n"
    plain = b"0.01.000.004 I slot      release: id  0 | task 9 | stop processing: n_past = 54\n"
    records = Records()
    pipeline, seen, sink = LinePipeline(Policy(), records), [], io.BytesIO()
    pipeline.feed_text("0.00.000.100 I main: server is listening on http://127.0.0.1:8080 - starting the main loop")
    pump = PipePump(io.BytesIO(), lambda raw: seen.append(raw) or pipeline.feed(raw), sink, "test-pump",
                    quiet=lambda raw: pipeline.quiet_passthrough(raw, time.time()), scan=pipeline.overload_scan)
    data = (failing + plain) * 5
    pump.shed(data, 0, len(data))
    assert seen == [failing] and records.loud == ["probe_failed_after_ready"]
    assert pump.shed_lines == 9
    assert sink.getvalue() == failing + plain + (failing.replace(b" I srv", b" D srv") + plain) * 4
    pipeline.close()
    assert [(s.status, s.suppressed, s.severity.name) for s in records.summaries] == [(503, 4, "WARN")]


def test_a_sampled_probe_under_overload_is_shed_into_its_window_as_deciding_it_would():
    """Under the `sample` verdict, the loading probe that opens a window is decided (its
    representative); the rest of the window are shed, left out of the passthrough and counted
    into the window's summary, exactly as deciding every line gives."""
    from otel_plugins.pipeline import LinePipeline
    from otel_plugins.policy import Policy, Verdict

    class Summaries:
        def __init__(self) -> None:
            self.kept: list[str] = []
            self.summaries: list = []

        def emit(self, classified, extra=None) -> None:
            self.kept.append(classified.record.text)

        def emit_summary(self, summary, extra=None) -> None:
            self.summaries.append((summary.path, summary.status, summary.suppressed, summary.severity.name))

    loading = b"0.01.000.001 I srv  log_server_r: request: GET /health 127.0.0.1 503\n"
    plain = b"0.01.000.004 I slot      release: id  0 | task 9 | stop processing: n_past = 54\n"
    data = (loading + plain) * 5
    outcomes = []
    for shedding in (False, True):
        records = Summaries()
        pipeline, sink = LinePipeline(Policy(loading_verdict=Verdict.SAMPLE), records), io.BytesIO()
        pump = PipePump(io.BytesIO(), pipeline.feed, sink, "test-pump",
                        quiet=lambda raw: pipeline.quiet_passthrough(raw, time.time()), scan=pipeline.overload_scan)
        if shedding:
            pump.shed(data, 0, len(data))
            assert pump.lines == 1 and pump.shed_lines == 9
        else:
            pump._lines(data, len(data))
        pipeline.close()
        outcomes.append((sink.getvalue(), [r for r in records.kept if "/health" in r], records.summaries))
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][0] == loading + plain * 5 and outcomes[1][2] == [("/health", 503, 4, "INFO")]


def test_a_scan_that_fails_to_be_chosen_leaves_the_fixed_scan_in_charge():
    """Choosing the scan is our code: if it fails, the pump sheds with the fixed scan and counts
    the fault, and the child's output goes on."""
    loading = b"0.01.000.001 I srv  log_server_r: request: GET /health 127.0.0.1 503\n"
    plain = b"0.01.000.004 I slot      release: id  0 | task 9 | stop processing: n_past = 54\n"
    seen, sink = [], io.BytesIO()
    pump = PipePump(io.BytesIO(), lambda raw: seen.append(raw) or raw, sink, "test-pump", scan=lambda: 1 / 0)
    pump.shed(loading + plain, 0, len(loading + plain))
    assert seen == [loading] and sink.getvalue() == loading + plain
    assert pump.handler_errors == 2  # asked before each of the two searches


def pipeline_render(raw: bytes) -> bytes:
    """What deciding `raw` passes through, on a pipeline of its own."""
    from otel_plugins.pipeline import LinePipeline
    from otel_plugins.policy import Policy

    return LinePipeline(Policy()).feed(raw) or b""


def test_a_probe_cleared_under_overload_counts_as_a_probe_response_as_if_decided():
    """A probe storm under overload shows on `llama.probe.responses` exactly as it would have if
    every probe had been decided: the cleared probes are counted there; as lines they are shed."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from otel_plugins.emit.metrics import InstanceMetrics
    from otel_plugins.pipeline import LinePipeline
    from otel_plugins.policy import Policy

    probe_503 = b"0.01.000.001 I srv  log_server_r: request: GET /health 127.0.0.1 503\n"
    plain = b"0.01.000.004 I slot      release: id  0 | task 9 | stop processing: n_past = 54\n"
    data = (probe_503 + plain) * 3

    def probe_responses(shedding: bool) -> tuple[dict, int]:
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader])
        pipeline = LinePipeline(Policy(), metrics=InstanceMetrics(provider.get_meter("t"), None))
        if shedding:
            pump = PipePump(io.BytesIO(), lambda raw: pipeline.feed(raw), io.BytesIO(), "test-pump",
                            quiet=lambda raw: pipeline.quiet_passthrough(raw, time.time()))
            pump.shed(data, 0, len(data))
            shed = pump.shed_lines
        else:
            for line in io.BytesIO(data):
                pipeline.feed(line)
            shed = 0
        found = {}
        for rm in reader.get_metrics_data().resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == names.METRIC_PROBES:
                        found = {tuple(sorted(p.attributes.items())): p.value for p in metric.data.data_points}
        provider.shutdown()
        return found, shed

    decided, _ = probe_responses(shedding=False)
    cleared, shed = probe_responses(shedding=True)
    assert shed == 6 and sum(decided.values()) == 3
    assert cleared == decided


def test_a_message_printed_again_under_overload_is_shed_as_a_repeat_within_its_window_only():
    """A server printing one warning or one progress line over and over: under overload the
    first printing is decided, the same message after another stamp within the sampling window
    and in the same phase is passed through as it came, counted as shed and summed up when the
    window closes (at the next printing after it, on the next line decided after it, at the end).
    A failure, a lifecycle line, an indented line and any printing after the window or a phase
    change is decided every time."""
    from otel_plugins.pipeline import LinePipeline
    from otel_plugins.policy import Policy

    warn = b"%s W llama_init_from_model: n_ctx_per_seq (256) < n_ctx_train (2048)\n"
    progress = b"%s I loaded  42%% model tensors into buffer\n"
    error = b"%s E srv    send_error: task id = 7, error: the request exceeds the available context size\n"
    listening = b"%s I main: server is listening on http://127.0.0.1:8080 - starting the main loop\n"
    stamps = iter(b"0.01.000.%03d" % n for n in range(1, 100))

    def lines(*templates: bytes) -> list[bytes]:
        return [t % next(stamps) for t in templates]

    class Records:
        def __init__(self) -> None:
            self.texts: list[str] = []
            self.summaries: list[tuple] = []

        def emit(self, classified, extra=None) -> None:
            self.texts.append(classified.record.text)

        def emit_summary(self, summary, extra=None) -> None:
            self.summaries.append((summary.severity.name, summary.kind, summary.reason, summary.suppressed, summary.message))

    def shed(block: list[bytes]) -> None:
        data = b"".join(block)
        pump.shed(data, 0, len(data))

    clock = [1000.0]
    records = Records()
    pipeline, seen, sink = LinePipeline(Policy(), records, clock=lambda: clock[0]), [], io.BytesIO()
    pump = PipePump(io.BytesIO(), lambda raw: seen.append(raw) or pipeline.feed(raw), sink, "test-pump",
                    quiet=lambda raw: pipeline.quiet_passthrough(raw, clock[0]), scan=pipeline.overload_scan,
                    must_decide=pipeline.must_decide)
    pipeline.feed(listening % b"0.00.000.001")  # ready: the probe rules are not what this is about
    records.texts.clear()
    first = lines(warn, progress, warn, progress, error, error, listening, listening, warn)
    shed(first)
    assert sink.getvalue() == b"".join(first)  # nothing here is downgraded or dropped: every byte as it came
    assert seen == [first[0], first[1], first[4], first[5], first[6], first[7]]
    assert pump.shed_lines == 3 and pump.lines == len(seen)
    assert [text.encode() + b"\n" for text in records.texts] == seen
    assert records.summaries == []  # the windows are open

    # Past the window the message is decided again: its first window is summed up, and the
    # progress line's, over too, with the next line decided.
    seen.clear()
    clock[0] += pipeline.classifier.sampler.window_s
    later = lines(warn, warn)
    shed(later)
    assert seen == later[:1]
    assert records.summaries == [
        ("WARN", "other", "repeated_under_overload", 2,
         "printed 2 more times in 60s, shed under overload: W llama_init_from_model: n_ctx_per_seq (256) < n_ctx_train (2048)"),
        ("INFO", "progress", "repeated_under_overload", 1, "printed 1 more times in 60s, shed under overload: I loaded  42% model tensors into buffer"),
    ]

    # An indented line is never taken for a repeat (it may be the rest of a message): asked
    # about one the check let through and the pipeline decided, the check still says decide it.
    rest = b"    and the request was truncated\n"
    for _ in range(2):
        assert pipeline.quiet_passthrough(rest, clock[0]) is None
        pipeline.feed(rest)

    # In another phase the same message is decided again, and the window before is summed up.
    seen.clear()
    del records.summaries[:]
    pipeline.lifecycle.exited(1, clock[0])
    block = lines(warn, warn)
    shed(block)
    assert seen == block[:1]
    assert [summary[3] for summary in records.summaries] == [1]
    pipeline.close()  # the last window, summed up at the end
    assert [summary[3] for summary in records.summaries] == [1, 1]
