"""``kapsec audit-log``: query, summary, detect, rbac and the rule pack, over audit logs."""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import signal
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from typing import Any

import click

from kapsec import __version__
from kapsec.cli.common import fail_on_option, parse_fail_on
from kapsec.errors import KapsecError, UsageError
from kapsec.model.findings import Severity


def _note(msg: str) -> None:
    click.echo(msg, err=True)


def _logs(logs: Sequence[str]) -> list[str]:
    return list(logs) or ["-"]


def _report_read(stats: Any, show: int = 10) -> None:
    for loc, reason in stats.errors[:show]:
        _note(f"kapsec: warning: {loc}: skipped malformed line: {reason}")
    if stats.malformed > show:
        _note(f"kapsec: warning: {stats.malformed - show} more malformed lines skipped")
    if stats.events == 0 and stats.skipped == 0:
        _note("kapsec: warning: no audit events were read")


def _stage_filter(stage: str) -> tuple[bool, str | None]:
    """(dedup, only this stage)."""
    if stage == "final":
        return True, None
    if stage == "all":
        return False, None
    return False, stage


STAGE_CHOICES = ["final", "all", "RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"]


def _install_stop() -> Callable[[], bool]:
    """SIGTERM/SIGINT end a --follow cleanly (pending events flushed, exit 0)."""
    flag = {"stop": False}

    def handler(_sig: int, _frame: Any) -> None:
        flag["stop"] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return lambda: flag["stop"]


def _follow_events(
    path: str,
    *,
    from_start: bool,
    idle_exit: float | None,
    stats: Any,
    prefilter: Callable[[bytes], bool] | None,
) -> Iterator[tuple[Any, Any] | None]:
    """(event, location) as the live log grows; None when idle."""
    from kapsec.auditlog.follow import Follower
    from kapsec.auditlog.reader import decode_line

    if path == "-":
        raise UsageError("--follow needs a file, not stdin")
    stop = _install_stop()
    fol = Follower(path, from_start=from_start)
    _note(f"kapsec: following {path} (SIGINT or SIGTERM to stop)")
    stats.files += 1
    try:
        for item in fol.lines(stop, idle_exit):
            if item is None:
                yield None
                continue
            raw, loc = item
            stats.lines += 1
            stats.bytes += len(raw)
            if not raw.strip():
                continue
            if prefilter is not None and not prefilter(raw):
                stats.skipped += 1
                continue
            try:
                evs = decode_line(raw)
            except ValueError as exc:
                stats.bad_line(loc, str(exc))
                _note(f"kapsec: warning: {loc}: skipped malformed line: {exc}")
                continue
            for ev in evs:
                stats.events += 1
                yield ev, loc
    finally:
        fol.close()


@click.group("audit-log")
def audit_log() -> None:
    """Query, summarise and run detections over Kubernetes audit logs, at the speed of grep.

    LOG is a file as --audit-log-path writes it (JSON lines; v1 or v1beta1 Events), an
    EventList, a .gz file, a directory or glob of a rotated set (read oldest first), GKE, AKS or
    CloudWatch exports, or '-' for stdin (the default).

    \b
    Exit codes: 0 ok (detect: no alert at or above --fail-on); 1 detect raised alerts at or
    above --fail-on; 2 usage or input error.
    """


# -- query ---------------------------------------------------------------------------------------


def _multi(name: str, help: str, metavar: str = "VALUE") -> Callable[[Any], Any]:
    return click.option(name, multiple=True, metavar=metavar, help=help + " Repeat for any of several.")


