"""The oracle-1.36 scripted attack session (56 steps) against the whole pack.

Step windows come from ``steps.jsonl`` (``start``/``end`` bracket each step's events). The
expected detections are the README's list; every one of those steps must raise an alert, and
no event outside them (bootstrap, health probes, the admin's setup) may raise one at high
severity or above.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

from helpers import DATA
from kapsec.auditlog.detect import Detector
from kapsec.auditlog.event import parse_time
from kapsec.auditlog.pack import load_pack
from kapsec.auditlog.reader import read_events
from kapsec.model.findings import Severity

LOGS = DATA / "oracle-1.36" / "audit-logs"

# README "Detections (expected hits, by step number)": theme -> steps.
EXPECTED = {
    "secrets across namespaces / denied": [9, 10, 24, 36, 37, 38, 39, 40, 53],
    "privileged or host-namespace pods": [11, 12, 31, 32, 33],
    "exec, attach, port-forward": [15, 16, 17, 41, 42],
    "bindings to cluster-admin": [19, 20, 34, 35, 52, 54],
    "impersonation": [21, 27, 37, 38, 39],
    "TokenRequest": [7, 25],
    "anonymous or unauthenticated": [28, 29, 30, 49, 50, 51, 52, 53, 54, 55, 56],
    "kube-system ConfigMap change": [6, 45],
    "deletes": [46, 47, 48, 55],
}
# The rule(s) that must carry each theme (one of them per step).
THEME_RULES = {
    "secrets across namespaces / denied": {
        "secret-read",
        "secrets-list",
        "secrets-list-all-namespaces",
        "secret-access-denied",
    },
    "privileged or host-namespace pods": {"privileged-pod", "host-namespace-pod", "sensitive-hostpath-pod"},
    "exec, attach, port-forward": {"pod-exec", "pod-portforward"},
    "bindings to cluster-admin": {"rbac-binding-change", "cluster-admin-binding", "rbac-escalation-denied"},
    "impersonation": {"impersonation", "impersonation-denied", "impersonation-privileged"},
    "TokenRequest": {"token-request"},
    "kube-system ConfigMap change": {"kube-system-configmap-change"},
    "deletes": {"workload-deleted", "secrets-modified", "rbac-binding-change"},
}
ANON_RULES = {
    "unauthenticated-request",
    "anonymous-request-allowed",
    "anonymous-denied",
    "rbac-change-by-unauthenticated",
    "rbac-binding-change",  # step 52/55: admin binds/unbinds system:anonymous (Metadata level shows the binding only)
}


def _steps(log: str) -> list[dict[str, Any]]:
    steps = [json.loads(x) for x in (LOGS / log / "steps.jsonl").read_text().splitlines() if x.strip()]
    for s in steps:
        s["s"], s["e"] = parse_time(s["start"]), parse_time(s["end"])
    return steps


def _alerts_by_step(log: str) -> tuple[dict[int | None, list[Any]], Detector]:
    steps = _steps(log)
    det = Detector(load_pack())
    by: dict[int | None, list[Any]] = defaultdict(list)
    for ev, loc in read_events([str(LOGS / log / "audit.log")]):
        for a in det.feed(ev, loc):
            t = parse_time(a.time)
            step = next((s["step"] for s in steps if s["s"] <= t <= s["e"]), None)
            by[step].append(a)
    return by, det


@pytest.fixture(scope="module", params=["moderate", "requestresponse"])
def session(request: pytest.FixtureRequest) -> tuple[str, dict[int | None, list[Any]], Detector]:
    by, det = _alerts_by_step(request.param)
    return request.param, by, det


def test_every_attack_step_is_detected_by_its_theme(session: tuple[str, Any, Any]) -> None:
    log, by, _ = session
    for theme, steps in EXPECTED.items():
        rules = THEME_RULES.get(theme, ANON_RULES)
        for step in steps:
            got = {a.rule_id for a in by.get(step, [])}
            assert got & rules, f"{log}: step {step} ({theme}) raised only {sorted(got)}"


def test_quiet_part_raises_nothing_high(session: tuple[str, Any, Any]) -> None:
    _log, by, _ = session
    attack = {s for steps in EXPECTED.values() for s in steps} | {8, 22, 26}
    loud = [
        (step, a.rule_id, a.summary())
        for step, alerts in by.items()
        if step not in attack
        for a in alerts
        if a.severity >= Severity.HIGH
    ]
    assert loud == []
    # Outside every step window (bootstrap, health probes, the restart) nothing fires at all.
    assert by.get(None, []) == []


def test_forged_certificate_is_an_unauthenticated_request(session: tuple[str, Any, Any]) -> None:
    _, by, _ = session
    (a,) = [a for a in by[29] if a.rule_id == "unauthenticated-request"]
    assert (a.user, a.verb, a.target, a.code, a.stage) == ("", "list", "secrets", 401, "ResponseStarted")


def test_moderate_log_is_blind_to_binding_bodies() -> None:
    by, det = _alerts_by_step("moderate")
    assert not any(a.rule_id == "cluster-admin-binding" for alerts in by.values() for a in alerts)
    assert det.stats.blind["cluster-admin-binding"] == 8


def test_requestresponse_log_sees_cluster_admin_bindings() -> None:
    by, det = _alerts_by_step("requestresponse")
    steps = sorted(s for s, alerts in by.items() for a in alerts if a.rule_id == "cluster-admin-binding")
    # 19 is dev-bob's attempt refused by the escalation check (the body was decoded); 20 was
    # refused by the authorizer before the body was read, so it has no requestObject.
    assert steps == [19, 34, 35, 52, 54]
    assert det.stats.blind == {}


def test_exec_alert_carries_the_event_location_and_attack_technique() -> None:
    by, _ = _alerts_by_step("moderate")
    (a,) = [a for a in by[41] if a.rule_id == "pod-exec"]
    assert a.to_dict() | {"auditID": "x"} == {
        "rule": "pod-exec",
        "title": "Exec or attach into a pod",
        "severity": "medium",
        "confidence": "high",
        "mitre": ["T1609"],
        "auditID": "x",
        "stage": "ResponseStarted",
        "time": a.time,
        "user": "admin",
        "impersonatedUser": None,
        "verb": "get",
        "target": "pods/exec kube-system/node-debugger",
        "code": 101,
        "decision": "allow",
        "sourceIP": "127.0.0.1",
        "userAgent": a.user_agent,
        "file": str(LOGS / "moderate" / "audit.log"),
        "line": a.location.line,
    }
    line = (LOGS / "moderate" / "audit.log").read_text().splitlines()[a.location.line - 1]
    assert json.loads(line)["auditID"] == a.audit_id
