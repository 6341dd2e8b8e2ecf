"""The same lines through the Python classifier and through the real Collector running the
rendered agent: the per-line outcome (dropped or not, and severity) must be identical.

Inputs: every excerpt of the shared corpus (each excerpt one stream, as the Python side reads
it) plus generated lines of every dialect, once before and once after a "ready" marker.
The Collector reads them with the agent's filelog receiver (start_at beginning, the include
glob pointed at the test file through GPUSTACK_SERVE_LOGS) and writes through the file
exporter instead of the gateway export (`agent_config(exporter="file")`, same renderer).
Records are matched to input lines by their text: the Collector is stateless, so every
copy of one text has one outcome.

Where the outcomes differ, the difference must fall in a documented class (README,
"Where the Collector cannot match the Python side"), and the Collector must be the louder:

- `failing_probe_phase_unknown`: a probe >= 400 that Python quiets because the phase says
  loading; the line alone does not prove it, so the Collector keeps it at WARN;
- `probe_phase_verdicts`: loading_verdict != ready_verdict, the Collector takes the louder;
- `polling`: Python found a probe by its client repeating itself (or probing) across lines; the Collector keeps the line;
- `sampled`: Python keeps one line per window; the Collector keeps every line, at DEBUG;
- `repeated_failure`: Python keeps a failing probe's repeats within its window at DEBUG (a
  WARN summary counts them); the Collector keeps each at WARN.

Binaries: scripts/build_collector.sh (otelcol). Skips only when it is missing.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import CORPUS_DIR

from otel_plugins.classify import Classified, Classifier
from otel_plugins.collector import agent_config, to_yaml
from otel_plugins.dialects.envelope import strip_ansi
from otel_plugins.policy import Policy, Verdict
from otel_plugins.policy.decide import REASON_FAILURE_REPEATED, REASON_HEALTHY, REASON_LOADING, ProbeMatcher
from otel_plugins.record import Kind
from otel_plugins.redact import redact_text
from services import Collector, missing_reason

pytestmark = pytest.mark.collector

CORPUS = CORPUS_DIR / "excerpts.jsonl"
TESTDATA = Path(__file__).resolve().parent.parent / "collector-config" / "testdata"
SENTINEL = "otel-plugins equivalence: end of input"
READY = "0.09.000.000 I main: server is listening on http://127.0.0.1:8080 - starting the main loop"
DROPPED = -1  # the "severity" of a line that is not emitted

CLASSES = ("failing_probe_phase_unknown", "probe_phase_verdicts", "polling", "sampled", "repeated_failure")


def corpus_streams() -> list[list[str]]:
    if not CORPUS.exists():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    return [json.loads(line)["lines"] for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def generated_lines() -> list[str]:
    """Lines of every dialect the Python side parses: probes, client traffic, levels, errors."""
    up = "0.01.234.567"
    wall = "[2025-05-15 16:41:00.460014]"
    out: list[str] = []
    for path in ("/health", "/v1/models", "/metrics", "/v1/chat/completions", "/no-such-route"):
        for client in ("127.0.0.1", "10.9.8.7", "::1"):
            for status in (200, 404, 503):
                for method in ("GET", "POST"):
                    out += [
                        f"{up} I srv       log_server_response: rid  | {method} {path} {client}:40001 | status {status} | cost 28.33s",
                        f"{up} I srv       log_server_response: rid 8611 | {method} {path} {client}:40002 | status {status} | cost 0.01s",
                        f"{wall} {'E' if status >= 400 else 'I'} srv                  response: rid 77 | {method:>4} {path} {client}:40003 | status {status} | cost 0.12ms | closed",
                        f"srv  log_server_r: request: {method} {path} {client} {status}",
                        f"{up} I srv  log_server_r: done request: {method} {path} {client} {status}",
                        f"INFO:     {client}:5000 - \"{method} {path} HTTP/1.1\" {status} OK",
                        f"[2026-07-04 04:30:47] INFO:     {client}:5001 - \"{method} {path}?x=1 HTTP/1.1\" {status} OK",
                        f"(APIServer pid=1) INFO:     {client}:5002 - \"{method} {path} HTTP/1.1\" {status} OK",
                        f"[llama-swap] {client} [2025-03-20 11:27:15] \"{method} {path} HTTP/1.1\" {status} 390 \"curl/8.5.0\" 11.05µs",
                        f"[INFO] Request {client} \"{method} {path} HTTP/1.1\" {status} 781 \"UA\" 17.09s",
                        f"[GIN] 2024/07/12 - 14:13:22 | {status} |  1.418235476s |       {client} | {method}     \"{path}\"",
                        '{"function":"log_server_request","level":"INFO","line":2734,"method":"%s","msg":"request","params":{},"path":"%s","remote_addr":"%s","remote_port":5003,"status":%d}'
                        % (method, path, client, status),
                        f'DEBUG [log_server_request] request | method="{method}" params={{}} path="{path}" remote_addr="{client}" remote_port=36972 status={status} tid="1"',
                        f"Apr 07 15:39:09 host llama-swap[2631815]: srv  log_server_r: request: {method} {path} {client} {status}",
                        f"vllm-1  | INFO:     {client}:5004 - \"{method} {path} HTTP/1.1\" {status} OK",
                    ]
        out.append(f"{up} I srv        log_server_request: rid  | GET {path} 127.0.0.1:40004")
        out.append(f"{wall} I srv                   request: rid 78 |  GET {path} 10.0.0.1:40005")
    out += [
        "!!! Health check error: status code: 503",
        "!!! Health check error",
        "[INFO] <qwen> Health check passed on http://localhost:5806/health",
        "[WARN] <qwen> Health check failed: connection refused",
        "[ERROR] llama-swap could not start the upstream",
        "[DEBUG] <qwen> swapState() State transitioned from starting to ready",
        f"{up} W load: special_eos_id is not in special_eog_ids",
        f"{up} E srv    load_model: failed to load model, '/models/x.gguf'",
        f"{up} D srv  update_slots: all slots are idle",
        f"{up} T trace line",
        f"{up} F fatal line",
        f"{wall} W srv  params_from_: Chat format: GPT-OSS",
        "W llama_init_from_model: n_ctx_per_seq (256) < n_ctx_train (2048)",
        "E ggml_backend_cuda_buffer_type_alloc_buffer: allocating 1.0 MiB on device 0: cudaMalloc failed",
        "INFO 05-06 21:00:52 [api_server.py:602] Starting vLLM server on http://0.0.0.0:8000",
        "WARNING 05-06 21:00:52 [config.py:1] something to note",
        "ERROR 05-06 21:00:52 [engine.py:3] EngineCore failed to start",
        "[2025-11-30 11:18:01] Capture cuda graph end. error words here are not inference: failed",
        "[2025-11-30 11:18:01 TP0] Prefill batch, #new-seq: 1",
        "2025-05-14 17:45:10.901 1647689 kserve.trace Received request: failed to decode",
        "2025-05-14 17:45:10.901 uvicorn.access INFO:     127.0.0.1:42226 1647689 - \"GET /health HTTP/1.1\" 200 OK",
        "2025-08-12 10:39:04.097779+08:00 - gpustack.server.server - DEBUG - Scheduler started.",
        "2025-08-30 02:14:54.192239+12:00 - gpustack.worker.worker_manager - WARNING - RPC server for GPU 0 is not running, pid 22672, restarting.",
        "2026-03-29 13:05:36 - ERROR - Failed to serve model model-q2k.gguf",
        "2026-07-04 04:30:58,796 - INFO - all good",
        "time=2024-07-12T14:13:22.804-03:00 level=DEBUG source=sched.go:348 msg=\"context for request finished\"",
        "time=2024-07-12T14:13:22.804-03:00 level=ERROR source=server.go:1 msg=\"llama runner terminated\" error=\"exit status 2\"",
        "time=2024-07-12T14:13:22.804-03:00 level=WEIRD source=x.go:1 msg=hello",
        '{"function":"main","level":"WARN","line":1,"msg":"model loaded with warnings"}',
        '{"function":"load_model","level":"ERROR","line":1,"msg":"failed to load model"}',
        "VERB [update_slots] slot released | n_past=1",
        "ERROR [init] failed | x=1",
        "Failed to connect to 10.0.0.2:50052",
        "Failed to accept client connection",
        "[send_data] interrupted: Connection reset by peer, retrying...",
        "[recv_msg] failed to recv data from 10.0.0.2:50052",
        "[get_device_memory] device: 0, free_mem: 1, total_mem: 2",
        "WARNING: Host ('0.0.0.0') is != '127.0.0.1'",
        "Accepted client connection, free_mem=25276514304, total_mem=25276514304",
        "Client connection closed",
        "Starting RPC server v5.1.0",
        "Starting RPC server on 0.0.0.0:50052, backend memory: 7686 MB",
        "  endpoint       : 0.0.0.0:50052",
        "  CPU: AMD Ryzen (63676 MiB, 63676 MiB free)",
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        "srv rpcserver_start: listening hostname = 0.0.0.0, port = 50052, allocatable_mib = 1000, capacity_mib = 2000",
        "srv             rpc_send_data: failed to send data, retrying",
        "cli                  accepted: 10.0.0.5:40000",
        "srv start: proto v3.0.0, listening host = 0.0.0.0, port = 50052, capacity_mib = 2000",
        "srv loop: accepted 10.0.0.5:40000",
        f"{up} I load_tensors: RPC[172.17.0.3:50760] model buffer size = 104842.70 MiB",
        "load_tensors: failed to allocate CUDA0 buffer of size 1000",
        "loaded  36% model tensors into buffer",
        "main: loading model",
        "ggml_backend_metal_log_allocated_size: allocated buffer, size =  4156.00 MiB, ( 4156.06 / 21845.34)",
        "..........................................",
        "........2026-03-29 13:05:36 - ERROR - Failed after dots",
        "GGML_ASSERT(ctx->mem_buffer != NULL) failed",
        "/src/ggml/src/ggml-cuda/ggml-cuda.cu:75: CUDA error",
        "terminate called without an active exception",
        "terminate called after throwing an instance of 'std::runtime_error'",
        "  what():  bad things",
        "Segmentation fault (core dumped)",
        "Aborted",
        "panic: runtime error: index out of range",
        "goroutine 40 [running]:",
        "#3  0x00007f1234 in ggml_abort () from /lib/libggml.so",
        "[New LWP 1234]",
        "./libggml-base.so(+0x1234) [0x7f00deadbeef]",
        "main: exiting due to model loading error",
        "common_init_from_params: failed to load model '/x.gguf'",
        "llama_model_load: error loading model: done",
        "llama_model_loader: warning: something odd",
        "foo.error: a tag with a dot",
        "error: failed to open file",
        "warning: this is only a warning",
        "Warning: capitalised",
        "ERROR: uvicorn-like strict failure",
        "INFO something failed without a colon",
        "NOTICE: a notice",
        "unable to allocate backend buffer",
        "out of memory while loading",
        "everything is fine",
        "[1234:0101/120000.123:ERROR:foo.cc(12)] chromium error",
        "[1234:0101/120000.123:VERBOSE1:foo.cc(12)] chromium verbose",
        "2025-01-01 10:00:00 [WARN] LM Studio warning",
        "llama runner process has terminated: exit status 2 error",
        "[42751] 0.01.000.000 I srv  log_server_r: request: GET /health 127.0.0.1 200",
        "\x1b[0;32m0.01.000.000 I srv  log_server_r: request: GET /health 127.0.0.1 503\x1b[0m",
        "^[[0;36m(APIServer pid=31)^[[0;0m INFO:     127.0.0.1:5 - \"GET /health HTTP/1.1\" 503 Service Unavailable",
        " LlamaV4: server assigned slot 0 to task 163",
        "**INFO:     127.0.0.1:1 - \"GET /health HTTP/1.1\" 200 OK**",
        "2026-07-28T20:08:36.626065-04:00 host llama-server[7]: E srv  x: bad",
    ]
    # llama-box prints empty request ids only while it loads, before anything answers 200.
    loading = [line for line in out if _loading_only(line)]
    return loading + [line for line in out if not _loading_only(line)]


def _loading_only(line: str) -> bool:
    return "rid  |" in line and "status 200" not in line and "status" in line


def after_ready(lines: list[str]) -> list[str]:
    """The generated lines that llama-box can print once ready: its empty request id exists
    only while the model loads (reference section 2), which is why the Collector may take
    it as proof of loading. A stream with empty-rid 503s after "ready" is not real input."""
    return [line for line in lines if not _loading_only(line)]


def run_collector(policy: Policy, lines: list[str], tmp: Path, timeout: float = 90.0) -> dict[str, list[int]]:
    """Body text -> severities of the records the Collector emitted for it (one per copy)."""
    log = tmp / "serve" / "1.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(("\n".join(lines) + f"\n{SENTINEL}\n").encode("utf-8", "surrogateescape"))
    out = tmp / "agent-out.jsonl"
    config = to_yaml(agent_config(policy, exporter="file", health_check=False))
    env = {
        "GPUSTACK_SERVE_LOGS": str(log.parent / "*.log"),
        "GPUSTACK_RPC_SERVER_LOGS": str(tmp / "rpc_server" / "*.log"),
        "FILELOG_START_AT": "beginning",
        "AGENT_FILE_EXPORT": str(out),
        "AGENT_COUNT_INTERVAL": "200ms",
    }
    with Collector(config, env=env) as collector:
        deadline = time.monotonic() + timeout
        while not (out.exists() and SENTINEL in out.read_text(errors="replace")):
            assert time.monotonic() < deadline, f"the agent exported nothing in time:\n{collector.log_text()[-3000:]}"
            time.sleep(0.2)
        # The router's branches flush separately: wait until the output stops growing.
        size, since = -1, time.monotonic()
        while time.monotonic() - since < 1.5:
            if out.stat().st_size != size:
                size, since = out.stat().st_size, time.monotonic()
            time.sleep(0.1)
        USAGE.append(collector_usage(collector.proc.pid, len(lines)))
        errors = [line for line in collector.log_text().splitlines() if "\terror\t" in line]
    assert not errors, errors[:5]
    found: dict[str, list[int]] = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        for rl in json.loads(line)["resourceLogs"]:
            assert {a["key"] for a in rl["resource"]["attributes"]} >= {"service.name"}
            for sl in rl["scopeLogs"]:
                for record in sl["logRecords"]:
                    found.setdefault(record["body"]["stringValue"], []).append(record.get("severityNumber", 0))
    return found


USAGE: list[str] = []


def collector_usage(pid: int, lines: int) -> str:
    """CPU seconds (user+sys, start-up included) and peak RSS of the agent so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), "0")
    return f"agent over {lines} lines: {cpu:.2f} CPU-s (start-up included), peak RSS {int(hwm) / 1024:.0f} MiB"


