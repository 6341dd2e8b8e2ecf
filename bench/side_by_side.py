"""Side by side: our classify-and-emit pipeline vs the real Collector running agent.yaml, on the
same realistic llama-box log, in one run. CPU-seconds per 1M lines and peak RSS of each.

    .venv/bin/python bench/side_by_side.py [--lines 1000000] [--profile-lines 200000]

(a) `otel-plugins replay FILE --no-passthrough` exporting OTLP/gRPC to a local Collector
    (otlp receiver -> debug exporter, basic): the replay process's user+sys CPU and max RSS
    (from wait4), the receiving Collector not counted;
(b) the Collector with the rendered agent (exporter swapped for debug, start_at beginning,
    include pointed at the file): its CPU (/proc/PID/stat) and peak RSS (VmHWM) from start
    until its own metrics show every line accepted and the export count stable.
Then pyinstrument on (a) for --profile-lines lines: the top functions by own time.
Prints figures; asserts nothing. Needs .testbed/bin/otelcol (scripts/build_collector.sh).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from otel_plugins.collector import agent_config, to_yaml  # noqa: E402
from otel_plugins.policy import Policy  # noqa: E402
from services import Collector, missing_reason  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")

LOAD = [
    "{t} I srv    load_model: loading model '/var/lib/gpustack/cache/qwen2.5-72b-q4_k_m.gguf'",
    "{t} I llama_model_loader: - kv  {n:2d}:                       general.architecture str              = qwen2",
    "{t} I load_tensors: RPC[10.0.3.{h}:50052] model buffer size = 19271.03 MiB",
    "{t} I load_tensors:        CUDA0 model buffer size =  2375.91 MiB",
    "{t} I loaded {pct:3d}% model tensors into buffer",
]
STORM = [
    "{t} I srv       log_server_response: rid  | GET /v1/models 127.0.0.1:{port} | status 503 | cost {cost:.2f}s",
    "{t} I srv       log_server_response: rid  | GET /health 10.0.3.1:{port} | status 503 | cost {cost:.2f}s",
]
READY = [
    "{t} I srv       log_server_response: rid 86{port} | GET /v1/models 127.0.0.1:{port} | status 200 | cost 0.00s",
    "{t} I srv        log_server_request: rid 86{port} | POST /v1/chat/completions 192.168.50.13:{port}",
    "{t} I srv oaicompat_completions_req: rid 86{port} | {{\"max_tokens\":1024,\"model\":\"qwen2.5-72b\"}}",
    "{t} I srv       log_server_response: rid 86{port} | POST /v1/chat/completions 192.168.50.13:{port} | status 200 | cost 4.75s",
    "{t} I srv       log_server_response: rid 86{port} | POST /v1/embeddings 192.168.50.14:{port} | status 200 | cost 0.05s",
    "{t} I slot update_slots: id  0 | task 12 | new prompt, n_ctx_slot = 4096, n_keep = 0, n_prompt_tokens = 29",
    "{t} I srv       log_server_response: rid 86{port} | GET /v1/nope 192.168.50.13:{port} | status 404 | cost 0.00s",
    "{t} I srv       log_server_response: rid 86{port} | POST /v1/chat/completions 192.168.50.13:{port} | status 500 | cost 0.10s",
    "{t} W [send_data] interrupted: Connection reset by peer, retrying...",
    "{t} I cli                  accepted: 10.0.3.{h}:{port}",
]


def build(path: Path, lines: int, seed: int = 7) -> Counter:
    """Cycles of a load (load lines among a probe storm) then serving (traffic, healthy probes)."""
    rng = random.Random(seed)
    kinds: Counter = Counter()
    with path.open("w", encoding="utf-8") as out:
        i = 0
        while i < lines:
            load_len = rng.randrange(2000, 20000)
            serve_len = rng.randrange(5000, 50000)
            for j in range(min(load_len + serve_len, lines - i)):
                minutes, rest = divmod((i + j) // 20, 60)
                loading = j < load_len
                if loading:
                    pool, kind = (STORM, "probe") if rng.random() < 0.85 else (LOAD, "load")
                else:
                    pool, kind = READY, "serve"
                template = rng.choice(pool)
                out.write(
                    template.format(
                        t=f"{minutes}.{rest:02d}.{rng.randrange(1000):03d}.{rng.randrange(1000):03d}",
                        port=rng.randrange(30000, 65000), cost=rng.random() * 1e6, h=rng.randrange(2, 9),
                        pct=(j * 100 // max(load_len, 1)), n=j % 40,
                    )
                    + "\n"
                )
                kinds[kind] += 1
            i += load_len + serve_len
    return kinds


SINK = """\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${env:OTELCOL_PORT_GRPC}
exporters:
  debug:
    verbosity: basic
    sampling_initial: 1
    sampling_thereafter: 1000
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [debug]
    traces:
      receivers: [otlp]
      exporters: [debug]
    metrics:
      receivers: [otlp]
      exporters: [debug]
