"""``kapsec scan``: check an API server's configuration against the checklist and CIS 1.8-1.12."""

from __future__ import annotations

import datetime as dt
import os

import click

from kapsec.cli.common import exit_code_for, fail_on_option, output_option, parse_fail_on
from kapsec.errors import UsageError

BENCHMARK_CHOICES = ("cis-1.8", "cis-1.9", "cis-1.10", "cis-1.11", "cis-1.12")


@click.command("scan")
@click.option(
    "--root",
    "root",
    metavar="DIR",
    help="A node's filesystem (or a copy); every absolute path resolves under DIR.",
)
@click.option("--manifest", metavar="FILE", help="The kube-apiserver static pod manifest (YAML or JSON).")
@click.option("--process", is_flag=True, help="The running kube-apiserver process (/proc/*/cmdline).")
@click.option(
    "--kubeadm-config",
    metavar="FILE",
    help="A kubeadm ClusterConfiguration (apiServer.extraArgs over kubeadm's defaults).",
)
@click.option(
    "--cmdline", metavar="FILE", help="A saved command line (ps -ef output, a systemd unit's ExecStart, ...)."
)
@click.option("--k8s-version", metavar="1.X", help="Kubernetes version (default: from the image tag).")
@click.option(
    "--benchmark", type=click.Choice(BENCHMARK_CHOICES), help="Only the checks of this CIS benchmark version."
)
@click.option(
    "--check",
    "only",
    multiple=True,
    metavar="ID",
    help="Only this check: kapsec id, id prefix (AUDIT), CIS 1.12 id (1.2.1) or cis-1.X:ID; repeatable.",
)
@click.option(
    "--skip", multiple=True, metavar="ID", help="Leave out this check (same forms as --check); repeatable."
)
@click.option(
    "--snapshot",
    metavar="FILE",
    help="Cluster objects (kapsec snapshot) for the network policy and Pod Security items; "
    "alone, its kube-apiserver mirror pod is the source.",
)
@click.option(
    "--suppress",
    "suppress_file",
    metavar="FILE",
    help="Accepted findings: YAML 'suppressions: [{id, reason}]'; they become skip, unused ones are reported.",
)
@click.option(
    "--cluster", is_flag=True, help="Collect the cluster's objects live (kubeconfig), as --snapshot does."
)
@click.option(
    "--kubeconfig",
    metavar="FILE",
    help="With --cluster: the kubeconfig (default $KUBECONFIG, ~/.kube/config).",
)
@click.option("--context", "kube_context", metavar="NAME", help="With --cluster: the kubeconfig context.")
@click.option(
    "--now", "now_text", metavar="TIME", hidden=True, help="Evaluate certificates at this ISO time."
)
@output_option()
@fail_on_option
def scan(  # noqa: PLR0917 - one parameter per click option
    root: str | None,
    manifest: str | None,
    process: bool,
    kubeadm_config: str | None,
    cmdline: str | None,
    k8s_version: str | None,
    benchmark: str | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    snapshot: str | None,
    suppress_file: str | None,
    cluster: bool,
    kubeconfig: str | None,
    kube_context: str | None,
    now_text: str | None,
    output: str,
    fail_on: str,
) -> None:
    """Scan a kube-apiserver configuration: flags, referenced files and the node's files.

    \b
    Sources (one of; --root may accompany any, and alone finds the manifest):
      --root DIR          kubeadm, kOps, Talos and RKE2 manifest locations under DIR
      --manifest FILE     a static pod manifest (or mirror pod from kubectl get -o yaml/json)
      --process           the running kube-apiserver on this host
      --kubeadm-config F  a kubeadm ClusterConfiguration (v1beta3 map or v1beta4 list extraArgs)
      --cmdline FILE      a saved command line
      --snapshot FILE     the kube-apiserver mirror pod in saved cluster objects
      --cluster           the same, collected live with the kubeconfig

    \b
    Exit codes: 0 no failed finding at or above --fail-on; 1 failed findings at or above it;
                2 usage or input error (unreadable file, malformed YAML, no API server found).

    \b
    Examples:
      kapsec scan --root /                                   # on a control-plane node
      kapsec scan --root / --snapshot snapshot.json --benchmark cis-1.12 -o sarif > scan.sarif
      kapsec scan --manifest kube-apiserver.yaml --root / --check AUTHN --fail-on high
      kapsec scan --process --root / -o json
    """
    parse_fail_on(fail_on)  # validate early: a bad --fail-on is a usage error before any work
    from kapsec import __version__
    from kapsec.checks.catalog import load_catalog
    from kapsec.checks.context import ScanContext
    from kapsec.checks.engine import run, select
    from kapsec.model.findings import Report
    from kapsec.report import render
    from kapsec.sources.apiserver import find_manifest_under, load

    now = dt.datetime.now(dt.UTC)
    if now_text:
        try:
            now = dt.datetime.fromisoformat(now_text.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(f"not an ISO time: {now_text}", param_hint="--now") from None
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
    if snapshot and not os.path.exists(snapshot):
        raise UsageError(f"--snapshot {snapshot}: no such file")
    if cluster and snapshot:
        raise UsageError("choose --cluster or --snapshot, not both")
    live_text: str | None = None
    if cluster:
        import json

        from kapsec.sources.cluster import collect_snapshot

        live = collect_snapshot(kubeconfig, kube_context, kinds=("Namespace", "Pod", "NetworkPolicy"))
        live_text = json.dumps(live, indent=1)
    explicit = any((root, manifest, process, kubeadm_config, cmdline))
    manifest_real: str | None = None
    if explicit or not (snapshot or live_text):
        cfg = load(
            manifest=manifest,
            root=root,
            process=process,
            kubeadm_config=kubeadm_config,
            cmdline=cmdline,
            k8s_version=k8s_version,
        )
    else:
        from kapsec.sources.apiserver import from_snapshot_text
        from kapsec.sources.yamlmarks import read_text

        name = "cluster" if live_text is not None else str(snapshot)
        text = live_text if live_text is not None else read_text(str(snapshot))
        cfg = from_snapshot_text(text, name, k8s_version=k8s_version)
    if manifest:
        manifest_real = manifest
    elif root and cfg.source == "manifest" and not cfg.extra.get("mirror_pod"):
        manifest_real = os.path.join(root, find_manifest_under(root))
    ctx = ScanContext(
        config=cfg, root=root, snapshot=snapshot, now=now, manifest_real=manifest_real, benchmark=benchmark
    )
    if live_text is not None:
        from kapsec.sources.objects import load_text

        ctx.snapshot = "cluster"
        ctx.preload("snapshot", load_text(live_text, "cluster"))
    checks = select(load_catalog(), benchmark=benchmark, only=only, skip=skip)
    if not checks:
        raise UsageError("no check selected (see kapsec checks list)")
    suppressions = []
    if suppress_file:
        from kapsec.checks.suppress import load_suppressions

        suppressions = load_suppressions(suppress_file)
    findings = run(ctx, checks)
    if suppressions:
        from kapsec.checks.suppress import apply_suppressions

        findings = apply_suppressions(findings, suppressions)
    target = {
        "kind": "kube-apiserver",
        "source": cfg.source,
        "file": cfg.file,
        "root": root,
        "kubernetesVersion": cfg.version.label,
        "versionFrom": cfg.version.origin,
        "image": cfg.image,
        "benchmark": benchmark,
    }
    report = Report(
        tool="kapsec",
        version=__version__,
        target={k: v for k, v in target.items() if v is not None},
        findings=findings,
    )
    for note in cfg.notes:
        click.echo(f"kapsec: note: {note}", err=True)
    click.echo(render(report, output), nl=False)
    raise SystemExit(exit_code_for(report, fail_on))
