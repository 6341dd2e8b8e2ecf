"""`first_match`: google-re2's compiled entry point answers as its public `search` does."""

from __future__ import annotations

import random

import re2

from otel_plugins.dialects.suspect import SUSPECT, find_suspect
from otel_plugins.first_match import first_match

TEXT = (
    b"0.01.000.001 I srv  log_server_r: request: GET /health 127.0.0.1 200\n"
    b"0.01.000.002 E srv    send_error: task id = 7, error: the request exceeds the context\n"
    b'INFO:     10.0.3.7:5 - "POST /v1/chat/completions HTTP/1.1" 500 Internal Server Error\n'
    b"\xff\xfe not utf-8 at all, but a fail in it\n"
    b"plain\n"
)


def public(pattern, data: bytes, pos: int, endpos: int) -> int:
    found = pattern.search(data, pos, endpos)
    return -1 if found is None else found.start()


def test_the_finder_and_search_agree_on_every_window():
    rng = random.Random(3)
    patterns = [SUSPECT, re2.compile(rb"(?m)^plain$"), re2.compile(rb"(?i)error|fail"), re2.compile(rb"nowhere")]
    for pattern in patterns:
        find = first_match(pattern)
        for _ in range(400):
            pos = rng.randrange(len(TEXT) + 1)
            endpos = rng.randrange(pos, len(TEXT) + 1)
            assert find(TEXT, pos, endpos) == public(pattern, TEXT, pos, endpos), (pattern.pattern, pos, endpos)
    assert find_suspect(TEXT, 0, len(TEXT)) == TEXT.index(b"E srv") - 2  # the level letter after the uptime
    assert find_suspect(b"plain\n", 0, 6) == -1


def test_a_pattern_without_the_internal_entry_point_uses_search():
    class Public:
        """What a google-re2 release that renamed its internals would still offer."""

        def __init__(self, pattern):
            self.search = pattern.search

    pattern = re2.compile(rb"(?i)fail")
    find = first_match(Public(pattern))
    assert find(TEXT, 0, len(TEXT)) == public(pattern, TEXT, 0, len(TEXT)) > 0
    assert find(b"fine", 0, 4) == -1
