"""Running the real `otel-plugins` CLI the way an attacker or a careless user would.

Each call is a subprocess (`python -m otel_plugins ...`) with the embedded default exporter
(no OTEL_EXPORTER_OTLP_* inherited), optional resource limits and a timeout, so a hang or a
memory blow-up fails the test instead of the machine.
"""

from __future__ import annotations

import functools
import os
import pwd
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHONWARNINGS"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


def limits(*, address_space: int | None = None, open_files: int | None = None) -> Callable[[], None]:
    """A preexec_fn setting RLIMIT_AS (bytes) and RLIMIT_NOFILE for the child."""

    def apply() -> None:
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    return apply


def cli(
    *args: str,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    stdin: bytes | int | None = None,
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess:
    """`otel-plugins ARGS` to completion; stdout and stderr captured as bytes."""
    kwargs: dict = {"input": stdin} if isinstance(stdin, bytes) else {"stdin": stdin if stdin is not None else subprocess.DEVNULL}
    return subprocess.run(
        [sys.executable, "-m", "otel_plugins", *args],
        cwd=cwd, env=cli_env(env), capture_output=True, timeout=timeout, preexec_fn=preexec, **kwargs,
    )


def cli_popen(*args: str, cwd: Path | str | None = None, env: Mapping[str, str] | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "otel_plugins", *args], cwd=cwd, env=cli_env(env), **kwargs)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit code 2, and stderr is exactly one line `otel-plugins: ...` containing every needle."""
    err = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err[-3000:]
    assert result.returncode == 2, (result.returncode, err[-3000:])
    lines = err.splitlines()
    assert len(lines) == 1, err[-3000:]
    line = lines[0]
    assert line.startswith("otel-plugins: "), line
    assert len(line) < 400, line[:400]
    for needle in needles:
        assert needle in line, (needle, line)
    return line


@functools.cache
def nobody() -> tuple[int, int] | None:
    """uid and gid of `nobody` when we are root (to make permissions bite) and nobody can run
    this Python; else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return None
    ids = entry.pw_uid, entry.pw_gid
    try:
        subprocess.run([sys.executable, "-c", "import otel_plugins"], env=cli_env(), cwd="/", preexec_fn=as_user(ids),
                       capture_output=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return ids


def as_user(uid_gid: tuple[int, int]) -> Callable[[], None]:
    def drop() -> None:
        os.setgroups([])
        os.setgid(uid_gid[1])
        os.setuid(uid_gid[0])

    return drop


def open_dir() -> Path:
    """A fresh directory any user can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="otel-adv-", dir="/tmp"))
    path.chmod(0o777)
    return path


def run_child(code: str) -> Sequence[str]:
    """argv of a Python child running `code`."""
    return [sys.executable, "-c", code]
