"""CIS section 1.1: permissions and ownership of the control-plane files on the node.

The files are found the way the node uses them, not from hard-coded paths: the sibling
static pod manifests next to the API server's, the scheduler's and controller-manager's
``--kubeconfig``, etcd's ``--data-dir`` through its hostPath volume, and the PKI directory of
``--client-ca-file``. An absent file is ``warn`` (kube-bench fails it), never ``pass``.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

from kapsec.checks.catalog import Check
from kapsec.checks.context import (
    EtcdSettings,
    Outcome,
    Resolved,
    ScanContext,
    Sibling,
    lstat,
    mode_bits,
)
from kapsec.model.findings import Evidence, Status


@dataclass(frozen=True)
class Target:
    shown: str
    real: str


@dataclass(frozen=True)
class NotApplicable:
    """The target does not exist on this kind of node (a ``skip``, with the reason)."""

    reason: str


Found = list[Target] | str | NotApplicable

_K3S_NO_POD = "k3s runs the {what} inside the k3s process: there is no {file} (CIS for k3s: not applicable)"


def _sibling_file(ctx: ScanContext, component: str) -> Found:
    if ctx.distro().name == "k3s" and ctx.config.source != "manifest":
        what = {"kube-apiserver": "API server", "etcd": "etcd"}.get(component, component)
        return NotApplicable(_K3S_NO_POD.format(what=what, file=f"{component} static pod manifest"))
    s = ctx.sibling(component)
    if isinstance(s, Resolved):
        return s.why
    return [Target(s.shown, s.real)]


# The kubeconfigs RKE2 and k3s write under <data-dir>/server/cred/ for the control plane.
_RANCHER_KUBECONFIGS = {
    "kube-scheduler": "scheduler.kubeconfig",
    "kube-controller-manager": "controller.kubeconfig",
}


def _kubeconfig_of(ctx: ScanContext, component: str, default: str) -> Found:
    s = ctx.sibling(component)
    node = default
    server = ctx.distro().server_dir
    if server is not None:
        node = f"{server}/cred/{_RANCHER_KUBECONFIGS[component]}"
    if isinstance(s, Sibling) and s.flags.get("kubeconfig"):
        node = s.host_path(s.flags["kubeconfig"])
    real = ctx.node_real(node)
    if not os.path.exists(real):
        return f"{node} not found"
    return [Target(node, real)]


def pki_dir(ctx: ScanContext) -> str:
    ca = ctx.config.get_str("client-ca-file")
    if ca.startswith("/"):
        host = ctx.config.host_path(ca)
        if host:
            return posixpath.dirname(host)
    return "/etc/kubernetes/pki"


def _walk(ctx: ScanContext, node_dir: str, suffix: str | None, include_dirs: bool) -> list[Target] | str:
    real_dir = ctx.node_real(node_dir)
    if not os.path.isdir(real_dir):
        return f"{node_dir} not found"
    out: list[Target] = []
    if include_dirs:
        out.append(Target(node_dir, real_dir))
    for dirpath, dirnames, filenames in os.walk(real_dir):
        dirnames.sort()
        rel = os.path.relpath(dirpath, real_dir)
        node_base = node_dir if rel == "." else posixpath.join(node_dir, rel.replace(os.sep, "/"))
        if include_dirs and rel != ".":
            out.append(Target(node_base, dirpath))
        for f in sorted(filenames):
            if suffix is None or f.endswith(suffix):
                node_file = posixpath.join(node_base, f)
                out.append(Target(node_file, ctx.node_real(node_file)))
    if not out:
        return f"no {suffix or ''} files under {node_dir}".replace("  ", " ")
    return out


def _etcd_data_dir(ctx: ScanContext) -> Found:
    d = ctx.distro()
    if any(s.startswith("unix:") for s in ctx.config.get_list("etcd-servers")) and d.name == "k3s":
        return NotApplicable(
            "k3s keeps its data through kine (--etcd-servers is a unix socket), not in an etcd data directory"
        )
    settings = ctx.etcd_settings()
    node = "/var/lib/etcd"
    if d.server_dir is not None:
        node = f"{d.server_dir}/db/etcd"  # RKE2's and k3s's embedded etcd
    if isinstance(settings, EtcdSettings):
        data_dir = settings.get("data-dir")
        if data_dir is not None and data_dir.value.startswith("/"):
            node = data_dir.value
    elif d.name == "k3s":
        return NotApplicable(settings)
    real = ctx.node_real(node)
    if not os.path.isdir(real):
        return f"{node} not found"
    return [Target(node, real)]


def _admin_kubeconfigs(ctx: ScanContext) -> Found:
    d = ctx.distro()
    if d.server_dir is None:
        candidates = ["/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf"]
    else:
        # the cluster-admin credential of RKE2/k3s, and the copy they write for users
        # (its mode follows --write-kubeconfig-mode)
        candidates = [f"{d.server_dir}/cred/admin.kubeconfig", f"/etc/rancher/{d.name}/{d.name}.yaml"]
    found = [Target(p, ctx.node_real(p)) for p in candidates if os.path.isfile(ctx.node_real(p))]
    return found or f"{candidates[0]} not found"


def _cni(ctx: ScanContext) -> list[Target] | str:
    out: list[Target] = []
    dirs = ["/etc/cni/net.d", "/var/lib/cni/networks"]
    distro = ctx.distro()
    if distro.name == "k3s" and distro.data_dir:
        # k3s's embedded flannel writes its conflist under its own data directory
        dirs.insert(1, f"{distro.data_dir}/agent/etc/cni/net.d")
    for d in dirs:
        r = _walk(ctx, d, None, include_dirs=False)
        if isinstance(r, list):
            out.extend(r)
    return out or f"no CNI configuration under {', '.join(dirs[:-1])} or {dirs[-1]}"


def targets(ctx: ScanContext, target: str) -> Found:
    """The files of ``target`` (existing ones), why there are none, or why there cannot be any."""
    if target == "apiserver-manifest":
        if ctx.manifest_real and ctx.config.source == "manifest":
            rel = ctx.config.extra.get("manifest_rel")
            shown = "/" + str(rel) if rel else (ctx.config.file or ctx.manifest_real)
            return [Target(shown, ctx.manifest_real)]
        return _sibling_file(ctx, "kube-apiserver")
    if target == "controller-manager-manifest":
        return _sibling_file(ctx, "kube-controller-manager")
    if target == "scheduler-manifest":
        return _sibling_file(ctx, "kube-scheduler")
    if target == "etcd-manifest":
        return _sibling_file(ctx, "etcd")
    if target == "cni-files":
        return _cni(ctx)
    if target == "etcd-data-dir":
        return _etcd_data_dir(ctx)
    if target == "admin-conf":
        return _admin_kubeconfigs(ctx)
    if target == "scheduler-conf":
        return _kubeconfig_of(ctx, "kube-scheduler", "/etc/kubernetes/scheduler.conf")
    if target == "controller-manager-conf":
        return _kubeconfig_of(ctx, "kube-controller-manager", "/etc/kubernetes/controller-manager.conf")
    if target == "pki-all":
        return _walk(ctx, pki_dir(ctx), None, include_dirs=True)
    if target == "pki-crt":
        return _walk(ctx, pki_dir(ctx), ".crt", include_dirs=False)
    if target == "pki-key":
        return _walk(ctx, pki_dir(ctx), ".key", include_dirs=False)
    raise ValueError(f"unknown file target {target!r}")


def file_mode(check: Check, ctx: ScanContext) -> Outcome:
    target = str(check.rule.args["target"])
    per_benchmark = check.rule.args.get("max_by_benchmark") or {}
    allowed = int(str(per_benchmark.get(ctx.benchmark, check.rule.args["max"])), 8)
    found = targets(ctx, target)
    if isinstance(found, NotApplicable):
        return Outcome(Status.SKIP, found.reason)
    if isinstance(found, str):
        return Outcome(Status.WARN, f"cannot check: {found}")
    bad = []
    for t in found:
        st = lstat(t.real)
        if st is None:
            return Outcome(Status.WARN, f"cannot stat {t.shown}", Evidence(file=t.shown))
        mode = mode_bits(st)
        if mode & ~allowed:
            bad.append((t, mode))
    if bad:
        t, mode = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        return Outcome(
            Status.FAIL,
            f"{t.shown} has mode {mode:04o}, more permissive than {allowed:04o}{more}",
            Evidence(file=t.shown, value=f"{mode:04o}"),
        )
    if len(found) <= 2:
        shown = " and ".join(t.shown for t in found)
    else:
        shown = f"{len(found)} files under {posixpath.dirname(found[0].shown)}"
    return Outcome(Status.PASS, f"{shown}: mode {allowed:04o} or stricter", Evidence(file=found[0].shown))


def file_owner(check: Check, ctx: ScanContext) -> Outcome:
    target = str(check.rule.args["target"])
    expected = str(check.rule.args["owner"])
    found = targets(ctx, target)
    if isinstance(found, NotApplicable):
        return Outcome(Status.SKIP, found.reason)
    if isinstance(found, str):
        return Outcome(Status.WARN, f"cannot check: {found}")
    accept = {expected}
    note = ""
    if target == "etcd-data-dir" and expected == "etcd:etcd":
        settings = ctx.etcd_settings()
        if isinstance(settings, EtcdSettings) and settings.embedded:
            accept.add("root:root")
            note = " (etcd runs inside the k3s process, as root, so root:root is etcd's own user)"
        elif isinstance(settings, EtcdSettings) and settings.run_as_user in (None, 0):
            accept.add("root:root")
            note = " (etcd runs as root: its manifest sets no runAsUser, so root:root is etcd's own user)"
    bad = []
    for t in found:
        st = lstat(t.real)
        if st is None:
            return Outcome(Status.WARN, f"cannot stat {t.shown}", Evidence(file=t.shown))
        owner = ctx.owner(st)
        if owner not in accept:
            bad.append((t, owner))
    if bad:
        t, owner = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        return Outcome(
            Status.FAIL,
            f"{t.shown} is owned by {owner}, expected {expected}{more}",
            Evidence(file=t.shown, value=owner),
        )
    shown = found[0].shown if len(found) <= 2 else f"{len(found)} paths under {found[0].shown}"
    if len(found) == 2:
        shown = f"{found[0].shown} and {found[1].shown}"
    owners = sorted({ctx.owner(st) for t in found if (st := lstat(t.real)) is not None})
    return Outcome(Status.PASS, f"{shown}: owned by {', '.join(owners)}{note}", Evidence(file=found[0].shown))
