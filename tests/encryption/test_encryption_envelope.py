"""Envelope formats proven with the values a real kube-apiserver v1.36.2 wrote (oracle manifests)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from helpers import DATA
from kapsec.encryption.config import Key, ProviderType, load_encryption_config
from kapsec.encryption.envelope import DecryptError, StorageForm, classify, open_value, seal_value
from kapsec.encryption.protobuf import ProtobufError, decode_stored_object

SCENARIOS = DATA / "oracle-1.36" / "encryption-at-rest"


def entries() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for scenario in sorted(p.name for p in SCENARIOS.iterdir() if p.is_dir()):
        manifest = json.loads((SCENARIOS / scenario / "manifest.json").read_text())
        out += [(scenario, e) for e in manifest["entries"]]
    return out


ENTRIES = entries()


def stored_value(scenario: str, entry: dict[str, Any]) -> bytes:
    dump = json.loads((SCENARIOS / scenario / entry["dumpFile"]).read_text())
    key = base64.b64encode(entry["etcdKey"].encode()).decode()
    return base64.b64decode(next(kv["value"] for kv in dump["kvs"] if kv["key"] == key))


def keys_of(scenario: str) -> dict[tuple[str, str], Key]:
    manifest = json.loads((SCENARIOS / scenario / "manifest.json").read_text())
    out = {}
    for name in manifest["encryptionConfigs"]:
        for provider, key in load_encryption_config(SCENARIOS / scenario / name).all_keys():
            out[(provider.name, key.name)] = key
    return out


def test_the_oracle_manifests_list_44_values() -> None:
    assert len(ENTRIES) == 44
    assert {e["provider"] for _, e in ENTRIES} == {"aescbc", "aesgcm", "secretbox", "identity"}


@pytest.mark.parametrize(
    ("scenario", "entry"), ENTRIES, ids=[f"{s}:{e['dumpFile']}:{e['etcdKey']}" for s, e in ENTRIES]
)
def test_classify_and_open_every_oracle_value(scenario: str, entry: dict[str, Any]) -> None:
    value = stored_value(scenario, entry)
    c = classify(value)
    if entry["encrypted"]:
        assert (c.form, c.provider, c.key_name) == (
            StorageForm.ENCRYPTED,
            entry["provider"],
            entry["keyName"],
        )
        assert value.startswith(entry["expectedPrefix"].encode())
        key = keys_of(scenario)[(entry["provider"], entry["keyName"])]
        plain = open_value(ProviderType(entry["provider"]), key, value, entry["etcdKey"].encode())
    else:
        assert c.form is StorageForm.PROTOBUF
        plain = value
    assert hashlib.sha256(plain).hexdigest() == entry["decryptedSha256"]
    assert len(plain) == entry["decryptedLength"]
    obj = decode_stored_object(plain)
    assert (obj.kind, obj.namespace, obj.name, obj.api_version) == (
        entry["kind"],
        entry["namespace"],
        entry["name"],
        "v1",
    )
    for v in (entry["plaintext"] or {}).values():
        assert v.encode() in plain  # Secret data is raw bytes in the protobuf, not base64


def test_aesgcm_binds_the_value_to_its_etcd_key() -> None:
    entry = next(e for s, e in ENTRIES if s == "aesgcm" and e["kind"] == "Secret")
    value = stored_value("aesgcm", entry)
    key = keys_of("aesgcm")[("aesgcm", "key1")]
    with pytest.raises(DecryptError, match="message authentication failed"):
        open_value(ProviderType.AESGCM, key, value, b"/registry/secrets/default/somewhere-else")


def test_a_wrong_key_does_not_open_aescbc_or_secretbox() -> None:
    wrong = Key("key1", base64.b64encode(bytes(32)).decode())
    cbc = next(e for s, e in ENTRIES if s == "aescbc" and e["encrypted"])
    # CBC has no authentication: only the PKCS#7 padding check (like upstream's) catches a wrong key
    with pytest.raises(DecryptError, match=r"^invalid padding on input$"):
        open_value(ProviderType.AESCBC, wrong, stored_value("aescbc", cbc), b"")
    box = next(e for s, e in ENTRIES if s == "secretbox" and e["encrypted"])
    with pytest.raises(DecryptError, match="secretbox: message authentication failed"):
        open_value(ProviderType.SECRETBOX, wrong, stored_value("secretbox", box), b"")


@pytest.mark.parametrize("provider", [ProviderType.AESCBC, ProviderType.AESGCM, ProviderType.SECRETBOX])
def test_seal_then_open_round_trip(provider: ProviderType) -> None:
    key = Key("k9", base64.b64encode(bytes(range(32))).decode())
    nonce = {
        ProviderType.AESCBC: bytes(16),
        ProviderType.AESGCM: bytes(12),
        ProviderType.SECRETBOX: bytes(24),
    }[provider]
    sealed = seal_value(provider, key, b"k8s\x00payload", b"/registry/secrets/a/b", nonce)
    assert sealed.startswith(f"k8s:enc:{provider.value}:v1:k9:".encode())
    assert open_value(provider, key, sealed, b"/registry/secrets/a/b") == b"k8s\x00payload"


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (b"k8s:enc:kms:v2:vault:\x00\x01", "kms:v2/vault"),
        (b"k8s:enc:kms:v1:old:\x00\x01", "kms:v1/old"),
        (b'{"kind":"Secret"}', "json"),
        (b"\xd9\xd9\xf7\xa1", "cbor"),
        (b"garbage", "unknown"),
        (b"k8s:enc:aesctr:v1:k:", "unknown/"),
    ],
)
def test_classify_other_forms(value: bytes, label: str) -> None:
    assert classify(value).label == label


def test_known_prefixes_resolve_key_names_with_colons() -> None:
    value = b"k8s:enc:aescbc:v1:team:a:" + bytes(32)
    assert classify(value).key_name == "team"
    assert classify(value, (b"k8s:enc:aescbc:v1:team:a:",)).key_name == "team:a"


def test_protobuf_errors_are_reported_not_raised_raw() -> None:
    with pytest.raises(ProtobufError):
        decode_stored_object(b"k8s\x00\x0a\xff")
    with pytest.raises(ProtobufError):
        decode_stored_object(b"not protobuf")
