"""The tailer follows real files through rotation, truncation, deletion and restarts; the CLI end to end."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_plugins.sources.checkpoint import Checkpoint, CheckpointError
from otel_plugins.sources.tail import TailedFile, Tailer

sys.path.insert(0, str(Path(__file__).parent))
import otlp_files

ROOT = Path(__file__).resolve().parents[1]


class Collected:
    """An on_line handler that keeps every line with the path of its stream."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.paths: list[str] = []

    def __call__(self, raw: bytes, file: TailedFile) -> None:
        self.lines.append(raw)
        self.paths.append(file.path)


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.002)


class NumberedWriter(threading.Thread):
    """Appends `line NNNNNN ...` with O_APPEND, one write() per line, as a server's logger does."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.count = path, 0
        self.lock = threading.Lock()  # held by a rotation that needs the writer paused
        self.stopping = threading.Event()
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def run(self) -> None:
        while not self.stopping.is_set():
            with self.lock:
                self.count += 1
                os.write(self.fd, b"line %06d %s\n" % (self.count, b"x" * (self.count % 97)))
            time.sleep(0.0001)

    def reopen(self) -> None:
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def rotate_rename(path: Path, writer: NumberedWriter, k: int) -> None:
    os.rename(path, f"{path}.{k}")
    time.sleep(0.002)  # the server keeps writing to the renamed file until it reopens (logrotate create + HUP)
    with writer.lock:
        writer.reopen()


def rotate_copytruncate(path: Path, writer: NumberedWriter, k: int) -> None:
    # logrotate's copytruncate loses whatever is written between its copy and its truncate,
    # for any reader; pausing the writer over both is what makes an exact count possible.
    with writer.lock:
        shutil.copyfile(path, f"{path}.{k}")
        os.truncate(path, 0)


class Following:
    """A Tailer polling on its own thread, restartable from its checkpoint file, with totals over restarts."""

    def __init__(self, pattern: str, state: Path, on_line) -> None:
        self.pattern, self.state, self.on_line = pattern, state, on_line
        self.totals: Counter = Counter()
        self.tailer: Tailer | None = None

    def start(self) -> None:
        self.tailer = Tailer([self.pattern], self.on_line, Checkpoint(self.state), poll_interval=0.002, orphan_grace_s=0.05)
        self.tailer.poll_once()  # the first run starts at the end: of the empty file, before the writer starts
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.tailer.run, args=(self.stop_event,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.tailer is not None:
            self.stop_event.set()
            self.thread.join(10)
            self.tailer.close()
            self.totals.update(vars(self.tailer.stats))
            self.tailer = None


@pytest.mark.parametrize("rotate", [rotate_rename, rotate_copytruncate], ids=["rename", "copytruncate"])
def test_every_line_exactly_once_through_100_rotations_and_10_restarts(tmp_path, rotate):
    """Numbered lines written throughout 100 rotations and 10 tailer restarts arrive once each, in order."""
    random.seed(7)
    log = tmp_path / "serve" / "7.log"
    log.parent.mkdir()
    log.touch()
    numbers: list[int] = []
    following = Following(str(tmp_path / "serve" / "*.log"), tmp_path / "tail.json", lambda raw, _f: numbers.append(int(raw.split()[1])))
    following.start()
    writer = NumberedWriter(log)
    writer.start()
    try:
        rotated_at = 0
        for k in range(1, 101):
            # Rotations come far apart in real life: let the tailer see each generation first.
            wait_until(lambda mark=rotated_at: numbers and numbers[-1] > mark + 5)
            time.sleep(random.uniform(0, 0.01))
            if k % 10 == 0:  # a restart; every other one with the rotation happening while stopped
                following.stop()
                if k % 20 == 0:
                    rotate(log, writer, k)
                time.sleep(0.01)
                following.start()
                if k % 20 != 0:
                    rotate(log, writer, k)
            else:
                rotate(log, writer, k)
            rotated_at = writer.count
        writer.stopping.set()
        writer.join()
        wait_until(lambda: len(numbers) >= writer.count)
    finally:
        writer.stopping.set()
        following.stop()
    duplicates = [n for n, c in Counter(numbers).items() if c > 1]
    missing = sorted(set(range(1, writer.count + 1)) - set(numbers))
    assert not duplicates and not missing, (duplicates[:10], missing[:10])
    assert numbers == list(range(1, writer.count + 1))
    assert writer.count > 1000 and following.totals["lost_files"] == 0
    # Live rotations are seen as such; the 5 done while stopped are found from the checkpoint.
    seen = following.totals["truncations" if rotate is rotate_copytruncate else "rotations"]
    assert seen >= 95, following.totals


def test_deleted_file_is_dropped_then_followed_again_when_recreated(tmp_path):
    """A deleted file is read to its end and dropped; the file created again at its path is read from its start."""
    log, seen = tmp_path / "a.log", Collected()
    log.write_bytes(b"one\n")
    tailer = Tailer([str(tmp_path / "*.log")], seen, start_at="start", orphan_grace_s=0)
    tailer.poll_once()
    with open(log, "ab") as out:
        out.write(b"two\n")
    log.unlink()
    tailer.poll_once()
    tailer.poll_once()
    assert seen.lines == [b"one\n", b"two\n"]
    assert tailer.stats.rotations == 1 and not tailer._files
    log.write_bytes(b"three\n")
    tailer.poll_once()
    assert seen.lines == [b"one\n", b"two\n", b"three\n"]
    tailer.close()


def test_files_appearing_later_are_followed_from_their_start(tmp_path):
    """A file that appears after the first poll matches the glob and is read whole, even with start_at='end'."""
    (tmp_path / "rpc_server").mkdir()
    old = tmp_path / "rpc_server" / "gpu-0.log"
    old.write_bytes(b"before we started\n")
    seen = Collected()
    tailer = Tailer([str(tmp_path / "**" / "*.log")], seen)
    tailer.poll_once()
    assert seen.lines == []
    (tmp_path / "serve").mkdir()
    (tmp_path / "serve" / "3.log").write_bytes(b"first\nsecond\n")
    with open(old, "ab") as out:
        out.write(b"after\n")
    tailer.poll_once()
    assert sorted(zip(seen.paths, seen.lines)) == [
        (str(old), b"after\n"),
        (str(tmp_path / "serve" / "3.log"), b"first\n"),
        (str(tmp_path / "serve" / "3.log"), b"second\n"),
    ]
    tailer.close()


def test_partial_line_is_held_until_completed_even_across_a_restart(tmp_path):
    """A line without its newline is delivered once, whole, when completed, even after a restart in between."""
    log, state, seen = tmp_path / "a.log", tmp_path / "state.json", Collected()
    log.write_bytes(b"whole\nhal")
    tailer = Tailer([str(log)], seen, Checkpoint(state), start_at="start")
    tailer.poll_once()
    with open(log, "ab") as out:
        out.write(b"f of it")
    tailer.poll_once()
    assert seen.lines == [b"whole\n"]
    tailer.close()
    assert json.loads(state.read_text())["files"][0]["offset"] == len(b"whole\n")
    tailer = Tailer([str(log)], seen, Checkpoint(state))
    tailer.poll_once()
    with open(log, "ab") as out:
        out.write(b"\nnext\n")
    tailer.poll_once()
    assert seen.lines == [b"whole\n", b"half of it\n", b"next\n"]
    tailer.close()


def test_start_at_end_skips_old_lines_but_not_the_line_being_written(tmp_path):
    """Starting at the end skips complete lines and keeps the start of a line still being written."""
    log, seen = tmp_path / "a.log", Collected()
    log.write_bytes(b"old 1\nold 2\nbeing wri")
    tailer = Tailer([str(log)], seen)
    tailer.poll_once()
    with open(log, "ab") as out:
        out.write(b"tten\n")
    tailer.poll_once()
    assert seen.lines == [b"being written\n"]


def test_non_utf8_and_nul_bytes_reach_the_handler_byte_identical(tmp_path):
    """Lines with invalid UTF-8, NUL, CR and form feeds are split on newlines only and arrive unchanged."""
    lines = [b"\xff\xfe bad utf-8 \xc3\x28\n", b"nul \x00 inside\x00\n", b"crlf\r\n", b"ff \x0c vt \x0b fs \x1c\n", b"\n"]
    log, seen = tmp_path / "bin.log", Collected()
    log.write_bytes(b"".join(lines))
    tailer = Tailer([str(log)], seen, start_at="start")
    tailer.poll_once()
    assert seen.lines == lines


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=12))
def test_any_writes_split_anyhow_arrive_as_the_same_lines(pieces):
    """Whatever bytes are appended in whatever pieces, polled between pieces, the lines arrive as written."""
    with tempfile.TemporaryDirectory() as directory:
        log, seen = Path(directory) / "a.log", Collected()
        log.touch()
        tailer = Tailer([str(log)], seen, start_at="start", max_line_bytes=64)
        for piece in pieces:
            with open(log, "ab") as out:
                out.write(piece)
            tailer.poll_once()
        tailer.close()
        written = b"".join(pieces)
        assert b"".join(seen.lines) == written[: len(b"".join(seen.lines))]
        assert all(line.endswith(b"\n") or len(line) >= 64 for line in seen.lines)  # or cut: too long
        assert b"\n" not in written[len(b"".join(seen.lines)) :]


def test_handler_errors_are_counted_and_the_line_counts_as_delivered(tmp_path):
    """A handler that raises costs a counted error, not the tailer, and the next lines still arrive."""
    log = tmp_path / "a.log"
    log.write_bytes(b"boom\nfine\n")
    seen = Collected()

    def handler(raw: bytes, file: TailedFile) -> None:
        if raw.startswith(b"boom"):
            raise RuntimeError("handler bug")
        seen(raw, file)

    tailer = Tailer([str(log)], handler, start_at="start")
    assert tailer.poll_once() == 2
    assert tailer.stats.handler_errors == 1 and seen.lines == [b"fine\n"]


def test_rotation_while_stopped_is_found_by_inode_and_copy(tmp_path):
    """Lines a stopped tailer missed are read from the renamed file, or from the copy before a truncation."""
    log, state, seen = tmp_path / "a.log", tmp_path / "state.json", Collected()
    log.write_bytes(b"1\n")
    tailer = Tailer([str(log)], seen, Checkpoint(state), start_at="start")
    tailer.poll_once()
    tailer.close()
    with open(log, "ab") as out:
        out.write(b"2\n")
    os.rename(log, tmp_path / "a.log.1")  # renamed out of the glob while stopped
    log.write_bytes(b"3\n")
    tailer = Tailer([str(log)], seen, Checkpoint(state))
    tailer.poll_once()
    tailer.close()
    with open(log, "ab") as out:
        out.write(b"4\n")
    shutil.copyfile(log, tmp_path / "a.log.2")  # copytruncate while stopped
    log.write_bytes(b"5\n")
    tailer = Tailer([str(log)], seen, Checkpoint(state), orphan_grace_s=0)
    tailer.poll_once()
    tailer.poll_once()
    assert seen.lines == [b"1\n", b"2\n", b"3\n", b"4\n", b"5\n"]
    assert set(seen.paths) == {str(log)}
    tailer.close()


def test_a_glob_that_matches_rotated_files_reads_nothing_twice(tmp_path):
    """With a glob that also matches x.log.1, renamed and copied files are recognised, not read again."""
    log, seen = tmp_path / "a.log", Collected()
    tailer = Tailer([str(tmp_path / "a.log*")], seen, start_at="start", orphan_grace_s=0)
    log.write_bytes(b"1\n2\n")
    tailer.poll_once()
    os.rename(log, tmp_path / "a.log.1")
    log.write_bytes(b"3\n")
    for _ in range(3):
        tailer.poll_once()
    with open(log, "ab") as out:
        out.write(b"4\n")
    shutil.copyfile(log, tmp_path / "a.log.2")
    tailer.poll_once()  # sees the copy before the truncation
    os.truncate(log, 0)
    with open(log, "ab") as out:
        out.write(b"5\n")
    for _ in range(3):
        tailer.poll_once()
    assert seen.lines == [b"1\n", b"2\n", b"3\n", b"4\n", b"5\n"]


def test_idle_files_are_closed_and_reopened_when_they_grow(tmp_path):
    """An idle file's descriptor is closed; growth, or a rename while parked, is still read."""
    log, seen = tmp_path / "a.log", Collected()
    log.write_bytes(b"1\n")
    tailer = Tailer([str(log)], seen, start_at="start", idle_close_s=0, orphan_grace_s=0)
    tailer.poll_once()
    assert all(f.fd is None for f in tailer._files.values())
    with open(log, "ab") as out:
        out.write(b"2\n")
    tailer.poll_once()
    with open(log, "ab") as out:
        out.write(b"3\n")
    os.rename(log, tmp_path / "a.log.1")
    tailer.poll_once()
    assert seen.lines == [b"1\n", b"2\n", b"3\n"]


