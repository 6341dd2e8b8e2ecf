"""Issue 10's acceptance: the labelled corpora, scored line by line, every disagreement argued.

The shared corpus, the fresh one (`tests/testdata/corpus`, collected from public issues
nobody on the team had seen) and the holdout (`tests/testdata/holdout`, collected after the
rules were tuned on the other two) are scored with `bench/score_corpus.py`'s own
figures, each excerpt fed as one stream through the one line pipeline exactly as
`otel-plugins classify --json` feeds it. Where the policy's answer differs from a human
label, the line must be listed in DISAGREEMENTS with the reason the policy's answer
stands; an unlisted miss fails, and so does a listed line that no longer misses. Kind
and HTTP fields must meet their goals outright; probe noise and protected lines are
printed raw (the argued lines are why they are below their goals).
"""

from __future__ import annotations

import collections

import importlib.util
import sys
from pathlib import Path


from conftest import CORPUS_DIR
from otel_plugins.commands.classify import http_summary
from otel_plugins.pipeline import LinePipeline
from otel_plugins.policy import Policy

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("score_corpus", REPO / "bench" / "score_corpus.py")
score_corpus = importlib.util.module_from_spec(_spec)
sys.modules["score_corpus"] = score_corpus
_spec.loader.exec_module(score_corpus)

_LOOPBACK_LIST = (
    "a loopback GET of a model list is byte for byte what an orchestrator's probe sends (GPUStack probes /v1/models from "
    "127.0.0.1); a local UI listing models cannot be told apart, so it is downgraded to DEBUG: kept, not dropped"
)
_FAILED_PROBE = (
    "a probe answered with a failure other than the loading answer (503) is raised to WARN, never hidden: a probe that can "
    "never succeed (wrong path, missing auth) is what gets a healthy server restarted"
)
_STATED_DEBUG = (
    "the producer itself printed it at DEBUG; the policy raises a stated level only for a failure "
    "or a line announcing a phase change, and this line is neither (as the dialects read it)"
)
_WRAPPED = (
    "the console wrapped a long line in two: the halves are neither a frame nor code nor an access line with its status, so "
    "they are kept at INFO on their own; the lines around them that keep their shape are ERROR and fold"
)
_LOCALAI_TRY = (
    "LocalAI tries its backends in turn and reports each try at INF or DBG (`attempting to load`, `Fails: grpc service not "
    "ready`): a try the next backend may follow, not the model's load; its real failure says `failed to load model` and is ERROR"
)
_SIDE_SERVICE = "a side service's address (a second web UI, an MCP endpoint, a connection hint), not the model server listening: kept at INFO as other"
_SETUP = (
    "memory bookkeeping and the KV cache's size while an engine is built: context set-up, not weights (as llama.cpp's KV buffers, "
    "see dialects/loading.py), kept at INFO as other"
)
_NO_DIALECT = "a format no dialect of this project reads (llamafile's `--v2` server, Ray Serve's replica states): kept at INFO as other"

