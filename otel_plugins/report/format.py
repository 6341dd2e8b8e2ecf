"""Short human forms shared by the terminal and HTML renderers."""

from __future__ import annotations

from ..estimate import format_bytes, format_rate
from ..policy import Verdict
from .model import NOT_EMITTED, RequestSource, Timeline, TransferEstimate

__all__ = [
    "HTTP_KEPT", "VERDICT_COLUMNS", "at", "estimate_text", "foreseen", "format_bytes", "format_rate", "rate", "request", "seconds",
    "share",
]  # fmt: skip

HTTP_KEPT = "Other HTTP requests kept at INFO+ (where a probe the policy missed shows)"
# The verdicts, then the lines the policy does not emit (dropped, or sampled away).
VERDICT_COLUMNS = (*(v.value for v in Verdict), NOT_EMITTED)


def foreseen(count: int) -> str:
    """What reading a file ahead took out of the 'after' column, or nothing."""
    if not count:
        return ""
    return (f"{count} requests were taken for probes only by reading the file ahead (a client's first polls);"
            " a live stream (run, tail, the Collector stage) keeps a series' first requests at INFO")


def share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 3600:
        return f"{value / 3600:.1f} h"
    if value >= 60:
        return f"{int(value // 60)} min {value % 60:04.1f} s"
    return f"{value:.1f} s"


def at(value: float | None, line: int) -> str:
    """Where something happened: `+96.9 s (line 137)`, or the line alone."""
    return f"line {line}" if value is None else f"+{seconds(value)} (line {line})"


def rate(source: RequestSource) -> str:
    per_minute = source.per_minute
    return "-" if per_minute is None else f"{per_minute:.3g}/min"


def request(source: RequestSource) -> str:
    return f"{source.method or '-'} {source.path or '-'}"


def estimate_text(timeline: Timeline) -> str | None:
    e: TransferEstimate | None = timeline.estimate
    if e is None:
        return None
    over = "the whole model over one link" if len(e.links) == 1 and e.links[0].endpoint == "model" else "the RPC buffers"
    text = (
        f"estimated transfer of {over} at {format_rate(e.bandwidth_bytes_per_s)}: {seconds(e.transfer_s)},"
        f" x{e.redundancy:g} = {seconds(e.expected_s)} (deadline {e.deadline_s} s)"
    )
    if timeline.load_s is not None:
        text += f"; the load in this log took {seconds(timeline.load_s)}"
    return text
