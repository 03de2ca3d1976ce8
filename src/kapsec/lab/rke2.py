"""The files an RKE2 server node has with the CIS profile (``profile: cis``), as data.

Mirrors rancher/rke2 ``pkg/podtemplate/podtemplate.go``, ``spec.go`` and ``config.go`` (the static
pod frame: ``command: [component]`` with the flags in ``args``, a ``FILE_HASH`` env, hostPath
volumes ``file<N>``/``dir<N>`` for the files the flags name, default requests and probes, exec
probes running ``kubectl get --raw=/livez``, ``system-cluster-critical``, ``privileged: false``),
and k3s's layout under ``/var/lib/rancher/rke2/server`` (ECDSA P-256 certificates signed by
separate client, server, request-header and etcd CAs; kubeconfigs that reference certificate
files; an aescbc EncryptionConfiguration). The component flags are the real argv of an RKE2 CIS
server, from the RKE2 CIS 1.12 self-assessment guide (rancher/rke2-docs, vendored in
``tests/data/control-plane-manifests/rke2-cis-self-assessment``), in RKE2's own order (not sorted).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from kapsec.lab import pki
from kapsec.lab.kubeadm import dump_yaml
from kapsec.lab.tree import LabFile, LabOptions, LabTree, Plant

DATA_DIR = "/var/lib/rancher/rke2"
SERVER = f"{DATA_DIR}/server"
TLS = f"{SERVER}/tls"
CRED = f"{SERVER}/cred"
MANIFESTS = f"{DATA_DIR}/agent/pod-manifests"
CONFIG_DIR = "/etc/rancher/rke2"
SERVICE_SUBNET = "10.43.0.0/16"
CLUSTER_CIDR = "10.42.0.0/16"
MODE_PRIVATE = 0o600
CIPHERS = (
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,"
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"
)
# podtemplate config.go: default requests.
REQUESTS = {
    "kube-apiserver": ("250m", "1024Mi"),
    "kube-controller-manager": ("200m", "256Mi"),
    "kube-scheduler": ("100m", "128Mi"),
    "etcd": ("200m", "512Mi"),
}


def apiserver_args(ip: str) -> list[str]:
    return [
        f"--admission-control-config-file={CONFIG_DIR}/rke2-pss.yaml",
        f"--audit-policy-file={CONFIG_DIR}/audit-policy.yaml",
        "--audit-log-maxage=30",
        "--audit-log-maxbackup=10",
        "--audit-log-maxsize=100",
        f"--audit-log-path={SERVER}/logs/audit.log",
        "--service-account-extend-token-expiration=false",
        f"--advertise-address={ip}",
        "--allow-privileged=true",
        "--anonymous-auth=false",
        "--api-audiences=https://kubernetes.default.svc.cluster.local,rke2",
        "--authorization-mode=Node,RBAC",
        "--bind-address=0.0.0.0",
        f"--cert-dir={TLS}/temporary-certs",
        f"--client-ca-file={TLS}/client-ca.crt",
        f"--egress-selector-config-file={SERVER}/etc/egress-selector-config.yaml",
        "--enable-admission-plugins=NodeRestriction",
        "--enable-aggregator-routing=true",
        "--enable-bootstrap-token-auth=true",
        f"--encryption-provider-config={CRED}/encryption-config.json",
        "--encryption-provider-config-automatic-reload=true",
        f"--etcd-cafile={TLS}/etcd/server-ca.crt",
        f"--etcd-certfile={TLS}/etcd/client.crt",
        f"--etcd-keyfile={TLS}/etcd/client.key",
        "--etcd-servers=https://127.0.0.1:2379",
        f"--kubelet-certificate-authority={TLS}/server-ca.crt",
        f"--kubelet-client-certificate={TLS}/client-kube-apiserver.crt",
        f"--kubelet-client-key={TLS}/client-kube-apiserver.key",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        "--profiling=false",
        f"--proxy-client-cert-file={TLS}/client-auth-proxy.crt",
        f"--proxy-client-key-file={TLS}/client-auth-proxy.key",
        "--requestheader-allowed-names=system:auth-proxy",
        f"--requestheader-client-ca-file={TLS}/request-header-ca.crt",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        "--secure-port=6443",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={TLS}/service.key",
        f"--service-account-signing-key-file={TLS}/service.current.key",
        f"--service-cluster-ip-range={SERVICE_SUBNET}",
        "--service-node-port-range=30000-32767",
        "--storage-backend=etcd3",
        f"--tls-cert-file={TLS}/serving-kube-apiserver.crt",
        f"--tls-cipher-suites={CIPHERS}",
        f"--tls-private-key-file={TLS}/serving-kube-apiserver.key",
    ]


def controller_manager_args() -> list[str]:
    conf = f"{CRED}/controller.kubeconfig"
    return [
        "--permit-port-sharing=true",
        "--flex-volume-plugin-dir=/var/lib/kubelet/volumeplugins",
        "--terminated-pod-gc-threshold=1000",
        "--allocate-node-cidrs=true",
        f"--authentication-kubeconfig={conf}",
        f"--authorization-kubeconfig={conf}",
        "--bind-address=127.0.0.1",
        f"--cluster-cidr={CLUSTER_CIDR}",
        f"--cluster-signing-kube-apiserver-client-cert-file={TLS}/client-ca.nochain.crt",
        f"--cluster-signing-kube-apiserver-client-key-file={TLS}/client-ca.key",
        f"--cluster-signing-kubelet-client-cert-file={TLS}/client-ca.nochain.crt",
        f"--cluster-signing-kubelet-client-key-file={TLS}/client-ca.key",
        f"--cluster-signing-kubelet-serving-cert-file={TLS}/server-ca.nochain.crt",
        f"--cluster-signing-kubelet-serving-key-file={TLS}/server-ca.key",
        f"--cluster-signing-legacy-unknown-cert-file={TLS}/server-ca.nochain.crt",
        f"--cluster-signing-legacy-unknown-key-file={TLS}/server-ca.key",
        "--configure-cloud-routes=false",
        "--controllers=*,tokencleaner,-service,-route,-cloud-node-lifecycle",
        f"--kubeconfig={conf}",
        "--profiling=false",
        f"--root-ca-file={TLS}/server-ca.crt",
        "--secure-port=10257",
        f"--service-account-private-key-file={TLS}/service.current.key",
        f"--service-cluster-ip-range={SERVICE_SUBNET}",
        f"--tls-cert-file={TLS}/kube-controller-manager/kube-controller-manager.crt",
        f"--tls-private-key-file={TLS}/kube-controller-manager/kube-controller-manager.key",
        "--use-service-account-credentials=true",
    ]


def scheduler_args() -> list[str]:
    conf = f"{CRED}/scheduler.kubeconfig"
    return [
        "--permit-port-sharing=true",
        f"--authentication-kubeconfig={conf}",
        f"--authorization-kubeconfig={conf}",
        "--bind-address=127.0.0.1",
        f"--kubeconfig={conf}",
        "--profiling=false",
        "--secure-port=10259",
        f"--tls-cert-file={TLS}/kube-scheduler/kube-scheduler.crt",
        f"--tls-private-key-file={TLS}/kube-scheduler/kube-scheduler.key",
    ]


def etcd_config(o: LabOptions) -> dict[str, Any]:
    """RKE2's etcd runs from this config file (the real file's keys, this node's names)."""
    ip, name = o.advertise_address, o.node_name
    etcd_tls = f"{TLS}/etcd"
    return {
        "advertise-client-urls": f"https://{ip}:2379",
        "client-transport-security": {
            "cert-file": f"{etcd_tls}/server-client.crt",
            "client-cert-auth": True,
            "key-file": f"{etcd_tls}/server-client.key",
            "trusted-ca-file": f"{etcd_tls}/server-ca.crt",
        },
        "data-dir": f"{SERVER}/db/etcd",
        "election-timeout": 5000,
        "experimental-initial-corrupt-check": True,
        "experimental-watch-progress-notify-interval": 5000000000,
        "heartbeat-interval": 500,
        "initial-advertise-peer-urls": f"https://{ip}:2380",
        "initial-cluster": f"{name}=https://{ip}:2380",
        "initial-cluster-state": "new",
        "listen-client-http-urls": "https://127.0.0.1:2382",
        "listen-client-urls": f"https://127.0.0.1:2379,https://{ip}:2379",
        "listen-metrics-urls": "http://127.0.0.1:2381",
        "listen-peer-urls": f"https://127.0.0.1:2380,https://{ip}:2380",
        "log-outputs": ["stderr"],
        "logger": "zap",
        "name": name,
        "peer-transport-security": {
            "cert-file": f"{etcd_tls}/peer-server-client.crt",
            "client-cert-auth": True,
            "key-file": f"{etcd_tls}/peer-server-client.key",
            "trusted-ca-file": f"{etcd_tls}/peer-ca.crt",
        },
        "snapshot-count": 10000,
    }


