"""The RKE2 (CIS profile) lab: the real argv, the real etcd config, k3s-style ECDSA PKI, RKE2 pod frames."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import DATA
from kapsec.lab import Flavor, LabOptions, init_lab

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
RKE2_DOCS = DATA / "control-plane-manifests" / "rke2-cis-self-assessment"
TLS = "var/lib/rancher/rke2/server/tls"
PODS = "var/lib/rancher/rke2/agent/pod-manifests"

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def real_argv(binary: str) -> list[str]:
    """The argv of ``binary`` in the RKE2 CIS guide's `ps -ef` output."""
    for line in (RKE2_DOCS / "cis_self_assessment112-ps.txt").read_text().splitlines():
        words = line.split()
        if binary in words:
            return words[words.index(binary) + 1 :]
    raise AssertionError(binary)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rke2") / "node"
    init_lab(
        root, LabOptions(flavor=Flavor.RKE2, advertise_address="10.10.10.100", node_name="server-0", now=NOW)
    )
    return root


def container(lab: Path, name: str) -> dict:  # type: ignore[type-arg]
    pod = yaml.safe_load((lab / PODS / f"{name}.yaml").read_text())
    return pod["spec"]["containers"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["kube-apiserver", "kube-controller-manager", "kube-scheduler"])
def test_lab_rke2_args_are_the_real_cis_argv(lab: Path, name: str) -> None:
    c = container(lab, name)
    assert c["command"] == [name]
    assert c["args"] == real_argv(name)


def test_lab_rke2_etcd_runs_from_the_real_config_file(lab: Path) -> None:
    c = container(lab, "etcd")
    assert c["args"] == ["--config-file=/var/lib/rancher/rke2/server/db/etcd/config"]
    ours = yaml.safe_load((lab / "var/lib/rancher/rke2/server/db/etcd/config").read_text())
    real = yaml.safe_load((RKE2_DOCS / "cis_self_assessment112-etcd-config.yaml").read_text())
    real_name = real["name"]
    text = json.dumps(real).replace(real_name, "server-0")
    expected = json.loads(text)
    del expected["socket-options"]  # not set by the lab
    assert ours == expected


def test_lab_rke2_every_file_a_flag_names_exists_and_is_mounted(lab: Path) -> None:
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        pod = yaml.safe_load((lab / PODS / f"{name}.yaml").read_text())
        c = pod["spec"]["containers"][0]
        mounted = {m["mountPath"] for m in c["volumeMounts"]}
        files = sorted(
            v["hostPath"]["path"] for v in pod["spec"]["volumes"] if v["hostPath"]["type"] == "File"
        )
        for arg in c["args"]:
            value = arg.split("=", 1)[1] if "=" in arg else ""
            if value.startswith("/") and (lab / value.lstrip("/")).is_file():
                assert value in mounted, (name, arg)
        digest = hashlib.sha256(b"".join((lab / f.lstrip("/")).read_bytes() for f in files)).hexdigest()
        assert c["env"] == [{"name": "FILE_HASH", "value": digest}]
        assert pod["spec"]["priorityClassName"] == "system-cluster-critical"
        assert c["securityContext"] == {"privileged": False}
    cm = yaml.safe_load((lab / PODS / "kube-controller-manager.yaml").read_text())
    paths = {v["hostPath"]["path"] for v in cm["spec"]["volumes"]}
    # the certificates the kubeconfig names are mounted too
    assert "/var/lib/rancher/rke2/server/tls/client-controller.crt" in paths
    assert "/var/lib/rancher/rke2/server/tls/server-ca.crt" in paths


def test_lab_rke2_probes(lab: Path) -> None:
    api = container(lab, "kube-apiserver")
    assert api["livenessProbe"]["exec"]["command"][-1] == "--raw=/livez"
    assert api["readinessProbe"]["exec"]["command"][-1] == "--raw=/readyz"
    assert api["readinessProbe"]["periodSeconds"] == 5  # exec probes run at most every 5 s
    assert container(lab, "etcd")["livenessProbe"]["httpGet"]["path"] == "/health?serializable=true"
    assert container(lab, "kube-scheduler")["readinessProbe"]["httpGet"]["port"] == 10259


