"""Following log files by polling: new files, rotation, truncation, partial lines, checkpoints.

Delivery guarantee: `on_line` gets each complete line (ending included, bytes as written)
in file order. The checkpoint records, per file, only bytes of lines `on_line` returned
from, and is written after every poll that delivered lines and by `close()`/`run()`. So a
stop through `close()` or `run()` followed by a Tailer on the same checkpoint delivers
every line exactly once; after a crash, lines delivered since the last checkpoint write
(one poll's worth) come again: at-least-once. A line `on_line` raised on counts as
delivered (`stats.handler_errors`), so a bad line cannot stall its file. `on_line` runs
on the polling thread and must not block.

A last line without `\n` is held: `close()` keeps it out of the checkpoint, so the next
run reads it whole. It is delivered as it is only when its file is finished (truncated,
or gone from its path and idle for `orphan_grace_s`) or exceeds `max_line_bytes`.

Files are followed by inode. Renamed away: the old inode is read to its end, before the
file that replaced it, until idle for `orphan_grace_s`. Truncated (size below the read
position, or first bytes changed): what came after our last read is taken from the copy
(a sibling such as `x.log.1` with the old fingerprint), then the file restarts at 0.
Inherent losses: lines written between logrotate's copy and its truncate; the middle
generation when two rotations happen within one poll interval, or while stopped. Deleted:
read to its end and dropped; a file appearing at the path again is read from its start,
as is any file appearing after the first poll. `start_at` counts on a first run only:
once a checkpoint file exists, a file it does not know is read from its start.
"""

from __future__ import annotations

import glob
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .checkpoint import Checkpoint, Entry, Fingerprint, Key, KnownFiles, TailedFile, is_sibling, locate, open_file, read_head

_log = logging.getLogger(__name__)
_CHUNK = 1 << 16


@dataclass
class TailStats:
    lines: int = 0
    handler_errors: int = 0
    truncations: int = 0
    rotations: int = 0  # files gone from their path: renamed or deleted
    lost_files: int = 0  # checkpointed files not found again
    io_errors: int = 0
    checkpoint_errors: int = 0


def _every(count: int) -> bool:
    """Rate-limits a repeated warning to its 1st, 10th, 100th, then every 1000th time."""
    return count in (1, 10, 100) or count % 1000 == 0


