"""The control-plane tree ``kubeadm init`` leaves on a node, as data.

Mirrors kubeadm (kubernetes/kubernetes ``cmd/kubeadm/app``): static pods from
``phases/controlplane/manifests.go`` and ``phases/controlplane/volumes.go`` (default flags, sorted
as ``util.ArgumentsToCommand`` sorts them; /livez, /readyz and startup probes; hostPath volumes),
etcd from ``phases/etcd/local.go``, the pod frame from ``util/staticpod/utils.go`` (labels,
priority, seccomp), certificates from ``phases/certs/certlist.go``, kubeconfigs from
``phases/kubeconfig/kubeconfig.go`` and ``constants/constants.go`` (names, groups, file modes),
and the kubelet's ``/var/lib/kubelet/config.yaml`` as kubeadm marshals it. The real kubeadm files
of v1.29 in ``tests/data/control-plane-manifests/kubeadm-v1.29-zeta-linux`` are the layout this
reproduces (a test compares them byte for byte).

Version differences that show in the files: ``creationTimestamp: null`` is no longer written from
v1.33 (apimachinery omits the zero time); etcd probes use ``/livez`` and ``/readyz`` from v1.31;
etcd 3.6 (kubeadm v1.34+) replaces the ``--experimental-*`` flags by ``--feature-gates`` and
``--watch-progress-notify-interval``.

The lab is kubeadm's *default*, not hardened: a scan of it has findings.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from typing import Any

import yaml

from kapsec.lab import pki
from kapsec.lab.tree import LabFile, LabOptions, LabSymlink, LabTree, Plant

KUBERNETES_DIR = "/etc/kubernetes"
PKI_DIR = "/etc/kubernetes/pki"
MANIFESTS_DIR = "/etc/kubernetes/manifests"
ETCD_DATA_DIR = "/var/lib/etcd"
KUBELET_DIR = "/var/lib/kubelet"
API_PORT = 6443
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
ETCD_METRICS_PORT = 2381
CONTROLLER_MANAGER_PORT = 10257
SCHEDULER_PORT = 10259
REGISTRY = "registry.k8s.io"

# kubeadm constants.go: mode of what it writes.
MODE_CERT = 0o644
MODE_KEY = 0o600
MODE_MANIFEST = 0o600
MODE_KUBECONFIG = 0o600
MODE_KUBELET_CONFIG = 0o644

# The etcd image kubeadm's SupportedEtcdVersion map names for each minor (constants.go).
ETCD_IMAGE_TAG = {
    29: "3.5.10-0",
    30: "3.5.12-0",
    31: "3.5.24-0",
    32: "3.5.24-0",
    33: "3.5.24-0",
    34: "3.6.5-0",
    35: "3.6.9-0",
    36: "3.6.9-0",
}

CLUSTER_ADMINS_GROUP = "kubeadm:cluster-admins"
MASTERS_GROUP = "system:masters"
NODES_GROUP = "system:nodes"

# The health check timeout (4 minutes) divided by the 10 s period: staticpod.StartupProbe.
STARTUP_FAILURE_THRESHOLD = 24


def dump_yaml(obj: Any) -> bytes:
    """YAML as sigs.k8s.io/yaml writes it: keys sorted, block style, sequences not indented."""
    text = yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, width=1 << 20, allow_unicode=True)
    return text.encode()


def _arguments(defaults: Mapping[str, str]) -> list[str]:
    return [f"--{k}={defaults[k]}" for k in sorted(defaults)]


def _http_probe(
    host: str, path: str, port: int, scheme: str, *, failure: int, period: int, delay: int | None
) -> dict[str, Any]:
    probe: dict[str, Any] = {
        "failureThreshold": failure,
        "httpGet": {"host": host, "path": path, "port": port, "scheme": scheme},
        "periodSeconds": period,
        "timeoutSeconds": 15,
    }
    if delay is not None:
        probe["initialDelaySeconds"] = delay
    return probe


def _liveness(host: str, path: str, port: int, scheme: str) -> dict[str, Any]:
    return _http_probe(host, path, port, scheme, failure=8, period=10, delay=10)


def _readiness(host: str, path: str, port: int, scheme: str) -> dict[str, Any]:
    return _http_probe(host, path, port, scheme, failure=3, period=1, delay=None)


def _startup(host: str, path: str, port: int, scheme: str) -> dict[str, Any]:
    return _http_probe(host, path, port, scheme, failure=STARTUP_FAILURE_THRESHOLD, period=10, delay=10)


def _host_volume(name: str, path: str, kind: str) -> dict[str, Any]:
    return {"hostPath": {"path": path, "type": kind}, "name": name}


def _mount(name: str, path: str, *, read_only: bool) -> dict[str, Any]:
    m: dict[str, Any] = {"mountPath": path, "name": name}
    if read_only:
        m["readOnly"] = True
    return m


# The CA trust directories kubeadm mounts read-only on a Debian/Ubuntu host (volumes.go), and the
# component-specific ones; listed sorted by name as VolumeMapToSlice sorts them.
_CA_DIRS = {
    "ca-certs": "/etc/ssl/certs",
    "etc-ca-certificates": "/etc/ca-certificates",
    "etc-pki": "/etc/pki",
    "usr-local-share-ca-certificates": "/usr/local/share/ca-certificates",
    "usr-share-ca-certificates": "/usr/share/ca-certificates",
}


def _volumes(component: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    entries: dict[str, tuple[str, str, bool]] = {}  # name -> (path, hostPath type, read-only)
    if component in ("kube-apiserver", "kube-controller-manager"):
        for name, path in _CA_DIRS.items():
            entries[name] = (path, "DirectoryOrCreate", True)
        entries["k8s-certs"] = (PKI_DIR, "DirectoryOrCreate", True)
    if component == "kube-controller-manager":
        entries["flexvolume-dir"] = (
            "/usr/libexec/kubernetes/kubelet-plugins/volume/exec",
            "DirectoryOrCreate",
            False,
        )
        entries["kubeconfig"] = (f"{KUBERNETES_DIR}/controller-manager.conf", "FileOrCreate", True)
    if component == "kube-scheduler":
        entries["kubeconfig"] = (f"{KUBERNETES_DIR}/scheduler.conf", "FileOrCreate", True)
    names = sorted(entries)
    volumes = [_host_volume(n, entries[n][0], entries[n][1]) for n in names]
    mounts = [_mount(n, entries[n][0], read_only=entries[n][2]) for n in names]
    return volumes, mounts


def _pod(
    o: LabOptions,
    name: str,
    container: dict[str, Any],
    volumes: list[dict[str, Any]],
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """staticpod.ComponentPod: the frame every kubeadm static pod shares."""
    metadata: dict[str, Any] = {
        "labels": {"component": name, "tier": "control-plane"},
        "name": name,
        "namespace": "kube-system",
    }
    if o.minor < 33:
        metadata["creationTimestamp"] = None
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "containers": [container],
            "hostNetwork": True,
            "priority": 2000001000,
            "priorityClassName": "system-node-critical",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": volumes,
        },
        "status": {},
    }


def apiserver_flags(o: LabOptions) -> dict[str, str]:
    """getAPIServerCommand's defaults for a stacked (local) etcd and no extra args."""
    return {
        "advertise-address": o.advertise_address,
        "allow-privileged": "true",
        "authorization-mode": "Node,RBAC",
        "client-ca-file": f"{PKI_DIR}/ca.crt",
        "enable-admission-plugins": "NodeRestriction",
        "enable-bootstrap-token-auth": "true",
        "etcd-cafile": f"{PKI_DIR}/etcd/ca.crt",
        "etcd-certfile": f"{PKI_DIR}/apiserver-etcd-client.crt",
        "etcd-keyfile": f"{PKI_DIR}/apiserver-etcd-client.key",
        "etcd-servers": f"https://127.0.0.1:{ETCD_CLIENT_PORT}",
        "kubelet-client-certificate": f"{PKI_DIR}/apiserver-kubelet-client.crt",
        "kubelet-client-key": f"{PKI_DIR}/apiserver-kubelet-client.key",
        "kubelet-preferred-address-types": "InternalIP,ExternalIP,Hostname",
        "proxy-client-cert-file": f"{PKI_DIR}/front-proxy-client.crt",
        "proxy-client-key-file": f"{PKI_DIR}/front-proxy-client.key",
        "requestheader-allowed-names": "front-proxy-client",
        "requestheader-client-ca-file": f"{PKI_DIR}/front-proxy-ca.crt",
        "requestheader-extra-headers-prefix": "X-Remote-Extra-",
        "requestheader-group-headers": "X-Remote-Group",
        "requestheader-username-headers": "X-Remote-User",
        "secure-port": str(API_PORT),
        "service-account-issuer": f"https://kubernetes.default.svc.{o.dns_domain}",
        "service-account-key-file": f"{PKI_DIR}/sa.pub",
        "service-account-signing-key-file": f"{PKI_DIR}/sa.key",
        "service-cluster-ip-range": o.service_subnet,
        "tls-cert-file": f"{PKI_DIR}/apiserver.crt",
        "tls-private-key-file": f"{PKI_DIR}/apiserver.key",
    }


