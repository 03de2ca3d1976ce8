"""``kapsec pss``: Pod Security Standards check, rollout simulation, admission config."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from kapsec.cli.common import (
    STDIN,
    ObjectInputs,
    exit_code_for,
    fail_on_option,
    input_names,
    input_options,
    output_option,
    read_stdin,
    report_problems,
    table_console,
    write_file,
)

if TYPE_CHECKING:
    from kapsec.sources.objects import LoadedObjects

LEVELS = ["privileged", "baseline", "restricted"]


def _version(value: str) -> Any:
    from kapsec.pss.api import Version

    try:
        return Version.parse(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc}") from None


def _server_minor(text: str | None) -> int | None:
    if text is None:
        return None
    import re

    m = re.fullmatch(r"v?1\.(\d+)(\.\d+)?", text.strip())
    if m is None:
        raise click.BadParameter(
            f"{text!r}: expected a Kubernetes version like 1.30", param_hint="--k8s-version"
        )
    return int(m.group(1))


def _version_options(version_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--version`` (the policy version, see :func:`_version`) and ``--k8s-version`` (the
    API server's, see :func:`_server_minor`)."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option(
            "--k8s-version",
            "k8s_version",
            metavar="1.N",
            help="The cluster's Kubernetes version: `latest` then means the newest rules that API server "
            "knows (default: the newest rules kapsec knows, v1.37).",
        )(f)
        return click.option(
            "--version",
            "version_text",
            default="latest",
            show_default=True,
            metavar="V",
            help=version_help,
        )(f)

    return decorate


@click.group("pss")
def pss() -> None:
    """Pod Security Standards: evaluate pods and workloads exactly as the PodSecurity admission
    does, simulate a rollout per namespace, and write the admission configuration."""


@pss.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--level", type=click.Choice(LEVELS), required=True, help="Pod Security level.")
@_version_options('Policy version: "latest" or v1.N (v1.0 ... v1.37; newer means the newest rules).')
@output_option(help="text, json (a list per object), or a findings report (one finding per failing check).")
@fail_on_option
def check(
    *,
    files: tuple[str, ...],
    level: str,
    version_text: str,
    k8s_version: str | None,
    output: str,
    fail_on: str,
) -> None:
    """Evaluate every Pod and pod-template workload in FILES (Deployment, StatefulSet, DaemonSet,
    ReplicaSet, Job, CronJob, ReplicationController, PodTemplate) at one level and version.
    FILE `-` reads standard input (e.g. `kubectl get pods -A -o json`).

    Messages are the admission plugin's own. Enforce never blocks a workload object itself,
    only the pods its controller creates; the result is the same either way. A failing check
    is a finding of severity high (baseline) or medium (restricted only).

    \b
    Examples:
      kapsec pss check --level restricted deploy/
      kubectl get pods -A -o json | kapsec pss check --level baseline -
      kapsec pss check --level baseline --version v1.29 --k8s-version 1.29 pods.yaml
      kapsec pss check --level restricted snapshot.json -o sarif --fail-on high

    \b
    Exit codes: 0 every object allowed (or no failed check at or above --fail-on);
                1 a failed check at or above --fail-on (default low: any refusal);
                2 input problems (unreadable file, bad YAML) or no Pod or workload in FILES.
    """
    from kapsec import __version__
    from kapsec.errors import UsageError
    from kapsec.model.findings import Report
    from kapsec.pss.api import Level
    from kapsec.pss.evaluate import evaluate, is_pod_carrier
    from kapsec.pss.findings import Checked, check_findings
    from kapsec.pss.simulate import object_ref
    from kapsec.sources.objects import LoadedObjects, load_paths, load_text

    version = _version(version_text)
    server_minor = _server_minor(k8s_version)
    if files.count("-") > 1:
        raise UsageError("standard input ('-') can be read only once")
    loaded = LoadedObjects()
    paths = [f for f in files if f != "-"]
    if "-" in files:  # e.g. kubectl get pods -A -o json | kapsec pss check - --level restricted
        load_text(read_stdin(), STDIN, loaded)
    load_paths(paths, loaded)
    report_problems(loaded)
    rows: list[dict[str, Any]] = []
    checked: list[Checked] = []
    for obj, where in loaded.objects:
        if not is_pod_carrier(obj):
            continue
        result = evaluate(obj, Level(level), version, server_minor)
        if result is None:
            click.echo(f"kapsec: warning: {where}: {object_ref(obj)} has no pod template; skipped", err=True)
            continue
        checked.append(Checked(object_ref(obj), where, result))
        rows.append(
            {
                "object": object_ref(obj),
                "file": str(where),
                "allowed": result.allowed,
                "violations": [v.to_dict() for v in result.violations],
                # what the user sees: a Pod is refused; a workload is admitted with a warning
                # and its controller's pods are then refused
                "_message": result.message
                if obj.get("kind") == "Pod"
                else f"Warning: {result.warning}\n  (admitted with this warning; enforce refuses the pods it creates)",
            }
        )
    if not rows:  # nothing was checked: no summary on stdout, only the reason on stderr
        if not loaded.problems:
            click.echo(
                f"kapsec: error: {input_names(list(files))}: no Pods or pod-template workloads found "
                "(expected Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, "
                "ReplicationController or PodTemplate)",
                err=True,
            )
        raise click.exceptions.Exit(2)
    report = Report(
        tool="kapsec",
        version=__version__,
        target={"kind": "pod-security", "level": f"{level}:{version}", "files": list(files)},
        findings=check_findings(checked),
    )
    if output == "json":
        click.echo(
            json.dumps([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows], indent=2)
        )
    elif output != "text":
        from kapsec.report import render

        click.echo(render(report, output), nl=False)
    else:
        for r in rows:
            status = "allowed" if r["allowed"] else "DENIED "
            click.echo(f"{status}  {r['object']}  ({r['file']})")
            if not r["allowed"]:
                click.echo(f"  {r['_message']}")
        denied = sum(not r["allowed"] for r in rows)
        click.echo(
            f"{len(rows)} object{'s' if len(rows) != 1 else ''} at {level}:{version}: "
            f"{len(rows) - denied} allowed, {denied} denied"
        )
    if loaded.problems:
        raise click.exceptions.Exit(2)
    raise click.exceptions.Exit(exit_code_for(report, fail_on))


@pss.command("simulate")
@input_options("Namespaces, Pods and workloads")
@click.option(
    "--admission-config",
    metavar="FILE",
    help="The API server's --admission-control-config-file, for its PodSecurity defaults and exemptions "
    "(default: none, i.e. privileged everywhere and no exemptions).",
)
@_version_options("Policy version to simulate and to pin in the label commands.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text (a table, the refused objects and the label commands) or json (one object per namespace).",
)
def simulate_cmd(
    *,
    inputs: ObjectInputs,
    admission_config: str | None,
    version_text: str,
    k8s_version: str | None,
    output: str,
) -> None:
    """For every namespace, which existing pods and workloads enforce=baseline and
    enforce=restricted would refuse, given its labels, the admission config's defaults and
    exemptions; prints the `kubectl label` commands for the strictest level that breaks nothing.
    `--from -` reads the objects from standard input.

    \b
    Examples:
      kapsec pss simulate -f snapshot.json
      kapsec pss simulate -f snapshot.json --admission-config /etc/kubernetes/admission.yaml
      kubectl get ns,pods,deploy -A -o json | kapsec pss simulate -f - -o json

    \b
    Exit codes: 0 done (this command only reports); 2 input problems, or no Namespace,
                Pod or workload in the input.
    """
    from kapsec.pss.admission import load_admission_config
    from kapsec.pss.simulate import simulate

    version = _version(version_text)
    config = None
    if admission_config:
        loaded_config = load_admission_config(admission_config)
        config = loaded_config.pod_security
        if config is None:
            click.echo(
                f"kapsec: note: {admission_config} has no PodSecurity entry: defaults are privileged:latest",
                err=True,
            )
    loaded = inputs.load()
    report_problems(loaded)
    if not loaded.problems and not _has_simulation_input(loaded):
        click.echo(
            f"kapsec: error: {input_names(inputs.sources)}: no Namespaces, Pods or pod-template "
            "workloads found: nothing to simulate",
            err=True,
        )
        raise click.exceptions.Exit(2)
    results = simulate(loaded, config, version, _server_minor(k8s_version))
    if output == "json":
        click.echo(json.dumps([_ns_json(r) for r in results], indent=2))
    else:
        _print_simulation(results)
    raise click.exceptions.Exit(2 if loaded.problems else 0)


def _has_simulation_input(loaded: LoadedObjects) -> bool:
    from kapsec.pss.evaluate import is_pod_carrier

    return any(o.get("kind") == "Namespace" or is_pod_carrier(o) for o, _ in loaded.objects)


def _ns_json(r: Any) -> dict[str, Any]:
    def objs(key: str) -> list[dict[str, Any]]:
        return [
            {
                "object": o.ref,
                "file": str(o.where),
                "violations": [v.to_dict() for v in o.results[key].violations],
            }
            for o in r.refused(key)
        ]

    return {
        "namespace": r.namespace,
        "exempt": r.exempt,
        "labels": {k: v for k, v in r.labels.items() if k.startswith("pod-security.kubernetes.io/")},
        "labelErrors": list(r.label_errors),
        "policy": {
            "enforce": str(r.policy.enforce),
            "audit": str(r.policy.audit),
            "warn": str(r.policy.warn),
        },
        "objects": len(r.objects),
        "runtimeClassExempt": [o.ref for o in r.objects if o.exempt_runtime_class],
        "refused": {
            "current": objs("current"),
            "baseline": objs("baseline"),
            "restricted": objs("restricted"),
        },
        "recommended": r.recommended.value if r.recommended is not None else None,
        "alreadyEnforced": r.already_enforced,
        "command": r.label_command(),
        "dryRunWarnings": {k: list(v) for k, v in r.existing_pod_warnings.items()},
    }


def _print_simulation(results: list[Any]) -> None:
    from rich.table import Table

    console = table_console()
    table = Table(title="Pod Security rollout", show_lines=False)
    for col in (
        "namespace",
        "enforce now",
        "objects",
        "refused now",
        "refused baseline",
        "refused restricted",
        "verdict",
    ):
        table.add_column(col)
    for r in results:
        if r.exempt:
            verdict = "exempt (admission config)"
        elif r.refused("current"):
            verdict = "running objects violate the current enforce level"
        elif r.recommended is None or r.recommended.value == "privileged":
            verdict = "needs fixes before baseline"
        elif r.already_enforced:
            verdict = f"ok: already enforces {r.policy.enforce.level.value}"
        else:
            verdict = f"can enforce {r.recommended.value}"
        table.add_row(
            r.namespace,
            str(r.policy.enforce),
            str(len(r.objects)),
            str(len(r.refused("current"))),
            str(len(r.refused("baseline"))),
            str(len(r.refused("restricted"))),
            verdict,
        )
    console.print(table)
    for r in results:
        for err in r.label_errors:
            click.echo(f"namespace {r.namespace}: invalid label: {err}")
        for key in ("baseline", "restricted"):
            refused = r.refused(key)
            if refused and not r.exempt:
                click.echo(f"\n{r.namespace}: refused at {key}:{r.version}:")
                for o in refused:
                    click.echo(f"  {o.ref} ({o.where}): {o.results[key].details}")
                warnings = r.existing_pod_warnings.get(key, ())
                if warnings:
                    click.echo(
                        f"  `kubectl label --dry-run=server namespace {r.namespace} "
                        f"pod-security.kubernetes.io/enforce={key}` would warn:"
                    )
                    for w in warnings:
                        click.echo(f"    Warning: {w}")
    commands = [c for c in (r.label_command() for r in results) if c]
    click.echo(
        "\n# Labels that break nothing: enforce the strictest level every existing object passes;"
        "\n# where even baseline would refuse something, warn and audit at baseline while it is fixed:"
    )
    if commands:
        for c in commands:
            click.echo(c)
    else:
        click.echo("# (none to change)")


@pss.command("config")
@click.option(
    "--enforce",
    default="baseline",
    show_default=True,
    type=click.Choice(LEVELS),
    help="Default level a pod must meet to be admitted in a namespace without an enforce label.",
)
@click.option(
    "--enforce-version",
    default="latest",
    show_default=True,
    metavar="V",
    help='Policy version of the enforce default: "latest" or v1.N.',
)
@click.option(
    "--audit",
    default="restricted",
    show_default=True,
    type=click.Choice(LEVELS),
    help="Default level whose violations are annotated in the audit log.",
)
@click.option(
    "--audit-version",
    default="latest",
    show_default=True,
    metavar="V",
    help='Policy version of the audit default: "latest" or v1.N.',
)
@click.option(
    "--warn",
    default="restricted",
    show_default=True,
    type=click.Choice(LEVELS),
    help="Default level whose violations are returned to the client as warnings.",
)
@click.option(
    "--warn-version",
    default="latest",
    show_default=True,
    metavar="V",
    help='Policy version of the warn default: "latest" or v1.N.',
)
@click.option(
    "--exempt-namespace",
    "exempt_namespaces",
    multiple=True,
    metavar="NS",
    help="Exempt namespace (repeatable; default: kube-system). Pass --exempt-namespace '' for none.",
)
@click.option(
    "--exempt-user", "exempt_users", multiple=True, metavar="USER", help="Exempt username (repeatable)."
)
@click.option(
    "--exempt-runtime-class",
    "exempt_runtime_classes",
    multiple=True,
    metavar="NAME",
    help="Exempt RuntimeClass.",
)
@click.option(
    "--api-version",
    type=click.Choice(["v1", "v1beta1"]),
    default="v1",
    show_default=True,
    help="PodSecurityConfiguration version (v1 needs Kubernetes 1.25+, v1beta1 works on 1.23+).",
)
@click.option(
    "--pod-security-file",
    metavar="PATH",
    help="Write the PodSecurityConfiguration to PATH and reference it by `path:` (default: inline).",
)
@click.option(
    "--write", "write_to", metavar="FILE", help="Write the AdmissionConfiguration to FILE instead of stdout."
)
@click.option(
    "--lint",
    "lint_file",
    metavar="FILE",
    help="Instead of generating, validate an existing AdmissionConfiguration as the API server would.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="yaml or json: the generated configuration; with --lint, json is the parsed summary.",
)
def config_cmd(
    *,
    enforce: str,
    enforce_version: str,
    audit: str,
    audit_version: str,
    warn: str,
    warn_version: str,
    exempt_namespaces: tuple[str, ...],
    exempt_users: tuple[str, ...],
    exempt_runtime_classes: tuple[str, ...],
    api_version: str,
    pod_security_file: str | None,
    write_to: str | None,
    lint_file: str | None,
    output: str,
) -> None:
    """Write the AdmissionConfiguration for kube-apiserver's --admission-control-config-file with
    the PodSecurity defaults and exemptions, validated with the API server's rules; or, with
    --lint FILE, validate an existing one.

    \b
    Examples:
      kapsec pss config --enforce restricted --exempt-namespace kube-system --write admission.yaml
      kapsec pss config --api-version v1beta1 --pod-security-file pod-security.yaml
      kapsec pss config --lint admission.yaml -o json

    \b
    Exit codes: 0 written / valid; 2 invalid value or file (the message is the API server's).
    """
    from kapsec.pss.admission import (
        PSA_GROUP,
        generate_admission_config,
        generate_admission_config_files,
        load_admission_config,
        parse_pod_security_config,
    )

    if lint_file:
        cfg = load_admission_config(lint_file)
        ps = cfg.pod_security
        info: dict[str, Any] = {"file": lint_file, "valid": True, "plugins": sorted(cfg.plugins)}
        if ps is not None:
            info["podSecurity"] = {
                "apiVersion": ps.api_version,
                "defaults": {
                    "enforce": str(ps.defaults.enforce),
                    "audit": str(ps.defaults.audit),
                    "warn": str(ps.defaults.warn),
                },
                "exemptions": {
                    "usernames": list(ps.exemptions.usernames),
                    "namespaces": list(ps.exemptions.namespaces),
                    "runtimeClasses": list(ps.exemptions.runtime_classes),
                },
                "warnings": ps.warnings(),
            }
        if output == "json":
            click.echo(json.dumps(info, indent=2))
        else:
            click.echo(
                f"{lint_file}: valid AdmissionConfiguration (plugins: {', '.join(info['plugins']) or 'none'})"
            )
            if ps is None:
                click.echo("  no PodSecurity entry: the plugin uses privileged:latest for every mode")
            else:
                d = info["podSecurity"]["defaults"]
                click.echo(
                    f"  PodSecurity defaults: enforce={d['enforce']} audit={d['audit']} warn={d['warn']}"
                )
                for w in ps.warnings():
                    click.echo(f"  warning: {w}")
        return

    namespaces = [n for n in exempt_namespaces if n] if exempt_namespaces else ["kube-system"]
    options: dict[str, Any] = {
        "enforce": enforce,
        "enforce_version": enforce_version,
        "audit": audit,
        "audit_version": audit_version,
        "warn": warn,
        "warn_version": warn_version,
        "exempt_namespaces": namespaces,
        "exempt_usernames": list(exempt_users),
        "exempt_runtime_classes": list(exempt_runtime_classes),
        "api_version": f"{PSA_GROUP}/{api_version}",
    }
    if pod_security_file:
        admission_text, psa_text = generate_admission_config_files(pod_security_file, **options)
        write_file(pod_security_file, psa_text)
        click.echo(f"kapsec: wrote the PodSecurityConfiguration to {pod_security_file}", err=True)
    else:
        admission_text = generate_admission_config(**options)
    for w in parse_pod_security_config(
        _yaml_psa(admission_text, psa_text if pod_security_file else None), "generated"
    ).warnings():
        click.echo(f"kapsec: warning: {w}", err=True)
    if output == "json":
        import yaml

        admission_text = json.dumps(yaml.safe_load(admission_text), indent=2) + "\n"
    if write_to:
        write_file(write_to, admission_text)
        click.echo(f"kapsec: wrote the AdmissionConfiguration to {write_to}", err=True)
    else:
        click.echo(admission_text, nl=False)


def _yaml_psa(admission_text: str, psa_text: str | None) -> Any:
    import yaml

    if psa_text is not None:
        return yaml.safe_load(psa_text)
    return yaml.safe_load(admission_text)["plugins"][0]["configuration"]
