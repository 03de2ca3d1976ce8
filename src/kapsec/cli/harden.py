"""``kapsec harden``: plan, show, apply (atomically, backed up), wait for health, roll back."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import re
import shutil
import subprocess
from typing import Any

import click

from kapsec.cli.common import OutputFormat, output_option
from kapsec.errors import InputError, UsageError, ValidationError

# What a snapshot must hold for kapsec to judge what a change stops (pods, their controllers,
# and namespaces for the PodSecurity defaults).
_SNAPSHOT_KINDS = frozenset(
    (
        "Namespace",
        "Pod",
        "DaemonSet",
        "Deployment",
        "StatefulSet",
        "ReplicaSet",
        "ReplicationController",
        "Job",
        "CronJob",
    )
)
KUBEADM_MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
KUBEADM_VOLUMES = {
    "ca-certs",
    "etc-ca-certificates",
    "etc-pki",
    "k8s-certs",
    "usr-local-share-ca-certificates",
    "usr-share-ca-certificates",
}
_SECRET_LINE = re.compile(r"^(\s*secret:\s*)\S.*$")
REDACTED = "<redacted: random key, written only to the file>"


def _redact(text: str) -> str:
    return "\n".join(_SECRET_LINE.sub(lambda m: m.group(1) + REDACTED, line) for line in text.split("\n"))


def _diff(old: str, new: str, a: str, b: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), a, b))


def _duration(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text.strip())
    if not m:
        raise click.BadParameter(f"not a duration: {text!r} (e.g. 90s, 2m)")
    value = float(m.group(1))
    return value / 1000 if m.group(2) == "ms" else value * 60 if m.group(2) == "m" else value


@click.command("harden")
@click.option("--root", metavar="DIR", help="The node's filesystem (default /): paths resolve under DIR.")
@click.option(
    "--manifest", metavar="FILE", help="The kube-apiserver static pod manifest (default: found under --root)."
)
@click.option("--k8s-version", metavar="1.X", help="Kubernetes version (default: from the image tag).")
@click.option(
    "--profile",
    type=click.Choice(["guide", "guide-moderate", "cis"]),
    default="guide",
    show_default=True,
    help="What to apply.",
)
@click.option("--set", "sets", multiple=True, metavar="FLAG=VALUE", help="Also set this flag; repeatable.")
@click.option(
    "--skip", multiple=True, metavar="ID", help="Leave out the change for this check id; repeatable."
)
@click.option(
    "--encryption-provider",
    type=click.Choice(["secretbox", "aescbc"]),
    default="secretbox",
    show_default=True,
    help="Provider of a new encryption-at-rest config (aescbc only on request; upstream advises against it).",
)
@click.option("--config-dir", metavar="PATH", help="Node directory for the files kapsec writes.")
@click.option(
    "--diff", "mode", flag_value="diff", default=True, help="Show the change as a unified diff (default)."
)
@click.option("--apply", "mode", flag_value="apply", help="Validate, back up and write the change.")
@click.option("--rollback", "mode", flag_value="rollback", help="Restore the latest backup.")
@click.option("--backup-dir", metavar="DIR", help="Where backups go (default <root>/var/lib/kapsec/backups).")
@click.option("--snapshot", metavar="FILE", help="Cluster objects (kapsec snapshot): privileged workloads.")
@click.option("--wait", is_flag=True, help="After --apply, wait for /readyz; restore the backup on timeout.")
@click.option(
    "--timeout",
    "timeout_text",
    default="120s",
    show_default=True,
    metavar="DURATION",
    help="How long --wait waits.",
)
@click.option(
    "--interval",
    "interval_text",
    default="2s",
    show_default=True,
    metavar="DURATION",
    help="Time between polls.",
)
@click.option("--kubeconfig", metavar="FILE", help="Admin kubeconfig for --wait (default: the installer's).")
@click.option("--server", metavar="URL", help="API server URL for --wait (default: the kubeconfig's).")
@output_option(OutputFormat.TEXT, OutputFormat.JSON)
def harden(  # noqa: PLR0917 - one parameter per option
    root: str | None,
    manifest: str | None,
    k8s_version: str | None,
    profile: str,
    sets: tuple[str, ...],
    skip: tuple[str, ...],
    encryption_provider: str,
    config_dir: str | None,
    mode: str,
    backup_dir: str | None,
    snapshot: str | None,
    wait: bool,
    timeout_text: str,
    interval_text: str,
    kubeconfig: str | None,
    server: str | None,
    output: str,
) -> None:
    """Apply the hardening guide to a kube-apiserver static pod, safely.

    \b
    The default is a dry run: the plan (check id, safety, reason) on stderr and a unified diff
    of the manifest and of every file kapsec would write on stdout (key material redacted).
    --apply validates everything with the API server's rules, writes the configuration files
    (0600), backs up the manifest outside the static pod directory and replaces it atomically.

    \b
    Examples:
      kapsec harden --root /                       # show the plan and the diff, change nothing
      kapsec harden --root / --profile cis --skip TLS-003
      kapsec harden --root / --apply --wait        # write, then roll back unless /readyz answers
      kapsec harden --root / --rollback

    \b
    Exit codes: 0 nothing to change, or applied (and ready with --wait), or rolled back on request;
                1 --diff found changes to make, or --wait timed out and the backup was restored;
                2 usage, input or validation error (nothing written).
    """
    from kapsec.harden import apply as ap

    if wait and mode != "apply":
        raise UsageError("--wait needs --apply")
    timeout = _duration(timeout_text)
    interval = _duration(interval_text)
    if root is not None and not os.path.isdir(root):
        raise UsageError(
            f"--root {root}: " + ("not a directory" if os.path.exists(root) else "no such directory")
        )
    backup_real = backup_dir or ap.node_real(root, ap.DEFAULT_BACKUP_DIR)

    if mode == "rollback":
        backup = ap.latest_backup(backup_real)
        real = ap.restore(backup, root)
        if output == "json":
            click.echo(
                json.dumps(
                    {"rolledBack": True, "backup": backup.directory, "manifest": backup.manifest_node_path},
                    indent=2,
                )
            )
        else:
            click.echo(f"restored {backup.manifest_node_path} from {backup.directory}")
        click.echo(
            f"kapsec: the kubelet restarts the API server from {os.path.basename(real)}; files kapsec wrote "
            f"({', '.join(backup.created_files) or 'none'}) were left in place (an encryption key must be kept)",
            err=True,
        )
        if any(p.endswith("encryption-config.yaml") for p in backup.created_files):
            click.echo(
                "kapsec: warning: Secrets written while encryption was on are readable only with "
                "--encryption-provider-config: if any were written, put the flag back (with identity first) "
                "and rewrite them before dropping it",
                err=True,
            )
        raise SystemExit(0)

    ctx = _prepare(
        root, manifest, k8s_version, profile, sets, skip, encryption_provider, config_dir, snapshot
    )
    plan, old_text, new_text, node_path, manifest_real, kubeadm_files = ctx
    files_shown = [(f.path, _redact(f.text) if f.secret else f.text) for f in (*plan.files, *kubeadm_files)]
    diff = _diff(old_text, new_text, f"a{node_path}", f"b{node_path}")
    for path, text in files_shown:
        diff += _diff("", text, "/dev/null", f"b{path}")

    for c in plan.changes:
        shown = f"{c.action} {c.target}" + (
            f"={c.value}" if c.action == "set-flag" else f" ({c.value})" if c.value else ""
        )
        click.echo(f"kapsec: {c.check:<11} {c.safety.value:<13} {shown}\n           {c.reason}", err=True)
    for note in plan.notes:
        click.echo(f"kapsec: note: {note}", err=True)
    if node_path.startswith("/var/lib/rancher/rke2/") and not plan.empty:
        click.echo(f"kapsec: note: {_rke2_note(plan)}", err=True)
    if kubeadm_files:
        click.echo(
            "kapsec: kubeadm: `kubeadm upgrade` rewrites this manifest from the kubeadm-config ConfigMap; merge "
            + " or ".join(f.path for f in kubeadm_files)
            + " into it so the hardening survives upgrades",
            err=True,
        )

    result: dict[str, Any] = {
        "profile": profile,
        "manifest": node_path,
        "changes": [c.to_dict() for c in plan.changes],
        "files": [
            {"path": f.path, "kind": f.kind, "check": f.check, "mode": f"{f.mode:04o}"} for f in plan.files
        ]
        + [
            {"path": f.path, "kind": f.kind, "check": f.check, "mode": f"{f.mode:04o}"} for f in kubeadm_files
        ],
        "notes": list(plan.notes),
        "diff": diff,
        "applied": False,
    }
    if plan.empty:
        click.echo("kapsec: nothing to change: every check this profile fixes passes", err=True)
        _emit(output, result, "")
        raise SystemExit(0)
    if mode == "diff":
        _emit(output, result, diff)
        raise SystemExit(1)

    # --apply
    if (
        any(c.check == "PRIV-001" and c.target == "--allow-privileged" for c in plan.changes)
        and snapshot is None
    ):
        raise UsageError(
            "--set allow-privileged=false stops privileged pods (kube-proxy, most CNIs); give --snapshot FILE "
            "(kapsec snapshot) so that kapsec can list what it stops"
        )
    from kapsec.checks.catalog import load_catalog
    from kapsec.checks.context import ScanContext
    from kapsec.checks.engine import run, select
    from kapsec.model.findings import Status
    from kapsec.sources.apiserver import from_manifest_text

    if os.path.islink(manifest_real):
        raise InputError(
            "is a symbolic link: replacing it atomically would replace the link, not its target; "
            "edit the target with --manifest",
            file=node_path,
        )

    new_cfg = from_manifest_text(new_text, node_path, k8s_version=k8s_version)
    fatal = [p for p in new_cfg.problems if p.fatal]
    if fatal:
        p = fatal[0]
        raise ValidationError(
            f"the new manifest would not start: {p.message}", file=node_path, line=p.loc.line
        )
    ap.validate_files([*plan.files, *kubeadm_files])
    ap.check_backup_dir(backup_real, manifest_real)  # before anything is written
    written = ap.write_generated(plan.files, root)
    try:
        ap.write_generated_overwrite(kubeadm_files, root)
        # the start-up checks on the new configuration, with the files now in place; a problem the
        # old configuration already had is reported, not blamed on the change
        start_checks = select(load_catalog(), only=("FLAG-001", "FLAG-003"))
        old_cfg = from_manifest_text(old_text, node_path, k8s_version=k8s_version)
        before = {
            f.id: f.message
            for f in run(ScanContext(config=old_cfg, root=root, manifest_real=None), start_checks)
            if f.status is Status.FAIL
        }
        for finding in run(ScanContext(config=new_cfg, root=root, manifest_real=None), start_checks):
            if finding.status is not Status.FAIL:
                continue
            if before.get(finding.id) == finding.message:
                click.echo(f"kapsec: warning: already so before this change: {finding.message}", err=True)
                continue
            raise ValidationError(f"the new configuration would not start: {finding.message}", file=node_path)
        backup = ap.make_backup(backup_real, manifest_real, node_path, written, dt.datetime.now(dt.UTC))
        mode_bits = os.stat(manifest_real).st_mode & 0o777
        ap.atomic_write(manifest_real, new_text.encode("utf-8"), mode_bits)
    except BaseException:
        ap.remove_files(written, root)
        raise
    result |= {"applied": True, "backup": backup.directory, "written": written}
    click.echo(
        f"kapsec: applied; the old manifest is in {backup.directory} (kapsec harden --rollback)", err=True
    )
    if not wait:
        _emit(output, result, f"applied {len(plan.actionable)} changes to {node_path}\n")
        raise SystemExit(0)

    from kapsec.harden.wait import load_credentials, wait_ready

    kc = kubeconfig or _default_kubeconfig(root)
    creds = load_credentials(kc, root=root, server=server)
    click.echo(f"kapsec: waiting up to {timeout:g}s for {creds.server}/readyz", err=True)
    res = wait_ready(creds, timeout, interval)
    result["wait"] = {"ready": res.ready, "attempts": res.attempts, "last": res.last}
    if res.ready:
        click.echo(f"kapsec: ready after {res.attempts} poll(s)", err=True)
        _emit(
            output,
            result,
            f"applied {len(plan.actionable)} changes to {node_path}; the API server is ready\n",
        )
        raise SystemExit(0)
    ap.restore(backup, root)
    why = _why(res.last, _diff(old_text, new_text, f"a{node_path}", f"b{node_path}"))
    result |= {"rolledBack": True, "why": why}
    click.echo(
        f"kapsec: not ready after {timeout:g}s ({res.attempts} polls; last: {res.last}); restored {node_path} "
        f"from {backup.directory}",
        err=True,
    )
    click.echo(why, err=True)
    _emit(output, result, f"rolled back {node_path}: the API server was not ready within {timeout:g}s\n")
    raise SystemExit(1)


def _why(last: str, manifest_diff: str) -> str:
    crictl = shutil.which("crictl")
    if crictl:
        try:
            ids = subprocess.run(
                [crictl, "ps", "-a", "--name", "kube-apiserver", "-q"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.split()
            if ids:
                logs = subprocess.run(
                    [crictl, "logs", "--tail", "20", ids[0]],
                    capture_output=True,
                    text=True,
                    timeout=10,
                    check=False,
                )
                return "kapsec: the API server container's last log lines:\n" + (logs.stdout + logs.stderr)
        except (OSError, subprocess.SubprocessError):
            pass
    return (
        f"kapsec: crictl is not available to read the container log; last /readyz answer: {last}; "
        "the change that was rolled back:\n" + manifest_diff
    )


def _emit(output: str, result: dict[str, Any], text: str) -> None:
    if output == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(text, nl=False)


def _default_kubeconfig(root: str | None) -> str:
    from kapsec.harden.apply import node_real

    for p in ("/etc/kubernetes/admin.conf", "/etc/rancher/rke2/rke2.yaml"):
        real = node_real(root, p)
        if os.path.exists(real):
            return real
    raise UsageError(
        "no admin kubeconfig found (/etc/kubernetes/admin.conf, /etc/rancher/rke2/rke2.yaml); use --kubeconfig"
    )


def _skip_ids(skip: tuple[str, ...], catalog: Any) -> tuple[str, ...]:
    """The check ids --skip names (aliases resolved); a typo is an error, not a change applied anyway."""
    ids: dict[str, str] = {}
    for c in catalog:
        for key in (c.id, *c.aliases):
            ids[key.upper()] = c.id
    unknown = [s for s in skip if s.upper() not in ids]
    if unknown:
        raise UsageError(f"--skip {unknown[0]}: no such check (kapsec checks list shows the ids)")
    return tuple(ids[s.upper()] for s in skip)


def _prepare(  # noqa: PLR0917
    root: str | None,
    manifest: str | None,
    k8s_version: str | None,
    profile: str,
    sets: tuple[str, ...],
    skip: tuple[str, ...],
    encryption_provider: str,
    config_dir: str | None,
    snapshot: str | None,
) -> Any:
    from kapsec.checks.catalog import load_catalog
    from kapsec.checks.context import ScanContext
    from kapsec.checks.engine import run
    from kapsec.harden import apply as ap
    from kapsec.harden.patch import patch_manifest
    from kapsec.harden.plan import GeneratedFile, PlanOptions, make_plan, parse_set
    from kapsec.harden.workloads import privileged_workloads
    from kapsec.sources.apiserver import find_manifest_under, from_manifest_text

    if manifest:
        manifest_real = manifest
        if root is not None and os.path.abspath(manifest).startswith(os.path.abspath(root) + os.sep):
            node_path = "/" + os.path.relpath(manifest, root).replace(os.sep, "/")
        else:
            node_path = os.path.abspath(manifest)
    else:
        r = root if root is not None else "/"
        rel = find_manifest_under(r)
        manifest_real = os.path.join(r, rel)
        node_path = "/" + rel
    try:
        with open(manifest_real, encoding="utf-8") as fh:
            old_text = fh.read()
    except FileNotFoundError:
        raise InputError("no such file", file=manifest_real) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", file=manifest_real) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=manifest_real) from exc
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=manifest_real) from exc
    cfg = from_manifest_text(old_text, node_path, k8s_version=k8s_version)
    catalog = load_catalog()
    skip = _skip_ids(skip, catalog)
    scan_ctx = ScanContext(config=cfg, root=root, snapshot=snapshot, manifest_real=manifest_real)
    findings = run(scan_ctx, catalog)
    statuses = {f.id: f.status for f in findings}
    messages = {f.id: f.message for f in findings}
    flag_checks: dict[str, str] = {}
    safety: dict[str, str] = {}
    for c in catalog:
        safety[c.id] = c.fix_safety.value
        args = c.rule.args
        for f in ([args["flag"]] if "flag" in args else []) + list(args.get("flags") or []):
            flag_checks.setdefault(str(f), c.id)
    if config_dir is None:
        config_dir = (
            "/etc/rancher/rke2/hardening"
            if node_path.startswith("/var/lib/rancher/rke2/")
            else "/etc/kubernetes/hardening"
        )
    workloads = None
    loaded = None
    if snapshot:
        from kapsec.sources.objects import load_paths

        loaded = load_paths([snapshot])
        if loaded.problems:
            # the problem already names its file (and line)
            raise InputError(str(loaded.problems[0]))
        if not any(o.get("kind") in _SNAPSHOT_KINDS for o, _ in loaded.objects):
            raise InputError(
                "no workloads or namespaces in the snapshot: kapsec cannot tell what the change would stop "
                "(collect one with kapsec snapshot --cluster)",
                file=snapshot,
            )
        workloads = privileged_workloads(o for o, _ in loaded.objects)
    enc_path = config_dir.rstrip("/") + "/encryption-config.yaml"
    existing = frozenset(p for p in (enc_path,) if os.path.exists(ap.node_real(root, p)))
    opts = PlanOptions(
        profile=profile,
        sets=parse_set(sets),
        skip=frozenset(skip),
        encryption_provider=encryption_provider,
        config_dir=config_dir,
        privileged_workloads=workloads,
        existing_paths=existing,
        flag_checks=flag_checks,
        catalog_safety=safety,
        messages=messages,
    )
    plan = make_plan(cfg, statuses, opts)
    if loaded is not None:
        plan = _admission_impact(plan, loaded, cfg.version.minor)
    new_text = patch_manifest(old_text, node_path, plan.edits)
    kubeadm_files: list[GeneratedFile] = []
    if node_path == KUBEADM_MANIFEST and not plan.empty and _kubeadm_managed(old_text):
        kubeadm_files = _kubeadm_files(new_text, node_path, k8s_version, config_dir, plan.edits.remove_flags)
    return plan, old_text, new_text, node_path, manifest_real, kubeadm_files


def _admission_impact(plan: Any, loaded: Any, minor: int) -> Any:
    """What the PodSecurity defaults kapsec writes would refuse among the snapshot's workloads
    (the PSS package's rollout simulation with the new configuration's defaults)."""
    import dataclasses

    from kapsec.pss.admission import parse_admission_config
    from kapsec.pss.simulate import simulate

    adm = next((f for f in plan.files if f.kind == "admission"), None)
    if adm is None:
        return plan
    config = parse_admission_config(adm.text, adm.path).pod_security
    refused = [
        o.ref
        for ns in simulate(loaded, config, server_minor=minor)
        for o in ns.refused("current")
        if o.controller is None
    ]
    if refused:
        note = (
            f"the PodSecurity default (enforce baseline) would refuse new pods of {len(refused)} workload(s) "
            f"in the snapshot: {'; '.join(sorted(refused))}. Running pods keep running, but re-created ones "
            "(a node restart, a rollout) are refused: label those namespaces "
            "(kapsec pss simulate shows the commands) or --skip PRIV-001"
        )
    else:
        note = "the PodSecurity default (enforce baseline) refuses none of the snapshot's workloads"
    return dataclasses.replace(plan, notes=(*plan.notes, note))


def _kubeadm_managed(text: str) -> bool:
    """kubeadm marks its API server pod with the advertise-address endpoint annotation."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    ann = meta.get("annotations") if isinstance(meta, dict) else None
    return isinstance(ann, dict) and any(str(k).startswith("kubeadm.kubernetes.io/") for k in ann)


