"""One declaration per line shape: the Python general path, the fast path and the real
Collector's stanza operators (all derived from `otel_plugins.dialects`) agree on every
golden line.

- fast path: where `match_hot` takes a line, `record()` (and `fast_parse`) is the general
  path's Record, and its decision key and stated level are that Record's;
- Collector: the filelog receiver with `stanza.operators()` and the shape-dependent OTTL
  (typing, working-attribute clean-up) reads the golden lines; each record's severity is the
  Python side's (stated, or ERROR for an error kind, else INFO) and its attributes are exactly
  the fields the shapes that built the Python Record declare portable, with the same values.
- the declarations themselves: RE2-only constructs, every shape reachable, examples parse.

Binaries: scripts/build_collector.sh (otelcol). The Collector test skips only when it is missing.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from test_dialects import GOLDEN, read_lines

from otel_plugins.collector.render import to_yaml
from otel_plugins.collector.stanza import all_shapes, carried, operators, typed_attributes, working_attribute_pattern
from otel_plugins.collector.ottl import attr as ottl_attr
from otel_plugins.dialects import parse_line, pipeline
from otel_plugins.dialects.fastpath import fast_parse, match_hot
from otel_plugins.dialects.objects import TARGET, ObjectShape
from otel_plugins.dialects.prefixed import Behind
from otel_plugins.dialects.regex import re2_problems
from otel_plugins.dialects.shape import Shape
from otel_plugins.record import Kind, Record, Severity
from services import Collector, missing_reason

SENTINEL = "otel-plugins single source: end of input"


def golden_lines() -> list[str]:
    lines = []
    for path in sorted(GOLDEN.rglob("input.log")):
        lines += read_lines(path)
    return lines


def parse_traced(line: str) -> tuple[Record, list, set[str]]:
    """The general path's Record, the shapes that built it (outermost last), and the
    attributes those shapes declare portable (what the Collector must carry)."""
    used: list = []
    keys: set[str] = set()
    originals: list[tuple[object, str, object]] = []

    def shape_build(shape, build):
        portable = [(shape.regex.groupindex[f.group] - 1, f.attr) for f in shape.fields if (f.attr, f.conv.ottl) in carried(shape)]

        def recording(text, g, found=False):
            rec = build(text, g, found)
            if rec is not None:
                used.append(shape)
                keys.update(attribute for i, attribute in portable if g[i] is not None)
                keys.update(k for k, v in shape.const if isinstance(v, (str, int, bool)))
            return rec
        return recording

    def object_record(shape, record):
        def recording(text, obj, when):
            used.append(shape)
            case = next((c for c in shape.cases if c.holds(obj)), None)
            if case is not None:
                keys.update(k.attr if k.attr != TARGET else "url.path" for k in case.keys if k.conv.portable or k.attr == TARGET)
                keys.update(k for k, _ in case.const)
                keys.add("url.query")
            return record(text, obj, when)
        return recording

    for shape in all_shapes():
        name, wrap = ("build", shape_build) if isinstance(shape, Shape) else ("record", object_record)
        originals.append((shape, name, getattr(shape, name)))
        setattr(shape, name, wrap(shape, getattr(shape, name)))
    try:
        rec = pipeline._parse(line)
    finally:
        for shape, name, original in originals:
            setattr(shape, name, original)
    return rec, used, keys


def python_view(line: str) -> tuple[int, dict]:
    """The severity number the Collector must give the line, and the attributes it must carry
    (a known line behind an unknown prefix is the Python side's only: not looked for)."""
    original = Behind.__call__
    Behind.__call__ = lambda self, text: None
    try:
        rec, _used, keys = parse_traced(line)
    finally:
        Behind.__call__ = original
    severity = rec.severity if rec.severity is not None else (Severity.ERROR if rec.kind is Kind.ERROR else Severity.INFO)
    return int(severity), {k: v for k, v in rec.fields.items() if k in keys}


# ---------------------------------------------------------------- Python: general and fast path


def test_fast_path_is_the_general_path_on_every_golden_line():
    """Where the fast path takes a golden line, it builds the general path's Record."""
    taken = 0
    for line in golden_lines():
        general = pipeline._parse(line)
        assert parse_line(line) == general, line
        hot = match_hot(line)
        if hot is None:
            assert fast_parse(line) is None, line
            continue
        taken += 1
        assert hot.record() == general and fast_parse(line) == general, line
        f = general.fields
        assert hot.severity == general.severity and hot.kind is general.kind, line
        assert hot.key[:4] == (f.get("http.request.method"), f.get("url.path"), f.get("http.response.status_code"), f.get("client.address")), line
    assert taken >= 10


def test_declarations_are_re2_and_their_examples_reach_them():
    """No lookaround or backreference anywhere; each shape's example lines are parsed by it."""
    shapes = all_shapes()
    assert len(shapes) > 100
    for shape in shapes:
        pattern = shape.head.pattern if isinstance(shape, ObjectShape) and shape.head else getattr(shape, "pattern", "")
        assert not re2_problems(pattern), (shape.name, re2_problems(pattern))
        for example in shape.examples:
            _rec, used, _keys = parse_traced(example)
            assert shape in used, (shape.name, example, [s.name for s in used])


def test_error_kinds_state_a_severity():
    """A shape that makes an ERROR record says its severity, so the Collector (which sees no kind) agrees."""
    for shape in all_shapes():
        if isinstance(shape, Shape) and shape.kind is Kind.ERROR:
            assert shape.severity is not None or shape.level, shape.name


def test_word_rules_start_with_their_key():
    """A word rule matches only messages whose first word is its key (the Collector's routes rely on it)."""
    from otel_plugins.dialects.lifecycle import WORDS

    for key, rules in WORDS.table.items():
        for rule in rules:
            assert rule.pattern.startswith((key, re.escape(key))), (key, rule.pattern)


# ---------------------------------------------------------------- the real Collector


def collector_config(path: Path, out: Path) -> str:
    statements = [
        *(f"set({ottl_attr(name)}, {conv}({ottl_attr(name)})) where {ottl_attr(name)} != nil" for name, conv in sorted(typed_attributes().items())),
        f'delete_matching_keys(log.attributes, "{working_attribute_pattern()}")',
        'delete_key(log.attributes, "log.file.name")',
        "set(log.severity_number, SEVERITY_NUMBER_INFO) where log.severity_number == SEVERITY_NUMBER_UNSPECIFIED",
    ]
    config = {
        "receivers": {
            "file_log": {
                "include": [str(path)], "start_at": "beginning", "include_file_name": False,
                "preserve_leading_whitespaces": True, "preserve_trailing_whitespaces": True, "operators": operators(),
            }
        },
        "processors": {"transform": {"error_mode": "ignore", "log_statements": [{"context": "log", "statements": statements}]}},
        "exporters": {"file": {"path": str(out), "flush_interval": "100ms"}},
        "service": {"pipelines": {"logs": {"receivers": ["file_log"], "processors": ["transform"], "exporters": ["file"]}}},
    }
    return to_yaml(config)


def _value(v: dict):
    if "intValue" in v:
        return int(v["intValue"])
    for key in ("stringValue", "doubleValue", "boolValue"):
        if key in v:
            return v[key]
    raise AssertionError(v)


def run_collector(lines: list[str], tmp: Path, timeout: float = 90.0) -> dict[str, tuple[int, dict]]:
    log, out = tmp / "golden.log", tmp / "out.jsonl"
    log.write_bytes(("\n".join(lines) + f"\n{SENTINEL}\n").encode("utf-8"))
    with Collector(collector_config(log, out)) as collector:
        deadline = time.monotonic() + timeout
        while not (out.exists() and SENTINEL in out.read_text(errors="replace")):
            assert time.monotonic() < deadline, f"nothing exported in time:\n{collector.log_text()[-3000:]}"
            time.sleep(0.2)
        size, since = -1, time.monotonic()
        while time.monotonic() - since < 1.0:
            if out.stat().st_size != size:
                size, since = out.stat().st_size, time.monotonic()
            time.sleep(0.1)
        errors = [line for line in collector.log_text().splitlines() if "\terror\t" in line or "\twarn\t" in line]
    assert not errors, errors[:5]
    found: dict[str, tuple[int, dict]] = {}
    for row in out.read_text(encoding="utf-8").splitlines():
        for rl in json.loads(row)["resourceLogs"]:
            for sl in rl["scopeLogs"]:
                for record in sl["logRecords"]:
                    attributes = {a["key"]: _value(a["value"]) for a in record.get("attributes", [])}
                    found[record["body"]["stringValue"]] = (record.get("severityNumber", 0), attributes)
    return found


def test_collector_reads_every_golden_line_as_python_does(tmp_path, capsys):
    """Severity and carried attributes from the rendered stanza operators equal the Python side's."""
    reason = missing_reason("otelcol")
    if reason:
        pytest.skip(reason)
    lines = []
    for line in golden_lines():
        if line.strip() and line.isprintable() or ("\x1b" in line and line.replace("\x1b", "").isprintable()):
            lines.append(line)
    found = run_collector(lines, tmp_path)
    problems = []
    for line in lines:
        rec = pipeline._parse(line)
        want = python_view(line)
        got = found.get(rec.text)
        if got is None:
            problems.append(f"not exported: {line!r}")
        elif got != want:
            problems.append(f"{line!r}\n   python    {want}\n   collector {got}")
    with capsys.disabled():
        print(f"\n{len(lines)} golden lines through the Collector, {len(lines) - len(problems)} identical")
    assert not problems, "\n".join(problems[:30])
