"""The real Collector around `otel-plugins processor`: agent (filelog, rendered agent-processor.yaml)
-> processor -> gateway (file exporter).

- the shared corpus, each excerpt one log file: the gateway's records equal `otel-plugins tail`'s
  on the same files, record for record; no "Collector louder" class is left (a failing probe
  while loading is DEBUG exactly where the Python side says so);
- a real llama-server load (tests/bed.py) with probes every 0.1 s: the same, and every 503
  probe before "model loaded" is DEBUG, every one after it WARN;
- kill -9 of the processor in the middle of a stream, then a new one on the same port: every
  line arrives; duplicates are counted and must come from batches in flight at the kill.

Binaries: scripts/build_collector.sh (otelcol), scripts/build_llama.sh (llama-server).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from otel_plugins import names

import bed
from conftest import CORPUS_DIR
from processor_bed import CLI, Agent, Gateway, ProcessorProcess, Prober, by_stream, diff, python_env, wait_stable
from services import missing_reason

pytestmark = pytest.mark.collector

CORPUS = CORPUS_DIR / "excerpts.jsonl"


def need_otelcol() -> None:
    reason = missing_reason("otelcol")
    if reason:
        pytest.skip(reason)


def write_excerpts(directory: Path) -> dict[str, list[str]]:
    """Each corpus excerpt as one log file; returns path -> lines."""
    if not CORPUS.exists():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for index, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            lines = json.loads(line)["lines"]
            path = directory / f"{index:03d}.log"
            path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
            files[str(path)] = lines
    return files


def tail_records(glob: Path, out: Path, expected_lines: int, timeout: float = 120.0) -> list[tuple[str, dict]]:
    """`otel-plugins tail --from-start` over the files until it read them all, then SIGTERM."""
    import otlp_files

    proc = subprocess.Popen(
        [*CLI, "tail", "--from-start", "--output-dir", str(out), "--poll-interval", "0.05", str(glob)],
        env=python_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    # Records a stream makes when it closes come after the SIGTERM.
    wait_stable(lambda: len(otlp_files.logs(out)), expected_lines, timeout, settle_s=3.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return [(r["attrs"]["log.file.path"], r) for r in otlp_files.logs(out)]


def gateway_streams(gateway: Gateway) -> list[tuple[str, dict]]:
    return [(resource["log.file.path"], record) for resource, record in gateway.resource_records()]


def run_agent_processor(tmp: Path, directory: Path, expected: int, replicas: int = 1) -> tuple[list, list[str]]:
    """The files through agent -> processor(s) -> gateway; the processors stopped (SIGTERM) at the end.
    Returns the gateway's (stream, record) pairs and each processor's stderr."""
    with Gateway(tmp / "gateway") as gateway:
        processors = [ProcessorProcess(gateway.forward_url, log=tmp / f"processor-{n}.err").start() for n in range(replicas)]
        endpoints = [f"127.0.0.1:{p.grpc_port}" for p in processors] if replicas > 1 else None
        try:
            with Agent(directory / "*.log", processors[0].grpc_port, tmp / "storage", endpoints):
                # Records the streams make when they close (a crash dump without gdb's end) come at the stop.
                gateway.wait_records(expected * 9 // 10, settle_s=3.0)
        finally:
            codes = [p.stop() for p in processors]
        assert codes == [0] * replicas, [p.stderr() for p in processors]
        gateway.wait_records(expected, timeout=30.0, settle_s=1.0)
        return gateway_streams(gateway), [p.stderr() for p in processors]


def assert_same_records(python: list, got: list) -> None:
    expected, actual = by_stream(python), by_stream(got)
    assert set(actual) == set(expected)
    problems = {stream: diff(expected[stream], actual[stream]) for stream in expected if expected[stream] != actual[stream]}
    assert not problems, "\n".join(f"{s}:\n{p}" for s, p in list(problems.items())[:5])


def test_corpus_through_agent_processor_gateway_equals_tail(tmp_path, capsys):
    """Every corpus excerpt as a file: the gateway's records are `tail`'s, record for record (body, severity, attributes)."""
    need_otelcol()
    files = write_excerpts(tmp_path / "serve")
    python = tail_records(tmp_path / "serve" / "*.log", tmp_path / "tail", sum(len(v) for v in files.values()) // 2)
    # The filelog receiver emits no empty lines; the Python side makes each one a record.
    python = [(s, r) for s, r in python if r["body"].strip()]
    got, (summary,) = run_agent_processor(tmp_path, tmp_path / "serve", len(python))
    assert_same_records(python, got)
    loading = [r for _s, r in got if r["attrs"].get("llama.policy.reason") == "probe_while_loading"]
    with capsys.disabled():
        print(f"\n[corpus] {len(got)} records at the gateway, {len(files)} streams, identical to tail; "
              f"{len(loading)} failing probes while loading at DEBUG\n{summary.strip().splitlines()[-2]}")
    assert loading and all(r["severity"] == "DEBUG" for r in loading)


def test_two_replicas_keep_each_stream_on_one(tmp_path, capsys):
    """load_balancing by resource over two processors: each stream opened by exactly one replica, records still tail's."""
    need_otelcol()
    files = write_excerpts(tmp_path / "serve")
    python = [(s, r) for s, r in tail_records(tmp_path / "serve" / "*.log", tmp_path / "tail", sum(len(v) for v in files.values()) // 2)
              if r["body"].strip()]
    got, summaries = run_agent_processor(tmp_path, tmp_path / "serve", len(python), replicas=2)
    opened = [int(re.search(r"processor: (\d+) streams", text).group(1)) for text in summaries]
    # A stream split over both replicas would be opened twice: the sum would pass the file count.
    assert sum(opened) == len(files) and min(opened) > 0, opened
    assert_same_records(python, got)
    with capsys.disabled():
        print(f"\n[2 replicas] {len(files)} streams split {opened[0]} + {opened[1]}; {len(got)} records identical to tail")


needs_bed = pytest.mark.skipif(bed.bin_path("llama-server") is None, reason="llama-server not built: run scripts/build_llama.sh")


@needs_bed
def test_bed_load_through_agent_processor_gateway(tmp_path, capsys):
    """A real llama-server load, probed every 0.1 s and tailed live: tail's records, 503 before ready DEBUG, failures after WARN."""
    need_otelcol()
    model = bed.ensure_model(1024, 4)  # 266 MB: a load long enough to be probed
    serve = tmp_path / "serve"
    serve.mkdir()
    port = bed.free_port()
    with Gateway(tmp_path / "gateway") as gateway:
        processor = ProcessorProcess(gateway.forward_url, log=tmp_path / "processor.err").start()
        try:
            with Agent(serve / "*.err", processor.grpc_port, tmp_path / "storage"):
                server = bed.start_llama_server(model, port, log_dir=serve)
                # /metrics is off on this server: 503 while it loads, 501 once it serves.
                prober = Prober(f"http://127.0.0.1:{port}", ("/health", "/v1/models", "/metrics"), interval=0.02)
                prober.start()
                try:
                    bed.wait_http(f"http://127.0.0.1:{port}/health", timeout=180, expect=200, proc=server)
                    time.sleep(1.0)
                    status, body = bed.http_request(
                        f"http://127.0.0.1:{port}/v1/chat/completions", "POST",
                        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}, timeout=60,
                    )
                    assert status == 200, body
                    assert bed.http_request(f"http://127.0.0.1:{port}/no-such-route")[0] == 404
                    time.sleep(0.5)
                finally:
                    prober.stopping.set()
                    prober.join(5)
                    bed.stop_process(server)
                lines = Path(server.stderr_path).read_text(errors="replace").splitlines()
                gateway.wait_records(len(lines) * 9 // 10, settle_s=3.0)
        finally:
            code = processor.stop()
        assert code == 0, processor.stderr()
    # llama-server writes a line's stamp and the rest in separate writes to an unbuffered stderr.
    # When it dies at stop (`terminate called without an active exception`) between the two, the
    # file ends in a stamp with no newline. The agent's filelog emits that fragment once its
    # force-flush period passes; `tail` holds an unended last line until the file is rotated or
    # removed. So a record whose body is a stamp and nothing else is left out on both sides, as
    # blank ones are.
    def worded(record: dict) -> bool:
        return bool(record["body"].strip()) and re.fullmatch(r"\s*\d+\.\d{2}\.\d{3}\.\d{3}\s*", record["body"]) is None

    python = [(s, r) for s, r in tail_records(serve / "*.err", tmp_path / "tail", len(lines) // 2) if worded(r) and s.endswith(".err")]
    got = [(s, r) for s, r in gateway_streams(gateway) if worded(r) and s.endswith(".err")]
    expected, actual = by_stream(python), by_stream(got)
    assert len(expected) == len(actual) == 1, (list(expected), list(actual))
    assert expected == actual, diff(*expected.values(), *actual.values())

    assert prober.statuses[("/health", 503)] and prober.statuses[("/metrics", 501)], prober.statuses
    ready_at = next(i for i, (_s, r) in enumerate(got) if r["attrs"].get("llama.log.event") == "ready")
    probes = [(i, r) for i, (_s, r) in enumerate(got) if r["attrs"].get("llama.log.kind") == "probe" and r["attrs"].get("http.response.status_code", 0) >= 500]
    before = [r for i, r in probes if i < ready_at]
    after = [r for i, r in probes if i > ready_at]
    assert before and {r["severity"] for r in before} == {"DEBUG"}, Counter(r["severity"] for r in before)
    # After ready the first failure of each path and status in a window is raised; its repeats
    # in that window are kept at DEBUG (a WARN summary counts them).
    summaries = [r for r in after if names.ATTR_SUPPRESSED_COUNT in r["attrs"]]
    after = [r for r in after if names.ATTR_SUPPRESSED_COUNT not in r["attrs"]]
    reasons = Counter((r["severity"], r["attrs"].get("llama.policy.reason")) for r in after)
    assert after and after[0]["severity"] == "WARN", reasons
    assert set(reasons) <= {("WARN", "probe_failed_after_ready"), ("DEBUG", "probe_failure_repeated")}, reasons
    # Each window's repeats are summed up in one WARN record; a window still open at the end is closed then.
    assert {r["severity"] for r in summaries} <= {"WARN"}
    assert sum(r["attrs"][names.ATTR_SUPPRESSED_COUNT] for r in summaries) <= reasons[("DEBUG", "probe_failure_repeated")]
    with capsys.disabled():
        print(f"\n[bed] {len(lines)} server lines, {len(got)} records at the gateway identical to tail; failing probes: "
              f"{len(before)} before ready (DEBUG), {len(after)} after ({dict(reasons)})")


def storm_line(number: int) -> str:
    """A line unique by its number: uvicorn access lines (probe 503s, then 200s) among chat requests."""
    port = 1024 + number
    if number % 10 == 0:
        return f'INFO:     10.0.0.7:{port} - "POST /v1/chat/completions HTTP/1.1" 200 OK'
    status = "503 Service Unavailable" if number < 6000 else "200 OK"
    return f'INFO:     127.0.0.1:{port} - "GET /health HTTP/1.1" {status}'


def test_processor_killed_mid_stream_loses_nothing(tmp_path, capsys):
    """kill -9 of the processor while a stream flows, then a new one on the same port: every line arrives; duplicates are counted."""
    need_otelcol()
    total, pace = 12_000, 1500  # lines, lines per second
    serve = tmp_path / "serve"
    serve.mkdir()
    log = serve / "1.log"
    grpc_port = bed.free_port()
    with Gateway(tmp_path / "gateway") as gateway:
        first = ProcessorProcess(gateway.forward_url, grpc_port=grpc_port, log=tmp_path / "processor-1.err").start()
        with Agent(serve / "*.log", grpc_port, tmp_path / "storage"):
            written = threading.Event()

            def write() -> None:
                with log.open("a", encoding="utf-8") as out:
                    for number in range(total):
                        out.write(storm_line(number) + "\n")
                        if number % 50 == 49:
                            out.flush()
                            time.sleep(50 / pace)
                written.set()

            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            deadline = time.monotonic() + 60
            while len(gateway.records()) < total // 3:
                assert time.monotonic() < deadline, f"only {len(gateway.records())} records before the kill"
                time.sleep(0.05)
            first.kill()
            at_kill = len(gateway.records())
            time.sleep(2.0)
            second = ProcessorProcess(gateway.forward_url, grpc_port=grpc_port, log=tmp_path / "processor-2.err").start()
            try:
                written.wait(60)
                bodies = Counter()
                deadline = time.monotonic() + 120
                while len(bodies) < total and time.monotonic() < deadline:
                    time.sleep(0.5)
                    bodies = Counter(r["body"] for r in gateway.records())
            finally:
                assert second.stop() == 0, second.stderr()
    missing = [n for n in range(total) if storm_line(n) not in bodies]
    duplicated = sorted(n for n in range(total) if bodies[storm_line(n)] > 1)
    assert not missing, f"{len(missing)} lines lost, first {missing[:10]}"
    # At-least-once: only what the dead processor forwarded and could not acknowledge comes
    # twice. The agent sends one batch at a time (<= 8192 records), so that is one run of lines.
    runs = [n for i, n in enumerate(duplicated) if i == 0 or duplicated[i - 1] != n - 1]
    assert len(runs) <= 1 and len(duplicated) <= 8192, (len(duplicated), runs[:5])
    assert all(count <= 2 for count in bodies.values())
    with capsys.disabled():
        where = f"lines {duplicated[0]}..{duplicated[-1]}" if duplicated else "none"
        print(f"\n[kill -9] {total} lines, {at_kill} at the gateway when killed; after restart all {total} arrived; "
              f"duplicated {len(duplicated)} ({where})")