@audit_log.command()
@click.argument("logs", nargs=-1, metavar="LOG...")
@_multi("--user", "User name (glob); matches the impersonated user too.", "GLOB")
@_multi("--group", "Group of the user (glob).", "GLOB")
@_multi("--verb", "Verb: get, list, watch, create, update, patch, delete, deletecollection...")
@_multi("--resource", "Resource, as pods, pods/exec, deployments.apps or a glob.", "RES")
@_multi("--subresource", "Subresource: exec, log, status, token...")
@_multi("--namespace", "Namespace (glob).", "GLOB")
@_multi("--name", "Object name (glob).", "GLOB")
@_multi("--code", "Response code: 403, 4xx or 400-499.", "CODE")
@_multi("--decision", "Authorization decision annotation: allow or forbid.")
@click.option("--impersonated", is_flag=True, help="Only requests made with impersonation.")
@_multi("--source-ip", "Client address or CIDR range.", "CIDR")
@_multi("--user-agent", "User agent (glob).", "GLOB")
@click.option("--since", metavar="WHEN", help="Received at or after: 24h, 30m, 7d (ago) or RFC 3339.")
@click.option("--until", metavar="WHEN", help="Received before: 24h, 30m, 7d (ago) or RFC 3339.")
@click.option(
    "--stage",
    type=click.Choice(STAGE_CHOICES),
    default="final",
    show_default=True,
    help="final: one event per request (ResponseComplete, else the last stage seen); all: every event; or one stage.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "jsonl", "csv"]),
    default="table",
    show_default=True,
    help="table for reading; json (one array), jsonl (one request a line, streamed) or csv for tools.",
)
@click.option(
    "--fields",
    metavar="A,B,...",
    help="Columns: time,user,as,verb,target,code,decision,... or event field paths.",
)
@click.option("--count", is_flag=True, help="Print only the number of matching requests.")
@click.option(
    "--limit", type=click.IntRange(min=0), default=0, metavar="N", help="Stop after N results (0: no limit)."
)
@click.option("--follow", "-f", is_flag=True, help="Keep reading the live LOG as it grows, through rotation.")
@click.option("--from-start", is_flag=True, help="With --follow: read what the file already holds first.")
@click.option(
    "--idle-exit",
    type=float,
    metavar="SECONDS",
    help="With --follow: stop after this long without new lines.",
)
@click.option(
    "--jobs",
    "-j",
    type=int,
    default=0,
    show_default=True,
    help="Processes (0: every core when the input is large).",
)
def query(logs: Sequence[str], **opts: Any) -> None:
    """Find the requests that match every filter given (values within one filter are alternatives).

    \b
    Examples:
      kapsec audit-log query /var/log/kubernetes/audit/ --verb delete --resource deployments.apps --since 24h
      kapsec audit-log query audit.log --resource secrets --namespace kube-system --fields time,user,verb,name
      kapsec audit-log query audit.log --code 403 --count
    """
    from kapsec.auditlog.query import DEFAULT_FIELDS, Query, column, parse_when
    from kapsec.auditlog.reader import Deduper, ReadStats
    from kapsec.auditlog.scan import Batch, QuerySpec, scan

    since = parse_when(opts["since"]) if opts["since"] else None
    until = parse_when(opts["until"]) if opts["until"] else None
    kwargs = {
        "users": opts["user"],
        "groups": opts["group"],
        "verbs": opts["verb"],
        "resources": opts["resource"],
        "subresources": opts["subresource"],
        "namespaces": opts["namespace"],
        "names": opts["name"],
        "codes": opts["code"],
        "decisions": opts["decision"],
        "impersonated": opts["impersonated"],
        "source_ips": opts["source_ip"],
        "user_agents": opts["user_agent"],
        "since": since,
        "until": until,
    }
    q = Query(**kwargs)  # validates the filters before any reading
    names = (
        [f.strip() for f in opts["fields"].split(",") if f.strip()]
        if opts["fields"]
        else list(DEFAULT_FIELDS)
    )
    cols = [(n, column(n)) for n in names]
    dedup, only_stage = _stage_filter(opts["stage"])
    out_fmt = opts["output"]
    stats = ReadStats()
    paths = _logs(logs)

    writer = _RowWriter(out_fmt, names, cols, streaming=opts["follow"])
    deduper: Deduper[tuple[Any, str, int]] = Deduper()
    count = 0
    limit = opts["limit"]
    counting = opts["count"]

    def emit(items: list[tuple[Any, str, int]]) -> bool:
        nonlocal count
        for payload, file, line in items:
            count += 1
            if not counting:
                writer.row(payload, file, line)
            if limit and count >= limit:
                return False
        return True

    def push(audit_id: str, stage: str, item: tuple[Any, str, int]) -> bool:
        if only_stage and stage != only_stage:
            return True
        if dedup:
            return emit(deduper.push(audit_id, stage, item))
        return emit([item])

    go = True
    if opts["follow"]:
        if len(paths) != 1:
            raise UsageError("--follow reads exactly one LOG (the live file)")
        for fitem in _follow_events(
            paths[0],
            from_start=opts["from_start"],
            idle_exit=opts["idle_exit"],
            stats=stats,
            prefilter=q.prefilter(),
        ):
            if fitem is None:  # idle follow: release requests still waiting for their last stage
                go = emit(deduper.flush()) if dedup else True
                writer.flush()
                if not go:
                    break
                continue
            ev, loc = fitem
            if q.matches(ev) and not push(ev.auditID, ev.stage, (ev, loc.file, loc.line)):
                go = False
                break
    else:
        # Workers send the finished row (or nothing for --count), never the event.
        mode = "count" if counting else ("jsonl" if out_fmt == "jsonl" else "values")
        spec = QuerySpec(tuple(kwargs.items()), mode, tuple(names))
        # closing(): on Ctrl-C or an early stop the worker pool is stopped here, not at exit
        with closing(scan(paths, spec, stats, jobs=opts["jobs"], batched=True)) as items:
            for item in items:
                if isinstance(item, Batch):
                    path, base = item.path, item.base
                    if not dedup and not only_stage and not counting and not limit and mode == "jsonl":
                        writer.jsonl_batch(item.hits, path, base)  # the common bulk case, one write
                        count += len(item.hits)
                        continue
                    for i, audit_id, stage, payload in item.hits:
                        if not push(audit_id, stage, (payload, path, base + i + 1)):
                            go = False
                            break
                else:
                    ev, loc, _ = item
                    go = push(ev.auditID, ev.stage, (ev, loc.file, loc.line))
                if not go:
                    break
    if go and dedup:
        emit(deduper.flush())
    if counting:
        click.echo(json.dumps({"count": count}) if out_fmt in ("json", "jsonl") else str(count))
    else:
        writer.close()
    _report_read(stats)


