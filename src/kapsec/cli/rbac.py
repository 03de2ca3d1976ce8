"""``kapsec rbac``: exact RBAC answers (can-i, who-can, risks, matrix, check-escalation)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import click
import msgspec

from kapsec.cli.common import (
    ObjectInputs,
    OutputFormat,
    exit_code_for,
    fail_on_option,
    input_options,
    output_option,
)
from kapsec.errors import InputError, UsageError
from kapsec.model.request import RequestAttributes
from kapsec.rbac.authorize import Decision, authorize
from kapsec.rbac.identity import impersonated_groups, parse_resource
from kapsec.rbac.store import RbacStore

if TYPE_CHECKING:
    pass

RBAC_KINDS = ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]


def source_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--from``, ``--cluster``, ``--kubeconfig``, ``--context``, ``--save`` (as ``inputs``), ``--quiet``."""
    f = click.option("-q", "--quiet", is_flag=True, help="Do not print input problems on stderr.")(f)
    return input_options("RBAC objects", noun="RBAC objects", save=True)(f)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: str) -> str:
    """``text`` with control characters written as ``\\xNN``: object and subject names are any
    string the API server accepts, and must not drive the user's terminal (escape sequences)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def load_store(inputs: ObjectInputs, *, quiet: bool = False) -> RbacStore:
    """The RBAC objects of ``inputs``; an input without any RBAC object is an error (exit 2),
    as no answer about an empty cluster would be a real one."""
    store = RbacStore.from_objects(inputs.load(RBAC_KINDS))
    if not quiet:
        for p in store.problems:
            click.echo(f"kapsec: warning: {safe(str(p))}", err=True)
        for n in store.notes:
            click.echo(f"kapsec: note: {safe(n)}", err=True)
    if not any(store.stats().values()):
        names = ", ".join(inputs.names)
        raise InputError(
            f"{names}: no RBAC objects (Role, ClusterRole, RoleBinding, ClusterRoleBinding) found; "
            "nothing to analyse"
        )
    return store


def _who_options(as_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--as``, ``--as-group`` and ``--exact-groups``: who makes the request (see :func:`_subject`)."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option(
            "--exact-groups",
            is_flag=True,
            help="Take the groups exactly as given (like a SubjectAccessReview); by default they are "
            "completed as impersonation does (ServiceAccount groups, system:authenticated).",
        )(f)
        f = click.option(
            "--as-group",
            "as_groups",
            multiple=True,
            metavar="GROUP",
            help="A group of the user (repeatable).",
        )(f)
        return click.option("--as", "as_user", metavar="USER", help=as_help)(f)

    return decorate


_rbac_only_option = click.option(
    "--rbac-only", is_flag=True, help="Do not model the system:masters super-user group."
)


def _subject(
    as_user: str | None, as_groups: tuple[str, ...], *, exact: bool, who: str
) -> tuple[str, tuple[str, ...]]:
    """The user and groups of ``--as``/``--as-group``, completed as impersonation does unless
    ``exact`` (or only groups are given)."""
    if as_user is None and not as_groups:
        raise UsageError(f"say {who}: --as USER and/or --as-group GROUP (repeatable)")
    user = as_user or ""
    return user, as_groups if exact or as_user is None else impersonated_groups(user, as_groups)


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
    user_name, groups = _subject(user, groups, exact=exact, who="who asks")
    if user_name == "system:anonymous" and "system:unauthenticated" not in groups:
        click.echo(
            "kapsec: note: as with kubectl --as, system:anonymous gets no groups; a real anonymous "
            "request also carries group system:unauthenticated (add --as-group system:unauthenticated)",
            err=True,
        )
    if not res.resource_request:
        return RequestAttributes(
            user=user_name, groups=groups, verb=verb, resource_request=False, path=res.path
        )
    from kapsec.rbac.matrix import is_cluster_scoped

    if namespace and is_cluster_scoped(res.api_group, res.resource):
        # kubectl drops the namespace for cluster-scoped resources: their requests carry none
        click.echo(
            f"kapsec: note: {res.resource} is cluster-scoped: its requests carry no namespace; ignoring -n {namespace}",
            err=True,
        )
        namespace = ""

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
    Input: --from FILES|DIRS|- (repeatable; - is stdin) or --cluster [--kubeconfig F] [--context C]
    [--save F]. Problems in the input (invalid YAML, bindings to missing roles, unknown kinds) are
    printed on stderr as warnings and do not stop the analysis; an input without any Role,
    ClusterRole, RoleBinding or ClusterRoleBinding is an error (exit 2).
    """