# (source prefix, line prefix) -> why the policy's answer stands.
DISAGREEMENTS = {
    ("gpustack/gpustack#1399", "0.35.340.664 I srv       log_server_response: rid 86098301242 | GET /v1/models 192.168.50.13"):
        "a remote client with a request id asking once is client traffic unless its address is configured as an orchestrator "
        "(tests/test_corpus.py::test_orchestrator_address_makes_it_a_probe shows the configured case)",
    ("jtayl222/fraud-model-rollout-demo", 'INFO: 10.42.3.50:0 - "GET /v2/models/fraud-v1-baseline_4'):
        "one request for a model's metadata from a client that neither repeats it nor probed before: nothing says poller",
    ("mostlygeek/llama-swap#57", '[llama-swap] 127.0.0.1 [2025-02-28 02:0'): _LOOPBACK_LIST,
    ("ggml-org/llama.cpp#10547", "Dec 02 12:10:37 kamala llama-server[24689]: request: GET /models 127.0.0.1 200"): _LOOPBACK_LIST,
    ("ollama/ollama#5816", "[GIN] 2024/07/21 - 15:5"): _LOOPBACK_LIST,
    ("BerriAI/litellm#13128", 'INFO:     127.0.0.1:38734 - "GET /v1/models/my-gpt-4o HTTP/1.1" 500'):
        _LOOPBACK_LIST + "; answered 500, it is raised to WARN (a probe failing)",
    ("ml-explore/mlx-examples#1060", '127.0.0.1 - - [21/Oct/2024 19:25:54] "GET /v1/models HTTP/1.1" 501'):
        _LOOPBACK_LIST + "; answered 501, it is raised to WARN (a probe failing)",
    ("mzbac/mlx-llm-server#3", '127.0.0.1 - - [01/Mar/2024 15:56:01] "GET /api/tags HTTP/1.1" 501'):
        _LOOPBACK_LIST + "; answered 501, it is raised to WARN (a probe failing)",
    ("BerriAI/litellm#1688", 'INFO:     10.42.0.1:38350 - "GET /health/liveness HTTP/1.1" 404'): _FAILED_PROBE,
    ("aws/sagemaker-python-sdk#1554", "2020-06-08T09:15:51.852+02:00 | 10.32.0.2 - - [08/Jun/2020:07:15:51 +0000] \"GET /ping"): _FAILED_PROBE,
    ("bentoml/OpenLLM#79", "2023-06-27T08:28:0"): _FAILED_PROBE,
    ("mudler/LocalAI#7393", "private-localai-container  | 4:32PM INF HTTP request method=GET path=/readyz status=401"): _FAILED_PROBE,
    ("vllm-project/vllm#19332", "(VllmWorker rank=0 pid=241) "):
        "a process envelope with nothing after it (the paste cut the progress bar away): no load line is left to read",
    ("ggml-org/llama.cpp#12385", "main: load the model and apply lora adapter, if any"):
        "the label says lifecycle, the line is the model load starting: kind load, kept at INFO, moves the phase to loading",
    ("bentoml/OpenLLM#853", '[INFO] [cli] Starting production HTTP BentoServer from "_service:svc" listening'):
        "BentoML's start banner: kept at INFO as other; no dialect of this project claims BentoML's CLI lines",
    # The holdout (tests/testdata/holdout), scored before and after the rules it prompted.
    ("InftyAI/llmaz#382", 'INFO:     240.243.170.78:'): _FAILED_PROBE,
    ("theroyallab/tabbyAPI#337", "tabbyapi-1  | 2025-05-07 14:50:47.943 INFO:     192.168.114.254:58408"): _WRAPPED,
    ("theroyallab/tabbyAPI#337", 'tabbyapi-1  | "/opt/venv/'): _WRAPPED,
    ("theroyallab/tabbyAPI#337", 'tabbyapi-1  | ", line 409'): _WRAPPED,
    ("theroyallab/tabbyAPI#337", "tabbyapi-1  | ignore[func-returns-value]"): _WRAPPED,
    ("theroyallab/tabbyAPI#337", "tabbyapi-1  | ^^^^"): _WRAPPED,
    ("theroyallab/tabbyAPI#337", "tabbyapi-1  | line 60, in __call__"): _WRAPPED,
    ("theroyallab/tabbyAPI#337", "tabbyapi-1  | send)"): _WRAPPED,
    ("mudler/LocalAI#2543", "api-1  | 9:29AM DBG GRPC Service NOT ready"): _LOCALAI_TRY,
    ("mudler/LocalAI#2543", "api-1  | 9:29AM INF [llama-cpp] Fails: grpc service not ready"): _LOCALAI_TRY,
    ("mudler/LocalAI#2543", "api-1  | 9:28AM INF [llama-cpp] attempting to load"): _LOCALAI_TRY,
    ("mudler/LocalAI#2543", "api-1  | 9:29AM INF [llama-ggml] Attempting to load"): _LOCALAI_TRY,
    ("mudler/LocalAI#4658", "4:07PM INF [llama-cpp-grpc] attempting to load"): _LOCALAI_TRY,
    ("mudler/LocalAI#4658", "4:09PM INF [llama-ggml] Attempting to load"): _LOCALAI_TRY,
    ("mudler/LocalAI#2543", "api-1  | 9:28AM DBG "): _STATED_DEBUG,
    ("mudler/LocalAI#2543", "api-1  | 9:29AM DBG Loading model in memory"): _STATED_DEBUG,
    ("xorbitsai/inference#2968", "2025-02-28 01:00:57,550 xinference.core.supervisor 22 DEBUG"): _STATED_DEBUG,
    ("xorbitsai/inference#2968", "2025-02-28 01:00:57,552 xinference.core.worker 22 INFO     [request"):
        "a function-entry trace of Xinference's worker (`Enter launch_builtin_model`), not a load marker: kept at INFO as other",
    ("mudler/LocalAI#1112", "7:07AM INF Preloading models from"): "a directory LocalAI scans for model files, not a model loading: kept at INFO as other",
    ("triton-inference-server/server#4154", "[44930.378117] pg"):
        "the paste starts inside the kernel's OOM report, at its memory.stat rows: a `[time] counter value` row alone says no "
        "more than the kernel's other counters, so it stays other; the report's task table and kill line after it are ERROR",
    ("vllm-project/vllm#18730", "/usr/bin/ld: cannot find -lcuda"):
        "a linker's complaint inside a JIT build, at no level: `cannot find` is no failure word (a build may go on without the "
        "library); the traceback it leads to is ERROR",
    ("EricLBuehler/mistral.rs#1203", "ok"):
        "a bare `ok` the program printed between two panics: a native dump takes only lines that carry a crash shape, so it is "
        "kept at INFO; both panics are ERROR",
    ("EricLBuehler/mistral.rs#1555", "2025-07-13T01:39:48.441033Z  INFO mistralrs_server: MCP server"): _SIDE_SERVICE,
    ("LostRuins/koboldcpp#2294", "Starting llama.cpp secondary WebUI"): _SIDE_SERVICE,
    ("LostRuins/koboldcpp#2294", "StableUI is available"): _SIDE_SERVICE,
    ("LostRuins/koboldcpp#2294", "Please connect to custom endpoint"): _SIDE_SERVICE,
    ("LostRuins/koboldcpp#2294", "Try read vocab from"): "KoboldCpp reading its tokenizer files before the load: kept at INFO as other",
    ("LostRuins/koboldcpp#2294", "Load Image Model OK"): "KoboldCpp's image model answer (`OK: True`): kept at INFO as other",
    ("EricLBuehler/mistral.rs#1376", "2025-05-26T19:59:13.993222Z  INFO mistralrs_quant::utils::log: Layers"):
        "a layer placement printed before the weights load (which device holds which layers): kept at INFO as other",
    ("Tlntin/Qwen-TensorRT-LLM#60", "[TensorRT-LLM][INFO] [MemUsageChange]"): _SETUP,
    ("NVIDIA/nim-deploy#24", "[TensorRT-LLM][INFO] [MemUsageChange]"): _SETUP,
    ("NVIDIA/nim-deploy#24", "[TensorRT-LLM][INFO] Max tokens in paged KV cache"): _SETUP,
    ("ollama/ollama#9509", "2025-03-05 08:58:54 time=2025-03-05T06:58:54.117Z level=INFO source=server.go:557"):
        "ollama waiting for its runner to answer: a lifecycle step to this project (the label says load), kept at INFO either way",
    ("mozilla-ai/llamafile#678", "2025-01-16T12:11:"): _NO_DIALECT,
    ("ray-project/ray#55754", "(ServeController pid=524122) INFO 2025-08-29 18:03:16"): _NO_DIALECT,
}


