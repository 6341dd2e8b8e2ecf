"""The models of a llama-server router, as its event stream tells them (`sources.router_events`).

One `llama.load` span per model load (child of the instance span, `llama.model.name`
set), with `llama.load.progress` events from the router's own progress values (throttled
like any load's, the final 100 % always), ended OK when the model is loaded or with an
error when its process goes away first. Each model's state (`state.ModelStatus`) is
published for `/health/models/<name>`: loading with progress and ETA, ok, failed, exited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from . import names
from .progress import LoadProgress, ProgressThrottle
from .state import InstanceState, ModelStatus

__all__ = ["RouterModels"]

_LOADING = ("loading", "downloading")


@dataclass
class _Model:
    name: str
    progress: LoadProgress
    throttle: ProgressThrottle = field(default_factory=ProgressThrottle)
    span: Span | None = None
    status: str = "unloaded"


class RouterModels:
    def __init__(self, tracer: Tracer, parent: Span, state: InstanceState, clock: Callable[[], float] = time.monotonic) -> None:
        self.tracer = tracer
        self.context = trace.set_span_in_context(parent)
        self.state = state
        self.clock = clock
        self.models: dict[str, _Model] = {}

    def on_event(self, name: str, event: str, data: dict[str, Any]) -> None:
        if event == "model_remove":
            self._end(self.models.pop(name, None), ok=False, reason="model removed")
            self.state.drop_model(name)
            return
        status = data.get("status")
        if event not in ("status_change", "model_status") or not isinstance(status, str):
            return
        model = self.models.get(name)
        if model is None:
            model = self.models[name] = _Model(name, LoadProgress(clock=self.clock))
        previous, model.status = model.status, status
        if status in _LOADING:
            if model.span is None or not model.span.is_recording():
                model.progress = LoadProgress(clock=self.clock)
                model.throttle = ProgressThrottle()
                model.span = self.tracer.start_span(
                    names.SPAN_LOAD, context=self.context, attributes={names.MODEL_NAME: name, names.ATTR_SOURCE: "router"}
                )
            value = (data.get("progress") or {}).get("value") if isinstance(data.get("progress"), dict) else None
            if isinstance(value, (int, float)):
                model.progress.percent(100.0 * float(value))
            self._publish(model)
        elif status == "loaded":
            if model.span is not None and model.span.is_recording():
                model.progress.percent(100.0)
                self._publish(model, final=True)
            self._end(model, ok=True)
            self._set(model)
        elif status == "unloaded":
            code = data.get("exit_code")
            failed = previous in _LOADING
            self._end(model, ok=not failed, reason=f"model process exited with {code} while loading")
            self._set(model, exit_code=code if isinstance(code, int) else None, failed=failed and code not in (0, None))
        else:  # sleeping, downloaded: the model is known, not loading
            self._set(model)

    def _publish(self, model: _Model, final: bool = False) -> None:
        ratio, eta, _source = model.progress.overall()
        self._set(model, ratio=ratio, eta=eta)
        if model.span is None or not model.throttle.should_emit(ratio, final=final):
            return
        attributes: dict[str, Any] = {names.ATTR_SOURCE: "router", names.MODEL_NAME: model.name}
        if ratio is not None:
            attributes[names.ATTR_PROGRESS_RATIO] = round(1.0 if final else ratio, 4)
        if eta is not None and not final:
            attributes[names.ATTR_ETA] = round(eta, 2)
        model.span.add_event(names.EVENT_PROGRESS, attributes)

    def _set(self, model: _Model, *, ratio: float | None = None, eta: float | None = None,
             exit_code: int | None = None, failed: bool = False) -> None:
        status = "failed" if failed else model.status
        self.state.set_model(ModelStatus(model.name, status, ratio, eta, exit_code))

    @staticmethod
    def _end(model: _Model | None, ok: bool, reason: str = "") -> None:
        if model is None or model.span is None or not model.span.is_recording():
            return
        if not ok:
            model.span.set_status(Status(StatusCode.ERROR, reason))
        model.span.end()

    def close(self) -> None:
        """The router exited: loads still open end with an error."""
        for model in self.models.values():
            self._end(model, ok=False, reason="router exited during the load")
