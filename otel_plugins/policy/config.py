"""The probe policy's configuration: one frozen, validated object for the whole project.

It loads from Python keywords, a YAML mapping or file, and environment variables;
every error names the offending key and, where there is a closed set, the allowed values.
"""

from __future__ import annotations

import enum
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .. import environment_variables as env_names
from ..record import LEVEL_WORDS, Severity
from .loader import PolicyFileError, load_yaml_file


class PolicyError(ValueError):
    """A policy setting is invalid; the message names the key."""


class Verdict(str, enum.Enum):
    KEEP = "keep"
    DOWNGRADE = "downgrade"
    DROP = "drop"
    SAMPLE = "sample"


# Paths that only ever answer a machine asking "are you alive, ready, scrapeable": a request
# for one is a probe whoever sends it (kubelet from the node address, a Docker health check
# from the bridge, a Prometheus anywhere). `*` stands for one path segment, `**` for any
# number of them: `/**/health` is `/health`, `/v1/health`, `/v1/api/health`.
DEFAULT_PROBE_PATHS = (
    "/**/health/**",
    "/**/healthz/**",
    "/**/healthcheck",
    "/health_generate",
    "/**/ready",
    "/**/readyz",
    "/**/readiness",
    "/**/live",
    "/**/livez",
    "/**/liveness",
    "/**/liveliness",
    "/**/ping",
    "/metrics",
)
# Paths a user or a UI asks too (the model list, server status): a probe when a trusted client
# (loopback, an orchestrator's network) asks, or when the behaviour says so: one client
# repeating the same request (see policy.pollers). `/` is left to behaviour alone: a GET of it
# from loopback is as likely a person opening the server's web UI. A HEAD request fetches
# nothing, so any path asked with HEAD counts as polled.
DEFAULT_POLL_PATHS = (
    "/v1/models",
    "/models",
    "/api/tags",
    "/api/version",
    "/api/ps",
    "/props",
    "/version",
    "/v1/models/*",
    "/v2/models/*",
    "/is_sleeping",
    "/load",
    "/server_info",
    "/get_model_info",
    "/get_server_info",
)
DEFAULT_PROBE_CLIENTS = ("127.0.0.0/8", "::1/128")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_LIST_ITEMS = 1024  # probe paths, methods or client networks: a policy never needs more


@dataclass(frozen=True)
class ProbeMatcherConfig:
    """How a request is recognised as a probe: method, path and client, plus hints."""

    methods: frozenset[str] = frozenset({"GET", "HEAD"})
    paths: frozenset[str] = frozenset(DEFAULT_PROBE_PATHS)
    poll_paths: frozenset[str] = frozenset(DEFAULT_POLL_PATHS)
    clients: tuple[Network, ...] = tuple(ipaddress.ip_network(c) for c in DEFAULT_PROBE_CLIENTS)
    # llama-box answers every route before it sets request ids, so an empty rid on a
    # probe path marks a probe whatever the client address (the orchestrator may be remote).
    empty_rid_hint: bool = True
    # A client that keeps sending one GET or HEAD (`repeat_min` times, each within
    # `repeat_max_interval_s` of the last), or that already asked a probe path, polls.
    repeat_hint: bool = True
    repeat_min: int = 3
    repeat_max_interval_s: float = 300.0


@dataclass(frozen=True)
class RpcPeerConfig:
    """Thresholds for declaring an RPC peer degraded or lost (see README, "RPC peer health")."""

    lost_after_s: float = 3.0
    degraded_retrans: int = 10
    rtt_jump_factor: float = 4.0
    connect_interval_s: float = 1.0
    poll_interval_s: float = 0.25


