"""A GGUF file's metadata checked against the file's size, before the upstream reader sees it.

The `gguf` package's reader trusts every count and length in the header: an 89-byte file
declaring an array of 2^40 items keeps it looping for hours. This walk reads the same
header with `struct` over a memory map and refuses, in one line, any count or length that
the bytes left in the file cannot hold; it allocates nothing per item, so its cost is
bounded by the file size. What it accepts, the upstream reader can read.

Layout (GGUF v2/v3, either byte order): magic, version u32, tensor count u64, key/value
count u64; each key/value: key string, value type u32, value; each tensor: name string,
n_dims u32, dims u64 x n_dims, type u32, offset u64. A string is a u64 length and its bytes;
an array is an item type u32, a count u64 and the items.
"""

from __future__ import annotations

import mmap
import os
import struct

__all__ = ["GGUFBoundsError", "check_gguf"]

_STRING, _ARRAY = 8, 9
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
# Smallest encoding of one item of each kind: a bound on how many the rest of the file holds.
_MIN_SIZE = {**_SCALAR_SIZES, _STRING: 8, _ARRAY: 12}
_MAX_DIMS = 4  # GGML_MAX_DIMS
_MAX_NESTING = 3
_MIN_KV_BYTES = 8 + 4 + 1  # empty key, type, one-byte value
_MIN_TENSOR_BYTES = 8 + 4 + 4 + 8  # empty name, n_dims 0, type, offset


class GGUFBoundsError(ValueError):
    """The file's metadata cannot be what it claims: the message is one line."""


class _Walk:
    def __init__(self, data: mmap.mmap, size: int) -> None:
        self.data, self.size, self.pos, self.order = data, size, 0, "<"

    def _take(self, fmt: str, what: str) -> int:
        width = struct.calcsize(fmt)
        if self.pos + width > self.size:
            raise GGUFBoundsError(f"truncated: {what} at byte {self.pos} runs past the end ({self.size} bytes)")
        (value,) = struct.unpack_from(self.order + fmt, self.data, self.pos)
        self.pos += width
        return value

    def _room(self, count: int, item_size: int, what: str) -> None:
        left = self.size - self.pos
        if count * item_size > left:
            raise GGUFBoundsError(f"{what} declares {count} items, more than the {left} bytes left can hold")

    def _skip_string(self, what: str) -> None:
        length = self._take("Q", f"the length of {what}")
        self._room(length, 1, what)
        self.pos += length

    def _skip_value(self, value_type: int, what: str, depth: int = 0) -> None:
        if value_type in _SCALAR_SIZES:
            self._room(1, _SCALAR_SIZES[value_type], what)
            self.pos += _SCALAR_SIZES[value_type]
        elif value_type == _STRING:
            self._skip_string(what)
        elif value_type == _ARRAY:
            if depth >= _MAX_NESTING:
                raise GGUFBoundsError(f"{what}: arrays nested deeper than {_MAX_NESTING}")
            item_type = self._take("I", f"the item type of {what}")
            count = self._take("Q", f"the item count of {what}")
            if item_type not in _MIN_SIZE:
                raise GGUFBoundsError(f"{what}: unknown item type {item_type}")
            self._room(count, _MIN_SIZE[item_type], what)
            if item_type in _SCALAR_SIZES:
                self.pos += count * _SCALAR_SIZES[item_type]
            else:
                for _ in range(count):
                    self._skip_value(item_type, what, depth + 1)
        else:
            raise GGUFBoundsError(f"{what}: unknown value type {value_type}")

    def run(self) -> None:
        if self.size < 24 or self.data[:4] != b"GGUF":
            raise GGUFBoundsError("not a GGUF file (no GGUF magic)")
        self.pos = 4
        version = self._take("I", "the version")
        if version & 0xFFFF == 0:  # written on a machine of the other byte order
            self.order, self.pos = ">", 4
            version = self._take("I", "the version")
        if version not in (2, 3):
            raise GGUFBoundsError(f"GGUF version {version} is not supported (2 or 3)")
        tensors, kvs = self._take("Q", "the tensor count"), self._take("Q", "the key/value count")
        self._room(kvs, _MIN_KV_BYTES, "the key/value count")
        for index in range(kvs):
            self._skip_string(f"key {index}")
            self._skip_value(self._take("I", f"the type of key {index}"), f"the value of key {index}")
        self._room(tensors, _MIN_TENSOR_BYTES, "the tensor count")
        for index in range(tensors):
            self._skip_string(f"the name of tensor {index}")
            n_dims = self._take("I", f"the dimension count of tensor {index}")
            if n_dims > _MAX_DIMS:
                raise GGUFBoundsError(f"tensor {index} has {n_dims} dimensions (at most {_MAX_DIMS})")
            elements = 1
            for _ in range(n_dims):
                elements *= self._take("Q", f"a dimension of tensor {index}")
            # Every type stores at least one bit per element: more elements than 8 x the file cannot be in it.
            if elements > 8 * self.size:
                raise GGUFBoundsError(f"tensor {index} declares {elements} elements, more than the file can hold")
            self.pos += 4 + 8  # type, offset
            if self.pos > self.size:
                raise GGUFBoundsError(f"truncated: tensor {index} runs past the end ({self.size} bytes)")


def check_gguf(path: str | os.PathLike[str]) -> None:
    """Raises GGUFBoundsError if the metadata of the GGUF file at `path` is out of bounds;
    OSError if it cannot be read."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise GGUFBoundsError("empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            _Walk(data, size).run()
