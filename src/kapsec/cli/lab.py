"""``kapsec lab``: build a realistic control-plane tree to try kapsec on."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import click

from kapsec.errors import UsageError
from kapsec.lab.tree import Flavor, Plant


@click.group()
def lab() -> None:
    """Build a realistic control-plane tree to try kapsec on."""


@lab.command("init")
@click.argument("directory", type=click.Path(file_okay=True, dir_okay=True, path_type=Path))
@click.option(
    "--flavor",
    type=click.Choice([f.value for f in Flavor]),
    default="kubeadm",
    show_default=True,
    help="Which installer's layout to write.",
)
@click.option(
    "--k8s-version",
    default="1.34.0",
    show_default=True,
    metavar="VERSION",
    help="Kubernetes version the files are written for (1.29 to 1.36).",
)
@click.option("--node-name", default="controlplane", show_default=True, help="The node's name.")
@click.option(
    "--advertise-address",
    default="192.168.56.10",
    show_default=True,
    metavar="IP",
    help="The API server's advertise address (in certificates, flags and kubeconfigs).",
)
@click.option(
    "--pod-subnet",
    default=None,
    metavar="CIDR",
    help="Pod network CIDR, as `kubeadm init --pod-network-cidr` (default: none).",
)
@click.option(
    "--plant",
    "plants",
    multiple=True,
    type=click.Choice([p.value for p in Plant]),
    help="Plant a problem for a demo or a test (repeatable).",
)
@click.option("--force", is_flag=True, help="Write into DIRECTORY even if it is not empty.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def init(
    *,
    directory: Path,
    flavor: str,
    k8s_version: str,
    node_name: str,
    advertise_address: str,
    pod_subnet: str | None,
    plants: tuple[str, ...],
    force: bool,
    output: str,
) -> None:
    """Write a control-plane node's files under DIRECTORY, as the installer lays them out.

    \b
    kubeadm: etc/kubernetes/manifests/{kube-apiserver,kube-controller-manager,
    kube-scheduler,etcd}.yaml with kubeadm's default flags, probes and mounts;
    etc/kubernetes/pki with real keys and certificates; the kubeconfigs; and
    var/lib/kubelet/config.yaml, all with kubeadm's file modes. The control
    plane is kubeadm's default, not hardened, so `kapsec scan --root DIRECTORY`
    has findings.

    Refuses a non-empty DIRECTORY unless --force is given (exit 2).

    \b
    Examples:
      kapsec lab init ./node && kapsec scan --root ./node
      kapsec lab init ./rke2-node --flavor rke2 --k8s-version 1.31 --plant expiring-cert
    """
    from kapsec.lab import LabOptions, init_lab

    options = LabOptions(
        flavor=Flavor(flavor),
        k8s_version=k8s_version,
        node_name=node_name,
        advertise_address=advertise_address,
        pod_subnet=pod_subnet,
        plants=frozenset(Plant(p) for p in plants),
    )
    try:
        options.validate()
        tree = init_lab(directory, options, force=force)
    except UsageError as exc:
        click.echo(f"kapsec: error: {exc}", err=True)
        raise click.exceptions.Exit(2) from None

    if output == "json":
        doc = {
            "root": str(directory),
            "flavor": flavor,
            "kubernetesVersion": options.version_tag,
            "nodeName": node_name,
            "advertiseAddress": advertise_address,
            "planted": sorted(p.value for p in options.plants),
            "files": [
                {"path": f.path, "mode": f"{stat.S_IMODE(f.mode):04o}"}
                for f in sorted(tree.files, key=lambda f: f.path)
            ],
            "symlinks": [{"path": s.path, "target": s.target} for s in tree.symlinks],
        }
        click.echo(json.dumps(doc, indent=2))
    else:
        manifests = sum(1 for f in tree.files if "/manifests/" in f.path or "/pod-manifests/" in f.path)
        click.echo(
            f"wrote a {flavor} {options.version_tag} control plane (node {node_name}, "
            f"{advertise_address}) to {directory}: {len(tree.files)} files, {manifests} static pods"
        )
    for note in tree.notes:
        click.echo(f"kapsec: {note}", err=True)
    click.echo(f"kapsec: next: kapsec scan --root {directory}", err=True)
