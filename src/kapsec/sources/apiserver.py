"""Find the kube-apiserver and its flags: in a static pod manifest, a running process, a
kubeadm ``ClusterConfiguration``, a saved command line, or a node's filesystem under ``--root``.

The container is the one whose ``command[0]`` (or ``args[0]`` when ``command`` is empty) has
the basename ``kube-apiserver``; wrappers are looked through (``/go-runner ... kube-apiserver``
as kOps writes it, ``hyperkube apiserver``, ``sh -c "kube-apiserver ..."``). Flags come from
``command`` and ``args`` together, as the container runtime joins them. kubeadm's own flag
defaults are mirrored from ``cmd/kubeadm/app/phases/controlplane/manifests.go``
(``getAPIServerCommand``).
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kapsec.errors import InputError, KapsecError, UsageError
from kapsec.model import flags as fl
from kapsec.model.apiserver import (
    ApiServerConfig,
    Arg,
    K8sVersion,
    Location,
    Probe,
    Volume,
    VolumeMount,
    build_config,
    parse_version,
    version_from_image,
)
from kapsec.sources.yamlmarks import MarkedList, MarkedMap, load_documents, read_text

# Where installers put the API server's static pod manifest (paths relative to the node's /).
MANIFEST_CANDIDATES: tuple[str, ...] = (
    "etc/kubernetes/manifests/kube-apiserver.yaml",
    "etc/kubernetes/manifests/kube-apiserver.yml",
    "etc/kubernetes/manifests/kube-apiserver.manifest",  # kOps
    "etc/kubernetes/manifests/kube-apiserver.json",
    "etc/kubernetes/manifests/talos-kube-apiserver.yaml",  # Talos
    "var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml",  # RKE2
)
K3S_MARKERS = ("etc/rancher/k3s/config.yaml", "var/lib/rancher/k3s/server")

BINARY = "kube-apiserver"
WRAPPERS = ("go-runner",)
SHELLS = ("sh", "bash", "ash", "dash")


@dataclass(frozen=True)
class Located:
    """An API server command line found in some input."""

    flag_args: list[Arg]
    image: str | None = None
    container_name: str | None = None
    volumes: tuple[Volume, ...] = ()
    mounts: tuple[VolumeMount, ...] = ()
    probes: tuple[Probe, ...] = ()
    notes: tuple[str, ...] = ()
    extra: Mapping[str, Any] | None = None


def _base(word: str) -> str:
    return posixpath.basename(word.strip())


def split_argv(argv: Sequence[Arg]) -> list[Arg] | None:
    """The flag words of an API server command line, or ``None`` if it is not one."""
    if not argv:
        return None
    first = _base(argv[0].text)
    if first == BINARY:
        return list(argv[1:])
    if first in ("hyperkube", "kube") and len(argv) > 1 and argv[1].text in ("apiserver", BINARY):
        return list(argv[2:])
    if first in WRAPPERS:
        for i, a in enumerate(argv[1:], start=1):
            if _base(a.text) == BINARY:
                return list(argv[i + 1 :])
        return None
    if first in SHELLS and len(argv) >= 3 and argv[1].text == "-c":
        try:
            words = shlex.split(argv[2].text)
        except ValueError:
            return None
        if words and words[0] == "exec":
            words = words[1:]
        return split_argv([Arg(w, argv[2].loc) for w in words])
    return None


def _map(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def _words(container: Mapping[str, Any], key: str, file: str) -> list[Arg]:
    seq = container.get(key)
    if seq is None:
        return []
    if not isinstance(seq, list):
        line = container.key_line(key) if isinstance(container, MarkedMap) else None
        raise InputError(f"{key} must be a list of strings", file=file, line=line, field=key)
    out = []
    for i, w in enumerate(seq):
        line = seq.item_line(i) if isinstance(seq, MarkedList) else None
        out.append(Arg(_str(w), Location(file, line)))
    return out


def _pods(doc: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(doc, Mapping):
        return
    kind = doc.get("kind")
    if kind == "List" or (isinstance(kind, str) and kind.endswith("List")):
        for item in doc.get("items") or []:
            yield from _pods(item)
        return
    spec = doc.get("spec")
    if isinstance(spec, Mapping):
        if isinstance(spec.get("containers"), list):
            yield doc
        tmpl = spec.get("template")
        if isinstance(tmpl, Mapping) and isinstance(tmpl.get("spec"), Mapping):
            yield tmpl


def _pod_parts(pod: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    spec = pod.get("spec") or {}
    volumes = []
    for v in spec.get("volumes") or []:
        if not isinstance(v, Mapping):
            continue
        kind = next((k for k in v if k != "name"), "unknown")
        hp = v.get("hostPath") if isinstance(v.get("hostPath"), Mapping) else None
        volumes.append(
            Volume(
                name=_str(v.get("name")),
                kind=str(kind),
                host_path=_str(hp.get("path")) if hp else None,
                host_path_type=_str(hp.get("type")) if hp and hp.get("type") else None,
                line=v.line if isinstance(v, MarkedMap) else None,
            )
        )
    mounts = []
    for m in container.get("volumeMounts") or []:
        if not isinstance(m, Mapping):
            continue
        mounts.append(
            VolumeMount(
                name=_str(m.get("name")),
                mount_path=_str(m.get("mountPath")),
                read_only=bool(m.get("readOnly")),
                sub_path=_str(m.get("subPath")) or None,
                line=m.line if isinstance(m, MarkedMap) else None,
            )
        )
    probes = []
    for kind in ("liveness", "readiness", "startup"):
        p = container.get(f"{kind}Probe")
        if not isinstance(p, Mapping):
            continue
        for handler in ("httpGet", "exec", "tcpSocket", "grpc"):
            h = p.get(handler)
            if isinstance(h, Mapping):
                probes.append(
                    Probe(
                        kind=kind,
                        handler=handler,
                        path=_str(h.get("path")) or None,
                        port=_str(h.get("port")) or None,
                        scheme=_str(h.get("scheme")) or None,
                        line=p.line if isinstance(p, MarkedMap) else None,
                    )
                )
    sc = _map(container.get("securityContext"))
    psc = _map(spec.get("securityContext"))
    run_as = sc.get("runAsUser", psc.get("runAsUser"))
    return {
        "volumes": tuple(volumes),
        "mounts": tuple(mounts),
        "probes": tuple(probes),
        "extra": {"run_as_user": run_as, "privileged": bool(sc.get("privileged"))},
    }


def find_in_documents(docs: Sequence[Any], file: str) -> Located | None:
    """The API server container of the first pod in ``docs`` that has one."""
    for doc in docs:
        for pod in _pods(doc):
            spec = pod["spec"]
            for c in spec.get("containers") or []:
                if not isinstance(c, Mapping):
                    continue
                argv = _words(c, "command", file) + _words(c, "args", file)
                flag_args = split_argv(argv)
                if flag_args is None:
                    continue
                parts = _pod_parts(pod, c)
                return Located(
                    flag_args=flag_args,
                    image=_str(c.get("image")) or None,
                    container_name=_str(c.get("name")) or None,
                    **parts,
                )
    return None


def _version(explicit: str | None, image: str | None, fallback: K8sVersion | None = None) -> K8sVersion:
    if explicit:
        try:
            return parse_version(explicit, "--k8s-version")
        except ValueError as exc:
            raise UsageError(str(exc), field="--k8s-version") from None
    v = version_from_image(image)
    if v is not None:
        return v
    if fallback is not None:
        return fallback
    return K8sVersion(fl.LATEST_MINOR, f"v1.{fl.LATEST_MINOR}", "assumed")


def _finish(
    located: Located,
    *,
    source: str,
    file: str,
    k8s_version: str | None,
    fallback: K8sVersion | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ApiServerConfig:
    version = _version(k8s_version, located.image, fallback)
    notes = list(located.notes)
    if version.origin == "assumed":
        notes.append(
            f"Kubernetes version unknown (no image tag); assuming 1.{fl.LATEST_MINOR}. Use --k8s-version to set it."
        )
    merged_extra = dict(located.extra or {}) | dict(extra or {})
    return build_config(
        source=source,
        file=file,
        flag_args=located.flag_args,
        version=version,
        image=located.image,
        container_name=located.container_name,
        volumes=located.volumes,
        mounts=located.mounts,
        probes=located.probes,
        notes=notes,
        extra=merged_extra,
    )


def from_manifest_text(
    text: str, name: str, *, k8s_version: str | None = None, extra: Mapping[str, Any] | None = None
) -> ApiServerConfig:
    docs = load_documents(text, name)
    if not docs:
        raise InputError("the file is empty: no pod manifest in it", file=name)
    located = find_in_documents(docs, name)
    if located is None:
        kinds = sorted({str(d.get("kind")) for d in docs if isinstance(d, Mapping) and d.get("kind")})
        what = f" (found: {', '.join(kinds)})" if kinds else ""
        raise InputError(
            "no kube-apiserver container found: no container's command[0] (or args[0]) is kube-apiserver"
            + what,
            file=name,
        )
    return _finish(located, source="manifest", file=name, k8s_version=k8s_version, extra=extra)


def from_manifest(
    path: str,
    *,
    display: str | None = None,
    k8s_version: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ApiServerConfig:
    shown = display or path
    text = read_text(path, shown)
    return from_manifest_text(text, shown, k8s_version=k8s_version, extra=extra)


def from_snapshot_text(text: str, name: str, *, k8s_version: str | None = None) -> ApiServerConfig:
    """The kube-apiserver mirror pod in a snapshot of cluster objects (``kind: List``)."""
    docs = load_documents(text, name)
    pods: list[Any] = []
    for doc in docs:
        raw_items = doc.get("items") if isinstance(doc, Mapping) else None
        items: list[Any] = raw_items if isinstance(raw_items, list) else [doc]
        for i in items:
            if not isinstance(i, Mapping) or i.get("kind", "Pod") != "Pod":
                continue
            if _map(i.get("metadata")).get("namespace", "kube-system") == "kube-system":
                pods.append(i)
    located = find_in_documents(pods, name)
    if located is None:
        raise InputError(
            "no kube-apiserver pod in kube-system in this snapshot (collect Pods with kapsec snapshot)",
            file=name,
        )
    return _finish(located, source="manifest", file=name, k8s_version=k8s_version, extra={"mirror_pod": True})


_LOGGED = re.compile(r"Running kube-apiserver (--.*)$")


def from_command_line(text: str, name: str, *, k8s_version: str | None = None) -> ApiServerConfig:
    """A saved command line (``ps -ef`` output, a systemd ExecStart, one flag per line, or the
    ``Running kube-apiserver --...`` line that k3s and RKE2 write to their log)."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        logged = _LOGGED.search(line)
        if logged:  # k3s/RKE2: msg="Running kube-apiserver --flag=v ..."
            line = "kube-apiserver " + logged.group(1).rstrip().removesuffix('"')
        try:
            words = shlex.split(line, comments=False)
        except ValueError:
            words = line.split()
        for i, w in enumerate(words):
            if _base(w) == BINARY or (_base(w) in WRAPPERS and i + 1 < len(words)):
                argv = [Arg(x, Location(name, lineno)) for x in words[i:]]
                flag_args = split_argv(argv)
                if flag_args is not None:
                    # flags may continue on the following lines (backslash-continued or one per line)
                    for more_no, more in enumerate(text.splitlines()[lineno:], start=lineno + 1):
                        stripped = more.strip().rstrip("\\").strip()
                        if not stripped.startswith("-"):
                            break
                        flag_args.extend(Arg(x, Location(name, more_no)) for x in shlex.split(stripped))
                    flag_args = [a for a in flag_args if a.text != "\\"]
                    return _finish(
                        Located(flag_args=flag_args), source="cmdline", file=name, k8s_version=k8s_version
                    )
    raise InputError("no kube-apiserver command line found in the file", file=name)


