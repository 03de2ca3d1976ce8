"""EncryptionConfiguration decoding and validation: upstream's own cases, and every encryption
case the real kube-apiserver v1.36.2 accepted or rejected in the oracle config-errors set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import DATA, run_cli
from kapsec.encryption.config import (
    EncryptionConfigError,
    aggregate,
    load_encryption_config,
    parse_encryption_config,
)
from kapsec.errors import InputError

UPSTREAM = yaml.safe_load((DATA / "encryption" / "upstream-validation-cases.yaml").read_text())["cases"]
ORACLE = [
    c
    for c in json.loads((DATA / "oracle-1.36" / "config-errors" / "config-errors.json").read_text())
    if c["case"].startswith("encryption-")
]
SCENARIOS = DATA / "oracle-1.36" / "encryption-at-rest"


def test_the_oracle_has_the_expected_encryption_cases() -> None:
    assert len(ORACLE) == 19
    assert sum(c["outcome"] == "rejected" for c in ORACLE) == 10


@pytest.mark.parametrize("case", UPSTREAM, ids=[c["desc"] for c in UPSTREAM])
def test_upstream_validation_cases(case: dict[str, Any]) -> None:
    if not case["errors"]:
        parse_encryption_config(case["config"], "enc.yaml", reload=case["reload"], kms_v1_enabled=True)
        return
    with pytest.raises(EncryptionConfigError) as info:
        parse_encryption_config(case["config"], "enc.yaml", reload=case["reload"], kms_v1_enabled=True)
    assert [str(p) for p in info.value.problems] == case["errors"]
    assert info.value.message == "error while parsing file: " + aggregate(case["errors"])


def _case_file(case: dict[str, Any], directory: Path) -> str:
    for name, text in case["files"].items():
        (directory / name).write_text(text)
    flag = next(f for f in case["flags"] if f.startswith("--encryption-provider-config="))
    return str(flag.split("=", 1)[1])


@pytest.mark.parametrize("case", ORACLE, ids=[c["case"] for c in ORACLE])
def test_oracle_config_errors_same_verdict_and_message(
    case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the oracle printed paths relative to the case folder
    path = _case_file(case, tmp_path)
    if case["outcome"] == "accepted":
        load_encryption_config(path)
        return
    with pytest.raises((EncryptionConfigError, InputError)) as info:
        load_encryption_config(path)
    assert info.value.message == case["error"]


def test_rejections_carry_the_line_of_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    case = next(c for c in ORACLE if c["case"] == "encryption-key-not-base64")
    path = _case_file(case, tmp_path)
    with pytest.raises(EncryptionConfigError) as info:
        load_encryption_config(path)
    assert (info.value.file, info.value.line) == ("encryption.yaml", 10)
    assert str(info.value) == "encryption.yaml:10: " + case["error"]


# which resources each accepted wildcard config encrypts, as observed in etcd by the oracle
WILDCARD_CASES = [c for c in ORACLE if c["case"].startswith("encryption-wildcard-star")]


@pytest.mark.parametrize("case", WILDCARD_CASES, ids=[c["case"] for c in WILDCARD_CASES])
def test_provider_for_matches_what_the_server_wrote(case: dict[str, Any]) -> None:
    config = parse_encryption_config(case["files"]["encryption.yaml"], "encryption.yaml")
    for what, obs in case["observed"].items():
        if what.startswith("/registry/"):
            resource, group = what.split("/")[2], ""
        else:
            resource, _, group = what.partition(".")
        encrypted = obs["etcdValuePrefix"].startswith("k8s:enc:aescbc:v1:key1:")
        assert config.provider_for(resource, group) == ("aescbc" if encrypted else None), what


def test_provider_for_in_the_scenarios() -> None:
    assert (
        load_encryption_config(SCENARIOS / "aescbc" / "encryption-config.yaml").provider_for("secrets")
        == "aescbc"
    )
    assert (
        load_encryption_config(SCENARIOS / "aescbc" / "encryption-config.yaml").provider_for("configmaps")
        is None
    )
    assert (
        load_encryption_config(SCENARIOS / "identity-first" / "encryption-config.yaml").provider_for(
            "secrets"
        )
        == "identity"
    )
    assert load_encryption_config(SCENARIOS / "secretbox" / "encryption-config.yaml").provider_for(
        "configmaps"
    ) == ("secretbox")


def test_exact_resource_wins_over_an_earlier_group_wildcard_is_rejected_but_later_wildcard_is_fine() -> None:
    text = """apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [events]
    providers: [{identity: {}}]
  - resources: ['*.*']
    providers:
      - secretbox: {keys: [{name: k, secret: bCgSNaIYsLUBNFQmDtGf7AV9WN7DUqTh7UgOljQ548Y=}]}
