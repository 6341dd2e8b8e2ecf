"""Cost of the overload check alone: the flood child's lines pumped through one `PipePump`
that is behind from the first byte, in this process (no child, no pipes, no exporter).

    .venv/bin/python bench/overload_check.py [--lines 200000] [--repeats 3] [--check]

The lines are those `tests/children/flood.py` writes in `--mode format` (its generator, same
seed), so the figure is the part of `bench/flood.py`'s wrapper CPU that the scan, the checks
and the deciding of the lines found cost, without the noise of a second process on a shared
2-core machine. Prints the least CPU time over the repeats, and how many lines were decided,
shed and summed up: the counts are exact, the time is not. Beside it, in the same run, the
CPU time the flood child's own generator takes to format the same lines: a wrapper that
needs more per line than the child spends making it cannot keep up with it, whatever the
machine. `--check` exits 1 when it does (issue 12's target, the child at most 1.05 times its
unwrapped time, is measured end to end by `bench/flood.py --check`).
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "children"))

import flood  # noqa: E402  (the flood child's own line generator)

from otel_plugins.pipeline import LinePipeline  # noqa: E402
from otel_plugins.policy import Policy  # noqa: E402
from otel_plugins.sources.process import PipePump  # noqa: E402


class _Counted:
    """Counts what a pipeline would export, and exports nothing."""

    def __init__(self) -> None:
        self.records = self.summaries = 0

    def emit(self, classified: object, extra: object = None) -> None:
        self.records += 1

    def emit_crash(self, dump: object, extra: object = None) -> None:
        self.records += 1

    def emit_summary(self, summary: object, extra: object = None) -> None:
        self.summaries += 1


def one_run(data: bytes) -> tuple[float, int, int, _Counted]:
    """(CPU seconds, lines decided, lines shed, what was emitted) for one pump over `data`."""
    emitted = _Counted()
    pipeline = LinePipeline(Policy(), emitted)
    pump = PipePump(io.BytesIO(), pipeline.feed, io.BytesIO(), "overload-check",
                    quiet=lambda raw: pipeline.quiet_passthrough(raw, time.time()), must_decide=pipeline.must_decide,
                    scan=pipeline.overload_scan)
    started = time.process_time()
    pump.shed(data, 0, len(data))  # behind from the first byte: every chunk is shed
    pipeline.close()
    return time.process_time() - started, pump.lines, pump.shed_lines, emitted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 if the check costs more per line than formatting it")
    args = parser.parse_args()
    if args.lines < 1 or args.repeats < 1:
        print("overload_check: --lines and --repeats must be at least 1", file=sys.stderr)
        return 2
    formatting = []
    for _ in range(args.repeats):
        lines = flood.lines(random.Random(5), 1000)
        started = time.process_time()
        data = b"".join(next(lines) for _ in range(args.lines))
        formatting.append(time.process_time() - started)
    made = min(formatting)
    runs = [one_run(data) for _ in range(args.repeats)]
    cpu = min(run[0] for run in runs)
    _cpu, decided, shed, emitted = runs[-1]
    print(f"{args.lines:,} flood lines ({len(data) / 1e6:.1f} MB), least of {args.repeats} runs each:")
    print(f"  the flood child formatting them  {made:7.3f} CPU-s  {made / args.lines * 1e6:5.2f} us a line")
    print(f"  the overload check over them     {cpu:7.3f} CPU-s  {cpu / args.lines * 1e6:5.2f} us a line"
          f"  ({cpu / made:.2f}x the child's)")
    print(f"  decided {decided:,}, shed {shed:,}; records {emitted.records:,}, summaries {emitted.summaries:,}")
    if args.check and cpu > made:
        print(f"target missed: the check costs {cpu / made:.2f}x what formatting the lines costs (at most 1.0x)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
