"""kapsec.sources.objects: what it loads, where it says each object came from, what it reports."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from kapsec.errors import InputError
from kapsec.sources.objects import load_paths, load_text


def test_multi_document_yaml_keeps_each_documents_line() -> None:
    text = "kind: Role\nmetadata: {name: a}\n---\n# comment\nkind: ClusterRole\nmetadata: {name: b}\n"
    loaded = load_text(text, "rbac.yaml")
    assert [(o["kind"], str(w)) for o, w in loaded.objects] == [
        ("Role", "rbac.yaml:1"),
        ("ClusterRole", "rbac.yaml:5"),
    ]
    assert loaded.problems == []


def test_list_items_get_their_own_lines() -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- kind: Namespace\n  metadata: {name: a}\n"
        "- kind: Namespace\n  metadata: {name: b}\n"
    )
    loaded = load_text(text, "ns.yaml")
    assert [str(w) for _, w in loaded.objects] == ["ns.yaml:4", "ns.yaml:6"]


def test_typed_api_list_items_take_kind_and_api_version_from_the_list() -> None:
    body = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleList",
        "items": [{"metadata": {"name": "r", "namespace": "dev"}, "rules": []}],
    }
    loaded = load_text(json.dumps(body), "roles.json")
    assert loaded.problems == []
    ((obj, where),) = loaded.objects
    assert obj["kind"] == "Role"
    assert obj["apiVersion"] == "rbac.authorization.k8s.io/v1"
    assert str(where) == "roles.json:1"


def test_problems_are_reported_and_loading_goes_on(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("kind: Role\nmetadata: {name: ok}\n")
    (tmp_path / "b.yaml").write_text("kind: [unclosed\n")
    (tmp_path / "c.json").write_text("{not json")
    (tmp_path / "d.yaml").write_text("- just\n- a list\n")
    (tmp_path / "e.yaml.gz").write_bytes(gzip.compress(b"kind: Secret\nmetadata: {name: s}\n")[:-8])
    (tmp_path / "f.yaml").write_text("metadata: {name: nokind}\n")
    (tmp_path / "ignored.txt").write_text("kind: Role\n")
    loaded = load_paths([tmp_path])
    assert [o["metadata"]["name"] for o, _ in loaded.objects] == ["ok"]
    messages = [(Path(p.where.file).name, p.where.line, p.message.split(":")[0]) for p in loaded.problems]
    assert messages == [
        ("b.yaml", 2, "invalid YAML"),
        ("c.json", 1, "invalid JSON"),
        ("d.yaml", 1, "expected a Kubernetes object, found list"),
        ("e.yaml.gz", None, "compressed data is truncated or corrupt"),
        ("f.yaml", 1, "object has no 'kind'"),
    ]


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        load_paths([tmp_path / "nope.yaml"])


def test_control_characters_are_a_problem_not_a_crash() -> None:
    loaded = load_text("kind: Role\x00\n", "nul.yaml")
    assert loaded.objects == []
    ((problem,),) = [loaded.problems]
    # The C and pure-Python readers word the reason differently; both name the byte and its offset.
    assert str(problem).startswith("nul.yaml: invalid YAML: unacceptable character #x0000: ")
    assert str(problem).endswith(" are not allowed at position 10")