def controller_manager_flags(o: LabOptions) -> dict[str, str]:
    conf = f"{KUBERNETES_DIR}/controller-manager.conf"
    flags = {
        "authentication-kubeconfig": conf,
        "authorization-kubeconfig": conf,
        "bind-address": "127.0.0.1",
        "client-ca-file": f"{PKI_DIR}/ca.crt",
        "cluster-name": "kubernetes",
        "cluster-signing-cert-file": f"{PKI_DIR}/ca.crt",
        "cluster-signing-key-file": f"{PKI_DIR}/ca.key",
        "controllers": "*,bootstrapsigner,tokencleaner",
        "kubeconfig": conf,
        "leader-elect": "true",
        "requestheader-client-ca-file": f"{PKI_DIR}/front-proxy-ca.crt",
        "root-ca-file": f"{PKI_DIR}/ca.crt",
        "service-account-private-key-file": f"{PKI_DIR}/sa.key",
        "service-cluster-ip-range": o.service_subnet,
        "use-service-account-credentials": "true",
    }
    if o.pod_subnet:
        flags["allocate-node-cidrs"] = "true"
        flags["cluster-cidr"] = o.pod_subnet
    return flags


def scheduler_flags(o: LabOptions) -> dict[str, str]:
    conf = f"{KUBERNETES_DIR}/scheduler.conf"
    return {
        "authentication-kubeconfig": conf,
        "authorization-kubeconfig": conf,
        "bind-address": "127.0.0.1",
        "kubeconfig": conf,
        "leader-elect": "true",
    }


