"""`kapsec encryption verify --dump`: the same analysis over `etcdctl get -w json` dumps (air-gapped use),
and the command line's own errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import DATA, run_cli

SCENARIOS = DATA / "oracle-1.36" / "encryption-at-rest"


def test_dump_mode_reports_uncovered_configmaps_in_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SCENARIOS / "aescbc")
    r = run_cli(
        "encryption",
        "verify",
        "--dump",
        "etcd-secrets.json",
        "--dump",
        "etcd-configmaps.json",
        "--config",
        "encryption-config.yaml",
        "--resource",
        "secrets",
        "--resource",
        "configmaps",
        "-o",
        "json",
    )
    assert r.code == 1
    data = json.loads(r.stdout)
    assert data["target"] == {
        "command": "encryption verify",
        "dumps": ["etcd-secrets.json", "etcd-configmaps.json"],
        "config": "encryption-config.yaml",
        "resources": ["secrets", "configmaps"],
    }
    v001 = {f["title"]: f for f in data["findings"] if f["id"] == "ENC-V001"}
    assert v001["secrets: stored encrypted in etcd"]["status"] == "pass"
    cm = v001["configmaps: stored encrypted in etcd"]
    assert (cm["status"], cm["severity"]) == ("fail", "medium")
    assert cm["message"] == (
        "3 of 3 configmaps stored in clear: default/app-settings, kube-system/extension-apiserver-authentication, "
        "kube-system/kube-apiserver-legacy-service-account-token-tracking; no rule in the config covers configmaps, "
        "so new writes are stored in clear"
    )


def test_dump_mode_matches_the_manifest_for_rotation_after_rewrite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SCENARIOS / "rotation")
    r = run_cli(
        "encryption",
        "verify",
        "--dump",
        "etcd-secrets-after-rewrite.json",
        "--config",
        "encryption-config.yaml",
        "-o",
        "json",
    )
    assert r.code == 0
    assert json.loads(r.stdout)["encryption"]["resources"][0]["byStorage"] == {"aescbc/key2": 6}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give exactly one of --etcd URL or --dump FILE"),
        (
            ["--etcd", "http://127.0.0.1:1", "--dump", "x.json"],
            "give exactly one of --etcd URL or --dump FILE",
        ),
        (["--dump", "x.json", "--cacert", "ca.crt"], "--cacert/--cert/--key apply to --etcd only"),
        (
            ["--etcd", "http://127.0.0.1:1", "--resource", "*.apps"],
            "--resource *.apps: give resource names (secrets, configmaps, deployments.apps), not wildcards",
        ),
        (
            ["--etcd", "ftp://127.0.0.1:1"],
            "not an etcd client URL: 'ftp://127.0.0.1:1' (expected http://HOST:PORT or https://HOST:PORT)",
        ),
        (
            ["--etcd", "http://127.0.0.1:1", "--cert", "c.crt"],
            "TLS files given but the etcd URL 'http://127.0.0.1:1' is not https://",
        ),
        (["--etcd", "http://127.0.0.1:1", "--page-size", "0"], "--page-size must be at least 1"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    r = run_cli("encryption", "verify", *args)
    assert (r.code, r.stderr) == (2, f"kapsec: error: {message}\n")


def test_bad_dump_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "dump.json"
    bad.write_text('{"kvs": [{"key": "not base64!", "value": ""}]}')
    r = run_cli("encryption", "verify", "--dump", str(bad))
    assert r.code == 2
    assert r.stderr.startswith(f"kapsec: error: {bad}: kvs[0]: key/value is not base64")
    bad.write_text("[1, 2]")
    r = run_cli("encryption", "verify", "--dump", str(bad))
    assert r.stderr == f"kapsec: error: {bad}: not an `etcdctl get -w json` dump (no kvs list)\n"


def _dump(path: Path, items: dict[str, bytes]) -> Path:
    import base64

    kvs = [
        {"key": base64.b64encode(k.encode()).decode(), "value": base64.b64encode(v).decode()}
        for k, v in items.items()
    ]
    path.write_text(json.dumps({"header": {"revision": 1}, "kvs": kvs}))
    return path


def test_kms_v1_values_and_unrecognised_values(tmp_path: Path) -> None:
    dump = _dump(
        tmp_path / "d.json",
        {
            "/registry/secrets/a/one": b"k8s:enc:kms:v1:legacy:\x0a\x0b",
            "/registry/secrets/a/two": b"k8s:enc:kms:v2:vault:\x0a\x0b",
            "/registry/secrets/a/three": b"\x00\x01garbage",
        },
    )
    r = run_cli("encryption", "verify", "--dump", str(dump), "-o", "json")
    data = json.loads(r.stdout)
    assert data["encryption"]["resources"][0]["byStorage"] == {
        "kms:v1/legacy": 1,
        "kms:v2/vault": 1,
        "unknown": 1,
    }
    by_id = {f["id"]: f for f in data["findings"]}
    assert by_id["ENC-V006"]["status"] == "fail"
    assert by_id["ENC-V006"]["message"].startswith("1 of 3 secrets are stored with the deprecated KMS v1 API")
    assert by_id["ENC-V007"]["status"] == "warn"
    assert "ENC-V001" not in by_id  # neither in clear nor all encrypted: no verdict either way
    assert r.code == 1


def test_kms_values_with_config_are_readable_but_not_opened(tmp_path: Path) -> None:
    dump = _dump(tmp_path / "d.json", {"/registry/secrets/a/two": b"k8s:enc:kms:v2:vault:\x0a\x0b"})
    config = tmp_path / "enc.yaml"
    config.write_text(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n"
        "    providers:\n      - kms: {apiVersion: v2, name: vault, endpoint: unix:///k.sock}\n"
    )
    r = run_cli("encryption", "verify", "--dump", str(dump), "--config", str(config), "-o", "json")
    data = json.loads(r.stdout)
    st = {f["id"]: f["status"] for f in data["findings"]}
    assert st == {"ENC-V001": "pass", "ENC-V002": "pass", "ENC-V003": "pass", "ENC-V004": "skip"}
    assert r.code == 0


@pytest.mark.parametrize(
    ("key", "resource", "prefix"),
    [
        ("/registry/secrets/default/db-creds", "secrets", "/registry/secrets/"),
        ("/registry/namespaces/default", "namespaces", "/registry/namespaces/"),
        ("/registry/deployments/default/web", "deployments.apps", "/registry/deployments/"),
        ("/registry/clusterroles/admin", "clusterroles.rbac.authorization.k8s.io", "/registry/clusterroles/"),
        ("/registry/services/specs/default/kubernetes", "services", "/registry/services/specs/"),
        ("/registry/services/endpoints/default/kubernetes", "endpoints", "/registry/services/endpoints/"),
        ("/registry/minions/node-1", "nodes", "/registry/minions/"),
        ("/registry/controllers/default/rc", "replicationcontrollers", "/registry/controllers/"),
        (
            "/registry/apiregistration.k8s.io/apiservices/v1.apps",
            "apiservices.apiregistration.k8s.io",
            "/registry/apiregistration.k8s.io/apiservices/",
        ),
        ("/registry/example.com/widgets/ns/w", "widgets.example.com", "/registry/example.com/widgets/"),
    ],
)
def test_keys_map_to_the_resource_the_config_names(key: str, resource: str, prefix: str) -> None:
    from kapsec.encryption.verify import ResourceTarget, target_for_key

    t = target_for_key(key.encode())
    assert t is not None
    assert (t.resource, t.prefix) == (resource, prefix)
    if resource not in ("widgets.example.com", "apiservices.apiregistration.k8s.io"):
        assert ResourceTarget.parse(resource) == t  # both directions agree


@pytest.mark.parametrize(
    "key",
    [
        "/registry/ranges/serviceips",
        "/registry/masterleases/10.0.0.1",
        "/other/secrets/a/b",
        "/registry/health",
    ],
)
def test_keys_that_are_not_api_objects(key: str) -> None:
    from kapsec.encryption.verify import target_for_key

    assert target_for_key(key.encode()) is None


def test_all_resources_reports_uncovered_resources_without_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SCENARIOS / "aescbc")
    r = run_cli(
        "encryption",
        "verify",
        "--all-resources",
        "--dump",
        "etcd-secrets.json",
        "--dump",
        "etcd-configmaps.json",
        "--config",
        "encryption-config.yaml",
        "-o",
        "json",
    )
    data = json.loads(r.stdout)
    assert data["target"]["resources"] == ["secrets", "configmaps"]
    v001 = {f["title"]: (f["status"], f["message"]) for f in data["findings"] if f["id"] == "ENC-V001"}
    assert v001["configmaps: stored encrypted in etcd"] == (
        "skip",
        "3 configmaps in clear, as configured: the config does not ask to encrypt them",
    )
    assert v001["secrets: stored encrypted in etcd"][0] == "pass"
    assert r.code == 0


def test_all_resources_with_a_wildcard_config_fails_what_it_should_encrypt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "star.yaml"
    config.write_text(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: ['*.']\n"
        "    providers:\n      - aescbc: {keys: [{name: key1, secret: WH8+CZA1lqFQlZaddtct368ssC+rk/PC2d6LPYOTAFw=}]}\n"
        "      - identity: {}\n"
    )
    monkeypatch.chdir(SCENARIOS / "aescbc")
    r = run_cli(
        "encryption",
        "verify",
        "--all-resources",
        "--dump",
        "etcd-secrets.json",
        "--dump",
        "etcd-configmaps.json",
        "--config",
        str(config),
        "-o",
        "json",
    )
    data = json.loads(r.stdout)
    cm = next(f for f in data["findings"] if f["id"] == "ENC-V001" and f["title"].startswith("configmaps"))
    assert (cm["status"], cm["severity"]) == (
        "fail",
        "medium",
    )  # '*.' covers configmaps: they should be encrypted
    assert r.code == 1


DECRYPT_CASES = [
    ("aescbc", ["etcd-secrets.json", "etcd-configmaps.json"]),
    ("aesgcm", ["etcd-secrets.json", "etcd-configmaps.json"]),
    ("secretbox", ["etcd-secrets.json", "etcd-configmaps.json"]),
    ("identity-first", ["etcd-secrets.json", "etcd-configmaps.json"]),
    ("rotation", ["etcd-secrets.json", "etcd-configmaps.json"]),
    ("rotation", ["etcd-secrets-after-rewrite.json"]),
]


@pytest.mark.parametrize(("scenario", "dumps"), DECRYPT_CASES, ids=[f"{s}-{d[0]}" for s, d in DECRYPT_CASES])
def test_decrypt_all_opens_every_value_the_server_encrypted(
    scenario: str, dumps: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(SCENARIOS / scenario)
    manifest = json.loads(Path("manifest.json").read_text())
    args = [a for d in dumps for a in ("--dump", d)]
    r = run_cli(
        "encryption",
        "verify",
        *args,
        "--config",
        manifest["activeConfig"],
        "--decrypt-all",
        "--resource",
        "secrets",
        "--resource",
        "configmaps",
        "-o",
        "json",
    )
    data = json.loads(r.stdout)
    kinds = {"secrets": "Secret", "configmaps": "ConfigMap"}
    for res in data["encryption"]["resources"]:
        expected = sum(
            1
            for e in manifest["entries"]
            if e["dumpFile"] in dumps and e["kind"] == kinds[res["resource"]] and e["encrypted"]
        )
        assert (res["decrypted"], res["undecryptable"]) == (expected, [])
    statuses = {f["status"] for f in data["findings"] if f["id"] == "ENC-V008"}
    assert statuses <= {"pass"}


def test_decrypt_all_tries_every_key_of_the_name_and_catches_foreign_material(tmp_path: Path) -> None:
    import base64
    import os

    from kapsec.encryption.config import Key, ProviderType
    from kapsec.encryption.envelope import seal_value

    case = next(
        c
        for c in json.loads((DATA / "oracle-1.36" / "config-errors" / "config-errors.json").read_text())
        if c["case"] == "encryption-duplicate-key-names"
    )
    config = tmp_path / "enc.yaml"
    config.write_text(case["files"]["encryption.yaml"])  # two keys named key1; the server tries both
    second = Key("key1", "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=")
    foreign = Key("key1", base64.b64encode(bytes(32)).decode())
    plain = b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret\x12\x0a\n\x08\n\x01x\x1a\x03app"
    items = {
        "/registry/secrets/app/x": seal_value(ProviderType.AESCBC, second, plain, b"", os.urandom(16)),
        "/registry/secrets/app/y": seal_value(ProviderType.AESCBC, foreign, plain, b"", os.urandom(16)),
    }
    dump = _dump(tmp_path / "d.json", items)
    r = run_cli(
        "encryption", "verify", "--dump", str(dump), "--config", str(config), "--decrypt-all", "-o", "json"
    )
    res = json.loads(r.stdout)["encryption"]["resources"][0]
    assert (res["decrypted"], res["undecryptable"]) == (1, ["app/y"])
    v008 = next(f for f in json.loads(r.stdout)["findings"] if f["id"] == "ENC-V008")
    assert (v008["status"], v008["message"]) == (
        "fail",
        "1 of 2 encrypted secrets do not open with the configured key of their name (the API server cannot read "
        "them either): app/y",
    )
    assert r.code == 1


def test_decrypt_all_needs_the_keys() -> None:
    r = run_cli("encryption", "verify", "--dump", "x.json", "--decrypt-all")
    assert (r.code, r.stderr) == (2, "kapsec: error: --decrypt-all needs --config (the keys)\n")
