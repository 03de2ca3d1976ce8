"""kapsec rbac risks: the catalog, default recognition, and exact findings on the demo cluster."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import DATA, run_cli
from kapsec.errors import ValidationError
from kapsec.model.findings import Status
from kapsec.rbac.risks import AssessOptions, assess, catalog, parse_catalog
from kapsec.rbac.store import RbacStore
from kapsec.sources.objects import load_paths

BOOT = DATA / "rbac" / "bootstrap-rbac"
DEMO = DATA / "rbac" / "demo"


def _bootstrap_objects() -> list[dict[str, Any]]:
    return [o for o, _ in load_paths([BOOT]).objects]


def _keys(findings: list[Any]) -> list[tuple[str, str, str, str]]:
    return [(f.id, f.status.value, f.severity.label, f.evidence.detail.split(" -> ")[0]) for f in findings]


def test_catalog_loads_and_covers_the_issue_list() -> None:
    cat = catalog()
    assert [r.id for r in cat.risks] == [
        "RBAC-017",
        "RBAC-001",
        "RBAC-002",
        "RBAC-003",
        "RBAC-004",
        "RBAC-005",
        "RBAC-006",
        "RBAC-007",
        "RBAC-008",
        "RBAC-009",
        "RBAC-010",
        "RBAC-011",
        "RBAC-012",
        "RBAC-013",
        "RBAC-014",
        "RBAC-015",
        "RBAC-016",
        "RBAC-018",
    ]
    assert all(r.attack and r.remediation and r.severity for r in cat.risks)
    assert cat.sensitive_namespaces == frozenset({"kube-system"})


def test_bootstrap_defaults_are_not_findings() -> None:
    store = RbacStore.from_objects(load_paths([BOOT]))
    assert assess(store) == []
    skipped = assess(store, AssessOptions(include_defaults=True))
    assert {f.status for f in skipped} == {Status.SKIP}
    assert ("RBAC-017", "skip", "critical", "ClusterRoleBinding cluster-admin") in _keys(skipped)


def test_demo_findings_exact() -> None:
    store = RbacStore.from_objects(load_paths([BOOT, DEMO]))
    assert _keys(assess(store)) == [
        ("RBAC-017", "fail", "critical", "ClusterRoleBinding bob-admin"),
        ("RBAC-017", "fail", "critical", "RoleBinding kube-system/ops"),
        ("RBAC-001", "fail", "critical", "ClusterRoleBinding auditors-read-secrets"),
        ("RBAC-003", "fail", "medium", "RoleBinding team-a/developers"),
        ("RBAC-004", "fail", "medium", "RoleBinding team-a/developers"),
        ("RBAC-008", "fail", "critical", "ClusterRoleBinding prometheus-kubelet"),
        ("RBAC-015", "fail", "high", "ClusterRoleBinding anonymous-view"),
    ]


def test_new_subject_on_a_default_binding_is_reported() -> None:
    objs = _bootstrap_objects()
    for o in objs:
        if o["kind"] == "ClusterRoleBinding" and o["metadata"]["name"] == "cluster-admin":
            o["subjects"].append({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "eve"})
    findings = assess(RbacStore.from_dicts(objs))
    assert _keys(findings) == [("RBAC-017", "fail", "critical", "ClusterRoleBinding cluster-admin")]
    assert findings[0].message.startswith(
        'ClusterRoleBinding cluster-admin grants ClusterRole cluster-admin to User "eve" cluster-wide'
    )


def test_modified_default_role_is_reported() -> None:
    objs = _bootstrap_objects()
    for o in objs:
        if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "system:basic-user":
            o["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]})
    findings = assess(RbacStore.from_dicts(objs))
    assert _keys(findings) == [
        ("RBAC-001", "fail", "critical", "ClusterRoleBinding system:basic-user"),
        ("RBAC-015", "fail", "high", "ClusterRoleBinding system:basic-user"),
    ]
    assert findings[0].message.startswith(
        'default ClusterRoleBinding system:basic-user grants ClusterRole system:basic-user to Group "system:authenticated" '
        "cluster-wide, and ClusterRole system:basic-user was modified: rule 2 is not in the default role."
    )
    assert findings[0].evidence.value == '{APIGroups:[""], Resources:["secrets"], Verbs:["list"]}'


def test_bootstrap_label_does_not_hide_a_grant() -> None:
    disguised = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": "system:totally-default",
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "eve"}],
    }
    store = RbacStore.from_dicts([*_bootstrap_objects(), disguised])
    findings = assess(store)
    assert _keys(findings) == [("RBAC-017", "warn", "critical", "ClusterRoleBinding system:totally-default")]
    assert findings[0].message.startswith(
        "labelled as a bootstrap default, but not one kapsec's bootstrap snapshot knows"
    )
    assert assess(store, AssessOptions(trust_bootstrap_label=True)) == []


def test_binding_to_missing_role_is_a_finding() -> None:
    store = RbacStore.from_objects(load_paths([DATA / "rbac" / "bad"]))
    findings = [f for f in assess(store) if f.id == "RBAC-016"]
    assert [(f.status.value, f.severity.label, f.message) for f in findings] == [
        (
            "fail",
            "medium",
            'ClusterRoleBinding dangling binds User "mallory" to ClusterRole "does-not-exist", which does not exist '
            '(clusterrole.rbac.authorization.k8s.io "does-not-exist" not found)',
        )
    ]


def test_resource_names_restricted_rule_is_not_a_secrets_risk() -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "one-secret"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["x"], "verbs": ["get"]}],
    }
    crb = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "one-secret"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "one-secret"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "u"}],
    }
    assert assess(RbacStore.from_dicts([role, crb])) == []


def _raw_catalog() -> dict[str, Any]:
    from importlib import resources

    data: dict[str, Any] = yaml.safe_load(resources.files("kapsec.rbac").joinpath("risks.yaml").read_text())
    return data


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["risks"].append(copy.deepcopy(d["risks"][1])),
            "risks.yaml: risks[18]: duplicate id RBAC-001",
        ),
        (lambda d: d["risks"][0].update(colour="red"), "risks.yaml: risks[0]: unknown keys ['colour']"),
        (
            lambda d: d["risks"][1].update(severity={"cluster": "huge"}),
            "risks.yaml: risks[1] (RBAC-001).severity: unknown severity 'huge' (expected one of: info, low, medium, high, critical)",
        ),
        (
            lambda d: d["risks"][1].update(match={"probes": [{"verbs": ["get"]}]}),
            "risks.yaml: risks[1] (RBAC-001).match.probes[0]: a probe needs exactly ['apiGroups', 'resources', 'verbs']",
        ),
        (
            lambda d: d["risks"][1].update(severity={"galaxy": "high"}),
            "risks.yaml: risks[1] (RBAC-001): severity must map some of ['cluster', 'kube-system', 'namespace'] to a severity",
        ),
    ],
)
def test_catalog_validation_fails_at_load(mutate: Any, message: str) -> None:
    data = _raw_catalog()
    mutate(data)
    with pytest.raises(ValidationError) as e:
        parse_catalog(data)
    assert str(e.value) == message


def test_risks_cli_json_and_exit_codes(tmp_path: Path) -> None:
    r = run_cli("rbac", "risks", "-f", str(BOOT), "-f", str(DEMO), "-q", "-o", "json")
    assert r.code == 1
    out = json.loads(r.stdout)
    assert out["summary"] == {"pass": 0, "fail": 7, "warn": 0, "skip": 0, "total": 7}
    assert out["target"]["rbac"] == {
        "roles": 9,
        "clusterRoles": 35,
        "roleBindings": 10,
        "clusterRoleBindings": 15,
    }
    assert [(f["id"], f["benchmarks"]) for f in out["findings"]] == [
        ("RBAC-017", {"cis-1.12": "5.1.1"}),
        ("RBAC-017", {"cis-1.12": "5.1.1"}),
        ("RBAC-001", {"cis-1.12": "5.1.2"}),
        ("RBAC-003", {"cis-1.12": "5.1.4"}),
        ("RBAC-004", {}),
        ("RBAC-008", {"cis-1.12": "5.1.10"}),
        ("RBAC-015", {}),
    ]
    first = out["findings"][0]
    assert (first["id"], first["evidence"]["detail"]) == (
        "RBAC-017",
        "ClusterRoleBinding bob-admin -> ClusterRole cluster-admin rules[0]",
    )
    # critical findings exist, so --fail-on critical still fails; --fail-on never does not
    assert run_cli("rbac", "risks", "-f", str(BOOT), "-f", str(DEMO), "-q", "--fail-on", "critical").code == 1
    assert run_cli("rbac", "risks", "-f", str(BOOT), "-f", str(DEMO), "-q", "--fail-on", "never").code == 0
    assert run_cli("rbac", "risks", "-f", str(BOOT), "-q").stdout == "no dangerous grants found\n"


def test_risks_list_catalog() -> None:
    r = run_cli("rbac", "risks", "--list", "-o", "json")
    assert r.code == 0
    listed = json.loads(r.stdout)
    ids = [x["id"] for x in listed]
    assert len(ids) == 18
    assert len(set(ids)) == 18
    # every CIS 1.12 section 5.1 control about RBAC grants is covered (5.1.6-5.1.7 concern token
    # mounting and system:masters membership, which RBAC objects cannot show)
    cis = sorted(
        {x["benchmarks"]["cis-1.12"] for x in listed if x["benchmarks"]}, key=lambda c: int(c.split(".")[2])
    )
    assert cis == [
        "5.1.1",
        "5.1.2",
        "5.1.3",
        "5.1.4",
        "5.1.5",
        "5.1.8",
        "5.1.9",
        "5.1.10",
        "5.1.11",
        "5.1.12",
        "5.1.13",
    ]


def test_risks_render_in_every_report_format() -> None:
    sarif = run_cli("rbac", "risks", "-f", str(BOOT), "-f", str(DEMO), "-q", "-o", "sarif")
    assert sarif.code == 1
    results = json.loads(sarif.stdout)["runs"][0]["results"]
    assert sorted(r["ruleId"] for r in results) == [
        "RBAC-001",
        "RBAC-003",
        "RBAC-004",
        "RBAC-008",
        "RBAC-015",
        "RBAC-017",
        "RBAC-017",
    ]
    for fmt in ("junit", "markdown", "html"):
        r = run_cli("rbac", "risks", "-f", str(BOOT), "-f", str(DEMO), "-q", "-o", fmt)
        assert r.code == 1
        assert "RBAC-008" in r.stdout


def test_controller_roles_and_bindings_are_defaults() -> None:
    store = RbacStore.from_objects(load_paths([BOOT, DATA / "rbac" / "controller-rbac"]))
    findings = assess(store)
    # the only one left: the bindings revision names a controller whose role the roles revision lacks
    assert _keys(findings) == [
        ("RBAC-016", "warn", "medium", "ClusterRoleBinding system:controller:podcheckpoint-controller")
    ]
    skipped = assess(store, AssessOptions(include_defaults=True))
    assert (
        "RBAC-005",
        "skip",
        "critical",
        "ClusterRoleBinding system:controller:clusterrole-aggregation-controller",
    ) in _keys(skipped)


def test_extra_rule_in_a_controller_role_is_reported() -> None:
    objs = [o for o, _ in load_paths([BOOT, DATA / "rbac" / "controller-rbac"]).objects]
    for o in objs:
        if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "system:controller:ttl-controller":
            o["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})
    findings = [f for f in assess(RbacStore.from_dicts(objs)) if f.id != "RBAC-016"]
    assert _keys(findings) == [
        ("RBAC-001", "fail", "critical", "ClusterRoleBinding system:controller:ttl-controller")
    ]


def _grant(name: str, ns: str, rules: list[dict[str, Any]], user: str = "u") -> list[dict[str, Any]]:
    kind, bkind = ("Role", "RoleBinding") if ns else ("ClusterRole", "ClusterRoleBinding")
    meta: dict[str, Any] = {"name": name, **({"namespace": ns} if ns else {})}
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta, "rules": rules},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": bkind,
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}],
        },
    ]


def test_pod_creation_names_the_service_accounts_it_reaches() -> None:
    objs = [o for o, _ in load_paths([BOOT, DATA / "rbac" / "controller-rbac"]).objects]
    objs += _grant(
        "pod-creator", "kube-system", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}]
    )
    findings = [f for f in assess(RbacStore.from_dicts(objs)) if f.id == "RBAC-003"]
    assert _keys(findings) == [("RBAC-003", "fail", "critical", "RoleBinding kube-system/pod-creator")]
    assert findings[0].message.endswith(
        'Service accounts in kube-system it can act as include: ServiceAccount "generic-garbage-collector/kube-system" '
        "(RBAC-001, RBAC-002, RBAC-004, RBAC-008, RBAC-012, RBAC-014); ServiceAccount "
        '"namespace-controller/kube-system" (RBAC-001, RBAC-002, RBAC-004, RBAC-008, RBAC-012, RBAC-014); '
        'ServiceAccount "resourcequota-controller/kube-system" (RBAC-001, RBAC-002, RBAC-014) and 12 more.'
    )


def test_csr_approval_needs_both_halves() -> None:
    approval = {
        "apiGroups": ["certificates.k8s.io"],
        "resources": ["certificatesigningrequests/approval"],
        "verbs": ["update"],
    }
    signer = {"apiGroups": ["certificates.k8s.io"], "resources": ["signers"], "verbs": ["approve"]}
    only_half = RbacStore.from_dicts(_grant("half", "", [approval]))
    assert [f.id for f in assess(only_half)] == []
    both = RbacStore.from_dicts(_grant("both", "", [approval, signer]))
    assert _keys(assess(both)) == [("RBAC-010", "fail", "critical", "ClusterRoleBinding both")]
    # a signer restricted by name is not "any signer"
    named = {**signer, "resourceNames": ["kubernetes.io/kube-apiserver-client-kubelet"]}
    assert assess(RbacStore.from_dicts(_grant("named", "", [approval, named]))) == []


def test_grant_to_a_default_service_account() -> None:
    objs = _grant("reader", "prod", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])
    objs[1]["subjects"] = [
        {"kind": "ServiceAccount", "name": "default"},
        {"kind": "ServiceAccount", "name": "app"},
    ]
    findings = assess(RbacStore.from_dicts(objs))
    assert _keys(findings) == [("RBAC-018", "fail", "medium", "RoleBinding prod/reader")]
    assert findings[0].message.startswith(
        'RoleBinding prod/reader grants Role prod/reader to ServiceAccount "default/prod" in namespace prod: rule 0 allows it.'
    )
    assert findings[0].benchmarks == {"cis-1.12": "5.1.5"}
