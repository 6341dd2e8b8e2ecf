"""One watched instance: its lines, its TCP transfers and its exit become state, spans,
metrics and log records. Every entry point takes the same lock, so the reader threads,
the poller and the waiter never interleave half an update."""

from __future__ import annotations

import enum
import signal as signals
import threading
import time
from collections.abc import Callable
from typing import Any

from . import names
from .argv import LaunchSpec
from .classify import Classified
from .crash import CrashDump
from .emit.logs import LogEmitter
from .emit.metrics import InstanceMetrics
from .emit.spans import InstanceSpans, progress_attributes
from .first_match import Finder
from .pipeline import LinePipeline, describe_lines
from .policy import Policy
from .progress import LoadProgress, ProgressThrottle
from .record import Event, Kind, Phase, Severity
from .sinks.telemetry import Telemetry
from .sources.child_health import OwnPolls
from .state import InstanceState, PeerHealth
from .transfer_plan import EndpointPlan

_RPC_EVENTS = {
    Event.RPC_ACCEPTED: names.EVENT_RPC_ACCEPTED,
    Event.RPC_CLOSED: names.EVENT_RPC_CLOSED,
}
_STOP_SIGNALS = (signals.SIGTERM, signals.SIGINT, signals.SIGHUP)
# An abort this soon after a stop the wrapper forwarded is the stop's doing: llama-server
# 0.3.8 aborts (`terminate called without an active exception`, SIGABRT) when asked to
# stop. `docker stop` and the wrapper's own close() wait this long before SIGKILL.
STOP_GRACE_S = 10.0


class ExitKind(enum.Enum):
    UNREQUESTED = "unrequested"  # nobody asked: a non-zero exit is a failure
    REQUESTED = "requested"  # a clean exit, or death by the stop signal, after a forwarded stop
    ABORTED_ON_STOP = "aborted_on_stop"  # SIGABRT within STOP_GRACE_S of a forwarded stop
_STREAM_ATTRIBUTES = {stream: {names.LOG_IOSTREAM: stream} for stream in ("stdout", "stderr")}


def exit_status(returncode: int) -> tuple[int, str | None]:
    """The shell's exit code (128 + signal when signalled) and the signal's name."""
    if returncode < 0:
        try:
            name = signals.Signals(-returncode).name
        except ValueError:
            name = f"SIG{-returncode}"
        return 128 - returncode, name
    return returncode, None


