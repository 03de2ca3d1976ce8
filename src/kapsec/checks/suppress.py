"""Suppressions: accepted findings, each naming a check id and a reason.

A suppression file is YAML::

    suppressions:
    - id: KUBELET-002
      reason: kubelet serving certificates are not signed by our CA yet (OPS-1234)

A suppressed finding keeps its place in the report with status ``skip`` and the reason; a
suppression that matched no failing or warning finding is itself reported (``warn``), so stale
suppressions do not pile up. Unknown ids and missing reasons fail when the file loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from kapsec.checks.catalog import Check, by_id
from kapsec.errors import ValidationError
from kapsec.model.findings import Evidence, Finding, Severity, Status
from kapsec.sources.yamlmarks import MarkedList, MarkedMap, load_documents, read_text

UNUSED_ID = "SUPPRESS-001"


@dataclass(frozen=True)
class Suppression:
    check_id: str
    reason: str
    file: str
    line: int


def parse_suppressions(text: str, name: str) -> list[Suppression]:
    docs = load_documents(text, name)
    if not docs:
        return []
    doc = docs[0]
    if len(docs) != 1 or not isinstance(doc, MarkedMap) or set(doc) != {"suppressions"}:
        raise ValidationError(
            "a suppression file is one document with a single 'suppressions' list", file=name, line=1
        )
    items = doc["suppressions"]
    if not isinstance(items, MarkedList):
        raise ValidationError("'suppressions' must be a list", file=name, line=doc.key_line("suppressions"))
    out: list[Suppression] = []
    for i, item in enumerate(items):
        line = items.item_line(i)
        if not isinstance(item, MarkedMap):
            raise ValidationError("each suppression is a mapping with id and reason", file=name, line=line)
        extra = sorted(set(item) - {"id", "reason"})
        if extra:
            raise ValidationError(f"unknown key {extra[0]!r}", file=name, line=item.key_line(extra[0]))
        cid = str(item.get("id", "")).strip()
        reason = " ".join(str(item.get("reason", "")).split())
        check: Check | None = by_id(cid) if cid else None
        if check is None:
            raise ValidationError(
                f"unknown check id {cid!r} (see kapsec checks list)", file=name, line=line, field="id"
            )
        if not reason:
            raise ValidationError(
                f"the suppression of {check.id} needs a reason", file=name, line=line, field="reason"
            )
        out.append(Suppression(check.id, reason, name, line))
    return out


def load_suppressions(path: str) -> list[Suppression]:
    return parse_suppressions(read_text(path), path)


def apply_suppressions(findings: Sequence[Finding], suppressions: Sequence[Suppression]) -> list[Finding]:
    """Suppressed fail/warn findings become ``skip``; unused suppressions become ``warn`` findings."""
    by_check = {s.check_id: s for s in suppressions}
    used: set[str] = set()
    out: list[Finding] = []
    for f in findings:
        s = by_check.get(f.id)
        if s is not None and f.status in (Status.FAIL, Status.WARN):
            used.add(s.check_id)
            out.append(
                replace(
                    f,
                    status=Status.SKIP,
                    message=f"suppressed: {s.reason} (was {f.status.value}: {f.message})",
                )
            )
        else:
            out.append(f)
    for s in suppressions:
        if s.check_id not in used:
            out.append(
                Finding(
                    id=UNUSED_ID,
                    title="Every suppression is still needed",
                    status=Status.WARN,
                    severity=Severity.LOW,
                    message=f"the suppression of {s.check_id} matched no failing or warning finding: remove it",
                    evidence=Evidence(file=s.file, line=s.line, detail=s.reason),
                    remediation=f"Delete the {s.check_id} entry from {s.file}.",
                )
            )
    return out
