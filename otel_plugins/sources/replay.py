"""Lines of a recorded log, as bytes with their line endings, from a file or stdin.

A line is cut at `MAX_LINE_BYTES`, the limit `tail` applies too: a line longer than that comes
as several pieces of at most that size (their concatenation is the line, byte for byte), and
each cut is counted. So a file without newlines (`/dev/zero`) costs bounded memory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import BinaryIO

MAX_LINE_BYTES = 1 << 20
# How far `lines_ahead` reads: a poller starts with the server, near a log's beginning, and the
# look ahead costs a parse of every request line it reads (about 2 us each here), so a log of
# millions of lines pays for its first 100,000 only; a series that starts later is learned as
# a live stream learns it.
LOOK_AHEAD_LINES = 100_000


class InputError(ValueError):
    """The input cannot be opened or read: the message is one line naming it."""


def open_input(path: str | None) -> BinaryIO:
    if path in (None, "-"):
        return sys.stdin.buffer
    try:
        stream = open(path, "rb")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    if os.path.isdir(path):  # opening a directory read-only succeeds on some systems
        stream.close()
        raise InputError(f"{path}: Is a directory")
    return stream


class LineReader:
    """Iterates the lines of `stream`, cut at `max_line_bytes`; `cut` counts the cuts."""

    def __init__(self, stream: BinaryIO, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.stream, self.max_line_bytes, self.cut = stream, max_line_bytes, 0

    def __iter__(self) -> Iterator[bytes]:
        name = getattr(self.stream, "name", "-")
        while True:
            try:
                line = self.stream.readline(self.max_line_bytes)
            except OSError as exc:
                raise InputError(f"{'-' if name == '<stdin>' else name}: {exc.strerror or exc}") from None
            if not line:
                return
            if len(line) == self.max_line_bytes and not line.endswith(b"\n"):
                self.cut += 1
            yield line

    def cut_note(self) -> str:
        """`, N lines cut at M bytes` for a summary, or nothing."""
        return f", {self.cut} lines cut at {self.max_line_bytes} bytes" if self.cut else ""


def lines_ahead(stream: BinaryIO, limit: int = LOOK_AHEAD_LINES) -> Iterator[bytes]:
    """The first `limit` lines of `stream` read ahead of the pass that decides them (the look
    ahead of `LinePipeline.foresee`), after which the stream is back where it was. Nothing for a
    stream that cannot be read twice (a pipe, a terminal): such a log is decided without
    hindsight. A read error is an OSError naming the input, which each command reports in one line."""
    try:
        start = stream.tell() if stream.seekable() else None
    except (OSError, ValueError):
        start = None
    if start is None:
        return
    try:
        for _ in range(limit):
            line = stream.readline(MAX_LINE_BYTES)
            if not line:
                break
            yield line
    except OSError as exc:
        name = getattr(stream, "name", "-")
        raise OSError(exc.errno, exc.strerror, "-" if name == "<stdin>" else name) from None
    finally:
        stream.seek(start)
