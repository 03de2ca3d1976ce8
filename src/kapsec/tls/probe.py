"""``kapsec tls probe``: connect to a TLS endpoint the way clients do and report what it accepts.

This module does network I/O (and runs ``openssl s_client`` for TLS 1.3 suites); the rules it
applies are pure and live in :mod:`kapsec.tls.ciphers` and :mod:`kapsec.tls.pki`.

How each question is answered:

- **Protocol versions**: one handshake per version with the minimum and maximum pinned to it.
  OpenSSL 3 refuses TLS 1.0/1.1 (SHA-1/MD5 signatures) at security level 1 and above, so the
  client uses ``@SECLEVEL=0`` — otherwise a server that accepts TLS 1.0 would look as if it
  refused it. A version counts as accepted when the server answers with a ServerHello for it.
- **Cipher suites (TLS 1.0-1.2)**: offer every suite the local OpenSSL has; the server picks one;
  drop it and offer the rest again, until the server refuses. That finds every accepted suite in
  (accepted + 1) handshakes. **TLS 1.3** suites cannot be restricted through Python's ``ssl``; they
  are enumerated with ``openssl s_client -ciphersuites`` (one suite at a time) when the command
  exists, and otherwise only the negotiated one is reported.
- **Handshake messages** (ServerHello, Certificate, CertificateRequest) are observed with the
  ``ssl`` module's message callback, so the served chain (intermediates included) and a request
  for a client certificate are seen even when the handshake then fails.
- **Client certificate**: *required* when the server sends a CertificateRequest and then aborts
  the handshake without one (TLS 1.2), or sends a ``certificate_required``/``bad_certificate``
  alert right after it (TLS 1.3); *requested* when it asks and carries on (Go's
  ``RequestClientCert``, which is what the API server does with ``--client-ca-file``).
- **Anonymous requests** (``--anonymous``): plain HTTP/1.1 GETs over TLS with no credentials.
  The expected codes are those recorded from a real kube-apiserver v1.36 (``oracle-1.36/anonymous-health``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import http.client
import ipaddress
import re
import shutil
import socket
import ssl
import subprocess
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from kapsec.errors import InputError, ServiceError, UsageError
from kapsec.model.findings import Evidence, Finding, FixSafety, Severity, Status
from kapsec.tls import ciphers, pki
from kapsec.tls._common import finding, validity_status

ALL_CIPHERS = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"
TLS13_SUITES = (
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_CCM_SHA256",
    "TLS_AES_128_CCM_8_SHA256",
)
ANONYMOUS_PATHS = ("/livez", "/readyz", "/version", "/api", "/api/v1/namespaces")

_HANDSHAKE = 22
_SERVER_HELLO = 2
_CERTIFICATE = 11
_CERTIFICATE_REQUEST = 13
_EXT_CERTIFICATE_AUTHORITIES = 47


@dataclass(frozen=True)
class OnDisk:
    """Certificates on disk to compare the served chain with: a file, or a kubeconfig's CA data."""

    name: str
    certs: tuple[x509.Certificate, ...]

    @property
    def pem(self) -> str:
        from cryptography.hazmat.primitives.serialization import Encoding

        return "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in self.certs)


def load_on_disk(path: Path, name: str | None = None, data: bytes | None = None) -> OnDisk:
    """Certificates of ``path`` (or of ``data``), raising :class:`InputError` with the file name."""
    shown = name or str(path)
    try:
        raw = data if data is not None else path.read_bytes()
        return OnDisk(shown, tuple(pki.load_certificates(raw)))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=shown) from exc
    except pki.PkiError as exc:
        raise InputError(str(exc), file=shown) from exc


class Version(enum.Enum):
    TLS1_0 = "TLSv1.0"
    TLS1_1 = "TLSv1.1"
    TLS1_2 = "TLSv1.2"
    TLS1_3 = "TLSv1.3"

    @property
    def ssl_version(self) -> ssl.TLSVersion:
        return {
            Version.TLS1_0: ssl.TLSVersion.TLSv1,
            Version.TLS1_1: ssl.TLSVersion.TLSv1_1,
            Version.TLS1_2: ssl.TLSVersion.TLSv1_2,
            Version.TLS1_3: ssl.TLSVersion.TLSv1_3,
        }[self]

    @property
    def wire(self) -> int:
        return {
            Version.TLS1_0: 0x0301,
            Version.TLS1_1: 0x0302,
            Version.TLS1_2: 0x0303,
            Version.TLS1_3: 0x0304,
        }[self]


