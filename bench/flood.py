"""Flood: a child writes FLOOD_BYTES of llama-box-like lines as fast as it can, unwrapped
(its stdout a 1 MiB pipe that a reader thread drains and discards) and under
`otel-plugins run --log-file /dev/null` with the OTLP endpoint at a closed port, then at
a real Collector that accepts slowly (in a network namespace, reached over a veth shaped
to 1 mbit/s by tbf).

    .venv/bin/python bench/flood.py [--bytes 2G] [--runs 3] [--mode replay|format] [--backends closed,slow]

`--mode replay` (default) writes a pre-built block of lines over and over (2-3 GB/s
here); `--mode format` formats every line on its own (about 45 MB/s, CPU-bound child).
Prints, for each run: the child's own wall time, its ratio to the unwrapped run, the
wrapper's CPU time (its own, the child's taken out: steadier than wall times on a shared
machine, and under overload a measure of what deciding the found lines costs), its peak
RSS (VmHWM from /proc, sampled while it runs), its exit summary
(emitted = exported + dropped) and, for the Collector, the records it wrote to its file
and the wrapper's last `llama.telemetry.*` values. Unwrapped and wrapped runs
alternate. With `--check` it exits 1 when a target is missed (child ratio <= 1.05, peak RSS
<= 80 MB, every failure line exported at ERROR); tests/test_flood.py asserts the
behaviour (exact accounting, nothing lost, bounded exit), never a ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHILD = REPO / "tests" / "children" / "flood.py"
sys.path.insert(0, str(REPO / "tests"))

import bed
import otlp_files
from otel_plugins import names
from services import Collector, missing_reason, port_open

_F_SETPIPE_SZ = 1031
# Issue 12's targets for `--check`: the child at most 5 % slower wrapped, the wrapper's peak RSS.
MAX_RATIO = 1.05
MAX_RSS_MB = 80.0
_LINES = re.compile(r"lines (\d+), probes (\d+), suppressed (\d+)(?:, passed through unparsed under overload (\d+))?")
_RECORDS = re.compile(r"log records: emitted (\d+), exported (\d+), dropped (\d+)( so far)? \(export failures (\d+)\)")


@dataclass
class Run:
    """One flood run: the child's figures, and the wrapper's when it was wrapped."""

    label: str
    child_wall_s: float
    child_cpu_s: float
    bytes: int
    lines: int
    wrapper_wall_s: float | None = None
    wrapper_exit: int | None = None
    peak_rss_mb: float | None = None
    summary: dict[str, int] = field(default_factory=dict)
    settled: bool = False
    collector_logs: int | None = None
    telemetry_metrics: dict[str, int] = field(default_factory=dict)
    stderr: str = ""
    failures: int = 0  # failure lines the child wrote
    failures_exported: int | None = None  # of those, exported as ERROR records (embedded file sink only)
    wrapper_cpu_s: float | None = None  # the wrapper's own CPU time (the child's taken out)

    def line(self, baseline: float | None = None) -> str:
        out = f"{self.label:<26} child wall {self.child_wall_s:7.3f}s ({self.bytes / self.child_wall_s / 1e6:7.1f} MB/s)"
        if baseline:
            out += f"  ratio {self.child_wall_s / baseline:5.2f}"
        if self.wrapper_wall_s is not None:
            s = self.summary
            out += (
                f"  wrapper: exit {self.wrapper_exit}, wall {self.wrapper_wall_s:.1f}s,"
                + (f" CPU {self.wrapper_cpu_s:.2f}s," if self.wrapper_cpu_s is not None else "")
                + f" peak RSS {self.peak_rss_mb:.1f} MB,"
                f" parsed {s.get('lines')}, shed {s.get('shed')}, emitted {s.get('emitted')} = exported {s.get('exported')}"
                f" + dropped {s.get('dropped')} (export failures {s.get('failures')})"
            )
        if self.collector_logs is not None:
            out += f"; collector wrote {self.collector_logs} log records, telemetry metrics {self.telemetry_metrics}"
        if self.failures_exported is not None:
            out += f"; failure lines {self.failures}, exported at ERROR {self.failures_exported}"
        return out


def child_env(nbytes: int, mode: str, report: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(FLOOD_BYTES=str(nbytes), FLOOD_MODE=mode, FLOOD_REPORT=str(report), PYTHONPATH=str(REPO))
    return env


def _report(path: Path) -> dict:
    return json.loads(path.read_text())


def unwrapped(nbytes: int, mode: str, workdir: Path, timeout: float = 600) -> Run:
    """The child alone, its stdout a pipe that a reader thread drains and discards.

    The drain is the fastest we found: a 1 MiB pipe (the size the wrapper asks for too)
    read 1 MiB at a time. `cat > /dev/null` on a default 64 KiB pipe is slower under load,
    which would flatter the wrapper.
    """
    report = workdir / "unwrapped.json"
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(read_end, _F_SETPIPE_SZ, 1 << 20)

    def drain() -> None:
        while os.read(read_end, 1 << 20):
            pass

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    try:
        child = subprocess.Popen([sys.executable, str(CHILD)], stdout=write_end, env=child_env(nbytes, mode, report))
        os.close(write_end)
        write_end = -1
        try:
            child.wait(timeout)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        drainer.join(timeout)
    finally:
        if write_end >= 0:
            os.close(write_end)
        os.close(read_end)
    r = _report(report)
    return Run("unwrapped", r["wall_s"], r["cpu_s"], r["bytes"], r["lines"])


class RssSampler(threading.Thread):
    """Polls /proc/<pid>/status; keeps the last VmHWM (the kernel's peak RSS) and the largest VmRSS."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        path = f"/proc/{self.pid}/status"
        while not self.stop.is_set():
            try:
                text = Path(path).read_text()
            except OSError:
                return
            for key in ("VmHWM:", "VmRSS:"):
                m = re.search(key + r"\s+(\d+) kB", text)
                if m:
                    self.peak_kb = max(self.peak_kb, int(m.group(1)))
            self.stop.wait(self.interval)


def parse_summary(stderr: str) -> tuple[dict[str, int], bool]:
    summary: dict[str, int] = {}
    m = _LINES.search(stderr)
    if m:
        summary.update(lines=int(m.group(1)), probes=int(m.group(2)), suppressed=int(m.group(3)), shed=int(m.group(4) or 0))
    m = _RECORDS.search(stderr)
    if m:
        summary.update(emitted=int(m.group(1)), exported=int(m.group(2)), dropped=int(m.group(3)), failures=int(m.group(5)))
    return summary, bool(m and not m.group(4))


def wrapped(nbytes: int, mode: str, workdir: Path, endpoint: str | None, label: str, timeout: float = 600) -> Run:
    """The child under `otel-plugins run --log-file /dev/null`, exporting to `endpoint`."""
    report = workdir / f"{label}.json"
    env = child_env(nbytes, mode, report)
    if endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    errors = workdir / f"{label}.err"
    output = workdir / f"{label}-otel"
    shutil.rmtree(output, ignore_errors=True)  # each run counts only what it exported itself
    command = [sys.executable, "-m", "otel_plugins", "run", "--log-file", "/dev/null", "--output-dir", str(output),
               "--", sys.executable, str(CHILD)]
    start = time.monotonic()
    # The wrapper reaps the child and we reap the wrapper: both land in RUSAGE_CHILDREN.
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(errors, "wb") as err:
        wrapper = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True)
    sampler = RssSampler(wrapper.pid)
    sampler.start()
    try:
        code = wrapper.wait(timeout)
    finally:
        sampler.stop.set()
        if wrapper.poll() is None:
            os.killpg(wrapper.pid, signal.SIGKILL)
            wrapper.wait()
    wall = time.monotonic() - start
    sampler.join(2)
    text = errors.read_text(errors="replace")
    summary, settled = parse_summary(text)
    r = _report(report)
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = now.ru_utime + now.ru_stime - reaped.ru_utime - reaped.ru_stime
    run = Run(label, r["wall_s"], r["cpu_s"], r["bytes"], r["lines"], wall, code, sampler.peak_kb / 1024, summary, settled, stderr=text)
    run.wrapper_cpu_s = cpu - r["cpu_s"]
    run.failures = r.get("failures", 0)
    if not endpoint:
        run.failures_exported = failures_exported(workdir / f"{label}-otel")
    return run


