"""Test-bed helpers for running real llama-server / rpc-server processes.

Plain stdlib module (no pytest fixtures): tests import it and build their own
fixtures on top.  Everything started here is meant to be stopped with
:func:`stop_process` (or by the :class:`NetNS` context manager), so that no
processes, namespaces or veth links are left behind.

Binaries are resolved by :func:`bin_path` from ``LLAMA_SERVER_BIN`` /
``RPC_SERVER_BIN`` / ``LLAMA_BOX_BIN`` or ``<repo>/.testbed/bin/<name>``
(created by ``scripts/build_llama.sh``).  Two llama.cpp beds are built:
``llama-server-0.3.8`` / ``rpc-server-0.3.8`` and ``llama-server-0.3.36`` /
``rpc-server-0.3.36``; ``OTEL_PLUGINS_LLAMA_VERSION=0.3.36`` points every test that
asks for ``llama-server`` / ``rpc-server`` at the second (default: the unsuffixed
links, 0.3.8).  :func:`versioned_bin` names one bed explicitly.  Models come from
``scripts/make_model.py`` (see :func:`ensure_model`).

Observed behaviour of the llama.cpp build used here (llama-cpp-python 0.3.8
vendor tree, ``version: 1 (7841fc7)``):

* llama-server writes *all* log lines to **stderr** (stdout stays empty),
  with ``--log-prefix --log-timestamps`` formatted as ``M.SS.mmm.uuu L msg``
  where the timestamp is the time since process start and ``L`` is I/W/E.
* rpc-server prints ``Starting RPC server on ...`` / ``Accepted client
  connection ...`` / ``Client connection closed`` with ``printf`` (stdout,
  block-buffered when redirected to a file), hence :func:`start_rpc_server`
  runs it under ``stdbuf -oL`` when available.
* llama-server on SIGTERM after the model is loaded logs
  ``cleaning up before exit...`` then aborts with ``terminate called without
  an active exception`` (exit status -6 / 134).  While the model is still
  loading the signal handler is not installed yet and SIGTERM kills it (-15).
"""
from __future__ import annotations

import atexit
import contextlib
import http.client
import itertools
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Iterable, Sequence

REPO = pathlib.Path(__file__).resolve().parent.parent
TESTBED_BIN = REPO / ".testbed" / "bin"

_ENV_FOR_BIN = {
    "llama-server": "LLAMA_SERVER_BIN",
    "rpc-server": "RPC_SERVER_BIN",
    "llama-box": "LLAMA_BOX_BIN",
}

# log line emitted once the weights went to an RPC backend, e.g.
# "load_tensors:  RPC[10.213.5.2:50052] model buffer size =   134.12 MiB"
RPC_BUFFER_RE = re.compile(
    r"load_tensors:\s+RPC\[(?P<endpoint>[^\]]+)\] model buffer size =\s+(?P<mib>[0-9.]+) MiB"
)


# --------------------------------------------------------------------- paths
def bin_path(name: str) -> pathlib.Path | None:
    """Path of an executable (``llama-server``, ``rpc-server``, ``llama-box``).

    The matching environment variable wins; otherwise ``.testbed/bin/<name>``.
    Returns None when nothing executable is found.
    """
    env = _ENV_FOR_BIN.get(name)
    candidates = []
    if env and os.environ.get(env):
        candidates.append(pathlib.Path(os.environ[env]))
    version = os.environ.get("OTEL_PLUGINS_LLAMA_VERSION")
    if version and name in ("llama-server", "rpc-server"):
        candidates.append(TESTBED_BIN / f"{name}-{version}")
    else:
        candidates.append(TESTBED_BIN / name)
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    return None


def versioned_bin(name: str, version: str) -> pathlib.Path | None:
    """``.testbed/bin/<name>-<version>`` (e.g. ``rpc-server-0.3.36``) if built, else None."""
    path = TESTBED_BIN / f"{name}-{version}"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def cache_root() -> pathlib.Path:
    env = os.environ.get("OTEL_PLUGINS_CACHE")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "otel-plugins"


