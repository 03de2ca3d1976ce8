"""The plan on its own: pure, from an ApiServerConfig and the scan's statuses."""

from __future__ import annotations

import pytest

from kapsec.errors import UsageError
from kapsec.harden.plan import PlanOptions, Safety, make_plan, parse_set
from kapsec.model.findings import Status
from kapsec.sources.apiserver import from_manifest_text

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata: {name: kube-apiserver, namespace: kube-system}
spec:
  containers:
  - command:
    - kube-apiserver
    - --audit-log-path=/var/log/kubernetes/audit/audit.log
    - --audit-log-maxage=7
    image: registry.k8s.io/kube-apiserver:v1.35.0
    name: kube-apiserver
"""
CFG = from_manifest_text(MANIFEST, "/m.yaml")


def test_harden_plan_nothing_for_passing_checks() -> None:
    plan = make_plan(CFG, {"AUDIT-002": Status.PASS, "API-001": Status.PASS}, PlanOptions())
    assert plan.empty
    assert plan.changes == ()


def test_harden_plan_one_failing_check_one_change() -> None:
    plan = make_plan(CFG, {"AUDIT-002": Status.FAIL}, PlanOptions())
    assert [(c.check, c.action, c.target, c.value, c.safety) for c in plan.changes] == [
        ("AUDIT-002", "set-flag", "--audit-log-maxage", "30", Safety.NEEDS_RESTART)
    ]
    assert plan.edits.set_flags == (("audit-log-maxage", "30"),)
    assert plan.files == ()


def test_harden_plan_warn_is_advice_not_a_change() -> None:
    plan = make_plan(
        CFG,
        {"AUDIT-005": Status.WARN},
        PlanOptions(messages={"AUDIT-005": "cannot read --audit-policy-file"}),
    )
    assert plan.empty
    assert [(c.check, c.action, c.reason) for c in plan.changes] == [
        ("AUDIT-005", "advice", "not changed: kapsec could not evaluate it (cannot read --audit-policy-file)")
    ]


def test_harden_plan_skip_and_set() -> None:
    opts = PlanOptions(
        skip=frozenset({"AUDIT-002"}),
        sets=parse_set(["--profiling=false"]),
        flag_checks={"profiling": "API-001"},
    )
    plan = make_plan(CFG, {"AUDIT-002": Status.FAIL}, opts)
    assert [(c.check, c.target, c.value, c.reason) for c in plan.changes] == [
        ("API-001", "--profiling", "false", "asked for with --set")
    ]


def test_harden_plan_set_wins_over_the_profile() -> None:
    plan = make_plan(CFG, {"AUDIT-002": Status.FAIL}, PlanOptions(sets=(("audit-log-maxage", "90"),)))
    assert plan.edits.set_flags == (("audit-log-maxage", "90"),)


def test_harden_plan_unknown_profile_and_bad_set() -> None:
    with pytest.raises(UsageError, match="unknown profile 'strict'"):
        make_plan(CFG, {}, PlanOptions(profile="strict"))
    with pytest.raises(UsageError, match="expected FLAG=VALUE"):
        parse_set(["profiling"])