def failures_exported(directory: Path) -> int:
    """ERROR records in an embedded-default output whose body is one of the child's failure lines."""
    return sum(
        1 for r in otlp_files.iter_logs(directory)
        if r["severity"] == "ERROR" and (" E srv    send_error:" in r["body"] or '" 500 Internal Server Error' in r["body"])
    )


def closed_endpoint() -> str:
    """An OTLP endpoint on a port where nothing listens (connections are refused at once)."""
    return f"http://127.0.0.1:{bed.free_port()}"


SLOW_COLLECTOR = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: ${env:OTELCOL_LISTEN}:${env:OTELCOL_PORT_OTLP_HTTP}
exporters:
  file/logs:
    path: ${env:OTELCOL_TMPDIR}/logs.jsonl
    flush_interval: 100ms
  file/metrics:
    path: ${env:OTELCOL_TMPDIR}/metrics.jsonl
    flush_interval: 100ms
  file/traces:
    path: ${env:OTELCOL_TMPDIR}/traces.jsonl
    flush_interval: 100ms
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [file/logs]
    metrics:
      receivers: [otlp]
      exporters: [file/metrics]
    traces:
      receivers: [otlp]
      exporters: [file/traces]
"""


class NamespacedCollector(Collector):
    """The real Collector, run inside `netns`; its OTLP receiver listens on the namespace's address."""

    def __init__(self, netns: bed.NetNS, config_yaml: str = SLOW_COLLECTOR) -> None:
        super().__init__(config_yaml, env={"OTELCOL_LISTEN": str(netns.ns_ip)}, ports=["otlp_http"])
        self.netns = netns

    @property
    def endpoint(self) -> str:
        return f"http://{self.netns.ns_ip}:{self.ports['otlp_http']}"

    def _prepare(self):
        argv, env = super()._prepare()
        return ["ip", "netns", "exec", self.netns.name, *argv], env

    def _ready(self) -> bool:
        # health_check listens on the namespace's own loopback: ask the receiver instead.
        return port_open(self.ports["otlp_http"], str(self.netns.ns_ip))

    def files(self) -> Path:
        assert self.tmpdir is not None
        return self.tmpdir


