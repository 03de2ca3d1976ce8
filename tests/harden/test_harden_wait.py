"""``--wait``: /readyz polled with the admin kubeconfig's client certificate against a local
HTTPS server (the lab's serving certificate, client certificates verified against the lab's
CA) that becomes ready after N requests, or never; the backup is restored on timeout."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import run_cli

KUBEADM = "etc/kubernetes/manifests/kube-apiserver.yaml"


class FakeApiServer:
    def __init__(self, pki: Path, ready_after: int | None) -> None:
        self.ready_after = ready_after
        self.requests: list[tuple[str, str | None]] = []  # (path, client CN)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                cert = self.connection.getpeercert()
                cn = None
                for rdn in (cert or {}).get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            cn = v
                outer.requests.append((self.path, cn))
                n = len(outer.requests)
                if outer.ready_after is not None and n > outer.ready_after:
                    code, body = 200, b"ok"
                else:
                    code, body = (
                        500,
                        b"[-]poststarthook/start-apiextensions-controllers failed: reason withheld\nreadyz check failed",
                    )
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki / "apiserver.crt", pki / "apiserver.key")
        ctx.load_verify_locations(pki / "ca.crt")
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server_factory() -> Iterator[Callable[[Path, int | None], FakeApiServer]]:
    started: list[FakeApiServer] = []

    def start(pki: Path, ready_after: int | None) -> FakeApiServer:
        s = FakeApiServer(pki, ready_after)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def test_harden_wait_until_ready(
    fresh: Callable[[str], Path], server_factory: Callable[[Path, int | None], FakeApiServer]
) -> None:
    root = fresh("kubeadm-lab-local")
    srv = server_factory(root / "etc/kubernetes/pki", 3)
    r = run_cli(
        "harden",
        "--root",
        str(root),
        "--apply",
        "--wait",
        "--server",
        f"https://127.0.0.1:{srv.port}",
        "--interval",
        "50ms",
        "--timeout",
        "10s",
        "-o",
        "json",
    )
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["wait"] == {"ready": True, "attempts": 4, "last": "200 ok"}
    assert srv.requests == [("/readyz", "kubernetes-admin")] * 4  # admin.conf's client certificate
    assert "kapsec: ready after 4 poll(s)" in r.stderr
    assert "--audit-policy-file" in (root / KUBEADM).read_text()  # kept


def test_harden_wait_timeout_restores_the_backup(
    fresh: Callable[[str], Path], server_factory: Callable[[Path, int | None], FakeApiServer]
) -> None:
    root = fresh("kubeadm-lab-local")
    before = (root / KUBEADM).read_bytes()
    srv = server_factory(root / "etc/kubernetes/pki", None)
    r = run_cli(
        "harden",
        "--root",
        str(root),
        "--apply",
        "--wait",
        "--server",
        f"https://127.0.0.1:{srv.port}",
        "--interval",
        "50ms",
        "--timeout",
        "0.4s",
    )
    assert r.code == 1
    assert (root / KUBEADM).read_bytes() == before
    assert r.stdout == f"rolled back /{KUBEADM}: the API server was not ready within 0.4s\n"
    assert (
        "last: 500 readyz check failed); restored /etc/kubernetes/manifests/kube-apiserver.yaml from"
        in r.stderr
    )
    assert (
        "kapsec: crictl is not available to read the container log; last /readyz answer: 500 readyz check failed; "
        "the change that was rolled back:\n"
        f"--- a/{KUBEADM}\n+++ b/{KUBEADM}\n" in r.stderr
    )
    assert "\n+    - --audit-policy-file=/etc/kubernetes/hardening/audit-policy.yaml\n" in r.stderr
    # polled until the deadline (at least once even on a loaded machine), never answered 200
    assert srv.requests
    assert set(srv.requests) == {("/readyz", "kubernetes-admin")}


def test_harden_wait_unreachable_server_rolls_back(fresh: Callable[[str], Path]) -> None:
    root = fresh("kubeadm-lab-local")
    before = (root / KUBEADM).read_bytes()
    r = run_cli(
        "harden",
        "--root",
        str(root),
        "--apply",
        "--wait",
        "--server",
        "https://127.0.0.1:1",
        "--interval",
        "50ms",
        "--timeout",
        "0.2s",
    )
    assert r.code == 1
    assert "ConnectionRefusedError" in r.stderr
    assert (root / KUBEADM).read_bytes() == before


def test_harden_wait_refuses_a_server_with_another_ca(
    fresh: Callable[[str], Path], server_factory: Callable[[Path, int | None], FakeApiServer]
) -> None:
    """The server must present a certificate of the kubeconfig's CA: the RKE2 lab's is another."""
    root = fresh("kubeadm-lab-local")
    other = fresh("rke2-lab")
    tls = other / "var/lib/rancher/rke2/server/tls"
    pki = root.parent / "other-pki"
    pki.mkdir()
    (pki / "apiserver.crt").write_bytes((tls / "serving-kube-apiserver.crt").read_bytes())
    (pki / "apiserver.key").write_bytes((tls / "serving-kube-apiserver.key").read_bytes())
    (pki / "ca.crt").write_bytes((root / "etc/kubernetes/pki/ca.crt").read_bytes())
    srv = server_factory(pki, 0)
    r = run_cli(
        "harden",
        "--root",
        str(root),
        "--apply",
        "--wait",
        "--server",
        f"https://127.0.0.1:{srv.port}",
        "--interval",
        "50ms",
        "--timeout",
        "0.2s",
    )
    assert r.code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in r.stderr
