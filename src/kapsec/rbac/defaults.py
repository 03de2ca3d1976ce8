"""The default RBAC objects a kube-apiserver creates at start-up ("bootstrap policy").

The data are upstream's golden files
(``plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata/*.yaml`` in kubernetes/kubernetes:
cluster and namespace roles and bindings, and the controller-manager's controller roles and
bindings), shipped in ``data/bootstrap-rbac/`` with a NOTICE. A grant is *default* when its binding is a
bootstrap binding (same kind, namespace, name and roleRef), the subject is one of that binding's
bootstrap subjects, and the rule is covered by the bootstrap version of the role. The API server
only ever adds permissions to its bootstrap roles when it reconciles them, so a rule the
bootstrap role does not cover is a modification.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from kapsec.rbac.covers import covers
from kapsec.rbac.model import Binding, PolicyRule, Role, Subject
from kapsec.rbac.store import RbacStore

BOOTSTRAP_LABEL = ("kubernetes.io/bootstrapping", "rbac-defaults")
FILES = (
    "cluster-roles.yaml",
    "cluster-role-bindings.yaml",
    "namespace-roles.yaml",
    "namespace-role-bindings.yaml",
    "controller-roles.yaml",
    "controller-role-bindings.yaml",
)


@dataclass(frozen=True)
class Defaults:
    store: RbacStore

    def binding(self, b: Binding) -> Binding | None:
        """The bootstrap binding ``b`` stands for, when it has the same identity and roleRef."""
        bindings = (
            self.store.cluster_role_bindings if b.kind == "ClusterRoleBinding" else self.store.role_bindings
        )
        for d in bindings:
            if d.name == b.name and d.namespace == b.namespace:
                return d if d.role_ref == b.role_ref else None
        return None

    def role(self, r: Role) -> Role | None:
        return self.store.role(r.kind, r.name, r.namespace)

    def is_default_subject(self, b: Binding, s: Subject) -> bool:
        d = self.binding(b)
        if d is None:
            return False
        return any(_same_subject(s, x, b.namespace) for x in d.subjects)

    def rule_is_default(self, r: Role, rule: PolicyRule) -> bool:
        d = self.role(r)
        if d is None:
            return False
        return covers(d.rules, [rule])[0]

    def role_is_default(self, r: Role) -> bool:
        d = self.role(r)
        return d is not None and covers(d.rules, r.rules)[0]


def _same_subject(a: Subject, b: Subject, ns: str) -> bool:
    if a.kind != b.kind or a.name != b.name:
        return False
    if a.kind == "ServiceAccount":
        return (a.namespace or ns) == (b.namespace or ns)
    return True


def has_bootstrap_label(labels: object) -> bool:
    return isinstance(labels, dict) and labels.get(BOOTSTRAP_LABEL[0]) == BOOTSTRAP_LABEL[1]


@lru_cache(maxsize=1)
def bootstrap() -> Defaults:
    """The shipped bootstrap policy, with ``admin``/``edit``/``view`` aggregated."""
    from kapsec.sources.objects import LoadedObjects, load_text

    loaded = LoadedObjects()
    base = resources.files("kapsec.rbac").joinpath("data", "bootstrap-rbac")
    for name in FILES:
        load_text(base.joinpath(name).read_text(encoding="utf-8"), f"bootstrap-rbac/{name}", loaded)
    return Defaults(RbacStore.from_objects(loaded))
