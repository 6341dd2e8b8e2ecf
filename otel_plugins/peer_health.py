"""RPC peer health: is each `--rpc` server still there for this instance?

Each poll (every `poll_interval_s`) brings, per endpoint, the instance's connections to
it (`sources.tcp.tcp_connections`: a list, possibly empty, or None when the kernel's view
is unavailable) and, when one was due, the result of a connect probe. The *primary*
connection is the ESTABLISHED one with the most bytes acknowledged. A connection is
*in use* once it stayed ESTABLISHED for `lost_after_s` or carried 1 MiB: llama.cpp opens
short connections to query a server's memory before the load, and their closing is not
a loss. A connection is *stalled* when data is outstanding (unacked > 0) and no ACK came
for more than `lost_after_s`; it is *working* when it is ESTABLISHED and not stalled.

LOST (first rule that matches gives the reason):
  1. a connection of the instance had been in use and now none is ESTABLISHED (nor in a
     state of rule 2): "connection closed" (a reset connection, too, just disappears from
     the kernel's tables);
  2. no connection is ESTABLISHED and one is in CLOSE_WAIT, LAST_ACK, CLOSING, TIME_WAIT
     or CLOSED ("peer closed the connection");
  3. the primary connection is stalled and its total retransmissions grew since the last
     poll that saw an ACK arrive (or nothing outstanding) ("no ack for X s, N retransmissions");
  4. the connect probe failed (refused, timed out, unreachable) and the instance has no
     ESTABLISHED connection to the peer.
Probes are only sent (at most once per `connect_interval_s` per endpoint) while the
instance has no ESTABLISHED connection to the peer. While it has one, that connection is
the evidence: a single-client rpc-server (upstream, listen backlog 1) leaves probes
unanswered while it serves the instance, and each unanswered probe fills its backlog, so
a probe would fail exactly when the instance is busiest and keep failing until the
instance lets go. A stalled connection is judged by rule 3 alone.

DEGRADED (only from up; checked on the primary connection against the previous poll):
  - total retransmissions rose by at least `degraded_retrans` since the previous poll;
  - the smoothed RTT reached `rtt_jump_factor` times its baseline (an EWMA of the RTT
    while it is not jumped, floored at RTT_FLOOR_MS so microsecond loopback and LAN
    jitter never counts);
  - the connection is stalled but retransmissions have not grown (yet).

RECOVERED (back to up):
  - from degraded: none of the degraded conditions held for `lost_after_s`;
  - from lost, with an ESTABLISHED connection: it is working and the peer acknowledged
    something after the loss (a new session's handshake counts);
  - from lost, without one: no connection of the instance had been in use, and a connect
    probe succeeded after the loss. An instance whose session was in use and is gone stays
    lost until it opens a new one: the server answering a probe does not give it back.

`since_last_ack_s` is the primary connection's `lastack_ms` in seconds.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .policy.config import RpcPeerConfig
from .sources.tcp import TcpInfo, resolve_endpoint, tcp_connections
from .state import PeerHealth

__all__ = [
    "PeerHealthMonitor",
    "PeerWatcher",
    "Transition",
    "connect_error",
    "connect_probe",
]

_log = logging.getLogger(__name__)

Clock = Callable[[], float]
UP, DEGRADED, LOST = "up", "degraded", "lost"
PEER_CLOSED_STATES = frozenset({"CLOSE_WAIT", "LAST_ACK", "CLOSING", "TIME_WAIT", "CLOSED"})
RTT_FLOOR_MS = 5.0
IN_USE_BYTES = 1 << 20
_RTT_ALPHA = 0.1


# ---------------------------------------------------------------- probe

def connect_error(endpoint: str, timeout: float = 1.0) -> str | None:
    """Try a TCP connect to `endpoint` and close at once: None on success, else why it failed."""
    target = resolve_endpoint(endpoint)
    if target is None:
        return "unresolvable"
    try:
        with socket.create_connection(target, timeout=timeout):
            return None
    except ConnectionRefusedError:
        return "refused"
    except (socket.timeout, TimeoutError):
        return "timed out"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc)).lower() if exc.errno else str(exc)


def connect_probe(endpoint: str, timeout: float = 1.0) -> bool:
    """True if a TCP connection to `endpoint` opens within `timeout` seconds."""
    return connect_error(endpoint, timeout) is None


# ---------------------------------------------------------------- rules

@dataclass(frozen=True)
class Transition:
    health: PeerHealth
    previous: str


@dataclass
class _Peer:
    endpoint: str
    health: PeerHealth
    in_use: bool = False  # some connection of the instance had been in use
    known: dict[int, float] = field(default_factory=dict)  # inode -> first seen ESTABLISHED
    inode: int | None = None  # primary connection tracked below
    prev_total_retrans: int | None = None
    prev_at: float | None = None
    retrans_mark: int = 0
    rtt_base: float | None = None
    lost_at: float | None = None
    last_probe_ok: bool | None = None
    last_bad_at: float | None = None  # the last poll with a degraded condition
    last_probe_at: float | None = None
    working: bool = False
    established: bool = False  # the instance has an ESTABLISHED connection to the peer


def _primary(conns: Sequence[TcpInfo]) -> TcpInfo | None:
    established = [c for c in conns if c.state == "ESTABLISHED"]
    return max(established, key=lambda c: c.bytes_acked) if established else None


class PeerHealthMonitor:
    """The rules above, as a state machine per endpoint; pure logic on an injected clock."""

    def __init__(self, config: RpcPeerConfig | None = None, clock: Clock = time.monotonic) -> None:
        self.config = config or RpcPeerConfig()
        self._clock = clock
        self._peers: dict[str, _Peer] = {}

    def _peer(self, endpoint: str) -> _Peer:
        p = self._peers.get(endpoint)
        if p is None:
            p = self._peers[endpoint] = _Peer(endpoint, PeerHealth(endpoint))
        return p

    def health(self, endpoint: str) -> PeerHealth:
        return self._peer(endpoint).health

    def peers(self) -> tuple[PeerHealth, ...]:
        return tuple(p.health for p in list(self._peers.values()))

    def probe_due(self, endpoint: str) -> bool:
        """Whether a connect probe should be sent now: no ESTABLISHED connection, rate-limited."""
        p = self._peer(endpoint)
        if p.established:
            return False
        return p.last_probe_at is None or self._clock() - p.last_probe_at >= self.config.connect_interval_s

    def observe(
        self,
        endpoint: str,
        connections: Sequence[TcpInfo] | None,
        probe: bool | None = None,
        probe_error: str | None = None,
    ) -> Transition | None:
        """One poll's observation; returns the transition if the state changed."""
        cfg, now, p = self.config, self._clock(), self._peer(endpoint)
        lost_reason: str | None = None
        degraded_reason: str | None = None
        since_ack: float | None = None
        if probe is not None:
            p.last_probe_at, p.last_probe_ok = now, probe
        if connections is None:
            p.working = p.established = False  # unknown: let the probe speak
        else:
            primary = _primary(connections)
            was_in_use = p.in_use
            seen = {c.inode for c in connections if c.state == "ESTABLISHED"}
            for c in connections:
                if c.state == "ESTABLISHED":
                    first = p.known.setdefault(c.inode, now)
                    if now - first >= cfg.lost_after_s or c.bytes_acked >= IN_USE_BYTES:
                        p.in_use = True
            p.known = {i: t for i, t in p.known.items() if i in seen}
            p.established = primary is not None
            if primary is None:
                p.working = False
                closed = next((c for c in connections if c.state in PEER_CLOSED_STATES), None)
                if closed is not None:
                    lost_reason = f"peer closed the connection ({closed.state})"
                    if closed.lastack_ms is not None:
                        since_ack = closed.lastack_ms / 1000.0
                elif was_in_use:
                    lost_reason = "connection closed"
            else:
                since_ack, lost_reason, degraded_reason = self._connection(p, primary, now)
        if probe is False and not p.established and lost_reason is None:
            lost_reason = f"connect probe failed: {probe_error or 'refused or timed out'}"
        return self._decide(p, now, since_ack, lost_reason, degraded_reason)

    def _connection(self, p: _Peer, c: TcpInfo, now: float) -> tuple[float | None, str | None, str | None]:
        cfg = self.config
        if c.inode != p.inode:  # a new primary connection: new baselines
            p.inode, p.prev_total_retrans, p.rtt_base, p.prev_at = c.inode, None, None, None
            p.retrans_mark = c.total_retrans
        since_ack = c.lastack_ms / 1000.0 if c.lastack_ms is not None else None
        outstanding = c.unacked > 0 or c.retrans > 0
        stalled = since_ack is not None and since_ack > cfg.lost_after_s and outstanding
        # an ACK arrived since the previous poll (or this is the first look at the connection)
        fresh_ack = since_ack is not None and (p.prev_at is None or since_ack < now - p.prev_at)
        p.working = not stalled
        p.prev_at = now
        lost = degraded = None
        if fresh_ack or not outstanding:
            p.retrans_mark = c.total_retrans
        if stalled and c.total_retrans > p.retrans_mark:
            lost = f"no ack for {since_ack:.1f}s, {c.total_retrans - p.retrans_mark} retransmissions"
        elif stalled:
            degraded = f"no ack for {since_ack:.1f}s with data outstanding"
        if p.prev_total_retrans is not None and c.total_retrans - p.prev_total_retrans >= cfg.degraded_retrans:
            degraded = degraded or f"{c.total_retrans - p.prev_total_retrans} retransmissions since the last poll"
        p.prev_total_retrans = c.total_retrans
        if c.rtt_ms is not None and c.rtt_ms > 0:
            base = p.rtt_base if p.rtt_base is not None else c.rtt_ms
            if c.rtt_ms >= cfg.rtt_jump_factor * max(base, RTT_FLOOR_MS):
                degraded = degraded or f"rtt {c.rtt_ms:.1f} ms, {c.rtt_ms / base:.1f}x its baseline {base:.1f} ms"
            else:
                p.rtt_base = base + _RTT_ALPHA * (c.rtt_ms - base)
        return since_ack, lost, degraded

    def _decide(
        self,
        p: _Peer,
        now: float,
        since_ack: float | None,
        lost_reason: str | None,
        degraded_reason: str | None,
    ) -> Transition | None:
        old = p.health
        state, reason = old.state, old.reason
        if lost_reason is not None:
            if state != LOST:
                p.lost_at = now
            state, reason = LOST, lost_reason
        elif state == LOST:
            lost_for = now - (p.lost_at or now)
            if p.established:
                if p.working and since_ack is not None and since_ack < lost_for:
                    state, reason = UP, "recovered: the connection is acknowledged again"
            elif not p.in_use and p.last_probe_ok and (p.last_probe_at or 0.0) > (p.lost_at or 0.0):
                state, reason = UP, "recovered: connect probe succeeded"
        elif degraded_reason is not None:
            state, reason, p.last_bad_at = DEGRADED, degraded_reason, now
        elif state == DEGRADED and now - (p.last_bad_at or now) >= self.config.lost_after_s:
            state, reason = UP, f"recovered: connection clean for {self.config.lost_after_s:g}s"
        p.health = PeerHealth(p.endpoint, state, reason, since_ack)
        return Transition(p.health, old.state) if state != old.state else None


