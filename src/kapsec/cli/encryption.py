"""``kapsec encryption``: generate, lint, rotate and verify encryption at rest."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from kapsec import __version__
from kapsec.cli.common import OutputFormat, echo_report, exit_code_for, fail_on_option, output_option
from kapsec.errors import InputError, UsageError
from kapsec.model.findings import Finding, Report

REPORT_FORMATS = tuple(OutputFormat)


def _write_private(path: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte, atomically (dot temp file + rename)."""
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to replace it")
    if path.is_dir():
        raise UsageError(f"{path} is a directory")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError("directory does not exist", file=str(directory))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        os.chmod(path, 0o600)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@click.group()
def encryption() -> None:
    """Encryption at rest: generate a config with a fresh key, lint it with the API server's rules,
    plan a key rotation in the safe order, and verify in etcd what is really encrypted.

    \b
    Exit codes: 0 no failed finding at or above --fail-on (generate/rotate: files written);
                1 failed findings at or above it; 2 usage, input or connection error.
    """


# --- generate ---------------------------------------------------------------------------------


@encryption.command("generate")
@click.option(
    "--provider",
    type=click.Choice(["secretbox", "aescbc", "aesgcm", "kms"]),
    default="secretbox",
    show_default=True,
    help="Write provider: secretbox (recommended local key), aescbc (the guide's; upstream advises "
    "against it), aesgcm (needs automated rotation), kms (a KMS v2 skeleton, no local key).",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (mode 0600). The key is written only there, never printed.",
)
@click.option(
    "--resource",
    "resources",
    multiple=True,
    metavar="RESOURCE",
    help="Resource to encrypt (repeatable; default secrets). E.g. configmaps, '*.apps', '*.' or '*.*'.",
)
@click.option("--key-name", default="key1", show_default=True, help="Name of the new key.")
@click.option(
    "--no-identity",
    is_flag=True,
    help="Do not list identity after the new provider (only for a cluster with no objects yet: "
    "without it, objects written before encryption cannot be read).",
)
@click.option("--kms-name", default="kms-plugin", show_default=True, help="kms: plugin name.")
@click.option(
    "--kms-endpoint",
    default="unix:///var/run/kms-plugin/socket.sock",
    show_default=True,
    help="kms: the plugin's unix socket.",
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@output_option(OutputFormat.TEXT, OutputFormat.JSON)
def generate_cmd(
    *,
    provider: str,
    out: Path,
    resources: Sequence[str],
    key_name: str,
    no_identity: bool,
    kms_name: str,
    kms_endpoint: str,
    force: bool,
    output: str,
) -> None:
    """Write a new EncryptionConfiguration with a fresh random 32-byte key.

    The file is created with mode 0600 (atomically, through a dot-prefixed temporary file) and
    checked with the API server's validation first. The key is never echoed.

    \b
    Examples:
      kapsec encryption generate --out /etc/kubernetes/enc/encryption-config.yaml
      kapsec encryption generate --resource secrets --resource configmaps --out enc.yaml
    """
    from kapsec.encryption.config import EncryptionConfigError
    from kapsec.encryption.generate import generate_config

    try:
        text, *notes = generate_config(
            provider,
            resources=resources or ("secrets",),
            key_name=key_name,
            identity_fallback=not no_identity,
            kms_name=kms_name,
            kms_endpoint=kms_endpoint,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    except EncryptionConfigError as exc:
        raise UsageError(f"the API server would reject this config: {exc.message}") from exc
    _write_private(out, text, force=force)
    resource_list = list(resources or ("secrets",))
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "file": str(out),
                    "mode": "0600",
                    "provider": provider,
                    "keyName": None if provider == "kms" else key_name,
                    "resources": resource_list,
                    "identityFallback": not no_identity,
                    "notes": notes,
                },
                indent=2,
            )
        )
    else:
        what = f"kms v2 plugin {kms_name!r}" if provider == "kms" else f"{provider} key {key_name!r}"
        click.echo(f"wrote {out} (mode 0600): {what} for {', '.join(resource_list)}")
    for note in notes:
        click.echo(f"warning: {note}", err=True)
    click.echo(
        "next: copy it to every control-plane node (e.g. /etc/kubernetes/enc/encryption-config.yaml), "
        "mount its directory read-only into the kube-apiserver pod, add "
        "--encryption-provider-config=<that path>, restart, then rewrite existing objects and run "
        "`kapsec encryption verify`.",
        err=True,
    )


