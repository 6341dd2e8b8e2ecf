"""The probe policy: configuration loading and validation, and every decision rule."""

from __future__ import annotations

import math

import pytest

from otel_plugins import names
from otel_plugins.policy import Policy, PolicyError, ProbePolicy, Verdict
from otel_plugins.record import Kind, Phase, Record, Severity


def http(method="GET", path="/health", status=503, client="127.0.0.1", rid=None, severity=Severity.INFO) -> Record:
    fields = {names.HTTP_METHOD: method, names.URL_PATH: path, names.CLIENT_ADDRESS: client}
    if status is not None:
        fields[names.HTTP_STATUS] = status
    if rid is not None:
        fields[names.REQUEST_ID] = rid
    return Record(text="x", dialect="test", kind=Kind.HTTP, severity=severity, fields=fields)


def test_probe_while_loading_is_downgraded_by_default():
    """A loopback GET /health answered 503 during the load becomes DEBUG noise."""
    d = ProbePolicy().decide(http(), Phase.LOADING)
    assert (d.kind, d.verdict, d.severity, d.emit) == (Kind.PROBE, Verdict.DOWNGRADE, Severity.DEBUG, True)


def test_probe_failing_after_ready_is_raised_to_warn():
    """The same probe failing once the server said it was ready is a real signal."""
    d = ProbePolicy().decide(http(), Phase.READY)
    assert (d.kind, d.verdict, d.severity, d.reason) == (Kind.PROBE, Verdict.KEEP, Severity.WARN, "probe_failed_after_ready")


def test_probe_failing_past_the_load_deadline_is_raised():
    d = ProbePolicy().decide(http(), Phase.LOADING, overdue=True)
    assert (d.severity, d.reason) == (Severity.WARN, "probe_failed_load_overdue")


def test_healthy_probe_after_ready_is_downgraded():
    d = ProbePolicy().decide(http(status=200), Phase.READY)
    assert (d.verdict, d.severity) == (Verdict.DOWNGRADE, Severity.DEBUG)


def test_drop_keeps_the_severity_the_line_would_have_had():
    policy = ProbePolicy(Policy(loading_verdict=Verdict.DROP))
    d = policy.decide(http(), Phase.LOADING)
    assert (d.verdict, d.severity, d.emit) == (Verdict.DROP, Severity.INFO, False)


@pytest.mark.parametrize(
    ("status", "printed", "expected"),
    [(500, Severity.INFO, Severity.ERROR), (503, Severity.INFO, Severity.ERROR), (404, Severity.ERROR, Severity.WARN), (200, Severity.ERROR, Severity.INFO)],
)
def test_client_requests_get_severity_from_status_not_the_printed_letter(status, printed, expected):
    """llama-box v1 prints I for a 500, v2 prints E for a 404: the status decides."""
    d = ProbePolicy().decide(http("POST", "/v1/chat/completions", status, "10.0.0.7", severity=printed), Phase.READY)
    assert (d.kind, d.verdict, d.severity) == (Kind.HTTP, Verdict.KEEP, expected)


@pytest.mark.parametrize(
    "path",
    ["/health", "/healthz", "/readyz", "/livez", "/metrics", "/ping", "/v2/health/ready", "/v2/models/llama/ready", "/health/",
     "/health/readiness", "/health/liveliness", "/v1/api/readiness", "/v1/health/"],
)
@pytest.mark.parametrize("client", ["10.244.1.1", "172.17.0.1", "192.168.50.13", "2001:db8::1"])
def test_health_readiness_and_metrics_paths_are_probes_whoever_asks(path, client):
    """kubelet (node address), a Docker health check (bridge), a Prometheus anywhere: no user asks these."""
    assert ProbePolicy().decide(http(path=path, client=client, status=200, rid="861"), Phase.READY).kind is Kind.PROBE


def test_remote_client_on_a_polled_path_is_business_unless_rid_is_empty():
    policy = ProbePolicy()
    models = "/v1/models"
    assert policy.decide(http(path=models, client="192.168.50.13", status=200, rid="861"), Phase.READY).kind is Kind.HTTP
    # llama-box answers before it assigns request ids: an empty rid marks the orchestrator's probe.
    assert policy.decide(http(path=models, client="192.168.50.13", rid=""), Phase.LOADING).kind is Kind.PROBE
    # A client that keeps asking is a poller (the caller measures it).
    assert policy.decide(http(path=models, client="192.168.50.13", rid="861"), Phase.READY, polling=True).kind is Kind.PROBE


