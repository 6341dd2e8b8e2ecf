"""A GPUStack-style launcher with no otel-plugins code in it.

It starts llama-server with its output going to a log file, waits for it to be ready
(probing /v1/models the way GPUStack does), sends one chat request, and stops it.
Run it under `opentelemetry-instrument` and the launch is instrumented:

    OTEL_TRACES_EXPORTER=otel_plugins_json_file OTEL_METRICS_EXPORTER=otel_plugins_json_file \\
    OTEL_LOGS_EXPORTER=otel_plugins_json_file OTEL_PLUGINS_OUTPUT_DIR=otel-out \\
    opentelemetry-instrument python examples/zero_code_launcher.py LLAMA_SERVER MODEL LOG_FILE
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(url: str, body: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def main(server: str, model: str, log_path: str) -> int:
    port = free_port()
    argv = [server, "-m", model, "--host", "127.0.0.1", "--port", str(port), "--log-prefix", "--log-timestamps", "-c", "256"]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while status(f"http://127.0.0.1:{port}/v1/models") != 200:
        if time.time() > deadline or process.poll() is not None:
            print("launcher: the instance never became ready", file=sys.stderr)
            return 1
        time.sleep(0.2)
    chat = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}).encode()
    print(f"launcher: chat answered {status(f'http://127.0.0.1:{port}/v1/chat/completions', chat)}")
    time.sleep(0.5)  # llama-server logs from a background thread, and aborts on SIGTERM before flushing it
    process.terminate()
    print(f"launcher: instance exited with {process.wait(30)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
