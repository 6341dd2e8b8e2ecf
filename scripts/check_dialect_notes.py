#!/usr/bin/env python3
"""Compare hand-written expectations for captured lines with what the dialects parse today.

    .venv/bin/python scripts/check_dialect_notes.py [DIR ...]

Each `expected-notes.jsonl` (default: every one under tests/testdata/dialects/llamacpp_0336/)
holds one object per line that matters: `line` (the exact text, prefix included; or
`contains`, a unique substring of the line in `input` beside it), `kind`, `event` and the
`fields` expected (only those listed are compared), optionally `input` (another file than
input.log) and `why`. Prints one row per expectation that the current parser misses and a
count; exit status 1 if any is missed (so `--report` runs can be told from a clean pass).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from otel_plugins.dialects import decode, parse_line  # noqa: E402

DEFAULT = REPO / "tests" / "testdata" / "dialects" / "llamacpp_0336"


def load_notes(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def find_line(note: dict, lines: list[str]) -> str | None:
    if "line" in note:
        return note["line"] if note["line"] in lines else None
    hits = [line for line in lines if note["contains"] in line]
    return hits[0] if len(hits) == 1 else None


def misses(note: dict, text: str) -> list[str]:
    record = parse_line(decode(text.encode() + b"\n"))
    out = []
    if "kind" in note and record.kind.value != note["kind"]:
        out.append(f"kind {record.kind.value} != {note['kind']}")
    got_event = record.event.value if record.event is not None else None
    if "event" in note and got_event != note["event"]:
        out.append(f"event {got_event} != {note['event']}")
    for key, want in (note.get("fields") or {}).items():
        if record.fields.get(key) != want:
            out.append(f"{key} {record.fields.get(key)!r} != {want!r}")
    return out


def check(directory: Path) -> tuple[int, int]:
    total = missed = 0
    for notes_path in sorted(directory.rglob("expected-notes.jsonl")):
        cache: dict[str, list[str]] = {}
        for note in load_notes(notes_path):
            source = notes_path.parent / note.get("input", "input.log")
            lines = cache.setdefault(str(source), source.read_text("utf-8", "replace").splitlines())
            total += 1
            text = find_line(note, lines)
            where = f"{notes_path.parent.name}/{source.name}"
            if text is None:
                missed += 1
                print(f"{where}: line not found in the capture: {note.get('line') or note.get('contains')!r}")
                continue
            problems = misses(note, text)
            if problems:
                missed += 1
                print(f"{where}: {text[:90]!r}: {'; '.join(problems)}")
    return total, missed


def main(argv: list[str]) -> int:
    dirs = [Path(a) for a in argv] or [DEFAULT]
    total = missed = 0
    for d in dirs:
        t, m = check(d)
        total, missed = total + t, missed + m
    print(f"{total - missed} of {total} expectations met, {missed} missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
