"""Against a real kube-apiserver v1.36.2 (tests/data/oracle-1.36/audit-logs): every pod create
it audited with PodSecurity annotations, under its admission config (enforce baseline, audit and
warn restricted, kube-system exempt; namespace legacy labelled enforce=privileged).

For each event: the enforce decision and, when refused, the 403 message word for word; the
`audit-violations` annotation word for word; the `exempt` annotation. Then the manifests the
session applied, through `kapsec pss simulate`, give the same refusals the server gave.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import DATA, run_cli
from kapsec.pss.admission import load_admission_config
from kapsec.pss.api import policy_from_labels
from kapsec.pss.evaluate import evaluate

AUDIT = DATA / "oracle-1.36" / "audit-logs"
CONFIG = load_admission_config(AUDIT / "admission-config.yaml").pod_security
PREFIX = "pod-security.kubernetes.io/"
# the session's namespace labels (transcript step 1: `kubectl label ns legacy ...enforce=privileged`)
LABELS = {"legacy": {PREFIX + "enforce": "privileged"}}


def pod_creates() -> list[tuple[str, int, dict[str, Any]]]:
    out = []
    for log in ("moderate", "requestresponse"):
        for n, line in enumerate((AUDIT / log / "audit.log").read_text().splitlines(), 1):
            e = json.loads(line)
            ann = e.get("annotations") or {}
            if e.get("stage") == "ResponseComplete" and any(k.startswith(PREFIX) for k in ann):
                out.append((log, n, e))
    return out


EVENTS = pod_creates()


def test_events_found() -> None:
    assert len(EVENTS) == 12
    assert all(e["verb"] == "create" and e["objectRef"]["resource"] == "pods" for _, _, e in EVENTS)


@pytest.mark.parametrize(("log", "line", "event"), EVENTS, ids=[f"{log}:{n}" for log, n, _ in EVENTS])
def test_matches_the_real_api_server(log: str, line: int, event: dict[str, Any]) -> None:
    assert CONFIG is not None
    ann = event["annotations"]
    pod = event["requestObject"]
    namespace = event["objectRef"]["namespace"]
    code = event["responseStatus"]["code"]
    if namespace in CONFIG.exemptions.namespaces:
        assert ann[PREFIX + "exempt"] == "namespace"
        assert code == 201
        return
    policy, errors = policy_from_labels(LABELS.get(namespace, {}), CONFIG.defaults)
    assert not errors
    assert ann[PREFIX + "enforce-policy"] == str(policy.enforce)
    enforce = evaluate(pod, policy.enforce.level, policy.enforce.version)
    assert enforce is not None
    if code == 403:
        assert enforce.denial("pods", pod["metadata"]["name"]) == event["responseStatus"]["message"]
    else:
        assert code == 201
        assert enforce.allowed
    audit = evaluate(pod, policy.audit.level, policy.audit.version)
    assert audit is not None
    assert audit.warning == ann[PREFIX + "audit-violations"]


def test_simulate_on_the_session_manifests(tmp_path: Path) -> None:
    ns = tmp_path / "namespaces.yaml"
    ns.write_text(
        "\n---\n".join(
            f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {json.dumps(LABELS.get(name, {}))}}}"
            for name in ("default", "dev", "legacy", "kube-system")
        )
    )
    manifests = [str(p) for p in sorted((AUDIT / "manifests").glob("*pod*.yaml"))]
    args = ["pss", "simulate", "--admission-config", str(AUDIT / "admission-config.yaml"), "-o", "json"]
    result = run_cli(*args, "--from", str(ns), *[a for m in manifests for a in ("--from", m)])
    assert result.code == 0, result.stderr
    doc = {n["namespace"]: n for n in json.loads(result.stdout)}
    refused_now = {name: [o["object"] for o in n["refused"]["current"]] for name, n in doc.items()}
    # exactly the creates the real server refused with 403
    assert refused_now == {
        "default": ["Pod/default/priv-shell"],
        "dev": ["Pod/dev/host-escape-dev", "Pod/dev/priv-shell"],
        "kube-system": [],
        "legacy": [],
    }
    assert doc["kube-system"]["exempt"] is True
