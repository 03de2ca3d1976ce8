"""Helpers for the scan tests: a hardened control-plane tree built from the lab.

``hardened_root`` is built once per session: ``kapsec lab init`` (kubeadm's defaults, real PKI),
then the guide's hardening (authentication config limited to health endpoints, audit policy and
log directory mount, encryption at rest, EventRateLimit and PodSecurity admission config, TLS
settings). Every check of the catalog passes on it; each case of ``tests/data/scan/cases.yaml``
copies it and changes one thing.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from helpers import DATA

MANIFEST = "etc/kubernetes/manifests/kube-apiserver.yaml"

AUTHN = """\
apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
anonymous:
  enabled: true
  conditions:
  - path: /livez
  - path: /readyz
  - path: /healthz
"""

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  resources:
  - group: ""
    resources: [secrets, configmaps]
  - group: authentication.k8s.io
    resources: [tokenreviews]
- level: RequestResponse
  resources:
  - group: ""
    resources: [pods/exec, pods/attach, pods/portforward, pods/proxy, services/proxy]
- level: Request
  verbs: [create, update, patch, delete]
- level: Metadata
"""

ENCRYPTION = f"""\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - secretbox:
      keys:
      - name: key1
        secret: {base64.b64encode(bytes(range(32))).decode()}
  - identity: {{}}
"""

ADMISSION = """\
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: EventRateLimit
  configuration:
    apiVersion: eventratelimit.admission.k8s.io/v1alpha1
    kind: Configuration
    limits:
    - type: Server
      qps: 50
      burst: 100
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: baseline
      enforce-version: latest
    exemptions:
      namespaces: [kube-system]
"""

SNAPSHOT = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: web
    labels:
      pod-security.kubernetes.io/enforce: restricted
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: default-deny, namespace: web}
  spec:
    podSelector: {}
    policyTypes: [Ingress, Egress]
"""

HARDENING_FLAGS = {
    "authentication-config": "/etc/kubernetes/config/authn.yaml",
    "profiling": "false",
    "audit-log-path": "/var/log/kubernetes/audit/audit.log",
    "audit-log-maxage": "30",
    "audit-log-maxbackup": "10",
    "audit-log-maxsize": "100",
    "audit-policy-file": "/etc/kubernetes/config/audit-policy.yaml",
    "encryption-provider-config": "/etc/kubernetes/config/encryption.yaml",
    "admission-control-config-file": "/etc/kubernetes/config/admission.yaml",
    "enable-admission-plugins": "NodeRestriction,EventRateLimit,AlwaysPullImages,DenyServiceExternalIPs",
    "kubelet-certificate-authority": "/etc/kubernetes/pki/ca.crt",
    "tls-cipher-suites": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "tls-min-version": "VersionTLS12",
    "service-account-extend-token-expiration": "false",
}


def read_manifest(root: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((root / MANIFEST).read_text())
    return doc


def write_manifest(root: Path, doc: Mapping[str, Any]) -> None:
    path = root / MANIFEST
    mode = path.stat().st_mode
    path.write_text(yaml.safe_dump(dict(doc), sort_keys=False))
    os.chmod(path, mode & 0o7777)


def container(doc: Mapping[str, Any]) -> dict[str, Any]:
    c: dict[str, Any] = doc["spec"]["containers"][0]
    return c


def set_flags(root: Path, values: Mapping[str, str | None]) -> None:
    """Replace (or add) ``--flag=value``; a None value removes every occurrence."""
    doc = read_manifest(root)
    cmd: list[str] = container(doc)["command"]
    for flag, value in values.items():
        idx = [i for i, w in enumerate(cmd) if w == f"--{flag}" or w.startswith(f"--{flag}=")]
        for i in reversed(idx):
            del cmd[i]
        if value is not None:
            cmd.insert(idx[0] if idx else len(cmd), f"--{flag}={value}")
    write_manifest(root, doc)


def write_file(root: Path, node_path: str, text: str, mode: int = 0o600) -> None:
    p = root / node_path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    os.chmod(p, mode)


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load((DATA / "scan" / "cases.yaml").read_text())
    return cases


def build_hardened(root: Path) -> Path:
    """Apply the guide's hardening to a copy of the lab at ``root``."""
    set_flags(root, HARDENING_FLAGS)
    doc = read_manifest(root)
    c = container(doc)
    c["volumeMounts"] += [
        {"mountPath": "/etc/kubernetes/config", "name": "k8s-config", "readOnly": True},
        {"mountPath": "/var/log/kubernetes/audit", "name": "audit-log"},
    ]
    doc["spec"]["volumes"] += [
        {"hostPath": {"path": "/etc/kubernetes/config", "type": "DirectoryOrCreate"}, "name": "k8s-config"},
        {"hostPath": {"path": "/var/log/kubernetes/audit", "type": "DirectoryOrCreate"}, "name": "audit-log"},
    ]
    write_manifest(root, doc)
    write_file(root, "/etc/kubernetes/config/authn.yaml", AUTHN)
    write_file(root, "/etc/kubernetes/config/audit-policy.yaml", AUDIT_POLICY)
    write_file(root, "/etc/kubernetes/config/encryption.yaml", ENCRYPTION)
    write_file(root, "/etc/kubernetes/config/admission.yaml", ADMISSION)
    write_file(root, "/etc/cni/net.d/10-bridge.conflist", '{"cniVersion": "1.0.0", "name": "bridge"}\n')
    (root / "var/log/kubernetes/audit").mkdir(parents=True, exist_ok=True)
    (root.parent / "snapshot.yaml").write_text(SNAPSHOT)
    return root
