"""The policy against the labelled real-world corpus, and the CLI over all of it.

Each excerpt is fed as one stream (a probe before and after "ready" differ). Where the
policy disagrees with a human label, the line is listed in DISAGREEMENTS with the
reason the policy's answer stands; any other disagreement fails the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

import otlp_files
from conftest import CORPUS_DIR
from otel_plugins.classify import Classifier
from otel_plugins.pipeline import LinePipeline
from otel_plugins.policy import Policy

CORPUS = CORPUS_DIR
LABELLED = CORPUS / "labeled.jsonl"
pytestmark = pytest.mark.skipif(not LABELLED.exists(), reason=f"the shared corpus is not at {CORPUS}")

EXPECTED_KINDS = {
    "probe_noise": {"probe"},
    "http_business": {"http"},
    "load_progress": {"load", "progress"},
    "rpc": {"rpc"},
    "lifecycle": {"lifecycle"},
    "error": {"error"},
}

# (source, line prefix) -> why the policy's kind is the right call.
DISAGREEMENTS = {
    ("mostlygeek/llama-swap#", '[llama-swap] ::1 [2025-03-20 11:27:15] "GET / HTTP/1.1"'):
        "a watchdog on `/` is only recognisable by its client repeating it: the first two requests "
        "of the series are client traffic until the third shows the repetition (repeat_min)",
    ("mostlygeek/llama-swap#", '[llama-swap] ::1 [2025-03-20 11:27:45] "GET / HTTP/1.1"'): "as above (2nd of the series)",
    ("mostlygeek/llama-swap#", '[llama-swap] 127.0.0.1 [2025-02-28 02:04:53] "GET /v1/models'):
        "a loopback GET /v1/models is byte for byte what GPUStack's probe sends; listing models from a "
        "local UI cannot be told apart, so it is downgraded to DEBUG (kept, not dropped: nothing is lost)",
    ("mostlygeek/llama-swap#", '[llama-swap] 127.0.0.1 [2025-02-28 02:05:00] "GET /v1/models'): "as above",
    ("", "Dec 02 12:10:37 kamala llama-server[24689]: request: GET /models 127.0.0.1 200"):
        "Cline listing models over loopback looks exactly like a probe of /models; downgraded, not dropped",
    ("", "0.35.340.664 I srv       log_server_response: rid 86098301242 | GET /v1/models 192.168.50.13:42186"):
        "a remote client with a request id is client traffic unless its address is configured as an "
        "orchestrator; test_orchestrator_address_makes_it_a_probe shows the configured case",
}


def excerpts() -> dict[tuple[str, int], list[dict]]:
    grouped: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for line in LABELLED.read_text().splitlines():
        item = json.loads(line)
        grouped[(item["source"], item["excerpt"])].append(item)
    return {key: sorted(items, key=lambda i: i["lineno"]) for key, items in grouped.items()}


def argued(item: dict) -> tuple[str, str] | None:
    for key in DISAGREEMENTS:
        source, prefix = key
        if item["source"].startswith(source) and item["line"].startswith(prefix):
            return key
    return None


def agrees(label: str, classified) -> bool:
    kind = classified.decision.kind.value
    if label == "other":
        return kind != "probe"
    if label == "error" and classified.decision.severity.name in ("WARN", "ERROR", "FATAL"):
        return True
    return kind in EXPECTED_KINDS[label]


def test_policy_matches_the_labels_or_the_disagreement_is_argued():
    """Every labelled line gets the labelled kind, or its disagreement is argued above."""
    totals, agreed, unargued = Counter(), Counter(), []
    used = set()
    for items in excerpts().values():
        classifier = Classifier()
        for item in items:
            classified = classifier.classify(item["line"])
            totals[item["label"]] += 1
            if agrees(item["label"], classified):
                agreed[item["label"]] += 1
                continue
            key = argued(item)
            if key is None:
                unargued.append((item["label"], classified.decision.kind.value, item["line"][:160]))
            else:
                used.add(key)
    print({label: f"{agreed[label]}/{totals[label]}" for label in totals})
    assert not unargued, unargued
    assert used == set(DISAGREEMENTS), f"argued but agreeing now (remove them): {set(DISAGREEMENTS) - used}"


def test_probe_noise_is_never_louder_than_debug_before_ready():
    """Every probe the policy recognises while the server is not ready is downgraded to DEBUG."""
    for items in excerpts().values():
        classifier = Classifier()
        for item in items:
            phase = classifier.lifecycle.phase.value
            classified = classifier.classify(item["line"])
            if classified.decision.kind.value == "probe" and phase in ("starting", "loading"):
                assert classified.decision.severity.name == "DEBUG", item["line"]


def test_http_fields_match_the_labels():
    """Method, path, status and client parsed from each labelled HTTP line equal the label's."""
    for items in excerpts().values():
        classifier = Classifier()
        for item in items:
            http = item["http"]
            classified = classifier.classify(item["line"])
            if not http or argued(item):
                continue
            f = classified.record.fields
            assert f.get("http.request.method") == http["method"], item["line"]
            assert f.get("url.path") == http["path"], item["line"]
            assert f.get("http.response.status_code") == http["status"], item["line"]
            client = f.get("client.address")
            if http["client"] and client is not None and "client.port" in f and ":" in http["client"]:
                client = f"{client}:{f['client.port']}"
            assert client == http["client"] or http["client"] is None, item["line"]


