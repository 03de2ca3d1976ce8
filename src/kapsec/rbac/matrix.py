"""An access matrix: resources x verbs for one subject, decided by the RBAC authorizer.

Each cell is one :func:`kapsec.rbac.authorize.authorize` call (``plugin/pkg/auth/authorizer/rbac/rbac.go``
in kubernetes/kubernetes). In a namespace, namespaced resources are asked in it and cluster-scoped
ones cluster-wide (their requests carry no namespace); without one, everything is asked
cluster-wide (lists across all namespaces). Resources are a built-in list of common ones plus
every concrete resource the subject's rules name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kapsec.model.request import RequestAttributes
from kapsec.rbac.authorize import authorize, rules_for
from kapsec.rbac.model import ALL
from kapsec.rbac.store import RbacStore

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")

# (apiGroup, resource, namespaced)
COMMON_RESOURCES: tuple[tuple[str, str, bool], ...] = (
    ("", "pods", True),
    ("", "pods/exec", True),
    ("", "pods/attach", True),
    ("", "pods/log", True),
    ("", "pods/portforward", True),
    ("", "services", True),
    ("", "services/proxy", True),
    ("", "endpoints", True),
    ("", "configmaps", True),
    ("", "secrets", True),
    ("", "serviceaccounts", True),
    ("", "serviceaccounts/token", True),
    ("", "persistentvolumeclaims", True),
    ("", "events", True),
    ("", "replicationcontrollers", True),
    ("", "resourcequotas", True),
    ("", "limitranges", True),
    ("", "namespaces", False),
    ("", "nodes", False),
    ("", "nodes/proxy", False),
    ("", "persistentvolumes", False),
    ("apps", "deployments", True),
    ("apps", "deployments/scale", True),
    ("apps", "daemonsets", True),
    ("apps", "statefulsets", True),
    ("apps", "replicasets", True),
    ("batch", "jobs", True),
    ("batch", "cronjobs", True),
    ("autoscaling", "horizontalpodautoscalers", True),
    ("networking.k8s.io", "ingresses", True),
    ("networking.k8s.io", "networkpolicies", True),
    ("policy", "poddisruptionbudgets", True),
    ("coordination.k8s.io", "leases", True),
    ("rbac.authorization.k8s.io", "roles", True),
    ("rbac.authorization.k8s.io", "rolebindings", True),
    ("rbac.authorization.k8s.io", "clusterroles", False),
    ("rbac.authorization.k8s.io", "clusterrolebindings", False),
    ("certificates.k8s.io", "certificatesigningrequests", False),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", False),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations", False),
    ("apiextensions.k8s.io", "customresourcedefinitions", False),
    ("storage.k8s.io", "storageclasses", False),
)
_SCOPE = {(g, r): ns for g, r, ns in COMMON_RESOURCES}
_CLUSTER_SCOPED = frozenset(
    {(g, r.partition("/")[0]) for g, r, ns in COMMON_RESOURCES if not ns}
    | {
        ("", "componentstatuses"),
        ("apiregistration.k8s.io", "apiservices"),
        ("scheduling.k8s.io", "priorityclasses"),
        ("storage.k8s.io", "csinodes"),
        ("storage.k8s.io", "csidrivers"),
        ("storage.k8s.io", "volumeattachments"),
        ("node.k8s.io", "runtimeclasses"),
        ("networking.k8s.io", "ingressclasses"),
        ("flowcontrol.apiserver.k8s.io", "flowschemas"),
        ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"),
        ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
        ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"),
        ("authentication.k8s.io", "selfsubjectreviews"),
        ("authentication.k8s.io", "tokenreviews"),
        ("authorization.k8s.io", "selfsubjectaccessreviews"),
        ("authorization.k8s.io", "selfsubjectrulesreviews"),
        ("authorization.k8s.io", "subjectaccessreviews"),
    }
)


def is_cluster_scoped(api_group: str, resource: str) -> bool:
    """Whether a built-in resource is cluster-scoped (unknown resources are taken as namespaced)."""
    return (api_group, resource) in _CLUSTER_SCOPED


@dataclass(frozen=True)
class MatrixRow:
    api_group: str
    resource: str
    namespaced: bool
    cells: tuple[bool, ...]

    @property
    def label(self) -> str:
        base, _, sub = self.resource.partition("/")
        name = f"{base}.{self.api_group}" if self.api_group else base
        return f"{name}/{sub}" if sub else name

    def to_dict(self, verbs: tuple[str, ...]) -> dict[str, Any]:
        return {
            "apiGroup": self.api_group,
            "resource": self.resource,
            "namespaced": self.namespaced,
            "verbs": dict(zip(verbs, self.cells, strict=True)),
        }


@dataclass(frozen=True)
class Matrix:
    user: str
    groups: tuple[str, ...]
    namespace: str
    verbs: tuple[str, ...]
    rows: tuple[MatrixRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "groups": list(self.groups),
            "namespace": self.namespace or None,
            "verbs": list(self.verbs),
            "resources": [r.to_dict(self.verbs) for r in self.rows],
        }


def access_matrix(
    store: RbacStore,
    user: str,
    groups: tuple[str, ...],
    namespace: str = "",
    verbs: tuple[str, ...] = VERBS,
    *,
    masters: bool = True,
) -> Matrix:
    resources: list[tuple[str, str, bool]] = list(COMMON_RESOURCES)
    seen = {(g, r) for g, r, _ in resources}
    rules, _ = rules_for(store, user, groups, namespace)
    extra: set[tuple[str, str]] = set()
    for rule in rules:
        for g in rule.api_groups:
            for r in rule.resources:
                if g != ALL and ALL not in r and (g, r) not in seen:
                    extra.add((g, r))
    for g, r in sorted(extra):
        resources.append((g, r, _SCOPE.get((g, r), True)))
    rows = []
    for g, r, namespaced in resources:
        base, _, sub = r.partition("/")
        ns = namespace if namespaced else ""
        cells = tuple(
            authorize(
                store,
                RequestAttributes(
                    user=user,
                    groups=groups,
                    verb=v,
                    resource_request=True,
                    namespace=ns,
                    api_group=g,
                    resource=base,
                    subresource=sub,
                ),
                masters=masters,
            ).allowed
            for v in verbs
        )
        rows.append(MatrixRow(g, r, namespaced, cells))
    return Matrix(user, groups, namespace, verbs, tuple(rows))