def etcd_flags(o: LabOptions) -> dict[str, str]:
    ip = o.advertise_address
    flags = {
        "advertise-client-urls": f"https://{ip}:{ETCD_CLIENT_PORT}",
        "cert-file": f"{PKI_DIR}/etcd/server.crt",
        "client-cert-auth": "true",
        "data-dir": ETCD_DATA_DIR,
        "initial-advertise-peer-urls": f"https://{ip}:{ETCD_PEER_PORT}",
        "initial-cluster": f"{o.node_name}=https://{ip}:{ETCD_PEER_PORT}",
        "key-file": f"{PKI_DIR}/etcd/server.key",
        "listen-client-urls": f"https://127.0.0.1:{ETCD_CLIENT_PORT},https://{ip}:{ETCD_CLIENT_PORT}",
        "listen-metrics-urls": f"http://127.0.0.1:{ETCD_METRICS_PORT}",
        "listen-peer-urls": f"https://{ip}:{ETCD_PEER_PORT}",
        "name": o.node_name,
        "peer-cert-file": f"{PKI_DIR}/etcd/peer.crt",
        "peer-client-cert-auth": "true",
        "peer-key-file": f"{PKI_DIR}/etcd/peer.key",
        "peer-trusted-ca-file": f"{PKI_DIR}/etcd/ca.crt",
        "snapshot-count": "10000",
        "trusted-ca-file": f"{PKI_DIR}/etcd/ca.crt",
    }
    if o.minor >= 34:  # etcd 3.6: the experimental flags became feature gates / plain flags
        flags["feature-gates"] = "InitialCorruptCheck=true"
        flags["watch-progress-notify-interval"] = "5s"
    else:
        flags["experimental-initial-corrupt-check"] = "true"
        flags["experimental-watch-progress-notify-interval"] = "5s"
    return flags