def manifest_version(node_root: str = "/") -> K8sVersion | None:
    """The version in the image tag of the node's API server manifest, if there is one."""
    for rel in MANIFEST_CANDIDATES:
        path = os.path.join(node_root, rel)
        if not os.path.isfile(path):
            continue
        try:
            located = find_in_documents(load_documents(read_text(path), path), path)
        except KapsecError:
            continue
        v = version_from_image(located.image) if located else None
        if v is not None:
            return K8sVersion(v.minor, v.text, f"image tag in /{rel}")
    return None


def from_process(
    proc: str = "/proc", *, k8s_version: str | None = None, node_root: str = "/"
) -> ApiServerConfig:
    """The first running process whose command line is a kube-apiserver.

    Its version comes from --k8s-version, else from the image tag of the node's static pod
    manifest (kubeadm, RKE2, Talos layouts), else it is assumed.
    """
    try:
        pids = sorted((p for p in os.listdir(proc) if p.isdigit()), key=int)
    except OSError as exc:
        raise InputError(f"cannot list processes: {exc.strerror}", file=proc) from None
    for pid in pids:
        path = f"{proc}/{pid}/cmdline"
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        if not raw:
            continue
        words = raw.rstrip(b"\0").split(b"\0")
        argv = [Arg(w.decode("utf-8", "replace"), Location(path)) for w in words]
        flag_args = split_argv(argv)
        if flag_args is None:
            continue
        return _finish(
            Located(flag_args=flag_args),
            source="process",
            file=path,
            k8s_version=k8s_version,
            fallback=None if k8s_version else manifest_version(node_root),
            extra={"pid": int(pid), "proc_root": f"{proc}/{pid}/root"},
        )
    raise InputError(
        "no running kube-apiserver process found (is this a control-plane node? "
        "inside a pod, hostPID is needed)",
        file=proc,
    )


