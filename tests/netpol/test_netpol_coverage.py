"""NetworkPolicy coverage: selectors, policyTypes defaulting, isolation per pod and namespace,
policies selecting nothing, allow-all rules, the checklist status and the CLI."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from helpers import DATA, run_cli
from kapsec.model.findings import Status
from kapsec.netpol import checklist_status
from kapsec.netpol.coverage import EGRESS, INGRESS, analyse, parse_policy
from kapsec.netpol.generate import generate
from kapsec.netpol.selectors import Selector, SelectorError
from kapsec.sources.objects import SourceRef, load_paths, load_text

SNAPSHOT = DATA / "netpol" / "snapshot.json"
HERE = SourceRef("t.yaml", 1)


def policy(spec: dict[str, Any], name: str = "p", ns: str = "app") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


# --- selectors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {}, True),
        ({"matchLabels": {"app": "a"}}, {"app": "a", "x": "y"}, True),
        ({"matchLabels": {"app": "a"}}, {"app": "b"}, False),
        (
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}]},
            {"tier": "api"},
            True,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]},
            {"tier": "web"},
            False,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"tier": ""}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"tier": "x"}, False),
        (
            {
                "matchLabels": {"app": "a"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}],
            },
            {"app": "a", "env": "dev"},
            False,
        ),
    ],
)
def test_selector_matching(selector: dict[str, Any], labels: dict[str, str], expected: bool) -> None:
    assert Selector.parse(selector).matches(labels) is expected


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
            's.matchExpressions[0].operator: Unsupported value: "Equals": supported values: "In", "NotIn", "Exists", "DoesNotExist"',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In"}]},
            "s.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "s.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        ),
    ],
)
def test_invalid_selectors(selector: dict[str, Any], message: str) -> None:
    with pytest.raises(SelectorError) as err:
        Selector.parse(selector, "s")
    assert str(err.value) == message


# --- policyTypes defaulting and rule breadth ----------------------------------------------


@pytest.mark.parametrize(
    ("spec", "types"),
    [
        ({"podSelector": {}}, {INGRESS}),
        ({"podSelector": {}, "egress": []}, {INGRESS}),
        ({"podSelector": {}, "egress": [{}]}, {INGRESS, EGRESS}),
        ({"podSelector": {}, "policyTypes": ["Egress"]}, {EGRESS}),
    ],
)
def test_policy_types_defaulting(spec: dict[str, Any], types: set[str]) -> None:
    assert parse_policy(policy(spec), HERE).types == types


def test_default_deny_and_broad_rules() -> None:
    deny = parse_policy(policy({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}), HERE)
    assert deny.default_deny(INGRESS)
    assert deny.default_deny(EGRESS)
    broad = parse_policy(
        policy(
            {
                "podSelector": {},
                "ingress": [
                    {"from": [{"namespaceSelector": {}}]},
                    {"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]},
                    {"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]},
                    {"ports": [{"port": 443}]},
                    {"from": [{"namespaceSelector": {}}], "ports": [{"port": 443}]},
                ],
            }
        ),
        HERE,
    )
    assert [r.breadth for r in broad.rules[INGRESS]] == [
        "namespaceSelector {} with no ports: every pod in every namespace",
        "ipBlock 0.0.0.0/0 with no ports: every address",
        None,
        None,
        None,
    ]
    assert not broad.default_deny(INGRESS)


# --- the snapshot -------------------------------------------------------------------------


def test_snapshot_coverage() -> None:
    cov = analyse(load_paths([SNAPSHOT]))
    by_ns = {n.namespace: n for n in cov.namespaces}
    assert list(by_ns) == [
        "default",
        "kube-node-lease",
        "kube-public",
        "kube-system",
        "legacy",
        "payments",
        "prod",
        "web",
    ]
    prod = by_ns["prod"]
    assert prod.default_deny == {INGRESS: ("default-deny-all",), EGRESS: ("default-deny-all",)}
    rows = {s.subject.ref: (s.policies, s.ingress.text, s.egress.text) for s in prod.subjects}
    assert rows == {
        "Pod/prod/api-7f9c6d8b4-abc12": (
            ("allow-api-from-web", "allow-dns-egress", "default-deny-all"),
            "default-deny",
            "default-deny",
        ),
        "Pod/prod/api-7f9c6d8b4-def34": (
            ("allow-api-from-web", "allow-dns-egress", "default-deny-all"),
            "default-deny",
            "default-deny",
        ),
        "Pod/prod/report-29400000-k8v2n": (
            ("allow-dns-egress", "default-deny-all"),
            "default-deny",
            "default-deny",
        ),
    }
    web = by_ns["web"]
    assert web.default_deny == {INGRESS: ("default-deny-ingress",), EGRESS: ()}
    [frontend] = web.subjects
    assert frontend.ingress.open_by == (
        "allow-all-ingress ingress[0]: no peers and no ports: allows everything",
    )
    assert (frontend.ingress.text, frontend.egress.text) == ("open (allow-all rule)", "open (no policy)")
    assert web.undoing_rules == (
        ("allow-all-ingress", "ingress[0]", "no peers and no ports: allows everything", 1),
    )
    assert by_ns["legacy"].selecting_nothing == ("allow-metrics",)
    assert [s.subject.ref for s in by_ns["legacy"].unselected()] == ["Pod/legacy/old-app-0"]
    assert [(p.ref, p.message) for p in cov.problems] == [
        (
            "payments/bad-selector",
            'spec.podSelector.matchExpressions[0].operator: Unsupported value: "Equals": supported values: '
            '"In", "NotIn", "Exists", "DoesNotExist"',
        )
    ]
    assert by_ns["kube-system"].subjects[0].subject.host_network is True


def test_workload_templates_stand_in_when_no_pods() -> None:
    text = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: w, image: x}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-only, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: lb}}}]}]
"""
    cov = analyse(load_text(text, "shop.yaml"))
    [shop] = cov.namespaces
    assert shop.subjects_are_templates
    [s] = shop.subjects
    assert (s.subject.ref, s.policies, s.ingress.text, s.egress.text) == (
        "Deployment/shop/web",
        ("web-only",),
        "default-deny",
        "open (no policy)",
    )


