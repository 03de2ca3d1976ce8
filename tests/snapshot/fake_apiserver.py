"""A small HTTP server on 127.0.0.1 that answers Kubernetes list requests from JSON files.

The files in tests/data/netpol/cluster-api/ are list responses in the API server's own format
(``PodList`` etc., items without kind/apiVersion, ``metadata.continue`` paging, managedFields),
named after the path: ``/apis/apps/v1/deployments`` -> ``apis_apps_v1_deployments.json``; a
``continue`` token answers with ``<name>.page2.json``. Requests need ``Authorization: Bearer
<token>``; paths listed in ``forbidden`` answer 403 with a Status like the API server's.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from helpers import DATA

API_DIR = DATA / "netpol" / "cluster-api"
TOKEN = "kapsec-test-token"
ORACLE_AUDIT_LOG = DATA / "oracle-1.36" / "audit-logs" / "requestresponse" / "audit.log"


def recorded_lists() -> dict[str, bytes]:
    """List responses recorded from a real kube-apiserver v1.36.2: the audit log at
    RequestResponse level holds the body of every list it answered. For each path, the last
    non-empty ``<Kind>List`` answer (namespaces, pods, service accounts and the RBAC kinds)."""
    found: dict[str, bytes] = {}
    for line in ORACLE_AUDIT_LOG.read_text().splitlines():
        e = json.loads(line)
        body = e.get("responseObject") or {}
        if (
            e.get("verb") == "list"
            and e.get("stage") == "ResponseComplete"
            and str(body.get("kind", "")).endswith("List")
            and body.get("items")
        ):
            found[e["requestURI"].split("?")[0]] = json.dumps(body).encode()
    return found


@dataclass
class FakeApiServer:
    url: str
    requests: list[str] = field(default_factory=list)
    forbidden: set[str] = field(default_factory=set)
    ca_pem: bytes | None = None  # with TLS: the CA that signed the serving certificate

    def kubeconfig(
        self, directory: Path, token: str = TOKEN, context: str = "test", ca_pem: bytes | None = None
    ) -> Path:
        path = directory / "kubeconfig"
        ca = ca_pem or self.ca_pem
        ca_line = f"    certificate-authority-data: {base64.b64encode(ca).decode()}\n" if ca else ""
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: test\n  cluster:\n    server: {self.url}\n{ca_line}"
            f"users:\n- name: tester\n  user:\n    token: {token}\n"
            f"contexts:\n- name: {context}\n  context:\n    cluster: test\n    user: tester\n"
            "- name: other\n  context:\n    cluster: test\n    user: tester\n"
            f"current-context: {context}\n"
        )
        return path


def _status(code: int, reason: str, message: str) -> bytes:
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
    ).encode()


def make_ca_and_server_cert(directory: Path) -> tuple[bytes, Path, Path]:
    """A throwaway CA and a serving certificate for 127.0.0.1 signed by it (PEM files)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kapsec-test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "apiserver.crt", directory / "apiserver.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file


@contextmanager
def fake_apiserver(
    tls_dir: Path | None = None, responses: dict[str, bytes] | None = None
) -> Iterator[FakeApiServer]:
    """Serve on 127.0.0.1 (HTTPS with a fresh CA when ``tls_dir`` is given, else HTTP), from
    the files in API_DIR or from ``responses`` (path -> body, e.g. :func:`recorded_lists`)."""
    state = FakeApiServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            state.requests.append(self.path)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, _status(401, "Unauthorized", "Unauthorized"))
                return
            if url.path in state.forbidden:
                resource = url.path.rsplit("/", 1)[-1]
                group = url.path.split("/")[2] if url.path.startswith("/apis/") else ""
                self._send(
                    403,
                    _status(
                        403,
                        "Forbidden",
                        f'{resource}{"." + group if group else ""} is forbidden: User "tester" cannot list '
                        f'resource "{resource}" in API group "{group}" at the cluster scope',
                    ),
                )
                return
            if responses is not None:
                if url.path in responses:
                    self._send(200, responses[url.path])
                else:
                    self._send(
                        404, _status(404, "NotFound", "the server could not find the requested resource")
                    )
                return
            name = url.path.strip("/").replace("/", "_")
            if "continue" in parse_qs(url.query):
                name += ".page2"
            file = API_DIR / f"{name}.json"
            if not file.exists():
                self._send(404, _status(404, "NotFound", "the server could not find the requested resource"))
                return
            self._send(200, file.read_bytes())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if tls_dir is not None:
        state.ca_pem, cert_file, key_file = make_ca_and_server_cert(tls_dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    state.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
