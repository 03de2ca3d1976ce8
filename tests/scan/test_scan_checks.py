"""Every check of the catalog: it passes on the hardened lab tree, and each case of
``tests/data/scan/cases.yaml`` (one change to that tree) gives the exact status and message."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import DATA
from kapsec.checks.catalog import by_id, load_catalog
from kapsec.checks.context import ScanContext
from kapsec.checks.engine import evaluate
from kapsec.model.findings import Finding, Status
from kapsec.sources.apiserver import load
from scan.scan_support import (
    MANIFEST,
    container,
    load_cases,
    read_manifest,
    set_flags,
    write_file,
    write_manifest,
)

CASES = load_cases()
MESSAGES: dict[str, str] = yaml.safe_load((DATA / "scan" / "expected-messages.yaml").read_text())
# name the lab certificates' dates
VOLATILE = {"TLS-004-expired", "TLS-004-expiring", "TLS-004-not-yet-valid", "ETCD-004-expired"}
# Judged by kapsec.netpol / kapsec.pss: the message must be theirs, word for word.
DELEGATED = {"NET-001-fail", "PSS-001-fail", "PSS-001-privileged-default"}


def delegated_message(root: Path, case: dict[str, Any]) -> str:
    import kapsec.netpol
    import kapsec.pss
    from kapsec.pss.admission import load_admission_config
    from kapsec.sources.objects import load_text

    loaded = load_text(case["snapshot"], "snapshot")
    if case["check"] == "NET-001":
        return kapsec.netpol.checklist_status(loaded)[1]
    admission = load_admission_config(root / "etc/kubernetes/config/admission.yaml")
    return kapsec.pss.checklist_status(loaded, admission.pod_security)[1]


def case_id(case: dict[str, Any]) -> str:
    return f"{case['check']}-{case.get('name', case['status'])}"


def apply_case(root: Path, case: dict[str, Any]) -> None:
    for path, text in (case.get("files") or {}).items():
        write_file(
            root,
            path,
            text,
            0o644 if path.startswith("/etc/passwd") or path.startswith("/etc/group") else 0o600,
        )
    if case.get("set"):
        set_flags(root, case["set"])
    if case.get("append"):
        doc = read_manifest(root)
        container(doc)["command"].extend(case["append"])
        write_manifest(root, doc)
    if "mounts" in case:
        doc = read_manifest(root)
        c = container(doc)
        for name, change in case["mounts"].items():
            if change is None:
                c["volumeMounts"] = [m for m in c["volumeMounts"] if m["name"] != name]
                continue
            for m in c["volumeMounts"]:
                if m["name"] == name:
                    m.update({k: v for k, v in change.items() if k in ("mountPath", "readOnly")})
            for v in doc["spec"]["volumes"]:
                if v["name"] == name and "hostPathType" in change:
                    v["hostPath"]["type"] = change["hostPathType"]
        write_manifest(root, doc)
    for path, mode in (case.get("chmod") or {}).items():
        os.chmod(root / path.lstrip("/"), int(mode, 8))
    for path, owner in (case.get("chown") or {}).items():
        uid, gid = (int(x) for x in owner.split(":"))
        os.chown(root / path.lstrip("/"), uid, gid)
    for path in case.get("remove") or []:
        p = root / path.lstrip("/")
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()


def scan_one(root: Path, case: dict[str, Any]) -> Finding:
    cfg = load(root=str(root), k8s_version=case.get("version"))
    snapshot: str | None = str(root.parent / "snapshot.yaml")
    if "snapshot" in case:
        if case["snapshot"] is None:
            snapshot = None
        else:
            (root.parent / "case-snapshot.yaml").write_text(case["snapshot"])
            snapshot = str(root.parent / "case-snapshot.yaml")
    now = (
        dt.datetime.fromisoformat(case["now"].replace("Z", "+00:00"))
        if case.get("now")
        else dt.datetime.now(dt.UTC) + dt.timedelta(days=case.get("now_days", 0))
    )
    ctx = ScanContext(
        config=cfg,
        root=str(root),
        snapshot=snapshot,
        now=now,
        manifest_real=str(root / MANIFEST),
        benchmark=case.get("benchmark"),
    )
    check = by_id(case["check"])
    assert check is not None, f"no check {case['check']}"
    return evaluate(check, ctx)


@pytest.fixture
def copied(hardened_root: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "node"
    shutil.copytree(hardened_root, dst, symlinks=True)
    shutil.copy(hardened_root.parent / "snapshot.yaml", tmp_path / "snapshot.yaml")
    return dst


def test_hardened_tree_passes_every_check(copied: Path) -> None:
    """The pass case of every check: the guide's hardening applied to the lab."""
    results = {c.id: scan_one(copied, {"check": c.id}) for c in load_catalog()}
    not_passing = {
        cid: f"{f.status.value}: {f.message}" for cid, f in results.items() if f.status is not Status.PASS
    }
    assert not_passing == {}
    assert len(results) == len(load_catalog())


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_case(case: dict[str, Any], copied: Path) -> None:
    apply_case(copied, case)
    finding = scan_one(copied, case)
    assert finding.id == case["check"]
    assert finding.status.value == case["status"], finding.message
    cid = case_id(case)
    if cid in DELEGATED:
        assert finding.message == delegated_message(copied, case)
    elif case["status"] != "pass" and cid not in VOLATILE:
        assert finding.message == MESSAGES[cid]


