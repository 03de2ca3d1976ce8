"""The hardening plan: from an API server's configuration and its scan results to a list of
changes, each with the check it fixes, the reason and a safety level. Pure: no I/O.

A change is planned only for a check that does not pass, so a plan made after the plan was
applied is empty (idempotency comes from the scan, not from remembering what was done). The
profiles follow the hardening guide and CIS 1.2, corrected where applying them blindly breaks
a cluster (see ``docs/harden.md``):

* the audit log's **directory** is mounted, read-write, never the file (rotation writes its
  backups beside the file: ``staging/src/k8s.io/apiserver/pkg/server/options/audit.go`` uses
  lumberjack);
* anonymous authentication is limited to ``/livez``, ``/readyz``, ``/healthz`` with an
  AuthenticationConfiguration (``staging/src/k8s.io/apiserver/pkg/apis/apiserver/types.go``
  ``AnonymousAuthConfig``), never combined with ``--anonymous-auth``, which the server refuses
  (``pkg/kubeapiserver/options/authentication.go``; the v1.36 oracle recording);
* ``--allow-privileged=false`` only when asked for with ``--set``, with the list of the
  privileged workloads it would stop;
* rotation values that meet CIS (maxage 30, maxbackup 10, maxsize 100);
* encryption at rest with ``secretbox`` unless ``aescbc`` is asked for.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kapsec.errors import UsageError
from kapsec.harden.patch import ManifestEdits, MountSpec
from kapsec.model import flags as fl
from kapsec.model.apiserver import ApiServerConfig
from kapsec.model.findings import Status

PROFILES = ("guide", "guide-moderate", "cis")
AUDIT_POLICY_PROFILE = {"guide": "guide-simple", "guide-moderate": "guide-moderate", "cis": "cis"}
AUDIT_LOG_PATH = "/var/log/kubernetes/audit/audit.log"
HEALTH_PATHS = ("/livez", "/readyz", "/healthz")
# The CIS 1.12 allowlist's TLS 1.2 suites with forward secrecy and AEAD, the HTTP/2-required
# ECDHE AES-128-GCM suites among them (kube-apiserver refuses a list without one).
STRONG_CIPHERS = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
)
CONFIG_VOLUME = "kapsec-hardening"
USER_REASON = "asked for with --set"
AUDIT_VOLUME = "audit-log"


class Safety(enum.Enum):
    SAFE = "safe"  # no restart, nothing can break
    NEEDS_RESTART = "needs-restart"  # the API server restarts (the kubelet does it on the manifest change)
    RISKY = "risky"  # can refuse requests, clients or pods, or stop the server if misjudged


@dataclass(frozen=True)
class Change:
    check: str  # the scan check this fixes (or SET for a --set flag the catalog does not know)
    action: str  # set-flag | remove-flag | add-mount | retarget-mount | write-file | advice
    target: str  # the flag, the volume name or the file's node path
    value: str | None
    reason: str
    safety: Safety

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "check": self.check,
            "action": self.action,
            "target": self.target,
            "reason": self.reason,
            "safety": self.safety.value,
        }
        if self.value is not None:
            d["value"] = self.value
        return d


@dataclass(frozen=True)
class GeneratedFile:
    path: str  # the node path (absolute)
    text: str
    kind: str  # audit-policy | encryption | admission | authentication
    check: str
    mode: int = 0o600
    secret: bool = False  # holds key material: never shown, never logged


@dataclass(frozen=True)
class Plan:
    profile: str
    changes: tuple[Change, ...]
    files: tuple[GeneratedFile, ...]
    edits: ManifestEdits
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self.edits.empty and not self.files

    @property
    def actionable(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action != "advice")


@dataclass(frozen=True)
class PlanOptions:
    profile: str = "guide"
    sets: tuple[tuple[str, str], ...] = ()
    skip: frozenset[str] = frozenset()
    encryption_provider: str = "secretbox"
    config_dir: str = "/etc/kubernetes/hardening"
    # privileged workloads found in a snapshot (None: no snapshot given)
    privileged_workloads: tuple[str, ...] | None = None
    # node paths that already exist (an existing encryption config is never overwritten)
    existing_paths: frozenset[str] = frozenset()
    # check id -> flags the catalog's rule names (to attribute --set flags)
    flag_checks: Mapping[str, str] = field(default_factory=dict)
    catalog_safety: Mapping[str, str] = field(default_factory=dict)
    # check id -> the scan's message (quoted in advice for checks that could not be evaluated)
    messages: Mapping[str, str] = field(default_factory=dict)


def parse_set(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``--set flag=value`` words (with or without the leading dashes) as (name, value)."""
    out: list[tuple[str, str]] = []
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set {item}: expected FLAG=VALUE (e.g. --set allow-privileged=false)")
        name, value = item.split("=", 1)
        name = fl.normalize_name(name.lstrip("-"))
        if fl.spec(name) is None:
            raise UsageError(f"--set {item}: --{name} is not a kube-apiserver flag known to kapsec")
        out.append((name, value))
    return tuple(out)


