"""The `otel-plugins` command line."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .commands.common import UsageError, fail
from .extras import MissingExtra
from .sinks.sdk_logging import quiet_sdk_logging

# Each command lives in otel_plugins.commands.<name>; importing them lazily keeps
# `classify` from paying for the OTLP exporters it never uses.
COMMANDS = ("classify", "replay", "run", "tail", "estimate", "collector", "report", "processor")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-plugins", description="OpenTelemetry for llama-box, llama.cpp and uvicorn-based LLM servers"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
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
    args = build_parser().parse_args(argv)
    quiet_sdk_logging()  # the CLI's choice; a host calling setup_telemetry keeps its logging
    try:
        return args.handler(args)
    except (UsageError, MissingExtra) as exc:
        return fail(str(exc))
    except ValueError as exc:
        from .sinks.exporter_config import ConfigError

        if not isinstance(exc, ConfigError):
            raise
        return fail(str(exc))
    except FileNotFoundError as exc:
        return fail(f"{exc.filename}: no such file")
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
