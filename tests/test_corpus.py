"""The CLI over the whole shared corpus, and policy cases its lines raise.

The line-by-line scores against both labelled corpora, with every disagreement argued,
are in tests/test_corpus_scores.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
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
