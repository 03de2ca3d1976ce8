"""``kapsec tls probe`` against real ``openssl s_server`` processes on 127.0.0.1 (always stopped)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tls_factory import TLS12_AND_13_ONLY, free_port, issue, probe_json, wait_listening, write

from helpers import DATA, run_cli
from kapsec.model.findings import Severity, Status
from kapsec.tls import ciphers
from kapsec.tls.probe import ANONYMOUS_PATHS, Prober, _judge_anonymous, parse_target

pytestmark = pytest.mark.openssl

OPENSSL = shutil.which("openssl")
if OPENSSL is None:  # pragma: no cover - CI installs openssl (make system-deps)
    pytest.skip("the openssl command is required", allow_module_level=True)

REAL_NOW = dt.datetime.now(dt.UTC)


class Pki:
    def __init__(self, base: Path) -> None:
        self.base = base
        now = REAL_NOW
        self.root = issue(
            "probe-root",
            ca=True,
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=3650),
        )
        self.inter = issue(
            "probe-intermediate",
            ca=True,
            issuer=self.root,
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=1800),
        )
        self.leaf = issue(
            "kube-apiserver",
            issuer=self.inter,
            dns=("localhost",),
            ips=("127.0.0.1",),
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=365),
        )
        self.other = issue("someone-else", issuer=self.root)
        self.files = {
            "root": write(base / "root.crt", self.root.cert_pem, 0o644),
            "inter": write(base / "inter.crt", self.inter.cert_pem, 0o644),
            "leaf": write(base / "leaf.crt", self.leaf.cert_pem, 0o644),
            "leaf.key": write(base / "leaf.key", self.leaf.key_pem, 0o600),
            "other": write(base / "other.crt", self.other.cert_pem, 0o644),
            "other.key": write(base / "other.key", self.other.key_pem, 0o600),
        }

    def path(self, name: str) -> str:
        return str(self.files[name])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("probe-pki"))


Server = Callable[..., str]


@pytest.fixture
def s_server(pki: Pki, tmp_path: Path) -> Iterator[Server]:
    """Start ``openssl s_server`` with extra args on a free loopback port; returns ``127.0.0.1:PORT``."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str, cwd: Path | None = None) -> str:
        # -www: answer GET / with a status page and never read stdin (plain s_server quits at stdin EOF)
        mode = [] if {"-WWW", "-HTTP"} & set(args) else ["-www"]
        for _ in range(5):
            port = free_port()
            cmd = [
                str(OPENSSL), "s_server", "-accept", f"127.0.0.1:{port}",
                "-cert", pki.path("leaf"), "-key", pki.path("leaf.key"), "-cert_chain", pki.path("inter"),
                *mode, *args,
            ]  # fmt: skip
            proc = subprocess.Popen(
                cmd,
                cwd=cwd or tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs.append(proc)
            if wait_listening(port, proc):
                return f"127.0.0.1:{port}"
            proc.kill()
            proc.wait()
        raise RuntimeError("openssl s_server did not start")

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def findings(doc: dict[str, Any], check: str) -> list[tuple[str, str, str]]:
    return [(f["status"], f["severity"], f["message"]) for f in doc["findings"] if f["id"] == check]


def test_tls10_only_server_with_weak_ciphers_fails(s_server: Server) -> None:
    addr = s_server("-tls1", "-cipher", "AES128-SHA:ECDHE-RSA-AES256-SHA:@SECLEVEL=0")
    code, doc = probe_json(addr)
    assert code == 1
    assert doc["probe"]["versions"] == {
        "TLSv1.0": "accepted",
        "TLSv1.1": "refused",
        "TLSv1.2": "refused",
        "TLSv1.3": "refused",
    }
    assert findings(doc, "TLS-PROBE-VERSION") == [
        ("fail", "high", "TLSv1.0 accepted"),
        ("pass", "high", "TLSv1.1 refused"),
        ("pass", "info", "TLSv1.2 refused"),
        ("pass", "info", "TLSv1.3 refused"),
        ("fail", "high", "neither TLS 1.2 nor TLS 1.3 is accepted"),
    ]
    suites = {s["iana"] for s in doc["probe"]["cipherSuites"]["TLSv1.0"]}
    assert suites == {"TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"}
    cipher_findings = sorted(f for f in findings(doc, "TLS-PROBE-CIPHER") if f[0] == "fail")
    assert cipher_findings == [
        (
            "fail",
            "medium",
            "TLSv1.0 TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA accepted: CBC mode (padding-oracle and Lucky13 attacks); "
            "not in the CIS 1.12 allowlist (1.2.29)",
        ),
        (
            "fail",
            "medium",
            "TLSv1.0 TLS_RSA_WITH_AES_128_CBC_SHA accepted: no forward secrecy (static key exchange); "
            "CBC mode (padding-oracle and Lucky13 attacks); not in the CIS 1.12 allowlist (1.2.29)",
        ),
    ]


def test_tls10_is_found_even_when_the_server_also_speaks_tls12(s_server: Server) -> None:
    addr = s_server("-cipher", "ALL:@SECLEVEL=0", "-verify", "1")
    code, doc = probe_json(addr)
    assert code == 1
    assert doc["probe"]["versions"] == {
        "TLSv1.0": "accepted",
        "TLSv1.1": "accepted",
        "TLSv1.2": "accepted",
        "TLSv1.3": "accepted",
    }
    anon = [s["iana"] for s in doc["probe"]["cipherSuites"]["TLSv1.2"] if "_anon_" in s["iana"]]
    assert anon  # ALL includes anonymous DH suites: each one is a critical failure
    assert {f[1] for f in findings(doc, "TLS-PROBE-CIPHER") if "_anon_" in f[2]} == {"critical"}


def test_strong_tls12_plus_server_passes(s_server: Server, pki: Pki) -> None:
    addr = s_server(
        "-no_tls1", "-no_tls1_1",
        "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384",
        "-ciphersuites", "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
        "-verify", "1", "-CAfile", pki.path("root"),
    )  # fmt: skip
    code, doc = probe_json(addr, "--ca", pki.path("root"), "--cert", pki.path("leaf"))
    failing = [(f["id"], f["status"], f["message"]) for f in doc["findings"] if f["status"] != "pass"]
    # Debian's OpenSSL 3 cannot offer 3DES or RC4: said as a warning, never counted as a pass
    assert failing == [
        (
            "TLS-PROBE-CIPHER",
            "warn",
            "the local OpenSSL cannot offer 3DES, RC4 suites: whether the server accepts them is not tested",
        )
    ]
    assert code == 0
    probe = doc["probe"]
    assert probe["versions"] == TLS12_AND_13_ONLY
    # why each refused version was refused: the server's protocol_version alert
    assert probe["versionNotes"] == {
        "TLSv1.0": "TLSV1_ALERT_PROTOCOL_VERSION",
        "TLSv1.1": "TLSV1_ALERT_PROTOCOL_VERSION",
    }
    assert probe["cipherSuites"] == {
        "TLSv1.2": [
            {
                "iana": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "openssl": "ECDHE-RSA-AES256-GCM-SHA384",
                "allowed": True,
            },
            {
                "iana": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "openssl": "ECDHE-RSA-AES128-GCM-SHA256",
                "allowed": True,
            },
        ],
        "TLSv1.3": [
            {"iana": "TLS_AES_128_GCM_SHA256", "openssl": "TLS_AES_128_GCM_SHA256", "allowed": True},
            {"iana": "TLS_AES_256_GCM_SHA384", "openssl": "TLS_AES_256_GCM_SHA384", "allowed": True},
        ],
    }
    assert [c["subject"] for c in probe["chain"]] == ["CN=kube-apiserver", "CN=probe-intermediate"]
    assert probe["clientCertificate"] == "requested"
    assert probe["clientCANames"] == ["probe-root"]
    assert findings(doc, "TLS-PROBE-CHAIN") == [
        ("pass", "high", f"served certificate is {pki.path('leaf')}"),
        (
            "pass",
            "high",
            f"served chain verifies with {pki.path('root')}: kube-apiserver -> probe-intermediate -> probe-root",
        ),
    ]
    assert findings(doc, "TLS-PROBE-NAME") == [("pass", "medium", "served certificate covers 127.0.0.1")]


@pytest.mark.parametrize("version_flag", ["-tls1_2", "-tls1_3"])
def test_required_client_certificate_is_reported(s_server: Server, pki: Pki, version_flag: str) -> None:
    addr = s_server(
        version_flag, "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", "-Verify", "1", "-CAfile", pki.path("root")
    )
    code, doc = probe_json(addr)
    assert doc["probe"]["clientCertificate"] == "required"
    assert findings(doc, "TLS-PROBE-CLIENT-CERT") == [
        ("pass", "medium", "client certificate required (acceptable CAs: probe-root)")
    ]
    accepted = [v for v, state in doc["probe"]["versions"].items() if state == "accepted"]
    assert accepted == (["TLSv1.2"] if version_flag == "-tls1_2" else ["TLSv1.3"])
    # the suites are still enumerated although every handshake without a certificate fails
    assert doc["probe"]["cipherSuites"][accepted[0]]
    assert code == 0


def test_no_client_certificate_request_fails(s_server: Server) -> None:
    addr = s_server("-tls1_2")
    code, doc = probe_json(addr)
    assert code == 1
    assert findings(doc, "TLS-PROBE-CLIENT-CERT") == [
        ("fail", "medium", "no client certificate requested: x509 client authentication is off")
    ]


def test_served_chain_compared_with_files_on_disk(s_server: Server, pki: Pki, tmp_path: Path) -> None:
    addr = s_server("-tls1_3")
    stranger = issue("stranger-ca", ca=True)
    write(tmp_path / "stranger.crt", stranger.cert_pem, 0o644)
    code, doc = probe_json(addr, "--cert", pki.path("other"), "--ca", str(tmp_path / "stranger.crt"))
    assert code == 1
    leaf_serial = f"{pki.leaf.cert.serial_number:x}"
    other_serial = f"{pki.other.cert.serial_number:x}"
    assert findings(doc, "TLS-PROBE-CHAIN") == [
        (
            "fail",
            "high",
            f"served certificate (serial {leaf_serial}, 'kube-apiserver') is not {pki.path('other')} "
            f"(serial {other_serial}, 'someone-else'): the server has not been restarted since the file changed, "
            "or serves another file",
        ),
        (
            "fail",
            "high",
            f"served chain does not verify with {tmp_path}/stranger.crt: issued by 'probe-root', not by the CA ('stranger-ca')",
        ),
    ]


def test_served_certificate_name_check(s_server: Server, pki: Pki) -> None:
    addr = s_server("-tls1_3")
    port = addr.rsplit(":", 1)[1]
    code, doc = probe_json(f"localhost:{port}")
    assert findings(doc, "TLS-PROBE-NAME") == [("pass", "medium", "served certificate covers localhost")]
    # the last -cert/-key win: serve a certificate without SANs
    addr = s_server("-tls1_3", "-cert", pki.path("other"), "-key", pki.path("other.key"))
    code, doc = probe_json(addr)
    assert findings(doc, "TLS-PROBE-NAME") == [
        ("fail", "medium", "served certificate does not cover 127.0.0.1 (SANs: none)")
    ]
    assert code == 1


def test_anonymous_status_codes(s_server: Server, tmp_path: Path) -> None:
    site = tmp_path / "site"
    for name, status in (
        ("livez", "200 OK"),
        ("readyz", "200 OK"),
        ("version", "401 Unauthorized"),
        ("api/v1/namespaces", "403 Forbidden"),
    ):
        write(site / name, f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\n\r\n{{}}".encode(), 0o644)
    addr = s_server("-HTTP", "-verify", "1", cwd=site)
    code, doc = probe_json(addr, "--anonymous")
    # s_server answers 200 for a directory ("api"): exactly what an API server allowing anonymous discovery does
    assert doc["probe"]["anonymous"] == {
        "/livez": 200,
        "/readyz": 200,
        "/version": 401,
        "/api": 200,
        "/api/v1/namespaces": 403,
    }
    assert findings(doc, "TLS-PROBE-ANON") == [
        ("pass", "info", "GET /livez without credentials: 200 (health endpoint open to probes, as intended)"),
        (
            "pass",
            "info",
            "GET /readyz without credentials: 200 (health endpoint open to probes, as intended)",
        ),
        (
            "pass",
            "high",
            "GET /version without credentials: 401 (not authenticated: anonymous access is off)",
        ),
        ("fail", "medium", "GET /api without credentials: 200 (allowed for system:anonymous)"),
        (
            "fail",
            "low",
            "GET /api/v1/namespaces without credentials: 403 "
            "(authenticated as system:anonymous, then denied by authorization)",
        ),
    ]
    assert code == 1


def test_anonymous_judgement_on_the_recorded_api_server_matrix() -> None:
    """Codes recorded from a real kube-apiserver v1.36 (oracle-1.36/anonymous-health)."""
    cases = json.loads((DATA / "oracle-1.36/anonymous-health/results.json").read_text())["cases"]
    verdicts = {}
    for case in cases:
        if not case.get("started"):
            continue
        verdicts[case["case"]] = [
            _judge_anonymous(path, case["status"][path]["anonymous"])[0].value for path in ANONYMOUS_PATHS
        ]
    # default: anonymous reaches RBAC (403) and /version is open
    assert verdicts["a-default"] == ["pass", "pass", "fail", "fail", "fail"]
    # --anonymous-auth=false: everything 401, the probes too (they then fail: reported, not a finding)
    assert verdicts["b-anonymous-auth-false"] == ["pass"] * 5
    # the target state (AuthenticationConfiguration with anonymous only on health paths)
    target_cases = [name for name in verdicts if name.startswith("c-")]
    assert target_cases
    for name in target_cases:
        assert verdicts[name] == ["pass"] * 5
    assert _judge_anonymous("/api/v1/namespaces", 200) == (
        Status.FAIL,
        Severity.CRITICAL,
        "allowed for system:anonymous",
    )


def test_connection_refused_is_exit_2() -> None:
    port = free_port()
    result = run_cli("tls", "probe", f"127.0.0.1:{port}")
    assert result.code == 2
    assert result.stderr == f"kapsec: error: cannot connect to 127.0.0.1:{port}: Connection refused\n"


def test_not_tls_is_exit_2(tmp_path: Path) -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        port = srv.getsockname()[1]
        srv.settimeout(0.01)
        result = run_cli("tls", "probe", "--timeout", "0.3", f"127.0.0.1:{port}")
    assert result.code == 2
    assert result.stderr.startswith(f"kapsec: error: 127.0.0.1:{port}: no TLS handshake succeeded (")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("localhost", "'localhost' is not HOST:PORT (use [ADDR]:PORT for IPv6)"),
        ("host:0", "port 0 is out of range"),
        ("::1:443", "'::1:443' is not HOST:PORT (use [ADDR]:PORT for IPv6)"),
    ],
)
def test_bad_target_is_a_usage_error(text: str, message: str) -> None:
    result = run_cli("tls", "probe", text)
    assert result.code == 2
    assert result.stderr == f"kapsec: error: {message}\n"


