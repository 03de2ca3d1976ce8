"""The kube-apiserver flag registry: names, value types, defaults and the versions a flag exists in.

Mirrors the flag definitions of ``cmd/kube-apiserver/app/options/options.go``,
``pkg/kubeapiserver/options/{authentication,authorization,admission,plugins}.go`` and
``staging/src/k8s.io/apiserver/pkg/server/options/*.go`` (serving, audit, etcd, feature,
recommended) in kubernetes/kubernetes, plus the removals announced in the release notes
(``--insecure-port``/``--insecure-bind-address``/``--address``/``--port`` in 1.24,
``--basic-auth-file`` in 1.19, ``--kubelet-https`` in 1.22, the klog flags in 1.26).

Only defaults that checks depend on are recorded; a flag without a recorded default has
``default=None`` ("no value": empty string, empty list, 0 or false as its type says).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# The newest minor version kapsec knows; used when a version cannot be determined.
LATEST_MINOR = 36
OLDEST_MINOR = 10


class FlagType(enum.Enum):
    BOOL = "bool"
    STRING = "string"
    INT = "int"
    FLOAT = "float"
    DURATION = "duration"
    STRINGS = "strings"  # pflag StringSlice: CSV, repeats accumulate
    STRING_ARRAY = "stringArray"  # pflag StringArray: no CSV split, repeats accumulate
    MAP = "map"  # key=value pairs (feature-gates, runtime-config): repeats merge
    IP = "ip"
    CIDR = "cidr"
    PORT_RANGE = "portRange"
    TLS_VERSION = "tlsVersion"
    CIPHERS = "ciphers"
    NAMED_CERT_KEY = "namedCertKey"


@dataclass(frozen=True, slots=True)
class FlagSpec:
    name: str
    type: FlagType
    default: str | None = None  # as the server would print it; None = zero value
    added: int | None = None  # first minor version with the flag (None = before 1.10)
    removed: int | None = None  # first minor version WITHOUT the flag
    note: str = ""

    def exists_in(self, minor: int) -> bool:
        if self.added is not None and minor < self.added:
            return False
        return not (self.removed is not None and minor >= self.removed)


B, S, I, D, L, A, M = (  # noqa: E741 - short aliases keep the table readable
    FlagType.BOOL,
    FlagType.STRING,
    FlagType.INT,
    FlagType.DURATION,
    FlagType.STRINGS,
    FlagType.STRING_ARRAY,
    FlagType.MAP,
)

_SPECS: tuple[FlagSpec, ...] = (
    # --- generic / misc
    FlagSpec("advertise-address", FlagType.IP),
    FlagSpec("aggregator-reject-forwarding-redirect", B, "true", added=27),
    FlagSpec("allow-metric-labels", M),
    FlagSpec("allow-metric-labels-manifest", S, added=28),
    FlagSpec("allow-privileged", B, "false"),
    FlagSpec("api-audiences", L),
    FlagSpec("apiserver-count", I, "1"),
    FlagSpec("cloud-config", S),
    FlagSpec("cloud-provider", S),
    FlagSpec("cloud-provider-gce-l7lb-src-cidrs", FlagType.CIDR),
    FlagSpec("cloud-provider-gce-lb-src-cidrs", FlagType.CIDR),
    FlagSpec("contention-profiling", B, "false"),
    FlagSpec("cors-allowed-origins", L),
    FlagSpec("debug-socket-path", S, added=25),
    FlagSpec("default-not-ready-toleration-seconds", I, "300"),
    FlagSpec("default-unreachable-toleration-seconds", I, "300"),
    FlagSpec("default-watch-cache-size", I, "100"),
    FlagSpec("delete-collection-workers", I, "1"),
    FlagSpec("disabled-metrics", L),
    FlagSpec("egress-selector-config-file", S),
    FlagSpec("emulated-version", L, added=31),
    FlagSpec("emulation-forward-compatible", B, added=33),
    FlagSpec("runtime-config-emulation-forward-compatible", B, added=33),
    FlagSpec("enable-aggregator-routing", B, "false"),
    FlagSpec("enable-garbage-collector", B, "true"),
    FlagSpec("enable-logs-handler", B, "true"),
    FlagSpec("enable-priority-and-fairness", B, "true"),
    FlagSpec("endpoint-reconciler-type", S, "lease"),
    FlagSpec("event-ttl", D, "1h0m0s"),
    FlagSpec("external-hostname", S),
    FlagSpec("feature-gates", M),
    FlagSpec("goaway-chance", FlagType.FLOAT, "0"),
    FlagSpec("help", B, "false"),
    FlagSpec("identity-lease-duration-seconds", I, "3600"),
    FlagSpec("identity-lease-renew-interval-seconds", I, "10"),
    FlagSpec("kubernetes-service-node-port", I, "0"),
    FlagSpec("lease-reuse-duration-seconds", I, "60"),
    FlagSpec("livez-grace-period", D, "0s"),
    FlagSpec("master-service-namespace", S, "default"),
    FlagSpec("max-connection-bytes-per-sec", I, "0"),
    FlagSpec("max-mutating-requests-inflight", I, "200"),
    FlagSpec("max-requests-inflight", I, "400"),
    FlagSpec("min-request-timeout", I, "1800"),
    FlagSpec("peer-advertise-ip", S, added=28),
    FlagSpec("peer-advertise-port", S, added=28),
    FlagSpec("peer-ca-file", S, added=28),
    FlagSpec("permit-address-sharing", B, "false"),
    FlagSpec("permit-port-sharing", B, "false"),
    FlagSpec("profiling", B, "true"),
    FlagSpec("request-timeout", D, "1m0s"),
    FlagSpec("runtime-config", M),
    FlagSpec("service-account-signing-key-file", S),
    FlagSpec("service-cluster-ip-range", S),
    FlagSpec("service-node-port-range", FlagType.PORT_RANGE, "30000-32767"),
    FlagSpec("show-hidden-metrics-for-version", S),
    FlagSpec("shutdown-delay-duration", D, "0s"),
    FlagSpec("shutdown-send-retry-after", B, "false"),
    FlagSpec("shutdown-watch-termination-grace-period", D, "0s", added=27),
    FlagSpec("storage-backend", S),
    FlagSpec("storage-initialization-timeout", D, added=30),
    FlagSpec("storage-media-type", S, "application/vnd.kubernetes.protobuf"),
    FlagSpec("strict-transport-security-directives", L),
    FlagSpec("tracing-config-file", S, added=22),
    FlagSpec("version", B, note="version[=true]: a bare --version prints the version"),
    FlagSpec("watch-cache", B, "true"),
    FlagSpec("watch-cache-sizes", L),
    FlagSpec("v", I, "0"),
    FlagSpec("vmodule", S),
    FlagSpec("log-flush-frequency", D, "5s"),
    FlagSpec("logging-format", S, "text"),
    FlagSpec("log-json-info-buffer-size", S, added=22),
    FlagSpec("log-json-split-stream", B, added=22),
    FlagSpec("log-text-info-buffer-size", S, added=28),
    FlagSpec("log-text-split-stream", B, added=28),
    # flags of older releases; when they went away is not recorded, so they are never reported
    FlagSpec("azure-container-registry-config", S),
    FlagSpec("experimental-logging-sanitization", B),
    FlagSpec("enable-swagger-ui", B),
    FlagSpec("target-ram-mb", I),
    FlagSpec("kubelet-read-only-port", I),
    FlagSpec("kubelet-port", I),
    FlagSpec("deserialization-cache-size", I),
    FlagSpec("storage-versions", S),
    FlagSpec("repair-malformed-updates", B),
    # klog flags removed from the components in 1.26 (KEP-2845)
    *(
        FlagSpec(n, t, removed=26, note="klog flag removed from kube-apiserver in 1.26 (KEP-2845)")
        for n, t in (
            ("add-dir-header", B),
            ("alsologtostderr", B),
            ("log-backtrace-at", S),
            ("log-dir", S),
            ("log-file", S),
            ("log-file-max-size", I),
            ("logtostderr", B),
            ("one-output", B),
            ("skip-headers", B),
            ("skip-log-headers", B),
            ("stderrthreshold", S),
        )
    ),
    # --- secure serving
    FlagSpec("bind-address", FlagType.IP, "0.0.0.0"),  # noqa: S104 - the upstream default
    FlagSpec("cert-dir", S, "/var/run/kubernetes"),
    FlagSpec("http2-max-streams-per-connection", I, "0"),
    FlagSpec("secure-port", I, "6443"),
    FlagSpec("tls-cert-file", S),
    FlagSpec("tls-cipher-suites", FlagType.CIPHERS),
    FlagSpec("tls-min-version", FlagType.TLS_VERSION),
    FlagSpec("tls-private-key-file", S),
    FlagSpec("tls-sni-cert-key", FlagType.NAMED_CERT_KEY),
    # --- insecure serving, removed
    FlagSpec("insecure-port", I, removed=24, note="insecure serving was removed in 1.20"),
    FlagSpec("insecure-bind-address", FlagType.IP, removed=24, note="insecure serving was removed in 1.20"),
    FlagSpec("address", FlagType.IP, removed=24, note="insecure serving was removed in 1.20"),
    FlagSpec("port", I, removed=24, note="insecure serving was removed in 1.20"),
    # --- etcd / storage
    FlagSpec("encryption-provider-config", S),
    FlagSpec("encryption-provider-config-automatic-reload", B, "false", added=26),
    FlagSpec(
        "experimental-encryption-provider-config", S, removed=14, note="renamed --encryption-provider-config"
    ),
    FlagSpec("etcd-cafile", S),
    FlagSpec("etcd-certfile", S),
    FlagSpec("etcd-compaction-interval", D, "5m0s"),
    FlagSpec("etcd-count-metric-poll-period", D, "1m0s"),
    FlagSpec("etcd-db-metric-poll-interval", D, "30s"),
    FlagSpec("etcd-healthcheck-timeout", D, "2s"),
    FlagSpec("etcd-keyfile", S),
    FlagSpec("etcd-prefix", S, "/registry"),
    FlagSpec("etcd-readycheck-timeout", D, "2s", added=26),
    FlagSpec("etcd-servers", L),
    FlagSpec("etcd-servers-overrides", L),
    # --- audit
    *(
        FlagSpec(f"audit-{backend}-{name}", t, dflt)
        for backend in ("log", "webhook")
        for name, t, dflt in (
            ("batch-buffer-size", I, "10000"),
            ("batch-max-size", I, "1" if backend == "log" else "400"),
            ("batch-max-wait", D, None if backend == "log" else "30s"),
            ("batch-throttle-burst", I, None if backend == "log" else "15"),
            ("batch-throttle-enable", B, "false" if backend == "log" else "true"),
            ("batch-throttle-qps", FlagType.FLOAT, None if backend == "log" else "10"),
            ("mode", S, "blocking" if backend == "log" else "batch"),
            ("truncate-enabled", B, "false"),
            ("truncate-max-batch-size", I, "10485760"),
            ("truncate-max-event-size", I, "102400"),
            ("version", S, "audit.k8s.io/v1"),
        )
    ),
    FlagSpec("audit-log-compress", B, "false"),
    FlagSpec("audit-log-format", S, "json"),
    FlagSpec("audit-log-maxage", I, "0"),
    FlagSpec("audit-log-maxbackup", I, "0"),
    FlagSpec("audit-log-maxsize", I, "0"),
    FlagSpec("audit-log-path", S),
    FlagSpec("audit-policy-file", S),
    FlagSpec("audit-webhook-config-file", S),
    FlagSpec("audit-webhook-initial-backoff", D, "10s"),
    FlagSpec("audit-dynamic-configuration", B, removed=19, note="dynamic audit was removed in 1.19"),
    # --- authentication
    FlagSpec("anonymous-auth", B, "true"),
    FlagSpec("authentication-config", S, added=29),
    FlagSpec("authentication-token-webhook-cache-ttl", D, "2m0s"),
    FlagSpec("authentication-token-webhook-config-file", S),
    FlagSpec("authentication-token-webhook-version", S, "v1beta1"),
    FlagSpec("basic-auth-file", S, removed=19, note="static password authentication was removed in 1.19"),
    FlagSpec("client-ca-file", S),
    FlagSpec("enable-bootstrap-token-auth", B, "false"),
    FlagSpec("oidc-ca-file", S),
    FlagSpec("oidc-client-id", S),
    FlagSpec("oidc-groups-claim", S),
    FlagSpec("oidc-groups-prefix", S),
    FlagSpec("oidc-issuer-url", S),
    FlagSpec("oidc-required-claim", M),
    FlagSpec("oidc-signing-algs", L, "RS256"),
    FlagSpec("oidc-username-claim", S, "sub"),
    FlagSpec("oidc-username-prefix", S),
    FlagSpec("requestheader-allowed-names", L),
    FlagSpec("requestheader-client-ca-file", S),
    FlagSpec("requestheader-extra-headers-prefix", L),
    FlagSpec("requestheader-group-headers", L),
    FlagSpec("requestheader-uid-headers", L, added=32),
    FlagSpec("requestheader-username-headers", L),
    FlagSpec("service-account-api-audiences", L, note="deprecated alias of --api-audiences"),
    FlagSpec("service-account-extend-token-expiration", B, "true"),
    FlagSpec("service-account-issuer", A),
    FlagSpec("service-account-jwks-uri", S),
    FlagSpec("service-account-key-file", A),
    FlagSpec("service-account-lookup", B, "true"),
    FlagSpec("service-account-max-token-expiration", D, "0s"),
    FlagSpec("token-auth-file", S),
    # --- authorization
    FlagSpec("authorization-config", S, added=29),
    FlagSpec("authorization-mode", L, "AlwaysAllow"),
    FlagSpec("authorization-policy-file", S),
    FlagSpec("authorization-webhook-cache-authorized-ttl", D, "5m0s"),
    FlagSpec("authorization-webhook-cache-unauthorized-ttl", D, "30s"),
    FlagSpec("authorization-webhook-config-file", S),
    FlagSpec("authorization-webhook-version", S, "v1beta1"),
    # --- admission
    FlagSpec(
        "admission-control",
        L,
        note="deprecated: replaces the default plugin set; use --enable-admission-plugins",
    ),
    FlagSpec("admission-control-config-file", S),
    FlagSpec("disable-admission-plugins", L),
    FlagSpec("enable-admission-plugins", L),
    # --- kubelet
    FlagSpec("kubelet-certificate-authority", S),
    FlagSpec("kubelet-client-certificate", S),
    FlagSpec("kubelet-client-key", S),
    FlagSpec(
        "kubelet-https",
        B,
        "true",
        removed=22,
        note="removed in 1.22: the API server always uses HTTPS to kubelets",
    ),
    FlagSpec("kubelet-preferred-address-types", L, "Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP"),
    FlagSpec("kubelet-timeout", D, "5s"),
    FlagSpec("proxy-client-cert-file", S),
    FlagSpec("proxy-client-key-file", S),
)

FLAGS: dict[str, FlagSpec] = {s.name: s for s in _SPECS}


def normalize_name(name: str) -> str:
    """kube-apiserver's word-separator normalisation: ``--audit_log_path`` is ``--audit-log-path``."""
    return name.replace("_", "-")


