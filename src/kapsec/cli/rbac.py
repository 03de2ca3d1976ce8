"""``kapsec rbac``: exact RBAC answers (can-i, who-can, risks, matrix, check-escalation)."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from kapsec.cli.common import OutputFormat, output_option
from kapsec.errors import InputError, ServiceError, UsageError
from kapsec.model.request import RequestAttributes
from kapsec.rbac.authorize import Decision, authorize
from kapsec.rbac.identity import impersonated_groups, parse_resource
from kapsec.rbac.store import RbacStore

F = TypeVar("F", bound=Callable[..., Any])

RBAC_KINDS = ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]


def source_options(f: F) -> F:
    """``--from``, ``--cluster``, ``--kubeconfig``, ``--context``, ``--save``."""
    opts = [
        click.option(
            "-f",
            "--from",
            "sources",
            multiple=True,
            metavar="PATH",
            help="RBAC objects to read: YAML/JSON files, directories, List kinds, kubectl -o json "
            "dumps, kapsec snapshots (.gz too). Repeatable.",
        ),
        click.option("--cluster", is_flag=True, help="Collect the RBAC objects from a live cluster."),
        click.option(
            "--kubeconfig",
            metavar="FILE",
            help="kubeconfig for --cluster (default: $KUBECONFIG, ~/.kube/config).",
        ),
        click.option("--context", metavar="NAME", help="kubeconfig context for --cluster."),
        click.option(
            "--save", metavar="FILE", help="With --cluster: also write the collected objects to FILE."
        ),
        click.option("-q", "--quiet", is_flag=True, help="Do not print input problems on stderr."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def load_store(
    sources: Sequence[str],
    *,
    cluster: bool,
    kubeconfig: str | None,
    context: str | None,
    save: str | None,
    quiet: bool = False,
) -> RbacStore:
    from kapsec.sources.objects import LoadedObjects, load_paths, load_text

    if not sources and not cluster:
        raise UsageError("say where the RBAC objects are: --from PATH (repeatable) or --cluster")
    if save and not cluster:
        raise UsageError("--save only applies with --cluster")
    loaded = LoadedObjects()
    if sources:
        load_paths(sources, loaded)
    if cluster:
        try:  # the live collector (interfaces.md); imported only when used
            cluster_mod = importlib.import_module("kapsec.sources.cluster")
        except ImportError as exc:
            raise ServiceError(
                "live collection (kapsec.sources.cluster) is not available in this build"
            ) from exc
        snapshot: Any = cluster_mod.collect_snapshot(kubeconfig, context, RBAC_KINDS)
        text = json.dumps(snapshot)
        if save:
            try:
                Path(save).write_text(text + "\n", encoding="utf-8")
            except OSError as exc:
                raise InputError(f"cannot write the snapshot: {exc.strerror}", file=save) from exc
            click.echo(f"kapsec: saved the cluster's RBAC objects to {save}", err=True)
        load_text(text, "<cluster>", loaded)
    store = RbacStore.from_objects(loaded)
    if not quiet:
        for p in store.problems:
            click.echo(f"kapsec: warning: {p}", err=True)
        for n in store.notes:
            click.echo(f"kapsec: note: {n}", err=True)
    return store


def _fmt_list(values: Sequence[str]) -> str:
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


def describe_rule_text(rule: Any) -> str:
    parts = []
    for label, values in (
        ("verbs", rule.verbs),
        ("apiGroups", rule.api_groups),
        ("resources", rule.resources),
        ("resourceNames", rule.resource_names),
        ("nonResourceURLs", rule.non_resource_urls),
    ):
        if values:
            parts.append(f"{label}={_fmt_list(values)}")
    return " ".join(parts) or "(empty rule)"


def _decision_text(d: Decision, out: list[str]) -> None:
    out.append("yes" if d.allowed else "no")
    if d.reason:
        out.append(f"  {d.reason}")
    for g in d.grants:
        out.append(f"  via {g.binding.key} ({g.binding.where}) -> {g.role.key} ({g.role.where})")
        out.append(f"      rule {g.rule_index}: {describe_rule_text(g.rule)}")
    if not d.allowed and not d.reason:
        out.append("  no RBAC rule allows it (RBAC has no opinion, so the API server forbids it)")
    for n in d.notes:
        out.append(f"  note: {n}")


def decision_json(req: RequestAttributes, d: Decision) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if req.id is not None:
        out["id"] = req.id
    out["request"] = req.to_dict()
    out.update(d.to_dict())
    return out


def _request_from_args(
    verb: str,
    resource: str,
    *,
    name: str | None,
    namespace: str,
    user: str | None,
    groups: tuple[str, ...],
    exact: bool,
) -> RequestAttributes:
    try:
        res = parse_resource(resource)
    except ValueError as exc:
        raise UsageError(f"RESOURCE: {exc}") from None
    if user is None and not groups:
        raise UsageError("say who asks: --as USER and/or --as-group GROUP (repeatable)")
    user_name = user or ""
    if not exact and user is not None:
        groups = impersonated_groups(user_name, groups)
    if not res.resource_request:
        return RequestAttributes(
            user=user_name, groups=groups, verb=verb, resource_request=False, path=res.path
        )
    return RequestAttributes(
        user=user_name,
        groups=groups,
        verb=verb,
        resource_request=True,
        namespace=namespace,
        api_group=res.api_group,
        resource=res.resource,
        subresource=res.subresource,
        name=name or "",
    )


@click.group("rbac")
def rbac() -> None:
    """Exact RBAC answers, as the API server's RBAC authorizer decides them.

    \b
    Input: --from FILES|DIRS (repeatable) or --cluster [--kubeconfig F] [--context C] [--save F].
    Problems in the input (invalid YAML, bindings to missing roles, unknown kinds) are printed
    on stderr as warnings and do not stop the analysis.
    """


# --- can-i ------------------------------------------------------------------------------------


def _iter_batch(stream: TextIO, name: str) -> Iterator[tuple[int, RequestAttributes | None, Any, str | None]]:
    """(line number, request or None, id if known, error)."""
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield lineno, None, None, f"{name}:{lineno}: invalid JSON: {exc.msg}"
            continue
        rid = obj.get("id") if isinstance(obj, dict) else None
        try:
            yield lineno, RequestAttributes.from_dict(obj, where=f"{name}:{lineno}"), rid, None
        except InputError as exc:
            yield lineno, None, rid, str(exc)


@rbac.command("can-i")
@click.argument("verb", required=False)
@click.argument("resource", required=False)
@click.argument("name", required=False)
@click.option(
    "--as", "as_user", metavar="USER", help="The user asking (e.g. jane, system:serviceaccount:ns:sa)."
)
@click.option(
    "--as-group", "as_groups", multiple=True, metavar="GROUP", help="A group of the user (repeatable)."
)
@click.option("-n", "--namespace", default="", help="The request's namespace (empty: cluster-wide).")
@click.option(
    "--exact-groups",
    is_flag=True,
    help="Take the groups exactly as given (like a SubjectAccessReview); by default they are "
    "completed as impersonation does (ServiceAccount groups, system:authenticated).",
)
@click.option(
    "--batch",
    "batch",
    metavar="FILE",
    help="JSONL of request attributes ('-' for stdin); groups taken as given.",
)
@click.option("--all-grants", is_flag=True, help="List every binding that allows it, not only the first.")
@click.option("--rbac-only", is_flag=True, help="Do not model the system:masters super-user group.")
@source_options
@output_option(OutputFormat.TEXT, OutputFormat.JSON)
def can_i(
    *,
    verb: str | None,
    resource: str | None,
    name: str | None,
    as_user: str | None,
    as_groups: tuple[str, ...],
    namespace: str,
    exact_groups: bool,
    batch: str | None,
    all_grants: bool,
    rbac_only: bool,
    sources: tuple[str, ...],
    cluster: bool,
    kubeconfig: str | None,
    context: str | None,
    save: str | None,
    quiet: bool,
    output: str,
) -> None:
    """Can USER do VERB on RESOURCE[/SUBRESOURCE] [NAME]? Explains the granting binding, role and rule.

    \b
    RESOURCE is kubectl's form: pods, deployments.apps, pods/exec, deployments.apps/scale,
    '*', or a non-resource URL such as /metrics.
    Exit codes: 0 allowed (batch: all lines read), 1 not allowed, 2 usage or input error.
    """
    if batch is None and (verb is None or resource is None):
        raise UsageError("can-i needs VERB and RESOURCE, or --batch FILE")
    if batch is not None and (verb or resource):
        raise UsageError("give either VERB RESOURCE or --batch, not both")
    if batch is None:
        assert verb is not None
        assert resource is not None
        req = _request_from_args(
            verb, resource, name=name, namespace=namespace, user=as_user, groups=as_groups, exact=exact_groups
        )
    store = load_store(
        sources, cluster=cluster, kubeconfig=kubeconfig, context=context, save=save, quiet=quiet
    )
    if batch is not None:
        click.get_current_context().exit(_run_batch(store, batch, output, all_grants, not rbac_only))
    d = authorize(store, req, masters=not rbac_only, all_grants=all_grants)
    if output == "json":
        click.echo(json.dumps(decision_json(req, d), indent=2))
    else:
        lines: list[str] = []
        _decision_text(d, lines)
        click.echo("\n".join(lines))
    click.get_current_context().exit(0 if d.allowed else 1)


def _run_batch(store: RbacStore, batch: str, output: str, all_grants: bool, masters: bool) -> int:
    if batch == "-":
        stream: TextIO = sys.stdin
        name = "<stdin>"
    else:
        try:
            stream = open(batch, encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", file=batch) from exc
        name = batch
    bad = 0
    write = sys.stdout.write
    try:
        for lineno, req, rid, err in _iter_batch(stream, name):
            if req is None:
                bad += 1
                click.echo(f"kapsec: error: {err}", err=True)
                obj: dict[str, Any] = {"line": lineno, "error": err}
                if rid is not None:
                    obj = {"id": rid, **obj}
                write(json.dumps(obj) + "\n")
                continue
            d = authorize(store, req, masters=masters, all_grants=all_grants)
            if output == "json":
                write(json.dumps(decision_json(req, d)) + "\n")
            else:
                who = req.id if req.id is not None else f"line {lineno}"
                write(f"{who}\t{'yes' if d.allowed else 'no'}\t{d.reason}\n")
    finally:
        if stream is not sys.stdin:
            stream.close()
    if bad:
        click.echo(f"kapsec: {bad} request line(s) could not be read (reported in place)", err=True)
        return 2
    return 0


# --- who-can ----------------------------------------------------------------------------------


@rbac.command("who-can")
@click.argument("verb")
@click.argument("resource")
@click.argument("name", required=False)
@click.option("-n", "--namespace", default="", help="The request's namespace (empty: cluster-wide).")
@source_options
@output_option(OutputFormat.TEXT, OutputFormat.JSON)
def who_can_cmd(
    *,
    verb: str,
    resource: str,
    name: str | None,
    namespace: str,
    sources: tuple[str, ...],
    cluster: bool,
    kubeconfig: str | None,
    context: str | None,
    save: str | None,
    quiet: bool,
    output: str,
) -> None:
    """Every user, group and service account allowed to do VERB on RESOURCE [NAME], and through what.

    \b
    Lists subjects as the bindings write them (upstream's subject locator), in order:
    system:masters, then ClusterRoleBindings, then RoleBindings of the namespace.
    Exit codes: 0 done, 2 usage or input error.
    """
    from kapsec.rbac.subjects import who_can

    req = _request_from_args(verb, resource, name=name, namespace=namespace, user="", groups=(), exact=True)
    store = load_store(
        sources, cluster=cluster, kubeconfig=kubeconfig, context=context, save=save, quiet=quiet
    )
    result = who_can(store, req)
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "request": {k: v for k, v in req.to_dict().items() if k not in ("user", "groups")},
                    "subjects": [e.to_dict() for e in result.entries],
                    "errors": list(result.errors),
                },
                indent=2,
            )
        )
        return
    rows = [("KIND", "NAME", "NAMESPACE", "VIA", "ROLE", "RULE")]
    for e in result.entries:
        via = e.binding.key if e.binding else e.note
        role = e.role.key if e.role else ""
        rule = f"{e.rule_index}: {describe_rule_text(e.rule)}" if e.rule is not None else ""
        rows.append((e.subject.kind, e.subject.name, e.effective_namespace or "", via, role, rule))
    click.echo(_table(rows))
    for err in dict.fromkeys(result.errors):
        click.echo(f"kapsec: warning: {err}", err=True)


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)
