"""``kapsec audit-policy``: validate, lint, explain, simulate, diff and generate audit policies."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import click

from kapsec import __version__
from kapsec.auditpolicy import Policy, PolicyDecodeError, load_policy_file
from kapsec.auditpolicy.loader import PolicySyntaxError, load_policy_text, server_warning
from kapsec.auditpolicy.profiles import PROFILES
from kapsec.cli.common import OutputFormat, exit_code_for, fail_on_option, output_option
from kapsec.errors import InputError, UsageError
from kapsec.model.findings import Evidence, Finding, Report, Severity, Status


@click.group(name="audit-policy")
def audit_policy() -> None:
    """Validate, lint, explain, simulate, diff and generate kube-apiserver audit policies.

    Policies are read exactly as kube-apiserver 1.36 reads them (audit.k8s.io/v1; unknown fields
    are dropped with a warning, which lint reports) and evaluated with the server's first-match
    rules.
    """


def _parse_version(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    parts = value.lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise UsageError(f"--k8s-version {value!r}: expected MAJOR.MINOR, e.g. 1.23") from None


def version_option(f: Any) -> Any:
    return click.option(
        "--k8s-version",
        "k8s_version",
        metavar="MAJOR.MINOR",
        help="Read the policy as that kube-apiserver version would (default 1.36: only "
        "audit.k8s.io/v1; before 1.24 v1alpha1/v1beta1 are still read).",
    )(f)


def extended_option(f: Any) -> Any:
    return click.option(
        "--extended",
        is_flag=True,
        help="Accept '*' globs in users, userGroups and namespaces, as OpenShift's log filter and "
        "splunk-audit-exporter do. The API server never does: without this flag they are literal.",
    )(f)


def _note(text: str) -> None:
    click.echo(text, err=True)


def _read_policy(path: str, *, strict: bool = False, k8s_version: tuple[int, int] | None = None) -> Policy:
    """A policy FILE, or standard input for '-' (e.g. a policy piped from kubectl or a generator)."""
    if path != "-":
        return load_policy_file(path, strict=strict, k8s_version=k8s_version)
    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file="<stdin>") from exc
    return load_policy_text(text, "<stdin>", strict=strict, k8s_version=k8s_version)


def _one_stdin(*paths: str | None) -> None:
    if sum(1 for p in paths if p == "-") > 1:
        raise UsageError("standard input ('-') can be read only once")


def _load(
    path: str, *, strict: bool = False, quiet: bool = False, k8s_version: tuple[int, int] | None = None
) -> Policy:
    policy = _read_policy(path, strict=strict, k8s_version=k8s_version)
    warning = server_warning(policy)
    if warning and not quiet:
        _note(f"kapsec: warning: {path}: the API server would log: {warning}")
    return policy


# -- validate ------------------------------------------------------------------------------------


@audit_policy.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--lenient",
    is_flag=True,
    help="Accept unknown and duplicate fields as the API server does (with a warning). "
    "Default: strict, they are errors.",
)
@version_option
@output_option(OutputFormat.TEXT, OutputFormat.JSON)
def validate(files: Sequence[str], lenient: bool, k8s_version: str | None, output: str) -> None:
    """Check that the API server would load each policy FILE, with its exact messages.

    FILE '-' reads the policy from standard input.

    \b
    Examples:
      kapsec audit-policy validate /etc/kubernetes/audit-policy.yaml
      kapsec audit-policy validate --k8s-version 1.23 --lenient old-policy.yaml -o json

    \b
    Exit codes: 0 every file is valid; 1 at least one is not (the message is the server's,
    with the file and line); 2 a file cannot be read.
    """
    version = _parse_version(k8s_version)
    results: list[dict[str, Any]] = []
    for path in files:
        entry: dict[str, Any] = {"file": path}
        try:
            policy = _read_policy(path, strict=not lenient, k8s_version=version)
        except PolicyDecodeError as exc:
            entry |= {
                "valid": False,
                "line": exc.line,
                "serverError": exc.server_error,
                "errors": [
                    {
                        "field": e.field,
                        "type": e.type,
                        "value": e.value,
                        "detail": e.detail,
                        "message": str(e),
                    }
                    for e in exc.errors
                ],
            }
        except PolicySyntaxError as exc:
            entry |= {"valid": False, "line": exc.line, "serverError": exc.message, "errors": []}
        except InputError as exc:
            # unreadable: said at once, and the other files are still validated (exit 2 at the end)
            _note(f"kapsec: error: {exc}")
            entry |= {"valid": False, "readError": str(exc)}
        else:
            entry |= {
                "valid": True,
                "rules": len(policy.rules),
                "warnings": [
                    {"path": w.path, "kind": w.kind, "line": w.line, "message": w.message}
                    for w in policy.warnings
                ],
            }
        results.append(entry)
    if output == "json":
        click.echo(json.dumps({"files": results}, indent=2))
    else:
        for r in results:
            if "readError" in r:
                continue
            if r["valid"]:
                extra = ""
                if r["warnings"]:
                    extra = "; warnings: " + "; ".join(
                        f"line {w['line']}: {w['message']}" for w in r["warnings"]
                    )
                click.echo(f"{r['file']}: valid ({r['rules']} rules){extra}")
            else:
                where = f"{r['file']}:{r['line']}" if r["line"] else r["file"]
                click.echo(f"{where}: invalid: {r['serverError']}")
    if any("readError" in r for r in results):
        click.get_current_context().exit(2)
    click.get_current_context().exit(0 if all(r["valid"] for r in results) else 1)


# -- lint ----------------------------------------------------------------------------------------


def detection_needs() -> list[Any] | None:
    """The audit-log rule pack's needs, or None when that package is not available."""
    try:
        module = importlib.import_module("kapsec.auditlog.requirements")
    except ImportError:
        return None
    needs: list[Any] = module.detection_needs()
    return needs


