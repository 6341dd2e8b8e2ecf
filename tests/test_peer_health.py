"""`peer_health`: the RPC peer rules on a fake clock, and the watcher against real sockets."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from otel_plugins.peer_health import (
    IN_USE_BYTES,
    PeerHealthMonitor,
    PeerWatcher,
    connect_error,
    connect_probe,
)
from otel_plugins.policy.config import RpcPeerConfig
from otel_plugins.sources.tcp import TcpInfo

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bed  # noqa: E402

EP = "10.0.0.5:50052"
CFG = RpcPeerConfig(lost_after_s=3.0, degraded_retrans=2, rtt_jump_factor=4.0, connect_interval_s=1.0, poll_interval_s=0.25)


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def conn(state="ESTABLISHED", inode=1, **kw) -> TcpInfo:
    values = {"bytes_acked": 10, "rtt_ms": 0.5, "lastack_ms": 10, "lastsnd_ms": 10}
    values.update(kw)
    return TcpInfo("10.0.0.1", 40000 + inode, "10.0.0.5", 50052, state, inode=inode, **values)


def monitor(**overrides):
    clock = FakeClock()
    cfg = RpcPeerConfig(**{**CFG.__dict__, **overrides})
    return PeerHealthMonitor(cfg, clock), clock


def in_use(m, clock, **kw):
    """Observe a connection long enough for it to count as in use."""
    m.observe(EP, [conn(**kw)])
    clock.advance(3.0)
    assert m.observe(EP, [conn(**kw)]) is None
    assert m.health(EP).state == "up"


# ---------------------------------------------------------------- lost

def test_starts_up():
    m, _ = monitor()
    assert m.health(EP).state == "up" and m.health(EP).reason is None


def test_in_use_connection_gone_is_lost():
    m, clock = monitor()
    in_use(m, clock)
    clock.advance(0.25)
    t = m.observe(EP, [])
    assert t is not None and t.previous == "up"
    assert (t.health.state, t.health.reason) == ("lost", "connection closed")


def test_short_lived_connection_closing_is_not_a_loss():
    """llama.cpp queries device memory on a short connection before the load."""
    m, clock = monitor()
    m.observe(EP, [conn()])
    clock.advance(0.25)
    assert m.observe(EP, []) is None
    assert m.health(EP).state == "up"


def test_a_connection_that_carried_a_mebibyte_is_in_use_at_once():
    m, clock = monitor()
    m.observe(EP, [conn(bytes_acked=IN_USE_BYTES)])
    clock.advance(0.25)
    assert m.observe(EP, []).health.state == "lost"


@pytest.mark.parametrize("state", ["CLOSE_WAIT", "LAST_ACK", "CLOSING", "TIME_WAIT", "CLOSED"])
def test_peer_closed_states_are_lost(state):
    m, clock = monitor()
    m.observe(EP, [conn()])
    clock.advance(0.25)
    t = m.observe(EP, [conn(state=state, lastack_ms=400)])
    assert t.health.state == "lost"
    assert t.health.reason == f"peer closed the connection ({state})"
    assert t.health.since_last_ack_s == pytest.approx(0.4)


def test_an_established_connection_beside_a_closed_one_is_fine():
    """A new session beside the old one left in CLOSE_WAIT is not a loss."""
    m, clock = monitor()
    in_use(m, clock)
    assert m.observe(EP, [conn(state="CLOSE_WAIT"), conn(inode=2)]) is None


def test_stall_with_growing_retransmissions_is_lost():
    m, clock = monitor()
    in_use(m, clock, total_retrans=1)
    for i in range(1, 12):  # acks stop at t0; retransmissions go on
        clock.advance(0.25)
        t = m.observe(EP, [conn(unacked=10, retrans=1, total_retrans=1 + i // 3, lastack_ms=250 * i, backoff=i // 3)])
        assert t is None or t.health.state == "degraded"
    clock.advance(0.25)
    t = m.observe(EP, [conn(unacked=10, retrans=1, total_retrans=6, lastack_ms=3250)])
    assert t.health.state == "lost"
    assert t.health.reason == "no ack for 3.2s, 5 retransmissions"
    assert t.health.since_last_ack_s == pytest.approx(3.25)


def test_idle_connection_without_acks_is_fine():
    """Nothing outstanding: a long time since the last ack is just idleness."""
    m, clock = monitor()
    in_use(m, clock)
    clock.advance(60)
    assert m.observe(EP, [conn(lastack_ms=60_000, unacked=0)]) is None
    assert m.health(EP).since_last_ack_s == 60.0


def test_stall_without_retransmissions_is_degraded():
    m, clock = monitor()
    in_use(m, clock)
    clock.advance(4)
    t = m.observe(EP, [conn(unacked=3, lastack_ms=4000)])
    assert (t.health.state, t.health.reason) == ("degraded", "no ack for 4.0s with data outstanding")


def test_failed_probe_without_connection_is_lost_and_a_good_probe_recovers():
    """Before the instance connects (or without the kernel's view), the probe decides."""
    m, clock = monitor()
    assert m.probe_due(EP)
    t = m.observe(EP, [], probe=False, probe_error="refused")
    assert (t.health.state, t.health.reason) == ("lost", "connect probe failed: refused")
    clock.advance(1)
    t = m.observe(EP, None, probe=True)
    assert (t.previous, t.health.state) == ("lost", "up")


def test_failed_probe_while_the_connection_works_changes_nothing():
    """Documented choice: the working connection is the better evidence (single-client servers
    leave probes unanswered while they serve), and such probes are not even sent."""
    m, clock = monitor()
    in_use(m, clock)
    assert not m.probe_due(EP)
    clock.advance(1)
    assert m.observe(EP, [conn()], probe=False, probe_error="timed out") is None
    assert m.observe(EP, [conn()], probe=False, probe_error="refused") is None
    assert m.health(EP).state == "up"


def test_recovery_needs_a_session_acknowledged_after_the_loss():
    m, clock = monitor()
    in_use(m, clock)
    clock.advance(0.25)
    m.observe(EP, [conn(state="CLOSE_WAIT")], probe=True)  # the probe raced the close: not after the loss
    assert m.health(EP).state == "lost"
    clock.advance(1)
    assert m.probe_due(EP)
    assert m.observe(EP, [], probe=True) is None  # server answers, but the instance has no session
    clock.advance(0.25)
    t = m.observe(EP, [conn(inode=2, lastack_ms=100)])  # a new session: its handshake was acknowledged
    assert (t.previous, t.health.state, t.health.reason) == ("lost", "up", "recovered: the connection is acknowledged again")


def test_an_acknowledged_session_recovers_while_probes_time_out():
    """A single-client rpc-server leaves probes unanswered while it serves the instance (its
    listen backlog fills with them): the instance's own session is the evidence, not the probe."""
    m, clock = monitor()
    in_use(m, clock)
    clock.advance(0.25)
    m.observe(EP, [], probe=False, probe_error="refused")
    assert m.health(EP).reason == "connection closed"
    clock.advance(1)
    assert m.probe_due(EP)
    t = m.observe(EP, [conn(inode=2, lastack_ms=50)], probe=False, probe_error="timed out")
    assert (t.previous, t.health.state) == ("lost", "up")
    assert not m.probe_due(EP)  # an established session: probes stop


def test_a_stall_without_retransmissions_is_not_lost_when_a_probe_times_out():
    """The bed's case (tests/test_peer_loss_bed.py): after a cut heals, a busy 2-core machine
    leaves the session unacknowledged for a while; a probe then would time out against the
    single-client server, so none is sent, and a probe result changes nothing."""
    m, clock = monitor()
    in_use(m, clock)
    clock.advance(4)
    assert not m.probe_due(EP)
    t = m.observe(EP, [conn(unacked=3, lastack_ms=4000)], probe=False, probe_error="timed out")
    assert (t.health.state, t.health.reason) == ("degraded", "no ack for 4.0s with data outstanding")
    assert not m.probe_due(EP)


def test_stalled_connection_does_not_recover():
    """Only an ACK that arrived after the loss brings the peer back, not a probe, nor a session
    with nothing outstanding whose last ACK is older than the loss."""
    m, clock = monitor()
    in_use(m, clock, total_retrans=0)
    clock.advance(4)
    m.observe(EP, [conn(unacked=5, retrans=1, total_retrans=4, lastack_ms=4000)])
    assert m.health(EP).state == "lost"
    clock.advance(1)
    assert m.observe(EP, [conn(unacked=5, retrans=1, total_retrans=5, lastack_ms=5000)], probe=True) is None
    clock.advance(1)
    assert m.observe(EP, [conn(unacked=0, retrans=0, total_retrans=5, lastack_ms=6000)]) is None
    clock.advance(1)
    t = m.observe(EP, [conn(unacked=0, retrans=0, total_retrans=5, lastack_ms=20)])
    assert t.health.state == "up"


def test_unknown_connections_are_not_gone():
    """{} from the kernel view means unknown: no loss is inferred, the probe speaks."""
    m, clock = monitor()
    in_use(m, clock)
    clock.advance(0.25)
    assert m.observe(EP, None) is None
    assert m.probe_due(EP)


def test_probes_are_rate_limited():
    m, clock = monitor(connect_interval_s=1.0)
    assert m.probe_due(EP)
    m.observe(EP, [], probe=True)
    clock.advance(0.5)
    assert not m.probe_due(EP)
    clock.advance(0.5)
    assert m.probe_due(EP)


# ---------------------------------------------------------------- degraded

def test_retransmission_burst_is_degraded_then_recovers_after_a_clean_period():
    m, clock = monitor()
    in_use(m, clock, total_retrans=3)
    clock.advance(0.25)
    t = m.observe(EP, [conn(total_retrans=5)])
    assert (t.previous, t.health.state, t.health.reason) == ("up", "degraded", "2 retransmissions since the last poll")
    for _ in range(11):
        clock.advance(0.25)
        assert m.observe(EP, [conn(total_retrans=6)]) is None  # one a poll: below the threshold
    clock.advance(0.25)
    t = m.observe(EP, [conn(total_retrans=6)])
    assert (t.previous, t.health.state) == ("degraded", "up")
    assert t.health.reason == "recovered: connection clean for 3s"


def test_one_retransmission_a_poll_is_fine():
    m, clock = monitor()
    in_use(m, clock)
    for i in range(1, 10):
        clock.advance(0.25)
        assert m.observe(EP, [conn(total_retrans=i)]) is None


@pytest.mark.parametrize("rtt, degraded", [(39.0, False), (41.0, True)])
def test_rtt_jump_over_baseline_is_degraded(rtt, degraded):
    m, clock = monitor()
    for _ in range(10):
        m.observe(EP, [conn(rtt_ms=10.0)])
        clock.advance(0.25)
    t = m.observe(EP, [conn(rtt_ms=rtt)])
    if not degraded:
        assert t is None
        return
    assert t.health.state == "degraded"
    assert t.health.reason == "rtt 41.0 ms, 4.1x its baseline 10.0 ms"


def test_microsecond_rtt_jitter_is_not_a_jump():
    """Loopback and LAN RTTs of a few microseconds may jump tenfold: under the floor that is noise."""
    m, clock = monitor()
    for rtt in (0.01, 0.012, 0.3, 2.0, 0.05, 4.9):
        clock.advance(0.25)
        assert m.observe(EP, [conn(rtt_ms=rtt)]) is None


def test_degraded_does_not_override_lost():
    m, clock = monitor()
    in_use(m, clock)
    m.observe(EP, [conn(state="CLOSE_WAIT")])
    clock.advance(0.25)
    assert m.observe(EP, [conn(state="CLOSE_WAIT", total_retrans=10)]) is None
    assert m.health(EP).state == "lost"


def test_new_connection_resets_baselines():
    """Counters of a new primary connection are not compared with the old one's."""
    m, clock = monitor()
    in_use(m, clock, total_retrans=50)
    clock.advance(0.25)
    assert m.observe(EP, [conn(inode=2, total_retrans=0)]) is None
    clock.advance(0.25)
    assert m.observe(EP, [conn(inode=2, total_retrans=1)]) is None


# ---------------------------------------------------------------- watcher with fakes

def test_watcher_poll_once_with_fakes():
    clock = FakeClock()
    changes = []
    polls = []
    conns = {EP: [conn()]}
    w = PeerWatcher(
        4242, [EP], lambda h, prev: changes.append((h.state, prev)), CFG,
        on_poll=polls.append, connections=lambda pid, eps: dict(conns), probe=lambda ep, timeout: "refused", clock=clock,
    )
    assert w.poll_once() == []
    clock.advance(3)
    w.poll_once()
    conns[EP] = []
    clock.advance(0.25)
    (t,) = w.poll_once()
    assert t.health.state == "lost" and changes == [("lost", "up")]
    assert len(polls) == 3
    assert w.peers()[0].state == "lost"


def test_watcher_never_raises():
    def bad_source(pid, eps):
        raise RuntimeError("boom")

    def bad_callback(health, previous):
        raise RuntimeError("boom")

    def bad_probe(ep, timeout):
        raise RuntimeError("boom")

    w = PeerWatcher(1, [EP], bad_callback, CFG, on_poll=bad_callback, connections=bad_source, probe=bad_probe)
    assert w.poll_once() == []
    w2 = PeerWatcher(1, [EP], bad_callback, CFG, connections=lambda p, e: {EP: [conn(state="CLOSE_WAIT")]},
                     probe=lambda ep, timeout: None)
    assert len(w2.poll_once()) == 1  # the transition happened; the callback's failure was swallowed


def test_watcher_stops_promptly():
    cfg = RpcPeerConfig(poll_interval_s=5.0)
    w = PeerWatcher(os.getpid(), ["127.0.0.1:1"], lambda h, p: None, cfg).start()
    time.sleep(0.1)
    start = time.monotonic()
    w.stop()
    assert time.monotonic() - start < 1.5
    assert not w._thread.is_alive()
    w.stop()  # twice is fine


# ---------------------------------------------------------------- real sockets

SERVER = r"""
import socket, sys, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(16)
print(srv.getsockname()[1], flush=True)
def drain(c):
    while c.recv(1 << 16):
        pass
while True:
    c, _ = srv.accept()
    threading.Thread(target=drain, args=(c,), daemon=True).start()
"""


def start_server(host="127.0.0.1", port=0, runner=None):
    argv = [sys.executable, "-c", SERVER, host, str(port)]
    proc = (runner or subprocess.Popen)(argv, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line.isdigit(), line
    return proc, int(line)


class Client:
    """The instance: one session that keeps sending a little, like an RPC client."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._send, daemon=True)
        self.thread.start()

    def _send(self) -> None:
        try:
            self.sock.sendall(b"w" * (IN_USE_BYTES + 1))  # the weights: in use at once
            while not self.stop.wait(0.02):
                self.sock.sendall(b"t" * 4096)
        except OSError:
            pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(3)
        self.sock.close()


def wait_state(changes, state, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for health, previous, at in list(changes):
            if health.state == state:
                return health, previous, at
        time.sleep(0.01)
    raise AssertionError(f"no {state!r} within {timeout}s: {changes}")


def settle(watcher, changes, cfg):
    """Let the session run until the peer is up (a retransmission burst at the start of a bulk
    send may rightly mark it degraded for a moment on a busy machine), then forget the history."""
    time.sleep(0.5)
    deadline = time.monotonic() + cfg.lost_after_s + 5
    while time.monotonic() < deadline and [p.state for p in watcher.peers()] != ["up"]:
        time.sleep(0.05)
    assert [p.state for p in watcher.peers()] == ["up"], changes
    changes.clear()


def test_real_server_killed_then_restarted():
    """Killing the server is reported lost within lost_after_s + one poll; a new server on the
    same port and a new session bring the peer back up."""
    cfg = RpcPeerConfig(lost_after_s=1.0, connect_interval_s=0.25, poll_interval_s=0.1)
    proc, port = start_server()
    ep = f"127.0.0.1:{port}"
    client = Client("127.0.0.1", port)
    changes = []
    watcher = PeerWatcher(os.getpid(), [ep], lambda h, prev: changes.append((h, prev, time.monotonic())), cfg)
    proc2 = None
    try:
        watcher.start()
        settle(watcher, changes, cfg)
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        health, previous, at = wait_state(changes, "lost", cfg.lost_after_s + 3)
        assert previous in ("up", "degraded")
        assert at - killed_at <= cfg.lost_after_s + cfg.poll_interval_s, (at - killed_at, health)
        assert health.reason in ("connection closed", "peer closed the connection (CLOSE_WAIT)") or health.reason.startswith(
            "connect probe failed"), health.reason
        client.close()
        time.sleep(0.3)
        assert [h.state for h, _, _ in changes] == ["lost"]

        proc2, port2 = start_server(port=port)
        assert port2 == port
        client = Client("127.0.0.1", port)
        health, previous, _ = wait_state(changes, "up", 3)
        assert previous == "lost" and health.reason.startswith("recovered")
    finally:
        watcher.stop()
        client.close()
        for p in (proc, proc2):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def test_real_probe_only_no_server():
    """Nobody listening and no session: the probe declares the peer lost (refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        assert connect_error(f"127.0.0.1:{port}", 0.5) == "refused"
        assert connect_probe(f"127.0.0.1:{port}", 0.5) is False
        changes = []
        w = PeerWatcher(os.getpid(), [f"127.0.0.1:{port}"], lambda h, prev: changes.append(h), RpcPeerConfig())
        (t,) = w.poll_once()
        assert (t.health.state, t.health.reason) == ("lost", "connect probe failed: refused")


def test_connect_probe_success_and_unresolvable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        assert connect_probe("127.0.0.1:%d" % s.getsockname()[1], 0.5)
    assert connect_error("garbage", 0.1) == "unresolvable"


def _netns_usable() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "needs root for network namespaces"
    ok, why = bed.NetNS.available()
    if not ok:
        return False, why
    return bed.NetNS.loss_available()


def drop_from_namespace(ns, drop: bool) -> None:
    """Drop every packet the namespace sends (the server's ACKs and SYN-ACKs), nothing else.

    A drop on the host's own egress would be a *local* drop, which TCP sees and retries without
    counting a retransmission; dropping on the far side is what a partition looks like.
    The construction is bed.NetNS's (this kernel has neither netem nor gact)."""
    dev = ns.ns_if
    ns.exec(["tc", "qdisc", "del", "dev", dev, "root"], check=False)
    if not drop:
        return
    ns.exec(["tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1", "r2q", "100000"])
    for cls in ("1:1", "1:2"):
        ns.exec(["tc", "class", "add", "dev", dev, "parent", "1:", "classid", cls, "htb", "rate", "100gbit", "quantum", "200000"])
    ns.exec(["tc", "qdisc", "add", "dev", dev, "parent", "1:2", "handle", "20:", "pfifo", "limit", "0"])
    ns.exec(["tc", "filter", "add", "dev", dev, "parent", "1:", "prio", "1", "bpf", "bytecode", "1,6 0 0 4294967295", "classid", "1:2"])


def test_real_partition_stalls_then_heals():
    """A partition (everything the server's namespace sends is dropped) while data flows:
    retransmissions without acks make the peer lost within lost_after_s + one poll; healing
    the link brings it back up."""
    ok, why = _netns_usable()
    if not ok:
        pytest.skip(why)
    cfg = RpcPeerConfig(lost_after_s=1.0, connect_interval_s=0.25, poll_interval_s=0.1)
    with bed.NetNS() as ns:
        proc, port = start_server(ns.ns_ip, 50052, runner=ns.run)
        ep = f"{ns.ns_ip}:{port}"
        client = Client(ns.ns_ip, port)
        changes = []
        watcher = PeerWatcher(os.getpid(), [ep], lambda h, prev: changes.append((h, prev, time.monotonic())), cfg)
        try:
            watcher.start()
            settle(watcher, changes, cfg)
            cut_at = time.monotonic()
            drop_from_namespace(ns, True)
            health, previous, at = wait_state(changes, "lost", cfg.lost_after_s + 5)
            assert health.reason.startswith("no ack for"), health.reason
            assert at - cut_at <= cfg.lost_after_s + cfg.poll_interval_s + 0.3, at - cut_at
            assert health.since_last_ack_s >= cfg.lost_after_s
            drop_from_namespace(ns, False)
            health, previous, _ = wait_state(changes, "up", 15)
            assert previous == "lost"
        finally:
            watcher.stop()
            client.close()


@pytest.mark.bed
def test_bed_rpc_server_killed_after_the_load():
    """llama-server --rpc with a real rpc-server: up during and after the load; killing the
    rpc-server is reported lost within lost_after_s + one poll."""
    if bed.bin_path("llama-server") is None or bed.bin_path("rpc-server") is None:
        pytest.skip("llama.cpp test bed not built (scripts/build_llama.sh)")
    pytest.importorskip("gguf")
    model = bed.ensure_model(256, 2)
    cfg = RpcPeerConfig(lost_after_s=1.0, connect_interval_s=0.25, poll_interval_s=0.1)
    with bed.Processes() as procs:
        port = bed.free_port()
        rpc = procs.add(bed.start_rpc_server(port))
        bed.wait_tcp("127.0.0.1", port)
        ep = f"127.0.0.1:{port}"
        llama = procs.add(bed.start_llama_server(model, bed.free_port(), rpc=ep))
        changes = []
        with PeerWatcher(llama.pid, [ep], lambda h, prev: changes.append((h, prev, time.monotonic())), cfg) as watcher:
            bed.wait_log(llama, r"main loop|model loaded", timeout=120)
            time.sleep(cfg.lost_after_s + 0.5)
            assert [p.state for p in watcher.peers()] == ["up"], changes
            changes.clear()
            killed_at = time.monotonic()
            rpc.kill()
            health, previous, at = wait_state(changes, "lost", cfg.lost_after_s + 3)
            assert at - killed_at <= cfg.lost_after_s + cfg.poll_interval_s, (at - killed_at, health)
            assert health.reason in ("peer closed the connection (CLOSE_WAIT)", "connection closed"), health.reason
