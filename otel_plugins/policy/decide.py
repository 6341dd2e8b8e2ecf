"""The policy's decision for one record: a pure function of the record and the phase.

Every verdict is returned here and nowhere else; sampling windows and pollers are
tracked by their own small state objects and passed in as facts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from functools import lru_cache

from .. import names
from ..record import Event, Kind, Phase, Record, Severity
from .config import Policy, ProbeMatcherConfig, Verdict
from .paths import PathSet

REASON_LOADING = "probe_while_loading"
REASON_HEALTHY = "probe_healthy"
REASON_FAILED_AFTER_READY = "probe_failed_after_ready"
REASON_OVERDUE = "probe_failed_load_overdue"
REASON_PROBE_FAILED = "probe_failed"  # failing with a status that is not the loading answer
# What a server answers a probe while it loads (llama.cpp's "Loading model", SGLang, Triton):
# the only failure a probe may quietly get before ready.
LOADING_STATUS = 503
REASON_CLIENT_ERROR = "client_error"
REASON_SERVER_ERROR = "server_error"
REASON_SAMPLED = "sampled"
# A probe failing again within the window of its first failure (which was raised): kept at
# DEBUG, and summed up in a warning when the window closes (see classify.Classifier).
REASON_FAILURE_REPEATED = "probe_failure_repeated"
REASON_SHED = "shed"  # passed through unparsed under overload (see sources.process.PipePump)
# A message printed again and again, shed under overload as a repeat of its printing decided
# within the window (see policy.repeats); summed up when the window closes.
REASON_REPEATED = "repeated_under_overload"
REASON_OWN_POLL = "own_poll"
REASON_CONTINUATION = "continuation"  # an indented line carrying on the warning or failure before it
REASON_CRASH_DUMP = "crash_dump"  # a line no dialect claims, folded into the crash dump it sits in
# A line announcing a phase change (started, loading, ready, stopping) that its producer printed
# below INFO (llama-swap's `[DEBUG] ... swapState()`, GPUStack's `DEBUG - Run llama-box`): raised
# to INFO, since which phase an instance is in is what an operator reads the log for.
REASON_PHASE_CHANGE = "phase_change"
# A worker or shard that ended while no stop had been announced (text-generation-inference's
# `shard terminated` before its launcher's `Error: ShardFailed`): it died.
REASON_WORKER_DIED = "worker_died"

_NOT_READY_PHASES = (Phase.STARTING, Phase.LOADING)
_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one line. `emit` is False for dropped and sampled-away lines;
    `severity` is then the one the line would have had."""

    verdict: Verdict
    kind: Kind
    severity: Severity
    reason: str | None = None
    emit: bool = True


# A line about the wrapper's own request to its server (see sources.child_health): never
# the server's business, never a probe of anyone else's; dropped before the policy looks.
OWN_POLL = Decision(Verdict.DROP, Kind.PROBE, Severity.DEBUG, REASON_OWN_POLL, emit=False)
# A line that goes on a crash dump without being a part of one by itself (a rule, a Rust frame,
# a panic's message): exported within the dump's ERROR record, so shown as an error line.
IN_CRASH_DUMP = Decision(Verdict.KEEP, Kind.ERROR, Severity.ERROR, REASON_CRASH_DUMP)
WORKER_DIED = Decision(Verdict.KEEP, Kind.ERROR, Severity.ERROR, REASON_WORKER_DIED)


class ProbeMatcher:
    """Recognises probes by method, path and client, with llama-box's empty-rid hint."""

    def __init__(self, config: ProbeMatcherConfig) -> None:
        self.config = config
        self._methods = config.methods
        self.probe_paths = PathSet(config.paths)
        self.poll_paths = PathSet(config.poll_paths)
        networks = config.clients

        @lru_cache(maxsize=4096)
        def trusted(address: str) -> bool:
            try:
                ip = ipaddress.ip_address(address.strip("[]"))
            except ValueError:
                # A hostname or a user's redaction: it cannot be checked against networks.
                return address in ("localhost",)
            return any(ip in net for net in networks)

        self._trusted_client = trusted

    def is_probe(self, record: Record, polling: bool = False) -> bool:
        """A health, readiness or metrics path from anyone; any GET or HEAD from a client
        that polls (`polling`, measured by the caller: see policy.pollers); a polled path
        (the model list, server status, anything asked with HEAD) from a trusted client or
        with an empty llama-box rid. A line naming no client says nothing of who asked."""
        f = record.fields
        if f.get(names.HEALTH_CHECK):
            return True
        method = f.get(names.HTTP_METHOD)
        if method not in self._methods:
            return False
        path = f.get(names.URL_PATH)
        if path in self.probe_paths:
            return True
        if polling and self.config.repeat_hint:
            return True
        if method != "HEAD" and path not in self.poll_paths:
            return False
        client = f.get(names.CLIENT_ADDRESS)
        if client is not None and self._trusted_client(client):
            return True
        return self.config.empty_rid_hint and f.get(names.REQUEST_ID) == ""


