"""One line pipeline, four ways in: the same recorded streams through `run` (a fake child printing
them, tests/children/printer.py), `tail`, `replay` and the processor (the rendered agent-processor
agent -> processor -> gateway, real Collectors) give the same records and the same line metrics.

Streams: every excerpt of the shared corpus (one file, one stream each) and a real llama-server
log recorded here (a load probed every 0.1 s, then a chat and a 404). Compared per stream:
records as (body, severity, attributes) without the stream's own attributes (`log.iostream`,
`log.file.*`) and without timestamps; metric totals of `llama.probe.responses`,
`llama.log.suppressed` and `llama.log.records` by attributes, without the entry point's own
(`llama.server.kind`...).

Inputs carry no empty lines: the filelog receiver emits none, the other entry points make
each a record (collector-config/README.md).

`run`, `tail` and the processor place a line when it arrives; `replay` at the time it
carries (`line_time`). They must agree exactly. `replay` may differ only where a rule
reads the time between lines, and then only by class (printed with `-s`):
- `cadence`: a GET repeated at a steady interval (>= 0.5 s apart) is a probe; lines that
  arrive together have no interval. `replay` reads its file once ahead, so such a series is
  a probe from its first request, and a probe after those may find the server ready
  sooner (reason `probe_healthy` where `run` says `probe_while_loading`);
- `crash_split`: a crash dump ends after 1 s without a new part; by line time a dump can
  end (and a new one start) where arriving lines keep one dump open.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import bed
import otlp_files
from conftest import CORPUS_DIR
from processor_bed import CLI, Agent, Gateway, ProcessorProcess, Prober, by_stream, diff, metric_totals, python_env, wait_stable
from services import missing_reason

from otel_plugins import cli
from otel_plugins.policy import Policy

pytestmark = pytest.mark.collector

PRINTER = Path(__file__).resolve().parent / "children" / "printer.py"
REPLAY_CLASSES = ("cadence", "crash_split")


def corpus_streams() -> dict[str, list[str]]:
    path = CORPUS_DIR / "excerpts.jsonl"
    if not path.exists():
        pytest.skip(f"the shared corpus is not at {path}")
    streams = {}
    for index, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            streams[f"{index:03d}"] = [text for text in json.loads(line)["lines"] if text.strip()]
    return streams


def write_streams(streams: dict[str, list[str]], directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, lines in streams.items():
        files[name] = directory / f"{name}.log"
        files[name].write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
    return files


def in_process(argv: list[str]) -> int:
    """One CLI command in this process (run installs signal handlers: put pytest's back)."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        return cli.main(argv)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def through_run(files: dict[str, Path], out: Path) -> tuple[list, dict]:
    records, totals = [], Counter()
    for name, path in files.items():
        where = out / name
        where.mkdir(parents=True)
        code = in_process(["run", "--quiet", "--progress", "never", "--output-dir", str(where), "--log-file", str(where / "passthrough.log"),
                           "--", sys.executable, str(PRINTER), str(path)])
        assert code == 0, name
        records += [(name, r) for r in otlp_files.logs(where)]
        totals.update(metric_totals(where))
    return records, dict(totals)


def through_replay(files: dict[str, Path], out: Path) -> tuple[list, dict]:
    records, totals = [], Counter()
    for name, path in files.items():
        where = out / name
        assert in_process(["replay", "--no-passthrough", "--output-dir", str(where), str(path)]) == 0
        records += [(name, r) for r in otlp_files.logs(where)]
        totals.update(metric_totals(where))
    return records, dict(totals)


def through_tail(files: dict[str, Path], out: Path, records: int) -> tuple[list, dict]:
    directory = next(iter(files.values())).parent
    proc = subprocess.Popen(
        [*CLI, "tail", "--from-start", "--poll-interval", "0.05", "--output-dir", str(out), str(directory / "*.log")],
        env=python_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    # Records a stream makes when it closes come after the SIGTERM.
    wait_stable(lambda: len(otlp_files.logs(out)), records * 9 // 10, settle_s=3.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    name_of = {str(path): name for name, path in files.items()}
    return [(name_of[r["attrs"]["log.file.path"]], r) for r in otlp_files.logs(out)], metric_totals(out)


def through_processor(files: dict[str, Path], tmp: Path, records: int) -> tuple[list, dict]:
    directory = next(iter(files.values())).parent
    with Gateway(tmp / "gateway") as gateway:
        processor = ProcessorProcess(gateway.forward_url, log=tmp / "processor.err").start()
        try:
            with Agent(directory / "*.log", processor.grpc_port, tmp / "storage"):
                gateway.wait_records(records * 9 // 10, settle_s=3.0)
        finally:
            assert processor.stop() == 0, processor.stderr()
        gateway.wait_records(records, timeout=30.0, settle_s=1.5)  # the processor's last metrics too
    name_of = {str(path): name for name, path in files.items()}
    return [(name_of[resource["log.file.path"]], r) for resource, r in gateway.resource_records()], metric_totals(gateway.out)


def replay_class(expected: Counter, got: Counter) -> str | None:
    """The documented class of one stream's replay difference (run's records `expected`), or None."""
    missing, extra = expected - got, got - expected
    if all("exception.type" in dict(attrs) for _b, _s, attrs in (missing + extra).elements()):
        return "crash_split"
    run_attrs = {body: dict(attrs) for body, _s, attrs in missing.elements()}
    probe_paths = Policy().probes.paths
    for body, severity, attrs in extra.elements():
        found, was = dict(attrs), run_attrs.get(body, {})
        # A GET that repeats across a long gap (over repeat_max_interval_s by line time) stays HTTP traffic.
        polled = was.get("llama.log.kind") == "http" and found.get("llama.log.kind") == "probe" and found.get("url.path") not in probe_paths
        ready_sooner = (
            severity == "DEBUG" and was.get("llama.policy.reason") == "probe_while_loading"
            and found.get("llama.policy.reason") == "probe_healthy"
            and {k: v for k, v in was.items() if k != "llama.policy.reason"} == {k: v for k, v in found.items() if k != "llama.policy.reason"}
        )  # fmt: skip
        if not (polled or ready_sooner):
            return None
    return "cadence" if sum(missing.values()) == sum(extra.values()) else None


def check_parity(streams: dict[str, list[str]], tmp: Path, capsys, label: str) -> None:
    need = missing_reason("otelcol")
    if need:
        pytest.skip(need)
    files = write_streams(streams, tmp / "in")
    lines = sum(len(v) for v in streams.values())
    started = time.monotonic()
    results = {"run": through_run(files, tmp / "run")}
    expected = len(results["run"][0])  # records: fewer than lines where crash dumps fold
    results["replay"] = through_replay(files, tmp / "replay")
    results["tail"] = through_tail(files, tmp / "tail", expected)
    results["processor"] = through_processor(files, tmp / "processor", expected)
    took = time.monotonic() - started
    records = {name: by_stream(result[0]) for name, result in results.items()}
    metrics = {name: result[1] for name, result in results.items()}
    reference = records["run"]
    assert sum(sum(c.values()) for c in reference.values()) >= lines * 9 // 10
    for name in ("tail", "processor"):
        problems = {s: diff(reference.get(s, Counter()), records[name].get(s, Counter())) for s in streams
                    if reference.get(s, Counter()) != records[name].get(s, Counter())}
        assert not problems, f"{name} differs from run:\n" + "\n".join(f"{s}:\n{p}" for s, p in list(problems.items())[:5])
        assert metrics[name] == metrics["run"], f"{name} metrics: {set(metrics[name].items()) ^ set(metrics['run'].items())}"
    replay_differences: Counter = Counter()
    for stream in streams:
        expected, got = reference.get(stream, Counter()), records["replay"].get(stream, Counter())
        if expected != got:
            cls = replay_class(expected, got)
            assert cls is not None, f"replay differs from run in stream {stream} beyond the documented classes:\n{diff(expected, got)}"
            replay_differences[cls] += 1
    if not replay_differences:
        assert metrics["replay"] == metrics["run"]
    with capsys.disabled():
        total = sum(sum(c.values()) for c in reference.values())
        print(f"\n[{label}] {len(streams)} streams, {lines} lines, {total} records: run = tail = processor (records and "
              f"{len(metrics['run'])} line metric series); replay differs in {dict(replay_differences) or 'no'} streams ({took:.0f} s)")


def test_corpus_streams_agree_across_entry_points(tmp_path, capsys):
    """Every corpus excerpt: run, tail and the processor identical; replay only where line time matters."""
    check_parity(corpus_streams(), tmp_path, capsys, "corpus")


@pytest.mark.skipif(bed.bin_path("llama-server") is None, reason="llama-server not built: run scripts/build_llama.sh")
def test_bed_log_agrees_across_entry_points(tmp_path, capsys):
    """A log a real llama-server printed through a probed load: the same four ways, the same records."""
    model = bed.ensure_model(1024, 4)  # 266 MB: a load long enough to be probed
    port = bed.free_port()
    server = bed.start_llama_server(model, port, log_dir=tmp_path / "bed")
    # /metrics is off on this server: 503 while it loads, 501 once it serves.
    prober = Prober(f"http://127.0.0.1:{port}", ("/health", "/v1/models", "/metrics"), interval=0.02)
    prober.start()
    try:
        bed.wait_http(f"http://127.0.0.1:{port}/health", timeout=180, expect=200, proc=server)
        time.sleep(0.5)
        status, body = bed.http_request(f"http://127.0.0.1:{port}/v1/chat/completions", "POST",
                                        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}, timeout=60)
        assert status == 200, body
        bed.http_request(f"http://127.0.0.1:{port}/no-such-route")
        time.sleep(0.3)
    finally:
        prober.stopping.set()
        prober.join(5)
        bed.stop_process(server)
    lines = [line for line in Path(server.stderr_path).read_text(errors="surrogateescape").splitlines() if line.strip()]
    assert any("GET /health" in line and " 503" in line for line in lines), "no probe answered 503 while loading"
    check_parity({"llama-server": lines}, tmp_path, capsys, "bed log")

