"""What a check sees: the API server configuration and the node's files, read once and cached.

Paths in flags are paths *inside the API server's container*; they are mapped to the node
through the pod's hostPath mounts (a static pod) and then placed under ``--root`` when the
node's filesystem was copied elsewhere. For a process, ``/proc/PID/root`` is used when it is
readable, so a containerised API server's files are found too.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kapsec.errors import KapsecError
from kapsec.model.apiserver import ApiServerConfig
from kapsec.model.findings import Evidence, Status
from kapsec.sources.yamlmarks import MarkedList, MarkedMap, load_documents, read_text


class LoaderFailure(KapsecError):
    """A loader of another package failed in a way it did not report as Input/ValidationError."""


@dataclass(frozen=True)
class Outcome:
    status: Status
    message: str
    evidence: Evidence = field(default_factory=Evidence)


@dataclass(frozen=True)
class Resolved:
    """A path the API server uses, located on the scanned filesystem."""

    shown: str  # the node path as the user knows it (e.g. /etc/kubernetes/pki/ca.crt)
    real: str | None  # where kapsec reads it; None when it cannot be reached
    why: str = ""  # why ``real`` is None


@dataclass(frozen=True)
class Sibling:
    """Another control-plane static pod (controller-manager, scheduler, etcd)."""

    shown: str
    real: str
    flags: Mapping[str, str]
    run_as_user: int | None
    hostpaths: tuple[tuple[str, str], ...]  # (mountPath, hostPath)
    lines: Mapping[str, int] = field(default_factory=dict)  # flag -> line of its last occurrence

    def host_path(self, container_path: str) -> str:
        best = ("", "")
        for mp, hp in self.hostpaths:
            mpn = mp.rstrip("/")
            if (container_path == mpn or container_path.startswith(mpn + "/")) and len(mpn) > len(best[0]):
                best = (mpn, hp)
        if not best[0]:
            return container_path
        return best[1].rstrip("/") + container_path[len(best[0]) :]


@dataclass(frozen=True)
class Distro:
    """Which installer laid out the node: kubeadm's paths, or RKE2's / k3s's data directory."""

    name: str  # kubeadm | rke2 | k3s
    data_dir: str | None = None  # RKE2/k3s --data-dir on the node (/var/lib/rancher/rke2)

    @property
    def server_dir(self) -> str | None:
        return f"{self.data_dir}/server" if self.data_dir else None


@dataclass(frozen=True)
class EtcdSetting:
    value: str  # a node path for file settings
    line: int | None


@dataclass(frozen=True)
class EtcdSettings:
    """etcd's TLS and data settings, from its static pod (and its --config-file, which then
    replaces every other flag, as etcd reads it) or from the etcd config k3s writes."""

    file: str  # where the settings were read, as the node shows it
    settings: Mapping[str, EtcdSetting]  # flag name without dashes -> value (paths on the node)
    run_as_user: int | None = None
    embedded: bool = False  # etcd runs inside the k3s process

    def get(self, name: str) -> EtcdSetting | None:
        return self.settings.get(name)

    def evidence(self, name: str) -> Evidence:
        s = self.settings.get(name)
        return Evidence(
            file=self.file, line=s.line if s else None, flag=f"--{name}", value=s.value if s else None
        )


# Settings of an etcd --config-file that kapsec reads: (section, key) -> flag name
# (go.etcd.io/etcd/server/embed/config.go, configYAML and securityConfig).
_ETCD_CONFIG_KEYS: dict[tuple[str | None, str], str] = {
    (None, "data-dir"): "data-dir",
    ("client-transport-security", "cert-file"): "cert-file",
    ("client-transport-security", "key-file"): "key-file",
    ("client-transport-security", "trusted-ca-file"): "trusted-ca-file",
    ("client-transport-security", "client-cert-auth"): "client-cert-auth",
    ("peer-transport-security", "cert-file"): "peer-cert-file",
    ("peer-transport-security", "key-file"): "peer-key-file",
    ("peer-transport-security", "trusted-ca-file"): "peer-trusted-ca-file",
    ("peer-transport-security", "client-cert-auth"): "peer-client-cert-auth",
}
_ETCD_PATH_SETTINGS = frozenset(
    {
        "data-dir",
        "cert-file",
        "key-file",
        "trusted-ca-file",
        "peer-cert-file",
        "peer-key-file",
        "peer-trusted-ca-file",
    }
)
# <data-dir>/server/tls/<file>: the layout of RKE2 and k3s (pkg/daemons/config in k3s)
_RANCHER_TLS = re.compile(r"^(?P<data>/.+)/server/tls/[^/]+$")


