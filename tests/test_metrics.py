"""InstanceMetrics: every instrument of names.METRICS, read through an InMemoryMetricReader."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Gauge, Histogram, InMemoryMetricReader, Sum

from otel_plugins import names
from otel_plugins.emit.metrics import InstanceMetrics
from otel_plugins.record import Phase, Severity
from otel_plugins.sinks.telemetry import ExportStats
from otel_plugins.state import EndpointProgress, InstanceState, PeerHealth

BASE = {names.ATTR_INSTANCE_KEY: "box-0"}
PEER_A, PEER_B = "10.0.0.2:50052", "10.0.0.3:50052"


@pytest.fixture()
def bed():
    state = InstanceState()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = InstanceMetrics(provider.get_meter("otel_plugins"), state, BASE)
    yield state, metrics, reader
    provider.shutdown()


def collect(reader: InMemoryMetricReader) -> dict:
    data = reader.get_metrics_data()
    if data is None:
        return {}
    return {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def points(reader: InMemoryMetricReader, name: str, key: str | None = None) -> dict:
    """Data points of one metric, keyed by the value of attribute `key` (or all attributes)."""
    metric = collect(reader).get(name)
    if metric is None:
        return {}
    return {
        (p.attributes.get(key) if key else tuple(sorted(p.attributes.items()))): p for p in metric.data.data_points
    }


def exercise(state: InstanceState, metrics: InstanceMetrics) -> None:
    state.update(phase=Phase.LOADING, progress=0.25, eta_s=30.0, deadline_unix=1_700_000_100.0)
    state.set_endpoint(EndpointProgress(PEER_A, bytes_total=1000, bytes_done=250, rate_bps=50.0, eta_s=15.0, source="tcp"))
    state.set_peer(PeerHealth(PEER_A))
    metrics.count_probe("/health", 503, "drop")
    metrics.count_suppressed("/health", 503, "sampled")
    metrics.count_log(Severity.ERROR)
    metrics.count_exit(0, None)
    metrics.record_load_duration(42.0, "ready")
    metrics.count_peer_loss(PEER_A)
    metrics.count_telemetry("logs", exported=3, dropped=1)


def test_every_named_instrument_is_created_with_its_unit_description_and_kind(bed):
    """Each row of names.METRICS shows up under its own name, unit and description, as its kind."""
    state, metrics, reader = bed
    exercise(state, metrics)
    collected = collect(reader)
    kinds = {"gauge": Gauge, "counter": Sum, "histogram": Histogram}
    for name, kind, unit, description in names.METRICS:
        assert name in collected, name
        metric = collected[name]
        assert (metric.unit, metric.description) == (unit, description)
        assert isinstance(metric.data, kinds[kind]), name
        if kind == "counter":
            assert metric.data.is_monotonic


def test_base_attributes_are_on_every_data_point(bed):
    """The instance key passed at construction is on every observation of every instrument."""
    state, metrics, reader = bed
    exercise(state, metrics)
    for metric in collect(reader).values():
        for point in metric.data.data_points:
            assert point.attributes[names.ATTR_INSTANCE_KEY] == "box-0", metric.name


def test_phase_gauge_is_one_for_the_current_phase_only(bed):
    """One observation per Phase, 1 for the current; it follows the state."""
    state, _, reader = bed
    by_phase = points(reader, names.METRIC_PHASE, names.ATTR_PHASE)
    assert {k: p.value for k, p in by_phase.items()} == {p.value: int(p is Phase.STARTING) for p in Phase}
    state.update(phase=Phase.READY)
    by_phase = points(reader, names.METRIC_PHASE, names.ATTR_PHASE)
    assert {k for k, p in by_phase.items() if p.value == 1} == {"ready"}
    assert sum(p.value for p in by_phase.values()) == 1


def test_progress_per_endpoint_and_overall(bed):
    """Progress is a ratio per endpoint with a known total, plus rpc.endpoint="all" when set."""
    state, _, reader = bed
    assert points(reader, names.METRIC_PROGRESS) == {}
    state.set_endpoint(EndpointProgress(PEER_A, bytes_total=1000, bytes_done=400))
    state.set_endpoint(EndpointProgress("CUDA0", bytes_total=None, bytes_done=10))  # total unknown: no ratio
    by_endpoint = points(reader, names.METRIC_PROGRESS, names.RPC_ENDPOINT)
    assert {k: p.value for k, p in by_endpoint.items()} == {PEER_A: 0.4}
    state.update(progress=0.3)
    state.set_endpoint(EndpointProgress(PEER_A, bytes_total=1000, bytes_done=600))
    by_endpoint = points(reader, names.METRIC_PROGRESS, names.RPC_ENDPOINT)
    assert {k: p.value for k, p in by_endpoint.items()} == {PEER_A: 0.6, "all": 0.3}


def test_bytes_rate_eta_per_endpoint(bed):
    """Bytes done always; total, rate and ETA only when known."""
    state, _, reader = bed
    state.set_endpoint(EndpointProgress(PEER_A, bytes_total=2000, bytes_done=500, rate_bps=100.0, eta_s=15.0))
    state.set_endpoint(EndpointProgress(PEER_B, bytes_done=7))

    def values(name):
        return {k: p.value for k, p in points(reader, name, names.RPC_ENDPOINT).items()}

    assert values(names.METRIC_BYTES_DONE) == {PEER_A: 500, PEER_B: 7}
    assert values(names.METRIC_BYTES_TOTAL) == {PEER_A: 2000}
    assert values(names.METRIC_RATE) == {PEER_A: 100.0}
    assert values(names.METRIC_ETA) == {PEER_A: 15.0}


def test_peer_state_maps_up_degraded_lost(bed):
    """0 up, 1 degraded, 2 lost; an unknown state is not observed."""
    state, _, reader = bed
    state.set_peer(PeerHealth(PEER_A, "up"))
    state.set_peer(PeerHealth(PEER_B, "degraded"))
    state.set_peer(PeerHealth("10.0.0.4:50052", "confused"))
    values = {k: p.value for k, p in points(reader, names.METRIC_PEER_STATE, names.RPC_ENDPOINT).items()}
    assert values == {PEER_A: 0, PEER_B: 1}
    state.set_peer(PeerHealth(PEER_B, "lost"))
    assert points(reader, names.METRIC_PEER_STATE, names.RPC_ENDPOINT)[PEER_B].value == 2


def test_probe_and_suppressed_counters_carry_path_status_and_verdict(bed):
    state, metrics, reader = bed
    metrics.count_probe("/health", 200, "drop")
    metrics.count_probe("/health", 200, "drop")
    metrics.count_probe("/v1/models", 503, "keep")
    metrics.count_suppressed("/health", 200, "sampled", count=5)
    probes = points(reader, names.METRIC_PROBES)
    assert {(dict(k)[names.URL_PATH], dict(k)[names.HTTP_STATUS], dict(k)[names.ATTR_VERDICT]): p.value for k, p in probes.items()} == {
        ("/health", 200, "drop"): 2,
        ("/v1/models", 503, "keep"): 1,
    }
    (suppressed,) = points(reader, names.METRIC_SUPPRESSED).values()
    assert suppressed.value == 5
    assert suppressed.attributes[names.ATTR_REASON] == "sampled"


def test_log_exit_and_peer_loss_counters(bed):
    state, metrics, reader = bed
    metrics.count_log(Severity.WARN)
    metrics.count_log(Severity.WARN)
    metrics.count_log(Severity.ERROR)
    assert {k: p.value for k, p in points(reader, names.METRIC_LOG_RECORDS, names.ATTR_LOG_SEVERITY).items()} == {
        "WARN": 2,
        "ERROR": 1,
    }
    metrics.count_exit(-15, "SIGTERM")
    metrics.count_exit(1, None)
    exits = {k: dict(p.attributes) for k, p in points(reader, names.METRIC_EXITS, names.ATTR_EXIT_CODE).items()}
    assert exits[-15][names.ATTR_EXIT_SIGNAL] == "SIGTERM"
    assert names.ATTR_EXIT_SIGNAL not in exits[1]  # None attributes are left out, not sent as "None"
    metrics.count_peer_loss(PEER_A)
    assert points(reader, names.METRIC_PEER_LOSSES, names.RPC_ENDPOINT)[PEER_A].value == 1


def test_load_duration_histogram_by_outcome(bed):
    state, metrics, reader = bed
    metrics.record_load_duration(12.0, "ready")
    metrics.record_load_duration(48.0, "ready")
    metrics.record_load_duration(3.0, "failed")
    by_outcome = points(reader, names.METRIC_LOAD_DURATION, names.ATTR_LOAD_OUTCOME)
    assert (by_outcome["ready"].count, by_outcome["ready"].sum) == (2, 60.0)
    assert by_outcome["failed"].count == 1
    assert 60.0 in by_outcome["ready"].explicit_bounds  # the load-scale buckets, not the SDK default


def test_telemetry_counters_observe_the_shared_export_stats():
    """Passing telemetry.stats counts what the exporters did; count_telemetry adds to it."""
    stats = ExportStats()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = InstanceMetrics(provider.get_meter("t"), InstanceState(), export_stats=stats)
    stats.add("traces", True, 10)
    stats.add("traces", False, 2)
    metrics.count_telemetry("logs", exported=4, dropped=1)
    exported = {k: p.value for k, p in points(reader, names.METRIC_TELEMETRY_EXPORTED, names.ATTR_SIGNAL).items()}
    dropped = {k: p.value for k, p in points(reader, names.METRIC_TELEMETRY_DROPPED, names.ATTR_SIGNAL).items()}
    assert exported == {"traces": 10, "logs": 4}
    assert dropped == {"traces": 2, "logs": 1}
    stats.add("traces", True, 5)
    assert points(reader, names.METRIC_TELEMETRY_EXPORTED, names.ATTR_SIGNAL)["traces"].value == 15  # cumulative
    provider.shutdown()


def test_callbacks_never_raise_when_the_state_breaks():
    """A state that fails to snapshot costs its gauges one collection, nothing else."""

    class Broken(InstanceState):
        def snapshot(self):
            raise RuntimeError("boom")

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = InstanceMetrics(provider.get_meter("t"), Broken())
    metrics.count_probe("/health", 200, "drop")
    collected = collect(reader)
    assert names.METRIC_PROBES in collected
    assert names.METRIC_PHASE not in collected
    provider.shutdown()
