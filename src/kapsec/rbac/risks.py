"""Dangerous RBAC grants: the risk catalog (data, ``risks.yaml``) applied to every binding.

A rule is recognised with the authorizer's own matching (``RuleAllows`` in
``plugin/pkg/auth/authorizer/rbac/rbac.go``, kubernetes/kubernetes): a risk's probe requests are
asked of each rule, so ``*``, ``*/subresource`` and resourceNames behave exactly as on the API
server. Grants that the bootstrap policy makes (see :mod:`kapsec.rbac.defaults`) are not
findings unless modified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from kapsec.errors import ValidationError
from kapsec.model.findings import Evidence, Finding, FixSafety, Severity, Status
from kapsec.rbac.defaults import Defaults, bootstrap, has_bootstrap_label
from kapsec.rbac.match import Query, rule_allows_query
from kapsec.rbac.model import ALL, Binding, PolicyRule, Role, Subject
from kapsec.rbac.store import RbacStore, Resolved

SCOPES = ("cluster", "kube-system", "namespace")
_RISK_KEYS = {
    "id",
    "title",
    "severity",
    "attack",
    "remediation",
    "references",
    "match",
    "subjects",
    "reaches_service_accounts",
    "benchmarks",
}
_MATCH_KEYS = {"probes", "wildcard", "any", "missing_role", "full_admin"}
_PROBE_KEYS = {"verbs", "apiGroups", "resources"}


@dataclass(frozen=True)
class Risk:
    id: str
    title: str
    severity: Mapping[str, Severity]
    attack: str
    remediation: str
    references: tuple[str, ...]
    probes: tuple[Query, ...] = ()
    wildcard: bool = False
    any_rule: bool = False
    missing_role: bool = False
    subjects: frozenset[tuple[str, str]] = frozenset()
    full_admin: bool = False
    reaches_service_accounts: bool = False  # the grant lets one act as the service accounts in scope
    # with require_all: every probe entry must be allowed by some rule of the role (possibly different rules)
    required_groups: tuple[tuple[Query, ...], ...] = ()
    benchmarks: Mapping[str, str] = field(default_factory=dict)

    def role_qualifies(self, rules: Sequence[PolicyRule]) -> bool:
        return all(any(rule_allows_query(r, q) for r in rules for q in g) for g in self.required_groups)

    def matches(self, rule: PolicyRule) -> bool:
        if self.any_rule:
            return True
        if self.full_admin:
            return ALL in rule.verb_set and ALL in rule.group_set and ALL in rule.resource_set
        if self.wildcard:
            return ALL in rule.verb_set or ALL in rule.resource_set
        return any(rule_allows_query(rule, q) for q in self.probes)

    def wants(self, s: Subject) -> bool:
        return not self.subjects or (s.kind, s.name) in self.subjects


@dataclass(frozen=True)
class Catalog:
    risks: tuple[Risk, ...]
    sensitive_namespaces: frozenset[str]

    def get(self, risk_id: str) -> Risk | None:
        return next((r for r in self.risks if r.id == risk_id), None)


def _fail(msg: str, where: str) -> ValidationError:
    return ValidationError(msg, file="risks.yaml", field=where)


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail("must be a list of strings", where)
    return value


def parse_catalog(data: Any) -> Catalog:
    """Validate and build the catalog; any unknown key, bad value or duplicate id fails here."""
    if not isinstance(data, Mapping) or not isinstance(data.get("risks"), list):
        raise _fail("the catalog must be a map with a 'risks' list", "risks")
    sensitive = frozenset(_str_list(data.get("sensitive_namespaces", []), "sensitive_namespaces"))
    risks: list[Risk] = []
    seen: set[str] = set()
    for i, r in enumerate(data["risks"]):
        where = f"risks[{i}]"
        if not isinstance(r, Mapping):
            raise _fail("must be a map", where)
        unknown = set(r) - _RISK_KEYS
        if unknown:
            raise _fail(f"unknown keys {sorted(unknown)}", where)
        rid = r.get("id")
        if not isinstance(rid, str) or not rid.startswith("RBAC-"):
            raise _fail("id must be a string 'RBAC-nnn'", where)
        if rid in seen:
            raise _fail(f"duplicate id {rid}", where)
        seen.add(rid)
        for key in ("title", "attack", "remediation"):
            if not isinstance(r.get(key), str) or not r[key].strip():
                raise _fail(f"'{key}' is required", f"{where} ({rid})")
        sev = r.get("severity")
        if not isinstance(sev, Mapping) or not sev or set(sev) - set(SCOPES):
            raise _fail(f"severity must map some of {list(SCOPES)} to a severity", f"{where} ({rid})")
        try:
            severity = {str(k): Severity.parse(str(v)) for k, v in sev.items()}
        except ValueError as exc:
            raise _fail(str(exc), f"{where} ({rid}).severity") from None
        match = r.get("match")
        if not isinstance(match, Mapping):
            raise _fail(f"match must have exactly one of {sorted(_MATCH_KEYS)}", f"{where} ({rid})")
        require_all = match.get("require_all", False)
        if not isinstance(require_all, bool) or (require_all and "probes" not in match):
            raise _fail(
                "require_all must be true or false, and only goes with probes", f"{where} ({rid}).match"
            )
        kinds = set(match) - {"require_all"}
        if len(kinds) != 1 or kinds - _MATCH_KEYS:
            raise _fail(f"match must have exactly one of {sorted(_MATCH_KEYS)}", f"{where} ({rid})")
        probes: list[Query] = []
        groups: list[tuple[Query, ...]] = []
        for j, p in enumerate(match.get("probes") or []):
            pw = f"{where} ({rid}).match.probes[{j}]"
            if not isinstance(p, Mapping) or set(p) != _PROBE_KEYS:
                raise _fail(f"a probe needs exactly {sorted(_PROBE_KEYS)}", pw)
            group_probes: list[Query] = []
            for verb in _str_list(p["verbs"], pw + ".verbs"):
                for group in _str_list(p["apiGroups"], pw + ".apiGroups"):
                    for res in _str_list(p["resources"], pw + ".resources"):
                        _, _, sub = res.partition("/")
                        group_probes.append(Query(verb, True, group, res, sub, f"*/{sub}" if sub else ""))
            probes.extend(group_probes)
            groups.append(tuple(group_probes))
        if "probes" in match and not probes:
            raise _fail("probes must not be empty", f"{where} ({rid}).match")
        subjects: set[tuple[str, str]] = set()
        for j, s in enumerate(r.get("subjects") or []):
            if (
                not isinstance(s, Mapping)
                or not isinstance(s.get("kind"), str)
                or not isinstance(s.get("name"), str)
            ):
                raise _fail("a subject needs 'kind' and 'name'", f"{where} ({rid}).subjects[{j}]")
            subjects.add((s["kind"], s["name"]))
        risks.append(
            Risk(
                rid,
                r["title"],
                severity,
                " ".join(r["attack"].split()),
                " ".join(r["remediation"].split()),
                tuple(_str_list(r.get("references", []), f"{where} ({rid}).references")),
                tuple(probes),
                match.get("wildcard") is True,
                match.get("any") is True,
                match.get("missing_role") is True,
                frozenset(subjects),
                match.get("full_admin") is True,
                r.get("reaches_service_accounts") is True,
                tuple(groups) if require_all else (),
                _benchmarks(r.get("benchmarks"), f"{where} ({rid}).benchmarks"),
            )
        )
    return Catalog(tuple(risks), sensitive)


def _benchmarks(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _fail("must map a benchmark (e.g. cis-1.12) to a control id string", where)
    return dict(value)


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The shipped catalog (``risks.yaml`` in this package)."""
    text = resources.files("kapsec.rbac").joinpath("risks.yaml").read_text(encoding="utf-8")
    return parse_catalog(yaml.safe_load(text))