def manifests(o: LabOptions) -> dict[str, dict[str, Any]]:
    """The four static pods, by component name."""
    tag = o.version_tag
    ip = o.advertise_address
    out: dict[str, dict[str, Any]] = {}

    volumes, mounts = _volumes("kube-apiserver")
    out["kube-apiserver"] = _pod(
        o,
        "kube-apiserver",
        {
            "command": ["kube-apiserver", *_arguments(apiserver_flags(o))],
            "image": f"{REGISTRY}/kube-apiserver:{tag}",
            "imagePullPolicy": "IfNotPresent",
            "livenessProbe": _liveness(ip, "/livez", API_PORT, "HTTPS"),
            "name": "kube-apiserver",
            "readinessProbe": _readiness(ip, "/readyz", API_PORT, "HTTPS"),
            "resources": {"requests": {"cpu": "250m"}},
            "startupProbe": _startup(ip, "/livez", API_PORT, "HTTPS"),
            "volumeMounts": mounts,
        },
        volumes,
        {"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": f"{ip}:{API_PORT}"},
    )

    for name, flags, port, cpu in (
        ("kube-controller-manager", controller_manager_flags(o), CONTROLLER_MANAGER_PORT, "200m"),
        ("kube-scheduler", scheduler_flags(o), SCHEDULER_PORT, "100m"),
    ):
        volumes, mounts = _volumes(name)
        out[name] = _pod(
            o,
            name,
            {
                "command": [name, *_arguments(flags)],
                "image": f"{REGISTRY}/{name}:{tag}",
                "imagePullPolicy": "IfNotPresent",
                "livenessProbe": _liveness("127.0.0.1", "/healthz", port, "HTTPS"),
                "name": name,
                "resources": {"requests": {"cpu": cpu}},
                "startupProbe": _startup("127.0.0.1", "/healthz", port, "HTTPS"),
                "volumeMounts": mounts,
            },
            volumes,
        )

    etcd: dict[str, Any] = {
        "command": ["etcd", *_arguments(etcd_flags(o))],
        "image": f"{REGISTRY}/etcd:{ETCD_IMAGE_TAG[o.minor]}",
        "imagePullPolicy": "IfNotPresent",
        "name": "etcd",
        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}},
        "volumeMounts": [
            _mount("etcd-data", ETCD_DATA_DIR, read_only=False),
            _mount("etcd-certs", f"{PKI_DIR}/etcd", read_only=False),
        ],
    }
    if o.minor >= 31:
        etcd["livenessProbe"] = _liveness("127.0.0.1", "/livez", ETCD_METRICS_PORT, "HTTP")
        etcd["readinessProbe"] = _readiness("127.0.0.1", "/readyz", ETCD_METRICS_PORT, "HTTP")
        etcd["startupProbe"] = _startup("127.0.0.1", "/readyz", ETCD_METRICS_PORT, "HTTP")
    else:
        etcd["livenessProbe"] = _liveness(
            "127.0.0.1", "/health?exclude=NOSPACE&serializable=true", ETCD_METRICS_PORT, "HTTP"
        )
        etcd["startupProbe"] = _startup("127.0.0.1", "/health?serializable=false", ETCD_METRICS_PORT, "HTTP")
    out["etcd"] = _pod(
        o,
        "etcd",
        etcd,
        [
            _host_volume("etcd-certs", f"{PKI_DIR}/etcd", "DirectoryOrCreate"),
            _host_volume("etcd-data", ETCD_DATA_DIR, "DirectoryOrCreate"),
        ],
        {"kubeadm.kubernetes.io/etcd.advertise-client-urls": f"https://{ip}:{ETCD_CLIENT_PORT}"},
    )
    return out


