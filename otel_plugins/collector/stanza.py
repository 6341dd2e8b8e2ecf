"""The filelog receiver's stanza operators, rendered from the dialect declarations.

Nothing here knows a line shape: every route and parser comes from a `Shape`, an
`ObjectShape` or a rule table of `otel_plugins.dialects`, in the Python side's order.

1. `regex_replace` removes ANSI colour codes; the body is copied to the working text `_m`;
2. each chain becomes a router over its shapes in order (first match wins). Consecutive
   shapes that only add constants share one route; long chains are split into blocks
   behind one gate regex each, so a line pays one regex per block it cannot match. A
   shape's route runs its `regex_parser` (groups become `_<group>` working attributes, the
   message it hands on becomes `_m`), then its effects, then the chain that reads `_m`;
3. effects: a stated level (or the shape's own severity) fills `_sev` unless an outer
   layer already did; each field with a portable converter moves to its attribute (OTTL
   types it, see `typed_attributes`); constants are added;
4. envelopes nest (they hand the rest of the line to the line chain again): the line chain
   is rendered `ENVELOPE_DEPTH` times, the innermost without envelopes (stanza has no loops);
   a JSON object whose message is a line of its own hands it to that chain the same way;
5. `join`: the failure words (`failures.FAILURES`) on the whole line, then
   `severity_parser` maps `_sev` with the Python side's level table.

What only Python computes (kind, event, producer, clocks, converted sizes and durations) is
not carried, nor is a known line behind an unknown prefix (`prefixed.Behind`: one regex of
every shape at every cut costs Go's regexp about 70 µs a line). `tests/test_single_source.py`
compares the rest with the Python side on every golden line. Working attributes start with
`_`; the transform processor deletes them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from .. import names
from ..dialects.envelope import ANSI, ANSI_MARK
from ..dialects.failures import FAILURES, WORDS
from ..dialects.objects import DIGITS, PRESENT, TARGET, ObjectShape
from ..dialects.pipeline import LINE, all_shapes
from ..dialects.prefixed import Behind
from ..dialects.regex import rename_groups, strip_groups, sure_groups
from ..dialects.shape import LEVELS, Chain, Keyed, Later, Shape
from ..record import Kind, Severity

Operator = dict[str, Any]
Route = tuple[str, str, str]  # (gate regex, router expression, output)

MSG = "_m"  # the text the current chain reads
SEV = "_sev"  # the stated level, outermost first
TAG = "_tag"  # the tag a tag-keyed rule table looks up
HTTP = "_http"  # set on a line of kind HTTP (the policy's statements read it, then it goes)
PHASE = "_phase"  # set on a line that announces a phase change (raised to INFO, as on the Python side)
JOIN = "join"  # where every chain ends: the failure words, then the severity parser
SEVERITY = "severity"
HEALTH_CHECK = names.HEALTH_CHECK
ENVELOPE_DEPTH = 3
_RESERVED = {MSG, SEV, HTTP, PHASE, "_j"}  # (a `tag` group fills `_tag` on purpose: keyed rules read it)
BLOCK = 8  # routes behind one gate regex
_SEVERITY_KEYS = {
    Severity.TRACE: "trace", Severity.DEBUG: "debug", Severity.INFO: "info",
    Severity.WARN: "warn", Severity.ERROR: "error", Severity.FATAL: "fatal",
}


def severity_mapping() -> dict[str, list[str]]:
    """The severity_parser mapping: every level word and letter of the Python side."""
    mapping: dict[str, list[str]] = {key: [] for key in _SEVERITY_KEYS.values()}
    for word, severity in LEVELS.items():
        mapping[_SEVERITY_KEYS[severity]].append(word)
    return mapping


def expr_str(text: str) -> str:
    """A string literal of stanza's expression language (expr-lang)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def attr(name: str) -> str:
    """An attribute as an expression operand and as an operator field."""
    return f"attributes.{name}" if name.isidentifier() else f"attributes[{expr_str(name)}]"


