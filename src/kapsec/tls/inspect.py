"""``kapsec tls inspect``: every certificate and key a control plane references, checked.

This module is the I/O edge of the TLS package: it finds the files (the API server and etcd
manifests' flags, the kubeconfigs' embedded credentials, everything under the PKI directory),
reads them and their modes, and turns the pure checks of :mod:`kapsec.tls.pki` into findings.
Which CA each flag is verified against mirrors who verifies it in a running cluster:

- ``--tls-cert-file``: the CA that clients trust, i.e. the kubeconfigs' ``certificate-authority-data``
  (``--client-ca-file`` when no kubeconfig is found; kubeadm signs both with one CA);
- kubeconfig client certificates: ``--client-ca-file`` (the API server's x509 authenticator,
  ``staging/src/k8s.io/apiserver/pkg/authentication/request/x509/x509.go``);
- ``--kubelet-client-certificate``: the kubelet's ``authentication.x509.clientCAFile`` from
  ``var/lib/kubelet/config.yaml`` when present, else ``--client-ca-file``;
- ``--proxy-client-cert-file``: ``--requestheader-client-ca-file``;
- ``--etcd-certfile``: etcd's ``--trusted-ca-file`` when etcd's manifest is present, else ``--etcd-cafile``;
- etcd's ``--cert-file``: the API server's ``--etcd-cafile``; ``--peer-cert-file``: ``--peer-trusted-ca-file``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import os
import stat
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from kapsec.errors import InputError
from kapsec.model.findings import Evidence, Finding, Severity, Status
from kapsec.tls import pki
from kapsec.tls._common import finding, validity_status
from kapsec.tls.manifest import Flag, PodFlags, etcd_config_flags, read_pod_flags

APISERVER_MANIFEST = "etc/kubernetes/manifests/kube-apiserver.yaml"
ETCD_MANIFESTS = ("etc/kubernetes/manifests/etcd.yaml", "var/lib/rancher/rke2/agent/pod-manifests/etcd.yaml")
PKI_DIR = "etc/kubernetes/pki"
# Where certificates live without a flag naming each one: kubeadm's PKI dir and RKE2's.
PKI_DIRS = (PKI_DIR, "var/lib/rancher/rke2/server/tls")
# kubeadm's kubeconfigs, RKE2's and k3s's.
KUBECONFIG_GLOBS = (
    "etc/kubernetes/*.conf",
    "etc/rancher/rke2/rke2.yaml",
    "var/lib/rancher/rke2/server/cred/*.kubeconfig",
    "etc/rancher/k3s/k3s.yaml",
)
KUBELET_CONFIG = "var/lib/kubelet/config.yaml"

CERT_MODE_MAX = 0o644
KEY_MODE_MAX = 0o600
KUBECONFIG_MODE_MAX = 0o600

# CIS 1.12 ids for the kubeconfig permission items (1.1.13, 1.1.15, 1.1.17).
_KUBECONFIG_CIS = {
    "admin.conf": "1.1.13",
    "super-admin.conf": "1.1.13",
    "scheduler.conf": "1.1.15",
    "controller-manager.conf": "1.1.17",
}


@dataclass(frozen=True)
class Source:
    """A certificate or key: a file (``path``) or bytes embedded in a kubeconfig (``data``)."""

    display: str
    path: Path | None = None
    data: bytes | None = None
    error: str | None = None  # why the embedded data cannot be used (e.g. not base64)

    def read(self) -> bytes:
        if self.error is not None:
            raise InputError(self.error, file=self.display)
        if self.data is not None:
            return self.data
        assert self.path is not None
        try:
            return self.path.read_bytes()
        except FileNotFoundError as exc:
            raise InputError("file not found", file=self.display) from exc
        except IsADirectoryError as exc:
            raise InputError("is a directory, not a file", file=self.display) from exc
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", file=self.display) from exc


@dataclass(frozen=True)
class Ref:
    """Why a file is inspected: the flag (with its manifest and line) or directory that names it."""

    role: str
    flag: str | None = None
    file: str | None = None
    line: int | None = None


@dataclass
class CertTarget:
    source: Source
    refs: list[Ref] = field(default_factory=list)
    key: Source | None = None
    cas: list[tuple[Source, str]] = field(default_factory=list)  # (CA, which flag/config names it)
    sans: tuple[list[str], list[str], list[str]] | None = None  # (dns, ips, problems)
    must_be_ca: bool = False
    issuer_lookup: bool = True  # without named CAs, look the issuer up among the CA files found
    usages: set[str] = field(default_factory=set)  # extended key usages its role needs
    server_names: list[tuple[str, str]] = field(default_factory=list)  # (host, kubeconfig that dials it)


@dataclass
class KeyTarget:
    source: Source
    refs: list[Ref] = field(default_factory=list)


@dataclass
class Plan:
    """Everything to inspect, keyed by display path (a file named twice is inspected once)."""

    certs: dict[str, CertTarget] = field(default_factory=dict)
    keys: dict[str, KeyTarget] = field(default_factory=dict)
    kubeconfigs: dict[str, Path] = field(default_factory=dict)
    sa_pairs: list[tuple[Source, list[Source], Ref]] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    extra_anchors: list[Source] = field(default_factory=list)  # CAs to try for unreferenced certs
    kubeconfig_servers: list[tuple[str, str]] = field(default_factory=list)  # (host, kubeconfig)

    def cert(self, source: Source, ref: Ref) -> CertTarget:
        target = self.certs.setdefault(source.display, CertTarget(source))
        if ref not in target.refs:
            target.refs.append(ref)
        return target

    def key(self, source: Source, ref: Ref) -> KeyTarget:
        target = self.keys.setdefault(source.display, KeyTarget(source))
        if ref not in target.refs:
            target.refs.append(ref)
        return target


@dataclass(frozen=True)
class CertRow:
    """One certificate, as the table and ``-o json`` show it."""

    file: str
    index: int
    roles: tuple[str, ...]
    facts: pki.CertFacts
    status: Status

    def to_dict(self, now: dt.datetime) -> dict[str, Any]:
        f = self.facts
        return {
            "file": self.file,
            "index": self.index,
            "roles": list(self.roles),
            "subject": f.subject,
            "issuer": f.issuer,
            "serial": f.serial,
            "notBefore": pki.utc_iso(f.not_before),
            "notAfter": pki.utc_iso(f.not_after),
            "daysLeft": f.days_left(now),
            "key": f.key.label,
            "signatureAlgorithm": f.signature_algorithm,
            "dnsNames": list(f.sans.dns),
            "ipAddresses": list(f.sans.ips),
            "isCA": f.is_ca,
            "selfSigned": f.self_signed,
            "sha256": f.sha256,
            "status": self.status.value,
        }


@dataclass(frozen=True)
class InspectResult:
    rows: list[CertRow]
    findings: list[Finding]


# --- the interface other packages use ----------------------------------------------------------


def certificate_status(
    cert_path: str,
    *,
    key_path: str | None = None,
    ca_path: str | None = None,
    now: datetime | None = None,
    warn_days: int = 30,
) -> tuple[Status, str]:
    """pass/fail/warn for one certificate file, with a one-line reason.

    fail: expired, not yet valid, key does not match, not signed by the CA;
    warn: unreadable (cert, key or CA), expires within ``warn_days``; pass otherwise.
    """
    now = now or dt.datetime.now(dt.UTC)
    try:
        certs = pki.load_certificates(Source(cert_path, Path(cert_path)).read())
    except (InputError, pki.PkiError) as exc:
        return Status.WARN, f"certificate unreadable: {_why(exc)}"
    cert = certs[0]
    verdict, reason = pki.validity(cert, now, warn_days)
    if verdict is pki.Verdict.BAD:
        return Status.FAIL, reason
    if key_path is not None:
        try:
            key = pki.load_private_key(Source(key_path, Path(key_path)).read())
        except (InputError, pki.PkiError) as exc:
            return Status.WARN, f"key unreadable: {_why(exc)}"
        if not pki.keys_match(pki.cert_public_key(cert), key):
            return Status.FAIL, f"key {key_path} does not match the certificate"
    if ca_path is not None:
        try:
            anchors = pki.load_certificates(Source(ca_path, Path(ca_path)).read())
        except (InputError, pki.PkiError) as exc:
            return Status.WARN, f"CA unreadable: {_why(exc)}"
        ok, why = pki.verify_chain(cert, anchors, certs[1:], now)
        if not ok:
            return Status.FAIL, f"not signed by CA {ca_path}: {why}"
    if verdict is pki.Verdict.SOON:
        return Status.WARN, reason
    return Status.PASS, reason


def _unreadable(display: str, exc: Exception, refs: Sequence[Ref]) -> str:
    """Why a file cannot be used; for a file a flag names, what that does to the component."""
    message = f"{display}: {_why(exc)}"
    flag = next((ref.flag for ref in refs if ref.flag), None)
    if flag is not None and _why(exc) == "file not found":
        message += f" (the component whose {flag} names it exits at start without it)"
    return message


def _why(exc: Exception) -> str:
    return exc.message if isinstance(exc, InputError) else str(exc)


# --- collecting what to inspect ----------------------------------------------------------------


class _Root:
    def __init__(self, root: Path) -> None:
        self.root = root

    def source(self, host_path: str) -> Source:
        rel = host_path.lstrip("/")
        return Source("/" + rel, self.root / rel)


def collect_root(root: Path, *, cluster_domain: str | None = None) -> Plan:
    """What a control-plane tree under ``root`` references, and everything under its PKI dir."""
    if not root.is_dir():
        raise InputError("not a directory", file=str(root))
    r = _Root(root)
    plan = Plan()
    api = _load_apiserver(root, plan)
    etcd = next(
        (pod for rel in ETCD_MANIFESTS if (pod := _read_manifest(root, rel, "etcd", plan)) is not None), None
    )
    if etcd is not None:
        etcd = _etcd_config_file(root, etcd)
    kubeconfig_cas, kubeconfig_clients = _collect_kubeconfigs(root, plan, r)
    kubelet_ca = _kubelet_client_ca(root, r)

    def src(pod: PodFlags, name: str, flag: Flag | None = None) -> tuple[Source, Ref] | None:
        flag = flag or pod.get(name)
        if flag is None or not flag.value:
            return None
        ref = Ref(_ROLES.get(name, name), name, pod.file, flag.line)
        host = pod.host_path(flag.value)
        if host is None:
            note = finding(
                "TLS-FILE-READ",
                Status.WARN,
                Severity.MEDIUM,
                f"{name}={flag.value}: not on a hostPath mount of the pod, so not readable from the node",
                Evidence(file=pod.file, line=flag.line, flag=name, value=flag.value),
            )
            if note not in plan.notes:
                plan.notes.append(note)
            return None
        return r.source(host), ref

    def add_ca(pod: PodFlags | None, name: str) -> tuple[Source, str] | None:
        if pod is None:
            return None
        found = src(pod, name)
        if found is None:
            return None
        plan.cert(found[0], found[1]).must_be_ca = True
        return found[0], name

    def add_pair(
        pod: PodFlags,
        cert_flag: str,
        key_flag: str,
        cas: Sequence[tuple[Source, str] | None],
        usages: tuple[str, ...] = ("clientAuth",),
    ) -> CertTarget | None:
        found = src(pod, cert_flag)
        key = src(pod, key_flag)
        if key is not None:
            plan.key(*key)
        if found is None:
            return None
        target = plan.cert(*found)
        target.usages.update(usages)
        if key is not None:
            target.key = key[0]
        for ca in cas:
            if ca is not None and ca not in target.cas:
                target.cas.append(ca)
        return target

    client_ca = add_ca(api, "--client-ca-file")
    requestheader_ca = add_ca(api, "--requestheader-client-ca-file")
    etcd_ca = add_ca(api, "--etcd-cafile")
    kubelet_ca_flag = add_ca(api, "--kubelet-certificate-authority")
    add_ca(api, "--oidc-ca-file")
    etcd_trusted = add_ca(etcd, "--trusted-ca-file")
    etcd_peer_ca = add_ca(etcd, "--peer-trusted-ca-file")

    if api is not None:
        _half_serving_pair(api, plan)
        # Clients verify the serving certificate with their kubeconfig's CA; without kubeconfigs the
        # issuer is looked up among the CA files found (kubeadm signs it with the client CA, RKE2 not).
        serving = add_pair(
            api, "--tls-cert-file", "--tls-private-key-file", list(kubeconfig_cas), usages=("serverAuth",)
        )
        if serving is not None:
            cidr = api.get("--service-cluster-ip-range")
            domain = cluster_domain or _kubelet_cluster_domain(root) or "cluster.local"
            serving.sans = pki.apiserver_required_names(
                domain, cidr.value if cidr else None, _advertise_address(api)
            )
            serving.server_names = list(plan.kubeconfig_servers)
        _sni_pairs(api, plan, r)
        add_pair(api, "--kubelet-client-certificate", "--kubelet-client-key", [kubelet_ca or client_ca])
        add_pair(api, "--proxy-client-cert-file", "--proxy-client-key-file", [requestheader_ca])
        add_pair(api, "--etcd-certfile", "--etcd-keyfile", [etcd_trusted or etcd_ca])
        signing = src(api, "--service-account-signing-key-file")
        # repeatable (key rotation), and each file may hold several keys
        verifiers = [
            found[0]
            for flag in api.get_all("--service-account-key-file")
            if (found := src(api, "--service-account-key-file", flag)) is not None
        ]
        if signing is not None:
            plan.key(*signing)
            if verifiers:
                plan.sa_pairs.append((signing[0], verifiers, signing[1]))
    if etcd is not None:
        add_pair(etcd, "--cert-file", "--key-file", [etcd_ca or etcd_trusted], usages=("serverAuth",))
        # peers dial each other with the same certificate they serve with
        add_pair(
            etcd, "--peer-cert-file", "--peer-key-file", [etcd_peer_ca], usages=("serverAuth", "clientAuth")
        )

    for target in kubeconfig_clients:
        target.usages.add("clientAuth")
        if client_ca is not None and client_ca not in target.cas:
            target.cas.append(client_ca)

    _kubelet_serving(root, plan, kubelet_ca_flag)
    _collect_pki_dir(root, plan, r)
    if not plan.certs and not plan.keys and not plan.kubeconfigs:
        raise InputError(
            "nothing to inspect: no API server manifest, kubeconfig, or PKI directory "
            f"({', '.join('/' + d for d in PKI_DIRS)}) under this root",
            file=str(root),
        )
    return plan


def _sni_pairs(api: PodFlags, plan: Plan, r: _Root) -> None:
    """``--tls-sni-cert-key cert,key[:name,...]`` (repeatable; parsed like component-base's
    ``NamedCertKey``): each pair is a serving certificate that must cover the names it is chosen for."""
    for flag in api.get_all("--tls-sni-cert-key"):
        files, _, names_text = flag.value.partition(":")
        parts = files.split(",")
        ev = Evidence(file=api.file, line=flag.line, flag=flag.name, value=flag.value)
        if len(parts) != 2 or not all(parts):
            plan.notes.append(
                finding(
                    "TLS-KEY-PAIR",
                    Status.FAIL,
                    Severity.CRITICAL,
                    f"--tls-sni-cert-key {flag.value!r}: expected certfile,keyfile[:names]; "
                    "the API server rejects the flag",
                    ev,
                )
            )
            continue
        sources = []
        for path in parts:
            host = api.host_path(path.strip())
            if host is None:
                plan.notes.append(
                    finding(
                        "TLS-FILE-READ",
                        Status.WARN,
                        Severity.MEDIUM,
                        f"--tls-sni-cert-key {path}: not on a hostPath mount of the pod, so not readable from the node",
                        ev,
                    )
                )
                break
            sources.append(r.source(host))
        if len(sources) != 2:
            continue
        ref = Ref("API server SNI serving certificate", flag.name, api.file, flag.line)
        target = plan.cert(sources[0], ref)
        target.key = sources[1]
        target.usages.add("serverAuth")
        plan.key(sources[1], Ref("API server SNI serving key", flag.name, api.file, flag.line))
        names = [n.strip() for n in names_text.split(",") if n.strip()]
        if names:
            target.sans = (names, [], [])


def _half_serving_pair(api: PodFlags, plan: Plan) -> None:
    """A serving certificate without its key (or the reverse) stops the API server at start:
    ``NewDynamicServingContentFromFiles`` in ``staging/src/k8s.io/apiserver/pkg/server/dynamiccertificates``
    ("missing filename for serving cert", recorded in oracle-1.36/config-errors, tls-cert-without-key)."""
    cert, key = api.get("--tls-cert-file"), api.get("--tls-private-key-file")
    has_cert, has_key = bool(cert and cert.value), bool(key and key.value)
    if has_cert == has_key:
        return
    present, absent = (
        ("--tls-cert-file", "--tls-private-key-file")
        if has_cert
        else ("--tls-private-key-file", "--tls-cert-file")
    )
    flag = cert if has_cert else key
    assert flag is not None
    plan.notes.append(
        finding(
            "TLS-KEY-PAIR",
            Status.FAIL,
            Severity.CRITICAL,
            f"{present} is set without {absent}: the API server exits at start with "
            '"missing filename for serving cert"',
            Evidence(file=api.file, line=flag.line, flag=present, value=flag.value),
            remediation=f"Set {absent} too (kubeadm: /etc/kubernetes/pki/apiserver.crt and apiserver.key).",
        )
    )


def _specified_ip(flag: Flag | None) -> str | None:
    if flag is None or not flag.value:
        return None
    try:
        ip = ipaddress.ip_address(flag.value)
    except ValueError:
        return flag.value  # reported as "not an IP address" by the SAN check
    return None if ip.is_unspecified else flag.value


def _advertise_address(api: PodFlags) -> str | None:
    """--advertise-address, else a specific --bind-address (the API server's own fallback,
    ``ServerRunOptions.DefaultAdvertiseAddress``); None when it would pick an interface at start."""
    return _specified_ip(api.get("--advertise-address")) or _specified_ip(api.get("--bind-address"))


KUBELET_SERVING = "var/lib/kubelet/pki/kubelet"


def _kubelet_serving(root: Path, plan: Plan, kubelet_ca: tuple[Source, str] | None) -> None:
    """This node's kubelet serving certificate, which the API server verifies with
    --kubelet-certificate-authority (kubeadm's default self-signed one cannot be: CIS 1.2.5)."""
    crt, key = root / f"{KUBELET_SERVING}.crt", root / f"{KUBELET_SERVING}.key"
    if not crt.is_file():
        return
    ref = Ref("kubelet serving certificate", None, "/var/lib/kubelet/pki")
    target = plan.cert(Source(f"/{KUBELET_SERVING}.crt", crt), ref)
    target.issuer_lookup = False
    target.usages.add("serverAuth")
    if kubelet_ca is not None and kubelet_ca not in target.cas:
        target.cas.append(kubelet_ca)
    if key.is_file():
        target.key = Source(f"/{KUBELET_SERVING}.key", key)
        plan.key(target.key, Ref("kubelet serving key", None, "/var/lib/kubelet/pki"))


_ROLES = {
    "--tls-cert-file": "API server serving certificate",
    "--tls-private-key-file": "API server serving key",
    "--client-ca-file": "client CA",
    "--requestheader-client-ca-file": "front-proxy CA",
    "--etcd-cafile": "etcd CA (API server side)",
    "--kubelet-certificate-authority": "kubelet CA",
    "--oidc-ca-file": "OIDC issuer CA",
    "--kubelet-client-certificate": "API server client certificate for kubelets",
    "--kubelet-client-key": "API server client key for kubelets",
    "--proxy-client-cert-file": "front-proxy client certificate",
    "--proxy-client-key-file": "front-proxy client key",
    "--etcd-certfile": "API server client certificate for etcd",
    "--etcd-keyfile": "API server client key for etcd",
    "--service-account-signing-key-file": "service-account signing key",
    "--service-account-key-file": "service-account verification key",
    "--trusted-ca-file": "etcd client CA",
    "--peer-trusted-ca-file": "etcd peer CA",
    "--cert-file": "etcd serving certificate",
    "--key-file": "etcd serving key",
    "--peer-cert-file": "etcd peer certificate",
    "--peer-key-file": "etcd peer key",
}


def _load_apiserver(root: Path, plan: Plan) -> PodFlags | None:
    """The API server's flags through the shared model (``kapsec.sources.apiserver``)."""
    from kapsec.sources import apiserver as sources_apiserver

    try:
        rel = sources_apiserver.find_manifest_under(str(root))
    except InputError as exc:
        plan.notes.append(
            finding(
                "TLS-FILE-READ",
                Status.WARN,
                Severity.MEDIUM,
                f"{exc.message}; only the PKI directory and kubeconfigs are inspected",
                Evidence(file="/" + APISERVER_MANIFEST),
            )
        )
        return None
    cfg = sources_apiserver.load(root=str(root))
    flags: dict[str, Flag] = {}
    repeated: dict[str, list[Flag]] = {}
    for occ in cfg.occurrences:
        flag = Flag(f"--{occ.name}", occ.value, occ.loc.line)
        flags[flag.name] = flag
        repeated.setdefault(flag.name, []).append(flag)
    return PodFlags(cfg.file or "/" + rel, flags, resolver=cfg.host_path, repeated=repeated)


def _read_manifest(root: Path, rel: str, binary: str, plan: Plan) -> PodFlags | None:
    path = root / rel
    shown = "/" + rel
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=shown) from exc
    pod = read_pod_flags(text, shown, binary)
    if pod is None:
        plan.notes.append(
            finding(
                "TLS-FILE-READ",
                Status.WARN,
                Severity.MEDIUM,
                f"{shown}: no {binary} container found in the manifest",
                Evidence(file=shown),
            )
        )
    return pod


