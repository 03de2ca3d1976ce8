"""NetworkPolicy coverage as findings (for reports, SARIF/JUnit and ``--fail-on``).

IDs: NETPOL-001 default-deny ingress per namespace, NETPOL-002 default-deny egress per
namespace, NETPOL-003 pods selected by no policy, NETPOL-004 policy selecting no pod, NETPOL-005
a rule allowing everything where a default deny exists, NETPOL-006 invalid policy (ignored).
Pure. The semantics are those of :mod:`kapsec.netpol.coverage` (``networking/v1/types.go``); the
finding layout is kapsec's own (model/findings.py).
"""

from __future__ import annotations

from typing import Any

from kapsec.model.findings import Evidence, Finding, FixSafety, Severity, Status
from kapsec.netpol.coverage import EGRESS, INGRESS, Coverage, NamespaceCoverage

CHECKLIST = "network-policies"
REFERENCE = "https://kubernetes.io/docs/concepts/services-networking/network-policies/#default-policies"


def _finding(fid: str, title: str, status: Status, severity: Severity, message: str, **kw: Any) -> Finding:
    return Finding(
        id=fid,
        title=title,
        status=status,
        severity=severity,
        message=message,
        checklist=CHECKLIST,
        references=(REFERENCE,),
        fix_safety=FixSafety.RISKY,
        **kw,
    )


def _names(items: list[str], limit: int = 8) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _namespace_findings(n: NamespaceCoverage) -> list[Finding]:
    out = []
    for fid, direction in (("NETPOL-001", INGRESS), ("NETPOL-002", EGRESS)):
        deny = n.default_deny[direction]
        word = direction.lower()
        if deny:
            out.append(
                _finding(
                    fid,
                    f"Namespace denies {word} by default",
                    Status.PASS,
                    Severity.MEDIUM,
                    f"namespace {n.namespace}: default-deny {word} by {', '.join(deny)}",
                    evidence=Evidence(detail=f"namespace {n.namespace}"),
                )
            )
        else:
            out.append(
                _finding(
                    fid,
                    f"Namespace denies {word} by default",
                    Status.FAIL,
                    Severity.MEDIUM,
                    f"namespace {n.namespace}: no NetworkPolicy denies {word} by default",
                    evidence=Evidence(detail=f"namespace {n.namespace}"),
                    remediation=f"kapsec netpol generate --namespace {n.namespace} --direction {word}"
                    + (" --allow-dns" if direction == EGRESS else "")
                    + " | kubectl apply -f -   (first allow what the pods need)",
                )
            )
    if n.subjects:
        unselected = [s.subject.ref for s in n.unselected()]
        what = "workload templates" if n.subjects_are_templates else "pods"
        out.append(
            _finding(
                "NETPOL-003",
                "Every pod is selected by a NetworkPolicy",
                Status.FAIL if unselected else Status.PASS,
                Severity.MEDIUM,
                f"namespace {n.namespace}: {len(unselected)} of {len(n.subjects)} {what} selected by no policy"
                + (f": {_names(unselected)}" if unselected else ""),
                evidence=Evidence(detail=f"namespace {n.namespace}"),
            )
        )
        for name in n.selecting_nothing:
            pol = next(p for p in n.policies if p.name == name)
            out.append(
                _finding(
                    "NETPOL-004",
                    "NetworkPolicy selects at least one pod",
                    Status.FAIL,
                    Severity.LOW,
                    f"{n.namespace}/{name}: podSelector {pol.selector} matches none of the {len(n.subjects)} "
                    f"{what} in the namespace (a typo in its labels leaves them unprotected)",
                    evidence=Evidence(file=pol.where.file, line=pol.where.line),
                )
            )
    for name, rule, reason, opened in n.undoing_rules:
        pol = next(p for p in n.policies if p.name == name)
        out.append(
            _finding(
                "NETPOL-005",
                "No rule allows everything where a default deny exists",
                Status.FAIL,
                Severity.HIGH,
                f"{n.namespace}/{name} {rule}: {reason}; it undoes the namespace's default deny for the "
                f"{opened} pods it selects",
                evidence=Evidence(file=pol.where.file, line=pol.where.line),
                remediation="name the peers (podSelector/namespaceSelector) and ports the pods need",
            )
        )
    return out


def coverage_findings(cov: Coverage, include_system: bool = False) -> list[Finding]:
    out: list[Finding] = []
    for n in cov.namespaces:
        if n.system and not include_system:
            continue
        out += _namespace_findings(n)
    for p in cov.problems:
        out.append(
            _finding(
                "NETPOL-006",
                "NetworkPolicy is valid",
                Status.WARN,
                Severity.MEDIUM,
                f"{p.ref}: {p.message} (the API server would reject it; ignored here)",
                evidence=Evidence(file=p.where.file, line=p.where.line),
            )
        )
    return out
