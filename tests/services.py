"""Real telemetry back-ends for tests: OpenTelemetry Collector, Jaeger v2, Prometheus.

Plain stdlib module (no pytest fixtures). Each service runs on 127.0.0.1 with free
ports, in its own temp dir (removed on stop), and is usable as a context manager::

    with Collector(CONFIG_YAML, ports=["otlp_http"]) as col:
        post_json(f"http://127.0.0.1:{col.ports['otlp_http']}/v1/logs", otlp_logs_json(...))

    with Jaeger() as j:            # j.otlp_grpc_port, j.otlp_http_port, j.query_url
        ...; j.wait_for_traces("svc")

    with Prometheus(["127.0.0.1:9464"]) as p:   # p.url, p.query(expr), p.wait_for(expr)
        ...

Binaries come from ``<repo>/.testbed/bin/<name>`` (see :func:`bin_path`), made by
``scripts/build_collector.sh``, ``scripts/build_jaeger.sh`` and
``scripts/install_prometheus.sh``; ``OTELCOL_BIN`` / ``JAEGER_BIN`` / ``PROMETHEUS_BIN``
override them.

Collector facts (build from scripts/otelcol-builder.yaml, v0.158.0):

* exporter types are ``otlp_grpc`` / ``otlp_http`` (``otlp`` / ``otlphttp`` are deprecated
  aliases); the filelog receiver's type is ``file_log`` (alias ``filelog``).
* The config may use ``${env:NAME}``; :class:`Collector` sets ``OTELCOL_PORT_<NAME>`` for
  every requested port and ``OTELCOL_TMPDIR`` (its temp dir, e.g. for the file exporter).
* :class:`Collector` prepends a config layer with the ``health_check`` extension (used for
  readiness) and internal metrics on a free port (by default they would take
  127.0.0.1:8888 and clash between collectors), and enables the
  ``confmap.enableMergeAppendOption`` feature gate so that ``service.extensions`` lists of
  both layers are appended instead of replaced.
"""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterable, Mapping, Sequence

REPO = pathlib.Path(__file__).resolve().parent.parent
TESTBED_BIN = REPO / ".testbed" / "bin"
HOST = "127.0.0.1"

_ENV_FOR_BIN = {
    "otelcol": "OTELCOL_BIN",
    "jaeger": "JAEGER_BIN",
    "prometheus": "PROMETHEUS_BIN",
    "promtool": "PROMTOOL_BIN",
}

BUILD_SCRIPTS = {
    "otelcol": "scripts/build_collector.sh",
    "jaeger": "scripts/build_jaeger.sh",
    "prometheus": "scripts/install_prometheus.sh",
    "promtool": "scripts/install_prometheus.sh",
}


# --------------------------------------------------------------------------- binaries

def bin_path(name: str) -> pathlib.Path:
    """``$<NAME>_BIN`` if set, else ``<repo>/.testbed/bin/<name>`` (may not exist)."""
    env = _ENV_FOR_BIN.get(name)
    if env and os.environ.get(env):
        return pathlib.Path(os.environ[env])
    return TESTBED_BIN / name


def have_binary(name: str) -> bool:
    p = bin_path(name)
    return p.is_file() and os.access(p, os.X_OK)


def missing_reason(name: str) -> str | None:
    """None if the binary is there, else a message naming the script that makes it."""
    if have_binary(name):
        return None
    script = BUILD_SCRIPTS.get(name, "?")
    return f"{name} not found at {bin_path(name)}; run `bash {script}`"


# --------------------------------------------------------------------------- network

