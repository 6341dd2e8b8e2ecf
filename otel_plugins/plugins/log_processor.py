"""A LogRecordProcessor that applies the probe policy before records reach export.

The SDK has no way for a processor to drop a record: every registered processor sees
every record. So this processor *wraps* the downstream one (usually a
`BatchLogRecordProcessor`): register only the wrapper, and records the policy drops never
reach the wrapped processor; downgraded ones reach it with severity DEBUG.
"""

from __future__ import annotations

import logging
import threading

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord

from .. import names
from ..classify import Classifier
from ..policy import Policy, ProbePolicy
from ..record import Kind
from .http_record import http_record

_log = logging.getLogger(__name__)
_log.propagate = False


class ProbePolicyLogProcessor(LogRecordProcessor):
    """Decides each record from its HTTP attributes, or else by parsing its body as a log line."""

    def __init__(self, downstream: LogRecordProcessor, policy: Policy | ProbePolicy | None = None) -> None:
        self.downstream = downstream
        self.classifier = Classifier(policy, trust_line_time=False)
        self.dropped = 0
        self._lock = threading.Lock()

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        try:
            forward = self._apply(log_record)
        except Exception:  # a policy fault must not lose the record
            _log.debug("probe policy failed on a record; forwarding it unchanged", exc_info=True)
            forward = True
        if forward:
            self.downstream.on_emit(log_record)

    def _apply(self, log_record: ReadWriteLogRecord) -> bool:
        record = log_record.log_record
        attributes = record.attributes or {}
        with self._lock:
            if names.HTTP_METHOD in attributes and names.URL_PATH in attributes:
                parsed = http_record(
                    str(attributes[names.HTTP_METHOD]),
                    str(attributes[names.URL_PATH]),
                    attributes.get(names.HTTP_STATUS),
                    attributes.get(names.CLIENT_ADDRESS),
                )
                decision = self.classifier.policy.decide(parsed, self.classifier.lifecycle.phase)
            elif isinstance(record.body, str):
                decision = self.classifier.classify(record.body).decision
            else:
                return True
        if not decision.emit:
            self.dropped += 1
            return False
        # HTTP outcomes always take the policy's severity; other records only when they had none.
        if decision.kind in (Kind.PROBE, Kind.HTTP) or record.severity_number is None:
            record.severity_number = SeverityNumber(int(decision.severity))
            record.severity_text = decision.severity.name
        return True

    def shutdown(self) -> None:
        self.downstream.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.downstream.force_flush(timeout_millis)
