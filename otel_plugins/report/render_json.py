"""The report as one JSON document (`--json`); its keys are listed in `commands/report.py`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .model import Report, RequestSource, Shown, Timeline


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _sources(shown: Shown[RequestSource]) -> dict[str, Any]:
    rows = [asdict(s) | {"span_s": _round(s.span_s), "per_minute": _round(s.per_minute, 2)} for s in shown.items]
    return {"shown": rows, "more": shown.more}


def _timeline_dict(t: Timeline) -> dict[str, Any]:
    return {
        "axis": t.axis,
        "start_unix": t.start_unix,
        "end_s": _round(t.end_s),
        "phases": [asdict(p) | {"at_s": _round(p.at_s)} for p in t.phases.items],
        "phases_more": t.phases.more,
        "load_s": _round(t.load_s),
        "buffers": [asdict(b) for b in t.buffers],
        "rpc_endpoints": [{"endpoint": ep, "events": dict(sorted(events.items()))} for ep, events in t.endpoints.items()],
        "progress": {
            "points": [asdict(p) | {"at_s": _round(p.at_s)} for p in t.progress],
            "seen": t.progress_seen,
            "dots": t.dots,
        },
        "events": {"shown": [asdict(e) | {"at_s": _round(e.at_s)} for e in t.events.items], "more": t.events.more},
        "estimate": None if t.estimate is None else asdict(t.estimate),
    }


def as_dict(report: Report) -> dict[str, Any]:
    """The `--json` document."""
    kinds = report.kind_rows()
    return {
        "inputs": report.inputs,
        "policy": report.policy,
        "lines": {
            "total": report.lines,
            "cut": sum(s.cut for s in report.streams),
            "by_family": {f.family: f.lines for f in report.families},
            "by_kind": {kind: lines for kind, lines, _ in kinds},
            "by_kind_verdict": {kind: dict(sorted(verdicts.items())) for kind, _, verdicts in kinds},
        },
        "records": {
            "total": sum(s.records for s in report.streams),
            "crash_dumps": sum(s.crash_dumps for s in report.streams),
            "sample_summaries": sum(s.sample_summaries for s in report.streams),
        },
        "foreseen_polls": report.foreseen_polls,
        "info_plus": {"before": asdict(report.before), "after": asdict(report.after)},
        "noise_share": {"before": report.before.share, "after": report.after.share},
        "families": [
            {"family": f.family, "lines": f.lines, "probes": f.probes,
             "info_plus_before": f.before.lines, "info_plus_after": f.after.lines}
            for f in report.families
        ],  # fmt: skip
        "probe_sources": _sources(report.probe_sources),
        "http_kept": _sources(report.http_kept),
        "errors": {"shown": [asdict(e) for e in report.errors.items], "more": report.errors.more},
        "streams": [
            {"input": s.input, "lines": s.lines, "cut": s.cut, "records": s.records, "crash_dumps": s.crash_dumps,
             "foreseen_polls": s.foreseen_polls, "final_phase": s.final_phase, "timeline": None if s.timeline is None else _timeline_dict(s.timeline)}
            for s in report.streams
        ],  # fmt: skip
    }
