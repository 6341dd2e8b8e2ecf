"""What the OTEL_* variables set on the SDK's own parts: the batch processors (OTEL_BSP_*,
OTEL_BLRP_*), the metric reader (OTEL_METRIC_EXPORT_*), the id generator and the resource.

Each is read from one mapping and given to the SDK explicitly, so that `environ` (not only
`os.environ`) is what counts; where a variable is unset, otel-plugins' default applies. A
path that batches log records itself should take its queue and batch sizes from
`batch_settings(environ, "BLRP")`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk import environment_variables as env
from opentelemetry.sdk.resources import Resource

from .. import names
from .exporter_config import ConfigError

# Defaults where the OTEL_* variable is unset. The queues hold a few seconds of a busy
# server's lines; a 1 s delay keeps what a crash leaves behind small.
QUEUE_SIZE = 4096
SCHEDULE_DELAY_MS = 1000
METRIC_INTERVAL_S = 5.0


def _number(environ: Mapping[str, str], name: str, default: float | None) -> float | None:
    value = environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a number") from None
    if number < 0:
        raise ConfigError(f"{name}: {value!r} must not be negative")
    return number


def batch_settings(environ: Mapping[str, str], prefix: str) -> dict[str, Any]:
    """The batch processor's arguments from OTEL_BSP_* (spans) or OTEL_BLRP_* (logs)."""
    settings = {
        "schedule_delay_millis": _number(environ, f"OTEL_{prefix}_SCHEDULE_DELAY", SCHEDULE_DELAY_MS),
        "max_queue_size": _number(environ, f"OTEL_{prefix}_MAX_QUEUE_SIZE", QUEUE_SIZE),
        "max_export_batch_size": _number(environ, f"OTEL_{prefix}_MAX_EXPORT_BATCH_SIZE", 512),
        "export_timeout_millis": _number(environ, f"OTEL_{prefix}_EXPORT_TIMEOUT", 30_000),
    }
    for key in ("max_queue_size", "max_export_batch_size"):
        settings[key] = int(settings[key])
    if not settings["schedule_delay_millis"] or not settings["max_queue_size"]:
        raise ConfigError(f"OTEL_{prefix}_SCHEDULE_DELAY and OTEL_{prefix}_MAX_QUEUE_SIZE must be greater than 0")
    if not 0 < settings["max_export_batch_size"] <= settings["max_queue_size"]:
        raise ConfigError(
            f"OTEL_{prefix}_MAX_EXPORT_BATCH_SIZE ({settings['max_export_batch_size']}) must be greater than 0"
            f" and at most OTEL_{prefix}_MAX_QUEUE_SIZE ({settings['max_queue_size']})"
        )
    return settings


def metric_reader_settings(environ: Mapping[str, str], interval_s: float) -> dict[str, Any]:
    interval = _number(environ, env.OTEL_METRIC_EXPORT_INTERVAL, interval_s * 1000)
    if not interval:
        raise ConfigError(f"{env.OTEL_METRIC_EXPORT_INTERVAL}: must be greater than 0")
    return {"export_interval_millis": interval, "export_timeout_millis": _number(environ, env.OTEL_METRIC_EXPORT_TIMEOUT, 30_000)}


def id_generator(environ: Mapping[str, str]) -> Any:
    from opentelemetry.environment_variables import OTEL_PYTHON_ID_GENERATOR
    from opentelemetry.sdk._configuration import _import_id_generator

    name = environ.get(OTEL_PYTHON_ID_GENERATOR, "").strip() or "random"
    try:
        return _import_id_generator(name)
    except RuntimeError:
        raise ConfigError(f"{OTEL_PYTHON_ID_GENERATOR}: no id generator named {name!r} is installed") from None


def resource_for(service_name: str, attributes: Mapping[str, Any] | None, environ: Mapping[str, str]) -> Resource:
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME under what it is
    # given: the caller's service name is only a default.
    attributes = dict(attributes or {})
    given = {k.strip() for k, _, _ in (kv.partition("=") for kv in environ.get(env.OTEL_RESOURCE_ATTRIBUTES, "").split(","))}
    if not environ.get(env.OTEL_SERVICE_NAME, "").strip() and names.SERVICE_NAME not in given:
        attributes.setdefault(names.SERVICE_NAME, service_name)
    return Resource.create(attributes)