"""
    config = parse_encryption_config(text)
    assert config.provider_for("events") == "identity"
    assert config.provider_for("secrets") == "secretbox"
    assert config.provider_for("deployments", "apps") == "secretbox"
    masked = text.replace("[events]", "['*.']").replace("['*.*']", "[secrets]")
    with pytest.raises(EncryptionConfigError) as info:
        parse_encryption_config(masked)
    assert (
        info.value.message
        == 'error while building transformers: resource "secrets" is masked by earlier rule "*."'
    )


KEY = "WH8+CZA1lqFQlZaddtct368ssC+rk/PC2d6LPYOTAFw="


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            f"resources:\n  - resources: [secrets]\n    providers:\n      - aescbc: {{keys: [{{name: a, secret: {KEY}}}]}}\n        identity: {{}}\n",
            'error while parsing file: resources[0].providers[0]: Invalid value: {"aescbc":"REDACTED","identity":{}}: '
            "more than one provider specified in a single element, should split into different list elements",
        ),
        (
            "resources:\n  - resources: [secrets]\n    providers:\n      - identity:\n",
            "error while parsing file: resources[0].providers[0]: Invalid value: {}: provider does not contain any of the "
            "expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity",
        ),
        (
            "resources:\n  - resources: secrets\n    providers: [{identity: {}}]\n",
            'error while parsing file: error decoding encryption provider configuration file "enc.yaml": json: cannot '
            "unmarshal string into Go struct field ResourceConfiguration.resources[0].resources of type []string",
        ),
        (
            "metadata: {name: x}\nresources:\n  - resources: [secrets]\n    providers: [{identity: {}, idenity: {}}]\n",
            'error while parsing file: error decoding encryption provider configuration file "enc.yaml": strict decoding '
            'error: unknown field "metadata", unknown field "resources[0].providers[0].idenity"',
        ),
        (
            "resources:\n  - resources: [secrets]\n    providers:\n      - kms: {apiVersion: v1, name: old, endpoint: unix:///k.sock}\n",
            "error while building transformers: KMSv1 is deprecated and will only receive security updates going "
            "forward. Use KMSv2 instead.  Set --feature-gates=KMSv1=true to use the deprecated KMSv1 feature.",
        ),
    ],
    ids=["two-providers-in-one-element", "null-provider", "type-error", "unknown-fields", "kms-v1-gate"],
)
def test_more_server_rejections(body: str, message: str) -> None:
    text = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n" + body
    with pytest.raises(EncryptionConfigError) as info:
        parse_encryption_config(text, "enc.yaml")
    assert info.value.message == message
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "",
            'error while parsing file: error while loading file: encryption provider configuration file "enc.yaml" is empty',
        ),
        (
            "# only a comment\n",
            "error while parsing file: error decoding encryption provider configuration file \"enc.yaml\": Object 'Kind' is missing in the document",
        ),
        (
            "apiVersion: audit.k8s.io/v1\nkind: Policy\n",
            'error while parsing file: error decoding encryption provider configuration file "enc.yaml": no kind "Policy" is registered for version "audit.k8s.io/v1"',
        ),
        (
            "resources: [\n",
            "error while parsing file: error decoding encryption provider configuration file \"enc.yaml\": yaml: line 2: expected the node content, but found '<stream end>'",
        ),
    ],
    ids=["empty", "comment-only", "wrong-kind", "yaml-syntax"],
)
def test_unreadable_documents(text: str, message: str) -> None:
    with pytest.raises(EncryptionConfigError) as info:
        parse_encryption_config(text, "enc.yaml")
    assert info.value.message == message


def test_kms_v1_is_accepted_when_the_gate_is_on() -> None:
    text = (
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n"
        "    providers:\n      - kms: {name: old, endpoint: unix:///k.sock}\n"
    )
    config = parse_encryption_config(text, kms_v1_enabled=True)
    kms = config.rules[0].providers[0].kms
    assert kms is not None
    assert (kms.api_version, kms.cachesize, kms.timeout_seconds) == ("v1", 1000, 3.0)  # upstream defaults


def test_key_material_never_in_repr() -> None:
    config = load_encryption_config(SCENARIOS / "rotation" / "encryption-config.yaml")
    assert "iuL+Ags6" not in repr(config)
    assert [k.name for _, k in config.all_keys()] == ["key2", "key1"]


def test_lint_of_a_missing_file_is_exit_2_with_the_servers_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = run_cli("encryption", "lint", "nope.yaml")
    assert r.code == 2
    assert r.stderr == (
        "kapsec: error: nope.yaml: error while parsing file: error while loading file: error reading encryption "
        'provider configuration file "nope.yaml": open nope.yaml: no such file or directory\n'
    )


SECRET_OBSERVED = [
    c for c in ORACLE if c["outcome"] == "accepted" and "etcdValuePrefix" in c.get("observed", {})
]


@pytest.mark.parametrize("case", SECRET_OBSERVED, ids=[c["case"] for c in SECRET_OBSERVED])
def test_provider_for_secrets_matches_the_prefix_the_server_wrote(case: dict[str, Any]) -> None:
    # duplicate resource (first rule wins), duplicate key names, identity first/only, AES-128, legacy kind
    config = parse_encryption_config(case["files"]["encryption.yaml"], "encryption.yaml")
    prefix = case["observed"]["etcdValuePrefix"]
    provider = config.provider_for("secrets")
    if prefix.startswith("k8s:enc:"):
        assert prefix.startswith(f"k8s:enc:{provider}:v1:")
        rule = config.rule_for("secrets")
        assert rule is not None
        assert prefix.startswith(rule.providers[0].prefix_for(rule.providers[0].keys[0]))
    else:
        assert prefix.startswith("k8s\x00")
        assert provider == "identity"


def test_there_are_six_accepted_cases_with_an_observed_secret_prefix() -> None:
    assert len(SECRET_OBSERVED) == 6
