"""Findings and reports: the contract between checks and reporters.

The JSON form (``Report.to_dict``) is the schema documented in DESIGN.md; SARIF, JUnit,
Markdown and text reporters render the same objects.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class Status(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"  # could not be evaluated; the reason says why
    SKIP = "skip"  # not applicable; the reason says why


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None


class FixSafety(enum.Enum):
    SAFE = "safe"
    NEEDS_RESTART = "needs-restart"
    RISKY = "risky"
    MANUAL = "manual"


@dataclass(frozen=True)
class Evidence:
    """Where a finding comes from: the file and line, and the flag and value seen there."""

    file: str | None = None
    line: int | None = None
    flag: str | None = None
    value: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Finding:
    id: str
    title: str
    status: Status
    severity: Severity
    message: str = ""
    benchmarks: Mapping[str, str] = field(default_factory=dict)
    checklist: str | None = None
    evidence: Evidence = field(default_factory=Evidence)
    remediation: str = ""
    fix_safety: FixSafety = FixSafety.MANUAL
    references: Sequence[str] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "severity": self.severity.label,
            "message": self.message,
            "benchmarks": dict(self.benchmarks),
            "checklist": self.checklist,
            "evidence": self.evidence.to_dict(),
            "remediation": self.remediation,
            "fix": {"safety": self.fix_safety.value},
        }
        if self.references:
            d["references"] = list(self.references)
        return d


@dataclass(frozen=True)
class Report:
    tool: str
    version: str
    target: Mapping[str, Any]
    findings: Sequence[Finding]

    def summary(self) -> dict[str, int]:
        counts = Counter(f.status.value for f in self.findings)
        return {s.value: counts.get(s.value, 0) for s in Status} | {"total": len(self.findings)}

    def failed_at_or_above(self, threshold: Severity | None) -> list[Finding]:
        """Failed findings at or above ``threshold``; ``None`` means never (``--fail-on never``)."""
        if threshold is None:
            return []
        return [f for f in self.findings if f.status is Status.FAIL and f.severity >= threshold]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": {"name": self.tool, "version": self.version},
            "target": dict(self.target),
            "findings": [f.to_dict() for f in self.findings],
            "summary": self.summary(),
        }
