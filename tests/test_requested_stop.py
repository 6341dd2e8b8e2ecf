"""A stop the wrapper forwarded, then an abort while stopping, is a requested stop: the
instance span's status stays unset, `llama.exit.requested` is true, the abort stays on
record as an `exception` event, and `run` says so. An abort nobody asked for stays an
ERROR. On the real llama-server (which aborts when asked to stop) and on a stand-in that
always does."""

from __future__ import annotations

import os
import signal
import time

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import bed
import otlp_files
from otel_plugins import names
from otel_plugins.argv import parse_launch
from otel_plugins.instance import STOP_GRACE_S, ExitKind, InstanceObserver
from otel_plugins.sinks.telemetry import ExportStats, Telemetry
from test_run_bed import start_wrapped, wait_health
from test_signals import wrapped

LLAMA_SERVER = bed.bin_path("llama-server")
needs_bed = pytest.mark.skipif(LLAMA_SERVER is None, reason="llama-server not built: run scripts/build_llama.sh")


def instance_span(directory):
    (span,) = [s for s in otlp_files.spans(directory) if s["name"] == names.SPAN_INSTANCE]
    return span


def test_abort_while_stopping_is_a_requested_stop(tmp_path):
    """SIGTERM to the wrapper, forwarded; the child aborts (134): no ERROR, requested, the abort an event."""
    with wrapped(tmp_path, "abort_on_stop") as w:
        w.child_pid()
        w.proc.send_signal(signal.SIGTERM)
        code = w.wait()
    assert code == 128 + signal.SIGABRT, w.stderr()  # the child's own exit, unchanged
    assert "stopped as requested (exit code 134: it aborted while stopping)" in w.stderr()
    span = instance_span(w.out)
    assert span.get("status", {}).get("code") != 2, span.get("status")
    assert span["attrs"][names.ATTR_EXIT_REQUESTED] is True
    assert span["attrs"][names.ATTR_EXIT_SIGNAL] == "SIGABRT"
    (abort,) = [e for e in span["events"] if e["name"] == names.EVENT_EXCEPTION]
    assert abort["attrs"][names.EXCEPTION_TYPE] == "std::terminate"
    exits = otlp_files.metric_points(w.out)[names.METRIC_EXITS]
    assert {p["attrs"].get(names.ATTR_EXIT_REQUESTED) for p in exits} == {True}


def test_abort_nobody_asked_for_is_an_error(tmp_path):
    """The same abort without a stop: ERROR, not requested."""
    with wrapped(tmp_path, "abort_on_stop") as w:
        os.kill(w.child_pid(), signal.SIGTERM)  # straight to the child: the wrapper forwarded nothing
        code = w.wait()
    assert code == 128 + signal.SIGABRT
    assert "exited with code 134" in w.stderr()
    span = instance_span(w.out)
    assert span["status"]["code"] == 2
    assert span["attrs"].get(names.ATTR_EXIT_REQUESTED) is None


def test_abort_after_the_grace_period_is_an_error():
    """An abort long after the stop is not the stop's doing."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = Telemetry(provider, MeterProvider(), LoggerProvider(), ExportStats(), None)
    for delay, kind, error in ((0.0, ExitKind.ABORTED_ON_STOP, False), (STOP_GRACE_S + 1, ExitKind.UNREQUESTED, True)):
        observer = InstanceObserver(parse_launch(["llama-server", "-m", "m.gguf"]), telemetry)
        observer.stop_requested = True
        observer.stop_requested_at = time.monotonic() - delay
        assert observer.on_exit(-signal.SIGABRT) == 134
        assert observer.exit_kind is kind
        span = next(s for s in spans.get_finished_spans() if s.name == names.SPAN_INSTANCE)
        assert (span.status.status_code.name == "ERROR") is error
        spans.clear()


@pytest.mark.bed
@needs_bed
def test_real_llama_server_abort_on_sigterm_or_directly(tmp_path):
    """llama-server 0.3.8: stopped through the wrapper it is a requested stop whatever its exit
    (it aborts while stopping, or dies of SIGTERM); aborted directly it is an ERROR."""
    model = bed.ensure_model(256, 2)
    outcomes = {}
    for how in ("requested", "direct"):
        directory = tmp_path / how
        directory.mkdir()
        port, health_port = bed.free_port(), bed.free_port()
        wrapper = start_wrapped(bed.llama_server_argv(model, port), directory, health_port)
        try:
            bed.wait_tcp("127.0.0.1", health_port, timeout=30, proc=wrapper)
            wait_health(f"http://127.0.0.1:{health_port}/health", "ok", 60, wrapper)
            if how == "requested":
                wrapper.send_signal(signal.SIGTERM)
            else:
                os.kill(child_of(wrapper.pid), signal.SIGABRT)  # nobody asked the wrapper to stop
            code = wrapper.wait(30)
        finally:
            bed.stop_process(wrapper)
        span = instance_span(directory)
        outcomes[how] = (code, span.get("status", {}).get("code"), span["attrs"].get(names.ATTR_EXIT_REQUESTED))
    code, status, requested = outcomes["requested"]
    assert code in (134, 143) and status != 2 and requested is True, outcomes
    assert outcomes["direct"] == (134, 2, None), outcomes
    print(f"llama-server stop outcomes (exit code, span status, requested): {outcomes}")


def child_of(pid: int) -> int:
    """The one child process of `pid` (the wrapper's server), from /proc/<pid>/task/*/children."""
    found = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found |= {int(c) for c in f.read().split()}
    (child,) = found
    return child
