"""`otel-plugins replay`: a recorded log becomes OTLP log records, and its text passes through."""

from __future__ import annotations

import argparse
import sys

from ..classify import Classifier
from ..emit.logs import LogEmitter
from ..sinks.passthrough import render
from ..sinks.telemetry import QUEUE_SIZE, setup_telemetry
from ..sources.replay import LineReader, open_input
from .common import add_policy_argument, load_policy, prepare_output_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("replay", help="turn a recorded log into OTLP log records")
    add_policy_argument(parser)
    parser.add_argument("--output-dir", default="otel-out", help="where the embedded default writes OTLP JSON (no OTEL endpoint set)")
    parser.add_argument("--service-name", default="llama-replay", help="service.name unless OTEL_SERVICE_NAME says otherwise")
    parser.add_argument("--no-passthrough", action="store_true", help="do not write the text to stdout")
    parser.add_argument("file", nargs="?", default="-", help="log file, or - for stdin")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    classifier = Classifier(load_policy(args.policy))
    prepare_output_dir(args.output_dir)
    stream = open_input(args.file)
    reader = LineReader(stream)
    telemetry = setup_telemetry(args.service_name, args.output_dir)
    emitter = LogEmitter(telemetry.logger_provider, stats=telemetry.stats)
    out = sys.stdout.buffer
    lines = 0
    # A recorded log has no server to keep pace with: wait for export instead of dropping,
    # every half queue of records or every 4 MiB of lines (up to 1 MiB each), whichever comes first:
    # the exporter encodes what it holds at once, and a 1 MiB line of NULs is 6 MiB of JSON.
    flush_every, flush_bytes, pending = QUEUE_SIZE // 2, 4 << 20, 0
    try:
        with stream:
            for raw in reader:
                lines, pending = lines + 1, pending + len(raw)
                classified = classifier.classify_bytes(raw)
                emitter.emit(classified)
                if lines % flush_every == 0 or pending >= flush_bytes:
                    telemetry.logger_provider.force_flush()
                    pending = 0
                for summary in classified.summaries:
                    emitter.emit_summary(summary)
                if not args.no_passthrough:
                    text = render(raw, classified.decision)
                    if text is not None:
                        out.write(text)
        for summary in classifier.flush():
            emitter.emit_summary(summary)
        out.flush()
    finally:
        # Also when stdout's reader went away: what was emitted is exported and accounted for.
        telemetry.shutdown()
        where = f" to {telemetry.output_dir}/logs.jsonl" if telemetry.output_dir else ""
        print(
            f"replayed {lines} lines{reader.cut_note()}: {emitter.emitted} log records emitted{where}, "
            f"{telemetry.stats.exported['logs']} exported, {telemetry.stats.dropped()['logs']} dropped",
            file=sys.stderr,
        )
    return 0