def corpora() -> list[Path]:
    found = [score_corpus.FRESH, score_corpus.HOLDOUT]
    if (CORPUS_DIR / "labeled.jsonl").exists():
        found.insert(0, CORPUS_DIR)
    return found


def decide(stream) -> None:
    """What `classify --json FILE` answers for every line of the excerpt (read once ahead, as a
    file is), attached to its labelled lines."""
    pipeline = LinePipeline(Policy(), None, line_time=True)
    pipeline.foresee(text.encode("utf-8", "surrogateescape") for text in stream.lines)
    rows = []
    for text in stream.lines:
        classified = pipeline.feed_text(text)
        d = classified.decision
        rows.append({"kind": d.kind.value, "verdict": d.verdict.value, "severity": d.severity.name, "http": http_summary(classified)})
    for line in stream.labelled:
        line.got = rows[line.lineno]


def argued(line) -> tuple[str, str] | None:
    return next((key for key in DISAGREEMENTS if line.source.startswith(key[0]) and line.text.startswith(key[1])), None)


def test_every_corpus_scores_and_every_disagreement_is_argued(capsys):
    tally = score_corpus.Tally()
    stated = score_corpus.stated_severity()
    present = set()  # the listed lines of the corpora found here (the shared one may be absent)
    for directory in corpora():
        for stream in score_corpus.load_corpus(directory):
            present.update(key for line in stream.labelled if (key := argued(line)) is not None)
            decide(stream)
            for line in stream.labelled:
                line.stated = stated(line.text) if stated else None
            score_corpus.score(stream, tally)
            tally.excerpts += 1
    figures = score_corpus.figures(tally)
    with capsys.disabled():
        score_corpus.print_figures("every corpus, in-process", figures)
    unargued, used = [], set()
    for cls, lines in tally.misses.items():
        for line in lines:
            key = argued(line)
            if key is None:
                unargued.append(f"{cls}: [{line.source} #{line.excerpt}:{line.lineno}] {line.text[:140]!r} -> {line.got}")
            else:
                used.add(key)
    assert not unargued, "\n".join(unargued)
    assert used == present, f"argued but agreeing now (remove them): {present - used}"
    assert figures["kind_right"]["share"] >= score_corpus.GOALS["kind_right"]
    assert figures["http_right"]["share"] >= score_corpus.GOALS["http_right"]
    # The seed's signal-to-noise figure: probe noise among INFO+ lines cut at least sixfold
    # (all three corpora: 9.0 % -> 1.0 %; without the shared one, when it is absent: 8.4 % -> 1.3 %:
    # most of the holdout's probe lines that stay are probes failing, raised to WARN on purpose).
    noise = figures["noise_share"]
    assert noise["before"] > 0.05 and noise["after"] * 6 <= noise["before"]


