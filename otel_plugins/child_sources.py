"""The sources that tell a wrapped llama.cpp server's state whatever its log verbosity.

Started by `launch.InstrumentedProcess` once the child runs, stopped when it exits:

- `sources.child_health.ChildHealthPoller` for a model server: readiness from the
  server's own `/health`, polled gently from our own loopback address (the log lines
  of those polls, where the server prints them, are dropped by `InstanceObserver`); a 200
  moves the lifecycle once the log has caught up with it;
- a transfer plan per `--rpc` endpoint (`transfer_plan`), computed on a thread because
  it reads the GGUF (and compares the tensors with an rpc-server's cache directory when
  one is given), then handed to `InstanceObserver.plan_transfers`;
- `sources.router_events.RouterEvents` when llama-server runs as a router (no model):
  the per-model status and load progress the router broadcasts.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Mapping

from .argv import LaunchSpec
from .instance import InstanceObserver
from .record import Phase
from .sources.child_health import ChildHealthPoller, OwnPolls, health_target, own_source_address

__all__ = ["ChildSources", "gpu_layers"]

_log = logging.getLogger(__name__)
_LOADING = (Phase.STARTING, Phase.LOADING)


def gpu_layers(text: str | None) -> int | None:
    """`-ngl` as llama.cpp reads it: a number, or None for "auto", "all" and absent (all layers)."""
    if text is None or text in ("auto", "all"):
        return None
    try:
        return int(text)
    except ValueError:
        return None


class ChildSources:
    def __init__(
        self,
        spec: LaunchSpec,
        observer: InstanceObserver,
        process: subprocess.Popen,
        *,
        rpc_cache: Mapping[str, str] | None = None,
    ) -> None:
        self.spec, self.observer, self.process = spec, observer, process
        self.rpc_cache = dict(rpc_cache or {})
        self.health: ChildHealthPoller | None = None
        self.router = None

    def start(self) -> ChildSources:
        if not self.spec.kind.is_model_server:
            return self
        target = health_target(self.spec.host, self.spec.port)
        if target is not None:
            source = own_source_address(target[0])
            self.observer.own_polls = OwnPolls(source)
            self.health = ChildHealthPoller(
                *target, self._answered, should_poll=self._loading, imminent=self._transferred, source_address=source,
            ).start()
        if self.spec.rpc_endpoints and self.spec.model:
            threading.Thread(target=self._plan, name="otel-plugins-transfer-plan", daemon=True).start()
        if self.spec.router and target is not None:
            from .sources.router_events import RouterEvents

            self.router = RouterEvents(*target, self.observer.on_router_event, running=self._running).start()
        return self

    def stop(self) -> None:
        for source in (self.health, self.router):
            if source is not None:
                source.stop()

    def _running(self) -> bool:
        return self.process.poll() is None

    def _loading(self) -> bool:
        return self._running() and self.observer.phase in _LOADING

    def _answered(self, status: int | None, _body: object) -> None:
        if status == 200:
            self._settle()
        self.observer.on_child_health(status)

    def _settle(self, quiet_s: float = 0.3, cap_s: float = 10.0) -> None:
        """Lets the log catch up before an out-of-band "ready": the lines the server printed
        before it answered (a probe's 503, say) must still be judged while loading. Returns
        once no line came for `quiet_s`, the log proved readiness itself, or `cap_s` passed."""
        deadline = time.monotonic() + cap_s
        seen, quiet_since = self.observer.lines_seen, time.monotonic()
        while time.monotonic() < deadline and self._loading():
            time.sleep(0.05)
            lines = self.observer.lines_seen
            if lines != seen:
                seen, quiet_since = lines, time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                return

    def _transferred(self) -> bool:
        progress = self.observer.state.snapshot().progress
        return progress is not None and progress >= 0.99

    def _plan(self) -> None:
        from .estimate import parse_tensor_split
        from .transfer_plan import PlanError, plan_transfers

        try:
            split = parse_tensor_split(self.spec.tensor_split) if self.spec.tensor_split else None
            cache = {ep: self.rpc_cache.get(ep) or self.rpc_cache.get("*") for ep in self.spec.rpc_endpoints}
            plans = plan_transfers(
                self.spec.model, self.spec.rpc_endpoints, tensor_split=split,
                n_gpu_layers=gpu_layers(self.spec.n_gpu_layers),
                cache_dirs={ep: d for ep, d in cache.items() if d},
            )
        except (PlanError, ValueError, OSError) as exc:
            _log.info("no transfer plan: %s", exc)
            return
        except Exception:  # noqa: BLE001 - a plan is an extra: the launch goes on without it
            _log.warning("transfer plan failed", exc_info=True)
            return
        self.observer.plan_transfers(plans)
