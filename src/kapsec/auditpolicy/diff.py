"""What changes between two audit policies, request by request.

Both policies are evaluated with the server's matcher (``staging/src/k8s.io/apiserver/pkg/audit/
policy/checker.go``, see :mod:`kapsec.auditpolicy.checker`) over the same set of probe requests:
every verb on the common built-in resources and subresources (and the ones either policy names),
as an ordinary user, an admin, a service account, a node, an anonymous user and a request that
failed authentication, in a few namespaces, plus the usual non-resource paths. Requests whose
level or omitted stages differ are grouped by (identity, resource, level change).

This answers "what will this change log" without traffic; ``simulate`` answers it on real logs.
"""

from __future__ import annotations

__all__ = ["IDENTITY_COUNT", "NAMESPACES", "Change", "diff_policies"]

from collections import defaultdict
from dataclasses import dataclass

from kapsec.auditpolicy.checker import Decision, compiled
from kapsec.auditpolicy.model import STAGES, Policy
from kapsec.auditpolicy.probes import CLUSTER_SCOPED as _CLUSTER_SCOPED
from kapsec.auditpolicy.probes import IDENTITIES as _IDENTITIES
from kapsec.auditpolicy.probes import NAMESPACES as _NAMESPACES

_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
_TARGETS: tuple[tuple[str, str, str], ...] = (
    ("", "pods", ""),
    ("", "pods", "exec"),
    ("", "pods", "attach"),
    ("", "pods", "portforward"),
    ("", "pods", "log"),
    ("", "pods", "status"),
    ("", "pods", "ephemeralcontainers"),
    ("", "secrets", ""),
    ("", "configmaps", ""),
    ("", "serviceaccounts", ""),
    ("", "serviceaccounts", "token"),
    ("", "services", ""),
    ("", "endpoints", ""),
    ("", "events", ""),
    ("", "namespaces", ""),
    ("", "nodes", ""),
    ("", "nodes", "status"),
    ("", "nodes", "proxy"),
    ("apps", "deployments", ""),
    ("apps", "deployments", "scale"),
    ("apps", "daemonsets", ""),
    ("apps", "statefulsets", ""),
    ("batch", "jobs", ""),
    ("batch", "cronjobs", ""),
    ("rbac.authorization.k8s.io", "roles", ""),
    ("rbac.authorization.k8s.io", "rolebindings", ""),
    ("rbac.authorization.k8s.io", "clusterroles", ""),
    ("rbac.authorization.k8s.io", "clusterrolebindings", ""),
    ("authentication.k8s.io", "tokenreviews", ""),
    ("authorization.k8s.io", "subjectaccessreviews", ""),
    ("coordination.k8s.io", "leases", ""),
    ("networking.k8s.io", "networkpolicies", ""),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations", ""),
    ("apiextensions.k8s.io", "customresourcedefinitions", ""),
)
_PATHS = ("/healthz", "/livez", "/readyz", "/version", "/api", "/apis", "/openapi/v3", "/metrics", "/logs/")
_EXTRA_IDENTITIES = (
    ("a node", "system:node:node-1", ("system:nodes", "system:authenticated")),
    ("an anonymous user", "system:anonymous", ("system:unauthenticated",)),
    ("a request that failed authentication", "", ()),
)


NAMESPACES = _NAMESPACES
IDENTITY_COUNT = len(_IDENTITIES) + len(_EXTRA_IDENTITIES)


@dataclass(frozen=True, slots=True)
class Change:
    identities: tuple[str, ...]
    what: str  # "secrets", "pods/exec", "deployments.apps", "nonResource /healthz"
    before: str  # "Metadata (omit RequestReceived)"
    after: str
    verbs: tuple[str, ...]
    namespaces: tuple[str, ...]
    before_rule: int | None
    after_rule: int | None

    def to_dict(self) -> dict[str, object]:
        return {
            "identities": list(self.identities),
            "resource": self.what,
            "verbs": list(self.verbs),
            "namespaces": list(self.namespaces),
            "before": self.before,
            "after": self.after,
            "beforeRule": self.before_rule,
            "afterRule": self.after_rule,
        }


def _show(d: Decision) -> str:
    order = {s: i for i, s in enumerate(STAGES)}
    stages = sorted(d.omit_stages, key=lambda s: order.get(s, 99))
    return d.level + (f" (omit {', '.join(stages)})" if stages and d.level != "None" else "")


def _targets(*policies: Policy) -> list[tuple[str, str, str]]:
    out = list(_TARGETS)
    seen = set(out)
    for policy in policies:
        for rule in policy.rules:
            for gr in rule.resources:
                for res in gr.resources:
                    if "*" in res or gr.group == "*":
                        continue
                    base, _, sub = res.partition("/")
                    key = (gr.group, base, sub)
                    if key not in seen:
                        seen.add(key)
                        out.append(key)
    return out


def diff_policies(old: Policy, new: Policy) -> list[Change]:
    """Every probe request whose decision differs, grouped; in a stable order."""
    a, b = compiled(old), compiled(new)
    groups: dict[tuple[str, str, str, str, int | None, int | None], tuple[set[str], set[str]]] = defaultdict(
        lambda: (set(), set())
    )
    identities = (*_IDENTITIES, *_EXTRA_IDENTITIES)
    for label, user_name, grps in identities:
        user = user_name or None
        groups_ = grps if user is not None else None
        for group, resource, sub in _targets(old, new):
            namespaces = ("",) if resource in _CLUSTER_SCOPED else (*_NAMESPACES, "")
            what = resource + (f".{group}" if group else "") + (f"/{sub}" if sub else "")
            for verb in _VERBS:
                name = "probe" if verb in ("get", "update", "patch", "delete") or sub else ""
                for ns in namespaces:
                    da = a.check(user, groups_, verb, True, ns, group, resource, sub, name)
                    db = b.check(user, groups_, verb, True, ns, group, resource, sub, name)
                    if (da.level, da.omit_stages) != (db.level, db.omit_stages):
                        key = (label, what, _show(da), _show(db), da.rule_index, db.rule_index)
                        groups[key][0].add(verb)
                        groups[key][1].add(ns)
        for path in _PATHS:
            for verb in ("get", "post"):
                da = a.check(user, groups_, verb, False, path=path)
                db = b.check(user, groups_, verb, False, path=path)
                if (da.level, da.omit_stages) != (db.level, db.omit_stages):
                    key = (label, f"nonResource {path}", _show(da), _show(db), da.rule_index, db.rule_index)
                    groups[key][0].add(verb)
    order = {v: i for i, v in enumerate((*_VERBS, "post"))}
    ident_order = {x[0]: i for i, x in enumerate(identities)}
    merged: dict[
        tuple[str, str, str, int | None, int | None, tuple[str, ...], tuple[str, ...]], list[str]
    ] = {}
    for (label, what, before, after, ra, rb), (verbs, nss) in groups.items():
        mkey = (
            what,
            before,
            after,
            ra,
            rb,
            tuple(sorted(verbs, key=lambda v: order.get(v, 99))),
            tuple(sorted(nss)),
        )
        merged.setdefault(mkey, []).append(label)
    out = [
        Change(
            tuple(sorted(labels, key=lambda x: ident_order.get(x, 99))),
            what,
            before,
            after,
            verbs,
            nss,
            ra,
            rb,
        )
        for (what, before, after, ra, rb, verbs, nss), labels in merged.items()
    ]
    out.sort(key=lambda c: (c.what, c.before, c.after, c.verbs, ident_order.get(c.identities[0], 99)))
    return out
