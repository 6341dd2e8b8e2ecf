"""Secrets never leave the process: redaction for exported text and for argv attributes.

The local passthrough keeps what the server printed; only what is exported is redacted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

REDACTED = "[REDACTED]"

_TEXT_PATTERNS = (
    # Authorization headers and bearer tokens, whatever the scheme.
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*)(?:\"[^\"]*\"|'[^']*'|[^\s,;]+(?:\s+[^\s,;]+)?)"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{4,}"), rf"\1{REDACTED}"),
    # key=value and key: value forms of API keys, tokens, passwords.
    (
        re.compile(
            r"(?i)\b((?:x-)?(?:api[_-]?key|access[_-]?token|auth[_-]?token|token|secret|password|passwd)"
            r"\"?\s*[=:]\s*\"?)[^\s\"&,;]+"
        ),
        rf"\1{REDACTED}",
    ),
    # --api-key VALUE and --api-key=VALUE inside a logged command line.
    (re.compile(r"(--(?:api-key|token|hf-token|password)(?:=|\s+))(?!-)\S+"), rf"\1{REDACTED}"),
    # OpenAI-style and Hugging Face keys.
    (re.compile(r"\b(?:sk|rk|pk)-(?:proj-)?[A-Za-z0-9_-]{16,}"), REDACTED),
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), REDACTED),
    # Credentials in URLs: scheme://user:password@host
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), rf"\1{REDACTED}@"),
)

_SECRET_FLAGS = frozenset({"--api-key", "--token", "--hf-token", "--password", "--api-key-file"})


# Every pattern above needs one of these words; one search rules most lines out.
_MARKERS = re.compile(r"auth|bearer|key|token|secret|pass|sk-|hf_|@", re.IGNORECASE)


def redact_text(text: str) -> str:
    """`text` with every secret-looking value replaced. Cheap when there is nothing to do."""
    if _MARKERS.search(text) is None:
        return text
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_argv(argv: Sequence[str]) -> list[str]:
    """argv with the values of secret flags (`--api-key v`, `--api-key=v`) and embedded secrets redacted."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        flag, eq, _value = arg.partition("=")
        if flag in _SECRET_FLAGS:
            if eq:
                out.append(f"{flag}={REDACTED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(redact_text(arg))
    return out


def exportable(text: str) -> str:
    """`text` made valid Unicode (and so valid for OTLP), its secrets redacted.

    Undecodable bytes were kept as surrogate escapes so the passthrough stays byte-exact;
    exporters need real UTF-8, so here they become U+FFFD.
    """
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return redact_text(text)