# ---------------------------------------------------------------- thread

Connections = Callable[[int | None, Iterable[str]], Mapping[str, Sequence[TcpInfo]]]
OnChange = Callable[[PeerHealth, str], None]


class PeerWatcher:
    """Polls the kernel and probes every `poll_interval_s` on a daemon thread; calls
    `on_change(health, previous_state)` on each transition (and `on_poll(connections)` after
    each poll, e.g. to feed `LoadProgress.tcp_sample`). Nothing raises into the caller."""

    def __init__(
        self,
        pid: int | None,
        endpoints: Iterable[str],
        on_change: OnChange,
        config: RpcPeerConfig | None = None,
        *,
        on_poll: Callable[[Mapping[str, Sequence[TcpInfo]]], None] | None = None,
        connections: Connections = tcp_connections,
        probe: Callable[[str, float], str | None] = connect_error,
        clock: Clock = time.monotonic,
    ) -> None:
        self.pid = pid
        self.endpoints = tuple(endpoints)
        self.config = config or RpcPeerConfig()
        self.monitor = PeerHealthMonitor(self.config, clock)
        for ep in self.endpoints:
            self.monitor.health(ep)  # every endpoint is "up" until a poll says otherwise
        self._on_change = on_change
        self._on_poll = on_poll
        self._connections = connections
        self._probe = probe
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PeerWatcher:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="otel-plugins-peer-watcher", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self) -> PeerWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def peers(self) -> tuple[PeerHealth, ...]:
        return self.monitor.peers()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.config.poll_interval_s)

    def poll_once(self) -> list[Transition]:
        """One poll of every endpoint; the transitions it caused."""
        out: list[Transition] = []
        try:
            seen = self._connections(self.pid, self.endpoints)
        except Exception as exc:  # noqa: BLE001 - an injected source may fail; no data then
            _log.debug("peer watcher: connections failed: %r", exc)
            seen = {}
        if self._on_poll is not None:
            _call(self._on_poll, seen)
        timeout = min(1.0, self.config.connect_interval_s)
        for ep in self.endpoints:
            if self._stop.is_set():
                break
            probe, error = None, None
            try:
                if self.monitor.probe_due(ep):
                    error = self._probe(ep, timeout)
                    probe = error is None
                t = self.monitor.observe(ep, seen.get(ep), probe, error)
            except Exception as exc:  # noqa: BLE001
                _log.debug("peer watcher: %s: %r", ep, exc)
                continue
            if t is not None:
                out.append(t)
                _call(self._on_change, t.health, t.previous)
        return out


def _call(fn: Callable[..., object], *args: object) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - a callback's failure must not stop the watcher
        _log.debug("peer watcher: callback failed", exc_info=True)
