"""The check catalog: YAML shipped in the package, validated when it loads.

Every check has a stable id (``PREFIX-NNN``, grouped by prefix, never reused), a title,
severity, rationale, remediation, fix safety, references, its CIS Kubernetes Benchmark ids
(1.8 to 1.12) and, where it has one, the hardening-checklist item it covers. The ``rule`` is
one operator from a closed set (see :data:`OPERATORS`); unknown keys, unknown operators,
bad arguments and duplicate ids fail at load time with the file and line.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from kapsec.errors import KapsecError, ValidationError
from kapsec.model.findings import FixSafety, Severity
from kapsec.sources.yamlmarks import MarkedList, MarkedMap, load_documents

CHECKLIST_ITEMS: dict[str, str] = {
    "audit-logging": "Audit logging enabled and configured (policy, log path, mounted log directory)",
    "log-rotation": "Audit log rotation configured (maxage, maxbackup, maxsize)",
    "rbac": "Authorization uses Node and RBAC",
    "tls": "TLS certificates present, valid and not expiring within 30 days",
    "anonymous-auth": "Anonymous authentication disabled (or limited to health endpoints)",
    "privileged-containers": "Privileged containers restricted",
    "admission-plugins": "Admission plugins: NodeRestriction, NamespaceLifecycle, PodSecurity active",
    "etcd-tls": "etcd communication over TLS with certificate, key and CA",
    "encryption-at-rest": "Secrets encrypted at rest by the first provider",
    "network-policies": "Network policies implemented",
    "pod-security-standards": "Pod Security Standards enforced",
}

BENCHMARKS = ("cis-1.8", "cis-1.9", "cis-1.10", "cis-1.11", "cis-1.12")

# operator -> (required argument keys, optional argument keys)
OPERATORS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "flag_bool": (frozenset({"flag", "expect"}), frozenset()),
    "flag_set": (frozenset({"flags"}), frozenset()),
    "flag_unset": (frozenset({"flag"}), frozenset()),
    "flag_int_gte": (frozenset({"flag", "min"}), frozenset({"skip_when"})),
    "plugin_on": (frozenset({"plugin"}), frozenset({"absent"})),
    "plugin_off": (frozenset({"plugin"}), frozenset()),
    "authz_includes": (frozenset({"mode"}), frozenset()),
    "authz_excludes": (frozenset({"mode"}), frozenset()),
    "file_mode": (frozenset({"target", "max"}), frozenset({"max_by_benchmark"})),
    "file_owner": (frozenset({"target", "owner"}), frozenset()),
    "predicate": (frozenset({"name"}), frozenset()),
}

_CHECK_KEYS = frozenset(
    {
        "id",
        "title",
        "severity",
        "checklist",
        "cis",
        "cis_manual",
        "benchmarks",
        "rationale",
        "remediation",
        "fix",
        "references",
        "rule",
        "doc",
        "aliases",
    }
)
_REQUIRED = frozenset({"id", "title", "severity", "rationale", "remediation", "fix", "rule", "doc"})
_DOC_KEYS = frozenset({"checks", "example", "other_tools", "limits"})
_ID_PREFIXES = (
    "FILE",
    "AUTHN",
    "AUTHZ",
    "ADM",
    "API",
    "AUDIT",
    "TLS",
    "ETCD",
    "ENC",
    "SA",
    "KUBELET",
    "FLAG",
    "PRIV",
    "NET",
    "PSS",
)


@dataclass(frozen=True)
class Rule:
    op: str
    args: Mapping[str, Any]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    severity: Severity
    rationale: str
    remediation: str
    fix_safety: FixSafety
    rule: Rule
    doc: Mapping[str, str]
    checklist: str | None = None
    cis: str | None = None  # id in CIS 1.12 (kube-bench cfg/cis-1.12)
    cis_manual: bool = False
    benchmarks: Mapping[str, str] = field(default_factory=dict)
    references: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    source: str = ""


class CatalogError(ValidationError):
    """The shipped (or a user-supplied) catalog is invalid."""


def _fail(msg: str, file: str, line: int | None, fld: str | None = None) -> CatalogError:
    return CatalogError(msg, file=file, line=line, field=fld)


def _text(m: MarkedMap, key: str, file: str) -> str:
    v = m.get(key)
    if not isinstance(v, str) or not v.strip():
        raise _fail(f"{key} must be a non-empty string", file, m.key_line(key), key)
    return " ".join(v.split()) if key != "remediation" else v.strip()


def parse_check(m: Any, file: str, valid_predicates: frozenset[str] | None = None) -> Check:
    if not isinstance(m, MarkedMap):
        raise _fail("each check must be a mapping", file, getattr(m, "line", None))
    unknown = sorted(set(m) - _CHECK_KEYS)
    if unknown:
        raise _fail(f"unknown key {unknown[0]!r}", file, m.key_line(unknown[0]), unknown[0])
    missing = sorted(_REQUIRED - set(m))
    if missing:
        raise _fail(f"missing key {missing[0]!r}", file, m.line, missing[0])
    cid = m["id"]
    if not isinstance(cid, str) or "-" not in cid or cid.split("-")[0] not in _ID_PREFIXES:
        raise _fail(f"id {cid!r} must be PREFIX-NNN with a known prefix", file, m.key_line("id"), "id")
    try:
        sev = Severity.parse(str(m["severity"]))
    except ValueError as exc:
        raise _fail(str(exc), file, m.key_line("severity"), "severity") from None
    fix = m["fix"]
    if not isinstance(fix, MarkedMap) or set(fix) != {"safety"}:
        raise _fail("fix must be {safety: ...}", file, m.key_line("fix"), "fix")
    try:
        safety = FixSafety(fix["safety"])
    except ValueError:
        allowed = ", ".join(s.value for s in FixSafety)
        raise _fail(
            f"fix.safety {fix['safety']!r} is not one of {allowed}",
            file,
            fix.key_line("safety"),
            "fix.safety",
        ) from None
    checklist = m.get("checklist")
    if checklist is not None and checklist not in CHECKLIST_ITEMS:
        raise _fail(f"unknown checklist item {checklist!r}", file, m.key_line("checklist"), "checklist")
    rule = m["rule"]
    if not isinstance(rule, MarkedMap) or len(rule) != 1:
        raise _fail("rule must have exactly one operator", file, m.key_line("rule"), "rule")
    op, args = next(iter(rule.items()))
    if op not in OPERATORS:
        raise _fail(
            f"unknown operator {op!r} (known: {', '.join(sorted(OPERATORS))})",
            file,
            rule.key_line(op),
            "rule",
        )
    if not isinstance(args, MarkedMap):
        raise _fail(f"arguments of {op} must be a mapping", file, rule.key_line(op), f"rule.{op}")
    need, optional = OPERATORS[op]
    extra = sorted(set(args) - need - optional)
    if extra:
        raise _fail(f"unknown argument {extra[0]!r} for {op}", file, args.key_line(extra[0]), f"rule.{op}")
    lacking = sorted(need - set(args))
    if lacking:
        raise _fail(f"{op} needs {lacking[0]!r}", file, args.line, f"rule.{op}")
    if "skip_when" in args:
        sw = args["skip_when"]
        if not isinstance(sw, dict) or set(sw) != {"flag", "value", "reason"}:
            raise _fail(
                "skip_when needs exactly flag, value and reason",
                file,
                args.key_line("skip_when"),
                f"rule.{op}.skip_when",
            )
    if op == "predicate" and valid_predicates is not None and args["name"] not in valid_predicates:
        raise _fail(f"unknown predicate {args['name']!r}", file, args.key_line("name"), "rule.predicate.name")
    if op == "file_mode":
        per = args.get("max_by_benchmark") or {}
        if not isinstance(per, dict) or any(k not in BENCHMARKS for k in per):
            raise _fail(
                f"max_by_benchmark keys must be among {', '.join(BENCHMARKS)}",
                file,
                args.key_line("max_by_benchmark"),
                "rule.file_mode.max_by_benchmark",
            )
        try:
            for value in (args["max"], *per.values()):
                int(str(value), 8)
        except ValueError:
            raise _fail(
                f"file_mode max {value!r} is not an octal mode",
                file,
                args.key_line("max"),
                "rule.file_mode.max",
            ) from None
    doc = m["doc"]
    if not isinstance(doc, MarkedMap) or "checks" not in doc:
        raise _fail("doc must be a mapping with at least 'checks'", file, m.key_line("doc"), "doc")
    bad = sorted(set(doc) - _DOC_KEYS)
    if bad:
        raise _fail(f"unknown doc section {bad[0]!r}", file, doc.key_line(bad[0]), "doc")
    benchmarks = m.get("benchmarks") or {}
    if not isinstance(benchmarks, Mapping) or any(k not in BENCHMARKS for k in benchmarks):
        raise _fail(
            f"benchmarks keys must be among {', '.join(BENCHMARKS)}",
            file,
            m.key_line("benchmarks"),
            "benchmarks",
        )
    refs = m.get("references") or []
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise _fail("references must be a list of strings", file, m.key_line("references"), "references")
    return Check(
        id=cid,
        title=_text(m, "title", file),
        severity=sev,
        rationale=_text(m, "rationale", file),
        remediation=_text(m, "remediation", file),
        fix_safety=safety,
        rule=Rule(op, dict(args)),
        doc={k: str(v).strip() for k, v in doc.items()},
        checklist=checklist,
        cis=str(m["cis"]) if m.get("cis") is not None else None,
        cis_manual=bool(m.get("cis_manual", False)),
        benchmarks={str(k): str(v) for k, v in benchmarks.items()},
        references=tuple(refs),
        aliases=tuple(m.get("aliases") or ()),
        source=f"{file}:{m.line}",
    )


def parse_catalog(
    texts: Mapping[str, str], valid_predicates: frozenset[str] | None = None
) -> tuple[Check, ...]:
    """Parse and validate catalog files (name -> YAML text); raise :class:`CatalogError`."""
    checks: list[Check] = []
    seen: dict[str, str] = {}
    for name, text in texts.items():
        try:
            docs = load_documents(text, name)
        except KapsecError as exc:
            raise CatalogError(exc.message, file=exc.file, line=exc.line) from exc
        if len(docs) != 1 or not isinstance(docs[0], MarkedMap) or set(docs[0]) != {"checks"}:
            raise _fail("a catalog file is one document with a single 'checks' list", name, 1)
        items = docs[0]["checks"]
        if not isinstance(items, MarkedList):
            raise _fail("'checks' must be a list", name, docs[0].key_line("checks"), "checks")
        for item in items:
            c = parse_check(item, name, valid_predicates)
            for key in (c.id, *c.aliases):
                if key in seen:
                    raise _fail(f"duplicate check id {key!r} (first at {seen[key]})", name, item.line, "id")
                seen[key] = c.source
            checks.append(c)
    return tuple(checks)


@functools.cache
def load_catalog() -> tuple[Check, ...]:
    """The catalog shipped in ``kapsec/checks/catalog/*.yaml``, in file then definition order."""
    from kapsec.checks.predicates import PREDICATES

    base = resources.files("kapsec.checks") / "catalog"
    texts = {
        f"catalog/{entry.name}": entry.read_text(encoding="utf-8")
        for entry in sorted(base.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml")
    }
    return parse_catalog(texts, frozenset(PREDICATES))


def by_id(check_id: str) -> Check | None:
    wanted = check_id.strip().upper()
    for c in load_catalog():
        if c.id == wanted or wanted in (a.upper() for a in c.aliases):
            return c
        if c.cis and wanted in (c.cis, f"CIS-{c.cis}"):
            return c
    return None