def test_parse_target_ipv6() -> None:
    t = parse_target("[::1]:6443")
    assert (t.host, t.port, t.display, t.server_name) == ("::1", 6443, "[::1]:6443", None)
    assert parse_target("api.example:443").server_name == "api.example"


def test_cis_allowlist_classification() -> None:
    assert len(ciphers.CIS_1_12_ALLOWLIST) == 11
    assert ciphers.by_openssl_name("ECDHE-ECDSA-CHACHA20-POLY1305") == ciphers.Suite(
        0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"
    )
    assert ciphers.weaknesses("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256") == ()
    assert ciphers.weaknesses("TLS_RSA_WITH_AES_128_GCM_SHA256") == (
        "no forward secrecy (static key exchange)",
        "not in the CIS 1.12 allowlist (1.2.29)",
    )
    assert ciphers.weaknesses("TLS_AES_128_CCM_SHA256") == (
        "CCM suite that Go (and so the API server) does not implement",
        "not in the CIS 1.12 allowlist (1.2.29)",
    )
    assert ciphers.weaknesses("TLS_RSA_WITH_3DES_EDE_CBC_SHA")[0] == "64-bit block cipher (Sweet32)"


def test_text_output(s_server: Server) -> None:
    addr = s_server("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", "-Verify", "1")
    result = run_cli("tls", "probe", addr)
    lines = result.stdout.splitlines()
    assert lines[:8] == [
        addr,
        "  TLSv1.0  refused",
        "  TLSv1.1  refused",
        "  TLSv1.2  accepted",
        "    ok   TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256  ECDHE-RSA-AES128-GCM-SHA256",
        "  TLSv1.3  refused",
        "  chain[0] CN=kube-apiserver  issuer CN=probe-intermediate, until "
        + (REAL_NOW + dt.timedelta(days=365)).strftime("%Y-%m-%d"),
        "  chain[1] CN=probe-intermediate  issuer CN=probe-root, until "
        + (REAL_NOW + dt.timedelta(days=1800)).strftime("%Y-%m-%d"),
    ]
    assert lines[8] == "  client certificate: required"
    assert result.code == 0
    assert result.stderr.endswith("passed\n")


