"""The kubeadm lab: exact tree and modes, real PKI checked with openssl, manifests as kubeadm writes them."""

from __future__ import annotations

import base64
import datetime as dt
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from helpers import DATA
from kapsec.lab import LabOptions, Plant, build_tree, init_lab
from kapsec.lab.kubeadm import dump_yaml, manifests

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
ZETA = DATA / "control-plane-manifests" / "kubeadm-v1.29-zeta-linux"

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")

EXPECTED_FILES = {
    "etc/kubernetes/admin.conf": 0o600,
    "etc/kubernetes/controller-manager.conf": 0o600,
    "etc/kubernetes/kubelet.conf": 0o600,
    "etc/kubernetes/manifests/etcd.yaml": 0o600,
    "etc/kubernetes/manifests/kube-apiserver.yaml": 0o600,
    "etc/kubernetes/manifests/kube-controller-manager.yaml": 0o600,
    "etc/kubernetes/manifests/kube-scheduler.yaml": 0o600,
    "etc/kubernetes/pki/apiserver-etcd-client.crt": 0o644,
    "etc/kubernetes/pki/apiserver-etcd-client.key": 0o600,
    "etc/kubernetes/pki/apiserver-kubelet-client.crt": 0o644,
    "etc/kubernetes/pki/apiserver-kubelet-client.key": 0o600,
    "etc/kubernetes/pki/apiserver.crt": 0o644,
    "etc/kubernetes/pki/apiserver.key": 0o600,
    "etc/kubernetes/pki/ca.crt": 0o644,
    "etc/kubernetes/pki/ca.key": 0o600,
    "etc/kubernetes/pki/etcd/ca.crt": 0o644,
    "etc/kubernetes/pki/etcd/ca.key": 0o600,
    "etc/kubernetes/pki/etcd/healthcheck-client.crt": 0o644,
    "etc/kubernetes/pki/etcd/healthcheck-client.key": 0o600,
    "etc/kubernetes/pki/etcd/peer.crt": 0o644,
    "etc/kubernetes/pki/etcd/peer.key": 0o600,
    "etc/kubernetes/pki/etcd/server.crt": 0o644,
    "etc/kubernetes/pki/etcd/server.key": 0o600,
    "etc/kubernetes/pki/front-proxy-ca.crt": 0o644,
    "etc/kubernetes/pki/front-proxy-ca.key": 0o600,
    "etc/kubernetes/pki/front-proxy-client.crt": 0o644,
    "etc/kubernetes/pki/front-proxy-client.key": 0o600,
    "etc/kubernetes/pki/sa.key": 0o600,
    "etc/kubernetes/pki/sa.pub": 0o644,
    "etc/kubernetes/scheduler.conf": 0o600,
    "etc/kubernetes/super-admin.conf": 0o600,
    "var/lib/kubelet/config.yaml": 0o644,
    "var/lib/kubelet/kubeadm-flags.env": 0o644,
    "var/lib/kubelet/pki/kubelet-client-2026-03-01-12-00-00.pem": 0o600,
    "var/lib/kubelet/pki/kubelet.crt": 0o644,
    "var/lib/kubelet/pki/kubelet.key": 0o600,
}
EXPECTED_DIRS = {
    "etc": 0o755,
    "etc/kubernetes": 0o755,
    "etc/kubernetes/manifests": 0o755,
    "etc/kubernetes/pki": 0o755,
    "etc/kubernetes/pki/etcd": 0o755,
    "var": 0o755,
    "var/lib": 0o755,
    "var/lib/etcd": 0o700,
    "var/lib/kubelet": 0o755,
    "var/lib/kubelet/pki": 0o755,
}

