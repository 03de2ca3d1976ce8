"""Which audit level and omitted stages the API server assigns to a request.

Mirrors ``staging/src/k8s.io/apiserver/pkg/audit/policy/checker.go`` (``NewChecker``,
``LevelAndStages``, ``ruleMatches``, ``ruleMatchesResource``, ``ruleMatchesNonResource``,
``pathMatches``, ``unionStages``) and the ``omitManagedFields`` choice of
``staging/src/k8s.io/apiserver/pkg/audit/request.go``:

* rules are tried in order and the first match decides; no match gives level ``None`` with the
  policy's own ``omitStages``;
* each rule's ``omitStages`` is the union of the policy's and its own;
* ``users``, ``userGroups``, ``verbs`` and ``namespaces`` are exact (no wildcard); a rule naming
  users or groups never matches a request without a user (failed authentication);
* ``resources`` or ``namespaces`` make a rule resource-only; ``nonResourceURLs`` alone make it
  non-resource-only; ``group: "*"`` is any group, ``*``, ``R/*`` (also plain ``R``) and ``*/S``
  are the resource wildcards; ``resourceNames`` need the request to carry that name.

For speed the matching that depends only on (verb, group, resource, subresource) — or on
(verb, path) for non-resource requests — is done once per distinct key and cached; what is left
per request is a few set look-ups (user, groups, namespace, name). Decisions are shared objects,
so evaluating allocates nothing beyond the cache key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from kapsec.auditpolicy.model import LEVEL_NONE, Policy, PolicyRule
from kapsec.model.request import RequestAttributes

_CACHE_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class Decision:
    level: str
    omit_stages: frozenset[str]
    rule_index: int | None
    omit_managed_fields: bool = False

    @property
    def logged(self) -> bool:
        return self.level != LEVEL_NONE

    def sorted_stages(self) -> list[str]:
        from kapsec.auditpolicy.model import STAGES

        order = {s: i for i, s in enumerate(STAGES)}
        return sorted(self.omit_stages, key=lambda s: (order.get(s, 99), s))


class Globs:
    """A set of names where ``*`` matches any run of characters (the ``--extended`` dialect only).

    Upstream compares users, groups and namespaces literally; some filters built on audit
    policies (OpenShift's cluster-logging-operator, splunk-audit-exporter) accept globs there.
    Behaves like the frozenset it replaces on the hot path (``in`` and ``isdisjoint``).
    """

    __slots__ = ("exact", "patterns")

    def __init__(self, values: Iterable[str]) -> None:
        vals = list(values)
        self.exact = frozenset(v for v in vals if "*" not in v)
        self.patterns = tuple(
            re.compile("".join(".*" if c == "*" else re.escape(c) for c in v)) for v in vals if "*" in v
        )

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        return value in self.exact or any(p.fullmatch(value) for p in self.patterns)

    def isdisjoint(self, values: Iterable[str]) -> bool:
        return not any(v in self for v in values)


def _names(values: tuple[str, ...], extended: bool) -> frozenset[str] | Globs | None:
    if not values:
        return None
    if extended and any("*" in v for v in values):
        return Globs(values)
    return frozenset(values)


# A candidate is (users | None, groups | None, namespaces | None, names | None, decision).
_Candidate = tuple[
    frozenset[str] | Globs | None,
    frozenset[str] | Globs | None,
    frozenset[str] | Globs | None,
    frozenset[str] | None,
    Decision,
]


def path_matches(path: str, spec: str) -> bool:
    """``pathMatches``: ``*``, exact, or a trailing ``*`` as a plain string prefix."""
    if spec in ("*", path):
        return True
    return spec.endswith("*") and path.startswith(spec.rstrip("*"))


def resource_pattern_matches(pattern: str, resource: str, subresource: str) -> bool:
    """One entry of ``GroupResources.resources`` against a request's resource and subresource."""
    combined = f"{resource}/{subresource}" if subresource else resource
    if pattern in (combined, "*"):
        return True
    if subresource and pattern.startswith("*/") and pattern[2:] == subresource:
        return True
    return pattern.endswith("/*") and pattern[:-2] == resource


class CompiledPolicy:
    """A policy prepared for fast, repeated evaluation."""

    __slots__ = ("_nonres_cache", "_res_cache", "decisions", "default", "extended", "rules")

    def __init__(self, policy: Policy, *, extended: bool = False) -> None:
        self.rules: tuple[PolicyRule, ...] = policy.rules
        self.extended = extended
        base = frozenset(policy.omit_stages)
        self.decisions: tuple[Decision, ...] = tuple(
            Decision(
                rule.level,
                base | frozenset(rule.omit_stages),
                i,
                policy.omit_managed_fields if rule.omit_managed_fields is None else rule.omit_managed_fields,
            )
            for i, rule in enumerate(policy.rules)
        )
        self.default = Decision(LEVEL_NONE, base, None, policy.omit_managed_fields)
        self._res_cache: dict[tuple[str, str, str, str], tuple[_Candidate, ...]] = {}
        self._nonres_cache: dict[tuple[str, str], tuple[_Candidate, ...]] = {}

    # -- compile-time matching of the per-key part ---------------------------------------------

    def _resource_candidates(self, verb: str, group: str, resource: str, sub: str) -> tuple[_Candidate, ...]:
        out: list[_Candidate] = []
        for rule, decision in zip(self.rules, self.decisions, strict=True):
            if rule.verbs and verb not in rule.verbs:
                continue
            users = _names(rule.users, self.extended)
            groups = _names(rule.user_groups, self.extended)
            if rule.namespaces or rule.resources:
                nss = _names(rule.namespaces, self.extended)
                names: frozenset[str] | None = None
                if rule.resources:
                    unconditional = False
                    name_set: set[str] = set()
                    for gr in rule.resources:
                        if gr.group not in (group, "*"):
                            continue
                        if not gr.resources:
                            unconditional = True
                            break
                        if any(resource_pattern_matches(p, resource, sub) for p in gr.resources):
                            if gr.resource_names:
                                name_set.update(gr.resource_names)
                            else:
                                unconditional = True
                                break
                    if not unconditional:
                        if not name_set:
                            continue
                        names = frozenset(name_set)
                out.append((users, groups, nss, names, decision))
                if users is None and groups is None and nss is None and names is None:
                    break
            elif rule.non_resource_urls:
                continue
            else:
                out.append((users, groups, None, None, decision))
                if users is None and groups is None:
                    break
        return tuple(out)

    def _nonresource_candidates(self, verb: str, path: str) -> tuple[_Candidate, ...]:
        out: list[_Candidate] = []
        for rule, decision in zip(self.rules, self.decisions, strict=True):
            if rule.verbs and verb not in rule.verbs:
                continue
            if rule.namespaces or rule.resources:
                continue
            if rule.non_resource_urls and not any(path_matches(path, s) for s in rule.non_resource_urls):
                continue
            users = _names(rule.users, self.extended)
            groups = _names(rule.user_groups, self.extended)
            out.append((users, groups, None, None, decision))
            if users is None and groups is None:
                break
        return tuple(out)

    # -- per request ---------------------------------------------------------------------------

    def check(  # noqa: PLR0917 - the hot path takes plain positional fields
        self,
        user: str | None,
        groups: tuple[str, ...] | list[str] | None,
        verb: str,
        resource_request: bool,
        namespace: str = "",
        api_group: str = "",
        resource: str = "",
        subresource: str = "",
        name: str = "",
        path: str = "",
    ) -> Decision:
        """The decision for one request given as plain fields (the hot path of batch mode)."""
        if resource_request:
            rkey = (verb, api_group, resource, subresource)
            cands = self._res_cache.get(rkey)
            if cands is None:
                if len(self._res_cache) >= _CACHE_LIMIT:
                    self._res_cache.clear()
                cands = self._res_cache[rkey] = self._resource_candidates(*rkey)
        else:
            nkey = (verb, path)
            cands = self._nonres_cache.get(nkey)
            if cands is None:
                if len(self._nonres_cache) >= _CACHE_LIMIT:
                    self._nonres_cache.clear()
                cands = self._nonres_cache[nkey] = self._nonresource_candidates(*nkey)
        for users, grps, nss, names, decision in cands:
            if users is not None and (user is None or user not in users):
                continue
            if grps is not None and (user is None or grps.isdisjoint(groups or ())):
                continue
            if nss is not None and namespace not in nss:
                continue
            if names is not None and name not in names:
                continue
            return decision
        return self.default


def compiled(policy: Policy, *, extended: bool = False) -> CompiledPolicy:
    """The policy's evaluator, built on first use and kept on the (frozen) policy.

    ``extended`` accepts ``*`` globs in users, userGroups and namespaces, as some log filters
    do; the API server never does (the default).
    """
    cache = policy._compiled
    if cache is None:
        cache = {}
        object.__setattr__(policy, "_compiled", cache)
    assert isinstance(cache, dict)
    comp = cache.get(extended)
    if comp is None:
        comp = cache[extended] = CompiledPolicy(policy, extended=extended)
    assert isinstance(comp, CompiledPolicy)
    return comp


def evaluate(policy: Policy, request: RequestAttributes, *, extended: bool = False) -> Decision:
    """Level, omitted stages and matching rule for ``request`` under ``policy``."""
    return compiled(policy, extended=extended).check(
        request.user,
        request.groups,
        request.verb,
        request.resource_request,
        request.namespace,
        request.api_group,
        request.resource,
        request.subresource,
        request.name,
        request.path,
    )


def rule_matches(rule: PolicyRule, request: RequestAttributes) -> bool:
    """The plain, uncached form of ``ruleMatches`` (used by lint and as a cross-check in tests)."""
    if rule.users and (request.user is None or request.user not in rule.users):
        return False
    if rule.user_groups and (
        request.user is None or not any(g in rule.user_groups for g in request.groups or ())
    ):
        return False
    if rule.verbs and request.verb not in rule.verbs:
        return False
    if rule.namespaces or rule.resources:
        if not request.resource_request:
            return False
        if rule.namespaces and request.namespace not in rule.namespaces:
            return False
        if not rule.resources:
            return True
        for gr in rule.resources:
            if gr.group not in (request.api_group, "*"):
                continue
            if not gr.resources:
                return True
            for pattern in gr.resources:
                if (not gr.resource_names or request.name in gr.resource_names) and resource_pattern_matches(
                    pattern, request.resource, request.subresource
                ):
                    return True
        return False
    if rule.non_resource_urls:
        return not request.resource_request and any(
            path_matches(request.path, s) for s in rule.non_resource_urls
        )
    return True


def _listed(values: Iterable[str]) -> str:
    return "[" + ", ".join('""' if v == "" else v for v in values) + "]"


def mismatch_reason(rule: PolicyRule, request: RequestAttributes) -> str | None:
    """Why ``rule`` does not match ``request`` (the first failing condition, in the server's
    order), or None when it matches. Same decision as :func:`rule_matches`."""
    no_user = "the request has no user (it failed authentication)"
    if rule.users:
        if request.user is None:
            return f"{no_user} and the rule names users"
        if request.user not in rule.users:
            return f"user {request.user} is not in users {_listed(rule.users)}"
    if rule.user_groups:
        if request.user is None:
            return f"{no_user} and the rule names userGroups"
        if not any(g in rule.user_groups for g in request.groups or ()):
            return f"no group of the user {_listed(request.groups or ())} is in userGroups {_listed(rule.user_groups)}"
    if rule.verbs and request.verb not in rule.verbs:
        return f"verb {request.verb} is not in verbs {_listed(rule.verbs)}"
    if rule.namespaces or rule.resources:
        if not request.resource_request:
            return "the rule has resources or namespaces, so it only matches resource requests"
        if rule.namespaces and request.namespace not in rule.namespaces:
            return f'namespace "{request.namespace}" is not in namespaces {_listed(rule.namespaces)}'
        if not rule.resources or rule_matches(rule, request):
            return None
        res = request.resource + (f"/{request.subresource}" if request.subresource else "")
        group = f'"{request.api_group}"'
        named = [gr for gr in rule.resources if gr.group in (request.api_group, "*")]
        if not named:
            return (
                f"group {group} is not among the rule's groups {_listed(gr.group for gr in rule.resources)}"
            )
        pattern_hit = [
            gr
            for gr in named
            if any(resource_pattern_matches(p, request.resource, request.subresource) for p in gr.resources)
        ]
        if pattern_hit:
            names = sorted({n for gr in pattern_hit for n in gr.resource_names})
            return f'name "{request.name}" is not in resourceNames {_listed(names)}'
        return f"resource {res} in group {group} matches none of {_listed(p for gr in named for p in gr.resources)}"
    if rule.non_resource_urls:
        if request.resource_request:
            return "the rule has nonResourceURLs, so it only matches non-resource requests"
        if not any(path_matches(request.path, s) for s in rule.non_resource_urls):
            return f"path {request.path} matches none of nonResourceURLs {_listed(rule.non_resource_urls)}"
    return None
