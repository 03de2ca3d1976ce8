"""JUnit XML reporter, as CI systems (Jenkins, GitLab, GitHub test reporters) read it.

``<testsuites>`` holds one ``<testsuite>`` per section; each finding is a ``<testcase>``: ``fail``
adds a ``<failure>`` (type = severity, message = the finding's message, body = evidence and
remediation), ``warn`` and ``skip`` add a ``<skipped>`` with the reason, ``pass`` has no child.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from kapsec.model.findings import Finding, Report, Status
from kapsec.report.common import benchmark_text, evidence_text, grouped, target_text


def _case(suite: ET.Element, section: str, f: Finding, tool: str) -> None:
    case = ET.SubElement(
        suite, "testcase", {"classname": f"{tool}.{section}", "name": f"{f.id} {f.title}", "time": "0"}
    )
    if f.status is Status.FAIL:
        body = []
        ev = evidence_text(f.evidence)
        if ev:
            body.append(f"evidence: {ev}")
        if f.benchmarks:
            body.append(f"benchmarks: {benchmark_text(f)}")
        if f.remediation:
            body.append(f"remediation: {f.remediation.strip()}")
        failure = ET.SubElement(case, "failure", {"message": f.message or f.title, "type": f.severity.label})
        failure.text = "\n".join(body) if body else None
    elif f.status in (Status.WARN, Status.SKIP):
        reason = f.message or "no reason given"
        ET.SubElement(case, "skipped", {"message": f"{f.status.value}: {reason}"})
    ev = evidence_text(f.evidence)
    if f.status is not Status.FAIL and ev:
        out = ET.SubElement(case, "system-out")
        out.text = f"evidence: {ev}"


def to_element(report: Report) -> ET.Element:
    summary = report.summary()
    root = ET.Element(
        "testsuites",
        {
            "name": report.tool,
            "tests": str(summary["total"]),
            "failures": str(summary["fail"]),
            "errors": "0",
            "time": "0",
        },  # no "skipped" here: Jenkins' junit-10.xsd allows it on <testsuite> only
    )
    for section, findings in grouped(report.findings):
        counts = {s: sum(1 for f in findings if f.status is s) for s in Status}
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": section,
                "tests": str(len(findings)),
                "failures": str(counts[Status.FAIL]),
                "errors": "0",
                "skipped": str(counts[Status.WARN] + counts[Status.SKIP]),
                "time": "0",
            },
        )
        target = target_text(report)
        if target:
            props = ET.SubElement(suite, "properties")
            for key, value in report.target.items():
                if isinstance(value, (str, int, float)):
                    ET.SubElement(props, "property", {"name": f"target.{key}", "value": str(value)})
        for f in findings:
            _case(suite, section, f, report.tool)
    return root


# Characters XML 1.0 cannot carry, even escaped (control characters a log or file may hold).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    """``text`` with each character XML cannot carry written as a visible ``\\xNN`` escape."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _sanitize(root: ET.Element) -> None:
    for el in root.iter():
        if el.text:
            el.text = _xml_safe(el.text)
        if el.tail:
            el.tail = _xml_safe(el.tail)
        for key, value in el.attrib.items():
            el.attrib[key] = _xml_safe(value)


def render(report: Report) -> str:
    root = to_element(report)
    _sanitize(root)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
