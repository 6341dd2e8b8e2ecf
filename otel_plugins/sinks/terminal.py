"""A live terminal view of a launch: per-endpoint bytes, rate and ETA, then the phase.

Used only when the wrapper's output is a terminal; the server's own lines are printed
above the live view through the same console, so the two never tear each other.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn
from rich.text import Text

from ..state import InstanceState, Snapshot


def terminal_wanted(log_file: str | None) -> bool:
    """A live view fits when the output is an interactive terminal."""
    streams = (sys.stderr,) if log_file else (sys.stdout, sys.stderr)
    return all(stream.isatty() for stream in streams)


class _ConsoleSink:
    """A binary sink (what the pipe pumps write to) that prints through the live console."""

    def __init__(self, display: ProgressDisplay) -> None:
        self.display = display

    def write(self, data: bytes | memoryview) -> int:
        text = bytes(data).decode("utf-8", "replace").rstrip("\n")
        if text:
            self.display.console.print(Text(text), markup=False, highlight=False, soft_wrap=True)
        return len(data)

    def flush(self) -> None:
        pass


class ProgressDisplay:
    def __init__(self, state: InstanceState, title: str, console: Console | None = None, interval_s: float = 0.25) -> None:
        self.state = state
        self.title = title
        self.console = console or Console(stderr=True)
        self.interval_s = interval_s
        self.started = time.monotonic()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            DownloadColumn(binary_units=True),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA {task.fields[eta]}"),
            TextColumn("[dim]{task.fields[source]}"),
            console=self.console,
        )
        self._tasks: dict[str, TaskID] = {}
        self._live = Live(self._render(state.snapshot()), console=self.console, refresh_per_second=4, transient=False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otel-terminal", daemon=True)

    def sink(self) -> IO[bytes]:
        return _ConsoleSink(self)  # type: ignore[return-value]

    def start(self) -> ProgressDisplay:
        self._live.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        self._live.update(self._render(self.state.snapshot()))
        self._live.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._live.update(self._render(self.state.snapshot()))

    def _render(self, snapshot: Snapshot) -> Group:
        for endpoint in snapshot.endpoints:
            task = self._tasks.get(endpoint.endpoint)
            if task is None:
                task = self._tasks[endpoint.endpoint] = self._progress.add_task(
                    endpoint.endpoint, total=endpoint.bytes_total or None, rate="", eta="?", source=""
                )
            rate = f"{endpoint.rate_bps / 1e6:,.1f} MB/s" if endpoint.rate_bps else ""
            eta = f"{endpoint.eta_s:,.0f}s" if endpoint.eta_s is not None else "?"
            self._progress.update(
                task, total=endpoint.bytes_total or None, completed=endpoint.bytes_done, rate=rate, eta=eta, source=endpoint.source
            )
        elapsed = time.monotonic() - self.started
        line = Text.assemble((f"{self.title} ", "bold"), ("phase ", "dim"), (snapshot.phase.value, "cyan"), f"  {elapsed:,.1f}s")
        if snapshot.progress is not None:
            line.append(f"  load {snapshot.progress:.0%}")
        if snapshot.eta_s:
            line.append(f"  ETA {snapshot.eta_s:,.0f}s")
        lost = snapshot.lost_peer
        if lost is not None:
            line.append(f"  RPC peer {lost.endpoint} lost", style="bold red")
        return Group(line, self._progress) if self._tasks else Group(line)
