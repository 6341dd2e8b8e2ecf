"""Zero-code instrumentation for launchers run under `opentelemetry-instrument`.

`subprocess.Popen` is replaced by a subclass that, for llama-box, llama-server and
rpc-server only, takes the child's output through pipes, watches it exactly as
`otel-plugins run` does (spans, metrics, log records on the global providers), and
delivers the output where the launcher asked for it: its log file, its own pipe, or the
launcher's stdout and stderr. Every other command is started untouched. The probe filter
is installed on `uvicorn.access` as well.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
from collections.abc import Collection
from typing import IO, Any

from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger_provider
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from .argv import ServerKind, parse_launch
from .plugins.logging_filter import UvicornProbeFilter, install_uvicorn_filter
from .policy import Policy
from .sinks.telemetry import ExportStats, Telemetry
from .sources.process import line_buffered_env, spawning

_log = logging.getLogger(__name__)
_log.propagate = False
_INSTRUMENTED_KINDS = (ServerKind.LLAMA_BOX, ServerKind.LLAMA_BOX_RPC, ServerKind.LLAMA_SERVER, ServerKind.RPC_SERVER)


def global_telemetry() -> Telemetry:
    """The providers `opentelemetry-instrument` (or the application) installed globally."""
    return Telemetry(trace.get_tracer_provider(), metrics.get_meter_provider(), get_logger_provider(), ExportStats(), None)


def _wanted(args: Any, positional: tuple, kwargs: dict) -> bool:
    if positional or kwargs.get("shell") or spawning.get():
        return False
    if isinstance(args, str | bytes | os.PathLike) or not args:
        return False
    try:
        return parse_launch([os.fspath(a) for a in args]).kind in _INSTRUMENTED_KINDS
    except (TypeError, ValueError):
        return False


def _destination(target: Any, text_kwargs: dict) -> tuple[IO[bytes] | None, IO | None]:
    """(where the pump writes, what the caller gets as proc.stdout/stderr) for a Popen target."""
    if target is None:
        return None, None  # the launcher's own stdout/stderr: InstrumentedProcess's default
    if target == subprocess.DEVNULL:
        return open(os.devnull, "wb"), None  # noqa: SIM115 - lives as long as the child
    if target == subprocess.PIPE:
        read_fd, write_fd = os.pipe()
        reader: IO = open(read_fd, "rb")  # noqa: SIM115 - handed to the caller
        if text_kwargs:
            reader = io.TextIOWrapper(reader, encoding=text_kwargs.get("encoding"), errors=text_kwargs.get("errors"))
        return open(write_fd, "wb", buffering=0), reader  # noqa: SIM115
    fd = target if isinstance(target, int) else target.fileno()
    return open(os.dup(fd), "wb", buffering=0), None  # noqa: SIM115


def _popen_class(base: type[subprocess.Popen], policy: Policy) -> type[subprocess.Popen]:
    class InstrumentedPopen(base):  # type: ignore[misc, valid-type]
        otel_process = None

        def __init__(self, args: Any, *positional: Any, **kwargs: Any) -> None:
            if not _wanted(args, positional, kwargs):
                super().__init__(args, *positional, **kwargs)
                return
            from .launch import InstrumentedProcess

            argv = [os.fspath(a) for a in args]
            targets = kwargs.get("stdout"), kwargs.get("stderr")
            text = {k: kwargs[k] for k in ("encoding", "errors") if kwargs.get(k)}
            if kwargs.get("text") or kwargs.get("universal_newlines"):
                text.setdefault("encoding", "utf-8")
            kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=False, universal_newlines=False)
            kwargs.pop("encoding", None)
            kwargs.pop("errors", None)
            if parse_launch(argv).kind.is_rpc_server:
                kwargs["env"] = line_buffered_env(kwargs.get("env"))
            token = spawning.set(True)
            try:
                super().__init__(args, **kwargs)
            finally:
                spawning.reset(token)
            out_pipe, err_pipe = self.stdout, self.stderr
            out_sink, self.stdout = _destination(targets[0], text)
            if targets[1] == subprocess.STDOUT:
                err_sink, self.stderr = out_sink, None
            else:
                err_sink, self.stderr = _destination(targets[1], text)
            try:
                watched = InstrumentedProcess(argv, policy=policy, telemetry=global_telemetry(), stdout=out_sink, stderr=err_sink)
                self.otel_process = watched.attach(self, out_pipe, err_pipe)
            except Exception:  # the launch must go on even if watching it cannot
                _log.warning("could not instrument %s; its output is passed through unwatched", argv[0], exc_info=True)
                from .sources.process import PipePump

                for pipe, sink in ((out_pipe, out_sink), (err_pipe, err_sink)):
                    PipePump(pipe, lambda raw: raw, sink, "otel-passthrough").start()

    InstrumentedPopen.__name__ = InstrumentedPopen.__qualname__ = "Popen"
    return InstrumentedPopen


class LlamaLaunchInstrumentor(BaseInstrumentor):
    """Instruments subprocess launches of llama-box, llama-server and rpc-server."""

    _original_popen: type[subprocess.Popen] | None = None
    _filter: UvicornProbeFilter | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return []

    def _instrument(self, **kwargs: Any) -> None:
        policy = kwargs.get("policy") or Policy.from_env()
        LlamaLaunchInstrumentor._original_popen = subprocess.Popen
        subprocess.Popen = _popen_class(subprocess.Popen, policy)  # type: ignore[misc]
        LlamaLaunchInstrumentor._filter = install_uvicorn_filter(policy)

    def _uninstrument(self, **kwargs: Any) -> None:
        if LlamaLaunchInstrumentor._original_popen is not None:
            subprocess.Popen = LlamaLaunchInstrumentor._original_popen  # type: ignore[misc]
            LlamaLaunchInstrumentor._original_popen = None
        if LlamaLaunchInstrumentor._filter is not None:
            logging.getLogger("uvicorn.access").removeFilter(LlamaLaunchInstrumentor._filter)
            LlamaLaunchInstrumentor._filter = None
