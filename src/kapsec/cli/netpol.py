"""``kapsec netpol``: NetworkPolicy coverage and default-deny generation."""

from __future__ import annotations

import json
from typing import Any

import click

from kapsec import __version__
from kapsec.cli.common import (
    ObjectInputs,
    echo_report,
    exit_code_for,
    fail_on_option,
    input_names,
    input_options,
    output_option,
    report_problems,
    table_console,
)


@click.group("netpol")
def netpol() -> None:
    """NetworkPolicy coverage (who is default-denied, who is open) and default-deny policies."""


def _coverage_json(cov: Any) -> list[dict[str, Any]]:
    out = []
    for n in cov.namespaces:
        out.append(
            {
                "namespace": n.namespace,
                "system": n.system,
                "defaultDeny": {
                    "ingress": list(n.default_deny["Ingress"]),
                    "egress": list(n.default_deny["Egress"]),
                },
                "subjectsAreTemplates": n.subjects_are_templates,
                "pods": [
                    {
                        "object": s.subject.ref,
                        "file": str(s.subject.where),
                        "hostNetwork": s.subject.host_network,
                        "policies": list(s.policies),
                        "ingress": s.ingress.text,
                        "egress": s.egress.text,
                        "openedBy": list(s.ingress.open_by + s.egress.open_by),
                    }
                    for s in n.subjects
                ],
                "unselected": [s.subject.ref for s in n.unselected()],
                "policies": [
                    {
                        "name": p.name,
                        "file": str(p.where),
                        "podSelector": str(p.selector),
                        "policyTypes": sorted(p.types),
                    }
                    for p in n.policies
                ],
                "selectingNothing": list(n.selecting_nothing),
                "allowAllUndoingDefaultDeny": [
                    {"policy": p, "rule": r, "reason": why, "podsOpened": k}
                    for p, r, why, k in n.undoing_rules
                ],
            }
        )
    return out


@netpol.command("check")
@input_options("Namespaces, Pods, workloads and NetworkPolicies")
@click.option(
    "--include-system", is_flag=True, help="Also judge kube-system, kube-public and kube-node-lease."
)
@click.option(
    "-n",
    "--namespace",
    "only_namespaces",
    multiple=True,
    metavar="NS",
    help="Report only these namespaces (repeatable; naming a system namespace judges it).",
)
@output_option(help="Output format (json: the findings report plus a `coverage` section).")
@fail_on_option
def check(
    *,
    inputs: ObjectInputs,
    include_system: bool,
    only_namespaces: tuple[str, ...],
    output: str,
    fail_on: str,
) -> None:
    """Per namespace and per pod: whether ingress and egress are default-denied, which policies
    select each pod, pods selected by no policy, policies that select nothing, and rules that
    allow everything and so undo a default deny.

    When the input has no Pods for a namespace, its workloads' pod templates stand in for them.
    `--from -` reads the objects from standard input.

    \b
    Examples:
      kapsec netpol check -f snapshot.json
      kapsec netpol check -f manifests/ -n prod -n web --fail-on high
      kubectl get ns,pods,deploy,netpol -A -o json | kapsec netpol check -f - -o sarif

    \b
    Exit codes: 0 no failed finding at or above --fail-on; 1 failed findings; 2 input problems,
                or no Namespace, Pod, workload or NetworkPolicy in the input.
    """
    from kapsec.model.findings import Report
    from kapsec.netpol.coverage import SYSTEM_NAMESPACES, analyse
    from kapsec.netpol.findings import coverage_findings

    loaded = inputs.load()
    report_problems(loaded)
    cov = analyse(loaded)
    if not cov.namespaces and not loaded.problems:
        click.echo(
            f"kapsec: error: {input_names(inputs.sources)}: no Namespaces, Pods, workloads or "
            "NetworkPolicies found: nothing to check",
            err=True,
        )
        raise click.exceptions.Exit(2)
    if only_namespaces:
        from dataclasses import replace

        wanted = set(only_namespaces)
        cov = replace(
            cov,
            namespaces=[n for n in cov.namespaces if n.namespace in wanted],
            problems=[p for p in cov.problems if p.ref.split("/", 1)[0] in wanted],
        )
        include_system = include_system or bool(wanted & SYSTEM_NAMESPACES)
    findings = coverage_findings(cov, include_system)
    report = Report(
        tool="kapsec",
        version=__version__,
        target={"kind": "networkpolicy-coverage", "sources": inputs.names},
        findings=findings,
    )
    echo_report(
        report,
        output,
        extra=lambda: {"coverage": _coverage_json(cov)},
        text=lambda: _print_text(cov, findings, include_system),
    )
    if loaded.problems:
        raise click.exceptions.Exit(2)
    raise click.exceptions.Exit(exit_code_for(report, fail_on))


