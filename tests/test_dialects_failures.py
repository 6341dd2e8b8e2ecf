"""Failures whatever the stated level (`dialects/failures.py`) and Python tracebacks folded
into one record (`dialects/traceback.py` marks the parts, `crash.py` folds them).

The lines are real ones (tests/testdata/dialects/failures, python_traceback and their sources).
"""

from __future__ import annotations

import re

import pytest

from otel_plugins import names
from otel_plugins.dialects import parse_line
from otel_plugins.dialects.failures import FAILURES
from otel_plugins.pipeline import LinePipeline
from otel_plugins.policy import Policy
from otel_plugins.record import Event, Kind, Severity
from test_dialects import GOLDEN, read_lines

# A TGI shard's traceback (text-generation-inference#1575), its head as Python prints it.
TGI = [
    "Traceback (most recent call last):",
    '  File "/opt/conda/bin/text-generation-server", line 8, in <module>',
    "    sys.exit(app())",
    '  File "/opt/conda/lib/python3.9/asyncio/base_events.py", line 634, in run_until_complete',
    "    self.run_forever()",
    '> File "/opt/conda/lib/python3.9/site-packages/text_generation_server/server.py", line 133, in serve_inner',
    "    model = get_model(",
    '  File "/opt/conda/lib/python3.9/site-packages/text_generation_server/models/__init__.py", line 240, in get_model',
    '    raise NotImplementedError("sharded is not supported for this model")',
    "NotImplementedError: sharded is not supported for this model",
]
AFTER = "2024-01-15T08:47:26.062519Z  INFO text_generation_launcher: Server started at unix:///tmp/text-generation-server-0"


class Sink:
    def __init__(self) -> None:
        self.records: list = []
        self.crashes: list = []

    def emit(self, classified, extra=None) -> None:
        self.records.append(classified.record.text)

    def emit_crash(self, dump, extra=None) -> None:
        self.crashes.append(dump)

    def emit_summary(self, summary, extra=None) -> None:
        pass


def fold(lines: list[str]) -> Sink:
    sink = Sink()
    pipeline = LinePipeline(Policy(), sink)
    for line in lines:
        pipeline.feed_text(line, 100.0)
    pipeline.close(100.0)
    return sink


def test_a_traceback_is_one_error_record_with_the_exception():
    sink = fold([*TGI, AFTER])
    assert sink.records == [AFTER]
    [dump] = sink.crashes
    assert dump.kind == "NotImplementedError"
    assert dump.message == "sharded is not supported for this model"
    assert dump.stacktrace == "\n".join(TGI)


def test_a_traceback_inside_an_envelope_folds_as_well():
    lines = [f"sglang-1  | {line}" for line in TGI]
    sink = fold(lines)
    assert sink.records == []
    [dump] = sink.crashes
    assert (dump.kind, dump.message) == ("NotImplementedError", "sharded is not supported for this model")


# TorchServe relays its Python worker's stdout a line at a time through log4j, at INFO, between
# its own lines about the worker (pytorch/serve#515).
TORCHSERVE = [
    "2020-07-10 15:29:40,178 [WARN ] W-9000-segment_batch_1.0 org.pytorch.serve.wlm.BatchAggregator - Load model failed: segment_batch, error: Worker died.",
    (
        "2020-07-10 15:29:40,178 [INFO ] W-9000-segment_batch_1.0-stdout org.pytorch.serve.wlm.WorkerLifeCycle -   File"
        ' "/data/baobn/miniconda3/envs/baobn1/lib/python3.8/site-packages/ts/model_service_worker.py", line 147, in run_server'
    ),
    "2020-07-10 15:29:40,179 [WARN ] W-9000-segment_batch_1.0 org.pytorch.serve.wlm.WorkerLifeCycle - terminateIOStreams() threadName=W-9000-segment_batch_1.0-stderr",
    "2020-07-10 15:29:40,179 [INFO ] W-9000-segment_batch_1.0-stdout org.pytorch.serve.wlm.WorkerLifeCycle -     self.handle_connection(cl_socket)",
]


def test_a_traceback_relayed_at_the_relays_own_level_stays_an_error_and_folds():
    """The relay's INFO says how it printed the line, not what the line says: each relayed
    part is ERROR (shape.merge) and the parts fold into one dump, the relay's own lines apart."""
    frame, code = parse_line(TORCHSERVE[1]), parse_line(TORCHSERVE[3])
    for rec in (frame, code):
        assert (rec.kind, rec.severity, rec.fields[names.CRASH_PART]) == (Kind.ERROR, Severity.ERROR, "backtrace")
        assert rec.tag == "org.pytorch.serve.wlm.WorkerLifeCycle"
    # The relay's own lines keep their stated level.
    assert parse_line(TORCHSERVE[2]).severity is Severity.WARN and names.CRASH_PART not in parse_line(TORCHSERVE[2]).fields
    sink = fold(TORCHSERVE)
    assert sink.records == [TORCHSERVE[0], TORCHSERVE[2]]
    [dump] = sink.crashes
    assert dump.stacktrace.splitlines() == [TORCHSERVE[1], TORCHSERVE[3]]