@functools.cache
def _encoder() -> Any:
    import msgspec

    return msgspec.json.Encoder()


def _json_line(d: dict[str, Any]) -> str:
    """Compact JSON and a newline; msgspec for speed, json for values it does not know."""
    try:
        return str(_encoder().encode(d).decode()) + "\n"
    except TypeError:
        return json.dumps(d, default=str, separators=(",", ":")) + "\n"


class _RowWriter:
    """Rows from events (this process) or from what workers computed (a dict of the columns,
    or for jsonl the row's JSON up to its line number)."""

    def __init__(
        self, fmt: str, names: list[str], cols: list[tuple[str, Callable[[Any], Any]]], streaming: bool
    ) -> None:
        self.fmt = fmt
        self.names = names
        self.cols = cols
        self.rows: list[list[str]] = []
        self.first = True
        self.streaming = streaming
        self.write = sys.stdout.write
        if fmt == "csv":
            self.buf = io.StringIO()
            self.csv = csv.writer(self.buf, lineterminator="\n")
            self.csv.writerow(names)
            self._flush_csv()

    def _flush_csv(self) -> None:
        click.echo(self.buf.getvalue(), nl=False)
        self.buf.seek(0)
        self.buf.truncate()

    def jsonl_batch(self, hits: list[tuple[Any, ...]], path: str, base: int) -> None:
        """jsonl rows of one worker task, written at once."""
        if all(isinstance(h[3], str) for h in hits):
            self.write("".join(f"{h[3]}{base + h[0] + 1}}}\n" for h in hits))
            return
        for h in hits:
            self.row(h[3], path, base + h[0] + 1)

    def row(self, payload: Any, file: str, line: int) -> None:
        if isinstance(payload, str):  # jsonl, encoded by a worker
            self.write(f"{payload}{line}}}\n")
            return
        values = payload if isinstance(payload, dict) else {n: f(payload) for n, f in self.cols}
        if self.fmt == "jsonl":
            values["file"], values["line"] = file, line
            self.write(_json_line(values))
        elif self.fmt == "json":
            d = dict(values)
            d["file"], d["line"] = file, line
            text = json.dumps(d, default=str)
            click.echo(("[\n  " if self.first else ",\n  ") + text, nl=False)
            self.first = False
        elif self.fmt == "csv":
            self.csv.writerow(["" if values[n] is None else values[n] for n in self.names])
            self._flush_csv()
        else:
            cells = [_cell(values[n]) for n in self.names]
            if self.streaming:
                click.echo("  ".join(cells))
            else:
                self.rows.append(cells)

    def flush(self) -> None:
        sys.stdout.flush()

    def close(self) -> None:
        if self.fmt == "json":
            click.echo("[]" if self.first else "\n]")
        elif self.fmt == "table" and self.rows:
            widths = [max(len(n), *(len(r[i]) for r in self.rows)) for i, n in enumerate(self.names)]
            click.echo(
                "  ".join(n.upper().ljust(w) for n, w in zip(self.names, widths, strict=True)).rstrip()
            )
            for r in self.rows:
                click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _cell(v: Any) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


