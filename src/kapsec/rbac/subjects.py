"""Who can do it: every subject RBAC allows to make a request, and through what.

Mirrors ``AllowedSubjects`` in ``plugin/pkg/auth/authorizer/rbac/subject_locator.go``
(kubernetes/kubernetes): ``Group system:masters`` first, then the configured super-user, then,
for each ClusterRoleBinding in order whose ClusterRole has any rule allowing the request, all
of that binding's subjects as written; then the same for the RoleBindings of the request's
namespace (when it is not empty). The user fields of the request are ignored. Upstream returns
the list with duplicates; :func:`allowed_subjects` does the same, :func:`who_can` adds the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kapsec.model.request import RequestAttributes
from kapsec.rbac.authorize import node_authorizer_applies
from kapsec.rbac.match import Query, rule_allows_query
from kapsec.rbac.model import RBAC_GROUP, Binding, PolicyRule, Role, Subject
from kapsec.rbac.store import RbacStore, Resolved

SYSTEM_MASTERS = "system:masters"


@dataclass(frozen=True, slots=True)
class WhoCanEntry:
    subject: Subject
    binding: Binding | None  # None for system:masters / the super-user
    role: Role | None
    rule_index: int | None
    rule: PolicyRule | None
    note: str = ""

    @property
    def effective_namespace(self) -> str:
        """For a ServiceAccount subject, the namespace it lives in (binding's when unset)."""
        if self.subject.kind == "ServiceAccount":
            return self.subject.namespace or (self.binding.namespace if self.binding else "")
        return ""

    def to_dict(self) -> dict[str, Any]:
        subj = self.subject.to_dict()
        if self.subject.kind == "ServiceAccount" and not self.subject.namespace and self.effective_namespace:
            subj["namespace"] = self.effective_namespace
        d: dict[str, Any] = {"subject": subj}
        if self.binding is not None:
            d["binding"] = {
                "kind": self.binding.kind,
                "name": self.binding.name,
                "namespace": self.binding.namespace or None,
                "where": str(self.binding.where),
            }
        if self.role is not None:
            d["role"] = {
                "kind": self.role.kind,
                "name": self.role.name,
                "namespace": self.role.namespace or None,
            }
        if self.rule is not None:
            d["ruleIndex"] = self.rule_index
            d["rule"] = self.rule.to_dict()
        if self.note:
            d["note"] = self.note
        return d


@dataclass(frozen=True, slots=True)
class WhoCanResult:
    entries: tuple[WhoCanEntry, ...]
    errors: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def subjects(self) -> list[Subject]:
        return [e.subject for e in self.entries]


def _allowing_rule(role: Role | None, q: Query, memo: dict[int, int]) -> int:
    """Index of the first rule of ``role`` that allows ``q``, or -1 (memoised per role)."""
    if role is None:
        return -1
    key = id(role)
    hit = memo.get(key)
    if hit is not None:
        return hit
    found = -1
    for i, rule in enumerate(role.rules):
        if rule_allows_query(rule, q):
            found = i
            break
    memo[key] = found
    return found


def who_can(store: RbacStore, request: RequestAttributes, *, super_user: str = "") -> WhoCanResult:
    """Every subject allowed to make ``request`` (ordered as upstream, with duplicates)."""
    q = Query.of(request)
    entries: list[WhoCanEntry] = [
        WhoCanEntry(
            Subject("Group", SYSTEM_MASTERS, api_group=RBAC_GROUP),
            None,
            None,
            None,
            None,
            "super-user group: allowed before RBAC is consulted",
        )
    ]
    if super_user:
        entries.append(
            WhoCanEntry(
                Subject("User", super_user, api_group=RBAC_GROUP), None, None, None, None, "super-user"
            )
        )
    errors: list[str] = []
    memo: dict[int, int] = {}

    def visit(bindings: list[Binding], resolved: list[Resolved], indices: list[int] | range) -> None:
        for i in indices:
            res = resolved[i]
            if res.error:
                errors.append(res.error)
            idx = _allowing_rule(res.role, q, memo)
            if idx < 0 or res.role is None:
                continue
            b = bindings[i]
            for s in b.subjects:
                note = ""
                if s.kind == "ServiceAccount" and s.sa_user(b.namespace) is None:
                    note = "a ServiceAccount without a namespace in a ClusterRoleBinding matches nobody"
                elif s.kind not in ("User", "Group", "ServiceAccount"):
                    note = f"subject kind {s.kind!r} matches nobody"
                entries.append(WhoCanEntry(s, b, res.role, idx, res.role.rules[idx], note))

    visit(store.cluster_role_bindings, store.crb_resolved, range(len(store.cluster_role_bindings)))
    if request.namespace:
        visit(store.role_bindings, store.rb_resolved, store.rb_by_ns.get(request.namespace, []))
    notes: list[str] = []
    if node_authorizer_applies(request):
        notes.append(
            "with --authorization-mode including Node, the Node authorizer also lets each node "
            "(group system:nodes, user system:node:<name>) reach the objects related to the pods "
            "scheduled on it; not listed here"
        )
    return WhoCanResult(tuple(entries), tuple(errors), tuple(notes))


def allowed_subjects(store: RbacStore, request: RequestAttributes, *, super_user: str = "") -> list[Subject]:
    """``AllowedSubjects``: the subjects only, as upstream returns them."""
    return who_can(store, request, super_user=super_user).subjects()
