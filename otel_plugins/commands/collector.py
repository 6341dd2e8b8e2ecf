"""`otel-plugins collector render|check`: the probe policy as OpenTelemetry Collector configs.

    otel-plugins collector render [--policy F] [--mode downgrade|drop|sample] [--out DIR]
    otel-plugins collector render --mode agent-processor [--processors HOST:PORT,...] [--out DIR]
    otel-plugins collector check [--otelcol BIN] [DIR]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ..policy import PolicyError, Verdict
from .common import UsageError, add_policy_argument, load_policy

DEFAULT_DIR = "collector-config"
# The policy applied by `otel-plugins processor` instead of the agent: agent-processor.yaml.
AGENT_PROCESSOR = "agent-processor"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "collector", help="render the probe policy as Collector agent/gateway configs",
        description="The probe policy inside the OpenTelemetry Collector: render agent.yaml and gateway.yaml"
        " from it, or check rendered files with the real `otelcol validate`.",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="collector_command", required=True, metavar="ACTION")
    render = commands.add_parser(
        "render", help="write agent.yaml and gateway.yaml from the policy",
        description="Render the Collector agent (filelog, parsers, the policy as transform/filter, counts) and"
        " gateway configs from the policy; site settings stay ${env:NAME:-default} references.",
    )  # fmt: skip
    add_policy_argument(render)
    render.add_argument(
        "--mode", metavar="VERDICT", choices=[*(v.value for v in Verdict), AGENT_PROCESSOR],
        help=f"set both loading_verdict and ready_verdict: keep, downgrade, drop or sample; {AGENT_PROCESSOR}: write"
        " agent-processor.yaml, an agent that leaves the policy to `otel-plugins processor`",
    )
    render.add_argument("--processors", metavar="HOST:PORT,...", help=f"{AGENT_PROCESSOR}: a static list of replicas instead of the DNS resolver")
    render.add_argument("--out", metavar="DIR", default=DEFAULT_DIR, help=f"directory to write to (default {DEFAULT_DIR})")
    render.add_argument("--stdout", metavar="agent|gateway", choices=["agent", "gateway"], help="print one file instead of writing both")
    render.set_defaults(handler=run_render)
    check = commands.add_parser(
        "check", help="run `otelcol validate` on agent.yaml and gateway.yaml",
        description="Validate rendered agent.yaml and gateway.yaml with the real Collector binary.",
    )  # fmt: skip
    check.add_argument("--otelcol", metavar="FILE", help="Collector binary (default: $OTELCOL_BIN, .testbed/bin/otelcol, otelcol-contrib, otelcol)")
    check.add_argument("dir", nargs="?", metavar="DIR", default=DEFAULT_DIR, help=f"directory holding the files (default {DEFAULT_DIR})")
    check.set_defaults(handler=run_check)


def _policy(args: argparse.Namespace):
    policy = load_policy(args.policy)
    if args.mode and args.mode != AGENT_PROCESSOR:
        try:
            policy = replace(policy, loading_verdict=Verdict(args.mode), ready_verdict=Verdict(args.mode))
        except PolicyError as exc:  # pragma: no cover - Verdict values are checked by argparse
            raise UsageError(f"invalid policy: {exc}") from None
    return policy


def run_render(args: argparse.Namespace) -> int:
    from ..collector import render

    if args.mode == AGENT_PROCESSOR or args.processors:
        return _render_agent_processor(args)
    policy = _policy(args)
    source = f"policy {args.policy}" if args.policy else "default policy"
    if args.mode:
        source += f" (--mode {args.mode})"
    if args.stdout == "agent":
        sys.stdout.write(render.render_agent(policy, source=source))
        return 0
    if args.stdout == "gateway":
        sys.stdout.write(render.render_gateway(source=source))
        return 0
    for path in render.render_files(args.out, policy, source=source):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _render_agent_processor(args: argparse.Namespace) -> int:
    from ..collector.agent_processor import AGENT_PROCESSOR_FILE, render_agent_processor

    if args.mode != AGENT_PROCESSOR:
        raise UsageError(f"--processors: only with --mode {AGENT_PROCESSOR}")
    if args.stdout == "gateway":
        raise UsageError(f"--stdout gateway: --mode {AGENT_PROCESSOR} renders the agent only (the gateway is the same)")
    processors = [p.strip() for p in (args.processors or "").split(",") if p.strip()]
    for endpoint in processors:
        host, sep, port = endpoint.rpartition(":")
        if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
            raise UsageError(f"--processors: {endpoint!r} is not HOST:PORT")
    load_policy(args.policy)  # the processor applies it; a bad file is still an error here
    text = render_agent_processor(processors or None, source="--mode agent-processor (the policy is the processor's, not in this file)")
    if args.stdout == "agent":
        sys.stdout.write(text)
        return 0
    path = Path(args.out, AGENT_PROCESSOR_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    return 0


def run_check(args: argparse.Namespace) -> int:
    from ..collector import find_otelcol, validate_file

    binary = find_otelcol(args.otelcol)
    if binary is None:
        raise UsageError("no Collector binary found: pass --otelcol, set OTELCOL_BIN, or run scripts/build_collector.sh")
    failed = 0
    for name in ("agent.yaml", "gateway.yaml"):
        path = Path(args.dir, name)
        if not path.is_file():
            raise UsageError(f"{path}: no such file (run `otel-plugins collector render --out {args.dir}`)")
        result = validate_file(path, binary)
        print(f"{path}: {'valid' if result.ok else 'INVALID'} ({binary})")
        if not result.ok:
            failed += 1
            print(result.output, file=sys.stderr)
    return 1 if failed else 0
