"""The CLI's handler for the SDK's own warnings: to stderr, prefixed, each once a minute.

The SDK warns on every dropped record and failed export; under a flood or an outage that
is thousands of lines. Only the CLI installs this: a host application that calls
`setup_telemetry` keeps its logging configuration as it made it.
"""

from __future__ import annotations

import logging
import time


class RateLimited(logging.Filter):
    """Lets each (logger, message) through once per `interval_s`."""

    def __init__(self, interval_s: float = 60.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        key = f"{record.name}:{record.msg}"
        if now - self._last.get(key, -self.interval_s) < self.interval_s:
            return False
        self._last[key] = now
        return True


def quiet_sdk_logging() -> None:
    """SDK and exporter warnings go to stderr once a minute each, prefixed, not per record."""
    logger = logging.getLogger("opentelemetry")
    if any(isinstance(f, RateLimited) for f in logger.filters):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("otel-plugins: %(name)s: %(message)s"))
    handler.addFilter(RateLimited())
    logger.addHandler(handler)
    logger.addFilter(RateLimited())
    logger.propagate = False