def test_checklist_status() -> None:
    status, reason = checklist_status(load_paths([SNAPSHOT]))
    assert status is Status.FAIL
    assert reason == (
        "3 of 5 namespaces have no default-deny ingress: default, legacy, payments; "
        "4 of 5 have no default-deny egress: default, legacy, payments, web; "
        "1 allow-all rules undo a default deny: web/allow-all-ingress ingress[0]; "
        "1 invalid policies ignored: payments/bad-selector"
    )
    good = "\n---\n".join(
        [
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}",
            *(yaml.safe_dump(p) for p in generate(["shop"], dns=True)),
        ]
    )
    assert checklist_status(load_text(good, "good.yaml")) == (
        Status.PASS,
        "all 1 non-system namespaces deny ingress and egress by default",
    )
    assert (
        checklist_status(load_text("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n", "p.yaml"))[0]
        is Status.WARN
    )


# --- generate -----------------------------------------------------------------------------


def test_generate_default_deny_with_dns() -> None:
    result = run_cli("netpol", "generate", "-n", "shop", "--allow-dns")
    assert result.code == 0
    docs = list(yaml.safe_load_all(result.stdout))
    assert docs == [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny-all", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-dns-egress", "namespace": "shop"},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                },
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        },
    ]
    # what we generate is a default deny to our own analysis, and DNS is not an allow-all
    cov = analyse(load_text(result.stdout, "gen.yaml"))
    assert cov.namespaces[0].default_deny == {INGRESS: ("default-deny-all",), EGRESS: ("default-deny-all",)}
    assert cov.namespaces[0].undoing_rules == ()


def test_generate_for_every_namespace_in_a_snapshot() -> None:
    result = run_cli("netpol", "generate", "--from", str(SNAPSHOT), "--direction", "ingress", "-o", "json")
    assert result.code == 0
    doc = json.loads(result.stdout)
    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in doc["items"]] == [
        (ns, "default-deny-ingress") for ns in ("default", "prod", "web", "legacy", "payments")
    ]


def test_generate_usage_errors() -> None:
    assert run_cli("netpol", "generate").stderr == (
        "kapsec: error: name the namespaces: --namespace NS (repeatable), or --from/--cluster to take them all\n"
    )
    result = run_cli("netpol", "generate", "-n", "a", "--direction", "ingress", "--allow-dns")
    assert result.code == 2
    assert "--allow-dns only makes sense when egress is denied" in result.stderr


# --- check CLI ----------------------------------------------------------------------------


