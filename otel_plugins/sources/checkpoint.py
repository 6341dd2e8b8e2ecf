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
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

FINGERPRINT_SIZE = 1024
_VERSION = 1


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
    def key(self) -> tuple[int, int]:
        return (self.dev, self.ino)

    @classmethod
    def from_json(cls, data: dict) -> Entry:
        fp = data["fingerprint"]
        return cls(
            str(data["path"]), int(data["dev"]), int(data["ino"]),
            Fingerprint(int(fp["size"]), str(fp["sha256"])), int(data["offset"]), bool(data.get("done", False)),
        )


def read_head(fd: int, limit: int = FINGERPRINT_SIZE) -> bytes:
    return os.pread(fd, limit, 0)


def is_sibling(path: str, stream_path: str) -> bool:
    """A name rotation tools give a copy or a renamed file: `x.log.1`, `x.log-20250101`."""
    return (
        path != stream_path
        and os.path.dirname(path) == os.path.dirname(stream_path)
        and os.path.basename(path).startswith(os.path.basename(stream_path))
    )


def locate(entry: Entry, exclude: set[tuple[int, int]], limit: int = FINGERPRINT_SIZE) -> str | None:
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