class _Builder:
    def __init__(self, cfg: ApiServerConfig, statuses: Mapping[str, Status], opts: PlanOptions) -> None:
        self.cfg = cfg
        self.statuses = statuses
        self.opts = opts
        self.changes: list[Change] = []
        self.files: list[GeneratedFile] = []
        self.set_flags: dict[str, str] = {}
        self.remove: list[str] = []
        self.mounts: list[MountSpec] = []
        self.retarget: list[tuple[str, MountSpec]] = []
        self.notes: list[str] = []
        self.user_set = {f for f, _ in opts.sets}
        self.warned: set[str] = set()

    def failing(self, check: str) -> bool:
        """The check fails: kapsec plans a change. A check it could not evaluate (warn) gets
        advice instead: kapsec changes nothing it cannot check (e.g. an audit policy on a path
        it cannot read is not replaced)."""
        if check in self.opts.skip:
            return False
        st = self.statuses.get(check)
        if st is Status.WARN and check not in self.warned:
            self.warned.add(check)
            why = self.opts.messages.get(check, "")
            self.changes.append(
                Change(
                    check,
                    "advice",
                    check,
                    None,
                    f"not changed: kapsec could not evaluate it ({why})"
                    if why
                    else "not changed: could not evaluate it",
                    Safety.SAFE,
                )
            )
        return st is Status.FAIL

    def set_flag(self, check: str, flag: str, value: str, reason: str, safety: Safety) -> None:
        if flag in self.user_set and reason != USER_REASON:
            return  # --set wins over the profile
        current = self.cfg.raw(flag) if self.cfg.is_set(flag) else None
        if current == value and len(self.cfg.occurrences_of(flag)) == 1:
            return
        self.set_flags[flag] = value
        self.changes.append(Change(check, "set-flag", f"--{flag}", value, reason, safety))

    def remove_flag(self, check: str, flag: str, reason: str, safety: Safety) -> None:
        if self.cfg.is_set(flag) and flag not in self.remove:
            self.remove.append(flag)
            self.changes.append(Change(check, "remove-flag", f"--{flag}", None, reason, safety))

    def write(self, f: GeneratedFile, reason: str, safety: Safety) -> None:
        self.files.append(f)
        self.changes.append(Change(f.check, "write-file", f.path, None, reason, safety))

    def config_path(self, name: str) -> str:
        return posixpath.join(self.opts.config_dir, name)

    def ensure_config_mount(self) -> None:
        probe = self.config_path("probe")
        reachable = self.cfg.host_path(probe) == probe
        if reachable or any(m.name == CONFIG_VOLUME for m in self.mounts):
            return
        d = self.opts.config_dir
        self.mounts.append(MountSpec(self._free_name(CONFIG_VOLUME), d, d, "DirectoryOrCreate", True))
        self.changes.append(
            Change(
                "FLAG-003",
                "add-mount",
                d,
                "hostPath, read-only",
                "the configuration files kapsec writes must be visible inside the API server's container",
                Safety.NEEDS_RESTART,
            )
        )

    def _free_name(self, base: str) -> str:
        taken = {v.name for v in self.cfg.volumes} | {m.name for m in self.mounts}
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        return name


# ------------------------------------------------------------------------------ steps


