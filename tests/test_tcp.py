"""`sources.tcp` against real sockets on 127.0.0.1: the kernel's counters, per source."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_plugins.sources import tcp

HAVE_SS = shutil.which("ss") is not None
HAVE_NETLINK = tcp._netlink_works()
SOURCES = [
    pytest.param("netlink", marks=pytest.mark.skipif(not HAVE_NETLINK, reason="NETLINK_SOCK_DIAG not usable")),
    pytest.param("ss", marks=pytest.mark.skipif(not HAVE_SS, reason="ss not installed")),
]


def wait_for(predicate, timeout=5.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


@pytest.fixture
def listener():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv
    srv.close()


@pytest.fixture
def pair(listener):
    """(client, server-side socket, endpoint); the server side reads nothing unless told."""
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    yield client, server, "127.0.0.1:%d" % listener.getsockname()[1]
    client.close()
    server.close()


def only(result, endpoint):
    conns = result.get(endpoint)
    assert conns is not None and len(conns) == 1, result
    return conns[0]


@pytest.mark.parametrize("source", SOURCES)
def test_finds_established_connection_with_acked_bytes(pair, source):
    """A client that sent N bytes to a server that does not read has N bytes acked (plus the SYN)."""
    client, _server, ep = pair
    n = 48 * 1024
    client.sendall(b"x" * n)
    info = wait_for(lambda: (c := only(tcp.tcp_connections(os.getpid(), [ep], source=source), ep)).bytes_acked > n and c)
    assert info.state == "ESTABLISHED"
    assert info.bytes_acked == n + 1  # tcpi_bytes_acked counts the SYN
    assert info.bytes_sent == n
    assert info.bytes_received == 0
    assert (info.remote_address, info.remote_port) == ("127.0.0.1", int(ep.rsplit(":", 1)[1]))
    assert (info.local_address, info.local_port) == client.getsockname()
    assert info.inode == os.fstat(client.fileno()).st_ino
    assert info.rtt_ms is not None and 0 < info.rtt_ms < 100
    assert info.lastack_ms is not None and info.lastack_ms < 10_000
    assert info.retrans == 0 and info.total_retrans == 0 and info.unacked == 0


@pytest.mark.parametrize("source", SOURCES)
def test_bytes_acked_grows_with_a_slow_reader(pair, source):
    """Against a reader that drains slowly, bytes_acked rises in steps up to the total sent."""
    client, server, ep = pair
    n = 6 * 1024 * 1024
    sender = threading.Thread(target=client.sendall, args=(b"y" * n,), daemon=True)
    sender.start()

    def drain():
        got = 0
        while got < n:
            chunk = server.recv(256 * 1024)
            if not chunk:
                return
            got += len(chunk)
            time.sleep(0.02)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    samples = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        samples.append(only(tcp.tcp_connections(os.getpid(), [ep], source=source), ep).bytes_acked)
        if samples[-1] == n + 1:
            break
        time.sleep(0.05)
    sender.join(5)
    reader.join(5)
    assert samples[-1] == n + 1
    assert samples == sorted(samples)
    assert any(0 < s < n for s in samples), "no intermediate value seen"
    assert len(set(samples)) >= 3


@pytest.mark.skipif(not (HAVE_SS and HAVE_NETLINK), reason="needs both netlink and ss")
def test_netlink_and_ss_agree(pair):
    """Both sources report the same socket with the same counters."""
    client, server, ep = pair
    client.sendall(b"z" * 10_000)
    server.sendall(b"w" * 3_000)
    wait_for(lambda: len(client.recv(3_000, socket.MSG_PEEK)) == 3_000)
    time.sleep(0.05)
    a = only(tcp.tcp_connections(os.getpid(), [ep], source="netlink"), ep)
    b = only(tcp.tcp_connections(os.getpid(), [ep], source="ss"), ep)
    for name in ("local_address", "local_port", "remote_address", "remote_port", "state", "inode",
                 "bytes_acked", "bytes_sent", "bytes_received", "retrans", "total_retrans", "unacked"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.bytes_received == 3_000 and a.bytes_acked == 10_001
    assert abs(a.rtt_ms - b.rtt_ms) < 5
    assert abs(a.lastack_ms - b.lastack_ms) < 1_000


@pytest.mark.parametrize("source", SOURCES)
def test_close_wait_after_the_server_closes(pair, source):
    """When the server closes its side, the client's socket is seen in CLOSE_WAIT."""
    client, server, ep = pair
    client.sendall(b"a" * 1000)
    assert server.recv(4096)
    server.close()
    info = wait_for(lambda: (c := only(tcp.tcp_connections(os.getpid(), [ep], source=source), ep)).state == "CLOSE_WAIT" and c)
    assert info and info.state == "CLOSE_WAIT"
    client.close()
    assert wait_for(lambda: tcp.tcp_connections(os.getpid(), [ep], source=source) == {ep: []})


@pytest.mark.parametrize("source", SOURCES)
def test_filters_by_pid(pair, source):
    """Sockets of other processes are not the pid's; pid None means any process."""
    _client, _server, ep = pair
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert tcp.tcp_connections(other.pid, [ep], source=source) == {ep: []}
    finally:
        other.kill()
        other.wait()
    assert len(tcp.tcp_connections(None, [ep], source=source)[ep]) == 1


