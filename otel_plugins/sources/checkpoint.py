"""Which file is which, and how far each was read: fingerprints and the checkpoint file.

A file is known by its device and inode plus a fingerprint: the sha256 of its first bytes
(up to `FINGERPRINT_SIZE`, stored with the length used, like the Collector's filelog
`fingerprint_size`). The inode finds a renamed file; the fingerprint tells a reused inode
or a truncated-and-rewritten file from the one we read, and finds a rotated copy.

The checkpoint is one JSON document, replaced atomically (temporary file, fsync, rename,
fsync of the directory), so a crash leaves either the old state or the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

FINGERPRINT_SIZE = 1024
_VERSION = 1
_FINISHED_MAX = 1024  # finished files remembered, so that a glob matching one reads nothing twice

Key = tuple[int, int]


class CheckpointError(ValueError):
    """The checkpoint file cannot be read, parsed or written."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    size: int
    sha256: str

    @classmethod
    def of(cls, head: bytes) -> Fingerprint:
        return cls(len(head), hashlib.sha256(head).hexdigest())

    def matches(self, head: bytes) -> bool:
        """Whether a file starting with `head` (read up to at least `size` bytes) is this one."""
        return len(head) >= self.size and hashlib.sha256(head[: self.size]).hexdigest() == self.sha256


@dataclass(frozen=True, slots=True)
class Entry:
    """One file's saved state: `offset` counts the bytes of complete lines already delivered.

    `done` marks a file no longer followed (finished, deleted, or a drained rotated copy);
    it is remembered so that finding it again does not read it twice.
    """

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
    def from_json(cls, data: dict) -> Entry:
        fp = data["fingerprint"]
        return cls(
            str(data["path"]), int(data["dev"]), int(data["ino"]),
            Fingerprint(int(fp["size"]), str(fp["sha256"])), int(data["offset"]), bool(data.get("done", False)),
        )


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

    def links(self) -> int:
        """How many names the open file has: 0 once deleted."""
        try:
            return os.fstat(self.fd).st_nlink if self.fd is not None else 0
        except OSError:
            return 0

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def read_head(fd: int, limit: int = FINGERPRINT_SIZE) -> bytes:
    return os.pread(fd, limit, 0)


def open_file(path: str, key: Key | None = None) -> tuple[int, os.stat_result, bytes] | None:
    """Descriptor, status and first bytes of `path`; None if it cannot be opened or is not `key`."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if key is None or (st.st_dev, st.st_ino) == key:
            return fd, st, read_head(fd)
    except OSError:
        pass
    os.close(fd)
    return None


def is_sibling(path: str, stream_path: str) -> bool:
    """A name rotation tools give a copy or a renamed file: `x.log.1`, `x.log-20250101`."""
    return (
        path != stream_path
        and os.path.dirname(path) == os.path.dirname(stream_path)
        and os.path.basename(path).startswith(os.path.basename(stream_path))
    )


def locate(entry: Entry, exclude: set[Key], limit: int = FINGERPRINT_SIZE) -> str | None:
    """Where the content `entry` describes went: the same inode under another name in the
    same directory (renamed), else the newest sibling copy with the same fingerprint that
    is at least `entry.offset` long (copied before a truncation). None if neither exists."""
    directory = os.path.dirname(entry.path) or "."
    copies: list[tuple[float, str]] = []
    try:
        listing = list(os.scandir(directory))
    except OSError:
        return None
    for item in listing:
        try:
            if not item.is_file():
                continue
            renamed = item.inode() == entry.ino
            if not renamed and (entry.fingerprint.size == 0 or not is_sibling(item.path, entry.path)):
                continue
            st = item.stat()
            if (st.st_dev, st.st_ino) in exclude or st.st_size < entry.offset:
                continue
            if renamed and st.st_dev != entry.dev:
                continue
            with open(item.path, "rb") as stream:
                if not entry.fingerprint.matches(read_head(stream.fileno(), limit)):
                    continue
        except OSError:
            continue
        if renamed:
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
        """The state to resume the file found at `path` from (`head`: its first bytes): its
        own, if inode and fingerprint match; or, for a sibling copy, the state of the file
        that was truncated while we were stopped, whose rest the copy holds. None if new."""
        known = self.unfinished.get(key) or self.finished.get(key)
        if known is not None and known.fingerprint.matches(head) and known.offset <= size:
            self.unfinished.pop(key, None)
            self.finished.pop(key, None)
            return replace(known, path=path, done=False) if known.done else known
        for entry in self.unfinished.values():
            if entry.fingerprint.size and is_sibling(path, entry.path) and entry.fingerprint.matches(head) and entry.offset <= size:
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
    """Offsets saved to `path`. Raises CheckpointError at once if it cannot be used."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.existed = self.path.exists()
        self._last_text: str | None = None
        if self.path.is_dir():
            raise CheckpointError(f"checkpoint {self.path}: is a directory")
        self.entries = self._load() if self.existed else []
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(f"checkpoint {self.path}: cannot create its directory: {exc.strerror}") from None
        if not os.access(directory, os.W_OK | os.X_OK):
            raise CheckpointError(f"checkpoint {self.path}: directory {directory} is not writable")

    def _load(self) -> list[Entry]:
        try:
            text = self.path.read_text(encoding="utf-8")
            data = json.loads(text)
            if data.get("version") != _VERSION:
                raise CheckpointError(f"checkpoint {self.path}: unknown version {data.get('version')!r}")
            entries = [Entry.from_json(item) for item in data["files"]]
        except OSError as exc:
            raise CheckpointError(f"checkpoint {self.path}: cannot read: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError(f"checkpoint {self.path}: not a checkpoint file ({type(exc).__name__}: {exc})") from None
        self._last_text = text
        return entries

    def save(self, entries: Iterable[Entry]) -> bool:
        """Replace the file with `entries`; False when nothing changed since the last save.

        Raises OSError when the disk refuses; the previous checkpoint is then intact.
        """
        self.entries = list(entries)
        document = {"version": _VERSION, "files": [asdict(entry) for entry in self.entries]}
        text = json.dumps(document, indent=1, sort_keys=True)
        if text == self._last_text:
            return False
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        # The rename is durable only once the directory itself is on disk.
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._last_text = text
        return True