def spec(name: str) -> FlagSpec | None:
    return FLAGS.get(normalize_name(name))


# --- admission plugins (pkg/kubeapiserver/options/plugins.go, per release)

# name -> (first minor with the plugin, first minor without it); None where kapsec does not record
# the release (then the plugin is never reported as unknown for that end)
ADMISSION_PLUGINS: dict[str, tuple[int | None, int | None]] = {
    "AlwaysAdmit": (None, None),
    "AlwaysDeny": (None, None),
    "AlwaysPullImages": (None, None),
    "CertificateApproval": (18, None),
    "CertificateSigning": (18, None),
    "CertificateSubjectRestriction": (18, None),
    "ClusterTrustBundleAttest": (27, None),
    "DefaultIngressClass": (18, None),
    "DefaultStorageClass": (None, None),
    "DefaultTolerationSeconds": (None, None),
    "DenyEscalatingExec": (None, None),
    "DenyExecOnPrivileged": (None, None),
    "DenyServiceExternalIPs": (21, None),
    "EventRateLimit": (None, None),
    "ExtendedResourceToleration": (None, None),
    "ImagePolicyWebhook": (None, None),
    "Initializers": (None, 14),
    "LimitPodHardAntiAffinityTopology": (None, None),
    "LimitRanger": (None, None),
    "MutatingAdmissionPolicy": (32, None),
    "MutatingAdmissionWebhook": (None, None),
    "NamespaceAutoProvision": (None, None),
    "NamespaceExists": (None, None),
    "NamespaceLifecycle": (None, None),
    "NodeDeclaredFeatureValidator": (None, None),
    "NodeRestriction": (None, None),
    "OwnerReferencesPermissionEnforcement": (None, None),
    "PersistentVolumeClaimResize": (None, None),
    "PersistentVolumeLabel": (None, None),
    "PodGroupProtection": (None, None),
    "PodGroupWorkloadExists": (None, None),
    "PodNodeSelector": (None, None),
    "PodPreset": (None, 20),
    "PodResizeValidator": (None, None),
    "PodSecurity": (22, None),
    "PodSecurityPolicy": (None, 25),
    "PodTolerationRestriction": (None, None),
    "PodTopologyLabels": (33, None),
    "Priority": (None, None),
    "ResourceQuota": (None, None),
    "RuntimeClass": (None, None),
    "SecurityContextDeny": (None, 30),
    "ServiceAccount": (None, None),
    "StorageObjectInUseProtection": (None, None),
    "TaintNodesByCondition": (None, None),
    "ValidatingAdmissionPolicy": (26, None),
    "ValidatingAdmissionWebhook": (None, None),
    "JobValidation": (None, None),
}

