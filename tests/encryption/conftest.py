"""A real etcd for the encryption tests: started on loopback with a temporary data dir, loaded by
the tests through etcd's own JSON gateway (kapsec itself only reads), and always stopped."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from helpers import DATA

SCENARIOS = DATA / "oracle-1.36" / "encryption-at-rest"
ETCD = shutil.which("etcd") or ("/usr/bin/etcd" if Path("/usr/bin/etcd").exists() else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EtcdServer:
    url: str
    proc: subprocess.Popen[bytes]
    context: ssl.SSLContext | None = None
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None

    def call(self, path: str, payload: dict[str, object]) -> dict[str, object]:
        req = urllib.request.Request(
            self.url + path, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10, context=self.context) as resp:
            out: dict[str, object] = json.loads(resp.read())
            return out

    def put(self, key: bytes, value: bytes) -> None:
        self.call(
            "/v3/kv/put", {"key": base64.b64encode(key).decode(), "value": base64.b64encode(value).decode()}
        )

    def wipe(self) -> None:
        zero = base64.b64encode(b"\x00").decode()
        self.call("/v3/kv/deleterange", {"key": zero, "range_end": zero})

    def revision(self) -> int:
        header = self.call("/v3/kv/range", {"key": base64.b64encode(b"\x00").decode(), "count_only": True})[
            "header"
        ]
        assert isinstance(header, dict)
        return int(header["revision"])

    def load_dump(self, path: Path) -> int:
        kvs = json.loads(path.read_text())["kvs"]
        for kv in kvs:
            self.put(base64.b64decode(kv["key"]), base64.b64decode(kv["value"]))
        return len(kvs)


def _start(
    tmp: Path, scheme: str, tls_args: list[str], context: ssl.SSLContext | None
) -> tuple[str, subprocess.Popen[bytes]]:
    assert ETCD is not None
    last_error = ""
    for _attempt in range(3):
        client, peer = _free_port(), _free_port()
        url = f"{scheme}://127.0.0.1:{client}"
        data_dir = tmp / f"data-{client}"
        log = (tmp / f"etcd-{client}.log").open("wb")
        proc = subprocess.Popen(
            [
                ETCD,
                "--name",
                "kapsec-test",
                "--data-dir",
                str(data_dir),
                "--listen-client-urls",
                url,
                "--advertise-client-urls",
                url,
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-cluster",
                f"kapsec-test=http://127.0.0.1:{peer}",
                "--log-level",
                "error",
                *tls_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url + "/version", timeout=1, context=context) as resp:
                    if resp.status == 200:
                        return url, proc
            except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError):
                time.sleep(0.1)
        proc.kill()
        proc.wait()
        last_error = (tmp / f"etcd-{client}.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"etcd did not start: {last_error}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    if ETCD is None:
        pytest.skip("etcd is not installed (Debian etcd-server)")
    tmp = tmp_path_factory.mktemp("etcd")
    url, proc = _start(tmp, "http", [], None)
    try:
        yield EtcdServer(url, proc)
    finally:
        _stop(proc)


@pytest.fixture
def etcd(etcd_server: EtcdServer) -> EtcdServer:
    """The session's etcd, emptied for this test."""
    etcd_server.wipe()
    return etcd_server


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    ip: str | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer if issuer else (name, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(ip)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_pair(
    directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[str, str]:
    crt = directory / f"{stem}.crt"
    pem = directory / f"{stem}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pem.chmod(0o600)
    return str(crt), str(pem)


@pytest.fixture
def rogue_client_pair(tmp_path: Path) -> tuple[str, str]:
    """Certificate and key files of a client certificate no CA of etcd_tls signed (it signs itself)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return _write_pair(tmp_path, "rogue", _cert("rogue", key, None), key)


@pytest.fixture(scope="session")
def etcd_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """An etcd that serves TLS only and requires a client certificate signed by its CA."""
    if ETCD is None:
        pytest.skip("etcd is not installed (Debian etcd-server)")
    tmp = tmp_path_factory.mktemp("etcd-tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("kapsec-test-etcd-ca", ca_key, None, ca=True)
    ca_path, _ = _write_pair(tmp, "ca", ca, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert, server_pem = _write_pair(
        tmp, "server", _cert("etcd-server", server_key, (ca.subject, ca_key), ip="127.0.0.1"), server_key
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert, client_pem = _write_pair(
        tmp, "client", _cert("kube-apiserver-etcd-client", client_key, (ca.subject, ca_key)), client_key
    )
    ctx = ssl.create_default_context(cafile=ca_path)
    ctx.load_cert_chain(client_cert, client_pem)
    tls_args = [
        "--cert-file",
        server_cert,
        "--key-file",
        server_pem,
        "--client-cert-auth",
        "--trusted-ca-file",
        ca_path,
    ]
    url, proc = _start(tmp, "https", tls_args, ctx)
    try:
        yield EtcdServer(url, proc, ctx, ca_path, client_cert, client_pem)
    finally:
        _stop(proc)
