"""Python `logging` and friends: the level word in the middle of the line.

- `2025-01-01 10:00:00,123 name 1234 INFO     message` (Xinference: logger, pid, padded level);
- `2025-06-10 11:36:26.764 269781 kserve INFO [encoder_model.py:load():204] message` (KServe);
- `[2023-09-11 16:29:10 +0000] [17720] [INFO] Starting gunicorn 20.1.0` (gunicorn),
  `2023-08-17T12:41:56+0000 [INFO] [api_server:1] message` (BentoML), LM Studio's entry headers
  `2025-05-03 06:10:25 [ERROR]` and (2026) `2026-01-18 11:33:58  [WARN]`, their message on the next line,
  `[2024-05-17 23:21:12.539] [INFO] [LM STUDIO SERVER] message` (LM Studio), `[INFO] [cli] message`,
  `2026-05-06 21:10:13.092 [Debug] (Server) message` (Lemonade);
- `2025-11-26 14:11:06.911 | INFO     | module:function:476 - message` (loguru);
- `2025-07-22 03:38:06,508 [mlserver][model:1] INFO - message` (MLServer);
- `09:40:06 - LiteLLM Proxy:ERROR: user_api_key_auth.py:1490 - message` (LiteLLM);
- `19:09:54-049135 ERROR    message` (text-generation-webui);
- `2024-09-03 16:18:19,348 INFO worker.py:1783 -- message`, `INFO 2025-08-29 18:03:14,300 controller 524122 -- message` (Ray, Ray Serve;
  a replica prints its id and the request's, then `-- POST /v1/messages 200 3285.7ms`);
- `2025-01-01 10:00:00 INFO name: message`, `2025-01-01 10:00:00 INFO message`;
- `INFO:tgi-server:message` (`logging.basicConfig`'s default; the message may be another
  server's line: a wrapper re-printing TGI's `tracing` output).
GPUStack's `date - name - LEVEL - message` is `gpustack.py`'s. The message goes to `MESSAGE`.
Java's log4j in the same place (dialect "java"): `2020-07-10 15:29:40,178 [INFO ] W-9000-x-stdout
org.pytorch.serve.wlm.WorkerLifeCycle - message` (TorchServe, which relays its Python workers'
stdout and stderr a line at a time this way, tracebacks included).
"""

from __future__ import annotations

from otel_plugins import names

from ._common import ISO_TIME, LOG_TIME
from .access import RAY_SERVE_ACCESS
from .message import MESSAGE
from .shape import INT, TIME, Chain, F, Shape
from .tracing import TRACING

DATE = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z| ?[+-]\d\d:?\d\d)?"
LEVEL = r"(?P<lvl>DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL|TRACE|NOTICE)"
# In brackets a level may be capitalised (Lemonade's `[Debug]`, `[Warn]`): a bracketed word after
# the time says nothing else.
_BRACKETED_LEVEL = r"(?P<lvl>DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL|TRACE|NOTICE|Debug|Info|Warning|Warn|Error|Critical|Fatal|Trace)"
_TIME = (F("when", LOG_TIME), F("when", TIME, ISO_TIME))


def _py(name: str, pattern: str, *, time: bool = True, **kw) -> Shape:
    kw.setdefault("fields", ())
    if time:
        kw["fields"] = (*kw["fields"], *_TIME)
    kw.setdefault("inner", MESSAGE)
    return Shape("pylog." + name, pattern, "python", level="lvl", message="msg", **kw)


LOG4J = Shape(
    "java.log4j", r"(?P<when>" + DATE + r") \[" + LEVEL + r" ?\] (?P<thread>\S+) (?P<logger>[A-Za-z_$][\w.$]*) - (?P<msg>.*)$", "java",
    level="lvl", message="msg", tag_group="logger", inner=MESSAGE, fields=_TIME,
    examples=(
        "2020-07-10 15:29:40,178 [INFO ] W-9000-segment_batch_1.0-stdout org.pytorch.serve.wlm.WorkerLifeCycle -     self.handle_connection(cl_socket)",
    ),
)

