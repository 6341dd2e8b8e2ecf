"""Which file is which, and how far it was read: fingerprints, followed files, the checkpoint.

A file is known by device and inode plus the sha256 of its first bytes (up to 1 KiB, stored
with the length used, like the Collector's filelog `fingerprint_size`): the inode finds a
renamed file, the fingerprint tells a reused inode or a rewritten file from the one read,
and finds a rotated copy. The checkpoint is one JSON document replaced atomically (tmp
file, fsync, rename, fsync of the directory): a crash leaves the old state or the new.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

FINGERPRINT_SIZE = 1024
CHUNK = 1 << 16
_FINISHED_MAX = 256  # finished files remembered, so that a glob matching one again reads nothing twice
_VERSION = 1
_MAX_OFFSET = (1 << 63) - 1  # what lseek and pread accept
_MAX_CHECKPOINT_BYTES = 64 << 20

Key = tuple[int, int]
_log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """The checkpoint file cannot be read, parsed or written."""


class ExportGate:
    """`Tailer(before_save=ExportGate(...))`: the checkpoint moves only once every record
    emitted so far was exported, as the Collector's storage extension commits a file offset
    after the export. `flush(timeout_ms)` flushes the log pipeline; `counts()` is (emitted,
    exported). A flush that times out holds the checkpoint until a later one finds
    everything exported; records lost (export failed, queue full) hold it for the rest of
    the run, so a restart reads them again: at-least-once, never less."""

    def __init__(self, flush: Callable[[int], bool], counts: Callable[[], tuple[int, int]], timeout_ms: int = 5000) -> None:
        self.flush, self.counts, self.timeout_ms = flush, counts, timeout_ms
        self.lost = False

    def __call__(self) -> bool:
        if self.lost:
            return False
        flushed = self.flush(self.timeout_ms)
        emitted, exported = self.counts()
        if exported >= emitted:
            return True
        if flushed:  # nothing is in flight any more: what is missing was lost
            self.lost = True
            _log.warning(
                "%d log records were not exported; the checkpoint stays where every record was"
                " (a restart reads the rest again)", emitted - exported
            )
        return False


@dataclass(frozen=True, slots=True)
class Fingerprint:
    size: int
    sha256: str

    @classmethod
    def of(cls, head: bytes) -> Fingerprint:
        return cls(len(head), hashlib.sha256(head).hexdigest())

    def matches(self, head: bytes) -> bool:
        """Whether a file whose first bytes are `head` is the one fingerprinted."""
        return len(head) >= self.size and hashlib.sha256(head[: self.size]).hexdigest() == self.sha256


@dataclass(frozen=True, slots=True)
class Entry:
    """A file's saved state. `offset`: bytes of complete lines delivered; `done`: no longer followed."""

    path: str
    dev: int
    ino: int
    fingerprint: Fingerprint
    offset: int
    done: bool = False

    @property
    def key(self) -> Key:
        return (self.dev, self.ino)

    @classmethod
    def from_json(cls, data: dict, where: str = "files[0]") -> Entry:
        """Checked field by field: a bad value raises ValueError naming it, never becomes
        a position that reads nothing forever (a negative offset) or is saved back."""
        fingerprint = data["fingerprint"]
        sha256 = fingerprint["sha256"]
        if not isinstance(sha256, str) or len(sha256) != 64:
            raise ValueError(f"{where}.fingerprint.sha256: not a sha256 hex digest")
        fp = Fingerprint(_whole(fingerprint["size"], f"{where}.fingerprint.size", FINGERPRINT_SIZE), sha256)
        path, done = data["path"], data["done"]
        if not isinstance(path, str) or not path or "\0" in path or not isinstance(done, bool):
            raise ValueError(f"{where}: path must be a non-empty string and done true or false")
        return cls(path, _whole(data["dev"], f"{where}.dev"), _whole(data["ino"], f"{where}.ino"), fp,
                   _whole(data["offset"], f"{where}.offset"), done)


def _whole(value: object, where: str, largest: int = _MAX_OFFSET) -> int:
    """A JSON whole number within [0, largest]; floats, strings and booleans are refused."""
    if type(value) is not int or not 0 <= value <= largest:
        shown = repr(value) if len(repr(value)) <= 30 else repr(value)[:27] + "..."
        raise ValueError(f"{where}: {shown} is not a whole number from 0 to {largest}")
    return value


@dataclass(eq=False)
class TailedFile:
    """One followed inode. `path` names its stream: where it was found, kept through a rename."""

    path: str
    dev: int
    ino: int
    offset: int  # bytes of complete lines delivered
    fingerprint: Fingerprint
    fd: int | None = None  # None while parked: idle, descriptor closed
    pending: bytes = b""  # a partial last line, held
    orphan: bool = False  # its path leads elsewhere now: renamed away, deleted, or a rotated copy
    changed_at: float = 0.0

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def key(self) -> Key:
        return (self.dev, self.ino)

    def entry(self) -> Entry:
        return Entry(self.path, self.dev, self.ino, self.fingerprint, self.offset)

    def take_lines(self, data: bytes, max_line_bytes: int) -> list[bytes]:
        """The complete lines of the held bytes plus `data`, counted as read; the rest is held.
        A line past `max_line_bytes` is cut, so memory stays bounded."""
        data = self.pending + data
        end = data.rfind(b"\n") + 1
        lines = [line + b"\n" for line in data[:end].split(b"\n")[:-1]]
        self.pending = data[end:]
        if len(self.pending) >= max_line_bytes:
            lines.append(self.take_pending())
        self.offset += end
        return lines

    def take_pending(self) -> bytes:
        held, self.pending = self.pending, b""
        self.offset += len(held)
        return held

    def is_copy(self, path: str, head: bytes) -> bool:
        """Whether the file at `path`, starting with `head`, is a copy of this one (`x.log.1`)."""
        return not self.orphan and self.fingerprint.size > 0 and is_sibling(path, self.path) and self.fingerprint.matches(head)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def start_of_last_line(fd: int, size: int) -> int:
    """Where the line being written at `size` starts: starting "at the end" splits no line."""
    tail = os.pread(fd, min(size, CHUNK), size - min(size, CHUNK))
    cut = tail.rfind(b"\n")
    return size - len(tail) + cut + 1 if cut >= 0 else (0 if size <= CHUNK else size)