def _etcd_config_file(root: Path, etcd: PodFlags) -> PodFlags:
    """etcd started with ``--config-file`` (RKE2) takes its TLS settings from that file only."""
    flag = etcd.get("--config-file")
    if flag is None or not flag.value:
        return etcd
    host = etcd.host_path(flag.value) or flag.value
    rel = host.lstrip("/")
    path = root / rel
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return PodFlags(etcd.file, {}, etcd.mounts)  # nothing to read: no flag-named files
    return PodFlags("/" + rel, etcd_config_flags(text, "/" + rel), ())


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _kubelet_config(root: Path) -> dict[str, Any]:
    data = _load_yaml(root / KUBELET_CONFIG)
    return data if isinstance(data, dict) else {}


def _kubelet_cluster_domain(root: Path) -> str | None:
    value = _kubelet_config(root).get("clusterDomain")
    return value if isinstance(value, str) and value else None


def _kubelet_client_ca(root: Path, r: _Root) -> tuple[Source, str] | None:
    authn = _kubelet_config(root).get("authentication")
    x509_cfg = authn.get("x509") if isinstance(authn, dict) else None
    path = x509_cfg.get("clientCAFile") if isinstance(x509_cfg, dict) else None
    if isinstance(path, str) and path:
        return r.source(path), "kubelet clientCAFile"
    return None


