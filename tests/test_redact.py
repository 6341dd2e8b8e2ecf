"""Secrets are redacted from exported text and argv; each pattern is tested."""

from __future__ import annotations

import pytest

from otel_plugins.redact import REDACTED, redact_argv, redact_text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def.ghi-123", "abc.def.ghi-123"),
        ("headers={'Authorization': 'Basic dXNlcjpwYXNz'}", "dXNlcjpwYXNz"),
        ("curl -H 'authorization: token9876543210'", "token9876543210"),
        ("using bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("GET /v1/models?api_key=s3cr3tvalue HTTP/1.1", "s3cr3tvalue"),
        ('{"api-key": "k-12345678"}', "k-12345678"),
        ("key sk-proj-AbCdEfGhIjKlMnOpQrStUv rejected", "sk-proj-AbCdEfGhIjKlMnOpQrStUv"),
        ("key sk-abcdefghijklmnopqrstuvwxyz012345", "sk-abcdefghijklmnopqrstuvwxyz012345"),
        ("token hf_abcdefghijklmnopqrstuvwxyz", "hf_abcdefghijklmnopqrstuvwxyz"),
        ("args: --api-key topsecret --port 8080", "topsecret"),
        ("args: --api-key=topsecret --port 8080", "topsecret"),
        ("proxy http://alice:pa55word@proxy.local:3128", "pa55word"),
        ("password=hunter2 user=bob", "hunter2"),
    ],
)
def test_text_patterns_are_redacted(text, secret):
    out = redact_text(text)
    assert secret not in out
    assert REDACTED in out


def test_text_without_secrets_is_untouched():
    line = "0.00.167.597 I load_tensors: RPC[172.17.0.3:50760] model buffer size = 104842.70 MiB"
    assert redact_text(line) is line
    assert redact_text("GET /v1/models 127.0.0.1:60838 | status 503") == "GET /v1/models 127.0.0.1:60838 | status 503"


def test_argv_values_are_redacted_in_both_forms():
    argv = ["llama-box", "--api-key", "abc123", "--port", "8080", "--api-key=def456", "--hf-token", "hf_x", "-m", "m.gguf"]
    out = redact_argv(argv)
    assert out == ["llama-box", "--api-key", REDACTED, "--port", "8080", f"--api-key={REDACTED}", "--hf-token", REDACTED, "-m", "m.gguf"]
    assert redact_argv(["x", "--url", "https://u:p@host/x"]) == ["x", "--url", f"https://{REDACTED}@host/x"]
