"""Flood: a child writes 2 GiB of llama-box-like lines as fast as it can, under `otel-plugins run`.

The child (tests/children/flood.py, "replay" mode: a pre-built 4 MiB block of realistic
lines written over and over, about 2-3 GB/s here) times itself. Unwrapped, its stdout is
a 1 MiB pipe that a reader thread drains and discards; wrapped, it runs under
`otel-plugins run --log-file /dev/null` exporting to a closed port, then to a real
Collector that accepts slowly (in a network namespace behind a veth shaped to 1 mbit/s by
tbf: the Collector itself is unmodified, only its network is slow, as a remote one over a
congested link would be). Runs are interleaved in pairs and judged by the median of the
pairs' ratios, because other work on this 2-core machine makes single runs noisy (see
`measured_ratio`). All figures are printed. A wrapped run to the closed port takes about
7 s (the wrapper's start-up, and its 5 s export deadline at exit), so that test takes
40-80 s; the slow-Collector test about as long.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_plugins.sinks.telemetry import SHUTDOWN_TIMEOUT_S
from otel_plugins.sources.process import PipePump

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("flood_bench", REPO / "bench" / "flood.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules["flood_bench"] = bench
_spec.loader.exec_module(bench)

FLOOD_BYTES = int(os.environ.get("FLOOD_TEST_BYTES", str(2 << 30)))
RUNS = int(os.environ.get("FLOOD_TEST_RUNS", "5"))
MAX_RATIO = 1.10
RSS_TARGET_MB = 100.0  # the target: reported
RSS_BOUND_MB = 150.0  # asserted: the idle wrapper takes ~40 MB; holding the flood would take GBs
STARTUP_SLACK_S = 5.0  # the wrapper's own start (imports) on a loaded machine


def interleaved(workdir: Path, wrapped_run, mode: str = "replay", nbytes: int = FLOOD_BYTES, runs: int = RUNS, base=None, wrapped=None):
    """`runs` more pairs of (unwrapped, wrapped) runs, alternating, each printed as it ends."""
    base, wrapped = base or [], wrapped or []
    for _ in range(runs):
        base.append(bench.unwrapped(nbytes, mode, workdir))
        print(base[-1].line())
        wrapped.append(wrapped_run(nbytes, mode, workdir))
        print(wrapped[-1].line(base[-1].child_wall_s))
    return base, wrapped


def report(base, wrapped) -> float:
    """Prints the medians and returns the median of the pairs' ratios (wrapped / the unwrapped run just before)."""
    b = statistics.median(r.child_wall_s for r in base)
    w = statistics.median(r.child_wall_s for r in wrapped)
    rss = max(r.peak_rss_mb for r in wrapped)
    pairs = statistics.median(r.child_wall_s / u.child_wall_s for r, u in zip(wrapped, base))
    print(
        f"{wrapped[0].label}: child wall median {w:.3f}s wrapped vs {b:.3f}s unwrapped over {len(base)} pairs;"
        f" median of pair ratios {pairs:.3f} (limit {MAX_RATIO}), ratio of medians {w / b:.3f};"
        f" wrapper peak RSS {rss:.1f} MB (target {RSS_TARGET_MB:.0f}, bound {RSS_BOUND_MB:.0f})"
    )
    return pairs


def measured_ratio(workdir: Path, wrapped_run):
    """Median of the pair ratios over RUNS pairs; over the limit, RUNS more pairs are run and all count.

    A single run here varies by 10-20 % with whatever else the machine does. Pairing each
    wrapped run with the unwrapped run just before it cancels load that lasts longer than
    a pair; five pairs can still exceed 1.10 by chance, a real overhead of that size shows in ten.
    """
    base, wrapped = interleaved(workdir, wrapped_run)
    ratio = report(base, wrapped)
    if ratio > MAX_RATIO:
        print(f"over {MAX_RATIO}: {RUNS} more pairs")
        base, wrapped = interleaved(workdir, wrapped_run, base=base, wrapped=wrapped)
        ratio = report(base, wrapped)
    return ratio, wrapped


def check_run(run, nbytes: int) -> None:
    """One wrapped run: the child wrote everything, the wrapper exited 0 in time, and its accounting is exact."""
    assert run.bytes >= nbytes, run.line()
    assert run.wrapper_exit == 0, run.stderr[-2000:]
    s = run.summary
    assert run.settled and {"emitted", "exported", "dropped", "lines", "shed"} <= set(s), run.stderr[-2000:]
    assert s["emitted"] == s["exported"] + s["dropped"], run.line()
    # Every line the child wrote was either decided or passed through unparsed (the shed
    # count of a large chunk is extrapolated from its first 16 KiB, hence the tolerance).
    assert abs(s["lines"] + s["shed"] - run.lines) <= 0.02 * run.lines, (s, run.lines)
    assert run.peak_rss_mb <= RSS_BOUND_MB, run.line()
    # Bounded exit: the wrapper outlives its child by its start-up and the export deadline, no more.
    assert run.wrapper_wall_s - run.child_wall_s <= SHUTDOWN_TIMEOUT_S + STARTUP_SLACK_S, run.line()


