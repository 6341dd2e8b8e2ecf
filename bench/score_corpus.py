"""Score the probe policy and the dialects against labelled real log excerpts (issue 10).

    .venv/bin/python bench/score_corpus.py [--corpus DIR]... [--json] [--misses] [--check]

Each excerpt is fed as one stream to `otel-plugins classify --json` (one CLI run per
excerpt), so the figures measure the shipped command, whatever sits behind it. The excerpt
is a file, as a recorded log is, which `classify` reads once ahead (a client's repeated
poll is a probe from its first request); `--pipe` feeds it on stdin instead, as a live
stream comes, with no look ahead. By
default both corpora are scored: the shared one (found as tests/conftest.py finds it)
and tests/testdata/corpus. Five figures, per corpus and combined (sums of counts):

- probe noise out of INFO+: probe_noise lines that end below INFO or are not emitted;
- protected: http_business, lifecycle, rpc and load_progress lines emitted at >= INFO,
  and error lines emitted at >= WARN (each label reported too);
- kind right: the policy's kind is the label's (error: kind error or any line at
  >= WARN; other: anything but probe);
- HTTP fields right: method, path, status and client of labelled HTTP lines (the
  client is compared with its port only when the label has one);
- noise share of INFO+ lines, before (the severity the line states, INFO when none)
  and after (the severity of emitted lines): probe_noise lines / all lines.

A `drop` verdict is not emitted; a `sample` verdict is counted as not emitted (at most
one representative per window gets through, and `classify --json` does not say which).
`--check` exits 1 when a combined figure misses its goal. Bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("OTEL_PLUGINS_CORPUS") or REPO.parent / "shared" / "corpus")
FRESH = REPO / "tests" / "testdata" / "corpus"
HOLDOUT = REPO / "tests" / "testdata" / "holdout"  # collected after the rules were tuned: scored, never tuned on
HOLDOUT2 = REPO / "tests" / "testdata" / "holdout2"  # collected after they were tuned on the first holdout
HOLDOUT3 = REPO / "tests" / "testdata" / "holdout3"  # collected after they were tuned on the second
HOLDOUT4 = REPO / "tests" / "testdata" / "holdout4"  # and after the third
HOLDOUT5 = REPO / "tests" / "testdata" / "holdout5"  # and after the fourth
HOLDOUT6 = REPO / "tests" / "testdata" / "holdout6"  # and after the fifth
HOLDOUT7 = REPO / "tests" / "testdata" / "holdout7"  # and after the sixth: failures through relays and supervisors

RANK = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}
INFO, WARN = RANK["INFO"], RANK["WARN"]
EXPECTED_KINDS = {
    "probe_noise": {"probe"},
    "http_business": {"http"},
    "load_progress": {"load", "progress"},
    "rpc": {"rpc"},
    "lifecycle": {"lifecycle"},
    "error": {"error"},
}
PROTECTED_AT_INFO = ("http_business", "lifecycle", "rpc", "load_progress")
GOALS = {"probe_out": 0.98, "protected": 1.0, "kind_right": 0.95, "http_right": 0.95}
MAX_LINE_CHARS = 64 * 1024  # real log lines are far shorter; a bigger one is bad input


class BadInput(Exception):
    pass


@dataclass(slots=True)
class Line:
    source: str
    excerpt: int
    lineno: int
    text: str
    label: str
    http: dict | None
    got: dict | None = None  # the CLI's object for this line, None if the run failed
    stated: int | None = None  # severity rank the line states (INFO when none)

    @property
    def emitted(self) -> bool:
        return self.got is not None and self.got["verdict"] not in ("drop", "sample")

    @property
    def rank(self) -> int:
        return RANK.get(self.got["severity"], 0) if self.got else 0


@dataclass(slots=True)
class Tally:
    """Counts behind every figure: (hits, total) pairs, kept per label where asked."""

    probe: list[int] = field(default_factory=lambda: [0, 0])
    protected: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    kind: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    http: list[int] = field(default_factory=lambda: [0, 0])
    before: list[int] = field(default_factory=lambda: [0, 0])  # probe_noise at INFO+, all at INFO+
    after: list[int] = field(default_factory=lambda: [0, 0])
    lines: int = 0
    excerpts: int = 0
    failed_runs: list[str] = field(default_factory=list)
    misses: dict[str, list[Line]] = field(default_factory=lambda: defaultdict(list))

    def add(self, other: Tally) -> None:
        for mine, theirs in ((self.probe, other.probe), (self.http, other.http), (self.before, other.before), (self.after, other.after)):
            mine[0] += theirs[0]
            mine[1] += theirs[1]
        for mine_d, theirs_d in ((self.protected, other.protected), (self.kind, other.kind)):
            for label, (hit, total) in theirs_d.items():
                mine_d[label][0] += hit
                mine_d[label][1] += total
        self.lines += other.lines
        self.excerpts += other.excerpts
        self.failed_runs += other.failed_runs
        for cls, lines in other.misses.items():
            self.misses[cls] += lines


@dataclass(slots=True)
class Excerpt:
    """One stream: every line as pasted, and the labelled ones to score."""

    lines: list[str]
    labelled: list[Line]


def load_corpus(directory: Path) -> list[Excerpt]:
    """The corpus's excerpts, each with its labelled lines in stream order."""
    try:
        excerpts = [json.loads(row) for row in (directory / "excerpts.jsonl").read_text(encoding="utf-8").splitlines() if row.strip()]
        labelled = [json.loads(row) for row in (directory / "labeled.jsonl").read_text(encoding="utf-8").splitlines() if row.strip()]
        streams = [Excerpt([str(text) for text in excerpt["lines"]], []) for excerpt in excerpts]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BadInput(f"{directory}: cannot read the corpus: {exc!r}") from exc
    for item in labelled:
        try:
            index, lineno = item["excerpt"], item["lineno"]
            text = streams[index].lines[lineno]
            line = Line(item["source"], index, lineno, item["line"], item["label"], item.get("http"))
        except (KeyError, IndexError, TypeError) as exc:
            raise BadInput(f"{directory}/labeled.jsonl: entry {item!r:.120} does not match excerpts.jsonl ({exc!r})") from exc
        if text != line.text or len(text) > MAX_LINE_CHARS or "\n" in text:
            raise BadInput(f"{directory}/labeled.jsonl: line {lineno} of excerpt {index} differs from excerpts.jsonl or is not one line")
        streams[index].labelled.append(line)
    for stream in streams:
        stream.labelled.sort(key=lambda line: line.lineno)
    return [stream for stream in streams if stream.labelled]


