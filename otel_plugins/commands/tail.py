"""`otel-plugins tail`: follow the log files GPUStack writes and turn their lines into OTLP log records.

Parsing, policy and telemetry are those of `replay`. Each path is one instance's stream
(a rotated file continues it), so each gets its own LinePipeline; records carry
`log.file.path` and `log.file.name` and are stamped when read (`trust_line_time=False`).
SIGINT or SIGTERM stop it: final checkpoint, telemetry flushed, exit 0.

The checkpoint moves only past records already exported (`ExportGate`: the log pipeline is
flushed, for at most 5 s, before each save), as the Collector's storage extension commits
offsets: a crash loses nothing the checkpoint counts. A slow or dead backend holds the
checkpoint, and the tailer waits at most the flush timeout per poll; the lines stay in the
files. Unlike `run`, no server writes through `tail`: waiting on the export costs no server anything.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import signal
import sys
import threading

from .. import names
from ..emit.logs import LogEmitter
from ..emit.metrics import InstanceMetrics
from ..pipeline import LineCounts, LinePipeline, describe_lines
from ..sinks.telemetry import setup_telemetry
from ..sources.checkpoint import Checkpoint, CheckpointError, ExportGate
from ..sources.tail import TailedFile, Tailer
from .common import UsageError, add_policy_argument, load_policy, number_between, prepare_output_dir

# GPUStack's layout: serve/{instance_id}.log (v2: serve/{id}.{restart}.log) and rpc_server/gpu-{index}.log.
DEFAULT_GLOBS = ("/var/lib/gpustack/log/serve/*.log", "/var/lib/gpustack/log/rpc_server/*.log")
_MAGIC = re.compile(r"[*?[]")

_EPILOG = f"""\
default globs: {' '.join(DEFAULT_GLOBS)}

Files are followed by inode and fingerprint (sha256 of the first 1 KiB): rename-and-create
rotation reads the old file to its end first; copytruncate takes what we had not read yet
from the copy (e.g. x.log.1) and restarts at 0, though lines written between logrotate's
copy and its truncate are lost to any reader. A partial last line waits for its newline;
a line longer than 1 MiB comes in pieces.
With --checkpoint, offsets are saved only once the records of the lines before them were
exported (the log export is flushed after every poll that read lines, and at exit). If an
export fails, the checkpoint stays where everything was exported and a restart reads the
rest again. A clean restart delivers each line exactly once; after a crash (SIGKILL) the
lines read since the last save come again. What can still be lost: lines written between
logrotate's copy and its truncate (copytruncate), and a file rotated away twice while tail
was stopped.
--from-end (default) applies on a first run only; files appearing later, or unknown to
an existing checkpoint, are read from their start."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tail", help="follow log files (GPUStack's by default) into OTLP log records",
        description="Follow log files with the same parsing, policy and telemetry as `run`, through rotation"
        " and restarts, without losing or repeating a line (with --checkpoint).",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_policy_argument(parser)
    parser.add_argument("--output-dir", metavar="DIR", default="otel-out", help="where the embedded default writes OTLP JSON (no OTEL endpoint set)")
    parser.add_argument("--service-name", metavar="NAME", default="llama-tail", help="service.name unless OTEL_SERVICE_NAME says otherwise")
    parser.add_argument("--checkpoint", metavar="FILE", help="JSON file of read offsets, to resume where the last run stopped")
    parser.add_argument(
        "--poll-interval", type=number_between(0.001, 3600), default=0.2, metavar="SECONDS", help="seconds between looks at the files (default 0.2)"
    )
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--from-start", dest="start_at", action="store_const", const="start", help="read existing files from their start")
    start.add_argument("--from-end", dest="start_at", action="store_const", const="end", help="only lines written from now on (default)")
    parser.add_argument("--passthrough", action="store_true", help="also write the lines the policy keeps to stdout")
    parser.add_argument("globs", nargs="*", metavar="GLOB", help="files to follow (** allowed); default: GPUStack's log files")
    parser.set_defaults(handler=run, start_at="end")


