"""Probe requests: the representative requests lint and diff evaluate a policy with.

The evaluation itself is the server's matcher (``staging/src/k8s.io/apiserver/pkg/audit/policy/
checker.go``, see :mod:`kapsec.auditpolicy.checker`); this module only decides which requests
to ask about: identities, namespaces, and a name where the verb carries one. Cluster-scoped
resources are probed without a namespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kapsec.auditpolicy.checker import CompiledPolicy, Decision

# Identities the probes run as: (label, user, groups).
IDENTITIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("a user", "jane", ("developers", "system:authenticated")),
    ("an admin", "admin", ("system:masters", "system:authenticated")),
    (
        "a service account",
        "system:serviceaccount:team-a:app",
        ("system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated"),
    ),
)
NAMESPACES = ("default", "kube-system", "team-a")
NAMED_VERBS = frozenset({"get", "update", "patch", "delete"})


@dataclass(frozen=True, slots=True)
class Probe:
    label: str
    user: str
    groups: tuple[str, ...]
    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str

    def describe(self) -> str:
        res = self.resource + (f"/{self.subresource}" if self.subresource else "")
        if self.group:
            res = f"{self.resource}.{self.group}" + (f"/{self.subresource}" if self.subresource else "")
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.verb} {res}{where} by {self.label}"


CLUSTER_SCOPED = frozenset(
    {
        "nodes",
        "namespaces",
        "persistentvolumes",
        "componentstatuses",
        "clusterroles",
        "clusterrolebindings",
        "customresourcedefinitions",
        "apiservices",
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicybindings",
        "certificatesigningrequests",
        "storageclasses",
        "csidrivers",
        "csinodes",
        "volumeattachments",
        "priorityclasses",
        "runtimeclasses",
        "ingressclasses",
        "flowschemas",
        "prioritylevelconfigurations",
        "tokenreviews",
        "selfsubjectreviews",
        "selfsubjectaccessreviews",
        "selfsubjectrulesreviews",
        "subjectaccessreviews",
    }
)
ANONYMOUS = ("an anonymous user", "system:anonymous", ("system:unauthenticated",))


def make_probes(
    verbs: Iterable[str],
    targets: Iterable[tuple[str, str, str]],
    namespaced: bool = True,
    identities: tuple[tuple[str, str, tuple[str, ...]], ...] = IDENTITIES,
) -> list[Probe]:
    """Every (target, verb, namespace, identity) combination, in that nesting order."""
    out = []
    verb_list = list(verbs)
    for group, resource, sub in targets:
        namespaces = NAMESPACES if namespaced and resource not in CLUSTER_SCOPED else ("",)
        for verb in verb_list:
            name = "probe" if verb in NAMED_VERBS or sub else ""
            for ns in namespaces:
                for label, user, groups in identities:
                    out.append(Probe(label, user, groups, verb, group, resource, sub, ns, name))
    return out


def decide(comp: CompiledPolicy, p: Probe) -> Decision:
    """The decision for one probe (always a resource request)."""
    return comp.check(p.user, p.groups, p.verb, True, p.namespace, p.group, p.resource, p.subresource, p.name)