def kubelet_config(o: LabOptions) -> dict[str, Any]:
    """/var/lib/kubelet/config.yaml as kubeadm marshals its KubeletConfiguration (zero durations kept)."""
    cfg: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"cacheTTL": "0s", "enabled": True},
            "x509": {"clientCAFile": f"{PKI_DIR}/ca.crt"},
        },
        "authorization": {
            "mode": "Webhook",
            "webhook": {"cacheAuthorizedTTL": "0s", "cacheUnauthorizedTTL": "0s"},
        },
        "cgroupDriver": "systemd",
        "clusterDNS": [o.dns_service_ip],
        "clusterDomain": o.dns_domain,
        "containerRuntimeEndpoint": "",
        "cpuManagerReconcilePeriod": "0s",
        "crashLoopBackOff": {},
        "evictionPressureTransitionPeriod": "0s",
        "fileCheckFrequency": "0s",
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "httpCheckFrequency": "0s",
        "imageMaximumGCAge": "0s",
        "imageMinimumGCAge": "0s",
        "kind": "KubeletConfiguration",
        "logging": {
            "flushFrequency": 0,
            "options": {"json": {"infoBufferSize": "0"}, "text": {"infoBufferSize": "0"}},
            "verbosity": 0,
        },
        "memorySwap": {},
        "nodeStatusReportFrequency": "0s",
        "nodeStatusUpdateFrequency": "0s",
        "resolvConf": "/run/systemd/resolve/resolv.conf",
        "rotateCertificates": True,
        "runtimeRequestTimeout": "0s",
        "shutdownGracePeriod": "0s",
        "shutdownGracePeriodCriticalPods": "0s",
        "staticPodPath": MANIFESTS_DIR,
        "streamingConnectionIdleTimeout": "0s",
        "syncFrequency": "0s",
        "volumeStatsAggPeriod": "0s",
    }
    if o.minor < 32:
        del cfg["crashLoopBackOff"]
    return cfg


def kubeconfig(
    *, server: str, ca: pki.KeyPair, user: str, client: pki.KeyPair | None, client_file: str | None = None
) -> dict[str, Any]:
    """A kubeconfig as clientcmd writes it: embedded CA, embedded client cert or a file reference."""
    user_entry: dict[str, str]
    if client is not None:
        user_entry = {
            "client-certificate-data": base64.b64encode(client.cert_pem).decode(),
            "client-key-data": base64.b64encode(client.key_pem).decode(),
        }
    else:
        assert client_file is not None
        user_entry = {"client-certificate": client_file, "client-key": client_file}
    return {
        "apiVersion": "v1",
        "clusters": [
            {
                "cluster": {
                    "certificate-authority-data": base64.b64encode(ca.cert_pem).decode(),
                    "server": server,
                },
                "name": "kubernetes",
            }
        ],
        "contexts": [{"context": {"cluster": "kubernetes", "user": user}, "name": f"{user}@kubernetes"}],
        "current-context": f"{user}@kubernetes",
        "kind": "Config",
        "preferences": {},
        "users": [{"name": user, "user": user_entry}],
    }


