"""The structured form of one log line: what every dialect produces and the policy reads.

Field names follow the OpenTelemetry semantic conventions where one exists
(`http.request.method`, `url.path`, ...); the rest live under `llama.` and
`rpc.` and are listed in `otel_plugins.names`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Kind(str, enum.Enum):
    """What a line is about. `probe` is decided by the policy, never by a dialect."""

    PROBE = "probe"
    HTTP = "http"
    PROGRESS = "progress"
    LOAD = "load"
    RPC = "rpc"
    LIFECYCLE = "lifecycle"
    ERROR = "error"
    OTHER = "other"


class Severity(enum.IntEnum):
    """OpenTelemetry SeverityNumber base values, so they map onto log records as they are."""

    TRACE = 1
    DEBUG = 5
    INFO = 9
    WARN = 13
    ERROR = 17
    FATAL = 21


LEVEL_LETTERS: dict[str, Severity] = {
    "T": Severity.TRACE,
    "D": Severity.DEBUG,
    "I": Severity.INFO,
    "W": Severity.WARN,
    "E": Severity.ERROR,
    "F": Severity.FATAL,
}

LEVEL_WORDS: dict[str, Severity] = {
    "TRACE": Severity.TRACE,
    "DEBUG": Severity.DEBUG,
    "INFO": Severity.INFO,
    "NOTICE": Severity.INFO,
    "WARN": Severity.WARN,
    "WARNING": Severity.WARN,
    "ERROR": Severity.ERROR,
    "ERR": Severity.ERROR,
    "CRITICAL": Severity.FATAL,
    "FATAL": Severity.FATAL,
    "PANIC": Severity.FATAL,
}


class Event(str, enum.Enum):
    """Lifecycle and RPC milestones a line can announce."""

    STARTING = "starting"
    LISTENING = "listening"
    LOADING = "loading"
    LOADED = "loaded"
    READY = "ready"
    NOT_READY = "not_ready"
    LOAD_FAILED = "load_failed"
    STOPPING = "stopping"
    # A worker or shard process ended: part of a stop announced before it, else it died.
    WORKER_EXITED = "worker_exited"
    CRASH = "crash"
    RPC_LISTENING = "rpc.listening"
    RPC_ACCEPTED = "rpc.accepted"
    RPC_CLOSED = "rpc.closed"
    RPC_RETRY = "rpc.retry"
    RPC_FAILED = "rpc.failed"
    RPC_STARTED = "rpc.started"


@dataclass(slots=True)
class Record:
    """One parsed line.

    `text` is the line as decoded (surrogate escapes keep undecodable bytes), without
    its line ending and without ANSI colour codes; `message` is what follows the
    producer's prefix and tag. `severity` is what the producer stated, or None when the
    line states no level. `uptime` is the `M.SS.mmm.uuu` clock (seconds since the
    producer's logger started), which is not wall-clock time.
    """

    text: str
    dialect: str
    kind: Kind = Kind.OTHER
    severity: Severity | None = None
    time_unix: float | None = None
    uptime: float | None = None
    producer: str | None = None
    tag: str | None = None
    message: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    event: Event | None = None
    leading_dots: int = 0

    @property
    def method(self) -> str | None:
        return self.fields.get("http.request.method")

    @property
    def path(self) -> str | None:
        return self.fields.get("url.path")

    @property
    def status(self) -> int | None:
        return self.fields.get("http.response.status_code")

    @property
    def client(self) -> str | None:
        return self.fields.get("client.address")


class Phase(str, enum.Enum):
    """Where a server instance is in its life; the lifecycle machine moves it, the policy reads it."""

    STARTING = "starting"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    EXITED = "exited"
