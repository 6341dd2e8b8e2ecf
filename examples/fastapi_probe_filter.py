"""A FastAPI app whose probes stay out of its access log and its traces.

Run it:  python examples/fastapi_probe_filter.py [port]
The three otel-plugins lines are marked below.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from otel_plugins.plugins import ProbeSampler, install_uvicorn_filter  # otel-plugins 1/3

app = FastAPI()


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.post("/v1/chat/completions")
def chat(body: dict) -> dict:
    return {"choices": [{"message": {"role": "assistant", "content": "hello"}}]}


def build(span_exporter=None) -> TracerProvider:
    provider = TracerProvider(sampler=ProbeSampler())  # otel-plugins 2/3
    provider.add_span_processor(SimpleSpanProcessor(span_exporter or ConsoleSpanExporter()))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    install_uvicorn_filter()  # otel-plugins 3/3
    return provider


if __name__ == "__main__":
    trace.set_tracer_provider(build())
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 8000)