# log4j first: Python's bracketed level (`brackets`) would take its `[DEBUG]` and keep the thread and logger in the message.
PYLOG = (
    LOG4J,
    _py(
        "logger_pid", r"(?P<when>" + DATE + r") (?P<logger>[A-Za-z_][\w.]*) (?P<pid>\d+) " + LEVEL + r"\s+(?P<msg>.*)$",
        tag_group="logger", fields=(F("pid", names.PID, INT),),
        examples=("2023-11-21 13:52:57,022 xinference.core.supervisor 50309 INFO     Xinference supervisor 127.0.0.1:23432 started",),
    ),
    _py(
        "pid_logger", r"(?P<when>" + DATE + r") (?P<pid>\d+) (?P<logger>[A-Za-z_][\w.]*) " + LEVEL + r" (?:\[(?P<src>[^\]]+)\] )?(?P<msg>.*)$",
        tag_group="logger", fields=(F("pid", names.PID, INT),),
        examples=("2025-06-10 11:36:26.764 269781 kserve INFO [encoder_model.py:load():204] Successfully loaded huggingface model from path x",),
    ),
    _py(
        "brackets",
        r"(?:\[(?P<when>" + DATE + r")\]|(?P<when2>" + DATE + r")) +(?:\[(?P<pid>\d+)\] )?\[" + _BRACKETED_LEVEL
        + r"\]\s*(?:\[(?P<comp>[^\]]+)\] |\((?P<comp2>\w+)\) )?(?P<msg>.*)$",
        time=False, tag_group=("comp", "comp2"),
        fields=(F("pid", names.PID, INT), F("when", LOG_TIME), F("when2", LOG_TIME), F("when", TIME, ISO_TIME), F("when2", TIME, ISO_TIME)),
        examples=(
            "[2023-09-11 16:29:10 +0000] [17720] [INFO] Starting gunicorn 20.1.0", "2025-05-03 06:10:25 [ERROR]", "2026-01-18 11:33:58  [WARN]",
            "2023-08-17T12:41:56+0000 [INFO] [api_server:1] Started server process [22669]",
            "2026-05-06 21:10:13.092 [Debug] (Server) GET /internal/config - 403",
        ),
    ),
    _py(
        "component", r"\[" + LEVEL + r"\] \[(?P<comp>[^\]]+)\] (?P<msg>.*)$", time=False, tag_group="comp",
        examples=('[INFO] [cli] Starting production HTTP BentoServer from "_service:svc" listening on http://0.0.0.0:3000 (Press CTRL+C to quit)',),
    ),
    _py(
        "loguru", r"(?P<when>" + DATE + r") \| " + LEVEL + r"\s*\| (?P<src>\S+) - (?P<msg>.*)$", tag_group="src",
        examples=('2025-11-26 14:11:06.911 | INFO     | uvicorn.protocols.http.httptools_impl:send:476 - 192.168.10.100:58009 - "GET /api/version HTTP/1.1" 200',),
    ),
    _py(
        "components", r"(?P<when>" + DATE + r") (?P<comp>(?:\[[^\]]*\])+) " + LEVEL + r" - (?P<msg>.*)$", tag_group="comp",
        examples=("2025-07-22 03:38:06,508 [mlserver][fraud-v1-baseline_4:1] INFO - Reloaded model 'fraud-v1-baseline_4' successfully.",),
    ),
    _py(
        "litellm", r"(?P<when>\d\d:\d\d:\d\d) - (?P<logger>[^:\n]+):" + LEVEL + r": (?:(?P<src>\S+:\d+) - )?(?P<msg>.*)$", time=False,
        tag_group="logger", fields=(F("when", LOG_TIME),),
        examples=("09:40:06 - LiteLLM Proxy:ERROR: user_api_key_auth.py:1490 - No LiteLLM Virtual Key pass.",),
    ),
    # Ray: `2024-09-03 16:18:19,348 INFO worker.py:1783 -- message`, and Ray Serve's
    # `INFO 2025-08-29 18:03:14,300 controller 524122 -- message` (component, then its pid, or a
    # replica's id, the request's id, its route and the source line: ` - ` before a failure's message).
    _py(
        "ray", r"(?P<when>" + DATE + r")\s+" + LEVEL + r" (?P<src>[\w.-]+:\d+) -- (?P<msg>.*)$", tag_group="src",
        examples=("2024-09-03 16:18:19,348 INFO worker.py:1783 -- Started a local Ray instance.",),
    ),
    _py(
        "ray_serve", LEVEL + r" (?P<when>" + DATE + r") (?P<comp>[\w.:-]+)(?: \S+){1,4}? --? (?P<msg>.*)$", tag_group="comp",
        inner=Chain("pylog.ray_serve.message", (RAY_SERVE_ACCESS, MESSAGE)),
        examples=(
            "INFO 2025-08-29 18:03:14,300 controller 524122 -- Removing 2 replicas from Deployment(name='LLMRouter', app='default').",
            "INFO 2026-08-19 18:02:12,425 app_LLMRouter the5croz 4493b8e2-932a-41ee-8e0f-a4b45319596d -- POST /v1/chat/completions 200 1.6ms",
        ),
    ),
    _py("clock", r"(?P<when>\d\d:\d\d:\d\d-\d{6}) " + LEVEL + r"\s+(?P<msg>.*)$", time=False, fields=(F("when", LOG_TIME),)),
    _py(
        "logger_colon", r"(?P<when>" + DATE + r") " + LEVEL + r" (?P<logger>[\w.-]+): (?P<msg>.*)$", tag_group="logger",
        examples=("2025-01-01 10:00:00 INFO kserve.trace: model loaded",),
    ),
    _py("date_level", r"(?P<when>" + DATE + r") " + LEVEL + r"\s+(?P<msg>.*)$"),
    _py(
        "basic", r"(?P<lvl>DEBUG|INFO|WARNING|ERROR|CRITICAL):(?P<logger>[\w.-]+):\s*(?P<msg>.*)$", time=False, tag_group="logger",
        inner=Chain("pylog.basic.message", (*TRACING, MESSAGE)),
        examples=("INFO:tgi-server:         2024-01-15T08:47:26.095249Z  INFO shard-manager: text_generation_launcher: Shard ready in 5.70626412s rank=0",),
    ),
)

__all__ = ["DATE", "LEVEL", "PYLOG"]
