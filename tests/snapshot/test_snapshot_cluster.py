"""The live collector against a local HTTP server that answers like kube-apiserver's list
endpoints (tests/snapshot/fake_apiserver.py): paging, auth, 401/403, unreachable servers."""

from __future__ import annotations

import gzip
import json
import socket
from pathlib import Path

import pytest

from helpers import DATA, run_cli
from kapsec.errors import ServiceError, UsageError
from kapsec.sources.cluster import DEFAULT_KINDS, collect_snapshot
from kapsec.sources.objects import load_text
from snapshot.fake_apiserver import fake_apiserver, make_ca_and_server_cert, recorded_lists

SNAPSHOT = DATA / "netpol" / "snapshot.json"
EXPECTED_COUNTS = {
    "ClusterRole": 1,
    "ClusterRoleBinding": 1,
    "CronJob": 1,
    "DaemonSet": 1,
    "Deployment": 3,
    "Job": 1,
    "Namespace": 8,
    "NetworkPolicy": 7,
    "Pod": 8,
    "PodTemplate": 0,
    "ReplicaSet": 3,
    "ReplicationController": 0,
    "Role": 1,
    "RoleBinding": 1,
    "ServiceAccount": 7,
    "StatefulSet": 1,
}


def test_collects_every_kind_with_paging(tmp_path: Path) -> None:
    with fake_apiserver() as api:
        snap = collect_snapshot(str(api.kubeconfig(tmp_path)), None)
        requests = list(api.requests)
    assert snap["apiVersion"] == "v1"
    assert snap["kind"] == "List"
    assert json.loads(snap["metadata"]["annotations"]["kapsec.io/counts"]) == EXPECTED_COUNTS
    assert len(snap["items"]) == 44
    # one request per kind, plus the second page of pods (continue token passed back)
    assert len(requests) == len(DEFAULT_KINDS) + 1
    assert requests[0] == "/api/v1/namespaces?limit=500"
    assert requests[2].startswith("/api/v1/pods?limit=500&continue=eyJ2Ijoi")
    assert "/apis/networking.k8s.io/v1/networkpolicies?limit=500" in requests
    for item in snap["items"]:
        assert item["kind"] in EXPECTED_COUNTS
        assert "managedFields" not in item["metadata"]
    pods = [i for i in snap["items"] if i["kind"] == "Pod"]
    assert [p["apiVersion"] for p in pods] == ["v1"] * 8
    assert pods[-1]["metadata"]["name"] == "pay-0"  # from page 2
    # the same as the committed snapshot the offline tests read, apart from time and server
    committed = json.loads(SNAPSHOT.read_text())
    assert snap["items"] == committed["items"]
    # and loadable by the shared loader without problems
    loaded = load_text(json.dumps(snap), "<cluster>")
    assert not loaded.problems
    assert len(loaded.objects) == 44


def test_only_requested_kinds(tmp_path: Path) -> None:
    with fake_apiserver() as api:
        snap = collect_snapshot(str(api.kubeconfig(tmp_path)), "other", ["Role", "ClusterRole"])
        assert api.requests == [
            "/apis/rbac.authorization.k8s.io/v1/roles?limit=500",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles?limit=500",
        ]
    assert [i["kind"] for i in snap["items"]] == ["Role", "ClusterRole"]


def test_unknown_kind_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="cannot collect Secret"):
        collect_snapshot(None, None, ["Pod", "Secret"])