def check_glob(pattern: str) -> None:
    """A pattern that can never match is a usage error; one whose directory does not exist yet is not."""
    if not pattern or "\0" in pattern:
        raise UsageError(f"bad glob {pattern!r}: empty or containing NUL")
    magic = _MAGIC.search(pattern)
    fixed = os.path.dirname(pattern[: magic.start()] if magic else pattern)
    if fixed and os.path.exists(fixed) and not os.path.isdir(fixed):
        raise UsageError(f"bad glob {pattern!r}: {fixed} is not a directory")


class Passthrough:
    """Kept lines to stdout from a thread of its own: a stdout nobody reads costs dropped
    (counted) passthrough lines, never a stalled tailer."""

    def __init__(self, fd: int, capacity: int = 10_000) -> None:
        self.fd, self.dropped = fd, 0
        self.queue: queue.Queue[bytes | None] = queue.Queue(capacity)
        self.thread = threading.Thread(target=self._drain, name="tail-passthrough", daemon=True)
        self.thread.start()

    def write(self, data: bytes) -> None:
        try:
            self.queue.put_nowait(data)
        except queue.Full:
            self.dropped += 1

    def _drain(self) -> None:
        while (data := self.queue.get()) is not None:
            try:
                while data:
                    data = data[os.write(self.fd, data) :]
            except OSError:  # a closed pipe: keep draining so writers never wait
                self.dropped += 1

    def close(self, timeout: float = 2.0) -> None:
        try:
            self.queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self.thread.join(timeout)


def run(args: argparse.Namespace) -> int:
    globs = args.globs or list(DEFAULT_GLOBS)
    for pattern in globs:
        check_glob(pattern)
    policy = load_policy(args.policy)
    try:
        checkpoint = Checkpoint(args.checkpoint) if args.checkpoint else None
    except CheckpointError as exc:
        raise UsageError(str(exc)) from None
    prepare_output_dir(args.output_dir)
    telemetry = setup_telemetry(args.service_name, args.output_dir)
    emitter = LogEmitter(telemetry, trust_line_time=False)
    metrics = InstanceMetrics(
        telemetry.meter_provider.get_meter("otel_plugins"), None, {names.ATTR_SERVER_KIND: "tail"}, export_stats=telemetry.stats
    )
    passthrough = Passthrough(sys.stdout.fileno()) if args.passthrough else None
    streams: dict[str, tuple[LinePipeline, dict[str, str]]] = {}

    def on_line(raw: bytes, file: TailedFile) -> None:
        stream = streams.get(file.path)
        if stream is None:
            pipeline = LinePipeline(policy, emitter, metrics=metrics)
            stream = streams[file.path] = (pipeline, {names.LOG_FILE_PATH: file.path, names.LOG_FILE_NAME: file.name})
        pipeline, extra = stream
        text = pipeline.feed(raw, None, extra)
        if passthrough is not None and text is not None:
            passthrough.write(text)

    # The checkpoint moves only past records already exported (unless logs are not exported at all).
    gate = None if "logs" in telemetry.stats.off else ExportGate(
        lambda timeout_ms: telemetry.flush_logs(timeout_ms / 1000), lambda: (telemetry.stats.emitted["logs"], telemetry.stats.exported["logs"])
    )
    tailer = Tailer(globs, on_line, checkpoint, args.poll_interval, args.start_at, before_save=gate)
    stop = threading.Event()
    # The tailer polls on a thread of its own, so the signal handler never runs inside it.
    worker = threading.Thread(target=tailer.run, args=(stop,), name="tail")
    previous = {sig: signal.signal(sig, lambda _signum, _frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.5)
    finally:
        stop.set()
        worker.join()
        tailer.close()
        for pipeline, extra in streams.values():
            pipeline.close(extra=extra)
        if passthrough is not None:
            passthrough.close()
        telemetry.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stats = tailer.stats
    counts = LineCounts(cut=stats.cut_lines)
    for pipeline, _extra in streams.values():
        counts.add(pipeline.counts)
    where = f" to {telemetry.output_dir}/" if telemetry.output_dir else ""
    print(
        f"otel-plugins: tailed {len(streams)} files{where}: {stats.rotations} rotated or deleted, {stats.truncations} truncated, "
        f"{stats.handler_errors} handler errors\n{describe_lines(counts, telemetry.stats)}",
        file=sys.stderr,
    )
    return 0
