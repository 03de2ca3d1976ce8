"""Lint an EncryptionConfiguration: the API server's own verdict, then what an expert would flag.

The verdict mirrors ``validation_encryption.go`` and ``encryptionconfig/config.go`` through
:mod:`kapsec.encryption.config`. The expert findings cover what the server accepts silently
(recorded against a real kube-apiserver v1.36 in the oracle ``config-errors`` set): ``identity``
first or alone (writes in clear), Secrets not covered, the same resource in two rules (the
first wins), duplicate key names, the legacy ``EncryptionConfig`` kind, AES-128 keys; and the
upstream provider advice (``aescbc`` not recommended, ``aesgcm`` only with rotation, KMS v1
deprecated and off by default since v1.29), plus the file's permissions. Pure: the caller
passes the text and the file mode.
"""

from __future__ import annotations

import stat
from collections import defaultdict

from kapsec.encryption.config import (
    ANY_GROUP_ANY_RESOURCE,
    EncryptionConfig,
    EncryptionConfigError,
    GroupResource,
    ProviderType,
    ResourceRule,
    parse_encryption_config,
)
from kapsec.encryption.generate import AESCBC_WARNING, AESGCM_WARNING
from kapsec.model.findings import Evidence, Finding, FixSafety, Severity, Status

CIS = {"cis-1.12": "1.2.28"}
DOCS = "https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/"


def lint_config(
    text: str,
    name: str,
    *,
    file_mode: int | None = None,
    kms_v1_enabled: bool = False,
) -> list[Finding]:
    """All findings for the config ``text`` read from ``name`` (``file_mode``: ``st_mode`` or None)."""
    out: list[Finding] = []
    try:
        config = parse_encryption_config(text, name, kms_v1_enabled=kms_v1_enabled)
    except EncryptionConfigError as exc:
        kms_v1 = "KMSv1 is deprecated" in exc.message
        out.append(
            Finding(
                "ENC-001",
                "accepted by the API server",
                Status.FAIL,
                Severity.CRITICAL,
                exc.message,
                evidence=Evidence(
                    file=name,
                    line=exc.line,
                    detail="; ".join(str(p) for p in exc.problems[1:]) or None,
                ),
                remediation=(
                    "Move to a KMS v2 plugin (apiVersion: v2), or start the API server with "
                    "--feature-gates=KMSv1=true while you migrate."
                    if kms_v1
                    else "Fix the file: the API server exits at start-up with this error."
                ),
                references=(DOCS,),
            )
        )
        out.append(_mode_finding(name, file_mode))
        return out
    out.append(
        Finding(
            "ENC-001",
            "accepted by the API server",
            Status.PASS,
            Severity.CRITICAL,
            "the API server's validation accepts this file",
            evidence=Evidence(file=name),
        )
    )
    out += _coverage(config, name)
    out += _providers(config, name)
    out += _duplicates(config, name)
    out.append(_legacy(config, name))
    out.append(_mode_finding(name, file_mode))
    return out