# --- lint -------------------------------------------------------------------------------------


@encryption.command("lint")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--kms-v1-enabled",
    is_flag=True,
    help="The API server runs with --feature-gates=KMSv1=true (otherwise KMS v1 providers are rejected).",
)
@output_option(*REPORT_FORMATS)
@fail_on_option
def lint_cmd(file: Path, kms_v1_enabled: bool, output: str, fail_on: str) -> None:
    """Check an EncryptionConfiguration with the API server's own validation (same messages), then
    flag what the server accepts but should not: identity first, Secrets not covered, aescbc,
    aesgcm without rotation, KMS v1, duplicate resources or key names, the legacy kind, AES-128
    keys, and a file readable by others.

    \b
    Examples:
      kapsec encryption lint /etc/kubernetes/enc/encryption-config.yaml
      kapsec encryption lint enc.yaml --fail-on high -o json
    """
    from kapsec.encryption.config import read_config_text
    from kapsec.encryption.lint import lint_config

    name = str(file)
    text = read_config_text(name)
    mode = os.stat(name).st_mode
    findings = lint_config(text, name, file_mode=mode, kms_v1_enabled=kms_v1_enabled)
    report = Report("kapsec", __version__, {"command": "encryption lint", "file": name}, findings)
    echo_report(report, output)
    click.get_current_context().exit(exit_code_for(report, fail_on))


# --- rotate -----------------------------------------------------------------------------------


@encryption.command("rotate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--provider",
    type=click.Choice(["secretbox", "aesgcm", "aescbc"]),
    default=None,
    help="Move to this provider (default: keep each rule's provider; identity-first rules get secretbox).",
)
@click.option(
    "--rule",
    "rules",
    type=int,
    multiple=True,
    metavar="N",
    help="Rotate only resources[N] (repeatable; default every rule not written by KMS).",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the stage files (default: next to FILE).",
)
@click.option(
    "--target-path",
    default=None,
    metavar="PATH",
    help="The path the API server reads (--encryption-provider-config) on the nodes (default: FILE).",
)
@click.option("--force", is_flag=True, help="Replace stage files that exist.")
@output_option(OutputFormat.TEXT, OutputFormat.JSON)
def rotate_cmd(
    *,
    file: Path,
    provider: str | None,
    rules: Sequence[int],
    out_dir: Path | None,
    target_path: str | None,
    force: bool,
    output: str,
) -> None:
    """Plan a key rotation that cannot lock you out, and write each stage's config (mode 0600).

    \b
    Stage 1: the new key is added second; restart every API server (all can read it).
    Stage 2: the new key is promoted first; restart; rewrite every object; verify; back up etcd.
    Stage 3: the old key is dropped; restart; verify.
    Nothing is applied: kapsec writes FILE's stage files and prints the steps between them.

    \b
    Examples:
      mkdir rotation && kapsec encryption rotate /etc/kubernetes/enc/encryption-config.yaml --out-dir rotation
      kapsec encryption rotate enc.yaml --provider secretbox --rule 0
    """
    from kapsec.encryption.config import load_encryption_config
    from kapsec.encryption.rotate import plan_rotation

    config = load_encryption_config(file)
    directory = out_dir if out_dir is not None else (file.parent if str(file.parent) else Path("."))
    stem = file.name.removesuffix(".yaml").removesuffix(".yml")
    paths = tuple(str(directory / f"{stem}.stage{n}.yaml") for n in (1, 2, 3))
    try:
        plan = plan_rotation(
            config,
            stage_paths=(paths[0], paths[1], paths[2]),
            target_path=target_path or str(file),
            provider=provider,
            rules=rules or None,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    for p in paths:
        if Path(p).exists() and not force:
            raise UsageError(f"{p} exists; pass --force to replace it")
    for stage in plan.stages:
        _write_private(Path(stage.config_path), stage.config_text, force=True)
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "file": str(file),
                    "rotated": [
                        {"rule": r.index, "resources": list(r.resources), "from": r.old, "to": r.new}
                        for r in plan.rotated
                    ],
                    "skipped": list(plan.skipped),
                    "stages": [
                        {
                            "stage": s.number,
                            "title": s.title,
                            "why": s.why,
                            "config": s.config_path,
                            "steps": list(s.steps),
                        }
                        for s in plan.stages
                    ],
                },
                indent=2,
            )
        )
    else:
        lines = [f"Rotation plan for {file}:"]
        lines += [
            f"  resources[{r.index}] ({', '.join(r.resources)}): {r.old} -> {r.new}" for r in plan.rotated
        ]
        lines += [f"  skipped: {s}" for s in plan.skipped]
        for s in plan.stages:
            lines.append("")
            lines.append(f"Stage {s.number}: {s.title}")
            lines.append(f"  config: {s.config_path} (mode 0600)")
            lines.append(f"  why: {s.why}")
            lines += [f"  {i}. {step}" for i, step in enumerate(s.steps, start=1)]
        click.echo("\n".join(lines))