@dataclass(frozen=True)
class AssessOptions:
    include_defaults: bool = False  # emit default grants as SKIP findings
    trust_bootstrap_label: bool = False  # treat unknown bootstrap-labelled bindings as defaults


def _scope(b: Binding, cat: Catalog) -> str:
    if b.kind == "ClusterRoleBinding":
        return "cluster"
    return "kube-system" if b.namespace in cat.sensitive_namespaces else "namespace"


def _subjects_text(subjects: Sequence[Subject], ns: str) -> str:
    return ", ".join(s.describe(ns) for s in subjects)


def assess(
    store: RbacStore, options: AssessOptions | None = None, cat: Catalog | None = None
) -> list[Finding]:
    """Findings for every binding that grants a catalogued risk, in catalog then binding order."""
    options = options or AssessOptions()
    cat = cat or catalog()
    defaults = bootstrap()
    memo: dict[tuple[int, str], tuple[list[int], list[int]]] = {}
    findings: list[Finding] = []
    pairs: list[tuple[Binding, Resolved]] = list(
        zip(store.cluster_role_bindings, store.crb_resolved, strict=True)
    ) + list(zip(store.role_bindings, store.rb_resolved, strict=True))
    # A full-administrator grant implies every other risk of the same binding: report it once.
    admin_risks = [r for r in cat.risks if r.full_admin]
    full_admin: set[int] = set()
    for k, (_b, res) in enumerate(pairs):
        if res.role is not None and any(r.matches(rule) for r in admin_risks for rule in res.role.rules):
            full_admin.add(k)
    reach_cache: list[_Reach] = []

    def reach() -> _Reach:
        if not reach_cache:
            reach_cache.append(_Reach(_service_account_risks(pairs, cat, defaults, memo), cat))
        return reach_cache[0]

    for risk in cat.risks:
        for k, (b, res) in enumerate(pairs):
            if k in full_admin and not risk.full_admin and not risk.subjects:
                continue
            scope = _scope(b, cat)
            sev = risk.severity.get(scope)
            if sev is None:
                continue
            f = _assess_one(
                risk, sev, scope=scope, b=b, res=res, defaults=defaults, memo=memo, options=options
            )
            if f is not None:
                if risk.reaches_service_accounts and f.status is not Status.SKIP:
                    f = replace(f, message=f.message + reach().text(b.namespace))
                findings.append(f)
    return findings


