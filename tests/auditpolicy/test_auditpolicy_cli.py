"""The audit-policy commands: exact outputs, exit codes, and bad input without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import DATA, run_cli
from kapsec.auditpolicy import generate, lint, load_policy_text
from kapsec.model.findings import Status

POLICIES = DATA / "auditpolicy" / "policies"
ORACLE_POLICY = str(DATA / "oracle-1.36" / "audit-logs" / "policy.yaml")
TYPO = str(POLICIES / "openshift-library-go-writerequestbodies.yaml")


def test_validate_strict_rejects_the_typo_with_field_path() -> None:
    r = run_cli("audit-policy", "validate", TYPO, ORACLE_POLICY)
    assert r.code == 1
    assert r.stdout.splitlines() == [
        f'{TYPO}:38: invalid: strict decoding error: unknown field "rules[2].resources[4].resource"',
        f"{ORACLE_POLICY}: valid (4 rules)",
    ]


def test_validate_lenient_accepts_it_like_the_server() -> None:
    r = run_cli("audit-policy", "validate", "--lenient", TYPO, "-o", "json")
    assert r.code == 0
    assert json.loads(r.stdout) == {
        "files": [
            {
                "file": TYPO,
                "valid": True,
                "rules": 5,
                "warnings": [
                    {
                        "path": "rules[2].resources[4].resource",
                        "kind": "unknown field",
                        "line": 38,
                        "message": 'unknown field "rules[2].resources[4].resource"',
                    }
                ],
            }
        ]
    }


def test_validate_reports_server_errors_as_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n"
        "  nonResourceURLs: ['/healthz*', '*/metrics']\n- level: Metadata\n"
    )
    r = run_cli("audit-policy", "validate", str(bad), "-o", "json")
    assert r.code == 1
    entry = json.loads(r.stdout)["files"][0]
    assert entry["serverError"] == (
        '[rules[0].nonResourceURLs[1]: Invalid value: "*/metrics": non-resource URL rules must begin with a '
        "'/' character, rules[0].nonResourceURLs[1]: Invalid value: \"*/metrics\": non-resource URL wildcards "
        "'*' must be the final character of the rule]"
    )
    assert entry["line"] == 5
    assert [e["type"] for e in entry["errors"]] == ["Invalid", "Invalid"]


def test_validate_unreadable_file_exits_2() -> None:
    r = run_cli("audit-policy", "validate", "nope.yaml")
    assert r.code == 2
    assert r.stderr == (
        'kapsec: error: nope.yaml: failed to read file path "nope.yaml": open nope.yaml: no such file or directory\n'
    )


def test_lint_text_and_exit_code() -> None:
    r = run_cli("audit-policy", "lint", ORACLE_POLICY, "--no-detections")
    assert r.code == 1
    assert "AP021" in r.stdout
    assert "AP040" in r.stdout
    assert "AP023" in r.stdout
    assert "Summary: 4 failed (2 medium, 2 low)" in r.stdout
    r = run_cli("audit-policy", "lint", ORACLE_POLICY, "--no-detections", "--fail-on", "high")
    assert r.code == 0


def test_lint_json_includes_passes_and_benchmarks() -> None:
    r = run_cli("audit-policy", "lint", ORACLE_POLICY, "--no-detections", "-o", "json")
    d = json.loads(r.stdout)
    statuses = {(f["id"], f["status"]) for f in d["findings"]}
    assert ("AP030", "pass") in statuses
    assert ("AP040", "fail") in statuses
    ap021 = next(f for f in d["findings"] if f["id"] == "AP021")
    assert ap021["benchmarks"] == {"cis-1.12": "3.2.2"}
    assert ap021["evidence"] == {"file": ORACLE_POLICY, "line": 18, "value": "Request"}
    assert d["target"] == {"kind": "audit-policy", "file": ORACLE_POLICY}


def test_lint_of_a_policy_the_server_rejects_is_a_critical_finding(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: Metadata\n")
    r = run_cli("audit-policy", "lint", str(bad), "-o", "json")
    assert r.code == 1
    [f] = json.loads(r.stdout)["findings"]
    assert (f["id"], f["severity"], f["evidence"]["line"]) == ("AP000", "critical", 1)
    assert f["message"] == (
        'failed decoding: no kind "Policy" is registered for version "audit.k8s.io/v1beta1" in scheme '
        '"pkg/audit/scheme.go:30"'
    )


def test_explain_single_request_text() -> None:
    r = run_cli(
        "audit-policy", "explain", "--policy", ORACLE_POLICY, "--user", "jane", "--group", "dev",
        "--verb", "create", "--resource", "pods/exec", "-n", "default", "--name", "web",
    )  # fmt: skip
    assert r.code == 0
    assert r.stdout == (
        "level:      Metadata\nomitStages: RequestReceived\nrule:       3 (line 24)\n  - level: Metadata\n"
    )


def test_explain_single_request_json() -> None:
    r = run_cli(
        "audit-policy", "explain", "--policy", ORACLE_POLICY, "--user", "admin", "--verb", "update",
        "--resource", "configmaps", "-n", "kube-system", "--name", "x", "-o", "json",
    )  # fmt: skip
    d = json.loads(r.stdout)
    assert {k: d[k] for k in ("level", "omitStages", "ruleIndex", "ruleLine")} == {
        "level": "Request",
        "omitStages": ["RequestReceived"],
        "ruleIndex": 2,
        "ruleLine": 18,
    }
    assert d["rule"].splitlines()[0] == "- level: Request"


def test_explain_non_resource_and_unauthenticated() -> None:
    policy = str(POLICIES / "kubernetes-docs-audit-policy.yaml")
    args = (
        "audit-policy",
        "explain",
        "--policy",
        policy,
        "--verb",
        "get",
        "--path",
        "/apis/apps",
        "-o",
        "json",
    )
    anonymous = json.loads(run_cli(*args).stdout)
    assert (anonymous["level"], anonymous["ruleIndex"]) == ("Metadata", 8)
    authed = json.loads(run_cli(*args, "--user", "u", "--group", "system:authenticated").stdout)
    assert (authed["level"], authed["ruleIndex"]) == ("None", 4)


def test_explain_batch_json_echoes_ids_in_order(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "user": "jane", "groups": ["dev"], "verb": "list", "resource": "pods", "namespace": "x"},
        {"id": 7, "user": None, "verb": "get", "path": "/healthz", "resourceRequest": False},
        {"verb": "create", "resource": "configmaps", "namespace": "kube-system", "user": "u"},
        {"id": "bad", "user": "u"},
    ]
    f = tmp_path / "req.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n\nnot json\n")
    r = run_cli("audit-policy", "explain", "--policy", ORACLE_POLICY, "--batch", str(f), "-o", "json")
    assert r.code == 2
    assert [json.loads(x) for x in r.stdout.splitlines()] == [
        {
            "id": "a",
            "level": "RequestResponse",
            "omitStages": ["RequestReceived"],
            "ruleIndex": 0,
            "ruleLine": 8,
        },
        {"id": 7, "level": "Metadata", "omitStages": ["RequestReceived"], "ruleIndex": 3, "ruleLine": 24},
        {"level": "Request", "omitStages": ["RequestReceived"], "ruleIndex": 2, "ruleLine": 18},
        {"id": "bad", "line": 4, "error": "a request needs a non-empty string 'verb'"},
        {"line": 6, "error": "not a request: JSON is malformed: invalid character (byte 4)"},
    ]
    assert f"{f}:4: a request needs a non-empty string 'verb'" in r.stderr


def test_explain_batch_text_from_stdin() -> None:
    r = run_cli(
        "audit-policy", "explain", "--policy", ORACLE_POLICY, "--batch", "-",
        input='{"id": 1, "user": "a", "verb": "get", "resource": "pods", "subresource": "log", "namespace": "n"}\n',
    )  # fmt: skip
    assert r.code == 0
    assert r.stdout == "1\tMetadata\tomit=RequestReceived\trule 1 (line 13)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--verb", "get"),
            "explain needs --resource (a resource request) or --path (a non-resource request)",
        ),
        ((), "explain needs --verb (and --resource or --path), or --batch FILE"),
        (("--batch", "-", "--verb", "get"), "give either --batch or a single request's flags, not both"),
        (
            ("--verb", "get", "--path", "/x", "--group", "g"),
            "--group needs --user (a request without a user has no groups)",
        ),
    ],
)
def test_explain_usage_errors(args: tuple[str, ...], message: str) -> None:
    r = run_cli("audit-policy", "explain", "--policy", ORACLE_POLICY, *args)
    assert r.code == 2
    assert r.stderr == f"kapsec: error: {message}\n"


@pytest.mark.parametrize("profile", ["guide-simple", "guide-moderate", "cis", "recommended"])
def test_generated_profiles_validate_and_lint_clean(profile: str, tmp_path: Path) -> None:
    r = run_cli("audit-policy", "generate", "--profile", profile)
    assert r.code == 0
    assert r.stdout == generate(profile)
    assert r.stdout.startswith(f"# kapsec audit-policy generate --profile {profile}\n")
    path = tmp_path / "p.yaml"
    path.write_text(r.stdout)
    assert run_cli("audit-policy", "validate", str(path)).code == 0
    lint_run = run_cli("audit-policy", "lint", str(path))
    assert lint_run.code == 0, lint_run.stdout
    findings = lint(load_policy_text(r.stdout, profile, strict=True))
    assert [f.id for f in findings if f.status is Status.FAIL] == []


def test_guide_moderate_keeps_the_guides_rules_and_adds_only_the_catch_all() -> None:
    policy = load_policy_text(generate("guide-moderate"), "g")
    oracle = load_policy_text(Path(ORACLE_POLICY).read_text(), "o")
    assert policy.to_dict() == oracle.to_dict()  # the oracle ran the guide's policy plus this catch-all
    assert [s.check_id for s in policy.suppressions] == ["AP023", "AP060", "AP042", "AP040", "AP021"]


def test_generate_from_log_adds_noise_rules_before_the_catch_all(tmp_path: Path) -> None:
    log = str(DATA / "oracle-1.36" / "audit-logs" / "moderate" / "audit.log")
    r = run_cli("audit-policy", "generate", "--from-log", log, "--top", "2")
    assert r.code == 0
    policy = load_policy_text(r.stdout, "g", strict=True)
    assert len(policy.rules) == 13
    assert [rule.to_dict() for rule in policy.rules[10:12]] == [
        {
            "level": "None",
            "users": ["system:apiserver"],
            "verbs": ["get", "list", "watch"],
            "resources": [{"group": "rbac.authorization.k8s.io", "resources": ["clusterroles"]}],
        },
        {
            "level": "None",
            "users": ["system:apiserver"],
            "verbs": ["get", "list", "watch"],
            "resources": [{"group": "rbac.authorization.k8s.io", "resources": ["clusterrolebindings"]}],
        },
    ]
    assert policy.rules[12].is_catch_all
    assert "#   rule 10 (from the log) None for system:apiserver get/list/watch clusterroles" in r.stdout
    assert "#   rule 12 Everything else at Metadata." in r.stdout
    assert "1,057 requests read; 2 noise rule(s) added" in r.stderr
    path = tmp_path / "p.yaml"
    path.write_text(r.stdout)
    assert run_cli("audit-policy", "lint", str(path)).code == 0
    with pytest.raises(AssertionError):
        assert run_cli("audit-policy", "generate", "--profile", "cis", "--from-log", log).code == 0


def test_older_servers_still_read_v1beta1(tmp_path: Path) -> None:
    p = tmp_path / "old.yaml"
    p.write_text("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: Metadata\n")
    assert run_cli("audit-policy", "validate", str(p)).code == 1
    r = run_cli("audit-policy", "validate", str(p), "--k8s-version", "1.23")
    assert r.code == 0
    assert r.stdout == (
        f'{p}: valid (1 rules); warnings: line 1: "audit.k8s.io/v1beta1" is deprecated and will be removed in '
        'a future release, use "audit.k8s.io/v1" instead\n'
    )
    r = run_cli("audit-policy", "lint", str(p), "--k8s-version", "1.23", "--no-detections", "-o", "json")
    assert [(f["id"], f["status"]) for f in json.loads(r.stdout)["findings"] if f["status"] != "pass"] == [
        ("AP006", "fail"),
        ("AP013", "fail"),
    ]
    r = run_cli("audit-policy", "validate", str(p), "--k8s-version", "one")
    assert (r.code, r.stderr) == (2, "kapsec: error: --k8s-version 'one': expected MAJOR.MINOR, e.g. 1.23\n")


def test_lint_sarif_names_rule_ids_and_lines() -> None:
    r = run_cli("audit-policy", "lint", ORACLE_POLICY, "--no-detections", "-o", "sarif")
    assert r.code == 1
    sarif = json.loads(r.stdout)
    results = sarif["runs"][0]["results"]
    assert sorted(x["ruleId"] for x in results) == ["AP021", "AP023", "AP040", "AP042"]
    lines = sorted(x["locations"][0]["physicalLocation"]["region"]["startLine"] for x in results)
    assert lines == [8, 8, 18, 24]


def test_explain_why_names_the_first_failing_condition_of_each_earlier_rule() -> None:
    policy = str(POLICIES / "kubernetes-docs-audit-policy.yaml")
    r = run_cli(
        "audit-policy", "explain", "--policy", policy, "--user", "jane", "--group", "system:authenticated",
        "--verb", "get", "--resource", "configmaps", "-n", "kube-system", "--name", "app-config", "--why",
    )  # fmt: skip
    assert r.code == 0
    assert r.stdout.splitlines()[-6:] == [
        "earlier rules:",
        '  rule 0 (line 8): resource configmaps in group "" matches none of [pods]',
        '  rule 1 (line 15): resource configmaps in group "" matches none of [pods/log, pods/status]',
        '  rule 2 (line 21): name "app-config" is not in resourceNames [controller-leader]',
        "  rule 3 (line 28): user jane is not in users [system:kube-proxy]",
        "  rule 4 (line 36): the rule has nonResourceURLs, so it only matches non-resource requests",
    ]
    j = run_cli(
        "audit-policy", "explain", "--policy", policy, "--verb", "get", "--path", "/version", "--why", "-o", "json",
    )  # fmt: skip
    trace = json.loads(j.stdout)["trace"]
    assert [t["reason"] for t in trace][3:5] == [
        "the request has no user (it failed authentication) and the rule names users",
        "the request has no user (it failed authentication) and the rule names userGroups",
    ]
    assert json.loads(j.stdout)["ruleIndex"] == 8


def test_lint_list_checks() -> None:
    r = run_cli("audit-policy", "lint", "--list-checks")
    assert r.code == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "AP001  high      unknown field is silently dropped by the API server"
    assert "AP030  high      access to Secrets is not audited  [CIS 3.2.2]" in lines
    ids = [
        x["id"]
        for x in json.loads(run_cli("audit-policy", "lint", "--list-checks", "-o", "json").stdout)["checks"]
    ]
    assert ids == sorted(ids)
    assert (
        run_cli("audit-policy", "lint").stderr
        == "kapsec: error: lint needs a policy FILE (or --list-checks)\n"
    )


def test_diff_of_equivalent_policies_is_empty(tmp_path: Path) -> None:
    generated = tmp_path / "moderate.yaml"
    generated.write_text(generate("guide-moderate"))
    r = run_cli("audit-policy", "diff", ORACLE_POLICY, str(generated))
    assert (r.code, r.stdout) == (0, "no request changes level or omitted stages\n")


def test_diff_names_each_change_with_the_rules_on_both_sides() -> None:
    docs = str(POLICIES / "kubernetes-docs-audit-policy.yaml")
    r = run_cli("audit-policy", "diff", ORACLE_POLICY, docs)
    assert r.code == 1
    text = r.stdout.splitlines()
    i = text.index("nonResource /version [get, post], a user, an admin, a service account, a node:")
    assert text[i + 1] == (
        "    Metadata (omit RequestReceived) -> None   (rule 3 (line 24) -> rule 4 (line 36))"
    )
    d = json.loads(run_cli("audit-policy", "diff", ORACLE_POLICY, docs, "-o", "json").stdout)
    secrets = [c for c in d["changes"] if c["resource"] == "secrets"]
    assert secrets == []  # both log secrets at Metadata (docs explicitly, the oracle via its catch-all)
    exec_ = next(c for c in d["changes"] if c["resource"] == "pods/exec")
    assert (exec_["before"], exec_["after"], exec_["beforeRule"], exec_["afterRule"]) == (
        "Metadata (omit RequestReceived)",
        "Request (omit RequestReceived)",
        3,
        7,
    )


def test_from_log_groups_kubelets_into_one_rule() -> None:
    from kapsec.auditpolicy.profiles import find_noise, from_log
    from kapsec.model.request import RequestAttributes

    def read(user: str, groups: tuple[str, ...], resource: str) -> RequestAttributes:
        return RequestAttributes(user, groups, "get", True, "default", "", "", resource, "", "x")

    node_groups = ("system:nodes", "system:authenticated")
    traffic = [(read(f"system:node:n{i % 7}", node_groups, "services"), 500) for i in range(70)]
    traffic += [
        (read("system:kube-scheduler", ("system:authenticated",), "persistentvolumeclaims"), 400)
    ] * 20
    traffic += [(read("jane", ("system:authenticated",), "services"), 300)] * 50  # people are never dropped
    traffic += [(read("system:node:n1", node_groups, "secrets"), 900)] * 90  # secrets never dropped
    noise = find_noise(traffic, top=5, min_share=0.05)
    assert [(n.rule.to_dict(), n.events, n.bytes) for n in noise] == [
        (
            {"level": "None", "userGroups": ["system:nodes"], "verbs": ["get"],
             "resources": [{"group": "", "resources": ["services"]}]},
            70,
            35000,
        ),
        (
            {"level": "None", "users": ["system:kube-scheduler"], "verbs": ["get"],
             "resources": [{"group": "", "resources": ["persistentvolumeclaims"]}]},
            20,
            8000,
        ),
    ]  # fmt: skip
    text = from_log(noise, ["synthetic.log"])
    assert "#   rule 10 (from the log) None for group system:nodes get services:\n" in text
    assert [r.to_dict() for r in load_policy_text(text, "g", strict=True).rules[10:12]] == [
        n.rule.to_dict() for n in noise
    ]