def test_configured_orchestrator_address_counts_as_probe_client():
    policy = ProbePolicy(Policy.from_mapping({"probes": {"clients": ["127.0.0.0/8", "10.1.0.0/16"]}}))
    assert policy.decide(http(path="/v1/models", client="10.1.2.3"), Phase.LOADING).kind is Kind.PROBE
    assert policy.decide(http(path="/v1/models", client="10.2.2.3"), Phase.LOADING).kind is Kind.HTTP


def test_post_is_never_a_probe_and_polling_marks_a_watchdog():
    policy = ProbePolicy()
    assert policy.decide(http("POST", "/health"), Phase.LOADING).kind is Kind.HTTP
    assert policy.decide(http(path="/", client="::1", status=200), Phase.READY).kind is Kind.HTTP
    assert policy.decide(http(path="/", client="::1", status=200), Phase.READY, polling=True).kind is Kind.PROBE
    # HEAD fetches nothing: from a trusted client it is a poll on any path.
    assert policy.decide(http("HEAD", path="/", client="::1", status=200), Phase.READY).kind is Kind.PROBE


def test_non_http_records_keep_their_stated_or_inferred_severity():
    policy = ProbePolicy()
    assert policy.decide(Record("x", "t", Kind.LOAD, Severity.INFO), Phase.LOADING).severity is Severity.INFO
    assert policy.decide(Record("x", "t", Kind.ERROR), Phase.LOADING).severity is Severity.ERROR
    assert policy.decide(Record("x", "t", Kind.OTHER), Phase.LOADING).severity is Severity.INFO


def test_a_phase_change_stated_below_info_is_raised_to_info_and_nothing_else_is():
    """Which phase an instance is in is what an operator reads the log for: a line announcing a
    phase change is never below INFO; any other line keeps the level its producer stated."""
    from otel_plugins.record import Event

    policy = ProbePolicy()
    ready = policy.decide(Record("x", "t", Kind.LIFECYCLE, Severity.DEBUG, event=Event.READY), Phase.LOADING)
    assert (ready.severity, ready.reason) == (Severity.INFO, "phase_change")
    for record in (Record("x", "t", Kind.LIFECYCLE, Severity.DEBUG), Record("x", "t", Kind.OTHER, Severity.DEBUG),
                   Record("x", "t", Kind.LOAD, Severity.DEBUG, event=Event.LOADING)):
        assert policy.decide(record, Phase.LOADING).severity is Severity.DEBUG, record
    stated = policy.decide(Record("x", "t", Kind.LIFECYCLE, Severity.WARN, event=Event.STOPPING), Phase.READY)
    assert (stated.severity, stated.reason) == (Severity.WARN, None)


def test_a_client_repeating_itself_or_already_probing_polls():
    """Repetition (no usable time needed) or an earlier probe path makes a polled path a probe, from any client."""
    from otel_plugins.classify import Classifier

    line = 'INFO:     {client}:5000 - "GET {path} HTTP/1.1" 200 OK'
    classifier = Classifier()
    kinds = [classifier.classify(line.format(client="172.17.0.9", path="/v1/models")).decision.kind.value for _ in range(4)]
    assert kinds == ["http", "http", "probe", "probe"]
    classifier.classify(line.format(client="10.1.1.1", path="/healthz"))
    assert classifier.classify(line.format(client="10.1.1.1", path="/api/tags")).decision.kind is Kind.PROBE
    assert classifier.classify(line.format(client="10.1.1.2", path="/api/tags")).decision.kind is Kind.HTTP


