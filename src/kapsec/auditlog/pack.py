"""The detection rule pack: Sigma rules loaded with pySigma, compiled to fast predicates.

Rules are Sigma YAML (``logsource: {product: kubernetes, service: audit}``); field names are audit
Event paths (see :mod:`kapsec.auditlog.fields`). pySigma parses each rule and its condition;
kapsec compiles the condition tree to Python closures over the typed event, with Sigma's
semantics: strings match case-insensitively, ``*``/``?`` wildcards, the ``contains``,
``startswith``, ``endswith``, ``re``, ``cidr``, ``exists``, ``gt``/``gte``/``lt``/``lte`` modifiers,
``null``. Evaluation is three-valued: a condition on a request body the audit policy did not log is
*unknown*, and a rule whose result is unknown is counted as blind for that event, not as a miss.

Each rule also yields byte needles: lower-case strings one of which must appear in the raw line
for the rule to match. A line holding none of any rule's needles is not decoded at all.

kapsec's own rule attributes (kept by pySigma as custom attributes): ``name`` (the stable rule
id), ``confidence`` (high/medium/low), ``stage`` (``any`` or the stages it fires on), ``needs``
(the lowest audit level that lets it fire), ``limits`` (known limits, in words) and ``origin``.
Event-count correlations (``correlation: {type: event_count}``) count a base rule's matches per
group within a time span.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kapsec.auditlog import fields
from kapsec.auditlog.event import AuditEvent
from kapsec.errors import InputError, ValidationError
from kapsec.model.findings import Severity

Pred = Callable[[AuditEvent], bool | None]

LEVEL_TO_SEVERITY = {
    "informational": Severity.INFO,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}
AUDIT_LEVELS = ("Metadata", "Request", "RequestResponse")
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
CONFIDENCES = ("low", "medium", "high")
_NEEDLE_SPLIT = re.compile(rb'["\\/<>&\x80-\xff]+')
MIN_NEEDLE = 3


@dataclass(frozen=True)
class Correlation:
    base: tuple[str, ...]
    group_by: tuple[str, ...]
    timespan: float  # seconds
    threshold: int
    generate: bool


@dataclass(frozen=True)
class Rule:
    id: str
    uuid: str
    title: str
    description: str
    severity: Severity
    level: str
    confidence: str
    stages: tuple[str, ...]  # empty: any stage
    needs: str
    tags: tuple[str, ...]
    limits: str
    falsepositives: tuple[str, ...]
    references: tuple[str, ...]
    author: str
    origin: str
    path: str
    predicate: Pred | None
    needles: tuple[bytes, ...] | None
    fields: tuple[str, ...]
    verbs: tuple[str, ...]
    resources: tuple[tuple[str, str, str], ...]
    correlation: Correlation | None = None
    # The closure-tree predicate the generated one (``predicate``) must agree with (for tests).
    reference: Pred | None = None
    # The rule can only match events whose indexed fields (INDEX_FIELDS) have these values.
    index_keys: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @functools.cached_property
    def mitre(self) -> tuple[str, ...]:
        """ATT&CK technique ids (T1609, T1552.007) from the ``attack.tNNNN`` tags."""
        return tuple(
            t.split(".", 1)[1].upper() for t in self.tags if re.fullmatch(r"attack\.t\d{4}(\.\d{3})?", t)
        )

    @functools.cached_property
    def tactics(self) -> tuple[str, ...]:
        return tuple(
            t.split(".", 1)[1]
            for t in self.tags
            if t.startswith("attack.") and not re.fullmatch(r"attack\.[tsg]\d+.*", t)
        )


# ---------------------------------------------------------------------------------------------
# Values


def _as_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"), sort_keys=True)
    return str(v)


def _string_matcher(s: Any) -> Callable[[Any], bool]:
    from sigma.types import SpecialChars

    parts = s.s
    plain = [p for p in parts if isinstance(p, str)]
    specials = [p for p in parts if not isinstance(p, str)]
    if not specials:
        want = "".join(plain).lower()
        return lambda v: _as_text(v).lower() == want
    multi = SpecialChars.WILDCARD_MULTI
    if all(p is multi for p in specials):
        if len(parts) == 1:
            return lambda v: True
        if len(parts) == 2 and parts[1] is multi:
            pre = parts[0].lower()
            return lambda v: _as_text(v).lower().startswith(pre)
        if len(parts) == 2 and parts[0] is multi:
            suf = parts[1].lower()
            return lambda v: _as_text(v).lower().endswith(suf)
        if len(parts) == 3 and parts[0] is multi and parts[2] is multi and isinstance(parts[1], str):
            mid = parts[1].lower()
            return lambda v: mid in _as_text(v).lower()
    pattern = "".join(re.escape(p) if isinstance(p, str) else (".*" if p is multi else ".") for p in parts)
    rx = re.compile(pattern, re.IGNORECASE | re.DOTALL)
    return lambda v: rx.fullmatch(_as_text(v)) is not None


def _value_matcher(
    value: Any, where: str, where_field: str = ""
) -> tuple[Callable[[list[Any]], bool], tuple[bytes, ...] | None]:
    """A test over a field's values, and the needles it implies."""
    from sigma.types import (
        SigmaBool,
        SigmaCIDRExpression,
        SigmaCompareExpression,
        SigmaExists,
        SigmaNull,
        SigmaNumber,
        SigmaRegularExpression,
        SigmaString,
    )

    if isinstance(value, SigmaString):
        m = _string_matcher(value)
        pieces = [p for p in value.s if isinstance(p, str)]
        return (lambda vs: any(m(v) for v in vs)), _needle(
            "".join(pieces) if len(pieces) == 1 else max(pieces, key=len, default="")
        )
    if isinstance(value, SigmaNumber):
        n = value.number

        def num(vs: list[Any]) -> bool:
            for v in vs:
                if isinstance(v, bool):
                    continue
                if isinstance(v, (int, float)) and v == n:
                    return True
                if isinstance(v, str) and v.strip() == str(n):
                    return True
            return False

        return num, _needle(str(n))
    if isinstance(value, SigmaBool):
        b = value.boolean
        return (
            lambda vs: any(v is b or (isinstance(v, str) and v.lower() == str(b).lower()) for v in vs)
        ), _needle("true" if b else "false")
    if isinstance(value, SigmaNull):
        return (lambda vs: not vs), None
    if isinstance(value, SigmaExists):
        want = value.exists
        # A field that exists has its key in the raw JSON: that key is a needle.
        if where_field.startswith("annotations."):
            key = where_field[len("annotations.") :]
        elif fields.is_body_field(where_field):
            key = where_field.rsplit(".", 1)[-1]
        else:
            key = where_field.split(".", 1)[0]
        return (lambda vs: bool(vs) == want), (_needle(key) if want else None)
    if isinstance(value, SigmaRegularExpression):
        flags = re.IGNORECASE if any("i" in str(f).lower() for f in value.flags) else 0
        try:
            rx = re.compile(
                value.regexp.original if hasattr(value.regexp, "original") else str(value.regexp), flags
            )
        except re.error as exc:
            raise ValidationError(f"bad regular expression: {exc}", file=where) from exc
        return (lambda vs: any(rx.search(_as_text(v)) for v in vs)), None
    if isinstance(value, SigmaCIDRExpression):
        net = value.network

        def cidr(vs: list[Any]) -> bool:
            for v in vs:
                try:
                    if ipaddress.ip_address(str(v)) in net:
                        return True
                except ValueError:
                    continue
            return False

        return cidr, None
    if isinstance(value, SigmaCompareExpression):
        op = value.op
        ref = value.number.number
        cmp: Callable[[float], bool] = {
            SigmaCompareExpression.CompareOperators.LT: lambda a: a < ref,
            SigmaCompareExpression.CompareOperators.LTE: lambda a: a <= ref,
            SigmaCompareExpression.CompareOperators.GT: lambda a: a > ref,
            SigmaCompareExpression.CompareOperators.GTE: lambda a: a >= ref,
        }[op]
        return (
            lambda vs: any(isinstance(v, (int, float)) and not isinstance(v, bool) and cmp(v) for v in vs)
        ), None
    raise ValidationError(f"unsupported Sigma value {type(value).__name__}", file=where)


