"""What several commands share: loading the policy, failing with a one-line message."""

from __future__ import annotations

import argparse
import sys

from ..policy import Policy, PolicyError


class UsageError(Exception):
    """A bad argument or configuration: printed as one line, exit code 2."""


def add_policy_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", metavar="FILE", help="policy YAML file (default: OTEL_PLUGINS_POLICY, then built-in)")


def load_policy(path: str | None) -> Policy:
    try:
        base = Policy.from_yaml(path) if path else None
        return Policy.from_env(base=base)
    except PolicyError as exc:
        raise UsageError(f"invalid policy: {exc}") from None


def fail(message: str) -> int:
    print(f"otel-plugins: {message}", file=sys.stderr)
    return 2