def matches(name: str, regex: str) -> str:
    return f"{attr(name)} matches {expr_str(regex)}"


def anchored(pattern: str) -> str:
    """Matched at the start of the text, as Python's `re.match` does (whatever alternatives it has)."""
    return "(?s)^(?:" + pattern + ")"


def typed_attributes() -> dict[str, str]:
    """Attribute -> the OTTL converter that types it ("Int", "Double", "Len"), over every
    declared field the Collector carries; one attribute never gets two types."""
    out: dict[str, str] = {}
    for shape in all_shapes():
        for attribute, conv in carried(shape):
            if conv:
                if out.setdefault(attribute, conv) != conv:
                    raise ValueError(f"{attribute} is typed {out[attribute]} and {conv}")
    return out


def carried(shape: Shape | ObjectShape) -> list[tuple[str, str]]:
    """(attribute, OTTL converter) of the fields the Collector carries for `shape`."""
    if isinstance(shape, ObjectShape):
        return [(k.attr, k.conv.ottl) for case in shape.cases for k in case.keys if k.attr != TARGET and k.conv.portable]
    return [(f.attr, f.conv.ottl) for f in shape.fields if f.attr[0] != "@" and isinstance(f.group, str) and f.conv.portable]


# ---------------------------------------------------------------- operators


def _parser(op_id: str, regex: str, parse_from: str = MSG, **extra: Any) -> Operator:
    return {"type": "regex_parser", "id": op_id, **extra, "parse_from": f"attributes.{parse_from}", "regex": regex, "on_error": "send_quiet"}


def _move(op_id: str, source: str, target: str, *, keep_empty: bool = False, only_new: bool = False, cond: str | None = None, sure: bool = False) -> Operator:
    """Move `source` to `target`; unless `sure` (the regex always fills the source), only
    when the source took part (and is not empty, unless `keep_empty`)."""
    op: Operator = {"type": "move", "id": op_id}
    if not sure and cond is None:
        cond = f"{attr(source)} != nil" + ("" if keep_empty else f' and {attr(source)} != ""')
    if only_new:
        cond = (cond + " and " if cond else "") + f"{attr(target)} == nil"
    if cond:
        op["if"] = cond
    return {**op, "from": attr(source), "to": attr(target), "on_error": "send_quiet"}


def _add(op_id: str, target: str, value: Any, only_new: bool = False) -> Operator:
    op: Operator = {"type": "add", "id": op_id}
    if only_new:
        op["if"] = f"{attr(target)} == nil"
    return {**op, "field": attr(target), "value": value}


def _working(shape: Shape, group: str) -> str:
    """A group's working attribute: `_m` for the message handed to the inner chain, else `_<group>`."""
    if shape.inner is not None and group == shape.message:
        return MSG
    if "_" + group in _RESERVED or group.startswith(("o_", "request_target")):
        raise ValueError(f"{shape.name}: group {group!r} would overwrite a working attribute")
    return "_" + group


def _effect(shape: Shape) -> tuple:
    """What a shape does that the Collector sees, bar its fields: severity and constants
    (an HTTP line is marked `_http`, a line announcing a phase change `_phase`)."""
    consts = tuple((k, v) for k, v in shape.const if isinstance(v, (str, int, bool)) and not isinstance(v, float))
    if shape.kind is Kind.HTTP:
        consts += ((HTTP, True),)
    if shape.kind is Kind.LIFECYCLE and shape.event is not None:
        consts += ((PHASE, True),)
    return shape.severity, consts, frozenset(shape.outer)


def _yields_level(consts: tuple) -> bool:
    """Whether a shape's own severity gives way to a level an outer layer stated: all but a
    crash part's, which stands whatever the relay printed it at (as `dialects.shape.merge`)."""
    return all(key != names.CRASH_PART for key, _value in consts)


def _fields(shape: Shape) -> list:
    return [f for f in shape.fields if f.attr[0] != "@" and isinstance(f.group, str) and f.conv.portable]