def test_flood_with_the_otlp_endpoint_at_a_closed_port(tmp_path, capsys):
    """2 GiB as fast as the child can: its wall time stays within 1.10x of the unwrapped run, RSS bounded, accounting exact."""
    with capsys.disabled():
        print(f"\nflood, {FLOOD_BYTES / (1 << 30):.2f} GiB, endpoint at a closed port, {RUNS} interleaved runs:")
        ratio, wrapped = measured_ratio(tmp_path, lambda n, m, d: bench.wrapped(n, m, d, bench.closed_endpoint(), "wrapped-closed-port"))
    for run in wrapped:
        check_run(run, FLOOD_BYTES)
        assert run.summary["exported"] == 0, run.line()  # nothing can be delivered to a closed port
        assert run.summary["shed"] > 0, run.line()  # the flood was more than we parse: we shed
    assert ratio <= MAX_RATIO


needs_slow_collector = pytest.mark.skipif(
    bench.missing_reason("otelcol") is not None or not bench.bed.NetNS.available()[0],
    reason=bench.missing_reason("otelcol") or bench.bed.NetNS.available()[1],
)


@pytest.mark.collector
@needs_slow_collector
def test_flood_with_a_collector_that_accepts_slowly(tmp_path, capsys):
    """The same flood exporting to a Collector behind 1 mbit/s: same wall-time bound, and what the Collector got is what we say we exported."""
    with capsys.disabled():
        print(f"\nflood, {FLOOD_BYTES / (1 << 30):.2f} GiB, Collector behind a 1 mbit/s veth, {RUNS} interleaved runs:")
        ratio, wrapped = measured_ratio(tmp_path, lambda n, m, d: bench.wrapped_slow(n, m, d))
        # Per-line formatting (~40 MB/s, the child's own CPU is the limit) parses thousands of
        # lines, more than 1 mbit/s carries: accounting with real numbers on both sides.
        print("the same, 128 MiB of per-line formatted output:")
        f_base, f_wrapped = interleaved(tmp_path, lambda n, m, d: bench.wrapped_slow(n, m, d), "format", 128 << 20, 1)
        report(f_base, f_wrapped)
    for run, nbytes in [(r, FLOOD_BYTES) for r in wrapped] + [(r, 128 << 20) for r in f_wrapped]:
        check_run(run, nbytes)
        s = run.summary
        assert run.collector_logs == s["exported"], run.line()
        # The wrapper's own counters, in its last metric export, say the same (no record: no point).
        expected = {"exported": s["exported"], "dropped": s["dropped"]} if s["emitted"] else {}
        assert run.telemetry_metrics == expected, run.line()
    assert f_wrapped[0].summary["emitted"] >= 1000, f_wrapped[0].line()
    assert ratio <= MAX_RATIO


# --- the pump itself: what it passes through is what the child wrote ----------------------


class HashingSink:
    """A binary sink that keeps only a SHA-256 and a byte count of what it was given."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def test_pump_passes_a_flood_through_byte_for_byte(tmp_path):
    """Under shedding (256 MiB as fast as possible) the passthrough of an identity handler is exactly the child's output."""
    nbytes = 256 << 20
    env = bench.child_env(nbytes, "replay", tmp_path / "direct.json")
    with open(tmp_path / "direct.out", "wb") as out:
        subprocess.run([sys.executable, str(bench.CHILD)], stdout=out, env=env, check=True, timeout=120)
    expected = hashlib.sha256((tmp_path / "direct.out").read_bytes()).hexdigest()
    (tmp_path / "direct.out").unlink()
    sink, seen = HashingSink(), []
    child = subprocess.Popen([sys.executable, str(bench.CHILD)], stdout=subprocess.PIPE,
                             env=bench.child_env(nbytes, "replay", tmp_path / "pumped.json"))
    pump = PipePump(child.stdout, lambda raw: seen.append(len(raw)) or raw, sink, "test-pump")
    pump.start()
    assert child.wait(120) == 0
    pump.join(60)
    assert not pump.is_alive()
    written = json.loads((tmp_path / "pumped.json").read_text())
    print(f"\npump: {written['lines']} lines, {len(seen)} decided, {pump.shed_lines} shed")
    assert sink.size == nbytes and sink.digest.hexdigest() == expected
    assert pump.shed_lines > 0 and pump.handler_errors == 0
    assert all(n > 1 for n in seen)  # whole lines only, never a fragment


def test_pump_splits_lines_across_reads_and_passes_overlong_lines_unparsed():
    """Lines cut across reads reach the handler whole; a line over 4 MiB is passed through unparsed, and the next is decided again."""
    read_end, write_end = os.pipe()
    sink, seen = io.BytesIO(), []
    pipe = open(read_end, "rb")  # noqa: SIM115 - the pump closes it at EOF
    pump = PipePump(pipe, lambda raw: seen.append(raw) or raw.upper(), sink, "test-pump")
    pump.start()
    lines = [b"0.00.000.%03d I line %d\n" % (i, i) for i in range(200)]
    overlong = b"x" * (5 << 20) + b"\n"
    data = b"".join(lines[:100]) + overlong + b"".join(lines[100:]) + b"last line without a newline"
    with open(write_end, "wb", buffering=0) as w:
        for i in range(0, len(data), 7777):  # odd sizes: every line boundary falls somewhere new
            w.write(data[i : i + 7777])
            time.sleep(0.0002)  # slowly enough that the pump never falls behind (and sheds)
    pump.join(30)
    assert seen == lines + [b"last line without a newline"]
    assert sink.getvalue() == b"".join(x.upper() for x in lines[:100]) + overlong + b"".join(x.upper() for x in lines[100:]) + b"LAST LINE WITHOUT A NEWLINE"
    assert pump.shed_lines == 1