def test_cli_writes_gzip_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "snap.json.gz"
    with fake_apiserver() as api:
        kubeconfig = api.kubeconfig(tmp_path)
        result = run_cli("snapshot", "--cluster", "--kubeconfig", str(kubeconfig), "-o", str(out))
    assert result.code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        f"kapsec: wrote 44 objects to {out} (8 Namespace, 8 Pod, 0 PodTemplate, 0 ReplicationController, "
        "7 ServiceAccount, 3 Deployment, 3 ReplicaSet, 1 StatefulSet, 1 DaemonSet, 1 Job, 1 CronJob, "
        "7 NetworkPolicy, 1 Role, 1 ClusterRole, 1 RoleBinding, 1 ClusterRoleBinding)\n"
    )
    data = json.loads(gzip.decompress(out.read_bytes()))
    assert len(data["items"]) == 44
    # the offline analyses read it directly
    check = run_cli("pss", "simulate", "--from", str(out), "-o", "json")
    assert check.code == 0
    assert [ns["namespace"] for ns in json.loads(check.stdout)] == [
        "default",
        "kube-node-lease",
        "kube-public",
        "kube-system",
        "legacy",
        "payments",
        "prod",
        "web",
    ]


def test_cli_cluster_mode_matches_snapshot_mode(tmp_path: Path) -> None:
    with fake_apiserver() as api:
        kubeconfig = api.kubeconfig(tmp_path)
        live = run_cli("netpol", "check", "--cluster", "--kubeconfig", str(kubeconfig), "-o", "json")
    offline = run_cli("netpol", "check", "--from", str(SNAPSHOT), "-o", "json")
    assert live.code == offline.code == 1
    live_doc, offline_doc = json.loads(live.stdout), json.loads(offline.stdout)
    assert [f["message"] for f in live_doc["findings"]] == [f["message"] for f in offline_doc["findings"]]


def test_bad_token_is_reported(tmp_path: Path) -> None:
    with fake_apiserver() as api:
        kubeconfig = api.kubeconfig(tmp_path, token="wrong")
        with pytest.raises(ServiceError) as err:
            collect_snapshot(str(kubeconfig), None)
    assert str(err.value) == (
        "GET /api/v1/namespaces: HTTP 401: Unauthorized (the kubeconfig's credentials were not accepted)"
    )


def test_forbidden_kind_stops_collection(tmp_path: Path) -> None:
    with fake_apiserver() as api:
        api.forbidden.add("/apis/networking.k8s.io/v1/networkpolicies")
        result = run_cli("snapshot", "--cluster", "--kubeconfig", str(api.kubeconfig(tmp_path)), "-o", "-")
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "kapsec: error: GET /apis/networking.k8s.io/v1/networkpolicies: HTTP 403: networkpolicies.networking.k8s.io "
        'is forbidden: User "tester" cannot list resource "networkpolicies" in API group "networking.k8s.io" at '
        "the cluster scope (the credentials need list permission on it, or leave that kind out)\n"
    )


def test_unknown_context_and_missing_kubeconfig(tmp_path: Path) -> None:
    with fake_apiserver() as api:
        kubeconfig = api.kubeconfig(tmp_path)
        result = run_cli(
            "snapshot", "--cluster", "--kubeconfig", str(kubeconfig), "--context", "nope", "-o", "-"
        )
    assert result.code == 2
    assert result.stderr.startswith(f"kapsec: error: {kubeconfig}: cannot use the kubeconfig: ")
    assert "nope" in result.stderr
    missing = tmp_path / "missing-kubeconfig"
    result = run_cli("snapshot", "--cluster", "--kubeconfig", str(missing), "-o", "-")
    assert result.code == 2
    assert result.stderr == f"kapsec: error: {missing}: kubeconfig not found\n"


def test_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
        f"    server: http://127.0.0.1:{port}\nusers:\n- name: u\n  user:\n    token: t\n"
        "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
    )
    result = run_cli("pss", "simulate", "--cluster", "--kubeconfig", str(kubeconfig))
    assert result.code == 2
    assert result.stderr.startswith(f"kapsec: error: cannot reach the API server at http://127.0.0.1:{port}")
    assert "Traceback" not in result.stderr


def test_cluster_flags_need_cluster() -> None:
    result = run_cli("netpol", "check", "--from", str(SNAPSHOT), "--context", "x")
    assert result.code == 2
    assert result.stderr == "kapsec: error: --kubeconfig and --context only apply with --cluster\n"


