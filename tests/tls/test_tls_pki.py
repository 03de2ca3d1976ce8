"""The pure certificate rules of ``kapsec.tls.pki``."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from tls_factory import NOW, issue, new_key

from kapsec.tls import pki


def test_pem_blocks_report_their_lines() -> None:
    a, b = issue("a"), issue("b")
    data = b"# bundle\n" + a.cert_pem + b"\n" + b.cert_pem + a.key_pem
    blocks = pki.pem_blocks(data)
    assert [(blk.label, blk.kind, blk.line) for blk in blocks] == [
        ("CERTIFICATE", pki.PemKind.CERTIFICATE, 2),
        ("CERTIFICATE", pki.PemKind.CERTIFICATE, 2 + a.cert_pem.count(b"\n") + 1),
        (
            "RSA PRIVATE KEY",
            pki.PemKind.PRIVATE_KEY,
            2 + a.cert_pem.count(b"\n") + 1 + b.cert_pem.count(b"\n"),
        ),
    ]
    assert [c.subject.rfc4514_string() for c in pki.load_certificates(data)] == ["CN=a", "CN=b"]


def test_load_errors_are_pki_errors() -> None:
    with pytest.raises(pki.PkiError, match="no PEM CERTIFICATE block"):
        pki.load_certificates(b"hello")
    with pytest.raises(pki.PkiError, match="no PEM PRIVATE KEY block"):
        pki.load_private_key(issue("x").cert_pem)
    with pytest.raises(pki.PkiError, match=r"^not a DER certificate"):
        pki.load_certificates(b"\x30\x03\x02\x01\x00")


def test_chain_through_an_intermediate_in_the_same_file() -> None:
    root = issue("root", ca=True)
    inter = issue("inter", ca=True, issuer=root)
    leaf = issue("leaf", issuer=inter)
    assert pki.verify_chain(leaf.cert, [root.cert], [inter.cert], NOW) == (True, "leaf -> inter -> root")
    # without the intermediate the leaf's issuer is not the CA
    assert pki.verify_chain(leaf.cert, [root.cert], [], NOW) == (
        False,
        "issued by 'inter', not by the CA ('root')",
    )
    # an expired intermediate breaks the chain
    old = issue(
        "inter",
        ca=True,
        issuer=root,
        not_before=NOW - dt.timedelta(days=90),
        not_after=NOW - dt.timedelta(days=3),
    )
    leaf2 = issue("leaf", issuer=old)
    ok, why = pki.verify_chain(leaf2.cert, [root.cert], [old.cert], NOW)
    assert (ok, why) == (False, "'inter' on the chain is expired on 2026-05-29T12:00:00Z (3 days ago)")


@pytest.mark.parametrize(
    ("cidr", "advertise", "ips", "problems"),
    [
        ("10.96.0.0/12", "192.168.56.10", ["10.96.0.1", "192.168.56.10"], []),
        # dual-stack: the first (primary) range gives the kubernetes Service IP
        ("fd00:10:96::/112,10.96.0.0/12", "fd00::10", ["fd00:10:96::1", "fd00::10"], []),
        ("10.96.0.5/12", "10.0.0.1", ["10.96.0.1", "10.0.0.1"], []),
        ("banana", "10.0.0.1", ["10.0.0.1"], ["--service-cluster-ip-range 'banana' is not a CIDR"]),
        (None, "not-an-ip", [], [
            "--service-cluster-ip-range is not set: the service IP cannot be checked",
            "--advertise-address 'not-an-ip' is not an IP address",
        ]),
    ],
)  # fmt: skip
def test_apiserver_required_names(
    cidr: str | None, advertise: str, ips: list[str], problems: list[str]
) -> None:
    dns, got_ips, got_problems = pki.apiserver_required_names("cluster.local", cidr, advertise)
    assert dns == [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    assert (got_ips, got_problems) == (ips, problems)


def test_missing_names_compares_values_not_strings() -> None:
    sans = pki.SubjectAltNames(
        dns=("Kubernetes", "*.default.svc.cluster.local"), ips=("fd00:0:0::1", "10.96.0.1")
    )
    assert (
        pki.missing_names(
            sans, ["kubernetes", "kubernetes.default.svc.cluster.local"], ["fd00::1", "10.96.0.1"]
        )
        == []
    )
    # a wildcard covers one label only
    assert pki.missing_names(sans, ["a.b.default.svc.cluster.local"], ["10.96.0.10"]) == [
        "a.b.default.svc.cluster.local",
        "10.96.0.10",
    ]


def test_key_facts_and_weaknesses() -> None:
    assert pki.key_facts(new_key("rsa", 1024).public_key()).weakness == "RSA key of 1024 bits (minimum 2048)"
    assert pki.key_facts(new_key("ec", 384).public_key()).label == "EC P-384"
    assert pki.key_facts(new_key("ec", 384).public_key()).weakness is None


def test_extended_key_usage() -> None:
    none = issue("any")
    server = issue("s", eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    anyuse = issue("a", eku=(ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,))
    both = frozenset({"serverAuth", "clientAuth"})
    assert pki.extended_key_usages(none.cert) is None
    assert pki.missing_usages(none.cert, both) == []
    assert pki.missing_usages(server.cert, both) == ["clientAuth"]
    assert pki.missing_usages(anyuse.cert, both) == []


def test_validity_boundaries() -> None:
    cert = issue("x", not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=30)).cert
    # "warn under 30 days": exactly 30 days left is not a warning yet
    assert pki.validity(cert, NOW, 30) == (pki.Verdict.OK, "valid until 2026-07-01T12:00:00Z (30 days left)")
    assert pki.validity(cert, NOW, 31) == (pki.Verdict.SOON, "expires in 30 days (2026-07-01T12:00:00Z)")
    assert pki.validity(cert, NOW + dt.timedelta(days=30, seconds=1), 30)[0] is pki.Verdict.BAD
