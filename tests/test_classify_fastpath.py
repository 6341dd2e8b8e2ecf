"""The classifier's fast path for access lines decides exactly as its general path.

`Classifier.classify` takes an access line the dialects' fast path matched (`match_hot`)
through `_classify_access`, which reads the decision key instead of building a Record.
Here every line goes through two classifiers fed the same stream: one as it is, one with
the fast path turned off (every line parsed). Decisions, times, phases, sampling
summaries and Records must be equal, on the shared corpus and on storms generated from
real line shapes, under every policy (sampling, drops, a load deadline), in both time
modes (line time for recorded logs, arrival time for live streams).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import CORPUS_DIR
from otel_plugins import classify as classify_module
from otel_plugins.classify import Classifier
from otel_plugins.dialects import parse_line
from otel_plugins.policy import Policy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from classify_bench import build  # noqa: E402

POLICIES = {
    "default": Policy(),
    "drop": Policy.from_mapping({"loading_verdict": "drop", "ready_verdict": "drop"}),
    "sample": Policy.from_mapping({"loading_verdict": "sample", "ready_verdict": "sample", "sample_window_s": 5}),
    "deadline": Policy.from_mapping({"load_deadline_s": 30}),
}


def streams() -> list[list[str]]:
    out = [[raw.decode().rstrip("\n") for raw in build(3000, share, seed=seed)] for share, seed in ((0.8, 3), (0.2, 4))]
    path = CORPUS_DIR / "excerpts.jsonl"
    if path.exists():
        out += [json.loads(line)["lines"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


class Tick:
    """A clock that moves 10 ms a call: arrival times for the live mode, equal on both sides."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 0.01
        return self.now


@pytest.mark.parametrize("line_time", [True, False], ids=["line-time", "arrival"])
@pytest.mark.parametrize("name", list(POLICIES))
def test_fast_and_general_paths_decide_alike(name, line_time, monkeypatch):
    fast_lines = 0
    for stream in streams():
        fast = Classifier(POLICIES[name], clock=Tick(), trust_line_time=line_time)
        general = Classifier(POLICIES[name], clock=Tick(), trust_line_time=line_time)
        for line in stream:
            a = fast.classify(line)
            with monkeypatch.context() as m:
                m.setattr(classify_module, "match_hot", lambda _text: None)
                b = general.classify(line)
            fast_lines += a.hot is not None
            assert (a.decision, a.time, list(a.summaries)) == (b.decision, b.time, list(b.summaries)), line
            assert fast.lifecycle.phase is general.lifecycle.phase, line
            assert a.http_path == b.http_path and a.http_status == b.http_status, line
            assert a.record == b.record == parse_line(line), line
        assert fast.flush() == general.flush()
    assert fast_lines > 3000  # the storms did go through the fast path
