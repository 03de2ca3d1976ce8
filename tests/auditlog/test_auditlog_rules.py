"""Every shipped detection fires on its firing cases and stays quiet on its quiet ones."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import DATA
from kapsec.auditlog.detect import Detector
from kapsec.auditlog.event import decode_event
from kapsec.auditlog.pack import load_pack
from kapsec.errors import ValidationError

CASES: dict[str, dict[str, list[dict[str, Any]]]] = yaml.safe_load(
    (DATA / "auditlog" / "rule-cases" / "cases.yaml").read_text()
)
PACK = load_pack()

BASE: dict[str, Any] = {
    "kind": "Event",
    "apiVersion": "audit.k8s.io/v1",
    "level": "Metadata",
    "stage": "ResponseComplete",
    "requestURI": "/api/v1/namespaces/dev/pods",
    "verb": "get",
    "user": {"username": "jane", "groups": ["developers", "system:authenticated"]},
    "sourceIPs": ["10.0.0.7"],
    "userAgent": "kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07",
    "responseStatus": {"metadata": {}, "code": 200},
    "requestReceivedTimestamp": "2026-11-28T09:11:43.915144Z",
    "stageTimestamp": "2026-11-28T09:11:43.915728Z",
    "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge; an empty mapping in ``over`` replaces (``user: {}`` is an unauthenticated request)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and v and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def event(over: dict[str, Any], n: int) -> Any:
    d = merge(BASE, over)
    d["auditID"] = f"00000000-0000-0000-0000-{n:012d}"
    return decode_event(json.dumps(d))


def fired(ev: Any) -> set[str]:
    det = Detector(PACK)
    return {a.rule_id for a in det.feed(ev)}


SIMPLE = sorted(r.id for r in PACK.rules if r.correlation is None)


def test_every_rule_has_cases() -> None:
    assert sorted(CASES) == SIMPLE
    for rule_id, c in CASES.items():
        assert c.get("fire"), rule_id
        assert c.get("quiet"), rule_id


@pytest.mark.parametrize("rule_id", SIMPLE)
def test_rule_fires_on_its_firing_events(rule_id: str) -> None:
    for i, over in enumerate(CASES[rule_id]["fire"]):
        assert rule_id in fired(event(over, i)), f"{rule_id} fire[{i}]"


@pytest.mark.parametrize("rule_id", SIMPLE)
def test_rule_is_quiet_on_its_quiet_events(rule_id: str) -> None:
    for i, over in enumerate(CASES[rule_id]["quiet"]):
        assert rule_id not in fired(event(over, i)), f"{rule_id} quiet[{i}]"


def test_every_rule_has_metadata() -> None:
    for r in PACK.rules:
        assert r.title, r.id
        assert r.description, r.id
        assert r.confidence in ("low", "medium", "high"), r.id
        assert r.limits, f"{r.id} states no known limits"
        assert r.mitre, f"{r.id} has no ATT&CK technique"
        assert r.author, r.id
        assert r.origin, r.id
        assert r.path == f"rules/{r.id}.yml"


def test_body_rules_are_blind_at_metadata_level() -> None:
    ev = event({"verb": "create", "objectRef": {"resource": "pods", "namespace": "dev"}}, 1)
    det = Detector(PACK)
    assert det.feed(ev) == []
    assert set(det.stats.blind) == {
        "dangerous-capabilities",
        "host-namespace-pod",
        "hostpath-pod",
        "privileged-pod",
        "sensitive-hostpath-pod",
    }


def test_a_rule_fires_once_per_request_on_the_first_stage() -> None:
    det = Detector(PACK)
    over = {
        "verb": "get",
        "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "dev", "name": "web"},
    }
    started = event(over | {"stage": "ResponseStarted", "responseStatus": {"code": 101}}, 7)
    complete = event(over | {"responseStatus": {"code": 101}}, 7)
    first = det.feed(started)
    assert [a.rule_id for a in first] == ["pod-exec"]
    assert first[0].stage == "ResponseStarted"
    assert det.feed(complete) == []


def test_forbidden_burst_counts_per_user_within_five_minutes() -> None:
    det = Detector(PACK)
    alerts = []
    for i in range(6):
        over = {
            "user": {"username": "mallory"},
            "verb": "list",
            "objectRef": {"resource": "secrets", "namespace": f"ns{i}"},
            "responseStatus": {"code": 403},
            "annotations": {"authorization.k8s.io/decision": "forbid"},
            "requestReceivedTimestamp": f"2026-11-28T09:1{i}:00Z",
        }
        alerts += [a for a in det.feed(event(over, 100 + i)) if a.rule_id == "forbidden-burst"]
    # 09:10..09:14 are five refusals within 300 s; 09:15 starts a new count.
    assert len(alerts) == 1
    assert alerts[0].time == "2026-11-28T09:14:00Z"
    assert alerts[0].detail == "5 matches of forbidden-request within 300s for user.username=mallory"


def test_sigma_strings_match_case_insensitively_with_wildcards() -> None:
    ev = event(
        {
            "verb": "GET",
            "objectRef": {"resource": "Pods", "subresource": "EXEC", "namespace": "dev", "name": "w"},
        },
        3,
    )
    assert "pod-exec" in fired(ev)


def _write_rule(tmp: Path, name: str, detection: str, extra: str = "") -> Path:
    p = tmp / f"{name}.yml"
    p.write_text(
        f"title: t\nname: {name}\nlogsource: {{product: kubernetes, service: audit}}\n"
        f"detection:\n{detection}\nlevel: high\nlimits: none\n{extra}"
    )
    return tmp


def test_extra_rule_directory_is_loaded(tmp_path: Path) -> None:
    d = _write_rule(
        tmp_path,
        "payments-delete",
        "  sel:\n    verb: delete\n    objectRef.namespace: payments\n  condition: sel",
    )
    pack = load_pack([str(d)])
    rule = pack.by_id("payments-delete")
    assert rule is not None
    assert rule.needles == (b"payments",)
    det = Detector(pack)
    ev = event(
        {"verb": "delete", "objectRef": {"resource": "deployments", "namespace": "payments", "name": "api"}},
        9,
    )
    assert "payments-delete" in {a.rule_id for a in det.feed(ev)}


@pytest.mark.parametrize(
    ("detection", "extra", "message"),
    [
        (
            "  sel:\n    objectref.resource: pods\n  condition: sel",
            "",
            "unknown audit event field 'objectref.resource'",
        ),
        ("  sel:\n    - pods\n  condition: sel", "", "keyword (field-less) searches are not supported"),
        ("  sel:\n    verb: get\n  condition: sel", "stage: Done\n", "unknown stage(s) ['Done']"),
        (
            "  sel:\n    verb: get\n  condition: sel",
            "confidence: sure\n",
            "confidence must be one of low, medium, high",
        ),
        (
            "  sel:\n    verb: get\n  condition: sel",
            "needs: Everything\n",
            "needs must be one of Metadata, Request, RequestResponse",
        ),
    ],
)
def test_bad_rules_fail_at_load_naming_the_file(
    tmp_path: Path, detection: str, extra: str, message: str
) -> None:
    _write_rule(tmp_path, "bad", detection, extra)
    with pytest.raises(ValidationError) as exc:
        load_pack([str(tmp_path)])
    assert message in str(exc.value)
    assert str(tmp_path / "bad.yml") in str(exc.value)


def test_malformed_yaml_rule_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("title: x\nlogsource: [a: b\n")
    with pytest.raises(ValidationError) as exc:
        load_pack([str(tmp_path)])
    assert (
        str(exc.value)
        == f"{tmp_path / 'bad.yml'}:3: invalid YAML: expected ',' or ']', but got '<stream end>'"
    )


def test_duplicate_rule_id_is_rejected(tmp_path: Path) -> None:
    _write_rule(tmp_path, "pod-exec", "  sel:\n    verb: get\n  condition: sel")
    with pytest.raises(
        ValidationError, match=r"duplicate rule id 'pod-exec' \(also in rules/pod-exec\.yml\)"
    ):
        load_pack([str(tmp_path)])


def test_generated_predicates_agree_with_the_closure_trees_on_real_logs() -> None:
    from kapsec.auditlog.reader import read_events

    generated = [r for r in PACK.rules if r.predicate is not None and r.predicate is not r.reference]
    assert len(generated) >= 30  # every rule that reads no request body
    logs = [
        str(DATA / "oracle-1.36" / "audit-logs" / n / "audit.log") for n in ("moderate", "requestresponse")
    ]
    checked = 0
    for ev, _ in read_events([*logs, str(DATA / "auditlog" / "falco-trace-files")]):
        for r in generated:
            assert r.reference is not None
            assert r.predicate(ev) == r.reference(ev), (r.id, ev.auditID)
            checked += 1
    assert checked > 100000


def test_rule_with_a_list_of_conditions_fires_on_any(tmp_path: Path) -> None:
    _write_rule(
        tmp_path,
        "deletes",
        "  a:\n    verb: delete\n  b:\n    verb: deletecollection\n  condition:\n    - a\n    - b",
    )
    pack = load_pack([str(tmp_path)], only=["deletes"])
    det = Detector(pack)
    fired_on = [
        v for i, v in enumerate(("delete", "deletecollection", "get"))
        if det.feed(event({"verb": v, "objectRef": {"resource": "pods", "namespace": "d", "name": "p"}}, 200 + i))
    ]  # fmt: skip
    assert fired_on == ["delete", "deletecollection"]