def open_file(path: str, key: Key | None = None) -> tuple[int, os.stat_result, bytes] | None:
    """Descriptor, status and first bytes of `path`; None if it cannot be opened or is not `key`."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if key is None or (st.st_dev, st.st_ino) == key:
            return fd, st, os.pread(fd, FINGERPRINT_SIZE, 0)
    except OSError:
        pass
    os.close(fd)
    return None


def is_sibling(path: str, stream_path: str) -> bool:
    """A name rotation tools give a copy or a renamed file: `x.log.1`, `x.log-20250101`."""
    directory, name = os.path.split(stream_path)
    return path != stream_path and os.path.dirname(path) == directory and os.path.basename(path).startswith(name)


def locate(entry: Entry, exclude: set[Key]) -> str | None:
    """Where the content `entry` describes went: its inode under another name in the same
    directory (renamed), else the newest sibling with its fingerprint and at least
    `entry.offset` bytes (a copy made before a truncation); None if neither exists."""
    copies: list[tuple[float, str]] = []
    try:
        listing = list(os.scandir(os.path.dirname(entry.path) or "."))
    except OSError:
        return None
    for item in listing:
        renamed = item.inode() == entry.ino
        if not renamed and (entry.fingerprint.size == 0 or not is_sibling(item.path, entry.path)):
            continue
        opened = open_file(item.path)
        if opened is None:
            continue
        fd, st, head = opened
        os.close(fd)
        if (st.st_dev, st.st_ino) in exclude or st.st_size < entry.offset or not entry.fingerprint.matches(head):
            continue
        if renamed and st.st_dev == entry.dev:
            return item.path
        copies.append((st.st_mtime, item.path))
    return max(copies)[1] if copies else None


class KnownFiles:
    """Files read before: those a checkpoint left unfinished, and finished ones (bounded)."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        entries = list(entries)
        self.unfinished = {e.key: e for e in entries if not e.done}
        self.finished: OrderedDict[Key, Entry] = OrderedDict((e.key, e) for e in entries if e.done)

    def claim(self, path: str, key: Key, head: bytes, size: int) -> Entry | None:
        """The state to resume the file at `path` (first bytes `head`) from: its own, when
        inode and fingerprint match; or, for a sibling copy, that of the file truncated
        while we were stopped, whose rest the copy holds. None for a file never seen."""
        known = self.unfinished.get(key) or self.finished.get(key)
        if known is not None and known.fingerprint.matches(head) and known.offset <= size:
            self.unfinished.pop(key, None)
            self.finished.pop(key, None)
            return replace(known, path=path, done=False) if known.done else known
        for entry in self.unfinished.values():
            fp = entry.fingerprint
            if fp.size and is_sibling(path, entry.path) and fp.matches(head) and entry.offset <= size:
                del self.unfinished[entry.key]
                return replace(entry, dev=key[0], ino=key[1])
        return None

    def finish(self, entry: Entry) -> None:
        self.finished[entry.key] = replace(entry, done=True)
        while len(self.finished) > _FINISHED_MAX:
            self.finished.popitem(last=False)

    def take_unfinished(self) -> list[Entry]:
        entries, self.unfinished = list(self.unfinished.values()), {}
        return entries


class Checkpoint:
    """Offsets saved to `path`; raises CheckpointError at once if it cannot be used."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.existed = self.path.exists()
        self.entries: list[Entry] = []
        self._saved_text: str | None = None
        try:
            if self.existed:
                self._saved_text = _read_bounded(self.path)
                data = json.loads(self._saved_text)  # Infinity, NaN, 1e400: floats, refused by _whole
                if data.get("version") != _VERSION:
                    raise ValueError(f"unknown version {data.get('version')!r}")
                self.entries = [Entry.from_json(item, f"files[{i}]") for i, item in enumerate(data["files"])]
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(f"checkpoint {self.path}: {exc.strerror or exc}") from None
        except (ValueError, LookupError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"checkpoint {self.path}: not a checkpoint file ({exc})") from None
        if not os.access(self.path.parent, os.W_OK | os.X_OK):
            raise CheckpointError(f"checkpoint {self.path}: its directory is not writable")

    def save(self, entries: Iterable[Entry]) -> None:
        """Replace the file with `entries`, unless unchanged; an OSError leaves the old one whole."""
        self.entries = list(entries)
        text = json.dumps({"version": _VERSION, "files": [asdict(e) for e in self.entries]})
        if text == self._saved_text:
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)  # only left behind by a failure
        directory = os.open(self.path.parent, os.O_RDONLY)  # the rename is durable once the directory is
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._saved_text = text


def _read_bounded(path: Path) -> str:
    with open(path, "rb") as f:
        raw = f.read(_MAX_CHECKPOINT_BYTES + 1)
    if len(raw) > _MAX_CHECKPOINT_BYTES:
        raise ValueError(f"larger than {_MAX_CHECKPOINT_BYTES} bytes")
    return raw.decode("utf-8")