def ensure_model(dim: int = 256, blocks: int = 2) -> pathlib.Path:
    """Generate (once) and return a random-weight llama GGUF (scripts/make_model.py).

    Needs the ``gguf`` and ``numpy`` packages in the running interpreter.
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_otel_bed_make_model", REPO / "scripts" / "make_model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.ensure_model(dim, blocks)


# --------------------------------------------------------------------- network
def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on *host* right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def http_request(url: str, method: str = "GET", body=None, timeout: float = 10.0,
                 headers: dict | None = None) -> tuple[int, bytes]:
    """(status, body) of an HTTP request; HTTP errors are returned, not raised."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_json(url: str, method: str = "GET", body=None, timeout: float = 30.0):
    """(status, parsed JSON or raw text) of an HTTP request."""
    status, raw = http_request(url, method, body, timeout)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def wait_http(url: str, timeout: float = 60.0, expect: int | Iterable[int] = 200,
              proc: subprocess.Popen | None = None, interval: float = 0.1) -> list[int]:
    """Poll *url* until it answers with a status in *expect*.

    Returns the list of statuses seen (connection errors are recorded as 0).
    Raises TimeoutError, or RuntimeError if *proc* exits meanwhile.
    """
    want = {expect} if isinstance(expect, int) else set(expect)
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} while waiting for {url}")
        try:
            status, _ = http_request(url, timeout=max(0.5, min(5.0, deadline - time.monotonic())))
        except (OSError, http.client.HTTPException):
            status = 0
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in want:
            return seen
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{url} did not answer {sorted(want)} within {timeout}s (seen {seen})")
        time.sleep(interval)


