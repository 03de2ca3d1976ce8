"""``kapsec snapshot``: collect cluster objects into one file for offline analysis.

The commands that read such a file (``--from PATH`` / ``--cluster``) take their options from
:func:`kapsec.cli.common.input_options`.
"""

from __future__ import annotations

import gzip
import json

import click

from kapsec.cli.common import write_file


@click.command("snapshot")
@click.option("--cluster", is_flag=True, required=True, help="Collect from the live cluster (required).")
@click.option("--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG, then ~/.kube/config).")
@click.option("--context", metavar="NAME", help="kubeconfig context (default: the current context).")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    metavar="FILE",
    help="Where to write the snapshot (JSON; gzip-compressed when FILE ends in .gz; - for stdout).",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    metavar="KIND",
    help="Collect only these kinds (repeatable). Default: namespaces, pods, every pod-template "
    "workload, service accounts, network policies and RBAC objects.",
)
def snapshot(
    cluster: bool, kubeconfig: str | None, context: str | None, output: str, kinds: tuple[str, ...]
) -> None:
    """Collect namespaces, pods, workloads, network policies and RBAC objects from a live cluster
    into one file, so `kapsec pss`, `kapsec netpol`, `kapsec rbac` and `kapsec scan --snapshot`
    can work on it offline. Secrets are never collected.

    \b
    Example:
      kapsec snapshot --cluster --context prod -o prod-snapshot.json.gz
      kapsec pss simulate --from prod-snapshot.json.gz
    """
    from kapsec.sources.cluster import collect_snapshot

    data = collect_snapshot(kubeconfig, context, list(kinds) or None)
    text = json.dumps(data, indent=1, sort_keys=False) + "\n"
    if output == "-":
        click.echo(text, nl=False)
    elif output.endswith(".gz"):
        write_file(output, gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        write_file(output, text)
    counts = json.loads(data["metadata"]["annotations"]["kapsec.io/counts"])
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    where = "stdout" if output == "-" else output
    click.echo(f"kapsec: wrote {len(data['items'])} objects to {where} ({summary})", err=True)
