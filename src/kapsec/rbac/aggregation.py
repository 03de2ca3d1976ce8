"""ClusterRole aggregation: fill ``rules`` from ``aggregationRule.clusterRoleSelectors``.

Mirrors ``syncClusterRole`` in
``pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go``
(kubernetes/kubernetes): for each selector in order, the selected ClusterRoles sorted by name
(the target itself skipped) contribute their rules in order, each rule once (structural
equality, no merging); the result replaces the target's rules when it differs. Because the
controller re-queues every aggregated role on any change, chains (``view`` -> ``edit`` ->
``admin``) converge; :func:`aggregate_all` iterates to that fixed point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kapsec.rbac.model import PolicyRule, Role


@dataclass(frozen=True, slots=True)
class SyncResult:
    rules: tuple[PolicyRule, ...]
    updated: bool  # the controller would write (the computed rules differ from the stored ones)
    sources: tuple[str, ...]  # names of the ClusterRoles that contributed, in order


def sync_cluster_role(target: Role, cluster_roles: Iterable[Role]) -> SyncResult:
    """One controller sync of ``target`` against the current ``cluster_roles``."""
    if target.aggregation is None:
        return SyncResult(target.rules, False, ())
    roles = sorted(cluster_roles, key=lambda r: r.name)
    new_rules: list[PolicyRule] = []
    seen: set[PolicyRule] = set()
    sources: list[str] = []
    for selector in target.aggregation:
        for role in roles:
            if role.name == target.name or not selector.matches(role.labels):
                continue
            if role.name not in sources:
                sources.append(role.name)
            for rule in role.rules:
                if rule not in seen:
                    seen.add(rule)
                    new_rules.append(rule)
    result = tuple(new_rules)
    return SyncResult(result, result != target.rules, tuple(sources))


def aggregate_all(
    cluster_roles: Mapping[str, Role], only: Sequence[str] | None = None, max_rounds: int = 100
) -> tuple[dict[str, Role], list[str]]:
    """Run the controller over every aggregated ClusterRole (or those named in ``only``) until
    nothing changes. Returns the new mapping and the names whose rules changed."""
    current = dict(cluster_roles)
    targets = [n for n, r in current.items() if r.aggregation is not None and (only is None or n in only)]
    changed: list[str] = []
    for _ in range(max_rounds):
        progress = False
        for name in targets:
            res = sync_cluster_role(current[name], current.values())
            if res.updated:
                current[name] = current[name].with_rules(res.rules)
                progress = True
                if name not in changed:
                    changed.append(name)
        if not progress:
            break
    return current, changed