@dataclass
class ScanContext:
    config: ApiServerConfig
    root: str | None = None
    snapshot: str | None = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    manifest_real: str | None = None  # the API server manifest as read (for 1.1 checks)
    benchmark: str | None = None  # the CIS version asked for (--benchmark); None = the newest
    _cache: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ paths

    def node_real(self, node_path: str) -> str:
        """Where a path on the node is read from (under --root when given)."""
        if self.root is not None:
            return under_root(self.root, node_path)
        proc_root = self.config.extra.get("proc_root")
        if proc_root and os.access(str(proc_root), os.R_OK | os.X_OK):
            return f"{proc_root}{node_path}"
        return node_path

    def resolve(self, container_path: str) -> Resolved:
        """Map a path from a flag to the scanned filesystem."""
        if not container_path:
            return Resolved(container_path, None, "empty path")
        if not container_path.startswith("/"):
            return Resolved(
                container_path,
                None,
                f"{container_path} is relative to the API server's working directory, which kapsec cannot know",
            )
        host = self.config.host_path(container_path)
        if host is None:
            return Resolved(
                container_path,
                None,
                f"{container_path} is not on a hostPath volume of the kube-apiserver pod, so the API server "
                "cannot read it from the node (mount its directory)",
            )
        shown = host if host == container_path else f"{host} (mounted at {container_path})"
        real = self.node_real(host)
        if not self.files_authoritative and not os.path.exists(real):
            return Resolved(
                shown,
                None,
                f"{host} is not on this machine (scan the node, or give --root with a copy of its files)",
            )
        return Resolved(shown, real)

    @property
    def files_authoritative(self) -> bool:
        """Whether the files read are the node's own: --root, or a process on this host."""
        return self.root is not None or self.config.source == "process"

    def flag_file(self, flag: str) -> Resolved | None:
        value = self.config.get_str(flag) if self.config.is_set(flag) else ""
        if not value:
            return None
        return self.resolve(value)

    def manifest_dir(self) -> tuple[str, str, str]:
        """(node dir, real dir, suffix) of the static pod manifests."""
        rel = self.config.extra.get("manifest_rel")
        if rel:
            node_dir = "/" + posixpath.dirname(str(rel))
            suffix = posixpath.splitext(str(rel))[1] or ".yaml"
            return node_dir, self.node_real(node_dir), suffix
        if self.config.source == "manifest" and self.manifest_real:
            real_dir = os.path.dirname(self.manifest_real) or "."
            suffix = os.path.splitext(self.manifest_real)[1] or ".yaml"
            return real_dir, real_dir, suffix
        d = self.distro()
        if d.name == "rke2" and d.data_dir:  # a process or a logged command line of RKE2
            node_dir = f"{d.data_dir}/agent/pod-manifests"
            return node_dir, self.node_real(node_dir), ".yaml"
        return "/etc/kubernetes/manifests", self.node_real("/etc/kubernetes/manifests"), ".yaml"

    # ------------------------------------------------------------------ installer layout

    def distro(self) -> Distro:
        """kubeadm-style paths, or RKE2's or k3s's, recognised from where the API server's
        certificates live (``<data-dir>/server/tls/``) and where its manifest is."""
        key = "distro"
        if key in self._cache:
            cached: Distro = self._cache[key]
            return cached
        cfg = self.config
        data: str | None = None
        for flag in ("client-ca-file", "tls-cert-file"):
            value = cfg.get_str(flag)
            host = cfg.host_path(value) if value.startswith("/") else None
            m = _RANCHER_TLS.match(host or "")
            if m:
                data = m.group("data")
                break
        rel = str(cfg.extra.get("manifest_rel") or "")
        if data is None and rel.startswith("var/lib/rancher/rke2/"):
            data = "/var/lib/rancher/rke2"
        if data is None:
            result = Distro("kubeadm")
        elif (
            rel.startswith(data.lstrip("/") + "/agent/pod-manifests/")
            or (cfg.source == "manifest" and not cfg.extra.get("mirror_pod"))
            or posixpath.basename(data) == "rke2"
            or os.path.isfile(self.node_real(f"{data}/agent/pod-manifests/kube-apiserver.yaml"))
        ):
            result = Distro("rke2", data)  # RKE2 runs the control plane as static pods
        else:
            result = Distro("k3s", data)  # k3s runs it inside its own process
        self._cache[key] = result
        return result

    def etcd_settings(self) -> EtcdSettings | str:
        """etcd's settings, or why they cannot be known."""
        key = "etcd-settings"
        if key not in self._cache:
            self._cache[key] = self._etcd_settings()
        result: EtcdSettings | str = self._cache[key]
        return result

    def _etcd_settings(self) -> EtcdSettings | str:
        d = self.distro()
        if d.name == "k3s":
            conf = f"{d.server_dir}/db/etcd/config"
            if not os.path.isfile(self.node_real(conf)):
                return (
                    f"{conf} not found: this k3s server runs no embedded etcd "
                    "(SQLite or an external datastore through kine)"
                )
            return _etcd_config_file(conf, self.node_real(conf), lambda p: p, None, embedded=True)
        s = self.sibling("etcd")
        if isinstance(s, Resolved):
            return f"{s.why} (an external etcd is not on this node: check its settings there)"
        if s.flags.get("config-file"):
            host = s.host_path(s.flags["config-file"])
            return _etcd_config_file(host, self.node_real(host), s.host_path, s.run_as_user)
        settings = {
            k: EtcdSetting(
                s.host_path(v) if k in _ETCD_PATH_SETTINGS and v.startswith("/") else v, s.lines.get(k)
            )
            for k, v in s.flags.items()
            if v
        }
        return EtcdSettings(s.shown, settings, s.run_as_user)

    # ------------------------------------------------------------------ other static pods

    def sibling(self, component: str) -> Sibling | Resolved:
        """The static pod of ``component`` next to the API server's, or where it was looked for."""
        key = f"sibling:{component}"
        if key in self._cache:
            cached: Sibling | Resolved = self._cache[key]
            return cached
        node_dir, real_dir, suffix = self.manifest_dir()
        result: Sibling | Resolved
        names = [f"{component}{suffix}"] + [
            f"{component}{s}" for s in (".yaml", ".yml", ".manifest") if s != suffix
        ]
        names += [f"talos-{n}" for n in names]  # Talos prefixes its static pod files
        found = next((n for n in names if os.path.isfile(os.path.join(real_dir, n))), None)
        if found is None:
            shown = posixpath.join(node_dir, names[0])
            result = Resolved(shown, None, f"{shown} not found")
        else:
            real = os.path.join(real_dir, found)
            shown = posixpath.join(node_dir, found)
            result = _parse_sibling(shown, real, component)
        self._cache[key] = result
        return result

    # ------------------------------------------------------------------ loaded files

    def preload(self, key: str, value: Any) -> None:
        """Give :meth:`cached` a value it would otherwise load (e.g. objects collected live)."""
        self._cache[key] = ("ok", value)

    def cached(self, key: str, loader: Any) -> Any:
        """``loader()`` once; a KapsecError is cached and re-raised."""
        if key not in self._cache:
            try:
                self._cache[key] = ("ok", loader())
            except KapsecError as exc:
                self._cache[key] = ("err", exc)
            except Exception as exc:  # a loader bug must not stop the other checks
                self._cache[key] = (
                    "err",
                    LoaderFailure(f"{type(exc).__name__}: {' '.join(str(exc).split())}"),
                )
        kind, value = self._cache[key]
        if kind == "err":
            raise value
        return value

    # ------------------------------------------------------------------ users and groups

    def _names(self, filename: str) -> dict[int, str]:
        key = f"names:{filename}"
        if key not in self._cache:
            names: dict[int, str] = {}
            path = self.node_real(f"/etc/{filename}") if self.root else f"/etc/{filename}"
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for line in fh:
                        parts = line.split(":")
                        if len(parts) >= 3 and parts[2].isdigit():
                            names.setdefault(int(parts[2]), parts[0])
            except OSError:
                pass
            names.setdefault(0, "root")
            self._cache[key] = names
        result: dict[int, str] = self._cache[key]
        return result

    def owner(self, st: os.stat_result) -> str:
        user = self._names("passwd").get(st.st_uid, str(st.st_uid))
        group = self._names("group").get(st.st_gid, str(st.st_gid))
        return f"{user}:{group}"


