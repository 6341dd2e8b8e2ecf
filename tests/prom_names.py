"""Prometheus names of the project's metrics, and the metric names a PromQL expression uses.

`prometheus_name` follows the OpenTelemetry Collector's `prometheus` exporter with
metric suffixes on (its default): non-alphanumerics become `_`; the unit adds a suffix
(`By` -> `bytes`, `s` -> `seconds`, `By/s` -> `bytes_per_second`) unless the name
already holds that word, and curly-brace units (`{response}`) add nothing; monotonic
counters end in `_total`; unit-`1` gauges end in `_ratio`; a histogram is exposed as
`_bucket`, `_sum` and `_count`.

Shared by tests/test_alert_rules.py and tests/test_dashboard.py (plain module, no fixtures).
"""

from __future__ import annotations

import functools
import os
import pathlib
import re
import shutil
import subprocess

from otel_plugins import names

# The collector's unit maps (pkg/translator/prometheus), the entries this project can meet.
MAIN_UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes",
    "MiBy": "mebibytes", "GiBy": "gibibytes", "KBy": "kilobytes", "MBy": "megabytes",
    "GBy": "gigabytes", "bit": "bits", "%": "percent", "Hz": "hertz", "Cel": "celsius",
}  # fmt: skip
PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}


def prometheus_name(name: str, kind: str, unit: str) -> str:
    """The name the Collector's prometheus exporter gives an OTel metric (for a histogram: the base name)."""
    tokens = [t for t in re.split(r"[^A-Za-z0-9]+", name) if t]
    main, _, per = (part.strip() for part in unit.partition("/"))
    if main and main != "1" and "{" not in main and "}" not in main:
        suffix = MAIN_UNITS.get(main, re.sub(r"[^A-Za-z0-9]+", "_", main).strip("_"))
        if suffix and suffix not in tokens:
            tokens.append(suffix)
    if per and "{" not in per and "}" not in per:
        suffix = PER_UNITS.get(per, re.sub(r"[^A-Za-z0-9]+", "_", per).strip("_"))
        if suffix and suffix not in tokens:
            tokens += ["per", suffix]
    if kind == "counter":
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if kind == "gauge" and unit == "1":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    return "_".join(tokens)


def series_names(name: str, kind: str, unit: str) -> set[str]:
    """Every series name one metric is exposed as."""
    base = prometheus_name(name, kind, unit)
    if kind == "histogram":
        return {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
    return {base}


def exported_series() -> set[str]:
    """Every series name the project exports, from names.METRICS."""
    found: set[str] = set()
    for name, kind, unit, _description in names.METRICS:
        found |= series_names(name, kind, unit)
    return found


def label_name(attribute: str) -> str:
    """An attribute key as a Prometheus label: `rpc.endpoint` -> `rpc_endpoint`."""
    return re.sub(r"[^A-Za-z0-9_]", "_", attribute)


# PromQL words that look like identifiers but name no metric.
KEYWORDS = frozenset(
    """
    sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio
    by without on ignoring group_left group_right bool offset and or unless atan2 inf nan start end
    """.split()
)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
_IDENTIFIER = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(?=\s*(\S?))")


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers followed by `{`, `[`, space, `)` or the end,
    leaving out function calls, keywords, label names and Grafana variables."""
    text = _STRINGS.sub('""', expr)
    text = _VARIABLES.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    text = _MATCHERS.sub("{}", text)
    text = _RANGES.sub("[]", text)
    found = set()
    for match in _IDENTIFIER.finditer(text):
        word, following = match.group(1), match.group(2)
        if following == "(" or word.lower() in KEYWORDS:
            continue
        found.add(word)
    return found


def label_names(expr: str) -> set[str]:
    """Label names an expression matches on or groups by."""
    text = _STRINGS.sub('""', expr)
    found: set[str] = set()
    for matchers in _MATCHERS.findall(text):
        found |= set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    for clause in _LABEL_LISTS.findall(text):
        inside = clause[clause.index("(") + 1 : -1]
        found |= {w.strip() for w in inside.split(",") if w.strip()}
    return found


REPO = pathlib.Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def promtool() -> tuple[str | None, str]:
    """(path, "") of the real promtool, installing Debian's package if needed; else (None, why not).

    Looks in <repo>/.testbed/bin, then PATH; then runs scripts/install_prometheus.sh, or,
    while that script is not there, `apt-get install prometheus` itself (as root).
    Runs the install at most once per test session.
    """
    local = REPO / ".testbed" / "bin" / "promtool"

    def found() -> str | None:
        if local.is_file() and os.access(local, os.X_OK):
            return str(local)
        return shutil.which("promtool")

    if path := found():
        return path, ""
    script = REPO / "scripts" / "install_prometheus.sh"
    if script.is_file():
        command = ["bash", str(script)]
    elif os.geteuid() == 0 and shutil.which("apt-get"):
        command = [
            "sh", "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus",
        ]  # fmt: skip
    else:
        return None, "promtool is not installed, scripts/install_prometheus.sh is missing and apt-get needs root"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"promtool could not be installed: {' '.join(command[:2])}: {exc}"
    if path := found():
        return path, ""
    tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
    return None, f"promtool could not be installed ({' '.join(command[:2])} exited {done.returncode}: {tail})"
