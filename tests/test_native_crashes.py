"""Crash reports of native and Rust servers folded into one ERROR record each (`dialects/crash.py`
marks the parts, `crash.py` folds them, with the lines that only go on an open dump).

The lines are real ones, from the holdout excerpts scored for issue 10 (sources named below)."""

from __future__ import annotations

from test_dialects_failures import fold

AFTER = "I0901 10:00:00.000000 1 server.cc:1] next line of the server, not part of the crash"

# Triton with the TensorRT-LLM backend (triton-inference-server/tensorrtllm_backend#273): Triton's
# own handler, UCX's backtrace between two rules, then Open MPI's handler.
TRITON = [
    "Signal (11) received.",
    "[e2e-102-219:6082 :0:6592] Caught signal 11 (Segmentation fault: address not mapped to object at address (nil))",
    "==== backtrace (tid:   6592) ====",
    " 0 0x0000000000042520 __sigaction()  ???:0",
    " 1 0x000000000006751c tensorrt_llm::batch_manager::GptManager::returnCompletedRequests()  :0",
    "=================================",
    "[e2e-102-219:06082] *** Process received signal ***",
    "[e2e-102-219:06082] Signal: Segmentation fault (11)",
    "[e2e-102-219:06082] [ 0] /usr/lib/x86_64-linux-gnu/libc.so.6(+0x42520)[0x7f8e755a2520]",
]

# mistral.rs (EricLBuehler/mistral.rs#1203): the message follows the head since Rust 1.73.
RUST = [
    "thread '<unnamed>' panicked at mistralrs-core/src/pipeline/sampling.rs:303:26:",
    "Expected receiver.: SendError { .. }",
    "stack backtrace:",
    "   0: rust_begin_unwind",
    "   1: core::panicking::panic_fmt",
    "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.",
]

# vLLM on Python 3.13 (vllm-project/vllm#44411, shortened): a statement quoted over several
# lines, with the middle elided.
PY313 = [
    "(APIServer pid=395085) Traceback (most recent call last):",
    '(APIServer pid=395085)   File "/usr/lib/python3.13/site-packages/vllm/v1/engine/utils.py", line 730, in launch_core_engines',
    "(APIServer pid=395085)     wait_for_engine_startup(",
    "(APIServer pid=395085)     ~~~~~~~~~~~~~~~~~~~~~~~^",
    "(APIServer pid=395085)         handshake_socket,",
    "(APIServer pid=395085)     ...<6 lines>...",
    "(APIServer pid=395085)         coordinator.proc if coordinator else None,",
    "(APIServer pid=395085)     )",
    "(APIServer pid=395085) RuntimeError: Engine core initialization failed. See root cause above.",
]


def test_a_native_signal_report_is_one_record_and_the_next_line_of_the_server_its_own():
    sink = fold([*TRITON, AFTER])
    [dump] = sink.crashes
    assert sink.records == [AFTER]
    assert dump.head == TRITON[0] and dump.stacktrace == "\n".join(TRITON)


def test_a_rust_panic_is_one_record_with_its_message():
    sink = fold(RUST)
    [dump] = sink.crashes
    assert sink.records == []
    assert dump.kind == "panic"
    assert dump.message == RUST[0] + " " + RUST[1]
    assert dump.stacktrace == "\n".join(RUST)


def test_a_python_313_traceback_with_elided_lines_is_one_record():
    sink = fold([*PY313, AFTER])
    [dump] = sink.crashes
    assert sink.records == [AFTER]
    assert (dump.kind, dump.message) == ("RuntimeError", "Engine core initialization failed. See root cause above.")
    assert dump.stacktrace.count("\n") == len(PY313) - 1


def test_multiprocessing_names_the_process_before_its_traceback():
    lines = ["(EngineCore_DP0 pid=17374) Process EngineCore_DP0:", *PY313[:2], PY313[-1]]
    sink = fold(lines)
    [dump] = sink.crashes
    assert dump.head == lines[0] and dump.kind == "RuntimeError"