def test_lab_rke2_modes(lab: Path) -> None:
    modes = {
        p.relative_to(lab).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in lab.rglob("*") if p.is_file()
    }
    assert len(modes) == 50
    assert set(modes.values()) == {0o600}
    assert stat.S_IMODE((lab / TLS).stat().st_mode) == 0o700
    assert stat.S_IMODE((lab / "var/lib/rancher/rke2/server/db/etcd").stat().st_mode) == 0o700


LEAVES = [
    ("serving-kube-apiserver", "server-ca", "CN = kube-apiserver"),
    ("client-kube-apiserver", "client-ca", "O = system:masters, CN = system:apiserver"),
    ("client-auth-proxy", "request-header-ca", "CN = system:auth-proxy"),
    ("client-admin", "client-ca", "O = system:masters, CN = system:admin"),
    ("client-controller", "client-ca", "CN = system:kube-controller-manager"),
    ("kube-scheduler/kube-scheduler", "server-ca", "CN = kube-scheduler"),
    ("etcd/client", "etcd/server-ca", "CN = etcd-client"),
    ("etcd/server-client", "etcd/server-ca", "CN = etcd-server"),
    ("etcd/peer-server-client", "etcd/peer-ca", "CN = etcd-peer"),
]


@needs_openssl
@pytest.mark.parametrize(("leaf", "ca", "subject"), LEAVES, ids=[x[0] for x in LEAVES])
def test_lab_rke2_ecdsa_leaf_chains_to_its_ca(lab: Path, leaf: str, ca: str, subject: str) -> None:
    tls = lab / TLS
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tls / f"{ca}.crt"), str(tls / f"{leaf}.crt")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.stdout == f"{tls / leaf}.crt: OK\n", verify.stderr
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-text", "-in", str(tls / f"{leaf}.crt")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert text.startswith(f"subject={subject}\n")
    assert "ASN1 OID: prime256v1" in text
    assert "Signature Algorithm: ecdsa-with-SHA256" in text
    cert_pub = subprocess.run(
        ["openssl", "x509", "-noout", "-pubkey", "-in", str(tls / f"{leaf}.crt")],
        capture_output=True,
        check=True,
    ).stdout
    key_pub = subprocess.run(
        ["openssl", "pkey", "-pubout", "-in", str(tls / f"{leaf}.key")], capture_output=True, check=True
    ).stdout
    assert cert_pub == key_pub


def test_lab_rke2_encryption_and_admission_configs(lab: Path) -> None:
    enc = json.loads((lab / "var/lib/rancher/rke2/server/cred/encryption-config.json").read_text())
    providers = enc["resources"][0]["providers"]
    assert enc["resources"][0]["resources"] == ["secrets"]
    key = providers[0]["aescbc"]["keys"][0]
    assert key["name"] == "aescbckey"
    assert len(base64.b64decode(key["secret"])) == 32
    assert providers[1] == {"identity": {}}
    pss = yaml.safe_load((lab / "etc/rancher/rke2/rke2-pss.yaml").read_text())
    assert pss["plugins"][0]["name"] == "PodSecurity"
    assert pss["plugins"][0]["configuration"]["defaults"]["enforce"] == "restricted"
    policy = yaml.safe_load((lab / "etc/rancher/rke2/audit-policy.yaml").read_text())
    assert policy["rules"] == [{"level": "None"}]


def test_lab_rke2_kubeconfigs(lab: Path) -> None:
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(lab / "etc/rancher/rke2/rke2.yaml"), client_configuration=cfg)
    assert cfg.host == "https://127.0.0.1:6443"
    doc = yaml.safe_load((lab / "var/lib/rancher/rke2/server/cred/controller.kubeconfig").read_text())
    user = doc["users"][0]["user"]
    assert user == {
        "client-certificate": "/var/lib/rancher/rke2/server/tls/client-controller.crt",
        "client-key": "/var/lib/rancher/rke2/server/tls/client-controller.key",
    }
    for path in user.values():
        assert (lab / path.lstrip("/")).is_file()
