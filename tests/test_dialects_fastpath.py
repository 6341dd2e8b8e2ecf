"""The fast path builds exactly the Record the general path builds, for every hot shape,
and its decision key and stated severity are the Record's."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_plugins import names
from otel_plugins.dialects import pipeline
from otel_plugins.dialects.fastpath import HOT, fast_parse, match_hot
from otel_plugins.record import Kind

ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6 = st.sampled_from(["::1", "fe80::1", "2001:db8::7"])
client = st.one_of(ipv4, ipv6)
target = st.tuples(
    st.sampled_from(["/health", "/v1/models", "/metrics", "/v1/chat/completions", "/", "/x/y-z_1.2"]),
    st.sampled_from(["", "?x=1", "?a=b&c=d", "?"]),
).map("".join)
method = st.sampled_from(["GET", "HEAD", "POST", "DELETE"])
status = st.integers(100, 599)
letter = st.sampled_from("IWED")
uptime = st.tuples(st.integers(0, 3000), st.integers(0, 59), st.integers(0, 999), st.integers(0, 999)).map(
    lambda t: f"{t[0]}.{t[1]:02d}.{t[2]:03d}.{t[3]:03d}"
)
wall = st.tuples(st.integers(2024, 2026), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23), st.integers(0, 999999)).map(
    lambda t: f"[{t[0]}-{t[1]:02d}-{t[2]:02d} {t[3]:02d}:17:09.{t[4]:06d}]"
)
prefix = st.one_of(st.just(""), st.tuples(uptime, letter).map(lambda t: f"{t[0]} {t[1]} "), st.tuples(wall, letter).map(lambda t: f"{t[0]} {t[1]} "))
port = st.integers(1, 65535)
rid = st.one_of(st.just(""), st.integers(0, 10**12).map(str))


def same(text: str) -> None:
    """The hot match's Record is the general path's; its key and level are the Record's."""
    hot = match_hot(text)
    assert hot is not None, text
    rec = hot.record()
    assert rec == pipeline._parse(text), text
    assert fast_parse(text) == rec
    f = rec.fields
    assert hot.key == (f[names.HTTP_METHOD], f[names.URL_PATH], f.get(names.HTTP_STATUS), f.get(names.CLIENT_ADDRESS), f.get(names.REQUEST_ID) == "", None)
    assert (hot.kind, hot.severity) == (rec.kind, rec.severity) and hot.kind is Kind.HTTP


def host(c: str) -> str:
    return f"[{c}]" if ":" in c else c


@settings(max_examples=300)
@given(prefix, st.sampled_from(["", "done "]), method, target, client, status)
def test_upstream_request_lines(p, done, m, t, c, s):
    same(f"{p}srv  log_server_r: {done}request: {m} {t} {c} {s}")


@settings(max_examples=300)
@given(prefix, rid, method, target, client, port, status, st.floats(0, 1e8))
def test_llama_box_v1_lines(p, r, m, t, c, cp, s, cost):
    same(f"{p}srv       log_server_response: rid {r} | {m} {t} {host(c)}:{cp} | status {s} | cost {cost:.2f}s")
    same(f"{p}srv        log_server_request: rid {r} | {m} {t} {host(c)}:{cp}")


@settings(max_examples=300)
@given(prefix, rid, method, target, client, port, status, st.floats(0, 1e5), st.sampled_from(["ms", "s"]), st.sampled_from(["opened", "closed", "timeout", ""]))
def test_llama_box_v2_lines(p, r, m, t, c, cp, s, cost, unit, tail):
    end = f" | {tail}" if tail else ""
    same(f"{p}srv                  response: rid {r} | {m:>4} {t} {host(c)}:{cp} | status {s} | cost {cost:.2f}{unit}{end}")
    same(f"{p}srv                 exception: rid {r} | {m:>4} {t} {host(c)}:{cp} | status {s} | cost {cost:.2f}{unit}{end}")
    same(f"{p}srv                   request: rid {r} | {m:>4} {t} {host(c)}:{cp}")


@settings(max_examples=300)
@given(st.sampled_from(["INFO", "WARNING", "ERROR"]), client, port, method, target, st.sampled_from(["1.0", "1.1", "2"]), status, st.sampled_from(["OK", "Not Found", "Service Unavailable"]))
def test_uvicorn_access_lines(lvl, c, cp, m, t, v, s, reason):
    pad = " " * max(1, 9 - len(lvl) - 1)
    same(f'{lvl}:{pad}{c}:{cp} - "{m} {t} HTTP/{v}" {s} {reason}')


def test_lines_the_general_path_must_see_fall_through():
    """Colour codes, glued dots, envelopes and non-access lines are not hot."""
    for text in (
        '\x1b[32mINFO\x1b[0m:     127.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK',
        'INFO:     127.0.0.1:5000 - "GET /hea\x1b[0mlth HTTP/1.1" 200 OK',
        "..0.03.008.559 I srv  log_server_r: request: GET /health 127.0.0.1 503",
        "Apr 07 15:39:09 host llama-swap[2631815]: srv  log_server_r: request: GET /health 127.0.0.1 200",
        "[42751] 0.01.000.000 I srv  log_server_r: request: GET /health 127.0.0.1 200",
        "0.01.000.000 I srv  update_slots: all slots are idle",
        "srv  log_server_r: request: GET",
        "INFO:     Application startup complete.",
        "",
    ):
        assert match_hot(text) is None and fast_parse(text) is None, text


def test_every_hot_shape_is_reached():
    """The generators above reach every hot shape, behind every prefix."""
    seen = set()
    for prefix_shape, head, shapes in HOT:
        for shape in shapes:
            for example in shape.examples:
                for p in ("", "0.00.000.001 I ", "[2025-05-15 16:41:00.460014] W "):
                    hot = match_hot(p + example)
                    if hot is not None:
                        seen.add((hot.hot.prefix.name if hot.hot.prefix else None, hot.shape.name))
    assert {name for _, name in seen} == {s.name for _, _, shapes in HOT for s in shapes}
    assert {p for p, _ in seen} == {None, "llama.cpp.uptime", "llama.cpp.wall"}