def _coverage(config: EncryptionConfig, name: str) -> list[Finding]:
    out: list[Finding] = []
    secrets_rule = config.rule_for("secrets")
    if secrets_rule is None:
        out.append(
            Finding(
                "ENC-002",
                "Secrets written encrypted",
                Status.FAIL,
                Severity.HIGH,
                "no rule covers secrets (nor '*.' or '*.*'): Secrets are stored in etcd in clear",
                benchmarks=CIS,
                evidence=Evidence(file=name),
                remediation="Add a rule for secrets with an encrypting provider first.",
                fix_safety=FixSafety.RISKY,
                references=(DOCS,),
            )
        )
    for rule in config.rules:
        first = rule.write_provider
        if first is None or first.type is not ProviderType.IDENTITY:
            continue
        live = [
            r
            for r in rule.resources
            if config.rule_for(GroupResource.parse(r).resource, GroupResource.parse(r).group) is rule
        ]
        if not live:
            continue  # every resource is served by an earlier rule: dead configuration (ENC-005)
        covers_secrets = rule is secrets_rule
        only = len(rule.providers) == 1
        if only and not covers_secrets and _excluded_from_wildcard(config, rule, live):
            out.append(
                Finding(
                    "ENC-002",
                    "resources written encrypted",
                    Status.SKIP,
                    Severity.INFO,
                    f"resources[{rule.index}] ({', '.join(live)}): identity only, ahead of a wildcard rule that "
                    "would encrypt them: an intentional exclusion (as upstream suggests for events)",
                    evidence=Evidence(file=name, line=first.line, value="identity"),
                )
            )
            continue
        what = "identity is the only provider" if only else "identity is the first provider"
        out.append(
            Finding(
                "ENC-002",
                "Secrets written encrypted" if covers_secrets else "resources written encrypted",
                Status.FAIL,
                Severity.HIGH if covers_secrets else Severity.MEDIUM,
                f"resources[{rule.index}] ({', '.join(live)}): {what}, so new writes are stored in "
                "clear; the API server accepts this without a warning",
                benchmarks=CIS,
                evidence=Evidence(file=name, line=first.line, value="identity"),
                remediation="Put an encrypting provider first and keep identity (if needed at all) after it.",
                fix_safety=FixSafety.RISKY,
                references=(DOCS,),
            )
        )
    if secrets_rule is not None and secrets_rule.write_provider is not None:
        wp = secrets_rule.write_provider
        if wp.type is not ProviderType.IDENTITY:
            label = (
                wp.name if wp.type is not ProviderType.KMS or wp.kms is None else f"kms {wp.kms.api_version}"
            )
            out.append(
                Finding(
                    "ENC-002",
                    "Secrets written encrypted",
                    Status.PASS,
                    Severity.HIGH,
                    f"secrets are written with {label} (resources[{secrets_rule.index}])",
                    benchmarks=CIS,
                    evidence=Evidence(file=name, line=wp.line, value=wp.name),
                )
            )
    return out


def _excluded_from_wildcard(config: EncryptionConfig, rule: ResourceRule, live: list[str]) -> bool:
    """Every live resource of ``rule`` would be encrypted by a later ``*.group`` or ``*.*`` rule."""
    for res in live:
        gr = GroupResource.parse(res)
        later = [
            r
            for r in config.rules[rule.index + 1 :]
            if any(
                GroupResource.parse(x) in (GroupResource(gr.group, "*"), ANY_GROUP_ANY_RESOURCE)
                for x in r.resources
            )
        ]
        if (
            not later
            or later[0].write_provider is None
            or later[0].write_provider.type is ProviderType.IDENTITY
        ):
            return False
    return True


def _providers(config: EncryptionConfig, name: str) -> list[Finding]:
    out: list[Finding] = []
    for rule in config.rules:
        where = f"resources[{rule.index}] ({', '.join(rule.resources)})"
        for j, provider in enumerate(rule.providers):
            writes = j == 0
            ev = Evidence(file=name, line=provider.line, value=provider.name)
            if (
                provider.type is ProviderType.KMS
                and provider.kms is not None
                and provider.kms.api_version == "v1"
            ):
                out.append(
                    Finding(
                        "ENC-004",
                        "no KMS v1 provider",
                        Status.FAIL,
                        Severity.HIGH,
                        f"{where}: kms plugin {provider.kms.name!r} uses the deprecated KMS v1 API (disabled by "
                        "default since Kubernetes 1.29: the server starts only with --feature-gates=KMSv1=true)",
                        benchmarks=CIS,
                        evidence=ev,
                        remediation="Migrate to a KMS v2 plugin (apiVersion: v2) and rewrite the data.",
                        references=(DOCS,),
                    )
                )
            for key in provider.keys:
                size = len(key.material())
                if provider.type.has_keys and size < 32:
                    out.append(
                        Finding(
                            "ENC-009",
                            "256-bit keys",
                            Status.FAIL,
                            Severity.LOW,
                            f"{where}: {provider.name} key {key.name!r} is {size} bytes (AES-{size * 8}); the "
                            "server accepts it, but generate 32-byte keys",
                            evidence=Evidence(file=name, line=key.line, value=key.name),
                            remediation="kapsec encryption rotate FILE",
                        )
                    )
            if not writes:
                continue
            if provider.type is ProviderType.AESCBC:
                out.append(
                    Finding(
                        "ENC-003",
                        "recommended encryption provider",
                        Status.FAIL,
                        Severity.MEDIUM,
                        f"{where}: writes with aescbc. {AESCBC_WARNING}",
                        benchmarks=CIS,
                        evidence=ev,
                        remediation="kapsec encryption rotate FILE --provider secretbox",
                        fix_safety=FixSafety.RISKY,
                        references=(DOCS,),
                    )
                )
            elif provider.type is ProviderType.AESGCM:
                rotated = len(provider.keys) > 1
                out.append(
                    Finding(
                        "ENC-003",
                        "recommended encryption provider",
                        Status.WARN if rotated else Status.FAIL,
                        Severity.MEDIUM,
                        f"{where}: writes with aesgcm"
                        + (
                            " and lists older keys, so it has been rotated; make sure rotation is automated. "
                            if rotated
                            else " with a single key and no sign of rotation. "
                        )
                        + AESGCM_WARNING,
                        benchmarks=CIS,
                        evidence=ev,
                        remediation="kapsec encryption rotate FILE (regularly), or move to secretbox or KMS v2.",
                        references=(DOCS,),
                    )
                )
            elif provider.type is ProviderType.SECRETBOX or (
                provider.kms is not None and provider.kms.api_version == "v2"
            ):
                out.append(
                    Finding(
                        "ENC-003",
                        "recommended encryption provider",
                        Status.PASS,
                        Severity.MEDIUM,
                        f"{where}: writes with {provider.name}",
                        benchmarks=CIS,
                        evidence=ev,
                    )
                )
    return out


