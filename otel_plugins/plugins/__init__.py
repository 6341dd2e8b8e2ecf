"""Plugins for any Python OpenTelemetry pipeline: a log-record processor, a `logging.Filter`
for `uvicorn.access`, and a sampler that keeps probe spans out of traces."""

from .log_processor import ProbePolicyLogProcessor
from .logging_filter import UvicornProbeFilter, install_uvicorn_filter
from .sampler import ProbeSampler

__all__ = ["ProbePolicyLogProcessor", "ProbeSampler", "UvicornProbeFilter", "install_uvicorn_filter"]
