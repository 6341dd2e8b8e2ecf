"""`progress`: sources combined per buffer, rates, ETAs and the event throttle, on a fake clock."""

from __future__ import annotations

import contextlib
import pathlib
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_plugins.progress import LoadProgress, ProgressThrottle, buffer_endpoint
from otel_plugins.sources.tcp import tcp_connections

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bed  # noqa: E402

MiB = 1024 * 1024
EP = "10.0.0.5:50052"


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def by_name(progress: LoadProgress):
    return {e.endpoint: e for e in progress.snapshot()}


def test_buffer_names():
    assert buffer_endpoint("RPC[172.17.0.3:50760]") == "172.17.0.3:50760"
    assert buffer_endpoint("RPC0[10.0.0.1:50052]") == "10.0.0.1:50052"
    assert buffer_endpoint("RPC[[::1]:50052]") == "[::1]:50052"
    assert buffer_endpoint("  CUDA0 ") == "CUDA0"
    assert buffer_endpoint("Metal") == "Metal"


def test_buffer_only():
    """Before any progress the size is known, nothing is done, and the load has no ratio."""
    clock = FakeClock()
    p = LoadProgress(clock)
    p.buffer("RPC[10.0.0.5:50052]", 100 * MiB)
    (e,) = p.snapshot()
    assert (e.endpoint, e.bytes_total, e.bytes_done, e.source, e.rate_bps, e.eta_s) == (EP, 100 * MiB, 0, "buffer", None, None)
    assert p.overall() == (None, None, "buffer")


def test_tcp_subtracts_bytes_acked_before_the_buffer_line():
    """The handshake and allocation bytes acked before the buffer line are not weights."""
    clock = FakeClock()
    p = LoadProgress(clock)
    p.tcp_sample(EP, 1)  # SYN
    clock.advance(0.25)
    p.tcp_sample(EP, 1_500)  # hello, get_alloc_size, alloc_buffer
    assert p.snapshot() == ()  # no buffer line yet
    p.buffer(f"RPC[{EP}]", 10 * MiB)
    clock.advance(0.25)
    p.tcp_sample(EP, 1_500 + 2 * MiB)
    e = by_name(p)[EP]
    assert (e.bytes_done, e.source) == (2 * MiB, "tcp")
    assert e.ratio == pytest.approx(0.2)


def test_tcp_caps_at_total():
    """Protocol overhead and post-load traffic never push done past the buffer size."""
    clock = FakeClock()
    p = LoadProgress(clock)
    p.buffer(EP, 1 * MiB)
    clock.advance(1)
    p.tcp_sample(EP, 3 * MiB)
    e = by_name(p)[EP]
    assert e.bytes_done == MiB and e.ratio == 1.0 and e.eta_s == 0.0
    assert p.overall()[0] == 1.0


def test_constant_rate_gives_exact_rate_and_eta():
    clock = FakeClock()
    p = LoadProgress(clock)
    p.buffer(EP, 100 * MiB)
    rate = 10 * MiB
    for i in range(1, 21):
        clock.advance(0.25)
        p.tcp_sample(EP, int(i * 0.25 * rate))
    e = by_name(p)[EP]
    assert e.bytes_done == 50 * MiB
    assert e.rate_bps == pytest.approx(rate)
    assert e.eta_s == pytest.approx(5.0)
    ratio, eta, source = p.overall()
    assert (ratio, source) == (pytest.approx(0.5), "tcp")
    assert eta == pytest.approx(5.0)


def test_rate_is_smoothed_and_decays_when_stalled():
    """A stall lowers the rate gradually (EWMA) and the ETA grows; it is not an instant zero."""
    clock = FakeClock()
    p = LoadProgress(clock, rate_tau_s=3.0)
    p.buffer(EP, 100 * MiB)
    done = 0
    for _ in range(40):
        clock.advance(0.25)
        done += 2 * MiB
        p.tcp_sample(EP, done)
    fast = by_name(p)[EP]
    assert fast.rate_bps == pytest.approx(8 * MiB)
    clock.advance(0.25)
    p.tcp_sample(EP, done)
    first = by_name(p)[EP]
    assert 0.85 * fast.rate_bps < first.rate_bps < fast.rate_bps
    for _ in range(40):
        clock.advance(0.25)
        p.tcp_sample(EP, done)
    stalled = by_name(p)[EP]
    assert stalled.rate_bps < 0.05 * fast.rate_bps
    assert stalled.eta_s > 10 * fast.eta_s


