"""`otel-plugins replay`: a recorded log becomes OTLP log records, and its text passes through."""

from __future__ import annotations

import argparse
import sys

from .. import names
from ..emit.logs import LogEmitter
from ..emit.metrics import InstanceMetrics
from ..pipeline import LinePipeline, describe_lines
from ..sinks.telemetry import setup_telemetry
from ..sources.replay import LineReader, lines_ahead, open_input
from .common import add_policy_argument, load_policy, prepare_output_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay", help="turn a recorded log into OTLP log records",
        description="Decide every line of a recorded log with the probe policy and export the kept ones as"
        " OTLP log records (OTEL_* variables; OTLP JSON files under --output-dir by default). The text passes"
        " through to stdout with dropped probe lines removed and downgraded ones relabelled.",
    )  # fmt: skip
    add_policy_argument(parser)
    parser.add_argument("--output-dir", metavar="DIR", default="otel-out", help="where the embedded default writes OTLP JSON (no OTEL endpoint set)")
    parser.add_argument("--service-name", metavar="NAME", default="llama-replay", help="service.name unless OTEL_SERVICE_NAME says otherwise")
    parser.add_argument("--no-passthrough", action="store_true", help="do not write the text to stdout")
    parser.add_argument("file", nargs="?", default="-", metavar="FILE", help="log file, or - for stdin (default)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    prepare_output_dir(args.output_dir)
    stream = open_input(args.file)
    reader = LineReader(stream)
    telemetry = setup_telemetry(args.service_name, args.output_dir)
    emitter = LogEmitter(telemetry)
    metrics = InstanceMetrics(
        telemetry.meter_provider.get_meter("otel_plugins"), None, {names.ATTR_SERVER_KIND: "replay"}, export_stats=telemetry.stats
    )
    pipeline = LinePipeline(policy, emitter, metrics=metrics, line_time=True)
    pipeline.foresee(lines_ahead(stream))
    out = sys.stdout.buffer
    # A recorded log has no server to keep pace with: wait for export instead of dropping,
    # every half queue of records or every 4 MiB of lines (up to 1 MiB each), whichever comes first:
    # the exporter encodes what it holds at once, and a 1 MiB line of NULs is 6 MiB of JSON.
    flush_every, flush_bytes, pending = max(1, telemetry.log_queue_size // 2), 4 << 20, 0
    try:
        with stream:
            for raw in reader:
                pending += len(raw)
                text = pipeline.feed(raw)
                if pipeline.counts.lines % flush_every == 0 or pending >= flush_bytes:
                    telemetry.flush_logs()
                    pending = 0
                if text is not None and not args.no_passthrough:
                    out.write(text)
        pipeline.close()
        out.flush()
    finally:
        # Also when stdout's reader went away: what was emitted is exported and accounted for.
        telemetry.shutdown()
        pipeline.count_cut(reader.cut)
        where = f" to {telemetry.output_dir}/" if telemetry.output_dir else ""
        print(f"otel-plugins: replayed {args.file}{where}: {describe_lines(pipeline.counts, telemetry.stats)}", file=sys.stderr)
    return 0
