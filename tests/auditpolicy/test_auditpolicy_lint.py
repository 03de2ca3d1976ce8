"""Lint findings: pinned for every real-world policy, and each check shown failing and passing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from helpers import DATA
from kapsec.auditpolicy import lint, load_policy_file, load_policy_text
from kapsec.auditpolicy.profiles import GUIDE_MODERATE
from kapsec.model.findings import Finding, Status

POLICIES = DATA / "auditpolicy" / "policies"
ORACLE_POLICY = DATA / "oracle-1.36" / "audit-logs" / "policy.yaml"

# (id, severity, line) of every finding that is not a pass, reviewed by hand.
PINNED = {
    "falco-k8saudit-plugin-audit-policy.yaml": [
        ("AP005", "medium", 8),
        ("AP021", "medium", 60),
        ("AP021", "medium", 51),
        ("AP023", "low", 78),
        ("AP040", "medium", 8),
        ("AP040", "medium", 60),
        ("AP041", "low", 72),
        ("AP042", "low", 8),
    ],
    "gke-configure-helper-audit-policy.yaml": [("AP042", "low", 84)],
    "k3s-hardening-guide-audit-policy.yaml": [("AP013", "medium", 7)],
    "kops-docs-example-audit-policy.yaml": [("AP013", "medium", 8)],
    "kubernetes-docs-audit-policy.yaml": [
        ("AP021", "medium", 43),
        ("AP023", "low", 64),
        ("AP040", "medium", 8),
        ("AP041", "low", 58),
        ("AP042", "low", 8),
    ],
    "kubespray-apiserver-audit-policy.yaml": [("AP042", "low", 81)],
    "openshift-clo-functional-test-policy.yaml": [
        ("AP004", "high", 9),
        ("AP013", "medium", 9),
        ("AP020", "critical", 13),
        ("AP021", "medium", 13),
        ("AP023", "low", 15),
        ("AP030", "high", 11),
        ("AP032", "high", 11),
        ("AP035", "high", 11),
        ("AP041", "low", 13),
        ("AP042", "low", 9),
    ],
    "openshift-library-go-allrequestbodies.yaml": [
        ("AP001", "high", 38),
        ("AP005", "medium", 28),
        ("AP012", "medium", 40),
        ("AP021", "medium", 40),
        ("AP040", "medium", 40),
        ("AP041", "low", 40),
    ],
    "openshift-library-go-base-policy.yaml": [
        ("AP011", "critical", 10),
        ("AP030", "high", None),
        ("AP031", "high", None),
        ("AP032", "high", None),
        ("AP033", "high", None),
        ("AP034", "high", None),
        ("AP035", "high", None),
    ],
    "openshift-library-go-default.yaml": [("AP023", "low", 37)],
    "openshift-library-go-none.yaml": [
        ("AP011", "critical", 12),
        ("AP030", "high", 27),
        ("AP031", "high", 27),
        ("AP032", "high", 27),
        ("AP033", "high", 27),
        ("AP034", "high", 27),
        ("AP035", "high", 27),
    ],
    "openshift-library-go-writerequestbodies.yaml": [
        ("AP001", "high", 38),
        ("AP005", "medium", 28),
        ("AP021", "medium", 40),
        ("AP023", "low", 48),
        ("AP041", "low", 40),
    ],
    "rke2-cis-default-audit-policy.yaml": [
        ("AP011", "critical", 11),
        ("AP030", "high", 11),
        ("AP031", "high", 11),
        ("AP032", "high", 11),
        ("AP033", "high", 11),
        ("AP034", "high", 11),
        ("AP035", "high", 11),
    ],
    "talos-default-audit-policy.yaml": [("AP013", "medium", 8)],
}


def not_passed(findings: list[Finding]) -> list[tuple[str, str, int | None]]:
    return [(f.id, f.severity.label, f.evidence.line) for f in findings if f.status is not Status.PASS]


def by_id(findings: list[Finding], check_id: str) -> list[Finding]:
    return [f for f in findings if f.id == check_id and f.status is Status.FAIL]


def test_every_reference_policy_is_pinned() -> None:
    assert sorted(p.name for p in POLICIES.glob("*.yaml")) == sorted(PINNED)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_reference_policy_findings(name: str) -> None:
    assert not_passed(lint(load_policy_file(POLICIES / name))) == PINNED[name]


def test_typo_policy_message_names_the_field_and_the_effect() -> None:
    [f] = by_id(lint(load_policy_file(POLICIES / "openshift-library-go-writerequestbodies.yaml")), "AP001")
    assert f.message == (
        "unknown field \"rules[2].resources[4].resource\" (did you mean 'resources'?) is dropped by the API "
        "server, which only warns and falls back to lenient decoding. The rule is used without it, so it "
        "matches more requests than written."
    )
    assert f.evidence.value == "rules[2].resources[4].resource"


def test_oracle_moderate_policy_findings() -> None:
    findings = lint(load_policy_file(ORACLE_POLICY))
    assert not_passed(findings) == [
        ("AP021", "medium", 18),
        ("AP023", "low", 24),
        ("AP040", "medium", 8),
        ("AP042", "low", 8),
    ]
    assert [f.message for f in findings if f.status is Status.FAIL] == [
        "rule 2 (line 18) logs configmap data at Request for create, patch, update in namespace kube-system.",
        "configmaps, secrets, serviceaccounts/token, tokenreviews are logged at Metadata only because nothing "
        "matches them before the catch-all rule 3 (line 24).",
        "rule 0 (line 8) logs list responses at RequestResponse for pods: every object returned is written to "
        "the log.",
        "2 rule(s) log bodies with their managedFields (rule 0 (line 8), rule 2 (line 18)).",
    ]
    # The pods rule does not match subresources: exec/attach/portforward are Metadata via the catch-all.
    assert {f.id for f in findings if f.status is Status.PASS} >= {
        "AP010",
        "AP020",
        "AP022",
        "AP030",
        "AP032",
    }


def _guide_moderate_as_published() -> str:
    """The guide's text: the generated profile without kapsec's catch-all and suppressions."""
    lines = GUIDE_MODERATE.split("  # Catch-all (added by kapsec)")[0].splitlines()
    return "\n".join(x for x in lines if "kapsec-lint" not in x) + "\n"


def test_guide_moderate_as_published_is_flagged() -> None:
    findings = lint(load_policy_text(_guide_moderate_as_published(), "moderate.yaml"))
    assert [f.id for f in findings if f.status is Status.FAIL] == [
        "AP010",
        "AP021",
        "AP030",
        "AP031",
        "AP032",
        "AP033",
        "AP034",
        "AP035",
        "AP040",
        "AP042",
    ]
    [ap034] = by_id(findings, "AP034")
    assert ap034.message.startswith(
        "Pod and Deployment changes are not always audited: create deployments.apps in default by a user "
        "→ None (no rule (default level None))"
    )
    assert ap034.benchmarks == {"cis-1.12": "3.2.2"}


def text(rules: str, head: str = "") -> str:
    return f"apiVersion: audit.k8s.io/v1\nkind: Policy\n{head}rules:\n{rules}"


OMIT = "omitStages: [RequestReceived]\n"


@pytest.mark.parametrize(
    ("rules", "check_id", "message"),
    [
        (
            "- level: Metadata\n  verb: [get]\n",
            "AP001",
            "unknown field \"rules[0].verb\" (did you mean 'verbs'?) is dropped by the API server, which only "
            "warns and falls back to lenient decoding. The rule is used without it, so it matches more "
            "requests than written.",
        ),
        (
            "- level: Metadata\n  namespaces: ['*']\n- level: Metadata\n",
            "AP004",
            'namespaces entry "*" in rule 0 (line 5) is compared literally: it matches only a namespace named '
            '"*", not a pattern.',
        ),
        (
            "- level: Request\n  resources: [{group: '', resources: [deployments]}]\n- level: Metadata\n",
            "AP005",
            '"deployments" is listed under group "" in rule 0 (line 5), but it is served by group "apps" or '
            '"extensions": this entry never matches it.',
        ),
        (
            "- level: RequestResponse\n",
            "AP012",
            "the catch-all rule 0 (line 5) is RequestResponse: every request not matched earlier is logged "
            "with its request and response bodies.",
        ),
        (
            "- level: Request\n  resources: [{group: ''}]\n- level: Metadata\n",
            "AP020",
            "rule 0 (line 5) logs secret data at Request for create, patch, update in namespaces default, "
            "kube-system, team-a.",
        ),
        (
            "- level: Request\n  resources: [{group: authentication.k8s.io}]\n- level: Metadata\n",
            "AP022",
            "rule 0 (line 5) logs bearer tokens (TokenReview requests or TokenRequest responses) at Request for "
            "create.",
        ),
        (
            "- level: Metadata\n  resources: [{group: '', resources: ['pods/*']}]\n"
            "- level: None\n  resources: [{group: '', resources: [pods/exec]}]\n- level: Metadata\n",
            "AP050",
            "rule 1 (line 7) (level None) can never match: rule 0 (line 5) (level Metadata) comes first and "
            "matches every request it does.",
        ),
        (
            "- level: None\n  userGroups: [system:masters]\n- level: Metadata\n",
            "AP031",
            "RBAC changes are not always audited: create roles.rbac.authorization.k8s.io in default by an admin "
            "→ None (rule 0 (line 5)); create roles.rbac.authorization.k8s.io in kube-system by an admin → "
            "None (rule 0 (line 5)); create roles.rbac.authorization.k8s.io in team-a by an admin → None "
            "(rule 0 (line 5)) (and 29 more probe requests).",
        ),
    ],
)
def test_check_fails_with_exact_message(rules: str, check_id: str, message: str) -> None:
    findings = lint(load_policy_text(text(rules, OMIT), "p.yaml"))
    assert [f.message for f in by_id(findings, check_id)] == [message]


def test_watch_at_request_response_is_not_a_secret_leak() -> None:
    # Watch events never carry a response object, and a get has no request body.
    rules = "- level: RequestResponse\n  verbs: [watch]\n- level: Request\n  verbs: [get, list]\n- level: Metadata\n"
    findings = lint(load_policy_text(text(rules, OMIT), "p.yaml"))
    assert by_id(findings, "AP020") == []
    assert by_id(findings, "AP021") == []


@dataclass(frozen=True)
class FakeNeed:
    rule_id: str
    title: str
    level: str
    verbs: tuple[str, ...]
    resources: tuple[tuple[str, str, str], ...]


NEEDS = [
    FakeNeed("k8s-privileged-pod", "Create Privileged Pod", "Request", ("create",), (("", "pods", ""),)),
    FakeNeed(
        "k8s-cluster-admin-binding",
        "Attach to cluster-admin Role",
        "Request",
        ("create",),
        (("rbac.authorization.k8s.io", "clusterrolebindings", ""),),
    ),
    FakeNeed("k8s-exec", "Attach/Exec Pod", "Metadata", ("create", "get"), (("", "pods", "exec"),)),
]


def test_blind_detections_under_the_moderate_policy() -> None:
    findings = lint(load_policy_file(ORACLE_POLICY), NEEDS)
    assert [f.message for f in by_id(findings, "AP060")] == [
        "detection k8s-cluster-admin-binding (Attach to cluster-admin Role) needs level Request, but create "
        "clusterrolebindings.rbac.authorization.k8s.io by a user gets Metadata from rule 3 (line 24) "
        "(3 more probe requests fall short)."
    ]


def test_no_blind_detection_under_the_recommended_profile() -> None:
    from kapsec.auditpolicy import generate

    findings = lint(load_policy_text(generate("recommended"), "recommended"), NEEDS)
    assert by_id(findings, "AP060") == []


def test_suppressions_inside_a_rule_in_the_header_and_unused() -> None:
    src = (
        "# kapsec-lint: ignore=AP013 we keep RequestReceived on purpose\n"
        "# kapsec-lint: ignore=AP099 no such check\n"
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
        "- level: RequestResponse\n  verbs: [list]\n  resources: [{group: '', resources: [pods]}]\n"
        "  # kapsec-lint: ignore=AP040 we want lists\n"
        "- level: Metadata\n  # kapsec-lint: ignore=AP012 nothing to suppress here\n"
    )
    findings = lint(load_policy_text(src, "p.yaml"))
    got = [(f.id, f.status.value, f.evidence.line) for f in findings if f.status is not Status.PASS]
    assert got == [
        ("AP013", "skip", 6),
        ("AP023", "fail", 10),
        ("AP040", "skip", 6),
        ("AP042", "fail", 6),
        ("AP090", "fail", 2),
        ("AP090", "fail", 11),
    ]
    ap013 = next(f for f in findings if f.id == "AP013")
    assert ap013.message.startswith("suppressed (line 1: we keep RequestReceived on purpose): ")
    assert [f.message for f in findings if f.id == "AP090"] == [
        "kapsec-lint: ignore=AP099 on line 2 names no kapsec check",
        "kapsec-lint: ignore=AP012 on line 11 suppresses nothing",
    ]


def test_real_rule_pack_is_blind_to_bodies_under_the_moderate_policy() -> None:
    from kapsec.auditlog.requirements import detection_needs

    findings = lint(load_policy_file(ORACLE_POLICY), detection_needs())
    blind = [f.evidence.value for f in by_id(findings, "AP060")]
    assert blind == [
        "cluster-admin-binding",
        "configmap-credentials",
        "dangerous-capabilities",
        "host-namespace-pod",
        "hostpath-pod",
        "ingress-without-tls",
        "nodeport-service",
        "privileged-pod",
        "role-pod-exec",
        "role-write-privileges",
        "sensitive-hostpath-pod",
        "wildcard-role",
    ]
    # Every Metadata-level detection (exec, token requests, 401/403, impersonation...) still sees its events.
    assert all(n.level == "Request" for n in detection_needs() if n.rule_id in blind)
