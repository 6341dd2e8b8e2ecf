"""What every dialect shares: field names beyond `names.py`, clocks, addresses, and the
converters (`Conv`) the shape declarations name.

Nothing here does I/O. The only state is the memoisation of a pure function (the date cache).
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from otel_plugins import names
from otel_plugins.record import Event

from .shape import Conv

# The record fields the dialects set, under the short names their declarations use; every
# name is `otel_plugins.names`' own (attribute names live in that one module).
LOG_TIME = names.LOG_TIME  # the wall-clock time as printed, before conversion
HEALTH_CHECK = names.HEALTH_CHECK  # True: the proxy's own health-check result line
ENVELOPE = names.LOG_ENVELOPE  # journald | syslog | compose | process | router
ENVELOPE_TIME = names.LOG_ENVELOPE_TIME  # the envelope's time as printed
HOST_NAME = names.HOST_NAME
PROCESS_NAME = names.PROCESS_EXECUTABLE_NAME  # journald/syslog identifier
PROCESS_ROLE = names.LOG_PROCESS  # vLLM/SGLang `(APIServer pid=1)` role
CONTAINER_NAME = names.CONTAINER_NAME  # docker compose service prefix
ROUTER_PORT = names.ROUTER_PORT  # llama-server router mode `[42751] ` child prefix
URL_QUERY = names.URL_QUERY
URL_FULL = names.URL_FULL
HTTP_VERSION = names.NETWORK_PROTOCOL_VERSION
RESPONSE_SIZE = names.HTTP_RESPONSE_SIZE
GPU_INDEX = names.GPU_INDEX
LOAD_MMAP = names.LOAD_MMAP
RPC_CAPACITY_BYTES = names.RPC_CAPACITY_BYTES
RPC_CACHE_DIR = names.RPC_CACHE_DIR  # rpc-server -c: where received tensors are kept
RPC_CACHE_FILE = names.RPC_CACHE_FILE  # one tensor saved there (`[set_tensor] saved to '...'`)
EXCEPTION_TYPE = names.EXCEPTION_TYPE
EXCEPTION_MESSAGE = names.EXCEPTION_MESSAGE

MIB = 1048576

# ---------------------------------------------------------------- clocks


@lru_cache(maxsize=1024)
def _day_start(y: int, mo: int, d: int) -> int:
    return (date(y, mo, d).toordinal() - 719163) * 86400


def epoch(y: int, mo: int, d: int, h: int, mi: int, s: int, frac: float = 0.0, offset_s: int = 0) -> float | None:
    """Seconds since the epoch for a wall-clock time (UTC unless offset_s says otherwise)."""
    if h > 23 or mi > 59 or s > 60:
        return None
    try:
        return _day_start(y, mo, d) + h * 3600 + mi * 60 + s + frac - offset_s
    except ValueError:
        return None


_ISO = re.compile(
    r"(\d{4})[-/](\d\d)[-/](\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?\s*(?:(Z)|([+-])(\d\d):?(\d\d))?\Z"
)


def parse_iso(s: str) -> float | None:
    """`2025-08-12 10:39:04.097779+08:00`, `2024-07-12T14:13:22.804-03:00`, `2026-07-04 04:30:58,796`."""
    m = _ISO.match(s)
    if m is None:
        return None
    y, mo, d, h, mi, sec, frac, _z, sign, oh, om = m.groups()
    offset = 0
    if sign:
        offset = int(oh) * 3600 + int(om) * 60
        if sign == "-":
            offset = -offset
    return epoch(int(y), int(mo), int(d), int(h), int(mi), int(sec), float("0." + frac) if frac else 0.0, offset)


_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|µs|μs|us|ns)")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "µs": 1e-6, "μs": 1e-6, "us": 1e-6, "ns": 1e-9}


def go_duration(s: str) -> float | None:
    """Go's time.Duration.String(): `1m4.34s`, `11.05µs`, `0s` -> seconds."""
    parts = _GO_DURATION.findall(s)
    if not parts or sum(len(v) + len(u) for v, u in parts) != len(s):
        return None
    return round(sum(float(v) * _DURATION_UNITS[u] for v, u in parts), 9)


# ---------------------------------------------------------------- addresses


def ascii_digits(text: str) -> bool:
    """ASCII digits only: `str.isdigit` also takes `¹`, which `int` refuses."""
    return text.isascii() and text.isdigit()


def host_port(s: str) -> tuple[str, int | None]:
    """`127.0.0.1:60838` -> ("127.0.0.1", 60838); `[::1]:80` and `::1:80` -> ("::1", 80); `::1` -> ("::1", None)."""
    if s.startswith("["):
        end = s.find("]")
        if end > 0:
            rest = s[end + 1 :]
            if rest.startswith(":") and ascii_digits(rest[1:]):
                return s[1:end], int(rest[1:])
            return s[1:end], None
    host, sep, port = s.rpartition(":")
    if sep and ascii_digits(port) and host and (host.count(":") != 1):
        return host, int(port)
    return s, None


def url_host_port(url: str) -> tuple[str | None, int | None]:
    """`http://0.0.0.0:8000/x` -> ("0.0.0.0", 8000); `http://:::5806` -> ("::", 5806); `:9999` -> (None, 9999)."""
    rest = url.split("://", 1)[-1]
    rest = rest.split("/", 1)[0]
    host, sep, port = rest.rpartition(":")
    if not sep or not ascii_digits(port):
        return (rest or None), None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return (host or None), int(port)


# ---------------------------------------------------------------- converters (Python only)


def _url_host(s: str) -> str | None:
    return url_host_port(s)[0]


def _url_port(s: str) -> int | None:
    return url_host_port(s)[1]


def _endpoint_host(s: str) -> str | None:
    host, port = host_port(s)
    return host if port is not None else None


def _mib_bytes(s: str) -> int:
    return round(float(s) * MIB)


def unquote(value: str) -> str:
    """Go's %q: `"a \\"b\\""` -> `a "b"`."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def event_map(table: dict[str, Event]) -> Conv:
    """A word the line prints (`accepted`, `ready`) to the event it announces."""
    return Conv("event:" + "|".join(table), table.get)


ISO_TIME = Conv("iso_time", parse_iso)
GO_DURATION = Conv("go_duration", go_duration)
URL_HOST = Conv("url_host", _url_host)
URL_PORT = Conv("url_port", _url_port)
HOST = Conv("host", lambda s: host_port(s)[0])
PORT = Conv("port", lambda s: host_port(s)[1])
ENDPOINT_HOST = Conv("endpoint_host", _endpoint_host)  # only when the endpoint names a port
MIB_BYTES = Conv("mib_bytes", _mib_bytes)
MIB_INT_BYTES = Conv("mib_int_bytes", lambda s: int(s) * MIB)
MS_SECONDS = Conv("ms_seconds", lambda s: round(float(s) / 1000.0, 9))
TRUE = Conv("true", lambda s: s == "true")
STRIP = Conv("strip", str.strip)
UNQUOTE = Conv("unquote", unquote)
