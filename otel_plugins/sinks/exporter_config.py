"""Which exporters the OTEL_* variables ask for, resolved once, from one mapping, as data.

The SDK's auto-configuration reads `OTEL_{TRACES,METRICS,LOGS}_EXPORTER` (comma lists of
entry-point names, `none`, and `otlp` for the OTLP exporter of the configured protocol),
and each OTLP exporter reads its own endpoint, headers, timeout, compression and
certificates. `resolve_exporters` applies the same rules to one mapping and keeps the
result as an `ExporterConfig`; `ExporterConfig.create()` builds the exporter from exactly
those values. So whatever exports a signal (the SDK providers in `telemetry.py`, or a
path that encodes log records on its own) sends it to the same place, the same way.

Two departures from the SDK's configurator, both documented in the README: with no
exporter variable set, a signal goes to OTLP when an endpoint is set for it and to the
embedded default (OTLP JSON lines under the output directory) otherwise; and `otlp`
without a protocol means `http/protobuf`, the specification's default (the Python SDK
picks gRPC). `http/json` selects `opentelemetry-exporter-otlp-json-http`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.environment_variables import OTEL_LOGS_EXPORTER, OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.sdk.environment_variables import OTEL_SDK_DISABLED
from opentelemetry.util.re import parse_env_headers

SIGNALS = ("traces", "metrics", "logs")
FILE_NAMES = {"traces": "traces.jsonl", "metrics": "metrics.jsonl", "logs": "logs.jsonl"}
EXPORTER_VARIABLES = {"traces": OTEL_TRACES_EXPORTER, "metrics": OTEL_METRICS_EXPORTER, "logs": OTEL_LOGS_EXPORTER}
ENTRY_POINT_GROUPS = {s: f"opentelemetry_{s}_exporter" for s in SIGNALS}

OTLP = "otlp"
FILE = "otlp_json_file"  # opentelemetry-exporter-otlp-json-file
PROTOCOLS = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http", "http/json": "otlp_json_http"}
_PROTOCOL_OF = {name: protocol for protocol, name in PROTOCOLS.items()}
DEFAULT_PROTOCOL = "http/protobuf"
_DEFAULT_ENDPOINTS = {"grpc": "http://localhost:4317", "http": "http://localhost:4318"}
_COMPRESSIONS = ("none", "gzip", "deflate")
DEFAULT_TIMEOUT_S = 10.0  # seconds, as the Python exporters read OTEL_EXPORTER_OTLP_TIMEOUT


class ConfigError(ValueError):
    """An OTEL_* variable with a value no exporter can use; the message names it."""


def _otlp_var(environ: Mapping[str, str], signal: str, setting: str) -> tuple[str, str] | None:
    """(variable, value) of the per-signal variable, else of the generic one, if set."""
    for name in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_{setting}", f"OTEL_EXPORTER_OTLP_{setting}"):
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


@dataclass(frozen=True)
class OtlpSettings:
    """Everything an OTLP exporter of one signal needs, resolved from the environment."""

    protocol: str  # grpc | http/protobuf | http/json
    endpoint: str  # HTTP: the full signal URL (…/v1/logs); gRPC: the URL the channel is opened to
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = DEFAULT_TIMEOUT_S
    compression: str = "none"  # none | gzip | deflate
    insecure: bool = False  # gRPC: plain text
    certificate_file: str | None = None
    client_key_file: str | None = None
    client_certificate_file: str | None = None


def otlp_settings(environ: Mapping[str, str], signal: str, protocol: str) -> OtlpSettings:
    """The SDK exporters' rules: a per-signal variable wins over the generic one; the generic
    HTTP endpoint gets `/v1/<signal>` appended, a per-signal one is used as it is."""
    transport = "grpc" if protocol == "grpc" else "http"
    own = environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or _DEFAULT_ENDPOINTS[transport]
    if own:
        endpoint = own
    elif transport == "http":
        endpoint = f"{base.removesuffix('/')}/v1/{signal}"
    else:
        endpoint = base
    headers: Mapping[str, str] = {}
    if found := _otlp_var(environ, signal, "HEADERS"):
        headers = dict(parse_env_headers(found[1], liberal=True))
    timeout_s = DEFAULT_TIMEOUT_S
    if found := _otlp_var(environ, signal, "TIMEOUT"):
        try:
            timeout_s = float(found[1])
        except ValueError:
            raise ConfigError(f"{found[0]}: {found[1]!r} is not a number of seconds") from None
        if timeout_s <= 0:
            raise ConfigError(f"{found[0]}: {found[1]!r} must be greater than 0")
    compression = "none"
    if found := _otlp_var(environ, signal, "COMPRESSION"):
        compression = found[1].lower()
        if compression not in _COMPRESSIONS:
            raise ConfigError(f"{found[0]}: {found[1]!r} is not one of {', '.join(_COMPRESSIONS)}")
    scheme = endpoint.partition("://")[0].lower() if "://" in endpoint else ""
    insecure = scheme == "http"
    if scheme != "https" and (found := _otlp_var(environ, signal, "INSECURE")):
        insecure = found[1].lower() == "true"
    files = {key: (found[1] if (found := _otlp_var(environ, signal, key)) else None)
             for key in ("CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE")}  # fmt: skip
    return OtlpSettings(
        protocol=protocol,
        endpoint=endpoint,
        headers=headers,
        timeout_s=timeout_s,
        compression=compression,
        insecure=insecure,
        certificate_file=files["CERTIFICATE"],
        client_key_file=files["CLIENT_KEY"],
        client_certificate_file=files["CLIENT_CERTIFICATE"],
    )


def otlp_protocol(environ: Mapping[str, str], signal: str) -> str:
    found = _otlp_var(environ, signal, "PROTOCOL")
    if found is None:
        return DEFAULT_PROTOCOL
    if found[1] not in PROTOCOLS:
        raise ConfigError(f"{found[0]}: {found[1]!r} is not one of {', '.join(PROTOCOLS)}")
    return found[1]


def sdk_disabled(environ: Mapping[str, str]) -> bool:
    return environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true"


def endpoint_set(environ: Mapping[str, str], signal: str) -> bool:
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
                or environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip())  # fmt: skip


@dataclass(frozen=True)
class ExporterConfig:
    """One exporter of one signal: its entry-point name and what it is built with."""

    signal: str
    name: str  # the entry point in opentelemetry_<signal>_exporter: otlp_proto_http, otlp_json_file, console, ...
    otlp: OtlpSettings | None = None
    path: Path | None = None  # the file an otlp_json_file exporter appends to

    def create(self) -> Any:
        """A new exporter (or, for a pull exporter such as `prometheus`, a metric reader)."""
        cls = _load(self.signal, self.name)
        if self.otlp is not None:
            return cls(**otlp_arguments(self.otlp))
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return cls(self.path)
        return cls()


def resolve_exporters(signal: str, environ: Mapping[str, str], output_dir: str | Path | None) -> tuple[ExporterConfig, ...]:
    """The exporters `signal` goes to (none: the signal is off). Raises ConfigError."""
    if sdk_disabled(environ):
        return ()
    variable = EXPORTER_VARIABLES[signal]
    value = environ.get(variable, "").strip()
    if value.lower() == "none":
        return ()
    if value:
        names = [n.strip() for n in value.split(",") if n.strip()]
    else:
        names = [OTLP if endpoint_set(environ, signal) else FILE]
    configs = []
    for name in names:
        if name == "none":
            raise ConfigError(f"{variable}: 'none' cannot be combined with other exporters ({value!r})")
        protocol = otlp_protocol(environ, signal) if name == OTLP else _PROTOCOL_OF.get(name)
        if protocol is not None:
            configs.append(ExporterConfig(signal, PROTOCOLS[protocol], otlp=otlp_settings(environ, signal, protocol)))
        elif name == FILE:
            configs.append(ExporterConfig(signal, FILE, path=Path(output_dir or "otel-out") / FILE_NAMES[signal]))
        else:
            _load(signal, name, variable)  # fail now, naming the variable, not at first export
            configs.append(ExporterConfig(signal, name))
    return tuple(configs)


def resolve_log_exporters(environ: Mapping[str, str], output_dir: str | Path | None) -> tuple[ExporterConfig, ...]:
    """Where log records go: the one answer for the SDK's LoggerProvider and any other log path."""
    return resolve_exporters("logs", environ, output_dir)