@audit_policy.command()
@click.argument("file", metavar="FILE", required=False)
@click.option(
    "--list-checks", is_flag=True, help="Print the catalog of checks (ID, severity, title, fix) and exit."
)
@click.option(
    "--detections/--no-detections",
    default=True,
    show_default=True,
    help="Also report kapsec audit-log detections that would be blind under this policy.",
)
@click.option("--all", "show_all", is_flag=True, help="Also list the checks that passed.")
@version_option
@output_option()
@fail_on_option
def lint(  # noqa: PLR0917 - one parameter per click option
    file: str | None,
    list_checks: bool,
    detections: bool,
    show_all: bool,
    k8s_version: str | None,
    output: str,
    fail_on: str,
) -> None:
    """Review an audit policy FILE as an expert would: leaks, blind spots, volume, dead rules.

    FILE '-' reads the policy from standard input.

    Each finding has a stable ID (AP001...). Suppress one with a comment inside the rule (or in
    the file header for the whole file): `# kapsec-lint: ignore=AP040 reason`.

    \b
    Examples:
      kapsec audit-policy lint /etc/kubernetes/audit-policy.yaml
      kapsec audit-policy lint policy.yaml --fail-on high -o sarif > audit-policy.sarif
      kapsec audit-policy lint --list-checks

    \b
    Exit codes: 0 no failed finding at or above --fail-on; 1 there is one (a policy the API
    server rejects is a critical AP000 finding); 2 the file cannot be read.
    """
    from kapsec.auditpolicy.linter import CHECKS, lint_policy
    from kapsec.report import render

    if list_checks:
        catalog = [
            {
                "id": c.id,
                "severity": c.severity.label,
                "title": c.title,
                "benchmarks": {"cis-1.12": "3.2.2"} if c.cis else {},
                "remediation": c.remediation,
            }
            for c in CHECKS.values()
        ]
        if output == "json":
            click.echo(json.dumps({"checks": catalog}, indent=2))
        else:
            for c in catalog:
                cis = "  [CIS 3.2.2]" if c["benchmarks"] else ""
                click.echo(f"{c['id']}  {c['severity']:<8}  {c['title']}{cis}")
        return
    if file is None:
        raise UsageError("lint needs a policy FILE (or --list-checks)")

    findings: list[Finding]
    try:
        policy = _load(file, quiet=True, k8s_version=_parse_version(k8s_version))
    except (PolicyDecodeError, PolicySyntaxError) as exc:
        message = exc.server_error if isinstance(exc, PolicyDecodeError) else exc.message
        findings = [
            Finding(
                id="AP000",
                title="the API server rejects this policy",
                status=Status.FAIL,
                severity=Severity.CRITICAL,
                message=message,
                evidence=Evidence(file=file, line=exc.line),
                remediation="Fix the error: kube-apiserver will not start with this policy.",
            )
        ]
    else:
        needs = None
        if detections:
            needs = detection_needs()
            if needs is None:
                _note(
                    "kapsec: note: the detection rule pack is not available; skipping blind-detection checks"
                )
        findings = lint_policy(policy, needs)
    shown = findings if show_all or output != "text" else [f for f in findings if f.status is not Status.PASS]
    report = Report(
        tool="kapsec",
        version=__version__,
        target={"kind": "audit-policy", "file": file},
        findings=shown,
    )
    click.echo(render(report, output), nl=False)
    full = Report(tool="kapsec", version=__version__, target={}, findings=findings)
    click.get_current_context().exit(exit_code_for(full, fail_on))


