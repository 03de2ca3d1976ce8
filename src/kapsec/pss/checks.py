"""The Pod Security Standards checks, one function per upstream check revision.

Mirrors ``staging/src/k8s.io/pod-security-admission/policy/check_*.go`` (the rules and the
admission plugin's reason/detail wording), ``policy/registry.go`` (which checks and revisions
apply at a level and version, restricted checks overriding baseline ones, ID-sorted order),
``policy/visitor.go`` (init, regular, then ephemeral containers) and ``policy/helpers.go``
(quoting and pluralisation). Written from the behaviour documented in our PSS notes and
checked against every upstream fixture; no upstream code is copied.

Pods are plain decoded dicts (``metadata``/``spec`` of a Pod or pod template). Values the API
server would not decode (a string where a bool belongs) never count as set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kapsec.pss.api import MAX_MINOR, Level

Obj = Mapping[str, Any]
_EMPTY: Obj = {}


def _map(value: Any) -> Obj:
    # decoded YAML/JSON objects are dicts; isinstance against dict is much cheaper than Mapping
    return value if isinstance(value, dict) else _EMPTY


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(slots=True)
class Container:
    name: str
    spec: Obj
    sc: Obj | None  # the container's securityContext, None when unset
    ephemeral: bool = False


@dataclass(slots=True)
class PodView:
    """One pod (or template) prepared once for every check at every level."""

    annotations: Obj
    spec: Obj
    psc: Obj | None  # spec.securityContext, None when unset
    containers: list[Container]
    windows: bool
    user_namespace: bool
    # Pods (not templates) with hostNetwork get hostPort = containerPort by API defaulting
    host_network_ports: bool = False
    # keys set in any container's securityContext / any container spec: a check whose field no
    # container sets has nothing to find (the fast path for most pods)
    sc_keys: frozenset[str] = frozenset()
    container_keys: frozenset[str] = frozenset()
    cache: dict[Any, Any] = field(default_factory=dict)

    def psc_has(self, key: str) -> bool:
        return self.psc is not None and self.psc.get(key) is not None

    @classmethod
    def from_parts(cls, metadata: Any, spec: Any, *, is_pod: bool = False) -> PodView:
        meta = _map(metadata)
        spec_m = _map(spec)
        containers: list[Container] = []
        sc_keys: set[str] = set()
        container_keys: set[str] = set()
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for c in _list(spec_m.get(key)):
                if not isinstance(c, dict):
                    continue
                container_keys.update(c)
                sc = c.get("securityContext")
                if isinstance(sc, dict):
                    sc_keys.update(sc)
                containers.append(
                    Container(
                        str(c.get("name", "")),
                        c,
                        sc if isinstance(sc, dict) else None,
                        key == "ephemeralContainers",
                    )
                )
        psc = spec_m.get("securityContext")
        os_name = _map(spec_m.get("os")).get("name")
        return cls(
            annotations=_map(meta.get("annotations")),
            spec=spec_m,
            psc=psc if isinstance(psc, dict) else None,
            containers=containers,
            windows=os_name == "windows",
            user_namespace=spec_m.get("hostUsers") is False,
            host_network_ports=is_pod and spec_m.get("hostNetwork") is True,
            sc_keys=frozenset(sc_keys),
            container_keys=frozenset(container_keys),
        )


# (forbidden reason, forbidden detail); None means allowed.
Result = tuple[str, str]
CheckFn = Callable[[PodView], Result | None]


# --- helpers (policy/helpers.go) -------------------------------------------------------------


def join_quote(items: Iterable[str]) -> str:
    items = list(items)
    if not items:
        return ""
    return '"' + '", "'.join(items) + '"'


def pluralize(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def go_quote(value: str) -> str:
    """Go's ``%q`` for the printable strings annotations hold."""
    out = ['"']
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _containers_phrase(names: list[str]) -> str:
    return f"{pluralize('container', 'containers', len(names))} {join_quote(names)}"


def _setters(pod: bool, containers: list[str], extra: str | None = None) -> str:
    parts = ["pod"] if pod else []
    if containers:
        parts.append(_containers_phrase(containers))
    if extra:
        parts.append(extra)
    return " and ".join(parts)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


# --- baseline checks -------------------------------------------------------------------------

_APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def app_armor_profile_1_0(p: PodView) -> Result | None:
    if not p.annotations and "appArmorProfile" not in p.sc_keys and not p.psc_has("appArmorProfile"):
        return None
    bad_values: set[str] = set()
    pod_bad = False
    if p.psc is not None:
        prof = p.psc.get("appArmorProfile")
        if isinstance(prof, dict):
            t = _str(prof.get("type"))
            if t not in _APPARMOR_TYPES:
                pod_bad = True
                bad_values.add(t)
    bad: list[str] = []
    for c in p.containers:
        if c.sc is not None:
            prof = c.sc.get("appArmorProfile")
            if isinstance(prof, dict):
                t = _str(prof.get("type"))
                if t not in _APPARMOR_TYPES:
                    bad.append(c.name)
                    bad_values.add(t)
    annotations = []
    for k, v in p.annotations.items():
        if isinstance(k, str) and k.startswith(_APPARMOR_ANNOTATION):
            v = _str(v)
            if v and v != "runtime/default" and not v.startswith("localhost/"):
                annotations.append(f"{k}={go_quote(v)}")
    if not (pod_bad or bad or annotations):
        return None
    values = sorted(bad_values) + sorted(annotations)
    extra = pluralize("annotation", "annotations", len(annotations)) if annotations else None
    return (
        pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles", len(values)),
        f"{_setters(pod_bad, bad, extra)} must not set AppArmor profile type to {join_quote(values)}",
    )


_DEFAULT_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


def capabilities_baseline_1_0(p: PodView) -> Result | None:
    if "capabilities" not in p.sc_keys:
        return None
    bad: list[str] = []
    caps: set[str] = set()
    for c in p.containers:
        if c.sc is None:
            continue
        add = _list(_map(c.sc.get("capabilities")).get("add"))
        found = [_str(a) for a in add if _str(a) not in _DEFAULT_CAPABILITIES]
        if found:
            bad.append(c.name)
            caps.update(found)
    if not bad:
        return None
    return (
        "non-default capabilities",
        f"{_containers_phrase(bad)} must not include {join_quote(sorted(caps))} in "
        "securityContext.capabilities.add",
    )


def host_namespaces_1_0(p: PodView) -> Result | None:
    found = [f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if p.spec.get(key) is True]
    if not found:
        return None
    return "host namespaces", ", ".join(found)


def host_path_volumes_1_0(p: PodView) -> Result | None:
    names = [
        _str(v.get("name"))
        for v in _list(p.spec.get("volumes"))
        if isinstance(v, dict) and v.get("hostPath") is not None
    ]
    if not names:
        return None
    return "hostPath volumes", f"{pluralize('volume', 'volumes', len(names))} {join_quote(names)}"


def host_ports_1_0(p: PodView) -> Result | None:
    if "ports" not in p.container_keys:
        return None
    bad: list[str] = []
    ports: set[str] = set()
    for c in p.containers:
        found = False
        for port in _list(c.spec.get("ports")):
            hp = _map(port).get("hostPort")
            if hp in (None, 0) and p.host_network_ports and not c.ephemeral:
                hp = _map(port).get("containerPort")  # SetDefaults_Pod: defaultHostNetworkPorts
            if hp not in (None, 0):
                found = True
                ports.add(_str(hp))
        if found:
            bad.append(c.name)
    if not bad:
        return None
    return (
        "hostPort",
        f"{_containers_phrase(bad)} {pluralize('uses', 'use', len(bad))} "
        f"{pluralize('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}",
    )


_PROBE_KEYS = frozenset({"livenessProbe", "readinessProbe", "startupProbe", "lifecycle"})


def _handler_hosts(handler: Any) -> list[str]:
    h = _map(handler)
    hosts = []
    for kind in ("httpGet", "tcpSocket"):
        host = _map(h.get(kind)).get("host")
        if host:
            hosts.append(_str(host))
    return hosts


def host_probes_and_host_lifecycle_1_34(p: PodView) -> Result | None:
    if p.container_keys.isdisjoint(_PROBE_KEYS):
        return None
    bad: set[str] = set()
    hosts: set[str] = set()
    for c in p.containers:
        spec = c.spec
        if not (
            "livenessProbe" in spec
            or "readinessProbe" in spec
            or "startupProbe" in spec
            or "lifecycle" in spec
        ):
            continue
        found: list[str] = []
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if probe in spec:
                found += _handler_hosts(spec[probe])
        lifecycle = _map(spec.get("lifecycle"))
        for hook in ("postStart", "preStop"):
            if hook in lifecycle:
                found += _handler_hosts(lifecycle[hook])
        if found:
            bad.add(c.name)
            hosts.update(found)
    if not bad:
        return None
    return (
        "probe or lifecycle host",
        f"{_containers_phrase(sorted(bad))} {pluralize('uses', 'use', len(bad))} "
        f"{pluralize('probe or lifecycle host', 'probe or lifecycle hosts', len(hosts))} "
        f"{join_quote(sorted(hosts))}",
    )