@pytest.mark.parametrize("line", [
    'INFO:     127.0.0.1:{port} - "GET {path} HTTP/1.1" {status} OK',  # parse_line
    "0.00.{port:03d}.000 I srv  log_server_r: request: GET {path} 127.0.0.1 {status}",  # the fast path
])
def test_once_a_health_path_said_loading_only_a_health_path_says_ready(line):
    """A polled path answered 200 means ready, unless the health path has answered the loading
    503: then the server's own health path is the authority (SGLang answers /model_info while
    /health says it warms up), and its 503 stays quiet until it answers 200 itself."""
    from otel_plugins.classify import Classifier

    def phases(*requests) -> list[tuple[str, str]]:
        classifier, out = Classifier(), []
        for port, (path, status) in enumerate(requests, 1):
            decision = classifier.classify(line.format(port=port, path=path, status=status)).decision
            out.append((classifier.lifecycle.phase.value, decision.severity.name))
        return out

    assert phases(("/v1/models", 200), ("/health", 503)) == [("ready", "DEBUG"), ("ready", "WARN")]
    assert phases(("/health", 503), ("/v1/models", 200), ("/health", 503), ("/health", 200), ("/health", 503)) == [
        ("starting", "DEBUG"), ("starting", "DEBUG"), ("starting", "DEBUG"), ("ready", "DEBUG"), ("ready", "WARN")]