def _collect_kubeconfigs(
    root: Path, plan: Plan, r: _Root
) -> tuple[list[tuple[Source, str]], list[CertTarget]]:
    """Client certificates and keys of ``etc/kubernetes/*.conf``; returns their CAs and client certs."""
    cas: list[tuple[Source, str]] = []
    clients: list[CertTarget] = []
    for path in sorted({p for pattern in KUBECONFIG_GLOBS for p in root.glob(pattern) if p.is_file()}):
        rel = "/" + path.relative_to(root).as_posix()
        plan.kubeconfigs[rel] = path
        data = _load_yaml(path)
        if not isinstance(data, dict):
            plan.notes.append(
                finding(
                    "TLS-FILE-READ",
                    Status.WARN,
                    Severity.LOW,
                    f"{rel}: not a readable kubeconfig",
                    Evidence(file=rel),
                )
            )
            continue
        for i, cluster in enumerate(data.get("clusters") or []):
            body = cluster.get("cluster") if isinstance(cluster, dict) else None
            if not isinstance(body, dict):
                continue
            name = cluster.get("name", i)
            host = _server_host(body.get("server"))
            if host is not None and (host, rel) not in plan.kubeconfig_servers:
                plan.kubeconfig_servers.append((host, rel))
            source = _embedded(rel, f"clusters[{name}].certificate-authority-data", body, r, path)
            if source is not None:
                ref = Ref("CA trusted by kubeconfig clients", None, rel)
                target = plan.cert(source, ref)
                target.must_be_ca = True
                if source.data is None or all(s.data != source.data for s, _ in cas):
                    cas.append((source, f"{rel} certificate-authority-data"))
        for i, user in enumerate(data.get("users") or []):
            body = user.get("user") if isinstance(user, dict) else None
            if not isinstance(body, dict):
                continue
            name = user.get("name", i)
            cert = _embedded(rel, f"users[{name}].client-certificate-data", body, r, path)
            key = _embedded(rel, f"users[{name}].client-key-data", body, r, path)
            if cert is not None:
                target = plan.cert(cert, Ref(f"kubeconfig client certificate ({name})", None, rel))
                target.key = key
                clients.append(target)
            if key is not None:
                plan.key(key, Ref(f"kubeconfig client key ({name})", None, rel))
    return cas, clients


