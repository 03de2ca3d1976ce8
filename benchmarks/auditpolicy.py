"""Audit-policy benchmark: ``explain --batch`` of 1,000,000 requests against a 30-rule policy.

Builds a realistic 30-rule policy (the GKE configure-helper policy's shape: system noise dropped,
sensitive resources at Metadata, reads at Request, writes at RequestResponse, plus per-team
rules) and 1,000,000 request-attribute JSON lines with a realistic mix (controllers, kubelets,
service accounts and people; reads and writes; core, apps, RBAC, CRD groups; non-resource paths;
distinct object names), then measures, each as requests per second:

* ``explain_lines`` in process: decode every JSON line with msgspec, evaluate, encode the answer;
* the same through the CLI, as users run it:
  ``kapsec audit-policy explain --policy P --batch R.jsonl -o json > /dev/null`` (a subprocess,
  start-up and file reading included);
* the baseline: the upstream algorithm written plainly (every rule tried in order, lists scanned,
  as ``checker.go`` does) on the already decoded requests, i.e. what a straightforward port would
  do; there is no other tool that evaluates audit policies offline.

Each measurement is run ``--repeat`` times (default 3) and the best is reported, since other work
on the machine only ever makes a run slower. Target (issue 3): at least 200,000 requests/s. Run: ``.venv/bin/python benchmarks/auditpolicy.py
[--count N]``. Temporary files are removed.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from kapsec.auditpolicy import load_policy_text
from kapsec.auditpolicy.checker import rule_matches
from kapsec.auditpolicy.explain import explain_lines
from kapsec.model.request import RequestAttributes

KNOWN = [
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
]


def policy_text() -> str:
    groups = "".join(f'      - group: "{g}"\n' for g in KNOWN)
    rules = [
        "- level: None\n  users: [system:kube-proxy]\n  verbs: [watch]\n  resources:\n"
        "      - group: ''\n        resources: [endpoints, services, services/status]\n",
        "- level: None\n  users: [system:unsecured]\n  namespaces: [kube-system]\n  verbs: [get]\n"
        "  resources:\n      - group: ''\n        resources: [configmaps]\n",
        "- level: None\n  users: [kubelet]\n  verbs: [get]\n  resources:\n"
        "      - group: ''\n        resources: [nodes, nodes/status]\n",
        "- level: None\n  userGroups: [system:nodes]\n  verbs: [get]\n  resources:\n"
        "      - group: ''\n        resources: [nodes, nodes/status]\n",
        "- level: None\n  users: [system:kube-controller-manager, system:kube-scheduler]\n"
        "  verbs: [get, update]\n  namespaces: [kube-system]\n  resources:\n"
        "      - group: ''\n        resources: [endpoints]\n",
        "- level: None\n  users: [system:apiserver]\n  verbs: [get]\n  resources:\n"
        "      - group: ''\n        resources: [namespaces, namespaces/status, namespaces/finalize]\n",
        "- level: None\n  users: [cluster-autoscaler]\n  verbs: [get, update]\n  namespaces: [kube-system]\n"
        "  resources:\n      - group: ''\n        resources: [configmaps, endpoints]\n",
        "- level: None\n  users: [system:kube-controller-manager]\n  verbs: [get, list]\n"
        "  resources:\n      - group: metrics.k8s.io\n",
        "- level: None\n  nonResourceURLs: ['/healthz*', /version, '/swagger*']\n",
        "- level: None\n  resources:\n      - group: ''\n        resources: [events]\n",
        "- level: None\n  userGroups: [system:nodes]\n  verbs: [get, update]\n  namespaces: [kube-node-lease]\n"
        "  resources:\n      - group: coordination.k8s.io\n        resources: [leases]\n",
        "- level: Request\n  users: [kubelet, system:node-problem-detector]\n  verbs: [update, patch]\n"
        "  resources:\n      - group: ''\n        resources: [nodes/status, pods/status]\n",
        "- level: Request\n  userGroups: [system:nodes]\n  verbs: [update, patch]\n"
        "  resources:\n      - group: ''\n        resources: [nodes/status, pods/status]\n",
        "- level: Request\n  users: ['system:serviceaccount:kube-system:namespace-controller']\n"
        "  verbs: [deletecollection]\n",
        "- level: Metadata\n  resources:\n      - group: ''\n        resources: [secrets, configmaps, "
        "serviceaccounts/token]\n      - group: authentication.k8s.io\n        resources: [tokenreviews]\n",
        "- level: Request\n  resources:\n      - group: ''\n        resources: ['pods/exec', 'pods/attach', "
        "'pods/portforward']\n",
        "- level: RequestResponse\n  verbs: [create, update, patch, delete]\n  resources:\n"
        "      - group: rbac.authorization.k8s.io\n",
        "- level: None\n  namespaces: [sandbox-1, sandbox-2, sandbox-3]\n  verbs: [get, list, watch]\n",
        "- level: Metadata\n  userGroups: [team-a]\n  namespaces: [team-a]\n",
        "- level: Metadata\n  userGroups: [team-b]\n  namespaces: [team-b]\n",
        "- level: Request\n  resources:\n      - group: example.com\n        resources: ['*/status']\n",
        "- level: Metadata\n  resources:\n      - group: '*'\n        resources: ['*/scale']\n",
        "- level: None\n  resources:\n      - group: ''\n        resources: [configmaps]\n"
        "        resourceNames: [controller-leader, ingress-uid]\n",
        "- level: Metadata\n  resources:\n      - group: apps\n        resources: ['deployments/*']\n"
        "  verbs: [get]\n",
        "- level: None\n  users: [system:serviceaccount:monitoring:prometheus]\n  verbs: [get, list, watch]\n",
        "- level: Metadata\n  nonResourceURLs: ['/logs*', /metrics]\n",
        "- level: Request\n  verbs: [get, list, watch]\n  resources:\n" + groups,
        "- level: RequestResponse\n  resources:\n" + groups,
        "- level: Metadata\n  omitStages: [RequestReceived]\n",
        "- level: Metadata\n",
    ]
    assert len(rules) == 30
    return "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n" + "".join(
        rules
    )


IDENTITIES = [
    ("system:kube-proxy", ["system:authenticated"]),
    ("system:kube-controller-manager", ["system:authenticated"]),
    ("system:kube-scheduler", ["system:authenticated"]),
    ("system:apiserver", ["system:authenticated", "system:masters"]),
    ("system:serviceaccount:monitoring:prometheus", ["system:serviceaccounts", "system:authenticated"]),
    (
        "system:serviceaccount:kube-system:namespace-controller",
        ["system:serviceaccounts", "system:authenticated"],
    ),
    ("alice", ["team-a", "system:authenticated"]),
    ("bob", ["team-b", "system:authenticated"]),
    ("admin", ["system:masters", "system:authenticated"]),
    (None, None),
] + [(f"system:node:node-{i}", ["system:nodes", "system:authenticated"]) for i in range(50)]

TARGETS = [
    ("", "pods", ""),
    ("", "pods", "status"),
    ("", "pods", "log"),
    ("", "pods", "exec"),
    ("", "nodes", ""),
    ("", "nodes", "status"),
    ("", "secrets", ""),
    ("", "configmaps", ""),
    ("", "endpoints", ""),
    ("", "services", ""),
    ("", "events", ""),
    ("", "namespaces", ""),
    ("apps", "deployments", ""),
    ("apps", "deployments", "scale"),
    ("apps", "replicasets", ""),
    ("coordination.k8s.io", "leases", ""),
    ("rbac.authorization.k8s.io", "clusterrolebindings", ""),
    ("rbac.authorization.k8s.io", "roles", ""),
    ("example.com", "widgets", "status"),
    ("batch", "jobs", ""),
    ("metrics.k8s.io", "pods", ""),
]
NAMESPACES = ["default", "kube-system", "kube-node-lease", "team-a", "team-b", "sandbox-2", "prod", "ci"]
VERBS = ["get", "get", "get", "list", "watch", "create", "update", "patch", "delete"]
PATHS = ["/healthz", "/readyz", "/version", "/metrics", "/logs/kube-apiserver.log", "/openapi/v3", "/apis"]


def make_requests(n: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    enc = msgspec.json.Encoder()
    out = []
    for i in range(n):
        user, groups = IDENTITIES[rng.randrange(len(IDENTITIES))]
        verb = VERBS[rng.randrange(len(VERBS))]
        if rng.random() < 0.08:
            req = {"id": i, "user": user, "groups": groups, "verb": "get", "path": PATHS[rng.randrange(len(PATHS))],
                   "resourceRequest": False}  # fmt: skip
        else:
            group, resource, sub = TARGETS[rng.randrange(len(TARGETS))]
            name = "" if verb in ("list", "watch", "create") else f"obj-{rng.randrange(100_000)}"
            req = {
                "id": i,
                "user": user,
                "groups": groups,
                "verb": verb,
                "namespace": ""
                if resource in ("nodes", "clusterrolebindings")
                else NAMESPACES[rng.randrange(8)],
                "apiGroup": group,
                "resource": resource,
                "subresource": sub,
                "name": name,
                "resourceRequest": True,
            }
        out.append(enc.encode(req))
    return b"\n".join(out) + b"\n"


def baseline(policy_rules: tuple, requests: list[RequestAttributes]) -> list[str]:  # type: ignore[type-arg]
    """The upstream algorithm written plainly: every rule in order, lists scanned."""
    levels = []
    for req in requests:
        for rule in policy_rules:
            if rule_matches(rule, req):
                levels.append(rule.level)
                break
        else:
            levels.append("None")
    return levels


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--baseline-count", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    args = ap.parse_args()
    text = policy_text()
    policy = load_policy_text(text, "bench-policy.yaml")
    print(f"policy: {len(policy.rules)} rules; requests: {args.count:,}")
    t = time.perf_counter()
    data = make_requests(args.count)
    print(f"generated {len(data) / 1e6:,.1f} MB of request JSON lines in {time.perf_counter() - t:.1f} s")
    lines = data.splitlines(keepends=True)

    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        n_out = 0
        for _ in explain_lines(policy, lines):
            n_out += 1
        best = min(best, time.perf_counter() - t)
        assert n_out == args.count
    inproc = args.count / best
    print(f"in process  explain_lines (decode + evaluate + encode): {best:.2f} s  {inproc:,.0f} requests/s")

    with tempfile.TemporaryDirectory() as tmp:
        pfile = Path(tmp) / "policy.yaml"
        rfile = Path(tmp) / "requests.jsonl"
        pfile.write_text(text)
        rfile.write_bytes(data)
        cmd = [sys.executable, "-m", "kapsec", "audit-policy", "explain", "--policy", str(pfile),
               "--batch", str(rfile), "-o", "json"]  # fmt: skip
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            with open(os.devnull, "wb") as devnull:
                subprocess.run(cmd, check=True, stdout=devnull)
            best = min(best, time.perf_counter() - t)
        cli = args.count / best
        print(f"CLI         kapsec audit-policy explain --batch -o json: {best:.2f} s  {cli:,.0f} requests/s")

    m = min(args.baseline_count, args.count)
    decoded = [RequestAttributes.from_dict(msgspec.json.decode(x)) for x in lines[:m]]
    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        base_levels = baseline(policy.rules, decoded)
        best = min(best, time.perf_counter() - t)
    base = m / best
    print(
        f"baseline    plain first-match loop, evaluation only ({m:,} requests): {best:.2f} s  {base:,.0f} requests/s"
    )
    from kapsec.auditpolicy.checker import evaluate

    assert [evaluate(policy, r).level for r in decoded] == base_levels, "fast and plain evaluators disagree"
    print(
        f"ratio       kapsec end-to-end vs plain evaluation alone: {inproc / base:.1f}x (CLI {cli / base:.1f}x)"
    )
    print(f"target      >= 200,000 requests/s: {'met' if cli >= 200_000 else 'NOT met'} (CLI end-to-end)")


if __name__ == "__main__":
    main()
