"""kapsec audit-log query, summary, detect, rules and rbac, end to end on the oracle logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers import DATA, run_cli

ORACLE = DATA / "oracle-1.36" / "audit-logs"
MODERATE = str(ORACLE / "moderate" / "audit.log")


def test_query_who_deleted_what() -> None:
    r = run_cli(
        "audit-log",
        "query",
        MODERATE,
        "--verb",
        "delete",
        "--user",
        "admin",
        "--fields",
        "user,verb,target,code",
    )
    assert r.code == 0
    assert r.stdout.splitlines() == [
        "USER   VERB    TARGET                                                                   CODE",
        "admin  delete  secrets dev/app-db                                                       200",
        "admin  delete  clusterrolebindings.rbac.authorization.k8s.io ci-deployer-cluster-admin  200",
        "admin  delete  rolebindings.rbac.authorization.k8s.io dev/bob-cluster-admin             200",
        "admin  delete  namespaces legacy                                                        200",
        "admin  delete  clusterrolebindings.rbac.authorization.k8s.io anonymous-admin            200",
        "admin  delete  clusterrolebindings.rbac.authorization.k8s.io backdoor-admin             200",
    ]


def test_query_secret_reads_in_kube_system_as_csv_in_time_order() -> None:
    r = run_cli(
        "audit-log", "query", MODERATE, "--resource", "secrets", "--namespace", "kube-system", "--verb", "get",
        "-o", "csv", "--fields", "time,user,as,name,code",
    )  # fmt: skip
    assert r.code == 0
    assert r.stdout.splitlines() == [
        "time,user,as,name,code",
        "2026-11-28T09:11:49.382903Z,dev-bob,,cloud-provider-creds,403",
        "2026-11-28T09:11:58.658807Z,system:serviceaccount:ci:deployer,,cloud-provider-creds,200",
        "2026-11-28T09:12:13.755548Z,system:anonymous,,cloud-provider-creds,200",
    ]


def test_query_jsonl_impersonation_with_locations() -> None:
    r = run_cli(
        "audit-log",
        "query",
        MODERATE,
        "--impersonated",
        "--resource",
        "secrets",
        "-o",
        "jsonl",
        "--fields",
        "user,as,code",
    )
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["user"], x["as"], x["code"], x["line"]) for x in rows] == [
        ("admin", "dev-bob", 200, 741),
        ("admin", "dev-bob", 403, 743),
        ("admin", "system:serviceaccount:ci:deployer", 200, 744),
        ("admin", "dev-bob", 403, 745),
    ]
    assert {x["file"] for x in rows} == {MODERATE}


# Each count was checked independently with jq over the same log, counting distinct auditIDs:
#   jq -r 'select(FILTER) | .auditID' moderate/audit.log | sort -u | wc -l
# (--user and --group also match the impersonated identity, as kapsec documents.)
@pytest.mark.parametrize(
    ("args", "count"),
    [
        (("--code", "401"), 5),
        (("--code", "4xx", "--user", "dev-bob"), 12),
        (("--decision", "forbid"), 26),
        (("--resource", "pods/exec"), 2),
        (("--subresource", "exec", "--subresource", "attach"), 3),
        (
            (
                "--resource",
                "clusterrolebindings.rbac.authorization.k8s.io",
                "--verb",
                "create",
                "--verb",
                "delete",
            ),
            60,
        ),
        (("--user", "system:serviceaccount:ci:*"), 27),
        (("--group", "developers"), 52),
        (("--source-ip", "127.0.0.0/8", "--user-agent", "curl/*", "--user", "system:anonymous"), 14),
        (("--since", "2026-11-28T09:12:12Z"), 176),
        (("--until", "2026-11-28T09:11:44Z"), 127),
        (("--stage", "all", "--verb", "watch"), 324),
    ],
)
def test_query_count(args: tuple[str, ...], count: int) -> None:
    r = run_cli("audit-log", "query", MODERATE, "--count", *args)
    assert (r.code, r.stdout) == (0, f"{count}\n")


def test_query_parallel_equals_sequential(monkeypatch: pytest.MonkeyPatch) -> None:
    import kapsec.auditlog.scan as scan

    monkeypatch.setattr(scan, "CHUNK", 64 * 1024)
    args = ("audit-log", "query", MODERATE, "--resource", "secrets", "-o", "jsonl", "--stage", "all")
    seq = run_cli(*args, "--jobs", "1")
    par = run_cli(*args, "--jobs", "2")
    assert seq.code == par.code == 0
    assert par.stdout == seq.stdout
    assert len(seq.stdout.splitlines()) == 39  # jq -c 'select(.objectRef.resource=="secrets")' | wc -l


def test_query_bad_filters_are_usage_errors() -> None:
    r = run_cli("audit-log", "query", MODERATE, "--code", "forbidden")
    assert (r.code, r.stderr) == (2, "kapsec: error: --code takes 403, 4xx or 400-499, not 'forbidden'\n")
    r = run_cli("audit-log", "query", MODERATE, "--since", "yesterday")
    assert (r.code, r.stderr) == (
        2,
        "kapsec: error: not a duration (24h, 30m, 7d) or an RFC 3339 time: 'yesterday'\n",
    )
    r = run_cli("audit-log", "query", MODERATE, "--fields", "objectref.name")
    assert r.code == 2
    assert "--fields: unknown audit event field 'objectref.name'" in r.stderr


def test_summary_json() -> None:
    r = run_cli("audit-log", "summary", MODERATE, "-o", "json", "--top", "3")
    assert r.code == 0
    d = json.loads(r.stdout)
    assert (d["requests"], d["events"]) == (1057, 1226)
    assert d["topUsers"] == [
        {"key": "system:apiserver", "count": 836},
        {"key": "admin", "count": 103},
        {"key": "dev-bob", "count": 51},
    ]
    assert d["deniedByUser"][:2] == [
        {"key": "dev-bob 403", "count": 10},
        {"key": "health-probe 403", "count": 7},
    ]
    assert d["codes"]["401"] == 5
    assert [(x["user"], x["target"], x["code"]) for x in d["execAttachPortforward"]] == [
        ("dev-bob", "pods/exec dev/web", 101),
        ("dev-bob", "pods/attach dev/web", 101),
        ("dev-bob", "pods/portforward dev/web", 500),
        ("dev-bob", "pods/portforward dev/web", 500),
        ("admin", "pods/exec kube-system/node-debugger", 101),
        ("admin", "pods/portforward dev/web", 400),
    ]
    assert len(d["rbacChanges"]) == 14
    assert d["timeline"] == {"2026-11-28T09:00": 1057}
    top_agent = d["volumeByUserAgent"][0]
    assert top_agent["userAgent"].startswith("kube-apiserver/")
    assert top_agent["events"] == 996 - 0  # every system:apiserver event carries this agent
    assert sum(x["bytes"] for x in d["volumeByUserAgent"]) <= Path(MODERATE).stat().st_size


def test_detect_text_exit_code_and_fail_on() -> None:
    r = run_cli("audit-log", "detect", MODERATE, "--min-severity", "critical")
    assert r.code == 1
    assert r.stdout.splitlines() == [
        "2026-11-28T09:12:14.051065Z  CRITICAL rbac-change-by-unauthenticated  system:anonymous create "
        "clusterrolebindings.rbac.authorization.k8s.io backdoor-admin -> 201  [T1098,T1190] "
        f"auditID=10ba9851-e6ff-4811-ab1c-08b975b26525 {MODERATE}:1179"
    ]
    assert "kapsec: 1 alert(s): 1 critical; 1226 events checked, 0 allowlisted" in r.stderr
    assert run_cli("audit-log", "detect", MODERATE, "--fail-on", "never").code == 0
    r = run_cli(
        "audit-log", "detect", MODERATE, "--only", "rbac-permission-enumeration", "--fail-on", "medium"
    )
    assert r.code == 0
    assert "rbac-permission-enumeration" in r.stdout


def test_detect_json_report_and_blind_notes() -> None:
    r = run_cli(
        "audit-log", "detect", MODERATE, "-o", "json", "--only", "pod-exec", "--only", "cluster-admin-binding"
    )
    assert r.code == 1
    d = json.loads(r.stdout)
    assert d["target"] == {"logs": [MODERATE], "rules": 2, "events": 1226}
    # The ResponseStarted events of the three exec/attach requests:
    #   grep -n '"subresource":"\(exec\|attach\)"' audit.log | grep ResponseStarted
    assert [(f["id"], f["severity"], f["evidence"]["line"]) for f in d["findings"]] == [
        ("pod-exec", "medium", 661),
        ("pod-exec", "medium", 665),
        ("pod-exec", "medium", 750),
    ]
    assert d["summary"]["fail"] == 3
    assert (
        "kapsec: note: cluster-admin-binding could not be evaluated on 8 event(s): "
        "the log has no request body (needs Request level)" in r.stderr
    )


def test_detect_sarif_goes_through_the_reporters() -> None:
    r = run_cli("audit-log", "detect", MODERATE, "-o", "sarif", "--only", "token-request")
    assert r.code == 1
    sarif = json.loads(r.stdout)
    assert sarif["version"] == "2.1.0"
    assert [res["ruleId"] for res in sarif["runs"][0]["results"]] == ["token-request", "token-request"]


def test_allowlist_suppresses_and_reports_unused(tmp_path: Path) -> None:
    allow = tmp_path / "allow.yaml"
    allow.write_text(
        yaml.safe_dump(
            {
                "allow": [
                    {"rules": ["token-request"], "users": ["admin"], "reason": "admin mints CI tokens"},
                    {"rules": ["pod-exec"], "namespaces": ["prod-*"], "reason": "never matches here"},
                ]
            }
        )
    )
    r = run_cli(
        "audit-log", "detect", MODERATE, "--only", "token-request", "--allowlist", str(allow), "-o", "jsonl"
    )
    assert r.code == 1
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["user"], x["code"]) for x in rows] == [("system:serviceaccount:ci:deployer", 403)]
    assert f"kapsec: warning: {allow}:allow[1]: allowlist entry never used (never matches here)" in r.stderr


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"allow": [{"rules": ["pod-exec"], "users": ["x"]}]}, "allow[0]: every entry needs a 'reason'"),
        ({"allow": [{"rules": ["no-such"], "reason": "r"}]}, "allow[0].rules: unknown rule id(s): no-such"),
        (
            {"allow": [{"rules": "*", "user": ["x"], "reason": "r"}]},
            "allow[0]: unknown key(s) user; known: rules, users, groups, namespaces, names, resources, verbs, "
            "userAgents, sourceIPs, reason",
        ),
        ({"ignore": []}, "an allowlist is a mapping with a list 'allow:'"),
    ],
)
def test_bad_allowlist_is_an_input_error(tmp_path: Path, doc: dict[str, object], message: str) -> None:
    allow = tmp_path / "allow.yaml"
    allow.write_text(yaml.safe_dump(doc))
    r = run_cli("audit-log", "detect", MODERATE, "--allowlist", str(allow))
    assert r.code == 2
    assert r.stderr == f"kapsec: error: {allow}: {message}\n"


def test_detect_parallel_equals_sequential(monkeypatch: pytest.MonkeyPatch) -> None:
    import kapsec.auditlog.scan as scan

    monkeypatch.setattr(scan, "CHUNK", 64 * 1024)
    seq = run_cli("audit-log", "detect", MODERATE, "-o", "jsonl", "--jobs", "1")
    par = run_cli("audit-log", "detect", MODERATE, "-o", "jsonl", "--jobs", "2")
    assert par.stdout == seq.stdout
    assert len(seq.stdout.splitlines()) == 135


def test_rules_list() -> None:
    r = run_cli("audit-log", "rules", "list", "-o", "json")
    rules = json.loads(r.stdout)
    assert len(rules) == 46
    exec_rule = next(x for x in rules if x["id"] == "pod-exec")
    assert (exec_rule["severity"], exec_rule["needs"], exec_rule["mitre"], exec_rule["stage"]) == (
        "medium", "Metadata", ["T1609"], "any"
    )  # fmt: skip
    text = run_cli("audit-log", "rules", "list").stdout.splitlines()
    assert text[0].split() == ["RULE", "SEVERITY", "CONF", "NEEDS", "ATT&CK"]
    assert text[1].split()[:2] == ["rbac-change-by-unauthenticated", "critical"]


def test_rules_export_elasticsearch_and_loki() -> None:
    r = run_cli("audit-log", "rules", "export", "--backend", "elasticsearch", "--only", "pod-exec")
    assert r.code == 0
    assert r.stdout == (
        "# pod-exec: Exec or attach into a pod\n"
        "objectRef.resource:pods AND (objectRef.subresource:(exec OR attach)) AND (verb:(create OR get))\n"
    )
    r = run_cli("audit-log", "rules", "export", "--backend", "loki", "--only", "token-request")
    assert r.stdout.splitlines()[1].startswith(
        "{job=`kubernetes-audit`} | json | objectRef_resource=~`(?i)^serviceaccounts$` and objectRef_subresource=~`(?i)^token$`"
    )
    r = run_cli("audit-log", "rules", "export", "--backend", "loki", "--only", "privileged-pod")
    assert r.stdout == "\n"
    assert (
        "kapsec: warning: privileged-pod: not exported: Boolean value True not supported by the backend."
        in r.stderr
    )
    r = run_cli(
        "audit-log",
        "rules",
        "export",
        "--backend",
        "elasticsearch",
        "--format",
        "kibana_ndjson",
        "--only",
        "pod-exec",
    )
    obj = json.loads(r.stdout.splitlines()[0])
    assert obj["attributes"]["title"] == "SIGMA - Exec or attach into a pod"


def test_parallel_over_a_rotated_gzip_set_equals_sequential() -> None:
    logs = str(ORACLE / "rotation" / "logs")
    args = (
        "audit-log",
        "query",
        logs,
        "--user",
        "mallory",
        "--stage",
        "all",
        "-o",
        "jsonl",
        "--fields",
        "auditID",
    )
    seq = run_cli(*args, "--jobs", "1")
    par = run_cli(*args, "--jobs", "2")
    assert par.stdout == seq.stdout
    assert len(seq.stdout.splitlines()) == 1100  # traffic-summary.json: 1,100 GETs by mallory


def test_parallel_reports_malformed_lines_with_their_true_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kapsec.auditlog.scan as scan

    monkeypatch.setattr(scan, "CHUNK", 64 * 1024)
    lines = Path(MODERATE).read_text().splitlines()
    lines[900] = "garbage here"
    p = tmp_path / "audit.log"
    p.write_text("\n".join(lines) + "\n")
    r = run_cli("audit-log", "query", str(p), "--count", "--stage", "all", "--jobs", "2")
    assert r.stdout == "1225\n"
    assert f"kapsec: warning: {p}:901: skipped malformed line: invalid JSON" in r.stderr


def test_rules_export_elasticsearch_field_prefix_pipeline() -> None:
    r = run_cli(
        "audit-log", "rules", "export", "--backend", "elasticsearch", "--only", "token-request",
        "--field-prefix", "kubernetes.audit.",
    )  # fmt: skip
    assert r.code == 0
    assert r.stdout.splitlines()[1].startswith(
        "(kubernetes.audit.objectRef.resource:serviceaccounts AND kubernetes.audit.objectRef.subresource:token"
    )
    r = run_cli("audit-log", "rules", "export", "--backend", "loki", "--field-prefix", "x.")
    assert (r.code, r.stderr) == (2, "kapsec: error: --field-prefix applies to the elasticsearch backend\n")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_detect_warns_on_malformed_lines_and_does_not_count_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str
) -> None:
    import kapsec.auditlog.scan as scan

    monkeypatch.setattr(scan, "CHUNK", 64 * 1024)
    lines = Path(MODERATE).read_text().splitlines()
    lines[900] = "garbage here"
    lines[901] = lines[901][:40]  # truncated JSON
    p = tmp_path / "audit.log"
    p.write_text("\n".join(lines) + "\n")
    r = run_cli("audit-log", "detect", str(p), "--min-severity", "critical", "-j", jobs)
    assert r.code == 1
    assert f"kapsec: warning: {p}:901: skipped malformed line: invalid JSON" in r.stderr
    assert f"kapsec: warning: {p}:902: skipped malformed line: invalid JSON" in r.stderr
    assert "kapsec: 1 alert(s): 1 critical; 1224 events checked, 0 allowlisted" in r.stderr


def test_detect_text_writes_control_characters_escaped_and_json_keeps_them(tmp_path: Path) -> None:
    event = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": "a1",
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/default/secrets/x",
        "verb": "get",
        "user": {"username": "evil\x1b[31mRED\nx"},
        "sourceIPs": ["10.0.0.1"],
        "objectRef": {"resource": "secrets", "namespace": "default", "name": "a\x1b[2J", "apiVersion": "v1"},
        "responseStatus": {"code": 200},
        "requestReceivedTimestamp": "2026-11-28T09:00:00.000000Z",
        "stageTimestamp": "2026-11-28T09:00:00.100000Z",
        "annotations": {"authorization.k8s.io/decision": "allow"},
    }
    p = tmp_path / "audit.log"
    p.write_text(json.dumps(event) + "\n")
    r = run_cli("audit-log", "detect", str(p))
    assert r.stdout == (
        "2026-11-28T09:00:00.000000Z  MEDIUM   secret-read  evil\\x1b[31mRED\\x0ax get secrets "
        f"default/a\\x1b[2J -> 200  [T1552.007] auditID=a1 {p}:1\n"
    )
    r = run_cli("audit-log", "detect", str(p), "-o", "jsonl")
    alert = json.loads(r.stdout)
    assert (alert["user"], alert["target"]) == ("evil\x1b[31mRED\nx", "secrets default/a\x1b[2J")


def test_rules_export_json_names_each_query_and_the_rules_skipped() -> None:
    r = run_cli(
        "audit-log", "rules", "export", "--backend", "elasticsearch", "--only", "pod-exec", "-o", "json"
    )
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout) == {
        "backend": "elasticsearch",
        "format": "default",
        "rules": [
            {
                "id": "pod-exec",
                "title": "Exec or attach into a pod",
                "query": "objectRef.resource:pods AND (objectRef.subresource:(exec OR attach)) "
                "AND (verb:(create OR get))",
            }
        ],
        "skipped": [],
    }
    r = run_cli("audit-log", "rules", "export", "--backend", "loki", "--only", "privileged-pod", "-o", "json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout) == {
        "backend": "loki",
        "format": "default",
        "rules": [],
        "skipped": [{"id": "privileged-pod", "reason": "Boolean value True not supported by the backend."}],
    }
    assert "kapsec: warning: privileged-pod: not exported" in r.stderr
