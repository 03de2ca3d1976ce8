"""The RBAC objects of one cluster, indexed for fast authorization and who-can.

Plays the part of the informer listers the RBAC authorizer reads
(``plugin/pkg/auth/authorizer/rbac/rbac.go``: ``RoleGetter``, ``RoleBindingLister``,
``ClusterRoleGetter``, ``ClusterRoleBindingLister``) and of
``GetRoleReferenceRules`` in ``pkg/registry/rbac/validation/rule.go`` (kubernetes/kubernetes).

Bindings are kept in input order (the order the authorizer walks them) and indexed by subject
(user name, group name, and the user name a ServiceAccount subject stands for) and, for
RoleBindings, by namespace. Each binding's role reference is resolved once, after ClusterRole
aggregation, so a request only touches the bindings that name its user or groups.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kapsec.rbac.aggregation import aggregate_all, sync_cluster_role
from kapsec.rbac.model import (
    BINDING_KINDS,
    RBAC_GROUP,
    ROLE_KINDS,
    Binding,
    ParseProblem,
    Role,
    Where,
    parse_binding,
    parse_role,
)
from kapsec.sources.objects import LoadedObjects, SourceRef


@dataclass(frozen=True, slots=True)
class Resolved:
    """A binding's role reference, resolved: the role, or the error the API server would log."""

    role: Role | None
    error: str | None


def user_key(name: str) -> str:
    return "u:" + name


def group_key(name: str) -> str:
    return "g:" + name