def _audit(b: _Builder) -> None:
    cfg = b.cfg
    log_path = cfg.get_str("audit-log-path")
    if b.failing("AUDIT-001") or not log_path:
        if "AUDIT-001" in b.opts.skip:
            return
        log_path = AUDIT_LOG_PATH
        b.set_flag(
            "AUDIT-001",
            "audit-log-path",
            log_path,
            "without a log path the API server keeps no audit log",
            Safety.NEEDS_RESTART,
        )
    if log_path == "-":
        b.notes.append("--audit-log-path=- writes the audit log to stdout; no volume is needed")
    elif "AUDIT-007" not in b.opts.skip and (b.failing("AUDIT-007") or "audit-log-path" in b.set_flags):
        _audit_mount(b, log_path)
    for check, flag, value in (
        ("AUDIT-002", "audit-log-maxage", "30"),
        ("AUDIT-003", "audit-log-maxbackup", "10"),
        ("AUDIT-004", "audit-log-maxsize", "100"),
    ):
        if b.failing(check) or (
            check not in b.opts.skip and not cfg.is_set(flag) and "audit-log-path" in b.set_flags
        ):
            b.set_flag(
                check,
                flag,
                value,
                "CIS 1.2.17-1.2.19 values (the guide's smaller ones fail the benchmark)",
                Safety.NEEDS_RESTART,
            )
    if (b.failing("AUDIT-005") or b.failing("AUDIT-006")) and "AUDIT-005" not in b.opts.skip:
        from kapsec.auditpolicy import generate, load_policy_text

        path = b.config_path("audit-policy.yaml")
        profile = AUDIT_POLICY_PROFILE[b.opts.profile]
        text = generate(profile)
        load_policy_text(text, path)  # the audit-policy package's validation, as the server reads it
        b.write(
            GeneratedFile(path, text, "audit-policy", "AUDIT-005"),
            f"audit policy '{profile}' (kapsec audit-policy generate --profile {profile})",
            Safety.NEEDS_RESTART,
        )
        b.set_flag(
            "AUDIT-005",
            "audit-policy-file",
            path,
            "without a policy the API server records no event at all",
            Safety.NEEDS_RESTART,
        )
        b.ensure_config_mount()


SHARED_DIRS = ("/", "/var", "/var/log", "/tmp", "/etc", "/var/lib")  # noqa: S108 - paths on the node, not temp files


def _audit_mount(b: _Builder, log_path: str) -> None:
    cfg = b.cfg
    log_dir = posixpath.dirname(log_path) or "/"
    hit = cfg.mount_for(log_path)
    if log_dir in SHARED_DIRS and "audit-log-path" not in b.set_flags:
        # mounting /var/log (or /) read-write into the API server to reach one file is worse than
        # the mistake it fixes: move the log into a directory of its own
        old = log_path
        log_path, log_dir = AUDIT_LOG_PATH, posixpath.dirname(AUDIT_LOG_PATH)
        b.set_flag(
            "AUDIT-007",
            "audit-log-path",
            log_path,
            f"the log moves out of {posixpath.dirname(old)} into a directory of its own, so that only that "
            f"directory is mounted (the old log stays at {old})",
            Safety.NEEDS_RESTART,
        )
        if hit is not None and hit[0].mount_path.rstrip("/") == old and hit[1].kind == "hostPath":
            vol = hit[1]
            spec = MountSpec(vol.name, log_dir, log_dir, "DirectoryOrCreate", False)
            b.retarget.append((vol.name, spec))
            b.changes.append(
                Change(
                    "AUDIT-007",
                    "retarget-mount",
                    vol.name,
                    f"{spec.host_path} -> {spec.mount_path} (directory, read-write)",
                    "the guide mounts the log file: rotated backups then land inside the container and "
                    "are lost on restart; mount its directory instead",
                    Safety.NEEDS_RESTART,
                )
            )
            return
        hit = None
    if hit is not None and "audit-log-path" not in b.set_flags:
        mount, vol = hit
        mp = mount.mount_path.rstrip("/")
        if vol.kind != "hostPath" or not vol.host_path:
            b.notes.append(
                f"the audit log is on a {vol.kind} volume ({vol.name}); kapsec repoints only hostPath "
                "volumes: change it by hand"
            )
            return
        if mp == log_path or vol.host_path_type in ("File", "FileOrCreate"):
            host_dir = posixpath.dirname(vol.host_path.rstrip("/")) if mp == log_path else vol.host_path
            spec = MountSpec(
                vol.name,
                log_dir if mp == log_path else mount.mount_path,
                host_dir,
                "DirectoryOrCreate",
                False,
            )
            b.retarget.append((vol.name, spec))
            b.changes.append(
                Change(
                    "AUDIT-007",
                    "retarget-mount",
                    vol.name,
                    f"{spec.host_path} -> {spec.mount_path} (directory, read-write)",
                    "the guide mounts the log file: rotated backups then land inside the container and "
                    "are lost on restart; mount its directory instead",
                    Safety.NEEDS_RESTART,
                )
            )
            return
        if mount.read_only:
            spec = MountSpec(
                vol.name, mount.mount_path, vol.host_path, vol.host_path_type or "DirectoryOrCreate", False
            )
            b.retarget.append((vol.name, spec))
            b.changes.append(
                Change(
                    "AUDIT-007",
                    "retarget-mount",
                    vol.name,
                    "read-write",
                    "the API server cannot write its audit log to a read-only mount",
                    Safety.NEEDS_RESTART,
                )
            )
        return
    name = b._free_name(AUDIT_VOLUME)
    b.mounts.append(MountSpec(name, log_dir, log_dir, "DirectoryOrCreate", False))
    b.changes.append(
        Change(
            "AUDIT-007",
            "add-mount",
            log_dir,
            "hostPath directory, read-write",
            "the log and its rotated backups must live on the node, not in the container",
            Safety.NEEDS_RESTART,
        )
    )


