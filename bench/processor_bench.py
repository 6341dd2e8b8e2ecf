"""The processor's cost, side by side with the Collector's own policy path, on the same files, in one run.

    .venv/bin/python bench/processor_bench.py [--lines 1000000] [--storm-lines 500000] [--check] [--profile] [--one-core-only]

For each input (a realistic mix of loads with probe storms and serving, then a pure probe
storm: 503 probes from loopback and the orchestrator, as during a long load):

(a) the Collector alone: the rendered agent.yaml (filelog + stanza parsing, transform,
    filter, count; debug exporter) reading the file from its start: its CPU (/proc) from
    start until every line is accepted and the export count is stable;
(b) the processor deployment: the rendered agent-processor.yaml (filelog, no parsing,
    load_balancing) -> `otel-plugins processor` -> a Collector with the debug exporter:
    the shipping agent's CPU and the processor's CPU, until the sink has every record.

Then the processor alone on one core (`taskset`, when there is more than one CPU): this
process sends the mix as prebuilt OTLP batches of 4096 records (the agent's largest) over gRPC (two in flight)
and measures the processor's records per second of wall time and per CPU-second.

Figures are CPU-seconds per 1M records (start-up excluded for the processor, included for
the Collectors, as bench/side_by_side.py does). `--check` exits 1 when the processor takes
less than 50k records per CPU-second, or when a probe storm costs the processor deployment
(agent + processor) more CPU than the Collector's own path. `--profile`: pyinstrument over
the processor's deciding of 100k records, in this process (no network), top functions by
own time. Prints the load average: on a shared machine every figure is an upper bound.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402

from otel_plugins.collector import to_yaml  # noqa: E402
from otel_plugins.collector.agent_processor import agent_processor_config  # noqa: E402
from services import Collector, missing_reason  # noqa: E402
from side_by_side import SINK, STORM, _metric_sum, _proc_cpu_rss, build, run_collector  # noqa: E402

TARGET_RECORDS_PER_CPU_S = 50_000
BATCH = 4096  # the rendered agent's largest batch (agent-processor.yaml, sending_queue.batch.max_size)


def build_storm(path: Path, lines: int, seed: int = 11) -> None:
    """A probe storm only: llama-box's empty-rid 503s, as during a long load."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(lines):
            minutes, rest = divmod(i // 20, 60)
            stamp = f"{minutes}.{rest:02d}.{rng.randrange(1000):03d}.{rng.randrange(1000):03d}"
            out.write(rng.choice(STORM).format(t=stamp, port=rng.randrange(30000, 65000), cost=rng.random() * 1e6) + "\n")


def sink_accepted(sink: Collector) -> float:
    text = urllib.request.urlopen(sink.telemetry_url, timeout=5).read().decode()
    return _metric_sum(text, "otelcol_receiver_accepted_log_records")


class Processor:
    """`otel-plugins processor` forwarding to `forward`, optionally pinned to one CPU."""

    def __init__(self, forward: str, log: Path, cpu: int | None = None) -> None:
        argv = [sys.executable, "-m", "otel_plugins", "processor", "--grpc", "127.0.0.1:0", "--http", "none", "--forward", forward]
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu), *argv]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env["PYTHONPATH"] = str(REPO)
        self.log = log
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
        deadline = time.monotonic() + 60
        while not (found := re.search(r"grpc 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"processor did not start: {log.read_text(errors='replace')}")
            time.sleep(0.05)
        self.port = int(found.group(1))
        self.start_cpu = _proc_cpu_rss(self.proc.pid)[0]

    def cpu(self) -> float:
        return _proc_cpu_rss(self.proc.pid)[0] - self.start_cpu

    def stop(self) -> str:
        self.proc.terminate()
        self.proc.wait(60)
        return self.log.read_text(errors="replace").strip().splitlines()[-1]


def wait_for(sink: Collector, records: int, timeout: float = 3600.0) -> float:
    """Seconds until the sink accepted `records` log records."""
    start = time.monotonic()
    while sink_accepted(sink) < records:
        if time.monotonic() - start > timeout:
            sys.exit(f"sink has {sink_accepted(sink)} of {records} records after {timeout} s")
        time.sleep(0.25)
    return time.monotonic() - start


def processor_deployment(log: Path, lines: int, tmp: Path) -> tuple[float, float, float]:
    """(agent CPU-s, processor CPU-s, wall s) of agent-processor.yaml -> processor -> sink over `log`."""
    with Collector(SINK, ports=["grpc"]) as sink:
        processor = Processor(f"grpc://127.0.0.1:{sink.ports['grpc']}", tmp / "processor.err")
        env = {
            "GPUSTACK_SERVE_LOGS": str(log), "GPUSTACK_RPC_SERVER_LOGS": str(tmp / "none" / "*.log"), "FILELOG_START_AT": "beginning",
            "OTEL_PROCESSOR_PORT": str(processor.port), "AGENT_HOST_NAME": "bench", "AGENT_STORAGE_DIR": str(tmp / f"storage-{log.stem}"),
            "AGENT_QUEUE_RECORDS": str(10 * lines),
        }
        try:
            with Collector(to_yaml(agent_processor_config(health_check=False)), env=env) as agent:
                wall = wait_for(sink, lines)
                agent_cpu, _ = _proc_cpu_rss(agent.proc.pid)
                processor_cpu = processor.cpu()
        finally:
            summary = processor.stop()
    print(f"    processor: {summary}")
    return agent_cpu, processor_cpu, wall


def batches(log: Path) -> list[bytes]:
    """The file's lines as OTLP requests of BATCH records, one stream (resource: host.name, log.file.path)."""
    lines = log.read_text(encoding="utf-8").splitlines()
    out = []
    now = time.time_ns()
    for start in range(0, len(lines), BATCH):
        request = ExportLogsServiceRequest()
        resource_logs = request.resource_logs.add()
        resource_logs.resource.attributes.extend(
            [KeyValue(key="host.name", value=AnyValue(string_value="bench")), KeyValue(key="log.file.path", value=AnyValue(string_value=str(log)))]
        )
        records = resource_logs.scope_logs.add().log_records
        for offset, text in enumerate(lines[start : start + BATCH]):
            record = records.add()
            record.body.string_value = text
            record.observed_time_unix_nano = now + (start + offset) * 1_000_000
        out.append(request.SerializeToString())
    return out


def one_core(log: Path, tmp: Path) -> tuple[float, float, int]:
    """(records per wall second, records per CPU-second, records) of the processor fed directly over gRPC."""
    import grpc
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub

    payloads = batches(log)
    records = sum(len(ExportLogsServiceRequest.FromString(p).resource_logs[0].scope_logs[0].log_records) for p in payloads)
    cpu = (os.cpu_count() or 1) - 1 if (os.cpu_count() or 1) > 1 else None
    with Collector(SINK, ports=["grpc"]) as sink:
        processor = Processor(f"grpc://127.0.0.1:{sink.ports['grpc']}", tmp / "processor-one-core.err", cpu)
        pending = list(reversed(payloads))
        lock = threading.Lock()

        def feed() -> None:
            with grpc.insecure_channel(f"127.0.0.1:{processor.port}", options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
                stub = LogsServiceStub(channel)
                while True:
                    with lock:
                        if not pending:
                            return
                        payload = pending.pop()
                    stub.Export(ExportLogsServiceRequest.FromString(payload), timeout=600)

        start = time.monotonic()
        feeders = [threading.Thread(target=feed) for _ in range(2)]
        for thread in feeders:
            thread.start()
        for thread in feeders:
            thread.join()
        wall = time.monotonic() - start
        cpu_s = processor.cpu()
        summary = processor.stop()
    print(f"    processor{' (taskset -c %d)' % cpu if cpu is not None else ''}: {summary}")
    return records / wall, records / cpu_s, records


def profile(log: Path, records: int = 100_000, top: int = 20) -> None:
    from pyinstrument import Profiler

    from otel_plugins.policy import Policy
    from otel_plugins.processor.reply import Reply
    from otel_plugins.processor.service import LogProcessor

    class Taken:  # the next hop is not what is profiled here
        def send(self, request: ExportLogsServiceRequest, timeout_s: float | None = None) -> Reply:
            return Reply.accepted()

        def close(self) -> None:
            pass

    requests = [ExportLogsServiceRequest.FromString(p) for p in batches(log)[: max(1, records // BATCH)]]
    processor = LogProcessor(Policy(), Taken())
    profiler = Profiler(interval=0.001)
    profiler.start()
    for request in requests:
        processor.export(request)
    profiler.stop()
    own: Counter = Counter()

    def walk(frame) -> None:
        own[f"{frame.function} ({frame.file_path_short}:{frame.line_no})"] += frame.total_self_time
        for child in frame.children:
            walk(child)

    session = profiler.last_session
    walk(session.root_frame())
    total = sum(own.values()) or 1.0
    print(f"\npyinstrument, the processor deciding {len(requests) * BATCH:,} records in-process: top {top} by own time")
    for name, seconds in own.most_common(top):
        print(f"  {seconds:7.3f} s {100 * seconds / total:5.1f}%  {name}")
    by_module: Counter = Counter()
    for name, seconds in own.items():
        by_module[name.rsplit("(", 1)[-1].split(":", 1)[0]] += seconds
    print("by module:")
    for module, seconds in by_module.most_common(12):
        print(f"  {seconds:7.3f} s {100 * seconds / total:5.1f}%  {module}")


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--storm-lines", type=int, default=500_000)
    parser.add_argument("--check", action="store_true", help="exit 1 below the targets")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--one-core-only", action="store_true", help="skip the side-by-side runs")
    args = parser.parse_args()
    reason = missing_reason("otelcol")
    if reason:
        sys.exit(reason)
    failures = []
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="otel-plugins-processor-bench-") as tmp_name:
        tmp = Path(tmp_name)
        mix, storm = tmp / "mix.log", tmp / "storm.log"
        kinds = build(mix, args.lines)
        build_storm(storm, args.storm_lines)
        print(f"inputs: mix {args.lines:,} lines {dict(kinds)}; storm {args.storm_lines:,} lines of 503 probes")
        for name, log, lines in () if args.one_core_only else (("mix", mix, args.lines), ("storm", storm, args.storm_lines)):
            per_m = 1e6 / lines
            col_cpu, col_wall, col_rss, col_start, _exported = run_collector(log, lines, tmp)
            agent_cpu, proc_cpu, wall = processor_deployment(log, lines, tmp)
            print(f"[{name}] (a) Collector agent.yaml (transform/filter):  {col_cpu * per_m:7.2f} CPU-s per 1M  ({col_wall:.0f} s wall, peak RSS {col_rss:.0f} MiB)")
            print(f"[{name}] (b) agent-processor.yaml agent (ship only):    {agent_cpu * per_m:7.2f} CPU-s per 1M")
            print(f"[{name}]     otel-plugins processor:                    {proc_cpu * per_m:7.2f} CPU-s per 1M  ({lines / proc_cpu:,.0f} records per CPU-s)")
            print(f"[{name}]     agent + processor:                         {(agent_cpu + proc_cpu) * per_m:7.2f} CPU-s per 1M  "
                  f"({wall:.0f} s wall); ratio to (a): {(agent_cpu + proc_cpu) / col_cpu:.2f}x")
            if name == "storm" and agent_cpu + proc_cpu >= col_cpu:
                failures.append(f"probe storm: agent + processor {(agent_cpu + proc_cpu) * per_m:.2f} >= Collector {col_cpu * per_m:.2f} CPU-s per 1M")
        wall_rate, cpu_rate, records = one_core(mix, tmp)
        print(f"[one core] {records:,} records: {wall_rate:,.0f} records/s wall, {cpu_rate:,.0f} records per CPU-second "
              f"(target >= {TARGET_RECORDS_PER_CPU_S:,})")
        if cpu_rate < TARGET_RECORDS_PER_CPU_S:
            failures.append(f"one core: {cpu_rate:,.0f} records per CPU-second < {TARGET_RECORDS_PER_CPU_S:,}")
        if args.profile:
            profile(mix)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    for failure in failures:
        print(f"CHECK FAILED: {failure}")
    return 1 if args.check and failures else 0


if __name__ == "__main__":
    sys.exit(main())