# -- explain -------------------------------------------------------------------------------------


def _parse_resource(text: str) -> tuple[str, str, str]:
    """``pods``, ``pods/log``, ``deployments.apps``, ``deployments.apps/scale`` -> (group, resource, sub)."""
    res, _, sub = text.partition("/")
    resource, _, group = res.partition(".")
    if not resource:
        raise UsageError(f"--resource {text!r}: expected RESOURCE[.GROUP][/SUBRESOURCE]")
    return group, resource, sub


def _block_lines(fh: BinaryIO, block: int = 1 << 22) -> Iterator[bytes]:
    """The lines of ``fh`` (without newlines), read in large blocks: faster than readline."""
    rest = b""
    while True:
        data = fh.read(block)
        if not data:
            break
        parts = (rest + data).split(b"\n")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _open_lines(path: str) -> tuple[BinaryIO, str]:
    if path == "-":
        return sys.stdin.buffer, "<stdin>"
    try:
        return open(path, "rb"), path
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=path) from exc


@audit_policy.command()
@click.option(
    "--policy", "policy_file", required=True, metavar="FILE", help="The audit policy ('-' for stdin)."
)
@click.option(
    "--user", metavar="NAME", help="Authenticated user name (omit for a request that failed authentication)."
)
@click.option("--group", "groups", multiple=True, metavar="GROUP", help="A group of the user (repeatable).")
@click.option(
    "--verb", metavar="VERB", help="Kubernetes verb (get, list, watch, create...) or lower-case HTTP method."
)
@click.option(
    "--resource", metavar="RES", help="RESOURCE[.GROUP][/SUBRESOURCE], e.g. pods/exec, deployments.apps."
)
@click.option("-n", "--namespace", default="", metavar="NS", help="Namespace ('' for cluster-scoped).")
@click.option("--name", default="", metavar="NAME", help="Object name.")
@click.option(
    "--path", default="", metavar="PATH", help="URL path (a non-resource request when no --resource)."
)
@click.option(
    "--batch", metavar="FILE", help="Request-attribute JSON lines ('-' for stdin): one answer per line."
)
@click.option("--why", is_flag=True, help="Also say, for each earlier rule, why it did not match.")
@extended_option
@output_option(OutputFormat.TEXT, OutputFormat.JSON)
def explain(  # noqa: PLR0917 - one parameter per click option
    policy_file: str,
    user: str | None,
    groups: Sequence[str],
    verb: str | None,
    resource: str | None,
    namespace: str,
    name: str,
    path: str,
    batch: str | None,
    why: bool,
    extended: bool,
    output: str,
) -> None:
    """Which level and omitted stages a request gets, and the rule that decides.

    \b
    Examples:
      kapsec audit-policy explain --policy p.yaml --user jane --group system:authenticated \\
          --verb get --resource secrets -n default --name db
      kapsec audit-policy explain --policy p.yaml --batch requests.jsonl -o json

    \b
    Exit codes: 0 answered; 2 usage or input error (bad lines are answered with an "error").
    """
    from kapsec.auditpolicy.checker import evaluate
    from kapsec.auditpolicy.explain import BatchError, decision_dict, explain_lines
    from kapsec.model.request import RequestAttributes

    _one_stdin(policy_file, batch)
    policy = _load(policy_file)
    if batch is not None:
        if verb or resource or user or groups or path:
            raise UsageError("give either --batch or a single request's flags, not both")
        fh, label = _open_lines(batch)
        errors: list[BatchError] = []
        out: BinaryIO = sys.stdout.buffer
        try:
            if output == "json":
                buf: list[bytes] = []
                for line in explain_lines(policy, _block_lines(fh), errors, extended=extended):
                    buf.append(line)
                    if len(buf) >= 8192:
                        out.write(b"".join(buf))
                        buf.clear()
                out.write(b"".join(buf))
            else:
                for line in explain_lines(policy, _block_lines(fh), errors, extended=extended):
                    d = json.loads(line)
                    if "error" in d:
                        out.write(f"line {d['line']}: error: {d['error']}\n".encode())
                        continue
                    stages = ",".join(d["omitStages"]) or "-"
                    rule = (
                        f"rule {d['ruleIndex']} (line {d['ruleLine']})"
                        if d["ruleIndex"] is not None
                        else "no rule"
                    )
                    ident = f"{d['id']}\t" if "id" in d else ""
                    out.write(f"{ident}{d['level']}\tomit={stages}\t{rule}\n".encode())
            out.flush()
        finally:
            if fh is not sys.stdin.buffer:
                fh.close()
        for err in errors[:20]:
            _note(f"kapsec: error: {label}:{err.line}: {err.message}")
        if len(errors) > 20:
            _note(f"kapsec: error: {len(errors) - 20} more bad lines")
        click.get_current_context().exit(2 if errors else 0)
    if not verb:
        raise UsageError("explain needs --verb (and --resource or --path), or --batch FILE")
    if resource:
        api_group, res, sub = _parse_resource(resource)
        req = RequestAttributes(
            user=user,
            groups=tuple(groups) if user is not None else None,
            verb=verb,
            resource_request=True,
            namespace=namespace,
            api_group=api_group,
            resource=res,
            subresource=sub,
            name=name,
            path=path,
        )
    elif path:
        req = RequestAttributes(
            user=user,
            groups=tuple(groups) if user is not None else None,
            verb=verb,
            resource_request=False,
            path=path,
        )
    else:
        raise UsageError("explain needs --resource (a resource request) or --path (a non-resource request)")
    if user is None and groups:
        raise UsageError("--group needs --user (a request without a user has no groups)")
    decision = evaluate(policy, req, extended=extended)
    d = decision_dict(policy, decision, with_text=True)
    trace: list[dict[str, Any]] = []
    if why:
        from kapsec.auditpolicy.checker import mismatch_reason

        last = len(policy.rules) if decision.rule_index is None else decision.rule_index
        for i in range(last):
            reason = mismatch_reason(policy.rules[i], req)
            trace.append({"ruleIndex": i, "ruleLine": policy.rules[i].line, "reason": reason})
    if output == "json":
        click.echo(json.dumps({"request": req.to_dict()} | d | ({"trace": trace} if why else {}), indent=2))
        return
    click.echo(f"level:      {d['level']}")
    click.echo(f"omitStages: {', '.join(d['omitStages']) or '(none)'}")
    if decision.rule_index is None:
        click.echo("rule:       none matched (the server's default level is None)")
    else:
        click.echo(f"rule:       {decision.rule_index} (line {d['ruleLine']})")
        for text_line in d["rule"].splitlines():
            click.echo(f"  {text_line}")
    if why:
        click.echo("earlier rules:" if trace else "earlier rules: none")
        for t in trace:
            click.echo(f"  rule {t['ruleIndex']} (line {t['ruleLine']}): {t['reason']}")
    if user is None:
        _note(
            "kapsec: note: no --user: evaluated as a request that failed authentication (rules naming users or groups do not match)"
        )


