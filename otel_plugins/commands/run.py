"""`otel-plugins run -- <argv>`: start a server instrumented and exit with its exit code."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from .. import extras
from ..instance import ExitKind
from ..launch import FORWARDED_SIGNALS, InstrumentedProcess
from ..state import InstanceState
from .common import UsageError, add_policy_argument, check_health_address, load_policy, number_between, prepare_output_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="run a server with telemetry, /health and a filtered passthrough",
        description="Run a server (llama-box, llama-server, rpc-server, or any command) as a child: its lines"
        " pass through the probe policy, its load and exit become spans, metrics and log records (OTEL_*"
        " variables; OTLP JSON files under --output-dir by default). Exits with the child's exit code.",
    )  # fmt: skip
    add_policy_argument(parser)
    parser.add_argument("--health-port", metavar="PORT", type=int, default=None, help="serve /health and /metrics on this port (0: any free port)")
    parser.add_argument("--health-host", metavar="HOST", default="127.0.0.1", help="address /health binds to (default 127.0.0.1)")
    parser.add_argument("--output-dir", metavar="DIR", default="otel-out", help="OTLP JSON files when no OTEL endpoint is set (default ./otel-out)")
    parser.add_argument("--log-file", metavar="FILE", help="write the passthrough here instead of stdout/stderr")
    parser.add_argument("--instance-key", metavar="KEY", help="launches sharing this key share one trace (e.g. an instance id)")
    parser.add_argument(
        "--load-deadline", metavar="SECONDS", type=number_between(0.001, 1e7), help="seconds after which a load still running is overdue"
    )
    parser.add_argument(
        "--bandwidth", action="append", metavar="RATE",
        help="link bandwidth to the RPC servers (repeat per --rpc endpoint): the load deadline becomes the estimate's",
    )
    parser.add_argument(
        "--rpc-cache", metavar="[HOST:PORT=]DIR", action="append", default=[],
        help="an rpc-server's tensor cache directory (its -c): progress and --bandwidth count its tensors as cached",
    )
    parser.add_argument(
        "--redundancy", metavar="FACTOR", type=number_between(1.0, 3.0), default=1.3, help="safety factor on the estimated transfer time (default 1.3)"
    )
    parser.add_argument("--quiet", action="store_true", help="no summary at exit")
    parser.add_argument(
        "--progress", choices=("auto", "always", "never"), default="auto",
        help="live load progress on the terminal (auto: when the output is a terminal)",
    )
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- ARGV", help="-- then the command to run")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise UsageError("run: give the command to run after --")
    if args.health_port is not None and not 0 <= args.health_port <= 65535:
        raise UsageError(f"--health-port: {args.health_port} is not a port number (0-65535)")
    if args.health_port is not None:
        extras.require("health", "--health-port")
    if args.progress == "always":
        extras.require("progress", "--progress always")
    if args.bandwidth and args.load_deadline is None:
        extras.require("gguf", "--bandwidth")
    policy = load_policy(args.policy)
    if args.load_deadline is not None:
        policy = policy.with_deadline(args.load_deadline)
    rpc_cache = None
    if args.rpc_cache:
        from ..estimate import EstimateError, parse_cache_dirs

        try:
            rpc_cache = parse_cache_dirs(args.rpc_cache)
        except EstimateError as exc:
            raise UsageError(str(exc)) from None
    if args.bandwidth and args.load_deadline is None:
        from ..argv import parse_launch
        from ..estimate import EstimateError, deadline_for_launch

        try:
            deadline = deadline_for_launch(parse_launch(argv), args.bandwidth, args.redundancy, rpc_cache)
            policy = policy.with_deadline(deadline)
        except (EstimateError, OSError) as exc:
            raise UsageError(f"--bandwidth: {exc}; {os.path.basename(argv[0])} not started") from None
    prepare_output_dir(args.output_dir, argv[0])
    if args.health_port is not None:
        check_health_address(args.health_host, args.health_port, argv[0])
    try:
        log_file = open(args.log_file, "ab") if args.log_file else None  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"--log-file {args.log_file}: {exc.strerror or exc}; {os.path.basename(argv[0])} not started") from None
    display = None
    try:
        state = InstanceState()
        out = err = log_file
        wants_display = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
        if wants_display and not extras.missing("progress"):
            from ..sinks.terminal import ProgressDisplay, terminal_wanted

            if args.progress == "always" or terminal_wanted(args.log_file):
                display = ProgressDisplay(state, os.path.basename(argv[0]))
            if display is not None and log_file is None:
                out = err = display.sink()
        process = InstrumentedProcess(
            argv,
            policy=policy,
            state=state,
            output_dir=args.output_dir,
            health_port=args.health_port,
            health_host=args.health_host,
            stdout=out,
            stderr=err,
            instance_key=args.instance_key,
            rpc_cache=rpc_cache,
        )
        # Handlers first: a stop that arrives while the child is being started is forwarded
        # once it exists, instead of interrupting the start (KeyboardInterrupt on SIGINT).
        early: list[int] = []

        def forward(signum: int, _frame: object) -> None:
            if process.process is None:
                early.append(signum)
            else:
                process.send_signal(signum)

        for sig in FORWARDED_SIGNALS:
            signal.signal(sig, forward)
        try:
            process.start()
        except OSError as exc:
            process.close()
            raise UsageError(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
        for signum in early:
            process.send_signal(signum)
        if display is not None:
            display.start()
        if process.health is not None and not args.quiet:
            print(f"otel-plugins: /health on http://{args.health_host}:{process.health_port}/health", file=sys.stderr)
        code = None
        while code is None:
            code = process.wait(0.5)
        process.close()
        if display is not None:
            display.stop()
            display = None
        if not args.quiet:
            where = process.telemetry.output_dir
            if process.observer.exit_kind is ExitKind.ABORTED_ON_STOP:
                print(f"otel-plugins: {argv[0]} stopped as requested (exit code {code}: it aborted while stopping)", file=sys.stderr)
            else:
                print(f"otel-plugins: {argv[0]} exited with code {code}", file=sys.stderr)
            print(process.observer.summary(), file=sys.stderr)
            if where is not None:
                print(f"otel-plugins: telemetry written to {where}/", file=sys.stderr)
        return code
    finally:
        if display is not None:
            display.stop()
        if log_file is not None:
            log_file.close()