# ---------------------------------------------------------------- kubeadm ClusterConfiguration


def kubeadm_default_args(
    cert_dir: str = "/etc/kubernetes/pki", service_subnet: str = "10.96.0.0/12", advertise: str | None = None
) -> dict[str, str]:
    """Flags kubeadm (v1.24+) writes into the API server manifest before applying extraArgs."""
    p = cert_dir.rstrip("/")
    args = {
        "allow-privileged": "true",
        "authorization-mode": "Node,RBAC",
        "client-ca-file": f"{p}/ca.crt",
        "enable-admission-plugins": "NodeRestriction",
        "enable-bootstrap-token-auth": "true",
        "etcd-cafile": f"{p}/etcd/ca.crt",
        "etcd-certfile": f"{p}/apiserver-etcd-client.crt",
        "etcd-keyfile": f"{p}/apiserver-etcd-client.key",
        "etcd-servers": "https://127.0.0.1:2379",
        "kubelet-client-certificate": f"{p}/apiserver-kubelet-client.crt",
        "kubelet-client-key": f"{p}/apiserver-kubelet-client.key",
        "kubelet-preferred-address-types": "InternalIP,ExternalIP,Hostname",
        "proxy-client-cert-file": f"{p}/front-proxy-client.crt",
        "proxy-client-key-file": f"{p}/front-proxy-client.key",
        "requestheader-allowed-names": "front-proxy-client",
        "requestheader-client-ca-file": f"{p}/front-proxy-ca.crt",
        "requestheader-extra-headers-prefix": "X-Remote-Extra-",
        "requestheader-group-headers": "X-Remote-Group",
        "requestheader-username-headers": "X-Remote-User",
        "secure-port": "6443",
        "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
        "service-account-key-file": f"{p}/sa.pub",
        "service-account-signing-key-file": f"{p}/sa.key",
        "service-cluster-ip-range": service_subnet,
        "tls-cert-file": f"{p}/apiserver.crt",
        "tls-private-key-file": f"{p}/apiserver.key",
    }
    if advertise:
        args = {"advertise-address": advertise} | args
    return args