def test_no_ciphers_reports_only_the_negotiated_suites(s_server: Server) -> None:
    addr = s_server(
        "-no_tls1",
        "-no_tls1_1",
        "-cipher",
        "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384",
        "-Verify",
        "1",
    )
    code, doc = probe_json(addr, "--no-ciphers")
    probe = doc["probe"]
    assert probe["ciphersEnumerated"] is False
    assert {v: len(s) for v, s in probe["cipherSuites"].items()} == {"TLSv1.2": 1, "TLSv1.3": 1}
    assert [f for f in doc["findings"] if f["status"] == "warn"] == []
    # one per version: the failed TLS 1.2 handshake already shows the certificate is required
    assert probe["handshakes"] == 4
    assert code == 0


class _NoCallbackContext(ssl.SSLContext):
    """An SSLContext on which the message-callback hook does nothing (as on an interpreter without it)."""

    _msg_callback = None


def test_without_the_message_callback_completed_handshakes_still_answer(
    s_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    addr = s_server("-no_tls1", "-no_tls1_1", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-SHA")
    monkeypatch.setattr(Prober, "context_class", _NoCallbackContext)
    code, doc = probe_json(addr)
    probe = doc["probe"]
    assert probe["versions"] == TLS12_AND_13_ONLY
    assert sorted(s["iana"] for s in probe["cipherSuites"]["TLSv1.2"]) == [
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    ]
    assert [c["subject"] for c in probe["chain"]] == ["CN=kube-apiserver"]  # the leaf only
    assert code == 1


def test_server_name_is_sent_for_handshakes_and_anonymous_requests(
    s_server: Server, pki: Pki, tmp_path: Path
) -> None:
    site = tmp_path / "sni-site"
    write(site / "livez", b"HTTP/1.0 200 OK\r\n\r\nok", 0o644)
    addr = s_server(
        "-HTTP", "-tls1_3", "-servername", "api.internal", "-servername_fatal",
        "-cert2", pki.path("other"), "-key2", pki.path("other.key"), cwd=site,
    )  # fmt: skip
    code, doc = probe_json(addr, "--server-name", "api.internal", "--anonymous")
    # the second certificate is only served to clients asking for api.internal
    assert [c["subject"] for c in doc["probe"]["chain"]] == ["CN=someone-else"]
    assert doc["probe"]["anonymous"]["/livez"] == 200
    assert code == 1


def test_root_compares_with_the_tree_on_disk(s_server: Server, tmp_path: Path) -> None:
    from tls_factory import APISERVER_SANS_DNS, build_tree

    tree = build_tree(tmp_path / "node")
    window = {"not_before": REAL_NOW - dt.timedelta(days=1), "not_after": REAL_NOW + dt.timedelta(days=365)}
    serving = issue("kube-apiserver", issuer=tree.ca, dns=APISERVER_SANS_DNS, ips=("127.0.0.1",), **window)
    tree.replace_leaf("apiserver", serving)
    crt, key = str(tree.pki("apiserver.crt")), str(tree.pki("apiserver.key"))
    addr = s_server("-tls1_3", "-cert", crt, "-key", key)
    code, doc = probe_json(addr, "--root", str(tree.root))
    assert findings(doc, "TLS-PROBE-CHAIN") == [
        ("pass", "high", "served certificate is /etc/kubernetes/pki/apiserver.crt"),
        (
            "pass",
            "high",
            "served chain verifies with /etc/kubernetes/admin.conf#clusters[kubernetes].certificate-authority-data: "
            "kube-apiserver -> kubernetes",
        ),
    ]
    # renewed on disk, server not restarted
    renewed = issue("kube-apiserver", issuer=tree.ca, dns=APISERVER_SANS_DNS, ips=("127.0.0.1",), **window)
    tree.replace_leaf("apiserver", renewed)
    code, doc = probe_json(addr, "--root", str(tree.root))
    (status, _, message), _ = findings(doc, "TLS-PROBE-CHAIN")
    assert status == "fail"
    assert message.endswith(
        "is not /etc/kubernetes/pki/apiserver.crt "
        f"(serial {renewed.cert.serial_number:x}, 'kube-apiserver'): the server has not been restarted since the "
        "file changed, or serves another file"
    )
    assert code == 1


def test_tls13_with_only_ccm_suites_is_found_through_s_client(s_server: Server) -> None:
    """Python offers only the three default TLS 1.3 suites; a CCM-only server refuses them."""
    addr = s_server("-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256")
    code, doc = probe_json(addr)
    assert doc["probe"]["versions"]["TLSv1.3"] == "accepted"
    assert doc["probe"]["cipherSuites"] == {
        "TLSv1.3": [{"iana": "TLS_AES_128_CCM_SHA256", "openssl": "TLS_AES_128_CCM_SHA256", "allowed": False}]
    }
    assert findings(doc, "TLS-PROBE-CIPHER") == [
        (
            "fail",
            "low",
            "TLSv1.3 TLS_AES_128_CCM_SHA256 accepted: CCM suite that Go (and so the API server) does not "
            "implement; not in the CIS 1.12 allowlist (1.2.29)",
        )
    ]
    # Python cannot finish that handshake, so the certificate is not seen: said, not passed
    assert findings(doc, "TLS-PROBE-CERT") == [
        (
            "warn",
            "high",
            "no server certificate seen in any handshake (anonymous suites only, or none this client could complete)",
        )
    ]
    assert code == 1
