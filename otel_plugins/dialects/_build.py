"""A shape's `build`, generated from its declaration (as `dataclasses` generates `__init__`).

The interpretive form (loop over the declared fields, look every setting up on the
shape) costs more than the regex match on the lines that come in storms; the generated
function does the same steps with the group indices, converters and constants inlined.
`tests/test_dialects.py` pins its output on every golden line.
"""

from __future__ import annotations

from typing import Any

from otel_plugins.names import CRASH_PART
from otel_plugins.record import Record


def compile_build(shape: Any, kind_for: dict, levels: dict, weak_dialects: tuple, plain: tuple) -> Any:
    """`build(text, g, found=False) -> Record | None` for `shape` (see `Shape.build`)."""
    env: dict[str, Any] = {
        "Record": Record, "CRASH_PART": CRASH_PART, "KIND_FOR": kind_for, "LEVELS": levels, "WEAK_DIALECTS": weak_dialects, "PLAIN": plain,
        "shape": shape, "CONST": dict(shape.const), "OUTER": frozenset(shape.outer), "WEAK": shape.weak_producers,
    }
    lines = ["def build(text, g, found=False):"]
    add = lines.append

    def ref(index: Any) -> str:
        if isinstance(index, int):
            return f"g[{index}]"
        *first, last = index  # the first group that took part
        return "(" + " ".join(f"g[{i}] if g[{i}] is not None else" for i in first) + f" g[{last}])"

    def const(value: Any) -> str:
        name = f"C{len(env)}"
        env[name] = value
        return name

    if shape._message is not None:
        add(f"    message = {ref(shape._message)} or ''")
        if shape.message_conv is not None:
            add(f"    message = {const(shape.message_conv.py)}(message)")
    else:
        add("    message = None" if shape.partial else "    message = text")
    add(f"    tag = {ref(shape._tag) if shape._tag is not None else 'None'}")
    add("    if found is False:")
    add("        found = None")
    if shape.inner is not None:  # a partial shape (no message of its own) hands on its whole text
        add("        found = shape.inner.parse(text if message is None else message, tag)")
        if shape.required:
            add("        if found is None:")
            add("            return None")
    add("    fields = CONST.copy()" if shape.const else "    fields = {}")
    for i, conv, attr, empty in shape._fields:
        add(f"    v = g[{i}]")
        add("    if v is not None:" if empty else "    if v:")
        if conv is None:
            add(f"        fields[{attr!r}] = v")
        else:
            add(f"        v = {const(conv)}(v)")
            add("        if v is not None:")
            add(f"            fields[{attr!r}] = v")
    for index, conv, attr in shape._joined:
        add(f"    v = ({', '.join(f'g[{i}]' for i in index)},)")
        add("    if None not in v:")
        add(f"        v = {const(conv) if conv is not None else ''}(v)")
        add("        if v is not None:")
        add(f"            fields[{attr!r}] = v")
    add(f"    sev = {const(shape.severity)}")
    add(f"    kind = {const(shape._kind)}")
    if shape._level is not None:
        add(f"    word = {ref(shape._level)}")
        add("    if word:")
        add("        sev = LEVELS.get(word.upper(), sev)")
        if shape.kind is None:
            add("        kind = KIND_FOR[sev]")
    if shape.tag is not None:
        add("    if tag is None:")
        add(f"        tag = {const(shape.tag)}")
    add(f"    producer = {const(shape.producer)}")
    add("    if found is None:")
    add(f"        rec = Record(text, {const(shape.dialect)}, kind, sev, None, None, producer, tag, message, fields, {const(shape.event)})")
    for i, conv, slot in shape._slots:
        add(f"        v = {ref(i) if isinstance(i, int) else '(' + ', '.join(f'g[{j}]' for j in i) + ',)'}")
        add("        if v is not None:" if isinstance(i, int) else "        if None not in v:")
        if conv is not None:
            add(f"            v = {const(conv)}(v)")
        add("            if v is not None:")
        add(f"                rec.{slot} = v")
    add("    else:")
    add("        rec = found")
    add("        rec.text = text")
    for i, conv, slot in shape._slots:
        add(f"        v = {ref(i) if isinstance(i, int) else '(' + ', '.join(f'g[{j}]' for j in i) + ',)'}")
        add("        if v is not None:" if isinstance(i, int) else "        if None not in v:")
        if conv is not None:
            add(f"            v = {const(conv)}(v)")
        if slot == "producer":
            add("            if v is not None:")
            add("                producer = v")
        else:
            add(f"            if v is not None and not rec.{slot}:")
            add(f"                rec.{slot} = v")
    add("        d = rec.dialect")
    if shape.dialect is not None:
        add("        if d is None or d in WEAK_DIALECTS:")
    else:
        add("        if d is None:")
    add(f"            rec.dialect = {const(shape.dialect)}")
    add("        if sev is not None and CRASH_PART not in rec.fields:")  # see `shape.merge`
    add("            if rec.event is None and rec.kind in PLAIN:")
    add("                rec.kind = KIND_FOR[sev]")
    add("            rec.severity = sev")
    if shape.weak_producers is None:
        add("        if producer is not None:")
    else:
        add("        if producer is not None and rec.producer in WEAK:")
    add("            rec.producer = producer")
    add("        if rec.tag is None:")
    add("            rec.tag = tag")
    add("        if rec.message is None:")
    add("            rec.message = message")
    add("        if fields:")
    add("            f = rec.fields")
    add("            for key, value in fields.items():")
    add("                if key in OUTER or key not in f:" if shape.outer else "                if key not in f:")
    add("                    f[key] = value")
    if shape.default_producer is not None:
        add("    if rec.producer is None:")
        add(f"        rec.producer = {const(shape.default_producer)}")
        if shape.producer_names_dialect:
            add(f"    elif rec.producer != {const(shape.default_producer)}:")
            add("        rec.dialect = rec.producer")
    add("    return rec")
    source = "\n".join(lines)
    exec(compile(source, f"<build {shape.name}>", "exec"), env)  # noqa: S102 - our own generated source
    build = env["build"]
    build.source = source
    return build


__all__ = ["compile_build"]
