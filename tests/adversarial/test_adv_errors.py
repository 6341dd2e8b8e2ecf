"""Issue 13, item 9: every user mistake is one line `otel-plugins: <input>: <what is wrong>`
and exit code 2, never a traceback; where `run` refuses, the child is not started."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from advkit import as_user, assert_one_line_error, cli, nobody, open_dir, run_child

MARKER_CHILD = "import pathlib; pathlib.Path('started.txt').write_text('yes')"


def test_classify_a_directory(tmp_path):
    (tmp_path / "adir").mkdir()
    assert_one_line_error(cli("classify", "adir", cwd=tmp_path), "adir", "directory")


def test_replay_a_directory(tmp_path):
    (tmp_path / "adir").mkdir()
    assert_one_line_error(cli("replay", "--output-dir", "o", "adir", cwd=tmp_path), "adir", "directory")


def test_classify_a_missing_file(tmp_path):
    assert_one_line_error(cli("classify", "nothere.log", cwd=tmp_path), "nothere.log", "No such file")


def test_classify_a_file_that_fails_to_read(tmp_path):
    """Opening works, reading fails (EIO): still one line naming the file."""
    assert_one_line_error(cli("classify", "/proc/self/mem", cwd=tmp_path), "/proc/self/mem")


@pytest.mark.parametrize("command", ["classify", "replay"])
def test_a_file_that_cannot_be_opened(tmp_path, command):
    """A UNIX socket's path: open() fails (ENXIO) even for root."""
    import socket

    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "sock.log"))
        result = cli(command, *(["--output-dir", "o"] if command == "replay" else []), "sock.log", cwd=tmp_path)
    assert_one_line_error(result, "sock.log")


NOBODY = "needs root and a Python that user nobody can run, to make file permissions bite"


@pytest.mark.skipif(nobody() is None, reason=NOBODY)
@pytest.mark.parametrize("command", ["classify", "replay"])
def test_an_unreadable_file(command):
    where = open_dir()
    try:
        secret = where / "private.log"
        secret.write_text("GET /health 200\n")
        secret.chmod(0o000)
        result = cli(command, *(["--output-dir", str(where / "o")] if command == "replay" else []), str(secret),
                     cwd=where, preexec=as_user(nobody()))
        assert_one_line_error(result, "private.log", "ermission denied")
    finally:
        shutil.rmtree(where)


def test_replay_output_dir_naming_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "in.log").write_text("hello\n")
    assert_one_line_error(cli("replay", "--output-dir", "afile", "in.log", cwd=tmp_path), "--output-dir", "afile")


def test_run_output_dir_naming_a_file_does_not_start_the_child(tmp_path):
    (tmp_path / "afile").write_text("x")
    result = cli("run", "--quiet", "--output-dir", "afile", "--", *run_child(MARKER_CHILD), cwd=tmp_path)
    assert_one_line_error(result, "--output-dir", "afile", "not started")
    assert not (tmp_path / "started.txt").exists()


def test_run_output_dir_inside_a_file_does_not_start_the_child(tmp_path):
    (tmp_path / "afile").write_text("x")
    result = cli("run", "--quiet", "--output-dir", "afile/sub", "--", *run_child(MARKER_CHILD), cwd=tmp_path)
    assert_one_line_error(result, "--output-dir", "afile/sub", "not started")
    assert not (tmp_path / "started.txt").exists()


@pytest.mark.skipif(nobody() is None, reason=NOBODY)
def test_run_output_dir_unwritable_does_not_start_the_child():
    where = open_dir()
    try:
        locked = where / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        result = cli("run", "--quiet", "--output-dir", str(locked), "--", *run_child(MARKER_CHILD),
                     cwd=where, preexec=as_user(nobody()))
        assert_one_line_error(result, "--output-dir", "locked", "not started")
        assert not (where / "started.txt").exists()
    finally:
        shutil.rmtree(where)


def test_run_output_dir_on_a_read_only_filesystem_does_not_start_the_child(tmp_path):
    """Root can write anywhere but not into /proc."""
    result = cli("run", "--quiet", "--output-dir", "/proc/otel-out", "--", *run_child(MARKER_CHILD), cwd=tmp_path)
    assert_one_line_error(result, "--output-dir", "/proc/otel-out", "not started")
    assert not (tmp_path / "started.txt").exists()


def test_run_log_file_naming_a_directory_does_not_start_the_child(tmp_path):
    (tmp_path / "adir").mkdir()
    result = cli("run", "--quiet", "--output-dir", "o", "--log-file", "adir", "--", *run_child(MARKER_CHILD), cwd=tmp_path)
    assert_one_line_error(result, "--log-file", "adir", "not started")
    assert not (tmp_path / "started.txt").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "1e-320", "0", "-3", "abc"])
def test_run_load_deadline_not_a_sane_number(tmp_path, value):
    result = cli("run", "--quiet", "--output-dir", "o", "--load-deadline", value, "--", *run_child(MARKER_CHILD), cwd=tmp_path)
    assert_one_line_error(result, "--load-deadline", value)
    assert not (tmp_path / "started.txt").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1"])
