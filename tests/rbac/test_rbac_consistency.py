"""The indexed authorizer against a literal transcription of upstream's loop, on a random cluster.

``VisitRulesFor`` walks every ClusterRoleBinding, then every RoleBinding of the namespace, and asks
``appliesTo`` of each; the store skips that walk with its subject index. Both must decide every
request the same way, and who-can must agree with can-i for the subjects it lists.
"""

from __future__ import annotations

import random
from typing import Any

from kapsec.model.request import RequestAttributes
from kapsec.rbac.authorize import authorize
from kapsec.rbac.match import rule_allows
from kapsec.rbac.store import RbacStore
from kapsec.rbac.subjects import who_can

G = "rbac.authorization.k8s.io"
RESOURCES = [
    ("", "pods"),
    ("", "pods/log"),
    ("", "secrets"),
    ("apps", "deployments"),
    ("apps", "deployments/scale"),
    ("batch", "jobs"),
]
VERBS = ["get", "list", "create", "delete"]
NAMESPACES = ["a", "b", "c"]


def _rule(rng: random.Random) -> dict[str, Any]:
    picks = rng.sample(RESOURCES, rng.randint(1, 2))
    rule: dict[str, Any] = {
        "apiGroups": sorted({g for g, _ in picks}) if rng.random() < 0.9 else ["*"],
        "resources": [r for _, r in picks] if rng.random() < 0.9 else ["*/scale"],
        "verbs": rng.sample(VERBS, rng.randint(1, 3)) if rng.random() < 0.9 else ["*"],
    }
    if rng.random() < 0.15:
        rule["resourceNames"] = ["x"]
    return rule


def _subject(rng: random.Random, ns: str) -> dict[str, Any]:
    x = rng.random()
    if x < 0.4:
        return {"kind": "User", "apiGroup": G, "name": f"u{rng.randrange(6)}"}
    if x < 0.7:
        return {"kind": "Group", "apiGroup": G, "name": f"g{rng.randrange(4)}"}
    sa: dict[str, Any] = {"kind": "ServiceAccount", "name": f"sa{rng.randrange(3)}"}
    if not ns or rng.random() < 0.5:
        sa["namespace"] = rng.choice(NAMESPACES) if rng.random() < 0.9 else ""
    return sa


def _cluster(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    objs: list[dict[str, Any]] = []
    for i in range(8):
        objs.append(
            {
                "apiVersion": f"{G}/v1",
                "kind": "ClusterRole",
                "metadata": {"name": f"cr{i}"},
                "rules": [_rule(rng) for _ in range(rng.randint(1, 3))],
            }
        )
    for i, ns in enumerate(NAMESPACES * 2):
        objs.append(
            {
                "apiVersion": f"{G}/v1",
                "kind": "Role",
                "metadata": {"name": f"r{i}", "namespace": ns},
                "rules": [_rule(rng) for _ in range(rng.randint(1, 3))],
            }
        )
    for i in range(12):
        ns = rng.choice(NAMESPACES)
        ref = (
            {"apiGroup": G, "kind": "Role", "name": f"r{rng.randrange(7)}"}
            if rng.random() < 0.5
            else {"apiGroup": G, "kind": "ClusterRole", "name": f"cr{rng.randrange(9)}"}
        )
        objs.append(
            {
                "apiVersion": f"{G}/v1",
                "kind": "RoleBinding",
                "metadata": {"name": f"rb{i}", "namespace": ns},
                "roleRef": ref,
                "subjects": [_subject(rng, ns) for _ in range(rng.randint(1, 3))],
            }
        )
    for i in range(6):
        objs.append(
            {
                "apiVersion": f"{G}/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"crb{i}"},
                "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": f"cr{rng.randrange(9)}"},
                "subjects": [_subject(rng, "") for _ in range(rng.randint(1, 2))],
            }
        )
    return objs


def _applies(user: str, groups: tuple[str, ...], subjects: list[dict[str, Any]], ns: str) -> bool:
    for s in subjects:
        if s["kind"] == "User" and s["name"] == user:
            return True
        if s["kind"] == "Group" and s["name"] in groups:
            return True
        if s["kind"] == "ServiceAccount":
            sa_ns = s.get("namespace") or ns
            if sa_ns and user == f"system:serviceaccount:{sa_ns}:{s['name']}":
                return True
    return False


