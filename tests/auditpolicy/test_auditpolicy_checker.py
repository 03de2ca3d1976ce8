"""The cached evaluator agrees with the plain upstream-shaped matcher on every real policy."""

from __future__ import annotations

import random
import zlib

import pytest

from helpers import DATA
from kapsec.auditpolicy import evaluate, generate, load_policy_file, load_policy_text
from kapsec.auditpolicy.checker import mismatch_reason, rule_matches
from kapsec.model.request import RequestAttributes

POLICY_FILES = sorted((DATA / "auditpolicy" / "policies").glob("*.yaml"))
USERS = [
    (None, None),
    ("system:kube-proxy", ("system:authenticated",)),
    ("system:apiserver", ("system:authenticated", "system:masters")),
    ("kubelet", ("system:nodes",)),
    ("system:node:n1", ("system:nodes", "system:authenticated")),
    ("system:kube-controller-manager", ("system:authenticated",)),
    ("alice", ("developers", "system:authenticated")),
    ("alice", ()),
    ("system:anonymous", ("system:unauthenticated",)),
    ("*apiserver", ("system:authenticated",)),
]
TARGETS = [
    ("", "pods", ""),
    ("", "pods", "log"),
    ("", "pods", "exec"),
    ("", "pods", "status"),
    ("", "configmaps", ""),
    ("", "secrets", ""),
    ("", "serviceaccounts", "token"),
    ("", "endpoints", ""),
    ("", "services", "status"),
    ("", "nodes", "status"),
    ("", "namespaces", "finalize"),
    ("", "events", ""),
    ("apps", "deployments", "scale"),
    ("apps", "deployments", ""),
    ("metrics.k8s.io", "pods", ""),
    ("rbac.authorization.k8s.io", "clusterrolebindings", ""),
    ("authentication.k8s.io", "tokenreviews", ""),
    ("apiserver.openshift.io", "apirequestcounts", "x"),
    ("coordination.k8s.io", "leases", ""),
    ("extensions", "ingresses", ""),
    ("example.com", "widgets", "status"),
]
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*"]
NAMESPACES = ["", "default", "kube-system", "kube-node-lease", "team-a"]
NAMES = ["", "controller-leader", "ingress-uid", "web"]
PATHS = [
    "/healthz",
    "/healthz/etcd",
    "/version",
    "/api",
    "/apis/apps",
    "/metrics",
    "/logs/x",
    "/swaggerapi",
    "/",
]


def requests(seed: int, n: int) -> list[RequestAttributes]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        user, groups = rng.choice(USERS)
        verb = rng.choice(VERBS)
        if rng.random() < 0.2:
            out.append(RequestAttributes(user, groups, verb, False, path=rng.choice(PATHS)))
        else:
            group, resource, sub = rng.choice(TARGETS)
            out.append(
                RequestAttributes(
                    user,
                    groups,
                    verb,
                    True,
                    rng.choice(NAMESPACES),
                    group,
                    "",
                    resource,
                    sub,
                    rng.choice(NAMES),
                )
            )
    return out


CASES = [(p.name, load_policy_file(p)) for p in POLICY_FILES] + [
    (f"generated-{prof}", load_policy_text(generate(prof), prof))
    for prof in ("guide-simple", "guide-moderate", "cis", "recommended")
]


@pytest.mark.parametrize(("name", "policy"), CASES, ids=[c[0] for c in CASES])
def test_cached_evaluator_matches_first_match_loop(name: str, policy) -> None:  # type: ignore[no-untyped-def]
    reqs = requests(zlib.crc32(name.encode()), 3000)
    for req in reqs + reqs:  # the second pass answers from the cache
        want = next((i for i, r in enumerate(policy.rules) if rule_matches(r, req)), None)
        got = evaluate(policy, req)
        assert got.rule_index == want, (name, req)
        assert got.level == ("None" if want is None else policy.rules[want].level)
    for req in reqs[:500]:  # --why gives a reason exactly for the rules that do not match
        for rule in policy.rules:
            assert (mismatch_reason(rule, req) is None) == rule_matches(rule, req)
