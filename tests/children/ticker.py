"""A server that prints one numbered line every TICK_INTERVAL seconds for TICK_SECONDS.

    TICK_SECONDS (default 45), TICK_INTERVAL (default 0.01), TICK_REPORT (a JSON file)

Each line is `<uptime> I slot update_slots: id  0 | task N | tick N at <unix time>`. The
report gives the lines written, and the longest time between the end of one write and the
end of the next: if the wrapper ever stopped draining the pipe, a write would block and
that gap would show it.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> int:
    seconds = float(os.environ.get("TICK_SECONDS", "45"))
    interval = float(os.environ.get("TICK_INTERVAL", "0.01"))
    report = os.environ.get("TICK_REPORT")
    out = sys.stdout.buffer
    start = time.monotonic()
    last = start
    max_gap, worst_at = 0.0, 0.0
    n = 0
    while (now := time.monotonic()) - start < seconds:
        up = now - start
        stamp = f"{int(up // 60)}.{int(up % 60):02d}.{int(up * 1000) % 1000:03d}.{int(up * 1e6) % 1000:03d}"
        out.write(f"{stamp} I slot update_slots: id  0 | task {n} | tick {n} at {time.time():.3f}\n".encode())
        out.flush()
        done = time.monotonic()
        if done - last > max_gap:
            max_gap, worst_at = done - last, done - start
        last = done
        n += 1
        time.sleep(max(0.0, start + n * interval - time.monotonic()))
    if report:
        with open(report, "w") as f:
            json.dump({"lines": n, "max_gap_s": max_gap, "worst_at_s": worst_at, "wall_s": time.monotonic() - start}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