def _literal(objs: list[dict[str, Any]], req: RequestAttributes) -> bool:
    """Upstream's loop, object by object, with no index."""
    from kapsec.rbac.model import PolicyRule

    user, groups = req.user or "", req.groups or ()

    def rules(kind: str, name: str, ns: str) -> list[PolicyRule]:
        for o in objs:
            if (
                o["kind"] == kind
                and o["metadata"]["name"] == name
                and o["metadata"].get("namespace", "") == ns
            ):
                return [PolicyRule.from_dict(r) for r in o["rules"]]
        return []

    for o in objs:
        if (
            o["kind"] == "ClusterRoleBinding"
            and _applies(user, groups, o["subjects"], "")
            and any(rule_allows(r, req) for r in rules("ClusterRole", o["roleRef"]["name"], ""))
        ):
            return True
    if req.namespace:
        for o in objs:
            if (
                o["kind"] == "RoleBinding"
                and o["metadata"]["namespace"] == req.namespace
                and _applies(user, groups, o["subjects"], req.namespace)
            ):
                ref = o["roleRef"]
                ns = req.namespace if ref["kind"] == "Role" else ""
                if any(rule_allows(r, req) for r in rules(ref["kind"], ref["name"], ns)):
                    return True
    return False


def _requests(seed: int, n: int) -> list[RequestAttributes]:
    rng = random.Random(seed + 1000)
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            user, groups = (
                f"u{rng.randrange(6)}",
                tuple(f"g{rng.randrange(4)}" for _ in range(rng.randint(0, 2))),
            )
        else:
            user, groups = f"system:serviceaccount:{rng.choice(NAMESPACES)}:sa{rng.randrange(3)}", ()
        group, res = rng.choice(RESOURCES)
        base, _, sub = res.partition("/")
        out.append(
            RequestAttributes(
                user=user,
                groups=groups,
                verb=rng.choice(VERBS),
                resource_request=True,
                namespace=rng.choice([*NAMESPACES, ""]),
                api_group=group,
                resource=base,
                subresource=sub,
                name=rng.choice(["", "x", "y"]),
            )
        )
    return out


def test_indexed_authorizer_matches_the_literal_loop() -> None:
    decided = allowed = 0
    for seed in range(25):
        objs = _cluster(seed)
        store = RbacStore.from_dicts(objs)
        for req in _requests(seed, 60):
            want = _literal(objs, req)
            assert authorize(store, req, masters=False).allowed is want, (seed, req)
            decided += 1
            allowed += want
    # the random clusters exercise both answers
    assert decided == 1500
    assert 150 < allowed < 1350


def test_who_can_agrees_with_can_i() -> None:
    checked = unmatchable = 0
    for seed in range(10):
        store = RbacStore.from_dicts(_cluster(seed))
        for req in _requests(seed, 30):
            for e in who_can(store, req).entries:
                if e.binding is None:
                    continue
                if e.note:  # listed as written, as upstream does, but it can match nobody
                    assert (
                        e.note
                        == "a ServiceAccount without a namespace in a ClusterRoleBinding matches nobody"
                    )
                    unmatchable += 1
                    continue
                s = e.subject
                if s.kind == "User":
                    asker = RequestAttributes(**{**_fields(req), "user": s.name, "groups": ()})
                elif s.kind == "Group":
                    asker = RequestAttributes(**{**_fields(req), "user": "someone", "groups": (s.name,)})
                else:
                    ns = s.namespace or e.binding.namespace
                    asker = RequestAttributes(
                        **{**_fields(req), "user": f"system:serviceaccount:{ns}:{s.name}", "groups": ()}
                    )
                assert authorize(store, asker, masters=False).allowed, (seed, req, s)
                checked += 1
    assert checked > 300
    assert unmatchable > 0


def _fields(req: RequestAttributes) -> dict[str, Any]:
    return {f: getattr(req, f) for f in req.__dataclass_fields__}