def free_ports(n: int = 1, host: str = HOST) -> list[int]:
    """n distinct free TCP ports on host (all sockets held open until all are chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host: str = HOST) -> int:
    return free_ports(1, host)[0]


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_request(url: str, data: bytes | None = None, headers: Mapping[str, str] | None = None,
                 method: str | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    """(status, body); HTTP error statuses are returned, not raised."""
    req = urllib.request.Request(url, data=data, headers=dict(headers or {}), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_get_json(url: str, timeout: float = 10.0) -> Any:
    status, body = http_request(url, timeout=timeout)
    if status != 200:
        raise RuntimeError(f"GET {url} -> {status}: {body[:500]!r}")
    return json.loads(body)


def post_json(url: str, payload: Any, timeout: float = 10.0) -> tuple[int, bytes]:
    return http_request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"},
                        "POST", timeout)


# --------------------------------------------------------------------------- OTLP/JSON

def _any_value(v: Any) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": str(v)}


def otlp_attributes(attrs: Mapping[str, Any] | None) -> list[dict]:
    return [{"key": k, "value": _any_value(v)} for k, v in (attrs or {}).items()]


def otlp_log_record(body: str, attributes: Mapping[str, Any] | None = None,
                    severity_text: str = "INFO", severity_number: int = 9,
                    time_ns: int | None = None) -> dict:
    t = str(time_ns if time_ns is not None else time.time_ns())
    return {"timeUnixNano": t, "observedTimeUnixNano": t,
            "severityNumber": severity_number, "severityText": severity_text,
            "body": {"stringValue": body}, "attributes": otlp_attributes(attributes)}


def otlp_logs_json(service_name: str, body: str = "", attributes: Mapping[str, Any] | None = None,
                   severity_text: str = "INFO", severity_number: int = 9,
                   resource: Mapping[str, Any] | None = None, time_ns: int | None = None,
                   records: Sequence[dict] | None = None) -> dict:
    """An OTLP/HTTP JSON ``ExportLogsServiceRequest``: one resource, one scope, and either
    one record (``body``/``attributes``/...) or ``records`` (from :func:`otlp_log_record`)."""
    if records is None:
        records = [otlp_log_record(body, attributes, severity_text, severity_number, time_ns)]
    return {"resourceLogs": [{
        "resource": {"attributes": otlp_attributes({"service.name": service_name, **(resource or {})})},
        "scopeLogs": [{"scope": {"name": "tests.services"}, "logRecords": list(records)}]}]}


def otlp_spans_json(service_name: str, name: str, trace_id: str | None = None,
                    span_id: str | None = None, attributes: Mapping[str, Any] | None = None,
                    duration_ns: int = 1_000_000, kind: int = 2) -> dict:
    """One span as an OTLP/HTTP JSON ``ExportTraceServiceRequest`` (ids are hex strings)."""
    trace_id = trace_id or os.urandom(16).hex()
    span_id = span_id or os.urandom(8).hex()
    end = time.time_ns()
    return {"resourceSpans": [{
        "resource": {"attributes": otlp_attributes({"service.name": service_name})},
        "scopeSpans": [{"scope": {"name": "tests.services"}, "spans": [{
            "traceId": trace_id, "spanId": span_id, "name": name, "kind": kind,
            "startTimeUnixNano": str(end - duration_ns), "endTimeUnixNano": str(end),
            "attributes": otlp_attributes(attributes), "status": {}}]}]}]}


def merge_otlp(*payloads: Mapping[str, Any]) -> dict:
    """Concatenate OTLP/JSON requests of one signal into a single request (one export call)."""
    out: dict[str, list] = {}
    for p in payloads:
        for key, items in p.items():
            out.setdefault(key, []).extend(items)
    return out


# --------------------------------------------------------------------------- processes

def stop_process(proc: subprocess.Popen | None, timeout: float = 10.0) -> int | None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL. Returns the exit status."""
    if proc is None:
        return None
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(10)
    return proc.returncode


class ServiceError(RuntimeError):
    pass


