"""``kapsec snapshot``: collect cluster objects into one file for offline analysis.

Also holds the input options shared by ``kapsec pss`` and ``kapsec netpol``
(``--from PATH`` / ``--cluster`` with ``--kubeconfig``/``--context``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from kapsec.errors import InputError, UsageError
from kapsec.sources.objects import LoadedObjects

F = TypeVar("F", bound=Callable[..., Any])


def input_options(what: str) -> Callable[[F], F]:
    """``--from``, ``--cluster``, ``--kubeconfig``, ``--context``."""

    def decorate(f: F) -> F:
        opts = [
            click.option(
                "-f",
                "--from",
                "sources",
                multiple=True,
                metavar="PATH",
                help=f"{what} to read: a kapsec snapshot, YAML/JSON files or directories, List kinds, "
                "`kubectl get -A -o json` dumps (.gz too). Repeatable.",
            ),
            click.option("--cluster", is_flag=True, help="Collect the objects from a live cluster instead."),
            click.option(
                "--kubeconfig",
                metavar="FILE",
                help="kubeconfig for --cluster (default: $KUBECONFIG, then ~/.kube/config).",
            ),
            click.option("--context", metavar="NAME", help="kubeconfig context for --cluster."),
        ]
        for opt in reversed(opts):
            f = opt(f)
        return f

    return decorate


def load_inputs(
    sources: Sequence[str],
    *,
    cluster: bool,
    kubeconfig: str | None,
    context: str | None,
    kinds: Sequence[str] | None = None,
) -> LoadedObjects:
    """Load ``--from`` paths and/or a live collection; problems are kept on the result."""
    from kapsec.sources.objects import load_paths, load_text

    if not sources and not cluster:
        raise UsageError("say where the objects are: --from PATH (repeatable) or --cluster")
    if (kubeconfig or context) and not cluster:
        raise UsageError("--kubeconfig and --context only apply with --cluster")
    loaded = LoadedObjects()
    if sources:
        load_paths(sources, loaded)
    if cluster:
        from kapsec.sources.cluster import collect_snapshot

        snapshot = collect_snapshot(kubeconfig, context, kinds)
        load_text(json.dumps(snapshot), "<cluster>", loaded)
    return loaded


def table_console() -> Any:
    """A rich Console for tables: the terminal's width, or wide lines when piped (one row per
    line, so the output can be grepped)."""
    import sys

    from rich.console import Console

    width = None if sys.stdout.isatty() else 220
    return Console(width=width, soft_wrap=True, highlight=False)


def report_problems(loaded: LoadedObjects) -> None:
    for p in loaded.problems:
        click.echo(f"kapsec: warning: {p}", err=True)


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
    else:
        try:
            if output.endswith(".gz"):
                Path(output).write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
            else:
                Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror}", file=output) from exc
    counts = json.loads(data["metadata"]["annotations"]["kapsec.io/counts"])
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    where = "stdout" if output == "-" else output
    click.echo(f"kapsec: wrote {len(data['items'])} objects to {where} ({summary})", err=True)
