"""``tls inspect`` on the trees ``kapsec lab init`` writes (kubeadm and RKE2 layouts, real PKI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import run_cli


def lab(tmp_path: Path, *args: str) -> Path:
    root = tmp_path / "node"
    result = run_cli("lab", "init", str(root), *args)
    assert result.code == 0, result.stderr
    return root


PLANTS = (
    "--plant",
    "expiring-cert",
    "--plant",
    "expired-cert",
    "--plant",
    "world-readable-key",
    "--plant",
    "wrong-ca",
)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One kubeadm lab with every planted problem, shared: inspect only reads it."""
    return lab(tmp_path_factory.mktemp("planted"), *PLANTS)


def inspect(root: Path) -> tuple[int, dict[str, Any]]:
    result = run_cli("tls", "inspect", "--root", str(root), "-o", "json")
    assert result.stderr == ""
    return result.code, json.loads(result.stdout)


def not_passing(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["id"], f["status"], f["message"]) for f in doc["findings"] if f["status"] != "pass"]


def test_kubeadm_lab_is_clean(tmp_path: Path) -> None:
    code, doc = inspect(lab(tmp_path))
    assert code == 0
    assert not_passing(doc) == []
    files = {c["file"] for c in doc["certificates"]}
    # the kubelet's rotated client certificate is reached through kubelet.conf's client-certificate path
    assert "/var/lib/kubelet/pki/kubelet-client-current.pem" in files
    assert "/etc/kubernetes/pki/apiserver.crt" in files
    san = next(f for f in doc["findings"] if f["id"] == "TLS-CERT-SAN")
    assert san["message"] == (
        "/etc/kubernetes/pki/apiserver.crt: has kubernetes, kubernetes.default, kubernetes.default.svc, "
        "kubernetes.default.svc.cluster.local, 10.96.0.1, 192.168.56.10"
    )


def test_kubeadm_lab_with_every_planted_problem(planted: Path) -> None:
    code, doc = inspect(planted)
    assert code == 1
    found = [(check, status, message.split(": ", 1)[0]) for check, status, message in not_passing(doc)]
    assert found == [
        ("TLS-CERT-VALIDITY", "warn", "/etc/kubernetes/pki/apiserver.crt"),
        ("TLS-CERT-VALIDITY", "fail", "/etc/kubernetes/pki/apiserver-kubelet-client.crt"),
        ("TLS-CERT-CHAIN", "fail", "/etc/kubernetes/pki/apiserver-etcd-client.crt"),
        ("TLS-FILE-MODE", "fail", "/etc/kubernetes/pki/apiserver.key"),
    ]
    messages = [m for _, _, m in not_passing(doc)]
    assert messages[0].startswith("/etc/kubernetes/pki/apiserver.crt: expires in 6 days (")
    assert messages[1].startswith("/etc/kubernetes/pki/apiserver-kubelet-client.crt: expired on ")
    assert messages[1].endswith("(1 day ago)")
    assert messages[2] == (
        "/etc/kubernetes/pki/apiserver-etcd-client.crt: not verified by /etc/kubernetes/pki/etcd/ca.crt "
        "(--trusted-ca-file): issued by 'kubernetes', not by the CA ('etcd-ca')"
    )
    assert (
        messages[3] == "/etc/kubernetes/pki/apiserver.key: private key has mode 644, more permissive than 600"
    )


def test_rke2_lab_is_clean_and_uses_its_own_layout(tmp_path: Path) -> None:
    code, doc = inspect(lab(tmp_path, "--flavor", "rke2"))
    assert not_passing(doc) == []
    assert code == 0
    keys = {c["key"] for c in doc["certificates"]}
    assert keys == {"EC P-256"}
    chains = {f["message"] for f in doc["findings"] if f["id"] == "TLS-CERT-CHAIN"}
    assert any(
        m.startswith(
            "/var/lib/rancher/rke2/server/tls/etcd/client.crt: verified by "
            "/var/lib/rancher/rke2/server/tls/etcd/server-ca.crt (--trusted-ca-file)"
        )
        for m in chains
    )


def test_sarif_and_junit_carry_the_findings(planted: Path) -> None:
    root = planted
    result = run_cli("tls", "inspect", "--root", str(root), "-o", "sarif")
    assert result.code == 1
    results = json.loads(result.stdout)["runs"][0]["results"]
    errors = sorted(
        (r["ruleId"], r["properties"]["evidence"].get("flag", "")) for r in results if r["level"] == "error"
    )
    assert errors == [
        ("TLS-CERT-CHAIN", "--etcd-certfile"),
        ("TLS-CERT-VALIDITY", "--kubelet-client-certificate"),
        ("TLS-FILE-MODE", ""),
    ]
    result = run_cli("tls", "inspect", "--root", str(root), "-o", "junit")
    assert result.code == 1
    assert result.stdout.count("<failure") == 3
    assert 'failures="3"' in result.stdout.splitlines()[1]


def test_rke2_etcd_config_file_names_the_etcd_certificates(tmp_path: Path) -> None:
    code, doc = inspect(lab(tmp_path, "--flavor", "rke2"))
    assert code == 0
    serving = [
        (f["message"], f["evidence"]["file"], f["evidence"]["flag"])
        for f in doc["findings"]
        if f["id"] == "TLS-CERT-CHAIN"
        and f["evidence"].get("file") == "/var/lib/rancher/rke2/server/db/etcd/config"
    ]
    assert [(m.split(": verified by ")[1].split(":")[0], flag) for m, _, flag in serving] == [
        ("/var/lib/rancher/rke2/server/tls/etcd/server-ca.crt (--etcd-cafile)", "--cert-file"),
        ("/var/lib/rancher/rke2/server/tls/etcd/peer-ca.crt (--peer-trusted-ca-file)", "--peer-cert-file"),
    ]