@dataclass(frozen=True)
class Target:
    host: str
    port: int

    @property
    def display(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def server_name(self) -> str | None:
        """The SNI name: none for an IP address."""
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return self.host
        return None


def parse_target(text: str) -> Target:
    """``HOST:PORT`` or ``[IPv6]:PORT``."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\[\]]+):(\d+)", text.strip())
    if not m:
        raise UsageError(f"{text!r} is not HOST:PORT (use [ADDR]:PORT for IPv6)")
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if not 0 < port < 65536:
        raise UsageError(f"port {port} is out of range")
    return Target(host, port)


@dataclass
class Handshake:
    """What one handshake showed."""

    server_hello_version: int | None = None
    cipher_code: int | None = None
    chain: list[bytes] = field(default_factory=list)
    cert_requested: bool = False
    client_ca_names: list[str] = field(default_factory=list)
    completed: bool = False
    error: str | None = None
    alert_after_handshake: str | None = None

    def accepted(self, version: Version) -> bool:
        return self.server_hello_version == version.wire

    @property
    def suite(self) -> ciphers.Suite | None:
        return None if self.cipher_code is None else ciphers.by_code(self.cipher_code)


def _u24(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 3], "big")


def _parse_certificate_msg(body: bytes, tls13: bool) -> list[bytes]:
    pos = 0
    if tls13:
        pos = 1 + body[0]
    total = _u24(body, pos)
    pos += 3
    end = min(len(body), pos + total)
    chain = []
    while pos + 3 <= end:
        n = _u24(body, pos)
        pos += 3
        chain.append(body[pos : pos + n])
        pos += n
        if tls13:
            pos += 2 + int.from_bytes(body[pos : pos + 2], "big")
    return chain


def _parse_names(blob: bytes) -> list[str]:
    names = []
    pos = 0
    while pos + 2 <= len(blob):
        n = int.from_bytes(blob[pos : pos + 2], "big")
        der = blob[pos + 2 : pos + 2 + n]
        pos += 2 + n
        try:
            names.append(pki.common_name(_name_from_der(der)))
        except (ValueError, IndexError):
            names.append(der.hex())
    return names


def _name_from_der(der: bytes) -> x509.Name:
    """Decode a DER ``Name`` (RDNSequence) holding string attributes.

    ``cryptography`` loads Names only inside certificates and CSRs, and the CA names of a
    CertificateRequest come bare, so this small reader handles the RDNSequence itself; anything
    it cannot read is shown as hex by the caller.
    """
    attrs: list[x509.RelativeDistinguishedName] = []

    def read(buf: bytes, pos: int) -> tuple[int, bytes, int]:
        tag = buf[pos]
        length = buf[pos + 1]
        pos += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(buf[pos : pos + n], "big")
            pos += n
        return tag, buf[pos : pos + length], pos + length

    tag, seq, _ = read(der, 0)
    if tag != 0x30:
        raise ValueError("not a Name")
    pos = 0
    while pos < len(seq):
        _, rdn_set, pos = read(seq, pos)
        rdn_pos = 0
        items = []
        while rdn_pos < len(rdn_set):
            _, atv, rdn_pos = read(rdn_set, rdn_pos)
            _, oid_der, p = read(atv, 0)
            _, value, _ = read(atv, p)
            oid = _decode_oid(oid_der)
            items.append(x509.NameAttribute(x509.ObjectIdentifier(oid), value.decode("utf-8", "replace")))
        if items:
            attrs.append(x509.RelativeDistinguishedName(items))
    return x509.Name(attrs)


def _decode_oid(der: bytes) -> str:
    first = der[0]
    parts = [first // 40, first % 40]
    value = 0
    for byte in der[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


_SUPPORTED_VERSIONS = 43


def _parse_server_hello(body: bytes) -> tuple[int, int] | None:
    """(negotiated version, cipher code) of a ServerHello body (RFC 8446 4.1.3 / RFC 5246 7.4.1.3)."""
    try:
        version = int.from_bytes(body[0:2], "big")
        pos = 2 + 32
        pos += 1 + body[pos]
        cipher = int.from_bytes(body[pos : pos + 2], "big")
        pos += 3  # cipher suite + compression method
        if pos + 2 <= len(body):
            ext_end = pos + 2 + int.from_bytes(body[pos : pos + 2], "big")
            pos += 2
            while pos + 4 <= ext_end:
                ext_type = int.from_bytes(body[pos : pos + 2], "big")
                ext_len = int.from_bytes(body[pos + 2 : pos + 4], "big")
                if ext_type == _SUPPORTED_VERSIONS and ext_len == 2:
                    version = int.from_bytes(body[pos + 4 : pos + 6], "big")
                pos += 4 + ext_len
    except IndexError:
        return None
    return version, cipher


def _parse_certificate_request(body: bytes, tls13: bool) -> list[str]:
    """CA names a CertificateRequest lists (TLS 1.2 field, or the TLS 1.3 extension)."""
    try:
        if not tls13:
            pos = 1 + body[0]
            pos += 2 + int.from_bytes(body[pos : pos + 2], "big")
            n = int.from_bytes(body[pos : pos + 2], "big")
            return _parse_names(body[pos + 2 : pos + 2 + n])
        pos = 1 + body[0]
        ext_total = int.from_bytes(body[pos : pos + 2], "big")
        pos += 2
        end = pos + ext_total
        while pos + 4 <= end:
            ext_type = int.from_bytes(body[pos : pos + 2], "big")
            ext_len = int.from_bytes(body[pos + 2 : pos + 4], "big")
            ext = body[pos + 4 : pos + 4 + ext_len]
            pos += 4 + ext_len
            if ext_type == _EXT_CERTIFICATE_AUTHORITIES:
                n = int.from_bytes(ext[:2], "big")
                return _parse_names(ext[2 : 2 + n])
    except (IndexError, ValueError):
        return []
    return []


class Prober:
    """Handshakes against one target."""

    def __init__(self, target: Target, *, timeout: float = 5.0, server_name: str | None = None) -> None:
        self.target = target
        self.timeout = timeout
        self.server_name = server_name if server_name is not None else target.server_name
        self.connects = 0

    context_class: type[ssl.SSLContext] = ssl.SSLContext

    def _context(self, version: Version, cipher_list: str | None) -> ssl.SSLContext:
        ctx = self.context_class(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1/TLSv1_1 are deprecated names
            ctx.minimum_version = version.ssl_version
            ctx.maximum_version = version.ssl_version
        ctx.set_ciphers(cipher_list or ALL_CIPHERS)
        return ctx

    def connect(self) -> socket.socket:
        self.connects += 1
        try:
            return socket.create_connection((self.target.host, self.target.port), timeout=self.timeout)
        except OSError as exc:
            raise ServiceError(f"cannot connect to {self.target.display}: {exc.strerror or exc}") from exc

    def handshake(
        self, version: Version, cipher_list: str | None = None, *, watch_after: float = 0.0
    ) -> Handshake:
        """One handshake pinned to ``version``, offering ``cipher_list`` (OpenSSL syntax)."""
        result = Handshake()
        try:
            ctx = self._context(version, cipher_list)
        except ssl.SSLError as exc:
            result.error = f"local OpenSSL cannot offer this: {exc.reason or exc}"
            return result

        def callback(*args: Any) -> None:
            # (conn, direction, version, content_type, msg_type, data), as ssl calls it
            direction, v, content_type, data = args[1], args[2], args[3], args[5]
            if direction != "read" or int(content_type) != _HANDSHAKE or not data:
                return
            kind = data[0]
            body = data[4:]
            if kind == _SERVER_HELLO and len(body) >= 38:
                hello = _parse_server_hello(body)
                if hello is not None:
                    result.server_hello_version, result.cipher_code = hello
            elif kind == _CERTIFICATE:
                with contextlib.suppress(IndexError):
                    result.chain = _parse_certificate_msg(body, int(v) == 0x0304)
            elif kind == _CERTIFICATE_REQUEST:
                result.cert_requested = True
                result.client_ca_names = _parse_certificate_request(body, int(v) == 0x0304)

        ctx._msg_callback = callback  # type: ignore[attr-defined]  # CPython's debug hook, 3.8+
        sock = self.connect()
        try:
            with ctx.wrap_socket(sock, server_hostname=self.server_name) as tls:
                result.completed = True
                if result.server_hello_version is None:  # no message callback: what the handshake ended with
                    _from_completed(tls, result)
                if watch_after > 0:
                    result.alert_after_handshake = _watch(tls, watch_after)
        except ssl.SSLError as exc:
            result.error = exc.reason or str(exc)
        except OSError as exc:
            result.error = exc.strerror or type(exc).__name__
        finally:
            sock.close()
        return result


_WIRE = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def _from_completed(tls: ssl.SSLSocket, result: Handshake) -> None:
    """Fill ``result`` from a completed handshake (for an interpreter without the message callback)."""
    result.server_hello_version = _WIRE.get(tls.version() or "")
    cipher = tls.cipher()
    suite = ciphers.by_openssl_name(cipher[0]) if cipher else None
    result.cipher_code = suite.code if suite else None
    leaf = tls.getpeercert(binary_form=True)
    if leaf and not result.chain:
        result.chain = [leaf]


def _watch(tls: ssl.SSLSocket, seconds: float) -> str | None:
    """An alert the server sends right after the handshake (TLS 1.3 client-certificate checks)."""
    tls.settimeout(seconds)
    try:
        data = tls.recv(1)
    except TimeoutError:
        return None
    except ssl.SSLError as exc:
        return exc.reason or str(exc)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None if data else "connection closed"


# --- results -----------------------------------------------------------------------------------


class ClientCert(enum.Enum):
    REQUIRED = "required"
    REQUESTED = "requested"
    NOT_REQUESTED = "not requested"
    UNKNOWN = "unknown"


@dataclass
class ProbeResult:
    target: Target
    versions: dict[Version, bool | None] = field(default_factory=dict)  # None: could not test
    version_notes: dict[Version, str] = field(default_factory=dict)
    suites: dict[Version, list[ciphers.Suite]] = field(default_factory=dict)
    tls13_enumerated: bool = True
    ciphers_enumerated: bool = True  # False with --no-ciphers: only the negotiated suites
    chain: list[x509.Certificate] = field(default_factory=list)
    client_cert: ClientCert = ClientCert.UNKNOWN
    client_ca_names: list[str] = field(default_factory=list)
    anonymous: dict[str, int | str] = field(default_factory=dict)
    handshakes: int = 0

    def to_dict(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "target": self.target.display,
            "versions": {
                v.value: ("accepted" if ok else "refused" if ok is False else "untested")
                for v, ok in self.versions.items()
            },
            "versionNotes": {v.value: note for v, note in self.version_notes.items()},
            "cipherSuites": {
                v.value: [{"iana": s.iana, "openssl": s.openssl, "allowed": s.allowed} for s in suites]
                for v, suites in self.suites.items()
            },
            "ciphersEnumerated": self.ciphers_enumerated,
            "tls13Enumerated": self.tls13_enumerated,
            "chain": [
                {
                    "subject": c.subject.rfc4514_string(),
                    "issuer": c.issuer.rfc4514_string(),
                    "notAfter": pki.cert_facts(c).not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "daysLeft": pki.cert_facts(c).days_left(now),
                    "sha256": pki.cert_facts(c).sha256,
                }
                for c in self.chain
            ],
            "clientCertificate": self.client_cert.value,
            "clientCANames": self.client_ca_names,
            "anonymous": dict(self.anonymous),
            "handshakes": self.handshakes,
        }


def _candidates(version: Version) -> list[str]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers(ALL_CIPHERS)
    out = []
    for c in ctx.get_ciphers():
        if c["protocol"] == "TLSv1.3":
            continue
        if any(k in c["kea"] for k in ("psk", "srp")) or c["auth"] in ("auth-psk", "auth-srp"):
            continue  # need a PSK/SRP callback to be offered at all
        if version in (Version.TLS1_0, Version.TLS1_1) and c["protocol"] == "TLSv1.2":
            continue
        out.append(c["name"])
    return out


def enumerate_suites(prober: Prober, version: Version) -> list[ciphers.Suite]:
    """Every TLS <= 1.2 suite the server accepts at ``version`` (offer all, drop the chosen, repeat)."""
    remaining = _candidates(version)
    found: list[ciphers.Suite] = []
    while remaining:
        hs = prober.handshake(version, ":".join(remaining) + ":@SECLEVEL=0")
        suite = hs.suite if hs.accepted(version) else None
        if suite is None:
            break
        found.append(suite)
        if suite.openssl not in remaining:
            break  # the server chose something we did not offer: stop rather than loop
        remaining.remove(suite.openssl)
    return found


def enumerate_tls13(target: Target, server_name: str | None, timeout: float) -> list[ciphers.Suite] | None:
    """TLS 1.3 suites accepted, one ``openssl s_client`` per suite; None when openssl is missing."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    found = []
    for suite in TLS13_SUITES:
        cmd = [openssl, "s_client", "-connect", target.display, "-tls1_3", "-ciphersuites", suite]
        if server_name:
            cmd += ["-servername", server_name]
        try:
            out = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout * 2,
                check=False,
                text=True,
            )
        except (subprocess.TimeoutExpired, OSError):
            continue
        m = re.search(r"Cipher is (\S+)", out.stdout)
        if m and m.group(1) == suite:
            picked = ciphers.by_openssl_name(suite)
            if picked is not None:
                found.append(picked)
    return found