def _service_account_risks(
    pairs: list[tuple[Binding, Resolved]], cat: Catalog, defaults: Defaults, memo: Any
) -> dict[tuple[str, str], set[str]]:
    """(namespace, name) of every bound service account -> ids of the risks its grants carry."""
    out: dict[tuple[str, str], set[str]] = {}
    risks = [r for r in cat.risks if not r.subjects and not r.missing_role]
    for b, res in pairs:
        if res.role is None:
            continue
        ids = {r.id for r in risks if _rules_matching(r, res.role, defaults, memo)[0]}
        if not ids:
            continue
        for sub in b.subjects:
            if sub.kind == "ServiceAccount" and (sub.namespace or b.namespace):
                out.setdefault((sub.namespace or b.namespace, sub.name), set()).update(ids)
    return out


@dataclass
class _Reach:
    """Bound service accounts by namespace, most risky first, rendered once per namespace."""

    sa_risks: dict[tuple[str, str], set[str]]
    cat: Catalog
    limit: int = 3
    _text: dict[str, str] | None = None

    def text(self, namespace: str) -> str:
        if self._text is None:
            self._text = {}
        hit = self._text.get(namespace)
        if hit is None:
            hit = self._render(namespace)
            self._text[namespace] = hit
        return hit

    def _render(self, namespace: str) -> str:
        order = {r.id: i for i, r in enumerate(self.cat.risks)}
        reach = [(k, v) for k, v in self.sa_risks.items() if not namespace or k[0] == namespace]
        if not reach:
            return ""
        reach.sort(key=lambda kv: (-len(kv[1]), kv[0]))
        parts = [
            f'ServiceAccount "{name}/{ns}" ({", ".join(sorted(ids, key=lambda i: order.get(i, 99)))})'
            for (ns, name), ids in reach[: self.limit]
        ]
        more = f" and {len(reach) - self.limit} more" if len(reach) > self.limit else ""
        where = f"in {namespace}" if namespace else "in the cluster"
        return f" Service accounts {where} it can act as include: {'; '.join(parts)}{more}."


def _rules_matching(
    risk: Risk, role: Role, defaults: Defaults, memo: dict[tuple[int, str], tuple[list[int], list[int]]]
) -> tuple[list[int], list[int]]:
    """(indices of rules matching the risk, those of them the bootstrap role does not cover)."""
    key = (id(role), risk.id)
    hit = memo.get(key)
    if hit is None:
        matching = (
            [i for i, rule in enumerate(role.rules) if risk.matches(rule)]
            if risk.role_qualifies(role.rules)
            else []
        )
        modified = [i for i in matching if not defaults.rule_is_default(role, role.rules[i])]
        hit = (matching, modified)
        memo[key] = hit
    return hit


