"""The kernel's view of one process's TCP connections to given endpoints.

`tcp_connections(pid, endpoints)` answers, per endpoint (`host:port`, `[v6]:port`), the
process's sockets connected to it with their `struct tcp_info` counters. Two sources:

- ``netlink``: one NETLINK_SOCK_DIAG dump per address family, filtered in the kernel
  by a bytecode on the destination address and port, INET_DIAG_INFO parsed with
  `struct.unpack_from` at the offsets of `include/uapi/linux/tcp.h` (fields a short,
  older kernel does not send read as 0). About 0.5 ms a call with the /proc scan.
- ``ss``: `ss -tineHn state all exclude listening '( dst A and dport = :P or ... )'`,
  parsed field by field. A fork and exec a call: a few milliseconds.

Netlink is preferred; the choice is made at the first call and `selected_source()`
tells it. Sockets are mapped to the process through the socket inodes in
`/proc/<pid>/fd` (and its children's). Nothing here raises: on any error the answer is
`{}` ("unknown"), which callers must not confuse with `{endpoint: []}` ("no connection").
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["TcpInfo", "tcp_connections", "selected_source", "parse_endpoint", "resolve_endpoint"]

_log = logging.getLogger(__name__)

SOURCE_NETLINK = "netlink"
SOURCE_SS = "ss"

# Kernel TCP states (include/net/tcp_states.h), index = state number.
STATES = (
    "UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
    "CLOSED", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV",
)
_SS_STATES = {
    "ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECV", "FIN-WAIT-1": "FIN_WAIT1",
    "FIN-WAIT-2": "FIN_WAIT2", "TIME-WAIT": "TIME_WAIT", "UNCONN": "CLOSED", "CLOSE-WAIT": "CLOSE_WAIT",
    "LAST-ACK": "LAST_ACK", "LISTEN": "LISTEN", "CLOSING": "CLOSING",
}


@dataclass(frozen=True)
class TcpInfo:
    """One socket as the kernel sees it. Times in milliseconds; `None` where the kernel gave no tcp_info."""

    local_address: str
    local_port: int
    remote_address: str
    remote_port: int
    state: str  # ESTABLISHED, SYN_SENT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSED, ...
    bytes_acked: int = 0
    bytes_sent: int = 0  # includes retransmitted bytes (kernel 4.19+; 0 before)
    bytes_received: int = 0
    retrans: int = 0  # segments retransmitted and not yet acknowledged
    total_retrans: int = 0  # retransmissions over the connection's life
    rtt_ms: float | None = None  # smoothed RTT
    lastack_ms: int | None = None  # since the last ACK was received
    lastsnd_ms: int | None = None  # since data was last sent
    inode: int = 0
    unacked: int = 0  # segments in flight
    backoff: int = 0  # RTO backoff exponent (grows while retransmissions go unanswered)


# ---------------------------------------------------------------- endpoints

_resolved: dict[str, tuple[float, tuple[str, int] | None]] = {}
_resolved_lock = threading.Lock()
_RESOLVE_RETRY_S = 30.0


def parse_endpoint(endpoint: str) -> tuple[str, int] | None:
    """`host:port` or `[v6]:port` -> (host, port); None if malformed."""
    text = endpoint.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port = text.rpartition(":")
    if not host or not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def resolve_endpoint(endpoint: str) -> tuple[str, int] | None:
    """(IP address, port) for an endpoint; hostnames are resolved once (failures retried after 30 s)."""
    parsed = parse_endpoint(endpoint)
    if parsed is None:
        return None
    host, port = parsed
    try:
        return _canonical(host), port
    except ValueError:
        pass
    now = time.monotonic()
    with _resolved_lock:
        hit = _resolved.get(endpoint)
    if hit is not None and (hit[1] is not None or now - hit[0] < _RESOLVE_RETRY_S):
        return hit[1]
    answer: tuple[str, int] | None = None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        infos.sort(key=lambda i: i[0] != socket.AF_INET)
        if infos:
            answer = _canonical(str(infos[0][4][0])), port
    except (OSError, UnicodeError, ValueError):
        answer = None
    with _resolved_lock:
        _resolved[endpoint] = (now, answer)
    return answer


def _canonical(address: str) -> str:
    """The address as text, an IPv4-mapped IPv6 address as plain IPv4; raises ValueError."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


# ---------------------------------------------------------------- process sockets

