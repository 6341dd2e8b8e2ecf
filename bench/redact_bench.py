"""Cost of redaction (`otel_plugins.redact.redact_text`): per ordinary line, per secret-bearing
line, and on hostile lines built to make a backtracking engine quadratic.

    .venv/bin/python bench/redact_bench.py [--lines 200000] [--check]

Ordinary lines are the shared corpus (OTEL_PLUGINS_CORPUS, or ../shared/corpus beside the
checkout), repeated. `--check` fails when a hostile 1 MiB line takes more than 2 s (RE2 is
linear: about a millisecond per MiB and rule set; a backtracking engine takes minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from otel_plugins.redact import redact_text  # noqa: E402

CORPUS = Path(os.environ.get("OTEL_PLUGINS_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
SECRET_LINE = "0.00.002.000 I srv  log_server_r: request: GET /v1/models?api_key=s3cr3tvalue 10.0.0.9 401 Authorization: Bearer abc.def"
HOSTILE = {
    "'@ ' + 'a-' * 512Ki": "@ " + "a-" * (1 << 19),
    "'key ' + '-eyJ' * 256Ki": "key " + "-eyJ" * (1 << 18),
    "'--' * 512Ki + 'key'": "--" * (1 << 19) + "key",
    "'token=' * 170Ki": "token=" * ((1 << 20) // 6),
}


def per_line_us(lines: list[str]) -> float:
    started = time.perf_counter()
    for line in lines:
        redact_text(line)
    return (time.perf_counter() - started) / len(lines) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    corpus = [line for row in (CORPUS / "excerpts.jsonl").read_text().splitlines() if row.strip() for line in json.loads(row)["lines"]]
    ordinary = (corpus * (args.lines // len(corpus) + 1))[: args.lines]
    print(f"ordinary corpus lines   {per_line_us(ordinary):8.2f} us/line over {len(ordinary)} lines"
          f" ({sum(redact_text(x) is not x for x in corpus)} of {len(corpus)} distinct lines changed)")
    print(f"secret-bearing line     {per_line_us([SECRET_LINE] * (args.lines // 4)):8.2f} us/line")
    worst = 0.0
    for name, line in HOSTILE.items():
        started = time.perf_counter()
        redact_text(line)
        took = time.perf_counter() - started
        worst = max(worst, took)
        print(f"hostile {name:<26} {took * 1000:8.1f} ms for {len(line)} characters")
    if args.check and worst > 2.0:
        print(f"FAIL: a hostile line took {worst:.1f} s (limit 2 s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
