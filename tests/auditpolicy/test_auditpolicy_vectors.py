"""Every upstream audit-policy vector (checker_test.go, validation_test.go, reader_test.go) passes."""

from __future__ import annotations

import json

import pytest

from helpers import DATA
from kapsec.auditpolicy import PolicyDecodeError, evaluate, load_policy_text, policy_from_dict
from kapsec.auditpolicy.checker import rule_matches
from kapsec.auditpolicy.validation import validate_policy
from kapsec.model.request import RequestAttributes

VECTORS = json.loads((DATA / "upstream-vectors" / "audit-policy-vectors.json").read_text())
VALIDATION = json.loads((DATA / "upstream-vectors" / "audit-policy-validation-vectors.json").read_text())


def test_vector_counts() -> None:
    assert len(VECTORS) == 115
    assert len(VALIDATION) == 27


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_evaluation_vector(vector: dict) -> None:
    policy = policy_from_dict(vector["policy"], validate=False)
    request = RequestAttributes.from_dict(vector["request"])
    decision = evaluate(policy, request)
    expect = vector["expect"]
    assert decision.level == expect["level"]
    assert decision.omit_stages == frozenset(expect["omitStages"])
    if "omitManagedFields" in expect:
        assert decision.omit_managed_fields is expect["omitManagedFields"]
    # The cached evaluator and the plain upstream-shaped matcher agree on the deciding rule.
    plain = next((i for i, r in enumerate(policy.rules) if rule_matches(r, request)), None)
    assert decision.rule_index == plain


@pytest.mark.parametrize("vector", VALIDATION, ids=[v["name"] for v in VALIDATION])
def test_validation_vector(vector: dict) -> None:
    expect = vector["expect"]
    if vector["stage"] == "ValidatePolicy":
        errors = validate_policy(policy_from_dict(vector["policy"], validate=False))
        assert [(e.field, e.type) for e in errors] == [(e["field"], e["type"]) for e in expect["errors"]]
        for got, want in zip(errors, expect["errors"], strict=True):
            if "value" in want:
                assert got.value == want["value"]
            if "detail" in want:
                assert got.detail == want["detail"]
        return
    if expect["valid"]:
        policy = load_policy_text(vector["policyYAML"], "policy.yaml")
        assert [r.to_dict() for r in policy.rules] == [
            {"level": r["level"]}
            | {k: v for k, v in r.items() if k != "level" and k != "resources"}
            | ({"resources": [{"group": "", **g} for g in r["resources"]]} if "resources" in r else {})
            for r in expect["parsedRules"]
        ]
    else:
        with pytest.raises(PolicyDecodeError) as info:
            load_policy_text(vector["policyYAML"], "policy.yaml")
        if "errorContains" in expect:
            assert expect["errorContains"] in info.value.server_error


def test_unknown_field_in_reader_vector_is_kept_as_warning() -> None:
    vector = next(v for v in VALIDATION if v["name"] == "TestParsePolicyWithUnknownField")
    policy = load_policy_text(vector["policyYAML"], "policy.yaml")
    assert [(w.path, w.kind, w.line) for w in policy.warnings] == [
        ("rules[0].resources[0].verbs", "unknown field", 9)
    ]
