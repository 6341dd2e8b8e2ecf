"""The report as one self-contained HTML page: the tables, and each load timeline as a chart.

Nothing is fetched: styles are inline, the charts are inline SVG, and the page's content
security policy forbids any other source, so it opens the same offline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from . import format as fmt
from .chart import PHASE_COLOURS, svg
from .model import Report, RequestSource, Shown, StreamReport, Timeline

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 8px 0 20px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: bottom; text-align: left; color: #666; }
.share { font-size: 20px; font-weight: 600; }
pre { margin: 4px 0; font-size: 12px; white-space: pre-wrap; }
.legend span { display: inline-block; padding: 0 8px; margin-right: 6px; }
"""


class _Raw(str):
    """Markup built here from escaped parts: put in a cell as it is."""


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, numeric: int = 0, more: int = 0) -> str:
    """`numeric`: how many of the last columns hold numbers (right-aligned)."""
    first_numeric = len(headers) - numeric
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = cell if isinstance(cell, _Raw) else escape(str(cell))
            cells.append(f'<td class="n">{text}</td>' if i >= first_numeric else f"<td>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    caption = f"<caption>and {more} more</caption>" if more else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _summary(report: Report) -> str:
    b, a = report.before, report.after
    rows = [("INFO+ lines", b.lines, a.lines), ("probe noise among them", b.probes, a.probes),
            ("noise share", fmt.share(b.share), fmt.share(a.share))]  # fmt: skip
    return (
        f'<p class="share">probe noise in INFO+: {escape(fmt.share(b.share))} before, {escape(fmt.share(a.share))} after the policy</p>'
        + _table(("", "before", "after"), rows, numeric=2)
        + (f"<p>{escape(ahead)}</p>" if (ahead := fmt.foreseen(report.foreseen_polls)) else "")
    )


def _sources(shown: Shown[RequestSource]) -> str:
    rows = ((s.client or "-", fmt.request(s), "-" if s.status is None else s.status, s.lines, s.info_plus_after, fmt.rate(s))
            for s in shown.items)  # fmt: skip
    return _table(("client", "request", "status", "lines", "INFO+ after", "rate"), rows, numeric=3, more=shown.more)


def _errors(report: Report) -> str:
    rows = []
    for e in report.errors.items:
        message = escape(e.message)
        if e.crash:
            trace = escape("\n".join(e.stacktrace))
            message += f"<details><summary>crash dump, {e.frames} more lines</summary><pre>{trace}</pre></details>"
        rows.append((f"{e.input}:{e.line}", e.count, _Raw(message)))
    return _table(("where", "times", "message"), rows, more=report.errors.more)


def _timeline(index: int, stream: StreamReport, t: Timeline) -> str:
    legend = "".join(f'<span style="background:{c}">{escape(p)}</span>' for p, c in PHASE_COLOURS.items())
    parts = [
        f"<h3>Load timeline: {escape(stream.input)}</h3>",
        svg(t, stream.lines, f"timeline-{index}"),
        f'<p class="legend">{legend} <span style="color:#1f5fbf">&#9679; load progress %</span>'
        ' <span style="color:#ff7f0e">&#9474; RPC</span> <span style="color:#d62728">&#9474; error</span>'
        ' <span style="color:#7b3fbf">&#9474; estimated deadline</span></p>',
        _table(("phase", "from"), ((m.phase, fmt.at(m.at_s, m.line)) for m in t.phases.items), more=t.phases.more),
    ]
    if t.buffers:
        rows = ((b.name, b.device or "-", b.endpoint or "-", fmt.format_bytes(b.bytes)) for b in t.buffers)
        parts.append(_table(("buffer", "device", "RPC endpoint", "size"), rows, numeric=1))
    if t.endpoints:
        rows = ((ep, ", ".join(f"{k} {n}" for k, n in sorted(ev.items()))) for ep, ev in t.endpoints.items())
        parts.append(_table(("RPC endpoint", "lines about it"), rows))
    estimate = fmt.estimate_text(t)
    if estimate:
        parts.append(f"<p>{escape(estimate)}</p>")
    return "\n".join(parts)


def render(report: Report, limit: int) -> str:
    kinds = fmt.VERDICT_COLUMNS
    kind_rows = ((kind, lines, *(verdicts.get(c, 0) for c in kinds)) for kind, lines, verdicts in report.kind_rows())
    families = report.families[:limit]
    sections = [
        "<h1>otel-plugins report</h1>",
        f"<p>{len(report.inputs)} input(s), {report.lines} lines; policy: {escape(report.policy or 'built-in')}</p>",
        _summary(report),
        *(_timeline(i, stream, stream.timeline) for i, stream in enumerate(report.streams) if stream.timeline is not None),
        "<h2>Lines by family</h2>",
        _table(("family", "lines", "probes", "INFO+ before", "INFO+ after"),
               ((f.family, f.lines, f.probes, f.before.lines, f.after.lines) for f in families),
               numeric=4, more=max(0, len(report.families) - limit)),
        "<h2>Lines by kind and verdict</h2>",
        _table(("kind", "lines", *(c.replace("_", " ") for c in kinds)), kind_rows, numeric=len(kinds) + 1),
        "<h2>Top probe sources</h2>",
        _sources(report.probe_sources),
        f"<h2>{escape(fmt.HTTP_KEPT)}</h2>",
        _sources(report.http_kept),
        "<h2>ERROR records kept (crash dumps folded)</h2>",
        _errors(report),
    ]  # fmt: skip
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>otel-plugins report</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )
