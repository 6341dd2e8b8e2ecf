"""The captures of llama.cpp 0.3.36 (scripts/capture_llama.py) and the notes written beside them.

The notes say what the dialects should make of the lines that matter; which of them the
current dialects meet is printed by `scripts/check_dialect_notes.py` (the dialects are
restructured elsewhere). Here: every note names a line that is in its capture, with a kind
and event from the project's vocabulary, and the router's event stream parses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from otel_plugins.record import Event, Kind
from otel_plugins.sources.router_events import parse_event

CAPTURES = Path(__file__).parent / "testdata" / "dialects" / "llamacpp_0336"
NOTES = sorted(CAPTURES.rglob("expected-notes.jsonl"))


def test_every_capture_has_notes():
    assert {p.parent.name for p in NOTES} == {"default", "trace", "jsonl", "rpc", "rpc_cache", "router"}


@pytest.mark.parametrize("notes", NOTES, ids=lambda p: p.parent.name)
def test_notes_name_captured_lines_in_the_project_vocabulary(notes):
    kinds = {k.value for k in Kind}
    events = {e.value for e in Event} | {None}
    for raw in notes.read_text().splitlines():
        note = json.loads(raw)
        lines = (notes.parent / note.get("input", "input.log")).read_text("utf-8", "replace").splitlines()
        assert note["line"] in lines, note["line"]
        assert note["kind"] in kinds, note
        assert note.get("event") in events, note


def test_default_verbosity_prints_no_buffer_and_no_request_line():
    text = (CAPTURES / "default" / "input.log").read_text()
    assert len(text.splitlines()) < 25
    assert "model buffer size" not in text and "request" not in text
    assert "srv  llama_server: model loaded" in text


def test_router_stream_parses_to_a_load_per_model():
    events = [parse_event(line) for line in (CAPTURES / "router" / "events.txt").read_bytes().splitlines()]
    events = [e for e in events if e is not None]
    statuses = [data.get("status") for model, _event, data in events if model == "tiny"]
    assert statuses[0] == "loading" and statuses[-1] == "loaded"
    values = [data["progress"]["value"] for _m, _e, data in events if "progress" in data]
    assert values == sorted(values) and values[-1] == 1.0
    assert parse_event(b"data: not json") is None and parse_event(b": keep-alive") is None
