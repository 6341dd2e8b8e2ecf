"""`otel-plugins classify`: a dry run of the policy over a recorded log, line by line."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from .. import names
from ..classify import Classified
from ..dialects import decode
from ..pipeline import LinePipeline
from ..policy import SampleSummary
from ..sources.replay import LineReader, lines_ahead, open_input
from .common import add_policy_argument, load_policy

# Lines are written in bulk: one write per this many.
_WRITE_EVERY = 4096


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "classify", help="show what the policy does to each line (dry run)",
        description="Dry run: decide every line of a log with the probe policy, in order and statefully,"
        " and print the kind, verdict and severity of each. Exports nothing. A file's first 100,000 lines"
        " (not a pipe's) are read once ahead, so that a client's repeated poll is a probe from its first request.",
    )  # fmt: skip
    add_policy_argument(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per input line")
    parser.add_argument("file", nargs="?", default="-", metavar="FILE", help="log file, or - for stdin (default)")
    parser.set_defaults(handler=run)


def http_summary(classified: Classified) -> dict | None:
    hot = classified.hot
    if hot is not None:  # the fast path's access line: no Record needed
        method, path, status, client = hot.key[:4]
        port = hot.port
    else:
        f = classified.record.fields
        if names.HTTP_METHOD not in f and names.HTTP_STATUS not in f:
            return None
        method, path, status, client, port = (
            f.get(names.HTTP_METHOD), f.get(names.URL_PATH), f.get(names.HTTP_STATUS), f.get(names.CLIENT_ADDRESS), f.get(names.CLIENT_PORT)
        )
    if client is not None and port is not None:
        client = f"{client}:{port}"
    return {"method": method, "path": path, "status": status, "client": client}


class JsonLines:
    """`classify --json`'s objects. Probe storms repeat one decision and one HTTP summary but
    for the client's port, so everything after the line number is cached per (decision,
    method, path, status, client address) and the client is written into it."""

    def __init__(self, limit: int = 1 << 16) -> None:
        self.limit = limit
        self._parts: dict[tuple, tuple] = {}

    def line(self, number: int, classified: Classified) -> str:
        http = http_summary(classified)
        d = classified.decision
        # Decisions are shared objects: keyed by identity (the entry holds it, so the id stays its own).
        key = (id(d), None) if http is None else (id(d), http["method"], http["path"], http["status"])
        entry = self._parts.get(key)
        if entry is None or entry[0] is not d:
            body = {"kind": d.kind.value, "verdict": d.verdict.value, "severity": d.severity.name, "http": http}
            if http is None:
                entry = (d, json.dumps(body, separators=(",", ":"))[1:] + "\n", None)
            else:
                head = json.dumps(body, separators=(",", ":"))[1:]
                head = head[: head.rindex('"client":') + len('"client":')]
                entry = (d, head, '}}\n')
            if len(self._parts) >= self.limit:
                self._parts.clear()
            self._parts[key] = entry
        _d, head, close = entry
        if close is None:
            return f'{{"line":{number},{head}'
        client = http["client"]
        if client is None:
            text = "null"
        elif client.isascii() and client.isprintable() and '"' not in client and "\\" not in client:
            text = f'"{client}"'
        else:
            text = json.dumps(client)
        return f'{{"line":{number},{head}{text}{close}'


def as_row(number: int, classified: Classified) -> str:
    d = classified.decision
    shown = d.verdict.value if d.emit else f"{d.verdict.value}*"
    text = classified.record.text.replace("\t", " ")
    if len(text) > 100:
        text = text[:97] + "..."
    return f"{number:>6}  {d.kind.value:<9} {shown:<10} {d.severity.name:<5}  {text}"


class _StderrSummaries:
    """A dry run exports nothing: sampling summaries are shown on stderr, nothing else."""

    def emit(self, classified: Classified, extra: object = None) -> None:
        pass

    def emit_crash(self, dump: object, extra: object = None) -> None:
        pass

    def emit_summary(self, summary: SampleSummary, extra: object = None) -> None:
        print(summary.message, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    pipeline = LinePipeline(load_policy(args.policy), _StderrSummaries(), line_time=True)
    out = sys.stdout
    decisions: dict[int, list] = {}  # id(decision) -> [decision, lines]: kinds and verdicts summed at the end
    render = JsonLines().line if args.json else lambda number, classified: as_row(number, classified) + "\n"
    if not args.json:
        out.write(f"{'line':>6}  {'kind':<9} {'verdict':<10} {'sev':<5}  text\n")
    feed = pipeline.feed_text
    pending: list[str] = []
    with open_input(args.file) as stream:
        pipeline.foresee(lines_ahead(stream))
        lines = LineReader(stream)
        for number, raw in enumerate(lines, 1):
            classified = feed(decode(raw))
            decision = classified.decision
            counted = decisions.get(id(decision))
            if counted is None or counted[0] is not decision:
                counted = decisions[id(decision)] = [decision, 0]  # a sampled line's decision is a new object
            counted[1] += 1
            pending.append(render(number, classified))
            if len(pending) >= _WRITE_EVERY:
                out.write("".join(pending))
                pending.clear()
    out.write("".join(pending))
    pipeline.close()
    pipeline.count_cut(lines.cut)
    kinds: Counter = Counter()
    verdicts: Counter = Counter()
    for decision, count in decisions.values():
        kinds[decision.kind.value] += count
        verdicts[decision.verdict.value if decision.emit else "suppressed"] += count
    total = sum(kinds.values())
    foreseen = pipeline.counts.foreseen
    ahead = f"; polls known by looking ahead: {foreseen}" if foreseen else ""
    print(
        f"{total} lines; kinds: {dict(sorted(kinds.items()))}; verdicts: {dict(sorted(verdicts.items()))};"
        f" final phase: {pipeline.phase.value}{ahead}{lines.cut_note()}" + ("" if args.json else " (* = not emitted)"),
        file=sys.stderr,
    )
    return 0
