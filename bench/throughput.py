"""Throughput of the line pipeline against its floor and against the real Collector, in one run.

    .venv/bin/python bench/throughput.py [--lines 1000000] [--mixes probe-heavy,mixed]
        [--only floor,classify,replay-json,replay-grpc,collector] [--python PY] [--agent FILE] [--check]

For each mix (1M lines built from real line shapes by bench/classify_bench.py: probe-heavy
is 80 % probe lines, mixed 20 %), all on one core (the bench pins itself and its children
to the first CPU it may use):

- floor: Python reading every line of the file (binary, line by line) and matching one
  full-line regex (the upstream access line's), in this process: the least any line
  pipeline written in Python pays;
- classify: `otel-plugins classify --json FILE > /dev/null`, CPU seconds of the process;
- replay-json: `otel-plugins replay --no-passthrough FILE` to the embedded OTLP JSON file
  sink; every kept line must be exported (checked against the file);
- replay-grpc: the same exporting OTLP/gRPC to a real Collector (otlp receiver, debug
  exporter), the receiving Collector not counted;
- collector: the real Collector running the rendered `agent.yaml` on the same file (its
  CPU until every line is accepted), for the CPU-per-1M-lines ratio.

`--python PY` runs the commands with another interpreter (a virtualenv with an earlier
release installed, for before/after figures); `--agent FILE` gives the Collector that
agent.yaml (its exporters swapped for `debug`) instead of rendering the current one. `--check` exits 1 unless issue 12's targets hold: classify >= 0.5x the floor on
both mixes, replay >= 100k lines/s to both sinks, CPU per 1M lines <= 1.0x the Collector's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

from classify_bench import build  # noqa: E402

FLOOR = re.compile(rb"(\d+)\.(\d\d)\.(\d{3})\.(\d{3}) I srv  log_server_r: request: ([A-Z]+) (/\S*) (\S+) (\d{3})\n?$")
MIXES = {"probe-heavy": 0.8, "mixed": 0.2}
CLASSIFY_VS_FLOOR = 0.5
REPLAY_LINES_PER_S = 100_000
VS_COLLECTOR = 1.0


def floor(path: Path) -> float:
    """CPU seconds to read every line of `path` and match one regex."""
    start = time.process_time()
    match = FLOOR.match
    with path.open("rb") as f:
        for line in f:
            match(line)
    return time.process_time() - start


def child_cpu(argv: list[str], env: dict[str, str], stdout=subprocess.DEVNULL) -> tuple[float, str]:
    """(user+sys CPU seconds, stderr) of one command run to its end."""
    with tempfile.TemporaryFile() as err:
        # Run from elsewhere: `python -m` would take ./otel_plugins over the interpreter's own.
        proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=err, cwd=tempfile.gettempdir())
        _pid, status, usage = os.wait4(proc.pid, 0)
        err.seek(0)
        text = err.read().decode(errors="replace")
    if status != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed ({status}):\n{text[-2000:]}")
    return usage.ru_utime + usage.ru_stime, text


def debug_exports(agent_yaml: str) -> str:
    """An agent config with its exporters swapped for `debug` and no health_check (as side_by_side renders it)."""
    import yaml

    config = yaml.safe_load(agent_yaml)
    config["exporters"] = {"debug": {"verbosity": "basic", "sampling_initial": 1, "sampling_thereafter": 1000}}
    service = config["service"]
    for pipeline in service["pipelines"].values():
        pipeline["exporters"] = [e if e in config.get("connectors", {}) else "debug" for e in pipeline["exporters"]]
        pipeline["exporters"] = list(dict.fromkeys(pipeline["exporters"]))
    service["extensions"] = [e for e in service.get("extensions", []) if not e.startswith("health_check")]
    config["extensions"] = {k: v for k, v in config.get("extensions", {}).items() if not k.startswith("health_check")}
    if not config["extensions"]:
        del config["extensions"]
        service.pop("extensions", None)
    return yaml.safe_dump(config, sort_keys=False)


def exported_records(directory: Path) -> int:
    total = 0
    with (directory / "logs.jsonl").open() as f:
        for line in f:
            for rl in json.loads(line)["resourceLogs"]:
                for sl in rl["scopeLogs"]:
                    total += len(sl.get("logRecords", []))
    return total


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--mixes", default=",".join(MIXES))
    parser.add_argument("--only", default="floor,classify,replay-json,replay-grpc,collector")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs the commands (default: this one)")
    parser.add_argument("--agent", type=Path, help="an agent.yaml for the Collector (default: rendered from this checkout)")
    parser.add_argument("--check", action="store_true", help="exit 1 unless every target is met")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # children inherit it
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    cli = [args.python, "-m", "otel_plugins"]
    missed: list[str] = []
    print(f"commands run by {args.python}, Collector agent {args.agent or 'rendered here'}; {args.lines:,} lines per mix, one core")
    for mix in args.mixes.split(","):
        with tempfile.TemporaryDirectory(prefix="otel-plugins-throughput-") as tmp_name:
            tmp = Path(tmp_name)
            path = tmp / f"{mix}.log"
            path.write_bytes(b"".join(build(args.lines, MIXES[mix])))
            rate = {}
            print(f"\n{mix}: {path.stat().st_size / 1e6:.1f} MB")
            if "floor" in only:
                rate["floor"] = args.lines / floor(path)
                print(f"  floor (read + one regex)    {rate['floor']:>10,.0f} lines/s")
            if "classify" in only:
                cpu, _ = child_cpu([*cli, "classify", "--json", str(path)], env)
                rate["classify"] = args.lines / cpu
                vs = f"  {rate['classify'] / rate['floor']:.2f}x the floor" if "floor" in rate else ""
                print(f"  classify --json             {rate['classify']:>10,.0f} lines/s  {cpu:7.2f} CPU-s{vs}")
                if "floor" in rate and rate["classify"] < CLASSIFY_VS_FLOOR * rate["floor"]:
                    missed.append(f"{mix}: classify {rate['classify'] / rate['floor']:.2f}x the floor < {CLASSIFY_VS_FLOOR}")
            if "replay-json" in only:
                out = tmp / "json"
                cpu, err = child_cpu([*cli, "replay", "--no-passthrough", "--output-dir", str(out), str(path)], env)
                got = exported_records(out)
                rate["replay-json"] = args.lines / cpu
                print(f"  replay -> OTLP JSON file    {rate['replay-json']:>10,.0f} lines/s  {cpu:7.2f} CPU-s, {got:,} records exported")
                print("   ", err.strip().splitlines()[-2:])
                if rate["replay-json"] < REPLAY_LINES_PER_S:
                    missed.append(f"{mix}: replay to JSON {rate['replay-json']:,.0f} lines/s < {REPLAY_LINES_PER_S:,}")
            if "replay-grpc" in only or "collector" in only:
                from services import Collector, missing_reason
                from side_by_side import SINK, run_collector

                reason = missing_reason("otelcol")
                if reason:
                    print(f"  (no Collector: {reason})")
                    continue
                if "replay-grpc" in only:
                    with Collector(SINK, ports=["grpc"]) as sink:
                        grpc_env = dict(env, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink.ports['grpc']}", OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
                        cpu, err = child_cpu([*cli, "replay", "--no-passthrough", str(path)], grpc_env)
                    rate["replay-grpc"] = args.lines / cpu
                    rate["replay-grpc-cpu"] = cpu
                    print(f"  replay -> OTLP/gRPC         {rate['replay-grpc']:>10,.0f} lines/s  {cpu:7.2f} CPU-s")
                    print("   ", err.strip().splitlines()[-1:])
                    if rate["replay-grpc"] < REPLAY_LINES_PER_S:
                        missed.append(f"{mix}: replay to gRPC {rate['replay-grpc']:,.0f} lines/s < {REPLAY_LINES_PER_S:,}")
                if "collector" in only:
                    agent = debug_exports(args.agent.read_text()) if args.agent else None
                    col_cpu, _wall, col_rss, col_start, sent = run_collector(path, args.lines, tmp, agent)
                    print(f"  Collector agent.yaml        {args.lines / col_cpu:>10,.0f} lines/s  {col_cpu:7.2f} CPU-s (start-up {col_start:.2f}), peak RSS {col_rss:.0f} MiB")
                    if "replay-grpc-cpu" in rate:
                        ratio = rate["replay-grpc-cpu"] / col_cpu
                        print(f"  CPU per 1M lines, ours / Collector: {ratio:.2f}x")
                        if ratio > VS_COLLECTOR:
                            missed.append(f"{mix}: {ratio:.2f}x the Collector's CPU > {VS_COLLECTOR}")
    if missed:
        print("\ntargets missed:\n  " + "\n  ".join(missed))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
