"""Plan a key rotation in the documented, lock-out-free order.

Follows "Rotating a decryption key" in the upstream guide
(kubernetes/website ``content/en/docs/tasks/administer-cluster/encrypt-data.md``): add the new
key as the *second* key everywhere and restart every API server (all can now read it), make it
the *first* key and restart again (all now write with it), rewrite every object of the covered
resources, back up etcd, and only then drop the old key. The same order moves a rule to another
provider (the new provider is added second, then promoted) or turns encryption on over an
``identity``-first rule. Rules written by KMS are left alone: their keys rotate in the plugin.

Pure: key material comes from ``rng``; the caller writes the stage files.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from kapsec.encryption.config import EncryptionConfig, Key, Provider, ProviderType, ResourceRule
from kapsec.encryption.generate import new_key_secret, render_config


@dataclass(frozen=True, slots=True)
class RotatedRule:
    index: int
    resources: tuple[str, ...]
    old: str  # label of the current write key, e.g. "aescbc/key1" or "identity"
    new: str  # label of the new write key, e.g. "aescbc/key2"


@dataclass(frozen=True, slots=True)
class Stage:
    number: int
    title: str
    why: str
    config_text: str
    config_path: str
    steps: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RotationPlan:
    stages: tuple[Stage, ...]
    rotated: tuple[RotatedRule, ...]
    skipped: tuple[str, ...]


def _label(provider: Provider) -> str:
    if provider.type is ProviderType.IDENTITY:
        return "identity"
    if provider.type is ProviderType.KMS and provider.kms is not None:
        return f"kms:{provider.kms.api_version}/{provider.kms.name}"
    return f"{provider.type.value}/{provider.keys[0].name}"


def next_key_name(current: str, taken: Sequence[str]) -> str:
    """``key1`` -> ``key2`` (past every taken number); ``mykey`` -> ``mykey2``."""
    m = re.fullmatch(r"(.*?)(\d+)", current)
    stem = m.group(1) if m else current
    numbers = [int(mm.group(1)) for t in taken if (mm := re.fullmatch(re.escape(stem) + r"(\d+)", t))]
    n = max([*numbers, int(m.group(2)) if m else 1]) + 1
    while f"{stem}{n}" in taken:
        n += 1
    return f"{stem}{n}"


def plan_rotation(
    config: EncryptionConfig,
    *,
    stage_paths: tuple[str, str, str],
    target_path: str,
    provider: str | None = None,
    rules: Sequence[int] | None = None,
    rng: Callable[[int], bytes] = secrets.token_bytes,
) -> RotationPlan:
    """The three configs and the steps between them. ``provider`` switches provider (default: same)."""
    if provider is not None and provider not in ("secretbox", "aescbc", "aesgcm"):
        raise ValueError(
            f"cannot rotate to {provider!r}: choose secretbox, aesgcm or aescbc "
            "(for KMS v2, generate a kms config and migrate to it with the same staged order)"
        )
    wanted = set(range(len(config.rules))) if rules is None else set(rules)
    unknown = sorted(wanted - set(range(len(config.rules))))
    if unknown:
        raise ValueError(f"no rule resources[{unknown[0]}] in the config (it has {len(config.rules)})")
    stage1: list[ResourceRule] = []
    stage2: list[ResourceRule] = []
    stage3: list[ResourceRule] = []
    rotated: list[RotatedRule] = []
    skipped: list[str] = []
    for rule in config.rules:
        first = rule.write_provider
        if rule.index not in wanted or first is None:
            stage1.append(rule)
            stage2.append(rule)
            stage3.append(rule)
            continue
        if first.type is ProviderType.KMS:
            skipped.append(
                f"resources[{rule.index}] ({', '.join(rule.resources)}): written by KMS plugin; rotate the key "
                "in the KMS and rewrite the objects"
            )
            stage1.append(rule)
            stage2.append(rule)
            stage3.append(rule)
            continue
        current_type = first.type if first.type.has_keys else ProviderType.SECRETBOX
        target = ProviderType(provider) if provider else current_type
        rest = list(rule.providers[1:])
        if target is first.type:
            names = [k.name for k in first.keys]
            new_key = Key(next_key_name(first.keys[0].name, names), new_key_secret(rng))
            p1 = replace(first, keys=(first.keys[0], new_key, *first.keys[1:]))
            p2 = replace(first, keys=(new_key, *first.keys))
            p3 = replace(first, keys=(new_key,))
            stage1.append(replace(rule, providers=(p1, *rest)))
            stage2.append(replace(rule, providers=(p2, *rest)))
            stage3.append(replace(rule, providers=(p3, *rest)))
        else:
            same_type = [p for p in rest if p.type is target]
            taken = [k.name for p in same_type for k in p.keys]
            new_key = Key(next_key_name("key0", taken) if taken else "key1", new_key_secret(rng))
            new_provider = Provider((target,), (new_key,))
            stage1.append(replace(rule, providers=(first, new_provider, *rest)))
            stage2.append(replace(rule, providers=(new_provider, first, *rest)))
            stage3.append(replace(rule, providers=(new_provider, *rest)))
        rotated.append(
            RotatedRule(rule.index, rule.resources, _label(first), f"{target.value}/{new_key.name}")
        )
    if not rotated:
        raise ValueError("nothing to rotate: " + ("; ".join(skipped) if skipped else "no rule selected"))
    return RotationPlan(
        _stages((stage1, stage2, stage3), rotated, stage_paths, target_path),
        tuple(rotated),
        tuple(skipped),
    )


def _restart_steps(stage_path: str, target_path: str) -> list[str]:
    return [
        f"On every control-plane node: install -m 600 -o root -g root {stage_path} {target_path}",
        "Restart every kube-apiserver, one node at a time (static pod: "
        "crictl stop $(crictl ps --name kube-apiserver -q); the kubelet starts it again). With "
        "--encryption-provider-config-automatic-reload=true, wait for the reload instead.",
        "Wait until each is ready again: kubectl get --raw='/readyz?verbose' (on every server).",
    ]


def _rewrite_steps(rotated: Sequence[RotatedRule]) -> list[str]:
    steps: list[str] = []
    for r in rotated:
        for res in r.resources:
            if res.startswith("*."):
                steps.append(
                    f"Rewrite every object of every resource type that {res!r} covers "
                    "(kubectl get <type> --all-namespaces -o json | kubectl replace -f -, for each type)."
                )
            else:
                steps.append(f"kubectl get {res} --all-namespaces -o json | kubectl replace -f -")
    return steps


def _verify_step(config_path: str, rotated: Sequence[RotatedRule], check: str) -> str:
    resources = [res for r in rotated for res in r.resources if not res.startswith("*")]
    flags = " ".join(f"--resource {res}" for res in resources)
    return (
        "kapsec encryption verify --etcd https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt "
        "--cert /etc/kubernetes/pki/apiserver-etcd-client.crt --key /etc/kubernetes/pki/apiserver-etcd-client.key "
        f"--config {config_path} {flags}".rstrip()
        + f"  ({check})"
    )


def _stages(
    rules: tuple[list[ResourceRule], list[ResourceRule], list[ResourceRule]],
    rotated: Sequence[RotatedRule],
    paths: tuple[str, str, str],
    target: str,
) -> tuple[Stage, ...]:
    moves = "; ".join(f"resources[{r.index}]: {r.old} -> {r.new}" for r in rotated)
    titles = (
        "add the new key second (every server can read it; none writes with it yet)",
        "promote the new key first (new writes use it), then rewrite every object",
        "drop the old key",
    )
    whys = (
        "Servers that have not restarted yet still write with the old key; a server that wrote with the "
        "new key before all could read it would make its objects unreadable on the others.",
        "Once every server can read the new key, it can become the write key. Rewriting moves every "
        "existing object to it; until then the old key must stay.",
        "Only after the rewrite (and an etcd backup taken with the new key in use) is the old key no longer "
        "needed. Removing it earlier makes objects still under it unreadable.",
    )
    out: list[Stage] = []
    for n, (rule_list, path) in enumerate(zip(rules, paths, strict=True), start=1):
        cfg = EncryptionConfig(tuple(rule_list), source=path)
        header = (
            f"kapsec encryption rotate, stage {n} of 3: {titles[n - 1]}.",
            f"Rotation: {moves}.",
            f"Install as {target} on every control-plane node (mode 0600).",
        )
        steps = _restart_steps(path, target)
        if n == 1:
            steps.insert(0, "Back up etcd first: ETCDCTL_API=3 etcdctl snapshot save etcd-before-rotation.db")
        if n == 2:
            steps += _rewrite_steps(rotated)
            steps.append(_verify_step(path, rotated, "ENC-V003 must pass: nothing left under the old key"))
            steps.append(
                "Back up etcd with the new key in use: ETCDCTL_API=3 etcdctl snapshot save etcd-after-rotation.db "
                "(keep this stage's config with it)"
            )
        if n == 3:
            steps.append(_verify_step(path, rotated, "ENC-V002 and ENC-V004 must pass"))
        out.append(Stage(n, titles[n - 1], whys[n - 1], render_config(cfg, header), path, tuple(steps)))
    return tuple(out)