def _probe(
    kind: str, *, command: Sequence[str] = (), http: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """podtemplate createProbe with config.go's defaults (exec probes run at least every 5 s)."""
    conf = {
        "liveness": {
            "initialDelaySeconds": 10,
            "timeoutSeconds": 15,
            "failureThreshold": 8,
            "periodSeconds": 10,
        },
        "readiness": {"timeoutSeconds": 15, "failureThreshold": 3, "periodSeconds": 1},
        "startup": {
            "initialDelaySeconds": 10,
            "timeoutSeconds": 15,
            "failureThreshold": 24,
            "periodSeconds": 10,
        },
    }[kind]
    probe: dict[str, Any] = dict(conf)
    if command:
        probe["exec"] = {"command": list(command)}
        probe["periodSeconds"] = max(probe["periodSeconds"], 5)
    else:
        assert http is not None
        probe["httpGet"] = dict(http)
    return probe


def _kubectl(path: str) -> list[str]:
    return [
        "kubectl",
        "get",
        "--server=https://localhost:6443/",
        f"--client-certificate={TLS}/client-kube-apiserver.crt",
        f"--client-key={TLS}/client-kube-apiserver.key",
        f"--certificate-authority={TLS}/server-ca.crt",
        f"--raw={path}",
    ]


def _pod(
    o: LabOptions,
    component: str,
    *,
    image: str,
    args: list[str],
    files: Mapping[str, bytes],
    dirs: Sequence[str],
    probes: Mapping[str, dict[str, Any]],
    ports: list[dict[str, Any]],
) -> dict[str, Any]:
    """podtemplate.Pod: files named by the flags (sorted) are mounted read-only one by one."""
    referenced = sorted(
        {
            value
            for arg in args
            if "=" in arg and (value := arg.split("=", 1)[1]).startswith("/") and value in files
        }
        | {path for arg in args if arg.startswith("--kubeconfig=") for path in _kubeconfig_files(arg, files)}
    )
    digest = hashlib.sha256(b"".join(files[p] for p in referenced)).hexdigest()
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for i, d in enumerate(dirs):
        volumes.append({"hostPath": {"path": d, "type": "DirectoryOrCreate"}, "name": f"dir{i}"})
        mounts.append({"mountPath": d, "name": f"dir{i}"})
    for i, f in enumerate(referenced):
        volumes.append({"hostPath": {"path": f, "type": "File"}, "name": f"file{i}"})
        mounts.append({"mountPath": f, "name": f"file{i}", "readOnly": True})
    cpu, memory = REQUESTS[component]
    container: dict[str, Any] = {
        "args": args,
        "command": [component],
        "env": [{"name": "FILE_HASH", "value": digest}],
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "name": component,
        "ports": ports,
        "resources": {"requests": {"cpu": cpu, "memory": memory}},
        "securityContext": {"privileged": False},
        "volumeMounts": mounts,
    }
    container.update(probes)
    metadata: dict[str, Any] = {
        "labels": {"component": component, "tier": "control-plane"},
        "name": component,
        "namespace": "kube-system",
    }
    if o.minor < 33:
        metadata["creationTimestamp"] = None
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "containers": [container],
            "hostNetwork": True,
            "priorityClassName": "system-cluster-critical",
            "volumes": volumes,
        },
        "status": {},
    }