# --- verify -----------------------------------------------------------------------------------


def _connect(urls: Sequence[str], tls: Any, timeout: float) -> Any:
    """The first etcd endpoint that answers ``/version`` (members serve the same data)."""
    from kapsec.encryption.etcd import EtcdReader
    from kapsec.errors import ServiceError

    if not urls:
        raise UsageError("--etcd: no URL given")
    last: ServiceError | None = None
    for url in urls:
        reader = EtcdReader(url, tls, timeout=timeout)
        try:
            reader.version()
        except ServiceError as exc:
            reader.close()
            last = exc
            if len(urls) > 1:
                click.echo(f"kapsec: {exc}; trying the next endpoint", err=True)
            continue
        return reader
    assert last is not None
    raise last


def _text_table(result: Any, source: str) -> str:
    rows = [("resource", "total", "encrypted", "in clear", "unreadable", "not rewritten", "storage")]
    for r in result.resources:
        encrypted = sum(n for label, n in r.by_storage.items() if "/" in label)
        storage = ", ".join(f"{label}: {n}" for label, n in sorted(r.by_storage.items())) or "-"
        rows.append(
            (
                r.target.resource,
                str(r.total),
                str(encrypted),
                str(len(r.in_clear)),
                str(len(r.unreadable)) if result.config else "-",
                str(r.not_write_key) if result.config else "-",
                storage,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    out = [source]
    for row in rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    for r in result.resources:
        for name in r.in_clear:
            out.append(f"in clear: {r.target.resource} {name}")
        for name in r.unreadable:
            out.append(f"unreadable with the config: {r.target.resource} {name}")
    for c in result.checks:
        state = "ok" if c.ok else "NOT PROVEN"
        out.append(f"key {c.label}: {state}: {c.etcd_key}: {c.detail}")
    return "\n".join(out) + "\n"


@encryption.command("verify")
@click.option("--etcd", "etcd_url", metavar="URL", help="etcd client URL, e.g. https://127.0.0.1:2379.")
@click.option(
    "--dump",
    "dumps",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Instead of --etcd: `etcdctl get --prefix /registry/... -w json` output files (repeatable).",
)
@click.option("--cacert", type=click.Path(dir_okay=False), help="CA bundle that signed etcd's serving cert.")
@click.option("--cert", type=click.Path(dir_okay=False), help="Client certificate for etcd.")
@click.option("--key", type=click.Path(dir_okay=False), help="Client key for etcd.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="The API server's EncryptionConfiguration: checks values against it and decrypts one value per key.",
)
@click.option(
    "--resource",
    "resources",
    multiple=True,
    metavar="RESOURCE",
    help="Resource to verify (repeatable; default: secrets, plus every resource --config names), "
    "e.g. configmaps, deployments.apps.",
)
@click.option(
    "--all-resources",
    is_flag=True,
    help="Read everything under --etcd-prefix in one scan and report every resource found (for '*.' / "
    "'*.*' configs); resources the config does not ask to encrypt are reported, not failed.",
)
@click.option(
    "--decrypt-all",
    is_flag=True,
    help="With --config: open every encrypted value, not one sample per key (slower; proves each object).",
)
@click.option("--etcd-prefix", default="/registry", show_default=True, help="The API server's --etcd-prefix.")
@click.option("--page-size", default=5000, show_default=True, help="Keys read per request.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for each etcd answer.")
@output_option(*REPORT_FORMATS)
@fail_on_option
def verify_cmd(
    *,
    etcd_url: str | None,
    dumps: Sequence[str],
    cacert: str | None,
    cert: str | None,
    key: str | None,
    config_file: str | None,
    resources: Sequence[str],
    all_resources: bool,
    decrypt_all: bool,
    etcd_prefix: str,
    page_size: int,
    timeout: float,
    output: str,
    fail_on: str,
) -> None:
    """Read every stored object of the given resources from etcd (read-only, in pages, at one
    revision) and report how each is stored: in clear (protobuf 'k8s\\x00', JSON) or under
    'k8s:enc:<provider>:v1:<key>:'; with --config, also which values the config cannot read,
    which still wait for a rewrite, and proof that each key decrypts a sample to the object its
    etcd key names.

    \b
    Examples:
      kapsec encryption verify --etcd https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt \\
          --cert /etc/kubernetes/pki/apiserver-etcd-client.crt \\
          --key /etc/kubernetes/pki/apiserver-etcd-client.key \\
          --config /etc/kubernetes/enc/encryption-config.yaml
      etcdctl get --prefix /registry/secrets -w json > secrets.json
      kapsec encryption verify --dump secrets.json --config encryption-config.yaml -o json
    """
    from kapsec.encryption.config import load_encryption_config
    from kapsec.encryption.etcd import TLSFiles, read_etcdctl_dump
    from kapsec.encryption.verify import ResourceTarget, VerifyAccumulator, verify_findings

    if bool(etcd_url) == bool(dumps):
        raise UsageError("give exactly one of --etcd URL or --dump FILE")
    if dumps and (cacert or cert or key):
        raise UsageError("--cacert/--cert/--key apply to --etcd only")
    if page_size < 1:
        raise UsageError("--page-size must be at least 1")
    wildcards = [r for r in resources if "*" in r]
    if wildcards:
        raise UsageError(
            f"--resource {wildcards[0]}: give resource names (secrets, configmaps, deployments.apps), not wildcards"
        )
    config = load_encryption_config(config_file) if config_file else None
    if not resources:
        # Secrets, and with --config every resource it names exactly (wildcards need --resource)
        named = [r for rule in config.rules for r in rule.resources if "*" not in r] if config else []
        resources = list(dict.fromkeys(["secrets", *named]))
    targets = [ResourceTarget.parse(r, etcd_prefix) for r in resources]
    if decrypt_all and config is None:
        raise UsageError("--decrypt-all needs --config (the keys)")
    acc = VerifyAccumulator(
        targets, config, discover_prefix=etcd_prefix if all_resources else None, decrypt_all=decrypt_all
    )
    scan_prefixes = [etcd_prefix.rstrip("/") + "/"] if all_resources else [t.prefix for t in targets]
    target: dict[str, Any] = {"command": "encryption verify"}
    if etcd_url:
        reader = _connect(
            [u.strip() for u in etcd_url.split(",") if u.strip()], TLSFiles(cacert, cert, key), timeout
        )
        with reader:
            version = reader.version()
            started = time.perf_counter()
            revision = reader.revision()  # every resource is read at this one revision
            before = acc.seen
            for prefix in scan_prefixes:
                acc.add_all(reader.scan_prefix(prefix.encode(), page_size=page_size, revision=revision))
            elapsed = time.perf_counter() - started
            target |= {"etcd": reader.url, "etcdVersion": version.get("etcdserver"), "revision": revision}
        click.echo(
            f"read {acc.seen - before:,} keys from {reader.url} at revision {revision} in {elapsed:.1f} s",
            err=True,
        )
        source = f"etcd {target['etcd']} (etcd {target['etcdVersion']}, revision {revision})"
    else:
        for d in dumps:
            acc.add_all(read_etcdctl_dump(d))
        target["dumps"] = list(dumps)
        source = f"dumps {', '.join(dumps)}"
    if config_file:
        target["config"] = config_file
        source += f"; config {config_file}"
    result = acc.result()
    target["resources"] = [r.target.resource for r in result.resources]
    findings: list[Finding] = verify_findings(result)
    report = Report("kapsec", __version__, target, findings)
    if output == "text":
        click.echo(_text_table(result, source), nl=False)
        click.echo()
    echo_report(report, output, extra=lambda: {"encryption": result.to_dict()})
    click.get_current_context().exit(exit_code_for(report, fail_on))