def test_check_cli_json() -> None:
    result = run_cli("netpol", "check", "--from", str(SNAPSHOT), "-o", "json")
    assert result.code == 1
    doc = json.loads(result.stdout)
    failed = [(f["id"], f["message"]) for f in doc["findings"] if f["status"] != "pass"]
    assert failed == [
        ("NETPOL-001", "namespace default: no NetworkPolicy denies ingress by default"),
        ("NETPOL-002", "namespace default: no NetworkPolicy denies egress by default"),
        ("NETPOL-001", "namespace legacy: no NetworkPolicy denies ingress by default"),
        ("NETPOL-002", "namespace legacy: no NetworkPolicy denies egress by default"),
        ("NETPOL-003", "namespace legacy: 1 of 1 pods selected by no policy: Pod/legacy/old-app-0"),
        (
            "NETPOL-004",
            "legacy/allow-metrics: podSelector app=metrics matches none of the 1 pods in the namespace "
            "(a typo in its labels leaves them unprotected)",
        ),
        ("NETPOL-001", "namespace payments: no NetworkPolicy denies ingress by default"),
        ("NETPOL-002", "namespace payments: no NetworkPolicy denies egress by default"),
        ("NETPOL-003", "namespace payments: 1 of 1 pods selected by no policy: Pod/payments/pay-0"),
        ("NETPOL-002", "namespace web: no NetworkPolicy denies egress by default"),
        (
            "NETPOL-005",
            "web/allow-all-ingress ingress[0]: no peers and no ports: allows everything; it undoes the "
            "namespace's default deny for the 1 pods it selects",
        ),
        (
            "NETPOL-006",
            'payments/bad-selector: spec.podSelector.matchExpressions[0].operator: Unsupported value: "Equals": '
            'supported values: "In", "NotIn", "Exists", "DoesNotExist" (the API server would reject it; ignored here)',
        ),
    ]
    assert all(f["checklist"] == "network-policies" for f in doc["findings"])
    web = next(n for n in doc["coverage"] if n["namespace"] == "web")
    assert web["pods"][0]["ingress"] == "open (allow-all rule)"
    assert web["allowAllUndoingDefaultDeny"] == [
        {
            "policy": "allow-all-ingress",
            "rule": "ingress[0]",
            "reason": "no peers and no ports: allows everything",
            "podsOpened": 1,
        }
    ]
    # the threshold decides the exit code
    assert run_cli("netpol", "check", "--from", str(SNAPSHOT), "--fail-on", "never", "-o", "json").code == 0
    assert run_cli("netpol", "check", "--from", str(SNAPSHOT), "--fail-on", "high", "-o", "json").code == 1
    assert (
        run_cli("netpol", "check", "--from", str(SNAPSHOT), "--fail-on", "critical", "-o", "json").code == 0
    )


def test_check_cli_text_and_system(tmp_path: Any) -> None:
    result = run_cli("netpol", "check", "--from", str(SNAPSHOT), "--include-system")
    assert result.code == 1
    assert (
        "FAIL NETPOL-001 [medium] namespace kube-system: no NetworkPolicy denies ingress by default"
        in result.stdout
    )
    assert "web/allow-all-ingress ingress[0]" in result.stdout


def test_check_cli_bad_input(tmp_path: Any) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: NetworkPolicy\nmetadata: {name: x\n")
    result = run_cli("netpol", "check", "--from", str(bad), "-o", "json")
    assert result.code == 2
    assert result.stderr.startswith(f"kapsec: warning: {bad}:")
    assert "invalid YAML" in result.stderr
    missing = run_cli("netpol", "check", "--from", str(tmp_path / "nope.yaml"))
    assert missing.code == 2
    assert missing.stderr == f"kapsec: error: {tmp_path / 'nope.yaml'}: no such file or directory\n"


def test_check_cli_namespace_filter() -> None:
    result = run_cli(
        "netpol", "check", "--from", str(SNAPSHOT), "-n", "web", "-n", "kube-system", "-o", "json"
    )
    assert result.code == 1
    doc = json.loads(result.stdout)
    assert [n["namespace"] for n in doc["coverage"]] == ["kube-system", "web"]
    assert sorted({f["message"].split(":")[0] for f in doc["findings"] if f["status"] == "fail"}) == [
        "namespace kube-system",
        "namespace web",
        "web/allow-all-ingress ingress[0]",
    ]
    only_prod = run_cli("netpol", "check", "--from", str(SNAPSHOT), "-n", "prod", "-o", "json")
    assert only_prod.code == 0
    assert {f["status"] for f in json.loads(only_prod.stdout)["findings"]} == {"pass"}


def test_checklist_status_says_when_there_is_no_policy_at_all() -> None:
    status, reason = checklist_status(
        load_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n", "ns.yaml")
    )
    assert status is Status.FAIL
    assert reason == (
        "the input has no NetworkPolicy at all (if the snapshot did not collect them, take one with "
        "`kapsec snapshot --cluster`, which does); 1 of 1 namespaces have no default-deny ingress: shop; "
        "1 of 1 have no default-deny egress: shop"
    )


def test_generate_validates_namespace_names(tmp_path: Any) -> None:
    rule = (
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
        "start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex used for "
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    )
    for name in ("Bad_NS", "-web", "web-", "a.b", ""):
        r = run_cli("netpol", "generate", "-n", "ok", "-n", name)
        assert (r.code, r.stdout) == (2, "")
        assert (
            r.stderr == f'kapsec: error: --namespace: metadata.namespace: Invalid value: "{name}": {rule}\n'
        )
    long = "a" * 64
    r = run_cli("netpol", "generate", "-n", long)
    assert r.stderr == (
        f'kapsec: error: --namespace: metadata.namespace: Invalid value: "{long}": '
        "must be no more than 63 characters\n"
    )
    assert run_cli("netpol", "generate", "-n", "a" * 63, "-n", "0-x9").code == 0
    r = run_cli("netpol", "generate", "-n", "web", "--allow-dns", "--dns-namespace", "Kube_System")
    assert r.code == 2
    assert r.stderr.startswith(
        'kapsec: error: --dns-namespace: metadata.namespace: Invalid value: "Kube_System": '
    )
    ns = tmp_path / "ns.yaml"
    ns.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: Web}\n")
    r = run_cli("netpol", "generate", "-f", str(ns))
    assert r.stderr == f'kapsec: error: {ns}:1: metadata.name: Invalid value: "Web": {rule}\n'


