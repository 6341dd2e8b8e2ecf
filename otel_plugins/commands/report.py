"""`otel-plugins report`: what the policy would do to your own logs, before you deploy it.

    otel-plugins report [--policy FILE] [--json] [--html FILE] [--bandwidth 10Gbit/s] [--top N] [FILE|-]...

Each FILE is one stream (its own phase, as if each were one server's log); `-` is stdin.
Every line goes through the same pipeline as `classify`, `replay`, `run` and `tail`.
`--json` prints one document:

    inputs, policy          what was read, with which policy file (null: built-in)
    lines                   total, cut (longer than 1 MiB), by_family, by_kind, by_kind_verdict
                            (kind -> verdict -> lines; "not_emitted": dropped or sampled away)
    records                 log records the pipeline would export: total, crash_dumps, sample_summaries
    info_plus               before/after: {lines, probes}: INFO+ lines and the probes among them;
                            before = the severity a line states (INFO when none), after = the
                            policy's severity of the lines it emits
    noise_share             before/after: probes / INFO+ lines, fractions (null: no INFO+ line)
    families[]              family (dialect), lines, probes, info_plus_before, info_plus_after
    probe_sources           shown[]: client, method, path, status, lines, info_plus_after, intervals,
                            span_s, per_minute (null without times); more: sources not shown
    http_kept               the same for the other HTTP requests the policy keeps at INFO+ (where a
                            probe it does not recognise shows up)
    errors                  shown[]: input, line, message, count (identical messages folded), crash,
                            frames, stacktrace (first lines); more: entries not shown
    streams[]               input, lines, cut, records, crash_dumps, final_phase, timeline (null when
                            the stream has no load and no phase change): axis (seconds | lines),
                            start_unix, end_s, phases[] {phase, line, at_s}, load_s, buffers[], rpc_endpoints[],
                            progress {points[], seen, dots}, events {shown[], more}, estimate
                            (estimate.estimate_load over the buffers at --bandwidth, or null)
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .. import environment_variables as env_names
from .. import estimate as est
from ..sources.replay import lines_ahead, open_input
from .common import UsageError, add_policy_argument, load_policy

_MAX_TOP = 1000


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="what the policy would do to your logs: noise, probes, errors, load timeline",
        description="What the probe policy would do to your own logs before you deploy it: lines by family, kind and verdict;"
        " INFO+ lines before and after and the share of them that is probe noise; the top probe sources; every ERROR kept,"
        " crash dumps folded; the load timeline. A table on a terminal, --json for scripts, --html for a page with charts.",
    )
    add_policy_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document (keys: see the module docstring)")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page, load timelines drawn as charts")
    parser.add_argument(
        "--bandwidth", metavar="RATE", default="10Gbit/s",
        help="link bandwidth for the estimated weight transfer of a load (default 10Gbit/s)",
    )  # fmt: skip
    parser.add_argument("--top", metavar="N", default="10", help="rows per table (default 10); the rest are counted")
    parser.add_argument("files", nargs="*", default=["-"], metavar="FILE", help="log files, each one stream; - for stdin (default)")
    parser.set_defaults(handler=run)


def _check_inputs(paths: list[str]) -> None:
    """Every input readable before any is read, so a typo costs no partial report."""
    if paths.count("-") > 1:
        raise UsageError("- (stdin) is given more than once")
    for path in paths:
        if path == "-":
            continue
        if os.path.isdir(path):
            raise UsageError(f"{path}: is a directory, not a log file")
        try:
            open(path, "rb").close()
        except FileNotFoundError:
            raise UsageError(f"{path}: no such file") from None
        except OSError as exc:
            raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _check_html(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"--html {path}: is a directory")
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageError(f"--html {path}: folder {folder} does not exist or is not writable")


def _top(text: str) -> int:
    try:
        top = int(text)
    except ValueError:
        raise UsageError(f"--top {text!r} is not an integer") from None
    if not 1 <= top <= _MAX_TOP:
        raise UsageError(f"--top {top} must be between 1 and {_MAX_TOP}")
    return top


def run(args: argparse.Namespace) -> int:
    # Imported here: every command's parser is built at start-up, and rich is slow to import.
    from rich.console import Console

    from ..report import render_html, render_text
    from ..report.aggregate import ReportBuilder, bounded_lines
    from ..report.render_json import as_dict

    policy = load_policy(args.policy)
    try:
        bandwidth = est.parse_bandwidth(args.bandwidth)
    except est.EstimateError as exc:
        raise UsageError(str(exc)) from None
    top = _top(args.top)
    _check_inputs(args.files)
    if args.html:
        _check_html(args.html)
    name = args.policy or os.environ.get(env_names.OTEL_PLUGINS_POLICY) or None
    builder = ReportBuilder(policy, bandwidth=bandwidth, limit=top, policy_name=name)
    for path in args.files:
        label = "stdin" if path == "-" else path
        try:
            with open_input(path) as stream:
                builder.add_stream(label, bounded_lines(stream), lines_ahead(stream))
        except OSError as exc:
            raise UsageError(f"{label}: read failed ({exc.strerror or exc})") from None
    report = builder.build([("stdin" if p == "-" else p) for p in args.files])
    if args.html:
        try:
            with open(args.html, "w", encoding="utf-8") as out:
                out.write(render_html.render(report, top))
        except OSError as exc:
            raise UsageError(f"--html {args.html}: cannot write ({exc.strerror or exc})") from None
    if args.json:
        sys.stdout.write(json.dumps(as_dict(report), indent=2) + "\n")
    else:
        render_text.render(report, Console(highlight=False), top)
    if args.html:
        print(f"otel-plugins: wrote {args.html}", file=sys.stderr)
    return 0
