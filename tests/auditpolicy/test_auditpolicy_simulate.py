"""Replaying the oracle's real audit logs: the producing policy reproduces every recorded event."""

from __future__ import annotations

import json

import pytest

from helpers import DATA, run_cli
from kapsec.auditlog.reader import read_events_sized
from kapsec.auditpolicy import load_policy_file
from kapsec.auditpolicy.simulate import simulate

LOGS = DATA / "oracle-1.36" / "audit-logs"
MODERATE = (LOGS / "policy.yaml", LOGS / "moderate" / "audit.log")
REQRESP = (LOGS / "policy-requestresponse.yaml", LOGS / "requestresponse" / "audit.log")


def run(policy_path, log_path):  # type: ignore[no-untyped-def]
    policy = load_policy_file(policy_path)
    return policy, simulate(policy, ((ev, size) for ev, _loc, size in read_events_sized([str(log_path)])))


@pytest.mark.parametrize(
    ("pair", "events", "by_level"),
    [
        (MODERATE, 1226, {"Metadata": 1164, "Request": 31, "RequestResponse": 31}),
        (REQRESP, 2280, {"RequestResponse": 2280}),
    ],
    ids=["moderate", "requestresponse"],
)
def test_producing_policy_reproduces_every_event(pair, events: int, by_level: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    _policy, result = run(*pair)
    assert result.events == events
    assert result.reproduced == events
    assert result.mismatch_count == 0
    assert {lvl: t.events for lvl, t in result.recorded.items()} == by_level
    assert {lvl: t.events for lvl, t in result.candidate.items()} == by_level
    # Nothing dropped, nothing added: the same policy writes the same log.
    assert not result.dropped
    assert not result.stage_dropped
    assert result.added_request_received.events == 0


def test_moderate_policy_on_the_requestresponse_log_predicts_the_moderate_log() -> None:
    """The two logs are the same 56 steps run twice: replaying one under the other's policy lands close."""
    _policy, result = run(MODERATE[0], REQRESP[1])
    # RequestReceived (1,053 events) is omitted by the moderate policy; each is a stage mismatch.
    assert result.stage_dropped == {"RequestReceived": 1053}
    assert result.reproduced == 31  # the events recorded at RequestResponse that rule 0 keeps at it
    assert result.candidate_events == 1227  # the real moderate log has 1,226
    assert {lvl: t.events for lvl, t in result.candidate.items()} == {
        "RequestResponse": 31,
        "Metadata": 1165,
        "Request": 31,
    }
    assert result.mismatches[0].summary == "health-probe get nonResource /readyz"
    assert result.mismatches[0].omitted_stage is True
    # The server wrote 1,164,973 bytes under the moderate policy in the other run of the session;
    # the prediction drops exactly the bodies the lower levels do not record and lands within 0.1%.
    predicted = sum(t.bytes for t in result.candidate.values())
    assert predicted == 1_165_748


def test_requestresponse_policy_on_the_moderate_log_adds_request_received() -> None:
    _policy, result = run(REQRESP[0], MODERATE[1])
    # Every request that has no RequestReceived event gets one back, except failed authentication.
    assert result.added_request_received.events == 1052
    assert result.candidate_events == 2278  # the real RequestResponse log has 2,280
    assert sum(result.more_detail.values()) == 1164 + 31


def test_cli_simulate_text_and_expect_same() -> None:
    r = run_cli("audit-policy", "simulate", "--policy", str(MODERATE[0]), str(MODERATE[1]), "--expect-same")
    assert r.code == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("recorded:   1,226 events, 1.16 MB over 31 s (2026-11-28T09:11:43.915144Z")
    # The policy that wrote the log: the candidate is the log itself, byte for byte.
    assert lines[1] == "candidate:  1,226 events, 1.16 MB (+0.0%)"
    assert (
        lines[3]
        == "reproduced: 1,226/1,226 events would be written as recorded (same level, stage not omitted)"
    )
    assert "  rule 3 (line 24) Metadata          1,160      1.04 MB" in lines
    assert "straight extrapolation" in r.stderr
    i = lines.index("loudest under the candidate (what to drop or lower first)")
    assert (
        lines[i + 1]
        == "      151 0.15 MB  system:apiserver get clusterroles.rbac.authorization.k8s.io  [rule 3]"
    )


def test_cli_simulate_json_and_expect_same_failure() -> None:
    r = run_cli(
        "audit-policy",
        "simulate",
        "--policy",
        str(MODERATE[0]),
        str(REQRESP[1]),
        "--expect-same",
        "-o",
        "json",
    )
    assert r.code == 1
    d = json.loads(r.stdout)
    assert d["reproduced"] == {"events": 31, "of": 2280, "mismatches": 2249}
    assert d["stagesNoLongerLogged"] == {"RequestReceived": 1053}
    assert d["candidate"]["byRule"][0] == {
        "ruleIndex": 0,
        "ruleLine": 8,
        "level": "RequestResponse",
        "events": 31,
        "bytes": d["candidate"]["byRule"][0]["bytes"],
    }
    assert d["lessDetail"][0]["events"] > 0


def test_cli_simulate_what_a_none_rule_would_stop_logging(tmp_path) -> None:  # type: ignore[no-untyped-def]
    policy = tmp_path / "quiet.yaml"
    policy.write_text(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n"
        "- level: None\n  users: [system:apiserver]\n- level: Metadata\n"
    )
    r = run_cli(
        "audit-policy", "simulate", "--policy", str(policy), str(MODERATE[1]), "-o", "json", "--top", "2"
    )
    assert r.code == 0
    d = json.loads(r.stdout)
    assert d["noLongerLogged"][0]["user"] == "system:apiserver"
    assert d["noLongerLogged"][0]["verb"] == "get"
    assert d["noLongerLogged"][0]["resource"] == "clusterroles.rbac.authorization.k8s.io"
    assert d["noLongerLogged"][0]["events"] == 151
    assert d["candidate"]["events"] == 1226 - 996


def test_cli_simulate_bad_input() -> None:
    r = run_cli("audit-policy", "simulate", "--policy", str(MODERATE[0]), "does-not-exist.log")
    assert r.code == 2
    assert "does-not-exist.log" in r.stderr
    assert "Traceback" not in r.stderr


def test_rotated_gzip_set_is_replayed_in_order_and_reproduced() -> None:
    """The rotation set (3 gzip backups + the active file) was written under the moderate policy."""
    r = run_cli(
        "audit-policy", "simulate", "--policy", str(MODERATE[0]), str(LOGS / "rotation" / "logs"),
        "--expect-same", "-o", "json",
    )  # fmt: skip
    assert r.code == 0
    d = json.loads(r.stdout)
    assert d["reproduced"] == {"events": 3904, "of": 3904, "mismatches": 0}
    assert d["source"]["first"] == "2026-11-28T09:13:04.670690Z"
    assert d["source"]["last"] == "2026-11-28T09:13:10.451008Z"


CLO_POLICY = DATA / "auditpolicy" / "policies" / "openshift-clo-functional-test-policy.yaml"
CLO = DATA / "auditpolicy" / "clo"


def test_extended_globs_reproduce_the_cluster_logging_operator_filter_output_to_the_byte() -> None:
    """OpenShift's log filter accepts users: ["*apiserver"]; its expected output is audit-want.log."""
    r = run_cli(
        "audit-policy",
        "simulate",
        "--policy",
        str(CLO_POLICY),
        str(CLO / "audit.log"),
        "--extended",
        "-o",
        "json",
    )
    d = json.loads(r.stdout)
    want = [json.loads(x) for x in (CLO / "audit-want.log").read_text().splitlines()]
    levels = {lvl: t["events"] for lvl, t in d["candidate"]["byLevel"].items()}
    assert levels == {"RequestResponse": 1, "Metadata": 2, "Request": 1}
    assert sorted(w["level"] for w in want) == sorted(lvl for lvl, n in levels.items() for _ in range(n))
    # The sizes after stripping bodies (and renaming the level) are exactly the filter's output.
    assert (
        sum(t["bytes"] for t in d["candidate"]["byLevel"].values()) == (CLO / "audit-want.log").stat().st_size
    )
    assert [(x["user"], x["verb"]) for x in d["noLongerLogged"]] == [
        ("system:serviceaccount:openshift-cluster-version:default", "get")
    ]


def test_without_extended_the_glob_is_literal_as_on_the_server() -> None:
    r = run_cli("audit-policy", "simulate", "--policy", str(CLO_POLICY), str(CLO / "audit.log"), "-o", "json")
    d = json.loads(r.stdout)
    # "*apiserver" matches no user, so system:apiserver's get falls to the None rule for gets.
    assert [(x["user"], x["verb"]) for x in d["noLongerLogged"]] == [
        ("system:apiserver", "get"),
        ("system:serviceaccount:openshift-cluster-version:default", "get"),
    ]


def test_lowering_the_level_subtracts_only_bodies_that_are_there() -> None:
    """Sizes under a lower level drop the request/response objects an event carries, and nothing
    from an event that carries none."""
    from kapsec.auditlog.event import decode_event
    from kapsec.auditpolicy import load_policy_text

    bare = (
        b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"a","stage":'
        b'"ResponseComplete","requestURI":"/api/v1/namespaces","verb":"list","user":{"username":"u"},'
        b'"objectRef":{"resource":"namespaces","apiVersion":"v1"},"requestReceivedTimestamp":'
        b'"2026-01-01T00:00:00Z","stageTimestamp":"2026-01-01T00:00:01Z"}'
    )
    body = b',"requestObject":{"kind":"Namespace","metadata":{"name":"x"}}'
    with_body = bare.replace(b'"verb":"list"', b'"verb":"create"')[:-1] + body + b"}"
    events = [(decode_event(bare), len(bare)), (decode_event(with_body), len(with_body))]
    policy = load_policy_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n", "p")
    res = simulate(policy, events)
    delta = len("Metadata") - len("Request")
    assert res.candidate["Metadata"].bytes == len(bare) + delta + len(with_body) + delta - len(body)