# --- can-i ------------------------------------------------------------------------------------


_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def _iter_batch(
    stream: BinaryIO, name: str
) -> Iterator[tuple[int, RequestAttributes | None, Any, str | None]]:
    """(line number, request or None, id if known, error)."""
    for lineno, raw in enumerate(stream, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield lineno, None, None, f"{name}:{lineno}: not UTF-8 text (byte {exc.start})"
            continue
        if not line.strip():
            continue
        try:
            obj = _decode(line)
        except msgspec.DecodeError as exc:
            yield lineno, None, None, f"{name}:{lineno}: invalid JSON: {exc}"
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
@_who_options("The user asking (e.g. jane, system:serviceaccount:ns:sa).")
@click.option("-n", "--namespace", default="", help="The request's namespace (empty: cluster-wide).")
@click.option(
    "--batch",
    "batch",
    metavar="FILE",
    help="JSONL of request attributes ('-' for stdin); groups taken as given.",
)
@click.option("--all-grants", is_flag=True, help="List every binding that allows it, not only the first.")
@click.option(
    "--list",
    "list_rules",
    is_flag=True,
    help="List every rule that applies to the user in the namespace (RulesFor), with its binding and role.",
)
@_rbac_only_option
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
    list_rules: bool,
    rbac_only: bool,
    inputs: ObjectInputs,
    quiet: bool,
    output: str,
) -> None:
    """Can USER do VERB on RESOURCE[/SUBRESOURCE] [NAME]? Explains the granting binding, role and rule.

    \b
    RESOURCE is kubectl's form: pods, deployments.apps, pods/exec, deployments.apps/scale,
    '*', or a non-resource URL such as /metrics.
    Exit codes: 0 allowed (batch: all lines read), 1 not allowed, 2 usage or input error.

    \b
    Examples:
      kapsec rbac can-i create pods/exec web-0 -n team-a --as jane -f rbac/
      kapsec rbac can-i get secrets --as system:serviceaccount:ci:deployer --cluster
      kapsec rbac can-i --list --as jane -n team-a -f snapshot.json
      kapsec rbac can-i -f snapshot.json --batch requests.jsonl -o json
    """
    if list_rules:
        if verb or resource or batch:
            raise UsageError("--list takes no VERB, RESOURCE or --batch")
        user, groups = _subject(as_user, as_groups, exact=exact_groups, who="who asks")
        store = load_store(inputs, quiet=quiet)
        _list_rules(store, user, groups, namespace, output, masters=not rbac_only)
        return
    if batch is None and (verb is None or resource is None):
        raise UsageError("can-i needs VERB and RESOURCE, or --batch FILE")
    if batch is not None and (verb or resource):
        raise UsageError("give either VERB RESOURCE or --batch, not both")
    if batch == "-" and "-" in inputs.sources:
        raise UsageError("standard input ('-') can be read only once: not both --from - and --batch -")
    if batch is None:
        assert verb is not None
        assert resource is not None
        req = _request_from_args(
            verb, resource, name=name, namespace=namespace, user=as_user, groups=as_groups, exact=exact_groups
        )
    store = load_store(inputs, quiet=quiet)
    if batch is not None:
        click.get_current_context().exit(run_batch(store, batch, output, all_grants, not rbac_only))
    d = authorize(store, req, masters=not rbac_only, all_grants=all_grants)
    if output == "json":
        click.echo(json.dumps(decision_json(req, d), indent=2))
    else:
        lines: list[str] = []
        _decision_text(d, lines)
        click.echo("\n".join(safe(line) for line in lines))
    click.get_current_context().exit(0 if d.allowed else 1)


