"""Tally how the values of each resource are stored in etcd, prove keys work, and say what is wrong.

Semantics mirror upstream Kubernetes:

- where objects live in etcd: ``pkg/kubeapiserver/default_storage_factory_builder.go`` and the
  registry ``NewREST`` functions (``/registry/<resource>/<namespace>/<name>``; a few resources
  keep historical paths such as ``services/specs`` and ``minions``; custom resources live under
  ``/registry/<group>/<resource>``);
- which provider writes and which can read: ``encryptionconfig/config.go`` (the first provider of
  the matching rule writes; every listed provider and key can read; a value under a key that is
  no longer listed cannot be read by the API server any more).

The accumulator takes ``(key, value)`` pairs (from a live etcd or an ``etcdctl -w json`` dump)
and keeps only counts, the names of objects that need attention, and one sample value per key;
memory stays flat however many objects there are. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kapsec.encryption.config import EncryptionConfig, Key, Provider, ProviderType
from kapsec.encryption.envelope import (
    Classification,
    DecryptError,
    StorageForm,
    classify,
    known_prefixes,
    open_value,
)
from kapsec.encryption.protobuf import ProtobufError, decode_stored_object
from kapsec.model.findings import Evidence, Finding, FixSafety, Severity, Status

CIS_PROVIDERS = {"cis-1.12": "1.2.28"}

# resource (group-qualified where not core) -> path under the etcd prefix, where it is not simply
# the resource name.
_SPECIAL_PATHS: Mapping[str, str] = {
    "services": "services/specs",
    "endpoints": "services/endpoints",
    "nodes": "minions",
    "replicationcontrollers": "controllers",
    "ingresses.networking.k8s.io": "ingress",
    "podsecuritypolicies.policy": "podsecuritypolicy",
    "horizontalpodautoscalers.autoscaling": "horizontalpodautoscalers",
}

# API groups served by kube-apiserver itself: their objects are stored under /registry/<resource>.
BUILTIN_GROUPS = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events",
        "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "storagemigration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
    }
)


@dataclass(frozen=True, slots=True)
class ResourceTarget:
    """One resource to verify and the etcd key prefix its objects are stored under."""

    resource: str  # as given: "secrets", "deployments.apps"
    group: str
    name: str  # resource name without group
    prefix: str  # e.g. "/registry/secrets/"

    @classmethod
    def parse(cls, text: str, etcd_prefix: str = "/registry") -> ResourceTarget:
        name, dot, group = text.strip().partition(".")
        group = group if dot else ""
        base = etcd_prefix.rstrip("/")
        special = _SPECIAL_PATHS.get(text.strip())
        if special is not None:
            path = special
        elif group in BUILTIN_GROUPS:
            path = name
        else:
            path = f"{group}/{name}"
        return cls(text.strip(), group, name, f"{base}/{path}/")


# storage path (first segment under the prefix) -> resource as the config names it, for the paths
# that are not simply the resource name, and the API group of built-in resources stored under
# /registry/<resource>/ (the config and the lookup need the group: '*.apps' covers deployments).
_PATH_TO_RESOURCE: Mapping[str, str] = {
    "minions": "nodes",
    "controllers": "replicationcontrollers",
    "ingress": "ingresses.networking.k8s.io",
    "podsecuritypolicy": "podsecuritypolicies.policy",
}
_BUILTIN_GROUP: Mapping[str, str] = {
    **dict.fromkeys(
        ("deployments", "replicasets", "daemonsets", "statefulsets", "controllerrevisions"), "apps"
    ),
    **dict.fromkeys(("jobs", "cronjobs"), "batch"),
    **dict.fromkeys(
        ("roles", "rolebindings", "clusterroles", "clusterrolebindings"), "rbac.authorization.k8s.io"
    ),
    "horizontalpodautoscalers": "autoscaling",
    "leases": "coordination.k8s.io",
    "endpointslices": "discovery.k8s.io",
    **dict.fromkeys(
        ("networkpolicies", "ingressclasses", "ipaddresses", "servicecidrs"), "networking.k8s.io"
    ),
    "poddisruptionbudgets": "policy",
    "priorityclasses": "scheduling.k8s.io",
    **dict.fromkeys(
        (
            "storageclasses",
            "volumeattachments",
            "csidrivers",
            "csinodes",
            "csistoragecapacities",
            "volumeattributesclasses",
        ),
        "storage.k8s.io",
    ),
    **dict.fromkeys(("certificatesigningrequests", "clustertrustbundles"), "certificates.k8s.io"),
    **dict.fromkeys(
        (
            "mutatingwebhookconfigurations",
            "validatingwebhookconfigurations",
            "validatingadmissionpolicies",
            "validatingadmissionpolicybindings",
            "mutatingadmissionpolicies",
            "mutatingadmissionpolicybindings",
        ),
        "admissionregistration.k8s.io",
    ),
    "runtimeclasses": "node.k8s.io",
    **dict.fromkeys(("flowschemas", "prioritylevelconfigurations"), "flowcontrol.apiserver.k8s.io"),
    **dict.fromkeys(
        ("resourceclaims", "resourceclaimtemplates", "deviceclasses", "resourceslices"), "resource.k8s.io"
    ),
    "storageversions": "internal.apiserver.k8s.io",
}
# keys under the prefix that are not API objects (allocator state, leases of the endpoint reconciler)
_NOT_OBJECTS = frozenset({"ranges", "masterleases", "apiserverleases"})


def target_for_key(etcd_key: bytes, etcd_prefix: str = "/registry") -> ResourceTarget | None:
    """The resource a stored key belongs to (None for keys that are not API objects)."""
    base = etcd_prefix.rstrip("/") + "/"
    text = etcd_key.decode("utf-8", "replace")
    if not text.startswith(base):
        return None
    segs = text[len(base) :].split("/")
    if len(segs) < 2 or segs[0] in _NOT_OBJECTS:
        return None
    first = segs[0]
    if first == "services" and segs[1] in ("specs", "endpoints") and len(segs) >= 3:
        return ResourceTarget.parse("services" if segs[1] == "specs" else "endpoints", etcd_prefix)
    if "." in first and len(segs) >= 3:  # /registry/<group>/<resource>/...
        return ResourceTarget(f"{segs[1]}.{first}", first, segs[1], f"{base}{first}/{segs[1]}/")
    if first in _PATH_TO_RESOURCE:
        return ResourceTarget.parse(_PATH_TO_RESOURCE[first], etcd_prefix)
    group = _BUILTIN_GROUP.get(first, "")
    return ResourceTarget(f"{first}.{group}" if group else first, group, first, f"{base}{first}/")


@dataclass(frozen=True, slots=True)
class DecryptCheck:
    """The outcome of opening one sample value with the key its prefix names."""

    label: str  # provider/key
    etcd_key: str
    ok: bool
    detail: str  # what was found inside, or why it failed
    sha256: str = ""


@dataclass(frozen=True, slots=True)
class ResourceStats:
    target: ResourceTarget
    total: int
    by_storage: Mapping[str, int]  # label -> count ("aescbc/key1", "protobuf", "json", ...)
    in_clear: Sequence[str]  # namespace/name of objects stored in clear
    unreadable: Sequence[str]  # namespace/name under a provider/key the config does not list
    not_write_key: int  # encrypted values readable by the config but not under its write key
    write_label: str | None  # the label new writes get, from the config
    write_rule: int | None
    discovered: bool = False  # found by a whole-registry scan rather than asked for
    decrypted: int | None = None  # with decrypt_all: values opened with the configured keys
    undecryptable: Sequence[str] = ()  # with decrypt_all: values that did not open

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.target.resource,
            "prefix": self.target.prefix,
            "total": self.total,
            "byStorage": dict(sorted(self.by_storage.items())),
            "inClear": list(self.in_clear),
            "unreadableByConfig": list(self.unreadable),
            "notUnderWriteKey": self.not_write_key,
            "writeProvider": self.write_label,
        } | (
            {}
            if self.decrypted is None
            else {"decrypted": self.decrypted, "undecryptable": list(self.undecryptable)}
        )


@dataclass(frozen=True, slots=True)
class VerifyResult:
    resources: Sequence[ResourceStats]
    checks: Sequence[DecryptCheck]
    config: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "resources": [r.to_dict() for r in self.resources],
            "decryptChecks": [
                {"key": c.label, "etcdKey": c.etcd_key, "ok": c.ok, "detail": c.detail, "sha256": c.sha256}
                for c in self.checks
            ],
        }


def _object_name(etcd_key: bytes, prefix: bytes) -> str:
    return etcd_key[len(prefix) :].decode("utf-8", "replace")


@dataclass
class _Tally:
    target: ResourceTarget
    prefix: bytes
    counts: Counter[str] = field(default_factory=Counter)
    in_clear: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    not_write_key: int = 0
    decrypted: int = 0
    undecryptable: list[str] = field(default_factory=list)


class VerifyAccumulator:
    """Feed it every ``(etcd key, value)`` of the targets; ask for :meth:`result` at the end."""

    def __init__(
        self,
        targets: Sequence[ResourceTarget],
        config: EncryptionConfig | None = None,
        *,
        discover_prefix: str | None = None,
        decrypt_all: bool = False,
    ) -> None:
        """``discover_prefix``: also tally keys of any other resource under this etcd prefix;
        ``decrypt_all``: open every encrypted value with the config's keys, not one per key."""
        self.config = config
        self._decrypt_all = decrypt_all and config is not None
        self._candidates: dict[tuple[int | None, str], list[tuple[Provider, Key]]] = {}
        self.seen = 0
        self._discover = discover_prefix
        self._tallies: list[_Tally] = []
        self._by_prefix: dict[bytes, int] = {}
        self._prefixes = known_prefixes(config) if config else ()
        self._samples: dict[str, tuple[bytes, bytes, Classification]] = {}
        # per target: (write label, readable labels, rule index)
        self._policy: list[tuple[str | None, frozenset[str], int | None]] = []
        self._discovered: set[int] = set()
        for t in targets:
            self._new_target(t)

    def _new_target(self, t: ResourceTarget) -> int:
        config = self.config
        self._tallies.append(_Tally(t, t.prefix.encode()))
        self._by_prefix[t.prefix.encode()] = len(self._tallies) - 1
        rule = config.rule_for(t.name, t.group) if config else None
        if rule is None or not rule.providers:
            # no rule: the server writes this resource in clear (identity)
            self._policy.append((None if config is None else "protobuf", frozenset(), None))
        else:
            readable: set[str] = set()
            for p in rule.providers:
                readable.update(_labels(p))
            write = _labels(rule.providers[0])
            self._policy.append((write[0] if write else None, frozenset(readable), rule.index))
        return len(self._tallies) - 1

    def add(self, etcd_key: bytes, value: bytes) -> None:
        self.seen += 1
        for i, tally in enumerate(self._tallies):
            if etcd_key.startswith(tally.prefix):
                self._add(i, tally, etcd_key, value)
                return
        if self._discover is None:
            return
        target = target_for_key(etcd_key, self._discover)
        if target is None:
            return
        i = self._new_target(target)
        self._discovered.add(i)
        self._add(i, self._tallies[i], etcd_key, value)

    def add_all(self, items: Iterable[tuple[bytes, bytes]]) -> None:
        for k, v in items:
            self.add(k, v)

    def _add(self, i: int, tally: _Tally, etcd_key: bytes, value: bytes) -> None:
        c = classify(value, self._prefixes)
        label = c.label
        tally.counts[label] += 1
        if c.form.in_clear:
            tally.in_clear.append(_object_name(etcd_key, tally.prefix))
            return
        if c.form is not StorageForm.ENCRYPTED:
            return
        self._samples.setdefault(label, (etcd_key, value, c))
        if self.config is None:
            return
        write, readable, rule_index = self._policy[i]
        if label not in readable:
            tally.unreadable.append(_object_name(etcd_key, tally.prefix))
            return
        if label != write:
            tally.not_write_key += 1
        if self._decrypt_all and c.provider != "kms":
            if self._opens(rule_index, c, etcd_key, value):
                tally.decrypted += 1
            else:
                tally.undecryptable.append(_object_name(etcd_key, tally.prefix))

    def _opens(self, rule_index: int | None, c: Classification, etcd_key: bytes, value: bytes) -> bool:
        """Like the server: try each key of that provider and name, in config order."""
        assert self.config is not None
        cache_key = (rule_index, c.label)
        candidates = self._candidates.get(cache_key)
        if candidates is None:
            candidates = _candidates(self.config, c, rule_index)
            self._candidates[cache_key] = candidates
        for provider, key in candidates:
            try:
                plain = open_value(provider.type, key, value, etcd_key)
            except (DecryptError, ValueError):
                continue
            if plain.startswith((b"k8s\x00", b"{")):  # CBC has no MAC: also check what came out
                return True
        return False

    def result(self) -> VerifyResult:
        stats = [
            ResourceStats(
                target=t.target,
                total=sum(t.counts.values()),
                by_storage=dict(t.counts),
                in_clear=tuple(t.in_clear),
                unreadable=tuple(t.unreadable),
                not_write_key=t.not_write_key,
                write_label=self._policy[i][0],
                write_rule=self._policy[i][2],
                discovered=i in self._discovered,
                decrypted=t.decrypted if self._decrypt_all else None,
                undecryptable=tuple(t.undecryptable),
            )
            for i, t in enumerate(self._tallies)
        ]
        stats.sort(key=lambda r: (r.discovered, r.target.resource if r.discovered else ""))
        checks = [self._check(label, *sample) for label, sample in sorted(self._samples.items())]
        return VerifyResult(stats, checks, self.config.source if self.config else None)

    def _check(self, label: str, etcd_key: bytes, value: bytes, c: Classification) -> DecryptCheck:
        key_text = etcd_key.decode("utf-8", "replace")
        if self.config is None:
            return DecryptCheck(label, key_text, False, "no --config given: the key was not tested")
        candidates = _candidates(self.config, c, None)
        if not candidates:
            if c.provider == "kms":
                return DecryptCheck(label, key_text, False, "KMS values can only be opened by the KMS plugin")
            return DecryptCheck(label, key_text, False, "the config does not list this key")
        failure = ""
        plain = b""
        for provider, key in candidates:  # every key of that name, in order, as the server tries them
            try:
                plain = open_value(provider.type, key, value, etcd_key)
            except (DecryptError, ValueError) as exc:
                failure = failure or str(exc)
                continue
            failure = ""
            break
        if failure:
            return DecryptCheck(label, key_text, False, f"decryption failed: {failure}")
        digest = hashlib.sha256(plain).hexdigest()
        try:
            obj = decode_stored_object(plain)
        except ProtobufError as exc:
            if plain[:1] == b"{":
                return DecryptCheck(label, key_text, True, "decrypted to a JSON object", digest)
            return DecryptCheck(
                label, key_text, False, f"decrypted bytes are not a Kubernetes object: {exc}", digest
            )
        where = f"{obj.namespace}/{obj.name}" if obj.namespace else obj.name
        if not key_text.endswith("/" + where):
            return DecryptCheck(
                label,
                key_text,
                False,
                f"decrypted to {obj.kind} {where}, which does not match its etcd key",
                digest,
            )
        return DecryptCheck(label, key_text, True, f"decrypted to {obj.kind} {where}", digest)


