"""Certificate and key facts, and the checks on them. Pure: bytes in, typed values out.

What is checked, and where the rule comes from:

- validity: Go's ``crypto/x509`` ``Certificate.Verify`` rejects a certificate outside
  ``NotBefore``..``NotAfter``; kubeadm warns 30 days before expiry (``kubeadm certs check-expiration``).
- key size: RSA below 2048 bits and EC curves below P-256 are refused by kubeadm
  (``cmd/kubeadm/app/util/pkiutil/pki_helpers.go`` generates RSA 2048 / ECDSA P-256 and nothing smaller).
- signature algorithm: Go rejects SHA-1 signed certificates in chains since Go 1.18 (root
  self-signatures are not checked), MD5 long before.
- API server SANs: ``GetAPIServerAltNames`` in ``cmd/kubeadm/app/util/pkiutil/pki_helpers.go``
  (``kubernetes``, ``kubernetes.default``, ``kubernetes.default.svc``,
  ``kubernetes.default.svc.<dnsDomain>``, the advertise address and the first IP of the service
  CIDR, ``GetAPIServerVirtualIP`` in ``cmd/kubeadm/app/constants/constants.go``).
- chain: each certificate's signature must verify with its issuer's key, up to a CA named by a flag.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)

MIN_RSA_BITS = 2048
MIN_EC_BITS = 256

PublicKey = (
    rsa.RSAPublicKey
    | ec.EllipticCurvePublicKey
    | ed25519.Ed25519PublicKey
    | ed448.Ed448PublicKey
    | dsa.DSAPublicKey
)

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
    | dsa.DSAPrivateKey
)


class PemKind(enum.Enum):
    CERTIFICATE = "certificate"
    PRIVATE_KEY = "private key"
    PUBLIC_KEY = "public key"
    OTHER = "other"


class PkiError(ValueError):
    """Bytes that are not the certificate or key they should be."""


@dataclass(frozen=True)
class PemBlock:
    label: str
    data: bytes
    line: int

    @property
    def kind(self) -> PemKind:
        if self.label in ("CERTIFICATE", "TRUSTED CERTIFICATE"):
            return PemKind.CERTIFICATE
        if self.label.endswith("PRIVATE KEY"):
            return PemKind.PRIVATE_KEY
        if self.label in ("PUBLIC KEY", "RSA PUBLIC KEY"):
            return PemKind.PUBLIC_KEY
        return PemKind.OTHER


def pem_blocks(data: bytes) -> list[PemBlock]:
    """Every PEM block of ``data`` with its 1-based starting line."""
    return [
        PemBlock(m.group(1).decode("ascii"), m.group(0), data.count(b"\n", 0, m.start()) + 1)
        for m in PEM_BLOCK.finditer(data)
    ]


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """All certificates of a PEM bundle (or one DER certificate). Raises :class:`PkiError`."""
    blocks = [b for b in pem_blocks(data) if b.kind is PemKind.CERTIFICATE]
    if not blocks:
        if data[:1] == b"\x30":
            try:
                return [x509.load_der_x509_certificate(data)]
            except ValueError as exc:
                raise PkiError(f"not a DER certificate: {exc}") from exc
        raise PkiError("no PEM CERTIFICATE block")
    certs = []
    for block in blocks:
        try:
            certs.append(x509.load_pem_x509_certificate(block.data))
        except ValueError as exc:
            raise PkiError(f"line {block.line}: malformed certificate: {exc}") from exc
    return certs


def load_private_key(data: bytes) -> PrivateKey:
    """The first private key of ``data`` (PKCS#1, SEC1 or PKCS#8 PEM). Raises :class:`PkiError`."""
    blocks = [b for b in pem_blocks(data) if b.kind is PemKind.PRIVATE_KEY]
    if not blocks:
        raise PkiError("no PEM PRIVATE KEY block")
    block = blocks[0]
    if block.label == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in block.data:
        raise PkiError("the private key is encrypted (the API server cannot use it either)")
    try:
        # Skip the slow RSA consistency check (~50 ms a key): keys are only compared, never used to sign.
        key = serialization.load_pem_private_key(
            block.data, password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"line {block.line}: malformed private key: {exc}") from exc
    if not isinstance(key, PrivateKey):
        raise PkiError(f"unsupported private key type {type(key).__name__}")
    return key


def load_public_key(data: bytes) -> PublicKey:
    blocks = [b for b in pem_blocks(data) if b.kind is PemKind.PUBLIC_KEY]
    if not blocks:
        raise PkiError("no PEM PUBLIC KEY block")
    try:
        key = serialization.load_pem_public_key(blocks[0].data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"line {blocks[0].line}: malformed public key: {exc}") from exc
    if not isinstance(key, PublicKey):
        raise PkiError(f"unsupported public key type {type(key).__name__}")
    return key


def spki(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def cert_public_key(cert: x509.Certificate) -> PublicKey:
    key = cert.public_key()
    if not isinstance(key, PublicKey):
        raise PkiError(f"unsupported public key type {type(key).__name__}")
    return key


def keys_match(public: PublicKey, private: PrivateKey) -> bool:
    return spki(public) == spki(private.public_key())


# --- facts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyFacts:
    algorithm: str  # "RSA", "EC", "Ed25519", "Ed448", "DSA"
    bits: int
    curve: str | None = None

    @property
    def label(self) -> str:
        return f"EC {self.curve}" if self.curve else f"{self.algorithm} {self.bits}"

    @property
    def weakness(self) -> str | None:
        """Why the key is too weak, or None."""
        if self.algorithm == "RSA" and self.bits < MIN_RSA_BITS:
            return f"RSA key of {self.bits} bits (minimum {MIN_RSA_BITS})"
        if self.algorithm == "EC" and self.bits < MIN_EC_BITS:
            return f"EC key on {self.curve} ({self.bits} bits; minimum P-256)"
        if self.algorithm == "DSA":
            return "DSA keys are not supported by Go's TLS stack"
        return None


def key_facts(key: PublicKey) -> KeyFacts:
    if isinstance(key, rsa.RSAPublicKey):
        return KeyFacts("RSA", key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        names = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "secp224r1": "P-224"}
        return KeyFacts("EC", key.curve.key_size, names.get(key.curve.name, key.curve.name))
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyFacts("Ed25519", 256)
    if isinstance(key, ed448.Ed448PublicKey):
        return KeyFacts("Ed448", 456)
    return KeyFacts("DSA", key.key_size)


_WEAK_HASHES = {"sha1": "SHA-1", "md5": "MD5", "md2": "MD2", "md4": "MD4"}


def signature_algorithm(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", None)
    return name if isinstance(name, str) and name != "Unknown OID" else oid.dotted_string


def signature_weakness(cert: x509.Certificate) -> str | None:
    """``"SHA-1"``/``"MD5"`` when the certificate is signed with a broken hash, else None."""
    name = signature_algorithm(cert).lower()
    for token, label in _WEAK_HASHES.items():
        if name.startswith(token) or f"with{token}" in name or name.endswith(token):
            return label
    try:
        algo = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    if isinstance(algo, hashes.SHA1):
        return "SHA-1"
    if isinstance(algo, hashes.MD5):
        return "MD5"
    return None


def common_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if values:
        value = values[0].value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return name.rfc4514_string()


def is_self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and signature_verifies(cert, cert)


def signature_verifies(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s key made ``cert``'s signature.

    ``cryptography`` refuses to verify SHA-1 signatures; those are checked by hand so that a
    SHA-1 chain is reported as SHA-1 (a finding of its own), not as a broken chain.
    """
    try:
        cert.verify_directly_issued_by(issuer)
    except (TypeError, InvalidSignature):
        return False
    except (ValueError, UnsupportedAlgorithm):  # "Unsupported signature algorithm" (SHA-1) is a ValueError
        return _verify_by_hand(cert, issuer)
    return True


def _verify_by_hand(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    key = issuer.public_key()
    try:
        algo = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return False
    if algo is None:
        return False
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algo)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algo))
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
    except x509.ExtensionNotFound:
        return False
    return isinstance(bc, x509.BasicConstraints) and bc.ca


_EKU_NAMES = {
    x509.oid.ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    x509.oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "any",
}


def extended_key_usages(cert: x509.Certificate) -> frozenset[str] | None:
    """The certificate's extended key usages by name; None without the extension (any use)."""
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
    except x509.ExtensionNotFound:
        return None
    if not isinstance(ext, x509.ExtendedKeyUsage):
        return None
    return frozenset(_EKU_NAMES.get(oid, oid.dotted_string) for oid in ext)


def missing_usages(cert: x509.Certificate, needed: frozenset[str]) -> list[str]:
    """Which of ``needed`` ("serverAuth", "clientAuth") the certificate may not be used for.

    Go's ``x509.Verify`` (used by every Kubernetes component) accepts a certificate without the
    extension, or with ``anyExtendedKeyUsage``, for any use; otherwise the usage must be listed
    (``crypto/x509/verify.go``; the API server's client-certificate authenticator asks for
    ``ExtKeyUsageClientAuth``, clients ask for ``ExtKeyUsageServerAuth``).
    """
    have = extended_key_usages(cert)
    if have is None or "any" in have:
        return []
    return sorted(u for u in needed if u not in have)


@dataclass(frozen=True)
class SubjectAltNames:
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        return self.dns + self.ips


def subject_alt_names(cert: x509.Certificate) -> SubjectAltNames:
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return SubjectAltNames()
    if not isinstance(ext, x509.SubjectAlternativeName):
        return SubjectAltNames()
    dns = tuple(ext.get_values_for_type(x509.DNSName))
    ips = tuple(str(ip) for ip in ext.get_values_for_type(x509.IPAddress))
    return SubjectAltNames(dns, ips)


@dataclass(frozen=True)
class CertFacts:
    """What ``tls inspect`` shows about one certificate."""

    subject: str
    issuer: str
    subject_cn: str
    issuer_cn: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    key: KeyFacts
    signature_algorithm: str
    sans: SubjectAltNames
    is_ca: bool
    self_signed: bool
    sha256: str

    def days_left(self, now: dt.datetime) -> int:
        """Whole days until expiry, negative once expired (-1: expired one day ago)."""
        return int((self.not_after - now) / dt.timedelta(days=1))


def cert_facts(cert: x509.Certificate) -> CertFacts:
    return CertFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        subject_cn=common_name(cert.subject),
        issuer_cn=common_name(cert.issuer),
        serial=f"{cert.serial_number:x}",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key=key_facts(cert_public_key(cert)),
        signature_algorithm=signature_algorithm(cert),
        sans=subject_alt_names(cert),
        is_ca=is_ca(cert),
        self_signed=is_self_signed(cert),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


# --- checks ------------------------------------------------------------------------------------


class Verdict(enum.Enum):
    OK = "ok"
    SOON = "soon"  # valid, but expires within the warning window
    BAD = "bad"


def validity(cert: x509.Certificate, now: dt.datetime, warn_days: int) -> tuple[Verdict, str]:
    """Whether ``cert`` is valid at ``now``, with a one-line reason."""
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now < not_before:
        return Verdict.BAD, f"not yet valid (valid from {utc_iso(not_before)})"
    if now > not_after:
        days = (now - not_after) // dt.timedelta(days=1)
        return Verdict.BAD, f"expired on {utc_iso(not_after)} ({_days(days)} ago)"
    days_left = (not_after - now) // dt.timedelta(days=1)
    if days_left < warn_days:
        return Verdict.SOON, f"expires in {_days(days_left)} ({utc_iso(not_after)})"
    return Verdict.OK, f"valid until {utc_iso(not_after)} ({_days(days_left)} left)"


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def utc_iso(when: dt.datetime) -> str:
    """``when`` in UTC as RFC 3339 with a ``Z`` (how kubeadm and openssl users read it)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def verify_chain(
    leaf: x509.Certificate,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate] = (),
    now: dt.datetime | None = None,
) -> tuple[bool, str]:
    """Whether ``leaf`` chains to one of ``anchors`` (through ``intermediates``).

    Each link is checked by issuer name and signature; with ``now``, every issuer on the path
    must also be valid then (the leaf's validity is reported on its own). Returns (ok, reason).
    """
    chain = [leaf]
    seen: set[bytes] = set()
    for _ in range(10):
        current = chain[-1]
        for anchor in anchors:
            if _issued_by(current, anchor):
                if now is not None:  # the leaf's own validity is a check of its own
                    for cert in (*chain[1:], anchor):
                        verdict, why = validity(cert, now, 0)
                        if verdict is Verdict.BAD:
                            return False, f"{common_name(cert.subject)!r} on the chain is {why}"
                return True, " -> ".join(common_name(c.subject) for c in (*chain, anchor))
        nxt = next(
            (
                c
                for c in intermediates
                if c.fingerprint(hashes.SHA256()) not in seen and _issued_by(current, c)
            ),
            None,
        )
        if nxt is None:
            break
        seen.add(nxt.fingerprint(hashes.SHA256()))
        chain.append(nxt)
    last = chain[-1]
    names = ", ".join(repr(common_name(a.subject)) for a in anchors) or "none"
    if any(a.subject == last.issuer for a in anchors):
        return (
            False,
            f"issuer {common_name(last.issuer)!r} matches the CA by name but the signature does not verify",
        )
    return False, f"issued by {common_name(last.issuer)!r}, not by the CA ({names})"


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    return cert.issuer == issuer.subject and signature_verifies(cert, issuer)


def apiserver_required_names(
    cluster_domain: str, service_cidr: str | None, advertise_address: str | None
) -> tuple[list[str], list[str], list[str]]:
    """(DNS names, IPs, problems) the API server's serving certificate must carry."""
    dns = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{cluster_domain}",
    ]
    ips: list[str] = []
    problems: list[str] = []
    if service_cidr:
        first = service_cidr.split(",")[0].strip()
        try:
            net = ipaddress.ip_network(first, strict=False)
            ips.append(str(net.network_address + 1))
        except ValueError:
            problems.append(f"--service-cluster-ip-range {first!r} is not a CIDR")
    else:
        problems.append("--service-cluster-ip-range is not set: the service IP cannot be checked")
    if advertise_address:
        try:
            ips.append(str(ipaddress.ip_address(advertise_address)))
        except ValueError:
            problems.append(f"--advertise-address {advertise_address!r} is not an IP address")
    else:
        problems.append(
            "neither --advertise-address nor a specific --bind-address is set: the API server advertises "
            "the address of its default interface, which cannot be checked offline"
        )
    return dns, ips, problems


def missing_names(sans: SubjectAltNames, dns: Sequence[str], ips: Sequence[str]) -> list[str]:
    """The required names ``sans`` lacks (DNS compared case-insensitively, IPs by value)."""
    have_dns = {d.lower().rstrip(".") for d in sans.dns}
    have_ips = {ipaddress.ip_address(i) for i in sans.ips}
    missing = [d for d in dns if d.lower() not in have_dns and not _wildcard_covers(have_dns, d.lower())]
    missing += [i for i in ips if ipaddress.ip_address(i) not in have_ips]
    return missing


def _wildcard_covers(have: set[str], name: str) -> bool:
    _, _, rest = name.partition(".")
    return bool(rest) and f"*.{rest}" in have