# The first two requests of a series, which a file read once ahead shows polled (the series goes on)
# but a live stream, seeing them before the third, keeps as client traffic (repeat_min).
SERIES_STARTS = (
    ("mostlygeek/llama-swap#75", '[llama-swap] ::1 [2025-03-20 11:27:15] "GET / HTTP/1.1"'),
    ("mostlygeek/llama-swap#75", '[llama-swap] ::1 [2025-03-20 11:27:45] "GET / HTTP/1.1"'),
    ("otwld/ollama-helm#23", '[GIN] 2024/04/16 - 09:20:21 | 200 |'),
    ("otwld/ollama-helm#23", '[GIN] 2024/04/16 - 09:20:26 | 200 |'),
    ("sipeed/picoclaw#2172", '(APIServer pid=85) INFO:     x.x.x.x:60424 - "GET /v1/models'),
    ("noonghunna/club-3090#1261", '[2026-09-12 00:23:54] INFO:     192.168.80.1:55800 - "GET /v1/models'),
    ("noonghunna/club-3090#1261", '[2026-09-12 00:23:57] INFO:     192.168.80.1:55814 - "GET /v1/models'),
)


def test_a_series_first_requests_are_probes_with_hindsight_and_client_traffic_live():
    """Reading a file ahead (`LinePipeline.foresee`) changes exactly these lines: each is a probe
    below INFO with it, and an HTTP request kept at INFO without it (run, tail, a pipe); the
    pipeline counts each as a poll known by looking ahead. (A reason may change after them: a
    probe answered 2xx says the server is ready, so the next probes are healthy, not loading.)"""
    found, present = set(), set()
    for directory in corpora():
        for stream in score_corpus.load_corpus(directory):
            source = stream.labelled[0].source
            present.update(k for k in SERIES_STARTS if source.startswith(k[0]))
            live = LinePipeline(Policy(), None, line_time=True)
            ahead = LinePipeline(Policy(), None, line_time=True)
            ahead.foresee(text.encode("utf-8", "surrogateescape") for text in stream.lines)
            changed = 0
            for text in stream.lines:
                was, now = live.feed_text(text).decision, ahead.feed_text(text).decision
                if (was.kind, was.severity, was.emit) == (now.kind, now.severity, now.emit):
                    continue
                changed += 1
                key = next((k for k in SERIES_STARTS if source.startswith(k[0]) and text.startswith(k[1])), None)
                assert key is not None, f"reading ahead changed a line not listed: {text!r} {was} -> {now}"
                found.add(key)
                assert (was.kind.value, was.severity.name) == ("http", "INFO"), text
                assert (now.kind.value, now.severity.name) == ("probe", "DEBUG"), text
            ahead.close()
            assert ahead.counts.foreseen == changed, source
    assert found == present