def _server_host(server: Any) -> str | None:
    """The host a kubeconfig's ``server: https://HOST:PORT`` dials (brackets of IPv6 removed)."""
    if not isinstance(server, str) or not server:
        return None
    try:
        host = urllib.parse.urlsplit(server).hostname
    except ValueError:
        return None
    return host or None


def _embedded(rel: str, field_path: str, body: dict[str, Any], r: _Root, conf: Path) -> Source | None:
    """The ``*-data`` field (base64 PEM) or its file-path twin of a kubeconfig entry."""
    data_key = field_path.rsplit(".", 1)[1]
    value = body.get(data_key)
    if isinstance(value, str) and value:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            return Source(f"{rel}#{field_path}", None, b"", error=f"not valid base64 ({exc})")
        return Source(f"{rel}#{field_path}", None, raw)
    file_key = data_key.removesuffix("-data")
    path = body.get(file_key)
    if isinstance(path, str) and path:
        if path.startswith("/"):
            return r.source(path)
        host = (conf.parent / path).resolve()
        try:
            return Source("/" + host.relative_to(r.root.resolve()).as_posix(), host)
        except ValueError:
            return Source(path, host)
    return None


def _collect_pki_dir(root: Path, plan: Plan, r: _Root) -> None:
    for pki_rel in PKI_DIRS:
        pki_dir = root / pki_rel
        if not pki_dir.is_dir():
            continue
        for path in sorted(p for p in pki_dir.rglob("*") if p.is_file()):
            rel = "/" + path.relative_to(root).as_posix()
            if rel in plan.certs or rel in plan.keys:
                continue
            _classify_file(
                plan,
                Source(rel, path),
                Ref("found in the PKI directory", None, "/" + pki_rel),
                explicit=False,
            )
    _pair_by_name(plan)


