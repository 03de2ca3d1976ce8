"""Reporters: exact outputs (golden files), the SARIF 2.1.0 schema, JUnit structure, Markdown tables."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from helpers import DATA
from kapsec.cli.common import OutputFormat
from kapsec.model.findings import Evidence, Finding, Report, Severity, Status
from kapsec.report import ReportFormat, render
from kapsec.report import text as text_reporter
from kapsec.report.common import section_of, summary_line
from kapsec.report.sarif import artifact_uri
from report.report_sample import MANIFEST, empty_report, sample_report

GOLDEN = DATA / "report"
EXT = {"text": "txt", "json": "json", "sarif": "sarif", "junit": "xml", "markdown": "md", "html": "html"}
SARIF_SCHEMA = json.loads((GOLDEN / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))


def golden(name: str, actual: str) -> str:
    """The golden file's text; KAPSEC_UPDATE_GOLDEN=1 rewrites it from ``actual`` first."""
    path = GOLDEN / name
    if os.environ.get("KAPSEC_UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", list(EXT))
def test_report_output_matches_golden(fmt: str, report: Report) -> None:
    out = render(report, fmt, color=False)
    assert out == golden(f"golden-sample.{EXT[fmt]}", out)


@pytest.mark.parametrize("fmt", list(EXT))
def test_report_empty_report_renders(fmt: str) -> None:
    out = render(empty_report(), fmt, color=False)
    assert out == golden(f"golden-empty.{EXT[fmt]}", out)


def test_report_formats_match_the_cli_choices() -> None:
    assert [f.value for f in ReportFormat] == [f.value for f in OutputFormat]


def test_report_unknown_format_is_an_error(report: Report) -> None:
    with pytest.raises(
        ValueError, match=r"unknown report format 'yaml' \(expected one of: text, json, sarif"
    ):
        render(report, "yaml")


def test_report_renderers_are_pure(report: Report) -> None:
    for fmt in EXT:
        assert render(report, fmt, color=False) == render(sample_report(), fmt, color=False)


# --- common ---


def test_report_sections_and_summary() -> None:
    def f(id_: str) -> Finding:
        return Finding(id=id_, title="t", status=Status.PASS, severity=Severity.LOW)

    assert [section_of(f(i)) for i in ("APISERVER-001", "1.2.1", "KAP-TLS-003", "solo")] == [
        "APISERVER",
        "1.2",
        "KAP-TLS",
        "solo",
    ]
    assert summary_line(sample_report()) == (
        "4 failed (1 critical, 1 high, 1 medium, 1 low), 2 warnings, 1 skipped, 3 passed; 10 checks"
    )
    assert summary_line(empty_report()) == "0 failed, 0 warnings, 0 skipped, 0 passed; 0 checks"


# --- text ---


