"""Google's logging formats: glog / klog (Triton, Kubernetes components, llm-d), TensorFlow
Serving's glog with a date, and Ray's C++ log lines.

    I0429 12:46:50.778379 1 grpc_server.cc:2519] Started GRPCInferenceService at 0.0.0.0:8001
    E1027 22:25:32.427556       1 proxy.go:268] "waiting for vLLM to be ready" err="dial tcp ..."
    2024-09-12 17:54:49.197204: I tensorflow_serving/core/loader_harness.cc:74] Loading servable version {...}
    [2023-09-19 17:35:16,659 E 1450 3289] logging.cc:361: *** SIGBUS received at time=1695144916 on cpu 2 ***
    [E ProcessGroupNCCL.cpp:1316] [PG 2 Rank 1] Heartbeat monitor timed out!      PyTorch's c10 (NCCL, c10d)
    [W1120 05:17:36.585347925 ProcessGroupNCCL.cpp:1250] Warning: process group has NOT been destroyed

The level is the letter (I, W, E, F; Ray also D); the message goes to `MESSAGE`, without the
quotes Triton (since 24.x) and klog's structured lines put around it.
"""

from __future__ import annotations

from otel_plugins import names

from ._common import ISO_TIME, LOG_TIME
from .message import MESSAGE
from .shape import INT, TIME, F, Shape


def _glog(name: str, pattern: str, **kw) -> Shape:
    return Shape("glog." + name, pattern, "glog", level="lvl", tag_group="src", message="msg", inner=MESSAGE, **kw)


_GLOG_HEAD = r"(?P<lvl>[IWEF])(?P<day>\d{4}) (?P<when>\d\d:\d\d:\d\d\.\d{6}) +(?P<thread>\d+) (?P<src>[^\]\s]+:\d+)\] "

GLOG = (
    # Triton since 24.x and klog's structured lines quote the message (klog's key=value pairs follow it).
    _glog(
        "quoted", _GLOG_HEAD + r'"(?P<msg>(?:[^"\\]|\\.)*)"(?: .*)?$', fields=(F("when", LOG_TIME),),
        examples=('I0327 13:12:22.342523 146 http_server.cc:4725] "Started HTTPService at 0.0.0.0:8000"',),
    ),
    _glog(
        "glog", _GLOG_HEAD + r"(?P<msg>.*)$",
        fields=(F("when", LOG_TIME),), examples=("I0429 12:46:50.778379 1 grpc_server.cc:2519] Started GRPCInferenceService at 0.0.0.0:8001",),
    ),
    _glog(
        "dated", r"(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}): (?P<lvl>[IWEF]) (?P<src>\S+:\d+)\] (?P<msg>.*)$",
        fields=(F("when", LOG_TIME), F("when", TIME, ISO_TIME)),
        examples=("2024-09-12 17:54:49.197204: I tensorflow_serving/core/loader_harness.cc:74] Loading servable version {name: x version: 4}",),
    ),
    _glog(
        "ray", r"\[(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (?P<lvl>[IWEDF]) (?P<pid>\d+) (?P<thread>\d+)\] (?P<src>\S+:\d+): (?P<msg>.*)$",
        producer="ray", fields=(F("pid", names.PID, INT), F("when", LOG_TIME), F("when", TIME, ISO_TIME)),
        examples=("[2023-09-19 17:35:16,659 E 1450 3289] logging.cc:361: *** SIGBUS received at time=1695144916 on cpu 2 ***",),
    ),
)

# PyTorch's c10 logging (NCCL and c10d in every multi-GPU vLLM, SGLang or TGI): glog's letter in
# brackets, with a time since 2024, a C++ source file and its line.
C10 = _glog(
    "c10", r"\[(?P<lvl>[IWEF])(?:(?P<day>\d{4}) (?P<when>\d\d:\d\d:\d\d\.\d+)(?: (?P<thread>\d+))?)? (?P<src>[\w./-]+\.(?:cpp|cc|c|h|hpp):\d+)\] (?P<msg>.*)$",
    producer="pytorch",
    examples=(
        "[E ProcessGroupNCCL.cpp:1316] [PG 2 Rank 1] Heartbeat monitor timed out! Process will be terminated after dumping debug info.",
        "[W1120 05:17:36.585347925 ProcessGroupNCCL.cpp:1250] Warning: WARNING: process group has NOT been destroyed before we destruct ProcessGroupNCCL.",
    ),
)
GLOG = (*GLOG, C10)

__all__ = ["GLOG"]
