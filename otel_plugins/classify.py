"""Line in, decided record out: dialects, then the policy, then the lifecycle, in that order.

A `Classifier` is stateful (phase, sampling windows, pollers), so one instance follows
one stream: one server's output, one log file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from . import names
from .dialects import decode, parse_line
from .lifecycle import Lifecycle
from .policy import Decision, Policy, PollerTracker, ProbePolicy, Sampler, SampleSummary, Verdict
from .policy.decide import OWN_POLL, REASON_SAMPLED
from .record import Kind, Record

# An uptime clock that jumps back this far means the producer restarted in the same stream.
_RESTART_JUMP_S = 5.0
_POLL_METHODS = ("GET", "HEAD")


@dataclass(slots=True)
class Classified:
    record: Record
    decision: Decision
    time: float
    summaries: Sequence[SampleSummary] = ()
    folded: bool = False  # part of a crash dump, exported with it (see pipeline.LinePipeline)

    @property
    def emit(self) -> bool:
        return self.decision.emit


class Classifier:
    """Decides each line of one stream.

    With `trust_line_time` (recorded logs), a line is placed at the time it carries, and
    a line without one at the time of the line before, so a log replays as it happened.
    Without it (live streams), every line is placed at its observed time: `observed`,
    or `clock()`.
    """

    def __init__(
        self,
        policy: Policy | ProbePolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
        lifecycle: Lifecycle | None = None,
        trust_line_time: bool = True,
        own_line: Callable[[Record], bool] | None = None,
    ) -> None:
        self.policy = policy if isinstance(policy, ProbePolicy) else ProbePolicy(policy)
        config = self.policy.policy
        self.clock = clock
        self.lifecycle = lifecycle or Lifecycle(load_deadline_s=config.load_deadline_s)
        self.sampler = Sampler(config.sample_window_s)
        self.pollers = PollerTracker(config.probes) if config.probes.repeat_hint else None
        self.trust_line_time = trust_line_time
        self.own_line = own_line
        self._probe_paths = self.policy.matcher.probe_paths
        self._uptime_anchor: float | None = None
        self._last_uptime = 0.0
        self._last_time: float | None = None

    def classify_bytes(self, raw: bytes, observed: float | None = None) -> Classified:
        return self.classify(decode(raw), observed)

    def classify(self, text: str, observed: float | None = None) -> Classified:
        record = parse_line(text)
        now = self._line_time(record, observed)
        if self.own_line is not None and self.own_line(record):
            return Classified(record, OWN_POLL, now)
        polling = False
        if self.pollers is not None and record.kind is Kind.HTTP:
            f = record.fields
            method = f.get(names.HTTP_METHOD)
            if method in _POLL_METHODS:
                client, path = f.get(names.CLIENT_ADDRESS), f.get(names.URL_PATH)
                if path in self._probe_paths:
                    self.pollers.prober(client)
                else:
                    polling = self.pollers.observe(client, method, path, now)
        lifecycle = self.lifecycle
        decision = self.policy.decide(record, lifecycle.phase, overdue=lifecycle.overdue(now), polling=polling)
        summaries: Sequence[SampleSummary] = ()
        if decision.verdict is Verdict.SAMPLE:
            f = record.fields
            key = (f.get(names.HTTP_METHOD), f.get(names.URL_PATH), f.get(names.HTTP_STATUS))
            representative, summaries = self.sampler.admit(key, now)
            if not representative:
                decision = replace(decision, reason=REASON_SAMPLED, emit=False)
        lifecycle.observe(record, decision, now)
        return Classified(record, decision, now, summaries)

    def flush(self) -> list[SampleSummary]:
        """Close every open sampling window (at the end of a stream)."""
        return self.sampler.flush()

    def _line_time(self, record: Record, observed: float | None) -> float:
        if not self.trust_line_time:
            return observed if observed is not None else self.clock()
        if record.time_unix is not None:
            now = record.time_unix
        elif record.uptime is not None:
            up = record.uptime
            if self._uptime_anchor is None or up + _RESTART_JUMP_S < self._last_uptime:
                base = self._last_time if self._last_time is not None else (observed or self.clock())
                self._uptime_anchor = base - up
            self._last_uptime = up
            now = self._uptime_anchor + up
        elif self._last_time is not None:
            return self._last_time
        else:
            now = observed if observed is not None else self.clock()
        self._last_time = now
        return now