def test_orchestrator_address_makes_it_a_probe():
    """Configuring the GPUStack server's address turns its remote /v1/models checks into probes."""
    policy = Policy.from_mapping({"probes": {"clients": ["127.0.0.0/8", "::1/128", "192.168.50.13"]}})
    line = "0.35.340.664 I srv       log_server_response: rid 86098301242 | GET /v1/models 192.168.50.13:42186 | status 200 | cost 0.00s"
    assert Classifier(policy).classify(line).decision.kind.value == "probe"


def test_client_errors_are_warn_and_server_errors_error_whatever_the_letter():
    classifier = Classifier()
    lines = [
        "srv                  response: rid 12 | POST /v1/chat/completions 10.0.0.9:5000 | status 404 | cost 1.20ms | closed",
        "0.05.000.000 I srv       log_server_response: rid 13 | POST /v1/chat/completions 10.0.0.9:5001 | status 500 | cost 0.10s",
    ]
    severities = [classifier.classify(line).decision.severity.name for line in lines]
    assert severities == ["WARN", "ERROR"]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.log"
    with path.open("w", encoding="utf-8") as out:
        for line in LABELLED.read_text().splitlines():
            out.write(json.loads(line)["line"] + "\n")
    return path


def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "otel_plugins", *args], input=stdin, capture_output=True, timeout=120)


def test_classify_json_over_the_whole_corpus(corpus_file):
    """One JSON object per input line, with exactly the documented keys and values."""
    result = cli("classify", "--json", str(corpus_file))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(corpus_file.read_text().splitlines())
    for number, row in enumerate(rows, 1):
        assert set(row) == {"line", "kind", "verdict", "severity", "http"}
        assert row["line"] == number
        assert row["kind"] in {"probe", "http", "progress", "load", "rpc", "lifecycle", "error", "other"}
        assert row["verdict"] in {"keep", "downgrade", "drop", "sample"}
        assert row["severity"] in {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
        assert row["http"] is None or set(row["http"]) == {"method", "path", "status", "client"}
    assert sum(r["kind"] == "probe" for r in rows) >= 60
    table = cli("classify", str(corpus_file))
    assert table.returncode == 0 and b"lines; kinds:" in table.stderr


def test_replay_over_the_whole_corpus(corpus_file, tmp_path):
    """Every kept line passes through byte for byte, downgraded ones with their letter rewritten, and becomes a log record."""
    result = cli("replay", "--output-dir", str(tmp_path), str(corpus_file))
    assert result.returncode == 0, result.stderr
    source = corpus_file.read_bytes().splitlines(keepends=True)
    passed = result.stdout.splitlines(keepends=True)
    assert len(passed) == len(source)  # the default policy drops nothing
    rewritten = [(a, b) for a, b in zip(source, passed) if a != b]
    for before, after in rewritten:
        assert len(before) == len(after)
        assert b" D " in after or b"DEBUG:" in after
    assert rewritten
    records = otlp_files.logs(tmp_path)
    expected = LinePipeline(Policy(), line_time=True)
    for raw in source:
        expected.feed(raw)
    expected.close()
    # Every line is a record, except the parts of a crash dump, which become one record each.
    assert expected.counts.crashes >= 1
    assert len(records) == expected.counts.records < len(source)
    probes = [r for r in records if r["attrs"].get("llama.log.kind") == "probe"]
    assert probes and {r["severity"] for r in probes} <= {"DEBUG", "WARN"}


def test_replay_with_drop_policy_removes_probe_lines(corpus_file, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("loading_verdict: drop\nready_verdict: drop\n")
    result = cli("replay", "--policy", str(policy), "--output-dir", str(tmp_path / "out"), str(corpus_file))
    assert result.returncode == 0, result.stderr
    assert b"GET /v1/models 127.0.0.1:60838 | status 503" not in result.stdout
    assert b"POST /v1/chat/completions" in result.stdout


def test_bad_policy_is_a_one_line_error_with_exit_code_2(corpus_file, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("loading_verdict: hide\n")
    result = cli("classify", "--policy", str(policy), str(corpus_file))
    assert result.returncode == 2
    assert result.stderr.decode().strip().count("\n") == 0
    assert "loading_verdict" in result.stderr.decode() and "keep, downgrade, drop, sample" in result.stderr.decode()