def test_every_check_has_a_non_passing_case() -> None:
    statuses: dict[str, set[str]] = defaultdict(set)
    for case in CASES:
        statuses[case["check"]].add(case["status"])
    lacking = [c.id for c in load_catalog() if not statuses[c.id] - {"pass"}]
    assert lacking == []
    unknown = sorted(set(statuses) - {c.id for c in load_catalog()})
    assert unknown == []


def test_expected_messages_belong_to_cases() -> None:
    ids = {case_id(c) for c in CASES}
    assert sorted(set(MESSAGES) - ids) == []
    assert sorted(DELEGATED - ids) == []


GARBAGE = ["", "[", "- 1\n- 2\n", "\x00\x01binary", "kind: Nope\n", "apiVersion: v1\nkind: List\nitems: 3\n"]


@pytest.mark.parametrize(
    "text", GARBAGE, ids=["empty", "bad-yaml", "a-list", "binary", "wrong-kind", "wrong-shape"]
)
@pytest.mark.parametrize(
    "node_path",
    [
        "/etc/kubernetes/config/authn.yaml",
        "/etc/kubernetes/config/audit-policy.yaml",
        "/etc/kubernetes/config/encryption.yaml",
        "/etc/kubernetes/config/admission.yaml",
    ],
    ids=["authn", "audit", "encryption", "admission"],
)
def test_garbage_in_referenced_files_is_a_finding_not_a_crash(
    copied: Path, node_path: str, text: str
) -> None:
    write_file(copied, node_path, text)
    cfg = load(root=str(copied))
    ctx = ScanContext(config=cfg, root=str(copied), manifest_real=str(copied / MANIFEST))
    findings = {c.id: evaluate(c, ctx) for c in load_catalog()}
    flag3 = findings["FLAG-003"]
    assert flag3.status is Status.FAIL, flag3.message
    assert flag3.message.startswith("the API server would refuse to start: ")
    assert node_path in flag3.message
    assert not [
        f.message for f in findings.values() if "internal error" in f.message or "Traceback" in f.message
    ]


def test_a_failing_check_is_a_warn_finding_and_the_others_run(
    copied: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kapsec.checks import predicates

    def broken(check: object, ctx: object) -> object:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(predicates.PREDICATES, "request_timeout", broken)
    monkeypatch.delenv("KAPSEC_DEBUG", raising=False)
    cfg = load(root=str(copied))
    ctx = ScanContext(config=cfg, root=str(copied), manifest_real=str(copied / MANIFEST))
    findings = {c.id: evaluate(c, ctx) for c in load_catalog()}
    assert (findings["API-002"].status, findings["API-002"].message) == (
        Status.WARN,
        "could not evaluate (internal error: ZeroDivisionError: division by zero); please report it",
    )
    assert findings["API-001"].status is Status.PASS