# -- simulate ------------------------------------------------------------------------------------


def _sized_events(paths: Sequence[str], stats: Any) -> Iterator[tuple[Any, int]]:
    """(event, bytes in the log) from the audit-log reader (sizes from its stats when it has none)."""
    reader = importlib.import_module("kapsec.auditlog.reader")
    sized = getattr(reader, "read_events_sized", None)
    if sized is not None:
        for ev, _loc, size in sized(list(paths), stats):
            yield ev, size
        return
    before = 0
    for ev, _loc in reader.read_events(list(paths), stats):
        yield ev, stats.bytes - before
        before = stats.bytes


def _warn_malformed(stats: Any) -> None:
    """The reader's skipped lines, on stderr (the first ten, then a count)."""
    for loc, reason in stats.errors[:10]:
        _note(f"kapsec: warning: {loc}: skipped malformed line: {reason}")
    if stats.malformed > 10:
        _note(f"kapsec: warning: {stats.malformed - 10} more malformed lines skipped")


def _mb(n: float) -> str:
    return f"{n / 1e6:,.2f} MB"


@audit_policy.command()
@click.option(
    "--policy",
    "policy_file",
    required=True,
    metavar="FILE",
    help="The candidate audit policy ('-' for stdin).",
)
@click.argument("logs", nargs=-1, required=True, metavar="LOG...")
@click.option(
    "--top",
    default=10,
    show_default=True,
    metavar="N",
    type=click.IntRange(min=0),
    help="Rows in each grouped list.",
)
@click.option(
    "--expect-same",
    is_flag=True,
    help="Exit 1 unless the candidate reproduces every recorded event (level and stage): "
    "proves which policy wrote a log.",
)
@extended_option
@output_option(OutputFormat.TEXT, OutputFormat.JSON)
def simulate(  # noqa: PLR0917 - one parameter per click option
    policy_file: str, logs: Sequence[str], top: int, expect_same: bool, extended: bool, output: str
) -> None:
    """Replay real audit LOGs against a candidate policy: volume per level and rule, MB/day,
    what would no longer be logged and what would be logged in more detail.

    LOG files are JSON lines as --audit-log-path writes them (.gz, rotated sets, '-' for stdin).

    \b
    Examples:
      kapsec audit-policy simulate --policy new-policy.yaml /var/log/kubernetes/audit/
      kapsec audit-policy simulate --policy current.yaml --expect-same audit.log

    \b
    Exit codes: 0 done (with --expect-same: every event reproduced); 1 --expect-same and some
    event would be written differently; 2 usage or input error.
    """
    from kapsec.auditpolicy.simulate import simulate as run

    _one_stdin(policy_file, *logs)
    policy = _load(policy_file)
    reader = importlib.import_module("kapsec.auditlog.reader")
    stats = reader.ReadStats()
    result = run(policy, _sized_events(logs, stats), extended=extended)
    _warn_malformed(stats)
    d = result.to_dict(policy, top)
    if output == "json":
        click.echo(json.dumps(d, indent=2))
    else:
        _print_simulation(d, result.span_seconds)
    if result.events == 0:
        _note("kapsec: warning: no audit events were read")
    click.get_current_context().exit(1 if expect_same and result.mismatch_count else 0)