_PKI_SUFFIXES = (".crt", ".pem", ".key", ".cer", ".pub")


def _classify_file(plan: Plan, source: Source, ref: Ref, *, explicit: bool) -> None:
    """Add ``source`` to the plan by content; a file that is none of cert/key is noted when it should be."""
    try:
        data = source.read()
    except InputError as exc:
        plan.notes.append(
            finding("TLS-FILE-READ", Status.WARN, Severity.MEDIUM, str(exc), Evidence(file=source.display))
        )
        return
    kinds = {b.kind for b in pki.pem_blocks(data)}
    if pki.PemKind.CERTIFICATE in kinds or (
        data[:1] == b"\x30" and source.display.endswith((".crt", ".der", ".cer"))
    ):
        target = plan.cert(source, ref)
        if pki.PemKind.PRIVATE_KEY in kinds:  # certificate and key in one file (kubelet-client-*.pem)
            plan.key(source, ref)
            target.key = target.key or source
    elif pki.PemKind.PRIVATE_KEY in kinds:
        plan.key(source, ref)
    elif pki.PemKind.PUBLIC_KEY in kinds:
        plan.notes.append(_mode_finding(source, 0o644, "public key", None))
    elif explicit or source.display.endswith(_PKI_SUFFIXES):
        plan.notes.append(
            finding(
                "TLS-FILE-READ",
                Status.WARN,
                Severity.MEDIUM,
                f"{source.display}: neither a PEM certificate nor a PEM private key",
                Evidence(file=source.display),
            )
        )


def _pair_by_name(plan: Plan) -> None:
    """Pair ``x.crt`` with ``x.key`` (kubeadm) and ``x.pem`` with ``x-key.pem`` (cfssl)."""
    for target in plan.certs.values():
        if target.key is not None or target.source.path is None:
            continue
        path = target.source.path
        for candidate in (path.with_suffix(".key"), path.with_name(path.stem + "-key.pem")):
            for key in plan.keys.values():
                if key.source.path == candidate:
                    target.key = key.source
                    break
            if target.key is not None:
                break


