"""Real control-plane static pods written by kubeadm v1.29 (tests/data/control-plane-manifests):
why kube-system cannot enforce baseline, and how the v1.34 probe-host check changes that."""

from __future__ import annotations

import json

from helpers import DATA, run_cli

KUBEADM = DATA / "control-plane-manifests" / "kubeadm-v1.29-zeta-linux"


def test_kubeadm_static_pods_at_baseline() -> None:
    result = run_cli("pss", "check", str(KUBEADM), "--level", "baseline", "-o", "json")
    assert result.code == 1
    rows = {r["object"]: [v["message"] for v in r["violations"]] for r in json.loads(result.stdout)}
    assert rows["Pod/kube-system/kube-apiserver"] == [
        "host namespaces (hostNetwork=true)",
        'hostPath volumes (volumes "ca-certs", "etc-ca-certificates", "etc-pki", "k8s-certs", '
        '"usr-local-share-ca-certificates", "usr-share-ca-certificates")',
        # kubeadm points the probes at the advertise address: refused from policy v1.34 on
        'probe or lifecycle host (container "kube-apiserver" uses probe or lifecycle host "172.30.1.2")',
    ]
    assert rows["Pod/kube-system/kube-scheduler"] == [
        "host namespaces (hostNetwork=true)",
        'hostPath volumes (volume "kubeconfig")',
        'probe or lifecycle host (container "kube-scheduler" uses probe or lifecycle host "127.0.0.1")',
    ]
    assert sorted(rows) == [
        "Pod/kube-system/etcd",
        "Pod/kube-system/kube-apiserver",
        "Pod/kube-system/kube-controller-manager",
        "Pod/kube-system/kube-scheduler",
    ]


def test_kubeadm_static_pods_on_a_1_29_cluster() -> None:
    # a v1.29 API server does not have the probe-host check: only host namespaces and hostPath
    result = run_cli(
        "pss", "check", str(KUBEADM), "--level", "baseline", "--k8s-version", "1.29", "-o", "json"
    )
    rows = {r["object"]: [v["check"] for v in r["violations"]] for r in json.loads(result.stdout)}
    assert set(map(tuple, rows.values())) == {("hostNamespaces", "hostPathVolumes")}