"""


def run_ours(log: Path, tmp: Path) -> tuple[float, float, float]:
    """(cpu seconds, wall seconds, max RSS MiB) of `otel-plugins replay` exporting OTLP."""
    with Collector(SINK, ports=["grpc"]) as sink:
        env = dict(os.environ, PYTHONPATH=str(REPO), OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{sink.ports['grpc']}", OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "otel_plugins", "replay", "--no-passthrough", str(log)], env=env,
                                stdout=subprocess.DEVNULL, stderr=open(tmp / "replay.err", "wb"))
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
    if status != 0:
        print((tmp / "replay.err").read_text()[-2000:], file=sys.stderr)
    print("  replay:", (tmp / "replay.err").read_text().strip().splitlines()[-1:])
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024


def _metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _proc_cpu_rss(pid: int) -> tuple[float, float]:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    hwm = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return cpu, (int(hwm.group(1)) / 1024 if hwm else 0.0)


def run_collector(log: Path, lines: int, tmp: Path, config: str | None = None) -> tuple[float, float, float, float, float]:
    """(cpu seconds, wall seconds, peak RSS MiB, idle cpu seconds, records exported) of the agent
    running `config` (default: the rendered agent, exporting to debug)."""
    import urllib.request

    config = config or to_yaml(agent_config(Policy(), exporter="debug", health_check=False))
    env = {"GPUSTACK_SERVE_LOGS": str(log), "GPUSTACK_RPC_SERVER_LOGS": str(tmp / "none" / "*.log"), "FILELOG_START_AT": "beginning", "AGENT_COUNT_INTERVAL": "5s",
           "AGENT_STORAGE_DIR": str(tmp / "storage")}
    collector = Collector(config, env=env)
    start = time.monotonic()
    with collector:
        pid = collector.proc.pid
        ready_cpu, _ = _proc_cpu_rss(pid)
        last, stable_since = -1.0, time.monotonic()
        while True:
            text = urllib.request.urlopen(collector.telemetry_url, timeout=5).read().decode()
            accepted = _metric_sum(text, "otelcol_receiver_accepted_log_records")
            sent = _metric_sum(text, 'otelcol_exporter_sent_log_records')
            if sent != last:
                last, stable_since = sent, time.monotonic()
            if accepted >= lines and time.monotonic() - stable_since > 2.0:
                break
            if time.monotonic() - start > 1800:
                print("  collector: gave up waiting", accepted, sent, file=sys.stderr)
                break
            time.sleep(0.25)
        wall = time.monotonic() - start - 2.0
        cpu, rss = _proc_cpu_rss(pid)
    return cpu, wall, rss, ready_cpu, sent


def profile(log: Path, lines: int, tmp: Path, top: int = 15) -> None:
    from pyinstrument import Profiler

    from otel_plugins import cli

    part = tmp / "profile.log"
    with log.open("rb") as src, part.open("wb") as dst:
        for n, line in enumerate(src):
            if n >= lines:
                break
            dst.write(line)
    with Collector(SINK, ports=["grpc"]) as sink:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink.ports['grpc']}"
        os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc"
        profiler = Profiler(interval=0.001)
        profiler.start()
        cli.main(["replay", "--no-passthrough", str(part)])
        profiler.stop()
    own: Counter = Counter()

    def walk(frame) -> None:
        if frame is None:
            return
        own[f"{frame.function} ({frame.file_path_short}:{frame.line_no})"] += frame.total_self_time if hasattr(frame, "total_self_time") else frame.self_time
        for child in frame.children:
            walk(child)

    session = profiler.last_session
    walk(session.root_frame())
    total = sum(own.values()) or 1.0
    print(f"\npyinstrument, ours over {lines:,} lines ({session.duration:.2f} s wall): top {top} by own time")
    for name, seconds in own.most_common(top):
        print(f"  {seconds:7.3f} s {100 * seconds / total:5.1f}%  {name}")
    by_module: Counter = Counter()
    for name, seconds in own.items():
        module = name.rsplit("(", 1)[-1].split(":", 1)[0]
        by_module["/".join(module.split("/")[:2]) if module.startswith("opentelemetry") else module] += seconds
    print("by module:")
    for module, seconds in by_module.most_common(top):
        print(f"  {seconds:7.3f} s {100 * seconds / total:5.1f}%  {module}")


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--profile-lines", type=int, default=200_000)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    reason = missing_reason("otelcol")
    if reason:
        sys.exit(reason)
    with tempfile.TemporaryDirectory(prefix="otel-plugins-side-by-side-") as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "llama-box.log"
        kinds = build(log, args.lines)
        size = log.stat().st_size
        print(f"input: {args.lines:,} lines, {size / 1e6:.1f} MB; {dict(kinds)}")
        ours_cpu, ours_wall, ours_rss = run_ours(log, tmp)
        col_cpu, col_wall, col_rss, col_start_cpu, exported = run_collector(log, args.lines, tmp)
        per_m = 1e6 / args.lines
        print(f"(a) ours (otel-plugins replay -> OTLP):   {ours_cpu * per_m:8.2f} CPU-s per 1M lines, {ours_wall:6.1f} s wall, peak RSS {ours_rss:6.0f} MiB")
        print(
            f"(b) Collector (agent.yaml, debug export):  {col_cpu * per_m:8.2f} CPU-s per 1M lines, {col_wall:6.1f} s wall, peak RSS {col_rss:6.0f} MiB"
            f"  (of which start-up {col_start_cpu:.2f} CPU-s; {exported:,.0f} records exported)"
        )
        print(f"ratio ours / Collector: {ours_cpu / col_cpu:.2f}x  (goal <= 1.0x)")
        if not args.no_profile:
            profile(log, min(args.profile_lines, args.lines), tmp)


if __name__ == "__main__":
    main()