def _needle(text: str) -> tuple[bytes, ...] | None:
    pieces = [p for p in _NEEDLE_SPLIT.split(text.lower().encode("utf-8")) if p]
    best = max(pieces, key=len, default=b"")
    return (best,) if len(best) >= MIN_NEEDLE else None


# ---------------------------------------------------------------------------------------------
# Condition trees


@dataclass
class _Compiled:
    pred: Pred
    needles: tuple[bytes, ...] | None
    body: bool  # touches requestObject/responseObject
    rank: int = 9  # how selective the needles are likely to be (lower is better)
    # Values (lower case) the node requires of the indexed fields (INDEX_FIELDS); absent = any.
    keys: dict[str, frozenset[str]] = field(default_factory=dict)
    eq_field: str | None = None  # a string test (or an OR of them) on one field ...
    str_pats: tuple[tuple[str, Any], ...] = ()  # ... as (kind, lower-case pattern) pairs
    # The same test as one Python expression over ``e`` (names in ``consts``), for rules that
    # read no body and so are two-valued: compiled into one function per rule (see _codegen).
    src: str = ""
    consts: dict[str, Any] = field(default_factory=dict)


# Values of these fields are rare in a log; verbs and user names are everywhere.
_FIELD_RANK = {
    "objectRef.subresource": 0,
    "responseStatus.message": 0,
    "impersonatedUser.username": 1,
    "objectRef.resource": 1,
    "objectRef.apiGroup": 1,
    "requestURI": 1,
    "userAgent": 1,
    "objectRef.namespace": 2,
    "responseStatus.code": 2,
    "user.username": 3,
    "user.groups": 3,
    "objectRef.name": 3,
    "verb": 4,
}