def from_kubeadm_config(
    path: str, *, display: str | None = None, k8s_version: str | None = None
) -> ApiServerConfig:
    shown = display or path
    docs = load_documents(read_text(path, shown), shown)
    cc = next((d for d in docs if isinstance(d, MarkedMap) and d.get("kind") == "ClusterConfiguration"), None)
    if cc is None:
        raise InputError("no kubeadm ClusterConfiguration document in the file", file=shown)
    api_raw = cc.get("apiServer")
    api: MarkedMap = api_raw if isinstance(api_raw, MarkedMap) else MarkedMap()
    cert_dir = _str(cc.get("certificatesDir")) or "/etc/kubernetes/pki"
    net = _map(cc.get("networking"))
    defaults = kubeadm_default_args(cert_dir, _str(net.get("serviceSubnet")) or "10.96.0.0/12")
    etcd = _map(cc.get("etcd"))
    ext = etcd.get("external") if isinstance(etcd.get("external"), Mapping) else None
    if ext:
        defaults["etcd-servers"] = ",".join(_str(e) for e in ext.get("endpoints") or [])
        for key, flag in (
            ("caFile", "etcd-cafile"),
            ("certFile", "etcd-certfile"),
            ("keyFile", "etcd-keyfile"),
        ):
            if ext.get(key):
                defaults[flag] = _str(ext.get(key))
            else:
                defaults.pop(flag, None)
    extra: list[Arg] = []
    overridden: set[str] = set()
    ea = api.get("extraArgs")
    if isinstance(ea, MarkedMap):  # v1beta3 and older: a map
        for k, v in ea.items():
            name = fl.normalize_name(_str(k))
            overridden.add(name)
            extra.append(Arg(f"--{name}={_str(v)}", Location(shown, ea.key_line(k))))
    elif isinstance(ea, MarkedList):  # v1beta4: a list of {name, value}
        for i, item in enumerate(ea):
            if not isinstance(item, Mapping) or "name" not in item:
                raise InputError(
                    "apiServer.extraArgs items need a name and a value",
                    file=shown,
                    line=ea.item_line(i),
                    field="apiServer.extraArgs",
                )
            name = fl.normalize_name(_str(item.get("name")))
            overridden.add(name)
            extra.append(Arg(f"--{name}={_str(item.get('value'))}", Location(shown, ea.item_line(i))))
    elif ea is not None:
        raise InputError(
            "apiServer.extraArgs must be a map (v1beta3) or a list (v1beta4)",
            file=shown,
            line=api.key_line("extraArgs"),
            field="apiServer.extraArgs",
        )
    default_loc = Location(f"{shown} (kubeadm default)")
    args = [Arg(f"--{k}={v}", default_loc) for k, v in defaults.items() if k not in overridden] + extra
    volumes = [Volume("k8s-certs", "hostPath", cert_dir), Volume("ca-certs", "hostPath", "/etc/ssl/certs")]
    mounts = [VolumeMount("k8s-certs", cert_dir, True), VolumeMount("ca-certs", "/etc/ssl/certs", True)]
    ev = api.get("extraVolumes")
    if isinstance(ev, MarkedList):
        for i, v in enumerate(ev):
            if isinstance(v, Mapping):
                volumes.append(
                    Volume(
                        _str(v.get("name")),
                        "hostPath",
                        _str(v.get("hostPath")),
                        _str(v.get("pathType")) or None,
                        ev.item_line(i),
                    )
                )
                mounts.append(
                    VolumeMount(
                        _str(v.get("name")),
                        _str(v.get("mountPath")),
                        bool(v.get("readOnly")),
                        None,
                        ev.item_line(i),
                    )
                )
    fallback = None
    kv = _str(cc.get("kubernetesVersion"))
    if kv:
        try:
            fallback = parse_version(kv, "kubernetesVersion")
        except ValueError:
            fallback = None
    located = Located(
        flag_args=args,
        volumes=tuple(volumes),
        mounts=tuple(mounts),
        notes=("flags are kubeadm's defaults overlaid with apiServer.extraArgs",),
    )
    return _finish(located, source="kubeadm-config", file=shown, k8s_version=k8s_version, fallback=fallback)