def probe(
    target: Target,
    *,
    timeout: float = 5.0,
    server_name: str | None = None,
    anonymous: bool = False,
    ca: OnDisk | None = None,
    enumerate_ciphers: bool = True,
) -> ProbeResult:
    prober = Prober(target, timeout=timeout, server_name=server_name)
    result = ProbeResult(target)
    first: dict[Version, Handshake] = {}
    for version in Version:
        hs = prober.handshake(version)
        first[version] = hs
        if hs.error and hs.error.startswith("local OpenSSL"):
            result.versions[version] = None
            result.version_notes[version] = hs.error
        else:
            result.versions[version] = hs.accepted(version)
            if not hs.accepted(version) and hs.error:
                result.version_notes[version] = hs.error
    tls13_note = result.version_notes.get(Version.TLS1_3, "")
    if (
        enumerate_ciphers
        and result.versions.get(Version.TLS1_3) is False
        and "HANDSHAKE_FAILURE" in tls13_note
    ):
        # TLS 1.3 spoken, but none of Python's three default TLS 1.3 suites: maybe only CCM ones
        only = enumerate_tls13(target, prober.server_name, timeout)
        if only:
            result.versions[Version.TLS1_3] = True
            result.version_notes.pop(Version.TLS1_3, None)
            first[Version.TLS1_3] = Handshake(
                server_hello_version=Version.TLS1_3.wire, cipher_code=only[0].code
            )
    accepted = [v for v in Version if result.versions.get(v)]
    if not accepted:
        result.handshakes = prober.connects
        return result
    best = accepted[-1]
    chain_from = next((first[v] for v in reversed(accepted) if first[v].chain), first[best])
    for der in chain_from.chain:
        with contextlib.suppress(ValueError):
            result.chain.append(x509.load_der_x509_certificate(der))
    if enumerate_ciphers:
        for version in accepted:
            if version is Version.TLS1_3:
                tls13 = enumerate_tls13(target, prober.server_name, timeout)
                if tls13 is None:
                    result.tls13_enumerated = False
                    suite = first[version].suite
                    result.suites[version] = [suite] if suite else []
                else:
                    result.suites[version] = tls13
            else:
                result.suites[version] = enumerate_suites(prober, version)
    else:
        result.ciphers_enumerated = result.tls13_enumerated = False
        for version in accepted:
            suite = first[version].suite
            result.suites[version] = [suite] if suite else []
    result.client_cert, result.client_ca_names = _client_cert(prober, first, accepted)
    if anonymous:
        result.anonymous = anonymous_statuses(prober, best, ca)
    result.handshakes = prober.connects
    return result


