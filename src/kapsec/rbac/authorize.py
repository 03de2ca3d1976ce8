"""The RBAC authorizer: does a user's RBAC grant allow a request, and through what?

Mirrors ``plugin/pkg/auth/authorizer/rbac/rbac.go`` (``Authorize``, the authorizing visitor)
and ``VisitRulesFor`` / ``RulesFor`` / ``appliesTo`` in ``pkg/registry/rbac/validation/rule.go``
(kubernetes/kubernetes):

1. ClusterRoleBindings, in order, whose subjects match the user with namespace ``""``;
2. when the request namespace is not empty, the RoleBindings of that namespace, with Roles
   resolved in it;
3. the first rule that allows the request decides (Allow); otherwise NoOpinion, with the
   role-resolution errors as the reason. RBAC never denies.

Two authorizers the API server consults before RBAC are named where they decide: the
``system:masters`` group authorizer (``authorizerfactory/builtin.go`` in kubernetes/apiserver)
allows everything for that group, and the Node authorizer
(``plugin/pkg/auth/authorizer/node/node_authorizer.go``) decides requests from node identities
(``system:node:<name>`` in group ``system:nodes``) when ``--authorization-mode`` includes ``Node``;
its graph of pods per node is not modelled here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kapsec.model.request import RequestAttributes
from kapsec.rbac.match import Query, rule_allows_query
from kapsec.rbac.model import Binding, PolicyRule, Role, Subject
from kapsec.rbac.store import RbacStore, Resolved, group_key, user_key

SYSTEM_MASTERS = "system:masters"
NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"

# Resources the Node authorizer subdivides by its graph (group, resource).
NODE_GRAPH_RESOURCES = frozenset(
    {
        ("", "secrets"),
        ("", "configmaps"),
        ("", "persistentvolumeclaims"),
        ("", "persistentvolumes"),
        ("", "serviceaccounts"),
        ("", "pods"),
        ("", "nodes"),
        ("resource.k8s.io", "resourceclaims"),
        ("resource.k8s.io", "resourceslices"),
        ("storage.k8s.io", "volumeattachments"),
        ("storage.k8s.io", "csinodes"),
        ("coordination.k8s.io", "leases"),
    }
)


# Subresources the Node authorizer decides for those resources (others fall to its static rules).
NODE_GRAPH_SUBRESOURCES = frozenset(
    {
        ("nodes", "status"),
        ("pods", "status"),
        ("pods", "eviction"),
        ("persistentvolumeclaims", "status"),
        ("serviceaccounts", "token"),
    }
)


def node_authorizer_applies(request: RequestAttributes) -> bool:
    """Whether the Node authorizer subdivides this request by its graph of pods per node."""
    if not request.resource_request or (request.api_group, request.resource) not in NODE_GRAPH_RESOURCES:
        return False
    return not request.subresource or (request.resource, request.subresource) in NODE_GRAPH_SUBRESOURCES


@dataclass(frozen=True, slots=True)
class Grant:
    """One binding -> role -> rule path that allows a request."""

    binding: Binding
    subject: Subject  # the first subject of the binding that matches the user
    role: Role
    rule_index: int
    rule: PolicyRule

    @property
    def source(self) -> str:
        return self.binding.describe(self.subject)

    def to_dict(self) -> dict[str, Any]:
        b = self.binding
        return {
            "binding": {
                "kind": b.kind,
                "name": b.name,
                "namespace": b.namespace or None,
                "where": str(b.where),
            },
            "subject": self.subject.to_dict(),
            "role": {
                "kind": self.role.kind,
                "name": self.role.name,
                "namespace": self.role.namespace or None,
                "where": str(self.role.where),
            },
            "ruleIndex": self.rule_index,
            "rule": self.rule.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    decision: str  # "Allow" or "NoOpinion" (RBAC never says Deny)
    authorizer: str  # "RBAC", "system:masters", or "none"
    reason: str
    grants: tuple[Grant, ...] = ()
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "allowed": self.allowed,
            "decision": self.decision,
            "authorizer": self.authorizer,
            "reason": self.reason,
            "grants": [g.to_dict() for g in self.grants],
        }
        if self.errors:
            d["errors"] = list(self.errors)
        if self.notes:
            d["notes"] = list(self.notes)
        return d


def is_node_identity(user: str, groups: tuple[str, ...]) -> bool:
    """``nodeidentifier.NodeIdentity``: a ``system:node:<name>`` user in group ``system:nodes``."""
    return user.startswith(NODE_USER_PREFIX) and NODES_GROUP in groups


def _first_matching_subject(binding: Binding, user: str, groups: frozenset[str]) -> Subject | None:
    """``appliesTo``: the first subject of the binding that matches the user."""
    for s in binding.subjects:
        if s.kind == "User":
            if s.name == user:
                return s
        elif s.kind == "Group":
            if s.name in groups:
                return s
        elif s.kind == "ServiceAccount":
            sa = s.sa_user(binding.namespace)
            if sa is not None and sa == user:
                return s
    return None


def _candidates(index: dict[str, list[int]], user: str, groups: tuple[str, ...]) -> list[int]:
    """Indices of bindings naming the user or one of the groups, in binding order."""
    hits: list[int] = []
    lst = index.get(user_key(user))
    if lst:
        hits.extend(lst)
    for g in groups:
        lst = index.get(group_key(g))
        if lst:
            hits.extend(lst)
    if len(hits) > 1:
        return sorted(set(hits))
    return hits


def visit_rules(
    store: RbacStore, user: str, groups: tuple[str, ...], namespace: str
) -> Iterator[tuple[Binding, Subject, Resolved]]:
    """Every applying binding in the authorizer's order, with its matching subject and the
    resolved role (or error): ``VisitRulesFor``."""
    gset = frozenset(groups)
    for i in _candidates(store.crb_by_key, user, groups):
        b = store.cluster_role_bindings[i]
        s = _first_matching_subject(b, user, gset)
        if s is not None:
            yield b, s, store.crb_resolved[i]
    if namespace:
        idx = store.rb_by_ns_key.get(namespace)
        if idx:
            for i in _candidates(idx, user, groups):
                b = store.role_bindings[i]
                s = _first_matching_subject(b, user, gset)
                if s is not None:
                    yield b, s, store.rb_resolved[i]


def rules_for(
    store: RbacStore, user: str, groups: tuple[str, ...], namespace: str
) -> tuple[list[PolicyRule], list[str]]:
    """``RulesFor``: every rule that applies to the user in the namespace, and resolution errors."""
    rules: list[PolicyRule] = []
    errors: list[str] = []
    for _b, _s, res in visit_rules(store, user, groups, namespace):
        if res.role is not None:
            rules.extend(res.role.rules)
        elif res.error:
            errors.append(res.error)
    return rules, errors


def authorize(
    store: RbacStore,
    request: RequestAttributes,
    *,
    masters: bool = True,
    all_grants: bool = False,
) -> Decision:
    """Decide ``request`` as the API server's RBAC authorizer would.

    ``masters`` models the ``system:masters`` authorizer that runs before RBAC (pass False for
    RBAC alone). ``all_grants`` lists every allowing binding/rule instead of stopping at the
    first, which is the one the API server names.
    """
    user = request.user or ""
    groups = request.groups or ()
    notes: list[str] = []
    if masters and SYSTEM_MASTERS in groups:
        return Decision(
            True,
            "Allow",
            SYSTEM_MASTERS,
            f'allowed: group "{SYSTEM_MASTERS}" is a super-user group; the API server allows it '
            "before RBAC is consulted",
        )
    if is_node_identity(user, groups):
        node = user[len(NODE_USER_PREFIX) :]
        if node_authorizer_applies(request):
            notes.append(
                f'"{user}" is a node identity: with --authorization-mode including Node, the Node '
                f"authorizer decides this request first, from the objects related to node {node!r} "
                "(not modelled); the decision below is RBAC's alone"
            )
        else:
            notes.append(
                f'"{user}" is a node identity: with --authorization-mode including Node, the Node '
                "authorizer's static node rules are consulted before RBAC (not modelled); the "
                "decision below is RBAC's alone"
            )
    q = Query.of(request)
    grants: list[Grant] = []
    errors: list[str] = []
    for binding, subject, res in visit_rules(store, user, groups, request.namespace):
        role = res.role
        if role is None:
            if res.error:
                errors.append(res.error)
            continue
        for i, rule in enumerate(role.rules):
            if rule_allows_query(rule, q):
                grants.append(Grant(binding, subject, role, i, rule))
                break
        if grants and not all_grants:
            break
    if grants:
        return Decision(
            True,
            "Allow",
            "RBAC",
            f"RBAC: allowed by {grants[0].source}",
            tuple(grants),
            tuple(errors),
            tuple(notes),
        )
    reason = ""
    if errors:
        reason = "RBAC: " + _aggregate(errors)
    return Decision(False, "NoOpinion", "none", reason, (), tuple(errors), tuple(notes))


def _aggregate(errors: list[str]) -> str:
    """``utilerrors.NewAggregate(...).Error()``: one message, or ``[a, b]``."""
    if len(errors) == 1:
        return errors[0]
    seen: list[str] = []
    for e in errors:
        if e not in seen:
            seen.append(e)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"
