"""`kapsec encryption verify` against a real etcd loaded with the oracle-1.36 values.

The expected counts, names and digests come from each scenario's manifest.json, which was
recorded against a real kube-apiserver v1.36.2 (see tests/data/oracle-1.36/NOTICE).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from helpers import DATA, run_cli

SCENARIOS = DATA / "oracle-1.36" / "encryption-at-rest"
EtcdServer = Any  # the conftest fixtures' type (conftest is not importable in importlib mode)

pytestmark = pytest.mark.etcd

KIND_TO_RESOURCE = {"Secret": "secrets", "ConfigMap": "configmaps"}


def manifest(scenario: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads((SCENARIOS / scenario / "manifest.json").read_text())
    return out


def expected(scenario: str, dumps: set[str]) -> dict[str, dict[str, Any]]:
    """Per resource: storage label counts, objects in clear, and etcd key -> decrypted sha256."""
    out: dict[str, dict[str, Any]] = {}
    for e in manifest(scenario)["entries"]:
        if e["dumpFile"] not in dumps:
            continue
        r = out.setdefault(
            KIND_TO_RESOURCE[e["kind"]],
            {"byStorage": Counter(), "inClear": [], "sha": {}, "firstByLabel": {}},
        )
        label = f"{e['provider']}/{e['keyName']}" if e["encrypted"] else "protobuf"
        r["byStorage"][label] += 1
        if not e["encrypted"]:
            r["inClear"].append(f"{e['namespace']}/{e['name']}")
        r["sha"][e["etcdKey"]] = e["decryptedSha256"]
    return out


def load(etcd: EtcdServer, scenario: str, dumps: set[str]) -> None:
    for d in sorted(dumps):
        etcd.load_dump(SCENARIOS / scenario / d)


def verify_json(etcd: EtcdServer, *args: str) -> tuple[int, dict[str, Any]]:
    r = run_cli("encryption", "verify", "--etcd", etcd.url, "-o", "json", *args)
    assert r.code in (0, 1), r.stderr
    data: dict[str, Any] = json.loads(r.stdout)
    return r.code, data


def statuses(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(f["id"], f["title"]): f["status"] for f in report["findings"]}


SCENARIO_CASES = [
    ("aescbc", {"etcd-secrets.json", "etcd-configmaps.json"}),
    ("aesgcm", {"etcd-secrets.json", "etcd-configmaps.json"}),
    ("secretbox", {"etcd-secrets.json", "etcd-configmaps.json"}),
    ("identity-first", {"etcd-secrets.json", "etcd-configmaps.json"}),
    ("rotation", {"etcd-secrets.json", "etcd-configmaps.json"}),
    ("rotation", {"etcd-secrets-after-rewrite.json", "etcd-configmaps.json"}),
]


@pytest.mark.parametrize(
    ("scenario", "dumps"), SCENARIO_CASES, ids=[f"{s}-{sorted(d)[-1]}" for s, d in SCENARIO_CASES]
)
def test_every_oracle_scenario_verifies_in_real_etcd(
    etcd: EtcdServer, scenario: str, dumps: set[str]
) -> None:
    load(etcd, scenario, dumps)
    before = etcd.revision()
    config = SCENARIOS / scenario / manifest(scenario)["activeConfig"]
    code, data = verify_json(
        etcd, "--config", str(config), "--resource", "secrets", "--resource", "configmaps"
    )
    assert etcd.revision() == before  # read-only: no write happened
    want = expected(scenario, dumps)
    got = {r["resource"]: r for r in data["encryption"]["resources"]}
    for resource, exp in want.items():
        assert got[resource]["byStorage"] == dict(exp["byStorage"]), resource
        assert got[resource]["total"] == sum(exp["byStorage"].values())
        assert sorted(got[resource]["inClear"]) == sorted(exp["inClear"])
        assert got[resource]["unreadableByConfig"] == []
    # one decrypt proof per key, and the decrypted bytes are exactly what the API server wrote
    labels = {label for exp in want.values() for label in exp["byStorage"] if label != "protobuf"}
    checks = {c["key"]: c for c in data["encryption"]["decryptChecks"]}
    assert set(checks) == labels
    all_sha = {k: v for exp in want.values() for k, v in exp["sha"].items()}
    for c in checks.values():
        assert c["ok"], c
        assert c["sha256"] == all_sha[c["etcdKey"]]
        assert c["detail"].startswith(("decrypted to Secret ", "decrypted to ConfigMap "))
    any_clear = any(exp["inClear"] for exp in want.values())
    mid_rotation = scenario == "rotation" and "etcd-secrets.json" in dumps
    assert code == (1 if any_clear or mid_rotation else 0)


def test_identity_first_reports_the_secrets_stored_in_clear(etcd: EtcdServer) -> None:
    load(etcd, "identity-first", {"etcd-secrets.json"})
    code, data = verify_json(etcd, "--config", str(SCENARIOS / "identity-first" / "encryption-config.yaml"))
    assert code == 1
    v001 = next(f for f in data["findings"] if f["id"] == "ENC-V001")
    assert v001["status"] == "fail"
    assert v001["severity"] == "high"
    assert v001["message"] == (
        "3 of 6 secrets stored in clear: default/db-creds-phase-b, team-a/api-token-phase-b, "
        "team-a/multiline-phase-b; the config's first provider for secrets is identity, so new writes "
        "are stored in clear"
    )
    assert data["encryption"]["resources"][0]["byStorage"] == {"aescbc/key1": 3, "protobuf": 3}


def test_rotation_mid_way_and_after_rewrite(etcd: EtcdServer) -> None:
    config = str(SCENARIOS / "rotation" / "encryption-config.yaml")
    load(etcd, "rotation", {"etcd-secrets.json"})
    code, data = verify_json(etcd, "--config", config)
    v003 = next(f for f in data["findings"] if f["id"] == "ENC-V003")
    assert (code, v003["status"]) == (1, "fail")
    assert v003["message"].startswith(
        "2 of 6 secrets are still under an older key while new writes use aescbc/key2"
    )
    etcd.wipe()
    load(etcd, "rotation", {"etcd-secrets-after-rewrite.json"})
    code, data = verify_json(etcd, "--config", config)
    v003 = next(f for f in data["findings"] if f["id"] == "ENC-V003")
    assert (code, v003["status"]) == (0, "pass")
    assert v003["message"] == "all 6 secrets are under aescbc/key2: older keys can be removed from the config"


def test_without_config_the_two_keys_are_a_warning(etcd: EtcdServer) -> None:
    load(etcd, "rotation", {"etcd-secrets.json"})
    code, data = verify_json(etcd)
    st = statuses(data)
    assert st[("ENC-V001", "secrets: stored encrypted in etcd")] == "pass"
    assert st[("ENC-V003", "secrets: every value under the current write key")] == "warn"
    assert {f["status"] for f in data["findings"] if f["id"] == "ENC-V004"} == {"skip"}
    assert code == 0


def test_a_value_under_a_dropped_key_is_unreadable(etcd: EtcdServer) -> None:
    # rotation phase-A config knows only key1: the key2 values cannot be read by such a server
    load(etcd, "rotation", {"etcd-secrets.json"})
    code, data = verify_json(etcd, "--config", str(SCENARIOS / "rotation" / "encryption-config-phase-a.yaml"))
    r = data["encryption"]["resources"][0]
    assert sorted(r["unreadableByConfig"]) == [
        "default/db-creds-new",
        "team-a/api-token-new",
        "team-a/api-token-old",
        "team-a/multiline-new",
    ]
    v002 = next(f for f in data["findings"] if f["id"] == "ENC-V002")
    assert (code, v002["status"], v002["severity"]) == (1, "fail", "high")
    assert {c["key"]: c["ok"] for c in data["encryption"]["decryptChecks"]} == {
        "aescbc/key1": True,
        "aescbc/key2": False,
    }


def test_wrong_key_material_is_caught_by_the_decrypt_proof(etcd: EtcdServer, tmp_path: Path) -> None:
    load(etcd, "aesgcm", {"etcd-secrets.json"})
    text = (SCENARIOS / "aesgcm" / "encryption-config.yaml").read_text()
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(text.replace("mM5gGPTd3n4U81yJ7ctfq9j0V/lKQ90yJfR5ohMiTg4=", "A" * 43 + "="))
    code, data = verify_json(etcd, "--config", str(wrong))
    check = data["encryption"]["decryptChecks"][0]
    assert check["ok"] is False
    assert check["detail"] == "decryption failed: cipher: message authentication failed"
    assert code == 1


def test_paging_reads_everything_at_one_revision(etcd: EtcdServer) -> None:
    load(etcd, "secretbox", {"etcd-secrets.json", "etcd-configmaps.json"})
    config = str(SCENARIOS / "secretbox" / "encryption-config.yaml")
    _, one = verify_json(etcd, "--config", config, "--resource", "configmaps", "--page-size", "1")
    _, many = verify_json(etcd, "--config", config, "--resource", "configmaps")
    assert one["encryption"] == many["encryption"]
    assert one["encryption"]["resources"][0]["total"] == 3


def test_text_output_is_a_table_then_findings(etcd: EtcdServer) -> None:
    load(etcd, "aescbc", {"etcd-secrets.json", "etcd-configmaps.json"})
    r = run_cli(
        "encryption",
        "verify",
        "--etcd",
        etcd.url,
        "--resource",
        "secrets",
        "--resource",
        "configmaps",
        "--config",
        str(SCENARIOS / "aescbc" / "encryption-config.yaml"),
    )
    assert r.code == 1
    lines = r.stdout.splitlines()
    assert lines[1].split() == [
        "resource",
        "total",
        "encrypted",
        "in",
        "clear",
        "unreadable",
        "not",
        "rewritten",
        "storage",
    ]
    assert lines[2].split() == ["secrets", "3", "3", "0", "0", "0", "aescbc/key1:", "3"]
    assert lines[3].split() == ["configmaps", "3", "0", "3", "0", "0", "protobuf:", "3"]
    assert "in clear: configmaps default/app-settings" in lines


def test_empty_store_is_a_warning_not_a_pass(etcd: EtcdServer) -> None:
    code, data = verify_json(etcd)
    assert [(f["id"], f["status"]) for f in data["findings"]] == [("ENC-V005", "warn")]
    assert code == 0


def test_tls_etcd_with_client_certificate(etcd_tls: EtcdServer) -> None:
    etcd_tls.wipe()
    etcd_tls.load_dump(SCENARIOS / "secretbox" / "etcd-secrets.json")
    assert etcd_tls.cacert
    assert etcd_tls.cert
    assert etcd_tls.key
    r = run_cli(
        "encryption",
        "verify",
        "--etcd",
        etcd_tls.url,
        "--cacert",
        etcd_tls.cacert,
        "--cert",
        etcd_tls.cert,
        "--key",
        etcd_tls.key,
        "--config",
        str(SCENARIOS / "secretbox" / "encryption-config.yaml"),
        "-o",
        "json",
    )
    assert r.code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["encryption"]["resources"][0]["byStorage"] == {"secretbox/key1": 3}
    assert [c["ok"] for c in data["encryption"]["decryptChecks"]] == [True]


def test_tls_etcd_without_client_certificate_is_a_clear_error(etcd_tls: EtcdServer) -> None:
    assert etcd_tls.cacert
    r = run_cli("encryption", "verify", "--etcd", etcd_tls.url, "--cacert", etcd_tls.cacert)
    assert r.code == 2
    assert r.stderr == (
        f"kapsec: error: TLS handshake with etcd at {etcd_tls.url} failed: SSLV3_ALERT_BAD_CERTIFICATE "
        "(etcd asks for a client certificate: pass --cert and --key)\n"
    )
    assert "Traceback" not in r.stderr


def test_tls_etcd_with_an_untrusted_ca_is_a_clear_error(etcd_tls: EtcdServer, tmp_path: Path) -> None:
    r = run_cli("encryption", "verify", "--etcd", etcd_tls.url)
    assert r.code == 2
    assert r.stderr == (
        f"kapsec: error: TLS handshake with etcd at {etcd_tls.url} failed: CERTIFICATE_VERIFY_FAILED "
        "(etcd's serving certificate is not signed by a trusted CA: pass --cacert with etcd's CA)\n"
    )


def test_nothing_listening_is_a_clear_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_cli("encryption", "verify", "--etcd", f"http://127.0.0.1:{port}")
    assert r.code == 2
    assert (
        r.stderr == f"kapsec: error: cannot connect to etcd at http://127.0.0.1:{port}: Connection refused\n"
    )


def test_reader_stops_early_and_stays_usable(etcd: EtcdServer) -> None:
    from kapsec.encryption.etcd import EtcdReader

    load(etcd, "secretbox", {"etcd-secrets.json", "etcd-configmaps.json"})
    with EtcdReader(etcd.url) as reader:
        scan = reader.scan_prefix(b"/registry/", page_size=1)
        first = [next(scan)[0] for _ in range(2)]
        scan.close()  # the prefetched page is dropped, nothing leaks
        assert first == [
            b"/registry/configmaps/default/app-settings",
            b"/registry/configmaps/kube-system/extension-apiserver-authentication",
        ]
        assert len(list(reader.scan_prefix(b"/registry/secrets/"))) == 3


def test_first_dead_endpoint_is_skipped_and_config_resources_are_the_default(etcd: EtcdServer) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    load(etcd, "aesgcm", {"etcd-secrets.json", "etcd-configmaps.json"})
    before = etcd.revision()
    r = run_cli(
        "encryption",
        "verify",
        "--etcd",
        f"{dead},{etcd.url}",
        "--config",
        str(SCENARIOS / "aesgcm" / "encryption-config.yaml"),
        "-o",
        "json",
    )
    assert r.code == 0, r.stderr
    data = json.loads(r.stdout)
    # no --resource: Secrets plus every resource the config names (secrets, configmaps)
    assert [x["resource"] for x in data["encryption"]["resources"]] == ["secrets", "configmaps"]
    assert [x["byStorage"] for x in data["encryption"]["resources"]] == [
        {"aesgcm/key1": 3},
        {"aesgcm/key1": 3},
    ]
    assert data["target"]["etcd"] == etcd.url
    assert data["target"]["revision"] == before
    first, second = r.stderr.splitlines()
    assert first == f"kapsec: cannot connect to etcd at {dead}: Connection refused; trying the next endpoint"
    assert re.fullmatch(rf"read 6 keys from {re.escape(etcd.url)} at revision {before} in \d+\.\d s", second)


def test_tls_etcd_with_a_client_certificate_from_another_ca(
    etcd_tls: EtcdServer, rogue_client_pair: tuple[str, str]
) -> None:
    crt, pem = rogue_client_pair
    assert etcd_tls.cacert
    r = run_cli(
        "encryption",
        "verify",
        "--etcd",
        etcd_tls.url,
        "--cacert",
        etcd_tls.cacert,
        "--cert",
        crt,
        "--key",
        pem,
    )
    assert r.code == 2
    assert r.stderr.startswith(f"kapsec: error: TLS handshake with etcd at {etcd_tls.url} failed: ")
    assert r.stderr.endswith(
        "(etcd rejected the client certificate: is it signed by etcd's --trusted-ca-file?)\n"
    )


def test_all_resources_in_one_scan(etcd: EtcdServer) -> None:
    load(etcd, "secretbox", {"etcd-secrets.json", "etcd-configmaps.json"})
    etcd.put(b"/registry/ranges/serviceips", b"k8s\x00not-an-object")  # allocator state: not reported
    code, data = verify_json(
        etcd,
        "--all-resources",
        "--config",
        str(SCENARIOS / "secretbox" / "encryption-config.yaml"),
        "--resource",
        "secrets",
    )
    assert [(r["resource"], r["byStorage"]) for r in data["encryption"]["resources"]] == [
        ("secrets", {"secretbox/key1": 3}),
        ("configmaps", {"secretbox/key1": 3}),
    ]
    assert {f["status"] for f in data["findings"] if f["id"] == "ENC-V001"} == {"pass"}
    assert code == 0
