"""One load's progress, per buffer, from the most exact source each buffer has.

Sources, best first (`EndpointProgress.source`):

- ``tcp``: bytes the RPC server acknowledged on the instance's connection
  (`tcp_info.bytes_acked`, see `sources.tcp`), minus what had been acknowledged before
  the buffer line appeared (the RPC hello, device-memory queries and the allocation
  itself), capped at the buffer size. A sample lower than the previous one means a new
  connection: the old one's bytes are kept.
- ``percent``: llama-box's `loaded  36% model tensors into buffer`, a ratio of the whole
  load, applied to every buffer without a tcp sample.
- ``dots``: the upstream progress dots. One dot is printed per *change* of the integer
  percentage, not per percent (a jump from 3 % to 10 % prints one dot), so dots are a
  heartbeat only: they never give a ratio.
- ``buffer``: only the size is known (`load_tensors: RPC[ep] model buffer size = X MiB`).

Where no buffer line is printed (llama.cpp's default verbosity since late 2025), `plan`
gives each endpoint's total from the GGUF and the split (`transfer_plan`); a buffer line
still wins. The plan also lays the upload out on the wire (`upload_track`), so tcp bytes
map to load bytes even when the RPC server serves tensors from its cache (`-c`): those
count as done, and as `bytes_cached`, once the server has answered their hash.

Rates are exponentially weighted (time constant `rate_tau_s`, so irregular sample
intervals weigh correctly; a plain average until `rate_tau_s` of samples exist); an ETA
is remaining / rate. Pure logic on an injected clock; `LoadProgress` takes a lock, so a
poller thread (tcp samples) and a log reader (buffer, percent, dots) may both feed it.
`ProgressThrottle` decides when a progress event is worth emitting.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .state import EndpointProgress
from .upload_track import UploadTiming, UploadTrack

__all__ = ["LoadProgress", "ProgressThrottle", "buffer_endpoint"]

Clock = Callable[[], float]

_RPC_BUFFER = re.compile(r"^RPC\d*\[(?P<ep>[^\]]+|\[[^\]]+\]:\d+)\]$")


def buffer_endpoint(name: str) -> str:
    """`RPC[host:port]` or `RPC0[host:port]` -> `host:port`; other buffer names as they are."""
    name = name.strip()
    m = _RPC_BUFFER.match(name)
    return m.group("ep") if m else name


class _Rate:
    """EWMA of d(value)/dt with a time constant, robust to irregular sample spacing. Until
    `tau_s` of samples exist it is the plain average since the first one (no start-up bias)."""

    def __init__(self, tau_s: float) -> None:
        self.tau_s = tau_s
        self.value: float | None = None
        self._last: tuple[float, float] | None = None
        self._span = 0.0

    def start(self, now: float, value: float) -> None:
        if self._last is None:
            self._last = (now, value)

    def update(self, now: float, value: float) -> None:
        if self._last is None:
            self._last = (now, value)
            return
        t0, v0 = self._last
        dt = now - t0
        if dt <= 0:
            return
        inst = max(0.0, (value - v0) / dt)
        self._span += dt
        alpha = max(1.0 - math.exp(-dt / self.tau_s), dt / self._span)
        self.value = inst if self.value is None else self.value + alpha * (inst - self.value)
        self._last = (now, value)


@dataclass
class _Buffer:
    name: str
    rate: _Rate
    total: int | None = None
    done: float = 0.0
    source: str = "buffer"
    acked_before: int = 0  # cumulative acked bytes when the buffer line appeared
    acked_last: int = 0  # last raw sample (to spot a new connection)
    acked_carry: int = 0  # bytes of earlier connections
    tcp: bool = False
    planned: bool = False  # total from the GGUF plan, until a buffer line gives one
    track: UploadTrack | None = None
    cache_known: bool = False  # the plan knows which tensors the server has cached
    cached: float = 0.0  # load bytes the server took from its cache
    sampled_at: float = 0.0  # clock of the last tcp sample
    wire: float = 0.0  # upload bytes acknowledged (with a track)
    timing: UploadTiming | None = None  # per wire byte and per cached byte, when the cache is known

    @property
    def acked(self) -> int:
        return self.acked_carry + self.acked_last


class LoadProgress:
    """Progress of one load, per RPC endpoint or local device buffer."""

    def __init__(self, clock: Clock = time.monotonic, *, rate_tau_s: float = 3.0) -> None:
        if not rate_tau_s > 0:
            raise ValueError("rate_tau_s: must be greater than 0")
        self._clock = clock
        self._tau = rate_tau_s
        self._buffers: dict[str, _Buffer] = {}
        self._percent: float | None = None
        self._dots = 0
        self._finished = False
        self._overall = _Rate(rate_tau_s)  # of the overall ratio, per second
        self._lock = threading.Lock()

    def _get(self, name: str) -> _Buffer:
        key = buffer_endpoint(name)
        entry = self._buffers.get(key)
        if entry is None:
            entry = self._buffers[key] = _Buffer(key, _Rate(self._tau))
        return entry

    # ------------------------------------------------------------ inputs

    def buffer(self, endpoint_or_device: str, size_bytes: int) -> None:
        """A `model buffer size` line. Repeated names add up (llama.cpp splits large buffers)."""
        if size_bytes < 0:
            return
        with self._lock:
            b = self._get(endpoint_or_device)
            if b.planned:  # the server's own figure replaces the plan's; the count goes on from the same start
                b.planned, b.total = False, 0
            if b.total is None:
                b.acked_before = b.acked
                b.rate.start(self._clock(), 0.0)
                self._overall.start(self._clock(), 0.0)  # the transfer starts at the first buffer line
            b.total = (b.total or 0) + int(size_bytes)
            self._refresh(b)

    def plan(self, endpoint: str, tensors: Sequence[tuple[int, bool, bool]], *, cache_known: bool = False) -> None:
        """The GGUF's plan for an RPC endpoint: (bytes, offered by hash, cached) per tensor in
        upload order. Gives the total until a buffer line does, and the wire layout always."""
        with self._lock:
            b = self._get(endpoint)
            b.track = UploadTrack(tensors)
            b.cache_known = cache_known
            b.timing = UploadTiming() if cache_known else None
            if b.total is None and b.track.load_bytes > 0:
                # the track lays out the endpoint's whole conversation: count from its first byte
                b.acked_before = 0
                b.rate.start(self._clock(), 0.0)
                self._overall.start(self._clock(), 0.0)
                b.total, b.planned = b.track.load_bytes, True
            self._refresh(b)

    def tcp_sample(self, endpoint: str, bytes_acked: int) -> None:
        """The sum of bytes_acked over the instance's connections to `endpoint`, now."""
        with self._lock:
            b = self._get(endpoint)
            if bytes_acked < b.acked_last:
                b.acked_carry += b.acked_last  # a new connection started from zero
            b.acked_last = int(bytes_acked)
            b.sampled_at = self._clock()
            if b.total is not None:
                b.tcp = True
            self._refresh(b)

    def percent(self, p: float) -> None:
        """llama-box's `loaded  p% model tensors into buffer` (the whole load)."""
        if p != p:  # NaN
            return
        with self._lock:
            self._percent = max(self._percent or 0.0, min(100.0, max(0.0, float(p))))
            self._refresh(*self._buffers.values())

    def dots(self, n: int = 1) -> None:
        """`n` more progress dots: a sign of life, not an amount."""
        with self._lock:
            self._dots += max(0, int(n))
            self._refresh(*self._buffers.values())

    def finish(self) -> None:
        """The load completed: every buffer is done, whatever its source said last."""
        with self._lock:
            self._finished = True
            self._refresh(*self._buffers.values())

    def _refresh(self, *buffers: _Buffer) -> None:
        now = self._clock()
        for b in buffers:
            if b.total is None:
                continue
            if self._finished:
                if b.tcp and b.track is not None and b.cache_known:
                    b.cached = float(b.track.cached_bytes)
                elif b.tcp and b.track is not None:
                    # The load completed: what the wire never carried came from the server's cache,
                    # less what it may have carried since the last sample.
                    carried = b.track.position(max(0, b.acked - b.acked_before)).done
                    lag = (b.rate.value or 0.0) * max(0.0, now - b.sampled_at)
                    b.cached = max(0.0, min(b.total - carried - lag, b.track.hashed_bytes))
                b.done = float(b.total)
                b.source = "tcp" if b.tcp else "percent" if self._percent is not None else b.source
            elif b.tcp:
                wire = max(0, b.acked - b.acked_before)
                # never backwards: a plan arriving after the buffer line changes how bytes map
                if b.track is not None:
                    at = b.track.position(wire)
                    b.done, b.cached, b.wire = max(b.done, float(min(b.total, at.done))), at.cached, float(wire)
                    if b.timing is not None:
                        b.timing.observe(now, b.wire, b.cached)
                else:
                    b.done = max(b.done, float(min(b.total, wire)))
                b.source = "tcp"
            elif self._percent is not None:
                b.done = b.total * self._percent / 100.0
                b.source = "percent"
            elif self._dots:
                b.source = "dots"
            if b.source in ("tcp", "percent"):
                b.rate.update(now, b.done)
        ratio, _ = self._ratio()
        if ratio is not None:
            self._overall.update(now, ratio)

    # ------------------------------------------------------------ outputs

    def snapshot(self) -> tuple[EndpointProgress, ...]:
        """One EndpointProgress per buffer whose size line has been seen."""
        out = []
        with self._lock:
            for b in self._buffers.values():
                if b.total is None:
                    continue  # a tcp sample for an endpoint whose buffer line has not come yet
                rate = b.rate.value if b.source in ("tcp", "percent") else None
                eta = self._timed_eta(b) if b.timing is not None and b.tcp else _eta(b.total - b.done, rate)
                out.append(
                    EndpointProgress(
                        endpoint=b.name,
                        bytes_total=b.total,
                        bytes_done=int(b.done),
                        rate_bps=rate,
                        eta_s=eta,
                        source=b.source,
                        bytes_cached=int(b.cached),
                    )
                )
        return tuple(out)

    def _timed_eta(self, b: _Buffer) -> float | None:
        if b.done >= (b.total or 0):
            return 0.0
        track = b.track
        return b.timing.eta(track.wire_bytes - b.wire, track.cached_bytes - b.cached)

    def _ratio(self) -> tuple[float | None, str]:
        counted = [b for b in self._buffers.values() if b.total and b.source in ("tcp", "percent")]
        if counted:
            ratio = sum(b.done for b in counted) / sum(b.total or 0 for b in counted)
            source = "percent" if any(b.source == "percent" for b in counted) else "tcp"
            return min(1.0, ratio), source
        if self._finished:
            return 1.0, "buffer"
        if self._percent is not None:
            return self._percent / 100.0, "percent"
        return None, "dots" if self._dots else "buffer"

    def overall(self) -> tuple[float | None, float | None, str]:
        """(ratio of the load, ETA in seconds, source): bytes-weighted over the buffers with a
        tcp or percent source (local buffers with neither are left out); no ratio from dots."""
        with self._lock:
            ratio, source = self._ratio()
            if ratio is None:
                return None, None, source
            timed = [b for b in self._buffers.values() if b.timing is not None and b.tcp and b.total]
            if timed:  # the cache is known: the slowest endpoint's fitted time is the load's
                etas = [self._timed_eta(b) for b in timed]
                return ratio, None if None in etas else max(etas), source
            return ratio, _eta(1.0 - ratio, self._overall.value), source