# (leaf, issuing CA, subject as openssl prints it, extended key usage line)
LEAVES = [
    ("apiserver", "ca", "CN = kube-apiserver", "TLS Web Server Authentication"),
    (
        "apiserver-kubelet-client",
        "ca",
        "O = kubeadm:cluster-admins, CN = kube-apiserver-kubelet-client",
        "TLS Web Client Authentication",
    ),
    ("front-proxy-client", "front-proxy-ca", "CN = front-proxy-client", "TLS Web Client Authentication"),
    (
        "etcd/server",
        "etcd/ca",
        "CN = controlplane",
        "TLS Web Server Authentication, TLS Web Client Authentication",
    ),
    (
        "etcd/peer",
        "etcd/ca",
        "CN = controlplane",
        "TLS Web Server Authentication, TLS Web Client Authentication",
    ),
    (
        "etcd/healthcheck-client",
        "etcd/ca",
        "CN = kube-etcd-healthcheck-client",
        "TLS Web Client Authentication",
    ),
    ("apiserver-etcd-client", "etcd/ca", "CN = kube-apiserver-etcd-client", "TLS Web Client Authentication"),
]


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lab") / "node"
    init_lab(root, LabOptions(now=NOW))
    return root


def test_lab_tree_has_exactly_kubeadms_files_and_modes(lab: Path) -> None:
    files = {
        p.relative_to(lab).as_posix(): stat.S_IMODE(p.lstat().st_mode)
        for p in lab.rglob("*")
        if p.is_file() and not p.is_symlink()
    }
    dirs = {
        p.relative_to(lab).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in lab.rglob("*") if p.is_dir()
    }
    assert files == EXPECTED_FILES
    assert dirs == EXPECTED_DIRS
    link = lab / "var/lib/kubelet/pki/kubelet-client-current.pem"
    assert link.is_symlink()
    assert link.resolve() == (lab / "var/lib/kubelet/pki/kubelet-client-2026-03-01-12-00-00.pem").resolve()


def test_lab_modes_ignore_the_umask(tmp_path: Path) -> None:
    import os

    from kapsec.lab.tree import LabFile, LabTree, write_tree

    tree = LabTree(
        files=[
            LabFile("etc/kubernetes/pki/ca.crt", b"x", 0o644),
            LabFile("etc/kubernetes/pki/ca.key", b"y", 0o600),
        ],
        dirs=[("etc/kubernetes/manifests", 0o755), ("var/lib/etcd", 0o700)],
    )
    old = os.umask(0o077)
    try:
        write_tree(tree, tmp_path / "n")
    finally:
        os.umask(old)
    modes = {
        p.relative_to(tmp_path / "n").as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in (tmp_path / "n").rglob("*")
    }
    assert modes == {
        "etc": 0o755,
        "etc/kubernetes": 0o755,
        "etc/kubernetes/manifests": 0o755,
        "etc/kubernetes/pki": 0o755,
        "etc/kubernetes/pki/ca.crt": 0o644,
        "etc/kubernetes/pki/ca.key": 0o600,
        "var": 0o755,
        "var/lib": 0o755,
        "var/lib/etcd": 0o700,
    }


@needs_openssl
@pytest.mark.parametrize(("leaf", "ca", "subject", "eku"), LEAVES, ids=[x[0] for x in LEAVES])
def test_lab_leaf_chains_to_its_ca_with_openssl(
    lab: Path, leaf: str, ca: str, subject: str, eku: str
) -> None:
    pki = lab / "etc/kubernetes/pki"
    verify = openssl("verify", "-CAfile", str(pki / f"{ca}.crt"), str(pki / f"{leaf}.crt"))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout == f"{pki / leaf}.crt: OK\n"
    shown = openssl(
        "x509",
        "-noout",
        "-subject",
        "-ext",
        "extendedKeyUsage,keyUsage,basicConstraints",
        "-in",
        str(pki / f"{leaf}.crt"),
    )
    assert shown.stdout == (
        f"subject={subject}\n"
        "X509v3 Key Usage: critical\n    Digital Signature, Key Encipherment\n"
        f"X509v3 Extended Key Usage: \n    {eku}\n"
        "X509v3 Basic Constraints: critical\n    CA:FALSE\n"
    )
    # the private key is the certificate's
    cert_mod = openssl("x509", "-noout", "-modulus", "-in", str(pki / f"{leaf}.crt")).stdout
    key_mod = openssl("rsa", "-noout", "-modulus", "-in", str(pki / f"{leaf}.key")).stdout
    assert cert_mod == key_mod
    assert cert_mod.startswith("Modulus=")