class ProbePolicy:
    """A `Policy` made ready to decide: the one place verdicts come from."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self.matcher = ProbeMatcher(self.policy.probes)
        self._plain: dict[tuple, Decision] = {}
        self._http: dict[tuple, Decision] = {}

    def base_severity(self, record: Record) -> Severity:
        if record.severity is not None:
            return record.severity
        return Severity.ERROR if record.kind is Kind.ERROR else Severity.INFO

    def decide(
        self, record: Record, phase: Phase, *, overdue: bool = False, polling: bool = False, stopping: bool = False
    ) -> Decision:
        """`stopping`: the instance announced a stop (see lifecycle.Lifecycle.stopping)."""
        if record.kind is not Kind.HTTP:
            if record.event is Event.WORKER_EXITED and not stopping:
                return WORKER_DIED
            phase_change = record.kind is Kind.LIFECYCLE and record.event is not None
            key = (record.kind, record.severity, phase_change)
            decision = self._plain.get(key)
            if decision is None:
                severity = self.base_severity(record)
                if phase_change and severity < Severity.INFO:
                    decision = Decision(Verdict.KEEP, record.kind, Severity.INFO, REASON_PHASE_CHANGE)
                else:
                    decision = Decision(Verdict.KEEP, record.kind, severity)
                self._plain[key] = decision
            return decision
        f = record.fields
        # Decisions are immutable and depend only on these values: probe storms repeat them.
        key = (
            f.get(names.HTTP_METHOD), f.get(names.URL_PATH), f.get(names.HTTP_STATUS), f.get(names.CLIENT_ADDRESS),
            f.get(names.REQUEST_ID) == "", f.get(names.HEALTH_CHECK), record.severity, phase, overdue, polling,
        )
        decision = self._http.get(key)
        if decision is None:
            if len(self._http) >= _CACHE_SIZE:
                self._http.clear()
            decision = self._http[key] = self._decide_http(record, phase, overdue, polling)
        return decision

    def decide_access(self, hot: Any, phase: Phase, overdue: bool, polling: bool) -> Decision:
        """`decide` for an access line the fast path matched (`dialects.fastpath.HotMatch`):
        the same cache, keyed the same way, the Record built only when the key is new."""
        method, path, status, client, empty_rid, health_check = hot.key
        key = (method, path, status, client, empty_rid, health_check, hot.severity, phase, overdue, polling)
        decision = self._http.get(key)
        if decision is None:
            decision = self.decide(hot.record(), phase, overdue=overdue, polling=polling)
        return decision

    def _decide_http(self, record: Record, phase: Phase, overdue: bool, polling: bool) -> Decision:
        policy = self.policy
        status = record.fields.get(names.HTTP_STATUS)
        if self.matcher.is_probe(record, polling):
            failing = status is not None and status >= 400
            loading_answer = status == LOADING_STATUS and phase in _NOT_READY_PHASES
            if failing and (phase is Phase.READY or overdue or not loading_answer):
                reason = REASON_FAILED_AFTER_READY if phase is Phase.READY else REASON_OVERDUE if overdue else REASON_PROBE_FAILED
                # The policy's severity, not the server's letter (llama-box v2 prints E for any >= 400).
                return Decision(Verdict.KEEP, Kind.PROBE, policy.failed_probe_severity, reason)
            if phase in _NOT_READY_PHASES:
                return self._quiet(policy.loading_verdict, REASON_LOADING, record)
            return self._quiet(policy.ready_verdict, REASON_HEALTHY, record)
        if status is not None:
            # The server's own letter is not trusted for HTTP outcomes: llama-box v1 prints
            # I for a 500 and v2 prints E for a client's 404.
            if status >= 500:
                return Decision(Verdict.KEEP, Kind.HTTP, policy.server_error_severity, REASON_SERVER_ERROR)
            if status >= 400:
                return Decision(Verdict.KEEP, Kind.HTTP, policy.client_error_severity, REASON_CLIENT_ERROR)
            return Decision(Verdict.KEEP, Kind.HTTP, Severity.INFO)
        # A request not answered yet is a user's business whatever level its server logs requests
        # at (Lemonade at Debug): INFO, unless the line itself is loud.
        return Decision(Verdict.KEEP, Kind.HTTP, max(Severity.INFO, self.base_severity(record)))

    def _quiet(self, verdict: Verdict, reason: str, record: Record) -> Decision:
        if verdict is Verdict.DOWNGRADE:
            return Decision(verdict, Kind.PROBE, Severity.DEBUG, reason)
        if verdict is Verdict.DROP:
            return Decision(verdict, Kind.PROBE, self.base_severity(record), reason, emit=False)
        return Decision(verdict, Kind.PROBE, self.base_severity(record), reason)