def _duplicates(config: EncryptionConfig, name: str) -> list[Finding]:
    out: list[Finding] = []
    seen: dict[GroupResource, int] = {}
    for rule in config.rules:
        for res in rule.resources:
            gr = GroupResource.parse(res)
            if gr in seen and seen[gr] != rule.index:
                out.append(
                    Finding(
                        "ENC-005",
                        "each resource in one rule",
                        Status.FAIL,
                        Severity.MEDIUM,
                        f"{res!r} is listed in resources[{seen[gr]}] and again in resources[{rule.index}]: "
                        f"the server accepts it silently and uses resources[{seen[gr]}]; the later rule is "
                        "dead configuration that readers will misread",
                        evidence=Evidence(file=name, line=rule.line, value=res),
                        remediation="Keep each resource in one rule.",
                    )
                )
            else:
                seen.setdefault(gr, rule.index)
    for rule in config.rules:
        for provider in rule.providers:
            names: dict[str, int] = defaultdict(int)
            for key in provider.keys:
                names[key.name] += 1
            for key_name, count in names.items():
                if count > 1:
                    out.append(
                        Finding(
                            "ENC-006",
                            "unique key names",
                            Status.FAIL,
                            Severity.MEDIUM,
                            f"resources[{rule.index}] {provider.name}: {count} keys are named {key_name!r}; values "
                            "record only the key name, so the server tries each of them on every read and the "
                            "name no longer says which key wrote a value (it writes with the first)",
                            evidence=Evidence(file=name, line=provider.line, value=key_name),
                            remediation="Give every key a unique name (e.g. key1, key2 in rotation order).",
                        )
                    )
    return out


def _legacy(config: EncryptionConfig, name: str) -> Finding:
    if config.legacy_kind:
        return Finding(
            "ENC-007",
            "current configuration kind",
            Status.FAIL,
            Severity.LOW,
            "kind: EncryptionConfig / apiVersion: v1 is a legacy spelling the server still accepts; "
            "use apiVersion: apiserver.config.k8s.io/v1, kind: EncryptionConfiguration",
            evidence=Evidence(file=name, value=f"{config.api_version} {config.kind}"),
            fix_safety=FixSafety.SAFE,
        )
    return Finding(
        "ENC-007",
        "current configuration kind",
        Status.PASS,
        Severity.LOW,
        f"{config.api_version} {config.kind}",
        evidence=Evidence(file=name),
    )


def _mode_finding(name: str, mode: int | None) -> Finding:
    if mode is None:
        return Finding(
            "ENC-008",
            "key file readable only by its owner",
            Status.WARN,
            Severity.HIGH,
            "file mode unknown (not read from a file)",
            evidence=Evidence(file=name),
        )
    perms = stat.S_IMODE(mode)
    if perms & 0o077:
        return Finding(
            "ENC-008",
            "key file readable only by its owner",
            Status.FAIL,
            Severity.HIGH,
            f"mode {perms:04o}: the keys in this file can be read by group or others",
            evidence=Evidence(file=name, value=f"{perms:04o}"),
            remediation=f"chmod 600 {name}",
            fix_safety=FixSafety.SAFE,
        )
    return Finding(
        "ENC-008",
        "key file readable only by its owner",
        Status.PASS,
        Severity.HIGH,
        f"mode {perms:04o}",
        evidence=Evidence(file=name, value=f"{perms:04o}"),
    )
