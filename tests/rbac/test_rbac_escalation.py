"""Escalation (covers / escalate / bind), the access matrix, and the store's handling of odd input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import DATA, run_cli
from kapsec.rbac.escalation import check_binding_write, check_role_write
from kapsec.rbac.matrix import access_matrix
from kapsec.rbac.model import Where, parse_binding, parse_role
from kapsec.rbac.store import RbacStore
from kapsec.sources.objects import load_paths

BOOT = DATA / "rbac" / "bootstrap-rbac"
DEMO = DATA / "rbac" / "demo"
SRC = ("-f", str(BOOT), "-f", str(DEMO), "-q")
RBAC = "rbac.authorization.k8s.io/v1"


def _store() -> RbacStore:
    return RbacStore.from_objects(load_paths([BOOT, DEMO]))


def _role(name: str, ns: str, rules: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    kind = "Role" if ns else "ClusterRole"
    meta: dict[str, Any] = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": RBAC, "kind": kind, "metadata": meta, "rules": rules, **extra}


def _parse_role(obj: dict[str, Any]) -> Any:
    role = parse_role(obj, Where(), [])
    assert role is not None
    return role


JANE = ("jane", ("system:authenticated",))


def test_role_within_own_permissions_is_allowed_by_covers() -> None:
    role = _parse_role(
        _role("sub", "team-a", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete"]}])
    )
    res = check_role_write(_store(), *JANE, role)
    assert (res.allowed, res.path, res.missing) == (True, "covers", ())


def test_role_beyond_own_permissions_is_refused_with_missing_rules() -> None:
    role = _parse_role(
        _role(
            "more",
            "team-a",
            [
                {"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get", "list"]},
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["watch"]},
            ],
        )
    )
    res = check_role_write(_store(), *JANE, role)
    assert (res.allowed, res.path) == (False, "refused")
    assert res.missing == ('{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list" "watch"]}',)
    assert res.message == (
        'user "jane" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list" "watch"]}'
    )


def test_own_permissions_do_not_cover_a_star() -> None:
    role = _parse_role(_role("star", "team-a", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}]))
    res = check_role_write(_store(), *JANE, role)
    assert res.missing == ('{APIGroups:[""], Resources:["pods"], Verbs:["*"]}',)


def test_role_in_another_namespace_is_refused() -> None:
    role = _parse_role(_role("sub", "team-b", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]))
    assert check_role_write(_store(), *JANE, role).allowed is False


def test_escalate_verb_and_system_masters_lift_the_check() -> None:
    store = _store()
    role = _parse_role(_role("big", "", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]))
    assert check_role_write(store, "bob", (), role).path == "escalate"
    assert check_role_write(store, "x", ("system:masters",), role).path == "system:masters"
    assert check_role_write(store, "x", ("system:masters",), role, masters=False).path == "escalate"


def test_aggregation_rule_needs_full_authority() -> None:
    sel = {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}
    role = _parse_role(_role("agg", "", [], aggregationRule=sel))
    res = check_role_write(_store(), *JANE, role)
    assert (res.allowed, res.message) == (
        False,
        "must have cluster-admin privileges to use the aggregationRule",
    )


def test_binding_needs_bind_or_covers_in_the_binding_namespace() -> None:
    store = _store()

    def binding(ns: str, kind: str, name: str) -> Any:
        obj = {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": "b", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "sam"}],
        }
        b = parse_binding(obj, Where(), [])
        assert b is not None
        return b

    # jane holds exactly Role developer in team-a: binding it to someone else is not escalation
    assert check_binding_write(store, *JANE, binding("team-a", "Role", "developer")).path == "covers"
    # but binding the view ClusterRole there would hand out what she does not have
    res = check_binding_write(store, *JANE, binding("team-a", "ClusterRole", "view"))
    assert res.allowed is False
    assert '{APIGroups:["apps"], Resources:["daemonsets"], Verbs:["get" "list" "watch"]}' in res.missing
    # a missing role is an empty rule set: trivially covered, with a note
    res = check_binding_write(store, *JANE, binding("team-a", "Role", "nope"))
    assert (res.allowed, res.notes) == (
        True,
        (
            'role.rbac.authorization.k8s.io "nope" not found: an empty rule set is trivially covered (older API servers refuse the binding instead)',
        ),
    )


def test_check_escalation_cli(tmp_path: Path) -> None:
    f = tmp_path / "new.yaml"
    f.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    _role(
                        "deployer",
                        "team-a",
                        [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
                    ),
                    _role(
                        "podreader", "team-a", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
                    ),
                ],
            }
        )
    )
    r = run_cli("rbac", "check-escalation", str(f), "--as", "jane", *SRC)
    assert r.code == 1
    assert r.stdout.splitlines() == [
        "REFUSED  Role team-a/deployer  (refused)",
        '    user "jane" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:',
        '    {APIGroups:[""], Resources:["secrets"], Verbs:["get"]}',
        "    note: the user may not create this kind of object at all (RBAC has no rule for it)",
        "allowed  Role team-a/podreader  (covers)",
        "    allowed: the writer already holds every permission in the role",
        "    note: the user may not create this kind of object at all (RBAC has no rule for it)",
    ]
    r = run_cli("rbac", "check-escalation", str(f), "--as", "bob", "-o", "json", *SRC)
    assert r.code == 0
    assert [x["path"] for x in json.loads(r.stdout)["results"]] == ["escalate", "escalate"]


def test_matrix_for_a_namespace() -> None:
    m = access_matrix(_store(), "jane", ("system:authenticated",), "team-a")
    rows = {r.label: dict(zip(m.verbs, r.cells, strict=True)) for r in m.rows}
    assert rows["pods"] == {
        "get": True,
        "list": True,
        "watch": True,
        "create": True,
        "update": True,
        "patch": True,
        "delete": True,
        "deletecollection": False,
    }
    assert rows["pods/exec"]["create"] is True
    assert rows["pods/exec"]["get"] is False
    assert not any(rows["secrets"].values())
    assert rows["deployments.apps"]["delete"] is False
    # cluster-scoped resources are asked cluster-wide: the RoleBinding does not reach them
    assert not any(rows["nodes"].values())
    # resources named by her rules are added to the list
    assert "selfsubjectaccessreviews.authorization.k8s.io" in rows


def test_matrix_cli_json() -> None:
    r = run_cli("rbac", "matrix", "--as", "bob", "--verbs", "get,delete", "-o", "json", *SRC)
    assert r.code == 0
    out = json.loads(r.stdout)
    assert out["verbs"] == ["get", "delete"]
    assert all(all(row["verbs"].values()) for row in out["resources"])
    text = run_cli(
        "rbac", "matrix", "--as", "jane", "-n", "team-a", "--verbs", "get,create", *SRC
    ).stdout.splitlines()
    assert text[0].split() == ["NAME", "GET", "CREATE"]
    assert text[1].split() == ["pods", "✔", "✔"]
    assert text[2].split() == ["pods/exec", "✖", "✔"]


def test_store_duplicates_later_wins_and_is_reported() -> None:
    a = _role("r", "", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
    b = _role("r", "", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
    store = RbacStore.from_dicts([a, b], name="f.yaml")
    assert store.cluster_roles["r"].rules[0].verbs == ("list",)
    assert [str(p) for p in store.problems] == [
        "f.yaml: duplicate ClusterRole r (also at f.yaml); the last one is used"
    ]


def test_store_reports_what_the_api_server_would_reject_but_evaluates_it() -> None:
    crb = {
        "apiVersion": RBAC,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "sa-no-ns"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "x"}, {"kind": "Robot", "name": "y"}],
    }
    role = _role("r", "", [{"resources": ["pods"], "verbs": ["get"]}])
    store = RbacStore.from_dicts([role, crb], name="f.yaml")
    assert [p.message for p in store.problems] == [
        'ClusterRole "r": rules[0].apiGroups: Required value: resource rules must supply at least one api group '
        "(the API server would reject it; evaluated as written)",
        "ClusterRoleBinding \"sa-no-ns\": subjects[0] ServiceAccount 'x' has no namespace; it matches nobody",
        "ClusterRoleBinding \"sa-no-ns\": subjects[1].kind 'Robot' is not User, Group or ServiceAccount; it matches nobody",
    ]


def test_store_skips_rules_and_subjects_that_are_not_lists_of_maps() -> None:
    ref = {"kind": "ClusterRole", "name": "a"}
    objs: list[dict[str, Any]] = [
        _role("a", "", {"verbs": ["get"]}),  # type: ignore[arg-type]
        _role("b", "ns", ["get", {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]),  # type: ignore[list-item]
        {
            "apiVersion": RBAC,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "c"},
            "roleRef": ref,
            "subjects": "jane",
        },
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": "d", "namespace": "ns"},
            "roleRef": ref,
            "subjects": [None, {"kind": "User", "name": "jane"}],
        },
    ]
    store = RbacStore.from_dicts(objs, name="f.yaml")
    assert [p.message for p in store.problems] == [
        "ClusterRole \"a\": 'rules' must be a list; treated as empty",
        'Role "ns/b": rules[0] is not a map; ignored',
        "ClusterRoleBinding \"c\": 'subjects' must be a list; treated as empty",
        'RoleBinding "ns/d": subjects[0] is not a map; ignored',
    ]
    assert store.cluster_roles["a"].rules == ()
    assert len(store.roles[("ns", "b")].rules) == 1
    assert [b.subjects for b in store.cluster_role_bindings] == [()]
    assert [[s.name for s in b.subjects] for b in store.role_bindings] == [["jane"]]


def test_bootstrap_aggregation_reaches_a_fixed_point() -> None:
    store = RbacStore.from_objects(load_paths([BOOT]))
    assert store.aggregated == ["admin", "edit", "view"]
    admin, edit, view = (set(store.cluster_roles[n].rules) for n in ("admin", "edit", "view"))
    assert view < edit < admin
    assert len(view) > 5


def test_check_escalation_example_from_the_docs() -> None:
    example = DATA / "rbac" / "escalation" / "new-objects.yaml"
    r = run_cli("rbac", "check-escalation", str(example), "--as", "jane", "-o", "json", *SRC)
    assert r.code == 1
    results = json.loads(r.stdout)["results"]
    assert [(x["object"], x["path"]) for x in results] == [
        ("Role team-a/deployer", "refused"),
        ("RoleBinding team-a/deployer", "refused"),
        ("RoleBinding team-a/view-for-sam", "refused"),
    ]
    assert results[0]["missing"] == ['{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}']
    assert results[0]["createAllowed"] is False


def test_invalid_objects_are_rejected_before_escalation(tmp_path: Path) -> None:
    f = tmp_path / "invalid.yaml"
    f.write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: bad}\n"
        "rules:\n- resources: [pods]\n- verbs: [get]\n  nonResourceURLs: [/x]\n  resources: [pods]\n---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: badb}\n"
        "roleRef: {kind: Role, name: x}\n"
        "subjects: [{kind: ServiceAccount, name: sa}, {kind: User, name: u}, {kind: Robot, name: r}]\n"
    )
    r = run_cli(
        "rbac", "check-escalation", str(f), "--as", "x", "--as-group", "system:masters", "-o", "json", *SRC
    )
    assert r.code == 1
    results = json.loads(r.stdout)["results"]
    assert [(x["object"], x["path"]) for x in results] == [
        ("ClusterRole bad", "invalid"),
        ("ClusterRoleBinding badb", "invalid"),
    ]
    assert results[0]["message"] == (
        'ClusterRole.rbac.authorization.k8s.io "bad" is invalid: ['
        "rules[0].verbs: Required value: verbs must contain at least one value, "
        "rules[0].apiGroups: Required value: resource rules must supply at least one api group, "
        "rules[1].nonResourceURLs: Invalid value: rules cannot apply to both regular resources and non-resource URLs]"
    )
    assert results[1]["message"] == (
        'ClusterRoleBinding.rbac.authorization.k8s.io "badb" is invalid: ['
        'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole", '
        "subjects[0].namespace: Required value, "
        'subjects[2].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"]'
    )


def test_v1_defaulting_fills_role_ref_and_subject_api_groups() -> None:
    crb = {
        "apiVersion": RBAC,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"},
        "roleRef": {"kind": "ClusterRole", "name": "r"},
        "subjects": [{"kind": "User", "name": "u"}, {"kind": "Group", "name": "g"}],
    }
    store = RbacStore.from_dicts(
        [_role("r", "", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]), crb]
    )
    assert store.problems == []
    b = store.cluster_role_bindings[0]
    assert b.role_ref.api_group == "rbac.authorization.k8s.io"
    assert [s.api_group for s in b.subjects] == ["rbac.authorization.k8s.io", "rbac.authorization.k8s.io"]
    assert b.invalid == ()
