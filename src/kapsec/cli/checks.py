"""``kapsec checks list|explain``: the check catalog and each check's documentation."""

from __future__ import annotations

import json
from typing import Any

import click

from kapsec.errors import UsageError

SECTIONS = (
    ("checks", "What it checks"),
    ("rationale", "Why it matters"),
    ("example", "Example"),
    ("remediation", "Remediation"),
    ("fix", "Fix safety"),
    ("other_tools", "Other tools"),
    ("limits", "Known limits"),
    ("references", "References"),
)


def _check_dict(c: Any) -> dict[str, Any]:
    from kapsec.checks.catalog import CHECKLIST_ITEMS

    return {
        "id": c.id,
        "title": c.title,
        "severity": c.severity.label,
        "cis": c.cis,
        "cisManual": c.cis_manual,
        "benchmarks": dict(c.benchmarks),
        "checklist": c.checklist,
        "checklistItem": CHECKLIST_ITEMS.get(c.checklist) if c.checklist else None,
        "rationale": c.rationale,
        "remediation": c.remediation,
        "fix": {"safety": c.fix_safety.value},
        "references": list(c.references),
        "rule": {c.rule.op: dict(c.rule.args)},
        "doc": dict(c.doc),
    }


def _sections(c: Any) -> list[tuple[str, str]]:
    out = []
    for key, heading in SECTIONS:
        if key == "rationale":
            text = c.rationale
        elif key == "remediation":
            text = c.remediation
        elif key == "fix":
            text = c.fix_safety.value
        elif key == "references":
            text = "\n".join(c.references)
        else:
            text = c.doc.get(key, "")
        if text:
            out.append((heading, text))
    return out


def _bench_line(c: Any) -> str:
    if not c.benchmarks:
        return "none (not a CIS item)"
    manual = " (Manual in CIS)" if c.cis_manual else ""
    return ", ".join(f"{k} {v}" for k, v in c.benchmarks.items()) + manual


def explain_text(c: Any) -> str:
    from kapsec.checks.catalog import CHECKLIST_ITEMS

    lines = [f"{c.id}: {c.title}", "", f"Severity:  {c.severity.label}", f"CIS:       {_bench_line(c)}"]
    if c.checklist:
        lines.append(f"Checklist: {c.checklist} ({CHECKLIST_ITEMS[c.checklist]})")
    for heading, text in _sections(c):
        lines += ["", heading, *("  " + ln if ln else "" for ln in text.splitlines())]
    return "\n".join(lines) + "\n"


def explain_markdown(c: Any) -> str:
    lines = [
        f"### {c.id}: {c.title}",
        "",
        f"- **Severity:** {c.severity.label}",
        f"- **CIS:** {_bench_line(c)}",
    ]
    if c.checklist:
        lines.append(f"- **Checklist:** {c.checklist}")
    for heading, text in _sections(c):
        body = "\n".join(f"- <{r}>" for r in c.references) if heading == "References" else text
        lines += ["", f"**{heading}.**", "", body]
    return "\n".join(lines) + "\n"


@click.group("checks")
def checks() -> None:
    """The check catalog: what kapsec scan checks and why."""