def _etcd_config_file(
    shown: str, real: str, host_path: Any, run_as_user: int | None, *, embedded: bool = False
) -> EtcdSettings | str:
    """etcd's settings from its ``--config-file`` (with it, etcd ignores its other flags)."""
    try:
        docs = load_documents(read_text(real, shown), shown)
    except KapsecError as exc:
        return f"{shown}: {exc.message}"
    doc = docs[0] if docs else None
    if not isinstance(doc, MarkedMap):
        return f"{shown}: not an etcd configuration (a YAML mapping)"
    settings: dict[str, EtcdSetting] = {}
    for (section, name), flag in _ETCD_CONFIG_KEYS.items():
        holder = doc if section is None else doc.get(section)
        if not isinstance(holder, MarkedMap) or holder.get(name) in (None, ""):
            continue
        raw = holder[name]
        value = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
        if flag in _ETCD_PATH_SETTINGS and value.startswith("/"):
            value = host_path(value)
        settings[flag] = EtcdSetting(value, holder.key_line(name))
    return EtcdSettings(shown, settings, run_as_user, embedded)


def _parse_sibling(shown: str, real: str, component: str) -> Sibling | Resolved:
    try:
        docs = load_documents(read_text(real, shown), shown)
    except KapsecError as exc:
        return Resolved(shown, None, f"{shown}: {exc.message}")
    for doc in docs:
        spec = doc.get("spec") if isinstance(doc, Mapping) else None
        if not isinstance(spec, Mapping):
            continue
        for c in spec.get("containers") or []:
            if not isinstance(c, Mapping):
                continue
            words: list[tuple[str, int | None]] = []
            for key in ("command", "args"):
                seq = c.get(key) or []
                for i, w in enumerate(seq if isinstance(seq, list) else []):
                    words.append((str(w), seq.item_line(i) if isinstance(seq, MarkedList) else None))
            flags: dict[str, str] = {}
            lines: dict[str, int] = {}
            for i, (w, line) in enumerate(words):
                if w.startswith("--"):
                    k, eq, v = w[2:].partition("=")
                    if not eq and i + 1 < len(words) and not words[i + 1][0].startswith("-"):
                        v = words[i + 1][0]  # --flag value (bool flags are written --flag=true)
                    flags[k] = v
                    if line is not None:
                        lines[k] = line
            sc_raw, psc_raw = c.get("securityContext"), spec.get("securityContext")
            sc: Mapping[str, Any] = sc_raw if isinstance(sc_raw, Mapping) else {}
            psc: Mapping[str, Any] = psc_raw if isinstance(psc_raw, Mapping) else {}
            run_as = sc.get("runAsUser", psc.get("runAsUser"))
            vols = {
                v.get("name"): v["hostPath"].get("path")
                for v in spec.get("volumes") or []
                if isinstance(v, Mapping) and isinstance(v.get("hostPath"), Mapping)
            }
            hostpaths = tuple(
                (str(m.get("mountPath")), str(vols[m.get("name")]))
                for m in c.get("volumeMounts") or []
                if isinstance(m, Mapping) and m.get("name") in vols
            )
            return Sibling(shown, real, flags, run_as if isinstance(run_as, int) else None, hostpaths, lines)
    return Resolved(shown, None, f"{shown}: no {component} container in it")


def under_root(root: str, node_path: str, max_links: int = 40) -> str:
    """``node_path`` inside the filesystem copy at ``root``, following symbolic links as the node
    would: an absolute link target is taken from ``root`` too, never from this machine."""
    parts = [p for p in node_path.split("/") if p and p != "."]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate) and links < max_links:
            links += 1
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def lstat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def mode_bits(st: os.stat_result) -> int:
    return stat.S_IMODE(st.st_mode)
