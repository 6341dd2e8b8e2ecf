"""The instance's live state, as the wrapper knows it: what `/health` answers and what
a launcher reads. Written by the wrapper's threads, read by anyone; reads take a
consistent snapshot."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from .record import Phase


@dataclass(frozen=True)
class EndpointProgress:
    """Weights bound for one buffer: an RPC endpoint (`host:port`) or a local device."""

    endpoint: str
    bytes_total: int | None = None
    bytes_done: int = 0
    rate_bps: float | None = None
    eta_s: float | None = None
    source: str = "buffer"  # tcp | percent | dots | buffer
    bytes_cached: int = 0  # of bytes_done, taken from the RPC server's tensor cache (never crossed the link)

    @property
    def ratio(self) -> float | None:
        if not self.bytes_total:
            return None
        return min(1.0, self.bytes_done / self.bytes_total)


@dataclass(frozen=True)
class PeerHealth:
    endpoint: str
    state: str = "up"  # up | degraded | lost
    reason: str | None = None
    since_last_ack_s: float | None = None


@dataclass(frozen=True)
class ModelStatus:
    """One model of a llama-server router (`router_models`)."""

    name: str
    status: str  # downloading | downloaded | loading | loaded | sleeping | unloaded | failed
    progress: float | None = None
    eta_s: float | None = None
    exit_code: int | None = None


@dataclass(frozen=True)
class Snapshot:
    phase: Phase = Phase.STARTING
    progress: float | None = None
    eta_s: float | None = None
    endpoints: tuple[EndpointProgress, ...] = ()
    peers: tuple[PeerHealth, ...] = ()
    exit_code: int | None = None
    deadline_unix: float | None = None  # when a load still running becomes overdue
    models: tuple[ModelStatus, ...] = ()  # a router's models

    def model(self, name: str) -> ModelStatus | None:
        return next((m for m in self.models if m.name == name), None)

    @property
    def lost_peer(self) -> PeerHealth | None:
        return next((p for p in self.peers if p.state == "lost"), None)


@dataclass
class InstanceState:
    """Thread-safe holder of the current Snapshot."""

    _snapshot: Snapshot = field(default_factory=Snapshot)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> Snapshot:
        return self._snapshot  # an immutable object, replaced atomically

    def update(self, **changes: object) -> Snapshot:
        with self._lock:
            self._snapshot = replace(self._snapshot, **changes)
            return self._snapshot

    def set_endpoint(self, progress: EndpointProgress) -> Snapshot:
        with self._lock:
            others = tuple(e for e in self._snapshot.endpoints if e.endpoint != progress.endpoint)
            self._snapshot = replace(self._snapshot, endpoints=(*others, progress))
            return self._snapshot

    def set_model(self, model: ModelStatus) -> Snapshot:
        with self._lock:
            others = tuple(m for m in self._snapshot.models if m.name != model.name)
            self._snapshot = replace(self._snapshot, models=(*others, model))
            return self._snapshot

    def drop_model(self, name: str) -> Snapshot:
        with self._lock:
            self._snapshot = replace(self._snapshot, models=tuple(m for m in self._snapshot.models if m.name != name))
            return self._snapshot

    def set_peer(self, peer: PeerHealth) -> Snapshot:
        with self._lock:
            others = tuple(p for p in self._snapshot.peers if p.endpoint != peer.endpoint)
            self._snapshot = replace(self._snapshot, peers=(*others, peer))
            return self._snapshot
