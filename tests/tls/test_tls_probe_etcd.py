"""``kapsec tls probe`` against a real Go TLS server: Debian's etcd, started on 127.0.0.1 with the lab's etcd PKI.

The API server is a Go program too; etcd shows what Go's ``crypto/tls`` accepts by default and how
it asks for client certificates (``RequireAndVerifyClientCert`` with ``--client-cert-auth``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tls_factory import TLS12_AND_13_ONLY, free_port, probe_json, wait_listening

from helpers import run_cli

pytestmark = pytest.mark.etcd

ETCD = shutil.which("etcd")
if ETCD is None:  # pragma: no cover - CI installs etcd (make system-deps)
    pytest.skip("the etcd command is required", allow_module_level=True)


@pytest.fixture(scope="module")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("etcd-lab") / "node"
    result = run_cli("lab", "init", str(root))
    assert result.code == 0, result.stderr
    return root / "etc/kubernetes/pki/etcd"


@pytest.fixture
def etcd(tmp_path: Path, lab_pki: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> str:
        client, peer = free_port(), free_port()
        cmd = [
            str(ETCD), "--data-dir", str(tmp_path / f"data{len(procs)}"), "--name", "probe",
            "--listen-client-urls", f"https://127.0.0.1:{client}",
            "--advertise-client-urls", f"https://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"probe=http://127.0.0.1:{peer}",
            "--cert-file", str(lab_pki / "server.crt"), "--key-file", str(lab_pki / "server.key"),
            *extra,
        ]  # fmt: skip
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        procs.append(proc)
        if wait_listening(client, proc, deadline=15):
            return f"127.0.0.1:{client}"
        raise RuntimeError("etcd did not start")

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_go_defaults_and_required_client_certificate(etcd: Any, lab_pki: Path) -> None:
    addr = etcd("--client-cert-auth", "--trusted-ca-file", str(lab_pki / "ca.crt"))
    code, doc = probe_json(addr, "--ca", str(lab_pki / "ca.crt"), "--cert", str(lab_pki / "server.crt"))
    probe = doc["probe"]
    # etcd sets TLS 1.2 as its minimum
    assert probe["versions"] == TLS12_AND_13_ONLY
    # Go's default TLS 1.2 suites for an RSA certificate: six of them outside the CIS allowlist
    assert {s["iana"]: s["allowed"] for s in probe["cipherSuites"]["TLSv1.2"]} == {
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": True,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": True,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": True,
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": False,
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": False,
        "TLS_RSA_WITH_AES_128_GCM_SHA256": False,
        "TLS_RSA_WITH_AES_256_GCM_SHA384": False,
        "TLS_RSA_WITH_AES_128_CBC_SHA": False,
        "TLS_RSA_WITH_AES_256_CBC_SHA": False,
    }
    assert {s["iana"] for s in probe["cipherSuites"]["TLSv1.3"]} == {
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
    }
    assert probe["clientCertificate"] == "required"
    assert probe["clientCANames"] == ["etcd-ca"]
    chain = [(f["status"], f["message"]) for f in doc["findings"] if f["id"] == "TLS-PROBE-CHAIN"]
    assert chain == [
        ("pass", f"served certificate is {lab_pki}/server.crt"),
        ("pass", f"served chain verifies with {lab_pki}/ca.crt: controlplane -> etcd-ca"),
    ]
    assert code == 1  # the CBC and static-RSA suites


def test_cis_cipher_suites_and_no_client_authentication(etcd: Any) -> None:
    addr = etcd(
        "--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
    )
    code, doc = probe_json(addr)
    probe = doc["probe"]
    assert [s["iana"] for s in probe["cipherSuites"]["TLSv1.2"]] == [
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ]
    assert probe["clientCertificate"] == "not requested"
    failing = [(f["id"], f["message"]) for f in doc["findings"] if f["status"] == "fail"]
    assert failing == [
        ("TLS-PROBE-CLIENT-CERT", "no client certificate requested: x509 client authentication is off")
    ]
    assert code == 1
