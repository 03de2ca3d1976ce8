"""Write EncryptionConfiguration files: fresh ones with a random key, and re-rendered ones.

Follows the upstream guide ``content/en/docs/tasks/administer-cluster/encrypt-data.md``
(kubernetes/website) for the layout (an encrypting provider first, ``identity`` second so that
objects written before encryption can still be read) and the provider advice (``aescbc`` is not
recommended; ``aesgcm`` needs automated rotation; KMS v2 is the recommended external option),
and ``staging/src/k8s.io/apiserver/pkg/apis/apiserver/v1/types.go`` for the fields. Every text
this module produces is checked with :func:`kapsec.encryption.config.parse_encryption_config`
before it is returned. Pure: randomness comes from the ``rng`` argument, nothing is written.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Sequence

import yaml

from kapsec.encryption.config import (
    API_VERSION,
    KIND,
    EncryptionConfig,
    Provider,
    ProviderType,
    parse_encryption_config,
)

PROVIDERS = ("secretbox", "aescbc", "aesgcm", "kms")
KEY_BYTES = 32

AESCBC_WARNING = (
    "aescbc: the upstream documentation rates it weak and recommends against it (CBC mode is exposed "
    "to padding-oracle attacks); prefer secretbox, aesgcm with automated rotation, or a KMS v2 plugin."
)
AESGCM_WARNING = (
    "aesgcm: random 96-bit nonces mean the key must be rotated before it encrypts too many values "
    "(upstream: every 200,000 writes); use it only with automated rotation (kapsec encryption rotate)."
)
KMS_NOTE = (
    "kms v2: the API server calls the plugin on the unix socket at start-up; install and start the "
    "plugin on every control-plane node first, or the API server cannot read or write these resources."
)


def _q(text: str) -> str:
    """A YAML scalar that reads back as exactly ``text`` (plain when safe, else a JSON string)."""
    try:
        plain = yaml.safe_load(text) == text and "\n" not in text and text.strip() == text
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text)


def _resource_scalar(resource: str) -> str:
    return f"'{resource}'" if resource.startswith("*") else _q(resource)


def render_provider(provider: Provider, indent: str) -> list[str]:
    """YAML lines for one provider (the secrets are written as they are in the model)."""
    t = provider.type
    if t is ProviderType.IDENTITY:
        return [f"{indent}- identity: {{}}"]
    if t is ProviderType.KMS and provider.kms is not None:
        k = provider.kms
        lines = [
            f"{indent}- kms:",
            f"{indent}    apiVersion: {k.api_version}",
            f"{indent}    name: {_q(k.name)}",
        ]
        lines.append(f"{indent}    endpoint: {_q(k.endpoint)}")
        if k.api_version == "v1" and k.cachesize is not None:
            lines.append(f"{indent}    cachesize: {k.cachesize}")
        lines.append(f"{indent}    timeout: {_q(k.timeout)}")
        return lines
    lines = [f"{indent}- {t.value}:", f"{indent}    keys:"]
    for key in provider.keys:
        lines.append(f"{indent}      - name: {_q(key.name)}")
        lines.append(f"{indent}        secret: {_q(key.secret)}")
    return lines


def render_config(config: EncryptionConfig, header: Sequence[str] = ()) -> str:
    """The YAML text of ``config`` (comments in ``header`` first); always the v1 kind."""
    lines = [f"# {h}" if h else "#" for h in header]
    lines += [f"apiVersion: {API_VERSION}", f"kind: {KIND}", "resources:"]
    for rule in config.rules:
        lines.append("  - resources:")
        lines += [f"      - {_resource_scalar(r)}" for r in rule.resources]
        lines.append("    providers:")
        for provider in rule.providers:
            lines += render_provider(provider, "      ")
    text = "\n".join(lines) + "\n"
    parse_encryption_config(
        text, "<generated>", kms_v1_enabled=True
    )  # never hand out a file the server rejects
    return text


def new_key_secret(rng: Callable[[int], bytes] = secrets.token_bytes, size: int = KEY_BYTES) -> str:
    """A fresh random key, base64 as the config wants it."""
    return base64.b64encode(rng(size)).decode("ascii")


def generate_config(
    provider: str = "secretbox",
    *,
    resources: Sequence[str] = ("secrets",),
    key_name: str = "key1",
    identity_fallback: bool = True,
    kms_name: str = "kms-plugin",
    kms_endpoint: str = "unix:///var/run/kms-plugin/socket.sock",
    kms_timeout: str = "3s",
    rng: Callable[[int], bytes] = secrets.token_bytes,
) -> tuple[str, ...]:
    """A new EncryptionConfiguration. Returns ``(yaml_text, *notes)``.

    ``yaml_text`` holds the only copy of the new key; the notes are advice for a human (the
    upstream warning for ``aescbc``, rotation for ``aesgcm``, the plugin for ``kms``) and never
    contain key material.
    """
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r} (expected one of: {', '.join(PROVIDERS)})")
    if not resources:
        raise ValueError("at least one resource is required")
    header = [
        f"Generated by kapsec encryption generate ({provider}).",
        "Keep this file mode 0600, owned by root, on every control-plane node, and back it up",
        "with the etcd backups: without the key, the encrypted data cannot be read.",
    ]
    lines = [f"apiVersion: {API_VERSION}", f"kind: {KIND}", "resources:", "  - resources:"]
    lines += [f"      - {_resource_scalar(r)}" for r in resources]
    lines.append("    providers:")
    notes: list[str] = []
    if provider == "kms":
        lines += [
            "      - kms:",
            "          apiVersion: v2",
            f"          name: {_q(kms_name)}",
            f"          endpoint: {_q(kms_endpoint)}",
            f"          timeout: {_q(kms_timeout)}",
        ]
        notes.append(KMS_NOTE)
    else:
        lines += [
            f"      - {provider}:",
            "          keys:",
            f"            - name: {_q(key_name)}",
            f"              secret: {new_key_secret(rng)}",
        ]
        if provider == "aescbc":
            notes.append(AESCBC_WARNING)
        elif provider == "aesgcm":
            notes.append(AESGCM_WARNING)
    if identity_fallback:
        lines.append("      # identity second: objects written before encryption was enabled stay readable;")
        lines.append("      # remove it once every object has been rewritten (kapsec encryption verify).")
        lines.append("      - identity: {}")
    text = "\n".join([f"# {h}" for h in header] + lines) + "\n"
    parse_encryption_config(text, "<generated>")
    return (text, *notes)
