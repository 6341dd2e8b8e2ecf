"""Optional parts of the package, installed as extras: a one-line answer when one is missing.

The core (classify, replay, tail, run without /health, estimate --size, collector render)
needs none of them; each is imported only where it is used.
"""

from __future__ import annotations

import importlib.util

# extra -> the modules it provides, as imported.
EXTRAS = {
    "health": ("fastapi", "uvicorn", "prometheus_client", "opentelemetry.exporter.prometheus"),
    "progress": ("rich",),
    "gguf": ("gguf",),
    "zero-code": ("opentelemetry.instrumentation", "opentelemetry.distro"),
}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def missing(extra: str) -> list[str]:
    return [m for m in EXTRAS[extra] if not _installed(m)]


def require(extra: str, feature: str) -> None:
    """Raises MissingExtra unless every module of `extra` can be imported."""
    absent = missing(extra)
    if absent:
        raise MissingExtra(f"{feature} needs {', '.join(absent)}: pip install 'otel-plugins[{extra}]'")
