"""The reader: every format the API server and collectors write, and every kind of bad input."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from helpers import DATA, run_cli
from kapsec.auditlog.reader import Deduper, ReadStats, expand_paths, read_events
from kapsec.errors import InputError

ORACLE = DATA / "oracle-1.36" / "audit-logs"
MODERATE = ORACLE / "moderate" / "audit.log"


def read(*paths: str | Path, **kw: object) -> tuple[list, ReadStats]:
    st = ReadStats()
    out = list(read_events([str(p) for p in paths], st, **kw))  # type: ignore[arg-type]
    return out, st


def test_oracle_logs_parse_completely() -> None:
    for log, n in (("moderate", 1226), ("requestresponse", 2280)):
        evs, st = read(ORACLE / log / "audit.log")
        assert (len(evs), st.malformed, st.lines) == (n, 0, n)
    summary = json.loads((ORACLE / "moderate" / "summary.json").read_text())
    evs, _ = read(MODERATE)
    assert sum(1 for e, _ in evs if e.stage == "ResponseStarted") == summary["byStage"]["ResponseStarted"]


def test_pod_bodies_are_kept_raw() -> None:
    evs, _ = read(MODERATE)
    with_body = [e for e, _ in evs if e.has_request_object]
    assert len(with_body) == 15  # grep -c requestObject moderate/audit.log
    assert all(e.level in ("Request", "RequestResponse") for e in with_body)


def test_default_is_every_event_and_dedup_keeps_one_per_request() -> None:
    evs, st = read(MODERATE, dedup=True)
    assert (len(evs), st.duplicates) == (1226 - 169, 169)
    # The five 401s exist only at ResponseStarted and are kept.
    assert sum(1 for e, _ in evs if e.code == 401 and e.stage == "ResponseStarted") == 5
    assert len({e.auditID for e, _ in evs}) == len(evs)


def test_dedup_prefers_response_complete_and_keeps_the_last_stage_otherwise() -> None:
    d: Deduper[str] = Deduper()
    assert d.push("a", "RequestReceived", "a0") == []
    assert d.push("a", "ResponseStarted", "a1") == []
    assert d.push("a", "ResponseComplete", "a2") == ["a2"]
    assert d.push("a", "ResponseComplete", "again") == []
    assert d.push("b", "ResponseStarted", "b1") == []
    assert d.flush() == ["b1"]
    assert d.dropped == 3


def test_rotated_set_is_read_oldest_first_across_gzip_backups() -> None:
    logs = ORACLE / "rotation" / "logs"
    files = expand_paths([str(logs)])
    assert [Path(f).name for f in files] == [
        "audit-2026-11-28T09-13-06.768.log.gz",
        "audit-2026-11-28T09-13-07.428.log.gz",
        "audit-2026-11-28T09-13-08.098.log.gz",
        "audit.log",
    ]
    evs, st = read(logs)
    assert (len(evs), st.files, st.malformed) == (3904, 4, 0)
    times = [e.received for e, _ in evs]
    # Each file starts after the previous one ended (rotation never splits an event).
    starts = [i for i in range(1, len(evs)) if evs[i][1].file != evs[i - 1][1].file]
    assert all(times[i - 1] <= times[i] for i in starts)
    assert len({e.auditID for e, _ in evs}) == 3904 - 76
    globbed, _ = read(str(logs / "audit-*.log.gz"))
    assert len(globbed) == 3904 - sum(1 for _ in (logs / "audit.log").open())


def test_legacy_format_lines_become_events() -> None:
    evs, st = read(ORACLE / "legacy-format" / "audit-legacy.log")
    assert (len(evs), st.malformed) == (627, 0)
    imp = [e for e, _ in evs if e.impersonatedUser is not None]
    assert imp
    assert imp[0].impersonatedUser is not None
    assert imp[0].impersonatedUser.username == "dev-bob"
    anon = [e for e, _ in evs if not e.user.username]
    assert anon
    assert all(e.code == 401 for e in anon)
    create = next(
        e for e, _ in evs if e.verb == "create" and e.objectRef and e.objectRef.resource == "secrets"
    )
    assert (create.objectRef.namespace, create.code) == ("dev", 201)


def test_falco_trace_files_v1beta1_and_eventlist_items() -> None:
    evs, st = read(DATA / "auditlog" / "falco-trace-files")
    assert (len(evs), st.files, st.malformed) == (51, 46, 0)
    v1beta1 = [e for e, _ in evs if e.apiVersion == "audit.k8s.io/v1beta1"]
    assert v1beta1
    assert all(e.received for e in v1beta1)


def test_pretty_printed_event_and_eventlist_documents(tmp_path: Path) -> None:
    evs, st = read(DATA / "auditlog" / "openshift" / "raw_audit_kubernetes.json")
    assert (len(evs), st.malformed) == (1, 0)
    assert evs[0][0].verb == "get"
    lines = MODERATE.read_text().splitlines()[:3]
    batch = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [json.loads(x) for x in lines]}
    p = tmp_path / "batch.json"
    p.write_text(json.dumps(batch, indent=2))
    evs, st = read(p)
    assert [e.auditID for e, _ in evs] == [json.loads(x)["auditID"] for x in lines]
    assert {loc.line for _, loc in evs} == {1}


def test_cloud_envelopes_are_normalised(tmp_path: Path) -> None:
    event = json.loads(MODERATE.read_text().splitlines()[0])
    aks_obj = {"category": "kube-audit", "properties": {"log": event, "pod": "kube-apiserver-0"}}
    aks_str = {"category": "kube-audit-admin", "properties": {"log": json.dumps(event)}}
    cloudwatch = {"@timestamp": "2026-11-28T09:11:43Z", "@message": json.dumps(event)}
    gke = {
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "authenticationInfo": {"principalEmail": "mallory@example.com"},
            "authorizationInfo": [{"granted": False, "permission": "io.k8s.core.v1.secrets.list"}],
            "methodName": "io.k8s.core.v1.secrets.list",
            "requestMetadata": {"callerIp": "203.0.113.9", "callerSuppliedUserAgent": "kubectl/v1.30.0"},
            "resourceName": "core/v1/namespaces/kube-system/secrets",
            "serviceName": "k8s.io",
            "status": {"code": 7, "message": "PERMISSION_DENIED"},
        },
        "insertId": "abc",
        "operation": {"id": "op-1", "producer": "k8s.io", "first": True, "last": True},
        "resource": {"type": "k8s_cluster"},
        "timestamp": "2026-11-28T09:11:43.5Z",
    }
    p = tmp_path / "mixed.log"
    p.write_text("\n".join(json.dumps(x) for x in (aks_obj, aks_str, cloudwatch, gke)) + "\n")
    evs, st = read(p)
    assert st.malformed == 0
    assert [e.auditID for e, _ in evs[:3]] == [event["auditID"]] * 3
    g = evs[3][0]
    assert (g.auditID, g.verb, g.user.username, g.code, g.decision, g.sourceIPs) == (
        "op-1", "list", "mallory@example.com", 403, "forbid", ["203.0.113.9"]
    )  # fmt: skip
    assert g.objectRef is not None
    assert (g.objectRef.resource, g.objectRef.namespace, g.objectRef.apiGroup) == (
        "secrets",
        "kube-system",
        "",
    )


def test_garbage_lines_are_counted_with_file_and_line_and_skipped(tmp_path: Path) -> None:
    good = MODERATE.read_text().splitlines()[:2]
    p = tmp_path / "audit.log"
    p.write_text(
        "\n".join([good[0], "not json at all", '{"truncated": ', "[1, 2]", "", good[1], "\x00\x01"]) + "\n"
    )
    evs, st = read(p)
    assert len(evs) == 2
    assert st.malformed == 4
    assert [(loc.line, reason.split(":")[0]) for loc, reason in st.errors] == [
        (2, "invalid JSON"),
        (3, "invalid JSON"),
        (4, "not an audit Event"),
        (7, "invalid JSON"),
    ]
    r = run_cli("audit-log", "query", str(p), "--count")
    assert (r.code, r.stdout) == (0, "2\n")
    assert f"kapsec: warning: {p}:2: skipped malformed line: invalid JSON" in r.stderr


def test_truncated_gzip_is_an_error_message_not_a_traceback(tmp_path: Path) -> None:
    src = ORACLE / "rotation" / "logs" / "audit-2026-11-28T09-13-06.768.log.gz"
    data = src.read_bytes()
    p = tmp_path / "audit-2026-11-28T09-13-06.768.log.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="compressed data is truncated or corrupt after line"):
        read(p)
    for cmd in ("query", "detect", "summary"):
        r = run_cli("audit-log", cmd, str(p))
        assert r.code == 2, cmd
        assert r.stderr.startswith(
            f"kapsec: error: {p}: compressed data is truncated or corrupt after line "
        ), r.stderr
        assert "Traceback" not in r.stderr


def test_empty_file_reads_nothing_and_says_so(tmp_path: Path) -> None:
    p = tmp_path / "empty.log"
    p.write_bytes(b"")
    evs, st = read(p)
    assert (evs, st.files, st.malformed) == ([], 1, 0)
    r = run_cli("audit-log", "detect", str(p))
    assert r.code == 0
    assert r.stdout == ""
    assert "kapsec: warning: no audit events were read" in r.stderr


def test_five_megabyte_single_event(tmp_path: Path) -> None:
    ev = json.loads(MODERATE.read_text().splitlines()[0])
    ev["requestObject"] = {"kind": "ConfigMap", "data": {"blob": "x" * (5 * 1024 * 1024)}}
    ev["level"] = "Request"
    ev["verb"] = "create"
    ev["objectRef"] = {
        "resource": "configmaps",
        "namespace": "kube-system",
        "name": "big",
        "apiVersion": "v1",
    }
    ev["user"] = {"username": "jane", "groups": ["system:authenticated"]}
    p = tmp_path / "big.log"
    p.write_text(json.dumps(ev) + "\n" + MODERATE.read_text().splitlines()[1] + "\n")
    assert p.stat().st_size > 5 * 1024 * 1024
    evs, st = read(p)
    assert (len(evs), st.malformed) == (2, 0)
    assert len(evs[0][0].requestObject) > 5 * 1024 * 1024
    r = run_cli("audit-log", "detect", str(p), "--only", "kube-system-configmap-change", "-o", "jsonl")
    assert r.code == 1
    assert [json.loads(x)["rule"] for x in r.stdout.splitlines()] == ["kube-system-configmap-change"]


def test_missing_file_and_empty_glob_are_input_errors(tmp_path: Path) -> None:
    r = run_cli("audit-log", "query", str(tmp_path / "nope.log"))
    assert (r.code, r.stderr) == (
        2,
        f"kapsec: error: {tmp_path / 'nope.log'}: cannot read: No such file or directory\n",
    )
    r = run_cli("audit-log", "query", str(tmp_path / "audit-*.gz"))
    assert (r.code, r.stderr) == (
        2,
        f"kapsec: error: {tmp_path / 'audit-*.gz'}: no file matches this pattern\n",
    )


def test_stdin_is_read_when_no_log_is_given(tmp_path: Path) -> None:
    text = "\n".join(MODERATE.read_text().splitlines()[:10]) + "\n"
    r = run_cli("audit-log", "query", "--count", "--stage", "all", input=text)
    assert (r.code, r.stdout) == (0, "10\n")


def test_gzip_of_plain_log(tmp_path: Path) -> None:
    p = tmp_path / "audit.log.gz"
    with gzip.open(p, "wb") as fh, MODERATE.open("rb") as src:
        shutil.copyfileobj(src, fh)
    evs, _ = read(p)
    assert len(evs) == 1226