@needs_openssl
def test_lab_leaf_does_not_chain_to_another_ca(lab: Path) -> None:
    pki = lab / "etc/kubernetes/pki"
    verify = openssl("verify", "-CAfile", str(pki / "etcd/ca.crt"), str(pki / "apiserver.crt"))
    assert verify.returncode == 2
    assert "unable to get local issuer certificate" in verify.stdout + verify.stderr


@needs_openssl
def test_lab_apiserver_sans_are_kubeadms(lab: Path) -> None:
    out = openssl(
        "x509", "-noout", "-ext", "subjectAltName", "-in", str(lab / "etc/kubernetes/pki/apiserver.crt")
    )
    assert out.stdout == (
        "X509v3 Subject Alternative Name: \n"
        "    DNS:controlplane, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, "
        "DNS:kubernetes.default.svc.cluster.local, IP Address:10.96.0.1, IP Address:192.168.56.10\n"
    )
    out = openssl(
        "x509", "-noout", "-ext", "subjectAltName", "-in", str(lab / "etc/kubernetes/pki/etcd/server.crt")
    )
    assert out.stdout == (
        "X509v3 Subject Alternative Name: \n"
        "    DNS:controlplane, DNS:localhost, IP Address:192.168.56.10, IP Address:127.0.0.1, "
        "IP Address:0:0:0:0:0:0:0:1\n"
    )


@needs_openssl
@pytest.mark.parametrize("ca", ["ca", "front-proxy-ca", "etcd/ca"])
def test_lab_cas_are_self_signed_10_year_cas(lab: Path, ca: str) -> None:
    path = lab / f"etc/kubernetes/pki/{ca}.crt"
    assert openssl("verify", "-CAfile", str(path), str(path)).returncode == 0
    out = openssl(
        "x509",
        "-noout",
        "-subject",
        "-issuer",
        "-startdate",
        "-enddate",
        "-ext",
        "basicConstraints,keyUsage",
        "-in",
        str(path),
    )
    cn = {"ca": "kubernetes", "front-proxy-ca": "front-proxy-ca", "etcd/ca": "etcd-ca"}[ca]
    assert out.stdout == (
        f"subject=CN = {cn}\nissuer=CN = {cn}\n"
        "notBefore=Mar  1 12:00:00 2026 GMT\nnotAfter=Feb 27 12:00:00 2036 GMT\n"
        "X509v3 Key Usage: critical\n    Digital Signature, Key Encipherment, Certificate Sign\n"
        "X509v3 Basic Constraints: critical\n    CA:TRUE\n"
    )


def test_lab_validity_and_key_sizes_are_kubeadms(lab: Path) -> None:
    for crt in (lab / "etc/kubernetes/pki").rglob("*.crt"):
        cert = x509.load_pem_x509_certificate(crt.read_bytes())
        assert cert.public_key().key_size == 2048, crt  # type: ignore[union-attr]
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        days = (cert.not_valid_after_utc - NOW).days
        assert days == (3650 if is_ca else 365), crt
        assert cert.not_valid_before_utc == NOW


def test_lab_sa_key_pair_matches(lab: Path) -> None:
    key = serialization.load_pem_private_key((lab / "etc/kubernetes/pki/sa.key").read_bytes(), None)
    pub = serialization.load_pem_public_key((lab / "etc/kubernetes/pki/sa.pub").read_bytes())
    assert (lab / "etc/kubernetes/pki/sa.key").read_text().startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    assert (lab / "etc/kubernetes/pki/sa.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----\n")
    assert key.public_key().public_numbers() == pub.public_numbers()  # type: ignore[union-attr]


