"""A GPUStack-style launcher that uses the otel-plugins library directly.

    python examples/launcher_library.py LLAMA_SERVER MODEL [RPC_HOST:PORT]

It starts the instance instrumented, shows its live phase and load progress (what the
wrapper's /health answers), and stops it once it is ready. Telemetry goes where the
OTEL_* variables say, or to ./otel-out/ as OTLP JSON.
"""

from __future__ import annotations

import socket
import sys
import time

from otel_plugins.launch import instrumented_popen
from otel_plugins.record import Phase


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(server: str, model: str, rpc: str | None = None) -> int:
    argv = [server, "-m", model, "--host", "127.0.0.1", "--port", str(free_port()), "--log-prefix", "--log-timestamps", "-c", "256"]
    if rpc:
        argv += ["--rpc", rpc, "-ngl", "99"]
    with instrumented_popen(argv, health_port=0, output_dir="otel-out") as instance:
        print(f"launcher: /health at http://127.0.0.1:{instance.health_port}/health", file=sys.stderr)
        while (snapshot := instance.snapshot()).phase in (Phase.STARTING, Phase.LOADING):
            progress = "?" if snapshot.progress is None else f"{snapshot.progress:.0%}"
            print(f"launcher: {snapshot.phase.value} {progress} eta={snapshot.eta_s}", file=sys.stderr)
            time.sleep(0.5)
        print(f"launcher: phase {instance.snapshot().phase.value}", file=sys.stderr)
        instance.terminate()
        code = instance.wait(30)
    print(f"launcher: instance exited with {code}", file=sys.stderr)
    return 0 if instance.snapshot().phase is Phase.EXITED else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