@contextlib.contextmanager
def slow_collector(rate: str = "1mbit") -> Iterator[NamespacedCollector]:
    """A Collector that accepts slowly: everything it receives crosses a tbf-shaped veth."""
    with bed.NetNS(rate=rate) as netns:
        collector = NamespacedCollector(netns)
        with collector:
            wait_idle(collector.proc.pid)
            yield collector


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_idle(pid: int, timeout: float = 10.0) -> None:
    """Waits until `pid` has used under 20 ms of CPU in half a second: a Collector that has
    just started is still busy for a moment, and would take that CPU from the child we time."""
    deadline = time.monotonic() + timeout
    with contextlib.suppress(OSError, ValueError, IndexError):
        last = _cpu_ticks(pid)
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = _cpu_ticks(pid)
            if (now - last) * 1000 / os.sysconf("SC_CLK_TCK") < 20:
                return
            last = now


def telemetry_points(directory: Path) -> dict[str, int]:
    """The last `llama.telemetry.*{llama.telemetry.signal=logs}` values in an OTLP JSON metrics file."""
    points = otlp_files.metric_points(directory)
    out = {}
    for key, name in (("exported", names.METRIC_TELEMETRY_EXPORTED), ("dropped", names.METRIC_TELEMETRY_DROPPED)):
        values = [p["value"] for p in points.get(name, []) if p["attrs"].get(names.ATTR_SIGNAL) == "logs"]
        if values:
            out[key] = values[-1]
    return out


