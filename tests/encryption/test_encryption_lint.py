"""`kapsec encryption lint`: the server's verdict on every oracle case, and the expert findings on
what the real kube-apiserver v1.36.2 accepted silently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import DATA, run_cli

ORACLE = {
    c["case"]: c
    for c in json.loads((DATA / "oracle-1.36" / "config-errors" / "config-errors.json").read_text())
    if c["case"].startswith("encryption-") and c["files"]
}
SCENARIOS = DATA / "oracle-1.36" / "encryption-at-rest"

# accepted by the server, yet each is a finding (the ids that must fail, and only those)
ACCEPTED_BUT_FLAGGED = {
    "encryption-aescbc-key-16-bytes": {"ENC-003", "ENC-009"},
    "encryption-duplicate-key-names": {"ENC-003", "ENC-006"},
    "encryption-identity-first": {"ENC-002"},
    "encryption-identity-only": {"ENC-002"},
    "encryption-wildcard-star-dot-star": {"ENC-003"},
    "encryption-wildcard-star-dot-core": {"ENC-003"},
    "encryption-wildcard-star-dot-apps": {"ENC-002", "ENC-003"},
    "encryption-duplicate-resource": {"ENC-003", "ENC-005"},
    "encryption-legacy-kind-EncryptionConfig": {"ENC-003", "ENC-007"},
}


def lint(path: Path | str, *args: str) -> tuple[int, dict[str, Any]]:
    r = run_cli("encryption", "lint", str(path), "-o", "json", *args)
    assert r.code in (0, 1), r.stderr
    data: dict[str, Any] = json.loads(r.stdout)
    return r.code, data


def failing(data: dict[str, Any]) -> set[str]:
    return {f["id"] for f in data["findings"] if f["status"] == "fail"}


def write_case(case: dict[str, Any], directory: Path) -> Path:
    ((name, text),) = case["files"].items()
    path = directory / name
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_every_accepted_oracle_case_is_covered() -> None:
    accepted = {k for k, c in ORACLE.items() if c["outcome"] == "accepted"}
    assert accepted == set(ACCEPTED_BUT_FLAGGED)


@pytest.mark.parametrize("case_id", sorted(ACCEPTED_BUT_FLAGGED))
def test_accepted_but_dangerous_configs_are_findings(case_id: str, tmp_path: Path) -> None:
    code, data = lint(write_case(ORACLE[case_id], tmp_path))
    assert failing(data) == ACCEPTED_BUT_FLAGGED[case_id]
    assert next(f for f in data["findings"] if f["id"] == "ENC-001")["status"] == "pass"
    assert code == 1


REJECTED = sorted(k for k, c in ORACLE.items() if c["outcome"] == "rejected")


@pytest.mark.parametrize("case_id", REJECTED)
def test_rejected_configs_fail_with_the_servers_message(
    case_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    case = ORACLE[case_id]
    write_case(case, tmp_path)
    code, data = lint("encryption.yaml")
    enc001 = next(f for f in data["findings"] if f["id"] == "ENC-001")
    assert (enc001["status"], enc001["severity"], enc001["message"]) == ("fail", "critical", case["error"])
    assert failing(data) == {"ENC-001"}
    assert code == 1


def test_identity_first_message_and_line(tmp_path: Path) -> None:
    path = tmp_path / "encryption-config.yaml"
    path.write_text((SCENARIOS / "identity-first" / "encryption-config.yaml").read_text())
    path.chmod(0o600)
    _, data = lint(path)
    f = next(f for f in data["findings"] if f["id"] == "ENC-002")
    assert f["status"] == "fail"
    assert f["severity"] == "high"
    assert f["message"] == (
        "resources[0] (secrets): identity is the first provider, so new writes are stored in clear; "
        "the API server accepts this without a warning"
    )
    assert f["evidence"]["line"] == 9
    assert f["benchmarks"] == {"cis-1.12": "1.2.28"}


def test_a_good_secretbox_config_passes_everything(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text((SCENARIOS / "secretbox" / "encryption-config.yaml").read_text())
    path.chmod(0o600)
    code, data = lint(path)
    assert code == 0
    assert {f["status"] for f in data["findings"]} == {"pass"}
    assert [f["id"] for f in data["findings"]] == ["ENC-001", "ENC-002", "ENC-003", "ENC-007", "ENC-008"]


def test_a_key_file_readable_by_others_fails(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text((SCENARIOS / "secretbox" / "encryption-config.yaml").read_text())
    path.chmod(0o644)
    code, data = lint(path)
    f = next(f for f in data["findings"] if f["id"] == "ENC-008")
    assert (code, f["status"], f["message"]) == (
        1,
        "fail",
        "mode 0644: the keys in this file can be read by group or others",
    )
    assert f["remediation"] == f"chmod 600 {path}"


def test_aesgcm_single_key_fails_and_rotated_warns(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    text = (SCENARIOS / "aesgcm" / "encryption-config.yaml").read_text()
    path.write_text(text)
    path.chmod(0o600)
    _, data = lint(path)
    assert next(f for f in data["findings"] if f["id"] == "ENC-003")["status"] == "fail"
    rotated = text.replace(
        "            - name: key1\n",
        "            - name: key2\n              secret: bCgSNaIYsLUBNFQmDtGf7AV9WN7DUqTh7UgOljQ548Y=\n            - name: key1\n",
    )
    path.write_text(rotated)
    _, data = lint(path)
    assert next(f for f in data["findings"] if f["id"] == "ENC-003")["status"] == "warn"


KMS = """apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - kms: {{apiVersion: {v}, name: vault, endpoint: unix:///var/run/kms/vault.sock}}
      - identity: {{}}
"""


def test_kms_v1_is_rejected_by_default_and_deprecated_with_the_gate(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text(KMS.format(v="v1"))
    path.chmod(0o600)
    _, data = lint(path)
    assert failing(data) == {"ENC-001"}
    assert "Set --feature-gates=KMSv1=true" in data["findings"][0]["message"]
    _, data = lint(path, "--kms-v1-enabled")
    assert failing(data) == {"ENC-004"}
    assert "ENC-003" not in {f["id"] for f in data["findings"]}  # no "recommended provider" pass for v1
    path.write_text(KMS.format(v="v2"))
    code, data = lint(path)
    assert (code, failing(data)) == (0, set())


def test_fail_on_threshold(tmp_path: Path) -> None:
    path = write_case(ORACLE["encryption-wildcard-star-dot-star"], tmp_path)  # aescbc: medium
    assert run_cli("encryption", "lint", str(path), "--fail-on", "high").code == 0
    assert run_cli("encryption", "lint", str(path), "--fail-on", "medium").code == 1


@pytest.mark.parametrize("fmt", ["text", "sarif", "junit", "markdown"])
def test_every_report_format_renders(fmt: str, tmp_path: Path) -> None:
    path = write_case(ORACLE["encryption-identity-first"], tmp_path)
    r = run_cli("encryption", "lint", str(path), "-o", fmt)
    assert r.code == 1
    assert "ENC-002" in r.stdout
    assert "WH8+CZA1" not in r.stdout  # the key never appears in a report


# the layout of upstream's EncryptionConfiguration reference example (events excluded ahead of
# '*.*'), with valid keys of our own
UPSTREAM_LAYOUT = """apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources:
      - events
    providers:
      - identity: {}
  - resources:
      - secrets
      - configmaps
      - pandas.awesome.bears.example
    providers:
      - secretbox:
          keys:
            - name: key1
              secret: bCgSNaIYsLUBNFQmDtGf7AV9WN7DUqTh7UgOljQ548Y=
  - resources:
      - '*.apps'
    providers:
      - secretbox:
          keys:
            - name: key2
              secret: WH8+CZA1lqFQlZaddtct368ssC+rk/PC2d6LPYOTAFw=
  - resources:
      - '*.*'
    providers:
      - secretbox:
          keys:
            - name: key3
              secret: iuL+Ags6kueW6sEiwhbZ0OEivOlYJrjskEkhgMl25KQ=
"""


def test_events_excluded_ahead_of_a_wildcard_is_not_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text(UPSTREAM_LAYOUT)
    path.chmod(0o600)
    code, data = lint(path)
    assert code == 0
    enc002 = [(f["status"], f["message"]) for f in data["findings"] if f["id"] == "ENC-002"]
    assert enc002 == [
        (
            "skip",
            "resources[0] (events): identity only, ahead of a wildcard rule that would encrypt them: an intentional "
            "exclusion (as upstream suggests for events)",
        ),
        ("pass", "secrets are written with secretbox (resources[1])"),
    ]
    # the same identity rule for configmaps with no wildcard after it is a real failure
    path.write_text(
        UPSTREAM_LAYOUT.replace("      - events\n", "      - configmaps\n")
        .replace("      - configmaps\n      - pandas", "      - pandas")
        .replace("  - resources:\n      - '*.*'", "  - resources:\n      - '*.batch'")
    )
    code, data = lint(path)
    f = next(f for f in data["findings"] if f["id"] == "ENC-002" and f["status"] == "fail")
    assert (code, f["severity"], f["message"]) == (
        1,
        "medium",
        "resources[0] (configmaps): identity is the only provider, so new writes are stored in clear; the API server "
        "accepts this without a warning",
    )


def test_json_config_as_rke2_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "encryption-config.json"
    path.write_text(
        json.dumps(
            {
                "kind": "EncryptionConfiguration",
                "apiVersion": "apiserver.config.k8s.io/v1",
                "resources": [
                    {
                        "resources": ["secrets"],
                        "providers": [
                            {
                                "aescbc": {
                                    "keys": [
                                        {
                                            "name": "aescbckey",
                                            "secret": "WH8+CZA1lqFQlZaddtct368ssC+rk/PC2d6LPYOTAFw=",
                                        }
                                    ]
                                }
                            },
                            {"identity": {}},
                        ],
                    }
                ],
            },
            indent=2,
        )
    )
    path.chmod(0o600)
    _, data = lint(path)
    assert failing(data) == {"ENC-003"}
    assert (
        next(f for f in data["findings"] if f["id"] == "ENC-003")["evidence"]["line"] == 10
    )  # the provider element


def test_unreadable_inputs_are_one_line_errors(tmp_path: Path) -> None:
    binary = tmp_path / "enc.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    r = run_cli("encryption", "lint", str(binary))
    assert (r.code, r.stderr) == (2, f"kapsec: error: {binary}: not UTF-8 text (byte 0)\n")
    r = run_cli("encryption", "lint", str(tmp_path))
    assert r.code == 2
    assert "is a directory" in r.stderr
    assert "Traceback" not in r.stderr