def _load(signal: str, name: str, variable: str | None = None) -> type:
    from opentelemetry.util._importlib_metadata import entry_points

    group = ENTRY_POINT_GROUPS[signal]
    found = list(entry_points(group=group, name=name))
    if not found:
        installed = sorted({ep.name for ep in entry_points(group=group)})
        raise ConfigError(
            f"{variable or EXPORTER_VARIABLES[signal]}: no {signal} exporter named {name!r} is installed"
            f" (installed: {', '.join(installed) or 'none'})"
        )
    try:
        return found[0].load()
    except ImportError as exc:  # the entry point's package is broken or half installed
        raise ConfigError(f"{variable or EXPORTER_VARIABLES[signal]}: exporter {name!r} cannot be loaded: {exc}") from None


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"OTLP certificate file {path}: {exc.strerror or exc}") from None


def otlp_arguments(settings: OtlpSettings) -> dict[str, Any]:
    """Constructor arguments of the OTLP exporter for `settings`: every value explicit, so the
    exporter does not read a different environment than the one resolved."""
    arguments: dict[str, Any] = {"endpoint": settings.endpoint, "headers": dict(settings.headers), "timeout": settings.timeout_s}
    if settings.protocol == "grpc":
        import grpc

        arguments["compression"] = {"none": grpc.Compression.NoCompression, "gzip": grpc.Compression.Gzip,
                                    "deflate": grpc.Compression.Deflate}[settings.compression]  # fmt: skip
        arguments["insecure"] = settings.insecure
        if not settings.insecure and settings.certificate_file:
            arguments["credentials"] = grpc.ssl_channel_credentials(
                root_certificates=_read(settings.certificate_file),
                private_key=_read(settings.client_key_file),
                certificate_chain=_read(settings.client_certificate_file),
            )
        return arguments
    from opentelemetry.exporter.otlp.common.http import Compression

    arguments["compression"] = Compression.from_str(settings.compression)
    arguments["certificate_file"] = settings.certificate_file
    arguments["client_key_file"] = settings.client_key_file
    arguments["client_certificate_file"] = settings.client_certificate_file
    return arguments