def test_rate_starts_without_bias():
    """Until rate_tau_s of samples exist the rate is the plain average since the buffer line:
    the first ETA is already sensible, not inflated by an EWMA that starts from nothing."""
    clock = FakeClock()
    p = LoadProgress(clock, rate_tau_s=3.0)
    p.buffer(EP, 100 * MiB)
    clock.advance(0.5)
    p.tcp_sample(EP, 2 * MiB)
    assert by_name(p)[EP].rate_bps == pytest.approx(4 * MiB)
    clock.advance(0.5)
    p.tcp_sample(EP, 8 * MiB)
    assert by_name(p)[EP].rate_bps == pytest.approx(8 * MiB)  # 8 MiB in 1 s
    assert by_name(p)[EP].eta_s == pytest.approx(92 / 8)
    assert p.overall()[1] == pytest.approx(92 / 8)


def test_feeding_from_two_threads():
    """A poller thread (tcp) and a log reader (percent, dots, snapshots) may share one LoadProgress."""
    import threading

    p = LoadProgress()
    p.buffer(EP, 10**12)
    p.buffer("CUDA0", 10**9)

    def tcp():
        for i in range(20_000):
            p.tcp_sample(EP, i * 1000)

    def log():
        for i in range(20_000):
            p.percent(i / 200)
            p.snapshot()
            p.overall()

    threads = [threading.Thread(target=tcp), threading.Thread(target=log)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert by_name(p)[EP].bytes_done == 19_999_000
    assert by_name(p)["CUDA0"].bytes_done == pytest.approx(10**9 * 99.995 / 100)


def test_irregular_intervals_weigh_by_time():
    """One 2 s gap moves the EWMA as much as eight 0.25 s samples at the same rate."""
    a_clock, b_clock = FakeClock(), FakeClock()
    a, b = LoadProgress(a_clock), LoadProgress(b_clock)
    for p, clock in ((a, a_clock), (b, b_clock)):
        p.buffer(EP, 1000 * MiB)
        clock.advance(1)
        p.tcp_sample(EP, 10 * MiB)  # 10 MiB/s
    a_clock.advance(2)
    a.tcp_sample(EP, 12 * MiB)  # 1 MiB/s for 2 s
    for i in range(1, 9):
        b_clock.advance(0.25)
        b.tcp_sample(EP, 10 * MiB + i * MiB // 4)
    assert by_name(a)[EP].rate_bps == pytest.approx(by_name(b)[EP].rate_bps, rel=1e-6)


def test_new_connection_keeps_earlier_bytes():
    """A sample below the previous one is a fresh connection; its bytes add to the earlier ones."""
    clock = FakeClock()
    p = LoadProgress(clock)
    p.buffer(EP, 100 * MiB)
    clock.advance(1)
    p.tcp_sample(EP, 30 * MiB)
    clock.advance(1)
    p.tcp_sample(EP, 5 * MiB)
    assert by_name(p)[EP].bytes_done == 35 * MiB


def test_percent_fills_buffers_without_tcp():
    """llama-box percent lines apply to every buffer without tcp; tcp wins where it exists."""
    clock = FakeClock()
    p = LoadProgress(clock)
    p.buffer(f"RPC[{EP}]", 80 * MiB)
    p.buffer("CUDA0", 20 * MiB)
    clock.advance(1)
    p.tcp_sample(EP, 40 * MiB)
    p.percent(25)
    e = by_name(p)
    assert (e[EP].source, e[EP].bytes_done) == ("tcp", 40 * MiB)
    assert (e["CUDA0"].source, e["CUDA0"].bytes_done) == ("percent", 5 * MiB)
    ratio, _eta, source = p.overall()
    assert ratio == pytest.approx(45 / 100) and source == "percent"


def test_percent_only_without_buffer_lines():
    clock = FakeClock()
    p = LoadProgress(clock)
    p.percent(10)
    clock.advance(2)
    p.percent(30)  # 10 %/s
    ratio, eta, source = p.overall()
    assert (ratio, source) == (pytest.approx(0.3), "percent")
    assert eta == pytest.approx(7.0)
    p.percent(20)  # never backwards
    assert p.overall()[0] == pytest.approx(0.3)


def test_percent_rate_in_bytes():
    clock = FakeClock()
    p = LoadProgress(clock)
    p.buffer("CUDA0", 100 * MiB)
    clock.advance(1)
    p.percent(10)
    clock.advance(1)
    p.percent(20)
    e = by_name(p)["CUDA0"]
    assert e.rate_bps == pytest.approx(10 * MiB)
    assert e.eta_s == pytest.approx(8.0)


def test_dots_are_a_heartbeat_never_a_ratio():
    """However many dots arrive, no ratio, rate or ETA comes from them."""
    clock = FakeClock()
    p = LoadProgress(clock)
    p.buffer(f"RPC[{EP}]", 100 * MiB)
    for _ in range(50):
        clock.advance(0.1)
        p.dots(1)
    (e,) = p.snapshot()
    assert (e.source, e.bytes_done, e.rate_bps, e.eta_s) == ("dots", 0, None, None)
    assert p.overall() == (None, None, "dots")
    p.percent(40)  # a better source takes over
    assert by_name(p)[EP].source == "percent"


def test_tcp_wins_over_dots():
    clock = FakeClock()
    p = LoadProgress(clock)
    p.buffer(EP, 10 * MiB)
    p.dots(3)
    clock.advance(1)
    p.tcp_sample(EP, MiB)
    assert by_name(p)[EP].source == "tcp"
    assert p.overall()[2] == "tcp"


def test_local_buffers_without_a_source_are_left_out_of_the_overall():
    clock = FakeClock()
    p = LoadProgress(clock)
    p.buffer(EP, 10 * MiB)
    p.buffer("CPU", 1000 * MiB)
    clock.advance(1)
    p.tcp_sample(EP, 5 * MiB)
    assert p.overall()[:1] == (pytest.approx(0.5),)
    assert by_name(p)["CPU"].source == "buffer"


def test_repeated_buffer_lines_add_up():
    p = LoadProgress(FakeClock())
    p.buffer("CPU_Mapped", 100)
    p.buffer("CPU_Mapped", 50)
    assert by_name(p)["CPU_Mapped"].bytes_total == 150


def test_finish_completes_every_buffer():
    """An RPC server with a tensor cache sends hashes, not bytes: the end of the load says done."""
    clock = FakeClock()
    p = LoadProgress(clock)
    p.buffer(EP, 100 * MiB)
    p.buffer("CUDA0", 10 * MiB)
    clock.advance(1)
    p.tcp_sample(EP, 3 * MiB)
    p.finish()
    assert all(e.bytes_done == e.bytes_total and e.eta_s == 0.0 for e in p.snapshot())
    assert p.overall()[:2] == (1.0, 0.0)


# ---------------------------------------------------------------- throttle

def test_throttle_needs_both_step_and_interval():
    clock = FakeClock()
    t = ProgressThrottle(min_step=0.05, min_interval_s=2.0, clock=clock)
    clock.advance(0.5)
    assert not t.should_emit(0.20)  # step yes, interval no
    clock.advance(1.5)
    assert t.should_emit(0.20)
    clock.advance(10)
    assert not t.should_emit(0.24)  # interval yes, step no
    assert t.should_emit(0.25)
    clock.advance(1.9)
    assert not t.should_emit(0.90)
    clock.advance(0.1)
    assert t.should_emit(0.90)
    assert t.emitted == 3


def test_throttle_always_allows_the_final_event_once():
    clock = FakeClock()
    t = ProgressThrottle(clock=clock)
    clock.advance(2)
    assert t.should_emit(0.5)
    assert t.should_emit(1.0)  # at once, a small step after the last
    assert not t.should_emit(1.0)
    clock.advance(100)
    assert not t.should_emit(None, final=True)


def test_throttle_final_flag_without_ratio():
    t = ProgressThrottle(clock=FakeClock())
    assert t.should_emit(None, final=True)


def test_throttle_keeps_a_slot_for_the_final_event():
    clock = FakeClock()
    t = ProgressThrottle(min_step=0.01, min_interval_s=0, max_events=5, clock=clock)
    emitted = sum(t.should_emit(r / 100) for r in range(1, 99))
    assert emitted == 4
    assert t.should_emit(1.0)
    assert t.emitted == 5


def test_throttle_heartbeat_without_ratio():
    clock = FakeClock()
    t = ProgressThrottle(heartbeat_interval_s=10, clock=clock)
    clock.advance(9)
    assert not t.should_emit(None)
    clock.advance(1)
    assert t.should_emit(None)
    clock.advance(5)
    assert not t.should_emit(None)


@pytest.mark.parametrize(
    "kwargs", [{"min_step": 0}, {"min_step": 1.5}, {"min_interval_s": -1}, {"max_events": 1}, {"heartbeat_interval_s": 0}]
)
def test_throttle_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ProgressThrottle(**kwargs)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 5), st.one_of(st.none(), st.floats(0, 1.2))), max_size=400),
    st.integers(2, 30),
)
def test_throttle_never_exceeds_max_events_and_final_always_fits(steps, max_events):
    clock = FakeClock()
    t = ProgressThrottle(max_events=max_events, clock=clock)
    last_time, last_ratio = clock(), 0.0
    for dt, ratio in steps:
        clock.advance(dt)
        final_before = t._final_sent
        if t.should_emit(ratio):
            if not (ratio is not None and ratio >= 1.0) and ratio is not None:
                assert clock() - last_time >= t.min_interval_s
                assert ratio - last_ratio >= t.min_step - 1e-9
            last_time, last_ratio = clock(), (last_ratio if ratio is None else ratio)
        assert not (final_before and t.emitted > max_events)
        assert t.emitted <= max_events
    sent_final = t._final_sent
    assert t.should_emit(1.0) != sent_final
    assert t.emitted <= max_events


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 3), st.integers(0, 10**9)), max_size=60), st.integers(1, 10**9))
def test_tcp_done_stays_within_bounds(samples, total):
    clock = FakeClock()
    p = LoadProgress(clock)
    p.buffer(EP, total)
    for dt, acked in samples:
        clock.advance(dt)
        p.tcp_sample(EP, acked)
        (e,) = p.snapshot()
        assert 0 <= e.bytes_done <= total
        assert e.rate_bps is None or e.rate_bps >= 0
        assert e.eta_s is None or e.eta_s >= 0
        ratio = p.overall()[0]
        assert ratio is None or 0 <= ratio <= 1