class _Renderer:
    def __init__(self) -> None:
        self.ops: list[Operator] = []
        self.entries: dict[tuple, str] = {}
        self.ids: defaultdict[str, int] = defaultdict(int)

    def uid(self, base: str) -> str:
        base = re.sub(r"\W+", "_", base).strip("_")
        self.ids[base] += 1
        return base if self.ids[base] == 1 else f"{base}__{self.ids[base]}"

    # -------------------------------------------------------------- chains

    def chain(self, chain: Chain | Keyed, depth: int = 0) -> str:
        """The id of the router that runs `chain` on `_m` (rendered once per chain)."""
        key = (id(chain), depth if chain is LINE else 0)
        if key in self.entries:
            return self.entries[key]
        entry = self.entries[key] = self.uid(f"{chain.name}_{depth}" if chain is LINE else chain.name)
        if isinstance(chain, Keyed):
            self.router(entry, self.rules((chain,)), JOIN)
            return entry
        items = list(chain.items)
        default = self.chain(items.pop()) if items and isinstance(items[-1], Chain) else JOIN
        shapes = [s for item in items for s in (item.shapes if isinstance(item, Chain) else (item,))]
        if depth >= ENVELOPE_DEPTH - 1:  # the innermost line chain: no more envelopes
            shapes = [s for s in shapes if not isinstance(s.inner, Later)]
        shapes = [s for s in shapes if not isinstance(s, Behind)]
        self.router(entry, self.routes([self.route(s, depth) for s in shapes]), default)
        return entry

    def router(self, entry: str, routes: list[Route], default: str) -> None:
        """A router over `routes`; more than a few go in blocks behind one gate regex each."""
        if len(routes) <= 3:
            self.ops.append({"type": "router", "id": entry, "routes": [{"output": o, "expr": e} for _, e, o in routes], "default": default})
            return
        gates = []
        for start in range(0, len(routes), BLOCK):
            block = routes[start : start + BLOCK]
            block_id = self.uid(f"{entry}_{start // BLOCK}")
            gate = anchored("|".join(f"(?:{g})" for g, _, _ in block))
            gates.append({"output": block_id, "expr": matches(MSG, gate)})
            self.ops.append({"type": "router", "id": block_id, "routes": [{"output": o, "expr": e} for _, e, o in block], "default": default})
        self.ops.append({"type": "router", "id": entry, "routes": gates, "default": default})

    def routes(self, routes: list[tuple[str, str, str | None, tuple]]) -> list[Route]:
        """Consecutive routes that only add the same constants share one route and one set of ops."""
        merged: list[list] = []
        for gate, expr, output, effect in routes:
            if output is None and merged and merged[-1][2] is None and merged[-1][3] == effect:
                merged[-1][0] = f"(?:{merged[-1][0]})|(?:{gate})"
                merged[-1][1].append(expr)
            else:
                merged.append([gate, [expr], output, effect])
        out: list[Route] = []
        for gate, exprs, output, effect in merged:
            if output is None:
                output = self.constants(effect)
            out.append((gate, " or ".join(f"({e})" for e in exprs) if len(exprs) > 1 else exprs[0], output))
        return out

    def constants(self, effect: tuple) -> str:
        """The ops of a constant effect (rendered once per effect); returns their entry."""
        if ("constants", effect) in self.entries:
            return self.entries[("constants", effect)]
        severity, consts, outer = effect
        op_id = self.entries[("constants", effect)] = self.uid("constants")
        ops: list[Operator] = [{"type": "noop", "id": op_id}]
        if severity is not None:
            ops.append(_add(self.uid(f"{op_id}_severity"), SEV, severity.name, only_new=_yields_level(consts)))
        ops += self.const_ops(op_id, consts, outer)
        ops[-1]["output"] = JOIN
        self.ops += ops
        return op_id

    def const_ops(self, op_id: str, consts: tuple, outer: frozenset) -> list[Operator]:
        """Constant attributes (unless an outer layer set one the outer layer owns)."""
        return [_add(self.uid(f"{op_id}_{k}"), k, v, only_new=k in outer) for k, v in consts]

    # -------------------------------------------------------------- shapes and rules

    def route(self, shape: Shape | ObjectShape, depth: int) -> tuple[str, str, str | None, tuple]:
        if isinstance(shape, ObjectShape):
            return self.object_route(shape)
        gate = strip_groups(shape.guard or shape.pattern)
        inner = shape.inner
        if inner is None and not shape.level and not _fields(shape):
            return gate, matches(MSG, anchored(gate)), None, _effect(shape)
        if isinstance(inner, Later):
            then = self.chain(inner.chain, depth + 1)
        else:
            then = self.chain(inner) if inner is not None else JOIN
        return gate, matches(MSG, anchored(gate)), self.shape_ops(shape, then), ()

    def rules(self, tables: tuple[Keyed, ...]) -> list[Route]:
        routes = []
        for table in tables:
            for key, rules in table.table.items():
                for rule in rules:
                    gate = strip_groups(rule.pattern)
                    expr = matches(MSG, anchored(gate))
                    if table.by_tag:
                        expr = f"{attr(TAG)} == {expr_str(key)} and {expr}"
                    if not rule.level and not _fields(rule):
                        routes.append((gate, expr, None, _effect(rule)))
                    else:
                        routes.append((gate, expr, self.shape_ops(rule, JOIN), ()))
        return self.routes(routes)

    def shape_ops(self, shape: Shape, then: str) -> str:
        """The parser and effect operators of one shape (rendered once per shape and
        continuation: a shape in several chains shares them); returns the parser's id."""
        if shape.inner is not None and not isinstance(shape.message, (str, type(None))):
            raise ValueError(f"{shape.name}: a shape with an inner chain hands on one message group")
        if (id(shape), then) in self.entries:
            return self.entries[(id(shape), then)]
        op_id = self.entries[(id(shape), then)] = self.uid(shape.name)
        if shape.regex.groupindex:
            ops = [_parser(op_id, anchored(rename_groups(shape.pattern, lambda g: _working(shape, g))))]
        else:  # the route's regex said all there is to say
            ops = [{"type": "noop", "id": op_id}]
        levels = (shape.level,) if isinstance(shape.level, str) else (shape.level or ())
        for group in levels:
            ops.append(_move(self.uid(f"{op_id}_level_{group}"), "_" + group, SEV, only_new=True))
        severity, consts, outer = _effect(shape)
        if severity is not None:
            ops.append(_add(self.uid(f"{op_id}_severity"), SEV, severity.name, only_new=_yields_level(consts)))
        sure = sure_groups(shape.regex)
        for f in _fields(shape):
            ops.append(_move(self.uid(f"{op_id}_{len(ops)}"), _working(shape, f.group), f.attr, keep_empty=f.empty, sure=f.group in sure))
        ops += self.const_ops(op_id, consts, outer)
        ops[-1]["output"] = then
        self.ops += ops
        return op_id

    # -------------------------------------------------------------- objects (JSON, key=value)

    def object_route(self, shape: ObjectShape) -> tuple[str, str, str, tuple]:
        op_id = self.uid(shape.name)
        ops: list[Operator] = []
        if shape.head is None:
            gate = r"\{"
            expr = matches(MSG, anchored(gate))
            if shape.needles:
                expr += " and (" + " or ".join(f"{attr(MSG)} contains {expr_str(n)}" for n in shape.needles) + ")"
            ops.append({"type": "json_parser", "id": op_id, "parse_from": attr(MSG), "parse_to": "attributes._j", "on_error": "send_quiet"})

            def ref(key: str) -> str:  # an object value, in an expression and as a field
                return "attributes._j?." + "?.".join(key.split("."))

            def field(key: str) -> str:
                return "attributes._j." + key
        else:
            gate = strip_groups(shape.head.pattern)
            expr = matches(MSG, anchored(gate))
            ops.append(_parser(op_id, anchored(rename_groups(shape.head.pattern, lambda g: "_o_" + g))))
            wanted = {k for case in shape.cases for k, _ in case.when} | {k.key for case in shape.cases for k in case.keys}
            wanted |= {*_keys(shape.level), *_keys(shape.message), *_keys(shape.tag)}
            for key in sorted(wanted - set(shape.head.regex.groupindex)):  # one regex per key=value pair read
                quoted, bare = f"_o_{key}_quoted", f"_o_{key}_bare"
                ops.append(_parser(self.uid(f"{op_id}_{key}"), rf'(?s)(?:^|\s){key}=(?:"(?P<{quoted}>(?:[^"\\]|\\.)*)"|(?P<{bare}>\S*))', parse_from="_o_kv"))
                ops.append(_move(self.uid(f"{op_id}_{key}_quoted"), quoted, f"_o_{key}"))
                ops.append(_move(self.uid(f"{op_id}_{key}_bare"), bare, f"_o_{key}", only_new=True))

            def ref(key: str) -> str:
                return f"attributes._o_{key}"

            field = ref

        def first(target: str, keys: Any, base: str, cond: str = "", known: bool = False) -> list[Operator]:
            """Copy the first of `keys` the object has to `target` (a level only when it is one)."""
            out, before = [], []
            for key in _keys(keys):
                conds = [cond] if cond else []
                conds += [f"{ref(k)} == nil" for k in before] + [f"{ref(key)} != nil"]
                if known:
                    conds.append(f"upper(string({ref(key)})) in {_LEVEL_WORDS}")
                out.append({"type": "copy", "id": self.uid(f"{base}_{key}"), "if": " and ".join(conds), "from": field(key), "to": attr(target)})
                before.append(key)
            return out

        ops += first(SEV, shape.level, f"{op_id}_level", cond=f"{attr(SEV)} == nil", known=True)
        if shape.wrap is not None:  # the message is a line of its own: no cases, no rules
            ops.append(_add(self.uid(f"{op_id}_message"), MSG, ""))
            ops += first(MSG, shape.message, f"{op_id}_message")
            ops.append(_parser(self.uid(f"{op_id}_newline"), r"(?s)^(?P<_m>.*?)\n*$"))
            ops[-1]["output"] = self.chain(shape.wrap)
            self.ops += ops
            return gate, expr, op_id, ()
        cases_id, rules_id = self.uid(f"{shape.name}_cases"), self.uid(f"{shape.name}_rules")
        ops[-1]["output"] = cases_id if shape.cases else rules_id
        routes, case_ops = [], []
        for i, case in enumerate(shape.cases):
            conds = []
            for key, want in case.when:
                if want is PRESENT:
                    conds.append(f"{ref(key)} != nil")
                elif want is DIGITS:
                    conds.append(f'{ref(key)} != nil and string({ref(key)}) matches "^[0-9]+$"')
                else:
                    conds.append(f"{ref(key)} == {expr_str(want)}")
            case_id = self.uid(f"{shape.name}_case_{i}")
            routes.append({"output": case_id, "expr": " and ".join(conds)})
            chain: list[Operator] = [{"type": "noop", "id": case_id}]
            for k in case.keys:
                if k.conv.portable or k.attr == TARGET:
                    target = "_request_target" if k.attr == TARGET else k.attr
                    chain.append(_move(self.uid(f"{case_id}_{k.key}"), "", target, cond=f"{ref(k.key)} != nil") | {"from": field(k.key)})
            for attribute, value in (*case.const, *(((HTTP, True),) if case.kind is Kind.HTTP else ())):
                chain.append(_add(self.uid(f"{case_id}_{len(chain)}"), attribute, value))
            chain[-1]["output"] = JOIN
            case_ops += chain
        if routes:
            ops.append({"type": "router", "id": cases_id, "routes": routes, "default": rules_id})
        # No case: the message may still be a lifecycle marker (the rule tables, tag first).
        ops.append(_add(rules_id, MSG, ""))
        ops += first(MSG, shape.message, f"{rules_id}_message")
        ops += first(TAG, shape.tag, f"{rules_id}_tag")
        rules_router = self.uid(f"{shape.name}_lifecycle")
        ops[-1]["output"] = rules_router
        self.ops += ops + case_ops
        self.router(rules_router, self.rules(shape.inner), JOIN)
        return gate, expr, op_id, ()


    # -------------------------------------------------------------- failures (after the dialects)

    def failures(self) -> None:
        """`failures.mark`: words that say a process died make the line ERROR (FATAL stays),
        whatever its dialect; not an HTTP line. Entry: JOIN; then the severity parser. The
        trigger words go first: Go's regexp would take ~100 µs a line for the rules alone."""
        routes: list[dict] = []
        fatal = "[" + ", ".join(expr_str(w) for w, sev in LEVELS.items() if sev >= Severity.FATAL) + "]"

        def holds(words: tuple[str, ...]) -> str:  # the trigger words, as `failures.mark` checks them first
            return "(let low = lower(body); " + " or ".join(f"low contains {expr_str(w)}" for w in words) + ")"

        for words, rule in FAILURES:
            output = SEVERITY
            if rule.severity is not None:
                output = self.uid(rule.name)
                ops: list[Operator] = [
                    {"type": "noop", "id": output},
                    _add(self.uid(f"{output}_severity"), SEV, rule.severity.name)
                    | {"if": f"{attr(SEV)} == nil or not (upper(string({attr(SEV)})) in {fatal})"},
                ]
                ops += self.const_ops(output, _effect(rule)[1], frozenset())
                ops[-1]["output"] = SEVERITY
                self.ops += ops
            routes.append({"output": output, "expr": f"{holds(words)} and body matches {expr_str(anchored(strip_groups(rule.pattern)))}"})
        rules = self.uid("failure_rules")
        self.ops.append({"type": "router", "id": JOIN, "routes": [{"output": rules, "expr": f"{attr(HTTP)} == nil and {holds(WORDS)}"}], "default": SEVERITY})
        self.ops.append({"type": "router", "id": rules, "routes": routes, "default": SEVERITY})