@dataclass
class RbacStore:
    roles: dict[tuple[str, str], Role] = field(default_factory=dict)
    cluster_roles: dict[str, Role] = field(default_factory=dict)
    role_bindings: list[Binding] = field(default_factory=list)
    cluster_role_bindings: list[Binding] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    aggregated: list[str] = field(default_factory=list)  # ClusterRoles whose rules were computed here
    # indexes (built by _index)
    crb_resolved: list[Resolved] = field(default_factory=list)
    rb_resolved: list[Resolved] = field(default_factory=list)
    crb_by_key: dict[str, list[int]] = field(default_factory=dict)
    rb_by_ns_key: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    rb_by_ns: dict[str, list[int]] = field(default_factory=dict)
    _positions: dict[tuple[str, str, str], int] = field(default_factory=dict, repr=False)

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def from_objects(cls, loaded: LoadedObjects, *, aggregate: bool = True) -> RbacStore:
        """Build from loaded objects; per-object problems are kept in ``problems``.

        Load problems (unreadable files, invalid YAML) are carried over. Objects that are not
        RBAC are counted in ``notes``; objects of the RBAC API group with an unknown kind are
        problems.
        """
        store = cls()
        for p in loaded.problems:
            store.problems.append(ParseProblem(Where(p.where.file, p.where.line), p.message))
        ignored: Counter[str] = Counter()
        for obj, src in loaded.objects:
            where = Where(src.file, src.line)
            store._add(obj, where, ignored)
        if ignored:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(ignored.items()))
            store.notes.append(f"ignored {sum(ignored.values())} objects that are not RBAC ({kinds})")
        store._finish(aggregate)
        return store

    @classmethod
    def from_dicts(cls, objects: Iterable[Mapping[str, Any]], *, name: str = "<input>") -> RbacStore:
        """Build from plain object dicts (used by tests and by callers holding objects)."""
        loaded = LoadedObjects()
        for o in objects:
            loaded.objects.append((dict(o), SourceRef(name)))
        return cls.from_objects(loaded)

    def _add(self, obj: Mapping[str, Any], where: Where, ignored: Counter[str]) -> None:
        kind = obj.get("kind")
        api_version = obj.get("apiVersion")
        group = api_version.split("/")[0] if isinstance(api_version, str) and "/" in api_version else ""
        if kind in ROLE_KINDS:
            role = parse_role(obj, where, self.problems)
            if role is None:
                return
            if role.kind == "Role":
                prev = self.roles.get((role.namespace, role.name))
                self._dup(prev, role.key, where)
                self.roles[(role.namespace, role.name)] = role
            else:
                prev = self.cluster_roles.get(role.name)
                self._dup(prev, role.key, where)
                self.cluster_roles[role.name] = role
        elif kind in BINDING_KINDS:
            binding = parse_binding(obj, where, self.problems)
            if binding is None:
                return
            target = self.role_bindings if binding.kind == "RoleBinding" else self.cluster_role_bindings
            pos_key = (binding.kind, binding.namespace, binding.name)
            pos = self._positions.get(pos_key)
            if pos is not None:
                self._dup(target[pos], binding.key, where)
                target[pos] = binding
                return
            self._positions[pos_key] = len(target)
            target.append(binding)
        elif group == RBAC_GROUP:
            self.problems.append(
                ParseProblem(where, f"unknown kind {kind!r} in API group {RBAC_GROUP}; ignored")
            )
        else:
            ignored[str(kind)] += 1

    def _dup(self, prev: Role | Binding | None, key: str, where: Where) -> None:
        if prev is not None:
            self.problems.append(
                ParseProblem(where, f"duplicate {key} (also at {prev.where}); the last one is used")
            )

    def _finish(self, aggregate: bool) -> None:
        if aggregate:
            empty = [n for n, r in self.cluster_roles.items() if r.aggregation is not None and not r.rules]
            if empty:
                self.cluster_roles, self.aggregated = aggregate_all(self.cluster_roles, only=empty)
                if self.aggregated:
                    self.notes.append(
                        "computed the rules of aggregated ClusterRoles from their aggregationRule: "
                        + ", ".join(self.aggregated)
                    )
            for name, role in self.cluster_roles.items():
                if role.aggregation is not None and role.rules and name not in self.aggregated:
                    res = sync_cluster_role(role, self.cluster_roles.values())
                    if res.updated:
                        self.notes.append(
                            f'ClusterRole "{name}": its rules differ from what its aggregationRule selects; '
                            "the aggregation controller would rewrite them (evaluated as written)"
                        )
        self._index()

    def _index(self) -> None:
        self.crb_resolved = [self.resolve(b) for b in self.cluster_role_bindings]
        self.rb_resolved = [self.resolve(b) for b in self.role_bindings]
        self.crb_by_key = {}
        for i, b in enumerate(self.cluster_role_bindings):
            for key in _subject_keys(b):
                lst = self.crb_by_key.setdefault(key, [])
                if not lst or lst[-1] != i:
                    lst.append(i)
        self.rb_by_ns_key = {}
        self.rb_by_ns = {}
        for i, b in enumerate(self.role_bindings):
            self.rb_by_ns.setdefault(b.namespace, []).append(i)
            idx = self.rb_by_ns_key.setdefault(b.namespace, {})
            for key in _subject_keys(b):
                lst = idx.setdefault(key, [])
                if not lst or lst[-1] != i:
                    lst.append(i)
        for i, b in enumerate(self.role_bindings):
            if self.rb_resolved[i].error:
                self.problems.append(ParseProblem(b.where, f"{b.key}: {self.rb_resolved[i].error}"))
        for i, b in enumerate(self.cluster_role_bindings):
            if self.crb_resolved[i].error:
                self.problems.append(ParseProblem(b.where, f"{b.key}: {self.crb_resolved[i].error}"))

    # --- lookups --------------------------------------------------------------------------

    def resolve(self, binding: Binding) -> Resolved:
        """``GetRoleReferenceRules``: the role a binding names, in the binding's namespace."""
        ref = binding.role_ref
        if ref.kind == "Role":
            if not binding.namespace:
                return Resolved(
                    None, f'role.rbac.authorization.k8s.io "{ref.name}" not found (a Role needs a namespace)'
                )
            role = self.roles.get((binding.namespace, ref.name))
            if role is None:
                return Resolved(None, f'role.rbac.authorization.k8s.io "{ref.name}" not found')
            return Resolved(role, None)
        if ref.kind == "ClusterRole":
            crole = self.cluster_roles.get(ref.name)
            if crole is None:
                return Resolved(None, f'clusterrole.rbac.authorization.k8s.io "{ref.name}" not found')
            return Resolved(crole, None)
        return Resolved(None, f'unsupported role reference kind: "{ref.kind}"')

    def role(self, kind: str, name: str, namespace: str = "") -> Role | None:
        if kind == "ClusterRole":
            return self.cluster_roles.get(name)
        return self.roles.get((namespace, name))

    def namespaces(self) -> list[str]:
        seen = {ns for ns, _ in self.roles} | set(self.rb_by_ns)
        return sorted(seen)

    def stats(self) -> dict[str, int]:
        return {
            "roles": len(self.roles),
            "clusterRoles": len(self.cluster_roles),
            "roleBindings": len(self.role_bindings),
            "clusterRoleBindings": len(self.cluster_role_bindings),
        }


def _subject_keys(b: Binding) -> Iterable[str]:
    for s in b.subjects:
        if s.kind == "User":
            yield user_key(s.name)
        elif s.kind == "Group":
            yield group_key(s.name)
        elif s.kind == "ServiceAccount":
            user = s.sa_user(b.namespace)
            if user is not None:
                yield user_key(user)
