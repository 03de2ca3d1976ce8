"""Keys and certificates as kubeadm makes them, built with ``cryptography``.

Mirrors kubeadm's ``cmd/kubeadm/app/phases/certs/certlist.go`` (which certificate, which CN,
organisation, usages and issuer) and ``cmd/kubeadm/app/util/pkiutil/pki_helpers.go`` with
client-go's ``util/cert/cert.go`` (RSA 2048, CA valid 10 years, leaf 1 year, key usages,
basic constraints, subject/authority key ids, PKCS#1 PEM keys). Pure: nothing here touches disk.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RSA_KEY_SIZE = 2048
CA_VALIDITY = dt.timedelta(days=365 * 10)
LEAF_VALIDITY = dt.timedelta(days=365)

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    """ECDSA P-256, the key type k3s and RKE2 use for their certificates."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    """PKCS#1 ``RSA PRIVATE KEY`` or SEC 1 ``EC PRIVATE KEY``, as client-go's keyutil writes keys."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def public_key_pem(key: PrivateKey) -> bytes:
    """PKIX ``PUBLIC KEY`` (``sa.pub``)."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _serial() -> int:
    # A random positive serial below 2**63, like client-go's certutil.
    return secrets.randbelow(2**63 - 1) + 1


@dataclass(frozen=True)
class KeyPair:
    """A private key and its certificate."""

    key: PrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)


@dataclass(frozen=True)
class LeafSpec:
    """What kubeadm's certlist says about one leaf certificate."""

    common_name: str
    organizations: tuple[str, ...] = ()
    usages: tuple[x509.ObjectIdentifier, ...] = (CLIENT_AUTH,)
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    # client-go's certutil sets keyEncipherment whatever the key type (k3s's ECDSA keys too).
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca(
    common_name: str,
    now: dt.datetime,
    *,
    validity: dt.timedelta = CA_VALIDITY,
    key: PrivateKey | None = None,
) -> KeyPair:
    """A self-signed CA as ``certutil.NewSelfSignedCACert`` makes it."""
    key = key or new_key()
    name = _name(common_name)
    not_before = now.astimezone(dt.UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_before + validity)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(key, cert)


def make_leaf(
    spec: LeafSpec,
    ca: KeyPair,
    now: dt.datetime,
    *,
    validity: dt.timedelta = LEAF_VALIDITY,
    not_before: dt.datetime | None = None,
    key: PrivateKey | None = None,
) -> KeyPair:
    """A certificate signed by ``ca`` as kubeadm's ``pkiutil.NewSignedCert`` makes it."""
    key = key or new_key()
    start = (not_before or ca.cert.not_valid_before_utc).astimezone(dt.UTC).replace(microsecond=0)
    end = now.astimezone(dt.UTC).replace(microsecond=0) + validity
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(spec.common_name, spec.organizations))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(spec.usages)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in spec.ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return KeyPair(key, builder.sign(ca.key, hashes.SHA256()))
