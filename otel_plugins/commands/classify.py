"""`otel-plugins classify`: a dry run of the policy over a recorded log, line by line."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from .. import names
from ..classify import Classified, Classifier
from ..sources.replay import LineReader, open_input
from .common import add_policy_argument, load_policy


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("classify", help="show what the policy does to each line (dry run)")
    add_policy_argument(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per input line")
    parser.add_argument("file", nargs="?", default="-", help="log file, or - for stdin")
    parser.set_defaults(handler=run)


def http_summary(classified: Classified) -> dict | None:
    f = classified.record.fields
    if names.HTTP_METHOD not in f and names.HTTP_STATUS not in f:
        return None
    client = f.get(names.CLIENT_ADDRESS)
    if client is not None and names.CLIENT_PORT in f:
        client = f"{client}:{f[names.CLIENT_PORT]}"
    return {"method": f.get(names.HTTP_METHOD), "path": f.get(names.URL_PATH), "status": f.get(names.HTTP_STATUS), "client": client}


def as_json(number: int, classified: Classified) -> str:
    d = classified.decision
    return json.dumps(
        {
            "line": number,
            "kind": d.kind.value,
            "verdict": d.verdict.value,
            "severity": d.severity.name,
            "http": http_summary(classified),
        },
        separators=(",", ":"),
    )


def as_row(number: int, classified: Classified) -> str:
    d = classified.decision
    shown = d.verdict.value if d.emit else f"{d.verdict.value}*"
    text = classified.record.text.replace("\t", " ")
    if len(text) > 100:
        text = text[:97] + "..."
    return f"{number:>6}  {d.kind.value:<9} {shown:<10} {d.severity.name:<5}  {text}"


def run(args: argparse.Namespace) -> int:
    classifier = Classifier(load_policy(args.policy))
    out = sys.stdout
    kinds: Counter = Counter()
    verdicts: Counter = Counter()
    if not args.json:
        out.write(f"{'line':>6}  {'kind':<9} {'verdict':<10} {'sev':<5}  text\n")
    with open_input(args.file) as stream:
        lines = LineReader(stream)
        for number, raw in enumerate(lines, 1):
            classified = classifier.classify_bytes(raw)
            kinds[classified.decision.kind.value] += 1
            verdicts[classified.decision.verdict.value if classified.emit else "suppressed"] += 1
            out.write((as_json if args.json else as_row)(number, classified) + "\n")
            for summary in classified.summaries:
                print(summary.message, file=sys.stderr)
    for summary in classifier.flush():
        print(summary.message, file=sys.stderr)
    total = sum(kinds.values())
    print(
        f"{total} lines; kinds: {dict(sorted(kinds.items()))}; verdicts: {dict(sorted(verdicts.items()))};"
        f" final phase: {classifier.lifecycle.phase.value}{lines.cut_note()}" + ("" if args.json else " (* = not emitted)"),
        file=sys.stderr,
    )
    return 0