def _probe_breaker(cfg: ApiServerConfig) -> list[str]:
    """The kubelet httpGet probes that --anonymous-auth=false makes fail (they send no credentials)."""
    if not cfg.is_set("anonymous-auth") or cfg.get_str("authentication-config"):
        return []
    try:
        if cfg.get_bool("anonymous-auth"):
            return []
    except ValueError:
        return []
    return [f"{p.kind} {p.path}" for p in cfg.probes if p.handler == "httpGet"]


def _anonymous(b: _Builder) -> None:
    if "anonymous-auth" in b.set_flags or "AUTHN-001" in b.opts.skip:
        return
    cfg = b.cfg
    minor = cfg.version.minor
    gate = cfg.feature_enabled("AnonymousAuthConfigurableEndpoints", default=minor >= 32)
    broken = _probe_breaker(cfg)
    if broken and b.statuses.get("AUTHN-001") is Status.PASS:
        # the guide's --anonymous-auth=false passes the check but fails the kubelet's probes
        if minor >= 32 or (minor == 31 and gate):
            b.notes.append(
                "--anonymous-auth=false makes the kubelet's unauthenticated probes ("
                + ", ".join(broken)
                + ") fail with 401, and the API server restarts in a loop: kapsec keeps anonymous "
                "authentication for the health endpoints only instead"
            )
            _conditional_anonymous(b, minor)
        else:
            b.changes.append(
                Change(
                    "AUTHN-001",
                    "advice",
                    "--anonymous-auth",
                    None,
                    "--anonymous-auth=false makes the kubelet's unauthenticated probes ("
                    + ", ".join(broken)
                    + ") fail with 401: change them to tcpSocket on the secure port, or to an exec probe "
                    f"with a client certificate (Kubernetes {cfg.version.label} cannot limit anonymous access "
                    "to the health endpoints)",
                    Safety.RISKY,
                )
            )
        return
    if not b.failing("AUTHN-001"):
        return
    if cfg.get_str("authentication-config"):
        b.changes.append(
            Change(
                "AUTHN-001",
                "advice",
                "--authentication-config",
                None,
                "an AuthenticationConfiguration is already in use: add 'anonymous: {enabled: true, conditions: "
                "[{path: /livez}, {path: /readyz}, {path: /healthz}]}' to it by hand (kapsec does not merge "
                "into your JWT settings)",
                Safety.RISKY,
            )
        )
        return
    if minor < 31 or not gate:
        b.changes.append(
            Change(
                "AUTHN-001",
                "advice",
                "--anonymous-auth",
                None,
                f"Kubernetes {cfg.version.label} cannot limit anonymous access to the health endpoints "
                "(AuthenticationConfiguration.anonymous needs 1.32+, or 1.31 with the "
                "AnonymousAuthConfigurableEndpoints gate). --anonymous-auth=false makes the kubelet's "
                "unauthenticated /livez probe fail and the API server restart in a loop: first change the "
                "probes (tcpSocket on the secure port, or an exec probe with a client certificate), then "
                "run again with --set anonymous-auth=false",
                Safety.RISKY,
            )
        )
        return
    _conditional_anonymous(b, minor)


