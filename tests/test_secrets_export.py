"""Secrets never leave the process: the wrapper redacts exported logs, span attributes and
events, while its local passthrough keeps what the server printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import otlp_files
from otel_plugins import names

REPO = Path(__file__).resolve().parent.parent
SECRETS = ["abc.def.ghi-123", "s3cr3tvalue", "sk-abcdefghijklmnopqrstuvwxyz012345", "pa55word", "topsecret", "argvsecret"]
PRINTS = [
    "0.00.001.000 E srv  operator(): bad request: Authorization: Bearer abc.def.ghi-123",
    "0.00.002.000 I srv  log_server_r: request: GET /v1/models?api_key=s3cr3tvalue 10.0.0.9 401",
    "0.00.003.000 W key sk-abcdefghijklmnopqrstuvwxyz012345 rejected",
    "0.00.004.000 I using proxy http://alice:pa55word@proxy.local:3128",
    "0.00.005.000 I args: --api-key topsecret",
]


def test_exports_are_redacted_and_passthrough_is_not(tmp_path):
    child = tmp_path / "child.py"
    child.write_text("import sys\n" + "".join(f"print({line!r}, flush=True)\n" for line in PRINTS))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_EXPORTER_OTLP")}
    env["PYTHONPATH"] = str(REPO)
    log = tmp_path / "server.log"
    result = subprocess.run(
        [sys.executable, "-m", "otel_plugins", "run", "--quiet", "--output-dir", str(tmp_path / "out"), "--log-file", str(log),
         "--", sys.executable, str(child), "--api-key", "argvsecret", "--api-key=argvsecret"],
        env=env, capture_output=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    passthrough = log.read_text()
    for line in PRINTS:
        assert line in passthrough
    exported = "".join((tmp_path / "out" / name).read_text() for name in ("logs.jsonl", "traces.jsonl", "metrics.jsonl"))
    for secret in SECRETS:
        assert secret not in exported, secret
    instance = next(s for s in otlp_files.spans(tmp_path / "out") if s["name"] == names.SPAN_INSTANCE)
    args = instance["attrs"]["process.command_args"]
    assert "--api-key" in args and "[REDACTED]" in args and "--api-key=[REDACTED]" in args
    events = [e for e in instance["events"] if e["name"] == "llama.log.error"]
    assert events and "[REDACTED]" in events[0]["attrs"][names.ATTR_LOG_BODY]
    bodies = [r["body"] for r in otlp_files.logs(tmp_path / "out")]
    assert sum("[REDACTED]" in json.dumps(b) for b in bodies) >= len(PRINTS)
