"""Lines of a recorded log, as bytes with their line endings, from a file or stdin."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import BinaryIO


def open_input(path: str | None) -> BinaryIO:
    if path in (None, "-"):
        return sys.stdin.buffer
    return open(path, "rb")  # noqa: SIM115 - the caller closes it


def read_lines(stream: BinaryIO) -> Iterator[bytes]:
    """Every line, ending included; a last line without an ending is yielded as it is."""
    yield from iter(stream.readline, b"")
