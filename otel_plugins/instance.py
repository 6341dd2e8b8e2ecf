"""One watched instance: its lines, its TCP transfers and its exit become state, spans,
metrics and log records. Every entry point takes the same lock, so the reader threads,
the poller and the waiter never interleave half an update."""

from __future__ import annotations

import signal as signals
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from . import names
from .argv import LaunchSpec
from .classify import Classifier
from .crash import CrashFolder
from .emit.logs import LogEmitter
from .emit.metrics import InstanceMetrics
from .emit.spans import InstanceSpans, progress_attributes
from .lifecycle import Lifecycle
from .policy import Policy
from .progress import LoadProgress, ProgressThrottle
from .record import Event, Kind, Phase, Severity
from .sinks.passthrough import render
from .sinks.telemetry import Telemetry
from .sources.child_health import OwnPolls
from .state import InstanceState, PeerHealth
from .transfer_plan import EndpointPlan

_RPC_EVENTS = {
    Event.RPC_ACCEPTED: names.EVENT_RPC_ACCEPTED,
    Event.RPC_CLOSED: names.EVENT_RPC_CLOSED,
}
_STOP_SIGNALS = (signals.SIGTERM, signals.SIGINT, signals.SIGHUP)


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
        lifecycle = Lifecycle(started_at=self.started_at, load_deadline_s=policy.load_deadline_s)
        self.classifier = Classifier(policy, clock=clock, lifecycle=lifecycle, trust_line_time=False)
        self.stats = telemetry.stats
        self.spans = InstanceSpans(telemetry.tracer_provider.get_tracer("otel_plugins"), spec, instance_key)
        self.logs = LogEmitter(telemetry.logger_provider, trust_line_time=False, stats=telemetry.stats)
        attributes = {"llama.server.kind": spec.kind.value}
        if instance_key:
            attributes[names.ATTR_INSTANCE_KEY] = instance_key
        if spec.model_name:
            attributes[names.MODEL_NAME] = spec.model_name
        self.metrics = InstanceMetrics(
            telemetry.meter_provider.get_meter("otel_plugins"), self.state, attributes, export_stats=telemetry.stats
        )
        self.progress = LoadProgress(clock=time.monotonic)
        self.throttle = ProgressThrottle()
        self.tally: Counter[str] = Counter()
        self.crashes = CrashFolder()
        self.phase_times: dict[Phase, float] = {Phase.STARTING: self.started_at}
        self.stop_requested = False
        self.last_rpc_event: str | None = None
        self.last_crash: str | None = None
        self.own_polls = OwnPolls(None)  # [issue-15] set by child_sources when it polls the child's /health
        self.router_models = None  # [issue-15] a router's models, from its first event on
        lifecycle.on_change(self._phase_changed)
        if spec.kind.is_rpc_server:
            # An rpc-server has no load of its own: it serves from the start.
            lifecycle.phase = Phase.READY
            self.phase_times = {Phase.READY: self.started_at}
            self.state.update(phase=Phase.READY)
        elif policy.load_deadline_s is not None:
            self.state.update(deadline_unix=self.started_at + policy.load_deadline_s)

    @property
    def phase(self) -> Phase:
        return self.classifier.lifecycle.phase

    def spawned(self, pid: int) -> None:
        with self.lock:
            self.spans.spawned(pid)

    def on_line(self, raw: bytes, stream: str) -> bytes | None:
        """Decide one line; returns what to pass through (None: dropped)."""
        with self.lock:
            classified = self.classifier.classify_bytes(raw)
            record, decision = classified.record, classified.decision
            self.tally["lines"] += 1
            if self.own_polls.take(record.fields):  # [issue-15 hook] our own /health polls are no probes
                return None
            if self.crashes.take(classified):
                if record.event is Event.CRASH:
                    self.last_crash = record.text[:512]
                self._emit_crash(classified.time)
                return raw
            self._emit_crash(classified.time)
            self.metrics.count_line(classified)
            if decision.kind is Kind.PROBE:
                self.tally["probes"] += 1
            if decision.emit:
                self.logs.emit(classified, {"log.iostream": stream})
            else:
                self.tally["suppressed"] += 1
            for summary in classified.summaries:
                self.logs.emit_summary(summary)
            self._follow(record, decision.severity)
            return render(raw, decision)

    def _follow(self, record: Any, severity: Severity) -> None:
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
        if severity >= Severity.ERROR:
            self.spans.error_line(record.text, {"llama.log.dialect": record.dialect})

    def _emit_crash(self, now: float, force: bool = False) -> None:
        dump = self.crashes.finished(now, force)
        if dump is None:
            return
        self.metrics.count_log(Severity.ERROR)
        self.logs.emit_crash(dump)
        self.spans.crash(dump.message, dump.stacktrace)

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
            self.classifier.lifecycle.health_answered(status, self.clock())

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
                attributes["rpc.peer.since_last_ack_s"] = round(health.since_last_ack_s, 3)
            if health.reason:
                attributes["rpc.peer.reason"] = health.reason
            if health.state == "lost":
                self.metrics.count_peer_loss(health.endpoint)
                self.spans.event(names.EVENT_PEER_LOST, attributes)
                self.last_rpc_event = f"{names.EVENT_PEER_LOST} {health.endpoint} ({health.reason})"
                self.logs.emit_event(
                    Severity.ERROR, f"RPC peer {health.endpoint} lost: {health.reason}", {"event.name": names.EVENT_PEER_LOST, **attributes}
                )
            elif health.state == "degraded":
                self.spans.event(names.EVENT_PEER_DEGRADED, attributes)
                self.logs.emit_event(
                    Severity.WARN, f"RPC peer {health.endpoint} degraded: {health.reason}", {"event.name": names.EVENT_PEER_DEGRADED, **attributes}
                )
            elif previous in ("lost", "degraded"):
                self.spans.event(names.EVENT_PEER_RECOVERED, attributes)
                self.logs.emit_event(
                    Severity.INFO, f"RPC peer {health.endpoint} recovered", {"event.name": names.EVENT_PEER_RECOVERED, **attributes}
                )

    def on_exit(self, returncode: int) -> int:
        with self.lock:
            code, signal_name = exit_status(returncode)
            now = self.clock()
            phase_before = self.phase
            requested = self.stop_requested and (returncode == 0 or -returncode in _STOP_SIGNALS)
            failed = not requested and (code != 0 or phase_before is Phase.FAILED)
            cause = None
            if failed:
                cause = self.last_crash or (f"last RPC event: {self.last_rpc_event}" if self.last_rpc_event else None)
                if self.last_crash and self.last_rpc_event:
                    cause = f"{self.last_crash} (last RPC event: {self.last_rpc_event})"
            for summary in self.classifier.flush():
                self.logs.emit_summary(summary)
            self._emit_crash(now, force=True)
            if self.router_models is not None:  # [issue-15 hook]
                self.router_models.close()
            for endpoint in self.progress.snapshot():
                self.spans.finish_transfer(endpoint.endpoint, endpoint.bytes_done, endpoint.source)
            if phase_before in (Phase.STARTING, Phase.LOADING):
                self.metrics.record_load_duration(now - self.started_at, "exited")
            self.classifier.lifecycle.exited(code, now)
            self.metrics.count_exit(code, signal_name)
            self.spans.exited(code, signal_name, failed, cause)
            self.state.update(phase=Phase.EXITED, exit_code=code)
            self.tally["exit_code"] = code
            return code

    def _phase_changed(self, previous: Phase, phase: Phase, now: float) -> None:
        self.phase_times.setdefault(phase, now)
        if phase is Phase.EXITED:
            return
        deadline = self.classifier.lifecycle.load_deadline_s
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
        lines.append(
            f"lines {self.tally['lines']}, probes {self.tally['probes']}, suppressed {self.tally['suppressed']}"
            + (f", passed through unparsed under overload {self.tally['shed']}" if self.tally["shed"] else "")
            + (f", own /health polls dropped {self.own_polls.seen}" if self.own_polls.seen else "")  # [issue-15]
        )
        stats = self.stats
        state = "" if stats.settled else " so far"
        lines.append(
            f"log records: emitted {stats.emitted['logs']}, exported {stats.exported['logs']},"
            f" dropped {stats.dropped()['logs']}{state} (export failures {stats.failed['logs']})"
        )
        return "\n".join(lines)