def _rank(name: str) -> int:
    if fields.is_body_field(name):
        return 6
    if name.startswith("annotations."):
        return 4
    return _FIELD_RANK.get(name, 5)


def _string_pattern(s: Any) -> tuple[str, Any]:
    """A Sigma string as ("eq"|"pre"|"suf"|"con", lower-case text) or ("rx", compiled pattern)."""
    from sigma.types import SpecialChars

    parts = s.s
    multi = SpecialChars.WILDCARD_MULTI
    specials = [p for p in parts if not isinstance(p, str)]
    if not specials:
        return ("eq", "".join(parts).lower())
    if all(p is multi for p in specials):
        if len(parts) == 1:
            return ("pre", "")
        if len(parts) == 2 and parts[1] is multi and isinstance(parts[0], str):
            return ("pre", parts[0].lower())
        if len(parts) == 2 and parts[0] is multi and isinstance(parts[1], str):
            return ("suf", parts[1].lower())
        if len(parts) == 3 and parts[0] is multi and parts[2] is multi and isinstance(parts[1], str):
            return ("con", parts[1].lower())
    pattern = "".join(re.escape(p) if isinstance(p, str) else (".*" if p is multi else ".") for p in parts)
    return ("rx", re.compile(pattern, re.IGNORECASE | re.DOTALL))


def _str_leaf(get: fields.Getter, pats: Sequence[tuple[str, Any]]) -> Pred:
    """Case-insensitive Sigma string tests on one field, each value lowered once for all of them."""
    eqs = frozenset(v for k, v in pats if k == "eq")
    pres = tuple(v for k, v in pats if k == "pre")
    sufs = tuple(v for k, v in pats if k == "suf")
    cons = tuple(v for k, v in pats if k == "con")
    rxs = tuple(v for k, v in pats if k == "rx")

    def leaf(e: AuditEvent) -> bool | None:
        vs = get(e)
        if vs is None:
            return None
        for v in vs:
            t = (v if type(v) is str else _as_text(v)).lower()
            if t in eqs or (pres and t.startswith(pres)) or (sufs and t.endswith(sufs)):
                return True
            for c in cons:
                if c in t:
                    return True
            for rx in rxs:
                if rx.fullmatch(t):
                    return True
        return False

    return leaf


_INLINE = {
    "verb": "e.verb",
    "stage": "e.stage",
    "level": "e.level",
    "auditID": "e.auditID",
    "requestURI": "e.requestURI",
    "userAgent": "e.userAgent",
    "user.username": "e.user.username",
    "impersonatedUser.username": "(e.impersonatedUser.username if e.impersonatedUser is not None else '')",
    "responseStatus.message": "(e.responseStatus.message if e.responseStatus is not None else '')",
    "responseStatus.reason": "(e.responseStatus.reason if e.responseStatus is not None else '')",
    "responseStatus.status": "(e.responseStatus.status if e.responseStatus is not None else '')",
    **{
        f"objectRef.{f}": f"(e.objectRef.{f} if e.objectRef is not None else '')"
        for f in ("resource", "subresource", "namespace", "name", "apiGroup", "apiVersion", "uid")
    },
}
_ids = itertools.count()


def _value_src(name: str) -> str | None:
    if name in _INLINE:
        return _INLINE[name]
    if name.startswith("annotations."):
        return f"e.annotations.get({name[len('annotations.') :]!r}, '')"
    return None