class _Service:
    """A binary run in its own temp dir, logs to ``<tmp>/<name>.log``."""

    name = "service"
    binary_name = "?"
    start_timeout = 60.0

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.tmpdir: pathlib.Path | None = None
        self.log_path: pathlib.Path | None = None
        self.last_log = ""          # log text, kept after stop() removed the temp dir
        self.returncode: int | None = None
        self._log_file = None

    # subclasses: fill self.tmpdir, return (argv, env), then check readiness
    def _prepare(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> "_Service":
        if self.proc is not None:
            return self
        reason = missing_reason(self.binary_name)
        if reason:
            raise ServiceError(reason)
        self.tmpdir = pathlib.Path(tempfile.mkdtemp(prefix=f"otel-plugins-{self.name}-"))
        try:
            argv, env = self._prepare()
            self.log_path = self.tmpdir / f"{self.name}.log"
            self._log_file = open(self.log_path, "wb")
            self.proc = subprocess.Popen(argv, env=env, cwd=self.tmpdir, stdin=subprocess.DEVNULL,
                                         stdout=self._log_file, stderr=subprocess.STDOUT)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with {self.proc.returncode} during start:\n"
                                   f"{self.log_text()[-4000:]}")
            try:
                if self._ready():
                    return
            except (OSError, ValueError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise ServiceError(f"{self.name} not ready after {self.start_timeout}s:\n"
                                   f"{self.log_text()[-4000:]}")
            time.sleep(0.1)

    def log_text(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")
        return self.last_log

    def stop(self) -> int | None:
        if self.proc is not None:
            self.returncode = stop_process(self.proc)
            self.proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.tmpdir is not None:
            self.last_log = self.log_text()
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
            self.log_path = None
        return self.returncode

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _http_ok(url: str) -> bool:
    status, _ = http_request(url, timeout=2)
    return status == 200


# --------------------------------------------------------------------------- collector

_COLLECTOR_BASE = """\
extensions:
  health_check:
    endpoint: 127.0.0.1:${env:OTELCOL_HEALTH_PORT}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${env:OTELCOL_TELEMETRY_PORT}
"""


class Collector(_Service):
    """The test-bed otelcol with ``config_yaml``.

    ``ports``: names of extra free ports to allocate; each is exposed as
    ``self.ports[name]`` and to the config as ``${env:OTELCOL_PORT_<NAME>}`` (upper-cased,
    ``-``/``.`` -> ``_``). ``env``: extra environment for the collector (e.g. values that the
    config reads with ``${env:...}``). ``health_port`` / ``telemetry_port``: the health_check
    extension (readiness, ``health_url``) and the internal metrics endpoint (``telemetry_url``).
    """

    name = "otelcol"
    binary_name = "otelcol"

    def __init__(self, config_yaml: str, env: Mapping[str, str] | None = None,
                 ports: Iterable[str] = (), extra_args: Sequence[str] = (),
                 start_timeout: float = 60.0) -> None:
        super().__init__()
        self.config_yaml = config_yaml
        self.extra_env = dict(env or {})
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        names = list(ports)
        allocated = free_ports(len(names) + 2)
        self.health_port, self.telemetry_port = allocated[:2]
        self.ports: dict[str, int] = dict(zip(names, allocated[2:]))

    @staticmethod
    def port_env_name(name: str) -> str:
        return "OTELCOL_PORT_" + name.upper().replace("-", "_").replace(".", "_")

    @property
    def health_url(self) -> str:
        return f"http://{HOST}:{self.health_port}/"

    @property
    def telemetry_url(self) -> str:
        return f"http://{HOST}:{self.telemetry_port}/metrics"

    def port_env(self) -> dict[str, str]:
        env = {self.port_env_name(k): str(v) for k, v in self.ports.items()}
        env["OTELCOL_HEALTH_PORT"] = str(self.health_port)
        env["OTELCOL_TELEMETRY_PORT"] = str(self.telemetry_port)
        return env

    def _prepare(self):
        base = self.tmpdir / "base.yaml"
        base.write_text(_COLLECTOR_BASE)
        cfg = self.tmpdir / "config.yaml"
        cfg.write_text(self.config_yaml)
        env = dict(os.environ)
        env.update(self.port_env())
        env["OTELCOL_TMPDIR"] = str(self.tmpdir)
        env.update(self.extra_env)
        argv = [str(bin_path("otelcol")), f"--config={base}", f"--config={cfg}",
                "--feature-gates=confmap.enableMergeAppendOption", *self.extra_args]
        return argv, env

    def _ready(self) -> bool:
        # health_check v1 answers 200 only once all pipelines have started
        return _http_ok(self.health_url)

    def validate(self) -> subprocess.CompletedProcess:
        """``otelcol validate`` on the config (without starting it); does not need start()."""
        with tempfile.TemporaryDirectory(prefix="otel-plugins-otelcol-validate-") as d:
            base = pathlib.Path(d, "base.yaml")
            base.write_text(_COLLECTOR_BASE)
            cfg = pathlib.Path(d, "config.yaml")
            cfg.write_text(self.config_yaml)
            env = dict(os.environ)
            env.update(self.port_env())
            env["OTELCOL_TMPDIR"] = d
            env.update(self.extra_env)
            return subprocess.run([str(bin_path("otelcol")), "validate", f"--config={base}",
                                   f"--config={cfg}", "--feature-gates=confmap.enableMergeAppendOption"],
                                  env=env, capture_output=True, text=True, timeout=60)


# --------------------------------------------------------------------------- jaeger

_JAEGER_CONFIG = """\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: {max_traces}
  jaeger_query:
    # default true: jaeger traces itself to OTEL_EXPORTER_OTLP_ENDPOINT (localhost:4317),
    # i.e. into any collector there, and then hangs ~10s on SIGTERM flushing to nowhere
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query_port}
    grpc:
      endpoint: 127.0.0.1:{query_grpc_port}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{otlp_grpc_port}
      http:
        endpoint: 127.0.0.1:{otlp_http_port}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


class Jaeger(_Service):
    """Jaeger v2 all-in-one, in-memory storage, OTLP in, HTTP query API out.

    ``otlp_grpc_port``, ``otlp_http_port`` (``otlp_http_url`` = ``.../v1/traces``),
    ``query_url`` (``/api/services``, ``/api/traces?service=``, ``/api/v3/traces``),
    ``query_grpc_port``.
    """

    name = "jaeger"
    binary_name = "jaeger"

    def __init__(self, max_traces: int = 100000, start_timeout: float = 60.0) -> None:
        super().__init__()
        self.start_timeout = start_timeout
        self.max_traces = max_traces
        (self.otlp_grpc_port, self.otlp_http_port,
         self.query_port, self.query_grpc_port) = free_ports(4)

    @property
    def query_url(self) -> str:
        return f"http://{HOST}:{self.query_port}"

    @property
    def otlp_http_url(self) -> str:
        return f"http://{HOST}:{self.otlp_http_port}/v1/traces"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"{HOST}:{self.otlp_grpc_port}"

    def config_yaml(self) -> str:
        return _JAEGER_CONFIG.format(max_traces=self.max_traces, query_port=self.query_port,
                                     query_grpc_port=self.query_grpc_port,
                                     otlp_grpc_port=self.otlp_grpc_port,
                                     otlp_http_port=self.otlp_http_port)

    def _prepare(self):
        cfg = self.tmpdir / "jaeger.yaml"
        cfg.write_text(self.config_yaml())
        return [str(bin_path("jaeger")), f"--config={cfg}"], dict(os.environ)

    def _ready(self) -> bool:
        # the query API is an extension and starts before the receivers: wait for both
        return (_http_ok(self.query_url + "/api/services")
                and port_open(self.otlp_http_port) and port_open(self.otlp_grpc_port))

    def services(self) -> list[str]:
        return http_get_json(self.query_url + "/api/services").get("data") or []

    def traces(self, service: str, **params: Any) -> list[dict]:
        """Jaeger-format traces of ``service`` (``/api/traces``); params e.g. operation, limit."""
        q = urllib.parse.urlencode({"service": service, **params})
        return http_get_json(f"{self.query_url}/api/traces?{q}").get("data") or []

    def trace(self, trace_id: str) -> dict:
        """OTLP-JSON trace from the v3 API (``/api/v3/traces/<id>``)."""
        return http_get_json(f"{self.query_url}/api/v3/traces/{trace_id}")

    def wait_for_traces(self, service: str, timeout: float = 15.0, min_count: int = 1,
                        **params: Any) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(RuntimeError, OSError, ValueError):
                found = self.traces(service, **params)
                if len(found) >= min_count:
                    return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"jaeger: fewer than {min_count} trace(s) for {service!r} "
                                   f"after {timeout}s (services: {self._services_or_err()})")
            time.sleep(0.2)

    def _services_or_err(self) -> Any:
        try:
            return self.services()
        except Exception as e:  # noqa: BLE001 - diagnostics only
            return repr(e)


# --------------------------------------------------------------------------- prometheus

class Prometheus(_Service):
    """Prometheus scraping ``scrape_targets`` (``host:port``, path ``metrics_path``).

    ``url`` is its base URL; :meth:`query` runs an instant query; :meth:`wait_for` polls
    until a query returns at least one series.
    """

    name = "prometheus"
    binary_name = "prometheus"

    def __init__(self, scrape_targets: Sequence[str], scrape_interval: str = "1s",
                 metrics_path: str = "/metrics", job_name: str = "otel-plugins-test",
                 extra_config: str = "", start_timeout: float = 60.0) -> None:
        super().__init__()
        self.scrape_targets = list(scrape_targets)
        self.scrape_interval = scrape_interval
        self.metrics_path = metrics_path
        self.job_name = job_name
        self.extra_config = extra_config
        self.start_timeout = start_timeout
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def config_yaml(self) -> str:
        targets = json.dumps(self.scrape_targets)  # JSON list is valid YAML
        return (f"global:\n  scrape_interval: {self.scrape_interval}\n"
                f"  evaluation_interval: {self.scrape_interval}\n"
                f"scrape_configs:\n  - job_name: {json.dumps(self.job_name)}\n"
                f"    metrics_path: {json.dumps(self.metrics_path)}\n"
                f"    static_configs:\n      - targets: {targets}\n" + self.extra_config)

    def _prepare(self):
        cfg = self.tmpdir / "prometheus.yml"
        cfg.write_text(self.config_yaml())
        argv = [str(bin_path("prometheus")), f"--config.file={cfg}",
                f"--storage.tsdb.path={self.tmpdir / 'data'}",
                f"--web.listen-address={HOST}:{self.port}",
                "--storage.tsdb.retention.time=1h", "--log.level=warn"]
        return argv, dict(os.environ)

    def _ready(self) -> bool:
        return _http_ok(self.url + "/-/ready")

    def query(self, expr: str) -> list[dict]:
        """Instant query; returns ``data.result`` (list of ``{"metric": {...}, "value": [t, "v"]}``)."""
        q = urllib.parse.urlencode({"query": expr})
        doc = http_get_json(f"{self.url}/api/v1/query?{q}")
        if doc.get("status") != "success":
            raise RuntimeError(f"prometheus query {expr!r} failed: {doc}")
        return doc["data"]["result"]

    def targets(self) -> list[dict]:
        return http_get_json(self.url + "/api/v1/targets")["data"]["activeTargets"]

    def wait_for(self, expr: str, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result:
                return result
            if time.monotonic() > deadline:
                health = [(t.get("scrapeUrl"), t.get("health"), t.get("lastError"))
                          for t in self.targets()]
                raise TimeoutError(f"prometheus: no series for {expr!r} after {timeout}s; "
                                   f"targets: {health}")
            time.sleep(0.25)