class Warnings:
    """The (method, path, status) of every probe a pipeline raised, and its summaries."""

    def __init__(self) -> None:
        self.raised: set[tuple] = set()
        self.summaries: list = []

    def emit(self, classified, extra=None) -> None:
        if classified.decision.kind.value == "probe" and classified.decision.severity.name == "WARN":
            f = classified.record.fields
            self.raised.add((f.get("http.request.method"), f.get("url.path"), f.get("http.response.status_code")))

    def emit_crash(self, dump, extra=None) -> None:
        pass

    def emit_summary(self, summary, extra=None) -> None:
        self.summaries.append(summary)


def test_a_probe_quiet_before_ready_is_only_ever_the_loading_answer_or_success_or_a_raised_failure_again():
    """While a server starts or loads, a probe is downgraded only when it got 503 (the loading
    answer) or a 2xx, or when it repeats a failure raised already; every such repeat is summed
    up in a warning (at the latest when the stream ends)."""
    repeats = 0
    for directory in corpora():
        for stream in score_corpus.load_corpus(directory):
            warnings = Warnings()
            pipeline = LinePipeline(Policy(), warnings, line_time=True)
            repeated: collections.Counter = collections.Counter()
            for text in stream.lines:
                before = pipeline.phase.value
                classified = pipeline.feed_text(text)
                d = classified.decision
                if d.reason == "probe_failure_repeated":
                    f = classified.record.fields
                    key = (f.get("http.request.method"), f.get("url.path"), f.get("http.response.status_code"))
                    assert key in warnings.raised and d.severity.name == "DEBUG", text
                    repeated[key] += 1
                elif d.kind.value == "probe" and before in ("starting", "loading") and d.severity.name == "DEBUG":
                    assert classified.http_status in (None, 503) or 200 <= classified.http_status < 400, text
            pipeline.close()
            summed = collections.Counter()
            for summary in warnings.summaries:
                if summary.reason == "probe_failure_repeated":
                    assert summary.severity.name == "WARN"
                    summed[(summary.method, summary.path, summary.status)] += summary.suppressed
            assert summed == repeated
            repeats += sum(repeated.values())
    assert repeats >= 3  # the corpora hold probes that keep failing