def test_pss_simulate_from_cluster(tmp_path: Path) -> None:
    with fake_apiserver() as api:
        kubeconfig = api.kubeconfig(tmp_path)
        live = run_cli("pss", "simulate", "--cluster", "--kubeconfig", str(kubeconfig), "-o", "json")
    offline = run_cli("pss", "simulate", "--from", str(SNAPSHOT), "-o", "json")
    assert live.code == offline.code == 0
    strip = lambda doc: [{k: v for k, v in ns.items() if k != "refused"} for ns in json.loads(doc)]  # noqa: E731
    assert strip(live.stdout) == strip(offline.stdout)


def test_https_with_the_kubeconfig_ca(tmp_path: Path) -> None:
    with fake_apiserver(tls_dir=tmp_path) as api:
        assert api.url.startswith("https://127.0.0.1:")
        snap = collect_snapshot(str(api.kubeconfig(tmp_path)), None, ["Namespace"])
        assert len(snap["items"]) == 8
        # a kubeconfig trusting another CA is refused, with the TLS reason on one line
        (tmp_path / "other").mkdir()
        other_ca, _, _ = make_ca_and_server_cert(tmp_path / "other")
        bad = api.kubeconfig(tmp_path, ca_pem=other_ca)
        result = run_cli("snapshot", "--cluster", "--kubeconfig", str(bad), "-o", "-")
    assert result.code == 2
    assert result.stderr.startswith(f"kapsec: error: cannot reach the API server at {api.url}: ")
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert result.stderr.count("\n") == 1


def test_collects_list_responses_recorded_from_a_real_api_server(tmp_path: Path) -> None:
    # bodies a real kube-apiserver v1.36.2 sent (from its RequestResponse audit log)
    recorded = recorded_lists()
    kinds = ["Namespace", "Pod", "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]
    with fake_apiserver(responses=recorded) as api:
        snap = collect_snapshot(str(api.kubeconfig(tmp_path)), None, kinds)
    counts = json.loads(snap["metadata"]["annotations"]["kapsec.io/counts"])
    assert counts == {
        "Namespace": 7,
        "Pod": 3,
        "ServiceAccount": 6,
        "Role": 7,
        "ClusterRole": 73,
        "RoleBinding": 8,
        "ClusterRoleBinding": 53,
    }
    assert all("managedFields" not in i["metadata"] for i in snap["items"])
    loaded = load_text(json.dumps(snap), "<cluster>")
    assert not loaded.problems
    pods = {f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o, _ in loaded.of_kind("Pod")}
    assert len(pods) == 3
    # the recorded pods go through the offline analyses as collected
    out = tmp_path / "recorded.json"
    out.write_text(json.dumps(snap))
    sim = run_cli("pss", "simulate", "--from", str(out), "-o", "json")
    assert sim.code == 0, sim.stderr
    assert {n["namespace"] for n in json.loads(sim.stdout)} >= {"default", "dev", "kube-system"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot use the kubeconfig: is a directory"),
        (b"\x00\x01\xff\xfe", r"cannot use the kubeconfig: not UTF-8 text (byte 2)"),
        (
            b"apiVersion: v1\nclusters: [a,\nb: c: d\n",
            "cannot use the kubeconfig: invalid YAML: expected ',' or ']', but got ':'",
        ),
    ],
    ids=["directory", "binary", "malformed"],
)
def test_unusable_kubeconfig_is_one_line(tmp_path: Path, content: bytes | None, message: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    if content is None:
        kubeconfig.mkdir()
    else:
        kubeconfig.write_bytes(content)
    where = f"{kubeconfig}:3" if "YAML" in message else str(kubeconfig)
    for args in (["snapshot", "--cluster", "-o", "-"], ["rbac", "who-can", "get", "pods", "--cluster"]):
        result = run_cli(*args, "--kubeconfig", str(kubeconfig))
        assert (result.code, result.stdout, result.stderr) == (2, "", f"kapsec: error: {where}: {message}\n")