@checks.command("list")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("--benchmark", metavar="cis-1.X", help="Only checks mapped to this CIS benchmark version.")
def list_checks(output: str, benchmark: str | None) -> None:
    """List every check: id, severity, CIS id, checklist item and title.

    \b
    Examples:
      kapsec checks list
      kapsec checks list --benchmark cis-1.12 -o json
      kapsec checks list -o markdown > checks.md
    """
    from kapsec.checks.catalog import BENCHMARKS, load_catalog

    if benchmark and benchmark not in BENCHMARKS:
        raise UsageError(
            f"unknown benchmark {benchmark!r} (known: {', '.join(BENCHMARKS)})", field="--benchmark"
        )
    cat = [c for c in load_catalog() if not benchmark or benchmark in c.benchmarks]
    key = benchmark or "cis-1.12"
    if output == "json":
        click.echo(json.dumps([_check_dict(c) for c in cat], indent=2))
        return
    if output == "markdown":
        click.echo(f"| id | severity | {key} | checklist | title |\n|---|---|---|---|---|")
        for c in cat:
            click.echo(
                f"| {c.id} | {c.severity.label} | {c.benchmarks.get(key, '')} | {c.checklist or ''} | {c.title} |"
            )
        return
    click.echo(f"{'ID':<12}{'SEVERITY':<10}{key.upper():<10}{'CHECKLIST':<24}TITLE")
    for c in cat:
        click.echo(
            f"{c.id:<12}{c.severity.label:<10}{c.benchmarks.get(key, '-'):<10}{c.checklist or '-':<24}{c.title}"
        )
    click.echo(f"{len(cat)} checks", err=True)


@checks.command("explain")
@click.argument("check_id", metavar="ID")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def explain(check_id: str, output: str) -> None:
    """Show a check's documentation. ID is a kapsec id (AUTHN-001) or a CIS 1.12 id (1.2.1).

    \b
    Examples:
      kapsec checks explain AUTHN-001
      kapsec checks explain 1.2.1 -o markdown
      kapsec checks explain AUTHN-001 -o json
    """
    from kapsec.checks.catalog import by_id

    c = by_id(check_id)
    if c is None:
        raise UsageError(f"no check {check_id!r} (see kapsec checks list)")
    if output == "json":
        click.echo(json.dumps(_check_dict(c), indent=2))
    elif output == "markdown":
        click.echo(explain_markdown(c), nl=False)
    else:
        click.echo(explain_text(c), nl=False)


def catalog_markdown() -> str:
    """The whole catalog as the Markdown page docs/checks.md."""
    from kapsec.checks.catalog import CHECKLIST_ITEMS, load_catalog

    cat = load_catalog()
    out = [
        "# Check catalog",
        "",
        "<!-- Generated by `kapsec checks docs`; a test keeps this page equal to the catalog. -->",
        "",
        f"`kapsec scan` runs these {len(cat)} checks. Ids are stable and grouped by prefix (`FILE` control-plane",
        "files, `AUTHN`/`AUTHZ` authentication and authorization, `ADM` admission, `API` server options,",
        "`AUDIT` audit logging, `TLS`, `ETCD`, `ENC` encryption at rest, `SA` service accounts, `KUBELET`,",
        "`PRIV` privileged pods, `FLAG` flags the server refuses, `NET`/`PSS` items that need the cluster's",
        "objects). The CIS column gives the id in CIS Kubernetes Benchmark 1.12; each check lists its ids in",
        "1.8 to 1.12. `kapsec checks explain ID` prints one entry.",
        "",
        "| id | severity | CIS 1.12 | checklist | title |",
        "|---|---|---|---|---|",
    ]
    for c in cat:
        out.append(
            f"| [{c.id}](#{c.id.lower()}) | {c.severity.label} | {c.benchmarks.get('cis-1.12', '')} | {c.checklist or ''} | {c.title} |"
        )
    out += ["", "## Hardening checklist", "", "| item | checks |", "|---|---|"]
    for key, text in CHECKLIST_ITEMS.items():
        ids = ", ".join(c.id for c in cat if c.checklist == key)
        out.append(f"| {text} | {ids} |")
    out += ["", "## Checks", ""]
    for c in cat:
        out.append(f'<a id="{c.id.lower()}"></a>')
        out.append("")
        out.append(explain_markdown(c))
    return "\n".join(out).rstrip("\n") + "\n"


@checks.command("docs", hidden=True)
def docs() -> None:
    """Print the catalog as Markdown (docs/checks.md).

    \b
    Example:
      kapsec checks docs > docs/checks.md
    """
    click.echo(catalog_markdown(), nl=False)