def build(o: LabOptions) -> LabTree:
    """Everything ``kubeadm init`` writes on the first control-plane node, with kubeadm's modes."""
    o.validate()
    now = (o.now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    files: list[LabFile] = []
    notes: list[str] = []

    def add_pair(base: str, pair: pki.KeyPair, *, key_mode: int = MODE_KEY) -> None:
        files.append(LabFile(f"etc/kubernetes/pki/{base}.crt", pair.cert_pem, MODE_CERT))
        files.append(LabFile(f"etc/kubernetes/pki/{base}.key", pair.key_pem, key_mode))

    # --- PKI (certlist.go) ---
    ca = pki.make_ca("kubernetes", now)
    front_proxy_ca = pki.make_ca("front-proxy-ca", now)
    etcd_ca = pki.make_ca("etcd-ca", now)
    add_pair("ca", ca)

    apiserver_validity = pki.LEAF_VALIDITY
    if Plant.EXPIRING_CERT in o.plants:
        apiserver_validity = dt.timedelta(days=7)
        notes.append(f"planted: {Plant.EXPIRING_CERT.description}")
    apiserver = pki.make_leaf(
        pki.LeafSpec(
            "kube-apiserver",
            usages=(pki.SERVER_AUTH,),
            dns_names=(
                o.node_name,
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                f"kubernetes.default.svc.{o.dns_domain}",
            ),
            ip_addresses=(o.first_service_ip, o.advertise_address),
        ),
        ca,
        now,
        validity=apiserver_validity,
    )
    key_mode = MODE_KEY
    if Plant.WORLD_READABLE_KEY in o.plants:
        key_mode = 0o644
        notes.append(f"planted: {Plant.WORLD_READABLE_KEY.description}")
    add_pair("apiserver", apiserver, key_mode=key_mode)

    if Plant.EXPIRED_CERT in o.plants:
        kubelet_client = pki.make_leaf(
            pki.LeafSpec("kube-apiserver-kubelet-client", (CLUSTER_ADMINS_GROUP,)),
            ca,
            now - dt.timedelta(days=366),
            not_before=now - dt.timedelta(days=366),
        )
        notes.append(f"planted: {Plant.EXPIRED_CERT.description}")
    else:
        kubelet_client = pki.make_leaf(
            pki.LeafSpec("kube-apiserver-kubelet-client", (CLUSTER_ADMINS_GROUP,)), ca, now
        )
    add_pair("apiserver-kubelet-client", kubelet_client)

    add_pair("front-proxy-ca", front_proxy_ca)
    add_pair("front-proxy-client", pki.make_leaf(pki.LeafSpec("front-proxy-client"), front_proxy_ca, now))

    add_pair("etcd/ca", etcd_ca)
    etcd_sans = {
        "dns_names": (o.node_name, "localhost"),
        "ip_addresses": (o.advertise_address, "127.0.0.1", "::1"),
    }
    both = (pki.SERVER_AUTH, pki.CLIENT_AUTH)
    add_pair("etcd/server", pki.make_leaf(pki.LeafSpec(o.node_name, usages=both, **etcd_sans), etcd_ca, now))
    add_pair("etcd/peer", pki.make_leaf(pki.LeafSpec(o.node_name, usages=both, **etcd_sans), etcd_ca, now))
    add_pair(
        "etcd/healthcheck-client", pki.make_leaf(pki.LeafSpec("kube-etcd-healthcheck-client"), etcd_ca, now)
    )
    etcd_client_issuer = etcd_ca
    if Plant.WRONG_CA in o.plants:
        etcd_client_issuer = ca
        notes.append(f"planted: {Plant.WRONG_CA.description}")
    add_pair(
        "apiserver-etcd-client",
        pki.make_leaf(pki.LeafSpec("kube-apiserver-etcd-client"), etcd_client_issuer, now),
    )

    sa = pki.new_key()
    files.append(LabFile("etc/kubernetes/pki/sa.key", pki.key_pem(sa), MODE_KEY))
    files.append(LabFile("etc/kubernetes/pki/sa.pub", pki.public_key_pem(sa), MODE_CERT))

    # --- kubeconfigs (kubeconfig.go) ---
    server = f"https://{o.advertise_address}:{API_PORT}"
    for filename, user, orgs in (
        ("admin.conf", "kubernetes-admin", (CLUSTER_ADMINS_GROUP,)),
        ("super-admin.conf", "kubernetes-super-admin", (MASTERS_GROUP,)),
        ("controller-manager.conf", "system:kube-controller-manager", ()),
        ("scheduler.conf", "system:kube-scheduler", ()),
    ):
        client = pki.make_leaf(pki.LeafSpec(user, orgs), ca, now)
        content = dump_yaml(kubeconfig(server=server, ca=ca, user=user, client=client))
        files.append(LabFile(f"etc/kubernetes/{filename}", content, MODE_KUBECONFIG))

    # kubelet.conf after `kubeadm init`'s kubelet-finalize phase: the client certificate is the
    # kubelet's rotated one under /var/lib/kubelet/pki, referenced by path.
    node_user = f"system:node:{o.node_name}"
    current_pem = f"{KUBELET_DIR}/pki/kubelet-client-current.pem"
    files.append(
        LabFile(
            "etc/kubernetes/kubelet.conf",
            dump_yaml(kubeconfig(server=server, ca=ca, user=node_user, client=None, client_file=current_pem)),
            MODE_KUBECONFIG,
        )
    )
    kubelet_client_cert = pki.make_leaf(pki.LeafSpec(node_user, (NODES_GROUP,)), ca, now)
    stamp = now.strftime("%Y-%m-%d-%H-%M-%S")
    files.append(
        LabFile(
            f"var/lib/kubelet/pki/kubelet-client-{stamp}.pem",
            kubelet_client_cert.cert_pem + kubelet_client_cert.key_pem,
            MODE_KEY,
        )
    )
    # The kubelet's self-signed serving certificate (kubelet.crt holds the leaf, then its own CA).
    serving_ca = pki.make_ca(f"{o.node_name}-ca@{int(now.timestamp())}", now, validity=pki.LEAF_VALIDITY)
    serving = pki.make_leaf(
        pki.LeafSpec(
            f"{o.node_name}@{int(now.timestamp())}", usages=(pki.SERVER_AUTH,), dns_names=(o.node_name,)
        ),
        serving_ca,
        now,
    )
    files.append(
        LabFile("var/lib/kubelet/pki/kubelet.crt", serving.cert_pem + serving_ca.cert_pem, MODE_CERT)
    )
    files.append(LabFile("var/lib/kubelet/pki/kubelet.key", serving.key_pem, MODE_KEY))
    # The kubelet links it by absolute path; the lab links it relatively so that it resolves under --root.
    symlinks = [LabSymlink("var/lib/kubelet/pki/kubelet-client-current.pem", f"kubelet-client-{stamp}.pem")]

    # --- static pods and the kubelet's configuration ---
    for name, pod in manifests(o).items():
        files.append(LabFile(f"etc/kubernetes/manifests/{name}.yaml", dump_yaml(pod), MODE_MANIFEST))
    files.append(LabFile("var/lib/kubelet/config.yaml", dump_yaml(kubelet_config(o)), MODE_KUBELET_CONFIG))
    files.append(
        LabFile(
            "var/lib/kubelet/kubeadm-flags.env",
            b'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock"\n',
            MODE_CERT,
        )
    )
    dirs = [
        ("etc/kubernetes", 0o755),
        ("etc/kubernetes/manifests", 0o755),
        ("etc/kubernetes/pki", 0o755),
        ("etc/kubernetes/pki/etcd", 0o755),
        ("var/lib/etcd", 0o700),
        ("var/lib/kubelet", 0o755),
        ("var/lib/kubelet/pki", 0o755),
    ]
    return LabTree(files=files, dirs=dirs, symlinks=symlinks, notes=notes)
