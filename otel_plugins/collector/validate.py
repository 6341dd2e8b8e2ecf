"""`otelcol validate` on a rendered config, when a Collector binary is at hand."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import config as cfg

# Placeholders for the required settings, so that validation checks the structure.
PLACEHOLDERS = {cfg.GATEWAY.env: "127.0.0.1:4317", cfg.TRACES.env: "127.0.0.1:4317", "AGENT_FILE_EXPORT": "/tmp/otel-plugins-agent.jsonl"}
_REPO_BIN = Path(__file__).resolve().parents[2] / ".testbed" / "bin" / "otelcol"


@dataclass(frozen=True)
class ValidationResult:
    ok: bool
    binary: str
    output: str


def find_otelcol(explicit: str | None = None) -> str | None:
    """`explicit`, $OTELCOL_BIN, the repo's .testbed/bin/otelcol, then otelcol / otelcol-contrib on PATH."""
    for candidate in (explicit, os.environ.get("OTELCOL_BIN"), str(_REPO_BIN)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("otelcol-contrib") or shutil.which("otelcol")


def validate_file(path: str | Path, binary: str, env: Mapping[str, str] | None = None, timeout: float = 60.0) -> ValidationResult:
    environ = dict(os.environ)
    for key, value in PLACEHOLDERS.items():
        environ.setdefault(key, value)
    environ.update(env or {})
    done = subprocess.run([binary, "validate", f"--config={path}"], env=environ, capture_output=True, text=True, timeout=timeout)
    return ValidationResult(done.returncode == 0, binary, (done.stdout + done.stderr).strip())


def validate_text(text: str, binary: str, env: Mapping[str, str] | None = None) -> ValidationResult:
    with tempfile.TemporaryDirectory(prefix="otel-plugins-validate-") as tmp:
        path = Path(tmp, "config.yaml")
        path.write_text(text, encoding="utf-8")
        return validate_file(path, binary, env)
