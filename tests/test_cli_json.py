"""``-o json`` everywhere, and exit codes that follow the findings.

Every command that writes output offers ``-o json``; its stdout parses as one JSON document (or
JSON lines where the help says so), so human notes can only be on stderr. Commands that produce
findings write the findings contract of DESIGN.md, SARIF that validates against the official
2.1.0 schema and JUnit XML, and honour ``--fail-on``: exit 1 exactly when a failed finding is at
or above the threshold, 0 otherwise, ``never`` always 0.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import jsonschema  # type: ignore[import-untyped]
import pytest

from helpers import DATA, run_cli
from kapsec.cli import cli

LOG = DATA / "oracle-1.36" / "audit-logs" / "moderate" / "audit.log"
SMALL_LOG = DATA / "robustness" / "audit-20.log"
POLICY = DATA / "oracle-1.36" / "audit-logs" / "policy.yaml"
RBAC = DATA / "rbac" / "demo"
SNAPSHOT = DATA / "netpol" / "snapshot.json"
ENC = DATA / "oracle-1.36" / "encryption-at-rest"
SARIF_SCHEMA = json.loads((DATA / "report" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
SEVERITIES = ["info", "low", "medium", "high", "critical"]

# The findings contract (DESIGN.md, "Findings (-o json)").
FINDINGS_SCHEMA = {
    "type": "object",
    "required": ["tool", "target", "findings", "summary"],
    "properties": {
        "tool": {
            "type": "object",
            "required": ["name", "version"],
            "properties": {"name": {"const": "kapsec"}, "version": {"type": "string"}},
        },
        "target": {"type": "object"},
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "id",
                    "title",
                    "status",
                    "severity",
                    "benchmarks",
                    "checklist",
                    "evidence",
                    "remediation",
                    "fix",
                ],
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "title": {"type": "string", "minLength": 1},
                    "status": {"enum": ["pass", "fail", "warn", "skip"]},
                    "severity": {"enum": SEVERITIES},
                    "benchmarks": {"type": "object", "additionalProperties": {"type": "string"}},
                    "checklist": {"type": ["string", "null"]},
                    "evidence": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string"},
                            "line": {"type": "integer", "minimum": 1},
                            "flag": {"type": "string"},
                        },
                    },
                    "remediation": {"type": "string"},
                    "fix": {"type": "object", "required": ["safety"]},
                },
            },
        },
        "summary": {
            "type": "object",
            "required": ["pass", "fail", "warn", "skip", "total"],
            "additionalProperties": {"type": "integer", "minimum": 0},
        },
    },
}


@dataclass(frozen=True)
class Case:
    id: str
    args: str  # {lab}, {planted}, {tmp}, {tls} placeholders; split on spaces
    code: int | None  # exact exit code; None for findings commands (derived from the findings)
    kind: str = "json"  # json | jsonl | findings


CASES = [
    Case("lab init", "lab init {tmp}/lab-json -o json", 0),
    Case("scan", "scan --root {lab}", None, "findings"),
    Case("checks list", "checks list", 0),
    Case("checks explain", "checks explain AUTHN-001", 0),
    Case("harden", "harden --root {lab}", 1),
    Case("audit-policy validate", f"audit-policy validate {POLICY}", 0),
    Case("audit-policy lint", f"audit-policy lint {POLICY}", None, "findings"),
    Case("audit-policy diff", f"audit-policy diff {POLICY} {POLICY}", 0),
    Case(
        "audit-policy explain",
        f"audit-policy explain --policy {POLICY} --user jane --verb get --resource pods",
        0,
    ),
    Case(
        "audit-policy explain --batch",
        f"audit-policy explain --policy {POLICY} --batch {DATA}/robustness/requests-good.jsonl",
        0,
        "jsonl",
    ),
    Case("audit-policy simulate", f"audit-policy simulate --policy {POLICY} {SMALL_LOG}", 0),
    Case("audit-policy generate", "audit-policy generate", 0),
    Case("audit-log query", f"audit-log query {SMALL_LOG}", 0),
    Case("audit-log summary", f"audit-log summary {SMALL_LOG}", 0),
    Case("audit-log detect", f"audit-log detect {LOG} -j 1", None, "findings"),
    Case("audit-log rbac", f"audit-log rbac --all {SMALL_LOG}", 0),
    Case("audit-log rules list", "audit-log rules list", 0),
    Case("audit-log rules export", "audit-log rules export --backend loki", 0),
    Case("rbac can-i", f"rbac can-i get pods --as jane -q -f {RBAC}", 1),
    Case(
        "rbac can-i --batch",
        f"rbac can-i -q -f {RBAC} --batch {DATA}/robustness/requests-good.jsonl",
        0,
        "jsonl",
    ),
    Case("rbac who-can", f"rbac who-can get pods -q -f {RBAC}", 0),
    Case("rbac risks", f"rbac risks -q -f {RBAC}", None, "findings"),
    Case("rbac matrix", f"rbac matrix --as jane -q -f {RBAC}", 0),
    Case("rbac check-escalation", f"rbac check-escalation --as jane -q -f {RBAC} {RBAC}/team-a.yaml", 0),
    Case("tls inspect", "tls inspect --root {planted}", None, "findings"),
    Case("tls probe", "tls probe {tls} --timeout 2", None, "findings"),
    Case("encryption generate", "encryption generate --out {tmp}/enc.yaml --force", 0),
    Case("encryption lint", f"encryption lint {ENC}/secretbox/encryption-config.yaml", None, "findings"),
    Case("encryption rotate", "encryption rotate {tmp}/rotate/encryption-config.yaml --force", 0),
    Case(
        "encryption verify",
        f"encryption verify --dump {ENC}/identity-first/etcd-secrets.json "
        f"--config {ENC}/identity-first/encryption-config.yaml",
        None,
        "findings",
    ),
    Case("pss check", f"pss check --level baseline {SNAPSHOT}", 1),
    Case("pss simulate", f"pss simulate -f {SNAPSHOT}", 0),
    Case("pss config", "pss config", 0),
    Case("netpol check", f"netpol check -f {SNAPSHOT}", None, "findings"),
    Case("netpol generate", f"netpol generate -f {SNAPSHOT}", 0),
]

# Leaf commands whose -o is not a format, with the reason.
NOT_FORMAT = {
    "snapshot": "-o names the output FILE; a snapshot is always JSON (gzip with .gz)",
    "checks docs": "writes the catalog's Markdown documentation; `checks list -o json` carries the data",
}


def _leaves(group: click.Group = cli, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name in group.list_commands(click.Context(group)):
        cmd = group.get_command(click.Context(group), name)
        assert cmd is not None, name
        if isinstance(cmd, click.Group):
            yield from _leaves(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def _output_choices(cmd: click.Command) -> list[str]:
    for p in cmd.params:
        if isinstance(p, click.Option) and "-o" in p.opts and isinstance(p.type, click.Choice):
            return [str(c) for c in p.type.choices]
    return []


class _TLSServer:
    """A TLS endpoint on 127.0.0.1 serving the lab's API server certificate."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(2)
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1024)
        except OSError:
            pass

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture(scope="module")
def where(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("json")
    lab, planted = tmp / "lab", tmp / "planted"
    assert run_cli("lab", "init", str(lab)).code == 0
    r = run_cli("lab", "init", str(planted), "--plant", "expired-cert", "--plant", "world-readable-key")
    assert r.code == 0, r.stderr
    (tmp / "rotate").mkdir()
    (tmp / "rotate" / "encryption-config.yaml").write_bytes(
        (ENC / "secretbox" / "encryption-config.yaml").read_bytes()
    )
    pki = lab / "etc" / "kubernetes" / "pki"
    server = _TLSServer(pki / "apiserver.crt", pki / "apiserver.key")
    try:
        yield {"tmp": str(tmp), "lab": str(lab), "planted": str(planted), "tls": f"127.0.0.1:{server.port}"}
    finally:
        server.stop()


def _argv(case: Case, where: dict[str, str], *extra: str) -> list[str]:
    return [a.format(**where) for a in case.args.split(" ")] + list(extra)


def test_every_command_with_output_offers_json() -> None:
    missing = []
    for name, cmd in _leaves():
        if name in NOT_FORMAT:
            continue
        if "json" not in _output_choices(cmd):
            missing.append(name)
    assert missing == []


def test_every_command_with_json_is_run_here() -> None:
    with_json = {name for name, cmd in _leaves() if "json" in _output_choices(cmd)}
    run_here = {c.id.removesuffix(" --batch") for c in CASES}
    assert with_json - run_here == set()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_json_output_parses_and_notes_stay_on_stderr(case: Case, where: dict[str, str]) -> None:
    r = run_cli(*_argv(case, where, "-o", "json"))
    if case.code is not None:
        assert r.code == case.code, r.stderr
    else:
        assert r.code in (0, 1), r.stderr
    assert r.stdout.strip(), f"no output on stdout; stderr: {r.stderr}"
    if case.kind == "jsonl":
        lines = r.stdout.splitlines()
        docs = [json.loads(line) for line in lines]
        assert all(isinstance(d, dict) for d in docs)
    else:
        doc = json.loads(r.stdout)
        assert isinstance(doc, (dict, list))
    if case.kind == "findings":
        jsonschema.validate(doc, FINDINGS_SCHEMA)
        counts = {
            s: sum(1 for f in doc["findings"] if f["status"] == s) for s in ("pass", "fail", "warn", "skip")
        }
        assert doc["summary"] == counts | {"total": len(doc["findings"])}
    # machine output stays clean of notes: nothing on stdout looks like a kapsec note
    assert "kapsec: " not in r.stdout.replace('"kapsec: ', "")


@pytest.mark.parametrize("kind", ["jsonl"])
@pytest.mark.parametrize(
    "args",
    [f"audit-log query {SMALL_LOG} --stage all", f"audit-log detect {LOG} -j 1"],
    ids=["query", "detect"],
)
def test_jsonl_is_one_object_per_line(args: str, kind: str) -> None:
    r = run_cli(*args.split(" "), "-o", kind)
    assert r.code in (0, 1), r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) > 1
    for line in lines:
        assert isinstance(json.loads(line), dict)
    if "query" in args:
        assert len(lines) == 20  # every event of the log, one line each


