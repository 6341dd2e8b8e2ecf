"""The package as a user gets it: `pip wheel .`, that wheel installed into a fresh virtualenv
with no extras, the core commands run there, and the core tests run against the installed
copy (not this checkout). What CI runs (scripts/test.sh) runs this too.

Needs the package index (or pip's cache) for the dependencies, as `scripts/bootstrap.sh` does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VERSION = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(encoding="utf-8"), re.MULTILINE).group(1)
# The tests that need no extra: parsing, policy, tailing, the JSON files, the Collector configs.
CORE_TESTS = ["test_policy.py", "test_dialects.py", "test_tail.py", "test_otlp_json.py", "test_collector_render.py"]
# Test tooling only (the `test` extra's runners), never the package's own extras.
RUNNERS = ["pytest>=8", "hypothesis>=6.100"]


def run(argv: list[str], cwd: Path, timeout: float = 900, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"{' '.join(argv)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtualenv holding the wheel built from this checkout, with its core dependencies only."""
    root = tmp_path_factory.mktemp("packaging")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(root / "dist"), str(REPO)], cwd=root)
    (wheel,) = (root / "dist").glob("otel_plugins-*.whl")
    venv.EnvBuilder(with_pip=True, clear=True).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], cwd=root)
    return root


def venv_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHON"))}
    env["PATH"] = f"{root / 'venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def cli(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    argv = [str(root / "venv" / "bin" / "otel-plugins"), *args]
    if check:
        return run(argv, cwd=root, timeout=120, env=venv_env(root))
    return subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=120, env=venv_env(root))


def test_wheel_metadata(installed):
    """The wheel says what it is: SPDX license with the LICENSE file, authors, classifiers, extras."""
    python = installed / "venv" / "bin" / "python"
    code = (
        "import importlib.metadata as m, json; d = m.distribution('otel-plugins'); md = d.metadata;"
        "print(json.dumps({'license': md['License-Expression'], 'files': [str(f) for f in d.files if 'LICENSE' in str(f)],"
        " 'author': md['Author'], 'classifiers': md.get_all('Classifier'), 'extras': md.get_all('Provides-Extra'),"
        " 'requires': md.get_all('Requires-Dist')}))"
    )
    import json

    meta = json.loads(run([str(python), "-c", code], cwd=installed, env=venv_env(installed)).stdout)
    assert meta["license"] == "Apache-2.0"
    assert meta["files"], "LICENSE is not in the wheel"
    assert meta["author"] and meta["classifiers"]
    assert {"health", "progress", "gguf", "zero-code", "test"} <= set(meta["extras"])
    core = [r for r in meta["requires"] if "extra ==" not in r]
    for module in ("fastapi", "uvicorn", "rich", "gguf", "opentelemetry-distro"):
        assert not any(r.lower().startswith(module) for r in core), f"{module} is a core dependency"


def test_core_commands_run_without_extras(installed, tmp_path):
    """--version, classify and replay work; a feature needing an extra says which, in one line."""
    assert cli(installed, "--version").stdout.strip() == f"otel-plugins {VERSION}"
    log = tmp_path / "serve.log"
    log.write_text("0.00.007.180 I srv  log_server_r: request: GET /health 127.0.0.1 503\n"
                   "0.00.052.433 E srv  send_error: task id = 3, error: the request exceeds the available context size\n")
    classified = cli(installed, "classify", "--json", str(log)).stdout.splitlines()
    assert [json_kind(line) for line in classified] == ["probe", "error"]
    cli(installed, "replay", "--no-passthrough", "--output-dir", str(tmp_path / "replay"), str(log))
    assert "the request exceeds the available context size" in (tmp_path / "replay" / "logs.jsonl").read_text()
    for args, extra in (
        (["run", "--health-port", "0", "--", "true"], "health"),
        (["run", "--progress", "always", "--", "true"], "progress"),
        (["estimate", "--model", str(log), "--bandwidth", "1Gbit/s"], "gguf"),
    ):
        done = cli(installed, *args, check=False)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and f"pip install 'otel-plugins[{extra}]'" in done.stderr, done.stderr


def json_kind(line: str) -> str:
    import json

    return json.loads(line)["kind"]


def test_tail_runs_without_extras(installed, tmp_path):
    """`tail` follows a file and exports it, then stops on SIGTERM (no extra involved)."""
    import signal
    import time

    log = tmp_path / "serve.log"
    log.write_text("0.00.052.433 E srv  send_error: task id = 3, error: too long\n")
    proc = subprocess.Popen([str(installed / "venv" / "bin" / "otel-plugins"), "tail", "--from-start", "--poll-interval", "0.05",
                             "--output-dir", str(tmp_path / "tail"), str(log)], cwd=installed, env=venv_env(installed),
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not re.search(r"send_error", _read(tmp_path / "tail" / "logs.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "send_error" in _read(tmp_path / "tail" / "logs.jsonl")


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_core_tests_pass_against_the_installed_wheel(installed):
    """The core tests, run by the fresh virtualenv's pytest from outside the checkout, import the installed package."""
    python = installed / "venv" / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", *RUNNERS], cwd=installed)
    where = run([str(python), "-c", "import otel_plugins, os; print(os.path.dirname(otel_plugins.__path__[0]))"],
                cwd=installed, env=venv_env(installed)).stdout.strip()  # fmt: skip
    assert where.startswith(str(installed / "venv")), where
    env = venv_env(installed)
    env["OTEL_PLUGINS_CORPUS"] = os.environ.get("OTEL_PLUGINS_CORPUS", "")
    done = subprocess.run(
        [str(installed / "venv" / "bin" / "pytest"), "-q", "-x", "-p", "no:cacheprovider", "--rootdir", str(REPO / "tests"),
         *(str(REPO / "tests" / name) for name in CORE_TESTS)],
        cwd=installed, capture_output=True, text=True, timeout=1800, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", done.stdout), done.stdout[-500:]


def test_build_backend_can_build_the_license_expression():
    """`license = "Apache-2.0"` (an SPDX expression, PEP 639) needs setuptools 77 or later."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    bound = re.search(r'"setuptools>=(\d+)', text)
    assert bound and int(bound.group(1)) >= 77
    assert re.search(r'^license = "Apache-2.0"$', text, re.MULTILINE) and (REPO / "LICENSE").read_text().lstrip().startswith("Apache License")