def privileged_1_0(p: PodView) -> Result | None:
    if "privileged" not in p.sc_keys:
        return None
    bad = [c.name for c in p.containers if c.sc is not None and c.sc.get("privileged") is True]
    if not bad:
        return None
    return "privileged", f"{_containers_phrase(bad)} must not set securityContext.privileged=true"


def _proc_mount(p: PodView) -> Result | None:
    if "procMount" not in p.sc_keys:
        return None
    bad: list[str] = []
    values: set[str] = set()
    for c in p.containers:
        if c.sc is not None:
            pm = c.sc.get("procMount")
            if pm is not None and pm != "Default":
                bad.append(c.name)
                values.add(_str(pm))
    if not bad:
        return None
    return (
        "procMount",
        f"{_containers_phrase(bad)} must not set securityContext.procMount to {join_quote(sorted(values))}",
    )


def proc_mount_1_0(p: PodView) -> Result | None:
    return _proc_mount(p)


def proc_mount_1_35(p: PodView) -> Result | None:
    if p.user_namespace:
        return None
    return _proc_mount(p)


_SELINUX_TYPES_1_0 = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
_SELINUX_TYPES_1_31 = _SELINUX_TYPES_1_0 | {"container_engine_t"}


def _se_linux_options(p: PodView, allowed: frozenset[str]) -> Result | None:
    if "seLinuxOptions" not in p.sc_keys and not p.psc_has("seLinuxOptions"):
        return None
    bad_types: set[str] = set()
    set_user = set_role = False

    def valid(opts: Obj) -> bool:
        nonlocal set_user, set_role
        ok = True
        t = _str(opts.get("type"))
        if t not in allowed:
            ok = False
            bad_types.add(t)
        if opts.get("user"):
            ok = False
            set_user = True
        if opts.get("role"):
            ok = False
            set_role = True
        return ok

    pod_bad = False
    if p.psc is not None:
        opts = p.psc.get("seLinuxOptions")
        if isinstance(opts, dict) and not valid(opts):
            pod_bad = True
    bad: list[str] = []
    for c in p.containers:
        if c.sc is not None:
            opts = c.sc.get("seLinuxOptions")
            if isinstance(opts, dict) and not valid(opts):
                bad.append(c.name)
    if not (pod_bad or bad):
        return None
    data = []
    if bad_types:
        data.append(f"{pluralize('type', 'types', len(bad_types))} {join_quote(sorted(bad_types))}")
    if set_user:
        data.append("user may not be set")
    if set_role:
        data.append("role may not be set")
    return (
        "seLinuxOptions",
        f"{_setters(pod_bad, bad)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}",
    )


def se_linux_options_1_0(p: PodView) -> Result | None:
    return _se_linux_options(p, _SELINUX_TYPES_1_0)


def se_linux_options_1_31(p: PodView) -> Result | None:
    return _se_linux_options(p, _SELINUX_TYPES_1_31)


_SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
_SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"
_SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})


def _valid_seccomp_annotation(value: str) -> bool:
    return value in ("runtime/default", "docker/default") or value.startswith("localhost/")


def seccomp_profile_baseline_1_0(p: PodView) -> Result | None:
    forbidden: set[str] = set()
    ann = p.annotations
    if _SECCOMP_POD_ANNOTATION in ann:
        v = _str(ann[_SECCOMP_POD_ANNOTATION])
        if not _valid_seccomp_annotation(v):
            forbidden.add(f"{_SECCOMP_POD_ANNOTATION}={go_quote(v)}")
    for c in p.containers:
        key = _SECCOMP_CONTAINER_ANNOTATION + c.name
        if key in ann:
            v = _str(ann[key])
            if not _valid_seccomp_annotation(v):
                forbidden.add(f"{key}={go_quote(v)}")
    if not forbidden:
        return None
    return (
        "seccompProfile",
        f"forbidden {pluralize('annotation', 'annotations', len(forbidden))} {', '.join(sorted(forbidden))}",
    )