FINDINGS = [c for c in CASES if c.kind == "findings"]


def _expected_exit(findings: list[dict[str, object]], threshold: str) -> int:
    if threshold == "never":
        return 0
    rank = SEVERITIES.index(threshold)
    failing = [f for f in findings if f["status"] == "fail" and SEVERITIES.index(str(f["severity"])) >= rank]
    return 1 if failing else 0


@pytest.mark.parametrize("case", FINDINGS, ids=lambda c: c.id)
def test_fail_on_is_honoured(case: Case, where: dict[str, str]) -> None:
    base = run_cli(*_argv(case, where, "-o", "json"))
    findings = json.loads(base.stdout)["findings"]
    failed = sorted({str(f["severity"]) for f in findings if f["status"] == "fail"}, key=SEVERITIES.index)
    assert failed, f"{case.id}: the input should produce failed findings, else --fail-on is not exercised"
    assert base.code == _expected_exit(findings, "low")  # the default
    outcomes = {}
    for threshold in [*SEVERITIES, "never"]:
        r = run_cli(*_argv(case, where, "-o", "json", "--fail-on", threshold))
        outcomes[threshold] = r.code
    expected = {t: _expected_exit(findings, t) for t in [*SEVERITIES, "never"]}
    assert outcomes == expected, f"failed severities: {failed}"
    # the thresholds really split: one below-or-at the top severity fails, never passes
    assert outcomes[failed[-1]] == 1
    assert outcomes["never"] == 0