@dataclass(frozen=True)
class Policy:
    """One probe policy. Construct it directly, or with `from_mapping`, `from_yaml`, `from_env`."""

    probes: ProbeMatcherConfig = field(default_factory=ProbeMatcherConfig)
    loading_verdict: Verdict = Verdict.DOWNGRADE
    ready_verdict: Verdict = Verdict.DOWNGRADE
    failed_probe_severity: Severity = Severity.WARN
    client_error_severity: Severity = Severity.WARN
    server_error_severity: Severity = Severity.ERROR
    sample_window_s: float = 60.0
    load_deadline_s: float | None = None
    rpc_peer: RpcPeerConfig = field(default_factory=RpcPeerConfig)

    def __post_init__(self) -> None:
        _check_verdict("loading_verdict", self.loading_verdict)
        _check_verdict("ready_verdict", self.ready_verdict)
        for key in ("failed_probe_severity", "client_error_severity", "server_error_severity"):
            if not isinstance(getattr(self, key), Severity):
                raise PolicyError(f"{key}: must be a Severity, one of {_severity_names()}")
        _positive("sample_window_s", self.sample_window_s)
        if self.load_deadline_s is not None:
            _positive("load_deadline_s", self.load_deadline_s)
        p = self.probes
        _positive("probes.repeat_max_interval_s", p.repeat_max_interval_s)
        if p.repeat_min < 2:
            raise PolicyError("probes.repeat_min: must be at least 2")
        for key, paths in (("probes.paths", p.paths), ("probes.poll_paths", p.poll_paths)):
            for path in paths:
                if not isinstance(path, str) or not path.startswith("/"):
                    raise PolicyError(f"{key}: {_short(path)} must start with '/'")
        r = self.rpc_peer
        for key in ("lost_after_s", "rtt_jump_factor", "connect_interval_s", "poll_interval_s"):
            _positive(f"rpc_peer.{key}", getattr(r, key))
        if r.connect_interval_s < 0.2:
            raise PolicyError("rpc_peer.connect_interval_s: must be at least 0.2 so probes never disturb the server")
        if r.degraded_retrans < 1:
            raise PolicyError("rpc_peer.degraded_retrans: must be at least 1")

    def with_deadline(self, seconds: float | None) -> Policy:
        return replace(self, load_deadline_s=seconds)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Policy:
        if not isinstance(data, Mapping):
            raise PolicyError("policy: the top level must be a mapping")
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise PolicyError(f"{_name(key)}: unknown key; allowed keys are {', '.join(sorted(known))}")
            if key == "probes":
                kwargs[key] = _probes_from_mapping(value)
            elif key == "rpc_peer":
                kwargs[key] = _section(RpcPeerConfig, "rpc_peer", value)
            elif key in ("loading_verdict", "ready_verdict"):
                kwargs[key] = _verdict(key, value)
            elif key.endswith("_severity"):
                kwargs[key] = _severity(key, value)
            elif key == "load_deadline_s":
                kwargs[key] = None if value is None else _number(key, value)
            else:
                kwargs[key] = _number(key, value)
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> Policy:
        try:
            data = load_yaml_file(path)
        except OSError as exc:
            raise PolicyError(f"policy file {path}: {exc.strerror or exc}") from None
        except PolicyFileError as exc:
            raise PolicyError(f"policy file {path}: {exc}") from None
        return cls.from_mapping(data or {})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, base: Policy | None = None) -> Policy:
        """The policy named by OTEL_PLUGINS_POLICY (or `base`, or the default), then the single-value overrides."""
        environ = os.environ if environ is None else environ
        policy = base
        if policy is None:
            file = environ.get(env_names.OTEL_PLUGINS_POLICY)
            policy = cls.from_yaml(file) if file else cls()
        overrides: dict[str, Any] = {}
        probes: dict[str, Any] = {}
        if v := environ.get(env_names.OTEL_PLUGINS_LOADING_VERDICT):
            overrides["loading_verdict"] = _verdict(env_names.OTEL_PLUGINS_LOADING_VERDICT, v)
        if v := environ.get(env_names.OTEL_PLUGINS_READY_VERDICT):
            overrides["ready_verdict"] = _verdict(env_names.OTEL_PLUGINS_READY_VERDICT, v)
        if v := environ.get(env_names.OTEL_PLUGINS_SAMPLE_WINDOW):
            overrides["sample_window_s"] = _number(env_names.OTEL_PLUGINS_SAMPLE_WINDOW, v)
        if v := environ.get(env_names.OTEL_PLUGINS_LOAD_DEADLINE):
            overrides["load_deadline_s"] = _number(env_names.OTEL_PLUGINS_LOAD_DEADLINE, v)
        if v := environ.get(env_names.OTEL_PLUGINS_PROBE_PATHS):
            probes["paths"] = _paths(env_names.OTEL_PLUGINS_PROBE_PATHS, _split(v))
        if v := environ.get(env_names.OTEL_PLUGINS_PROBE_CLIENTS):
            probes["clients"] = policy.probes.clients + _networks(env_names.OTEL_PLUGINS_PROBE_CLIENTS, _split(v))
        if probes:
            overrides["probes"] = replace(policy.probes, **probes)
        return replace(policy, **overrides) if overrides else policy

    def to_mapping(self) -> dict[str, Any]:
        """The policy as plain data (the inverse of `from_mapping`), e.g. for rendering Collector configs."""
        p = self.probes
        return {
            "probes": {
                "methods": sorted(p.methods),
                "paths": sorted(p.paths),
                "poll_paths": sorted(p.poll_paths),
                "clients": [str(n) for n in p.clients],
                "empty_rid_hint": p.empty_rid_hint,
                "repeat_hint": p.repeat_hint,
                "repeat_min": p.repeat_min,
                "repeat_max_interval_s": p.repeat_max_interval_s,
            },
            "loading_verdict": self.loading_verdict.value,
            "ready_verdict": self.ready_verdict.value,
            "failed_probe_severity": self.failed_probe_severity.name,
            "client_error_severity": self.client_error_severity.name,
            "server_error_severity": self.server_error_severity.name,
            "sample_window_s": self.sample_window_s,
            "load_deadline_s": self.load_deadline_s,
            "rpc_peer": {f.name: getattr(self.rpc_peer, f.name) for f in fields(RpcPeerConfig)},
        }


