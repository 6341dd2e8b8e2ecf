"""The README documents what the code exports, and its quick start is what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from otel_plugins import names

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def test_every_metric_span_and_event_is_documented():
    documented = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_. ]+)`", README))
    for name, _kind, unit, _description in names.METRICS:
        assert name in documented, name
        assert f"| `{name}` | metric ({_kind}) | `{unit}` |" in README, f"{name}: type or unit differs from names.METRICS"
    for name in (names.SPAN_INSTANCE, names.SPAN_LOAD, names.SPAN_TRANSFER, names.SPAN_RPC_SERVER, names.EVENT_PROGRESS,
                 names.EVENT_READY, names.EVENT_LOG_ERROR, names.EVENT_PEER_LOST, names.EVENT_PEER_RECOVERED,
                 names.EVENT_PEER_DEGRADED, names.EVENT_RPC_ACCEPTED, names.EVENT_RPC_CLOSED):
        assert name in documented, name


def test_quick_start_has_two_commands_and_ci_runs_the_test_one():
    quick_start = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick_start.strip().splitlines()]
    assert commands == ["scripts/demo.sh", "scripts/test.sh"]
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()