@pytest.mark.parametrize("line", [
    "{m}.{s:02d}.000.000 I srv  log_server_r: request: GET /health 127.0.0.1 {status}",  # the fast path
    '[2026-01-01 00:{m:02d}:{s:02d}] INFO:     10.0.0.9:5 - "GET /health HTTP/1.1" {status} -',  # parse_line
])
def test_a_probe_failing_over_and_over_is_raised_once_per_window_and_its_repeats_summed_up(line):
    """A hung server probed every few seconds: the first failure per window (method, path,
    status) is raised, its repeats are kept at DEBUG, and the count is raised when the window
    closes: at the next probe after it (a recovered server's healthy one too) or at the end."""
    from otel_plugins.classify import Classifier

    classifier = Classifier(Policy(sample_window_s=60))
    classifier.classify("0.00.000.000 I main: server is listening on http://127.0.0.1:8080 - starting the main loop")
    assert classifier.lifecycle.phase is Phase.READY

    def probe(seconds: int, status: int) -> tuple[str, str | None, list[tuple[int, str, str]]]:
        c = classifier.classify(line.format(m=seconds // 60, s=seconds % 60, status=status))
        assert (c.hot is not None) == (not line.startswith("["))
        return c.decision.severity.name, c.decision.reason, [(s.suppressed, s.severity.name, s.message) for s in c.summaries]

    assert probe(1, 503) == ("WARN", "probe_failed_after_ready", [])
    assert probe(3, 503) == ("DEBUG", "probe_failure_repeated", [])
    assert probe(4, 500) == ("WARN", "probe_failed_after_ready", [])  # another answer: raised on its own
    assert probe(5, 503) == ("DEBUG", "probe_failure_repeated", [])
    severity, reason, summaries = probe(70, 200)  # recovered: the healthy probe closes the windows due
    assert (severity, reason) == ("DEBUG", "probe_healthy")
    assert [(n, level) for n, level, _ in summaries] == [(2, "WARN")]
    assert "GET /health 503 failed 2 more times in 60s" in summaries[0][2]
    assert probe(71, 503) == ("WARN", "probe_failed_after_ready", [])  # a new window: raised again
    repeated = classifier.classify(line.format(m=1, s=12, status=503))
    assert repeated.decision.reason == "probe_failure_repeated"
    # The end of the stream, 8 s later, closes the window opened at 71 s: its summary says it was open 9 s.
    (summary,) = classifier.flush(repeated.time + 8)
    assert (summary.status, summary.suppressed) == (503, 1)
    assert summary.message == "probe GET /health 503 failed 1 more times in 9s (kept at DEBUG)"


def test_an_indented_line_after_a_failure_carries_it_on():
    """A wrapped console line or the fields printed after a traceback keep the failure's level;
    the same indented line after an ordinary one, or after an access line, does not."""
    from otel_plugins.classify import Classifier

    classifier = Classifier()
    lines = [
        "19:09:54-049135 ERROR    Error loading the model: Server process terminated unexpectedly with exit code:",
        "                         1",
        "  still part of it",
        "ggml_cuda_init: found 2 CUDA devices:",
        "  Device 0: NVIDIA GeForce RTX 5090, compute capability 12.0, VMM: yes",
        'INFO:     10.0.0.1:5000 - "POST /v1/chat/completions HTTP/1.1" 500 Internal Server Error',
        "  not a continuation of an access line",
        "19:09:55-000001 ERROR    Error loading the model again",
        "an ordinary line, not indented",
    ]
    got = []
    for text in lines:
        decision = classifier.classify(text).decision
        got.append((decision.severity, decision.kind, decision.reason))
    assert got[1] == got[2] == (Severity.ERROR, Kind.ERROR, "continuation")
    assert got[4][0] is Severity.INFO and got[4][2] is None
    assert got[5][0] >= Severity.WARN
    assert got[6][0] is Severity.INFO
    assert got[8][0] is Severity.INFO


def test_a_failure_chain_goes_on_behind_an_envelope_past_a_blank_and_caused_by():
    """Behind `name  | ` the rest of a message is indented after the bar; a blank line says
    nothing and leaves the failure open, and anyhow's (and Java's) `Caused by:` carries it on.
    Lines from huggingface/text-embeddings-inference#600 (tests/testdata/holdout3)."""
    from otel_plugins.classify import Classifier

    classifier = Classifier()
    lines = [
        "dense-embed  | 2025-04-23T03:14:07.818830Z ERROR text_embeddings_backend: backends/src/lib.rs:255: Could not start Candle backend",
        "dense-embed  | ",
        "dense-embed  | Caused by:",
        "dense-embed  |     Could not start backend: Could not start a suitable backend",
        "dense-embed  | 2025-04-23T03:14:08.000000Z  INFO text_embeddings_router: router/src/lib.rs:1: next",
        "dense-embed  |     more text after an INFO line",
        "dense-embed  | Caused by: after an INFO line, nothing to carry on",
    ]
    got = [(d.severity, d.reason) for d in (classifier.classify(text).decision for text in lines)]
    assert got[0] == (Severity.ERROR, None)
    assert got[1] == (Severity.INFO, None)  # the blank itself is no error
    assert got[2] == got[3] == (Severity.ERROR, "continuation")
    assert got[5] == got[6] == (Severity.INFO, None)
    # Without an envelope, a blank line after a warning keeps it open for its indented rest too.
    classifier.classify("  W llama_init_from_model: n_ctx_per_seq (256) < n_ctx_train (2048)")
    classifier.classify("")
    assert classifier.classify("      the rest of the warning").decision.severity is Severity.WARN


@pytest.mark.parametrize("gap", [" ", "  "])  # LM Studio's header until 2025, and since 2026
def test_an_lm_studio_entry_keeps_its_header_level_on_its_message_line(gap):
    """LM Studio prints an entry's level and time on a line of their own and its message on the
    next, indented by one space: the message of an ERROR or WARN entry is kept at that level."""
    from otel_plugins.classify import Classifier

    classifier = Classifier()
    got = [
        classifier.classify(text).decision.severity
        for text in (
            f"2026-01-18 11:33:58{gap}[ERROR]", " [LM STUDIO SERVER] The model has crashed without additional information.",
            f"2026-01-18 11:33:59{gap}[WARN]", " [LM STUDIO SERVER] Server accepting connections from the local network.",
            f"2026-01-18 11:34:00{gap}[INFO]", " [LM STUDIO SERVER] Supported endpoints:",
        )
    ]
    assert got == [Severity.ERROR, Severity.ERROR, Severity.WARN, Severity.WARN, Severity.INFO, Severity.INFO]


def test_a_row_indented_like_the_failure_before_it_is_not_its_continuation():
    """`kubectl describe` prints every event as a row indented by two spaces: a row after a
    failing one is the next event, not the rest of its message (only a line indented further
    than the failure is). Rows from llm-d/llm-d-inference-sim#45 (tests/testdata/corpus)."""
    from otel_plugins.classify import Classifier

    classifier = Classifier()
    rows = [
        "  Normal   Killing                 25m                   kubelet                  Container vllm-standalone failed liveness probe, will be restarted",
        '  Normal   Pulling                 25m (x2 over 28m)     kubelet                  Pulling image "ghcr.io/llm-d/llm-d-inference-sim:v0.1.1"',
        "      wrapped further: part of the row above",
    ]
    got = [classifier.classify(text).decision for text in rows]
    assert got[0].severity is Severity.ERROR
    assert (got[1].severity, got[1].kind, got[1].reason) == (Severity.INFO, Kind.LIFECYCLE, None)  # a pull: a start's step
    assert got[2].severity is Severity.INFO  # the row before it was no failure
    classifier.classify(rows[0])
    assert classifier.classify(rows[2]).decision.reason == "continuation"
    # The overload path asks the same question of the raw line, after a warning (after a
    # failure it decides whatever follows: a dump's frames carry no indent of their own).
    warning = "  W llama_init_from_model: n_ctx_per_seq (256) < n_ctx_train (2048)"
    assert classifier.classify(warning).decision.severity is Severity.WARN
    assert classifier.continues(rows[2].encode())
    classifier.classify(warning)
    assert not classifier.continues(rows[1].encode())


def test_yaml_round_trip(tmp_path):
    file = tmp_path / "policy.yaml"
    file.write_text(
        "loading_verdict: sample\nready_verdict: drop\nsample_window_s: 30\nload_deadline_s: 120\n"
        "probes:\n  paths: [/health, /ready]\n  clients: [127.0.0.1, 10.0.0.0/8]\nrpc_peer:\n  lost_after_s: 2\n"
    )
    policy = Policy.from_yaml(file)
    assert policy.loading_verdict is Verdict.SAMPLE and policy.ready_verdict is Verdict.DROP
    assert policy.sample_window_s == 30 and policy.load_deadline_s == 120
    assert policy.probes.paths == frozenset({"/health", "/ready"})
    assert policy.rpc_peer.lost_after_s == 2
    assert Policy.from_mapping(policy.to_mapping()) == policy


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"loading_verdict": "hide"}, "loading_verdict: 'hide' is not one of keep, downgrade, drop, sample"),
        ({"sample_window": 3}, "sample_window: unknown key"),
        ({"sample_window_s": 0}, "sample_window_s: must be greater than 0"),
        ({"sample_window_s": "soon"}, "sample_window_s: must be a number"),
        ({"probes": {"paths": ["health"]}}, "probes.paths: 'health' must be a path"),
        ({"probes": {"poll_paths": ["v1/models"]}}, "probes.poll_paths: 'v1/models' must be a path"),
        ({"probes": {"clients": ["not-an-ip"]}}, "probes.clients: 'not-an-ip' is not an IP address"),
        ({"probes": {"colour": "red"}}, "probes.colour: unknown key"),
        ({"rpc_peer": {"connect_interval_s": 0.01}}, "rpc_peer.connect_interval_s"),
        ({"client_error_severity": "LOUD"}, "client_error_severity: 'LOUD' is not one of"),
        ({"probes": {"empty_rid_hint": "yes"}}, "probes.empty_rid_hint: must be true or false"),
    ],
)
def test_invalid_configuration_names_the_key(data, message):
    with pytest.raises(PolicyError) as error:
        Policy.from_mapping(data)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_environment_overrides():
    env = {
        "OTEL_PLUGINS_LOADING_VERDICT": "drop",
        "OTEL_PLUGINS_PROBE_PATHS": "/health,/v1/models",
        "OTEL_PLUGINS_PROBE_CLIENTS": "10.9.0.0/16",
        "OTEL_PLUGINS_LOAD_DEADLINE": "90",
    }
    policy = Policy.from_env(env)
    assert policy.loading_verdict is Verdict.DROP
    assert policy.probes.paths == frozenset({"/health", "/v1/models"})
    assert ProbePolicy(policy).decide(http(path="/api/tags", client="10.9.1.1"), Phase.LOADING).kind is Kind.PROBE
    assert ProbePolicy(policy).decide(http(path="/api/tags", client="10.8.1.1"), Phase.LOADING).kind is Kind.HTTP
    assert policy.load_deadline_s == 90
    with pytest.raises(PolicyError, match="OTEL_PLUGINS_READY_VERDICT: 'loud' is not one of"):
        Policy.from_env({"OTEL_PLUGINS_READY_VERDICT": "loud"})


