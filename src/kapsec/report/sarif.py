"""SARIF 2.1.0 reporter (OASIS Static Analysis Results Interchange Format).

One run; one rule per check that ran (title, help text from the remediation, default level from
the severity, GitHub's ``security-severity``). Failed findings are results of ``kind: fail`` with
a level from the severity; findings that could not be evaluated are ``kind: review`` (level
``none``, SARIF §3.27.9). Passed and skipped checks are not results: code scanning services
(GitHub's among them) ignore ``kind`` and would raise an alert for every passed check, so they are
listed in the run's ``properties.notAlerted`` instead (the JSON output has every finding). Each
result has a physical location (file and line) from its evidence, or the scanned file when the
evidence has none, and the flag as a logical location. Validated in tests against the official
schema (tests/data/report/sarif-schema-2.1.0.json).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from kapsec.model.findings import Finding, Report, Severity, Status

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub code scanning reads properties["security-severity"]: >= 9 critical, 7-8.9 high, 4-6.9 medium.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
KIND = {Status.FAIL: "fail", Status.WARN: "review", Status.SKIP: "notApplicable", Status.PASS: "pass"}
ALERTED = (Status.FAIL, Status.WARN)


def artifact_uri(path: str) -> str:
    """A URI reference for a file path: absolute paths become ``file://`` URIs, relative stay relative."""
    posix = path.replace("\\", "/")
    if PurePosixPath(posix).is_absolute():
        return "file://" + quote(posix)
    return quote(posix)


def evidence_uri(path: str, root: object = None) -> str:
    """The URI of an evidence file. With a node root (``scan --root DIR``), an absolute node path is
    placed under it (``/etc/x`` with root ``node`` -> ``node/etc/x``), so that a scan run from a
    repository holding the node's files points code scanning at the files in the repository."""
    posix = path.replace("\\", "/")
    if isinstance(root, str) and root and PurePosixPath(posix).is_absolute():
        posix = str(PurePosixPath(root.replace("\\", "/")) / posix.lstrip("/"))
    return artifact_uri(posix)


def _rule(f: Finding) -> dict[str, Any]:
    tags = ["security", "kubernetes"]
    tags += [f"{k}:{v}" for k, v in f.benchmarks.items()]
    if f.checklist:
        tags.append(f"checklist:{f.checklist}")
    help_text = f.remediation.strip() or f.title
    props: dict[str, Any] = {
        "tags": tags,
        "security-severity": SECURITY_SEVERITY[f.severity],
        "severity": f.severity.label,
        "fixSafety": f.fix_safety.value,
    }
    if f.benchmarks:
        props["benchmarks"] = dict(f.benchmarks)
    rule: dict[str, Any] = {
        "id": f.id,
        "name": "".join(w[:1].upper() + w[1:] for w in f.title.replace("-", " ").split() if w.isalnum()),
        "shortDescription": {"text": f.title},
        "fullDescription": {"text": f.title},
        "help": {"text": help_text, "markdown": help_text},
        "defaultConfiguration": {"level": LEVEL[f.severity]},
        "properties": props,
    }
    if not rule["name"]:
        del rule["name"]
    urls = [r for r in f.references if r.startswith(("https://", "http://"))]
    if urls:  # helpUri must be a URI; references may also be plain citations
        rule["helpUri"] = urls[0]
    return rule


def _result(f: Finding, rule_index: int, target: Mapping[str, Any]) -> dict[str, Any]:
    text = f"{f.title}: {f.message}" if f.message else f.title
    result: dict[str, Any] = {
        "ruleId": f.id,
        "ruleIndex": rule_index,
        "kind": KIND[f.status],
        "level": LEVEL[f.severity] if f.status is Status.FAIL else "none",
        "message": {"text": text},
    }
    ev = f.evidence
    root = target.get("root")
    loc: dict[str, Any] = {}
    if ev.file:
        physical: dict[str, Any] = {"artifactLocation": {"uri": evidence_uri(ev.file, root)}}
        if ev.line is not None and ev.line >= 1:
            physical["region"] = {"startLine": ev.line}
        loc["physicalLocation"] = physical
    elif isinstance(target.get("file"), str) and target["file"]:
        # Code scanning needs a location for every result: fall back to the file that was scanned.
        loc["physicalLocation"] = {"artifactLocation": {"uri": evidence_uri(target["file"], root)}}
    if ev.flag:
        loc["logicalLocations"] = [{"name": ev.flag, "kind": "flag"}]
    if loc:
        result["locations"] = [loc]
    props: dict[str, Any] = {"status": f.status.value, "severity": f.severity.label}
    evidence = ev.to_dict()
    if evidence:
        props["evidence"] = evidence
    if f.checklist:
        props["checklist"] = f.checklist
    result["properties"] = props
    return result


def to_sarif(report: Report) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for f in report.findings:
        if f.id not in index:
            index[f.id] = len(rules)
            rules.append(_rule(f))
    driver: dict[str, Any] = {
        "name": report.tool,
        "version": report.version,
        "semanticVersion": report.version,
        "rules": rules,
    }
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "results": [_result(f, index[f.id], report.target) for f in report.findings if f.status in ALERTED],
        "columnKind": "unicodeCodePoints",
        "properties": {
            "target": dict(report.target),
            "summary": report.summary(),
            "notAlerted": [
                {"ruleId": f.id, "status": f.status.value, "message": f.message}
                for f in report.findings
                if f.status not in ALERTED
            ],
        },
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(report: Report) -> str:
    return json.dumps(to_sarif(report), indent=2, ensure_ascii=False) + "\n"