def wrapped_slow(nbytes: int, mode: str, workdir: Path, label: str = "wrapped-slow-collector") -> Run:
    with slow_collector() as collector:
        run = wrapped(nbytes, mode, workdir, collector.endpoint, label)
        # The file exporter flushes every 100 ms; let the last write land.
        time.sleep(1.0)
        directory = collector.files()
        run.collector_logs = len(otlp_files.logs(directory))
        run.telemetry_metrics = telemetry_points(directory)
    return run


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+)([KMG]?)i?B?", text.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 512M or 2G")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bytes", type=parse_size, default=parse_size(os.environ.get("FLOOD_BYTES", "2G")))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mode", choices=("replay", "format"), default="replay")
    parser.add_argument("--backends", default="file,closed,slow", help="comma-separated: file (the embedded default), closed, slow")
    parser.add_argument("--check", action="store_true", help=f"exit 1 unless every target is met (ratio <= {MAX_RATIO}, RSS <= {MAX_RSS_MB:.0f} MB, every failure line exported)")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    if "slow" in backends:
        reason = missing_reason("otelcol") or (None if bed.NetNS.available()[0] else bed.NetNS.available()[1])
        if reason:
            print(f"slow Collector skipped: {reason}")
            backends.remove("slow")
    print(f"flood: {args.bytes / (1 << 30):.2f} GiB, mode {args.mode}, {args.runs} runs each, {os.cpu_count()} CPUs")
    workdir = Path(tempfile.mkdtemp(prefix="otel-flood-"))
    try:
        base: list[Run] = []
        runs: dict[str, list[Run]] = {b: [] for b in backends}
        for _ in range(args.runs):
            base.append(unwrapped(args.bytes, args.mode, workdir))
            print(base[-1].line(), flush=True)
            for backend in backends:
                if backend == "closed":
                    run = wrapped(args.bytes, args.mode, workdir, closed_endpoint(), "wrapped-closed-port")
                elif backend == "file":
                    run = wrapped(args.bytes, args.mode, workdir, None, "wrapped-file-sink")
                else:
                    run = wrapped_slow(args.bytes, args.mode, workdir)
                runs[backend].append(run)
                print(run.line(base[-1].child_wall_s), flush=True)
        median = statistics.median(r.child_wall_s for r in base)
        print(f"\nunwrapped median {median:.3f}s over {[round(r.child_wall_s, 3) for r in base]}")
        missed = []
        for backend, rs in runs.items():
            m = statistics.median(r.child_wall_s for r in rs)
            pairs = statistics.median(r.child_wall_s / b.child_wall_s for r, b in zip(rs, base))
            print(
                f"{rs[0].label}: median {m:.3f}s, ratio of medians {m / median:.3f}, median of pair ratios {pairs:.3f};"
                f" wrapper CPU median {statistics.median(r.wrapper_cpu_s for r in rs):.2f}s;"
                f" peak RSS max {max(r.peak_rss_mb for r in rs):.1f} MB;"
                f" accounting exact in {sum(r.summary.get('emitted') == r.summary.get('exported', 0) + r.summary.get('dropped', 0) for r in rs)}/{len(rs)}"
            )
            if pairs > MAX_RATIO:
                missed.append(f"{backend}: child ratio {pairs:.3f} > {MAX_RATIO}")
            if max(r.peak_rss_mb for r in rs) > MAX_RSS_MB:
                missed.append(f"{backend}: peak RSS {max(r.peak_rss_mb for r in rs):.1f} MB > {MAX_RSS_MB:.0f} MB")
            for r in rs:
                if r.failures_exported is not None and r.failures_exported < r.failures:
                    missed.append(f"{backend}: {r.failures_exported} of {r.failures} failure lines exported at ERROR")
        if args.check and missed:
            print("targets missed: " + "; ".join(missed))
            return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