def test_tail_poll_interval_not_a_sane_number(tmp_path, value):
    assert_one_line_error(cli("tail", "--poll-interval", value, str(tmp_path / "*.log"), cwd=tmp_path), "--poll-interval")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--size", "1e308TiB", "--bandwidth", "1Gbit/s"], "--size"),
        (["--size", "1e400MiB", "--bandwidth", "1Gbit/s"], "--size"),
        (["--size", "1GiB", "--bandwidth", "1e-320bit/s"], "--bandwidth"),
        (["--size", "1GiB", "--bandwidth", "1e308TB/s"], "--bandwidth"),
        (["--size", "1GiB", "--bandwidth", "1Gbit/s", "--redundancy", "nan"], "--redundancy"),
        (["--size", "1GiB", "--bandwidth", "1Gbit/s", "--probe-period", "0"], "--probe-period"),
        (["--size", "1GiB", "--bandwidth", "1Gbit/s", "--rpc", "a:1,b:2", "--tensor-split", "1e400,1"], "--tensor-split"),
    ],
)
def test_estimate_numbers_out_of_range(tmp_path, args, needle):
    assert_one_line_error(cli("estimate", *args, cwd=tmp_path), needle)


def test_estimate_tensor_split_of_huge_shares_is_the_right_answer(tmp_path):
    """1e308,1e308 is an even split: each endpoint carries half (it was 0 % each, exit 0)."""
    result = cli("estimate", "--size", "1GiB", "--bandwidth", "1Gbit/s", "--rpc", "a:1,b:2",
                 "--tensor-split", "1e308,1e308", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    links = json.loads(result.stdout)["links"]
    assert [link["share"] for link in links] == [0.5, 0.5]
    assert all(link["bytes"] == 2**29 for link in links)


def test_policy_file_not_utf8(tmp_path):
    (tmp_path / "bad.yaml").write_bytes(b"probes:\n  methods: [\xff\xfe]\n")
    (tmp_path / "in.log").write_text("hello\n")
    assert_one_line_error(cli("classify", "--policy", "bad.yaml", "in.log", cwd=tmp_path), "bad.yaml", "UTF-8")


def test_policy_file_is_a_directory(tmp_path):
    (tmp_path / "adir").mkdir()
    (tmp_path / "in.log").write_text("hello\n")
    assert_one_line_error(cli("classify", "--policy", "adir", "in.log", cwd=tmp_path), "adir")


def _checkpoint(tmp_path, **overrides) -> None:
    entry = {"path": str(tmp_path / "a.log"), "dev": 1, "ino": 2, "fingerprint": {"size": 0, "sha256": "0" * 64},
             "offset": 0, "done": False}
    (tmp_path / "cp.json").write_text(json.dumps({"version": 1, "files": [entry]}).replace('"offset": 0', overrides["raw"]))


@pytest.mark.parametrize("raw", ['"offset": 1e400', '"offset": Infinity', '"offset": NaN', '"offset": -5',
                                 '"offset": 99999999999999999999999', '"offset": "12"', '"offset": true'])
def test_checkpoint_with_a_bad_offset(tmp_path, raw):
    _checkpoint(tmp_path, raw=raw)
    before = (tmp_path / "cp.json").read_bytes()
    result = cli("tail", "--checkpoint", "cp.json", "--output-dir", "o", str(tmp_path / "*.log"), cwd=tmp_path, timeout=30)
    assert_one_line_error(result, "cp.json", "offset")
    assert (tmp_path / "cp.json").read_bytes() == before  # never saved back


def test_argparse_errors_are_one_line_too(tmp_path):
    assert_one_line_error(cli("run", "--health-port", "abc", "--", "true", cwd=tmp_path), "--health-port", "abc")
    assert_one_line_error(cli("nosuchcommand", cwd=tmp_path), "nosuchcommand")
    assert_one_line_error(cli("estimate", "--size", "1GiB", cwd=tmp_path), "--bandwidth")


def test_run_health_port_in_use_does_not_start_the_child(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = str(busy.getsockname()[1])
        result = cli("run", "--quiet", "--output-dir", "o", "--health-port", port, "--", *run_child(MARKER_CHILD), cwd=tmp_path)
    assert_one_line_error(result, "--health-port", port, "not started")
    assert not (tmp_path / "started.txt").exists()


def test_run_health_host_not_an_address(tmp_path):
    result = cli("run", "--quiet", "--output-dir", "o", "--health-port", "0", "--health-host", "999.1.1.1", "--",
                 *run_child(MARKER_CHILD), cwd=tmp_path)
    assert_one_line_error(result, "--health-host", "999.1.1.1", "not started")
    assert not (tmp_path / "started.txt").exists()


def test_a_bug_still_prints_its_traceback(tmp_path):
    """The boundary catches user mistakes only: an unexpected exception keeps its traceback."""
    code = (
        "import sys, otel_plugins.cli as c, otel_plugins.commands.classify as k\n"
        "def boom(args): raise RuntimeError('a bug')\n"
        "k.run = boom\n"
        "sys.exit(c.main(['classify', '-']))\n"
    )
    import subprocess

    from advkit import cli_env

    result = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert b"Traceback" in result.stderr and b"RuntimeError: a bug" in result.stderr