def _labels(provider: Provider) -> list[str]:
    if provider.type is ProviderType.IDENTITY:
        return ["protobuf"]
    if provider.type is ProviderType.KMS and provider.kms is not None:
        return [f"kms:{provider.kms.api_version}/{provider.kms.name}"]
    return [f"{provider.type.value}/{k.name}" for k in provider.keys]


def _candidates(
    config: EncryptionConfig, c: Classification, rule_index: int | None
) -> list[tuple[Provider, Key]]:
    """The keys that can open a value labelled ``c``: those of the resource's rule (or of any rule)."""
    rules = config.rules if rule_index is None else (config.rules[rule_index],)
    return [
        (provider, key)
        for rule in rules
        for provider in rule.providers
        for key in provider.keys
        if provider.type.value == c.provider and key.name == c.key_name
    ]


_LIST_LIMIT = 20


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_LIST_LIMIT])
    return shown + (f", ... ({len(names) - _LIST_LIMIT} more)" if len(names) > _LIST_LIMIT else "")


def _clear_reason(r: ResourceStats) -> str:
    if r.write_label != "protobuf":
        return ""
    if r.write_rule is None:
        return f"; no rule in the config covers {r.target.resource}, so new writes are stored in clear"
    return f"; the config's first provider for {r.target.resource} is identity, so new writes are stored in clear"