def _str_src(name: str, pats: Sequence[tuple[str, Any]], consts: dict[str, Any]) -> str:
    """An inline expression for string tests on a single-valued field ('' counts as absent)."""
    value = _value_src(name)
    assert value is not None
    n = next(_ids)
    v, low = f"_v{n}", f"_l{n}"
    tests: list[str] = []
    eqs = frozenset(p for k, p in pats if k == "eq")
    if eqs:
        consts[f"_s{n}"] = eqs
        tests.append(f"{low} in _s{n}")
    for kind, method in (("pre", "startswith"), ("suf", "endswith")):
        vals = tuple(p for k, p in pats if k == kind)
        if vals:
            consts[f"_{kind}{n}"] = vals
            tests.append(f"{low}.{method}(_{kind}{n})")
    for i, c in enumerate(p for k, p in pats if k == "con"):
        consts[f"_c{n}_{i}"] = c
        tests.append(f"_c{n}_{i} in {low}")
    return f"(({v} := {value}) != '' and (({low} := {v}.lower()) is not None) and ({' or '.join(tests) or 'False'}))"


def _closure_src(pred: Pred, consts: dict[str, Any]) -> str:
    n = next(_ids)
    consts[f"_f{n}"] = pred
    return f"_f{n}(e)"


def _codegen(c: _Compiled, where: str) -> Pred | None:
    """One function for a two-valued (body-free) condition, or None to keep the closures."""
    if c.body or not c.src:
        return None
    code = f"def _rule(e):\n    return bool({c.src})\n"
    ns: dict[str, Any] = dict(c.consts)
    try:
        exec(compile(code, f"<rule {where}>", "exec"), ns)  # noqa: S102 - our own generated source
    except SyntaxError:  # pragma: no cover - a generator bug: keep the closures
        return None
    fn: Pred = ns["_rule"]
    return fn


