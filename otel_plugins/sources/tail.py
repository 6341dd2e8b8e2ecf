"""Following log files by polling: new files, rotation, truncation, partial lines, checkpoints.

Delivery: `on_line` gets each complete line (ending included, bytes as written) in file
order; a line longer than `max_line_bytes` comes in pieces (`stats.cut_lines`). The
checkpoint holds, per file, only bytes of lines `on_line` returned from and, with
`before_save` (the CLI flushes the log export there), whose records were exported; it is
written after every poll that delivered lines and by `run()`/`close()`, and not moved while
`before_save` says no. After a clean stop a Tailer on the same checkpoint delivers every
line exactly once; after a crash, lines delivered since the last write (one poll's worth)
come again: at-least-once. A line `on_line` raised on counts as delivered
(`stats.handler_errors`). `on_line` runs on the polling thread and must not block. A last
line without `\n` is held, out of the checkpoint, so a restart reads it whole; it is
delivered as it is only once its file is finished (truncated, or gone from its path and
idle `orphan_grace_s`) or too long.

Files are followed by inode. A renamed file is read to its end, before the file that took
its path. A truncated one (smaller than the read position, or first bytes changed) gets
what we had not read from its copy (sibling `x.log.1` with its fingerprint), then restarts
at 0. Inherent losses: lines written between logrotate's copy and truncate; a generation
rotated away twice within one poll, or while stopped. A deleted file is read to its end;
one appearing later, or unknown to an existing checkpoint, is read from its start:
`start_at` counts on a first run only.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import checkpoint as files
from .checkpoint import Checkpoint, Entry, Fingerprint, Key, TailedFile
from .replay import MAX_LINE_BYTES

__all__ = ["TailStats", "TailedFile", "Tailer"]

_log = logging.getLogger(__name__)
_READ_BUDGET = 4 << 20  # bytes per file per poll: one busy file cannot starve the others, checkpoints stay frequent


@dataclass
class TailStats:
    lines: int = 0
    handler_errors: int = 0
    truncations: int = 0
    rotations: int = 0  # files gone from their path: renamed or deleted
    lost_files: int = 0  # checkpointed files not found again
    io_errors: int = 0
    checkpoint_errors: int = 0
    cut_lines: int = 0  # pieces of lines longer than max_line_bytes


class Tailer:
    """Follows the files matching `globs`, handing each complete line to `on_line`."""

    def __init__(
        self,
        globs: Iterable[str],
        on_line: Callable[[bytes, TailedFile], None],
        checkpoint: Checkpoint | None = None,
        poll_interval: float = 0.2,
        start_at: str = "end",
        *,
        orphan_grace_s: float = 1.0,
        idle_close_s: float = 60.0,
        max_line_bytes: int = MAX_LINE_BYTES,
        clock: Callable[[], float] = time.monotonic,
        before_save: Callable[[], bool] | None = None,
    ) -> None:
        self.globs = list(globs)
        if not self.globs or not all(g and "\0" not in g for g in self.globs):
            raise ValueError("globs: give at least one non-empty pattern")
        if poll_interval <= 0 or start_at not in ("start", "end"):
            raise ValueError("poll_interval must be greater than 0, start_at 'start' or 'end'")
        self.on_line, self.checkpoint, self.poll_interval, self.start_at = on_line, checkpoint, poll_interval, start_at
        self.orphan_grace_s, self.idle_close_s, self.clock = orphan_grace_s, idle_close_s, clock
        self.max_line_bytes = max_line_bytes
        # Whether everything delivered so far is safely downstream (exported): the checkpoint
        # only moves when it is, as the Collector's storage extension moves after export.
        self.before_save = before_save
        self.stats = TailStats()
        self._files: dict[Key, TailedFile] = {}  # in the order found: old inodes before their successors
        self._copies: set[Key] = set()  # copies of a followed file, read from only at its truncation
        self._known = files.KnownFiles(checkpoint.entries if checkpoint is not None else ())
        self._resuming = checkpoint is not None and checkpoint.existed
        self._own_path = os.path.abspath(checkpoint.path) if checkpoint is not None else None
        self._first, self._closed, self._dirty = True, False, False

    def poll_once(self) -> int:
        """Find files, read what they gained, checkpoint; returns the lines delivered."""
        if self._closed:
            return 0
        now, before = self.clock(), self.stats.lines
        seen: dict[str, os.stat_result] = {}
        for pattern in self.globs:
            for path in sorted(glob.glob(pattern, recursive=True)):
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode) and os.path.abspath(path) != self._own_path:  # not our own checkpoint
                    seen[path] = st
        at_path = {path: (st.st_dev, st.st_ino) for path, st in seen.items()}
        self._copies &= set(at_path.values())
        for f in list(self._files.values()):
            if not f.orphan and at_path.get(f.path) != f.key:
                self._orphan(f, now)
        for path, key in at_path.items():
            if key not in self._files and key not in self._copies:
                self._adopt(path, at_path, now)
        if self._first:  # checkpointed files no glob found were renamed or copied while we were stopped
            for entry in self._known.take_unfinished():
                self._track_located(entry, now)
        for f in sorted(self._files.values(), key=lambda f: not f.orphan):  # stable: old inodes first
            self._read(f, seen.get(f.path), now)
        self._first = False
        if self.stats.lines != before or self._dirty:
            self.save()
        return self.stats.lines - before

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set, then write the checkpoint; `close()` stays the caller's."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - a failed poll must not end the tailing: the next one retries
                self.stats.io_errors += 1
                _log.exception("tail poll failed")
            stop.wait(self.poll_interval)
        self.save()

    def save(self) -> None:
        if self.checkpoint is None:
            return
        if self.before_save is not None and not self.before_save():
            self._dirty = True  # try again after the next poll, delivered lines or not
            return
        try:
            self.checkpoint.save([f.entry() for f in self._files.values()] + list(self._known.finished.values()))
            self._dirty = False
        except OSError as exc:
            self.stats.checkpoint_errors += 1
            if _power_of_two(self.stats.checkpoint_errors):
                _log.warning("checkpoint %s not written: %s", self.checkpoint.path, exc)

    def close(self) -> None:
        """Write the final checkpoint and close every file; safe to call twice."""
        if not self._closed:
            self.save()
            self._closed = True
            for f in self._files.values():
                f.close()

    def _adopt(self, path: str, at_path: dict[str, Key], now: float) -> None:
        if (opened := files.open_file(path)) is None:
            self.stats.io_errors += 1
            if _power_of_two(self.stats.io_errors):
                _log.warning("%s: cannot be opened", path)
            return
        fd, st, head = opened
        key = (st.st_dev, st.st_ino)
        if key in self._files:  # the path was replaced between glob and open
            return os.close(fd)
        resumed = self._known.claim(path, key, head, st.st_size)
        if resumed is None and any(f.is_copy(path, head) for f in self._files.values()):
            self._copies.add(key)  # a copy being made: its original delivers these lines
            return os.close(fd)
        if resumed is not None:
            stream, offset = resumed.path, resumed.offset
        else:
            fresh = self._first and not self._resuming and self.start_at == "end"
            stream, offset = path, files.start_of_last_line(fd, st.st_size) if fresh else 0
        self._track(stream, opened, offset, at_path.get(stream) != key, now)

    def _track(self, path: str, opened: tuple[int, os.stat_result, bytes], offset: int, orphan: bool, now: float) -> None:
        fd, st, head = opened
        f = TailedFile(path, st.st_dev, st.st_ino, offset, Fingerprint.of(head), fd, orphan=orphan, changed_at=now)
        self._files[f.key] = f
        self._dirty = True

    def _track_located(self, entry: Entry, now: float) -> None:
        """Follows, as an orphan, the file `entry` went to: renamed, or copied before a truncation."""
        where = files.locate(entry, set(self._files))
        if where and (opened := files.open_file(where)):
            return self._track(entry.path, opened, entry.offset, True, now)
        self.stats.lost_files += 1
        _log.warning("%s: not found again; lines after byte %d are lost", entry.path, entry.offset)

    def _orphan(self, f: TailedFile, now: float) -> None:
        f.orphan, f.changed_at = True, now
        self.stats.rotations += 1
        if f.fd is None:  # parked: find where it went, to read what it gained before it left
            where = files.locate(f.entry(), set(self._files) - {f.key})
            if not where or not (opened := files.open_file(where, f.key)):
                return self._retire(f)
            f.fd = opened[0]

    def _retire(self, f: TailedFile) -> None:
        if f.pending:  # the file is finished: nothing will complete its last line
            self._deliver(f, f.take_pending())
        with contextlib.suppress(OSError):  # a deleted file cannot come back: remembering it only risks a reused inode
            if f.fd is not None and os.fstat(f.fd).st_nlink:
                self._known.finish(f.entry())
        f.close()
        del self._files[f.key]
        self._dirty = True

    def _read(self, f: TailedFile, at_path: os.stat_result | None, now: float) -> None:
        position = f.offset + len(f.pending)
        if f.fd is None:  # parked: reopen once the file at its path changed size
            if at_path is None or at_path.st_size == position or not (opened := files.open_file(f.path, f.key)):
                return
            f.fd = opened[0]
        try:
            size, head = os.fstat(f.fd).st_size, os.pread(f.fd, files.FINGERPRINT_SIZE, 0)  # a truncation in between shows in head
            if size < position or not f.fingerprint.matches(head):  # first bytes changed: truncated and rewritten
                self._truncated(f)
                position = 0
            if position == 0 or len(head) > f.fingerprint.size:
                f.fingerprint = Fingerprint.of(head)
            budget = _READ_BUDGET
            while position < size and budget > 0:
                chunk = os.pread(f.fd, min(files.CHUNK, budget), position)
                if not chunk:
                    break
                position, budget = position + len(chunk), budget - len(chunk)
                self._deliver(f, *f.take_lines(chunk, self.max_line_bytes))
                f.changed_at = now
        except OSError:
            self.stats.io_errors += 1
            return
        if now - f.changed_at >= (self.orphan_grace_s if f.orphan else self.idle_close_s):
            self._retire(f) if f.orphan else f.close()

    def _deliver(self, f: TailedFile, *lines: bytes) -> None:
        for raw in lines:
            self.stats.lines += 1
            if len(raw) >= self.max_line_bytes and not raw.endswith(b"\n"):
                self.stats.cut_lines += 1
            try:
                self.on_line(raw, f)
            except Exception:  # noqa: BLE001 - the handler's fault: counted, and the line counts as delivered
                self.stats.handler_errors += 1
                if _power_of_two(self.stats.handler_errors):
                    _log.warning("tail line handler failed (%d so far)", self.stats.handler_errors, exc_info=True)

    def _truncated(self, f: TailedFile) -> None:
        """Copytruncate: the rest of the old content comes from its copy, then the file restarts at 0."""
        self.stats.truncations += 1
        copy = files.locate(f.entry(), set(self._files))
        if copy and (opened := files.open_file(copy)):
            fd, st, head = opened
            f.pending, position = b"", f.offset  # the copy has the held partial line, maybe whole
            try:
                while position < st.st_size and (chunk := os.pread(fd, files.CHUNK, position)):
                    position += len(chunk)
                    self._deliver(f, *f.take_lines(chunk, self.max_line_bytes))
            finally:
                os.close(fd)
            self._copies.discard((st.st_dev, st.st_ino))
            self._known.finish(Entry(copy, st.st_dev, st.st_ino, Fingerprint.of(head), st.st_size))
        if f.pending:  # nothing will complete it: the content it belonged to is gone
            self._deliver(f, f.take_pending())
        f.offset = 0


def _power_of_two(count: int) -> bool:
    """Repeated warnings are logged the 1st, 2nd, 4th, 8th... time: rate-limited, never silenced."""
    return count & (count - 1) == 0
