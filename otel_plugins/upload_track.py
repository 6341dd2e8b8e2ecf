"""Where an RPC weight upload stands, from the bytes the kernel saw acknowledged.

ggml-rpc (protocol v3 and later) uploads the tensors of an endpoint one message after
the other, in llama.cpp's creation order (`transfer_plan`):

- a tensor of at most `HASH_THRESHOLD` bytes is one `SET_TENSOR` message:
  command, size, `rpc_tensor`, cache flag, offset, then the data;
- a larger one is first offered as a `SET_TENSOR_HASH` message (command, size,
  `rpc_tensor`, offset, FNV-1a hash) whose 9-byte answer says whether the server has it
  in its cache; only if not does the `SET_TENSOR` message with the data follow.

So, knowing which tensors the server has cached, every tensor has a fixed place on the
wire, and the acknowledged byte count maps to a position in the plan: load bytes done,
and of those, cached bytes (tensors the server took from its cache, that never crossed
the link). A cached tensor costs `HASH_MESSAGE` bytes on the wire and counts as done
once the next tensor's first byte is acknowledged (the client only goes on after the
server's answer). Without cache knowledge every tensor is laid out as uncached: a cold
load maps exactly, a warm one shows little progress until it completes.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["HASH_MESSAGE", "SET_TENSOR_OVERHEAD", "Position", "UploadTiming", "UploadTrack"]

RPC_TENSOR = 296  # sizeof(struct rpc_tensor), packed (ggml-rpc.cpp, protocol v7)
SET_TENSOR_OVERHEAD = 1 + 8 + RPC_TENSOR + 1 + 8  # command, size, tensor, cache flag, offset
HASH_MESSAGE = 1 + 8 + RPC_TENSOR + 8 + 8  # command, size, tensor, offset, hash


@dataclass(frozen=True, slots=True)
class Position:
    done: float  # load bytes in place on the server
    cached: float  # of which taken from the server's cache


class UploadTrack:
    """The plan's tensors laid out on the wire; `position(wire_bytes)` maps back to load bytes.

    `tensors` are (bytes, offered by hash, cached) in upload order.
    """

    def __init__(self, tensors: Sequence[tuple[int, bool, bool]]) -> None:
        self._ends: list[int] = []  # wire offset where each tensor's messages end
        self._starts: list[int] = []  # wire offset where each tensor's data starts (uncached)
        self._load: list[int] = []  # load bytes through each tensor
        self._cached: list[int] = []  # cached bytes through each tensor
        self._sizes: list[int] = []
        self._is_cached: list[bool] = []
        self.hashed_bytes = sum(nbytes for nbytes, hashed, _ in tensors if hashed)
        wire = load = cached = 0
        for nbytes, hashed, is_cached in tensors:
            is_cached = bool(hashed and is_cached)
            wire += HASH_MESSAGE if hashed else 0
            if not is_cached:
                wire += SET_TENSOR_OVERHEAD
            self._starts.append(wire)
            if not is_cached:
                wire += nbytes
            load += nbytes
            cached += nbytes if is_cached else 0
            self._ends.append(wire)
            self._load.append(load)
            self._cached.append(cached)
            self._sizes.append(nbytes)
            self._is_cached.append(is_cached)

    @property
    def wire_bytes(self) -> int:
        return self._ends[-1] if self._ends else 0

    @property
    def load_bytes(self) -> int:
        return self._load[-1] if self._load else 0

    @property
    def cached_bytes(self) -> int:
        return self._cached[-1] if self._cached else 0

    def position(self, wire_bytes: float) -> Position:
        """Load and cached bytes done once `wire_bytes` of the upload were acknowledged."""
        if not self._ends:
            return Position(0.0, 0.0)
        # tensors whose messages ended strictly before `wire_bytes`: a cached tensor is only
        # done once something after it was acknowledged (the server answered its hash)
        i = bisect.bisect_left(self._ends, wire_bytes)
        if i >= len(self._ends):
            return Position(float(self._load[-1]), float(self._cached[-1]))
        done = float(self._load[i - 1]) if i else 0.0
        cached = float(self._cached[i - 1]) if i else 0.0
        if not self._is_cached[i]:
            done += min(self._sizes[i], max(0.0, wire_bytes - self._starts[i]))
        return Position(done, cached)


_STARTED_BYTES = 64 * 1024  # more than the device and memory queries that precede an upload


class UploadTiming:
    """Seconds per wire byte and per cached byte, fitted over the upload's sampling intervals.

    A cached tensor costs time (the client hashes it, the server reads its cache file) but
    almost no wire bytes, so one rate over load bytes mispredicts a load that mixes cached
    and uncached tensors. Each sampling interval is one equation
    `dt = wire_bytes * a + cached_bytes * b`, solved by least squares weighted by
    1 / (bytes in the interval): with one kind of bytes only this is total time over total
    bytes, so stalls (the server writing its cache file, a slow patch of the link) count at
    their weight. Once bytes have moved, intervals with none add their time to the next
    one; weights decay by `forget` per interval, so a link that changes speed is followed.
    The connection is only seen once it exists: bytes already there at the first sample
    moved since the previous sampling, `first_interval_s` earlier at most.
    """

    def __init__(self, forget: float = 0.97, first_interval_s: float = 0.25) -> None:
        self.forget = forget
        self.first_interval_s = first_interval_s
        self._sums = [0.0] * 5  # ww, wc, cc, wt, ct (each / bytes in the interval)
        self._last: tuple[float, float, float] | None = None
        self._moving = False

    def observe(self, now: float, wire: float, cached: float) -> None:
        if self._last is None:
            started = wire + cached >= _STARTED_BYTES
            self._last = (now - self.first_interval_s, 0.0, 0.0) if started else (now, wire, cached)
        t0, w0, c0 = self._last
        dt, dw, dc = now - t0, max(0.0, wire - w0), max(0.0, cached - c0)
        if dt <= 0:
            return
        if not self._moving and dw + dc < _STARTED_BYTES:
            self._last = (now, wire, cached)  # device queries before the upload: their wait is not the upload's
            return
        if dw <= 0 and dc <= 0:
            return
        self._moving = True
        n, f, s = dw + dc, self.forget, self._sums
        s[:] = [s[0] * f + dw * dw / n, s[1] * f + dw * dc / n, s[2] * f + dc * dc / n,
                s[3] * f + dw * dt / n, s[4] * f + dc * dt / n]
        self._last = (now, wire, cached)

    def seconds_per_byte(self) -> tuple[float | None, float | None]:
        ww, wc, cc, wt, ct = self._sums
        det = ww * cc - wc * wc
        if ww > 0 and cc > 0 and det > 1e-9 * ww * cc:
            a, b = (wt * cc - ct * wc) / det, (ct * ww - wt * wc) / det
            if a >= 0 and b >= 0:
                return a, b
        # one kind of bytes only, or a fit outside the physical range: each kind alone
        return (wt / ww if ww > 0 else None), (ct / cc if cc > 0 else None)

    def eta(self, wire_left: float, cached_left: float) -> float | None:
        a, b = self.seconds_per_byte()
        if wire_left > 0 and a is None:
            return None
        if cached_left > 0 and b is None:
            b = a  # no cached byte seen yet: priced like wire bytes, an upper bound
            if b is None:
                return None
        return max(0.0, wire_left) * (a or 0.0) + max(0.0, cached_left) * (b or 0.0)