def _client_cert(
    prober: Prober, first: dict[Version, Handshake], accepted: Sequence[Version]
) -> tuple[ClientCert, list[str]]:
    # TLS 1.2 first: there a missing certificate fails the handshake itself, while TLS 1.3 needs
    # one more handshake and a wait for the server's alert.
    order = [v for v in reversed(accepted) if v is not Version.TLS1_3] + [
        v for v in accepted if v is Version.TLS1_3
    ]
    for version in order:
        hs = first[version]
        if not hs.cert_requested:
            continue
        if version is not Version.TLS1_3:
            return (ClientCert.REQUESTED if hs.completed else ClientCert.REQUIRED), hs.client_ca_names
        again = prober.handshake(version, watch_after=min(prober.timeout, 1.0))
        if not again.completed or again.alert_after_handshake:
            return ClientCert.REQUIRED, hs.client_ca_names
        return ClientCert.REQUESTED, hs.client_ca_names
    if any(first[v].completed for v in accepted):
        return ClientCert.NOT_REQUESTED, []
    return ClientCert.UNKNOWN, []


class _Connection(http.client.HTTPSConnection):
    """HTTPS with our context and SNI name (``--server-name``), not the one derived from HOST."""

    def __init__(
        self, host: str, port: int, timeout: float, ctx: ssl.SSLContext, server_name: str | None
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self._tls_context = ctx
        self._server_name = server_name

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls_context.wrap_socket(sock, server_hostname=self._server_name)


def anonymous_statuses(prober: Prober, version: Version, ca: OnDisk | None) -> dict[str, int | str]:
    """HTTP status of each of :data:`ANONYMOUS_PATHS` without credentials (or the error)."""
    out: dict[str, int | str] = {}
    for path in ANONYMOUS_PATHS:
        ctx = prober._context(version, None)
        if ca is not None:
            try:
                ctx.load_verify_locations(cadata=ca.pem)
            except ssl.SSLError as exc:
                raise InputError(f"cannot load CA: {exc}", file=ca.name) from exc
            ctx.verify_mode = ssl.CERT_REQUIRED
        conn = _Connection(prober.target.host, prober.target.port, prober.timeout, ctx, prober.server_name)
        prober.connects += 1
        try:
            conn.request(
                "GET", path, headers={"Accept": "application/json", "User-Agent": "kapsec-tls-probe"}
            )
            response = conn.getresponse()
            out[path] = response.status
            response.read()
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            out[path] = f"error: {getattr(exc, 'reason', None) or exc}"
        finally:
            conn.close()
    return out


# --- findings ----------------------------------------------------------------------------------


def _f(
    check: str,
    status: Status,
    severity: Severity,
    message: str,
    target: Target,
    *,
    value: str | None = None,
    detail: str | None = None,
    benchmarks: dict[str, str] | None = None,
    remediation: str = "",
) -> Finding:
    return finding(
        check,
        status,
        severity,
        message,
        Evidence(file=target.display, value=value, detail=detail),
        benchmarks=benchmarks,
        remediation=remediation,
        fix_safety=FixSafety.NEEDS_RESTART if remediation.startswith("Set --") else FixSafety.MANUAL,
    )


# Suite families some OpenSSL builds no longer offer (Debian's OpenSSL 3 has neither), with one member each.
_LEGACY_FAMILIES = (("3DES", "DES-CBC3-SHA"), ("RC4", "RC4-SHA"), ("NULL", "NULL-SHA"))


def _suite_severity(suite: ciphers.Suite) -> Severity:
    reasons = " ".join(suite.weaknesses)
    if any(k in reasons for k in ("NULL", "anonymous", "export", "RC4")):
        return Severity.CRITICAL
    if any(k in reasons for k in ("Sweet32", "MD5")):
        return Severity.HIGH
    if any(k in reasons for k in ("CBC", "forward secrecy")):
        return Severity.MEDIUM
    return Severity.LOW


def findings(
    result: ProbeResult,
    *,
    now: dt.datetime,
    warn_days: int = 30,
    expected: OnDisk | None = None,
    ca: OnDisk | None = None,
) -> list[Finding]:
    t = result.target
    out: list[Finding] = []
    for version, ok in result.versions.items():
        note = result.version_notes.get(version)
        if ok is None:
            out.append(
                _f(
                    "TLS-PROBE-VERSION",
                    Status.WARN,
                    Severity.HIGH,
                    f"{version.value}: not tested ({note})",
                    t,
                    value=version.value,
                )
            )
        elif version in (Version.TLS1_0, Version.TLS1_1):
            out.append(
                _f(
                    "TLS-PROBE-VERSION",
                    Status.FAIL if ok else Status.PASS,
                    Severity.HIGH,
                    f"{version.value} accepted" if ok else f"{version.value} refused",
                    t,
                    value=version.value,
                    detail=None if ok else note,
                    remediation="Set --tls-min-version=VersionTLS12 (or VersionTLS13)." if ok else "",
                )
            )
        else:
            out.append(
                _f(
                    "TLS-PROBE-VERSION",
                    Status.PASS,
                    Severity.INFO,
                    f"{version.value} {'accepted' if ok else 'refused'}",
                    t,
                    value=version.value,
                    detail=None if ok else note,
                )
            )
    if not any(result.versions.get(v) for v in (Version.TLS1_2, Version.TLS1_3)):
        out.append(
            _f("TLS-PROBE-VERSION", Status.FAIL, Severity.HIGH, "neither TLS 1.2 nor TLS 1.3 is accepted", t)
        )
    for version, suites in result.suites.items():
        for suite in suites:
            if suite.allowed:
                out.append(
                    _f(
                        "TLS-PROBE-CIPHER",
                        Status.PASS,
                        Severity.MEDIUM,
                        f"{version.value} {suite.iana}",
                        t,
                        value=suite.iana,
                        benchmarks={"cis-1.12": "1.2.29"},
                    )
                )
            else:
                out.append(
                    _f(
                        "TLS-PROBE-CIPHER",
                        Status.FAIL,
                        _suite_severity(suite),
                        f"{version.value} {suite.iana} accepted: {'; '.join(suite.weaknesses)}",
                        t,
                        value=suite.iana,
                        detail=suite.openssl,
                        benchmarks={"cis-1.12": "1.2.29"},
                        remediation="Set --tls-cipher-suites to the CIS 1.12 allowlist: "
                        + ",".join(sorted(ciphers.CIS_1_12_ALLOWLIST)),
                    )
                )
    missing = [name for name, probe_name in _LEGACY_FAMILIES if probe_name not in _candidates(Version.TLS1_2)]
    if (
        result.ciphers_enumerated
        and missing
        and any(result.versions.get(v) for v in (Version.TLS1_0, Version.TLS1_1, Version.TLS1_2))
    ):
        out.append(
            _f(
                "TLS-PROBE-CIPHER",
                Status.WARN,
                Severity.LOW,
                f"the local OpenSSL cannot offer {', '.join(missing)} suites: whether the server accepts them is not tested",
                t,
            )
        )
    if result.ciphers_enumerated and Version.TLS1_3 in result.suites and not result.tls13_enumerated:
        out.append(
            _f(
                "TLS-PROBE-CIPHER",
                Status.WARN,
                Severity.LOW,
                "TLS 1.3 suites not enumerated (openssl command not found); only the negotiated one is listed",
                t,
            )
        )
    out += _chain_findings(result, now=now, warn_days=warn_days, expected=expected, ca=ca)
    out += _client_cert_findings(result)
    out += _anonymous_findings(result)
    return out


def _chain_findings(
    result: ProbeResult, *, now: dt.datetime, warn_days: int, expected: OnDisk | None, ca: OnDisk | None
) -> list[Finding]:
    t = result.target
    out: list[Finding] = []
    if not result.chain:
        if any(result.versions.values()):
            out.append(
                _f(
                    "TLS-PROBE-CERT",
                    Status.WARN,
                    Severity.HIGH,
                    "no server certificate seen in any handshake (anonymous suites only, or none this client could complete)",
                    t,
                )
            )
        return out
    leaf = result.chain[0]
    facts = pki.cert_facts(leaf)
    verdict, why = pki.validity(leaf, now, warn_days)
    status = validity_status(verdict)
    out.append(
        _f("TLS-PROBE-CERT", status, Severity.HIGH, f"served certificate {facts.subject_cn!r}: {why}", t)
    )
    weak = facts.key.weakness
    out.append(
        _f(
            "TLS-PROBE-CERT",
            Status.FAIL if weak else Status.PASS,
            Severity.HIGH,
            f"served certificate key: {weak or facts.key.label}",
            t,
        )
    )
    sig = pki.signature_weakness(leaf)
    out.append(
        _f(
            "TLS-PROBE-CERT",
            Status.FAIL if sig else Status.PASS,
            Severity.HIGH,
            f"served certificate signature: {facts.signature_algorithm}" + (f" ({sig})" if sig else ""),
            t,
        )
    )
    name = t.host
    try:
        ip = ipaddress.ip_address(name)
        missing = pki.missing_names(facts.sans, [], [str(ip)])
    except ValueError:
        missing = pki.missing_names(facts.sans, [name], [])
    out.append(
        _f(
            "TLS-PROBE-NAME",
            Status.FAIL if missing else Status.PASS,
            Severity.MEDIUM,
            f"served certificate does not cover {name} (SANs: {', '.join(facts.sans.all) or 'none'})"
            if missing
            else f"served certificate covers {name}",
            t,
        )
    )
    if expected is not None:
        disk = expected.certs[0]
        same = disk.fingerprint(hashes.SHA256()) == leaf.fingerprint(hashes.SHA256())
        out.append(
            _f(
                "TLS-PROBE-CHAIN",
                Status.PASS if same else Status.FAIL,
                Severity.HIGH,
                f"served certificate is {expected.name}"
                if same
                else f"served certificate (serial {facts.serial}, {facts.subject_cn!r}) is not {expected.name} "
                f"(serial {disk.serial_number:x}, {pki.common_name(disk.subject)!r}): the server has not been restarted "
                "since the file changed, or serves another file",
                t,
                value=expected.name,
            )
        )
    if ca is not None:
        ok, why = pki.verify_chain(leaf, list(ca.certs), result.chain[1:], now)
        out.append(
            _f(
                "TLS-PROBE-CHAIN",
                Status.PASS if ok else Status.FAIL,
                Severity.HIGH,
                f"served chain verifies with {ca.name}: {why}"
                if ok
                else f"served chain does not verify with {ca.name}: {why}",
                t,
                value=ca.name,
            )
        )
    return out


def _client_cert_findings(result: ProbeResult) -> list[Finding]:
    t = result.target
    cas = f" (acceptable CAs: {', '.join(result.client_ca_names)})" if result.client_ca_names else ""
    cc = result.client_cert
    if cc is ClientCert.REQUIRED:
        return [
            _f(
                "TLS-PROBE-CLIENT-CERT",
                Status.PASS,
                Severity.MEDIUM,
                f"client certificate required{cas}",
                t,
                value=cc.value,
            )
        ]
    if cc is ClientCert.REQUESTED:
        return [
            _f(
                "TLS-PROBE-CLIENT-CERT",
                Status.PASS,
                Severity.MEDIUM,
                f"client certificate requested, not required{cas}; the API server does this when --client-ca-file is set",
                t,
                value=cc.value,
                benchmarks={"cis-1.12": "1.2.25"},
            )
        ]
    if cc is ClientCert.NOT_REQUESTED:
        return [
            _f(
                "TLS-PROBE-CLIENT-CERT",
                Status.FAIL,
                Severity.MEDIUM,
                "no client certificate requested: x509 client authentication is off",
                t,
                value=cc.value,
                benchmarks={"cis-1.12": "1.2.25"},
                remediation="Set --client-ca-file on the API server (etcd: --client-cert-auth=true with --trusted-ca-file).",
            )
        ]
    if any(result.versions.values()):
        return [
            _f(
                "TLS-PROBE-CLIENT-CERT",
                Status.WARN,
                Severity.MEDIUM,
                "could not tell whether a client certificate is requested",
                t,
            )
        ]
    return []


def _anonymous_findings(result: ProbeResult) -> list[Finding]:
    t = result.target
    out: list[Finding] = []
    for path, code in result.anonymous.items():
        if isinstance(code, str):
            out.append(
                _f("TLS-PROBE-ANON", Status.WARN, Severity.MEDIUM, f"GET {path}: {code}", t, value=path)
            )
            continue
        status, severity, why = _judge_anonymous(path, code)
        out.append(
            _f(
                "TLS-PROBE-ANON",
                status,
                severity,
                f"GET {path} without credentials: {code} ({why})",
                t,
                value=path,
                detail=str(code),
                benchmarks={"cis-1.12": "1.2.1"},
                remediation=""
                if status is Status.PASS
                else "Turn anonymous access off outside the health endpoints: an AuthenticationConfiguration with "
                "anonymous.conditions on /livez, /readyz and /healthz (API server 1.32+), or --anonymous-auth=false.",
            )
        )
    return out


_HEALTH = ("/livez", "/readyz", "/healthz")


def _judge_anonymous(path: str, code: int) -> tuple[Status, Severity, str]:
    if path in _HEALTH:
        if 200 <= code < 400:
            return Status.PASS, Severity.INFO, "health endpoint open to probes, as intended"
        if code == 401:
            return (
                Status.PASS,
                Severity.INFO,
                "anonymous is off here too: unauthenticated kubelet probes will fail",
            )
        return Status.PASS, Severity.INFO, "health endpoint refused"
    if code == 401:
        return Status.PASS, Severity.HIGH, "not authenticated: anonymous access is off"
    if code == 403:
        return Status.FAIL, Severity.LOW, "authenticated as system:anonymous, then denied by authorization"
    if 200 <= code < 300:
        sev = Severity.CRITICAL if path.startswith("/api/v1/") else Severity.MEDIUM
        return Status.FAIL, sev, "allowed for system:anonymous"
    return Status.PASS, Severity.LOW, "not served"
