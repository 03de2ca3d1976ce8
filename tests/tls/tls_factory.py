"""The TLS tests' PKI factory (built with ``cryptography``), a kubeadm-style tree, and what the
probe tests share to run a real server on 127.0.0.1 and read ``kapsec tls probe -o json``.

The tree mirrors what ``kubeadm init`` writes (``cmd/kubeadm/app/phases/certs/certlist.go``): one
cluster CA, an etcd CA, a front-proxy CA, the leaf certificates the API server and etcd flags
name, sa.key/sa.pub and admin.conf with embedded client credentials.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from helpers import DATA, run_cli

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)

_POOL: list[rsa.RSAPrivateKey] = []
_NEXT = [0]


def _pool() -> list[rsa.RSAPrivateKey]:
    if not _POOL:
        data = (DATA / "tls" / "test-keys-rsa2048.pem").read_bytes()
        for block in data.split(b"-----END PRIVATE KEY-----")[:-1]:
            key = serialization.load_pem_private_key(
                block + b"-----END PRIVATE KEY-----\n", password=None, unsafe_skip_rsa_key_validation=True
            )
            assert isinstance(key, rsa.RSAPrivateKey)
            _POOL.append(key)
    return _POOL


def new_key(kind: str = "rsa", size: int = 2048) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """A key no other certificate of the same test uses.

    RSA 2048 keys come in turn from a pool of 40 pre-generated test keys (generating them takes
    ~0.1 s each); other sizes and EC keys are generated.
    """
    if kind == "ec":
        curve: ec.EllipticCurve = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 224: ec.SECP224R1()}[size]
        return ec.generate_private_key(curve)
    if size == 2048:
        pool = _pool()
        _NEXT[0] += 1
        return pool[_NEXT[0] % len(pool)]
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


@dataclass
class Issued:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )


def issue(
    cn: str,
    *,
    issuer: Issued | None = None,
    ca: bool = False,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    algorithm: hashes.HashAlgorithm | None = None,
    orgs: tuple[str, ...] = (),
    eku: tuple[x509.ObjectIdentifier, ...] = (),
) -> Issued:
    key = key or new_key()
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    name = x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(days=30))
        .not_valid_after(not_after or NOW + dt.timedelta(days=335))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    signer = issuer.key if issuer else key
    cert = builder.sign(signer, hashes.SHA256())
    if isinstance(algorithm, hashes.SHA1):
        assert isinstance(signer, rsa.RSAPrivateKey)
        cert = resign_sha1(cert, signer)
    return Issued(key, cert)


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


_SHA256_RSA = bytes.fromhex("06092a864886f70d01010b")
_SHA1_RSA = bytes.fromhex("06092a864886f70d010105")


def resign_sha1(cert: x509.Certificate, signer: rsa.RSAPrivateKey) -> x509.Certificate:
    """The same certificate signed with sha1WithRSAEncryption.

    ``cryptography`` refuses to sign certificates with SHA-1, which is what the test needs to
    produce: swap the algorithm OID in the TBS part (same length) and sign it by hand.
    """
    tbs = cert.tbs_certificate_bytes
    assert tbs.count(_SHA256_RSA) == 1
    tbs = tbs.replace(_SHA256_RSA, _SHA1_RSA)
    signature = signer.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    algorithm = _der(0x30, _SHA1_RSA + b"\x05\x00")
    der = _der(0x30, tbs + algorithm + _der(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)


def write(path: Path, data: bytes, mode: int) -> Path:
    # `root / "/etc/..."` is /etc/...: never let a test write into the machine's own tree
    assert not path.is_relative_to("/etc"), path
    assert not path.is_relative_to("/var"), path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


APISERVER_SANS_DNS = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
# The vendored kubeadm v1.29 manifest: --advertise-address=172.30.1.2 --service-cluster-ip-range=10.96.0.0/12
APISERVER_SANS_IPS = ("10.96.0.1", "172.30.1.2")


APISERVER_MANIFEST = "etc/kubernetes/manifests/kube-apiserver.yaml"


@dataclass
class Tree:
    root: Path
    ca: Issued
    etcd_ca: Issued
    front_proxy_ca: Issued

    def pki(self, rel: str) -> Path:
        return self.root / "etc/kubernetes/pki" / rel

    def edit(self, rel: str, old: str, new: str) -> None:
        """Replace ``old`` (which must occur) with ``new`` in the file ``rel`` under the root (mode 600)."""
        path = self.root / rel
        text = path.read_text()
        assert old in text, (rel, old)
        write(path, text.replace(old, new).encode(), 0o600)

    def replace_leaf(self, rel: str, issued: Issued) -> None:
        """Overwrite pki/<rel>.crt and .key (keeping modes 644/600)."""
        write(self.pki(rel + ".crt"), issued.cert_pem, 0o644)
        write(self.pki(rel + ".key"), issued.key_pem, 0o600)


def build_tree(root: Path) -> Tree:
    """A kubeadm control plane: the real v1.29 manifests with a freshly generated PKI."""
    src = DATA / "control-plane-manifests" / "kubeadm-v1.29-zeta-linux"
    write(
        root / APISERVER_MANIFEST,
        (src / "kube-apiserver.yaml").read_bytes(),
        0o600,
    )
    write(root / "etc/kubernetes/manifests/etcd.yaml", (src / "etcd.yaml").read_bytes(), 0o600)
    ca = issue("kubernetes", ca=True, not_after=NOW + dt.timedelta(days=3600))
    etcd_ca = issue("etcd-ca", ca=True, not_after=NOW + dt.timedelta(days=3600))
    fp_ca = issue("front-proxy-ca", ca=True, not_after=NOW + dt.timedelta(days=3600))
    tree = Tree(root, ca, etcd_ca, fp_ca)
    for rel, issued in (("ca", ca), ("etcd/ca", etcd_ca), ("front-proxy-ca", fp_ca)):
        tree.replace_leaf(rel, issued)
    tree.replace_leaf(
        "apiserver", issue("kube-apiserver", issuer=ca, dns=APISERVER_SANS_DNS, ips=APISERVER_SANS_IPS)
    )
    tree.replace_leaf(
        "apiserver-kubelet-client",
        issue("kube-apiserver-kubelet-client", issuer=ca, orgs=("kubeadm:cluster-admins",)),
    )
    tree.replace_leaf("front-proxy-client", issue("front-proxy-client", issuer=fp_ca))
    tree.replace_leaf("apiserver-etcd-client", issue("kube-apiserver-etcd-client", issuer=etcd_ca))
    for rel, cn in (
        ("etcd/server", "node1"),
        ("etcd/peer", "node1"),
        ("etcd/healthcheck-client", "kube-etcd-healthcheck-client"),
    ):
        tree.replace_leaf(
            rel, issue(cn, issuer=etcd_ca, dns=("localhost", "node1"), ips=("127.0.0.1", "172.30.1.2"))
        )
    sa = new_key()
    write(tree.pki("sa.key"), Issued(sa, ca.cert).key_pem, 0o600)
    write(
        tree.pki("sa.pub"),
        sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        0o644,
    )
    admin = issue("kubernetes-admin", issuer=ca, orgs=("kubeadm:cluster-admins",))
    write(root / "etc/kubernetes/admin.conf", kubeconfig(ca, admin, "kubernetes-admin").encode(), 0o600)
    return tree


def kubeconfig(ca: Issued, client: Issued, user: str) -> str:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"""apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: {b64(ca.cert_pem)}
    server: https://172.30.1.2:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: {user}
  name: {user}@kubernetes
current-context: {user}@kubernetes
users:
- name: {user}
  user:
    client-certificate-data: {b64(client.cert_pem)}
    client-key-data: {b64(client.key_pem)}
"""


# --- live servers for the probe tests ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], deadline: float = 5.0) -> bool:
    """True once 127.0.0.1:``port`` accepts connections; False if ``proc`` exits or time runs out."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


# What `tls probe` reports for a server with TLS 1.2 as its minimum.
TLS12_AND_13_ONLY = {"TLSv1.0": "refused", "TLSv1.1": "refused", "TLSv1.2": "accepted", "TLSv1.3": "accepted"}


def probe_json(*args: str) -> tuple[int, dict[str, Any]]:
    """``kapsec tls probe -o json ARGS``: exit code and document (nothing may go to stderr)."""
    result = run_cli("tls", "probe", "-o", "json", *args)
    assert result.stderr == ""
    return result.code, json.loads(result.stdout)