def _rke2_note(plan: Any) -> str:
    """RKE2 writes its pod manifests from /etc/rancher/rke2/config.yaml at every start."""
    args = [f"{k}={v}" for k, v in plan.edits.set_flags]
    mounts = [f"{m.host_path}:{m.mount_path}" + (":ro" if m.read_only else "") for m in plan.edits.add_mounts]
    lines = [
        "RKE2 rewrites this manifest from /etc/rancher/rke2/config.yaml when it restarts; add there:",
        "  kube-apiserver-arg:",
        *[f"    - {json.dumps(a)}" for a in args],
    ]
    if mounts:
        lines += ["  kube-apiserver-extra-mount:", *[f"    - {json.dumps(m)}" for m in mounts]]
    if plan.edits.remove_flags:
        lines.append("  and remove: " + ", ".join(f"--{f}" for f in plan.edits.remove_flags))
    return "\n".join(lines)


def _kubeadm_files(
    new_text: str, node_path: str, k8s_version: str | None, config_dir: str, removed: tuple[str, ...]
) -> list[Any]:
    from kapsec.harden.kubeadm import cluster_configuration_patch
    from kapsec.harden.patch import MountSpec
    from kapsec.harden.plan import GeneratedFile
    from kapsec.sources.apiserver import from_manifest_text, kubeadm_default_args

    new_cfg = from_manifest_text(new_text, node_path, k8s_version=k8s_version)
    defaults = kubeadm_default_args()
    args: dict[str, str] = {}
    for o in new_cfg.occurrences:
        if o.name == "advertise-address":
            continue
        if defaults.get(o.name) != o.value:
            args[o.name] = o.value
    mounts = {m.name: m for m in new_cfg.mounts}
    volumes = [
        MountSpec(
            v.name,
            mounts[v.name].mount_path,
            v.host_path or "",
            v.host_path_type or "",
            mounts[v.name].read_only,
        )
        for v in new_cfg.volumes
        if v.kind == "hostPath" and v.name in mounts and v.name not in KUBEADM_VOLUMES
    ]
    out = []
    for version in ("v1beta3", "v1beta4"):
        text = cluster_configuration_patch(version, sorted(args.items()), volumes, removed)
        out.append(
            GeneratedFile(
                f"{config_dir.rstrip('/')}/kubeadm-clusterconfiguration.{version}.yaml",
                text,
                "kubeadm",
                "KUBEADM",
            )
        )
    return out