def test_checkpoint_is_replaced_atomically_and_a_broken_one_is_refused(tmp_path):
    """The checkpoint is valid JSON, never tailed itself, with no temporary file left; garbage or a directory is refused."""
    log, state, seen = tmp_path / "a.log", tmp_path / "state.json", Collected()
    log.write_bytes(b"x\n")
    tailer = Tailer([str(tmp_path / "*")], seen, Checkpoint(state), start_at="start")
    for _ in range(3):
        tailer.poll_once()
    tailer.close()
    assert seen.lines == [b"x\n"]
    entry = json.loads(state.read_text())["files"][0]
    assert entry["offset"] == 2 and entry["fingerprint"]["size"] == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    state.write_text("{not json")
    with pytest.raises(CheckpointError):
        Checkpoint(state)
    with pytest.raises(CheckpointError):
        Checkpoint(tmp_path)


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "otel_plugins", "tail", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs,
    )


def test_cli_follows_a_file_into_otlp_json_and_stops_cleanly_on_sigterm(tmp_path):
    """`tail --from-start` exports a probe at DEBUG and a client error at WARN, passes lines through, exits 0 on SIGTERM."""
    (tmp_path / "serve").mkdir()
    log, out, state = tmp_path / "serve" / "12.log", tmp_path / "otel", tmp_path / "state.json"
    log.write_bytes(
        b"0.00.007.180 I srv  log_server_r: request: GET /health 127.0.0.1 503\n"
        b"0.00.008.001 I srv  log_server_r: request: POST /v1/chat/completions 10.0.0.7 404\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    pattern = str(tmp_path / "serve" / "*.log")
    proc = _cli("--from-start", "--passthrough", "--checkpoint", str(state), "--output-dir", str(out), pattern, env=env)
    wait_until(lambda: state.exists() and json.loads(state.read_text())["files"], timeout=20)
    proc.send_signal(signal.SIGTERM)
    stdout, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    assert stdout.splitlines() == [  # the passthrough: the probe rewritten to debug, the rest as written
        b"0.00.007.180 D srv  log_server_r: request: GET /health 127.0.0.1 503",
        b"0.00.008.001 I srv  log_server_r: request: POST /v1/chat/completions 10.0.0.7 404",
    ]
    records = otlp_files.logs(out)
    severity = {r["attrs"].get("url.path"): r["severity"] for r in records}
    assert severity == {"/health": "DEBUG", "/v1/chat/completions": "WARN"}
    assert {r["attrs"]["log.file.path"] for r in records} == {str(log)}
    assert {r["attrs"]["log.file.name"] for r in records} == {"12.log"}
    probes = otlp_files.metric_points(out)["llama.probe.responses"]
    assert [(p["attrs"]["url.path"], p["attrs"]["llama.policy.verdict"], p["value"]) for p in probes] == [("/health", "downgrade", 1)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/etc/hostname/*.log"], "is not a directory"),
        ([""], "bad glob"),
        (["--checkpoint", "{state}", "{dir}/*.log"], "not a checkpoint file"),
        (["--poll-interval", "0", "x.log"], "--poll-interval"),
    ],
)
def test_cli_usage_errors_are_one_line_and_exit_2(tmp_path, args, message):
    """A glob that cannot match, an unreadable checkpoint or a bad interval: one line on stderr, exit code 2."""
    state = tmp_path / "state.json"
    state.write_text("garbage")
    if args[0] == "/etc/hostname/*.log" and not Path("/etc/hostname").is_file():
        pytest.skip("needs /etc/hostname to be a file")
    proc = _cli(*[a.format(state=state, dir=tmp_path) for a in args])
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert len(err.decode().strip().splitlines()) == 1 and message in err.decode(), err.decode()
