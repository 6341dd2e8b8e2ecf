"""The instance's phase, moved by what its lines announce and by its process exiting.

The policy reads the phase before a line is decided; this machine then takes the line
into account, so data flows one way.
"""

from __future__ import annotations

from collections.abc import Callable

from . import names
from .policy.decide import LOADING_STATUS, Decision
from .record import Event, Kind, Phase, Record

PhaseListener = Callable[[Phase, Phase, float], None]

_EVENT_PHASE = {
    Event.LOADING: Phase.LOADING,
    Event.READY: Phase.READY,
    Event.LOAD_FAILED: Phase.FAILED,
    Event.NOT_READY: Phase.FAILED,
}
_NOT_READY = (Phase.STARTING, Phase.LOADING)
_ENVELOPE = "llama.log.envelope"  # dialects' envelope field; "router": a line of a router's model process


class Lifecycle:
    """Phase machine: starting -> loading -> ready, or -> failed; exited at the end."""

    def __init__(
        self, started_at: float | None = None, load_deadline_s: float | None = None, *, initial: Phase = Phase.STARTING
    ) -> None:
        # An rpc-server has no load of its own: it starts in READY.
        self.phase = initial
        self.started_at = started_at
        self.load_started_at: float | None = None
        self.load_deadline_s = load_deadline_s
        self.exit_code: int | None = None
        self._listeners: list[PhaseListener] = []
        # A health path has answered that the server is loading: from then on only a health
        # path can say it is ready (SGLang answers /model_info while /health says it warms up).
        self._health_said_loading = False
        # A line announced a stop (a signal taken, shards shut down), or the process exited: a
        # worker ending now is part of it. Not a phase: probes and loads are judged as before.
        self.stopping = False

    @property
    def awaiting_ready(self) -> bool:
        """Starting or loading: not ready yet, nor failed or exited."""
        return self.phase in _NOT_READY

    @property
    def only_health_says_ready(self) -> bool:
        """A health path answered the loading status: no other probe's 2xx makes the server ready."""
        return self._health_said_loading

    def on_change(self, listener: PhaseListener) -> None:
        self._listeners.append(listener)

    def overdue(self, now: float) -> bool:
        if self.load_deadline_s is None or self.phase not in _NOT_READY:
            return False
        since = self.load_started_at if self.load_started_at is not None else self.started_at
        return since is not None and now - since > self.load_deadline_s

    def observe(self, record: Record, decision: Decision, now: float, *, health_path: bool = False) -> Phase | None:
        """Take one decided line into account; returns the new phase if it changed.
        `health_path`: the line is a probe of a health, readiness or liveness path."""
        if self.started_at is None:
            self.started_at = now
        if record.fields.get(_ENVELOPE) == "router":  # [issue-15 hook] a router's model process speaks for itself
            return None
        if record.event is Event.STOPPING:
            self.stopping = True
        target = _EVENT_PHASE.get(record.event) if record.event is not None else None
        if target is None:
            if self.phase is Phase.STARTING and (record.kind in (Kind.LOAD, Kind.PROGRESS) or record.event is Event.LOADED):
                target = Phase.LOADING
            elif record.event is Event.CRASH and self.phase in _NOT_READY:
                target = Phase.FAILED
            else:
                return self._probe_answered(decision.kind, record.fields.get(names.HTTP_STATUS), now, health_path)
        if target is None or target is self.phase:
            return None
        return self._move(target, now)

    def observe_access(self, kind: Kind, status: int | None, now: float, *, health_path: bool = False) -> Phase | None:
        """`observe` for an access line (no event, no load meaning), from its decision's kind and status."""
        if self.started_at is None:
            self.started_at = now
        return self._probe_answered(kind, status, now, health_path)

    def _probe_answered(self, kind: Kind, status: int | None, now: float, health_path: bool) -> Phase | None:
        if kind is not Kind.PROBE or status is None or self.phase not in _NOT_READY:
            return None
        # A probe answered 2xx means the server is serving, whether or not it said so, unless
        # its own health path still says otherwise: a model list or a server-info poll may be
        # answered while the model warms up.
        if 200 <= status < 300 and (health_path or not self._health_said_loading):
            return self._move(Phase.READY, now)
        if status == LOADING_STATUS and health_path:
            self._health_said_loading = True
        return None

    # [issue-15 hook] readiness from the child's own /health (sources/child_health.py)
    def health_answered(self, status: int, now: float) -> Phase | None:
        """The child's `/health` answered: 2xx means it serves; 503 means it is up and loading."""
        if self.phase not in _NOT_READY:
            return None
        if 200 <= status < 300:
            return self._move(Phase.READY, now)
        if status == 503 and self.phase is Phase.STARTING:
            return self._move(Phase.LOADING, now)
        return None

    def exited(self, code: int | None, now: float) -> Phase | None:
        self.exit_code = code
        self.stopping = True
        if self.phase is Phase.EXITED:
            return None
        return self._move(Phase.EXITED, now)

    def _move(self, target: Phase, now: float) -> Phase:
        previous, self.phase = self.phase, target
        if target is Phase.LOADING:
            self.load_started_at = now
        for listener in self._listeners:
            listener(previous, target, now)
        return target
