"""kapsec audit-log rbac: least-privilege RBAC from the oracle session and audit2rbac's demo."""

from __future__ import annotations

import json

import yaml

from helpers import DATA, run_cli

MODERATE = str(DATA / "oracle-1.36" / "audit-logs" / "moderate" / "audit.log")
ROLES = str(DATA / "oracle-1.36" / "audit-logs" / "manifests" / "rbac-roles.yaml")
BINDINGS = str(DATA / "auditlog" / "oracle-bindings.yaml")
DEMO = str(DATA / "auditlog" / "audit2rbac" / "demo.log")


def objects(stdout: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(stdout) if d]


def test_service_account_gets_cluster_and_namespaced_grants_without_duplicates() -> None:
    r = run_cli("audit-log", "rbac", MODERATE, "--serviceaccount", "ci:deployer")
    assert r.code == 0
    objs = objects(r.stdout)
    assert [(o["kind"], o["metadata"].get("namespace")) for o in objs] == [
        ("Role", "kube-system"),
        ("ClusterRole", None),
        ("RoleBinding", "kube-system"),
        ("ClusterRoleBinding", None),
    ]
    role, crole, rb, _crb = objs
    # list secrets -A was allowed cluster-wide (step 36), so the namespaced list is not repeated;
    # the one Secret read by name keeps its resourceNames.
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["cloud-provider-creds"],
            "verbs": ["get"],
        }
    ]
    assert crole["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
        {"nonResourceURLs": ["/api", "/apis", "/version"], "verbs": ["get"]},
    ]
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}]
    assert (
        "# risky for ServiceAccount ci/deployer: list secrets (cluster-wide): reads every Secret value of its scope"
        in r.stdout
    )
    assert "kapsec: ServiceAccount ci/deployer: 18 allowed request(s), 3 refused (not granted)" in r.stderr


def test_only_allowed_requests_count_and_create_never_keeps_names() -> None:
    r = run_cli("audit-log", "rbac", MODERATE, "--user", "dev-bob", "-o", "json")
    d = json.loads(r.stdout)
    role = next(o for o in d["objects"] if o["kind"] == "Role")
    assert role["metadata"]["namespace"] == "dev"
    rules = role["rules"]
    # create pods: allowed (two were then refused by Pod Security admission, one succeeded); no names.
    assert {"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]} in rules
    # get secret dev/app-db was the only Secret read: kept by name; list cannot be restricted by name.
    assert {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": ["app-db"],
        "verbs": ["get"],
    } in rules
    assert {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]} in rules
    # refused requests (kube-system secrets, clusterrolebindings) are not granted anywhere
    text = json.dumps(d["objects"])
    assert "clusterrolebindings" not in text
    assert "kube-system" not in text
    assert d["subjects"] == [
        {
            "subject": "User dev-bob",
            "allowed": 47,
            "refused": 9,
            "risks": [
                "get pods/attach (namespace dev): attaches to pods",
                "get pods/exec (namespace dev): runs commands in pods",
                "create rolebindings (namespace dev): changes who holds which role",
                "get secrets (namespace dev): reads Secret values",
                "list secrets (namespace dev): reads every Secret value of its scope",
            ],
        }
    ]


def test_impersonated_requests_count_for_the_impersonated_identity() -> None:
    r = run_cli("audit-log", "rbac", MODERATE, "--serviceaccount", "ci:deployer", "-o", "json")
    d = json.loads(r.stdout)
    assert d["subjects"][0]["allowed"] == 18  # includes admin's impersonated list (step 38)


def test_all_subjects_skips_system_components_and_masters() -> None:
    r = run_cli("audit-log", "rbac", MODERATE, "--all", "-o", "json")
    names = [s["subject"] for s in json.loads(r.stdout)["subjects"]]
    assert names == [
        "User dev-bob",
        "User health-probe",
        "User mallory",
        "ServiceAccount ci/deployer",
        "ServiceAccount ci/legacy-bot",
    ]


def test_audit2rbac_demo_with_include_denied() -> None:
    r = run_cli("audit-log", "rbac", DEMO, "--user", "alice", "--include-denied")
    objs = objects(r.stdout)
    # audit2rbac's README: Role in ns1 for configmaps, pods, secrets (it adds get/watch to list).
    assert (objs[0]["kind"], objs[0]["metadata"]["namespace"]) == ("Role", "ns1")
    assert objs[0]["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps", "pods", "secrets"], "verbs": ["list"]}
    ]
    assert objs[1]["subjects"] == [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]
    plain = run_cli("audit-log", "rbac", DEMO, "--user", "alice")
    assert objects(plain.stdout) == []
    assert "kapsec: User alice: 0 allowed request(s), 3 refused (not granted)" in plain.stderr


def test_diff_against_current_rbac() -> None:
    r = run_cli(
        "audit-log", "rbac", MODERATE, "--user", "dev-bob", "--from", ROLES, "--from", BINDINGS, "-o", "json"
    )
    diff = json.loads(r.stdout)["diff"]
    # Discovery and self-reviews come from bootstrap roles that are not in the given files.
    assert diff["usedNotGranted"] == {
        "User dev-bob": [
            "get /version",
            "create selfsubjectreviews.authentication.k8s.io (cluster-wide)",
            "create selfsubjectrulesreviews.authorization.k8s.io (cluster-wide)",
            "get /api",
            "get /apis",
            "get /openapi/v3",
            "get /openapi/v3/api/v1",
        ]
    }
    assert diff["grantedNotUsed"] == {
        "User dev-bob": [
            'RoleBinding "bob-admin/dev" of ClusterRole "dev-team-admin" to User "dev-bob": rule 1 '
            "* deployments,statefulsets,daemonsets,replicasets (groups apps)"
        ]
    }


def test_rbac_needs_a_subject() -> None:
    r = run_cli("audit-log", "rbac", MODERATE)
    assert (r.code, r.stderr) == (
        2,
        "kapsec: error: name a subject: --user NAME, --serviceaccount NS:NAME, or --all\n",
    )
    r = run_cli("audit-log", "rbac", MODERATE, "--serviceaccount", "deployer")
    assert (r.code, r.stderr) == (2, "kapsec: error: --serviceaccount takes NAMESPACE:NAME, not 'deployer'\n")