class InstanceObserver:
    def __init__(
        self,
        spec: LaunchSpec,
        telemetry: Telemetry,
        *,
        policy: Policy | None = None,
        state: InstanceState | None = None,
        instance_key: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        policy = policy or Policy()
        self.spec = spec
        self.clock = clock
        self.state = state or InstanceState()
        self.lock = threading.RLock()
        self.started_at = clock()
        self.stats = telemetry.stats
        self.spans = InstanceSpans(telemetry.tracer_provider.get_tracer("otel_plugins"), spec, instance_key)
        self.logs = LogEmitter(telemetry, trust_line_time=False)
        attributes = {names.ATTR_SERVER_KIND: spec.kind.value}
        if instance_key:
            attributes[names.ATTR_INSTANCE_KEY] = instance_key
        if spec.model_name:
            attributes[names.MODEL_NAME] = spec.model_name
        self.metrics = InstanceMetrics(
            telemetry.meter_provider.get_meter("otel_plugins"), self.state, attributes, export_stats=telemetry.stats
        )
        self.progress = LoadProgress(clock=time.monotonic)
        self.throttle = ProgressThrottle()
        self.own_polls = OwnPolls(None)  # [issue-15] set by child_sources when it polls the child's /health
        self.router_models = None  # [issue-15] a router's models, from its first event on
        # An rpc-server has no load of its own: it serves from the start.
        initial = Phase.READY if spec.kind.is_rpc_server else Phase.STARTING
        self.pipeline = LinePipeline(
            policy, self.logs, metrics=self.metrics, follower=self, started_at=self.started_at, initial_phase=initial, clock=clock,
            own_line=lambda client, path: self.own_polls.take(client, path),  # child_sources sets own_polls later
        )
        self.pipeline.on_phase_change(self._phase_changed)
        self.phase_times: dict[Phase, float] = {initial: self.started_at}
        self.stop_requested_at: float | None = None
        self.exit_kind: ExitKind | None = None  # known once the process has exited
        self.last_rpc_event: str | None = None
        self.state.update(phase=initial)
        if initial is Phase.STARTING and policy.load_deadline_s is not None:
            self.state.update(deadline_unix=self.started_at + policy.load_deadline_s)

    @property
    def stop_requested(self) -> bool:
        return self.stop_requested_at is not None

    @stop_requested.setter
    def stop_requested(self, value: bool) -> None:
        """Set when a stop signal is forwarded; the first one starts the grace period."""
        if not value:
            self.stop_requested_at = None
        elif self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()

    def _exit_kind(self, returncode: int) -> ExitKind:
        if self.stop_requested_at is None:
            return ExitKind.UNREQUESTED
        if returncode == 0 or -returncode in _STOP_SIGNALS:
            return ExitKind.REQUESTED
        aborted = returncode in (-signals.SIGABRT, 128 + signals.SIGABRT)  # killed, or a shell's report of it
        if aborted and time.monotonic() - self.stop_requested_at <= STOP_GRACE_S:
            return ExitKind.ABORTED_ON_STOP
        return ExitKind.UNREQUESTED

    @property
    def phase(self) -> Phase:
        return self.pipeline.phase

    def quiet_passthrough(self, raw: bytes) -> bytes | None:
        """For the pumps' overload check: what to pass through for a probe line the policy
        keeps below WARN now (None: not such a line, decide it)."""
        with self.lock:
            return self.pipeline.quiet_passthrough(raw, self.clock())

    def overload_scan(self) -> Finder:
        """For the pumps' overload check: the scan to use now (it changes with the phase)."""
        return self.pipeline.overload_scan()

    def must_decide(self, raw: bytes) -> bool:
        """For the pumps' overload check: `raw` may belong to a record begun before it."""
        with self.lock:
            return self.pipeline.must_decide(raw)

    @property
    def last_crash(self) -> str | None:
        return self.pipeline.last_crash

    @property
    def lines_seen(self) -> int:
        return self.pipeline.counts.lines

    def spawned(self, pid: int) -> None:
        with self.lock:
            self.spans.spawned(pid)

    def on_line(self, raw: bytes, stream: str) -> bytes | None:
        """Decide one line; returns what to pass through (None: dropped)."""
        with self.lock:
            return self.pipeline.feed(raw, None, _STREAM_ATTRIBUTES[stream])

    def count_shed(self, lines: int) -> None:
        """Lines a pump passed through without deciding them (sources.process.PipePump)."""
        with self.lock:
            self.pipeline.count_shed(lines)

    def crashed(self, dump: CrashDump) -> None:
        self.spans.crash(dump.kind, dump.message, dump.stacktrace)

    def follow(self, classified: Classified) -> None:
        """The pipeline's follower: what a decided line means for progress, spans and state."""
        if classified.access_line:  # a request: only its failure reaches the span
            if classified.decision.severity >= Severity.ERROR:
                self.spans.error_line(classified.hot.text, {names.ATTR_LOG_DIALECT: classified.record.dialect})
            return
        record = classified.record
        f = record.fields
        size = f.get(names.LOAD_SIZE_BYTES)
        if size is not None:
            endpoint = f.get(names.RPC_ENDPOINT)
            self.progress.buffer(endpoint or f.get(names.LOAD_DEVICE) or "local", size)
            if endpoint:
                self.spans.transfer_started(endpoint, size)
            self._publish_progress()
        percent = f.get(names.LOAD_PERCENT)
        if percent is not None:
            self.progress.percent(percent)
            self._publish_progress()
        dots = f.get(names.LOAD_DOTS) or record.leading_dots
        if dots:
            self.progress.dots(dots)
        if record.event in _RPC_EVENTS:
            attributes = {k: v for k, v in f.items() if k in (names.CLIENT_ADDRESS, names.CLIENT_PORT)}
            self.spans.event(_RPC_EVENTS[record.event], attributes)
        if record.kind is Kind.RPC or record.event in (Event.RPC_FAILED, Event.RPC_RETRY):
            self.last_rpc_event = record.text[:512]
        if classified.decision.severity >= Severity.ERROR:
            self.spans.error_line(record.text, {names.ATTR_LOG_DIALECT: record.dialect})

    def poll_transfers(self, samples: dict[str, int]) -> None:
        """TCP bytes acknowledged per RPC endpoint, from the kernel."""
        with self.lock:
            if self.phase is not Phase.LOADING and self.phase is not Phase.STARTING:
                return
            for endpoint, acked in samples.items():
                self.progress.tcp_sample(endpoint, acked)
            self._publish_progress()

    def _publish_progress(self, final: bool = False) -> None:
        endpoints = self.progress.snapshot()
        ratio, eta, source = self.progress.overall()
        self.state.update(progress=ratio, eta_s=eta, endpoints=endpoints)
        if not endpoints or not self.throttle.should_emit(ratio, final=final):
            return
        overall = progress_attributes(None, ratio, source)
        if eta is not None:
            overall[names.ATTR_ETA] = round(eta, 2)
        overall[names.ATTR_BYTES_DONE] = sum(e.bytes_done for e in endpoints)
        overall[names.ATTR_BYTES_TOTAL] = sum(e.bytes_total or 0 for e in endpoints)
        cached = sum(e.bytes_cached for e in endpoints)
        if cached:
            overall[names.ATTR_BYTES_CACHED] = cached
        rates = [e.rate_bps for e in endpoints if e.rate_bps is not None]
        if rates:
            overall[names.ATTR_RATE] = round(sum(rates), 1)
        per_endpoint = {e.endpoint: progress_attributes(e, e.ratio, e.source) for e in endpoints}
        self.spans.progress(overall, per_endpoint)

    # ---- [issue-15 hooks] verbosity-proof sources, wired by child_sources.py
    def on_child_health(self, status: int | None) -> None:
        """The child's own `/health` answered `status` (None: no answer); moves the lifecycle."""
        if status is None:
            return
        with self.lock:
            self.pipeline.lifecycle.health_answered(status, self.clock())

    def plan_transfers(self, plans: dict[str, EndpointPlan]) -> None:
        """Each RPC endpoint's weights, from the GGUF (`transfer_plan`): totals where no
        buffer line is printed, and the wire layout that accounts for the tensor cache."""
        with self.lock:
            if self.phase not in (Phase.STARTING, Phase.LOADING):
                return
            for plan in plans.values():
                tensors = [(t.nbytes, t.hashed, t.cached) for t in plan.tensors]
                self.progress.plan(plan.endpoint, tensors, cache_known=plan.cache_known)
                if plan.total_bytes:
                    self.spans.transfer_started(plan.endpoint, plan.total_bytes)
            self._publish_progress()

    def on_router_event(self, model: str, event: str, data: dict[str, Any]) -> None:
        """One event of a llama-server router's stream (`sources.router_events`)."""
        with self.lock:
            if self.router_models is None:
                from .router_models import RouterModels

                self.router_models = RouterModels(self.spans.tracer, self.spans.instance, self.state)
            self.router_models.on_event(model, event, data)

    def on_peer(self, health: PeerHealth, previous: str | None) -> None:
        with self.lock:
            self.state.set_peer(health)
            attributes: dict[str, Any] = {names.RPC_ENDPOINT: health.endpoint}
            if health.since_last_ack_s is not None:
                attributes[names.ATTR_PEER_SINCE_ACK] = round(health.since_last_ack_s, 3)
            if health.reason:
                attributes[names.ATTR_PEER_REASON] = health.reason
            if health.state == "lost":
                self.metrics.count_peer_loss(health.endpoint)
                self.spans.event(names.EVENT_PEER_LOST, attributes)
                self.last_rpc_event = f"{names.EVENT_PEER_LOST} {health.endpoint} ({health.reason})"
                self.logs.emit_event(Severity.ERROR, f"RPC peer {health.endpoint} lost: {health.reason}", attributes, names.EVENT_PEER_LOST)
            elif health.state == "degraded":
                self.spans.event(names.EVENT_PEER_DEGRADED, attributes)
                self.logs.emit_event(
                    Severity.WARN, f"RPC peer {health.endpoint} degraded: {health.reason}", attributes, names.EVENT_PEER_DEGRADED
                )
            elif previous in ("lost", "degraded"):
                self.spans.event(names.EVENT_PEER_RECOVERED, attributes)
                self.logs.emit_event(Severity.INFO, f"RPC peer {health.endpoint} recovered", attributes, names.EVENT_PEER_RECOVERED)

    def on_exit(self, returncode: int) -> int:
        with self.lock:
            code, signal_name = exit_status(returncode)
            now = self.clock()
            phase_before = self.phase
            self.exit_kind = self._exit_kind(returncode)
            requested = self.exit_kind is not ExitKind.UNREQUESTED
            failed = not requested and (code != 0 or phase_before is Phase.FAILED)
            cause = None
            if failed:
                cause = self.last_crash or (f"last RPC event: {self.last_rpc_event}" if self.last_rpc_event else None)
                if self.last_crash and self.last_rpc_event:
                    cause = f"{self.last_crash} (last RPC event: {self.last_rpc_event})"
            self.pipeline.close(now)
            if self.router_models is not None:  # [issue-15 hook]
                self.router_models.close()
            if self.exit_kind is ExitKind.ABORTED_ON_STOP and not self.pipeline.counts.crashes:
                # The abort stays on record even when the server printed nothing about it.
                self.spans.crash(signal_name or "SIGABRT", f"{self.spec.executable} aborted while stopping", "")
            for endpoint in self.progress.snapshot():
                self.spans.finish_transfer(endpoint.endpoint, endpoint.bytes_done, endpoint.source)
            if phase_before in (Phase.STARTING, Phase.LOADING):
                self.metrics.record_load_duration(now - self.started_at, "exited")
            self.pipeline.lifecycle.exited(code, now)
            self.metrics.count_exit(code, signal_name, requested)
            self.spans.exited(code, signal_name, failed, cause, requested)
            self.state.update(phase=Phase.EXITED, exit_code=code)
            return code

    def _phase_changed(self, previous: Phase, phase: Phase, now: float) -> None:
        self.phase_times.setdefault(phase, now)
        if phase is Phase.EXITED:
            return
        deadline = self.pipeline.lifecycle.load_deadline_s
        self.state.update(phase=phase, deadline_unix=now + deadline if phase is Phase.LOADING and deadline else None)
        if phase is Phase.READY and previous in (Phase.STARTING, Phase.LOADING):
            load_seconds = now - self.started_at
            self.metrics.record_load_duration(load_seconds, "ready")
            # The load is over whatever the last sample said: close the progress at 100 %.
            self.progress.finish()
            self._publish_progress(final=True)
            for endpoint in self.progress.snapshot():
                self.spans.finish_transfer(endpoint.endpoint, endpoint.bytes_done, endpoint.source)
            self.spans.ready(load_seconds)
        elif phase is Phase.FAILED:
            self.metrics.record_load_duration(now - self.started_at, "failed")
            self.spans.load_failed(self.last_crash or "model load failed")

    def summary(self) -> str:
        """A short account for the end of a run: phases with durations, bytes moved, probes."""
        order = [p for p in Phase if p in self.phase_times]
        parts = []
        for current, following in zip(order, order[1:] + [None]):
            end = self.phase_times[following] if following else self.clock()
            parts.append(f"{current.value} {end - self.phase_times[current]:.1f}s")
        lines = ["phases: " + ", ".join(parts)]
        for endpoint in self.progress.snapshot():
            total = f"/{endpoint.bytes_total}" if endpoint.bytes_total else ""
            lines.append(f"transfer {endpoint.endpoint}: {endpoint.bytes_done}{total} bytes ({endpoint.source})")
        lines.append(describe_lines(self.pipeline.counts, self.stats))
        return "\n".join(lines)