def _list_rules(
    store: RbacStore, user: str, groups: tuple[str, ...], namespace: str, output: str, *, masters: bool
) -> None:
    from kapsec.rbac.authorize import SYSTEM_MASTERS, visit_rules

    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    for b, subject, res in visit_rules(store, user, groups, namespace):
        if res.role is None:
            errors.append(f"{b.key}: {res.error}")
            continue
        for i, rule in enumerate(res.role.rules):
            rows.append({"binding": b, "subject": subject, "role": res.role, "index": i, "rule": rule})
    note = ""
    if masters and SYSTEM_MASTERS in groups:
        note = f'group "{SYSTEM_MASTERS}" is allowed everything before RBAC is consulted'
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "user": user,
                    "groups": list(groups),
                    "namespace": namespace or None,
                    "rules": [
                        {
                            "binding": _object_json(r["binding"]),
                            "role": _object_json(r["role"]),
                            "ruleIndex": r["index"],
                            "rule": r["rule"].to_dict(),
                        }
                        for r in rows
                    ],
                    "errors": errors,
                    **({"note": note} if note else {}),
                },
                indent=2,
            )
        )
        return
    table = [("RULE", "VIA")]
    for r in rows:
        table.append((describe_rule_text(r["rule"]), f"{r['binding'].key} -> {r['role'].key}"))
    click.echo(_table(table))
    if note:
        click.echo(f"note: {note}")
    for e in errors:
        click.echo(f"kapsec: warning: {safe(e)}", err=True)


def _object_json(obj: Any) -> dict[str, Any]:
    return {"kind": obj.kind, "name": obj.name, "namespace": obj.namespace or None}


def run_batch(store: RbacStore, batch: str, output: str, all_grants: bool, masters: bool) -> int:
    if batch == "-":
        stream: BinaryIO = sys.stdin.buffer
        name = "<stdin>"
    else:
        try:
            stream = open(batch, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", file=batch) from exc
        name = batch
    bad = 0
    write = sys.stdout.write
    try:
        for lineno, req, rid, err in _iter_batch(stream, name):
            if req is None:
                bad += 1
                click.echo(f"kapsec: error: {safe(str(err))}", err=True)
                if output == "json":
                    obj: dict[str, Any] = {"line": lineno, "error": err}
                    if rid is not None:
                        obj = {"id": rid, **obj}
                    write(json.dumps(obj) + "\n")
                else:
                    who = safe(str(rid)) if rid is not None else f"line {lineno}"
                    write(f"{who}\terror\t{safe(str(err))}\n")
                continue
            d = authorize(store, req, masters=masters, all_grants=all_grants)
            if output == "json":
                write(_encode(decision_json(req, d)).decode() + "\n")
            else:
                who = safe(str(req.id)) if req.id is not None else f"line {lineno}"
                reason = safe(d.reason or "no RBAC rule allows it")
                write(f"{who}\t{'yes' if d.allowed else 'no'}\t{reason}\n")
    finally:
        if stream is not sys.stdin.buffer:
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
    inputs: ObjectInputs,
    quiet: bool,
    output: str,
) -> None:
    """Every user, group and service account allowed to do VERB on RESOURCE [NAME], and through what.

    \b
    Lists subjects as the bindings write them (upstream's subject locator), in order:
    system:masters, then ClusterRoleBindings, then RoleBindings of the namespace.
    Exit codes: 0 done, 2 usage or input error.

    \b
    Examples:
      kapsec rbac who-can get secrets -n team-a -f rbac/
      kapsec rbac who-can create pods/exec -n kube-system --cluster -o json
      kubectl get clusterroles,clusterrolebindings,roles,rolebindings -A -o json \
        | kapsec rbac who-can impersonate users -f -
    """
    from kapsec.rbac.subjects import who_can

    req = _request_from_args(verb, resource, name=name, namespace=namespace, user="", groups=(), exact=True)
    store = load_store(inputs, quiet=quiet)
    result = who_can(store, req)
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "request": {k: v for k, v in req.to_dict().items() if k not in ("user", "groups")},
                    "subjects": [e.to_dict() for e in result.entries],
                    "errors": list(result.errors),
                    "notes": list(result.notes),
                },
                indent=2,
            )
        )
        return
    rows = [("KIND", "NAME", "NAMESPACE", "VIA", "ROLE", "RULE")]
    for e in result.entries:
        via = e.binding.key if e.binding else e.note
        if e.binding is not None and e.note:
            via += f" ({e.note})"
        role = e.role.key if e.role else ""
        rule = f"{e.rule_index}: {describe_rule_text(e.rule)}" if e.rule is not None else ""
        rows.append((e.subject.kind, e.subject.name, e.effective_namespace or "", via, role, rule))
    click.echo(_table(rows))
    for note in result.notes:
        click.echo(f"note: {safe(note)}")
    for err in dict.fromkeys(result.errors):
        click.echo(f"kapsec: warning: {safe(err)}", err=True)