def python_outcomes(policy: Policy, streams: list[list[str]]) -> list[tuple[str, Classified]]:
    out = []
    for stream in streams:
        classifier = Classifier(policy)
        for line in stream:
            out.append((line, classifier.classify(line)))
    return out


def body_of(line: str) -> str:
    """The body the agent exports for `line`: ANSI colours peeled, secrets redacted (redact.py)."""
    return redact_text(strip_ansi(line) if ("\x1b" in line or "^[" in line) else line)


def difference_class(policy: Policy, classified: Classified, collector: int) -> str | None:
    """The documented class of a difference, or None when it is not one."""
    d, rec = classified.decision, classified.record
    if d.kind is not Kind.PROBE:
        return None
    if not ProbeMatcher(policy.probes).is_probe(rec, polling=False):
        return "polling"  # only the client's repetition made it a probe
    if d.verdict is Verdict.SAMPLE:
        return "sampled"
    if d.reason == REASON_FAILURE_REPEATED:
        return "repeated_failure"
    status = rec.status
    if status is not None and status >= 400 and d.reason in (REASON_LOADING, REASON_HEALTHY):
        # Python's phase said loading (or failed/exited after a crash line): quiet.
        return "failing_probe_phase_unknown"
    if policy.loading_verdict is not policy.ready_verdict:
        return "probe_phase_verdicts"
    return None