def collect_files(paths: Sequence[Path], *, ca: Path | None = None) -> Plan:
    """Explicit files and directories: classified by content, keys paired with certs by name."""
    plan = Plan()
    for top in paths:
        if not top.exists():
            raise InputError("no such file or directory", file=str(top))
        files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
        for path in files:
            _classify_file(
                plan, Source(path.as_posix(), path), Ref("named on the command line"), explicit=top == path
            )
    _pair_by_name(plan)
    if not plan.certs and not plan.keys and not plan.notes:
        raise InputError("no files to inspect", file=", ".join(str(p) for p in paths))
    if ca is not None:
        anchor = Source(ca.as_posix(), ca)
        for target in plan.certs.values():
            if target.source.display != anchor.display:
                target.cas.append((anchor, "--ca"))
    return plan


# --- running the checks ------------------------------------------------------------------------


def _evidence(display: str, refs: Sequence[Ref], detail: str | None = None) -> Evidence:
    flagged = next((ref for ref in refs if ref.flag), None)
    roles = ", ".join(dict.fromkeys(ref.role for ref in refs)) or None
    if flagged is not None:
        return Evidence(
            file=flagged.file, line=flagged.line, flag=flagged.flag, value=display, detail=detail or roles
        )
    return Evidence(
        file=display.split("#", 1)[0], value=display if "#" in display else None, detail=detail or roles
    )


def _mode_finding(source: Source, max_mode: int, what: str, refs: Sequence[Ref] | None) -> Finding:
    assert source.path is not None
    display = source.display
    benchmarks: dict[str, str] = {}
    if display.startswith(tuple(f"/{d}/" for d in PKI_DIRS)) and display.endswith((".crt", ".key")):
        benchmarks = {"cis-1.12": "1.1.21" if display.endswith(".key") else "1.1.20"}
    elif display.rsplit("/", 1)[-1] in _KUBECONFIG_CIS and display.startswith("/etc/kubernetes/"):
        benchmarks = {"cis-1.12": _KUBECONFIG_CIS[display.rsplit("/", 1)[-1]]}
    evidence = Evidence(file=display, detail=what)
    try:
        mode = stat.S_IMODE(os.stat(source.path).st_mode)
    except OSError as exc:
        return finding(
            "TLS-FILE-MODE",
            Status.WARN,
            Severity.MEDIUM,
            f"{display}: cannot stat: {exc.strerror}",
            evidence,
            benchmarks=benchmarks,
        )
    evidence = Evidence(file=display, value=f"{mode:o}", detail=what)
    if mode & ~max_mode:
        return finding(
            "TLS-FILE-MODE",
            Status.FAIL,
            Severity.HIGH if max_mode == KEY_MODE_MAX and mode & 0o004 else Severity.MEDIUM,
            f"{display}: {what} has mode {mode:o}, more permissive than {max_mode:o}",
            evidence,
            benchmarks=benchmarks,
            remediation=f"chmod {max_mode:o} {display}",
        )
    return finding(
        "TLS-FILE-MODE",
        Status.PASS,
        Severity.MEDIUM,
        f"{display}: {what} has mode {mode:o} (at most {max_mode:o})",
        evidence,
        benchmarks=benchmarks,
    )


def run(plan: Plan, *, now: dt.datetime | None = None, warn_days: int = 30) -> InspectResult:
    """Every check on every target of ``plan``."""
    now = now or dt.datetime.now(dt.UTC)
    findings: list[Finding] = list(plan.notes)
    rows: list[CertRow] = []
    loaded: dict[str, list[x509.Certificate] | None] = {}

    def certs_of(source: Source) -> list[x509.Certificate] | None:
        if source.display not in loaded:
            try:
                loaded[source.display] = pki.load_certificates(source.read())
            except (InputError, pki.PkiError):
                loaded[source.display] = None
        return loaded[source.display]

    anchors_by_subject: dict[bytes, list[x509.Certificate]] = {}
    for target in plan.certs.values():
        for cert in certs_of(target.source) or []:
            if pki.is_ca(cert) or pki.is_self_signed(cert):
                anchors_by_subject.setdefault(cert.subject.public_bytes(), []).append(cert)

    for display, target in plan.certs.items():
        ev = _evidence(display, target.refs)
        try:
            certs = pki.load_certificates(target.source.read())
        except (InputError, pki.PkiError) as exc:
            findings.append(
                finding(
                    "TLS-FILE-READ",
                    Status.WARN,
                    Severity.HIGH,
                    _unreadable(display, exc, target.refs),
                    ev,
                    remediation="Restore the file the flag names, or fix the flag.",
                )
            )
            continue
        if target.source.path is not None:
            findings.append(_mode_finding(target.source, CERT_MODE_MAX, "certificate", target.refs))
        statuses: list[list[Status]] = [[] for _ in certs]
        for index, cert in enumerate(certs):
            label = display if len(certs) == 1 else f"{display}[{index}]"
            statuses[index] += [
                f.status for f in _cert_checks(label, cert, ev, now=now, warn_days=warn_days, out=findings)
            ]
        leaf = certs[0]
        if target.must_be_ca and not pki.is_ca(leaf):
            findings.append(
                finding(
                    "TLS-CERT-CA",
                    Status.FAIL,
                    Severity.HIGH,
                    f"{display}: named as a CA but has no basicConstraints CA:TRUE",
                    ev,
                )
            )
            statuses[0].append(Status.FAIL)
        if target.usages:
            f = _usage_check(display, leaf, frozenset(target.usages), ev)
            findings.append(f)
            statuses[0].append(f.status)
        if target.sans is not None:
            f = _san_check(display, leaf, target.sans, ev)
            findings.append(f)
            statuses[0].append(f.status)
        if target.server_names:
            f = _server_names_check(display, leaf, target.server_names, ev)
            findings.append(f)
            statuses[0].append(f.status)
        if target.key is not None:
            f = _pair_check(display, leaf, target.key, ev)
            findings.append(f)
            statuses[0].append(f.status)
        chain_findings = _chain_checks(
            display, certs, target, ev, now=now, certs_of=certs_of, anchors_by_subject=anchors_by_subject
        )
        findings += chain_findings
        statuses[0] += [f.status for f in chain_findings]
        roles = tuple(dict.fromkeys(ref.role for ref in target.refs))
        for index, cert in enumerate(certs):
            rows.append(CertRow(display, index, roles, pki.cert_facts(cert), _worst(statuses[index])))

    for display, key_target in plan.keys.items():
        ev = _evidence(display, key_target.refs)
        try:
            key = pki.load_private_key(key_target.source.read())
        except (InputError, pki.PkiError) as exc:
            findings.append(
                finding(
                    "TLS-FILE-READ",
                    Status.WARN,
                    Severity.HIGH,
                    _unreadable(display, exc, key_target.refs),
                    ev,
                )
            )
            if key_target.source.path is not None and key_target.source.path.exists():
                findings.append(
                    _mode_finding(key_target.source, KEY_MODE_MAX, "private key", key_target.refs)
                )
            continue
        if key_target.source.path is not None:
            findings.append(_mode_finding(key_target.source, KEY_MODE_MAX, "private key", key_target.refs))
        facts = pki.key_facts(key.public_key())
        weak = facts.weakness
        findings.append(
            finding(
                "TLS-KEY-SIZE",
                Status.FAIL if weak else Status.PASS,
                Severity.HIGH,
                f"{display}: {weak}" if weak else f"{display}: {facts.label}",
                ev,
            )
        )

    for rel, path in plan.kubeconfigs.items():
        findings.append(_mode_finding(Source(rel, path), KUBECONFIG_MODE_MAX, "kubeconfig", None))

    for signing, verifiers, ref in plan.sa_pairs:
        findings.append(_sa_pair_check(signing, verifiers, ref))

    rows.sort(key=lambda row: (row.facts.not_after, row.file, row.index))
    return InspectResult(rows, findings)