def wait_tcp(host: str, port: int, timeout: float = 30.0,
             proc: subprocess.Popen | None = None, netns: "NetNS | None" = None) -> None:
    """Wait until a TCP connect to host:port succeeds (from the host side)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} while waiting for {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError as e:
            last = e
            time.sleep(0.1)
    raise TimeoutError(f"{host}:{port} not reachable within {timeout}s ({last})")


# --------------------------------------------------------------------- processes
_STARTED: list[subprocess.Popen] = []


@atexit.register
def _stop_leftovers() -> None:
    """Safety net: stop every process started here that is still running."""
    for p in list(_STARTED):
        with contextlib.suppress(Exception):
            stop_process(p, timeout=3)


class Processes:
    """Context manager that stops every process added to it (reverse order).

    >>> with Processes() as procs:
    ...     rpc = procs.add(start_rpc_server(port))
    """

    def __init__(self, timeout: float = 10.0):
        self.timeout = timeout
        self.procs: list[subprocess.Popen] = []

    def add(self, proc: subprocess.Popen) -> subprocess.Popen:
        self.procs.append(proc)
        return proc

    def stop_all(self) -> dict:
        codes = {}
        while self.procs:
            p = self.procs.pop()
            codes[p.pid] = stop_process(p, self.timeout)
        return codes

    def __enter__(self) -> "Processes":
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()


def _log_dir() -> pathlib.Path:
    d = pathlib.Path(os.environ.get("OTEL_BED_LOG_DIR") or tempfile.gettempdir()) / "otel-bed-logs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def start_process(argv: Sequence[str], name: str, log_dir: str | os.PathLike | None = None,
                  netns: "NetNS | None" = None, env: dict | None = None,
                  line_buffered: bool = False) -> subprocess.Popen:
    """Start *argv* with stdout/stderr going to ``<log_dir>/<name>-<pid>.{out,err}``.

    The returned Popen has ``stdout_path`` / ``stderr_path`` attributes.
    With *netns*, the process runs inside that namespace (and is tracked by it).
    With *line_buffered*, runs under ``stdbuf -oL -eL`` (if available).
    """
    argv = [str(a) for a in argv]
    if line_buffered and shutil.which("stdbuf"):
        argv = ["stdbuf", "-oL", "-eL", *argv]
    d = pathlib.Path(log_dir) if log_dir else _log_dir()
    d.mkdir(parents=True, exist_ok=True)
    fd_out, out_path = tempfile.mkstemp(prefix=f"{name}-", suffix=".out", dir=d)
    err_path = out_path[:-4] + ".err"
    fd_err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        if netns is not None:
            proc = netns.run(argv, stdout=fd_out, stderr=fd_err, env=env)
        else:
            proc = subprocess.Popen(argv, stdout=fd_out, stderr=fd_err, stdin=subprocess.DEVNULL,
                                    env=env, start_new_session=True)
    finally:
        os.close(fd_out)
        os.close(fd_err)
    _STARTED.append(proc)
    proc.stdout_path = pathlib.Path(out_path)
    proc.stderr_path = pathlib.Path(err_path)
    proc.name = name
    return proc


def stop_process(proc: subprocess.Popen | None, timeout: float = 10.0,
                 sig: int = signal.SIGTERM) -> int | None:
    """Send *sig* (default SIGTERM), wait *timeout* s, then SIGKILL. Returns returncode."""
    if proc is None:
        return None
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=30)
    with contextlib.suppress(ValueError):
        _STARTED.remove(proc)
    return proc.returncode


def read_log(proc_or_path, stream: str = "both") -> str:
    """Text of a process log (``stream`` = "out", "err" or "both")."""
    if isinstance(proc_or_path, (str, os.PathLike)):
        paths = [pathlib.Path(proc_or_path)]
    else:
        paths = []
        if stream in ("out", "both"):
            paths.append(proc_or_path.stdout_path)
        if stream in ("err", "both"):
            paths.append(proc_or_path.stderr_path)
    chunks = []
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            chunks.append(p.read_text("utf-8", errors="replace"))
    return "".join(chunks)


def wait_log(proc: subprocess.Popen, pattern: str | re.Pattern, timeout: float = 60.0,
             stream: str = "both") -> re.Match:
    """Wait until *pattern* (regex) appears in the process log; returns the match."""
    rx = re.compile(pattern) if isinstance(pattern, str) else pattern
    deadline = time.monotonic() + timeout
    while True:
        m = rx.search(read_log(proc, stream))
        if m:
            return m
        if proc.poll() is not None:
            m = rx.search(read_log(proc, stream))
            if m:
                return m
            raise RuntimeError(f"{getattr(proc, 'name', 'process')} exited with {proc.returncode} "
                               f"before {rx.pattern!r} appeared")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{rx.pattern!r} not seen in {timeout}s")
        time.sleep(0.1)


# --------------------------------------------------------------------- llama
def llama_server_argv(model, port: int, rpc: str | Sequence[str] | None = None,
                      extra: Sequence[str] = (), host: str = "127.0.0.1",
                      binary: str | os.PathLike | None = None) -> list[str]:
    """argv for llama-server.

    With *rpc* ("host:port" or a list of them) the model layers are offloaded
    to the RPC server(s) (``--rpc`` plus ``-ngl 99``: without ``-ngl`` nothing
    is offloaded and no ``RPC[...] model buffer size`` line appears).
    """
    exe = binary or bin_path("llama-server") or "llama-server"
    argv = [str(exe), "-m", str(model), "--host", host, "--port", str(port),
            "--log-prefix", "--log-timestamps", "-c", "256", "-np", "1"]
    if rpc:
        endpoints = rpc if isinstance(rpc, str) else ",".join(rpc)
        argv += ["--rpc", endpoints, "-ngl", "99"]
    argv += [str(a) for a in extra]
    return argv


def start_llama_server(model, port: int, rpc=None, extra: Sequence[str] = (),
                       log_dir=None, netns: "NetNS | None" = None) -> subprocess.Popen:
    """Start llama-server (logs in ``proc.stderr_path``)."""
    return start_process(llama_server_argv(model, port, rpc, extra), "llama-server",
                         log_dir=log_dir, netns=netns)


def start_rpc_server(port: int, host: str = "127.0.0.1", netns: "NetNS | None" = None,
                     mem_mb: int | None = None, log_dir=None,
                     binary: str | os.PathLike | None = None) -> subprocess.Popen:
    """Start rpc-server on host:port (inside *netns* if given); line-buffered stdout."""
    exe = binary or bin_path("rpc-server") or "rpc-server"
    argv = [str(exe), "-H", host, "-p", str(port)]
    if mem_mb is not None:
        argv += ["-m", str(mem_mb)]
    return start_process(argv, "rpc-server", log_dir=log_dir, netns=netns, line_buffered=True)


# --------------------------------------------------------------------- netns
def _run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({r.returncode}): {r.stderr.strip()}")
    return r


class NetNS:
    """A network namespace joined to the host by a veth pair on a private /30.

    Addresses come from 10.213.0.0/16 (one /30 per instance; the host side is
    ``.1`` -> :attr:`host_ip`, the namespace side ``.2`` -> :attr:`ns_ip`).
    They are used only between the host and this namespace.

    ``rate`` (e.g. "200mbit") shapes both directions with tbf; :meth:`set_loss`
    adds random packet loss on both ends (cls_bpf + a dropping class: this
    kernel has no netem), :meth:`link_down` / :meth:`link_up`
    toggle the host-side veth.  Use as a context manager; cleanup kills every
    process started with :meth:`run` (and any other process left in the
    namespace) and deletes the namespace and the veth pair.
    """

    _counter = itertools.count()
    _lock = threading.Lock()
    _avail: tuple[bool, str] | None = None
    _loss_avail: tuple[bool, str] = (False, "not probed")

    def __init__(self, rate: str | None = None, burst: str = "32kbit", latency: str = "400ms",
                 prefix: str = "otelbed"):
        with NetNS._lock:
            n = next(NetNS._counter)
        tag = f"{os.getpid() % 100000}x{n}"
        self.name = f"{prefix}-{tag}"
        self.host_if = f"ob{tag}h"[:15]
        self.ns_if = f"ob{tag}n"[:15]
        self.rate = rate
        self.burst = burst
        self.latency = latency
        self.loss = 0.0
        self.host_ip = self.ns_ip = None
        self.procs: list[subprocess.Popen] = []
        self._created_ns = False
        self._created_link = False

    # ---- availability
    @classmethod
    def _probe(cls) -> None:
        if cls._avail is not None:
            return
        cls._loss_avail = (False, "network namespaces not usable")
        if not shutil.which("ip"):
            cls._avail = (False, "iproute2 'ip' not found")
            return
        if not shutil.which("tc"):
            cls._avail = (False, "'tc' not found")
            return
        probe = cls(rate="1mbit", prefix="otelprobe")
        try:
            probe.setup()
            cls._avail = (True, "")
            try:
                probe.set_loss(1)
                cls._loss_avail = (True, "")
            except Exception as e:  # noqa: BLE001
                cls._loss_avail = (False, f"packet loss emulation not usable: {e}")
        except Exception as e:  # noqa: BLE001 - any failure means "not available"
            cls._avail = (False, f"network namespaces not usable: {e}")
        finally:
            probe.cleanup()

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """(True, "") if namespaces, veth and tbf can be used here, else (False, reason)."""
        cls._probe()
        return cls._avail

    @classmethod
    def loss_available(cls) -> tuple[bool, str]:
        """(True, "") if :meth:`set_loss` works here, else (False, reason)."""
        cls._probe()
        return cls._loss_avail

    # ---- lifecycle
    def _pick_subnet(self) -> None:
        used = _run(["ip", "-o", "-4", "addr", "show"], check=False).stdout
        start = (os.getpid() * 131 + next(NetNS._counter) * 7) % 16384
        for i in range(16384):
            idx = (start + i) % 16384
            third, fourth = divmod(idx * 4, 256)
            net = f"10.213.{third}."
            if f"{net}{fourth + 1}/" in used or f"{net}{fourth + 2}/" in used:
                continue
            self.host_ip = f"{net}{fourth + 1}"
            self.ns_ip = f"{net}{fourth + 2}"
            return
        raise RuntimeError("no free /30 in 10.213.0.0/16")

    def setup(self) -> "NetNS":
        _run(["ip", "netns", "add", self.name])
        self._created_ns = True
        _run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if])
        self._created_link = True
        # one MSS per skb, so that shaping/loss act on real packets, not 64 KB GSO bursts
        for dev in (self.host_if, self.ns_if):
            _run(["ip", "link", "set", dev, "gso_max_segs", "1"], check=False)
        _run(["ip", "link", "set", self.ns_if, "netns", self.name])
        self._pick_subnet()
        _run(["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if])
        _run(["ip", "link", "set", self.host_if, "up"])
        self.exec(["ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if])
        self.exec(["ip", "link", "set", self.ns_if, "up"])
        self.exec(["ip", "link", "set", "lo", "up"])
        self._apply_qdiscs()
        return self

    def __enter__(self) -> "NetNS":
        try:
            return self.setup()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        """Kill processes in the namespace, delete it and the veth pair (idempotent)."""
        for p in self.procs:
            stop_process(p, timeout=5)
        self.procs.clear()
        if self._created_ns:
            pids = _run(["ip", "netns", "pids", self.name], check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
                    os.kill(int(pid), signal.SIGKILL)
            deadline = time.monotonic() + 5
            while pids and time.monotonic() < deadline:
                pids = _run(["ip", "netns", "pids", self.name], check=False).stdout.split()
                time.sleep(0.05)
        if self._created_link:
            _run(["ip", "link", "del", self.host_if], check=False)
            self._created_link = False
        if self._created_ns:
            _run(["ip", "netns", "del", self.name], check=False)
            self._created_ns = False

    # ---- commands
    def exec(self, argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess:
        """Run a short command inside the namespace and wait for it."""
        return _run(["ip", "netns", "exec", self.name, *argv], check=check)

    def run(self, argv: Sequence[str], **popen_kwargs) -> subprocess.Popen:
        """Start a long-running process inside the namespace (tracked for cleanup)."""
        popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
        popen_kwargs.setdefault("start_new_session", True)
        p = subprocess.Popen(["ip", "netns", "exec", self.name, *map(str, argv)], **popen_kwargs)
        self.procs.append(p)
        return p

    # ---- shaping
    def _tc(self, side: str, args: Sequence[str], check: bool = True):
        if side == "host":
            return _run(["tc", *args], check=check)
        return self.exec(["tc", *args], check=check)

    @staticmethod
    def _loss_bytecode(percent: float) -> str:
        """Classic-BPF program for cls_bpf: match (return -1) with probability *percent*.

        ``ld rand`` (SKF_AD_RANDOM) gives a random u32; values below the
        threshold are classified into the dropping class.
        """
        if percent >= 100:
            return "1,6 0 0 4294967295"
        thr = max(1, min(0xFFFFFFFF, int(round(percent / 100.0 * 2**32))))
        return f"4,32 0 0 4294963256,53 0 1 {thr},6 0 0 0,6 0 0 4294967295"

    def _apply_qdiscs(self) -> None:
        """(Re)install the qdiscs on both veth ends.

        * rate only: ``root tbf rate R burst B latency L`` (what the brief asks).
        * loss (with or without rate): ``root htb`` whose default class 1:1
          passes traffic (through a tbf leaf when a rate is set) and whose class
          1:2 has a ``pfifo limit 0`` leaf that drops everything; a cls_bpf
          classic-BPF filter sends a random *loss* % of packets to 1:2.
          (This kernel has no sch_netem nor gact, hence this construction.)
        """
        for side, dev in (("host", self.host_if), ("ns", self.ns_if)):
            self._tc(side, ["qdisc", "del", "dev", dev, "root"], check=False)
            if self.loss <= 0:
                if self.rate:
                    self._tc(side, ["qdisc", "add", "dev", dev, "root", "tbf", "rate", self.rate,
                                    "burst", self.burst, "latency", self.latency])
                continue
            self._tc(side, ["qdisc", "add", "dev", dev, "root", "handle", "1:", "htb",
                            "default", "1", "r2q", "100000"])
            for cls in ("1:1", "1:2"):
                self._tc(side, ["class", "add", "dev", dev, "parent", "1:", "classid", cls,
                                "htb", "rate", "100gbit", "quantum", "200000"])
            if self.rate:
                self._tc(side, ["qdisc", "add", "dev", dev, "parent", "1:1", "handle", "10:",
                                "tbf", "rate", self.rate, "burst", self.burst,
                                "latency", self.latency])
            self._tc(side, ["qdisc", "add", "dev", dev, "parent", "1:2", "handle", "20:",
                            "pfifo", "limit", "0"])
            self._tc(side, ["filter", "add", "dev", dev, "parent", "1:", "prio", "1",
                            "bpf", "bytecode", self._loss_bytecode(self.loss),
                            "classid", "1:2"])

    def set_rate(self, rate: str | None) -> None:
        """Change the rate limit (None removes it)."""
        self.rate = rate
        self._apply_qdiscs()

    def set_loss(self, percent: float) -> None:
        """Drop a random *percent* % of packets in both directions (0 removes it).

        100 is a full partition that keeps the link up (no route change).
        """
        self.loss = float(percent)
        self._apply_qdiscs()

    def qdisc_stats(self) -> str:
        """``tc -s qdisc show`` of the host-side veth (sent/dropped counters)."""
        return _run(["tc", "-s", "qdisc", "show", "dev", self.host_if], check=False).stdout

    def link_down(self) -> None:
        _run(["ip", "link", "set", self.host_if, "down"])

    def link_up(self) -> None:
        _run(["ip", "link", "set", self.host_if, "up"])
        # bringing the link down removed the connected route; it comes back with the address
        if self.host_ip and f"{self.host_ip}/30" not in _run(
                ["ip", "-o", "-4", "addr", "show", "dev", self.host_if], check=False).stdout:
            _run(["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if], check=False)

    def ss(self, args: Sequence[str] = ("-tin",)) -> str:
        """``ss`` output on the host for connections to this namespace."""
        return _run(["ss", *args, "dst", self.ns_ip], check=False).stdout

    def __repr__(self) -> str:
        return f"NetNS({self.name}, host={self.host_ip}, ns={self.ns_ip}, rate={self.rate})"