def _assess_one(
    risk: Risk,
    sev: Severity,
    *,
    scope: str,
    b: Binding,
    res: Resolved,
    defaults: Defaults,
    memo: dict[tuple[int, str], tuple[list[int], list[int]]],
    options: AssessOptions,
) -> Finding | None:
    subjects = [s for s in b.subjects if risk.wants(s)]
    if not subjects:
        return None
    where_ns = f" in namespace {b.namespace}" if b.namespace else " cluster-wide"
    if risk.missing_role:
        if res.role is not None:
            return None
        # a bootstrap binding whose role is missing: the API server recreates its default roles
        # at start-up, so this is more likely a snapshot from another release than a hole
        default = defaults.binding(b) is not None
        return _finding(
            risk,
            Status.WARN if default else Status.FAIL,
            sev,
            f"{b.key} binds {_subjects_text(subjects, b.namespace)} to {b.role_ref.kind} "
            f'"{b.role_ref.name}", which does not exist ({res.error})',
            b=b,
            role=None,
            idx=None,
        )
    role = res.role
    if role is None:
        return None
    matching, modified = _rules_matching(risk, role, defaults, memo)
    if not matching:
        return None
    default_binding = defaults.binding(b) is not None
    new_subjects = [s for s in subjects if not (default_binding and defaults.is_default_subject(b, s))]
    old_subjects = [s for s in subjects if s not in new_subjects]
    if new_subjects:
        idx = matching[0]
        unverified = not default_binding and _bootstrap_labelled(b)
        if unverified and options.trust_bootstrap_label:
            return _default_finding(risk, sev, b, role=role, idx=idx, options=options)
        status = Status.WARN if unverified else Status.FAIL
        msg = (
            f"{b.key} grants {role.key} to {_subjects_text(new_subjects, b.namespace)}{where_ns}: "
            f"rule {idx} allows it. {risk.attack}"
        )
        if unverified:
            msg = (
                "labelled as a bootstrap default, but not one kapsec's bootstrap snapshot knows "
                "(a newer release's default, a controller role, or a disguised grant): " + msg
            )
        return _finding(risk, status, sev, msg, b=b, role=role, idx=idx)
    if modified and old_subjects and defaults.role(role) is None:
        idx = modified[0]
        msg = (
            f"default {b.key} grants {role.key} to {_subjects_text(old_subjects, b.namespace)}{where_ns}, "
            f"but kapsec's bootstrap snapshot does not have {role.key} to verify its rules: rule {idx} "
            f"allows it. {risk.attack}"
        )
        return _finding(risk, Status.WARN, sev, msg, b=b, role=role, idx=idx)
    if modified and old_subjects:
        idx = modified[0]
        msg = (
            f"default {b.key} grants {role.key} to {_subjects_text(old_subjects, b.namespace)}{where_ns}, "
            f"and {role.key} was modified: rule {idx} is not in the default role. {risk.attack}"
        )
        return _finding(risk, Status.FAIL, sev, msg, b=b, role=role, idx=idx)
    return _default_finding(risk, sev, b, role=role, idx=matching[0], options=options)


def _bootstrap_labelled(b: Binding) -> bool:
    return has_bootstrap_label(dict(b.labels))


def _default_finding(
    risk: Risk, sev: Severity, b: Binding, *, role: Role, idx: int, options: AssessOptions
) -> Finding | None:
    if not options.include_defaults:
        return None
    msg = f"default grant: {b.key} -> {role.key} rule {idx} (bootstrap policy, not modified)"
    return _finding(risk, Status.SKIP, sev, msg, b=b, role=role, idx=idx)


def _finding(
    risk: Risk, status: Status, sev: Severity, message: str, *, b: Binding, role: Role | None, idx: int | None
) -> Finding:
    detail = b.key
    value = None
    if role is not None and idx is not None:
        rule = role.rules[idx]
        detail = f"{b.key} -> {role.key} rules[{idx}]"
        value = rule.compact_string()
    return Finding(
        id=risk.id,
        title=risk.title,
        status=status,
        severity=sev,
        message=message,
        benchmarks=dict(risk.benchmarks),
        evidence=Evidence(file=b.where.file or None, line=b.where.line, value=value, detail=detail),
        remediation=risk.remediation,
        fix_safety=FixSafety.MANUAL,
        references=risk.references,
    )