KUBECONFIGS = [
    ("admin.conf", "kubernetes-admin", "O = kubeadm:cluster-admins, CN = kubernetes-admin"),
    ("super-admin.conf", "kubernetes-super-admin", "O = system:masters, CN = kubernetes-super-admin"),
    ("controller-manager.conf", "system:kube-controller-manager", "CN = system:kube-controller-manager"),
    ("scheduler.conf", "system:kube-scheduler", "CN = system:kube-scheduler"),
]


@needs_openssl
@pytest.mark.parametrize(("name", "user", "subject"), KUBECONFIGS, ids=[k[0] for k in KUBECONFIGS])
def test_lab_kubeconfig_embeds_a_client_cert_signed_by_the_ca(
    lab: Path, tmp_path: Path, name: str, user: str, subject: str
) -> None:
    doc = yaml.safe_load((lab / "etc/kubernetes" / name).read_text())
    assert doc["current-context"] == f"{user}@kubernetes"
    assert doc["clusters"][0]["cluster"]["server"] == "https://192.168.56.10:6443"
    ca = base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"])
    assert ca == (lab / "etc/kubernetes/pki/ca.crt").read_bytes()
    entry = doc["users"][0]
    assert entry["name"] == user
    (tmp_path / "c.crt").write_bytes(base64.b64decode(entry["user"]["client-certificate-data"]))
    (tmp_path / "c.key").write_bytes(base64.b64decode(entry["user"]["client-key-data"]))
    assert (
        openssl(
            "verify", "-CAfile", str(lab / "etc/kubernetes/pki/ca.crt"), str(tmp_path / "c.crt")
        ).returncode
        == 0
    )
    assert (
        openssl("x509", "-noout", "-subject", "-in", str(tmp_path / "c.crt")).stdout == f"subject={subject}\n"
    )
    assert (
        openssl("x509", "-noout", "-modulus", "-in", str(tmp_path / "c.crt")).stdout
        == openssl("rsa", "-noout", "-modulus", "-in", str(tmp_path / "c.key")).stdout
    )


def test_lab_kubeconfigs_load_with_the_kubernetes_client(lab: Path) -> None:
    from kubernetes import client, config

    for name, _user, _ in KUBECONFIGS:
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(lab / "etc/kubernetes" / name), client_configuration=cfg)
        assert cfg.host == "https://192.168.56.10:6443", name
        assert cfg.cert_file, name
        assert cfg.key_file, name
        assert cfg.ssl_ca_cert, name


@needs_openssl
def test_lab_kubelet_conf_points_at_the_rotated_client_cert(lab: Path) -> None:
    doc = yaml.safe_load((lab / "etc/kubernetes/kubelet.conf").read_text())
    user = doc["users"][0]
    assert user == {
        "name": "system:node:controlplane",
        "user": {
            "client-certificate": "/var/lib/kubelet/pki/kubelet-client-current.pem",
            "client-key": "/var/lib/kubelet/pki/kubelet-client-current.pem",
        },
    }
    pem = lab / user["user"]["client-certificate"].lstrip("/")
    out = openssl("x509", "-noout", "-subject", "-in", str(pem))
    assert out.stdout == "subject=O = system:nodes, CN = system:node:controlplane\n"
    assert openssl("verify", "-CAfile", str(lab / "etc/kubernetes/pki/ca.crt"), str(pem)).returncode == 0
    assert openssl("rsa", "-check", "-noout", "-in", str(pem)).stdout == "RSA key ok\n"


