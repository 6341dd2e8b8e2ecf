"""The instance's metrics: every instrument of `names.METRICS`, on one Meter.

Gauges are observable: their callbacks read `InstanceState.snapshot()` at collection
time, so a reader always sees the state as it is, never a stale copy. Counters and the
load-duration histogram are synchronous and fed by the `count_*`/`record_*` methods.
The two telemetry counters are observable counters over an `ExportStats` (pass
`telemetry.stats` to count what the exporters delivered or lost; `count_telemetry`
adds to the same tally, e.g. for queue-full drops the exporters never see).

Nothing here raises into the caller: a callback that fails yields no observations for
that collection and logs once per instrument.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from .. import names
from ..record import Kind, Phase, Severity
from ..sinks.telemetry import ExportStats
from ..state import InstanceState, Snapshot

if TYPE_CHECKING:
    from ..classify import Classified

_logger = logging.getLogger(__name__)
_logger.propagate = False  # our own faults must not land in the host's log pipeline


ENDPOINT_ALL = "all"
# Loads take seconds (a small local model) to an hour (tens of GB over RPC).
LOAD_DURATION_BUCKETS_S = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
PEER_STATES: Mapping[str, int] = {"up": 0, "degraded": 1, "lost": 2}

_SPECS = {name: (kind, unit, description) for name, kind, unit, description in names.METRICS}
# The per-line counters: how a counted key becomes the observation's attributes.
_LINE_COUNTERS: Mapping[str, Callable[[tuple], dict[str, Any]]] = {
    names.METRIC_PROBES: lambda k: {names.URL_PATH: k[0], names.HTTP_STATUS: k[1], names.ATTR_VERDICT: k[2], names.ATTR_REASON: k[3]},
    names.METRIC_SUPPRESSED: lambda k: {names.URL_PATH: k[0], names.HTTP_STATUS: k[1], names.ATTR_REASON: k[2]},
    names.METRIC_LOG_RECORDS: lambda k: {names.ATTR_LOG_SEVERITY: _severity_name(k[0])},
}


def _label(value: Any) -> str:
    return str(getattr(value, "value", value))


def _severity_name(severity: Any) -> str:
    try:
        return Severity(severity).name
    except ValueError:
        return str(severity)


class InstanceMetrics:
    """Creates every instrument of `names.METRICS` on `meter`, reading `state` for gauges.

    `attributes` (e.g. `{names.ATTR_INSTANCE_KEY: "box-0"}`) are added to every observation.
    Without a `state` (tailing files, where no one process is watched) the gauges stay empty.
    """

    def __init__(
        self,
        meter: Meter,
        state: InstanceState | None,
        attributes: Mapping[str, str] | None = None,
        *,
        export_stats: ExportStats | None = None,
    ) -> None:
        self.state = state
        self.attributes: dict[str, str] = dict(attributes or {})
        self.export_stats = export_stats if export_stats is not None else ExportStats()
        self._failed_callbacks: set[str] = set()
        gauges: dict[str, Callable[[Snapshot], Iterable[tuple[float, dict[str, Any]]]]] = {
            names.METRIC_PHASE: self._phase,
            names.METRIC_PROGRESS: self._progress,
            names.METRIC_BYTES_DONE: lambda s: ((e.bytes_done, self._endpoint(e.endpoint)) for e in s.endpoints),
            names.METRIC_BYTES_TOTAL: lambda s: self._per_endpoint(s, "bytes_total"),
            names.METRIC_RATE: lambda s: self._per_endpoint(s, "rate_bps"),
            names.METRIC_ETA: lambda s: self._per_endpoint(s, "eta_s"),
            names.METRIC_PEER_STATE: self._peer_state,
            names.METRIC_DEADLINE: lambda s: [] if s.deadline_unix is None else [(s.deadline_unix, {})],
        }
        telemetry = {
            names.METRIC_TELEMETRY_EXPORTED: lambda: self.export_stats.exported,
            names.METRIC_TELEMETRY_DROPPED: self.export_stats.dropped,
        }
        # The per-line counters add up in plain dicts (one increment a line) and are observed
        # as cumulative sums at collection: an SDK counter's add() cost ~10 µs a line.
        self._line_counts: dict[str, dict[tuple, int]] = {n: {} for n in _LINE_COUNTERS}
        self.instruments: dict[str, Any] = {}
        for name, (kind, unit, description) in _SPECS.items():
            if name in gauges:
                callback = self._gauge_callback(name, gauges[name])
                self.instruments[name] = meter.create_observable_gauge(name, [callback], unit, description)
            elif name in telemetry:
                callback = self._stats_callback(name, telemetry[name])
                self.instruments[name] = meter.create_observable_counter(name, [callback], unit, description)
            elif name in self._line_counts:
                callback = self._line_callback(name)
                self.instruments[name] = meter.create_observable_counter(name, [callback], unit, description)
            elif kind == "counter":
                self.instruments[name] = meter.create_counter(name, unit, description)
            elif kind == "histogram":
                self.instruments[name] = meter.create_histogram(
                    name, unit, description, explicit_bucket_boundaries_advisory=LOAD_DURATION_BUCKETS_S
                )
            else:  # a new gauge in names.METRICS needs a callback here
                raise ValueError(f"names.METRICS: no instrument for {name!r} of kind {kind!r}")

    # Synchronous instruments.

    def count_line(self, classified: Classified) -> None:
        """The per-line counters: probe responses, suppressed lines, log records by severity."""
        decision, path, status = classified.decision, classified.http_path, classified.http_status
        if decision.kind is Kind.PROBE:
            self.count_probe(path, status, decision.verdict.value, decision.reason)
        if decision.emit:
            self.count_log(decision.severity)
        else:
            self.count_suppressed(path, status, decision.reason or "")

    def count_probe(self, path: str | None, status: int | None, verdict: Any, reason: Any = None) -> None:
        self._count(names.METRIC_PROBES, (path, status, _label(verdict), _label(reason) if reason else None))

    def count_suppressed(self, path: str | None, status: int | None, reason: Any, count: int = 1) -> None:
        self._count(names.METRIC_SUPPRESSED, (path, status, _label(reason)), count)

    def count_log(self, severity: Severity) -> None:
        self._count(names.METRIC_LOG_RECORDS, (severity,))

    def _count(self, name: str, key: tuple, amount: int = 1) -> None:
        counts = self._line_counts[name]
        counts[key] = counts.get(key, 0) + amount

    def count_exit(self, code: int | None, signal: str | None, requested: bool = False) -> None:
        attributes = {names.ATTR_EXIT_CODE: code, names.ATTR_EXIT_SIGNAL: signal, names.ATTR_EXIT_REQUESTED: requested}
        self._add(names.METRIC_EXITS, 1, attributes)

    def record_load_duration(self, seconds: float, outcome: str) -> None:
        self._record(names.METRIC_LOAD_DURATION, seconds, {names.ATTR_LOAD_OUTCOME: _label(outcome)})

    def count_peer_loss(self, endpoint: str) -> None:
        self._add(names.METRIC_PEER_LOSSES, 1, {names.RPC_ENDPOINT: endpoint})

    def count_telemetry(self, signal: str, exported: int = 0, dropped: int = 0) -> None:
        """Adds to the same tally the exporters write (`ExportStats`); observed at collection."""
        if exported:
            self.export_stats.add(signal, True, exported)
        if dropped:
            self.export_stats.add(signal, False, dropped)

    def _attrs(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.attributes, **{k: v for k, v in extra.items() if v is not None}}

    def _add(self, name: str, amount: int, extra: Mapping[str, Any]) -> None:
        try:
            self.instruments[name].add(amount, self._attrs(extra))
        except Exception:  # noqa: BLE001 - counting must never break the wrapper
            self._warn_once(name)

    def _record(self, name: str, value: float, extra: Mapping[str, Any]) -> None:
        try:
            self.instruments[name].record(value, self._attrs(extra))
        except Exception:  # noqa: BLE001
            self._warn_once(name)

    # Observable gauges: (value, extra attributes) pairs from one snapshot.

    def _phase(self, snap: Snapshot) -> Iterable[tuple[float, dict[str, Any]]]:
        return ((1 if phase == snap.phase else 0, {names.ATTR_PHASE: phase.value}) for phase in Phase)

    def _progress(self, snap: Snapshot) -> Iterable[tuple[float, dict[str, Any]]]:
        rows = [(e.ratio, self._endpoint(e.endpoint)) for e in snap.endpoints if e.ratio is not None]
        if snap.progress is not None:
            rows.append((snap.progress, self._endpoint(ENDPOINT_ALL)))
        return rows

    def _per_endpoint(self, snap: Snapshot, field: str) -> Iterable[tuple[float, dict[str, Any]]]:
        for e in snap.endpoints:
            value = getattr(e, field)
            if value is not None:
                yield value, self._endpoint(e.endpoint)

    def _peer_state(self, snap: Snapshot) -> Iterable[tuple[float, dict[str, Any]]]:
        return ((PEER_STATES[p.state], self._endpoint(p.endpoint)) for p in snap.peers if p.state in PEER_STATES)

    @staticmethod
    def _endpoint(endpoint: str) -> dict[str, Any]:
        return {names.RPC_ENDPOINT: endpoint}

    def _gauge_callback(self, name: str, rows: Callable[[Snapshot], Iterable[tuple[float, dict[str, Any]]]]):
        def callback(_options: CallbackOptions) -> list[Observation]:
            if self.state is None:
                return []
            try:
                return [Observation(value, self._attrs(extra)) for value, extra in rows(self.state.snapshot())]
            except Exception:  # noqa: BLE001 - a collection must never fail on our account
                self._warn_once(name)
                return []

        return callback

    def _line_callback(self, name: str):
        keys = _LINE_COUNTERS[name]

        def callback(_options: CallbackOptions) -> list[Observation]:
            try:
                counts = dict(self._line_counts[name])  # one C-level copy; writers only ever add
                return [Observation(count, self._attrs(keys(key))) for key, count in counts.items()]
            except Exception:  # noqa: BLE001
                self._warn_once(name)
                return []

        return callback

    def _stats_callback(self, name: str, tally: Callable[[], Mapping[str, int]]):
        def callback(_options: CallbackOptions) -> list[Observation]:
            try:
                counts = dict(tally())  # one C-level copy; writers only ever add
                return [Observation(count, self._attrs({names.ATTR_SIGNAL: signal})) for signal, count in sorted(counts.items())]
            except Exception:  # noqa: BLE001
                self._warn_once(name)
                return []

        return callback

    def _warn_once(self, name: str) -> None:
        if name not in self._failed_callbacks:
            self._failed_callbacks.add(name)
            _logger.warning("metric %s: observation failed", name, exc_info=True)
