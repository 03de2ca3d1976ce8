"""Does one RBAC rule allow one request?

Mirrors ``RuleAllows`` in ``plugin/pkg/auth/authorizer/rbac/rbac.go`` and the matchers of
``pkg/apis/rbac/v1/evaluation_helpers.go`` (kubernetes/kubernetes):

* verbs and API groups: ``*`` or an exact, case-sensitive member; an empty list matches nothing;
* resources: ``*``, exactly ``resource`` or ``resource/subresource``, or ``*/subresource``; there
  is no ``resource/*`` form;
* resource names: an empty list matches any name, otherwise the request's name must be listed
  (so a request without a name, like ``create`` or ``list``, never matches);
* non-resource URLs: ``*``, the exact path, or an entry ending in ``*`` whose prefix the path
  starts with.
"""

from __future__ import annotations

from dataclasses import dataclass

from kapsec.model.request import RequestAttributes
from kapsec.rbac.model import ALL, PolicyRule


@dataclass(frozen=True, slots=True)
class Query:
    """A request reduced to what rule matching reads, computed once per request."""

    verb: str
    resource_request: bool
    api_group: str = ""
    combined: str = ""  # resource or resource/subresource
    subresource: str = ""
    star_sub: str = ""  # "*/subresource" when there is a subresource
    name: str = ""
    path: str = ""

    @classmethod
    def of(cls, req: RequestAttributes) -> Query:
        if not req.resource_request:
            return cls(req.verb, False, path=req.path)
        combined = f"{req.resource}/{req.subresource}" if req.subresource else req.resource
        return cls(
            req.verb,
            True,
            req.api_group,
            combined,
            req.subresource,
            f"*/{req.subresource}" if req.subresource else "",
            req.name,
            req.path,
        )


def verb_matches(rule: PolicyRule, verb: str) -> bool:
    s = rule.verb_set
    return ALL in s or verb in s


def api_group_matches(rule: PolicyRule, group: str) -> bool:
    s = rule.group_set
    return ALL in s or group in s


def resource_matches(rule: PolicyRule, combined: str, subresource: str) -> bool:
    s = rule.resource_set
    if ALL in s or combined in s:
        return True
    return bool(subresource) and f"*/{subresource}" in s


def resource_name_matches(rule: PolicyRule, name: str) -> bool:
    return not rule.resource_names or name in rule.name_set


def non_resource_url_matches(rule: PolicyRule, path: str) -> bool:
    for url in rule.non_resource_urls:
        if url in (ALL, path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows_query(rule: PolicyRule, q: Query) -> bool:
    """The hot path: ``q`` is a precomputed :class:`Query`."""
    vs = rule.verb_set
    if q.verb not in vs and ALL not in vs:
        return False
    if not q.resource_request:
        return non_resource_url_matches(rule, q.path)
    gs = rule.group_set
    if q.api_group not in gs and ALL not in gs:
        return False
    rs = rule.resource_set
    if q.combined not in rs and ALL not in rs and not (q.star_sub and q.star_sub in rs):
        return False
    return not rule.resource_names or q.name in rule.name_set


def rule_allows(rule: PolicyRule, req: RequestAttributes) -> bool:
    """Whether ``rule`` allows ``req`` (``RuleAllows`` upstream)."""
    return rule_allows_query(rule, Query.of(req))
