"""kapsec rbac can-i / who-can / matrix / check-escalation on the demo cluster (bootstrap + demo/)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from helpers import DATA, run_cli

BOOT = str(DATA / "rbac" / "bootstrap-rbac")
DEMO = str(DATA / "rbac" / "demo")
BAD = str(DATA / "rbac" / "bad")
SRC = ("-f", BOOT, "-f", DEMO, "-q")


def test_can_i_yes_explains_binding_role_and_rule() -> None:
    r = run_cli("rbac", "can-i", "create", "pods/exec", "web-0", "-n", "team-a", "--as", "jane", *SRC)
    assert r.code == 0
    team_a = f"{DEMO}/team-a.yaml"
    assert r.stdout.splitlines() == [
        "yes",
        '  RBAC: allowed by RoleBinding "developers/team-a" of Role "developer" to User "jane"',
        f"  via RoleBinding team-a/developers ({team_a}:25) -> Role team-a/developer ({team_a}:2)",
        '      rule 2: verbs=["create"] apiGroups=[""] resources=["pods/exec"]',
    ]


def test_can_i_no_exits_1() -> None:
    r = run_cli("rbac", "can-i", "get", "secrets", "-n", "team-a", "--as", "jane", *SRC)
    assert r.code == 1
    assert r.stdout.splitlines() == [
        "no",
        "  no RBAC rule allows it (RBAC has no opinion, so the API server forbids it)",
    ]


def test_can_i_resource_names_rule_needs_the_name() -> None:
    named = run_cli(
        "rbac", "can-i", "get", "secrets", "team-a-registry", "-n", "team-a", "--as", "jane", *SRC
    )
    assert named.code == 0
    other = run_cli("rbac", "can-i", "get", "secrets", "other", "-n", "team-a", "--as", "jane", *SRC)
    assert other.code == 1


def test_can_i_rolebinding_does_not_leak_to_other_namespaces_or_cluster_scope() -> None:
    assert run_cli("rbac", "can-i", "get", "pods", "-n", "team-b", "--as", "jane", *SRC).code == 1
    assert run_cli("rbac", "can-i", "list", "pods", "--as", "jane", *SRC).code == 1


def test_can_i_service_account_gets_groups_like_impersonation() -> None:
    r = run_cli(
        "rbac",
        "can-i",
        "get",
        "deployments.apps",
        "-n",
        "team-a",
        "--as",
        "system:serviceaccount:team-a:ci",
        "-o",
        "json",
        *SRC,
    )
    assert r.code == 0
    out = json.loads(r.stdout)
    assert out["request"]["groups"] == [
        "system:serviceaccounts",
        "system:serviceaccounts:team-a",
        "system:authenticated",
    ]
    assert out["request"]["apiGroup"] == "apps"
    assert out["grants"][0]["subject"] == {"kind": "ServiceAccount", "name": "ci"}
    assert out["grants"][0]["ruleIndex"] == 3


def test_can_i_json_shape() -> None:
    r = run_cli("rbac", "can-i", "get", "/healthz", "--as", "system:anonymous", "-o", "json", *SRC)
    assert r.code == 1
    out = json.loads(r.stdout)
    assert out["request"] == {
        "user": "system:anonymous",
        "groups": [],
        "verb": "get",
        "path": "/healthz",
        "resourceRequest": False,
    }
    # anonymous gets no groups by impersonation; the User system:anonymous is not bound by default
    assert out["allowed"] is False
    assert r.stderr == (
        "kapsec: note: as with kubectl --as, system:anonymous gets no groups; a real anonymous request "
        "also carries group system:unauthenticated (add --as-group system:unauthenticated)\n"
    )


def test_can_i_unauthenticated_group_reaches_public_info() -> None:
    r = run_cli(
        "rbac",
        "can-i",
        "get",
        "/healthz",
        "--as",
        "system:anonymous",
        "--as-group",
        "system:unauthenticated",
        *SRC,
    )
    assert r.code == 0
    assert r.stdout.splitlines()[1] == (
        '  RBAC: allowed by ClusterRoleBinding "system:public-info-viewer" of ClusterRole '
        '"system:public-info-viewer" to Group "system:unauthenticated"'
    )


def test_can_i_system_masters_short_circuit_and_rbac_only() -> None:
    r = run_cli(
        "rbac", "can-i", "delete", "nodes", "--as", "x", "--as-group", "system:masters", "-o", "json", *SRC
    )
    assert r.code == 0
    out = json.loads(r.stdout)
    assert (out["authorizer"], out["grants"]) == ("system:masters", [])
    r = run_cli(
        "rbac",
        "can-i",
        "delete",
        "nodes",
        "--as",
        "x",
        "--as-group",
        "system:masters",
        "--rbac-only",
        "-o",
        "json",
        *SRC,
    )
    out = json.loads(r.stdout)
    # without the shortcut, RBAC still allows it through the default cluster-admin binding
    assert out["authorizer"] == "RBAC"
    assert (
        out["reason"]
        == 'RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group "system:masters"'
    )


def test_can_i_names_the_node_authorizer_for_node_identities() -> None:
    r = run_cli(
        "rbac",
        "can-i",
        "get",
        "secrets",
        "s1",
        "-n",
        "team-a",
        "--as",
        "system:node:n1",
        "--as-group",
        "system:nodes",
        *SRC,
    )
    assert r.code == 1
    assert r.stdout.splitlines()[-1] == (
        '  note: "system:node:n1" is a node identity: with --authorization-mode including Node, the Node '
        "authorizer decides this request first, from the objects related to node 'n1' (not modelled); "
        "the decision below is RBAC's alone"
    )


def test_can_i_all_grants_lists_every_binding() -> None:
    r = run_cli(
        "rbac",
        "can-i",
        "get",
        "pods",
        "-n",
        "team-a",
        "--as",
        "jane",
        "--as-group",
        "team-a-readers",
        "--all-grants",
        "-o",
        "json",
        *SRC,
    )
    out = json.loads(r.stdout)
    assert [(g["binding"]["name"], g["role"]["name"]) for g in out["grants"]] == [
        ("developers", "developer"),
        ("team-a-view", "view"),
    ]


def test_batch_jsonl_in_order_echoing_id_with_bad_lines_reported(tmp_path: Path) -> None:
    lines = [
        {
            "id": "a",
            "user": "jane",
            "groups": ["system:authenticated"],
            "verb": "create",
            "namespace": "team-a",
            "resource": "pods",
            "subresource": "exec",
            "name": "web-0",
        },
        "not json",
        {
            "id": 7,
            "user": "system:serviceaccount:team-a:ci",
            "groups": [],
            "verb": "get",
            "namespace": "team-a",
            "apiGroup": "apps",
            "resource": "deployments",
        },
        {"id": "c", "verb": ""},
        {
            "id": "d",
            "user": "jane",
            "groups": [],
            "verb": "get",
            "namespace": "team-a",
            "resource": "secrets",
        },
    ]
    f = tmp_path / "req.jsonl"
    f.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    r = run_cli("rbac", "can-i", "--batch", str(f), "-o", "json", *SRC)
    assert r.code == 2
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(o.get("id"), o.get("allowed"), "error" in o) for o in out] == [
        ("a", True, False),
        (None, None, True),
        (7, True, False),
        ("c", None, True),
        ("d", False, False),
    ]
    assert out[1] == {
        "line": 2,
        "error": f"{f}:2: invalid JSON: JSON is malformed: invalid character (byte 4)",
    }
    assert out[3] == {"id": "c", "line": 4, "error": f"{f}:4: a request needs a non-empty string 'verb'"}
    assert out[0]["grants"][0]["binding"]["name"] == "developers"
    # batch groups are taken as given: the SA has no groups added
    assert out[2]["request"]["groups"] == []
    assert "2 request line(s) could not be read" in r.stderr


def test_batch_from_stdin_text() -> None:
    req = json.dumps(
        {"id": "x", "user": "bob", "groups": [], "verb": "delete", "resource": "nodes", "name": "n1"}
    )
    r = run_cli("rbac", "can-i", "--batch", "-", *SRC, input=req + "\n")
    assert r.code == 0
    assert (
        r.stdout
        == 'x\tyes\tRBAC: allowed by ClusterRoleBinding "bob-admin" of ClusterRole "cluster-admin" to User "bob"\n'
    )


def test_who_can_lists_subjects_and_paths() -> None:
    r = run_cli("rbac", "who-can", "create", "pods/exec", "-n", "team-a", "-o", "json", *SRC)
    assert r.code == 0
    out = json.loads(r.stdout)
    got = [
        (
            e["subject"]["kind"],
            e["subject"]["name"],
            e["subject"].get("namespace"),
            e.get("binding", {}).get("name"),
        )
        for e in out["subjects"]
    ]
    assert got == [
        ("Group", "system:masters", None, None),
        ("Group", "system:masters", None, "cluster-admin"),
        ("User", "bob", None, "bob-admin"),
        ("User", "jane", None, "developers"),
        ("Group", "team-a-devs", None, "developers"),
        ("ServiceAccount", "ci", "team-a", "developers"),
    ]
    assert out["errors"] == []


def test_who_can_text_table() -> None:
    r = run_cli("rbac", "who-can", "get", "nodes/proxy", *SRC)
    assert r.code == 0
    lines = r.stdout.splitlines()
    rows = [line.split()[:3] for line in lines[1:]]
    assert rows == [
        ["Group", "system:masters", "super-user"],
        ["Group", "system:masters", "ClusterRoleBinding"],
        ["ServiceAccount", "prometheus", "monitoring"],
        ["User", "bob", "ClusterRoleBinding"],
    ]
    # nodes/proxy is decided by RBAC alone (no note); "nodes" itself is also the Node authorizer's
    nodes = run_cli("rbac", "who-can", "get", "nodes", "-o", "json", *SRC)
    assert json.loads(nodes.stdout)["notes"] == [
        "with --authorization-mode including Node, the Node authorizer also lets each node (group "
        "system:nodes, user system:node:<name>) reach the objects related to the pods scheduled on it; not listed here"
    ]


def test_bad_input_is_reported_not_fatal() -> None:
    r = run_cli("rbac", "can-i", "get", "pods", "--as", "carol", "-f", BAD)
    assert r.code == 0
    assert r.stdout.splitlines()[0] == "yes"
    assert r.stderr.splitlines() == [
        f"kapsec: warning: {BAD}/invalid.yaml:6: invalid YAML: did not find expected ',' or '}}'",
        f"kapsec: warning: {BAD}/broken.yaml:14: unknown kind 'ClusterRoleBindng' in API group rbac.authorization.k8s.io; ignored",
        f'kapsec: warning: {BAD}/broken.yaml:1: ClusterRoleBinding dangling: clusterrole.rbac.authorization.k8s.io "does-not-exist" not found',
        "kapsec: note: ignored 1 objects that are not RBAC (ConfigMap 1)",
    ]


def test_missing_role_never_denies_and_is_named_in_the_reason() -> None:
    r = run_cli("rbac", "can-i", "get", "pods", "--as", "mallory", "-f", BAD, "-q", "-o", "json")
    assert r.code == 1
    out = json.loads(r.stdout)
    assert out["reason"] == 'RBAC: clusterrole.rbac.authorization.k8s.io "does-not-exist" not found'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("rbac", "can-i", "get", "pods", "--as", "x"),
            "say where the RBAC objects are: --from PATH (repeatable) or --cluster",
        ),
        (
            ("rbac", "can-i", "get", "pods", "-f", DEMO),
            "say who asks: --as USER and/or --as-group GROUP (repeatable)",
        ),
        (("rbac", "can-i", "--as", "x", "-f", DEMO), "can-i needs VERB and RESOURCE, or --batch FILE"),
        (
            ("rbac", "can-i", "get", "pods", "--as", "x", "-f", "no/such/dir"),
            "no/such/dir: no such file or directory",
        ),
        (
            ("rbac", "can-i", "get", "pods", "--as", "x", "-f", DEMO, "--save", "x.json"),
            "--save only applies with --cluster",
        ),
        (
            ("rbac", "can-i", "get", "pods", "--as", "x", "-f", DEMO, "--context", "prod"),
            "--kubeconfig and --context only apply with --cluster",
        ),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    r = run_cli(*args)
    assert r.code == 2
    assert r.stderr.strip() == f"kapsec: error: {message}"


def test_cluster_uses_collect_snapshot_and_saves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = json.loads((DATA / "rbac" / "demo" / "cluster.json").read_text())
    calls: list[tuple[object, ...]] = []

    def collect_snapshot(
        kubeconfig: str | None, context: str | None, kinds: list[str] | None = None
    ) -> dict[str, object]:
        calls.append((kubeconfig, context, tuple(kinds or ())))
        return demo  # type: ignore[no-any-return]

    fake = types.ModuleType("kapsec.sources.cluster")
    fake.collect_snapshot = collect_snapshot  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kapsec.sources.cluster", fake)
    saved = tmp_path / "snap.json"
    r = run_cli(
        "rbac",
        "can-i",
        "get",
        "secrets",
        "--as",
        "x",
        "--as-group",
        "auditors",
        "--cluster",
        "--kubeconfig",
        "kc",
        "--context",
        "prod",
        "--save",
        str(saved),
    )
    assert r.code == 0
    assert calls == [("kc", "prod", ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"))]
    assert json.loads(saved.read_text()) == demo
    # the saved snapshot is analysed offline with the same answer
    r2 = run_cli(
        "rbac", "can-i", "get", "secrets", "--as", "x", "--as-group", "auditors", "-f", str(saved), "-q"
    )
    assert r2.code == 0
    assert r2.stdout.splitlines()[1].endswith('to Group "auditors"')


def test_namespace_is_dropped_for_cluster_scoped_resources_like_kubectl() -> None:
    r = run_cli("rbac", "can-i", "get", "nodes", "-n", "team-a", "--as", "bob", "-o", "json", *SRC)
    assert r.code == 0
    assert json.loads(r.stdout)["request"]["namespace"] == ""
    assert (
        r.stderr
        == "kapsec: note: nodes is cluster-scoped: its requests carry no namespace; ignoring -n team-a\n"
    )


def test_cluster_against_a_local_api_server(tmp_path: Path) -> None:
    """The real collector (kapsec.sources.cluster) over HTTP, then the saved snapshot offline."""
    from snapshot.fake_apiserver import fake_apiserver

    with fake_apiserver() as api:
        kubeconfig = api.kubeconfig(tmp_path)
        saved = tmp_path / "rbac.json"
        r = run_cli(
            "rbac",
            "who-can",
            "get",
            "secrets",
            "-n",
            "prod",
            "--cluster",
            "--kubeconfig",
            str(kubeconfig),
            "--context",
            "test",
            "--save",
            str(saved),
            "-o",
            "json",
        )
        assert [p.split("?")[0] for p in api.requests] == [
            "/apis/rbac.authorization.k8s.io/v1/roles",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            "/apis/rbac.authorization.k8s.io/v1/rolebindings",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        ]
    assert r.code == 0, r.stderr
    subjects = [(e["subject"]["kind"], e["subject"]["name"]) for e in json.loads(r.stdout)["subjects"]]
    assert subjects == [("Group", "system:masters"), ("ServiceAccount", "default")]
    assert r.stderr == f"kapsec: saved the cluster's RBAC objects to {saved}\n"
    offline = run_cli(
        "rbac",
        "can-i",
        "get",
        "secrets",
        "-n",
        "prod",
        "--as",
        "system:serviceaccount:prod:default",
        "-f",
        str(saved),
    )
    assert offline.code == 0
    assert offline.stdout.splitlines()[1] == (
        '  RBAC: allowed by RoleBinding "api-secrets/prod" of Role "secret-reader" to ServiceAccount "default/prod"'
    )


def test_cluster_unreachable_is_a_clear_error(tmp_path: Path) -> None:
    from snapshot.fake_apiserver import fake_apiserver

    with fake_apiserver() as api:
        kubeconfig = api.kubeconfig(tmp_path, token="wrong")
        r = run_cli("rbac", "can-i", "get", "pods", "--as", "x", "--cluster", "--kubeconfig", str(kubeconfig))
    assert r.code == 2
    assert r.stderr == (
        "kapsec: error: GET /apis/rbac.authorization.k8s.io/v1/roles: HTTP 401: Unauthorized "
        "(the kubeconfig's credentials were not accepted)\n"
    )


def test_can_i_list_gives_rules_for_the_user_in_the_namespace() -> None:
    r = run_cli("rbac", "can-i", "--list", "--as", "jane", "-n", "team-a", "-o", "json", *SRC)
    assert r.code == 0
    out = json.loads(r.stdout)
    assert [(x["binding"]["name"], x["ruleIndex"]) for x in out["rules"]] == [
        ("system:basic-user", 0),
        ("system:basic-user", 1),
        ("system:discovery", 0),
        ("system:public-info-viewer", 0),
        ("developers", 0),
        ("developers", 1),
        ("developers", 2),
        ("developers", 3),
        ("developers", 4),
    ]
    # in another namespace only the cluster-wide rules remain
    other = json.loads(
        run_cli("rbac", "can-i", "--list", "--as", "jane", "-n", "team-b", "-o", "json", *SRC).stdout
    )
    assert {x["binding"]["name"] for x in other["rules"]} == {
        "system:basic-user",
        "system:discovery",
        "system:public-info-viewer",
    }
    assert run_cli("rbac", "can-i", "--list", "get", "pods", "--as", "jane", *SRC).code == 2


def test_who_can_marks_subjects_that_match_nobody(tmp_path: Path) -> None:
    f = tmp_path / "crb.yaml"
    f.write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n"
        "rules: [{apiGroups: [''], resources: [pods], verbs: [get]}]\n---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}\n"
        "subjects: [{kind: ServiceAccount, name: lost}]\n"
    )
    r = run_cli("rbac", "who-can", "get", "pods", "-f", str(f), "-q")
    assert r.code == 0
    assert r.stdout.splitlines()[2].split("  ")[0:2] == ["ServiceAccount", "lost"]
    assert (
        "ClusterRoleBinding b (a ServiceAccount without a namespace in a ClusterRoleBinding matches nobody)"
        in r.stdout
    )


@pytest.mark.parametrize(
    "cmd", [("who-can", "get", "pods"), ("risks",), ("can-i", "get", "pods", "--as", "a")]
)
def test_an_input_without_rbac_objects_is_an_error(tmp_path: Path, cmd: tuple[str, ...]) -> None:
    cm = tmp_path / "cm.yaml"
    cm.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    r = run_cli("rbac", *cmd, "-f", str(cm))
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == (
        "kapsec: note: ignored 1 objects that are not RBAC (ConfigMap 1)\n"
        f"kapsec: error: {cm}: no RBAC objects (Role, ClusterRole, RoleBinding, ClusterRoleBinding) "
        "found; nothing to analyse\n"
    )


def test_from_stdin_reads_objects_and_mixes_with_files() -> None:
    demo = "".join(p.read_text() for p in sorted(Path(DEMO).glob("*.yaml")))
    r = run_cli(
        "rbac", "can-i", "create", "pods/exec", "-n", "team-a", "--as", "jane", "-q", "-f", "-", input=demo
    )
    assert (r.code, r.stdout.splitlines()[0]) == (0, "yes")
    assert "(<stdin>:" in r.stdout
    r = run_cli("rbac", "who-can", "get", "pods", "-f", "-", "-f", "-", input=demo)
    assert (r.code, r.stderr) == (2, "kapsec: error: standard input ('-') can be read only once\n")
    r = run_cli("rbac", "can-i", "-f", "-", "--batch", "-", input=demo)
    assert (r.code, r.stderr) == (
        2,
        "kapsec: error: standard input ('-') can be read only once: not both --from - and --batch -\n",
    )
    r = run_cli("rbac", "who-can", "get", "pods", "-f", "-", input="")
    assert (r.code, r.stderr) == (
        2,
        "kapsec: error: <stdin>: no RBAC objects (Role, ClusterRole, RoleBinding, ClusterRoleBinding) "
        "found; nothing to analyse\n",
    )


def test_batch_line_that_is_not_utf8_is_reported_in_place(tmp_path: Path) -> None:
    batch = tmp_path / "requests.jsonl"
    batch.write_bytes(b'{"user": "jane", "verb": "get", "resource": "pods"}\n\xff\xfe\n')
    r = run_cli("rbac", "can-i", "-f", DEMO, "-q", "--batch", str(batch))
    assert r.code == 2
    assert r.stdout.splitlines()[1] == f"line 2\terror\t{batch}:2: not UTF-8 text (byte 0)"
    assert r.stderr.splitlines()[0] == f"kapsec: error: {batch}:2: not UTF-8 text (byte 0)"


def test_control_characters_in_names_are_escaped_in_text(tmp_path: Path) -> None:
    objs = tmp_path / "rbac.yaml"
    objs.write_text(
        json.dumps(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "b\x1b[2J"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "eve\x9b31m"}],
            }
        )
    )
    r = run_cli("rbac", "who-can", "get", "pods", "-f", BOOT, "-f", str(objs), "-q")
    assert r.code == 0
    (row,) = [ln for ln in r.stdout.splitlines() if ln.startswith("User ") and "eve" in ln]
    assert row.split()[:6] == [
        "User",
        "eve\\x9b31m",
        "ClusterRoleBinding",
        "b\\x1b[2J",
        "ClusterRole",
        "view",
    ]
    r = run_cli("rbac", "who-can", "get", "pods", "-f", BOOT, "-f", str(objs), "-q", "-o", "json")
    assert "eve\x9b31m" in [s["subject"]["name"] for s in json.loads(r.stdout)["subjects"]]
