"""The library API for launchers: start a server instrumented, read its live state.

    with instrumented_popen(["llama-server", "-m", "model.gguf", "--port", "8080"]) as proc:
        while proc.state.snapshot().phase is Phase.LOADING: ...
        proc.wait()
"""

from __future__ import annotations

import atexit
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import IO, Any

from .argv import LaunchSpec, parse_launch
from .instance import InstanceObserver
from .policy import Policy
from .record import Phase
from .sinks.telemetry import Telemetry, setup_telemetry
from .sources.process import PipePump, line_buffered_env, spawn
from .state import InstanceState, PeerHealth, Snapshot

_log = logging.getLogger(__name__)
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class InstrumentedProcess:
    """A child process with its telemetry, `/health` and live state.

    Telemetry goes to `telemetry` if given (the caller owns it), else to providers built
    from the OTEL_* variables, or to OTLP JSON files under `output_dir` when none is set.
    With `tie_to_parent` (the default), the child is killed if the thread that started it
    dies: start it from a thread that outlives it, or pass False.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        policy: Policy | None = None,
        state: InstanceState | None = None,
        telemetry: Telemetry | None = None,
        output_dir: str | None = "otel-out",
        health_port: int | None = None,
        health_host: str = "127.0.0.1",
        stdout: IO[bytes] | None = None,
        stderr: IO[bytes] | None = None,
        instance_key: str | None = None,
        tie_to_parent: bool = True,
        rpc_cache: dict[str, str] | None = None,
        **popen_kwargs: Any,
    ) -> None:
        self.spec: LaunchSpec = parse_launch(argv)
        self.policy = policy or Policy.from_env()
        self.state = state or InstanceState()
        self._owns_telemetry = telemetry is None
        self._metrics_text = None
        readers = []
        if health_port is not None:
            from .sinks.health import prometheus_reader

            reader, self._metrics_text = prometheus_reader()
            readers.append(reader)
        self.telemetry = telemetry or setup_telemetry(
            self.spec.executable, output_dir, extra_metric_readers=readers
        )
        self.observer = InstanceObserver(
            self.spec, self.telemetry, policy=self.policy, state=self.state, instance_key=instance_key
        )
        self._stdout = stdout if stdout is not None else sys.stdout.buffer
        self._stderr = stderr if stderr is not None else sys.stderr.buffer
        self._health_port = health_port
        self._health_host = health_host
        self.health = None
        self._popen_kwargs = popen_kwargs
        self._tie_to_parent = tie_to_parent
        self.process: subprocess.Popen | None = None
        self.exit_code: int | None = None
        self._done = threading.Event()
        self._peer_watcher = None
        self._rpc_cache = rpc_cache  # [issue-15] endpoint (or "*") -> rpc-server cache directory
        self._child_sources = None

    # -- public state -------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def health_port(self) -> int | None:
        return self.health.port if self.health else None

    def snapshot(self) -> Snapshot:
        return self.state.snapshot()

    # -- life -----------------------------------------------------------------------
    def start(self) -> InstrumentedProcess:
        if self.process is not None:
            return self
        kwargs = dict(self._popen_kwargs)
        if self.spec.kind.is_rpc_server:
            kwargs["env"] = line_buffered_env(kwargs.get("env"))
        return self.attach(spawn(self.spec.argv, tie_to_parent=self._tie_to_parent, **kwargs))

    def attach(
        self, process: subprocess.Popen, stdout_pipe: IO[bytes] | None = None, stderr_pipe: IO[bytes] | None = None
    ) -> InstrumentedProcess:
        """Watches a process started elsewhere, reading its output from the given pipes
        (by default its own `stdout` and `stderr`, which must be pipes)."""
        if self._health_port is not None:
            from .sinks.health import HealthServer

            self.health = HealthServer(self.state, host=self._health_host, port=self._health_port, metrics_text=self._metrics_text)
            self.health.start()
        self.process = process
        self.observer.spawned(self.process.pid)
        # Pump threads are daemons; at interpreter exit, let them deliver a finished child's last lines.
        atexit.register(self._drain_at_exit)
        pumps = [
            PipePump(stdout_pipe or process.stdout, lambda raw: self.observer.on_line(raw, "stdout"), self._stdout, "otel-stdout",
                     quiet=self.observer.quiet_passthrough, on_shed=self.observer.count_shed,
                     must_decide=self.observer.must_decide, scan=self.observer.overload_scan),
            PipePump(stderr_pipe or process.stderr, lambda raw: self.observer.on_line(raw, "stderr"), self._stderr, "otel-stderr",
                     quiet=self.observer.quiet_passthrough, on_shed=self.observer.count_shed,
                     must_decide=self.observer.must_decide, scan=self.observer.overload_scan),
        ]
        for pump in pumps:
            pump.start()
        waiter = threading.Thread(target=self._wait_child, args=(pumps,), name="otel-waiter", daemon=True)
        waiter.start()
        if self.spec.rpc_endpoints:
            self._watch_rpc_peers()
        self._start_child_sources()
        return self

    def _start_child_sources(self) -> None:
        """[issue-15 hook] the child's /health, the GGUF's transfer plan, a router's events."""
        try:
            from .child_sources import ChildSources

            self._child_sources = ChildSources(self.spec, self.observer, self.process, rpc_cache=self._rpc_cache).start()
        except Exception:  # an extra, like peer watching: the launch goes on without it
            _log.warning("child state sources are unavailable", exc_info=True)

    def _watch_rpc_peers(self) -> None:
        """One poll of the kernel's TCP table feeds both transfer progress and peer health."""
        try:
            from .peer_health import PeerWatcher

            self._peer_watcher = PeerWatcher(
                self.process.pid,
                self.spec.rpc_endpoints,
                self._peer_changed,
                self.policy.rpc_peer,
                on_poll=self._tcp_polled,
            )
            self._peer_watcher.start()
        except Exception:  # watching peers is an extra; the launch goes on without it
            _log.warning("RPC peer watching is unavailable", exc_info=True)

    def _tcp_polled(self, connections: dict) -> None:
        if self.observer.phase not in (Phase.STARTING, Phase.LOADING):
            return
        samples = {ep: sum(c.bytes_acked for c in conns) for ep, conns in connections.items() if conns}
        if samples:
            self.observer.poll_transfers(samples)

    def _peer_changed(self, health: PeerHealth, previous: str) -> None:
        # The instance's own stop or exit closes its connections: that is not a lost peer.
        if self.process.poll() is None and not self._done.is_set() and not self.observer.stop_requested:
            self.observer.on_peer(health, previous)

    def _wait_child(self, pumps: list[PipePump]) -> None:
        returncode = self.process.wait()
        for pump in pumps:
            pump.join(timeout=10)
        if self._peer_watcher is not None:
            self._peer_watcher.stop()
        if self._child_sources is not None:  # [issue-15 hook]
            self._child_sources.stop()
        self.exit_code = self.observer.on_exit(returncode)
        self._done.set()

    def _drain_at_exit(self, timeout: float = 5.0) -> None:
        if self.process is not None and self.process.poll() is not None:
            self._done.wait(timeout)

    def send_signal(self, sig: int) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        if sig in FORWARDED_SIGNALS:
            self.observer.stop_requested = True
        try:
            self.process.send_signal(sig)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code (128 + signal when signalled), once telemetry has seen the exit."""
        if self.process is None:
            raise RuntimeError("the process was not started")
        self._done.wait(timeout)
        return self.exit_code

    def close(self, timeout: float = 10.0) -> None:
        """Stops the child if it still runs, then flushes telemetry and stops `/health`."""
        if self.process is not None and not self._done.is_set():
            self.terminate()
            if not self._done.wait(timeout):
                self.process.kill()
                self._done.wait(timeout)
        if self.health is not None:
            self.health.stop()
        if self._owns_telemetry:
            self.telemetry.shutdown()

    def __enter__(self) -> InstrumentedProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def instrumented_popen(argv: Sequence[str], **kwargs: Any) -> InstrumentedProcess:
    """Starts `argv` instrumented; see `InstrumentedProcess` for the keywords."""
    return InstrumentedProcess(argv, **kwargs).start()