@pytest.mark.parametrize("source", SOURCES)
def test_children_sockets_count_as_the_process(listener, source):
    """A child's connection is found under the parent's pid (via /proc/<pid>/task/*/children)."""
    port = listener.getsockname()[1]
    code = f"import socket,sys,time; s=socket.create_connection(('127.0.0.1',{port})); print('ok',flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ok"
        ep = f"127.0.0.1:{port}"
        conn = only(tcp.tcp_connections(os.getpid(), [ep], source=source), ep)
        assert conn.state == "ESTABLISHED"
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
@pytest.mark.parametrize("source", SOURCES)
def test_ipv6_endpoint(source):
    try:
        srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        srv.bind(("::1", 0))
    except OSError:
        pytest.skip("::1 not configured")
    srv.listen(1)
    port = srv.getsockname()[1]
    client = socket.create_connection(("::1", port))
    try:
        client.sendall(b"q" * 100)
        ep = f"[::1]:{port}"
        info = wait_for(lambda: (c := only(tcp.tcp_connections(os.getpid(), [ep], source=source), ep)).bytes_acked == 101 and c)
        assert info and info.remote_address == "::1" and info.state == "ESTABLISHED"
    finally:
        client.close()
        srv.close()


def test_several_endpoints_and_hostnames(pair, listener):
    """Each endpoint gets its own list; a hostname is resolved; an unknown endpoint gets []."""
    client, _server, ep = pair
    port = int(ep.rsplit(":", 1)[1])
    by_name = f"localhost:{port}"
    closed = "127.0.0.1:1"
    result = tcp.tcp_connections(os.getpid(), [ep, by_name, closed])
    assert set(result) == {ep, by_name, closed}
    assert result[ep] == result[by_name] and len(result[ep]) == 1
    assert result[closed] == []


def test_selected_source_is_reported():
    assert tcp.selected_source() in ("netlink", "ss")
    if HAVE_NETLINK:
        assert tcp.selected_source() == "netlink"


def test_errors_answer_empty(monkeypatch):
    """Malformed endpoints, a vanished pid or an unknown source: {} and no exception."""
    monkeypatch.setattr(tcp, "_resolved", {})
    monkeypatch.setattr(socket, "getaddrinfo", _no_dns)
    assert tcp.tcp_connections(os.getpid(), ["nonsense", "host:", ":80", "1.2.3.4:99999"]) == {}
    assert tcp.tcp_connections(2**22 + 12345, ["127.0.0.1:80"]) == {}
    assert tcp.tcp_connections(os.getpid(), []) == {}
    assert tcp.tcp_connections(os.getpid(), ["127.0.0.1:80"], source="bogus") == {}
    assert tcp.tcp_connections(os.getpid(), ["no-such-host.invalid:80"]) == {}


def test_parse_endpoint():
    assert tcp.parse_endpoint("10.0.0.1:50052") == ("10.0.0.1", 50052)
    assert tcp.parse_endpoint("[::1]:50052") == ("::1", 50052)
    assert tcp.parse_endpoint("node-1:1") == ("node-1", 1)
    assert tcp.parse_endpoint("10.0.0.1") is None
    assert tcp.parse_endpoint("[::1]") is None
    assert tcp.parse_endpoint("h:0") is None


SS_SAMPLE = """\
ESTAB 0      0      127.0.0.1:45566 127.0.0.1:49103 users:(("python",pid=7,fd=3)) uid:0 ino:58346 sk:1 <->
\t bbr wscale:5,10 rto:204 rtt:0.015/0.007 mss:65483 cwnd:17 bytes_sent:300000 bytes_retrans:10 bytes_acked:300001 segs_out:12 lastsnd:352 lastrcv:352 lastack:340 retrans:1/4 unacked:2 backoff:1 minrtt:0.004
CLOSE-WAIT 1      0      [::ffff:10.0.0.2]:40000 [::ffff:10.0.0.9]:50052 ino:77
\t cubic rtt:1.5/0.7 bytes_received:12
TIME-WAIT 0      0      127.0.0.1:5 127.0.0.1:6 timer:(timewait,35sec,0) ino:0 sk:2
"""


def test_parse_ss_sample():
    a, b, c = tcp.parse_ss(SS_SAMPLE)
    assert a == tcp.TcpInfo("127.0.0.1", 45566, "127.0.0.1", 49103, "ESTABLISHED", bytes_acked=300001,
                            bytes_sent=300000, retrans=1, total_retrans=4, rtt_ms=0.015, lastack_ms=340,
                            lastsnd_ms=352, inode=58346, unacked=2, backoff=1)
    assert (b.state, b.local_address, b.remote_address, b.bytes_received, b.lastack_ms) == (
        "CLOSE_WAIT", "10.0.0.2", "10.0.0.9", 12, 0)
    assert (c.state, c.inode, c.rtt_ms, c.lastack_ms) == ("TIME_WAIT", 0, None, None)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_ss_never_raises(text):
    assert isinstance(tcp.parse_ss(text), list)


def _no_dns(*args, **kwargs):
    raise socket.gaierror(socket.EAI_NONAME, "no DNS in tests")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=4))
def test_tcp_connections_never_raises(endpoints):
    with mock.patch.object(socket, "getaddrinfo", _no_dns), mock.patch.object(tcp, "_resolved", {}):
        assert isinstance(tcp.tcp_connections(None, endpoints), dict)


def test_cheap_enough_to_poll(pair):
    """A call costs far less than the 250 ms poll interval."""
    _client, _server, ep = pair
    tcp.tcp_connections(os.getpid(), [ep])
    start = time.perf_counter()
    for _ in range(20):
        tcp.tcp_connections(os.getpid(), [ep])
    per_call = (time.perf_counter() - start) / 20
    assert per_call < 0.05, per_call