def _table(rows: Sequence[Sequence[str]]) -> str:
    rows = [[safe(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


# --- risks ------------------------------------------------------------------------------------


@rbac.command("risks")
@click.option(
    "--include-defaults", is_flag=True, help="Also list the default (bootstrap) grants, as skip findings."
)
@click.option(
    "--trust-bootstrap-label",
    is_flag=True,
    help="Treat bindings labelled kubernetes.io/bootstrapping=rbac-defaults that kapsec's bootstrap "
    "snapshot does not know as defaults (default: warn about them).",
)
@click.option("--list", "list_catalog", is_flag=True, help="Print the risk catalog and exit.")
@source_options
@output_option()
@fail_on_option
def risks_cmd(
    *,
    include_defaults: bool,
    trust_bootstrap_label: bool,
    list_catalog: bool,
    inputs: ObjectInputs,
    quiet: bool,
    output: str,
    fail_on: str,
) -> None:
    """Dangerous grants: who holds permissions an attacker would use, and the attack each enables.

    \b
    The catalog (kapsec rbac risks --list) covers reading Secrets, creating workloads, exec and
    attach, escalate, bind, impersonate, nodes/proxy, service-account tokens, CSR approval and
    signing, admission configuration, PersistentVolumes, wildcard rules, full administrators,
    grants to anonymous or all users or to default service accounts, and bindings to missing
    roles, each mapped to its CIS 1.12 control. Default bootstrap grants (including the
    controller-manager's) are not findings unless modified.
    Exit codes: 0 nothing failed at or above --fail-on, 1 otherwise, 2 errors.

    \b
    Examples:
      kapsec rbac risks -f snapshot.json
      kapsec rbac risks --cluster --save rbac-snapshot.json --fail-on high
      kapsec rbac risks -f rbac/ -o sarif > rbac.sarif
      kapsec rbac risks --list
    """
    from kapsec import __version__
    from kapsec.model.findings import Report
    from kapsec.rbac.risks import AssessOptions, assess, catalog
    from kapsec.report import render

    if list_catalog:
        cat = catalog()
        if output == "json":
            click.echo(
                json.dumps(
                    [
                        {
                            "id": r.id,
                            "title": r.title,
                            "severity": {k: v.label for k, v in r.severity.items()},
                            "attack": r.attack,
                            "remediation": r.remediation,
                            "references": list(r.references),
                            "benchmarks": dict(r.benchmarks),
                        }
                        for r in cat.risks
                    ],
                    indent=2,
                )
            )
        else:
            for r in cat.risks:
                sev = ", ".join(f"{k}: {v.label}" for k, v in r.severity.items())
                click.echo(f"{r.id}  {r.title}  ({sev})\n    {r.attack}\n")
        return
    store = load_store(inputs, quiet=quiet)
    findings = assess(store, AssessOptions(include_defaults, trust_bootstrap_label))
    report = Report(
        tool="kapsec",
        version=__version__,
        target={"rbac": store.stats(), "sources": inputs.names},
        findings=findings,
    )
    if output == "text":
        click.echo(_risks_text(findings), nl=False)
    else:
        click.echo(render(report, output), nl=False)
    click.get_current_context().exit(exit_code_for(report, fail_on))


def _risks_text(findings: Sequence[Any]) -> str:
    if not findings:
        return "no dangerous grants found\n"
    out = []
    for f in findings:
        where = f.evidence.file or ""
        if f.evidence.line:
            where += f":{f.evidence.line}"
        out.append(f"{f.status.value.upper():4} {f.severity.label:8} {f.id}  {f.title}")
        out.append(f"     {f.message}")
        if f.evidence.value:
            out.append(f"     rule: {f.evidence.value}")
        if where:
            out.append(f"     at {where}")
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.status.value] = counts.get(f.status.value, 0) + 1
    out.append(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(safe(line) for line in out) + "\n"


# --- matrix -----------------------------------------------------------------------------------


@rbac.command("matrix")
@_who_options("The user.")
@click.option("-n", "--namespace", default="", help="Namespace (default: cluster-wide access).")
@click.option(
    "--verbs",
    default=",".join(("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")),
    show_default=True,
    help="Comma-separated verbs (columns).",
)
@_rbac_only_option
@source_options
@output_option(OutputFormat.TEXT, OutputFormat.JSON)
def matrix_cmd(
    *,
    as_user: str | None,
    as_groups: tuple[str, ...],
    namespace: str,
    exact_groups: bool,
    verbs: str,
    rbac_only: bool,
    inputs: ObjectInputs,
    quiet: bool,
    output: str,
) -> None:
    """Resources x verbs a subject may use (like rakkess), decided by the RBAC authorizer.

    Exit codes: 0 done, 2 usage or input error.

    \b
    Examples:
      kapsec rbac matrix --as jane -n team-a -f rbac/
      kapsec rbac matrix --as system:serviceaccount:ci:deployer --verbs get,list,create --cluster
      kapsec rbac matrix --as-group system:authenticated -f snapshot.json -o json
    """
    from kapsec.rbac.matrix import access_matrix

    user, groups = _subject(as_user, as_groups, exact=exact_groups, who="who")
    verb_list = tuple(v.strip() for v in verbs.split(",") if v.strip())
    if not verb_list:
        raise UsageError("--verbs: give at least one verb")
    store = load_store(inputs, quiet=quiet)
    m = access_matrix(store, user, groups, namespace, verb_list, masters=not rbac_only)
    if output == "json":
        click.echo(json.dumps(m.to_dict(), indent=2))
        return
    rows = [("NAME", *(v.upper() for v in m.verbs))]
    for r in m.rows:
        rows.append((r.label, *("✔" if c else "✖" for c in r.cells)))
    click.echo(_table(rows))


# --- check-escalation -------------------------------------------------------------------------


@rbac.command("check-escalation")
@click.argument("objects", nargs=-1, required=True, metavar="FILE...")
@_who_options("The user who would write the objects.")
@_rbac_only_option
@source_options
@output_option(OutputFormat.TEXT, OutputFormat.JSON)
def check_escalation_cmd(
    *,
    objects: tuple[str, ...],
    as_user: str | None,
    as_groups: tuple[str, ...],
    exact_groups: bool,
    rbac_only: bool,
    inputs: ObjectInputs,
    quiet: bool,
    output: str,
) -> None:
    """Would the API server refuse these Roles/ClusterRoles/bindings as privilege escalation?

    \b
    FILE... holds the objects USER wants to create or update; --from/--cluster is the cluster's
    current RBAC. For each object: allowed through system:masters, escalate/bind, or because
    USER already holds every permission (the covers check); otherwise the missing rules, in
    the API server's words. Exit codes: 0 all allowed, 1 some refused, 2 errors.

    \b
    Examples:
      kapsec rbac check-escalation new-role.yaml new-binding.yaml --as jane -f snapshot.json
      kapsec rbac check-escalation manifests/ --as system:serviceaccount:ci:deployer --cluster
    """
    from kapsec.rbac.escalation import check_binding_write, check_role_write
    from kapsec.sources.objects import load_paths

    user, groups = _subject(as_user, as_groups, exact=exact_groups, who="who writes the objects")
    store = load_store(inputs, quiet=quiet)
    candidates = RbacStore.from_objects(load_paths(objects), aggregate=False)
    if not quiet:
        for p in candidates.problems:
            if "not found" not in p.message:
                click.echo(f"kapsec: warning: {safe(str(p))}", err=True)
    results = []
    for role in [*candidates.cluster_roles.values(), *candidates.roles.values()]:
        results.append(check_role_write(store, user, groups, role, masters=not rbac_only))
    for b in [*candidates.cluster_role_bindings, *candidates.role_bindings]:
        results.append(
            check_binding_write(store, user, groups, b, masters=not rbac_only, extra_roles=candidates)
        )
    if not results:
        raise InputError("no Role, ClusterRole, RoleBinding or ClusterRoleBinding in " + ", ".join(objects))
    if output == "json":
        click.echo(
            json.dumps(
                {"user": user, "groups": list(groups), "results": [r.to_dict() for r in results]}, indent=2
            )
        )
    else:
        lines = []
        for r in results:
            lines.append(f"{'allowed' if r.allowed else 'REFUSED'}  {r.object_key}  ({r.path})")
            lines.extend("    " + line for line in r.message.splitlines())
            if r.create is not None and not r.create.allowed:
                lines.append(
                    "    note: the user may not create this kind of object at all (RBAC has no rule for it)"
                )
            lines.extend(f"    note: {n}" for n in r.notes)
        click.echo("\n".join(safe(line) for line in lines))
    click.get_current_context().exit(0 if all(r.allowed for r in results) else 1)