def _kubeconfig_files(arg: str, files: Mapping[str, bytes]) -> list[str]:
    path = arg.split("=", 1)[1]
    if path not in files:
        return []
    import yaml

    doc = yaml.safe_load(files[path])
    out = [
        c["cluster"]["certificate-authority"]
        for c in doc["clusters"]
        if "certificate-authority" in c["cluster"]
    ]
    for u in doc["users"]:
        out += [u["user"][k] for k in ("client-key", "client-certificate") if k in u["user"]]
    return out


def _kubeconfig_ref(cert: str, key: str) -> dict[str, Any]:
    """k3s's kubeconfig template: cluster "local", context "Default", user "user", files by path."""
    return {
        "apiVersion": "v1",
        "clusters": [
            {
                "cluster": {
                    "certificate-authority": f"{TLS}/server-ca.crt",
                    "server": "https://127.0.0.1:6443",
                },
                "name": "local",
            }
        ],
        "contexts": [
            {"context": {"cluster": "local", "namespace": "default", "user": "user"}, "name": "Default"}
        ],
        "current-context": "Default",
        "kind": "Config",
        "preferences": {},
        "users": [{"name": "user", "user": {"client-certificate": cert, "client-key": key}}],
    }


def build(o: LabOptions) -> LabTree:
    o.validate()
    now = (o.now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    stamp = int(now.timestamp())
    ip, node = o.advertise_address, o.node_name
    files: dict[str, bytes] = {}  # absolute node path -> content (all 0600 unless listed below)
    modes: dict[str, int] = {}
    notes: list[str] = []

    def pair(base: str, kp: pki.KeyPair, *, key_mode: int = MODE_PRIVATE) -> None:
        files[f"{base}.crt"] = kp.cert_pem
        files[f"{base}.key"] = kp.key_pem
        modes[f"{base}.key"] = key_mode

    def leaf(spec: pki.LeafSpec, ca: pki.KeyPair, validity: dt.timedelta = pki.LEAF_VALIDITY) -> pki.KeyPair:
        return pki.make_leaf(spec, ca, now, validity=validity, key=pki.new_ec_key())

    client_ca = pki.make_ca(f"rke2-client-ca@{stamp}", now, key=pki.new_ec_key())
    server_ca = pki.make_ca(f"rke2-server-ca@{stamp}", now, key=pki.new_ec_key())
    request_ca = pki.make_ca(f"rke2-request-header-ca@{stamp}", now, key=pki.new_ec_key())
    etcd_server_ca = pki.make_ca(f"etcd-server-ca@{stamp}", now, key=pki.new_ec_key())
    etcd_peer_ca = pki.make_ca(f"etcd-peer-ca@{stamp}", now, key=pki.new_ec_key())
    pair(f"{TLS}/client-ca", client_ca)
    pair(f"{TLS}/server-ca", server_ca)
    pair(f"{TLS}/request-header-ca", request_ca)
    files[f"{TLS}/client-ca.nochain.crt"] = client_ca.cert_pem
    files[f"{TLS}/server-ca.nochain.crt"] = server_ca.cert_pem
    pair(f"{TLS}/etcd/server-ca", etcd_server_ca)
    pair(f"{TLS}/etcd/peer-ca", etcd_peer_ca)

    serving_validity = pki.LEAF_VALIDITY
    if Plant.EXPIRING_CERT in o.plants:
        serving_validity = dt.timedelta(days=7)
        notes.append(f"planted: {Plant.EXPIRING_CERT.description}")
    serving = leaf(
        pki.LeafSpec(
            "kube-apiserver",
            usages=(pki.SERVER_AUTH,),
            dns_names=(
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                f"kubernetes.default.svc.{o.dns_domain}",
                "localhost",
                node,
            ),
            ip_addresses=("127.0.0.1", "::1", "10.43.0.1", ip),
        ),
        server_ca,
        serving_validity,
    )
    key_mode = MODE_PRIVATE
    if Plant.WORLD_READABLE_KEY in o.plants:
        key_mode = 0o644
        notes.append(f"planted: {Plant.WORLD_READABLE_KEY.description}")
    pair(f"{TLS}/serving-kube-apiserver", serving, key_mode=key_mode)
    if Plant.EXPIRED_CERT in o.plants:
        kubelet_client = pki.make_leaf(
            pki.LeafSpec("system:apiserver", ("system:masters",)),
            client_ca,
            now - dt.timedelta(days=366),
            not_before=now - dt.timedelta(days=366),
            key=pki.new_ec_key(),
        )
        notes.append(
            "planted: client-kube-apiserver.crt (the kubelet client certificate) expired one day ago"
        )
    else:
        kubelet_client = leaf(pki.LeafSpec("system:apiserver", ("system:masters",)), client_ca)
    pair(f"{TLS}/client-kube-apiserver", kubelet_client)
    pair(f"{TLS}/client-auth-proxy", leaf(pki.LeafSpec("system:auth-proxy"), request_ca))
    pair(f"{TLS}/client-admin", leaf(pki.LeafSpec("system:admin", ("system:masters",)), client_ca))
    pair(f"{TLS}/client-controller", leaf(pki.LeafSpec("system:kube-controller-manager"), client_ca))
    pair(f"{TLS}/client-scheduler", leaf(pki.LeafSpec("system:kube-scheduler"), client_ca))
    for comp in ("kube-controller-manager", "kube-scheduler"):
        spec = pki.LeafSpec(
            comp, usages=(pki.SERVER_AUTH,), dns_names=("localhost",), ip_addresses=("127.0.0.1",)
        )
        pair(f"{TLS}/{comp}/{comp}", leaf(spec, server_ca))
    etcd_client_issuer = etcd_server_ca
    if Plant.WRONG_CA in o.plants:
        etcd_client_issuer = client_ca
        notes.append("planted: etcd/client.crt is signed by the client CA instead of the etcd server CA")
    pair(f"{TLS}/etcd/client", leaf(pki.LeafSpec("etcd-client"), etcd_client_issuer))
    both = (pki.SERVER_AUTH, pki.CLIENT_AUTH)
    sans = {"dns_names": ("localhost", node), "ip_addresses": ("127.0.0.1", "::1", ip)}
    pair(f"{TLS}/etcd/server-client", leaf(pki.LeafSpec("etcd-server", usages=both, **sans), etcd_server_ca))
    pair(f"{TLS}/etcd/peer-server-client", leaf(pki.LeafSpec("etcd-peer", usages=both, **sans), etcd_peer_ca))
    sa = pki.new_key()
    files[f"{TLS}/service.key"] = pki.key_pem(sa)
    files[f"{TLS}/service.current.key"] = pki.key_pem(sa)

    # credentials and configuration files
    files[f"{CRED}/controller.kubeconfig"] = dump_yaml(
        _kubeconfig_ref(f"{TLS}/client-controller.crt", f"{TLS}/client-controller.key")
    )
    files[f"{CRED}/scheduler.kubeconfig"] = dump_yaml(
        _kubeconfig_ref(f"{TLS}/client-scheduler.crt", f"{TLS}/client-scheduler.key")
    )
    files[f"{CRED}/admin.kubeconfig"] = dump_yaml(
        _kubeconfig_ref(f"{TLS}/client-admin.crt", f"{TLS}/client-admin.key")
    )
    admin = leaf(pki.LeafSpec("system:admin", ("system:masters",)), client_ca)
    files[f"{CONFIG_DIR}/rke2.yaml"] = dump_yaml(
        {
            "apiVersion": "v1",
            "clusters": [
                {
                    "cluster": {
                        "certificate-authority-data": base64.b64encode(server_ca.cert_pem).decode(),
                        "server": "https://127.0.0.1:6443",
                    },
                    "name": "default",
                }
            ],
            "contexts": [{"context": {"cluster": "default", "user": "default"}, "name": "default"}],
            "current-context": "default",
            "kind": "Config",
            "preferences": {},
            "users": [
                {
                    "name": "default",
                    "user": {
                        "client-certificate-data": base64.b64encode(admin.cert_pem).decode(),
                        "client-key-data": base64.b64encode(admin.key_pem).decode(),
                    },
                }
            ],
        }
    )
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    files[f"{CRED}/encryption-config.json"] = json.dumps(
        {
            "kind": "EncryptionConfiguration",
            "apiVersion": "apiserver.config.k8s.io/v1",
            "resources": [
                {
                    "resources": ["secrets"],
                    "providers": [
                        {"aescbc": {"keys": [{"name": "aescbckey", "secret": secret}]}},
                        {"identity": {}},
                    ],
                }
            ],
        }
    ).encode()
    files[f"{SERVER}/etc/egress-selector-config.yaml"] = dump_yaml(
        {
            "apiVersion": "apiserver.k8s.io/v1beta1",
            "egressSelections": [
                {
                    "connection": {
                        "proxyProtocol": "HTTPConnect",
                        "transport": {
                            "tcp": {
                                "tlsConfig": {
                                    "caBundle": f"{TLS}/server-ca.crt",
                                    "clientCert": f"{TLS}/client-kube-apiserver.crt",
                                    "clientKey": f"{TLS}/client-kube-apiserver.key",
                                },
                                "url": "https://127.0.0.1:9345",
                            }
                        },
                    },
                    "name": "cluster",
                }
            ],
            "kind": "EgressSelectorConfiguration",
        }
    )
    files[f"{CONFIG_DIR}/config.yaml"] = b"profile: cis\n"
    files[f"{CONFIG_DIR}/audit-policy.yaml"] = dump_yaml(
        {
            "apiVersion": "audit.k8s.io/v1",
            "kind": "Policy",
            "metadata": {"creationTimestamp": None},
            "rules": [{"level": "None"}],
        }
    )
    files[f"{CONFIG_DIR}/rke2-pss.yaml"] = dump_yaml(
        {
            "apiVersion": "apiserver.config.k8s.io/v1",
            "kind": "AdmissionConfiguration",
            "plugins": [
                {
                    "configuration": {
                        "apiVersion": "pod-security.admission.config.k8s.io/v1beta1",
                        "defaults": {
                            "audit": "restricted",
                            "audit-version": "latest",
                            "enforce": "restricted",
                            "enforce-version": "latest",
                            "warn": "restricted",
                            "warn-version": "latest",
                        },
                        "exemptions": {
                            "namespaces": ["kube-system", "cis-operator-system", "tigera-operator"],
                            "runtimeClasses": [],
                            "usernames": [],
                        },
                        "kind": "PodSecurityConfiguration",
                    },
                    "name": "PodSecurity",
                }
            ],
        }
    )
    files[f"{SERVER}/db/etcd/config"] = dump_yaml(etcd_config(o))

    # static pods
    tag = f"{o.version_tag}-rke2r1"
    k8s_image = f"index.docker.io/rancher/hardened-kubernetes:{tag}"
    pods = {
        "kube-apiserver": _pod(
            o,
            "kube-apiserver",
            image=k8s_image,
            args=apiserver_args(ip),
            files=files,
            dirs=[f"{SERVER}/logs", f"{TLS}/temporary-certs"],
            probes={
                "livenessProbe": _probe("liveness", command=_kubectl("/livez")),
                "readinessProbe": _probe("readiness", command=_kubectl("/readyz")),
                "startupProbe": _probe("startup", command=_kubectl("/livez")),
            },
            ports=[{"containerPort": 6443, "name": "apiserver", "protocol": "TCP"}],
        ),
        "kube-controller-manager": _pod(
            o,
            "kube-controller-manager",
            image=k8s_image,
            args=controller_manager_args(),
            files=files,
            dirs=["/var/lib/kubelet/volumeplugins"],
            probes={
                "livenessProbe": _probe(
                    "liveness",
                    http={"host": "localhost", "path": "/healthz", "port": 10257, "scheme": "HTTPS"},
                ),
                "startupProbe": _probe(
                    "startup",
                    http={"host": "localhost", "path": "/healthz", "port": 10257, "scheme": "HTTPS"},
                ),
            },
            ports=[{"containerPort": 10257, "name": "metrics", "protocol": "TCP"}],
        ),
        "kube-scheduler": _pod(
            o,
            "kube-scheduler",
            image=k8s_image,
            args=scheduler_args(),
            files=files,
            dirs=[],
            probes={
                "livenessProbe": _probe(
                    "liveness", http={"host": "localhost", "path": "/livez", "port": 10259, "scheme": "HTTPS"}
                ),
                "readinessProbe": _probe(
                    "readiness",
                    http={"host": "localhost", "path": "/readyz", "port": 10259, "scheme": "HTTPS"},
                ),
                "startupProbe": _probe(
                    "startup", http={"host": "localhost", "path": "/livez", "port": 10259, "scheme": "HTTPS"}
                ),
            },
            ports=[{"containerPort": 10259, "name": "metrics", "protocol": "TCP"}],
        ),
        "etcd": _pod(
            o,
            "etcd",
            image="index.docker.io/rancher/hardened-etcd:v3.5.21-k3s1",
            args=[f"--config-file={SERVER}/db/etcd/config"],
            files=files,
            dirs=[f"{SERVER}/db/etcd", f"{TLS}/etcd"],
            probes={
                "livenessProbe": _probe(
                    "liveness",
                    http={
                        "host": "localhost",
                        "path": "/health?serializable=true",
                        "port": 2381,
                        "scheme": "HTTP",
                    },
                )
            },
            ports=[
                {"containerPort": 2379, "name": "client", "protocol": "TCP"},
                {"containerPort": 2380, "name": "peer", "protocol": "TCP"},
                {"containerPort": 2381, "name": "metrics", "protocol": "TCP"},
            ],
        ),
    }
    for name, pod in pods.items():
        files[f"{MANIFESTS}/{name}.yaml"] = dump_yaml(pod)

    tree_files = [
        LabFile(path.lstrip("/"), content, modes.get(path, MODE_PRIVATE)) for path, content in files.items()
    ]
    dirs = [
        (SERVER.lstrip("/"), 0o700),
        (TLS.lstrip("/"), 0o700),
        (CRED.lstrip("/"), 0o700),
        (f"{SERVER}/db".lstrip("/"), 0o700),
        (f"{SERVER}/db/etcd".lstrip("/"), 0o700),
        (f"{SERVER}/logs".lstrip("/"), 0o700),
        (f"{TLS}/temporary-certs".lstrip("/"), 0o700),
        (f"{TLS}/etcd".lstrip("/"), 0o700),
        (f"{TLS}/kube-controller-manager".lstrip("/"), 0o700),
        (f"{TLS}/kube-scheduler".lstrip("/"), 0o700),
        (f"{SERVER}/etc".lstrip("/"), 0o700),
        (MANIFESTS.lstrip("/"), 0o755),
    ]
    return LabTree(files=tree_files, dirs=dirs, notes=notes)
