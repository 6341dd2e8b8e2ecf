"""Secrets never leave the process: what a secret looks like, declared once for two engines.

`RULES` are RE2 expressions (no lookaround, no backreferences). Python runs them with
google-re2 (`redact_text`, applied to every exported string by `sinks/redacting.py`); the
rendered Collector configs run the very same text in Go's regexp (`collector/ottl.py`
renders it as OTTL `replace_pattern`). RE2 matches in time linear in the line, so a hostile
line cannot make redaction slow, and both engines pick the same leftmost-first matches: the
Collector redacts a line exactly as Python does.

A rule's capture groups are text it keeps around the secret (`api_key=`, a URL's scheme and
`@`); the rest of its match becomes `[REDACTED]`. All rules run as one alternation, in one
pass. The local passthrough keeps what the server printed; only what is exported is redacted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import re2

from .first_match import Finder, first_match

REDACTED = "[REDACTED]"

# Names whose value is a secret whatever it looks like (the match starts at the name's last
# part, so OPENAI_API_KEY=, AWS_SECRET_ACCESS_KEY= and db_password= all count) ...
_SECRET_NAMES = r"(?:api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key|secret|password|passwd|credentials?)"
# ... and looser names, whose value counts only if it is not a plain number: `EOS token =
# 128009` and sglang's `#token: 4022` are ids and counts; HF_TOKEN=hf_... is not.
_LOOSE_NAMES = r"(?:key|token)"
# Inside a JSON string a logger may escape what separates a name from its value: a quote
# (`\"api_key\":\"v\"`, a JSON text logged as a string), `=` (Gson writes `\u003d`), a URL's
# slashes (`http:\/\/`). The raw line is what a body carries, so the rules take both spellings.
_QUOTE = r"""(?:\\?["']|\\u002[27])?"""
_EQUALS = r"(?:=|\\u003[dD])"
_EQUALS_OR_COLON = r"(?:[=:]|\\u003[dD])"
_ESCAPED_QUOTED = r'\\"[^"\\]*\\"'
_ANY_VALUE = rf"""(?:{_ESCAPED_QUOTED}|"[^"]*"|'[^']*'|[^\s"'&,;]+)"""
_NOT_A_NUMBER = rf"""(?:{_ESCAPED_QUOTED}|"[^"]*"|'[^']*'|[0-9.]*[^\s"'&,;0-9.][^\s"'&,;]*)"""


@dataclass(frozen=True)
class Rule:
    """One shape of secret. `markers`: lower-case literals, one of which is in every match
    (the cheap pre-check); `keep_after`: the last group follows the secret instead of preceding it."""

    name: str
    pattern: str
    markers: tuple[str, ...]
    ignore_case: bool = False
    keep_after: bool = False

    @property
    def groups(self) -> int:
        return re2.compile(self.pattern).groups


RULES: tuple[Rule, ...] = (
    Rule("authorization header",
         rf"""(authorization{_QUOTE}[\t ]*{_EQUALS_OR_COLON}[\t ]*)(?:{_ESCAPED_QUOTED}|"[^"]*"|'[^']*'|[^\s,;]+(?:[\t ]+[^\s,;]+)?)""",
         ("authorization",), ignore_case=True),
    Rule("bearer token", r"\b(bearer\s+)[A-Za-z0-9._~+/=-]{4,}", ("bearer",), ignore_case=True),
    # NAME=value, NAME: value, "name": "value"; `key: 3` and `monkey=banana` stay.
    Rule("secret name and value", rf"""({_SECRET_NAMES}{_QUOTE}[\t ]*{_EQUALS_OR_COLON}[\t ]*){_ANY_VALUE}""",
         ("key", "secret", "passw", "credential"), ignore_case=True),
    Rule("key or token and value", rf"""({_LOOSE_NAMES}{_QUOTE}[\t ]*{_EQUALS}[\t ]*){_NOT_A_NUMBER}""", ("key", "token"), ignore_case=True),
    Rule("token: value", rf"""(token{_QUOTE}[\t ]*:[\t ]*){_NOT_A_NUMBER}""", ("token",), ignore_case=True),
    Rule("secret flag and value", r"(--[a-z0-9-]*(?:key|token|secret|password|passwd)[\t ]+)[^\s-]\S*",
         ("key", "token", "secret", "passw"), ignore_case=True),
    # scheme://user:password@ and scheme://:password@ (redis, amqp, ...), slashes escaped or not.
    Rule("URL credentials", r"([a-z][a-z0-9+.-]*:(?://|\\/\\/))[^/\s:@]*:[^/\s@]+(@)", ("://", ":\\/"), ignore_case=True, keep_after=True),
    Rule("OpenAI-style key", r"\bsk-[A-Za-z0-9_-]{16,}", ("sk-",)),
    Rule("Stripe-style key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}", ("k_live_", "k_test_")),
    Rule("Hugging Face token", r"hf_[A-Za-z0-9]{20,}", ("hf_",)),
    Rule("GitHub token", r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
         ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    Rule("AWS access key id", r"(?:AKIA|ASIA)[A-Z0-9]{16}", ("akia", "asia")),
    Rule("JWT", r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*", ("eyj",)),
    Rule("Slack token", r"xox[abposr]-[A-Za-z0-9-]{10,}", ("xox",)),
    Rule("Google API key", r"AIza[A-Za-z0-9_-]{35}", ("aiza",)),
)

# Attribute keys whose whole value is a secret, whatever it looks like (`http.request.header.x-api-key`).
SECRET_KEY_PATTERN = (
    r"(?i)(?:^|[._-])(?:api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key|access[_-]?token|auth[_-]?token"
    r"|refresh[_-]?token|token|secret|password|passwd|credentials?|authorization)$"
)

_SECRET_KEY = re.compile(SECRET_KEY_PATTERN)
# Flags whose next argument is a secret: --api-key, --hf-token (and llama.cpp's -hft), ...
_SECRET_FLAG = re.compile(r"--?[A-Za-z0-9-]*(?:key|token|secret|password|passwd)(?:-file)?|-hft", re.IGNORECASE)


def combined_pattern() -> str:
    """Every rule as one RE2 alternation, in order."""
    return "|".join(f"(?i:{r.pattern})" if r.ignore_case else f"(?:{r.pattern})" for r in RULES)


def replacement(group: str = r"\g<{}>") -> str:
    """The substitution for `combined_pattern()`: kept groups around [REDACTED]. Only the
    matching rule's groups are non-empty; `group` formats a reference (Go: "${{{}}}")."""
    before, after = _groups()
    return "".join(group.format(n) for n in before) + REDACTED + "".join(group.format(n) for n in after)


def markers() -> list[str]:
    """Every rule's markers, sorted: lower-case literals, one of which is in every match."""
    literals = sorted({m for r in RULES for m in r.markers})
    assert all(re.fullmatch(r"[a-z0-9_:/\\-]+", m) for m in literals), "markers are plain literals (regex-escaped where used)"
    return literals


# Letters outside ASCII that case-insensitive matching (RE2's and Go's alike) folds onto an
# ASCII letter of a marker: `\u017fecret` matches `(?i)secret`, `\u212aey` matches `(?i)key`.
# A scan that lower-cases a line and looks for the markers literally takes them as markers too.
FOLDED_ONTO_ASCII = ("\u017f", "\u212a")


def marker_pattern() -> str:
    """A case-insensitive alternation of every rule's markers: no match, nothing to redact."""
    return "(?i)" + "|".join(re.escape(m) for m in markers())


def _groups() -> tuple[list[int], list[int]]:
    """Group numbers kept before and after [REDACTED] in `combined_pattern()`."""
    before, after, number = [], [], 0
    for rule in RULES:
        numbers = list(range(number + 1, number + 1 + rule.groups))
        number += rule.groups
        if rule.keep_after and numbers:
            after.append(numbers.pop())
        before += numbers
    return before, after


@cache
def _compiled() -> tuple[Any, Finder, Callable[[Any], bytes]]:
    # Bytes in, bytes out: google-re2's str path re-encodes and maps offsets in Python, and
    # cannot take the lone surrogates that stand for undecodable bytes; a function for the
    # replacement avoids its template parser. Together about four times faster.
    before, after = _groups()
    secret = REDACTED.encode()

    def replace(match: Any) -> bytes:
        groups = match.groups()
        return b"".join(groups[n - 1] or b"" for n in before) + secret + b"".join(groups[n - 1] or b"" for n in after)

    return re2.compile(combined_pattern().encode()), first_match(re2.compile(marker_pattern().encode())), replace


def redact_text(text: str) -> str:
    """`text` with every secret replaced; the same object when there is nothing to do."""
    pattern, find_marker, replace = _compiled()
    data = text.encode("utf-8", "surrogatepass")
    if find_marker(data, 0, len(data)) < 0:
        return text
    redacted = pattern.sub(replace, data)
    if redacted == data:
        return text
    try:
        return redacted.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:  # a match ended inside an undecodable byte's stand-in
        return redacted.decode("utf-8", "replace")


@lru_cache(maxsize=4096)  # attribute keys repeat: each is looked at once
def is_secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


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
        if _SECRET_FLAG.fullmatch(flag):
            out.append(f"{flag}={REDACTED}" if eq else arg)
            hide_next = not eq
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


def redact_value(key: str, value: Any) -> Any:
    """An attribute value as it may be exported: the same object when nothing changed."""
    if isinstance(value, str):
        return REDACTED if is_secret_key(key) else redact_text(value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        redacted = [REDACTED] * len(value) if is_secret_key(key) else redact_argv(value)
        return value if redacted == list(value) else type(value)(redacted)
    return value
