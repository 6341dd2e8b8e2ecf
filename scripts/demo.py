"""Runs the demo: rpc-server and llama-server, each under `otel-plugins run`, sharing one
instance key (so one trace); probes every 0.2 s while loading, then one chat request
and one request that fails with 404, then SIGTERM. Telemetry lands in ./otel-out/."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from make_model import ensure_model  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def binary(name: str, env: str) -> str:
    """`$LLAMA_SERVER_BIN`/`$RPC_SERVER_BIN`, else the bed `OTEL_PLUGINS_LLAMA_VERSION` names, else 0.3.8."""
    version = os.environ.get("OTEL_PLUGINS_LLAMA_VERSION")
    path = os.environ.get(env) or str(REPO / ".testbed" / "bin" / (f"{name}-{version}" if version else name))
    if not os.path.exists(path):
        sys.exit(f"demo: {path} is missing; run scripts/build_llama.sh")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dim", type=int, default=1024, help="model width (1024 with 4 blocks is 266 MB)")
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--output-dir", default="otel-out")
    args = parser.parse_args()
    model = ensure_model(args.dim, args.blocks)
    rpc_port, server_port, health_port = free_port(), free_port(), free_port()
    wrapper = [str(REPO / ".venv" / "bin" / "otel-plugins"), "run", "--instance-key", f"demo-{os.getpid()}"]
    out = Path(args.output_dir)
    rpc = subprocess.Popen(
        [*wrapper, "--quiet", "--output-dir", str(out / "rpc-server"), "--",
         binary("rpc-server", "RPC_SERVER_BIN"), "-H", "127.0.0.1", "-p", str(rpc_port)]
    )
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", rpc_port)) == 0:
                break
        time.sleep(0.1)
    server = subprocess.Popen(
        [*wrapper, "--health-port", str(health_port), "--output-dir", str(out / "llama-server"), "--",
         binary("llama-server", "LLAMA_SERVER_BIN"), "-m", str(model), "--host", "127.0.0.1", "--port", str(server_port),
         "--log-prefix", "--log-timestamps", "-c", "256", "-np", "1", "--rpc", f"127.0.0.1:{rpc_port}", "-ngl", "99"]
    )
    base = f"http://127.0.0.1:{server_port}"
    ready = threading.Event()

    def probe() -> None:  # what an orchestrator does while the model loads
        while not ready.is_set():
            for path in ("/health", "/v1/models"):
                if get(base + path)[0] == 200:
                    ready.set()
            time.sleep(0.2)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    deadline = time.time() + 300
    while not ready.is_set() and time.time() < deadline and server.poll() is None:
        status, body = get(f"http://127.0.0.1:{health_port}/health")
        if body:
            print(f"demo: wrapper /health -> {status} {body.decode()}", file=sys.stderr)
        time.sleep(1)
    ready.wait(max(0.0, deadline - time.time()))
    chat = json.dumps({"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}).encode()
    print(f"demo: chat -> {get(base + '/v1/chat/completions', chat)[0]}", file=sys.stderr)
    print(f"demo: missing route -> {get(base + '/no-such-route')[0]}", file=sys.stderr)
    print(f"demo: wrapper /health -> {get(f'http://127.0.0.1:{health_port}/health')}", file=sys.stderr)
    server.send_signal(signal.SIGTERM)
    code = server.wait(60)
    rpc.send_signal(signal.SIGTERM)
    rpc.wait(60)
    print(f"demo: llama-server wrapper exited with {code}; telemetry in {out}/llama-server and {out}/rpc-server:", file=sys.stderr)
    for file in sorted(out.glob("*/*.jsonl")):
        print(f"  {file} ({sum(1 for _ in file.open())} export requests)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