# -- summary -------------------------------------------------------------------------------------


@audit_log.command()
@click.argument("logs", nargs=-1, metavar="LOG...")
@click.option("--top", default=10, show_default=True, metavar="N", help="Rows in each list.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for reading; json: every list and count as one document.",
)
def summary(logs: Sequence[str], top: int, output: str) -> None:
    """Who did what: top users, verbs, resources, namespaces; refusals by user; anonymous
    requests; exec/attach/port-forward; Secret access; RBAC changes; impersonation; requests per
    hour; and the log volume by user agent (who makes the log big).

    \b
    Examples:
      kapsec audit-log summary /var/log/kubernetes/audit/
      kapsec audit-log summary audit.log --top 5 -o json
    """
    from kapsec.auditlog.reader import Deduper, ReadStats, read_events_sized
    from kapsec.auditlog.summary import Summary

    stats = ReadStats()
    s = Summary()
    d: Deduper[Any] = Deduper()
    for ev, _loc, size in read_events_sized(_logs(logs), stats):
        s.add_volume(ev, size)
        for it in d.push(ev.auditID, ev.stage, ev):
            s.add(it)
    for it in d.flush():
        s.add(it)
    result = s.to_dict(top)
    if output == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        _print_summary(result)
    _report_read(stats)


def _print_summary(d: dict[str, Any]) -> None:
    click.echo(
        f"{d['requests']} requests ({d['events']} events) from {d['first'] or '-'} to {d['last'] or '-'}"
    )

    def section(title: str, rows: list[dict[str, Any]]) -> None:
        click.echo(f"\n{title}")
        if not rows:
            click.echo("  (none)")
        for r in rows:
            click.echo(f"  {r['count']:>7}  {r['key']}")

    section("Top users", d["topUsers"])
    section("Top verbs", d["topVerbs"])
    section("Top resources", d["topResources"])
    section("Top namespaces", d["topNamespaces"])
    section("Refused (401/403) by user", d["deniedByUser"])
    section("Anonymous and unauthenticated requests", d["anonymous"])
    click.echo("\nexec / attach / port-forward / proxy")
    for r in d["execAttachPortforward"] or []:
        who = r["user"] + (f" as {r['as']}" if r["as"] else "")
        click.echo(f"  {r['time']}  {who} {r['verb']} {r['target']} -> {r['code']}")
    if not d["execAttachPortforward"]:
        click.echo("  (none)")
    section("Secret access (user verb code)", d["secretAccess"])
    click.echo("\nRBAC changes")
    for r in d["rbacChanges"] or []:
        who = r["user"] + (f" as {r['as']}" if r["as"] else "")
        click.echo(f"  {r['time']}  {who} {r['verb']} {r['target']} -> {r['code']}")
    if not d["rbacChanges"]:
        click.echo("  (none)")
    section("Impersonation", d["impersonation"])
    click.echo("\nRequests per hour (UTC)")
    for hour, n in d["timeline"].items():
        click.echo(f"  {hour}  {n}")
    click.echo("\nLog volume by user agent")
    for r in d["volumeByUserAgent"]:
        click.echo(f"  {r['bytes']:>12,} B  {r['events']:>7} events  {r['userAgent']}")


# -- detect --------------------------------------------------------------------------------------


def _rules_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--rules",
        "rule_dirs",
        multiple=True,
        metavar="PATH",
        help="Extra Sigma rule file or directory (repeatable).",
    )(f)
    return click.option("--only", multiple=True, metavar="RULE", help="Only these rule ids (repeatable).")(f)


