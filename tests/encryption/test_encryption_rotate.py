"""`kapsec encryption rotate`: the staged order, each stage's config, and a rotation carried out
against a real etcd holding values the real API server wrote."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from helpers import DATA, run_cli
from kapsec.encryption.config import ProviderType, load_encryption_config
from kapsec.encryption.envelope import classify, open_value, seal_value
from kapsec.encryption.rotate import next_key_name

SCENARIOS = DATA / "oracle-1.36" / "encryption-at-rest"


def copy(scenario: str, name: str, directory: Path) -> Path:
    path = directory / "enc.yaml"
    path.write_text((SCENARIOS / scenario / name).read_text())
    path.chmod(0o600)
    return path


def layout(path: Path) -> list[list[str]]:
    """Per rule: provider/key labels in order."""
    config = load_encryption_config(path)
    out = []
    for rule in config.rules:
        labels = []
        for p in rule.providers:
            labels += [f"{p.name}/{k.name}" for k in p.keys] if p.keys else [p.name]
        out.append(labels)
    return out


def rotate(path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    r = run_cli("encryption", "rotate", str(path), "-o", "json", *args)
    return r.code, (json.loads(r.stdout) if r.code == 0 else {}), r.stderr


def test_same_provider_rotation_stages(tmp_path: Path) -> None:
    path = copy("rotation", "encryption-config-phase-a.yaml", tmp_path)
    code, plan, _ = rotate(path)
    assert code == 0
    stages = [Path(s["config"]) for s in plan["stages"]]
    assert [p.name for p in stages] == ["enc.stage1.yaml", "enc.stage2.yaml", "enc.stage3.yaml"]
    for p in stages:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert layout(stages[0]) == [["aescbc/key1", "aescbc/key2", "identity"]]
    assert layout(stages[1]) == [["aescbc/key2", "aescbc/key1", "identity"]]
    assert layout(stages[2]) == [["aescbc/key2", "identity"]]
    secrets = {k.name: k.secret for p in stages for _, k in load_encryption_config(p).all_keys()}
    assert secrets["key1"] == "WH8+CZA1lqFQlZaddtct368ssC+rk/PC2d6LPYOTAFw="  # the old key is kept as is
    assert len(base64.b64decode(secrets["key2"])) == 32
    assert plan["rotated"] == [
        {"rule": 0, "resources": ["secrets"], "from": "aescbc/key1", "to": "aescbc/key2"}
    ]
    # the order of the steps is the documented one
    steps = [s["steps"] for s in plan["stages"]]
    assert steps[0][0].startswith("Back up etcd first")
    assert steps[0][1] == f"On every control-plane node: install -m 600 -o root -g root {stages[0]} {path}"
    assert steps[1][3] == "kubectl get secrets --all-namespaces -o json | kubectl replace -f -"
    assert "ENC-V003 must pass" in steps[1][4]
    assert steps[1][5].startswith("Back up etcd with the new key in use")
    assert steps[2][0] == f"On every control-plane node: install -m 600 -o root -g root {stages[2]} {path}"


def test_the_new_key_is_never_printed(tmp_path: Path) -> None:
    path = copy("rotation", "encryption-config-phase-a.yaml", tmp_path)
    r = run_cli("encryption", "rotate", str(path))
    assert r.code == 0
    secret = next(k.secret for _, k in load_encryption_config(tmp_path / "enc.stage3.yaml").all_keys())
    assert secret not in r.stdout
    assert secret not in r.stderr
    assert r.stdout.splitlines()[:3] == [
        f"Rotation plan for {path}:",
        "  resources[0] (secrets): aescbc/key1 -> aescbc/key2",
        "",
    ]
    assert "Stage 2: promote the new key first (new writes use it), then rewrite every object" in r.stdout


def test_move_to_another_provider(tmp_path: Path) -> None:
    path = copy("aescbc", "encryption-config.yaml", tmp_path)
    code, plan, _ = rotate(path, "--provider", "secretbox")
    assert code == 0
    assert [layout(Path(s["config"])) for s in plan["stages"]] == [
        [["aescbc/key1", "secretbox/key1", "identity"]],
        [["secretbox/key1", "aescbc/key1", "identity"]],
        [["secretbox/key1", "identity"]],
    ]


def test_turn_encryption_on_over_identity_first(tmp_path: Path) -> None:
    path = copy("identity-first", "encryption-config.yaml", tmp_path)
    code, plan, _ = rotate(path)
    assert code == 0
    assert plan["rotated"][0]["from"] == "identity"
    assert plan["rotated"][0]["to"] == "secretbox/key1"
    assert layout(Path(plan["stages"][1]["config"])) == [["secretbox/key1", "identity", "aescbc/key1"]]


def test_kms_rules_are_left_to_the_plugin(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
        "  - resources: [secrets]\n    providers:\n      - kms: {apiVersion: v2, name: vault, endpoint: unix:///k.sock}\n"
    )
    code, _, err = rotate(path)
    assert code == 2
    assert err == (
        "kapsec: error: nothing to rotate: resources[0] (secrets): written by KMS plugin; rotate the key in the KMS "
        "and rewrite the objects\n"
    )


def test_existing_stage_files_are_not_replaced_without_force(tmp_path: Path) -> None:
    path = copy("secretbox", "encryption-config.yaml", tmp_path)
    (tmp_path / "enc.stage2.yaml").write_text("mine")
    code, _, err = rotate(path)
    assert (code, err) == (
        2,
        f"kapsec: error: {tmp_path / 'enc.stage1.yaml'} exists; pass --force to replace it\n".replace(
            "stage1", "stage2"
        ),
    )
    assert (tmp_path / "enc.stage2.yaml").read_text() == "mine"
    assert not (tmp_path / "enc.stage1.yaml").exists()
    assert rotate(path, "--force")[0] == 0


def test_a_rejected_config_is_not_rotated(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: []\n")
    r = run_cli("encryption", "rotate", str(path))
    assert r.code == 2
    assert r.stderr == (
        f"kapsec: error: {path}:3: error while parsing file: resources: Required value: at least one resources is required\n"
    )


@pytest.mark.parametrize(
    ("current", "taken", "new"),
    [
        ("key1", ["key1"], "key2"),
        ("key2", ["key2", "key1"], "key3"),
        ("key1", ["key1", "key7"], "key8"),
        ("mykey", ["mykey"], "mykey2"),
    ],
)
def test_next_key_name(current: str, taken: list[str], new: str) -> None:
    assert next_key_name(current, taken) == new


def _rewrite_all(etcd: Any, config_path: Path) -> None:
    """What `kubectl get secrets -A -o json | kubectl replace -f -` makes the API server do: read each
    value with any listed key, write it back with the first one."""
    config = load_encryption_config(config_path)
    keys = {(p.name, k.name): (p, k) for p, k in config.all_keys()}
    write_provider = config.rules[0].providers[0]
    write_key = write_provider.keys[0]
    prefix = base64.b64encode(b"/registry/secrets/").decode()
    end = base64.b64encode(b"/registry/secrets0").decode()
    for kv in etcd.call("/v3/kv/range", {"key": prefix, "range_end": end})["kvs"]:
        k, v = base64.b64decode(kv["key"]), base64.b64decode(kv["value"])
        c = classify(v)
        p, key = keys[(c.provider, c.key_name)]
        plain = open_value(p.type, key, v, k)
        etcd.put(k, seal_value(ProviderType(write_provider.name), write_key, plain, k, os.urandom(16)))


@pytest.mark.etcd
def test_rotation_carried_out_in_real_etcd(etcd: Any, tmp_path: Path) -> None:
    """Values written by the real API server under key1; rotate; dropping key1 before the rewrite would
    lock them out; after the rewrite (stage 2) every value is under key2 and stage 3 reads them all."""
    etcd.load_dump(SCENARIOS / "aescbc" / "etcd-secrets.json")
    path = copy("aescbc", "encryption-config.yaml", tmp_path)
    code, plan, _ = rotate(path)
    assert code == 0
    stage1, stage2, stage3 = (s["config"] for s in plan["stages"])

    def verify(config: str) -> dict[str, str]:
        r = run_cli("encryption", "verify", "--etcd", etcd.url, "--config", config, "-o", "json")
        return {f["id"] + ":" + f["title"]: f["status"] for f in json.loads(r.stdout)["findings"]}

    readable = "ENC-V002:secrets: every value readable with the configured keys"
    rewritten = "ENC-V003:secrets: every value under the current write key"
    assert verify(stage1)[readable] == "pass"
    assert verify(stage2)[rewritten] == "fail"  # promoted, not yet rewritten
    assert verify(stage3)[readable] == "fail"  # dropping key1 now would make every Secret unreadable
    _rewrite_all(etcd, Path(stage2))
    after = verify(stage2)
    assert after[rewritten] == "pass"
    final = verify(stage3)
    assert final[readable] == "pass"
    assert final["ENC-V004:key aescbc/key2 decrypts what it wrote"] == "pass"
