"""Python tracebacks, line by line (bare, or inside an envelope: compose, journald, `(APIServer pid=1)`).

    Process ForkProcess-1:                                    head (multiprocessing, before the traceback)
    Traceback (most recent call last):                        head (anywhere in a line: `failures`)
      File "/x/server.py", line 621, in _wait_and_warmup      frame (`> File` marks loguru's failing frame)
        assert res.status_code == 200, f"{res=}"              code, exactly four spaces in
               ^^^^^^^^^^^^^^^^^^^^^^                          carets
    AssertionError: res=<Response [502]>                      the exception: exception.type, exception.message
    During handling of the above exception, another exception occurred:     chained
    The above exception was the direct cause of the following exception:    chained

Exception groups frame the same lines with `  | ` and `  +-+---- 1 ----`. Every part is kind
ERROR at ERROR with `llama.crash.part` (backtrace, or exception for the last line), so the
crash folder makes one record of them, as it does of gdb's backtraces.
"""

from __future__ import annotations

from otel_plugins.names import CRASH_PART
from otel_plugins.record import Kind, Severity

from ._common import EXCEPTION_MESSAGE, EXCEPTION_TYPE
from .shape import F, Shape

_GROUP = r"(?:  \| )*"  # an exception group's frame around the usual lines
_CODE = (
    r"(?:(?:return|raise|await|assert|yield|async|with|for|if|elif|while|del|import|from|lambda|not|print)\b"
    r"|[A-Za-z_][\w.]*(?:\(|\[|\.|,| *(?:[-+*/%&|^]|//|\*\*|>>|<<)?= | *:$)|[@)]|[\]}]+\))"
)
_EXCEPTION = r"(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Interrupt|Exit|Fault|Failure|Timeout|Cancelled|Iteration|Expired)"


def _part(name: str, pattern: str, part: str = "backtrace", **kw) -> Shape:
    return Shape(
        "python." + name, pattern, "python", kind=Kind.ERROR, severity=Severity.ERROR, producer="python",
        const=((CRASH_PART, part),), **kw,
    )


TRACEBACK = (
    _part("frame", r"[ \t|]*>? *File \"[^\"]+\", line \d+(?:, in .*)?$", examples=('  File "/usr/lib/python3.12/asyncio/runners.py", line 195, in run',)),
    # Code lines: the traceback module prints them four spaces in. What follows must read as
    # Python (a keyword, a call, an index, an attribute, an assignment, a decorator, a call's
    # closing parenthesis), so an indented table (`    Warning  BackOff  4m25s ...`) is not one,
    # nor pretty-printed JSON's `    },` and `    ]` (LM Studio logs the bodies it returns).
    _part("code", _GROUP + "    " + _CODE + r".*$", examples=("    return runner.run(main)", "    model = get_model(")),
    # Python 3.13 elides the middle of a long statement: `    ...<6 lines>...`.
    _part("elided", _GROUP + r"    \s*\.\.\.<\d+ lines>\.\.\.\s*$", examples=("    ...<6 lines>...",)),
    # multiprocessing's report of a child that died of an exception: `Process EngineCore_DP0:`, then its traceback.
    _part("process", r"Process [A-Za-z_][\w-]*:\s*$", part="head", examples=("Process EngineCore_DP0:",)),
    # faulthandler (`Fatal Python error: Aborted`, then each thread's stack): its header and
    # frames, which have no comma before `in`.
    _part(
        "faulthandler", r"(?:Current thread|Thread) 0x[0-9a-fA-F]+ \(most recent call first\):\s*$",
        examples=("Current thread 0x00007f2c1b4f5740 (most recent call first):",),
    ),
    _part("faulthandler_frame", r" +File \"[^\"]+\", line \d+ in \S+\s*$", examples=('  File "/usr/lib/python3.10/threading.py", line 324 in wait',)),
    _part("carets", _GROUP + r"\s{4,}[~^]+\s*$", examples=("           ^^^^^^^^^^^^^^",)),
    _part(
        "chained",
        _GROUP + r"(?:During handling of the above exception, another exception occurred|The above exception was the direct cause of the following exception):\s*$",
    ),
    _part("group", r" {2,}\+-[-+]*(?: \d+ -+| \.\.\..*)?\s*$"),
    _part(
        "exception", _GROUP + r"(?P<type>" + _EXCEPTION + r")(?:: (?P<msg>.*))?$", part="exception", message="msg",
        fields=(F("type", EXCEPTION_TYPE), F("msg", EXCEPTION_MESSAGE)),
        examples=("AssertionError: res=<Response [502]>, res.text=''", "NotImplementedError: sharded is not supported for this model"),
    ),
)

__all__ = ["TRACEBACK"]