_ORDER = {Status.FAIL: 3, Status.WARN: 2, Status.PASS: 1, Status.SKIP: 0}


def _worst(statuses: Sequence[Status]) -> Status:
    return max(statuses, key=_ORDER.__getitem__, default=Status.PASS)


def _cert_checks(
    label: str, cert: x509.Certificate, ev: Evidence, *, now: dt.datetime, warn_days: int, out: list[Finding]
) -> list[Finding]:
    found: list[Finding] = []
    verdict, why = pki.validity(cert, now, warn_days)
    status = validity_status(verdict)
    found.append(
        finding(
            "TLS-CERT-VALIDITY",
            status,
            Severity.HIGH,
            f"{label}: {why}",
            ev,
            remediation=""
            if status is Status.PASS
            else "Renew the certificate (kubeadm: `kubeadm certs renew`).",
        )
    )
    facts = pki.key_facts(pki.cert_public_key(cert))
    weak = facts.weakness
    found.append(
        finding(
            "TLS-CERT-KEY-SIZE",
            Status.FAIL if weak else Status.PASS,
            Severity.HIGH,
            f"{label}: {weak}" if weak else f"{label}: {facts.label}",
            ev,
            remediation="Reissue with an RSA 2048+ or ECDSA P-256+ key." if weak else "",
        )
    )
    sig = pki.signature_weakness(cert)
    algo = pki.signature_algorithm(cert)
    if sig is None:
        found.append(finding("TLS-CERT-SIGNATURE", Status.PASS, Severity.HIGH, f"{label}: {algo}", ev))
    elif pki.is_self_signed(cert):
        found.append(
            finding(
                "TLS-CERT-SIGNATURE",
                Status.FAIL,
                Severity.LOW,
                f"{label}: self-signed with {sig} ({algo}); clients do not check a root's own signature, "
                "but reissue it anyway",
                ev,
            )
        )
    else:
        found.append(
            finding(
                "TLS-CERT-SIGNATURE",
                Status.FAIL,
                Severity.HIGH,
                f"{label}: signed with {sig} ({algo}); Go clients reject it",
                ev,
                remediation="Reissue the certificate with a SHA-256 (or stronger) signature.",
            )
        )
    out += found
    return found


def _san_check(
    display: str, cert: x509.Certificate, sans: tuple[list[str], list[str], list[str]], ev: Evidence
) -> Finding:
    dns, ips, problems = sans
    missing = pki.missing_names(pki.subject_alt_names(cert), dns, ips)
    if missing:
        return finding(
            "TLS-CERT-SAN",
            Status.FAIL,
            Severity.MEDIUM,
            f"{display}: missing SANs: {', '.join(missing)}",
            ev,
            remediation="Reissue the serving certificate with the missing names "
            "(kubeadm: add them to apiServer.certSANs and run `kubeadm init phase certs apiserver`).",
        )
    if problems:
        return finding("TLS-CERT-SAN", Status.WARN, Severity.MEDIUM, f"{display}: {'; '.join(problems)}", ev)
    return finding("TLS-CERT-SAN", Status.PASS, Severity.MEDIUM, f"{display}: has {', '.join(dns + ips)}", ev)


def _usage_check(display: str, cert: x509.Certificate, needed: frozenset[str], ev: Evidence) -> Finding:
    missing = pki.missing_usages(cert, needed)
    have = pki.extended_key_usages(cert)
    shown = "no extended key usage (any use)" if have is None else ", ".join(sorted(have))
    if missing:
        return finding(
            "TLS-CERT-USAGE",
            Status.FAIL,
            Severity.HIGH,
            f"{display}: not valid for {', '.join(missing)} (extended key usage: {shown}); "
            "Go peers reject it for this role",
            ev,
            remediation="Reissue the certificate with the extended key usages its role needs.",
        )
    return finding(
        "TLS-CERT-USAGE",
        Status.PASS,
        Severity.HIGH,
        f"{display}: valid for {', '.join(sorted(needed))} ({shown})",
        ev,
    )


