"""A `logging.Filter` that applies the probe policy to `uvicorn.access` records.

uvicorn logs each request with `record.args == (client_addr, method, full_path,
http_version, status_code)`; the filter reads those values instead of parsing text, so
it works whatever the access format is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..policy import Policy, ProbePolicy, Verdict
from ..record import Phase, Severity
from .http_record import http_record

_LOGGING_LEVEL = {
    Severity.TRACE: logging.DEBUG,
    Severity.DEBUG: logging.DEBUG,
    Severity.INFO: logging.INFO,
    Severity.WARN: logging.WARNING,
    Severity.ERROR: logging.ERROR,
    Severity.FATAL: logging.CRITICAL,
}


class UvicornProbeFilter(logging.Filter):
    """Drops, downgrades or raises access records as the policy says.

    The phase defaults to ready (a server writing access logs is serving); pass
    `phase` to tie it to the application's own readiness. Sampling is not applied here:
    a `sample` verdict keeps the record at its level.
    """

    def __init__(self, policy: Policy | ProbePolicy | None = None, phase: Callable[[], Phase] | None = None) -> None:
        super().__init__()
        self.policy = policy if isinstance(policy, ProbePolicy) else ProbePolicy(policy)
        self.phase = phase or (lambda: Phase.READY)
        self.dropped = 0
        self.hidden = 0

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) != 5:
            return True
        try:
            client, method, path, _version, status = args
            decision = self.policy.decide(http_record(str(method), str(path), int(status), str(client)), self.phase())
        except Exception:  # the host application's logging must never break because of us
            return True
        if not decision.emit:
            self.dropped += 1
            return False
        if decision.verdict is Verdict.DOWNGRADE or decision.severity > Severity.INFO:
            record.levelno = _LOGGING_LEVEL[decision.severity]
            record.levelname = logging.getLevelName(record.levelno)
            # The logger's level was checked before filters ran; check it again for the new level.
            if record.levelno < logging.getLogger(record.name).getEffectiveLevel():
                self.hidden += 1
                return False
        return True


def install_uvicorn_filter(
    policy: Policy | ProbePolicy | None = None, logger_name: str = "uvicorn.access"
) -> UvicornProbeFilter:
    """Installs one filter on the access logger (idempotent) and returns it."""
    logger = logging.getLogger(logger_name)
    for existing in logger.filters:
        if isinstance(existing, UvicornProbeFilter):
            return existing
    probe_filter = UvicornProbeFilter(policy)
    logger.addFilter(probe_filter)
    return probe_filter