def _keys(keys: Any) -> tuple[str, ...]:
    return (keys,) if isinstance(keys, str) else tuple(keys or ())


_LEVEL_WORDS = "[" + ", ".join(expr_str(word) for word in LEVELS) + "]"


def operators() -> list[Operator]:
    """The whole operator list of the filelog receiver, in order."""
    renderer = _Renderer()
    start = [
        {
            "type": "regex_replace", "id": "strip_ansi", "if": "body matches " + expr_str(ANSI_MARK),
            "field": "body", "regex": ANSI, "replace_with": "", "on_error": "send_quiet",
        },
        {"type": "copy", "id": "text", "from": "body", "to": attr(MSG)},
    ]
    start[-1]["output"] = renderer.chain(LINE)
    renderer.failures()
    join = [
        {
            "type": "severity_parser", "id": SEVERITY, "if": f"{attr(SEV)} != nil", "parse_from": attr(SEV),
            "preset": "none", "mapping": severity_mapping(), "overwrite_text": True, "on_error": "send_quiet",
        },
        # A request target from an object (JSON `path`): its path and query, as the regexes split them.
        _parser("target", r"^(?P<_request_target_path>[^?]*)(?:\?(?P<_request_target_query>.*))?$", parse_from="_request_target", **{"if": f"{attr('_request_target')} != nil"}),
        _move("target_path", "_request_target_path", names.URL_PATH, keep_empty=True),
        _move("target_query", "_request_target_query", "url.query", cond=f'{attr("_request_target_query")} != nil and {attr("_request_target")} contains "?"'),
    ]
    return [*start, *renderer.ops, *join]


def working_attribute_pattern() -> str:
    """Regex of the working attribute keys the transform processor deletes."""
    return "^_"