def _conditional_anonymous(b: _Builder, minor: int) -> None:
    from kapsec.checks.structured import authn_version_for_anonymous

    # v1 from 1.34, v1beta1 on 1.32-1.33, v1alpha1 on 1.31: a 1.31 server rejects anonymous in v1beta1
    api_version = authn_version_for_anonymous(minor)
    path = b.config_path("authentication-config.yaml")
    text = (
        "# Written by kapsec harden: anonymous requests are authenticated only on the health\n"
        "# endpoints the kubelet probes; every other anonymous request gets 401.\n"
        "# Do not also pass --anonymous-auth: the API server refuses the combination.\n"
        f"apiVersion: {api_version}\n"
        "kind: AuthenticationConfiguration\n"
        "anonymous:\n"
        "  enabled: true\n"
        "  conditions:\n" + "".join(f"  - path: {p}\n" for p in HEALTH_PATHS)
    )
    b.write(
        GeneratedFile(path, text, "authentication", "AUTHN-001"),
        "anonymous access limited to /livez, /readyz, /healthz (the probes keep working)",
        Safety.RISKY,
    )
    b.set_flag(
        "AUTHN-001",
        "authentication-config",
        path,
        "everything but the health endpoints answers 401 to anonymous requests",
        Safety.RISKY,
    )
    b.remove_flag(
        "AUTHN-001",
        "anonymous-auth",
        "the API server refuses --anonymous-auth together with an anonymous stanza in the AuthenticationConfiguration",
        Safety.RISKY,
    )
    b.ensure_config_mount()


def _profiling(b: _Builder) -> None:
    if b.failing("API-001"):
        b.set_flag("API-001", "profiling", "false", "/debug/pprof exposes internals", Safety.NEEDS_RESTART)


def _encryption(b: _Builder) -> None:
    if not (b.failing("ENC-001") or b.failing("ENC-002")) or "ENC-001" in b.opts.skip:
        return
    cfg = b.cfg
    if cfg.get_str("encryption-provider-config"):
        b.changes.append(
            Change(
                "ENC-002",
                "advice",
                "--encryption-provider-config",
                None,
                "an EncryptionConfiguration is in use but does not encrypt Secrets (or is invalid): kapsec never "
                "rewrites an existing key file; fix it with kapsec encryption lint / rotate",
                Safety.RISKY,
            )
        )
        return
    path = b.config_path("encryption-config.yaml")
    provider = b.opts.encryption_provider
    if path in b.opts.existing_paths:
        b.notes.append(f"{path} exists: it is used as is (kapsec never overwrites a key file)")
    else:
        from kapsec.encryption.generate import generate_config

        text, *advice = generate_config(provider)
        b.notes.extend(advice)
        b.write(
            GeneratedFile(path, text, "encryption", "ENC-001", secret=True),
            f"a new random {provider} key, mode 0600 (never printed); identity second so existing Secrets stay readable",
            Safety.RISKY,
        )
    b.set_flag(
        "ENC-001",
        "encryption-provider-config",
        path,
        f"Secrets written from now on are encrypted with {provider}; rewrite the existing ones "
        "(kubectl get secrets -A -o json | kubectl replace -f -) and back up the key with etcd",
        Safety.RISKY,
    )
    b.ensure_config_mount()


def _admission(b: _Builder) -> None:
    if not b.failing("PRIV-001") or "PRIV-001" in b.opts.skip or "allow-privileged" in b.set_flags:
        return
    cfg = b.cfg
    if cfg.get_str("admission-control-config-file"):
        b.changes.append(
            Change(
                "PRIV-001",
                "advice",
                "--admission-control-config-file",
                None,
                "an AdmissionConfiguration is in use: set PodSecurity defaults.enforce to baseline in it "
                "(kapsec pss config) or opt in to --set allow-privileged=false",
                Safety.RISKY,
            )
        )
        return
    from kapsec.pss.admission import generate_admission_config, parse_admission_config

    path = b.config_path("admission-config.yaml")
    text = generate_admission_config()
    parse_admission_config(text, path)
    b.write(
        GeneratedFile(path, text, "admission", "PRIV-001"),
        "PodSecurity enforces baseline (no privileged pods) in every namespace without its own label; "
        "kube-system is exempt; audit and warn at restricted",
        Safety.RISKY,
    )
    b.set_flag(
        "PRIV-001",
        "admission-control-config-file",
        path,
        "new privileged pods outside kube-system are refused; check first with kapsec pss simulate",
        Safety.RISKY,
    )
    b.ensure_config_mount()