def _eta(remaining: float, rate: float | None) -> float | None:
    if remaining <= 0:
        return 0.0
    if not rate or rate <= 0:
        return None
    return remaining / rate


class ProgressThrottle:
    """When to emit a progress event: once the ratio moved `min_step` AND `min_interval_s`
    passed since the last one ("every 5 % or every 2 s, whichever comes later"). The final
    event (ratio >= 1 or `final=True`) is always allowed once; one slot of `max_events` is
    kept for it, so the span's event limit (128 in the SDK) is never reached. Without a ratio
    (dots only) an event is allowed every `heartbeat_interval_s`.
    """

    def __init__(
        self,
        min_step: float = 0.05,
        min_interval_s: float = 2.0,
        max_events: int = 100,
        *,
        heartbeat_interval_s: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if not 0 < min_step <= 1:
            raise ValueError("min_step: must be in (0, 1]")
        if min_interval_s < 0:
            raise ValueError("min_interval_s: must be at least 0")
        if max_events < 2:
            raise ValueError("max_events: must be at least 2")
        if not heartbeat_interval_s > 0:
            raise ValueError("heartbeat_interval_s: must be greater than 0")
        self.min_step = min_step
        self.min_interval_s = min_interval_s
        self.max_events = max_events
        self.heartbeat_interval_s = heartbeat_interval_s
        self._clock = clock
        self._last_time = clock()
        self._last_ratio = 0.0
        self._final_sent = False
        self.emitted = 0

    def should_emit(self, ratio: float | None, *, final: bool = False) -> bool:
        """True if an event should be emitted now; the emission is then counted."""
        if self._final_sent or self.emitted >= self.max_events:
            return False
        now = self._clock()
        if final or (ratio is not None and ratio >= 1.0):
            self._final_sent = True
            return self._emit(now, 1.0 if ratio is None else ratio)
        if self.emitted >= self.max_events - 1:
            return False
        elapsed = now - self._last_time
        if ratio is None:
            return elapsed >= self.heartbeat_interval_s and self._emit(now, self._last_ratio)
        if ratio - self._last_ratio >= self.min_step - 1e-9 and elapsed >= self.min_interval_s:
            return self._emit(now, ratio)
        return False

    def _emit(self, now: float, ratio: float) -> bool:
        self._last_time = now
        self._last_ratio = ratio
        self.emitted += 1
        return True
