"""Load Kubernetes objects from files: YAML or JSON, multi-document, ``List`` kinds,
``kubectl get -o json`` dumps, kapsec snapshots, and directories of those.

Problems with one file or document are collected as :class:`LoadProblem` (file and, where
known, the document's line) and loading goes on; only a path that does not exist at all is an
:class:`~kapsec.errors.InputError`.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kapsec.errors import InputError

try:  # the C loader is several times faster on large dumps
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

OBJECT_SUFFIXES = (".yaml", ".yml", ".json", ".yaml.gz", ".yml.gz", ".json.gz")


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where an object was read: file and the line its document starts on (1-based)."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class LoadProblem:
    where: SourceRef
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class LoadedObjects:
    objects: list[tuple[dict[str, Any], SourceRef]] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> Iterator[tuple[dict[str, Any], SourceRef]]:
        wanted = set(kinds)
        return ((o, s) for o, s in self.objects if o.get("kind") in wanted)


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputError("compressed data is truncated or corrupt", file=str(path)) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from exc


def _flatten(obj: Any, where: SourceRef, out: LoadedObjects, item_lines: list[int] | None = None) -> None:
    """Add ``obj`` (or, for a List, its items) to ``out``.

    Items of a typed list as the API server returns it (``RoleList``, whose items carry no
    ``kind``) take their kind from the list's kind and their apiVersion from the list.
    ``item_lines`` gives each item's own line when the document was YAML.
    """
    if obj is None:
        return
    if not isinstance(obj, Mapping):
        out.problems.append(LoadProblem(where, f"expected a Kubernetes object, found {type(obj).__name__}"))
        return
    kind = obj.get("kind")
    items = obj.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        item_kind = kind[: -len("List")] if kind != "List" else None
        for i, item in enumerate(items):
            line = item_lines[i] if item_lines is not None and i < len(item_lines) else where.line
            item_where = SourceRef(where.file, line)
            if item_kind and isinstance(item, Mapping) and not item.get("kind"):
                item = {"kind": item_kind, "apiVersion": obj.get("apiVersion", ""), **item}
            _flatten(item, item_where, out)
        return
    if not isinstance(kind, str) or not kind:
        out.problems.append(LoadProblem(where, "object has no 'kind'"))
        return
    out.objects.append((dict(obj), where))


def _item_lines(node: yaml.Node | None) -> list[int] | None:
    """Lines (1-based) of the entries of a mapping node's ``items`` sequence, if it has one."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "items" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return None


def yaml_reason(exc: yaml.YAMLError) -> str:
    """PyYAML's reader errors span two lines and name an internal stream; say it in one."""
    return " ".join(str(exc).split()).replace('in "<unicode string>", ', "at ")


def load_text(text: str, name: str, out: LoadedObjects | None = None) -> LoadedObjects:
    """Parse one file's text (YAML, which includes JSON) into ``out``."""
    out = out if out is not None else LoadedObjects()
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            out.problems.append(LoadProblem(SourceRef(name, exc.lineno), f"invalid JSON: {exc.msg}"))
            return out
        docs: Iterable[Any] = doc if isinstance(doc, list) else [doc]
        for d in docs:
            _flatten(d, SourceRef(name, 1), out)
        return out
    try:
        # The reader rejects control characters (a NUL byte) while it is being built.
        loader = _Loader(text)
    except yaml.YAMLError as exc:
        out.problems.append(LoadProblem(SourceRef(name), f"invalid YAML: {yaml_reason(exc)}"))
        return out
    try:
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else None
            try:
                value = loader.construct_document(node)
            except yaml.YAMLError as exc:
                out.problems.append(LoadProblem(SourceRef(name, line), f"invalid YAML: {exc}"))
                continue
            _flatten(value, SourceRef(name, line), out, _item_lines(node))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        out.problems.append(LoadProblem(SourceRef(name, line), f"invalid YAML: {exc.problem or exc}"))
    except yaml.YAMLError as exc:
        out.problems.append(LoadProblem(SourceRef(name), f"invalid YAML: {yaml_reason(exc)}"))
    finally:
        loader.dispose()
    return out


def load_paths(paths: Iterable[str | os.PathLike[str]], out: LoadedObjects | None = None) -> LoadedObjects:
    """Load every object from files and directories (recursively, ``*.yaml|yml|json[.gz]``)."""
    out = out if out is not None else LoadedObjects()
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files = sorted(
                f for f in path.rglob("*") if f.is_file() and f.name.lower().endswith(OBJECT_SUFFIXES)
            )
            for f in files:
                _load_file(f, out)
        elif path.exists():
            _load_file(path, out)
        else:
            raise InputError("no such file or directory", file=str(path))
    return out


def _load_file(path: Path, out: LoadedObjects) -> None:
    try:
        text = _read_text(path)
    except InputError as exc:
        out.problems.append(LoadProblem(SourceRef(str(path)), exc.message))
        return
    except OSError as exc:
        out.problems.append(LoadProblem(SourceRef(str(path)), f"cannot read: {exc.strerror}"))
        return
    load_text(text, str(path), out)
