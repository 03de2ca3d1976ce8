"""What every reporter shares: the order findings are shown in, sections, evidence and summary text."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from kapsec.model.findings import Evidence, Finding, Report, Severity, Status

# Most actionable first.
STATUS_ORDER = {Status.FAIL: 0, Status.WARN: 1, Status.SKIP: 2, Status.PASS: 3}
STATUS_LABEL = {Status.FAIL: "FAIL", Status.WARN: "WARN", Status.SKIP: "SKIP", Status.PASS: "PASS"}


def section_of(finding: Finding) -> str:
    """The group a finding is shown in: its id without the last ``-`` or ``.`` component.

    Check ids are grouped by prefix (``APISERVER-001`` -> ``APISERVER``, ``1.2.1`` -> ``1.2``);
    an id without a separator stands in a section of its own name.
    """
    cut = max(finding.id.rfind("-"), finding.id.rfind("."))
    return finding.id[:cut] if cut > 0 else finding.id


def sort_key(finding: Finding) -> tuple[int, int, str]:
    return (STATUS_ORDER[finding.status], -int(finding.severity), finding.id)


def grouped(findings: Sequence[Finding]) -> list[tuple[str, list[Finding]]]:
    """Sections in first-seen order, each with its findings ordered by status, severity, then id."""
    sections: dict[str, list[Finding]] = {}
    for f in findings:
        sections.setdefault(section_of(f), []).append(f)
    return [(name, sorted(items, key=sort_key)) for name, items in sections.items()]


def location(evidence: Evidence) -> str:
    """``file:line`` (or ``file``, or empty)."""
    if not evidence.file:
        return ""
    return f"{evidence.file}:{evidence.line}" if evidence.line is not None else evidence.file


def flag_value(evidence: Evidence) -> str:
    """``--flag=value``, ``--flag`` (not set / bare), or the value alone."""
    if evidence.flag and evidence.value is not None:
        return f"{evidence.flag}={evidence.value}"
    if evidence.flag:
        return evidence.flag
    return evidence.value or ""


def evidence_text(evidence: Evidence) -> str:
    """One line: ``file:line  --flag=value  (detail)``, parts left out when unknown."""
    parts = [p for p in (location(evidence), flag_value(evidence)) if p]
    if evidence.detail:
        parts.append(f"({evidence.detail})")
    return "  ".join(parts)


def summary_line(report: Report) -> str:
    """``3 failed (1 critical, 2 high), 1 warning, 0 skipped, 4 passed; 8 checks``."""
    s = report.summary()
    by_sev = Counter(f.severity for f in report.findings if f.status is Status.FAIL)
    failed = f"{s['fail']} failed"
    if by_sev:
        parts = [f"{by_sev[sev]} {sev.label}" for sev in sorted(by_sev, reverse=True)]
        failed += f" ({', '.join(parts)})"
    warnings = f"{s['warn']} warning" + ("" if s["warn"] == 1 else "s")
    checks = f"{s['total']} check" + ("" if s["total"] == 1 else "s")
    return f"{failed}, {warnings}, {s['skip']} skipped, {s['pass']} passed; {checks}"


def target_text(report: Report) -> str:
    """The target mapping as ``key: value`` pairs in their order (strings and numbers only)."""
    parts = []
    for key, value in report.target.items():
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            parts.append(f"{key}: {value}")
        elif isinstance(value, bool):
            parts.append(f"{key}: {'yes' if value else 'no'}")
    return ", ".join(parts)


def benchmark_text(finding: Finding) -> str:
    return ", ".join(f"{k} {v}" for k, v in finding.benchmarks.items())


SEVERITIES_DESC = sorted(Severity, reverse=True)
