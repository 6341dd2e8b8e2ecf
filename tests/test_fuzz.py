"""Bad input at scale: over a million generated lines through the dialects, the policy and the passthrough.

Inputs are real corpus lines (../shared/corpus) cut short, mutated to almost match,
salted with NUL, CR, ANSI codes and bytes that are not UTF-8, plus random bytes and a
few 16 MiB lines. For each: `Classifier.classify_bytes` must not raise, and
`passthrough.render` must return the line byte for byte when it is kept, None when it is
dropped, and the line with only its level rewritten when it is downgraded. Hypothesis
covers the structured cases; a seeded generator supplies the bulk (1,000,000 lines).
Also: invalid policy files give one line naming the key (and the allowed values where
there is a closed set) and exit code 2.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_plugins.classify import Classifier
from otel_plugins.policy import Policy, Verdict
from otel_plugins.sinks.passthrough import render

REPO = Path(__file__).resolve().parent.parent
CORPUS_DIR = Path(os.environ.get("OTEL_PLUGINS_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
BULK_LINES = 1_000_000
BIG = 16 << 20


def _corpus() -> list[bytes]:
    lines: set[str] = set()
    labeled = CORPUS_DIR / "labeled.jsonl"
    if labeled.exists():
        lines.update(json.loads(row)["line"] for row in labeled.read_text().splitlines() if row.strip())
    excerpts = CORPUS_DIR / "excerpts.jsonl"
    if excerpts.exists():
        for row in excerpts.read_text().splitlines():
            if row.strip():
                lines.update(json.loads(row)["lines"])
    return sorted(line.encode("utf-8", "surrogateescape") for line in lines)


CORPUS = _corpus()
# Request lines (probes and client traffic), so that the generator reaches every verdict.
REQUESTS = [line for line in CORPUS if b" /" in line and any(m in line for m in (b"GET", b"POST", b"HEAD"))] or CORPUS
needs_corpus = pytest.mark.skipif(not CORPUS, reason=f"no corpus at {CORPUS_DIR}")
POLICIES = {
    "default": Policy(),
    "drop": Policy(loading_verdict=Verdict.DROP, ready_verdict=Verdict.DROP),
    "sample": Policy(loading_verdict=Verdict.SAMPLE, ready_verdict=Verdict.SAMPLE, sample_window_s=0.001),
    "keep": Policy(loading_verdict=Verdict.KEEP, ready_verdict=Verdict.KEEP, load_deadline_s=0.001),
}
SPICE = (b"\x00", b"\r", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x82", b"\x1b[0;36m", b"\x1b[0m", b"\t", b"\x85", b"\xf0\x9f\x98", b" ", b"|", b":")
# The passthrough may rewrite a downgraded line's level and nothing else (sinks/passthrough.py).
LEVEL_REWRITES = ((b"I", b"D"), (b"W", b"D"), (b"E", b"D"), (b"INFO:    ", b"DEBUG:   "))


def first_difference(a: bytes, b: bytes) -> int:
    """Index of the first byte where `a` and `b` differ (comparing 4 KiB blocks in C first)."""
    step = 4096
    i = 0
    while i < len(a) and a[i : i + step] == b[i : i + step]:
        i += step
    while a[i : i + 1] == b[i : i + 1]:
        i += 1
    return i


def check(classifier: Classifier, raw: bytes) -> Verdict:
    """Classify and render one line; fail on any exception or any change the policy does not allow."""
    decision = classifier.classify_bytes(raw).decision
    out = render(raw, decision)
    if not decision.emit:
        assert out is None, (raw[:200], decision)
    elif decision.verdict is not Verdict.DOWNGRADE:
        assert out == raw, (raw[:200], decision)
    elif out != raw:
        assert out is not None and len(out) == len(raw), (raw[:200], out[:200] if out else out)
        i = first_difference(raw, out)
        assert any(
            raw[i : i + len(old)] == old and out[i : i + len(new)] == new and raw[i + len(old) :] == out[i + len(new) :]
            for old, new in LEVEL_REWRITES
        ), (raw[:200], out[:200])
    return decision.verdict


def mutate(rng: random.Random, line: bytes) -> bytes:
    """One line made wrong in one to four ways, as a stream might deliver it."""
    b = bytearray(line)
    for _ in range(rng.randrange(1, 5)):
        op = rng.randrange(9)
        at = rng.randrange(len(b) + 1)
        if op == 0:  # truncated prefix
            del b[at:]
        elif op == 1 and b:  # one byte changed
            b[min(at, len(b) - 1)] = rng.randrange(256)
        elif op == 2:  # something odd inserted
            b[at:at] = rng.choice(SPICE)
        elif op == 3 and b:  # a span removed
            del b[at : at + rng.randrange(1, 12)]
        elif op == 4:  # a span repeated
            span = b[at : at + rng.randrange(1, 24)]
            b[at:at] = span * rng.randrange(1, 4)
        elif op == 5:  # digits changed: times, ports, statuses, sizes
            b = bytearray(bytes(c if not 48 <= c <= 57 or rng.random() < 0.7 else rng.randrange(48, 58) for c in b))
        elif op == 6:  # two lines spliced
            other = rng.choice(CORPUS)
            b = b[:at] + other[rng.randrange(len(other) + 1) :]
        elif op == 7:  # the end cut off, or a prefix (journald, docker) added
            b = bytearray(rng.choice((b"", b"Jun  9 17:12:11 host llama-server[33]: ", b"box-1  | ", b"[38565] "))) + b
        else:  # upper/lower case swapped
            b = bytearray(bytes(b).swapcase())
    return bytes(b)


def as_line(body: bytes, ending: bytes) -> bytes:
    """What a pipe pump hands over: no newline inside, one (or none, at EOF) at the end."""
    return body.replace(b"\n", b" ") + ending


# --- hypothesis: the structured cases --------------------------------------------------

endings = st.sampled_from([b"\n", b"\r\n", b"", b"\r"])


@st.composite
def fuzzed_lines(draw: st.DrawFn) -> bytes:
    base = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["truncate", "insert", "delete", "flip", "digits"]))
        at = draw(st.integers(0, len(base)))
        if kind == "truncate":
            del base[at:]
        elif kind == "insert":
            base[at:at] = draw(st.sampled_from(SPICE) | st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del base[at : at + draw(st.integers(1, 16))]
        elif kind == "flip" and base:
            base[min(at, len(base) - 1)] = draw(st.integers(0, 255))
        elif kind == "digits":
            base = bytearray(bytes(base).translate(bytes.maketrans(b"0123456789", bytes(draw(st.permutations(list(b"0123456789")))))))
    return as_line(bytes(base), draw(endings))


lines_or_noise = fuzzed_lines() | st.builds(as_line, st.binary(max_size=400), endings)
FUZZ = settings(max_examples=2500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@needs_corpus
@pytest.mark.parametrize("policy", sorted(POLICIES))
@FUZZ
@given(raw=lines_or_noise)
def test_fuzzed_line_is_decided_and_passed_through_exactly(policy, raw):
    """A mutated, truncated or random line never raises, and its passthrough is exact unless the policy says otherwise."""
    check(Classifier(POLICIES[policy]), raw)


@needs_corpus
@pytest.mark.parametrize("policy", sorted(POLICIES))
@settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=st.lists(lines_or_noise | st.sampled_from(CORPUS).map(lambda b: b + b"\n"), max_size=60))
def test_fuzzed_stream_keeps_its_invariants_across_phases(policy, stream):
    """One classifier over a stream of real and broken lines (phases, sampling windows, cadence) never raises nor corrupts a kept line."""
    classifier = Classifier(POLICIES[policy])
    for raw in stream:
        check(classifier, raw)


# --- the bulk: a seeded generator ------------------------------------------------------


@needs_corpus
def test_a_million_generated_lines(capsys):
    """1,000,000 seeded lines (corpus lines, mostly mutated; 10 % random bytes) through four policies: no exception, exact passthrough."""
    rng = random.Random(20261128)
    classifiers = {name: Classifier(policy) for name, policy in POLICIES.items()}
    order = list(classifiers.values())
    verdicts: dict[str, int] = {}
    start = time.perf_counter()
    for n in range(BULK_LINES):
        if n % 50_000 == 0:  # fresh classifiers now and then: every phase gets its share of lines
            order = [Classifier(policy) for policy in POLICIES.values()]
        if rng.random() < 0.1:
            body = rng.randbytes(rng.randrange(0, 300))
        else:
            line = rng.choice(REQUESTS if rng.random() < 0.4 else CORPUS)
            body = mutate(rng, line) if rng.random() < 0.8 else line
        raw = as_line(body, b"\n" if rng.random() < 0.95 else rng.choice((b"", b"\r\n", b"\r")))
        verdict = check(order[n % len(order)], raw)
        verdicts[verdict.value] = verdicts.get(verdict.value, 0) + 1
    elapsed = time.perf_counter() - start
    with capsys.disabled():
        print(f"\nfuzz bulk: {BULK_LINES} lines in {elapsed:.1f} s ({BULK_LINES / elapsed:,.0f}/s); verdicts {verdicts}")
    assert sum(verdicts.values()) == BULK_LINES
    assert set(verdicts) == {v.value for v in Verdict}, verdicts  # the generator reaches every verdict


def _big_lines() -> list[tuple[str, bytes]]:
    rng = random.Random(16)
    probe = b"0.00.007.180 I srv  log_server_r: request: GET /health 127.0.0.1 503"
    return [
        ("probe then 16 MiB", probe + b" " + b"A" * BIG + b"\n"),
        ("16 MiB of NUL", b"\x00" * BIG + b"\n"),
        ("16 MiB random, not UTF-8", rng.randbytes(BIG).replace(b"\n", b"\r")),
        ("a corpus line, repeated", (CORPUS[len(CORPUS) // 2] + b" ") * (BIG // (len(CORPUS[len(CORPUS) // 2]) + 1)) + b"\n"),
        ("uvicorn access, 16 MiB path", b'INFO:     127.0.0.1:4242 - "GET /' + b"h" * BIG + b' HTTP/1.1" 200 OK\n'),
        ("llama-box response, 16 MiB cost", b"0.30.031.579 I srv       log_server_response: rid  | GET /v1/models 127.0.0.1:13788 | status 503 | cost " + b"9" * BIG + b"s\n"),
    ]


@needs_corpus
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_sixteen_mebibyte_lines(policy, capsys):
    """16 MiB lines are decided without an exception and passed through exactly when kept. The
    time each takes is printed, not asserted: a wall-time bound swings on a 2-core machine."""
    for name, raw in _big_lines():
        start = time.perf_counter()
        verdict = check(Classifier(POLICIES[policy]), raw)
        elapsed = time.perf_counter() - start
        with capsys.disabled():
            print(f"\n16 MiB line, {policy} policy: {name}: {verdict.value} in {elapsed:.2f} s", end="")


# --- invalid policy files ----------------------------------------------------------------

INVALID_POLICIES = [
    # (file text, words the one-line error must contain)
    ("loading_verdit: drop\n", ["loading_verdit", "allowed keys", "loading_verdict", "ready_verdict"]),
    ("loading_verdict: maybe\n", ["loading_verdict", "maybe", "keep", "downgrade", "drop", "sample"]),
    ("ready_verdict: [keep]\n", ["ready_verdict", "keep", "downgrade", "drop", "sample"]),
    ("server_error_severity: LOUD\n", ["server_error_severity", "LOUD", "DEBUG", "INFO", "WARN", "ERROR"]),
    ("probes:\n  pathz: [/health]\n", ["probes.pathz", "allowed keys", "paths"]),
    ("probes:\n  repeat_hint: maybe\n", ["probes.repeat_hint", "true or false"]),
    ("probes:\n  paths: [health]\n", ["probes.paths", "health", "'/'"]),
    ("probes:\n  clients: [not-an-ip]\n", ["probes.clients", "not-an-ip"]),
    ("sample_window_s: soon\n", ["sample_window_s", "number"]),
    ("sample_window_s: -1\n", ["sample_window_s", "greater than 0"]),
    ("rpc_peer:\n  lost_after: 3\n", ["rpc_peer.lost_after", "allowed keys", "lost_after_s"]),
    ("- a list\n", ["top level", "mapping"]),
    ("loading_verdict: [unclosed\n", ["not valid YAML"]),
]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTEL_PLUGINS_"))}
    environment["PYTHONPATH"] = str(REPO)
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "otel_plugins", *args], input="", capture_output=True, text=True, check=False,
                          env=environment, timeout=60)


@pytest.mark.parametrize(("text", "words"), INVALID_POLICIES, ids=[t.split(":")[0].strip("- \n") for t, _ in INVALID_POLICIES])
def test_invalid_policy_file_is_one_line_naming_the_key(tmp_path, text, words):
    """`classify --policy F` with a bad F exits 2 with one line naming the key and, for closed sets, the allowed values."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    result = _cli("classify", "--policy", str(policy), "-")
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("otel-plugins: "), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert result.stdout == ""


def test_invalid_policy_stops_run_and_env_overrides_before_anything_starts(tmp_path):
    """`run --policy F`, and a bad OTEL_PLUGINS_LOADING_VERDICT, fail the same way (exit 2, one line) without starting the server."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("ready_verdict: sometimes\n")
    marker = tmp_path / "started"
    result = _cli("run", "--policy", str(policy), "--output-dir", str(tmp_path / "otel"), "--", "touch", str(marker))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "ready_verdict" in result.stderr and "downgrade" in result.stderr
    result = _cli("classify", "-", env={"OTEL_PLUGINS_LOADING_VERDICT": "bogus"})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "OTEL_PLUGINS_LOADING_VERDICT" in result.stderr and "keep" in result.stderr
    missing = _cli("classify", "--policy", str(tmp_path / "absent.yaml"), "-")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1, missing.stderr
    assert not marker.exists()
