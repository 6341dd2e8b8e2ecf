"""Secrets are redacted from exported text and argv; each pattern is tested."""

from __future__ import annotations

import pytest

import re2

from otel_plugins.redact import RULES, REDACTED, combined_pattern, is_secret_key, redact_argv, redact_text, redact_value


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
        # NAME=value after `_` (issue 13, case 2) and in other spellings.
        ("env OPENAI_API_KEY=plainsecretZZZ", "plainsecretZZZ"),
        ("HF_TOKEN=plainsecretYYY", "plainsecretYYY"),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI"),
        ("connect db_password=s3cret to db", "s3cret"),
        ("client_secret: 'a b c'", "a b c"),
        ('{"password": "hunter2"}', "hunter2"),
        ("password=123456", "123456"),
        ("cache at redis://:pw0rd@cache.local:6379", "pw0rd"),
        ("--hf-token hf_abcdefghijklmnopqrstuvwx --port 1", "hf_abcdefghijklmnopqrstuvwx"),
        ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
        ("pat github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_11ABCDEFG"),
        ("aws AKIAIOSFODNN7EXAMPLE ok", "AKIAIOSFODNN7EXAMPLE"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nat-ure", "eyJzdWIiOiIxIn0"),
        ("slack xoxb-1234567890-abcdefghij", "xoxb-1234567890"),
        ("google AIzaSyA-abcdefghijklmnopqrstuvwxyz01234", "AIzaSyA-abcdefghijklmnopqrstuvwxyz01234"),
        ("stripe sk_live_abcdefghijklmnop1234", "sk_live_abcdefghijklmnop1234"),
        ("GGML_ASSERT(x) failed key sk-abcdef0123456789abcdef", "sk-abcdef0123456789abcdef"),
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
    assert redact_argv(["llama-server", "-hft", "plain", "--ssl-key-file", "k.pem", "-m", "m.gguf"]) == [
        "llama-server", "-hft", REDACTED, "--ssl-key-file", REDACTED, "-m", "m.gguf"]


@pytest.mark.parametrize(
    "line",
    [
        "print_info: EOS token        = 128009 '<|eot_id|>'",
        "[04:40:56 TP0] Decode batch. #running-req: 1, #token: 4022, token usage: 0.00",
        "llama_model_loader: - kv  22: tokenizer.ggml.add_bos_token bool = true",
        "monkey: 3 keys: 4 n_tokens = 512",
        "GET /health 127.0.0.1 200",
    ],
)
def test_ids_and_counts_are_not_secrets(line):
    """After a bare `key`/`token`, a plain number is an id or a count; `monkey:` is no secret name."""
    assert redact_text(line) == line


def test_redaction_is_idempotent_and_keeps_what_surrounds_the_secret():
    line = "GET /x?api_key=abc&page=2 from http://bob:pw@h:1/p HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz"
    once = redact_text(line)
    assert once == f"GET /x?api_key={REDACTED}&page=2 from http://{REDACTED}@h:1/p HF_TOKEN={REDACTED}"
    assert redact_text(once) == once


def test_rules_are_re2_one_alternation_with_markers_in_every_match():
    """The declaration compiles in RE2 (no lookaround, no backreferences), and each rule's
    example match contains one of its markers (the pre-check can only skip clean text)."""
    re2.compile(combined_pattern())
    examples = {
        "authorization header": "Authorization: Basic x", "bearer token": "bearer abcd",
        "secret name and value": "db_password=x", "key or token and value": "HF_TOKEN=x",
        "token: value": "token: abc", "secret flag and value": "--api-key x", "URL credentials": "redis://:p@h",
        "OpenAI-style key": "sk-" + "a" * 16, "Stripe-style key": "rk_live_" + "a" * 16, "Hugging Face token": "hf_" + "a" * 20,
        "GitHub token": "ghs_" + "a" * 30, "AWS access key id": "ASIA" + "A" * 16, "JWT": "eyJaaaaa.eyJaaaaa.x",
        "Slack token": "xoxp-" + "a" * 10, "Google API key": "AIza" + "a" * 35,
    }
    assert set(examples) == {r.name for r in RULES}
    for rule in RULES:
        flags = "(?i)" if rule.ignore_case else ""
        match = re2.search(flags + rule.pattern, examples[rule.name])
        assert match, rule.name
        assert any(m in match.group(0).lower() for m in rule.markers), rule.name


def test_attribute_values_under_secret_keys_are_redacted_whole():
    assert redact_value("http.request.header.x-api-key", "plainvalue") == REDACTED
    assert redact_value("db.password", ["a", "b"]) == [REDACTED, REDACTED]
    assert redact_value("llama.instance.key", "gpustack-42") == "gpustack-42"  # an instance id, not a secret
    assert not is_secret_key("monkey") and is_secret_key("OPENAI_API_KEY") and is_secret_key("auth_token")
    args = ("llama-box", "--api-key", "v", "OPENAI_API_KEY=x")
    assert redact_value("process.command_args", args) == ("llama-box", "--api-key", REDACTED, f"OPENAI_API_KEY={REDACTED}")
    assert redact_value("process.pid", 42) == 42