def compare(policy: Policy, streams: list[list[str]], found: dict[str, list[int]]) -> tuple[int, int, Counter]:
    compared = identical = 0
    classes: Counter = Counter()
    problems = []
    for line, classified in python_outcomes(policy, streams):
        if not line.strip():
            continue  # the filelog receiver does not emit empty lines
        compared += 1
        py = int(classified.decision.severity) if classified.emit else DROPPED
        got = found.get(body_of(line))
        col = got[0] if got else DROPPED
        if got is not None and len(set(got)) != 1:
            problems.append(f"one text, several outcomes {set(got)}: {line!r}")
        if py == col:
            identical += 1
            continue
        cls = difference_class(policy, classified, col)
        louder = col > py or (cls == "sampled" and col != DROPPED)
        if cls is None or not louder:
            problems.append(
                f"{'undocumented' if cls is None else cls} difference, python {py} collector {col} "
                f"({classified.decision.kind.value}/{classified.decision.verdict.value}/{classified.decision.reason}): {line!r}"
            )
        classes[cls] += 1
    assert not problems, "\n".join(problems[:40])
    return compared, identical, classes


def need_otelcol() -> None:
    reason = missing_reason("otelcol")
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("name", ["default", "drop", "sample", "keep_ready"])
def test_collector_matches_python_line_for_line(name, tmp_path, capsys):
    """Corpus and generated lines: identical outcomes, or a documented difference where the Collector is louder."""
    need_otelcol()
    policy = Policy() if name == "default" else Policy.from_yaml(TESTDATA / f"{name}.policy.yaml")
    generated = generated_lines()
    streams = [*corpus_streams(), generated, [READY, *after_ready(generated)]]
    found = run_collector(policy, [line for stream in streams for line in stream], tmp_path)
    compared, identical, classes = compare(policy, streams, found)
    with capsys.disabled():
        print(f"\n[{name}] {compared} lines compared, {identical} identical, differing by class: {dict(classes)}; {USAGE[-1]}")
    assert compared > 3000
    assert set(classes) <= set(CLASSES)
    if name == "default":
        # The corpus alone: everything identical but the phase- and poller-dependent lines.
        c_compared, c_identical, c_classes = compare(policy, corpus_streams(), found)
        with capsys.disabled():
            print(f"[{name}] corpus only: {c_compared} compared, {c_identical} identical, {dict(c_classes)}")
        assert c_identical >= c_compared - 10


def test_generated_lines_cover_every_dialect():
    """The generated input reaches every Python dialect (and so every stanza route)."""
    dialects = {Classifier().classify(line).record.dialect for line in generated_lines()}
    assert dialects >= {"llama-box", "llama-server", "llama.cpp", "uvicorn", "gpustack", "llama-swap", "ollama", "rpc", "loading", "crash", "lifecycle", "generic", "other"}, dialects


def test_agent_over_the_corpus_alone(tmp_path, capsys):
    """The corpus alone through the agent: the documented differences only, and what it costs."""
    need_otelcol()
    streams = corpus_streams()
    found = run_collector(Policy(), [line for stream in streams for line in stream], tmp_path)
    compared, identical, classes = compare(Policy(), streams, found)
    with capsys.disabled():
        print(f"\n[corpus] {compared} compared, {identical} identical, {dict(classes)}; {USAGE[-1]}")
    assert set(classes) <= {"failing_probe_phase_unknown", "polling"}
