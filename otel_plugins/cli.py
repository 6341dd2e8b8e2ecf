"""The `otel-plugins` command line, and its one error boundary.

A user's mistake (a bad argument, file, policy, checkpoint or model) is one line
`otel-plugins: <input>: <what is wrong>` on stderr and exit code 2; a reader closing stdout
early is one line and exit code 141 (128 + SIGPIPE, as a shell reports it). Anything else is
a bug, and keeps its traceback.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

from .commands.common import USER_ERRORS, fail
from .extras import MissingExtra
from .sinks.sdk_logging import quiet_sdk_logging

# Each command lives in otel_plugins.commands.<name>; importing them lazily keeps
# `classify` from paying for the OTLP exporters it never uses.
COMMANDS = ("classify", "replay", "run", "tail", "estimate", "collector", "report", "processor")
EXIT_BROKEN_PIPE = 141


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (`--help` still shows the usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("otel-plugins").strip()
        hint = f" (otel-plugins {command + ' ' if command else ''}--help)"
        self.exit(2, f"otel-plugins: {message}{hint}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of the command `only` alone (what a run of it needs)."""
    parser = OneLineParser(
        prog="otel-plugins", description="OpenTelemetry for llama-box, llama.cpp and uvicorn-based LLM servers"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        try:
            module = importlib.import_module(f"otel_plugins.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"otel_plugins.commands.{name}":
                raise
            continue
        module.add_parser(subparsers)
    return parser


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("otel-plugins")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    named = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(named if named in COMMANDS else None).parse_args(argv)
    quiet_sdk_logging()  # the CLI's choice; a host calling setup_telemetry keeps its logging
    try:
        return args.handler(args)
    except BrokenPipeError:
        # The command has flushed its telemetry on the way out; what is left in our stdout
        # buffer can go nowhere, so it goes to /dev/null rather than into a second error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        print("otel-plugins: stdout: closed by its reader (broken pipe); stopped before the end of the input", file=sys.stderr)
        return EXIT_BROKEN_PIPE
    except (*USER_ERRORS, MissingExtra) as exc:
        return fail(str(exc))
    except ValueError as exc:
        from .sinks.exporter_config import ConfigError

        if not isinstance(exc, ConfigError):
            raise
        return fail(str(exc))
    except OSError as exc:
        if exc.filename is None:
            raise
        return fail(f"{exc.filename}: {exc.strerror or exc}")


def program() -> NoReturn:
    """The program: `otel-plugins` and `python -m otel_plugins` (tests call `main`)."""
    leave(main())


def leave(code: int) -> NoReturn:
    """Exits with `code`. The command has flushed and exported what it had. A thread it bounded
    its wait for (a pump still draining a flood from a pipe, inside RE2 with the GIL released)
    may be alive still: the interpreter's teardown would stop it as it takes the GIL back, and
    that kills the process with SIGABRT ("terminate called without an active exception")
    instead of exiting with the child's code. Such a process runs its exit handlers and leaves
    without the teardown."""
    if threading.active_count() == 1:
        sys.exit(code)
    atexit._run_exitfuncs()  # what sys.exit would have run (the SDK's shutdown among them); CPython's own
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed by its reader, or by us: nothing more can go there
            pass
    os._exit(code)


if __name__ == "__main__":
    program()
