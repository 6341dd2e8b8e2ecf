"""Any Python OpenTelemetry log pipeline: wrap its processor so the policy applies first.

Run it:  python examples/log_processor.py
It logs a loading probe, a ready line, a failing probe and a client error, and prints
what reaches the exporter: the first probe as DEBUG, the failing one raised to WARN.
"""

from __future__ import annotations

from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, SimpleLogRecordProcessor

from otel_plugins.plugins import ProbePolicyLogProcessor

LINES = [
    "0.00.007.180 I srv  log_server_r: request: GET /health 127.0.0.1 503",
    "0.01.100.000 I main: server is listening on http://127.0.0.1:8080 - starting the main loop",
    "0.02.000.000 I srv  log_server_r: request: GET /health 127.0.0.1 503",
    "0.02.100.000 I srv  log_server_r: request: POST /v1/chat/completions 10.0.0.7 404",
]


def build(exporter=None) -> LoggerProvider:
    provider = LoggerProvider()
    downstream = SimpleLogRecordProcessor(exporter or ConsoleLogRecordExporter())
    provider.add_log_record_processor(ProbePolicyLogProcessor(downstream))
    return provider


if __name__ == "__main__":
    logger = build().get_logger("llama-server")
    for line in LINES:
        logger.emit(LogRecord(body=line))
