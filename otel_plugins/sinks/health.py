"""The wrapper's own `/health` and `/metrics`, answered from the live state.

`/health` is computed from `InstanceState.snapshot()` alone and never touches the child
server, so a probe costs the child nothing and keeps answering while it loads. The body
carries the status and, while loading, progress and ETA; never paths, argv or
environment. Its shape is `otel_plugins/health_schema.json`.

`HealthServer` runs uvicorn (h11, asyncio loop, no access log) in a daemon thread on a
socket it binds itself, so port 0 works and `start()` returns the real port. A misbehaving
client meets the limits of `health_guard.py`: a request deadline, a connection limit, and
bounded warnings.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from opentelemetry.sdk.metrics.export import MetricReader

from ..record import Phase
from ..state import InstanceState, Snapshot
from .health_guard import GuardedH11Protocol, GuardedServer, bounded_logger
from .redacting import ResourceCache, redact_metrics

__all__ = [
    "HEALTH_SCHEMA_PATH",
    "HealthServer",
    "create_health_app",
    "health_status",
    "model_health_status",
    "prometheus_reader",
]

HEALTH_SCHEMA_PATH = Path(__file__).resolve().parent.parent / "health_schema.json"

_JSON = "application/json"
_NO_STORE = {"Cache-Control": "no-store"}
_START_TIMEOUT_S = 5.0
_BACKLOG = 256  # also how many connections the event loop accepts in one go

_logger = bounded_logger(__name__)


def health_status(snap: Snapshot) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body `/health` answers for one snapshot."""
    phase = snap.phase
    if phase == Phase.READY:
        lost = snap.lost_peer
        if lost is None:
            return 200, {"status": "ok"}
        return 503, {"status": "degraded", "reason": "rpc_peer_lost", "peer": lost.endpoint}
    if phase in (Phase.STARTING, Phase.LOADING):
        return 503, {"status": "loading", "progress": snap.progress, "eta_seconds": snap.eta_s}
    if phase == Phase.FAILED:
        return 503, {"status": "failed"}
    return 503, {"status": "exited", "exit_code": snap.exit_code}


def model_health_status(snap: Snapshot, name: str) -> tuple[int, dict[str, Any]] | None:
    """`/health/models/<name>` of a router: the model's own answer, None if it is unknown."""
    model = snap.model(name)
    if model is None:
        return None
    if model.status in ("loaded", "sleeping"):  # a sleeping model wakes up on the next request
        return 200, {"status": "ok"}
    if model.status in ("loading", "downloading", "downloaded"):
        return 503, {"status": "loading", "progress": model.progress, "eta_seconds": model.eta_s}
    if model.status == "failed":
        return 503, {"status": "failed"}
    return 503, {"status": "exited", "exit_code": model.exit_code}


# `/metrics`: (the request's Accept header) -> (body, content type), e.g. from `prometheus_reader`.
Exposition = Callable[[str], tuple[bytes, str]]