def test_lines_that_only_go_on_a_dump_are_plain_lines_outside_one():
    """A rule, a numbered list and an indented line mean nothing alone: outside a crash dump they
    are decided as the lines they are, not as errors."""
    plain = ["=================================", "   0: first choice", "        handshake_socket,"]
    sink = fold(plain)
    assert sink.crashes == [] and sink.records == plain


def test_a_second_panic_in_the_same_report_keeps_its_message_in_the_dump():
    second = ["thread 'main' panicked at mistralrs-server/src/interactive_mode.rs:412:32:", "called `Result::unwrap()` on an `Err` value: SendError { .. }"]
    sink = fold([*RUST, *second])
    assert sink.records == []
    [dump] = sink.crashes
    assert dump.message == RUST[0] + " " + RUST[1] and dump.stacktrace.endswith("\n".join(second))


def test_gdb_slow_between_frames_stays_one_dump_where_other_silence_ends_one():
    """gdb reads symbols between frames (seconds on a loaded machine) and ends its dump itself,
    so a line of the server's own printed during such a pause does not end the dump; after a
    report no gdb speaks in, a second of silence does (the tests' bed saw gdb's dump split in
    two when CI was busy)."""
    from otel_plugins.pipeline import LinePipeline
    from otel_plugins.policy import Policy
    from test_dialects_failures import Sink

    plain = "srv  update_slots: all slots are idle"
    gdb = [
        (100.0, "/x/ggml/src/ggml-rpc/ggml-rpc.cpp:494: GGML_ASSERT(status) failed"),
        (100.2, "#0  0x00007f1c2b4ea42f in __GI___wait4 (pid=1234, stat_loc=0x0, options=0, usage=0x0) at ../sysdeps/unix/sysv/linux/wait4.c:30"),
        (102.0, plain),
        (103.0, "30\t../sysdeps/unix/sysv/linux/wait4.c: No such file or directory."),
        (104.5, "#1  0x00007f1c2b9d1b2a in ggml_abort () from /x/libggml-base.so"),
        (104.6, "[Inferior 1 (process 1234) detached]"),
    ]
    rust = [(100.0, RUST[0]), (100.0, RUST[1]), (100.1, RUST[2]), (102.0, plain), (102.5, RUST[3])]
    for lines, parts, alone in ((gdb, 5, [plain]), (rust, 3, [plain, RUST[3]])):
        sink = Sink()
        pipeline = LinePipeline(Policy(), sink)
        for at, line in lines:
            pipeline.feed_text(line, at)
        pipeline.close(110.0)
        [dump] = sink.crashes
        assert dump.stacktrace == "\n".join(line for _at, line in lines if line != plain)[: len(dump.stacktrace)]
        assert len(dump.stacktrace.splitlines()) == parts and sink.records == alone


def test_gdb_source_echo_after_its_dump_closed_is_no_second_dump():
    """gdb writes a frame's source echo to stderr and its frames to stdout, so the echo may come
    after `[Inferior 1 (process N) detached]` closed the dump (the peer-loss bed saw a second
    crash record of that line alone): it is kept as a line, and the dump stays one."""
    from otel_plugins.pipeline import LinePipeline
    from otel_plugins.policy import Policy
    from test_dialects_failures import Sink

    echo = "30\t../sysdeps/unix/sysv/linux/wait4.c: No such file or directory."
    lines = [
        "/x/ggml/src/ggml-rpc/ggml-rpc.cpp:494: GGML_ASSERT(status) failed",
        "#0  0x00007f1c2b4ea42f in __GI___wait4 (pid=1234, stat_loc=0x0, options=0, usage=0x0) at ../sysdeps/unix/sysv/linux/wait4.c:30",
        "#1  0x00007f1c2b9d1b2a in ggml_abort () from /x/libggml-base.so",
        "[Inferior 1 (process 1234) detached]",
        echo,
    ]
    sink = Sink()
    pipeline = LinePipeline(Policy(), sink)
    for at, line in enumerate(lines):
        pipeline.feed_text(line, 100.0 + at / 10)
    pipeline.close(110.0)
    [dump] = sink.crashes
    assert dump.stacktrace.splitlines() == lines[:4] and sink.records == [echo]
