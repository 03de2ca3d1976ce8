"""Covers: does one set of rules hold every permission of another?

Mirrors ``Covers`` and its helpers in ``auth/rbac/validation/policy_comparator.go``
(kubernetes/component-helpers) and ``CompactRules`` in
``pkg/registry/rbac/validation/policy_compact.go`` (kubernetes/kubernetes). Each servant rule is
broken into atomic rules (one group x resource x verb [x name], and one URL x verb); each atomic
rule must be covered by a single owner rule. An enumeration never covers ``*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kapsec.rbac.model import ALL, PolicyRule


def breakdown_rule(rule: PolicyRule) -> list[PolicyRule]:
    out: list[PolicyRule] = []
    for group in rule.api_groups:
        for resource in rule.resources:
            for verb in rule.verbs:
                if rule.resource_names:
                    for name in rule.resource_names:
                        out.append(PolicyRule((verb,), (group,), (resource,), (name,)))
                else:
                    out.append(PolicyRule((verb,), (group,), (resource,)))
    for url in rule.non_resource_urls:
        for verb in rule.verbs:
            out.append(PolicyRule((verb,), non_resource_urls=(url,)))
    return out


def _has_all(owner: frozenset[str], wanted: Iterable[str]) -> bool:
    return all(w in owner for w in wanted)


def non_resource_url_covers(owner: str, requested: str) -> bool:
    if owner == requested:
        return True
    return owner.endswith("*") and requested.startswith(owner.rstrip("*"))


def _resource_covers_all(owner: frozenset[str], wanted: Sequence[str]) -> bool:
    if ALL in owner or _has_all(owner, wanted):
        return True
    for path in wanted:
        if path in owner:
            continue
        if "/" not in path:
            return False
        sub = path.split("/", 1)[1]
        if f"*/{sub}" not in owner:
            return False
    return True


def rule_covers(owner: PolicyRule, sub: PolicyRule) -> bool:
    """Whether ``owner`` covers the atomic rule ``sub``."""
    verbs = ALL in owner.verb_set or _has_all(owner.verb_set, sub.verbs)
    groups = ALL in owner.group_set or _has_all(owner.group_set, sub.api_groups)
    resources = _resource_covers_all(owner.resource_set, sub.resources)
    urls = all(
        any(non_resource_url_covers(o, u) for o in owner.non_resource_urls) for u in sub.non_resource_urls
    )
    if not sub.resource_names:
        names = not owner.resource_names
    else:
        names = not owner.resource_names or _has_all(owner.name_set, sub.resource_names)
    return verbs and groups and resources and names and urls


def covers(
    owner_rules: Sequence[PolicyRule], servant_rules: Sequence[PolicyRule]
) -> tuple[bool, list[PolicyRule]]:
    """``(covered, uncovered atomic rules)``."""
    uncovered: list[PolicyRule] = []
    for servant in servant_rules:
        for sub in breakdown_rule(servant):
            if not any(rule_covers(o, sub) for o in owner_rules):
                uncovered.append(sub)
    return not uncovered, uncovered


def compact_rules(rules: Sequence[PolicyRule]) -> list[PolicyRule]:
    """Merge rules with one group, one resource and only verbs into one rule per group/resource
    (non-simple rules first, in order; then the merged ones, in first-seen order)."""
    out: list[PolicyRule] = []
    simple: dict[tuple[str, str], list[str]] = {}
    for r in rules:
        if (
            not r.resource_names
            and not r.non_resource_urls
            and len(r.api_groups) == 1
            and len(r.resources) == 1
        ):
            simple.setdefault((r.api_groups[0], r.resources[0]), []).extend(r.verbs)
        else:
            out.append(r)
    for (group, resource), verbs in simple.items():
        out.append(PolicyRule(tuple(verbs), (group,), (resource,)))
    return out


def missing_descriptions(uncovered: Sequence[PolicyRule]) -> list[str]:
    """The missing rules as the API server lists them in an escalation error (sorted, unique)."""
    return sorted({r.compact_string() for r in compact_rules(uncovered)})
