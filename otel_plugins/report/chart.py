"""One stream's load timeline as an inline SVG: phase bands, load progress, marks for events.

Self-contained (no script, no font or image fetched). Every element carries its data as
attributes (`data-phase`, `data-percent`, `data-what`), so a test or a script can read
the chart back from the DOM: each phase has a band and a start point, each percent line
of the log (thinned as the model says) a point on the progress line.
"""

from __future__ import annotations

from html import escape

from . import format as fmt
from .model import Timeline

WIDTH, HEIGHT = 1000, 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 48, 28, 48
_LABEL_GAP = 64  # px between phase labels, so phases a moment apart do not print over each other
PHASE_COLOURS = {
    "starting": "#d9d9d9",
    "loading": "#bcd7f5",
    "ready": "#bfe8c4",
    "failed": "#f5b8b8",
    "exited": "#9e9e9e",
}
EVENT_COLOURS = {"error": "#d62728", "crash": "#7f0000"}
_RPC_COLOUR, _MILESTONE_COLOUR = "#ff7f0e", "#555555"


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


class _Scale:
    def __init__(self, timeline: Timeline, lines: int) -> None:
        self.seconds = timeline.axis == "seconds"
        positions = [p.at_s for p in timeline.phases.items] + [p.at_s for p in timeline.progress]
        positions += [e.at_s for e in timeline.events.items] + [timeline.end_s]
        if self.seconds:
            self.high = max((p for p in positions if p is not None), default=0.0) or 1.0
        else:
            self.high = float(max(lines, 2))
        self.low = 0.0 if self.seconds else 1.0

    def x(self, at_s: float | None, line: int) -> float:
        value = (at_s or 0.0) if self.seconds else float(line)
        value = min(max(value, self.low), self.high)
        return _LEFT + (value - self.low) / (self.high - self.low) * (WIDTH - _LEFT - _RIGHT)

    @staticmethod
    def y(percent: float) -> float:
        return HEIGHT - _BOTTOM - percent / 100.0 * (HEIGHT - _TOP - _BOTTOM)

    def label(self, value: float) -> str:
        if not self.seconds:
            return f"{value:.0f}"
        if self.high < 1:  # a burst of lines within a second: ticks in milliseconds
            return f"{value * 1000:.0f} ms"
        return f"{value:.2f} s" if self.high < 10 else fmt.seconds(value)


def _axes(scale: _Scale) -> list[str]:
    bottom, right = HEIGHT - _BOTTOM, WIDTH - _RIGHT
    out = [f'<line class="axis" x1="{_LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>',
           f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}" stroke="#333"/>']  # fmt: skip
    for percent in (0, 25, 50, 75, 100):
        y = scale.y(percent)
        out.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{percent}%</text>')
    labels: set[str] = set()
    for i in range(6):
        value = scale.low + (scale.high - scale.low) * i / 5
        if not scale.seconds:
            value = round(value)  # line numbers are whole
        label = scale.label(value)
        if label in labels:  # a short axis rounds several ticks to one label
            continue
        labels.add(label)
        x = scale.x(value, int(value))
        out.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#333"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" font-size="11">{escape(label)}</text>')
    what = "seconds since the first line with a time" if scale.seconds else "line number (the log carries no times)"
    out.append(f'<text x="{(WIDTH + _LEFT) / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="12">{what}</text>')
    return out


def _phases(timeline: Timeline, scale: _Scale) -> list[str]:
    out = []
    marks = timeline.phases.items
    labelled_at = -_LABEL_GAP
    for i, mark in enumerate(marks):
        x0 = scale.x(mark.at_s, mark.line)
        x1 = scale.x(marks[i + 1].at_s, marks[i + 1].line) if i + 1 < len(marks) else WIDTH - _RIGHT
        colour = PHASE_COLOURS.get(mark.phase, "#eeeeee")
        title = escape(f"{mark.phase} from {fmt.at(mark.at_s, mark.line)}")
        out.append(
            f'<rect class="phase" data-phase="{_attr(mark.phase)}" x="{x0:.1f}" y="{_TOP}" width="{max(x1 - x0, 2):.1f}"'
            f' height="{HEIGHT - _TOP - _BOTTOM}" fill="{colour}"><title>{title}</title></rect>'
        )
        out.append(
            f'<circle class="phase-start" data-phase="{_attr(mark.phase)}" data-line="{mark.line}" cx="{x0:.1f}"'
            f' cy="{HEIGHT - _BOTTOM}" r="5" fill="#333"><title>{title}</title></circle>'
        )
        label_x = max(x0, labelled_at + _LABEL_GAP)
        if label_x < WIDTH - _RIGHT:
            out.append(f'<text x="{label_x + 2:.1f}" y="{_TOP - 8}" font-size="12">{escape(mark.phase)}</text>')
            labelled_at = label_x
    return out


def _deadline(timeline: Timeline, scale: _Scale) -> list[str]:
    """The estimate's deadline, counted from the start of the first load, where it falls on the chart."""
    start = next((m.at_s for m in timeline.phases.items if m.phase == "loading"), None)
    if not scale.seconds or timeline.estimate is None or start is None:
        return []
    at = start + timeline.estimate.deadline_s
    if at > scale.high:
        return []
    x = scale.x(at, 0)
    text = escape(f"estimated deadline {timeline.estimate.deadline_s} s")
    return [
        f'<line class="deadline" x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" y2="{HEIGHT - _BOTTOM}" stroke="#7b3fbf"'
        f' stroke-width="2"><title>{text} after the load started</title></line>',
        f'<text x="{x + 4:.1f}" y="{_TOP + 14}" font-size="11" fill="#7b3fbf">{text}</text>',
    ]


def _progress(timeline: Timeline, scale: _Scale) -> list[str]:
    points = [(scale.x(p.at_s, p.line), scale.y(p.percent), p) for p in timeline.progress]
    if not points:
        return []
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
    out = [f'<polyline class="progress" points="{path}" fill="none" stroke="#1f5fbf" stroke-width="2"/>']
    for x, y, p in points:
        out.append(
            f'<circle class="point" data-phase="{_attr(p.phase)}" data-percent="{p.percent}" data-line="{p.line}"'
            f' cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#1f5fbf"><title>{p.percent}% at {escape(fmt.at(p.at_s, p.line))}</title></circle>'
        )
    return out


def _events(timeline: Timeline, scale: _Scale) -> list[str]:
    out = []
    for e in timeline.events.items:
        x = scale.x(e.at_s, e.line)
        colour = EVENT_COLOURS.get(e.what, _RPC_COLOUR if e.what.startswith("rpc.") else _MILESTONE_COLOUR)
        title = escape(f"{e.what}{' ' + e.endpoint if e.endpoint else ''} at {fmt.at(e.at_s, e.line)}")
        out.append(
            f'<line class="event" data-what="{_attr(e.what)}" x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" y2="{HEIGHT - _BOTTOM}"'
            f' stroke="{colour}" stroke-width="2" stroke-dasharray="4 3"><title>{title}</title></line>'
        )
    return out


def svg(timeline: Timeline, lines: int, chart_id: str) -> str:
    """The chart of one stream's timeline; `lines` is the stream's length (the x axis without times)."""
    scale = _Scale(timeline, lines)
    parts = [
        f'<svg id="{_attr(chart_id)}" class="timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="load timeline" data-axis="{timeline.axis}">',
        *_phases(timeline, scale),
        *_axes(scale),
        *_events(timeline, scale),
        *_deadline(timeline, scale),
        *_progress(timeline, scale),
        "</svg>",
    ]
    return "\n".join(parts)