def stated_severity():
    """The severity each line states before the policy; None if the parser cannot be used."""
    try:
        from otel_plugins.dialects import parse_line
    except ImportError:
        return None

    def rank(text: str) -> int:
        severity = parse_line(text).severity
        return INFO if severity is None else int(severity)

    try:  # the parser's interface may change under a refactor: then 'before' is n/a, not a crash
        rank("INFO:     Started server process [1]")
    except Exception:  # noqa: BLE001
        return None
    return rank


def classify(stream: Excerpt, command: list[str], pipe: bool) -> str | None:
    """Runs the CLI over one excerpt and attaches its answers; returns an error or None."""
    first = stream.labelled[0]
    data = "".join(text + "\n" for text in stream.lines).encode("utf-8", "surrogateescape")
    try:
        if pipe:
            result = subprocess.run([*command, "classify", "--json", "-"], input=data, capture_output=True, timeout=300)
        else:
            with tempfile.NamedTemporaryFile(suffix=".log") as log:
                log.write(data)
                log.flush()
                result = subprocess.run([*command, "classify", "--json", log.name], capture_output=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{first.source} (excerpt {first.excerpt}): {exc}"
    rows = []
    for raw in result.stdout.splitlines():
        try:
            rows.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    if result.returncode != 0 or len(rows) != len(stream.lines):
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return f"{first.source} (excerpt {first.excerpt}): exit {result.returncode}, {len(rows)}/{len(stream.lines)} rows: {tail[0][:200]}"
    for line in stream.labelled:
        line.got = rows[line.lineno]
    return None


def matches_http(expected: dict, got: dict | None) -> bool:
    if got is None:
        return False
    if any(got.get(key) != expected[key] for key in ("method", "path", "status")):
        return False
    want, have = expected["client"], got.get("client")
    if want is None or have == want:
        return True
    # The label names the address only: compare without the port the CLI appends.
    address, _, port = (have or "").rpartition(":")
    return port.isdigit() and address == want


def score(stream: Excerpt, tally: Tally) -> None:
    for line in stream.labelled:
        tally.lines += 1
        label, got = line.label, line.got
        kind = got["kind"] if got else None
        if line.stated is not None and line.stated >= INFO:
            tally.before[1] += 1
            tally.before[0] += label == "probe_noise"
        if line.emitted and line.rank >= INFO:
            tally.after[1] += 1
            tally.after[0] += label == "probe_noise"
        if label == "probe_noise":
            out = got is not None and (not line.emitted or line.rank < INFO)
            tally.probe[0] += out
            tally.probe[1] += 1
            if not out:
                tally.misses["probe noise left at INFO+"].append(line)
        floor = WARN if label == "error" else INFO if label in PROTECTED_AT_INFO else None
        if floor is not None:
            kept = line.emitted and line.rank >= floor
            tally.protected[label][0] += kept
            tally.protected[label][1] += 1
            if not kept:
                tally.misses[f"protected {label} below {'WARN' if floor == WARN else 'INFO'} or not emitted"].append(line)
        if label == "other":
            right = kind is not None and kind != "probe"
        elif label == "error":
            right = kind == "error" or (got is not None and line.rank >= WARN)
        else:
            right = kind in EXPECTED_KINDS.get(label, ())
        tally.kind[label][0] += right
        tally.kind[label][1] += 1
        if not right:
            tally.misses[f"kind: {label} taken for {kind}"].append(line)
        if line.http:
            right = matches_http(line.http, got["http"] if got else None)
            tally.http[0] += right
            tally.http[1] += 1
            if not right:
                tally.misses["HTTP fields wrong"].append(line)


def share(pair: list[int]) -> float | None:
    return pair[0] / pair[1] if pair[1] else None


def figure(pair: list[int], per_label: dict[str, list[int]] | None = None) -> dict:
    if per_label is not None:
        pair = [sum(v[0] for v in per_label.values()), sum(v[1] for v in per_label.values())]
    result = {"share": share(pair), "hits": pair[0], "total": pair[1]}
    if per_label is not None:
        result["per_label"] = {label: figure(v) for label, v in sorted(per_label.items())}
    return result


def figures(tally: Tally) -> dict:
    return {
        "excerpts": tally.excerpts,
        "lines": tally.lines,
        "failed_runs": tally.failed_runs,
        "probe_out": figure(tally.probe),
        "protected": figure([], tally.protected),
        "kind_right": figure([], tally.kind),
        "http_right": figure(tally.http),
        "noise_share": {"before": share(tally.before), "after": share(tally.after),
                        "before_counts": tally.before, "after_counts": tally.after},
    }


def percent(value: float | None) -> str:
    return "   n/a" if value is None else f"{100 * value:5.1f} %"


def print_figures(name: str, fig: dict) -> None:
    print(f"{name}: {fig['excerpts']} excerpts, {fig['lines']} lines")
    for key, title in (("probe_out", "probe noise out of INFO+"), ("protected", "protected lines kept"),
                       ("kind_right", "kind right"), ("http_right", "HTTP fields right")):
        f = fig[key]
        print(f"  {title:<26} {percent(f['share'])}  ({f['hits']}/{f['total']}, goal >= {100 * GOALS[key]:.0f} %)")
        for label, sub in f.get("per_label", {}).items():
            print(f"      {label:<22} {percent(sub['share'])}  ({sub['hits']}/{sub['total']})")
    n = fig["noise_share"]
    print(f"  {'noise share of INFO+ lines':<26} before {percent(n['before'])} ({n['before_counts'][0]}/{n['before_counts'][1]})"
          f" -> after {percent(n['after'])} ({n['after_counts'][0]}/{n['after_counts'][1]})")
    for failure in fig["failed_runs"]:
        print(f"  CLI run failed: {failure}")


def print_misses(tally: Tally) -> None:
    for cls in sorted(tally.misses, key=lambda c: (-len(tally.misses[c]), c)):
        lines = tally.misses[cls]
        print(f"\n== {cls}: {len(lines)}")
        for line in lines:
            got = line.got or {}
            said = f"{got.get('kind')}/{got.get('verdict')}/{got.get('severity')}"
            if cls == "HTTP fields wrong":
                said += f" http={got.get('http')} want={line.http}"
            print(f"  [{line.source} #{line.excerpt}:{line.lineno}] {line.label} -> {said}: {line.text[:150]}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", type=Path, metavar="DIR", help="corpus directory (repeatable)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--misses", action="store_true", help="list every wrong line, grouped by class")
    parser.add_argument("--check", action="store_true", help="exit 1 if a combined figure misses its goal")
    parser.add_argument("--jobs", type=int, default=2, help="CLI runs at once (default 2)")
    parser.add_argument("--pipe", action="store_true", help="feed each excerpt on stdin, as a live stream: no look ahead")
    parser.add_argument("--cli", default=None, help="command that runs otel-plugins (default: this Python -m otel_plugins)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dirs = args.corpus or [d for d in (SHARED, FRESH) if (d / "labeled.jsonl").exists()]
    command = args.cli.split() if args.cli else [sys.executable, "-m", "otel_plugins"]
    try:
        if not dirs:
            raise BadInput(f"no corpus found (looked for {SHARED} and {FRESH}); pass --corpus DIR")
        if args.jobs < 1:
            raise BadInput(f"--jobs must be at least 1, not {args.jobs}")
        corpora = [(d, load_corpus(d)) for d in dirs]
    except BadInput as exc:
        print(f"score_corpus: {exc}", file=sys.stderr)
        return 2
    rank = stated_severity()
    combined, report = Tally(), {"corpora": {}}
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for directory, streams in corpora:
            tally = Tally(excerpts=len(streams))
            for stream, failure in zip(streams, pool.map(lambda s: classify(s, command, args.pipe), streams)):
                if failure:
                    tally.failed_runs.append(failure)
                if rank is not None:
                    for line in stream.labelled:
                        line.stated = rank(line.text)
                score(stream, tally)
            report["corpora"][str(directory)] = figures(tally)
            combined.add(tally)
    report["combined"] = figures(combined)
    missed = [key for key, goal in GOALS.items() if (report["combined"][key]["share"] or 0.0) < goal]
    report["goals"] = GOALS
    report["check"] = {"passed": not missed, "missed": missed}
    if args.json:
        if args.misses:
            report["misses"] = {cls: [{"source": m.source, "excerpt": m.excerpt, "lineno": m.lineno, "label": m.label,
                                       "got": m.got, "line": m.text} for m in lines] for cls, lines in combined.misses.items()}
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        for name, fig in report["corpora"].items():
            print_figures(name, fig)
        print_figures("combined", report["combined"])
        print(f"goals {'met' if not missed else 'missed: ' + ', '.join(missed)}")
        if rank is None:
            print("(the 'before' severities are n/a: otel_plugins.dialects.parse_line is not importable or not usable)")
        if args.misses:
            print_misses(combined)
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