def _print_simulation(d: dict[str, Any], span: float | None) -> None:
    src, cand, rep = d["source"], d["candidate"], d["reproduced"]
    span_text = f"over {span:,.0f} s ({src['first']} to {src['last']})" if span else "(no time span)"
    click.echo(f"recorded:   {src['events']:,} events, {_mb(src['bytes'])} {span_text}")
    change = ""
    if src["bytes"]:
        change = f" ({(cand['bytes'] - src['bytes']) / src['bytes']:+.1%})"
    click.echo(f"candidate:  {cand['events']:,} events, {_mb(cand['bytes'])}{change}")
    if src["mbPerDay"] is not None:
        click.echo(
            f"per day:    recorded {src['mbPerDay']:,.1f} MB/day, candidate {cand['mbPerDay']:,.1f} MB/day"
        )
        if span is not None and span < 3600:
            _note("kapsec: note: the log covers less than an hour; MB/day is a straight extrapolation")
    click.echo(
        f"reproduced: {rep['events']:,}/{rep['of']:,} events would be written as recorded (same level, stage not omitted)"
    )
    click.echo("\nby level             recorded               candidate")
    levels = list(dict.fromkeys([*src["byLevel"], *cand["byLevel"]]))
    for lvl in levels:
        a = src["byLevel"].get(lvl, {"events": 0, "bytes": 0})
        b = cand["byLevel"].get(lvl, {"events": 0, "bytes": 0})
        click.echo(
            f"  {lvl:<16}{a['events']:>7,} {_mb(a['bytes']):>12}   {b['events']:>7,} {_mb(b['bytes']):>12}"
        )
    click.echo("\nby rule (candidate)")
    for r in cand["byRule"]:
        click.echo(
            f"  rule {r['ruleIndex']} (line {r['ruleLine']}) {r['level']:<16}{r['events']:>7,} {_mb(r['bytes']):>12}"
        )
    added = cand["addedRequestReceived"]
    if added["events"]:
        click.echo(
            f"  + RequestReceived events not in the log: {added['events']:,} ({_mb(added['bytes'])}, estimated)"
        )

    def rows(title: str, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        click.echo(f"\n{title}")
        for it in items:
            size = f" {_mb(it['bytes'])}" if "bytes" in it else ""
            click.echo(f"  {it['events']:>7,}{size}  {it['user']} {it['verb']} {it['resource']}")

    if d["loudest"]:
        click.echo("\nloudest under the candidate (what to drop or lower first)")
        for it in d["loudest"]:
            rule = "" if it["ruleIndex"] is None else f"  [rule {it['ruleIndex']}]"
            click.echo(
                f"  {it['events']:>7,} {_mb(it['bytes'])}  {it['user']} {it['verb']} {it['resource']}{rule}"
            )
    rows("no longer logged (level None)", d["noLongerLogged"])
    if d["stagesNoLongerLogged"]:
        click.echo("\nstages no longer logged (omitStages)")
        for stage, n in d["stagesNoLongerLogged"].items():
            click.echo(f"  {n:>7,}  {stage}")
    rows(
        "logged in more detail than recorded (bodies not in the source log: sizes are lower bounds)",
        d["moreDetail"],
    )
    rows("logged in less detail than recorded", d["lessDetail"])


# -- generate ------------------------------------------------------------------------------------


@audit_policy.command()
@click.option(
    "--profile",
    type=click.Choice(list(PROFILES)),
    default="recommended",
    show_default=True,
    help="Which policy to write.",
)
@click.option(
    "--from-log",
    "from_log",
    multiple=True,
    metavar="LOG",
    help="Real audit logs: add None rules for their loudest read-only system traffic to the "
    "recommended profile (repeatable).",
)
@click.option(
    "--top",
    default=5,
    show_default=True,
    metavar="N",
    type=click.IntRange(min=0),
    help="With --from-log: at most N noise rules.",
)
@click.option(
    "--min-share",
    default=0.01,
    type=click.FloatRange(0.0, 1.0),
    show_default=True,
    metavar="FRACTION",
    help="With --from-log: only traffic that is at least this share of all events.",
)
@output_option(OutputFormat.TEXT, OutputFormat.JSON)
def generate(profile: str, from_log: Sequence[str], top: int, min_share: float, output: str) -> None:
    """Write an audit policy (YAML with a header explaining every rule) to stdout.

    \b
    Profiles: guide-simple and guide-moderate (the hardening guide's, verbatim; moderate gains
    the catch-all rule it lacks), cis (CIS 3.2.2), recommended (kapsec's own).
    Every generated policy passes 'validate' and 'lint'.

    \b
    Examples:
      kapsec audit-policy generate --profile cis > /etc/kubernetes/audit-policy.yaml
      kapsec audit-policy generate --from-log /var/log/kubernetes/audit/ --top 3 > tuned.yaml

    \b
    Exit codes: 0 written; 2 usage or input error.
    """
    from kapsec.auditpolicy.profiles import find_noise, generate_profile
    from kapsec.auditpolicy.profiles import from_log as build

    if from_log:
        if profile != "recommended":
            raise UsageError("--from-log builds on the recommended profile; drop --profile")
        reader = importlib.import_module("kapsec.auditlog.reader")
        stats = reader.ReadStats()
        seen: set[str] = set()

        def requests() -> Iterator[tuple[Any, int]]:
            for ev, size in _sized_events(from_log, stats):
                if ev.auditID in seen:  # one request, several stages: count it once
                    continue
                seen.add(ev.auditID)
                yield ev.to_request(), size

        noise = find_noise(requests(), top=top, min_share=min_share)
        text = build(noise, [Path(p).name for p in from_log])
        _warn_malformed(stats)
        if not seen:
            _note("kapsec: warning: no audit events were read")
        _note(f"kapsec: note: {len(seen):,} requests read; {len(noise)} noise rule(s) added")
    else:
        text = generate_profile(profile)
    if output == "json":
        click.echo(json.dumps({"profile": profile, "fromLog": list(from_log), "policy": text}, indent=2))
    else:
        click.echo(text, nl=False)


# -- diff ----------------------------------------------------------------------------------------


@audit_policy.command()
@click.argument("old_file", metavar="OLD")
@click.argument("new_file", metavar="NEW")
@output_option(OutputFormat.TEXT, OutputFormat.JSON)
def diff(old_file: str, new_file: str, output: str) -> None:
    """What changes from policy OLD to policy NEW, request by request (no logs needed).

    Both are evaluated over the same probe requests: every verb on the common built-in resources
    and subresources (and those either policy names), as a user, an admin, a service account, a
    node, an anonymous user and a failed login, in several namespaces, plus the usual
    non-resource paths. Use 'simulate' to measure a change on real traffic.

    \b
    Examples:
      kapsec audit-policy diff /etc/kubernetes/audit-policy.yaml tuned.yaml
      kapsec audit-policy diff old.yaml new.yaml -o json

    \b
    Exit codes: 0 no difference; 1 differences; 2 usage or input error.
    """
    from kapsec.auditpolicy.diff import IDENTITY_COUNT, NAMESPACES, diff_policies

    _one_stdin(old_file, new_file)
    old = _load(old_file)
    new = _load(new_file)
    changes = diff_policies(old, new)
    everyone = IDENTITY_COUNT
    if output == "json":
        click.echo(
            json.dumps(
                {"old": old_file, "new": new_file, "changes": [c.to_dict() for c in changes]}, indent=2
            )
        )
    else:
        if not changes:
            click.echo("no request changes level or omitted stages")

        def rule(policy: Policy, index: int | None) -> str:
            return "no rule" if index is None else f"rule {index} (line {policy.rules[index].line})"

        for c in changes:
            if c.namespaces in ((), ("",)):
                where = ""
            elif len(c.namespaces) == len(NAMESPACES) + 1:
                where = " in any namespace"
            else:
                where = " in " + ", ".join(n or '""' for n in c.namespaces)
            who = "everyone" if len(c.identities) == everyone else ", ".join(c.identities)
            click.echo(f"{c.what} [{', '.join(c.verbs)}]{where}, {who}:")
            click.echo(
                f"    {c.before} -> {c.after}   ({rule(old, c.before_rule)} -> {rule(new, c.after_rule)})"
            )
    click.get_current_context().exit(1 if changes else 0)
