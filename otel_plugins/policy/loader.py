"""Reading a policy YAML file with bounds: size, aliases, nesting, sequence length.

PyYAML's safe loader builds aliases as shared references, cheap to load; it is the code that
walks the result (`str()` of a list, an error message quoting it) that pays for the
expansion: 409 bytes of nested aliases ("billion laughs") become gigabytes. A policy needs
none of that, so the composer refuses, while composing and naming where, more aliases,
deeper nesting or longer sequences than any real policy has, and the file is read only up to
a size limit.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

MAX_POLICY_BYTES = 1 << 20
MAX_ALIASES = 16
MAX_DEPTH = 16
MAX_SEQUENCE = 4096


class PolicyFileError(ValueError):
    """The file cannot be a policy: the message is one line, naming the file and where."""


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._path: list[str] = []

    def _where(self) -> str:
        return ".".join(self._path).replace(".[", "[") or "the top level"

    def compose_node(self, parent: Any, index: Any) -> Any:
        # `index` is the key node for a mapping value, the position for a sequence item.
        self._path.append(f"[{index}]" if isinstance(index, int) else str(getattr(index, "value", "?"))[:40])
        try:
            if self.check_event(yaml.AliasEvent):
                self._aliases += 1
                if self._aliases > MAX_ALIASES:
                    mark = self.peek_event().start_mark
                    raise PolicyFileError(
                        f"line {mark.line + 1}: more than {MAX_ALIASES} aliases (at {self._where()}); a policy needs no alias expansion"
                    )
            if len(self._path) > MAX_DEPTH:
                raise PolicyFileError(f"nested deeper than {MAX_DEPTH} levels (at {self._where()})")
            return super().compose_node(parent, index)
        finally:
            self._path.pop()

    def compose_sequence_node(self, anchor: Any) -> Any:
        node = super().compose_sequence_node(anchor)
        if len(node.value) > MAX_SEQUENCE:
            raise PolicyFileError(f"a list of {len(node.value)} items at {self._where()}, at most {MAX_SEQUENCE}")
        return node


def load_yaml_file(path: str | os.PathLike[str]) -> Any:
    """The YAML document in `path`, bounded; raises PolicyFileError or OSError."""
    with open(path, "rb") as f:
        raw = f.read(MAX_POLICY_BYTES + 1)
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyFileError(f"too large (more than {MAX_POLICY_BYTES} bytes); a policy is a few lines")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyFileError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from None
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise PolicyFileError(f"not valid YAML ({' '.join(str(exc).split())[:300]})") from None
    except RecursionError:
        raise PolicyFileError(f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()