def create_health_app(state: InstanceState, metrics_text: Exposition | None = None) -> FastAPI:
    """`GET|HEAD /health` and `/metrics`; anything else is 404, other methods 405."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
    # The last snapshot's encoded answer: snapshots are immutable and replaced whole,
    # so identity says whether it is still current.
    cache: list[Any] = [None, 503, b""]

    @app.api_route("/health", methods=["GET", "HEAD"])
    async def health() -> Response:
        snap = state.snapshot()
        if cache[0] is not snap:
            code, body = health_status(snap)
            cache[:] = [snap, code, json.dumps(body, separators=(",", ":")).encode()]
        return Response(cache[2], status_code=cache[1], media_type=_JSON, headers=_NO_STORE)

    @app.api_route("/health/models/{name:path}", methods=["GET", "HEAD"])
    async def model_health(name: str) -> Response:
        answer = model_health_status(state.snapshot(), name)
        if answer is None:
            return Response(b'{"detail":"Not Found"}', status_code=404, media_type=_JSON)
        return Response(json.dumps(answer[1], separators=(",", ":")).encode(), status_code=answer[0],
                        media_type=_JSON, headers=_NO_STORE)

    @app.api_route("/metrics", methods=["GET", "HEAD"])
    def metrics(request: Request) -> Response:  # sync: a collection runs callbacks, so it runs off the event loop
        if metrics_text is None:
            return Response(b'{"detail":"Not Found"}', status_code=404, media_type=_JSON)
        try:
            body, content_type = metrics_text(request.headers.get("accept", ""))
        except Exception:  # noqa: BLE001 - a failed collection is a 500, not a dead server
            _logger.warning("metrics collection failed", exc_info=True)
            return Response(b"metrics collection failed\n", status_code=500, media_type="text/plain")
        return Response(body, headers={**_NO_STORE, "Content-Type": content_type})

    return app


def prometheus_reader(**options: Any) -> tuple[MetricReader, Exposition]:
    """A PrometheusMetricReader on a private CollectorRegistry, and its exposition.

    Add the reader to the MeterProvider (`setup_telemetry(extra_metric_readers=[reader])`)
    and pass the exposition to `HealthServer(metrics_text=...)`. The format follows the
    scraper's Accept header through prometheus_client's own negotiation: OpenMetrics when
    asked for, the text format otherwise. Exporter releases without a `registry` argument
    only register in the global REGISTRY; the exposition then renders that registry, which
    also holds the process collectors.
    `/metrics` is a way out of the process too: what the reader collects is redacted as the
    exporters' edge redacts it (`sinks/redacting.py`).
    """
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.exposition import choose_encoder

    class RedactingPrometheusReader(PrometheusMetricReader):
        resources = ResourceCache()

        def _receive_metrics(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> None:
            super()._receive_metrics(redact_metrics(metrics_data, self.resources), timeout_millis, **kwargs)

    registry = CollectorRegistry()
    try:
        reader = RedactingPrometheusReader(registry=registry, **options)
    except TypeError:
        registry = REGISTRY
        reader = RedactingPrometheusReader(**options)
    def exposition(accept: str) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept)
        return encoder(registry), content_type

    return reader, exposition


class HealthServer:
    """Serves `create_health_app` with uvicorn in a daemon thread. Start and stop are idempotent."""

    def __init__(
        self,
        state: InstanceState,
        host: str = "127.0.0.1",
        port: int = 0,
        metrics_text: Exposition | None = None,
    ) -> None:
        self.state, self.host, self.requested_port, self.metrics_text = state, host, port, metrics_text
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> int:
        """Binds, serves, and returns the bound port once uvicorn accepts connections."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                assert self.port is not None
                return self.port
            sock = self._bind()
            config = uvicorn.Config(
                create_health_app(self.state, self.metrics_text),
                http=GuardedH11Protocol,  # h11: httptools and uvloop are not dependencies; see bench/health_load.py
                loop="asyncio",
                backlog=_BACKLOG,
                lifespan="off",
                log_config=None,  # leave the host's logging configuration alone
                log_level="warning",
                access_log=False,  # our own requests are never logged at INFO
                server_header=False,
                timeout_graceful_shutdown=1,
            )
            server = GuardedServer(config)
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, name="otel-plugins-health", daemon=True
            )
            thread.start()
            deadline = time.monotonic() + _START_TIMEOUT_S
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    server.should_exit = True
                    sock.close()
                    raise RuntimeError(f"health server on {self.host}:{sock.getsockname()[1]} did not start")
                time.sleep(0.005)
            self._server, self._thread = server, thread
            self.port = sock.getsockname()[1]
            return self.port

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stops serving within `timeout_s`; open keep-alive connections are closed."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is None or thread is None:
                return
            server.should_exit = True
            thread.join(timeout_s * 0.6)
            if thread.is_alive():
                server.force_exit = True
                thread.join(timeout_s * 0.4)

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
        # socket object says TCP, and without it every response waits ~40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.requested_port))
            sock.listen(_BACKLOG)
            sock.set_inheritable(False)  # the child server must not inherit our listener
        except OSError:
            sock.close()
            raise
        return sock