def _process_tree(pid: int, limit: int = 64) -> list[int]:
    pids, queue = [], [pid]
    while queue and len(pids) < limit:
        p = queue.pop()
        pids.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children", encoding="ascii") as f:
                    queue.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return pids


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets open in the process and its children; raises OSError if `pid` is unreadable."""
    inodes: set[int] = set()
    for i, p in enumerate(_process_tree(pid)):
        fd_dir = f"/proc/{p}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            if i == 0:
                raise
            continue
        for fd in fds:
            try:
                link = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(int(link[8:-1]))
    return inodes


# ---------------------------------------------------------------- netlink

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_INET_DIAG_REQ_BYTECODE = 1
_INET_DIAG_INFO = 2
_BC_JMP, _BC_D_COND = 1, 8
_ALL_BUT_LISTEN = 0xFFF & ~(1 << 10) & ~1  # states 1..11 except LISTEN
_NLMSG = struct.Struct("=IHHII")
_DIAG_MSG = struct.Struct("=BBBB2s2s16s16sI8sIIIII")  # struct inet_diag_msg, 72 bytes
_TCP_INFO_LEN = 232


def _hostcond(address: str, port: int) -> bytes:
    ip = ipaddress.ip_address(address)
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    cond = struct.pack("=BBxxi", family, ip.max_prefixlen, port) + ip.packed
    length = 4 + len(cond)
    # yes: on to the next op; no: skip the jump that follows (or fall off the end: reject).
    return struct.pack("=BBH", _BC_D_COND, length, length + 4) + cond


def _bytecode(targets: list[tuple[str, int]]) -> bytes:
    """`dst A:P or dst B:Q ...`, compiled as ss(8) does: cond, jump-to-end, cond, ..."""
    first = _hostcond(*targets[0])
    if len(targets) == 1:
        return first
    rest = _bytecode(targets[1:])
    return first + struct.pack("=BBH", _BC_JMP, 4, len(rest) + 4) + rest


def _netlink_dump(family: int, bytecode: bytes) -> list[TcpInfo]:
    req = struct.pack("=BBBxI", family, socket.IPPROTO_TCP, 1 << (_INET_DIAG_INFO - 1), _ALL_BUT_LISTEN)
    req += b"\0" * 40 + b"\xff" * 8  # inet_diag_sockid: ports, addresses, interface; INET_DIAG_NOCOOKIE
    attr = struct.pack("=HH", 4 + len(bytecode), _INET_DIAG_REQ_BYTECODE) + bytecode
    attr += b"\0" * (-len(attr) % 4)
    body = req + attr
    msg = _NLMSG.pack(_NLMSG.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0) + body
    out: list[TcpInfo] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(1.0)
        nl.sendto(msg, (0, 0))
        while True:
            data = nl.recv(1 << 16)
            offset = 0
            while offset + _NLMSG.size <= len(data):
                length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(data, offset)
                if length < _NLMSG.size:
                    return out
                if kind == _NLMSG_DONE:
                    return out
                if kind == _NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", data, offset + _NLMSG.size)
                    raise OSError(-code, os.strerror(-code))
                if kind == _SOCK_DIAG_BY_FAMILY:
                    out.append(_parse_diag(data, offset + _NLMSG.size, offset + length))
                offset += (length + 3) & ~3


def _parse_diag(data: bytes, start: int, end: int) -> TcpInfo:
    fam, state, _timer, _retrans, sport, dport, src, dst, _if, _cookie, _exp, _rq, _wq, _uid, inode = (
        _DIAG_MSG.unpack_from(data, start)
    )
    size = 4 if fam == socket.AF_INET else 16
    info: bytes | None = None
    pos = start + _DIAG_MSG.size
    while pos + 4 <= end:
        alen, atype = struct.unpack_from("=HH", data, pos)
        if alen < 4:
            break
        if atype == _INET_DIAG_INFO:
            info = data[pos + 4 : pos + alen]
        pos += (alen + 3) & ~3
    base = {
        "local_address": _canonical(socket.inet_ntop(fam, src[:size])),
        "local_port": int.from_bytes(sport, "big"),
        "remote_address": _canonical(socket.inet_ntop(fam, dst[:size])),
        "remote_port": int.from_bytes(dport, "big"),
        "state": STATES[state] if state < len(STATES) else str(state),
        "inode": inode,
    }
    if not info:
        return TcpInfo(**base)
    t = info[:_TCP_INFO_LEN].ljust(_TCP_INFO_LEN, b"\0")
    return TcpInfo(
        **base,
        backoff=t[4],
        unacked=struct.unpack_from("=I", t, 24)[0],
        retrans=struct.unpack_from("=I", t, 36)[0],
        lastsnd_ms=struct.unpack_from("=I", t, 44)[0],
        lastack_ms=struct.unpack_from("=I", t, 56)[0],
        rtt_ms=struct.unpack_from("=I", t, 68)[0] / 1000.0,  # tcpi_rtt is in microseconds
        total_retrans=struct.unpack_from("=I", t, 100)[0],
        bytes_acked=struct.unpack_from("=Q", t, 120)[0],
        bytes_received=struct.unpack_from("=Q", t, 128)[0],
        bytes_sent=struct.unpack_from("=Q", t, 200)[0],
    )


def _via_netlink(targets: list[tuple[str, int]]) -> list[TcpInfo]:
    bytecode = _bytecode(targets)
    families = [socket.AF_INET6] if all(":" in a for a, _ in targets) else [socket.AF_INET, socket.AF_INET6]
    out: list[TcpInfo] = []
    for family in families:  # AF_INET6 too: a dual-stack socket talks to IPv4 through a mapped address
        out.extend(_netlink_dump(family, bytecode))
    return out


# ---------------------------------------------------------------- ss

_SS_FIELDS = {
    name: re.compile(rf"(?:^|\s){name}:(\d+)")
    for name in ("bytes_acked", "bytes_sent", "bytes_received", "lastack", "lastsnd", "unacked", "backoff")
}
_SS_RETRANS = re.compile(r"(?:^|\s)retrans:(\d+)/(\d+)")
_SS_RTT = re.compile(r"(?:^|\s)rtt:([\d.]+)/")
_SS_INODE = re.compile(r"\bino:(\d+)")


def _ss_filter(targets: list[tuple[str, int]]) -> list[str]:
    words = ["("]
    for i, (address, port) in enumerate(targets):
        host = f"[{address}]" if ":" in address else address
        words += (["or"] if i else []) + ["(", "dst", host, "and", "dport", "=", f":{port}", ")"]
    return [*words, ")"]


def _via_ss(targets: list[tuple[str, int]]) -> list[TcpInfo]:
    cmd = [_SS or "ss", "-tineHn", "state", "all", "exclude", "listening", *_ss_filter(targets)]
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=2.0, check=True).stdout
    return parse_ss(text)


def parse_ss(text: str) -> list[TcpInfo]:
    """Sockets from `ss -tieHn` output: a header line per socket, its counters on indented lines."""
    out: list[TcpInfo] = []
    header: list[str] | None = None
    info = ""

    def flush() -> None:
        if header is not None and len(header) >= 5:
            try:
                out.append(_ss_socket(header, info))
            except (ValueError, IndexError):
                pass

    for line in text.splitlines():
        if line[:1].isspace():
            info += " " + line.strip()
        elif line.strip():
            flush()
            header, info = line.split(), ""
    flush()
    return out


def _ss_socket(header: list[str], info: str) -> TcpInfo:
    state = header[0]
    local, remote = header[3], header[4]
    (la, lp), (ra, rp) = (_ss_address(local), _ss_address(remote))
    inode = _SS_INODE.search(" ".join(header[5:]))
    values: dict[str, int] = {k: int(m.group(1)) if (m := r.search(info)) else 0 for k, r in _SS_FIELDS.items()}
    retrans = _SS_RETRANS.search(info)
    rtt = _SS_RTT.search(info)
    has_info = rtt is not None
    return TcpInfo(
        local_address=la,
        local_port=lp,
        remote_address=ra,
        remote_port=rp,
        state=_SS_STATES.get(state, state.replace("-", "_")),
        bytes_acked=values["bytes_acked"],
        bytes_sent=values["bytes_sent"],
        bytes_received=values["bytes_received"],
        retrans=int(retrans.group(1)) if retrans else 0,
        total_retrans=int(retrans.group(2)) if retrans else 0,
        rtt_ms=float(rtt.group(1)) if rtt else None,
        lastack_ms=values["lastack"] if has_info else None,
        lastsnd_ms=values["lastsnd"] if has_info else None,
        inode=int(inode.group(1)) if inode else 0,
        unacked=values["unacked"],
        backoff=values["backoff"],
    )


def _ss_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return _canonical(host.strip("[]")), int(port)


# ---------------------------------------------------------------- selection

_SS = shutil.which("ss")
_selected: str | None = None
_select_lock = threading.Lock()


def _netlink_works() -> bool:
    try:
        _via_netlink([("127.0.0.1", 1)])
        return True
    except (OSError, ValueError, struct.error):
        return False


def selected_source() -> str | None:
    """"netlink", "ss", or None when neither works here; decided once, at the first call."""
    global _selected
    with _select_lock:
        if _selected is None:
            _selected = SOURCE_NETLINK if _netlink_works() else SOURCE_SS if _SS else ""
        return _selected or None


def tcp_connections(
    pid: int | None, endpoints: Iterable[str], *, source: str | None = None
) -> dict[str, list[TcpInfo]]:
    """Per endpoint, the sockets of `pid` (any process if None) connected to it; {} on any error."""
    try:
        wanted: dict[str, tuple[str, int]] = {}
        for ep in endpoints:
            target = resolve_endpoint(ep)
            if target is not None:
                wanted[ep] = target
        if not wanted:
            return {}
        use = source or selected_source()
        if use not in (SOURCE_NETLINK, SOURCE_SS):
            return {}
        targets = sorted(set(wanted.values()))
        sockets = _via_netlink(targets) if use == SOURCE_NETLINK else _via_ss(targets)
        if pid is not None:
            mine = socket_inodes(pid)
            sockets = [s for s in sockets if s.inode and s.inode in mine]
        result: dict[str, list[TcpInfo]] = {ep: [] for ep in wanted}
        for s in sockets:
            for ep, (address, port) in wanted.items():
                if s.remote_port == port and s.remote_address == address:
                    result[ep].append(s)
        return result
    except Exception as exc:  # noqa: BLE001 - a poller must never break its caller
        _log.debug("tcp_connections failed: %r", exc)
        return {}