def test_lab_kubelet_config_is_kubeadms(lab: Path) -> None:
    cfg = yaml.safe_load((lab / "var/lib/kubelet/config.yaml").read_text())
    assert cfg["kind"] == "KubeletConfiguration"
    assert cfg["apiVersion"] == "kubelet.config.k8s.io/v1beta1"
    assert cfg["authentication"]["anonymous"] == {"enabled": False}
    assert cfg["authentication"]["x509"] == {"clientCAFile": "/etc/kubernetes/pki/ca.crt"}
    assert cfg["authorization"]["mode"] == "Webhook"
    assert cfg["clusterDNS"] == ["10.96.0.10"]
    assert cfg["staticPodPath"] == "/etc/kubernetes/manifests"
    assert cfg["rotateCertificates"] is True


def apiserver_flags(lab: Path) -> list[str]:
    pod = yaml.safe_load((lab / "etc/kubernetes/manifests/kube-apiserver.yaml").read_text())
    command: list[str] = pod["spec"]["containers"][0]["command"]
    return command


def test_lab_apiserver_manifest_is_kubeadms_default(lab: Path) -> None:
    pod = yaml.safe_load((lab / "etc/kubernetes/manifests/kube-apiserver.yaml").read_text())
    c = pod["spec"]["containers"][0]
    assert c["command"][0] == "kube-apiserver"
    flags = c["command"][1:]
    assert flags == sorted(flags)
    assert "--authorization-mode=Node,RBAC" in flags
    assert "--enable-admission-plugins=NodeRestriction" in flags
    # default, not hardened: none of the hardening flags are set
    for absent in (
        "--anonymous-auth",
        "--profiling",
        "--audit-log-path",
        "--encryption-provider-config",
        "--tls-min-version",
    ):
        assert not any(f.startswith(absent) for f in flags), absent
    assert c["image"] == "registry.k8s.io/kube-apiserver:v1.34.0"
    assert c["livenessProbe"]["httpGet"] == {
        "host": "192.168.56.10",
        "path": "/livez",
        "port": 6443,
        "scheme": "HTTPS",
    }
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["startupProbe"]["httpGet"]["path"] == "/livez"
    assert c["startupProbe"]["failureThreshold"] == 24
    assert pod["spec"]["priorityClassName"] == "system-node-critical"
    assert pod["spec"]["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert "creationTimestamp" not in pod["metadata"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v["hostPath"]["path"] for v in pod["spec"]["volumes"]}
    assert mounts == volumes
    assert mounts["k8s-certs"] == "/etc/kubernetes/pki"
    # every file a flag names exists in the lab
    for flag in flags:
        value = flag.split("=", 1)[1]
        if value.startswith("/etc/kubernetes/"):
            assert (lab / value.lstrip("/")).is_file(), flag


def test_lab_renders_kubeadm_v1_29_byte_for_byte() -> None:
    """Rendering for the real v1.29 node reproduces kubeadm's files (only the CPU requests, lowered
    on that host as its README notes, differ)."""
    opts = LabOptions(
        k8s_version="1.29.0", advertise_address="172.30.1.2", pod_subnet="192.168.0.0/16", now=NOW
    )
    cpu = {
        "kube-apiserver": ("250m", "50m"),
        "kube-controller-manager": ("200m", "25m"),
        "kube-scheduler": ("100m", "25m"),
        "etcd": ("100m", "25m"),
    }
    for name, pod in manifests(opts).items():
        ours = dump_yaml(pod).decode().replace(f"cpu: {cpu[name][0]}\n", f"cpu: {cpu[name][1]}\n")
        assert ours == (ZETA / f"{name}.yaml").read_text(), name


def test_lab_admin_conf_layout_matches_kubeadm_v1_29(lab: Path) -> None:
    import re

    def redact(text: str) -> str:
        return re.sub(r"-data: \S+", "-data: REDACTED", text).replace("192.168.56.10", "172.30.1.2")

    assert redact((lab / "etc/kubernetes/admin.conf").read_text()) == (ZETA / "admin.conf").read_text()
    assert (
        redact((lab / "etc/kubernetes/super-admin.conf").read_text())
        == (ZETA / "super-admin.conf").read_text()
    )


@pytest.mark.parametrize(
    ("version", "timestamp", "etcd_flag", "etcd_live"),
    [
        (
            "1.30",
            True,
            "--experimental-initial-corrupt-check=true",
            "/health?exclude=NOSPACE&serializable=true",
        ),
        ("1.31", True, "--experimental-initial-corrupt-check=true", "/livez"),
        ("1.32.4", True, "--experimental-watch-progress-notify-interval=5s", "/livez"),
        ("1.33", False, "--experimental-initial-corrupt-check=true", "/livez"),
        ("v1.34.1", False, "--feature-gates=InitialCorruptCheck=true", "/livez"),
        ("1.36", False, "--watch-progress-notify-interval=5s", "/livez"),
    ],
)
def test_lab_version_differences(version: str, timestamp: bool, etcd_flag: str, etcd_live: str) -> None:
    pods = manifests(LabOptions(k8s_version=version))
    assert ("creationTimestamp" in pods["kube-apiserver"]["metadata"]) is timestamp
    etcd = pods["etcd"]["spec"]["containers"][0]
    assert etcd_flag in etcd["command"]
    assert etcd["livenessProbe"]["httpGet"]["path"] == etcd_live
    tag = version.lstrip("v") if version.count(".") == 2 else f"{version}.0"
    assert (
        pods["kube-apiserver"]["spec"]["containers"][0]["image"] == f"registry.k8s.io/kube-apiserver:v{tag}"
    )


# --- planted problems ---


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("planted") / "node"
    tree = init_lab(root, LabOptions(now=dt.datetime.now(dt.UTC), plants=frozenset(Plant)))
    assert sorted(tree.notes) == [
        "planted: apiserver-etcd-client.crt is signed by the cluster CA instead of the etcd CA",
        "planted: apiserver-kubelet-client.crt expired one day ago",
        "planted: the API server's private key is world-readable (0644)",
        "planted: the API server's serving certificate expires in 7 days",
    ]
    return root


def test_lab_plant_expiring_cert() -> None:
    tree = build_tree(LabOptions(now=NOW, plants=frozenset({Plant.EXPIRING_CERT})))
    cert = x509.load_pem_x509_certificate(tree.file("etc/kubernetes/pki/apiserver.crt").content)
    assert cert.not_valid_after_utc == NOW + dt.timedelta(days=7)
    assert tree.notes == ["planted: the API server's serving certificate expires in 7 days"]


@needs_openssl
def test_lab_plant_expiring_cert_is_seen_by_openssl(planted: Path) -> None:
    crt = str(planted / "etc/kubernetes/pki/apiserver.crt")
    assert openssl("x509", "-noout", "-checkend", str(8 * 86400), "-in", crt).returncode == 1
    assert openssl("x509", "-noout", "-checkend", str(6 * 86400), "-in", crt).returncode == 0


@needs_openssl
def test_lab_plant_expired_cert_fails_openssl_verify(planted: Path) -> None:
    pki = planted / "etc/kubernetes/pki"
    out = openssl("verify", "-CAfile", str(pki / "ca.crt"), str(pki / "apiserver-kubelet-client.crt"))
    assert out.returncode == 2
    assert "certificate has expired" in out.stdout + out.stderr


@needs_openssl
def test_lab_plant_wrong_ca(planted: Path) -> None:
    pki = planted / "etc/kubernetes/pki"
    client = str(pki / "apiserver-etcd-client.crt")
    assert openssl("verify", "-CAfile", str(pki / "etcd/ca.crt"), client).returncode == 2
    assert openssl("verify", "-CAfile", str(pki / "ca.crt"), client).returncode == 0


def test_lab_plant_world_readable_key(planted: Path) -> None:
    assert stat.S_IMODE((planted / "etc/kubernetes/pki/apiserver.key").stat().st_mode) == 0o644
    assert stat.S_IMODE((planted / "etc/kubernetes/pki/ca.key").stat().st_mode) == 0o600