_DEFAULT_ON_ALWAYS = (
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "DefaultStorageClass",
    "DefaultTolerationSeconds",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionWebhook",
    "ResourceQuota",
)
# plugin -> first minor in which it is on by default (DefaultOffAdmissionPlugins, per release)
_DEFAULT_ON_SINCE: dict[str, int] = {
    "PersistentVolumeClaimResize": 11,
    "Priority": 12,
    "StorageObjectInUseProtection": 11,
    "TaintNodesByCondition": 17,
    "RuntimeClass": 20,
    "CertificateApproval": 18,
    "CertificateSigning": 18,
    "CertificateSubjectRestriction": 18,
    "DefaultIngressClass": 18,
    "PodSecurity": 23,
    "ValidatingAdmissionPolicy": 26,
    "ClusterTrustBundleAttest": 27,
    "MutatingAdmissionPolicy": 32,
    "PodTopologyLabels": 33,
}


def plugin_exists(name: str, minor: int) -> bool:
    span = ADMISSION_PLUGINS.get(name)
    if span is None:
        return False
    added, removed = span
    return (added is None or minor >= added) and (removed is None or minor < removed)


def default_on_plugins(minor: int) -> frozenset[str]:
    """The admission plugins a kube-apiserver of minor version ``minor`` enables by default."""
    on = set(_DEFAULT_ON_ALWAYS)
    on.update(p for p, since in _DEFAULT_ON_SINCE.items() if minor >= since)
    return frozenset(on)


AUTHORIZATION_MODES = ("AlwaysAllow", "AlwaysDeny", "ABAC", "Webhook", "RBAC", "Node")

TLS_VERSIONS = ("VersionTLS10", "VersionTLS11", "VersionTLS12", "VersionTLS13")

# Go crypto/tls names: tls.CipherSuites() (secure) and tls.InsecureCipherSuites().
SECURE_CIPHERS = (
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
)
INSECURE_CIPHERS = (
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
)
KNOWN_CIPHERS = frozenset(SECURE_CIPHERS + INSECURE_CIPHERS)
# HTTP/2 (on by default) refuses a suite list without one of these (see config-errors oracle).
HTTP2_REQUIRED_CIPHERS = ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
