"""The `otel-plugins` command line."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .commands.common import UsageError, fail

# Each command lives in otel_plugins.commands.<name>; importing them lazily keeps
# `classify` from paying for the OTLP exporters it never uses.
COMMANDS = ("classify", "replay", "run", "tail", "estimate", "collector", "processor")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-plugins", description="OpenTelemetry for llama-box, llama.cpp and uvicorn-based LLM servers"
    )
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except UsageError as exc:
        return fail(str(exc))
    except FileNotFoundError as exc:
        return fail(f"{exc.filename}: no such file")
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