def test_report_text_plain_has_no_escape_codes_and_colour_has(report: Report) -> None:
    plain = render(report, "text", color=False)
    assert "\x1b" not in plain
    coloured = text_reporter.render(report, color=True)
    assert "\x1b[1;31mFAIL\x1b[0m" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_report_text_colour_follows_the_terminal(report: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdout", Tty())
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" in render(report, "text")
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in render(report, "text")


def test_report_text_groups_by_section_then_status(report: Report) -> None:
    out = render(report, "text", color=False)
    heads = [line.split()[:3] for line in out.splitlines() if line.startswith("  ") and line[2:6].isupper()]
    assert heads == [
        ["FAIL", "critical", "APISERVER-003"],
        ["FAIL", "high", "APISERVER-001"],
        ["FAIL", "low", "APISERVER-004"],
        ["PASS", "critical", "APISERVER-002"],
        ["FAIL", "medium", "AUDIT-002"],
        ["WARN", "medium", "AUDIT-001"],
        ["WARN", "medium", "CLUSTER-001"],
        ["SKIP", "info", "ETCD-001"],
        ["PASS", "high", "TLS-001"],
        ["PASS", "info", "TLS-002"],
    ]
    assert f"{MANIFEST}:20  --enable-admission-plugins=NodeRestriction,AlwaysAdmit" in out
    assert out.endswith(
        "\nSummary: 4 failed (1 critical, 1 high, 1 medium, 1 low), 2 warnings, 1 skipped, 3 passed; 10 checks\n"
    )


# --- json ---


def test_report_json_is_report_to_dict(report: Report) -> None:
    doc = json.loads(render(report, "json"))
    assert doc == report.to_dict()
    assert doc["summary"] == {"pass": 3, "fail": 4, "warn": 2, "skip": 1, "total": 10}
    assert doc["findings"][0]["evidence"] == {
        "file": MANIFEST,
        "line": 14,
        "flag": "--anonymous-auth",
        "detail": "default",
    }


# --- sarif ---


def sarif_validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(SARIF_SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def test_report_sarif_validates_against_the_official_schema(report: Report) -> None:
    doc = json.loads(render(report, "sarif"))
    errors = sorted(sarif_validator().iter_errors(doc), key=lambda e: list(e.path))
    assert errors == []
    doc = json.loads(render(empty_report(), "sarif"))
    assert list(sarif_validator().iter_errors(doc)) == []


def test_report_sarif_schema_check_can_fail(report: Report) -> None:
    """The validator really validates: a wrong level and a line 0 are rejected."""
    doc = json.loads(render(report, "sarif"))
    doc["runs"][0]["results"][0]["level"] = "fatal"
    doc["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["region"]["startLine"] = (
        0  # APISERVER-003
    )
    messages = sorted(e.message for e in sarif_validator().iter_errors(doc))
    assert messages == [
        "'fatal' is not one of ['none', 'note', 'warning', 'error']",
        "0 is less than the minimum of 1",
    ]


def test_report_sarif_rules_results_levels_and_locations(report: Report) -> None:
    run = json.loads(render(report, "sarif"))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [f.id for f in report.findings]
    first = rules[0]
    assert first["shortDescription"] == {"text": "Anonymous requests are rejected"}
    assert first["help"]["text"].startswith("Set --anonymous-auth=false")
    assert first["helpUri"] == report.findings[0].references[0]
    assert first["properties"]["security-severity"] == "8.0"
    assert first["properties"]["tags"] == [
        "security",
        "kubernetes",
        "cis-1.12:1.2.1",
        "cis-1.8:1.2.1",
        "checklist:anonymous-auth",
    ]
    got = [(r["ruleId"], r["ruleIndex"], r["kind"], r["level"]) for r in run["results"]]
    assert got == [
        ("APISERVER-001", 0, "fail", "error"),
        ("APISERVER-003", 2, "fail", "error"),
        ("APISERVER-004", 3, "fail", "note"),
        ("AUDIT-001", 4, "review", "none"),
        ("AUDIT-002", 5, "fail", "warning"),
        ("CLUSTER-001", 6, "review", "none"),
    ]
    # passed and skipped checks are not alerts; the run lists them
    assert run["properties"]["notAlerted"] == [
        {"ruleId": "APISERVER-002", "status": "pass", "message": "--authorization-mode=Node,RBAC"},
        {
            "ruleId": "ETCD-001",
            "status": "skip",
            "message": "k3s embeds etcd; its peer TLS is not configured by flags",
        },
        {"ruleId": "TLS-001", "status": "pass", "message": "expires in 364 days (2027-03-01)"},
        {"ruleId": "TLS-002", "status": "pass", "message": ""},
    ]
    assert run["properties"]["summary"] == {"pass": 3, "fail": 4, "warn": 2, "skip": 1, "total": 10}
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["APISERVER-003"]["locations"] == [
        {
            "physicalLocation": {"artifactLocation": {"uri": MANIFEST}, "region": {"startLine": 20}},
            "logicalLocations": [{"name": "--enable-admission-plugins", "kind": "flag"}],
        }
    ]
    # a file without a line: no region; no evidence: the scanned file (the target's), no region
    assert by_rule["AUDIT-001"]["locations"] == [
        {"physicalLocation": {"artifactLocation": {"uri": "etc/kubernetes/audit/policy.yaml"}}}
    ]
    assert by_rule["CLUSTER-001"]["locations"] == [
        {"physicalLocation": {"artifactLocation": {"uri": MANIFEST}}}
    ]
    assert by_rule["APISERVER-001"]["message"] == {
        "text": "Anonymous requests are rejected: --anonymous-auth is not set; the API server's default is true"
    }


def test_report_sarif_result_without_any_file_has_no_location() -> None:
    f = Finding(
        id="NET-001", title="Network policies", status=Status.WARN, severity=Severity.MEDIUM, message="m"
    )
    doc = json.loads(render(Report("kapsec", "0.1.0", {"kind": "cluster"}, [f]), "sarif"))
    assert "locations" not in doc["runs"][0]["results"][0]
    assert list(sarif_validator().iter_errors(doc)) == []


def test_report_sarif_repeated_rule_is_listed_once() -> None:
    f1 = Finding(
        id="TLS-003",
        title="Cert ok",
        status=Status.FAIL,
        severity=Severity.HIGH,
        evidence=Evidence(file="/etc/kubernetes/pki/a b.crt"),
    )
    f2 = Finding(id="TLS-003", title="Cert ok", status=Status.WARN, severity=Severity.HIGH)
    doc = json.loads(render(Report("kapsec", "0.1.0", {}, [f1, f2]), "sarif"))
    run = doc["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["TLS-003"]
    assert [r["ruleIndex"] for r in run["results"]] == [0, 0]
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "file:///etc/kubernetes/pki/a%20b.crt"
    )
    assert list(sarif_validator().iter_errors(doc)) == []


def test_report_sarif_uris() -> None:
    assert artifact_uri("etc/kubernetes/x.yaml") == "etc/kubernetes/x.yaml"
    assert artifact_uri("/etc/kubernetes/x.yaml") == "file:///etc/kubernetes/x.yaml"
    assert artifact_uri("dir with space/#x.yaml") == "dir%20with%20space/%23x.yaml"


# --- junit ---


def junit_schema() -> object:
    import xmlschema

    return xmlschema.XMLSchema(str(GOLDEN / "junit-10.xsd"))


def test_report_junit_validates_against_jenkins_junit_xsd(report: Report) -> None:
    schema = junit_schema()
    for r in (report, empty_report()):
        errors = [e.reason for e in schema.iter_errors(render(r, "junit"))]  # type: ignore[attr-defined]
        assert errors == []


def test_report_junit_xsd_check_can_fail(report: Report) -> None:
    """The schema really checks: a testcase without a name and a suite without counters are rejected."""
    root = ET.fromstring(render(report, "junit"))
    case = root.find("testsuite/testcase")
    assert case is not None
    del case.attrib["name"]
    suite = root.find("testsuite")
    assert suite is not None
    del suite.attrib["failures"]
    errors = [e.reason for e in junit_schema().iter_errors(ET.tostring(root, encoding="unicode"))]  # type: ignore[attr-defined]
    assert errors == ["missing required attribute 'failures'", "missing required attribute 'name'"]


# The usual JUnit XML structure (Jenkins' junit-10.xsd / the Ant format): which children and
# attributes each element may have, and which attributes are required.
JUNIT_CHILDREN = {
    "testsuites": {"testsuite"},
    "testsuite": {"properties", "testcase", "system-out", "system-err"},
    "properties": {"property"},
    "property": set(),
    "testcase": {"skipped", "error", "failure", "system-out", "system-err"},
    "failure": set(),
    "error": set(),
    "skipped": set(),
    "system-out": set(),
    "system-err": set(),
}
JUNIT_REQUIRED = {
    "testsuite": {"name", "tests"},
    "testcase": {"name", "classname"},
    "property": {"name", "value"},
}
JUNIT_INTEGER = {"tests", "failures", "errors", "skipped"}


def check_junit_structure(elem: ET.Element) -> None:
    assert elem.tag in JUNIT_CHILDREN, elem.tag
    assert JUNIT_REQUIRED.get(elem.tag, set()) <= set(elem.attrib), (elem.tag, elem.attrib)
    for name in JUNIT_INTEGER & set(elem.attrib):
        assert elem.attrib[name].isdigit(), (elem.tag, name)
    if "time" in elem.attrib:
        float(elem.attrib["time"])
    for child in elem:
        assert child.tag in JUNIT_CHILDREN[elem.tag], (elem.tag, child.tag)
        check_junit_structure(child)
    if elem.tag == "testcase":
        results = [c.tag for c in elem if c.tag in ("failure", "error", "skipped")]
        assert len(results) <= 1


def test_report_junit_structure_and_counts(report: Report) -> None:
    out = render(report, "junit")
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')
    root = ET.fromstring(out)
    check_junit_structure(root)
    assert root.attrib == {"name": "kapsec", "tests": "10", "failures": "4", "errors": "0", "time": "0"}
    suites = root.findall("testsuite")
    assert [s.attrib["name"] for s in suites] == ["APISERVER", "AUDIT", "CLUSTER", "ETCD", "TLS"]
    for s in suites:
        cases = s.findall("testcase")
        assert s.attrib["tests"] == str(len(cases))
        assert s.attrib["failures"] == str(sum(1 for c in cases if c.find("failure") is not None))
        assert s.attrib["skipped"] == str(sum(1 for c in cases if c.find("skipped") is not None))
    cases = {c.attrib["name"].split()[0]: c for c in root.iter("testcase")}
    assert len(cases) == 10
    failure = cases["APISERVER-003"].find("failure")
    assert failure is not None
    assert failure.attrib == {
        "message": 'enabled plugins: "NodeRestriction,AlwaysAdmit" | AlwaysAdmit admits <every> request & bypasses all',
        "type": "critical",
    }
    assert failure.text == (
        f"evidence: {MANIFEST}:20  --enable-admission-plugins=NodeRestriction,AlwaysAdmit\n"
        "benchmarks: cis-1.12 1.2.9\n"
        "remediation: Remove AlwaysAdmit from --enable-admission-plugins."
    )
    skipped = cases["CLUSTER-001"].find("skipped")
    assert skipped is not None
    assert skipped.attrib == {"message": "warn: needs a live cluster (run with --cluster)"}
    skipped = cases["ETCD-001"].find("skipped")
    assert skipped is not None
    assert skipped.attrib == {"message": "skip: k3s embeds etcd; its peer TLS is not configured by flags"}
    assert list(cases["TLS-002"]) == [cases["TLS-002"].find("system-out")]
    assert cases["APISERVER-002"].attrib["classname"] == "kapsec.APISERVER"


def test_report_junit_empty_report_is_valid() -> None:
    root = ET.fromstring(render(empty_report(), "junit"))
    check_junit_structure(root)
    assert root.attrib["tests"] == "0"
    assert list(root) == []


# --- markdown ---


def table_cells(line: str) -> list[str]:
    """Split a GFM table row on unescaped pipes."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def test_report_markdown_tables_are_well_formed(report: Report) -> None:
    out = render(report, "markdown")
    rows = [line for line in out.splitlines() if line.startswith("|")]
    assert rows
    assert {len(table_cells(r)) for r in rows} == {6}
    assert out.splitlines()[0] == (
        "### kapsec 0.1.0: 4 failed (1 critical, 1 high, 1 medium, 1 low), 2 warnings, 1 skipped, 3 passed; 10 checks"
    )
    row = next(r for r in rows if "APISERVER-003" in r)
    assert table_cells(row) == [
        "❌ fail",
        "critical",
        "`APISERVER-003`",
        "AlwaysAdmit admission plugin is not enabled",
        f"`{MANIFEST}:20  --enable-admission-plugins=NodeRestriction,AlwaysAdmit`",
        'enabled plugins: "NodeRestriction,AlwaysAdmit" \\| AlwaysAdmit admits &lt;every&gt; request &amp; bypasses all',
    ]


def test_report_markdown_pipes_in_code_and_newlines_are_escaped() -> None:
    f = Finding(
        id="X-1",
        title="a|b",
        status=Status.FAIL,
        severity=Severity.HIGH,
        message="line one\nline two",
        evidence=Evidence(file="f.yaml", line=3, flag="--x", value="a|b"),
    )
    out = render(Report("kapsec", "0.1.0", {}, [f]), "markdown")
    row = next(line for line in out.splitlines() if line.startswith("| ❌"))
    assert table_cells(row) == [
        "❌ fail",
        "high",
        "`X-1`",
        "a\\|b",
        "`f.yaml:3  --x=a\\|b`",
        "line one<br>line two",
    ]


def test_report_text_fix_is_the_first_paragraph_of_the_remediation() -> None:
    f = Finding(
        id="X-1",
        title="t",
        status=Status.FAIL,
        severity=Severity.HIGH,
        remediation="Either set --allow-privileged=false (this stops\nkube-proxy and most CNIs).\n\nOr enforce baseline.",
    )
    out = render(Report("kapsec", "0.1.0", {}, [f]), "text", color=False)
    assert "fix: Either set --allow-privileged=false (this stops kube-proxy and most CNIs).\n" in out
    assert "Or enforce baseline" not in out


def test_report_sarif_places_node_paths_under_the_scan_root() -> None:
    f = Finding(
        id="AUDIT-001",
        title="Audit log path is set",
        status=Status.FAIL,
        severity=Severity.HIGH,
        evidence=Evidence(
            file="/etc/kubernetes/manifests/kube-apiserver.yaml", line=12, flag="--audit-log-path"
        ),
    )
    for root, uri in (
        ("nodes/cp1", "nodes/cp1/etc/kubernetes/manifests/kube-apiserver.yaml"),
        ("/srv/node copy", "file:///srv/node%20copy/etc/kubernetes/manifests/kube-apiserver.yaml"),
        (None, "file:///etc/kubernetes/manifests/kube-apiserver.yaml"),
    ):
        target = {"kind": "kube-apiserver"} | ({"root": root} if root else {})
        doc = json.loads(render(Report("kapsec", "0.1.0", target, [f]), "sarif"))
        loc = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
        assert loc == {"artifactLocation": {"uri": uri}, "region": {"startLine": 12}}
        assert list(sarif_validator().iter_errors(doc)) == []


def test_report_sarif_help_uri_is_the_first_url_reference() -> None:
    def rule(refs: tuple[str, ...]) -> dict:  # type: ignore[type-arg]
        f = Finding(id="X-1", title="t", status=Status.FAIL, severity=Severity.LOW, references=refs)
        return json.loads(render(Report("kapsec", "0.1.0", {}, [f]), "sarif"))["runs"][0]["tool"]["driver"][
            "rules"
        ][0]  # type: ignore[no-any-return]

    assert (
        rule(("CIS Kubernetes Benchmark 1.12, 1.2.1", "https://example.org/a")).get("helpUri")
        == "https://example.org/a"
    )
    assert "helpUri" not in rule(("CIS Kubernetes Benchmark 1.12, 1.2.1",))