@pytest.mark.bed
def test_bed_rpc_load_progress_from_tcp():
    """A real llama-server --rpc load through a rate-limited link: tcp progress rises through
    intermediate values and reaches the buffer size, bytes acked before the buffer line excluded."""
    if bed.bin_path("llama-server") is None or bed.bin_path("rpc-server") is None:
        pytest.skip("llama.cpp test bed not built (scripts/build_llama.sh)")
    pytest.importorskip("gguf")
    model = bed.ensure_model(512, 4)
    with contextlib.ExitStack() as stack:
        ns = stack.enter_context(bed.NetNS(rate="200mbit")) if bed.NetNS.available()[0] else None
        host, port = (ns.ns_ip, 50052) if ns else ("127.0.0.1", bed.free_port())
        procs = stack.enter_context(bed.Processes())
        procs.add(bed.start_rpc_server(port, host=host, netns=ns))
        bed.wait_tcp(host, port)
        ep = f"{host}:{port}"
        llama = procs.add(bed.start_llama_server(model, bed.free_port(), rpc=ep))
        progress = LoadProgress()
        ratios = []
        total = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            conns = tcp_connections(llama.pid, [ep]).get(ep)
            if conns is not None:
                progress.tcp_sample(ep, sum(c.bytes_acked for c in conns))
            log = bed.read_log(llama, "err")
            m = bed.RPC_BUFFER_RE.search(log)
            if m and total is None:
                total = int(float(m.group("mib")) * 1024 * 1024)
                progress.buffer(f"RPC[{m.group('endpoint')}]", total)
            ratios.append(progress.overall()[0])
            if total is not None and (by_name(progress)[ep].bytes_done >= total or "starting the main loop" in log):
                break
            time.sleep(0.1)
        e = by_name(progress)[ep]
        # This test samples TCP before it reads the log, so bytes acknowledged in between count
        # as "before the buffer line": up to one poll's worth (0.1 s, 2.5 MB at 200 Mbit/s) short.
        assert (e.source, e.bytes_total) == ("tcp", total)
        assert total - 3_000_000 <= e.bytes_done <= total
        seen = [r for r in ratios if r is not None]
        assert seen == sorted(seen)
        if ns is not None:
            assert any(0.05 < r < 0.95 for r in seen), seen
            assert e.rate_bps and 5e6 < e.rate_bps < 30e6  # 200 Mbit/s is 25 MB/s
