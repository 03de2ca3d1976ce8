"""What ``kapsec tls inspect`` and ``kapsec tls probe`` share: the TLS check titles, how a TLS
finding is built, and how a certificate's validity verdict becomes a status.

Mirrors no upstream file: these are kapsec's own finding conventions (the rules themselves are
in :mod:`kapsec.tls.pki` and :mod:`kapsec.tls.ciphers`).
"""

from __future__ import annotations

from kapsec.model.findings import Evidence, Finding, FixSafety, Severity, Status
from kapsec.tls import pki

TITLES = {
    # kapsec tls inspect
    "TLS-CERT-VALIDITY": "Certificate is within its validity period",
    "TLS-CERT-KEY-SIZE": "Certificate key is strong enough (RSA >= 2048, EC >= P-256)",
    "TLS-CERT-SIGNATURE": "Certificate is not signed with SHA-1 or MD5",
    "TLS-CERT-SAN": "API server certificate carries the in-cluster names and IPs",
    "TLS-CERT-CHAIN": "Certificate chains to the CA that verifies it",
    "TLS-CERT-CA": "A CA flag names a CA certificate",
    "TLS-KEY-PAIR": "Private key matches its certificate",
    "TLS-CERT-USAGE": "Certificate may be used for its role (serverAuth / clientAuth)",
    "TLS-KEY-SIZE": "Private key is strong enough",
    "TLS-FILE-MODE": "Certificate, key and kubeconfig file permissions",
    "TLS-FILE-READ": "Referenced certificate or key can be read",
    "TLS-SA-KEY-PAIR": "Service-account signing key matches a verification key",
    # kapsec tls probe
    "TLS-PROBE-VERSION": "Only TLS 1.2 and later are accepted",
    "TLS-PROBE-CIPHER": "Only strong cipher suites are accepted (CIS 1.12 allowlist)",
    "TLS-PROBE-CERT": "The served certificate is valid, strong and well signed",
    "TLS-PROBE-NAME": "The served certificate covers the name or address probed",
    "TLS-PROBE-CHAIN": "The served chain matches the files on disk",
    "TLS-PROBE-CLIENT-CERT": "The server requests client certificates",
    "TLS-PROBE-ANON": "Unauthenticated requests are refused outside the health endpoints",
}


def finding(
    check: str,
    status: Status,
    severity: Severity,
    message: str,
    evidence: Evidence,
    *,
    benchmarks: dict[str, str] | None = None,
    remediation: str = "",
    fix_safety: FixSafety = FixSafety.MANUAL,
) -> Finding:
    """A finding of TLS check ``check`` (one of :data:`TITLES`)."""
    return Finding(
        id=check,
        title=TITLES[check],
        status=status,
        severity=severity,
        message=message,
        benchmarks=benchmarks or {},
        evidence=evidence,
        remediation=remediation,
        fix_safety=fix_safety,
    )


_VERDICT_STATUS = {pki.Verdict.OK: Status.PASS, pki.Verdict.SOON: Status.WARN, pki.Verdict.BAD: Status.FAIL}


def validity_status(verdict: pki.Verdict) -> Status:
    """valid: pass; expiring within the warning window: warn; expired or not yet valid: fail."""
    return _VERDICT_STATUS[verdict]