class Tailer:
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
        max_read_bytes: int = 4 << 20,
        max_line_bytes: int = 1 << 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.globs = list(globs)
        if not self.globs or any(not g or "\0" in g for g in self.globs):
            raise ValueError("globs: give at least one non-empty pattern")
        if poll_interval <= 0:
            raise ValueError("poll_interval must be greater than 0")
        if start_at not in ("start", "end"):
            raise ValueError("start_at must be 'start' or 'end'")
        self.on_line, self.checkpoint, self.poll_interval, self.start_at = on_line, checkpoint, poll_interval, start_at
        self.orphan_grace_s, self.idle_close_s, self.clock = orphan_grace_s, idle_close_s, clock
        self.max_read_bytes, self.max_line_bytes = max_read_bytes, max_line_bytes
        self.stats = TailStats()
        self._files: dict[Key, TailedFile] = {}  # in the order found: old inodes before their successors
        self._copies: set[Key] = set()  # live copies of a followed file, read from only at its truncation
        self._known = KnownFiles(checkpoint.entries if checkpoint is not None else ())
        self._resuming = checkpoint is not None and checkpoint.existed
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
                if stat.S_ISREG(st.st_mode):
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
                self._track_located(entry, set(self._files), now)
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
            except Exception:  # one failed poll must not end the tailing: the next one retries
                self.stats.io_errors += 1
                _log.exception("tail poll failed")
            stop.wait(self.poll_interval)
        self.save()

    def save(self) -> None:
        if self.checkpoint is None:
            return
        try:
            self.checkpoint.save([f.entry() for f in self._files.values()] + list(self._known.finished.values()))
            self._dirty = False
        except OSError as exc:
            self.stats.checkpoint_errors += 1
            if _every(self.stats.checkpoint_errors):
                _log.warning("checkpoint %s not written: %s", self.checkpoint.path, exc)

    def close(self) -> None:
        """Write the final checkpoint and close every file; safe to call twice."""
        if not self._closed:
            self.save()
            self._closed = True
            for f in self._files.values():
                f.close()

    def _adopt(self, path: str, at_path: dict[str, Key], now: float) -> None:
        opened = open_file(path)
        if opened is None:
            return
        fd, st, head = opened
        key = (st.st_dev, st.st_ino)
        if key in self._files:  # the path was replaced between glob and open
            os.close(fd)
            return
        resumed = self._known.claim(path, key, head, st.st_size)
        if resumed is None and any(_is_copy(f, path, head) for f in self._files.values()):
            os.close(fd)  # a copy being made of a file we follow: that file delivers these lines
            self._copies.add(key)
            return
        if resumed is not None:
            stream, offset = resumed.path, resumed.offset
        else:
            fresh = self._first and not self._resuming and self.start_at == "end"
            stream, offset = path, _start_of_last_line(fd, st.st_size) if fresh else 0
        self._track(stream, fd, st, head, offset, at_path.get(stream) != key, now)

    def _track(self, path: str, fd: int, st: os.stat_result, head: bytes, offset: int, orphan: bool, now: float) -> None:
        f = TailedFile(path, st.st_dev, st.st_ino, offset, Fingerprint.of(head), fd, orphan=orphan, changed_at=now)
        self._files[f.key] = f
        self._dirty = True

    def _track_located(self, entry: Entry, exclude: set[Key], now: float) -> bool:
        """Follows, as an orphan, the file `entry` went to (renamed, or copied); False if none."""
        where = locate(entry, exclude)
        opened = open_file(where) if where else None
        if opened is None:
            self.stats.lost_files += 1
            _log.warning("%s: not found again; lines after byte %d are lost", entry.path, entry.offset)
            return False
        self._track(entry.path, opened[0], opened[1], opened[2], entry.offset, True, now)
        return True

    def _orphan(self, f: TailedFile, now: float) -> None:
        f.orphan, f.changed_at = True, now
        self.stats.rotations += 1
        if f.fd is None:  # parked: find where it went, to read what it gained before it left
            where = locate(f.entry(), set(self._files) - {f.key})
            opened = open_file(where, f.key) if where else None
            if opened is None:
                return self._retire(f)
            f.fd = opened[0]

    def _retire(self, f: TailedFile) -> None:
        if f.pending:  # the file is finished: nothing will complete its last line
            self._deliver(f, f.pending)
            f.offset, f.pending = f.offset + len(f.pending), b""
        if f.fd is not None and f.links() > 0:  # a deleted file cannot come back: remembering it only risks a reused inode
            self._known.finish(f.entry())
        f.close()
        del self._files[f.key]
        self._dirty = True

    def _read(self, f: TailedFile, at_path: os.stat_result | None, now: float) -> None:
        position = f.offset + len(f.pending)
        if f.fd is None:  # parked: reopen once the file at its path changed size
            if at_path is None or (at_path.st_dev, at_path.st_ino) != f.key or at_path.st_size == position:
                return
            opened = open_file(f.path, f.key)
            if opened is None:
                return
            f.fd = opened[0]
        try:
            size, head = os.fstat(f.fd).st_size, read_head(f.fd)  # in this order: a truncation between shows in head
            if size < position or not f.fingerprint.matches(head):  # first bytes changed: truncated and rewritten
                self._truncated(f)
                position = 0
            if position == 0 or len(head) > f.fingerprint.size:
                f.fingerprint = Fingerprint.of(head)
            budget = self.max_read_bytes  # bounded, so one busy file cannot starve the others
            while position < size and budget > 0:
                chunk = os.pread(f.fd, min(_CHUNK, budget), position)
                if not chunk:
                    break
                position, budget = position + len(chunk), budget - len(chunk)
                f.offset += self._split(f, f.pending + chunk)
                f.changed_at = now
        except OSError:
            self.stats.io_errors += 1
            return
        if now - f.changed_at >= (self.orphan_grace_s if f.orphan else self.idle_close_s):
            self._retire(f) if f.orphan else f.close()

    def _split(self, f: TailedFile, data: bytes) -> int:
        """Delivers the complete lines of `data` and holds the rest; returns the bytes delivered."""
        end = data.rfind(b"\n") + 1
        lines = [line + b"\n" for line in data[:end].split(b"\n")[:-1]]
        f.pending = data[end:]
        if len(f.pending) >= self.max_line_bytes:  # an endless line goes in pieces: memory stays bounded
            lines.append(f.pending)
            f.pending = b""
        for raw in lines:
            self._deliver(f, raw)
        return sum(map(len, lines))

    def _deliver(self, f: TailedFile, raw: bytes) -> None:
        self.stats.lines += 1
        try:
            self.on_line(raw, f)
        except Exception:  # the handler's fault: counted, and the line counts as delivered
            self.stats.handler_errors += 1
            if _every(self.stats.handler_errors):
                _log.warning("tail line handler failed (%d so far)", self.stats.handler_errors, exc_info=True)

    def _truncated(self, f: TailedFile) -> None:
        """Copytruncate: the rest of the old content comes from its copy, then the file restarts at 0."""
        self.stats.truncations += 1
        copy = locate(f.entry(), set(self._files))
        opened = open_file(copy) if copy else None
        if opened is not None:
            fd, st, head = opened
            try:
                data = os.pread(fd, st.st_size - f.offset, f.offset)
            finally:
                os.close(fd)
            self._split(f, data)  # replaces the held partial line: the copy has it, maybe whole
            self._copies.discard((st.st_dev, st.st_ino))
            self._known.finish(Entry(copy, st.st_dev, st.st_ino, Fingerprint.of(head), st.st_size))
        if f.pending:  # nothing will complete it: the content it belonged to is gone
            self._deliver(f, f.pending)
        f.offset, f.pending = 0, b""


def _is_copy(f: TailedFile, path: str, head: bytes) -> bool:
    return not f.orphan and f.fingerprint.size > 0 and is_sibling(path, f.path) and f.fingerprint.matches(head)


def _start_of_last_line(fd: int, size: int) -> int:
    """Where the line being written at `size` starts: starting "at the end" splits no line."""
    tail = os.pread(fd, min(size, _CHUNK), size - min(size, _CHUNK))
    cut = tail.rfind(b"\n")
    return size - len(tail) + cut + 1 if cut >= 0 else (0 if size <= _CHUNK else size)
