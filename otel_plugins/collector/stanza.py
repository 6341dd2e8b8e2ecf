"""The filelog receiver's stanza operators: every dialect the Python side parses, in RE2.

The regexes are those of `otel_plugins.dialects`, rewritten where RE2 has no lookaround.
The operators run in the Python side's order:

1. `regex_replace` removes ANSI colour codes (real or pasted as `^[`);
2. `regex_parser` peels envelopes (journald, syslog, compose, `(APIServer pid=1)`, router
   `[port]`) and glued progress dots into the working attribute `_m`;
3. a `router` tries the full-line dialects (llama.cpp prefixes, uvicorn/vLLM/SGLang/KServe,
   GPUStack, llama-swap, ollama, llama.cpp JSON) and sends the rest to the content parsers;
4. the content parsers (llama-box v1/v2, upstream llama-server) take the HTTP fields, and
   for lines that state no level a second `router` applies the same claims and the same
   error inference as `dialects.generic` (RPC failures, crash heads, level words, error words);
5. at the join, `severity_parser` maps the level letter or word, the request target is split
   into path and query, and the working fields move to the Python side's attribute names.

Working attributes start with `_`; the transform processor deletes them (see `ottl.py`).
"""

from __future__ import annotations

from typing import Any

from .. import names

Operator = dict[str, Any]

# Working attribute names (regex group names cannot hold dots).
MSG = "_m"
LEVEL = "_lvl"
HTTP_FIELDS = {  # working name -> attribute the Python side uses
    "_method": names.HTTP_METHOD,
    "_path": names.URL_PATH,
    "_query": "url.query",
    "_status": names.HTTP_STATUS,
    "_client": names.CLIENT_ADDRESS,
    "_cport": names.CLIENT_PORT,
}
RID = "_rid"
HEALTH_CHECK = names.HEALTH_CHECK

LEVEL_WORDS_UVICORN = "INFO|WARNING|ERROR|DEBUG|CRITICAL|TRACE"
SEVERITY_MAPPING = {
    "trace": ["T", "TRACE"],
    "debug": ["D", "DEBUG", "VERB"],
    "info": ["I", "INFO", "NOTICE"],
    "warn": ["W", "WARN", "WARNING"],
    "error": ["E", "ERROR", "ERR"],
    "fatal": ["F", "FATAL", "CRITICAL", "PANIC"],
}

_ANSI = r"(?:\x1b|\^\[)\[[0-9;?]*[ -/]*[@-~]"
_ENVELOPES = "|".join(
    (
        r"\([A-Za-z_][\w ]*?(?: \w+=\d+)*? ?pid=\d+\) ",  # (APIServer pid=1)
        r"\[\d{2,5}\] ",  # llama-server router mode: the child's port
        r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s\[:]+(?:\[\d+\])?: ",  # journald / syslog
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) \S+ [^\s\[:]+(?:\[\d+\])?: ",  # RFC 3339 syslog
        r"[A-Za-z0-9][\w.-]* +\| ",  # docker compose
    )
)
_TARGET = r"(?P<_target>\S+)"
_ACCESS = (
    r"(?P<_client>\S+?)(?::(?P<_cport>\d+))?(?: \d+)? - \"(?P<_method>[A-Z]+) " + _TARGET + r" HTTP/[\d.]+\" (?P<_status>\d{3})(?: .*)?$"
)
_SWAP_REQ = r"\"(?P<_method>[A-Z]+) " + _TARGET + r" HTTP/[\d.]+\" (?P<_status>\d{3}) -?\d+ \"(?:[^\"\\]|\\.)*\" \S+\s*$"
_ERROR_WORDS = r"(?i)\b(?:error|failed|failure|unable to|out of memory|abort(?:ed|ing)?)\b"


