#!/usr/bin/env python3
"""Capture what a real llama.cpp build prints, as golden dialect inputs.

    .venv/bin/python scripts/capture_llama.py [--version 0.3.36] [--out DIR] [NAME ...]

Runs the bed's `llama-server-<version>` / `rpc-server-<version>` (scripts/build_llama.sh) on
127.0.0.1 with the random-weight models of scripts/make_model.py, drives each through a
load, a chat request, a 404 and SIGTERM, and writes `<out>/<name>/input.log` (stdout and
stderr interleaved as the terminal shows them). Captures (default: all):

    default    llama-server at its default verbosity
    trace      -lv 4 with an rpc-server: buffer lines, memory breakdown (no request line:
               this build leaves its `done request:` logger commented out)
    jsonl      --log-jsonl -lv 4 with an rpc-server
    rpc        the rpc-server of `trace` (no cache)
    rpc_cache  rpc-server -c: a cold then a warm load of the same model (`saved to` lines)
    router     llama-server router mode (--models-dir): its log, plus the /models/sse
               stream in events.txt

The home directory and temporary directories are replaced by /home/bed and /tmp/bed, so
that nothing of the capturing machine is committed. The `expected-notes.jsonl` beside each
input are written by hand and are not touched here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import bed  # noqa: E402

CHAT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
CAPTURES = ("default", "trace", "jsonl", "rpc", "rpc_cache", "router")


class Capture:
    """One process whose stdout and stderr go to the same file."""

    def __init__(self, argv: list[str], path: Path, env: dict | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(path, "wb")  # noqa: SIM115 - closed in stop()
        argv = ["stdbuf", "-oL", "-eL", *map(str, argv)]
        self.proc = subprocess.Popen(argv, stdout=self.file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.file.close()
        return self.proc.returncode


def drive(port: int, proc: subprocess.Popen, model: str | None = None) -> None:
    """Wait for /health ok, then one chat request, one 404, one /health."""
    bed.wait_http(f"http://127.0.0.1:{port}/health", timeout=180, proc=proc, interval=0.5)
    body = dict(CHAT, model=model) if model else CHAT
    status, raw = bed.http_request(f"http://127.0.0.1:{port}/v1/chat/completions", "POST", body, timeout=120)
    if status != 200:
        raise RuntimeError(f"chat answered {status}: {raw[:200]!r}")
    bed.http_request(f"http://127.0.0.1:{port}/no-such-route")
    bed.http_request(f"http://127.0.0.1:{port}/health")
    time.sleep(0.5)


def server_argv(exe: Path, model: Path, port: int, *extra: str) -> list[str]:
    return [str(exe), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-c", "256", "-np", "1", *extra]


def rpc_argv(exe: Path, port: int, *extra: str) -> list[str]:
    return [str(exe), "-H", "127.0.0.1", "-p", str(port), *extra]


def sanitize(path: Path, tmp_dirs: list[str]) -> None:
    text = path.read_bytes()
    for tmp in sorted(tmp_dirs, key=len, reverse=True):
        text = text.replace(tmp.encode(), b"/tmp/bed")
    text = text.replace(str(Path.home()).encode(), b"/home/bed")
    path.write_bytes(text)


def run(names: list[str], version: str, out: Path) -> None:
    server = bed.versioned_bin("llama-server", version)
    rpc = bed.versioned_bin("rpc-server", version)
    if server is None or rpc is None:
        sys.exit(f"capture: llama-server-{version}/rpc-server-{version} not built; run scripts/build_llama.sh")
    small = bed.ensure_model(256, 2)
    big = bed.ensure_model(1024, 4)  # its output tensor (62.5 MiB) goes by hash to a -c rpc-server
    tmp = tempfile.mkdtemp(prefix="capture-")
    tmp_dirs = [tmp]
    written: list[Path] = []

    def trace_like(name: str, *extra: str) -> None:
        rpc_port, port = bed.free_port(), bed.free_port()
        rpc_log = out / "rpc" / "input.log" if name == "trace" else Path(tmp) / f"rpc-{name}.log"
        rpc_cap = Capture(rpc_argv(rpc, rpc_port), rpc_log)
        bed.wait_tcp("127.0.0.1", rpc_port, proc=rpc_cap.proc)
        cap = Capture(server_argv(server, small, port, "--rpc", f"127.0.0.1:{rpc_port}", "-ngl", "99", *extra),
                      out / name / "input.log")
        try:
            drive(port, cap.proc)
        finally:
            cap.stop()
            rpc_cap.stop()
        written.append(cap.path)
        if name == "trace":
            written.append(rpc_cap.path)

    if "default" in names:
        port = bed.free_port()
        cap = Capture(server_argv(server, small, port), out / "default" / "input.log")
        try:
            drive(port, cap.proc)
        finally:
            cap.stop()
        written.append(cap.path)
    if "trace" in names or "rpc" in names:
        trace_like("trace", "-lv", "4")
    if "jsonl" in names:
        trace_like("jsonl", "--log-jsonl", "-lv", "4")
    if "rpc_cache" in names:
        rpc_port = bed.free_port()
        env = dict(os.environ, LLAMA_CACHE=os.path.join(tmp, "llama-cache"))
        rpc_cap = Capture(rpc_argv(rpc, rpc_port, "-c"), out / "rpc_cache" / "input.log", env=env)
        bed.wait_tcp("127.0.0.1", rpc_port, proc=rpc_cap.proc)
        try:
            for load in ("cold", "warm"):
                port = bed.free_port()
                cap = Capture(server_argv(server, big, port, "--rpc", f"127.0.0.1:{rpc_port}", "-ngl", "99", "-lv", "4"),
                              out / "rpc_cache" / f"server-{load}.log")
                try:
                    drive(port, cap.proc)
                finally:
                    cap.stop()
                written.append(cap.path)
        finally:
            rpc_cap.stop()
        written.append(rpc_cap.path)
    if "router" in names:
        models = Path(tmp) / "models"
        models.mkdir()
        os.symlink(small, models / "tiny.gguf")
        port = bed.free_port()
        cap = Capture([str(server), "--models-dir", str(models), "--host", "127.0.0.1", "--port", str(port),
                       "-c", "256", "-np", "1", "--models-max", "1"], out / "router" / "input.log")
        events: list[bytes] = []
        try:
            bed.wait_http(f"http://127.0.0.1:{port}/health", timeout=60, proc=cap.proc, interval=0.5)
            reader = threading.Thread(target=_read_sse, args=(port, events), daemon=True)
            reader.start()
            time.sleep(0.5)
            status, raw = bed.http_request(f"http://127.0.0.1:{port}/models/load", "POST", {"model": "tiny"})
            if status != 200:
                raise RuntimeError(f"/models/load answered {status}: {raw[:200]!r}")
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not any(b'"loaded"' in e for e in events):
                time.sleep(0.2)
            drive(port, cap.proc, model="tiny")
            (out / "router" / "models.json").write_text(
                json.dumps(json.loads(bed.http_request(f"http://127.0.0.1:{port}/models")[1]), indent=1) + "\n")
        finally:
            cap.stop()
        (out / "router" / "events.txt").write_bytes(b"".join(events))
        written += [cap.path, out / "router" / "events.txt", out / "router" / "models.json"]
    for path in written:
        sanitize(path, tmp_dirs)
        print(f"capture: {path.relative_to(REPO)} ({len(path.read_bytes().splitlines())} lines)")


def _read_sse(port: int, sink: list[bytes]) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("GET", "/models/sse", headers={"Accept": "text/event-stream"})
        response = conn.getresponse()
        while True:
            line = response.readline()
            if not line:
                return
            sink.append(line)
    except OSError:
        return
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="0.3.36")
    parser.add_argument("--out", type=Path, help="default: tests/testdata/dialects/llamacpp_<version without dots>")
    parser.add_argument("names", nargs="*", help=f"captures to run: {', '.join(CAPTURES)} (default: all)")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(CAPTURES))
    if unknown:
        parser.error(f"unknown capture {unknown[0]!r} (choose from {', '.join(CAPTURES)})")
    out = args.out or REPO / "tests" / "testdata" / "dialects" / f"llamacpp_{re.sub(r'[^0-9]', '', args.version)}"
    run(args.names or list(CAPTURES), args.version, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