# ---------------------------------------------------------------------------- --root


def find_manifest_under(root: str) -> str:
    """The API server manifest under a node's filesystem copy ``root`` (relative path)."""
    if not os.path.isdir(root):
        if os.path.exists(root):
            raise UsageError(f"--root {root}: not a directory")
        raise UsageError(f"--root {root}: no such directory")
    for rel in MANIFEST_CANDIDATES:
        if os.path.isfile(os.path.join(root, rel)):
            return rel
    if any(os.path.exists(os.path.join(root, m)) for m in K3S_MARKERS):
        raise InputError(
            "this looks like a k3s node: k3s runs the API server inside the k3s binary, without a "
            "manifest; scan it with --process on the node, or save the 'Running kube-apiserver' line of "
            "its log (journalctl -u k3s) and give it to --cmdline",
            file=root,
        )
    tried = ", ".join("/" + c for c in MANIFEST_CANDIDATES)
    raise InputError(f"no kube-apiserver manifest under this root (looked for {tried})", file=root)


def load(
    *,
    manifest: str | None = None,
    root: str | None = None,
    process: bool = False,
    kubeadm_config: str | None = None,
    cmdline: str | None = None,
    k8s_version: str | None = None,
    proc: str = "/proc",
) -> ApiServerConfig:
    """Load the API server configuration from exactly one source (``root`` may accompany any)."""
    chosen = [
        n
        for n, v in (
            ("--manifest", manifest),
            ("--process", process),
            ("--kubeadm-config", kubeadm_config),
            ("--cmdline", cmdline),
        )
        if v
    ]
    if len(chosen) > 1:
        raise UsageError(f"choose one source, not {' and '.join(chosen)}")
    if root is not None and not os.path.isdir(root):
        raise UsageError(
            f"--root {root}: " + ("not a directory" if os.path.exists(root) else "no such directory")
        )
    if manifest:
        return from_manifest(manifest, k8s_version=k8s_version)
    if kubeadm_config:
        return from_kubeadm_config(kubeadm_config, k8s_version=k8s_version)
    if cmdline:
        return from_command_line(read_text(cmdline), cmdline, k8s_version=k8s_version)
    if process:
        return from_process(proc, k8s_version=k8s_version, node_root=root or "/")
    if root is None:
        raise UsageError(
            "nothing to scan: give --root DIR, --manifest FILE, --process, --kubeadm-config FILE or --cmdline FILE"
        )
    rel = find_manifest_under(root)
    return from_manifest(
        os.path.join(root, rel), display="/" + rel, k8s_version=k8s_version, extra={"manifest_rel": rel}
    )
