"""Loading policies exactly as kube-apiserver 1.36 does: the oracle's config-error cases, strictness, lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import DATA, run_cli
from kapsec.auditpolicy import PolicyDecodeError, load_policy_file, load_policy_text
from kapsec.auditpolicy.loader import server_warning
from kapsec.errors import InputError

CASES = [
    c
    for c in json.loads((DATA / "oracle-1.36" / "config-errors" / "config-errors.json").read_text())
    if c["case"].startswith("audit-policy")
]


def test_all_oracle_audit_policy_cases_present() -> None:
    assert len(CASES) == 16


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_oracle_config_error_case(case: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, content in case["files"].items():
        (tmp_path / name).write_text(content)
    monkeypatch.chdir(tmp_path)
    flag = next(f for f in case["flags"] if f.startswith("--audit-policy-file="))
    path = flag.split("=", 1)[1]
    if case["outcome"] == "rejected":
        with pytest.raises((PolicyDecodeError, InputError)) as info:
            load_policy_file(path)
        exc = info.value
        text = exc.server_error if isinstance(exc, PolicyDecodeError) else exc.message
        suffix = f": from file {path}" if isinstance(exc, PolicyDecodeError) else ""
        assert f"loading audit policy file: {text}{suffix}" == case["error"]
    else:
        policy = load_policy_file(path)
        tail = case["stderrTail"]
        expected = tail.split("] ", 1)[1] if tail else None
        assert server_warning(policy) == expected


def test_typo_resource_is_kept_as_warning_and_strict_mode_rejects_it() -> None:
    path = DATA / "auditpolicy" / "policies" / "openshift-library-go-writerequestbodies.yaml"
    policy = load_policy_file(path)
    assert [(w.path, w.line) for w in policy.warnings] == [("rules[2].resources[4].resource", 38)]
    # The server drops the field: the entry is the whole machineconfiguration group.
    assert policy.rules[2].resources[4].resources == ()
    with pytest.raises(PolicyDecodeError) as info:
        load_policy_file(path, strict=True)
    assert info.value.server_error == 'strict decoding error: unknown field "rules[2].resources[4].resource"'
    assert info.value.line == 38
    assert str(info.value) == (
        f'{path}:38: strict decoding error: unknown field "rules[2].resources[4].resource"'
    )


def test_validation_error_points_at_the_line() -> None:
    text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n- level: Verbose\n  verbs: [get]\n"
    with pytest.raises(PolicyDecodeError) as info:
        load_policy_text(text, "p.yaml")
    assert str(info.value) == (
        'p.yaml:5: rules[1].level: Unsupported value: "Verbose": supported values: "None", "Metadata", '
        '"Request", "RequestResponse"'
    )
    assert [(e.field, e.type) for e in info.value.errors] == [("rules[1].level", "NotSupported")]


def test_several_errors_are_aggregated_like_the_server() -> None:
    text = (
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [Nope]\nrules:\n"
        "- {}\n- level: None\n  resources: [{group: Apps, resourceNames: [x]}]\n"
    )
    with pytest.raises(PolicyDecodeError) as info:
        load_policy_text(text, "p.yaml")
    assert info.value.server_error == (
        '[omitStages[0]: Invalid value: "Nope": allowed stages are RequestReceived,ResponseStarted,'
        "ResponseComplete,Panic, rules[0].level: Required value, rules[1].resources.group: Invalid value: "
        "\"Apps\": must be a lowercase RFC 1123 subdomain (lowercase alphanumerics, '-' or '.', starting and "
        'ending alphanumeric), rules[1].resources.resourceNames: Invalid value: ["x"]: using resourceNames '
        "requires at least one resource]"
    )
    assert info.value.line == 3


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        (
            "rules: [",
            "failed decoding: error converting YAML to JSON: yaml: line 1: expected the node content, but found '<stream end>'",
            1,
        ),
        (
            "a: b\n c: d\n",
            "failed decoding: error converting YAML to JSON: yaml: line 2: mapping values are not allowed here",
            2,
        ),
    ],
)
def test_malformed_yaml_is_an_input_error(text: str, message: str, line: int) -> None:
    with pytest.raises(InputError) as info:
        load_policy_text(text, "p.yaml")
    assert info.value.message == message
    assert info.value.line == line


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        (
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  verbs: get\n",
            "failed decoding: json: cannot unmarshal string into Go struct field PolicyRule.rules.verbs of type []string",
            5,
        ),
        (
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: 3\n",
            "failed decoding: json: cannot unmarshal number into Go struct field PolicyRule.rules.level of type v1.Level",
            4,
        ),
        (
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  namespaces: [no]\n",
            "failed decoding: json: cannot unmarshal bool into Go struct field PolicyRule.rules.namespaces of type string",
            5,
        ),
        (
            "apiVersion: audit.k8s.io/v1\nkind: AuditPolicy\nrules:\n- level: None\n",
            'failed decoding: no kind "AuditPolicy" is registered for version "audit.k8s.io/v1" in scheme "pkg/audit/scheme.go:30"',
            2,
        ),
        (
            "- level: None\n",
            "failed decoding: json: cannot unmarshal array into Go value of type struct "
            '{ APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }',
            1,
        ),
    ],
)
def test_decoding_errors_are_fatal(text: str, message: str, line: int) -> None:
    with pytest.raises(PolicyDecodeError) as info:
        load_policy_text(text, "p.yaml")
    assert info.value.server_error == message
    assert info.value.line == line


def test_duplicate_field_and_extra_document_are_warnings() -> None:
    text = (
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  level: Metadata\n---\nkind: X\n"
    )
    policy = load_policy_text(text, "p.yaml")
    assert policy.rules[0].level == "Metadata"
    assert [(w.path, w.kind, w.line) for w in policy.warnings] == [
        ("rules[0].level", "duplicate field", 5),
        ("2", "extra document", 7),
    ]


def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_policy_file(tmp_path / "nope.yaml")
    assert "no such file or directory" in info.value.message
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError) as info:
        load_policy_file(tmp_path / "bin.yaml")
    assert info.value.message == "not UTF-8 text (byte 0)"


def test_nul_byte_is_an_input_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\x00\n")
    r = run_cli("audit-policy", "validate", str(path))
    assert r.code == 2
    assert r.stderr == (
        f"kapsec: error: {path}: failed decoding: error converting YAML to JSON: unacceptable character "
        "#x0000: special characters are not allowed at position 61\n"
    )
