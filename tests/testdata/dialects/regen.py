"""Regenerate `<family>/expected.jsonl` from `<family>/input.log` with the current parsers.

Only after reading what changed: `git diff tests/testdata/dialects` must show intended
changes only. Usage: `.venv/bin/python tests/testdata/dialects/regen.py [family ...]`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[2]), str(HERE.parents[1])]

from otel_plugins.dialects import parse_line  # noqa: E402
from test_dialects import as_golden, read_lines  # noqa: E402


def main(families: list[str]) -> None:
    for directory in sorted(p.parent for p in HERE.rglob("input.log")):
        name = str(directory.relative_to(HERE))
        if families and name not in families:
            continue
        out = [json.dumps(as_golden(parse_line(line)), ensure_ascii=True) for line in read_lines(directory / "input.log")]
        (directory / "expected.jsonl").write_text("\n".join(out) + "\n", "utf-8")
        print(f"{name}: {len(out)} lines")


if __name__ == "__main__":
    main(sys.argv[1:])