def expr_str(text: str) -> str:
    """A string literal of stanza's expression language (expr-lang)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def field(name: str) -> str:
    return f'attributes["{name}"]'


def matches(name: str, regex: str) -> str:
    return f"{field(name)} matches {expr_str(regex)}"


def is_nil(name: str) -> str:
    return f"{field(name)} == nil"


def not_nil(name: str) -> str:
    return f"{field(name)} != nil"


def _parser(op_id: str, regex: str, parse_from: str = MSG, cond: str | None = None, output: str | None = None, **extra) -> Operator:
    op: Operator = {"type": "regex_parser", "id": op_id}
    if cond:
        op["if"] = cond
    op["parse_from"] = f"attributes.{parse_from}" if parse_from != "body" else "body"
    op["regex"] = regex
    op.update(extra)
    op["on_error"] = "send_quiet"
    if output:
        op["output"] = output
    return op


def _add(op_id: str, name: str, value: Any, output: str | None = None, cond: str | None = None) -> Operator:
    op: Operator = {"type": "add", "id": op_id}
    if cond:
        op["if"] = cond
    op["field"] = f"attributes.{name}" if name.isidentifier() else f'attributes["{name}"]'
    op["value"] = value
    if output:
        op["output"] = output
    return op


def _route(output: str, regex: str, name: str = MSG, extra: str = "") -> dict[str, str]:
    return {"output": output, "expr": matches(name, regex) + (f" and {extra}" if extra else "")}


def _noop(op_id: str, output: str | None = None) -> Operator:
    op: Operator = {"type": "noop", "id": op_id}
    if output:
        op["output"] = output
    return op


# ---------------------------------------------------------------- 1-2: normalise


def normalise() -> list[Operator]:
    return [
        {
            "type": "regex_replace",
            "id": "strip_ansi",
            "if": "body matches " + expr_str(r"\x1b|\^\["),
            "field": "body",
            "regex": _ANSI,
            "replace_with": "",
            "on_error": "send_quiet",
        },
        _parser("envelope", rf"^(?:{_ENVELOPES})*\.*(?P<_m>.*)$", parse_from="body"),
        # LM Studio's one-space indent and a user's **bold** around a pasted line.
        _parser("indent", r"^ (?P<_m>[^ \t].*)$", cond=matches(MSG, r"^ [^ \t]")),
        _parser("bold", r"^\*\*(?P<_m>.+)\*\*$", cond=matches(MSG, r"^\*\*.+\*\*$")),
    ]


# ---------------------------------------------------------------- 3: full-line dialects

_UPTIME = r"^\d+\.\d\d\.\d{3}\.\d{3} [IWEDTF](?: |$)"
_WALL = r"^\[2\d{3}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\] [IWEDTF](?: |$)"
_LETTER = r"^[IWED] \S"
_JSON = r"^\{"
_OLD_TEXT = r"^(?:DEBUG|VERB|INFO|WARN|WARNING|ERROR) \[ *\w+\] "
_UVICORN = rf"^(?:{LEVEL_WORDS_UVICORN})(?::|\s+\S)"
_SGLANG = r"^\[(?:\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d(?: [^\]]+)?\] "
_KSERVE = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? (?:\d+ )?[A-Za-z_][\w.]* "
_GPUSTACK = r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)? - (?:[\w.\-]+ - )?(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL) - "
_SWAP_OLD = r"^\[llama-swap\] \S+ \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] " + _SWAP_REQ
_SWAP_BRACKET = r"^\[(?:DEBUG|INFO|WARN|WARNING|ERROR|FATAL|PANIC)\] "
_SWAP_BANG = r"^!!! Health check"
_GIN = r"^\[GIN\] \d{4}/\d\d/\d\d - \d\d:\d\d:\d\d \| +\d{3} \| +\S+ \| +\S+ \| +[A-Z]+ +\"[^\"]*\""
_SLOG = r"^time=\S+ level=\w+(?: source=\S+)? msg="


def dialects() -> list[Operator]:
    content = "content"
    join = "join"
    return [
        {
            "type": "router",
            "id": "dialect",
            "routes": [
                {"output": "json", "expr": f"{matches(MSG, _JSON)} and ({field(MSG)} contains '\"level\"' or {field(MSG)} contains '\"function\"')"},
                _route("old_text", _OLD_TEXT),
                _route("prefix_uptime", _UPTIME),
                _route("prefix_wall", _WALL),
                _route("prefix_letter", _LETTER),
                _route("uvicorn", _UVICORN),
                _route("sglang", _SGLANG),
                _route("kserve", _KSERVE),
                _route("gpustack", _GPUSTACK),
                _route("swap_access", _SWAP_OLD),
                _route("swap_bracket", _SWAP_BRACKET),
                _route("swap_health", _SWAP_BANG),
                _route("gin", _GIN),
                _route("slog", _SLOG),
            ],
            "default": content,
        },
        # llama.cpp 2024 JSON (`--log-format json`, ollama's embedded server).
        {"type": "json_parser", "id": "json", "parse_from": f"attributes.{MSG}", "parse_to": "attributes._j", "on_error": "send_quiet"},
        {"type": "move", "id": "json_level", "if": "attributes._j != nil and attributes._j.level != nil", "from": "attributes._j.level", "to": f"attributes.{LEVEL}"},
        {
            "type": "router",
            "id": "json_request",
            "routes": [
                {
                    "output": "json_http",
                    "expr": 'attributes._j?.function == "log_server_request" and attributes._j?.method != nil and attributes._j?.path != nil',
                }
            ],
            "default": "json_done",
        },
        {"type": "move", "id": "json_http", "from": "attributes._j.method", "to": "attributes._method"},
        {"type": "move", "id": "json_path", "from": "attributes._j.path", "to": "attributes._target"},
        {"type": "move", "id": "json_client", "if": "attributes._j.remote_addr != nil", "from": "attributes._j.remote_addr", "to": "attributes._client"},
        {"type": "move", "id": "json_port", "if": "attributes._j.remote_port != nil", "from": "attributes._j.remote_port", "to": "attributes._cport"},
        {"type": "move", "id": "json_status", "if": "attributes._j.status != nil", "from": "attributes._j.status", "to": "attributes._status"},
        {"type": "remove", "id": "json_done", "if": "attributes._j != nil", "field": "attributes._j", "output": _claim_info_id()},
        # `DEBUG [log_server_request] request | method="POST" ... path="/embedding" ... status=200`.
        _parser("old_text", r"^(?P<_lvl>[A-Z]+) \[ *(?P<_func>\w+)\] "),
        _parser(
            "old_text_http",
            r'\| .*\bmethod="?(?P<_method>[A-Z]+)"?(?: .*)?\bpath="?(?P<_target>[^"\s]+)"?',
            cond=f'{field("_func")} == "log_server_request"',
        ),
        _parser("old_text_status", r'\| .*\bstatus="?(?P<_status>\d+)"?', cond=not_nil("_method")),
        _parser("old_text_client", r'\| .*\bremote_addr="?(?P<_client>[^"\s]+)"?', cond=not_nil("_method")),
        {"type": "remove", "id": "old_text_done", "if": not_nil("_func"), "field": "attributes._func", "output": _claim_info_id()},
        # llama.cpp common/log.cpp prefixes; the rest of the line goes to the content parsers.
        _parser(
            "prefix_uptime",
            r"^(?P<_uptime>\d+\.\d\d\.\d{3}\.\d{3}) (?P<_lvl>[IWEDTF])(?: (?P<_m>.*))?$",
            output=content,
        ),
        _parser(
            "prefix_wall",
            r"^\[(?P<_time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.\d{3}(?P<_ms>\d{3})\] (?P<_lvl>[IWEDTF])(?: (?P<_m>.*))?$",
            output=content,
            # Local time without a zone, taken as UTC as on the Python side; only the last
            # three of the six digits are milliseconds (epoch-ms mod 1e6).
            timestamp={"parse_from": "attributes._time", "layout_type": "gotime", "layout": "2006-01-02 15:04:05", "location": "UTC"},
        ),
        _parser("prefix_letter", r"^(?P<_lvl>[IWED]) (?P<_m>.*)$", output=content),
        # uvicorn (vLLM, SGLang, KServe, any FastAPI server) and vLLM's own format.
        _parser("uvicorn", r"^(?P<_lvl>[A-Z]+)"),
        _parser("uvicorn_access", rf"^(?:{LEVEL_WORDS_UVICORN}):\s+" + _ACCESS, cond=matches(MSG, rf"^(?:{LEVEL_WORDS_UVICORN}):\s"), output=join),
        _parser("sglang", r"^\[(?:\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d(?: [^\]]+)?\] (?P<_m>.*)$", output="inner_uvicorn"),
        _parser("kserve", r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? (?:\d+ )?[A-Za-z_][\w.]* (?P<_m>.*)$", output="inner_uvicorn"),
        {
            "type": "router",
            "id": "inner_uvicorn",
            "routes": [_route("inner_uvicorn_level", rf"^(?:{LEVEL_WORDS_UVICORN}):\s")],
            "default": _claim_info_id(),
        },
        _parser("inner_uvicorn_level", r"^(?P<_lvl>[A-Z]+)", output="uvicorn_access"),
        # GPUStack's Python logging format (and Python's / ramalama's without the logger name).
        _parser(
            "gpustack",
            r"^(?P<_time>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?) - (?:[\w.\-]+ - )?(?P<_lvl>[A-Z]+) - ",
            output=join,
        ),
        # llama-swap: old and new access logs, bracketed levels, its health check of the upstream.
        _parser("swap_access", r"^\[llama-swap\] (?P<_client>\S+) \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] " + _SWAP_REQ, output=_claim_info_id()),
        _parser("swap_bracket", r"^\[(?P<_lvl>[A-Z]+)\] (?P<_m>.*)$"),
        _parser("swap_request", r"^Request (?P<_client>.+?) " + _SWAP_REQ, cond=matches(MSG, r"^Request "), output=join),
        _add("swap_health", HEALTH_CHECK, True),
        _parser("swap_health_status", r"^!!! Health check error: status code: (?P<_status>\d{3})", output=_claim_info_id()),
        # ollama: the gin access log and Go's slog lines.
        _parser(
            "gin",
            r"^\[GIN\] \d{4}/\d\d/\d\d - \d\d:\d\d:\d\d \| +(?P<_status>\d{3}) \| +\S+ \| +(?P<_client>\S+) \| +(?P<_method>[A-Z]+) +\"(?P<_target>[^\"]*)\"",
            output=_claim_info_id(),
        ),
        _parser("slog", r"^time=\S+ level=(?P<_lvl>\w+)", output=_claim_info_id()),
    ]


# ---------------------------------------------------------------- 4: content

_BOX_V1 = (
    r"^srv +log_server_re(?:quest|sponse): rid (?P<_rid>\S*) \| (?P<_method>[A-Z]+) " + _TARGET
    + r" \[?(?P<_client>[^\s\[\]]+?)\]?:(?P<_cport>\d+)(?: \| status (?P<_status>\d+) \| cost -?\d+(?:\.\d+)?s)?\s*$"
)
_BOX_V2 = (
    r"^srv +(?:request|response|exception): rid (?P<_rid>\S*) \| +(?P<_method>[A-Z]+) " + _TARGET
    + r" \[?(?P<_client>[^\s\[\]]+?)\]?:(?P<_cport>\d+)(?: \| status (?P<_status>\d+) \| cost -?\d+(?:\.\d+)?(?:ms|s)(?: \| .*)?)?\s*$"
)
_BOX_RID = r"^srv +\S+: rid (?P<_rid>\S*) \| "
_UPSTREAM = r"^(?:srv +\w+: (?:done )?)?request: (?P<_method>[A-Z]+) " + _TARGET + r" (?P<_client>\S+) (?P<_status>\d{3})\s*$"

# Lines a content dialect claims without a level: they stay INFO, no error-word inference.
_LOADING = (
    r"^(?:(?:srv|cmn) +)?(?:loaded +\d+% model tensors into buffer|(?:llm_)?load_tensors:"
    r"|(?:main|load_model|load): loading model(?: '.*')?\s*$"
    r"|ggml_backend_metal_log_allocated_size: allocated buffer, size = +\d+(?:\.\d+)? MiB)"
)
_RPC_BRACKET = r"^\[~?[a-z_][a-z0-9_]*\] "
_RPC_INFO = "|".join(
    (
        r"^(?:cli +|srv +loop: )(?:accepted|closed):? \S+\s*$",
        r"^srv +rpcserver_start: listening hostname = \S+, port = \d+, allocatable_mib = \d+, capacity_mib = \d+",
        r"^srv +start: proto v\d+\.\d+\.\d+, listening host = \S+, port = \d+, capacity_mib = \d+",
        r"^srv +(?:rpcserver_\w+|rpc_\w+): ",
        r"^srv +loop: .*stop",
        r"^create_backend: ",
        r"^(?:Accepted client connection|Client connection closed|Devices:|RDMA )",
        r"^Starting RPC server (?:v\d+\.\d+\.\d+|on \S+, backend memory: \d+ MB)",
        r"^  (?:endpoint|local cache|backend memory|transport|devices?) *: ",
        r"^  \w+: .* \(\d+ MiB, \d+ MiB free\)\s*$",
        r"^\s*(?:Never expose the RPC server to an open network!|This is an experimental feature and is not secure!)\s*$",
        r"^!{10,}$",
        r"^llama runner (?:process )?(?:has )?terminated",
    )
)
_RPC_ERROR = r"^Failed to (?:connect to|accept client connection|create server socket|create backend)"
_CRASH_HEAD = "|".join(
    (
        r"GGML_ASSERT\(.*\) failed",
        r"^terminate called (?:without an active exception|after throwing an instance of '[^']*')",
        r"^(?:panic|fatal error): ",
        r"^(?:Segmentation fault|Aborted|Bus error|Illegal instruction)(?: \(core dumped\))?\s*$",
        r"^SIG[A-Z]+: ",
        r"^(?:[A-Za-z]:)?[\w./\\-]+\.(?:c|cc|cpp|cu):\d+: \S",
    )
)
_CRASH_TRACE = "|".join(
    (
        r"^goroutine \d+ \[[^\]]*\]:\s*$",
        r"^\[(?:New LWP \d+|New Thread 0x[0-9a-f]+ \(LWP \d+\)|Thread debugging using libthread_db enabled"
        r"|Inferior \d+ \(process \d+\) detached|Detaching after (?:fork|vfork) from child process \d+)\]\s*$",
        r"^#\d+ +(?:0x[0-9a-f]+ in )?\S+ \(",
        r"^0x[0-9a-f]+ in \S+ \(",
        r"^Using host libthread_db library ",
        r"^\t\S+\.(?:go|s):\d+(?: \+0x[0-9a-f]+)?\s*$",
        r"^created by \S+",
        r"^\s+what\(\): +",
        r"^\S+\([^()\s]*\+0x[0-9a-f]+\) ?\[0x[0-9a-f]+\]\s*$",
    )
)
_CHROMIUM = r"^\[\d+:\d+/\d+\.\d+:(?P<_lvl>[A-Z]+)(?:\d+)?:[^\]]+\] "
_STAMP = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[(?P<_lvl>\w+)\]"
_LEVEL_UPPER = r"^(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|FATAL|PANIC)(?::|\s+-\s+|\s+\S)"
_LEVEL_LOWER = r"^(?:trace|debug|info|warn|warning|error|fatal|Warning|Error):"
_TAG = r"^(?:(?:srv|slt|slot|que|cli|cmn|res|ctx) +)?[A-Za-z_~][\w.~]*(?:\(\))?:(?: +(?P<_body>.*)|$)"
_BODY_LEVEL = r"^(?i:trace|debug|info|warn|warning|error|err|critical|fatal):"


def _claim_info_id() -> str:
    return "join"


def content() -> list[Operator]:
    join = "join"
    return [
        _noop("content"),
        _parser("llama_box_v1", _BOX_V1, cond=matches(MSG, r"^srv +log_server_re")),
        _parser("llama_box_v2", _BOX_V2, cond=is_nil("_method") + " and " + matches(MSG, r"^srv +(?:request|response|exception): rid")),
        _parser("llama_box_rid", _BOX_RID, cond=is_nil("_rid") + " and " + matches(MSG, r"^srv +\S+: rid ")),
        _parser("upstream_request", _UPSTREAM, cond=f"{is_nil('_rid')} and {field(MSG)} contains 'request: '"),
        {
            "type": "router",
            "id": "unprefixed",
            "routes": [
                {"output": join, "expr": f"{not_nil(LEVEL)} or {not_nil('_rid')} or {not_nil('_method')}"},
                _route(join, _LOADING),
                _route("set_error", _RPC_ERROR),
                _route("set_error", _RPC_BRACKET + r".*(?i:failed|disconnected)", extra="not (" + matches(MSG, _RPC_BRACKET + r".*(?i:retrying)") + ")"),
                _route(join, _RPC_BRACKET),
                _route(join, _RPC_INFO),
                _route("set_fatal", _CRASH_HEAD),
                _route("set_error", _CRASH_TRACE),
                _route("chromium", _CHROMIUM.replace("(?P<_lvl>", "(?:")),
                _route("stamp", _STAMP.replace("(?P<_lvl>", "(?:")),
                _route("level_word", _LEVEL_UPPER),
                _route("level_word_lower", _LEVEL_LOWER),
                _route("tag", _TAG.replace("(?P<_body>", "(?:")),
                _route("set_error", _ERROR_WORDS),
            ],
            "default": join,
        },
        _add("set_error", LEVEL, "ERROR", output=join),
        _add("set_fatal", LEVEL, "FATAL", output=join),
        _parser("chromium", _CHROMIUM, output=join),
        _parser("stamp", _STAMP, output=join),
        _parser("level_word", r"^(?P<_lvl>[A-Z]+)", output=join),
        _parser("level_word_lower", r"^(?P<_lvl>[A-Za-z]+)", output=join),
        _parser("tag", _TAG),
        {
            "type": "router",
            "id": "tag_body",
            "routes": [
                _route("body_level", _BODY_LEVEL, name="_body"),
                _route("set_error", _ERROR_WORDS, name="_body"),
            ],
            "default": join,
        },
        _parser("body_level", r"^(?P<_lvl>[A-Za-z]+)", parse_from="_body", output=join),
    ]


# ---------------------------------------------------------------- 5: join


def join() -> list[Operator]:
    ops: list[Operator] = [
        {
            "type": "severity_parser",
            "id": "join",
            "if": not_nil(LEVEL),
            "parse_from": f"attributes.{LEVEL}",
            "preset": "none",
            "mapping": SEVERITY_MAPPING,
            "overwrite_text": True,
            "on_error": "send_quiet",
        },
        _parser("target", r"^(?P<_path>[^?]*)(?:\?(?P<_query>.*))?$", parse_from="_target", cond=not_nil("_target")),
    ]
    for work, name in HTTP_FIELDS.items():
        cond = f'{not_nil(work)} and {field(work)} != ""'
        ops.append({"type": "move", "id": f"move{work}", "if": cond, "from": f"attributes.{work}", "to": f'attributes["{name}"]'})
    ops.append({"type": "move", "id": "move_rid", "if": not_nil(RID), "from": f"attributes.{RID}", "to": f'attributes["{names.REQUEST_ID}"]'})
    return ops


def operators() -> list[Operator]:
    """The whole operator list of the filelog receiver, in order."""
    return [*normalise(), *dialects(), *content(), *join()]


def working_attribute_pattern() -> str:
    """Regex of the working attribute keys the transform processor deletes."""
    return "^_"