def test_invalid_yaml_file_is_one_line_error(tmp_path):
    file = tmp_path / "bad.yaml"
    file.write_text("probes: [\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        Policy.from_yaml(file)
    with pytest.raises(PolicyError, match="No such file"):
        Policy.from_yaml(tmp_path / "missing.yaml")


def test_repeat_windows_shed_a_message_within_its_window_and_phase_and_sum_it_up_once():
    from otel_plugins.policy.decide import Decision
    from otel_plugins.policy.repeats import RepeatWindows, message_of, repeatable

    warn = Decision(Verdict.KEEP, Kind.OTHER, Severity.WARN)
    assert repeatable(warn) and repeatable(Decision(Verdict.KEEP, Kind.PROGRESS, Severity.INFO))
    assert not repeatable(Decision(Verdict.KEEP, Kind.ERROR, Severity.ERROR))
    assert not repeatable(Decision(Verdict.KEEP, Kind.LIFECYCLE, Severity.INFO))
    assert not repeatable(Decision(Verdict.KEEP, Kind.LOAD, Severity.INFO))
    assert not repeatable(Decision(Verdict.DROP, Kind.OTHER, Severity.DEBUG, emit=False))
    # The stamp a line begins with is not part of its message; an indented or overlong line has none.
    a, b = message_of(b"0.01.000.001 W ctx: shift\n"), message_of(b"[2025-06-02 09:15:01.123460] W ctx: shift\n")
    assert a == b == b"W ctx: shift\n"
    assert message_of(b"    W ctx: shift\n") is None and message_of(b"x" * 2000 + b"\n") is None

    windows = RepeatWindows(60.0, kept=2)
    assert windows.due == math.inf and windows.repeat(a, 0.0, Phase.READY) is None
    assert windows.note(a, 0.0, Phase.READY, warn, "stdout") == []
    assert windows.repeat(a, 10.0, Phase.READY) is warn and windows.repeat(a, 59.9, Phase.READY) is warn
    assert windows.repeat(a, 20.0, Phase.EXITED) is None  # another phase: decided
    assert windows.repeat(a, 60.0, Phase.READY) is None  # the window is over
    assert windows.expire(59.0) == []
    [(summary, extra)] = windows.expire(60.0)
    assert (summary.suppressed, summary.severity, summary.kind, summary.reason, extra) == (2, Severity.WARN, "other", "repeated_under_overload", "stdout")
    assert summary.message == "printed 2 more times in 60s, shed under overload: W ctx: shift"
    assert windows.due == math.inf
    # Noting a message again closes its window before; a full table closes every window; a
    # window nothing was shed into closes without a summary.
    windows.note(a, 100.0, Phase.READY, warn)
    windows.repeat(a, 101.0, Phase.READY)
    assert [s.suppressed for s, _ in windows.note(a, 102.0, Phase.READY, warn)] == [1]
    windows.repeat(a, 103.0, Phase.READY)
    windows.note(b"I other\n", 103.0, Phase.READY, warn)
    assert [s.suppressed for s, _ in windows.note(b"I third\n", 104.0, Phase.READY, warn)] == [1]
    assert windows.due == 104.0 + 60.0 and windows.close_all(110.0) == []
    # Closed early (the end of the stream), a window says how long it was open.
    windows.note(a, 200.0, Phase.READY, warn)
    windows.repeat(a, 201.0, Phase.READY)
    [(summary, _extra)] = windows.close_all(204.25)
    assert summary.message == "printed 1 more times in 4.2s, shed under overload: W ctx: shift"


def test_a_recorded_log_closes_its_windows_at_its_last_line():
    """Replayed, a log ends at its last line's time, not when the replay ends: a window still
    open then is summed up over the time it was open in the log."""
    from otel_plugins.pipeline import LinePipeline

    class Summaries:
        def __init__(self):
            self.messages = []

        def emit(self, classified, extra=None):
            pass

        def emit_crash(self, dump, extra=None):
            pass

        def emit_summary(self, summary, extra=None):
            self.messages.append(summary.message)

    sink = Summaries()
    pipeline = LinePipeline(Policy(sample_window_s=60), sink, line_time=True, clock=lambda: 4_000_000_000.0)
    pipeline.feed_text("[2026-01-01 00:00:00] INFO:     Application startup complete.")
    for second in (10, 14, 18, 22):
        pipeline.feed_text(f'[2026-01-01 00:00:{second}] INFO:     10.0.0.9:5 - "GET /health HTTP/1.1" 503 -')
    pipeline.close()
    assert sink.messages == ["probe GET /health 503 failed 3 more times in 12s (kept at DEBUG)"]


def test_a_line_naming_no_client_makes_no_prober():
    """ollama's app logs its UI's requests and its own health poll without a client address: the
    poll must not make every other client-less request a probe (ollama/ollama#13397, holdout5)."""
    from otel_plugins.classify import Classifier

    classifier = Classifier()
    line = (
        "time=2025-12-09T19:47:47.0{n}+05:00 level=INFO source=ui.go:211 msg=site.serveHTTP http.method=GET "
        'http.path={path} http.pattern="GET {path}" http.status=200 http.d=1ms version=0.13.1'
    )
    health = classifier.classify(line.format(n=10, path="/api/v1/health")).decision
    settings = classifier.classify(line.format(n=63, path="/api/v1/settings")).decision
    assert (health.kind, health.severity) == (Kind.PROBE, Severity.DEBUG)
    assert (settings.kind, settings.severity) == (Kind.HTTP, Severity.INFO)
    # A client that asked a probe path is a prober: its other GETs are polls (the rule kept).
    other = 'INFO:     10.0.0.7:5000 - "GET {path} HTTP/1.1" 200 OK'
    classifier.classify(other.format(path="/health"))
    assert classifier.classify(other.format(path="/api/v1/settings")).decision.kind is Kind.PROBE


def test_a_worker_ending_is_a_failure_unless_a_stop_was_announced():
    """text-generation-inference's launcher prints `shard terminated` at INFO both when it stops
    its shards and when one died (then `Error: ShardFailed`): announced or not is the difference."""
    from otel_plugins.classify import Classifier

    died = "2024-07-22T19:57:05.908774Z  INFO shard-manager: text_generation_launcher: shard terminated rank=3"
    decision = Classifier().classify(died).decision
    assert (decision.kind.value, decision.severity.name, decision.reason) == ("error", "ERROR", "worker_died")

    classifier = Classifier()
    classifier.classify("2023-12-16T09:36:24.632181Z  INFO text_generation_launcher: Shutting down shards")
    decision = classifier.classify("2023-12-16T09:36:24.652173Z  INFO shard-manager: text_generation_launcher: Shard terminated rank=1").decision
    assert (decision.kind.value, decision.severity.name, decision.reason) == ("lifecycle", "INFO", None)


def test_looking_ahead_makes_a_series_a_poll_from_its_first_request_only_when_it_polls_later():
    """`foresee` hands a recorded log's lines over before they are decided: a series that repeats
    is a poll from its first request, counted as known only by looking ahead; a request asked once,
    or by another client, stays the client's."""
    from otel_plugins.pipeline import LinePipeline

    def request(second: int, client: str, path: str = "/v1/models") -> str:
        return f'[2026-01-01 00:00:{second:02d}] INFO:     {client}:5 - "GET {path} HTTP/1.1" 200 OK'

    lines = [request(10, "10.0.0.7"), request(11, "10.0.0.9", "/api/tags"), request(20, "10.0.0.7"), request(30, "10.0.0.7")]
    live, ahead = LinePipeline(Policy(), line_time=True), LinePipeline(Policy(), line_time=True)
    ahead.foresee(line.encode() for line in lines)
    kinds = [(live.feed_text(line).decision.kind.value, ahead.feed_text(line).decision.kind.value) for line in lines]
    assert kinds == [("http", "probe"), ("http", "http"), ("http", "probe"), ("probe", "probe")]
    live.close()
    ahead.close()
    assert (live.counts.foreseen, ahead.counts.foreseen) == (0, 2)
    assert "polls known by looking ahead 2" in ahead.counts.describe()


def test_a_request_not_answered_yet_is_info_whatever_level_its_server_logs_it_at():
    """Lemonade logs each request at Debug before answering it: a user's business is INFO."""
    from otel_plugins.classify import Classifier

    line = "May 06 21:10:13 foundry lemond[1902200]: 2026-05-06 21:10:13.084 [Debug] (Server) GET /api/v1/system-info"
    classified = Classifier().classify(line)
    assert classified.record.severity.name == "DEBUG" and classified.http_status is None
    assert (classified.decision.kind.value, classified.decision.severity.name) == ("http", "INFO")
