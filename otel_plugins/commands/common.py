"""What several commands share: the errors that are the user's, checked numbers and paths, the policy.

Every check here runs before anything starts: a command refuses its input in one line
(`cli.main` prints it, exit code 2) rather than half-running.
"""

from __future__ import annotations

import argparse
import os
import math
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..estimate import EstimateError
from ..policy import Policy, PolicyError
from ..sources.checkpoint import CheckpointError
from ..sources.replay import InputError

# Output files of the embedded default exporter (sinks/telemetry.py).
_EXPORT_FILES = ("traces.jsonl", "metrics.jsonl", "logs.jsonl")


class UsageError(Exception):
    """A bad argument or configuration: printed as one line, exit code 2."""


# Mistakes in what the user gave us, as opposed to bugs: one line, exit code 2.
USER_ERRORS = (UsageError, PolicyError, EstimateError, CheckpointError, InputError)


def add_policy_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", metavar="FILE", help="policy YAML file (default: OTEL_PLUGINS_POLICY, then built-in)")


def load_policy(path: str | None) -> Policy:
    try:
        base = Policy.from_yaml(path) if path else None
        return Policy.from_env(base=base)
    except PolicyError as exc:
        raise UsageError(f"invalid policy: {exc}") from None


def number_between(low: float, high: float) -> Callable[[str], float]:
    """An argparse `type`: a finite number within [low, high]."""

    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not between {low:g} and {high:g}")
        return value

    return number


def _not_started(argv0: str | None) -> str:
    return f"; {Path(argv0).name} not started" if argv0 else ""


def prepare_output_dir(path: str, argv0: str | None = None) -> None:
    """Where the embedded default writes its OTLP JSON files must be a writable directory;
    created if missing. Checked only when a signal goes to those files."""
    from ..sinks.exporter_config import FILE, SIGNALS, resolve_exporters

    if not any(config.name == FILE for signal in SIGNALS for config in resolve_exporters(signal, os.environ, path)):
        return
    directory = Path(path or "otel-out")
    what = f"--output-dir {path}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{what}: exists and is not a directory{_not_started(argv0)}") from None
    except OSError as exc:
        raise UsageError(f"{what}: cannot be created ({exc.strerror or exc}){_not_started(argv0)}") from None
    if not directory.is_dir():
        raise UsageError(f"{what}: is not a directory{_not_started(argv0)}")
    for name in _EXPORT_FILES:
        target = directory / name
        if target.exists() and not target.is_file():
            raise UsageError(f"{what}: {name} there is not a regular file{_not_started(argv0)}")
    try:
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as exc:
        raise UsageError(f"{what}: not writable ({exc.strerror or exc}){_not_started(argv0)}") from None


def check_health_address(host: str, port: int, argv0: str) -> None:
    """`/health` must be able to bind before the server starts (the wrapper starts it first)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"--health-host {host}: not an address ({getattr(exc, 'strerror', None) or exc}){_not_started(argv0)}") from None
    family, _type, _proto, _name, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise UsageError(f"--health-port {port} on {host}: {exc.strerror or exc}{_not_started(argv0)}") from None


def fail(message: str) -> int:
    print(f"otel-plugins: {message}", file=sys.stderr)
    return 2
