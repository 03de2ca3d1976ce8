"""``kapsec tls``: inspect certificates and keys on disk; probe a live TLS endpoint."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from kapsec import __version__
from kapsec.cli.common import echo_report, exit_code_for, fail_on_option, output_option
from kapsec.errors import InputError, ServiceError, UsageError
from kapsec.model.findings import Finding, Report, Status


@click.group(name="tls")
def tls() -> None:
    """Inspect certificates and keys; probe a live TLS endpoint.

    \b
    Exit codes: 0 no failed finding at or above --fail-on; 1 failed findings at or above it;
                2 usage, input or connection error.
    """


F = TypeVar("F", bound=Callable[..., Any])

_STATUS_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim"}


def _parse_now(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time (e.g. 2026-01-31T12:00:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _emit_findings_text(findings: list[Finding], *, show_pass: bool) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    for f in findings:
        if f.status is Status.PASS and not show_pass:
            continue
        style = _STATUS_STYLE[f.status]
        console.print(
            f"[{style}]{f.status.value.upper():4}[/] {f.id} [dim]({f.severity.label})[/] {escape(f.message)}"
        )


def _summary_line(report: Report) -> str:
    s = report.summary()
    return f"{s['total']} checks: {s['fail']} failed, {s['warn']} warnings, {s['pass']} passed"


def _warn_days_option(what: str) -> Callable[[F], F]:
    return click.option(
        "--warn-days",
        type=click.IntRange(min=0),
        default=30,
        show_default=True,
        help=f"Warn when {what} expires within this many days.",
    )


def _finish(
    report: Report,
    output: str,
    fail_on: str,
    *,
    json_extra: Callable[[], dict[str, Any]],
    text_head: Callable[[], None],
    show_pass: bool = False,
) -> NoReturn:
    """Print ``report`` in ``output`` (json with ``json_extra()`` merged in; text after
    ``text_head()``, with the summary on stderr) and exit by ``--fail-on``."""

    def text() -> None:
        text_head()
        _emit_findings_text(list(report.findings), show_pass=show_pass)
        click.echo(_summary_line(report), err=True)

    echo_report(report, output, extra=json_extra, text=text)
    sys.exit(exit_code_for(report, fail_on))


@tls.command("inspect")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="A control-plane tree (e.g. / on a control-plane node): reads "
    "etc/kubernetes/manifests/{kube-apiserver,etcd}.yaml, etc/kubernetes/*.conf and etc/kubernetes/pki/.",
)
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--ca",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With FILES: verify every certificate against this CA.",
)
@click.option(
    "--cluster-domain",
    metavar="DOMAIN",
    help="Cluster DNS domain for the API server SAN check "
    "(default: clusterDomain of var/lib/kubelet/config.yaml under --root, else cluster.local).",
)
@_warn_days_option("a certificate")
@click.option(
    "--now", "now_text", metavar="TIME", help="Evaluate validity at this ISO 8601 time instead of now."
)
@click.option("--show-pass", is_flag=True, help="Text output: also list passing checks.")
@output_option()
@fail_on_option
def inspect_cmd(
    *,
    root: Path | None,
    files: tuple[Path, ...],
    ca: Path | None,
    cluster_domain: str | None,
    warn_days: int,
    now_text: str | None,
    show_pass: bool,
    output: str,
    fail_on: str,
) -> None:
    """Check every certificate and key a control plane uses, or the FILES given.

    For each certificate: validity and days left (warn under --warn-days, fail when expired or
    not yet valid), key type and size (RSA >= 2048, EC >= P-256), signature algorithm (no SHA-1
    or MD5), chain to the CA that verifies it, key/certificate pairing, file modes (certificates
    644, keys and kubeconfigs 600, per CIS), and for the API server's serving certificate the
    in-cluster SANs. The table is sorted by expiry.

    \b
    Examples:
      kapsec tls inspect --root /                      # on a control-plane node
      kapsec tls inspect --root / --warn-days 60 -o json
      kapsec tls inspect /etc/kubernetes/pki/apiserver.crt --ca /etc/kubernetes/pki/ca.crt
    """
    from kapsec.tls import inspect as tls_inspect

    if ca is not None:
        try:
            ca.read_bytes()
        except OSError as exc:  # a missing or unreadable CA would only turn into warnings later
            raise InputError(f"cannot read the --ca file: {exc.strerror}", file=str(ca)) from exc
    if (root is None) == (not files):
        raise UsageError("give either --root DIR or FILES (not both, not neither)")
    if ca is not None and root is not None:
        raise UsageError("--ca applies to FILES; with --root the CAs come from the flags")
    now = _parse_now(now_text) or dt.datetime.now(dt.UTC)
    if root is not None:
        plan = tls_inspect.collect_root(root, cluster_domain=cluster_domain)
        target: dict[str, Any] = {"root": str(root)}
    else:
        plan = tls_inspect.collect_files(list(files), ca=ca)
        target = {"files": [str(f) for f in files]}
    result = tls_inspect.run(plan, now=now, warn_days=warn_days)
    report = Report("kapsec", __version__, target | {"command": "tls inspect"}, result.findings)
    _finish(
        report,
        output,
        fail_on,
        json_extra=lambda: {"certificates": [row.to_dict(now) for row in result.rows]},
        text_head=lambda: _inspect_table(result.rows, now),
        show_pass=show_pass,
    )


def _inspect_table(rows: list[Any], now: dt.datetime) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("EXPIRES", "DAYS", "STATUS", "FILE", "SUBJECT", "ISSUER", "KEY", "SIGNATURE"):
        table.add_column(name, no_wrap=True)
    for row in rows:
        facts = row.facts
        file = row.file if row.index == 0 else f"{row.file}[{row.index}]"
        table.add_row(
            facts.not_after.strftime("%Y-%m-%d"),
            str(facts.days_left(now)),
            f"[{_STATUS_STYLE[row.status]}]{row.status.value}[/]",
            escape(file),
            escape(facts.subject_cn),
            escape(facts.issuer_cn),
            facts.key.label,
            facts.signature_algorithm,
        )
    # As wide as the data: a path is never folded or cut (pipe it through `less -S` if needed).
    Console(file=sys.stdout, highlight=False, width=1000).print(table)


@tls.command("probe")
@click.argument("target", metavar="HOST:PORT")
@click.option(
    "--ca",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CA file the served chain must verify with (e.g. the client CA kubeconfigs carry).",
)
@click.option(
    "--cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Certificate file the server should be serving (e.g. the --tls-cert-file on disk).",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="A control-plane tree: compare with its --tls-cert-file and the CA its kubeconfigs trust "
    "(--cert and --ca override).",
)
@click.option(
    "--anonymous",
    is_flag=True,
    help="Also GET /livez, /readyz, /version, /api and /api/v1/namespaces without credentials.",
)
@click.option("--server-name", metavar="NAME", help="SNI name to send (default: HOST when it is a name).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds per connection.",
)
@click.option(
    "--no-ciphers",
    is_flag=True,
    help="Skip cipher-suite enumeration (only the negotiated suite per version).",
)
@_warn_days_option("the served certificate")
@output_option()
@fail_on_option
def probe_cmd(
    *,
    target: str,
    ca: Path | None,
    cert: Path | None,
    root: Path | None,
    anonymous: bool,
    server_name: str | None,
    timeout: float,
    no_ciphers: bool,
    warn_days: int,
    output: str,
    fail_on: str,
) -> None:
    """Connect to HOST:PORT like a client and report what it accepts.

    Protocol versions (TLS 1.0 and 1.1 must be refused), cipher suites per version (weak ones,
    outside the CIS 1.12 allowlist, fail), the served certificate and chain (against --cert and
    --ca), whether a client certificate is requested or required, and with --anonymous the status
    codes of unauthenticated requests.

    \b
    Examples:
      kapsec tls probe 127.0.0.1:6443 --root / --anonymous
      kapsec tls probe cp1.example.com:6443 --ca ca.crt --no-ciphers -o json
      kapsec tls probe 127.0.0.1:2379 --ca /etc/kubernetes/pki/etcd/ca.crt   # etcd
    """
    from kapsec.tls import probe as tls_probe

    for option, path in (("--ca", ca), ("--cert", cert)):
        if path is not None and not path.is_file():
            raise UsageError(f"{option} {path}: no such file")
    parsed = tls_probe.parse_target(target)
    expected = tls_probe.load_on_disk(cert) if cert is not None else None
    trusted = tls_probe.load_on_disk(ca) if ca is not None else None
    if root is not None:
        from_root = _serving_files(root)
        expected = expected or from_root[0]
        trusted = trusted or from_root[1]
    now = dt.datetime.now(dt.UTC)
    result = tls_probe.probe(
        parsed,
        timeout=timeout,
        server_name=server_name,
        anonymous=anonymous,
        ca=trusted,
        enumerate_ciphers=not no_ciphers,
    )
    if not any(result.versions.values()):
        notes = "; ".join(f"{v.value}: {n}" for v, n in result.version_notes.items())
        raise ServiceError(f"{parsed.display}: no TLS handshake succeeded ({notes})")
    found = tls_probe.findings(result, now=now, warn_days=warn_days, expected=expected, ca=trusted)
    report = Report("kapsec", __version__, {"endpoint": parsed.display, "command": "tls probe"}, found)
    _finish(
        report,
        output,
        fail_on,
        json_extra=lambda: {"probe": result.to_dict(now)},
        text_head=lambda: _probe_text(result),
    )


def _serving_files(root: Path) -> tuple[Any, Any]:
    """The serving certificate --tls-cert-file names under ``root`` and the CA clients verify it with."""
    from kapsec.tls import inspect as tls_inspect

    plan = tls_inspect.collect_root(root)
    for target in plan.certs.values():
        if any(ref.flag == "--tls-cert-file" for ref in target.refs):
            expected = _load_source(target.source)
            trusted = _load_source(target.cas[0][0]) if target.cas else None
            return expected, trusted
    raise UsageError(f"--root {root}: the API server manifest names no --tls-cert-file to compare with")


def _load_source(src: Any) -> Any:
    """An inspect ``Source`` (a file, or bytes embedded in a kubeconfig) as probe's ``OnDisk``."""
    from kapsec.tls import probe as tls_probe

    return tls_probe.load_on_disk(src.path or Path(src.display), src.display, src.data)


def _probe_text(result: Any) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    console.print(f"[bold]{escape(result.target.display)}[/]")
    for version, ok in result.versions.items():
        state = "accepted" if ok else "refused" if ok is False else "untested"
        console.print(f"  {version.value:8} {state}")
        for suite in result.suites.get(version, []):
            mark = "ok  " if suite.allowed else "WEAK"
            console.print(f"    {mark} {suite.iana}  [dim]{suite.openssl}[/]")
    for i, cert in enumerate(result.chain):
        console.print(
            f"  chain[{i}] {escape(cert.subject.rfc4514_string())}  "
            f"[dim]issuer {escape(cert.issuer.rfc4514_string())}, until {cert.not_valid_after_utc:%Y-%m-%d}[/]"
        )
    names = f" (CAs: {', '.join(result.client_ca_names)})" if result.client_ca_names else ""
    console.print(f"  client certificate: {result.client_cert.value}{escape(names)}")
    for path, code in result.anonymous.items():
        console.print(f"  anonymous GET {path}: {code}")