@audit_log.command()
@click.argument("logs", nargs=-1, metavar="LOG...")
@_rules_options
@click.option(
    "--allowlist",
    metavar="FILE",
    help="YAML allowlist: entries with rules, users, namespaces... and a reason.",
)
@click.option(
    "--min-severity",
    default="info",
    show_default=True,
    metavar="SEVERITY",
    help="Drop alerts below this severity.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json", "jsonl", "sarif", "junit", "markdown", "html"]),
    default="text",
    show_default=True,
    help="text: one line per alert, streamed; jsonl: one alert a line; json, sarif, junit, markdown, html: a findings report.",
)
@fail_on_option
@click.option(
    "--follow", "-f", is_flag=True, help="Watch the live LOG through rotation; alerts as JSON lines."
)
@click.option("--from-start", is_flag=True, help="With --follow: read what the file already holds first.")
@click.option(
    "--idle-exit",
    type=float,
    metavar="SECONDS",
    help="With --follow: stop after this long without new lines.",
)
@click.option("--webhook", metavar="URL", help="Also POST each alert as JSON to this URL.")
@click.option(
    "--syslog", metavar="udp://HOST:PORT", help="Also send each alert to syslog (RFC 5424; udp:// or tcp://)."
)
@click.option("--syslog-facility", default="audit", show_default=True, help="Syslog facility name.")
@click.option(
    "--jobs",
    "-j",
    type=int,
    default=0,
    show_default=True,
    help="Processes (0: every core when the input is large).",
)
def detect(logs: Sequence[str], rule_dirs: Sequence[str], only: Sequence[str], **opts: Any) -> None:
    """Run the detection rule pack (Sigma rules from Falco and SigmaHQ, fixed, plus kapsec's own)
    over the LOGs. Each alert names the rule, its severity and ATT&CK techniques, the request's
    auditID, user, target, time and the file:line of the event.

    Rules that need request bodies are reported as blind when the log was written at Metadata
    level for those resources.

    \b
    Examples:
      kapsec audit-log detect /var/log/kubernetes/audit/
      kapsec audit-log detect audit.log --allowlist allow.yaml --min-severity medium -o json
      kapsec audit-log detect --follow /var/log/kubernetes/audit/audit.log --syslog tcp://siem:6514
    """
    from kapsec.auditlog.detect import Detector, load_allowlist
    from kapsec.auditlog.event import decode_event
    from kapsec.auditlog.pack import load_pack
    from kapsec.auditlog.reader import Location, ReadStats
    from kapsec.auditlog.scan import Batch, DetectSpec, scan, share_pack
    from kapsec.auditlog.sinks import SyslogSink, WebhookSink, alert_json

    try:
        min_sev = Severity.parse(opts["min_severity"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--min-severity") from None
    parse_fail_on(opts["fail_on"])
    pack = load_pack(rule_dirs, only=only)
    allow = (
        load_allowlist(opts["allowlist"], load_pack(rule_dirs) if only else pack) if opts["allowlist"] else []
    )
    det = Detector(pack, allow, min_sev)
    sinks: list[Any] = []
    if opts["webhook"]:
        sinks.append(WebhookSink(opts["webhook"], warn=lambda m: _note(f"kapsec: warning: {m}")))
    if opts["syslog"]:
        sinks.append(SyslogSink(opts["syslog"], opts["syslog_facility"]))
    stats = ReadStats()
    paths = _logs(logs)
    alerts: list[Any] = []
    follow = opts["follow"]
    out = "jsonl" if follow and opts["output"] == "text" else opts["output"]

    write = sys.stdout.write

    def deliver(new: list[Any]) -> None:
        for a in new:
            if out == "jsonl":
                write(alert_json(a) + "\n")
            elif out == "text":
                write(_alert_text(a))  # streamed: memory does not grow with the alerts
            else:
                alerts.append(a)
            for s in sinks:
                try:
                    s.send(a)
                except KapsecError as exc:
                    _note(f"kapsec: warning: {exc}")

    blind_extra: Counter[str] = Counter()
    try:
        if follow:
            if len(paths) != 1:
                raise UsageError("--follow reads exactly one LOG (the live file)")
            for item in _follow_events(
                paths[0],
                from_start=opts["from_start"],
                idle_exit=opts["idle_exit"],
                stats=stats,
                prefilter=None,
            ):
                if item is None:
                    sys.stdout.flush()
                    continue
                ev, loc = item
                deliver(det.feed(ev, loc))
                sys.stdout.flush()
        else:
            # Fast path: JSON lines straight from what the workers encoded (no allowlist or
            # sink needs the event itself).
            fast = out == "jsonl" and not sinks and not allow
            share_pack(rule_dirs, only, pack)
            spec = DetectSpec(tuple(rule_dirs), tuple(only), fast=fast)
            # closing(): on Ctrl-C or an early stop the worker pool is stopped here, not at exit
            with closing(
                scan(paths, spec, stats, jobs=opts["jobs"], extra=blind_extra, batched=True)
            ) as items:
                for item in items:
                    if isinstance(item, Batch):
                        if fast:
                            write(det.feed_batch(item.path, item.base, item.hits))
                            continue
                        for i, _aid, hits, body, ts, _groups, raw in item.hits:
                            ev = decode_event(raw)
                            loc = Location(item.path, item.base + i + 1)
                            deliver(det.feed_hits(ev, loc, hits, ("{" + body + "}").encode(), ts))
                    else:
                        ev, loc, hits = item
                        deliver(det.feed_hits(ev, loc, hits))
    finally:
        for s in sinks:
            s.close()
    det.stats.blind.update(blind_extra)
    if not follow:
        det.stats.events = stats.events + stats.skipped  # the pre-filter rules events out too
    _report_read(stats)
    for entry in det.unused_allow():
        _note(f"kapsec: warning: {entry.where}: allowlist entry never used ({entry.reason})")
    for rule_id, n in sorted(det.stats.blind.items()):
        r = pack.by_id(rule_id)
        need = r.needs if r else "Request"
        _note(
            f"kapsec: note: {rule_id} could not be evaluated on {n} event(s): the log has no request body (needs {need} level)"
        )
    threshold = parse_fail_on(opts["fail_on"])
    if out in ("jsonl", "text"):
        if out == "text":
            _print_totals(det)
        click.get_current_context().exit(0 if follow else _exit_for_stream(det, threshold))
    failing = [a for a in alerts if threshold is not None and a.severity >= threshold]
    from kapsec.report import render

    click.echo(render(_alerts_report(alerts, paths, pack, det), out), nl=False)
    click.get_current_context().exit(1 if failing else 0)


def _exit_for_stream(det: Any, threshold: Severity | None) -> int:
    if threshold is None:
        return 0
    return 1 if det.max_severity is not None and det.max_severity >= threshold else 0


def _alerts_report(alerts: list[Any], paths: Sequence[str], pack: Any, det: Any) -> Any:
    from kapsec.model.findings import Evidence, Finding, Report, Status

    findings = []
    for a in alerts:
        r = pack.by_id(a.rule_id)
        findings.append(
            Finding(
                id=a.rule_id,
                title=a.title,
                status=Status.FAIL,
                severity=a.severity,
                message=a.summary() + (f" ({a.detail})" if a.detail else ""),
                evidence=Evidence(
                    file=a.location.file if a.location else None,
                    line=a.location.line if a.location else None,
                    value=a.audit_id or None,
                    detail=json.dumps(a.to_dict(), separators=(",", ":")),
                ),
                remediation=(
                    f"{r.description} Check with {a.user or 'the client'} whether this was expected; "
                    f"if it is routine, allowlist it (rules: [{a.rule_id}]) rather than editing the rule."
                    if r
                    else ""
                ),
                references=tuple(r.references) if r else (),
            )
        )
    return Report(
        tool="kapsec",
        version=__version__,
        target={"logs": list(paths), "rules": len(pack.rules), "events": det.stats.events},
        findings=findings,
    )


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _terminal_safe(text: str) -> str:
    """``text`` with control characters (newlines too) written as ``\\xNN``: a log's user,
    object name and user agent are any string a client sent, and must neither drive the
    reader's terminal (escape sequences) nor forge an alert line. JSON outputs keep them exact."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _alert_text(a: Any) -> str:
    where = f"{a.location}" if a.location else "-"
    tech = ",".join(a.mitre) or "-"
    line = f"{a.time}  {a.severity.label.upper():8} {a.rule_id}  {a.summary()}  [{tech}] auditID={a.audit_id} {where}"
    out = _terminal_safe(line) + "\n"
    return out + (f"    {_terminal_safe(a.detail)}\n" if a.detail else "")


def _print_totals(det: Any) -> None:
    by = det.stats.by_severity
    parts = ", ".join(f"{by[s.label]} {s.label}" for s in sorted(Severity, reverse=True) if by[s.label])
    _note(
        f"kapsec: {det.stats.alerts} alert(s){': ' + parts if parts else ''}; "
        f"{det.stats.events} events checked, {det.stats.suppressed} allowlisted"
    )


# -- rules ---------------------------------------------------------------------------------------


@audit_log.group()
def rules() -> None:
    """The detection rule pack: list it, or export it to Elasticsearch or Loki queries."""


@rules.command("list")
@_rules_options
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: a table; json: every rule with its metadata.",
)
def rules_list(rule_dirs: Sequence[str], only: Sequence[str], output: str) -> None:
    """Every rule with its severity, confidence, needed audit level and ATT&CK techniques.

    \b
    Examples:
      kapsec audit-log rules list
      kapsec audit-log rules list --rules my-rules/ --only pod-exec -o json
    """
    from kapsec.auditlog.pack import load_pack

    pack = load_pack(rule_dirs, only=only)
    rows = sorted(pack.rules, key=lambda r: (-r.severity, r.id))
    if output == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "uuid": r.uuid,
                        "title": r.title,
                        "severity": r.severity.label,
                        "confidence": r.confidence,
                        "stage": list(r.stages) or "any",
                        "needs": r.needs,
                        "mitre": list(r.mitre),
                        "tactics": list(r.tactics),
                        "origin": r.origin,
                        "limits": r.limits,
                        "file": r.path,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    w = max(len(r.id) for r in rows) if rows else 10
    click.echo(f"{'RULE'.ljust(w)}  SEVERITY  CONF    NEEDS            ATT&CK")
    for r in rows:
        click.echo(
            f"{r.id.ljust(w)}  {r.severity.label:8}  {r.confidence:6}  {r.needs:15}  {','.join(r.mitre) or '-'}"
        )


@rules.command("export")
@_rules_options
@click.option(
    "--backend",
    type=click.Choice(["elasticsearch", "loki"]),
    required=True,
    help="The SIEM query language: elasticsearch (Lucene) or loki (LogQL).",
)
@click.option(
    "--format",
    "fmt",
    default="default",
    show_default=True,
    help="Backend output format (elasticsearch: default, kibana_ndjson, dsl_lucene...; loki: default, ruler).",
)
@click.option(
    "--index",
    default="kubernetes-audit-*",
    show_default=True,
    help="Elasticsearch index pattern (kibana/dsl formats).",
)
@click.option(
    "--field-prefix",
    default="",
    metavar="PREFIX",
    help="Elasticsearch: prefix every field (kubernetes.audit. for Elastic's Kubernetes integration).",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: the backend's output as is; json: each rule's query and the rules skipped.",
)
def rules_export(  # noqa: PLR0917 - one parameter per option
    rule_dirs: Sequence[str],
    only: Sequence[str],
    backend: str,
    fmt: str,
    index: str,
    field_prefix: str,
    output: str,
) -> None:
    """Convert the pack with pySigma's backends, so a SIEM runs the same detections.

    Elasticsearch gets Lucene queries over the audit event fields as they are indexed
    (objectRef.resource, user.username...); Loki gets LogQL with the json parser over the
    audit log stream ({job="kubernetes-audit"}). Rules a backend cannot express are listed on
    stderr and skipped.

    \b
    Examples:
      kapsec audit-log rules export --backend elasticsearch --field-prefix kubernetes.audit.
      kapsec audit-log rules export --backend elasticsearch --format kibana_ndjson > rules.ndjson
      kapsec audit-log rules export --backend loki -o json
    """
    from kapsec.auditlog.export import export, export_document

    if output == "json":
        doc = export_document(
            backend, fmt, rule_dirs=rule_dirs, only=only, index=index, field_prefix=field_prefix
        )
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        skipped = [(s["id"], s["reason"]) for s in doc["skipped"]]
    else:
        text, skipped = export(
            backend, fmt, rule_dirs=rule_dirs, only=only, index=index, field_prefix=field_prefix
        )
        click.echo(text, nl=not text.endswith("\n"))
    for rule_id, why in skipped:
        _note(f"kapsec: warning: {rule_id}: not exported: {why}")


# -- rbac ----------------------------------------------------------------------------------------


@audit_log.command()
@click.argument("logs", nargs=-1, metavar="LOG...")
@click.option(
    "--user", "users", multiple=True, metavar="NAME", help="A user to generate RBAC for (repeatable)."
)
@click.option(
    "--serviceaccount", "sas", multiple=True, metavar="NS:NAME", help="A service account (repeatable)."
)
@click.option(
    "--all", "all_subjects", is_flag=True, help="Every authenticated subject seen (but system components)."
)
@click.option(
    "--from",
    "current",
    multiple=True,
    metavar="PATH",
    help="Current RBAC objects (files, dirs): also diff grants against them.",
)
@click.option("--namespace", "-n", metavar="NS", help="Only requests in this namespace.")
@click.option(
    "--keep-names/--no-keep-names",
    default=True,
    show_default=True,
    help="Keep resourceNames where every request named one object.",
)
@click.option(
    "--min-count", default=1, show_default=True, help="Ignore permissions used fewer times than this."
)
@click.option(
    "--include-denied",
    is_flag=True,
    help="Also grant what was refused (audit2rbac's way: run the workload unprivileged, then grant its 403s).",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="yaml: the RBAC objects, ready for kubectl apply; json: the objects and a per-subject account.",
)
def rbac(  # noqa: PLR0917 - one parameter per option
    logs: Sequence[str],
    users: Sequence[str],
    sas: Sequence[str],
    all_subjects: bool,
    current: Sequence[str],
    namespace: str | None,
    keep_names: bool,
    min_count: int,
    include_denied: bool,
    output: str,
) -> None:
    """Least-privilege Roles/ClusterRoles and bindings from the requests the LOGs show were allowed.

    Only allowed requests count (authorization decision allow, or a 2xx/3xx answer); namespaced
    requests become Roles in their namespace, cluster-scoped and all-namespace ones a
    ClusterRole; resourceNames are kept only for verbs RBAC can restrict by name (never create,
    list, watch or deletecollection). With --from, each subject's current grants are compared:
    permissions used but not granted, and granted but never used.

    \b
    Examples:
      kapsec audit-log rbac audit.log --serviceaccount ci:deployer > deployer-rbac.yaml
      kapsec audit-log rbac /var/log/kubernetes/audit/ --all --from rbac/ -o json
    """
    from kapsec.auditlog.rbacgen import Subject, generate, render_objects

    subjects: list[Subject] = [Subject.user(u) for u in users]
    for sa in sas:
        ns, sep, name = sa.partition(":")
        if not sep or not ns or not name:
            raise UsageError(f"--serviceaccount takes NAMESPACE:NAME, not {sa!r}")
        subjects.append(Subject.service_account(ns, name))
    if not subjects and not all_subjects:
        raise UsageError("name a subject: --user NAME, --serviceaccount NS:NAME, or --all")
    from kapsec.auditlog.reader import ReadStats

    stats = ReadStats()
    result = generate(
        _logs(logs),
        subjects,
        all_subjects=all_subjects,
        namespace=namespace,
        keep_names=keep_names,
        min_count=min_count,
        include_denied=include_denied,
        stats=stats,
    )
    diff = None
    if current:
        from kapsec.auditlog.rbacgen import diff_against

        diff = diff_against(result, current)
    _report_read(stats)
    if not result.subjects:
        _note("kapsec: warning: no allowed request of the named subject(s) in the logs")
    refused = "granted too" if include_denied else "not granted"
    for s in result.subjects:
        _note(f"kapsec: {s.subject.display}: {s.requests} allowed request(s), {s.denied} refused ({refused})")
    click.echo(render_objects(result, diff, output), nl=False)