def seccomp_profile_baseline_1_19(p: PodView) -> Result | None:
    if "seccompProfile" not in p.sc_keys and not p.psc_has("seccompProfile"):
        return None
    values: set[str] = set()
    pod_bad = False
    if p.psc is not None:
        prof = p.psc.get("seccompProfile")
        if isinstance(prof, dict):
            t = _str(prof.get("type"))
            if t not in _SECCOMP_TYPES:
                pod_bad = True
                values.add(t)
    bad: list[str] = []
    for c in p.containers:
        if c.sc is not None:
            prof = c.sc.get("seccompProfile")
            if isinstance(prof, dict):
                t = _str(prof.get("type"))
                if t not in _SECCOMP_TYPES:
                    bad.append(c.name)
                    values.add(t)
    if not (pod_bad or bad):
        return None
    return (
        "seccompProfile",
        f"{_setters(pod_bad, bad)} must not set securityContext.seccompProfile.type to "
        f"{join_quote(sorted(values))}",
    )


_SYSCTLS_1_0 = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    }
)
_SYSCTLS_1_27 = _SYSCTLS_1_0 | {"net.ipv4.ip_local_reserved_ports"}
_SYSCTLS_1_29 = _SYSCTLS_1_27 | {
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
_SYSCTLS_1_32 = _SYSCTLS_1_29 | {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
_SYSCTLS_1_37 = _SYSCTLS_1_32 | {"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"}


def _sysctls(allowed: frozenset[str]) -> CheckFn:
    def check(p: PodView) -> Result | None:
        if p.psc is None:
            return None
        bad = [
            _str(_map(s).get("name"))
            for s in _list(p.psc.get("sysctls"))
            if _str(_map(s).get("name")) not in allowed
        ]
        if not bad:
            return None
        return "forbidden sysctls", ", ".join(bad)

    return check


sysctls_1_0 = _sysctls(_SYSCTLS_1_0)
sysctls_1_27 = _sysctls(_SYSCTLS_1_27)
sysctls_1_29 = _sysctls(_SYSCTLS_1_29)
sysctls_1_32 = _sysctls(_SYSCTLS_1_32)
sysctls_1_37 = _sysctls(_SYSCTLS_1_37)


def windows_host_process_1_0(p: PodView) -> Result | None:
    if "windowsOptions" not in p.sc_keys and not p.psc_has("windowsOptions"):
        return None
    pod_bad = p.psc is not None and _map(p.psc.get("windowsOptions")).get("hostProcess") is True
    bad = [
        c.name
        for c in p.containers
        if c.sc is not None and _map(c.sc.get("windowsOptions")).get("hostProcess") is True
    ]
    if not (pod_bad or bad):
        return None
    return (
        "hostProcess",
        f"{_setters(pod_bad, bad)} must not set securityContext.windowsOptions.hostProcess=true",
    )


# --- restricted checks -----------------------------------------------------------------------


def allow_privilege_escalation_1_8(p: PodView) -> Result | None:
    bad = [c.name for c in p.containers if c.sc is None or c.sc.get("allowPrivilegeEscalation") is not False]
    if not bad:
        return None
    return (
        "allowPrivilegeEscalation != false",
        f"{_containers_phrase(bad)} must set securityContext.allowPrivilegeEscalation=false",
    )


def allow_privilege_escalation_1_25(p: PodView) -> Result | None:
    return None if p.windows else allow_privilege_escalation_1_8(p)


def capabilities_restricted_1_22(p: PodView) -> Result | None:
    missing: list[str] = []
    adding: list[str] = []
    caps: set[str] = set()
    for c in p.containers:
        capabilities = None if c.sc is None else c.sc.get("capabilities")
        if not isinstance(capabilities, dict):
            missing.append(c.name)
            continue
        if "ALL" not in _list(capabilities.get("drop")):
            missing.append(c.name)
        found = [_str(a) for a in _list(capabilities.get("add")) if a != "NET_BIND_SERVICE"]
        if found:
            adding.append(c.name)
            caps.update(found)
    details = []
    if missing:
        details.append(f'{_containers_phrase(missing)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(
            f"{_containers_phrase(adding)} must not include {join_quote(sorted(caps))} in "
            "securityContext.capabilities.add"
        )
    if not details:
        return None
    return "unrestricted capabilities", "; ".join(details)


def capabilities_restricted_1_25(p: PodView) -> Result | None:
    return None if p.windows else capabilities_restricted_1_22(p)


def proc_mount_restricted_1_35(p: PodView) -> Result | None:
    return _proc_mount(p)


_ALLOWED_VOLUME_SOURCES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
_RESTRICTED_VOLUME_SOURCES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
)


def restricted_volumes_1_0(p: PodView) -> Result | None:
    names: list[str] = []
    types: set[str] = set()
    for v in _list(p.spec.get("volumes")):
        if not isinstance(v, dict):
            continue
        if any(v.get(k) is not None for k in _ALLOWED_VOLUME_SOURCES):
            continue
        kind = next((k for k in _RESTRICTED_VOLUME_SOURCES if v.get(k) is not None), None)
        if kind is None:
            # No known source at all: the API server defaults the volume to emptyDir before
            # admission runs (SetDefaults_Volume), so it is allowed.
            continue
        names.append(_str(v.get("name")))
        types.add(kind)
    if not names:
        return None
    return (
        "restricted volume types",
        f"{pluralize('volume', 'volumes', len(names))} {join_quote(names)} "
        f"{pluralize('uses', 'use', len(names))} "
        f"{pluralize('restricted volume type', 'restricted volume types', len(types))} "
        f"{join_quote(sorted(types))}",
    )


def run_as_non_root_1_0(p: PodView) -> Result | None:
    pod_bad = False
    pod_true = False
    if p.psc is not None:
        v = p.psc.get("runAsNonRoot")
        if v is False:
            pod_bad = True
        elif v is True:
            pod_true = True
    explicit: list[str] = []
    implicit: list[str] = []
    for c in p.containers:
        v = None if c.sc is None else c.sc.get("runAsNonRoot")
        if v is False:
            explicit.append(c.name)
        elif v is not True and not pod_true:
            implicit.append(c.name)
    if pod_bad or explicit:
        return (
            "runAsNonRoot != true",
            f"{_setters(pod_bad, explicit)} must not set securityContext.runAsNonRoot=false",
        )
    if implicit:
        return (
            "runAsNonRoot != true",
            f"pod or {_containers_phrase(implicit)} must set securityContext.runAsNonRoot=true",
        )
    return None


def run_as_non_root_1_35(p: PodView) -> Result | None:
    return None if p.user_namespace else run_as_non_root_1_0(p)


def _is_zero(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value == 0


def run_as_user_1_23(p: PodView) -> Result | None:
    if "runAsUser" not in p.sc_keys and not p.psc_has("runAsUser"):
        return None
    pod_bad = p.psc is not None and _is_zero(p.psc.get("runAsUser"))
    bad = [c.name for c in p.containers if c.sc is not None and _is_zero(c.sc.get("runAsUser"))]
    if not (pod_bad or bad):
        return None
    return "runAsUser=0", f"{_setters(pod_bad, bad)} must not set runAsUser=0"


def run_as_user_1_35(p: PodView) -> Result | None:
    return None if p.user_namespace else run_as_user_1_23(p)


def seccomp_profile_restricted_1_19(p: PodView) -> Result | None:
    values: set[str] = set()
    pod_bad = pod_ok = False
    if p.psc is not None:
        prof = p.psc.get("seccompProfile")
        if isinstance(prof, dict):
            t = _str(prof.get("type"))
            if t in _SECCOMP_TYPES:
                pod_ok = True
            else:
                pod_bad = True
                values.add(t)
    explicit: list[str] = []
    implicit: list[str] = []
    for c in p.containers:
        prof = None if c.sc is None else c.sc.get("seccompProfile")
        if isinstance(prof, dict):
            t = _str(prof.get("type"))
            if t not in _SECCOMP_TYPES:
                explicit.append(c.name)
                values.add(t)
        elif not pod_ok:
            implicit.append(c.name)
    if pod_bad or explicit:
        return (
            "seccompProfile",
            f"{_setters(pod_bad, explicit)} must not set securityContext.seccompProfile.type to "
            f"{join_quote(sorted(values))}",
        )
    if implicit:
        return (
            "seccompProfile",
            f"pod or {_containers_phrase(implicit)} must set securityContext.seccompProfile.type to "
            '"RuntimeDefault" or "Localhost"',
        )
    return None


def seccomp_profile_restricted_1_25(p: PodView) -> Result | None:
    return None if p.windows else seccomp_profile_restricted_1_19(p)


# --- registry (policy/registry.go) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Revision:
    min_minor: int
    check: CheckFn
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    level: Level
    revisions: tuple[Revision, ...]

    def revision_at(self, minor: int) -> Revision | None:
        found = None
        for r in self.revisions:
            if r.min_minor <= minor:
                found = r
        return found


B, R = Level.BASELINE, Level.RESTRICTED

CHECKS: tuple[Check, ...] = (
    Check("appArmorProfile", B, (Revision(0, app_armor_profile_1_0),)),
    Check("capabilities_baseline", B, (Revision(0, capabilities_baseline_1_0),)),
    Check("hostNamespaces", B, (Revision(0, host_namespaces_1_0),)),
    Check("hostPathVolumes", B, (Revision(0, host_path_volumes_1_0),)),
    Check("hostPorts", B, (Revision(0, host_ports_1_0),)),
    Check("hostProbesAndHostLifecycle", B, (Revision(34, host_probes_and_host_lifecycle_1_34),)),
    Check("privileged", B, (Revision(0, privileged_1_0),)),
    Check("procMount", B, (Revision(0, proc_mount_1_0), Revision(35, proc_mount_1_35))),
    Check("seLinuxOptions", B, (Revision(0, se_linux_options_1_0), Revision(31, se_linux_options_1_31))),
    Check(
        "seccompProfile_baseline",
        B,
        (Revision(0, seccomp_profile_baseline_1_0), Revision(19, seccomp_profile_baseline_1_19)),
    ),
    Check(
        "sysctls",
        B,
        (
            Revision(0, sysctls_1_0),
            Revision(27, sysctls_1_27),
            Revision(29, sysctls_1_29),
            Revision(32, sysctls_1_32),
            Revision(37, sysctls_1_37),
        ),
    ),
    Check("windowsHostProcess", B, (Revision(0, windows_host_process_1_0),)),
    Check(
        "allowPrivilegeEscalation",
        R,
        (Revision(8, allow_privilege_escalation_1_8), Revision(25, allow_privilege_escalation_1_25)),
    ),
    Check(
        "capabilities_restricted",
        R,
        (
            Revision(22, capabilities_restricted_1_22, ("capabilities_baseline",)),
            Revision(25, capabilities_restricted_1_25, ("capabilities_baseline",)),
        ),
    ),
    Check("procMount_restricted", R, (Revision(35, proc_mount_restricted_1_35, ("procMount",)),)),
    Check("restrictedVolumes", R, (Revision(0, restricted_volumes_1_0, ("hostPathVolumes",)),)),
    Check("runAsNonRoot", R, (Revision(0, run_as_non_root_1_0), Revision(35, run_as_non_root_1_35))),
    Check("runAsUser", R, (Revision(23, run_as_user_1_23), Revision(35, run_as_user_1_35))),
    Check(
        "seccompProfile_restricted",
        R,
        (
            Revision(19, seccomp_profile_restricted_1_19, ("seccompProfile_baseline",)),
            Revision(25, seccomp_profile_restricted_1_25, ("seccompProfile_baseline",)),
        ),
    ),
)

CHECK_IDS = frozenset(c.id for c in CHECKS)


@lru_cache(maxsize=256)
def checks_for(level: Level, minor: int) -> tuple[tuple[str, CheckFn], ...]:
    """The checks run at ``level`` and policy version ``v1.<minor>``, in the evaluator's order.

    Baseline checks sorted by ID (byte order), then restricted checks sorted by ID; at
    restricted, baseline checks overridden by a restricted revision in use are left out.
    """
    minor = min(minor, MAX_MINOR)
    if level is Level.PRIVILEGED:
        return ()
    in_use: list[tuple[Check, Revision]] = []
    for check in CHECKS:
        if check.level is Level.RESTRICTED and level is not Level.RESTRICTED:
            continue
        rev = check.revision_at(minor)
        if rev is not None:
            in_use.append((check, rev))
    overridden = {o for _, rev in in_use for o in rev.overrides}
    baseline = sorted(
        ((c.id, r.check) for c, r in in_use if c.level is Level.BASELINE and c.id not in overridden),
        key=lambda item: item[0],
    )
    restricted = sorted(
        ((c.id, r.check) for c, r in in_use if c.level is Level.RESTRICTED), key=lambda item: item[0]
    )
    return tuple(baseline) + tuple(restricted)