def _severity(target: ResourceTarget) -> Severity:
    return Severity.HIGH if target.resource in ("secrets",) else Severity.MEDIUM


def verify_findings(result: VerifyResult) -> list[Finding]:
    """Findings for a verification: clear values, unreadable values, unfinished rewrites, key proofs."""
    out: list[Finding] = []
    have_config = result.config is not None
    for r in result.resources:
        res = r.target.resource
        ev = Evidence(detail=r.target.prefix)
        if r.total == 0:
            out.append(
                Finding(
                    "ENC-V005",
                    f"{res}: objects found in etcd",
                    Status.WARN,
                    Severity.MEDIUM,
                    f"no keys under {r.target.prefix}: nothing to verify (empty cluster, another --etcd-prefix, "
                    "or a resource stored elsewhere)",
                    evidence=ev,
                )
            )
            continue
        encrypted = sum(n for label, n in r.by_storage.items() if "/" in label and label != "unknown/")
        summary = ", ".join(f"{label}: {n}" for label, n in sorted(r.by_storage.items()))
        wanted = r.write_label not in (None, "protobuf") or r.target.resource == "secrets"
        if r.discovered and not wanted and not r.unreadable and encrypted == 0:
            out.append(
                Finding(
                    "ENC-V001",
                    f"{res}: stored encrypted in etcd",
                    Status.SKIP,
                    Severity.INFO,
                    f"{len(r.in_clear)} {res} in clear, as configured: "
                    + (
                        "the config does not ask to encrypt them"
                        if have_config
                        else "no --config to say otherwise"
                    ),
                    evidence=Evidence(detail=r.target.prefix, value=summary),
                )
            )
            continue
        if r.in_clear:
            out.append(
                Finding(
                    "ENC-V001",
                    f"{res}: stored encrypted in etcd",
                    Status.FAIL,
                    _severity(r.target),
                    f"{len(r.in_clear)} of {r.total} {res} stored in clear: {_names(r.in_clear)}"
                    + _clear_reason(r),
                    benchmarks=CIS_PROVIDERS,
                    evidence=Evidence(detail=r.target.prefix, value=summary),
                    remediation=(
                        "Put an encrypting provider (secretbox, aesgcm, aescbc or kms v2) first for this resource, "
                        "restart every API server, then rewrite the objects: "
                        f"kubectl get {res} --all-namespaces -o json | kubectl replace -f -"
                    ),
                    fix_safety=FixSafety.RISKY,
                )
            )
        elif encrypted == r.total:
            out.append(
                Finding(
                    "ENC-V001",
                    f"{res}: stored encrypted in etcd",
                    Status.PASS,
                    _severity(r.target),
                    f"all {encrypted} {res} are encrypted ({summary})",
                    benchmarks=CIS_PROVIDERS,
                    evidence=Evidence(detail=r.target.prefix, value=summary),
                )
            )
        kms_v1 = sum(n for label, n in r.by_storage.items() if label.startswith("kms:v1/"))
        if kms_v1:
            out.append(
                Finding(
                    "ENC-V006",
                    f"{res}: no values under KMS v1",
                    Status.FAIL,
                    Severity.MEDIUM,
                    f"{kms_v1} of {r.total} {res} are stored with the deprecated KMS v1 API; they stay readable only "
                    "while a KMS v1 provider is configured (--feature-gates=KMSv1=true)",
                    evidence=Evidence(detail=r.target.prefix, value=summary),
                    remediation="Configure a KMS v2 provider first, keep the v1 provider second, and rewrite: "
                    f"kubectl get {res} --all-namespaces -o json | kubectl replace -f -",
                    fix_safety=FixSafety.RISKY,
                )
            )
        odd = sum(n for label, n in r.by_storage.items() if label in ("unknown", "unknown/"))
        if odd:
            out.append(
                Finding(
                    "ENC-V007",
                    f"{res}: every value recognised",
                    Status.WARN,
                    Severity.MEDIUM,
                    f"{odd} of {r.total} {res} are neither a known encryption prefix nor a Kubernetes encoding "
                    "(protobuf, JSON, CBOR): kapsec cannot tell how they are stored",
                    evidence=Evidence(detail=r.target.prefix, value=summary),
                )
            )
        if not have_config:
            labels = sorted(label for label in r.by_storage if "/" in label)
            if len(labels) > 1:
                out.append(
                    Finding(
                        "ENC-V003",
                        f"{res}: every value under the current write key",
                        Status.WARN,
                        Severity.LOW,
                        f"values under {len(labels)} keys ({', '.join(labels)}): a rotation is not finished, or "
                        "several keys are in use; give --config to tell which key writes",
                        evidence=Evidence(detail=r.target.prefix, value=summary),
                    )
                )
            continue
        if r.unreadable:
            out.append(
                Finding(
                    "ENC-V002",
                    f"{res}: every value readable with the configured keys",
                    Status.FAIL,
                    Severity.HIGH,
                    f"{len(r.unreadable)} {res} are under a provider or key the config does not list, so the API "
                    f"server cannot read them: {_names(r.unreadable)}",
                    evidence=Evidence(file=result.config, detail=r.target.prefix, value=summary),
                    remediation="Put the key that wrote them back in the config (as a non-first key), restart, and "
                    "rewrite the objects; or delete them if they are no longer needed.",
                )
            )
        else:
            out.append(
                Finding(
                    "ENC-V002",
                    f"{res}: every value readable with the configured keys",
                    Status.PASS,
                    Severity.HIGH,
                    f"all {r.total} {res} are readable with the keys in the config",
                    evidence=Evidence(file=result.config, detail=r.target.prefix),
                )
            )
        stale = r.not_write_key
        write = r.write_label or "identity"
        if write == "protobuf":
            continue  # the config writes in clear: ENC-V001 says so; "rewrite" would decrypt
        if stale:
            out.append(
                Finding(
                    "ENC-V003",
                    f"{res}: every value under the current write key",
                    Status.FAIL,
                    Severity.LOW,
                    f"{stale} of {r.total} {res} are still under an older key while new writes use {write}: "
                    "the rotation is not finished and the old key cannot be removed yet",
                    evidence=Evidence(file=result.config, detail=r.target.prefix, value=summary),
                    remediation=f"kubectl get {res} --all-namespaces -o json | kubectl replace -f -",
                    fix_safety=FixSafety.SAFE,
                )
            )
        elif not r.in_clear and not r.unreadable:
            out.append(
                Finding(
                    "ENC-V003",
                    f"{res}: every value under the current write key",
                    Status.PASS,
                    Severity.LOW,
                    f"all {r.total} {res} are under {write}: older keys can be removed from the config",
                    evidence=Evidence(file=result.config, detail=r.target.prefix, value=summary),
                )
            )
    for r in result.resources:
        if r.decrypted is None or (r.decrypted == 0 and not r.undecryptable):
            continue
        res = r.target.resource
        total = r.decrypted + len(r.undecryptable)
        if r.undecryptable:
            out.append(
                Finding(
                    "ENC-V008",
                    f"{res}: every encrypted value decrypts",
                    Status.FAIL,
                    Severity.HIGH,
                    f"{len(r.undecryptable)} of {total} encrypted {res} do not open with the configured key of their "
                    f"name (the API server cannot read them either): {_names(r.undecryptable)}",
                    evidence=Evidence(file=result.config, detail=r.target.prefix),
                    remediation="Find the key material that wrote them (backups of the config) and list it, or "
                    "delete and recreate the objects.",
                )
            )
        else:
            out.append(
                Finding(
                    "ENC-V008",
                    f"{res}: every encrypted value decrypts",
                    Status.PASS,
                    Severity.HIGH,
                    f"all {total} encrypted {res} decrypt with the configured keys",
                    evidence=Evidence(file=result.config, detail=r.target.prefix),
                )
            )
    for c in result.checks:
        if not have_config:
            status = Status.SKIP
        elif c.ok:
            status = Status.PASS
        elif "KMS" in c.detail:
            status = Status.SKIP
        else:
            status = Status.FAIL
        out.append(
            Finding(
                "ENC-V004",
                f"key {c.label} decrypts what it wrote",
                status,
                Severity.HIGH,
                f"{c.etcd_key}: {c.detail}",
                evidence=Evidence(file=result.config, detail=c.etcd_key, value=c.sha256 or None),
            )
        )
    return out
