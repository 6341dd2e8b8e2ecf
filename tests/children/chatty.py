"""A small stand-in for llama-server: prints a few llama-like lines and its pid, then waits.

    chatty.py [MODE] [EVENTS_FILE]

MODE:
    reraise  (default) on SIGINT, SIGTERM or SIGHUP, note it, then die of that signal
             (default action), as a server that cleans up and re-raises does
    exit3    on SIGTERM, note it and exit with code 3
    abort_on_stop  on SIGTERM, note it, print what llama-server 0.3.8 prints when it aborts
             while stopping, and abort (SIGABRT)
    abort    crash with SIGABRT (os.abort) after the lines
    segv     crash with SIGSEGV (reads address 0) after the lines
    wait     ignore nothing, handle nothing: just wait to be killed

Every signal received is appended to EVENTS_FILE ("got SIGTERM"), with the pid first
("pid 1234"), so that a test can tell what reached the child even if its output did not.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

LINES = (
    "0.00.000.512 I build: 1 (7841fc7) with cc (Debian 12.2.0) for x86_64-linux-gnu",
    "0.00.001.020 I main: HTTP server is listening, hostname: 127.0.0.1, port: 8080, http threads: 3",
    "0.00.007.180 I srv  log_server_r: request: GET /health 127.0.0.1 503",
    "0.00.052.433 I llama_model_loader: loaded meta data with 24 key-value pairs and 201 tensors",
)


def note(events: str | None, text: str) -> None:
    if events:
        with open(events, "a") as f:
            f.write(text + "\n")


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "reraise"
    events = sys.argv[2] if len(sys.argv) > 2 else None

    def reraise(signum: int, _frame: object) -> None:
        note(events, f"got {signal.Signals(signum).name}")
        print(f"0.00.100.000 I received {signal.Signals(signum).name}, shutting down", flush=True)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def abort_on_stop(signum: int, _frame: object) -> None:
        note(events, f"got {signal.Signals(signum).name}")
        print("terminate called without an active exception", file=sys.stderr, flush=True)
        os.abort()

    def exit3(signum: int, _frame: object) -> None:
        note(events, f"got {signal.Signals(signum).name}")
        print("0.00.100.000 I cleaning up before exit...", flush=True)
        os._exit(3)

    if mode == "reraise":
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, reraise)
    elif mode == "exit3":
        signal.signal(signal.SIGTERM, exit3)
    elif mode == "abort_on_stop":
        signal.signal(signal.SIGTERM, abort_on_stop)
    for line in LINES:
        print(line, file=sys.stderr, flush=True)
    print(f"chatty pid {os.getpid()}", flush=True)
    note(events, f"pid {os.getpid()}")
    if mode == "abort":
        os.abort()
    if mode == "segv":
        ctypes.string_at(0)
    deadline = time.monotonic() + 120  # never outlive a broken test by much
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
