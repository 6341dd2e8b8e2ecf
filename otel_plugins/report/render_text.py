"""The report as rich tables, for a terminal (plain text when the output is not one)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import format as fmt
from .model import Report, RequestSource, Shown, StreamReport, Timeline

def _table(title: str, *columns: str, numeric: int = 0) -> Table:
    """A table whose last `numeric` columns are right-aligned."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for i, column in enumerate(columns):
        table.add_column(column, justify="right" if i >= len(columns) - numeric else "left")
    return table


def _row(table: Table, *cells: object) -> None:
    """Cells as plain text: log content is never read as rich markup (`[/x]` would raise)."""
    table.add_row(*(cell if isinstance(cell, Text) else Text(str(cell)) for cell in cells))


def _more(table: Table, more: int) -> Table:
    if more:
        table.caption = f"and {more} more"
        table.caption_justify = "left"
    return table


def noise(report: Report) -> Table:
    table = _table("INFO+ lines, before and after the policy", "", "before", "after", numeric=2)
    b, a = report.before, report.after
    _row(table, "INFO+ lines", str(b.lines), str(a.lines))
    _row(table, "probe noise among them", str(b.probes), str(a.probes))
    _row(table, Text("noise share", style="bold"), fmt.share(b.share), Text(fmt.share(a.share), style="bold"))
    ahead = fmt.foreseen(report.foreseen_polls)
    if ahead:
        table.caption, table.caption_justify = ahead, "left"
    return table


def families(report: Report, limit: int) -> Table:
    table = _table("Lines by family", "family", "lines", "probes", "INFO+ before", "INFO+ after", numeric=4)
    for f in report.families[:limit]:
        _row(table, f.family, str(f.lines), str(f.probes), str(f.before.lines), str(f.after.lines))
    return _more(table, max(0, len(report.families) - limit))


def kinds(report: Report) -> Table:
    columns = fmt.VERDICT_COLUMNS
    table = _table("Lines by kind and verdict", "kind", "lines", *(c.replace("_", " ") for c in columns), numeric=len(columns) + 1)
    for kind, lines, verdicts in report.kind_rows():
        _row(table, kind, str(lines), *(str(verdicts.get(c, 0) or "") for c in columns))
    return table


def sources(title: str, shown: Shown[RequestSource]) -> Table:
    table = _table(title, "client", "request", "status", "lines", "INFO+ after", "rate", numeric=3)
    for s in shown.items:
        status = "-" if s.status is None else str(s.status)
        _row(table, s.client or "-", fmt.request(s), status, str(s.lines), str(s.info_plus_after), fmt.rate(s))
    return _more(table, shown.more)


def errors(report: Report) -> Table:
    table = _table("ERROR records kept (crash dumps folded)", "where", "times", "message", numeric=0)
    for e in report.errors.items:
        message = Text(e.message)
        if e.crash:
            message.append(f"\n  crash dump, {e.frames} more lines", style="dim")
            for frame in e.stacktrace[:3]:
                message.append(f"\n  {frame[:160]}", style="dim")
        _row(table, f"{e.input}:{e.line}", str(e.count), message)
    return _more(table, report.errors.more)


def timeline(stream: StreamReport, t: Timeline) -> list[Table | Text]:
    table = _table("Phases", "phase", "from", numeric=0)
    for mark in t.phases.items:
        _row(table, mark.phase, fmt.at(mark.at_s, mark.line))
    parts: list[Table | Text] = [Text(f"Load timeline: {stream.input}", style="bold"), _more(table, t.phases.more)]
    if t.buffers:
        buffers = _table("Buffers", "buffer", "device", "RPC endpoint", "size", numeric=1)
        for b in t.buffers:
            _row(buffers, b.name, b.device or "-", b.endpoint or "-", fmt.format_bytes(b.bytes))
        parts.append(buffers)
    if t.endpoints:
        endpoints = _table("RPC endpoints", "endpoint", "lines about it", numeric=0)
        for endpoint, events in t.endpoints.items():
            _row(endpoints, endpoint, ", ".join(f"{name} {n}" for name, n in sorted(events.items())))
        parts.append(endpoints)
    notes = []
    if t.progress:
        last = t.progress[-1]
        notes.append(f"progress: {t.progress_seen} percent lines, last {last.percent}% at {fmt.at(last.at_s, last.line)}")
    if t.dots:
        notes.append(f"progress dots: {t.dots}")
    estimate = fmt.estimate_text(t)
    if estimate:
        notes.append(estimate)
    parts.extend(Text(note) for note in notes)
    return parts


def render(report: Report, console: Console, limit: int) -> None:
    policy = report.policy or "built-in"
    console.print(Text(f"otel-plugins report: {len(report.inputs)} input(s), {report.lines} lines; policy: {policy}", style="bold"))
    console.print(noise(report))
    console.print(families(report, limit))
    console.print(kinds(report))
    if report.probe_sources.items:
        console.print(sources("Top probe sources", report.probe_sources))
    if report.http_kept.items:
        console.print(sources(fmt.HTTP_KEPT, report.http_kept))
    if report.errors.items:
        console.print(errors(report))
    for stream in report.streams:
        if stream.timeline is not None:
            for part in timeline(stream, stream.timeline):
                console.print(part)
        if stream.cut:
            console.print(Text(f"{stream.input}: {stream.cut} line(s) longer than 1 MiB were cut before parsing", style="yellow"))