def _print_text(cov: Any, findings: list[Any], include_system: bool) -> None:
    from rich.table import Table

    console = table_console()
    ns_table = Table(title="NetworkPolicy coverage per namespace")
    for col in ("namespace", "default-deny ingress", "default-deny egress", "pods", "unselected", "policies"):
        ns_table.add_column(col)
    for n in cov.namespaces:
        ns_table.add_row(
            n.namespace + (" (system)" if n.system else ""),
            ", ".join(n.default_deny["Ingress"]) or "no",
            ", ".join(n.default_deny["Egress"]) or "no",
            f"{len(n.subjects)}{' templates' if n.subjects_are_templates else ''}",
            str(len(n.unselected())),
            str(len(n.policies)),
        )
    console.print(ns_table)
    pod_table = Table(title="Per pod")
    for col in ("pod", "ingress", "egress", "selected by"):
        pod_table.add_column(col)
    for n in cov.namespaces:
        for s in n.subjects:
            note = " (hostNetwork: policies may not apply)" if s.subject.host_network else ""
            pod_table.add_row(
                s.subject.ref + note, s.ingress.text, s.egress.text, ", ".join(s.policies) or "-"
            )
    console.print(pod_table)
    failed = [f for f in findings if f.status.value in ("fail", "warn")]
    click.echo(f"\n{len(failed)} problem{'s' if len(failed) != 1 else ''}:" if failed else "\nno problems")
    for f in failed:
        click.echo(f"  {f.status.value.upper():4} {f.id} [{f.severity.label}] {f.message}")
    if not include_system:
        click.echo("(system namespaces are listed but not judged; --include-system to judge them)")


@netpol.command("generate")
@click.option("-n", "--namespace", "namespaces", multiple=True, metavar="NS", help="Namespace (repeatable).")
@input_options("Namespaces to cover (every non-system Namespace found)")
@click.option(
    "--direction",
    type=click.Choice(["both", "ingress", "egress"]),
    default="both",
    show_default=True,
    help="Which traffic the policies deny by default.",
)
@click.option(
    "--allow-dns",
    is_flag=True,
    help="Also allow egress to the cluster DNS (kube-system pods labelled k8s-app=kube-dns) on UDP/TCP 53.",
)
@click.option(
    "--dns-namespace",
    default="kube-system",
    show_default=True,
    metavar="NS",
    help="Namespace of the DNS pods that --allow-dns lets pods reach.",
)
@click.option(
    "--dns-label",
    "dns_labels",
    multiple=True,
    metavar="KEY=VALUE",
    help="Labels of the DNS pods (repeatable; default k8s-app=kube-dns).",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="yaml (one document per policy, for kubectl apply -f -) or json (a v1 List).",
)
def generate_cmd(
    *,
    namespaces: tuple[str, ...],
    inputs: ObjectInputs,
    direction: str,
    allow_dns: bool,
    dns_namespace: str,
    dns_labels: tuple[str, ...],
    output: str,
) -> None:
    """Write default-deny NetworkPolicies for the namespaces given with --namespace, or for every
    non-system namespace in --from/--cluster; with --allow-dns, also let pods resolve names.

    Apply with `kubectl apply -f -` only after allowing what the pods need: a default deny
    stops all traffic the policies do not name. Namespace names are checked as the API server
    would (an RFC 1123 label); `--from -` reads the objects from standard input.

    \b
    Examples:
      kapsec netpol generate -n web -n payments --allow-dns
      kapsec netpol generate -f snapshot.json --direction ingress -o json
      kapsec netpol generate -n prod --allow-dns --dns-label app.kubernetes.io/name=coredns

    \b
    Exit codes: 0 written; 2 no namespace to cover, an invalid namespace name or bad input.
    """
    import yaml

    from kapsec.errors import UsageError
    from kapsec.netpol.coverage import EGRESS, INGRESS, SYSTEM_NAMESPACES
    from kapsec.netpol.generate import generate, namespace_problem

    names = list(namespaces)
    for name, flag in [*((n, "--namespace") for n in names), (dns_namespace, "--dns-namespace")]:
        problem = namespace_problem(name)
        if problem is not None:
            raise UsageError(f'{flag}: metadata.namespace: Invalid value: "{name}": {problem}')
    if inputs.given:
        loaded = inputs.load()
        report_problems(loaded)
        found = 0
        for obj, where in loaded.of_kind("Namespace"):
            meta = obj.get("metadata") or {}
            ns_name = meta.get("name") if isinstance(meta, dict) else None
            if not isinstance(ns_name, str) or not ns_name:
                continue
            found += 1
            problem = namespace_problem(ns_name)
            if problem is not None:
                raise UsageError(f'{where}: metadata.name: Invalid value: "{ns_name}": {problem}')
            if ns_name not in SYSTEM_NAMESPACES and ns_name not in names:
                names.append(ns_name)
        if not names:
            what = "only system Namespaces" if found else "no Namespace"
            raise UsageError(
                f"{input_names(inputs.sources)}: {what} found to cover; name the namespaces with --namespace NS"
            )
    if not names:
        raise UsageError(
            "name the namespaces: --namespace NS (repeatable), or --from/--cluster to take them all"
        )
    labels: dict[str, str] = {}
    for item in dns_labels:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--dns-label {item!r}: expected KEY=VALUE")
        labels[key] = value
    directions = {"both": (INGRESS, EGRESS), "ingress": (INGRESS,), "egress": (EGRESS,)}[direction]
    if allow_dns and EGRESS not in directions:
        raise UsageError("--allow-dns only makes sense when egress is denied (--direction both or egress)")
    policies = generate(
        names, directions, dns=allow_dns, dns_namespace=dns_namespace, dns_labels=labels or None
    )
    if output == "json":
        click.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": policies}, indent=2))
    else:
        click.echo(yaml.safe_dump_all(policies, sort_keys=False), nl=False)
