"""``kapsec tls inspect`` on a kubeadm-style tree (real v1.29 manifests, generated PKI) and on files."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from tls_factory import (
    APISERVER_MANIFEST,
    APISERVER_SANS_DNS,
    APISERVER_SANS_IPS,
    NOW,
    Tree,
    issue,
    kubeconfig,
    new_key,
    write,
)

from helpers import run_cli
from kapsec.model.findings import Status
from kapsec.tls.inspect import certificate_status

NOW_ARG = "2026-06-01T12:00:00Z"


def inspect_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("tls", "inspect", "--now", NOW_ARG, "-o", "json", *args)
    assert result.stderr == ""
    return result.code, json.loads(result.stdout)


def not_passing(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["id"], f["status"], f["message"]) for f in doc["findings"] if f["status"] != "pass"]


def by_id(doc: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["id"] == check]


def test_clean_kubeadm_tree_passes_every_check(tree: Tree) -> None:
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 0
    assert not_passing(doc) == []
    # 12 certificates: 3 CA files, admin.conf's CA data, 7 leaves and admin.conf's client certificate.
    files = [c["file"] for c in doc["certificates"]]
    assert len(files) == 12
    assert "/etc/kubernetes/admin.conf#users[kubernetes-admin].client-certificate-data" in files
    # sorted by expiry: leaves (335 days) before the CAs (3600 days)
    assert [c["daysLeft"] for c in doc["certificates"]] == [335] * 8 + [3600] * 4
    chains = {f["message"] for f in by_id(doc, "TLS-CERT-CHAIN")}
    assert (
        "/etc/kubernetes/pki/apiserver.crt: verified by "
        "/etc/kubernetes/admin.conf#clusters[kubernetes].certificate-authority-data "
        "(/etc/kubernetes/admin.conf certificate-authority-data): kube-apiserver -> kubernetes"
    ) in chains
    assert (
        "/etc/kubernetes/pki/apiserver-etcd-client.crt: verified by /etc/kubernetes/pki/etcd/ca.crt "
        "(--trusted-ca-file): kube-apiserver-etcd-client -> etcd-ca"
    ) in chains
    assert (
        "/etc/kubernetes/admin.conf#users[kubernetes-admin].client-certificate-data: verified by "
        "/etc/kubernetes/pki/ca.crt (--client-ca-file): kubernetes-admin -> kubernetes"
    ) in chains
    san = by_id(doc, "TLS-CERT-SAN")
    assert [f["message"] for f in san] == [
        "/etc/kubernetes/pki/apiserver.crt: has kubernetes, kubernetes.default, kubernetes.default.svc, "
        "kubernetes.default.svc.cluster.local, 10.96.0.1, 172.30.1.2",
        # admin.conf's server: https://172.30.1.2:6443
        "/etc/kubernetes/pki/apiserver.crt: covers the kubeconfigs' server addresses (172.30.1.2)",
    ]
    assert san[0]["evidence"] == {
        "file": "/etc/kubernetes/manifests/kube-apiserver.yaml",
        "line": 41,
        "flag": "--tls-cert-file",
        "value": "/etc/kubernetes/pki/apiserver.crt",
        "detail": "API server serving certificate",
    }
    assert by_id(doc, "TLS-SA-KEY-PAIR")[0]["status"] == "pass"


def test_expired_certificate_fails(tree: Tree) -> None:
    tree.replace_leaf(
        "apiserver-kubelet-client",
        issue(
            "kube-apiserver-kubelet-client",
            issuer=tree.ca,
            not_before=NOW - dt.timedelta(days=400),
            not_after=NOW - dt.timedelta(days=1),
        ),
    )
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-CERT-VALIDITY",
            "fail",
            "/etc/kubernetes/pki/apiserver-kubelet-client.crt: expired on 2026-05-31T12:00:00Z (1 day ago)",
        ),
    ]
    assert doc["certificates"][0]["file"] == "/etc/kubernetes/pki/apiserver-kubelet-client.crt"
    assert doc["certificates"][0]["daysLeft"] == -1
    assert doc["certificates"][0]["status"] == "fail"


def test_not_yet_valid_certificate_fails(tree: Tree) -> None:
    tree.replace_leaf(
        "front-proxy-client",
        issue("front-proxy-client", issuer=tree.front_proxy_ca, not_before=NOW + dt.timedelta(days=2)),
    )
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    failing = [f for f in not_passing(doc) if f[0] == "TLS-CERT-VALIDITY"]
    assert failing == [
        (
            "TLS-CERT-VALIDITY",
            "fail",
            "/etc/kubernetes/pki/front-proxy-client.crt: not yet valid (valid from 2026-06-03T12:00:00Z)",
        )
    ]


def test_expiring_soon_warns_without_failing(tree: Tree) -> None:
    tree.replace_leaf(
        "apiserver",
        issue(
            "kube-apiserver",
            issuer=tree.ca,
            dns=APISERVER_SANS_DNS,
            ips=APISERVER_SANS_IPS,
            not_after=NOW + dt.timedelta(days=10, hours=1),
        ),
    )
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 0
    assert not_passing(doc) == [
        (
            "TLS-CERT-VALIDITY",
            "warn",
            "/etc/kubernetes/pki/apiserver.crt: expires in 10 days (2026-06-11T13:00:00Z)",
        )
    ]
    code, doc = inspect_json("--root", str(tree.root), "--warn-days", "5")
    assert not_passing(doc) == []


def test_wrong_sans_fail_and_cluster_domain_is_honoured(tree: Tree) -> None:
    tree.replace_leaf(
        "apiserver",
        issue(
            "kube-apiserver",
            issuer=tree.ca,
            dns=("kubernetes", "kubernetes.default", "node1"),
            ips=("172.30.1.2",),
        ),
    )
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-CERT-SAN",
            "fail",
            "/etc/kubernetes/pki/apiserver.crt: missing SANs: kubernetes.default.svc, "
            "kubernetes.default.svc.cluster.local, 10.96.0.1",
        )
    ]
    code, doc = inspect_json("--root", str(tree.root), "--cluster-domain", "corp.example")
    assert not_passing(doc)[0][2].endswith(
        "missing SANs: kubernetes.default.svc, kubernetes.default.svc.corp.example, 10.96.0.1"
    )


def test_cluster_domain_read_from_kubelet_config(tree: Tree) -> None:
    write(
        tree.root / "var/lib/kubelet/config.yaml",
        b"kind: KubeletConfiguration\nclusterDomain: k8s.internal\n",
        0o644,
    )
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-CERT-SAN",
            "fail",
            "/etc/kubernetes/pki/apiserver.crt: missing SANs: kubernetes.default.svc.k8s.internal",
        )
    ]


def test_sha1_signature_fails(tree: Tree) -> None:
    tree.replace_leaf(
        "etcd/healthcheck-client",
        issue("kube-etcd-healthcheck-client", issuer=tree.etcd_ca, algorithm=hashes.SHA1()),
    )
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-CERT-SIGNATURE",
            "fail",
            "/etc/kubernetes/pki/etcd/healthcheck-client.crt: signed with SHA-1 (sha1WithRSAEncryption); Go clients reject it",
        )
    ]
    assert by_id(doc, "TLS-CERT-SIGNATURE")[0]["severity"] == "high"


def test_sha1_self_signed_root_is_a_low_severity_failure(tmp_path: Path) -> None:
    root = issue("old-root", ca=True, algorithm=hashes.SHA1())
    write(tmp_path / "ca.crt", root.cert_pem, 0o644)
    code, doc = inspect_json(str(tmp_path / "ca.crt"))
    sig = by_id(doc, "TLS-CERT-SIGNATURE")[0]
    assert (sig["status"], sig["severity"]) == ("fail", "low")
    assert code == 1
    result = run_cli(
        "tls", "inspect", "--now", NOW_ARG, "-o", "json", "--fail-on", "medium", str(tmp_path / "ca.crt")
    )
    assert result.code == 0


def test_1024_bit_rsa_fails_for_cert_and_key(tree: Tree) -> None:
    tree.replace_leaf(
        "front-proxy-client",
        issue("front-proxy-client", issuer=tree.front_proxy_ca, key=new_key("rsa", 1024)),
    )
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-CERT-KEY-SIZE",
            "fail",
            "/etc/kubernetes/pki/front-proxy-client.crt: RSA key of 1024 bits (minimum 2048)",
        ),
        (
            "TLS-KEY-SIZE",
            "fail",
            "/etc/kubernetes/pki/front-proxy-client.key: RSA key of 1024 bits (minimum 2048)",
        ),
    ]


def test_ec_p256_passes_and_p224_fails(tmp_path: Path) -> None:
    good = issue("good", key=new_key("ec", 256))
    bad = issue("bad", key=new_key("ec", 224))
    write(tmp_path / "good.crt", good.cert_pem, 0o644)
    write(tmp_path / "bad.crt", bad.cert_pem, 0o644)
    code, doc = inspect_json(str(tmp_path / "good.crt"), str(tmp_path / "bad.crt"))
    sizes = {f["message"]: f["status"] for f in by_id(doc, "TLS-CERT-KEY-SIZE")}
    assert sizes == {
        f"{tmp_path}/good.crt: EC P-256": "pass",
        f"{tmp_path}/bad.crt: EC key on P-224 (224 bits; minimum P-256)": "fail",
    }
    assert code == 1


def test_mismatched_key_and_certificate_fails(tree: Tree) -> None:
    other = issue("x")
    write(tree.pki("apiserver.key"), other.key_pem, 0o600)
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-KEY-PAIR",
            "fail",
            "/etc/kubernetes/pki/apiserver.crt: key /etc/kubernetes/pki/apiserver.key does not match the certificate",
        )
    ]
    pair = by_id(doc, "TLS-KEY-PAIR")
    apiserver = next(f for f in pair if f["status"] == "fail")
    assert apiserver["evidence"]["flag"] == "--tls-cert-file"


def test_certificate_from_the_wrong_ca_fails_chain(tree: Tree) -> None:
    tree.replace_leaf("apiserver-etcd-client", issue("kube-apiserver-etcd-client", issuer=tree.ca))
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-CERT-CHAIN",
            "fail",
            "/etc/kubernetes/pki/apiserver-etcd-client.crt: not verified by /etc/kubernetes/pki/etcd/ca.crt "
            "(--trusted-ca-file): issued by 'kubernetes', not by the CA ('etcd-ca')",
        )
    ]


def test_same_name_different_ca_is_caught_by_signature(tree: Tree) -> None:
    impostor = issue("etcd-ca", ca=True)  # same subject as the real etcd CA, other key
    tree.replace_leaf("apiserver-etcd-client", issue("kube-apiserver-etcd-client", issuer=impostor))
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    assert not_passing(doc)[0][2].endswith(
        "issuer 'etcd-ca' matches the CA by name but the signature does not verify"
    )


def test_file_modes_follow_cis(tree: Tree) -> None:
    os.chmod(tree.pki("apiserver.key"), 0o644)
    os.chmod(tree.pki("ca.crt"), 0o666)
    os.chmod(tree.root / "etc/kubernetes/admin.conf", 0o640)
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    modes = [
        (f["message"], f["severity"], f["benchmarks"])
        for f in by_id(doc, "TLS-FILE-MODE")
        if f["status"] == "fail"
    ]
    assert modes == [
        (
            "/etc/kubernetes/pki/ca.crt: certificate has mode 666, more permissive than 644",
            "medium",
            {"cis-1.12": "1.1.20"},
        ),
        (
            "/etc/kubernetes/pki/apiserver.key: private key has mode 644, more permissive than 600",
            "high",
            {"cis-1.12": "1.1.21"},
        ),
        (
            "/etc/kubernetes/admin.conf: kubeconfig has mode 640, more permissive than 600",
            "medium",
            {"cis-1.12": "1.1.13"},
        ),
    ]


def test_service_account_key_mismatch(tree: Tree) -> None:
    write(tree.pki("sa.key"), issue("x").key_pem, 0o600)
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-SA-KEY-PAIR",
            "fail",
            "/etc/kubernetes/pki/sa.key: its public key is not in /etc/kubernetes/pki/sa.pub; "
            "tokens it signs will not verify",
        )
    ]


def test_missing_referenced_file_warns(tree: Tree) -> None:
    tree.pki("front-proxy-client.crt").unlink()
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 0  # could not check is a warning, not a failure
    assert not_passing(doc) == [
        (
            "TLS-FILE-READ",
            "warn",
            "/etc/kubernetes/pki/front-proxy-client.crt: file not found "
            "(the component whose --proxy-client-cert-file names it exits at start without it)",
        )
    ]


def test_corrupt_certificate_warns_with_line(tree: Tree) -> None:
    write(
        tree.pki("front-proxy-client.crt"),
        b"-----BEGIN CERTIFICATE-----\nnotbase64\n-----END CERTIFICATE-----\n",
        0o644,
    )
    code, doc = inspect_json("--root", str(tree.root))
    ((check, status, message),) = not_passing(doc)
    assert code == 0
    assert (check, status) == ("TLS-FILE-READ", "warn")
    assert message.startswith("/etc/kubernetes/pki/front-proxy-client.crt: line 1: malformed certificate")


def test_kubeconfig_client_cert_from_another_ca_fails(tree: Tree) -> None:
    rogue_ca = issue("rogue", ca=True)
    conf = kubeconfig(tree.ca, issue("kubernetes-admin", issuer=rogue_ca), "kubernetes-admin")
    write(tree.root / "etc/kubernetes/admin.conf", conf.encode(), 0o600)
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-CERT-CHAIN",
            "fail",
            "/etc/kubernetes/admin.conf#users[kubernetes-admin].client-certificate-data: not verified by "
            "/etc/kubernetes/pki/ca.crt (--client-ca-file): issued by 'rogue', not by the CA ('kubernetes')",
        )
    ]


def test_files_mode_pairs_by_name_and_verifies_against_ca(tmp_path: Path) -> None:
    ca = issue("my-ca", ca=True)
    leaf = issue("web", issuer=ca)
    write(tmp_path / "certs/web.crt", leaf.cert_pem, 0o644)
    write(tmp_path / "certs/web.key", leaf.key_pem, 0o600)
    write(tmp_path / "ca.crt", ca.cert_pem, 0o644)
    code, doc = inspect_json("--ca", str(tmp_path / "ca.crt"), str(tmp_path / "certs"))
    assert code == 0
    msgs = sorted(f["message"] for f in doc["findings"] if f["id"] in ("TLS-KEY-PAIR", "TLS-CERT-CHAIN"))
    assert msgs == [
        f"{tmp_path}/certs/web.crt: matches {tmp_path}/certs/web.key",
        f"{tmp_path}/certs/web.crt: verified by {tmp_path}/ca.crt (--ca): web -> my-ca",
    ]


def test_files_mode_rejects_non_pem_file_with_warning(tmp_path: Path) -> None:
    write(tmp_path / "notes.txt", b"hello\n", 0o644)
    code, doc = inspect_json(str(tmp_path / "notes.txt"))
    assert code == 0
    assert not_passing(doc) == [
        ("TLS-FILE-READ", "warn", f"{tmp_path}/notes.txt: neither a PEM certificate nor a PEM private key")
    ]


def test_usage_and_input_errors_exit_2(tmp_path: Path) -> None:
    result = run_cli("tls", "inspect")
    assert result.code == 2
    assert result.stderr == "kapsec: error: give either --root DIR or FILES (not both, not neither)\n"
    result = run_cli("tls", "inspect", "--root", str(tmp_path / "nope"))
    assert result.code == 2
    assert result.stderr == f"kapsec: error: {tmp_path}/nope: not a directory\n"
    result = run_cli("tls", "inspect", str(tmp_path / "nope.crt"))
    assert result.code == 2
    assert result.stderr == f"kapsec: error: {tmp_path}/nope.crt: no such file or directory\n"
    result = run_cli("tls", "inspect", "--now", "yesterday", str(tmp_path))
    assert result.code == 2
    assert "'yesterday' is not an ISO 8601 time" in result.stderr


def test_malformed_manifest_is_an_input_error_with_line(tree: Tree) -> None:
    write(
        tree.root / "etc/kubernetes/manifests/kube-apiserver.yaml",
        b"spec:\n  containers:\n  - command: [a\n",
        0o600,
    )
    result = run_cli("tls", "inspect", "--root", str(tree.root))
    assert result.code == 2
    assert result.stderr.startswith(
        "kapsec: error: /etc/kubernetes/manifests/kube-apiserver.yaml:4: malformed YAML"
    )
    assert "Traceback" not in result.stderr


def test_text_output_is_a_table_sorted_by_expiry(tree: Tree) -> None:
    tree.replace_leaf(
        "apiserver-kubelet-client",
        issue("kube-apiserver-kubelet-client", issuer=tree.ca, not_after=NOW + dt.timedelta(days=3, hours=1)),
    )
    result = run_cli("tls", "inspect", "--now", NOW_ARG, "--root", str(tree.root))
    assert result.code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["EXPIRES", "DAYS", "STATUS", "FILE", "SUBJECT", "ISSUER", "KEY", "SIGNATURE"]
    assert lines[1].split()[:4] == [
        "2026-06-04",
        "3",
        "warn",
        "/etc/kubernetes/pki/apiserver-kubelet-client.crt",
    ]
    assert (
        "WARN TLS-CERT-VALIDITY (high) /etc/kubernetes/pki/apiserver-kubelet-client.crt: expires in 3 days "
        "(2026-06-04T13:00:00Z)"
    ) in lines
    assert result.stderr == "100 checks: 0 failed, 1 warnings, 99 passed\n"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("ok", (Status.PASS, "valid until 2027-05-02T12:00:00Z (335 days left)")),
        ("soon", (Status.WARN, "expires in 5 days (2026-06-06T12:00:00Z)")),
        ("expired", (Status.FAIL, "expired on 2026-05-22T12:00:00Z (10 days ago)")),
        ("future", (Status.FAIL, "not yet valid (valid from 2026-06-02T12:00:00Z)")),
    ],
)
def test_certificate_status_validity(tmp_path: Path, kind: str, expected: tuple[Status, str]) -> None:
    window = {
        "ok": (NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=335)),
        "soon": (NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=5)),
        "expired": (NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=10)),
        "future": (NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=30)),
    }[kind]
    cert = issue("x", not_before=window[0], not_after=window[1])
    write(tmp_path / "x.crt", cert.cert_pem, 0o644)
    assert certificate_status(str(tmp_path / "x.crt"), now=NOW) == expected


def test_certificate_status_key_ca_and_unreadable(tmp_path: Path) -> None:
    ca = issue("ca", ca=True)
    leaf = issue("leaf", issuer=ca)
    write(tmp_path / "ca.crt", ca.cert_pem, 0o644)
    write(tmp_path / "leaf.crt", leaf.cert_pem, 0o644)
    write(tmp_path / "leaf.key", leaf.key_pem, 0o600)
    write(tmp_path / "other.key", issue("o").key_pem, 0o600)
    crt, key, cafile = str(tmp_path / "leaf.crt"), str(tmp_path / "leaf.key"), str(tmp_path / "ca.crt")
    assert certificate_status(crt, key_path=key, ca_path=cafile, now=NOW)[0] is Status.PASS
    assert certificate_status(crt, key_path=str(tmp_path / "other.key"), now=NOW) == (
        Status.FAIL,
        f"key {tmp_path}/other.key does not match the certificate",
    )
    assert certificate_status(cafile, ca_path=crt, now=NOW) == (
        Status.FAIL,
        f"not signed by CA {crt}: issued by 'ca', not by the CA ('leaf')",
    )
    assert certificate_status(str(tmp_path / "missing.crt"), now=NOW) == (
        Status.WARN,
        "certificate unreadable: file not found",
    )
    assert certificate_status(crt, key_path=str(tmp_path / "missing.key"), now=NOW) == (
        Status.WARN,
        "key unreadable: file not found",
    )
    # warn_days is honoured and naive "now" is never needed
    assert certificate_status(crt, now=NOW, warn_days=400)[0] is Status.WARN


def test_expired_ca_breaks_the_chain_of_valid_leaves(tmp_path: Path) -> None:
    ca = issue(
        "old-ca", ca=True, not_before=NOW - dt.timedelta(days=3650), not_after=NOW - dt.timedelta(days=2)
    )
    leaf = issue("web", issuer=ca)
    write(tmp_path / "ca.crt", ca.cert_pem, 0o644)
    write(tmp_path / "web.crt", leaf.cert_pem, 0o644)
    code, doc = inspect_json("--ca", str(tmp_path / "ca.crt"), str(tmp_path / "web.crt"))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-CERT-CHAIN",
            "fail",
            f"{tmp_path}/web.crt: not verified by {tmp_path}/ca.crt (--ca): "
            "'old-ca' on the chain is expired on 2026-05-30T12:00:00Z (2 days ago)",
        )
    ]


def test_kubelet_serving_certificate_against_kubelet_ca(tree: Tree) -> None:
    kubelet_ca = issue("node1-ca@1700000000", ca=True)
    serving = issue("node1@1700000000", issuer=kubelet_ca, dns=("node1",))
    write(tree.root / "var/lib/kubelet/pki/kubelet.crt", serving.cert_pem + kubelet_ca.cert_pem, 0o644)
    write(tree.root / "var/lib/kubelet/pki/kubelet.key", serving.key_pem, 0o600)
    # kubeadm's default: no --kubelet-certificate-authority, so only the certificate itself is checked
    code, doc = inspect_json("--root", str(tree.root))
    assert (code, not_passing(doc)) == (0, [])
    kubelet_rows = [
        c["index"] for c in doc["certificates"] if c["file"] == "/var/lib/kubelet/pki/kubelet.crt"
    ]
    assert kubelet_rows == [0, 1]
    tree.edit(
        APISERVER_MANIFEST,
        "    - --kubelet-client-key=",
        "    - --kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt\n    - --kubelet-client-key=",
    )
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-CERT-CHAIN",
            "fail",
            "/var/lib/kubelet/pki/kubelet.crt: not verified by /etc/kubernetes/pki/ca.crt "
            "(--kubelet-certificate-authority): issued by 'node1-ca@1700000000', not by the CA ('kubernetes')",
        )
    ]


def test_kubeconfig_with_invalid_base64_warns(tree: Tree) -> None:
    conf = (tree.root / "etc/kubernetes/admin.conf").read_text()
    start = conf.index("client-certificate-data: ") + len("client-certificate-data: ")
    write(
        tree.root / "etc/kubernetes/admin.conf",
        (conf[:start] + "not*base64" + conf[conf.index("\n", start) :]).encode(),
        0o600,
    )
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 0
    assert not_passing(doc) == [
        (
            "TLS-FILE-READ",
            "warn",
            "/etc/kubernetes/admin.conf#users[kubernetes-admin].client-certificate-data: "
            "not valid base64 (Only base64 data is allowed)",
        )
    ]


def test_encrypted_key_and_der_certificate(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    leaf = issue("der-leaf")
    write(tmp_path / "leaf.crt", leaf.cert.public_bytes(serialization.Encoding.DER), 0o644)
    encrypted = leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    write(tmp_path / "leaf.key", encrypted, 0o600)
    code, doc = inspect_json(str(tmp_path))
    assert code == 0
    assert not_passing(doc) == [
        (
            "TLS-KEY-PAIR",
            "warn",
            f"{tmp_path}/leaf.crt: key {tmp_path}/leaf.key unreadable: "
            "the private key is encrypted (the API server cannot use it either)",
        ),
        (
            "TLS-FILE-READ",
            "warn",
            f"{tmp_path}/leaf.key: the private key is encrypted (the API server cannot use it either)",
        ),
    ]
    assert [c["subject"] for c in doc["certificates"]] == ["CN=der-leaf"]


def test_every_service_account_key_file_is_searched(tree: Tree) -> None:
    from cryptography.hazmat.primitives import serialization

    other = (
        new_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    write(tree.pki("sa-next.pub"), other, 0o644)
    tree.edit(
        APISERVER_MANIFEST,
        "    - --service-account-signing-key-file=",
        "    - --service-account-key-file=/etc/kubernetes/pki/sa-next.pub\n    - --service-account-signing-key-file=",
    )
    code, doc = inspect_json("--root", str(tree.root))
    sa = [(f["status"], f["message"]) for f in doc["findings"] if f["id"] == "TLS-SA-KEY-PAIR"]
    # the last occurrence (sa-next.pub) does not hold the key; the earlier sa.pub does
    assert sa == [("pass", "/etc/kubernetes/pki/sa.key: its public key is in /etc/kubernetes/pki/sa.pub")]
    assert code == 0
    write(tree.pki("sa.pub"), other, 0o644)
    code, doc = inspect_json("--root", str(tree.root))
    sa = [(f["status"], f["message"]) for f in doc["findings"] if f["id"] == "TLS-SA-KEY-PAIR"]
    assert sa == [
        (
            "fail",
            "/etc/kubernetes/pki/sa.key: its public key is not in /etc/kubernetes/pki/sa.pub, "
            "/etc/kubernetes/pki/sa-next.pub; tokens it signs will not verify",
        )
    ]


def test_certificate_and_key_in_one_file_is_held_to_key_permissions(tmp_path: Path) -> None:
    both = issue("system:node:node1")
    write(tmp_path / "kubelet-client-current.pem", both.cert_pem + both.key_pem, 0o644)
    code, doc = inspect_json(str(tmp_path / "kubelet-client-current.pem"))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-FILE-MODE",
            "fail",
            f"{tmp_path}/kubelet-client-current.pem: private key has mode 644, more permissive than 600",
        )
    ]
    pair = [f["message"] for f in doc["findings"] if f["id"] == "TLS-KEY-PAIR"]
    assert pair == [f"{tmp_path}/kubelet-client-current.pem: matches {tmp_path}/kubelet-client-current.pem"]


def test_extended_key_usage_must_fit_the_role(tree: Tree) -> None:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    tree.replace_leaf(
        "apiserver",
        issue(
            "kube-apiserver",
            issuer=tree.ca,
            dns=APISERVER_SANS_DNS,
            ips=APISERVER_SANS_IPS,
            eku=(ExtendedKeyUsageOID.CLIENT_AUTH,),
        ),
    )
    tree.replace_leaf(
        "apiserver-etcd-client",
        issue("kube-apiserver-etcd-client", issuer=tree.etcd_ca, eku=(ExtendedKeyUsageOID.SERVER_AUTH,)),
    )
    # an explicit anyExtendedKeyUsage is fine for any role
    tree.replace_leaf(
        "front-proxy-client",
        issue(
            "front-proxy-client",
            issuer=tree.front_proxy_ca,
            eku=(ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,),
        ),
    )
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-CERT-USAGE",
            "fail",
            "/etc/kubernetes/pki/apiserver.crt: not valid for serverAuth (extended key usage: clientAuth); "
            "Go peers reject it for this role",
        ),
        (
            "TLS-CERT-USAGE",
            "fail",
            "/etc/kubernetes/pki/apiserver-etcd-client.crt: not valid for clientAuth (extended key usage: serverAuth); "
            "Go peers reject it for this role",
        ),
    ]


def test_nothing_to_inspect_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli("tls", "inspect", "--root", str(tmp_path / "empty"))
    assert result.code == 2
    assert result.stderr == (
        f"kapsec: error: {tmp_path}/empty: nothing to inspect: no API server manifest, kubeconfig, or PKI "
        "directory (/etc/kubernetes/pki, /var/lib/rancher/rke2/server/tls) under this root\n"
    )
    result = run_cli("tls", "inspect", str(tmp_path / "empty"))
    assert (result.code, result.stderr) == (2, f"kapsec: error: {tmp_path}/empty: no files to inspect\n")


def test_pki_directory_without_manifest_is_inspected_with_a_warning(tree: Tree) -> None:
    (tree.root / "etc/kubernetes/manifests/kube-apiserver.yaml").unlink()
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 0
    ((check, status, message),) = not_passing(doc)
    assert (check, status) == ("TLS-FILE-READ", "warn")
    assert message.startswith("no kube-apiserver manifest under this root (looked for ")
    assert message.endswith("; only the PKI directory and kubeconfigs are inspected")
    assert len(doc["certificates"]) == 12


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        # the API server falls back to a specific --bind-address
        ("    - --bind-address=172.30.1.2\n", []),
        (
            "    - --bind-address=0.0.0.0\n",
            [
                (
                    "TLS-CERT-SAN",
                    "warn",
                    "/etc/kubernetes/pki/apiserver.crt: neither --advertise-address nor a specific --bind-address "
                    "is set: the API server advertises the address of its default interface, which cannot be "
                    "checked offline",
                )
            ],
        ),
    ],
    ids=["specific-bind-address", "unspecified-bind-address"],
)
def test_advertise_address_falls_back_to_bind_address(
    tree: Tree, flags: str, expected: list[tuple[str, str, str]]
) -> None:
    tree.edit(APISERVER_MANIFEST, "    - --advertise-address=172.30.1.2\n", flags)
    code, doc = inspect_json("--root", str(tree.root))
    assert not_passing(doc) == expected
    assert code == 0


def test_serving_certificate_without_key_stops_the_api_server(tree: Tree) -> None:
    """oracle-1.36/config-errors, case tls-cert-without-key: exit 1, "missing filename for serving cert"."""
    tree.edit(APISERVER_MANIFEST, "    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key\n", "")
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    half = [f for f in doc["findings"] if f["id"] == "TLS-KEY-PAIR" and f["status"] == "fail"]
    assert [(f["severity"], f["message"], f["evidence"]["flag"], f["evidence"]["line"]) for f in half] == [
        (
            "critical",
            "--tls-cert-file is set without --tls-private-key-file: the API server exits at start with "
            '"missing filename for serving cert"',
            "--tls-cert-file",
            41,
        )
    ]


def test_sni_certificates_cover_their_names(tree: Tree) -> None:
    public = issue("api.example.com", issuer=tree.ca, dns=("api.example.com",))
    write(tree.pki("public.crt"), public.cert_pem, 0o644)
    write(tree.pki("public.key"), public.key_pem, 0o600)
    tree.edit(
        APISERVER_MANIFEST,
        "    - --tls-cert-file=",
        "    - --tls-sni-cert-key=/etc/kubernetes/pki/public.crt,/etc/kubernetes/pki/public.key:api.example.com,k8s.example.com\n"
        "    - --tls-sni-cert-key=only-one-file.crt\n"
        "    - --tls-cert-file=",
    )
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-KEY-PAIR",
            "fail",
            "--tls-sni-cert-key 'only-one-file.crt': expected certfile,keyfile[:names]; the API server rejects the flag",
        ),
        ("TLS-CERT-SAN", "fail", "/etc/kubernetes/pki/public.crt: missing SANs: k8s.example.com"),
    ]
    pair = [f["message"] for f in doc["findings"] if f["id"] == "TLS-KEY-PAIR" and f["status"] == "pass"]
    assert "/etc/kubernetes/pki/public.crt: matches /etc/kubernetes/pki/public.key" in pair


def test_serving_certificate_must_cover_the_kubeconfig_server(tree: Tree) -> None:
    tree.edit("etc/kubernetes/admin.conf", "https://172.30.1.2:6443", "https://k8s-api.corp.example:6443")
    code, doc = inspect_json("--root", str(tree.root))
    assert code == 1
    assert not_passing(doc) == [
        (
            "TLS-CERT-SAN",
            "fail",
            "/etc/kubernetes/pki/apiserver.crt: does not cover k8s-api.corp.example (server of "
            "/etc/kubernetes/admin.conf): clients using that kubeconfig fail with an x509 name error",
        )
    ]


@pytest.mark.parametrize("with_root", [False, True], ids=["files", "root"])
def test_missing_ca_file_is_an_error(tmp_path: Path, with_root: bool) -> None:
    ca = tmp_path / "no-such-ca.crt"
    cert = tmp_path / "web.crt"
    cert.write_text("")
    args = ["--root", str(tmp_path)] if with_root else [str(cert)]
    result = run_cli("tls", "inspect", "--ca", str(ca), *args)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == f"kapsec: error: {ca}: cannot read the --ca file: No such file or directory\n"
