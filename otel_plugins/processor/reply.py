"""What the processor tells a sender about one batch: the one vocabulary of its receivers and its forwarder."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse


class Outcome(enum.Enum):
    ACCEPTED = "accepted"  # the next hop took the batch
    RETRY = "retry"  # not taken now (next hop down, too many batches in flight): send it again
    REJECTED = "rejected"  # the batch itself is bad: sending it again cannot help


@dataclass(frozen=True)
class Reply:
    outcome: Outcome
    message: str = ""
    # The next hop's answer, passed back as it is (a partial success included).
    response: ExportLogsServiceResponse | None = None
    retry_after_s: int = 1

    @classmethod
    def accepted(cls, response: ExportLogsServiceResponse | None = None) -> Reply:
        return cls(Outcome.ACCEPTED, response=response)

    @classmethod
    def retry(cls, message: str, retry_after_s: int = 1) -> Reply:
        return cls(Outcome.RETRY, message, retry_after_s=retry_after_s)

    @classmethod
    def rejected(cls, message: str) -> Reply:
        return cls(Outcome.REJECTED, message)