def _compile(node: Any, where: str, used: list[tuple[str, Any, bool]], negated: bool = False) -> _Compiled:
    from sigma.conditions import (
        ConditionAND,
        ConditionFieldEqualsValueExpression,
        ConditionNOT,
        ConditionOR,
        ConditionValueExpression,
    )
    from sigma.types import SigmaCompareExpression, SigmaNumber, SigmaString

    if isinstance(node, ConditionFieldEqualsValueExpression):
        name = node.field
        try:
            get = fields.getter(name)
        except ValueError as exc:
            raise ValidationError(str(exc), file=where, field=name) from None
        test, needles = _value_matcher(node.value, where, name)
        used.append((name, node.value, negated))

        def leaf(e: AuditEvent) -> bool | None:
            vs = get(e)
            if vs is None:
                return None
            return test(vs)

        body = fields.is_body_field(name)
        keys: dict[str, frozenset[str]] = {}
        plain = isinstance(node.value, SigmaString) and not node.value.contains_special()
        text = "".join(x for x in getattr(node.value, "s", ()) if isinstance(x, str)) if plain else ""
        if name in INDEX_FIELDS and plain:
            keys = {name: frozenset({text.lower()})}
        elif name == "responseStatus.code" and isinstance(node.value, SigmaNumber):
            keys = {name: frozenset({str(node.value.number)})}
        consts: dict[str, Any] = {}
        if isinstance(node.value, SigmaString):
            pats = (_string_pattern(node.value),)
            pred = _str_leaf(get, pats)
            if _value_src(name) is not None and all(k != "rx" for k, _ in pats):
                src = _str_src(name, pats, consts)
            else:
                src = _closure_src(pred, consts)
            return _Compiled(pred, needles, body, _rank(name), keys, name, pats, src, consts)
        if name == "responseStatus.code" and isinstance(node.value, SigmaCompareExpression):
            ops = {"LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}
            ref = node.value.number.number
            if type(ref) in (int, float) and node.value.op.name in ops:
                # The getter yields the code only when it is not 0 (a stage without a response).
                src = (
                    "(e.responseStatus is not None and e.responseStatus.code != 0 and "
                    f"e.responseStatus.code {ops[node.value.op.name]} {ref!r})"
                )
                return _Compiled(leaf, needles, body, _rank(name), keys, src=src)
        if name == "responseStatus.code" and isinstance(node.value, SigmaNumber) and node.value.number:
            src = f"(e.responseStatus is not None and e.responseStatus.code == {int(node.value.number)!r})"
            return _Compiled(leaf, needles, body, _rank(name), keys, src=src)
        return _Compiled(
            leaf, needles, body, _rank(name), keys, src=_closure_src(leaf, consts), consts=consts
        )
    if isinstance(node, ConditionValueExpression):
        raise ValidationError(
            "keyword (field-less) searches are not supported: name an audit event field", file=where
        )
    if isinstance(node, ConditionNOT):
        inner = _compile(node.args[0], where, used, not negated)
        ip = inner.pred

        def not_(e: AuditEvent) -> bool | None:
            r = ip(e)
            return None if r is None else not r

        # a negation requires nothing of the index
        return _Compiled(not_, None, inner.body, src=f"(not {inner.src})", consts=dict(inner.consts))
    if isinstance(node, (ConditionAND, ConditionOR)):
        kids = [_compile(a, where, used, negated) for a in node.args]
        preds = [k.pred for k in kids]
        body = any(k.body for k in kids)
        if isinstance(node, ConditionAND):
            # Non-body tests first (cheaper), the most selective fields first (decide most events).
            order = sorted(range(len(kids)), key=lambda i: (kids[i].body, kids[i].rank))
            preds = [preds[i] for i in order]

            def and_(e: AuditEvent) -> bool | None:
                unknown = False
                for p in preds:
                    r = p(e)
                    if r is False:
                        return False
                    if r is None:
                        unknown = True
                return None if unknown else True

            and_keys: dict[str, frozenset[str]] = {}
            for k in kids:
                for f, vals in k.keys.items():
                    and_keys[f] = and_keys[f] & vals if f in and_keys else vals
            candidates = [k for k in kids if k.needles is not None]
            ordered = [kids[i] for i in order]
            and_src = "(" + " and ".join(k.src for k in ordered) + ")"
            and_consts = {n: v for k in ordered for n, v in k.consts.items()}
            if candidates:
                best = min(candidates, key=lambda k: (k.rank, -min(len(n) for n in k.needles or (b"",))))
                return _Compiled(
                    and_, best.needles, body, best.rank, and_keys, src=and_src, consts=and_consts
                )
            return _Compiled(and_, None, body, 9, and_keys, src=and_src, consts=and_consts)

        def or_(e: AuditEvent) -> bool | None:
            unknown = False
            for p in preds:
                r = p(e)
                if r is True:
                    return True
                if r is None:
                    unknown = True
            return None if unknown else False

        if len({k.eq_field for k in kids}) == 1 and kids[0].eq_field is not None:
            # pySigma expands a value list into an OR of tests on one field: test them at once.
            name = kids[0].eq_field
            or_pats: tuple[tuple[str, Any], ...] = tuple(p for k in kids for p in k.str_pats)
            wants = frozenset(v for kind, v in or_pats if kind == "eq")
            all_eq = all(kind == "eq" for kind, _ in or_pats)
            merged_needles: tuple[bytes, ...] | None = None
            if all(k.needles is not None for k in kids):
                merged_needles = tuple(dict.fromkeys(n for k in kids for n in k.needles or ()))
            or_pred = _str_leaf(fields.getter(name), or_pats)
            merged_consts: dict[str, Any] = {}
            if _value_src(name) is not None and all(k != "rx" for k, _ in or_pats):
                merged_src = _str_src(name, or_pats, merged_consts)
            else:
                merged_src = _closure_src(or_pred, merged_consts)
            return _Compiled(
                or_pred,
                merged_needles,
                body,
                max(k.rank for k in kids),
                {name: wants} if name in INDEX_FIELDS and all_eq else {},
                name,
                or_pats,
                merged_src,
                merged_consts,
            )
        or_src = "(" + " or ".join(k.src for k in kids) + ")"
        or_consts = {n: v for k in kids for n, v in k.consts.items()}
        common = set.intersection(*(set(k.keys) for k in kids)) if kids else set()
        or_keys = {f: frozenset().union(*(k.keys[f] for k in kids)) for f in common}
        if all(k.needles is not None for k in kids):
            merged: list[bytes] = []
            for k in kids:
                for n in k.needles or ():
                    if n not in merged:
                        merged.append(n)
            return _Compiled(
                or_, tuple(merged), body, max(k.rank for k in kids), or_keys, src=or_src, consts=or_consts
            )
        return _Compiled(or_, None, body, 9, or_keys, src=or_src, consts=or_consts)
    raise ValidationError(f"unsupported condition {type(node).__name__}", file=where)


# ---------------------------------------------------------------------------------------------
# Loading


def _attr(rule: Any, key: str, default: Any = None) -> Any:
    return (rule.custom_attributes or {}).get(key, default)


#: API groups of the built-in resources the rules name without objectRef.apiGroup.
KNOWN_GROUPS: dict[str, tuple[str, ...]] = {
    "deployments": ("apps",),
    "daemonsets": ("apps",),
    "statefulsets": ("apps",),
    "replicasets": ("apps",),
    "jobs": ("batch",),
    "cronjobs": ("batch",),
    "roles": ("rbac.authorization.k8s.io",),
    "clusterroles": ("rbac.authorization.k8s.io",),
    "rolebindings": ("rbac.authorization.k8s.io",),
    "clusterrolebindings": ("rbac.authorization.k8s.io",),
    "ingresses": ("networking.k8s.io",),
    "networkpolicies": ("networking.k8s.io",),
    "certificatesigningrequests": ("certificates.k8s.io",),
    "events": ("", "events.k8s.io"),
    "selfsubjectrulesreviews": ("authorization.k8s.io",),
}


#: Fields rules are indexed by (see RuleIndex).
INDEX_FIELDS = ("objectRef.resource", "verb", "responseStatus.code")


def _derive_scope(
    used: list[tuple[str, Any, bool]],
) -> tuple[tuple[str, ...], tuple[tuple[str, str, str], ...]]:
    from sigma.types import SigmaString

    def vals(name: str) -> list[str]:
        out: list[str] = []
        for f, v, neg in used:
            if f == name and not neg and isinstance(v, SigmaString) and not v.contains_special():
                s = "".join(x for x in v.s if isinstance(x, str))
                if s not in out:
                    out.append(s)
        return out

    verbs = tuple(vals("verb"))
    res = vals("objectRef.resource")
    subs = vals("objectRef.subresource") or [""]
    named = vals("objectRef.apiGroup")
    out: list[tuple[str, str, str]] = []
    for r in res:
        for g in named or KNOWN_GROUPS.get(r, ("",)):
            for s in subs:
                if (g, r, s) not in out:
                    out.append((g, r, s))
    return verbs, tuple(out)


def _compile_rule(sr: Any, where: str) -> Rule:
    from sigma.rule import SigmaRule

    assert isinstance(sr, SigmaRule)
    name = sr.name or (str(sr.id) if sr.id else "")
    if not name:
        raise ValidationError("a rule needs a 'name' (its stable kapsec id) or an 'id'", file=where)
    level = sr.level.name.lower() if sr.level else "medium"
    if level not in LEVEL_TO_SEVERITY:
        raise ValidationError(f"unknown level {level!r}", file=where, field="level")
    conf = str(_attr(sr, "confidence", "medium"))
    if conf not in CONFIDENCES:
        raise ValidationError(
            f"confidence must be one of {', '.join(CONFIDENCES)}", file=where, field="confidence"
        )
    stage_raw = _attr(sr, "stage", "any")
    stages: tuple[str, ...] = ()
    if stage_raw != "any":
        stages = tuple([stage_raw] if isinstance(stage_raw, str) else stage_raw)
        bad = [s for s in stages if s not in STAGES]
        if bad:
            raise ValidationError(
                f"unknown stage(s) {bad}; expected 'any' or {', '.join(STAGES)}", file=where, field="stage"
            )
    used: list[tuple[str, Any, bool]] = []
    conds = sr.detection.parsed_condition
    comps = [_compile(c.parse(), where, used) for c in conds]
    if len(comps) == 1:
        reference = comps[0].pred
        pred = _codegen(comps[0], where) or reference
        needles = comps[0].needles
        body = comps[0].body
        rkeys = dict(comps[0].keys)
    else:
        preds = [c.pred for c in comps]

        def pred(e: AuditEvent) -> bool | None:
            unknown = False
            for p in preds:
                r = p(e)
                if r is True:
                    return True
                if r is None:
                    unknown = True
            return None if unknown else False

        reference = pred
        needles = (
            None
            if any(c.needles is None for c in comps)
            else tuple(n for c in comps for n in c.needles or ())
        )
        body = any(c.body for c in comps)
        rkeys = {}  # several conditions: any may match, so nothing is required of the index
    needs = str(_attr(sr, "needs", "Request" if body else "Metadata"))
    if needs not in AUDIT_LEVELS:
        raise ValidationError(f"needs must be one of {', '.join(AUDIT_LEVELS)}", file=where, field="needs")
    verbs, res = _derive_scope(used)
    return Rule(
        id=name,
        uuid=str(sr.id) if sr.id else "",
        title=sr.title,
        description=(sr.description or "").strip(),
        severity=LEVEL_TO_SEVERITY[level],
        level=level,
        confidence=conf,
        stages=stages,
        needs=needs,
        tags=tuple(f"{t.namespace}.{t.name}" for t in sr.tags),
        limits=str(_attr(sr, "limits", "")).strip(),
        falsepositives=tuple(str(x) for x in (sr.falsepositives or [])),
        references=tuple(str(x) for x in (sr.references or [])),
        author=str(sr.author or ""),
        origin=str(_attr(sr, "origin", "kapsec")),
        path=where,
        predicate=pred,
        needles=needles,
        fields=tuple(dict.fromkeys(f for f, _, _ in used)),
        verbs=verbs,
        resources=res,
        index_keys=rkeys,
        reference=reference,
    )


def _compile_correlation(sc: Any, where: str) -> Rule:
    ctype = str(getattr(sc.type, "name", sc.type)).lower()
    if ctype != "event_count":
        raise ValidationError(f"correlation type {ctype!r} is not supported (only event_count)", file=where)
    cond = sc.condition
    op = str(getattr(cond.op, "name", cond.op)).lower()
    if op not in ("gte", "gt"):
        raise ValidationError("an event_count correlation needs a 'gte' or 'gt' condition", file=where)
    threshold = int(cond.count) + (1 if op == "gt" else 0)
    base = tuple(str(r.reference) for r in sc.rules)
    name = sc.name or str(sc.id)
    level = sc.level.name.lower() if sc.level else "medium"
    return Rule(
        id=name,
        uuid=str(sc.id) if sc.id else "",
        title=sc.title,
        description=(sc.description or "").strip(),
        severity=LEVEL_TO_SEVERITY.get(level, Severity.MEDIUM),
        level=level,
        confidence=str(_attr(sc, "confidence", "medium")),
        stages=(),
        needs=str(_attr(sc, "needs", "Metadata")),
        tags=tuple(f"{t.namespace}.{t.name}" for t in sc.tags),
        limits=str(_attr(sc, "limits", "")).strip(),
        falsepositives=tuple(str(x) for x in (sc.falsepositives or [])),
        references=tuple(str(x) for x in (sc.references or [])),
        author=str(sc.author or ""),
        origin=str(_attr(sc, "origin", "kapsec")),
        path=where,
        predicate=None,
        needles=None,
        fields=tuple(sc.group_by or ()),
        verbs=(),
        resources=(),
        correlation=Correlation(
            base=base,
            group_by=tuple(sc.group_by or ()),
            timespan=float(sc.timespan.seconds),
            threshold=threshold,
            generate=bool(getattr(sc, "generate", False)),
        ),
    )


@dataclass(frozen=True)
class RulePack:
    rules: tuple[Rule, ...]
    sources: tuple[str, ...]
    collections: tuple[Any, ...] = ()  # the pySigma collections, for the export backends

    def sigma_collection(self) -> Any:
        """One pySigma collection of the selected rules, references resolved (for backends)."""
        from sigma.collection import SigmaCollection

        merged = SigmaCollection.merge(list(self.collections))
        keep = {r.id for r in self.rules}
        merged.rules = [r for r in merged.rules if (r.name or str(r.id)) in keep]
        return merged

    def by_id(self, rule_id: str) -> Rule | None:
        for r in self.rules:
            if r.id == rule_id:
                return r
        return None

    @property
    def needles(self) -> tuple[bytes, ...] | None:
        """Needles for the whole pack, or None when some rule cannot be pre-filtered."""
        out: list[bytes] = []
        for r in self.rules:
            if r.correlation is not None:
                continue
            if r.needles is None:
                return None
            out.extend(n for n in r.needles if n not in out)
        return tuple(out)


class RuleIndex:
    """The rules worth evaluating on an event, by its resource, verb and response code.

    A rule whose condition requires ``objectRef.resource``, ``verb`` or ``responseStatus.code`` to
    be one of some values cannot match an event with another value, so it is not evaluated
    there; the result is identical to evaluating every rule, in the pack's order.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = [r for r in rules if r.correlation is None]
        self._cache: dict[tuple[str, str, int], list[Rule]] = {}

    def _select(self, key: tuple[str, str, int]) -> list[Rule]:
        values = {
            "objectRef.resource": key[0].lower(),
            "verb": key[1].lower(),
            "responseStatus.code": str(key[2]) if key[2] else "",
        }
        return [r for r in self.rules if all(values[f] in vals for f, vals in r.index_keys.items())]

    def candidates(self, e: AuditEvent) -> list[Rule]:
        ref = e.objectRef
        rs = e.responseStatus
        key = (ref.resource if ref is not None else "", e.verb, rs.code if rs is not None else 0)
        got = self._cache.get(key)
        if got is None:
            got = self._select(key)
            if len(self._cache) < 8192:
                self._cache[key] = got
        return got


def builtin_rule_files() -> list[tuple[str, str]]:
    """(name, text) of every shipped rule file, sorted by name."""
    root = resources.files("kapsec.auditlog").joinpath("rules")
    out = []
    for entry in root.iterdir():
        if entry.name.endswith((".yml", ".yaml")):
            out.append((f"rules/{entry.name}", entry.read_text(encoding="utf-8")))
    return sorted(out)


def _rule_files(dirs: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for d in dirs:
        p = Path(d)
        if p.is_file():
            files = [p]
        elif p.is_dir():
            files = sorted(x for x in p.rglob("*") if x.suffix in (".yml", ".yaml") and x.is_file())
        else:
            raise InputError("no such rule file or directory", file=d)
        for f in files:
            try:
                out.append((str(f), f.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"cannot read rule file: {exc}", file=str(f)) from exc
    return out


def _collection(text: str) -> Any:
    """``SigmaCollection.from_yaml``, with the YAML parsed by libyaml (pySigma uses the pure
    Python loader: four fifths of the pack's loading time, paid before any event is read)."""
    import yaml
    from sigma.collection import SigmaCollection

    loader = getattr(yaml, "CSafeLoader", None)
    if loader is not None:
        try:
            docs = list(yaml.load_all(text, Loader=loader))
        except yaml.YAMLError:
            pass  # pySigma's own parse gives the error message users see
        else:
            return SigmaCollection.from_dicts(docs, collect_errors=True, resolve_references=False)
    return SigmaCollection.from_yaml(text, collect_errors=True, resolve_references=False)


def load_pack(extra_dirs: Sequence[str] = (), *, builtin: bool = True, only: Iterable[str] = ()) -> RulePack:
    """Load the shipped rules (and rule files or directories given), validating every rule.

    Raises :class:`ValidationError` naming the file for a rule pySigma rejects, an unknown field,
    a duplicate rule id, an unsupported construct or a correlation naming an unknown rule.
    """
    import yaml
    from sigma.collection import SigmaCollection
    from sigma.correlations import SigmaCorrelationRule
    from sigma.exceptions import SigmaError
    from sigma.rule import SigmaRule

    files = (builtin_rule_files() if builtin else []) + _rule_files(extra_dirs)
    rules: list[Rule] = []
    colls: list[Any] = []
    seen: dict[str, str] = {}
    for where, text in files:
        try:
            coll: SigmaCollection = _collection(text)
        except SigmaError as exc:
            raise ValidationError(f"not a valid Sigma rule: {exc}", file=where) from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ValidationError(
                f"invalid YAML: {problem}", file=where, line=mark.line + 1 if mark else None
            ) from exc
        except Exception as exc:  # pySigma raises YAML and type errors for malformed files
            raise ValidationError(f"not a valid Sigma rule file: {exc}", file=where) from exc
        colls.append(coll)
        for item in coll.rules:
            if getattr(item, "errors", None):
                raise ValidationError(f"not a valid Sigma rule: {item.errors[0]}", file=where)
            if isinstance(item, SigmaCorrelationRule):
                rule = _compile_correlation(item, where)
            elif isinstance(item, SigmaRule):
                ls = item.logsource
                if (ls.product or "kubernetes") != "kubernetes" or (ls.service or "audit") != "audit":
                    raise ValidationError(
                        "logsource must be product: kubernetes, service: audit", file=where, field="logsource"
                    )
                rule = _compile_rule(item, where)
            else:  # filters (SigmaFilter) are not rules
                continue  # type: ignore[unreachable]
            if rule.id in seen:
                raise ValidationError(f"duplicate rule id {rule.id!r} (also in {seen[rule.id]})", file=where)
            seen[rule.id] = where
            rules.append(rule)
    ids = {r.id for r in rules}
    for r in rules:
        if r.correlation is not None:
            missing = [b for b in r.correlation.base if b not in ids]
            if missing:
                raise ValidationError(f"correlation names unknown rule(s) {missing}", file=r.path)
    wanted = set(only)
    if wanted:
        unknown = wanted - ids
        if unknown:
            raise ValidationError(f"unknown rule id(s): {', '.join(sorted(unknown))}")
        keep = set(wanted)
        for r in rules:
            if r.id in wanted and r.correlation is not None:
                keep.update(r.correlation.base)
        rules = [r for r in rules if r.id in keep]
    return RulePack(tuple(rules), tuple(w for w, _ in files), tuple(colls))