def test_a_python_logging_relay_of_a_traceback_is_error_too():
    """`logging.basicConfig`'s format around a traceback's frame and exception (`INFO:root:...`)."""
    frame = parse_line('INFO:root:  File "/opt/conda/bin/text-generation-server", line 8, in <module>')
    exception = parse_line("INFO:root:NotImplementedError: sharded is not supported for this model")
    assert (frame.severity, frame.fields[names.CRASH_PART]) == (Severity.ERROR, "backtrace")
    assert (exception.severity, exception.fields[names.CRASH_PART]) == (Severity.ERROR, "exception")
    assert exception.fields[names.EXCEPTION_TYPE] == "NotImplementedError"
    # A plain message behind the same relay keeps the relay's level.
    assert parse_line("INFO:root:Starting the shard").severity is Severity.INFO


def test_a_chained_traceback_is_one_record_with_the_last_exception():
    chained = [
        *TGI,
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "/opt/conda/lib/python3.9/site-packages/typer/main.py", line 311, in __call__',
        "    return get_command(self)(*args, **kwargs)",
        "KeyboardInterrupt",
    ]
    sink = fold(chained)
    [dump] = sink.crashes
    assert dump.kind == "KeyboardInterrupt" and dump.message == ""
    assert "During handling of the above exception" in dump.stacktrace and "NotImplementedError" in dump.stacktrace


def test_two_tracebacks_in_a_row_are_two_records():
    sink = fold([*TGI, *TGI[:-1], "AssertionError: res=<Response [502]>, res.text=''"])
    assert [d.kind for d in sink.crashes] == ["NotImplementedError", "AssertionError"]
    assert sink.crashes[1].message == "res=<Response [502]>, res.text=''"


def test_an_indented_table_is_not_a_traceback():
    line = "    Warning  BackOff           4m25s (x157 over 38m)  kubelet, minikube  Back-off restarting failed container"
    rec = parse_line(line)
    assert names.CRASH_PART not in rec.fields
    assert rec.kind is Kind.ERROR and rec.event is Event.CRASH  # what it says, not its indent
    assert fold([line]).crashes == []


@pytest.mark.parametrize(
    "line",
    [
        "Killed",
        "scalellm exited with code 137",
        "ollama-intel-gpu exited with code 1",
        "Jul 28 08:28:30 omnibook-ultra-14 systemd[1]: ollama.service: Main process exited, code=exited, status=1/FAILURE",
        "Aug 08 09:02:33 master systemd[1]: ollama.service: main process exited, code=exited, status=127/n/a",
        "llama-server.service: Main process exited, code=killed, status=9/KILL",
        "nixos systemd[1]: ollama.service: Failed with result 'oom-kill'.",
        "May 15 23:09:30 ubuntu-s-1vcpu-2gb-ams3-01 kernel: [  518.050606] Out of memory: Killed process 15784 (python3) "
        "total-vm:11964kB, anon-rss:4288kB, file-rss:3028kB, shmem-rss:0kB",
        "sglang-1  | [2025-10-29 11:26:03] SIGQUIT received. signum=None, frame=None. It usually means one child failed.",
        "[DEBUG] <qwen-coder-14B-FIM> cmd.Wait() returned error: signal: aborted (core dumped)",
        "(RayWorker pid=1450) *** SIGBUS received at time=1695144916 on cpu 2 ***",
        # SGLang's launcher (gpustack#3848) and Ray Serve's controller (ray#33203, without the log
        # viewer's line number and time in front), at no level and at INFO.
        "[12-11 17:52:52] Rank 0 scheduler is dead. Please check if there are relevant logs.",
        "[12-11 17:52:54] Exit code: -9",
        "INFO 2023-03-10 09:14:57,180 controller 979 deployment_state.py:625 - Actor for replica D#DYFbUC crashed, marking it unhealthy immediately.",
    ],
)
def test_a_dead_process_is_an_error_whatever_level_was_printed(line):
    rec = parse_line(line)
    assert rec.kind is Kind.ERROR and rec.severity is not None and rec.severity >= Severity.ERROR, rec
    assert rec.event is Event.CRASH


@pytest.mark.parametrize(
    "line",
    ["ollama exited with code 0", "vllm exited with code 143", "srv           run: instance name=tiny exited with status 0", "[12-11 17:52:54] Exit code: 0"],
)
def test_a_normal_stop_is_no_failure(line):
    rec = parse_line(line)
    assert rec.kind is not Kind.ERROR and rec.event is not Event.CRASH and rec.severity in (None, Severity.INFO), rec


def test_an_access_line_keeps_its_status_whatever_its_path_says():
    rec = parse_line('INFO:     127.0.0.1:50014 - "GET /v1/jobs/killed-abort HTTP/1.1" 200 OK')
    assert rec.kind is Kind.HTTP and rec.severity is Severity.INFO and rec.event is None


def test_every_line_a_failure_rule_matches_holds_one_of_its_words():
    """`failures.mark` (and the Collector's routes) look for a rule's words before its regex."""
    matched = 0
    for path in sorted(GOLDEN.rglob("input.log")):
        for line in read_lines(path):
            for words, rule in FAILURES:
                if re.match(rule.regex.pattern, line, rule.regex.flags):
                    matched += 1
                    assert any(w in line.lower() for w in words), (rule.name, line)
    assert matched >= 20
