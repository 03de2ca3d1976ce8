"""YAML (and JSON) documents loaded with the line each value came from.

Scalars are resolved exactly as PyYAML's safe loader resolves them; every mapping is a
:class:`MarkedMap` (``key_line(key)``, ``line``) and every sequence a :class:`MarkedList`
(``item_line(i)``, ``line``). Lines are 1-based.
"""

from __future__ import annotations

from typing import Any

import yaml

from kapsec.errors import InputError

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


class MarkedMap(dict[Any, Any]):
    line: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines: dict[Any, int] = {}

    def key_line(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class MarkedList(list[Any]):
    line: int = 0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines: list[int] = []

    def item_line(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


_constructor = yaml.SafeLoader("")  # only its scalar constructors are used


def _convert(node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return _constructor.construct_object(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        seq = MarkedList(_convert(n) for n in node.value)
        seq.line = node.start_mark.line + 1
        seq.item_lines = [n.start_mark.line + 1 for n in node.value]
        return seq
    if isinstance(node, yaml.MappingNode):
        m = MarkedMap()
        m.line = node.start_mark.line + 1
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                merged = _convert(vnode)
                for src in merged if isinstance(merged, list) else [merged]:
                    if isinstance(src, MarkedMap):
                        for k, v in src.items():
                            m.setdefault(k, v)
                            m.key_lines.setdefault(k, src.key_line(k))
                continue
            key = _convert(knode)
            try:
                hash(key)
            except TypeError:
                key = str(key)
            m[key] = _convert(vnode)
            m.key_lines[key] = knode.start_mark.line + 1
        return m
    raise InputError(f"unsupported YAML node {type(node).__name__}")  # pragma: no cover


def load_documents(text: str, name: str) -> list[Any]:
    """Every document of ``text`` (YAML or JSON) with line marks; empty documents are skipped."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"malformed YAML: {problem}", file=name, line=line) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"malformed YAML: {exc}", file=name) from exc
    docs = []
    for node in nodes:
        try:
            docs.append(_convert(node))
        except yaml.YAMLError as exc:
            raise InputError(f"malformed YAML: {exc}", file=name, line=node.start_mark.line + 1) from exc
    return docs


def read_text(path: str, display: str | None = None) -> str:
    """The UTF-8 text of ``path``; unreadable or binary files raise :class:`InputError`."""
    shown = display or path
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise InputError("file not found", file=shown) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", file=shown) from None
    except PermissionError:
        raise InputError("permission denied", file=shown) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=shown) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=shown) from None