def test_generate_from_input_without_namespaces(tmp_path: Any) -> None:
    cm = tmp_path / "cm.yaml"
    cm.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    r = run_cli("netpol", "generate", "-f", str(cm))
    assert (r.code, r.stdout, r.stderr) == (
        2,
        "",
        f"kapsec: error: {cm}: no Namespace found to cover; name the namespaces with --namespace NS\n",
    )
    system = tmp_path / "sys.yaml"
    system.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n")
    r = run_cli("netpol", "generate", "-f", str(system))
    assert r.stderr == (
        f"kapsec: error: {system}: only system Namespaces found to cover; name the namespaces with --namespace NS\n"
    )
    # --namespace alongside an input without Namespaces is enough
    r = run_cli("netpol", "generate", "-f", str(cm), "-n", "web", "-o", "json")
    assert r.code == 0
    assert [p["metadata"]["namespace"] for p in json.loads(r.stdout)["items"]] == ["web"]
    r = run_cli(
        "netpol", "generate", "-f", "-", "--direction", "ingress", "-o", "json", input=SNAPSHOT.read_text()
    )
    assert r.code == 0
    assert [p["metadata"]["namespace"] for p in json.loads(r.stdout)["items"]] == [
        "default",
        "prod",
        "web",
        "legacy",
        "payments",
    ]


def test_check_cli_nothing_to_check_and_stdin(tmp_path: Any) -> None:
    cm = tmp_path / "cm.yaml"
    cm.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    for fmt in ("text", "json", "sarif"):
        r = run_cli("netpol", "check", "-f", str(cm), "-o", fmt)
        assert (r.code, r.stdout, r.stderr) == (
            2,
            "",
            f"kapsec: error: {cm}: no Namespaces, Pods, workloads or NetworkPolicies found: nothing to check\n",
        )
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    r = run_cli("netpol", "check", "-f", str(empty_dir), "-f", str(cm))
    assert (r.code, r.stdout, r.stderr) == (
        2,
        "",
        f"kapsec: error: {empty_dir}, {cm}: no Namespaces, Pods, workloads or NetworkPolicies found: "
        "nothing to check\n",
    )
    from_file = run_cli("netpol", "check", "-f", str(SNAPSHOT), "-o", "json")
    from_stdin = run_cli("netpol", "check", "-f", "-", "-o", "json", input=SNAPSHOT.read_text())
    assert (from_stdin.code, from_stdin.stderr) == (1, "")
    ids = [(f["id"], f["message"]) for f in json.loads(from_file.stdout)["findings"]]
    assert [(f["id"], f["message"]) for f in json.loads(from_stdin.stdout)["findings"]] == ids
    assert json.loads(from_stdin.stdout)["target"]["sources"] == ["<stdin>"]
    r = run_cli("netpol", "check", "-f", "-", input="")
    assert (r.code, r.stderr) == (
        2,
        "kapsec: error: <stdin>: no Namespaces, Pods, workloads or NetworkPolicies found: nothing to check\n",
    )