def _server_names_check(
    display: str, cert: x509.Certificate, names: Sequence[tuple[str, str]], ev: Evidence
) -> Finding:
    """The serving certificate covers every address the node's kubeconfigs dial."""
    sans = pki.subject_alt_names(cert)
    missing = []
    for host, kubeconfig in names:
        try:
            gone = pki.missing_names(sans, [], [str(ipaddress.ip_address(host))])
        except ValueError:
            gone = pki.missing_names(sans, [host], [])
        if gone:
            missing.append(f"{host} (server of {kubeconfig})")
    if missing:
        return finding(
            "TLS-CERT-SAN",
            Status.FAIL,
            Severity.HIGH,
            f"{display}: does not cover {'; '.join(missing)}: clients using that kubeconfig fail "
            "with an x509 name error",
            ev,
            remediation="Add the address to the certificate's SANs (kubeadm: apiServer.certSANs or "
            "controlPlaneEndpoint), or point the kubeconfig at a covered name.",
        )
    hosts = ", ".join(dict.fromkeys(h for h, _ in names))
    return finding(
        "TLS-CERT-SAN",
        Status.PASS,
        Severity.HIGH,
        f"{display}: covers the kubeconfigs' server addresses ({hosts})",
        ev,
    )


def _pair_check(display: str, cert: x509.Certificate, key_source: Source, ev: Evidence) -> Finding:
    try:
        key = pki.load_private_key(key_source.read())
    except (InputError, pki.PkiError) as exc:
        return finding(
            "TLS-KEY-PAIR",
            Status.WARN,
            Severity.HIGH,
            f"{display}: key {key_source.display} unreadable: {_why(exc)}",
            ev,
        )
    if pki.keys_match(pki.cert_public_key(cert), key):
        return finding(
            "TLS-KEY-PAIR", Status.PASS, Severity.HIGH, f"{display}: matches {key_source.display}", ev
        )
    return finding(
        "TLS-KEY-PAIR",
        Status.FAIL,
        Severity.HIGH,
        f"{display}: key {key_source.display} does not match the certificate",
        ev,
        remediation="Install the key the certificate was issued for, or reissue the certificate for this key.",
    )


def _chain_checks(
    display: str,
    certs: list[x509.Certificate],
    target: CertTarget,
    ev: Evidence,
    *,
    now: dt.datetime,
    certs_of: Any,
    anchors_by_subject: dict[bytes, list[x509.Certificate]],
) -> list[Finding]:
    leaf = certs[0]
    out: list[Finding] = []
    if target.cas:
        for ca_source, named_by in target.cas:
            anchors = certs_of(ca_source)
            if anchors is None:
                out.append(
                    finding(
                        "TLS-CERT-CHAIN",
                        Status.WARN,
                        Severity.HIGH,
                        f"{display}: CA {ca_source.display} ({named_by}) unreadable",
                        ev,
                    )
                )
                continue
            ok, why = pki.verify_chain(leaf, anchors, certs[1:], now)
            out.append(
                finding(
                    "TLS-CERT-CHAIN",
                    Status.PASS if ok else Status.FAIL,
                    Severity.HIGH,
                    f"{display}: verified by {ca_source.display} ({named_by}): {why}"
                    if ok
                    else f"{display}: not verified by {ca_source.display} ({named_by}): {why}",
                    ev,
                    remediation=""
                    if ok
                    else "Reissue the certificate from the CA that verifies it, or fix the CA flag.",
                )
            )
        return out
    if target.must_be_ca or not target.issuer_lookup or pki.is_self_signed(leaf):
        return out
    anchors = anchors_by_subject.get(leaf.issuer.public_bytes(), [])
    if not anchors and len(certs) == 1:
        out.append(
            finding(
                "TLS-CERT-CHAIN",
                Status.WARN,
                Severity.LOW,
                f"{display}: issuer {pki.common_name(leaf.issuer)!r} is not among the CA files inspected",
                ev,
            )
        )
        return out
    if anchors:
        ok, why = pki.verify_chain(leaf, anchors, certs[1:], now)
        out.append(
            finding(
                "TLS-CERT-CHAIN",
                Status.PASS if ok else Status.FAIL,
                Severity.HIGH,
                f"{display}: {why}",
                ev,
            )
        )
    return out


def _sa_pair_check(signing: Source, verifiers: list[Source], ref: Ref) -> Finding:
    ev = Evidence(file=ref.file, line=ref.line, flag=ref.flag, value=signing.display)
    try:
        key = pki.load_private_key(signing.read())
    except (InputError, pki.PkiError) as exc:
        return finding("TLS-SA-KEY-PAIR", Status.WARN, Severity.HIGH, f"{signing.display}: {_why(exc)}", ev)
    wanted = pki.spki(key.public_key())
    names = []
    unreadable: list[str] = []
    for verifier in verifiers:
        names.append(verifier.display)
        try:
            data = verifier.read()
        except InputError as exc:
            unreadable.append(f"{verifier.display}: {exc.message}")
            continue
        publics: list[pki.PublicKey] = []
        for block in pki.pem_blocks(data):
            try:
                if block.kind is pki.PemKind.PUBLIC_KEY:
                    publics.append(pki.load_public_key(block.data))
                elif block.kind is pki.PemKind.CERTIFICATE:
                    publics.append(pki.cert_public_key(pki.load_certificates(block.data)[0]))
                elif block.kind is pki.PemKind.PRIVATE_KEY:
                    publics.append(pki.load_private_key(block.data).public_key())
            except pki.PkiError:
                continue
        if any(pki.spki(p) == wanted for p in publics):
            return finding(
                "TLS-SA-KEY-PAIR",
                Status.PASS,
                Severity.HIGH,
                f"{signing.display}: its public key is in {verifier.display}",
                ev,
            )
    if unreadable:
        return finding("TLS-SA-KEY-PAIR", Status.WARN, Severity.HIGH, "; ".join(unreadable), ev)
    return finding(
        "TLS-SA-KEY-PAIR",
        Status.FAIL,
        Severity.HIGH,
        f"{signing.display}: its public key is not in {', '.join(names)}; tokens it signs will not verify",
        ev,
        remediation="Add the signing key's public key to --service-account-key-file.",
    )
