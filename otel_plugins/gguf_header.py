"""A GGUF file's header, read with every count and length checked against the file's size.

The one GGUF reader of the project (`estimate`'s model sizes, the transfer plans of
`transfer_plan`). The `gguf` package's own reader trusts every count in the header (an
89-byte file declaring an array of 2^40 items keeps it looping for hours) and builds
every vocabulary array first (seconds per model); this walk reads the header with
`struct` over a memory map, keeps the scalar metadata, skips arrays, and refuses in one
line any count or length that the bytes left in the file cannot hold. Its cost is
bounded by the file's size. Only the size of each ggml type comes from the `gguf` package.

Layout (GGUF v2/v3, either byte order): magic, version u32, tensor count u64, key/value
count u64; each key/value: key string, value type u32, value; each tensor: name string,
n_dims u32, dims u64 x n_dims, type u32, offset u64 (from the aligned start of the data).
A string is a u64 length and its bytes; an array is an item type u32, a count u64 and
the items.
"""

from __future__ import annotations

import math
import mmap
import os
import re
import struct
from dataclasses import dataclass
from typing import Any

__all__ = ["GGUFError", "Header", "TensorInfo", "read_header", "shard_paths"]

_STRING, _ARRAY = 8, 9
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_SCALAR_SIZES = {kind: struct.calcsize(fmt) for kind, fmt in _SCALARS.items()}
# Smallest encoding of one item of each kind: a bound on how many the rest of the file holds.
_MIN_SIZE = {**_SCALAR_SIZES, _STRING: 8, _ARRAY: 12}
_MAX_DIMS = 4  # GGML_MAX_DIMS
_MAX_NESTING = 3
_MIN_KV_BYTES = 8 + 4 + 1  # empty key, type, one-byte value
_MIN_TENSOR_BYTES = 8 + 4 + 4 + 8  # empty name, n_dims 0, type, offset
_DEFAULT_ALIGNMENT = 32


class GGUFError(ValueError):
    """The file is not a GGUF file, or its header cannot be what it claims: the message is one line."""


@dataclass(frozen=True, slots=True)
class TensorInfo:
    name: str
    nbytes: int
    offset: int  # of its data, in the file


@dataclass(frozen=True, slots=True)
class Header:
    metadata: dict[str, Any]  # the scalar and string values; arrays are skipped
    tensors: list[TensorInfo]  # in file order


class _Walk:
    def __init__(self, data: mmap.mmap, size: int) -> None:
        self.data, self.size, self.pos, self.order = data, size, 0, "<"

    def take(self, fmt: str, what: str) -> Any:
        width = struct.calcsize(fmt)
        if self.pos + width > self.size:
            raise GGUFError(f"truncated: {what} at byte {self.pos} runs past the end ({self.size} bytes)")
        (value,) = struct.unpack_from(self.order + fmt, self.data, self.pos)
        self.pos += width
        return value

    def room(self, count: int, item_size: int, what: str) -> None:
        left = self.size - self.pos
        if count * item_size > left:
            raise GGUFError(f"{what} declares {count} items, more than the {left} bytes left can hold")

    def string(self, what: str) -> str:
        length = self.take("Q", f"the length of {what}")
        self.room(length, 1, what)
        text = bytes(self.data[self.pos : self.pos + length])
        self.pos += length
        return text.decode("utf-8", "replace")

    def value(self, kind: int, what: str, depth: int = 0) -> Any:
        """The value (None for an array, which is skipped)."""
        if kind in _SCALARS:
            return self.take(_SCALARS[kind], what)
        if kind == _STRING:
            return self.string(what)
        if kind != _ARRAY:
            raise GGUFError(f"{what}: unknown value type {kind}")
        if depth >= _MAX_NESTING:
            raise GGUFError(f"{what}: arrays nested deeper than {_MAX_NESTING}")
        item_kind = self.take("I", f"the item type of {what}")
        count = self.take("Q", f"the item count of {what}")
        if item_kind not in _MIN_SIZE:
            raise GGUFError(f"{what}: unknown item type {item_kind}")
        self.room(count, _MIN_SIZE[item_kind], what)
        if item_kind in _SCALAR_SIZES:
            self.pos += count * _SCALAR_SIZES[item_kind]
        else:
            for _ in range(count):
                self.value(item_kind, what, depth + 1)
        return None

    def header(self) -> Header:
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType  # the size of every ggml type

        if self.size < 24 or self.data[:4] != b"GGUF":
            raise GGUFError("not a GGUF file (no GGUF magic)")
        self.pos = 4
        version = self.take("I", "the version")
        if version & 0xFFFF == 0:  # written on a machine of the other byte order
            self.order, self.pos = ">", 4
            version = self.take("I", "the version")
        if version not in (2, 3):
            raise GGUFError(f"GGUF version {version} is not supported (2 or 3)")
        n_tensors, n_kv = self.take("Q", "the tensor count"), self.take("Q", "the key/value count")
        self.room(n_kv, _MIN_KV_BYTES, "the key/value count")
        metadata: dict[str, Any] = {}
        for index in range(n_kv):
            key = self.string(f"key {index}")
            metadata[key] = self.value(self.take("I", f"the type of key {index}"), f"the value of key {index}")
        self.room(n_tensors, _MIN_TENSOR_BYTES, "the tensor count")
        infos = []
        for index in range(n_tensors):
            name = self.string(f"the name of tensor {index}")
            n_dims = self.take("I", f"the dimension count of tensor {index}")
            if n_dims > _MAX_DIMS:
                raise GGUFError(f"tensor {index} has {n_dims} dimensions (at most {_MAX_DIMS})")
            elements = math.prod(self.take("Q", f"a dimension of tensor {index}") for _ in range(n_dims))
            # Every type stores at least one bit per element: more elements than 8 x the file cannot be in it.
            if elements > 8 * self.size:
                raise GGUFError(f"tensor {index} declares {elements} elements, more than the file can hold")
            kind, offset = self.take("I", f"the type of tensor {index}"), self.take("Q", f"the offset of tensor {index}")
            try:
                block, size = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
            except (ValueError, KeyError):
                raise GGUFError(f"tensor {name} has unknown ggml type {kind}") from None
            infos.append((name, elements // block * size, offset))
        alignment = int(metadata.get("general.alignment") or _DEFAULT_ALIGNMENT)
        start = self.pos + (-self.pos % alignment)
        return Header(metadata, [TensorInfo(name, nbytes, start + offset) for name, nbytes, offset in infos])


def read_header(path: str | os.PathLike[str]) -> Header:
    """The header of the GGUF file at `path`. Raises GGUFError (not GGUF, out of bounds) or OSError."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise GGUFError("empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _Walk(data, size).header()


# A split model: `<prefix>-00001-of-0000N.gguf`, any one shard standing for all of them.
_SHARD = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


def shard_paths(path: str) -> list[str]:
    """Every file of the model `path` names: its shards in order, or `path` alone."""
    match = _SHARD.match(path)
    if match is None:
        return [path]
    count = int(match.group("count"))
    return [f"{match.group('prefix')}-{n:05d}-of-{count:05d}.gguf" for n in range(1, count + 1)]