@pytest.mark.parametrize("case", FINDINGS, ids=lambda c: c.id)
def test_fail_on_rejects_an_unknown_severity(case: Case, where: dict[str, str]) -> None:
    r = run_cli(*_argv(case, where, "--fail-on", "severe"))
    assert r.code == 2
    assert "unknown severity 'severe' (expected one of: info, low, medium, high, critical)" in r.stderr


def test_every_command_with_findings_has_fail_on() -> None:
    """A command that can write SARIF produces findings, so it also takes --fail-on."""
    missing = []
    for name, cmd in _leaves():
        if "sarif" in _output_choices(cmd) and not any("--fail-on" in p.opts for p in cmd.params):
            missing.append(name)
    assert missing == []


@pytest.mark.parametrize("case", FINDINGS, ids=lambda c: c.id)
def test_sarif_and_junit_carry_the_same_findings(case: Case, where: dict[str, str]) -> None:
    doc = json.loads(run_cli(*_argv(case, where, "-o", "json")).stdout)
    failed = [f for f in doc["findings"] if f["status"] == "fail"]
    sarif = json.loads(run_cli(*_argv(case, where, "-o", "sarif")).stdout)
    errors = [e.message for e in jsonschema.Draft4Validator(SARIF_SCHEMA).iter_errors(sarif)]
    assert errors == []
    results = sarif["runs"][0]["results"]
    assert sorted(r["ruleId"] for r in results if r.get("kind", "fail") == "fail") == sorted(
        f["id"] for f in failed
    )
    junit = ET.fromstring(run_cli(*_argv(case, where, "-o", "junit")).stdout)
    cases = junit.findall(".//testcase")
    assert len(cases) == len(doc["findings"])
    assert len([c for c in cases if c.find("failure") is not None]) == len(failed)


FORMATS = ["text", "json", "sarif", "junit", "markdown", "html"]


@pytest.mark.parametrize("case", FINDINGS, ids=lambda c: c.id)
def test_the_exit_code_does_not_depend_on_the_format(case: Case, where: dict[str, str]) -> None:
    codes = {fmt: run_cli(*_argv(case, where, "-o", fmt, "--fail-on", "medium")).code for fmt in FORMATS}
    assert len(set(codes.values())) == 1, codes
    assert codes["json"] in (0, 1)


def test_audit_policy_diff_exits_1_on_a_difference() -> None:
    other = DATA / "auditpolicy" / "policies" / "kubernetes-docs-audit-policy.yaml"
    r = run_cli("audit-policy", "diff", str(POLICY), str(other), "-o", "json")
    assert r.code == 1, r.stderr
    assert json.loads(r.stdout)
