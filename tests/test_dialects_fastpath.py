"""The fast path builds exactly the Record the general dialects build, for every hot shape."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_plugins.dialects import pipeline
from otel_plugins.dialects.fastpath import fast_parse

ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
path = st.sampled_from(["/health", "/v1/models", "/metrics", "/v1/chat/completions", "/", "/x/y-z_1.2"])
method = st.sampled_from(["GET", "HEAD", "POST", "DELETE"])
status = st.integers(100, 599)
uptime = st.tuples(st.integers(0, 3000), st.integers(0, 59), st.integers(0, 999), st.integers(0, 999)).map(
    lambda t: f"{t[0]}.{t[1]:02d}.{t[2]:03d}.{t[3]:03d}"
)
port = st.integers(1, 65535)


def general(text):
    return pipeline._parse(text)


def same(text):
    fast = fast_parse(text)
    assert fast is not None, text
    assert fast == general(text), text


@settings(max_examples=400)
@given(uptime, method, path, ipv4, status)
def test_upstream_request_lines(t, m, p, c, s):
    same(f"{t} I srv  log_server_r: request: {m} {p} {c} {s}")


@settings(max_examples=400)
@given(uptime, st.one_of(st.just(""), st.integers(0, 10**12).map(str)), method, path, ipv4, port, status, st.floats(0, 1e8))
def test_llama_box_v1_response_lines(t, rid, m, p, c, cp, s, cost):
    same(f"{t} I srv       log_server_response: rid {rid} | {m} {p} {c}:{cp} | status {s} | cost {cost:.2f}s")


@settings(max_examples=400)
@given(ipv4, port, method, path, st.sampled_from(["1.0", "1.1", "2"]), status, st.sampled_from(["OK", "Not Found", "Service Unavailable"]))
def test_uvicorn_access_lines(c, cp, m, p, v, s, reason):
    same(f'INFO:     {c}:{cp} - "{m} {p} HTTP/{v}" {s} {reason}')


def test_unusual_lines_fall_through_to_the_general_path():
    for text in (
        "0.00.498.594 I srv  log_server_r: request: GET /health?x=1 127.0.0.1 503",
        "0.00.498.594 I srv  log_server_r: request: GET /health ::1 503",
        "0.00.498.594 W srv  log_server_r: request: GET /health 127.0.0.1 503",
        '\x1b[32mINFO\x1b[0m:     127.0.0.1:5000 - "GET /health HTTP/1.1" 200 OK',
        "..0.03.008.559 I srv  log_server_r: request: GET /health 127.0.0.1 503",
    ):
        assert fast_parse(text) is None, text