def _tls(b: _Builder) -> None:
    if b.failing("TLS-003"):
        b.set_flag(
            "TLS-003",
            "tls-cipher-suites",
            ",".join(STRONG_CIPHERS),
            "only ECDHE AEAD suites (CIS 1.12 allowlist); clients limited to CBC or RSA key exchange can no longer connect",
            Safety.RISKY,
        )
    if b.failing("TLS-005"):
        b.set_flag(
            "TLS-005", "tls-min-version", "VersionTLS12", "TLS 1.0/1.1 are deprecated", Safety.NEEDS_RESTART
        )


def _cis(b: _Builder) -> None:
    if b.failing("SA-003"):
        b.set_flag(
            "SA-003",
            "service-account-extend-token-expiration",
            "false",
            "admission-injected tokens honour --service-account-max-token-expiration; old clients that do not "
            "reload their token get 401 after an hour",
            Safety.RISKY,
        )
    if b.failing("KUBELET-002"):
        b.changes.append(
            Change(
                "KUBELET-002",
                "advice",
                "--kubelet-certificate-authority",
                None,
                "not applied: kubelets need serving certificates signed by that CA first (kubeadm: "
                "serverTLSBootstrap: true and approve the CSRs), or exec, logs and port-forward break",
                Safety.RISKY,
            )
        )


def _sets(b: _Builder) -> None:
    for flag, value in b.opts.sets:
        check = b.opts.flag_checks.get(flag, "SET")
        safety = Safety(b.opts.catalog_safety.get(check, "needs-restart"))
        reason = USER_REASON
        if flag == "allow-privileged" and value.lower() in ("false", "0", "f"):
            check, safety = "PRIV-001", Safety.RISKY
            w = b.opts.privileged_workloads
            if w is None:
                reason = (
                    "asked for with --set; UNKNOWN what it stops: give --snapshot FILE to list the privileged "
                    "workloads (kube-proxy and most CNIs are privileged)"
                )
            elif w:
                reason = f"asked for with --set; it stops {len(w)} privileged workload(s): " + "; ".join(w)
            else:
                reason = "asked for with --set; the snapshot has no privileged workload"
        if flag == "anonymous-auth" and value.lower() in ("false", "0", "f"):
            check, safety = "AUTHN-001", Safety.RISKY
            unauth = [p for p in b.cfg.probes if p.handler == "httpGet"]
            if unauth:
                reason = (
                    "asked for with --set; the kubelet's httpGet probes ("
                    + ", ".join(f"{p.kind} {p.path}" for p in unauth)
                    + ") are unauthenticated and will fail: change them first"
                )
        b.user_set.discard(flag)
        b.set_flag(check, flag, value, reason, safety)
        b.user_set.add(flag)


def make_plan(cfg: ApiServerConfig, statuses: Mapping[str, Status], opts: PlanOptions) -> Plan:
    """The changes that make ``cfg`` pass the profile's checks (nothing for passing checks)."""
    if opts.profile not in PROFILES:
        raise UsageError(f"unknown profile {opts.profile!r} (expected one of: {', '.join(PROFILES)})")
    b = _Builder(cfg, statuses, opts)
    _sets(b)
    _audit(b)
    _anonymous(b)
    _profiling(b)
    _encryption(b)
    _admission(b)
    _tls(b)
    if opts.profile == "cis":
        _cis(b)
    edits = ManifestEdits(
        set_flags=tuple(b.set_flags.items()),
        remove_flags=tuple(b.remove),
        add_mounts=tuple(b.mounts),
        retarget=tuple(b.retarget),
    )
    return Plan(
        profile=opts.profile,
        changes=tuple(b.changes),
        files=tuple(b.files),
        edits=edits,
        notes=tuple(b.notes),
    )