def _probes_from_mapping(value: Any) -> ProbeMatcherConfig:
    if not isinstance(value, Mapping):
        raise PolicyError("probes: must be a mapping")
    data = dict(value)
    if "methods" in data:
        methods = _list("probes.methods", data["methods"])
        data["methods"] = frozenset(str(m).upper() for m in methods)
    for key in ("paths", "poll_paths"):
        if key in data:
            data[key] = _paths(f"probes.{key}", _list(f"probes.{key}", data[key]))
    if "clients" in data:
        data["clients"] = _networks("probes.clients", _list("probes.clients", data["clients"]))
    return _section(ProbeMatcherConfig, "probes", data)


def _section(cls: type, name: str, value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{name}: must be a mapping")
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, item in value.items():
        if key not in known:
            raise PolicyError(f"{name}.{_name(key)}: unknown key; allowed keys are {', '.join(sorted(known))}")
        default = getattr(cls(), key)
        if isinstance(default, bool):
            if not isinstance(item, bool):
                raise PolicyError(f"{name}.{key}: must be true or false")
        elif isinstance(default, int | float) and not isinstance(item, frozenset | tuple):
            item = _number(f"{name}.{key}", item)
            if isinstance(default, int):
                if item != int(item):
                    raise PolicyError(f"{name}.{key}: must be a whole number")
                item = int(item)
        kwargs[key] = item
    return cls(**kwargs)


def _check_verdict(key: str, value: Any) -> None:
    if not isinstance(value, Verdict):
        raise PolicyError(f"{key}: must be one of {', '.join(v.value for v in Verdict)}")


def _verdict(key: str, value: Any) -> Verdict:
    try:
        return Verdict(str(value).strip().lower())
    except ValueError:
        raise PolicyError(f"{key}: {_short(value)} is not one of {', '.join(v.value for v in Verdict)}") from None


def _severity_names() -> str:
    return ", ".join(s.name for s in Severity)


def _severity(key: str, value: Any) -> Severity:
    word = str(value).strip().upper()
    if word in Severity.__members__:
        return Severity[word]
    if word in LEVEL_WORDS:
        return LEVEL_WORDS[word]
    raise PolicyError(f"{key}: {_short(value)} is not one of {_severity_names()}")


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise PolicyError(f"{key}: must be a number, not {_short(value)}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PolicyError(f"{key}: must be a number, not {_short(value)}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise PolicyError(f"{key}: must be a finite number")
    return number


def _positive(key: str, value: float) -> None:
    if not value > 0:
        raise PolicyError(f"{key}: must be greater than 0, got {value!r}")


def _list(key: str, value: Any) -> list[str]:
    """A list of strings (or one comma-separated string), at most MAX_LIST_ITEMS long."""
    items = _split(value) if isinstance(value, str) else value
    if not isinstance(items, list | tuple | frozenset | set):
        raise PolicyError(f"{key}: must be a list")
    if len(items) > MAX_LIST_ITEMS:
        raise PolicyError(f"{key}: {len(items)} items, at most {MAX_LIST_ITEMS}")
    for index, item in enumerate(items):
        if not isinstance(item, str | ipaddress.IPv4Network | ipaddress.IPv6Network):
            raise PolicyError(f"{key}[{index}]: must be a string, not {_short(item)}")
    return list(items)


def _name(key: Any) -> str:
    return key if isinstance(key, str) and len(key) <= 60 else _short(key)


def _short(value: Any, limit: int = 60) -> str:
    """repr(value), cut: an error message stays one short line whatever the value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _paths(key: str, values: list[Any]) -> frozenset[str]:
    out = set()
    for v in values:
        if not isinstance(v, str) or not v.startswith("/"):
            raise PolicyError(f"{key}: {_short(v)} must be a path starting with '/'")
        out.add(v)
    return frozenset(out)


def _networks(key: str, values: list[Any]) -> tuple[Network, ...]:
    out = []
    for v in values:
        if isinstance(v, ipaddress.IPv4Network | ipaddress.IPv6Network):
            out.append(v)
            continue
        try:
            out.append(ipaddress.ip_network(str(v).strip(), strict=False))
        except ValueError:
            raise PolicyError(f"{key}: {_short(v)} is not an IP address or network") from None
    return tuple(out)
