"""The small engine: evaluate each catalog check against a :class:`ScanContext`.

Operators compare typed values (booleans as Go's ParseBool reads them, integers, ordered
sets of list items, the effective admission plugins); a value that cannot be read is a
``warn`` with the reason, never a pass. File checks read ``stat`` of the files on the
scanned filesystem and report ``warn`` when a file is absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from kapsec.checks.catalog import Check, load_catalog
from kapsec.checks.context import Outcome, ScanContext
from kapsec.checks.files import file_mode, file_owner
from kapsec.errors import KapsecError
from kapsec.model.apiserver import FlagValueError
from kapsec.model.findings import Evidence, Finding, Status

Op = Callable[[Check, ScanContext], Outcome]


def _flag_bool(check: Check, ctx: ScanContext) -> Outcome:
    flag, expect = str(check.rule.args["flag"]), bool(check.rule.args["expect"])
    cfg = ctx.config
    value = cfg.get_bool(flag)
    ev = cfg.evidence(flag)
    shown = "true" if value else "false"
    if not cfg.is_set(flag):
        ev = replace(ev, value=f"{shown} (default)")
        where = f"--{flag} is not set; the default for {cfg.version.label} is {shown}"
    else:
        where = f"--{flag} is {shown}"
    if value is expect:
        return Outcome(Status.PASS, where, ev)
    return Outcome(Status.FAIL, f"{where}; expected {'true' if expect else 'false'}", ev)


def _flag_set(check: Check, ctx: ScanContext) -> Outcome:
    flags = [str(f) for f in check.rule.args["flags"]]
    cfg = ctx.config
    missing = [f for f in flags if not cfg.get_str(f)]
    first_set = next((f for f in flags if cfg.get_str(f)), flags[0])
    ev = cfg.evidence(missing[0] if missing else first_set)
    if missing:
        empty = [f for f in missing if cfg.is_set(f)]
        what = ", ".join(f"--{f}" for f in missing)
        detail = " (set to an empty value)" if empty else ""
        return Outcome(Status.FAIL, f"{what} not set{detail}", ev)
    shown = ", ".join(f"--{f}={cfg.get_str(f)}" for f in flags)
    return Outcome(Status.PASS, shown, ev)


def _flag_unset(check: Check, ctx: ScanContext) -> Outcome:
    flag = str(check.rule.args["flag"])
    cfg = ctx.config
    if cfg.is_set(flag):
        return Outcome(Status.FAIL, f"--{flag} is set", cfg.evidence(flag))
    return Outcome(Status.PASS, f"--{flag} is not set", cfg.evidence(flag))


def _flag_int_gte(check: Check, ctx: ScanContext) -> Outcome:
    flag, minimum = str(check.rule.args["flag"]), int(check.rule.args["min"])
    cfg = ctx.config
    ev = cfg.evidence(flag)
    skip_when = check.rule.args.get("skip_when")
    if skip_when and cfg.get_str(str(skip_when["flag"])) == str(skip_when["value"]):
        return Outcome(Status.SKIP, str(skip_when["reason"]), cfg.evidence(str(skip_when["flag"])))
    if not cfg.is_set(flag):
        return Outcome(
            Status.FAIL, f"--{flag} is not set (default {cfg.raw(flag) or '0'}); expected >= {minimum}", ev
        )
    value = cfg.get_int(flag)
    if value >= minimum:
        return Outcome(Status.PASS, f"--{flag} is {value} (>= {minimum})", ev)
    return Outcome(Status.FAIL, f"--{flag} is {value}; expected >= {minimum}", ev)


def _plugin_evidence(ctx: ScanContext, plugin: str) -> Evidence:
    cfg = ctx.config
    for flag in ("disable-admission-plugins", "enable-admission-plugins", "admission-control"):
        if plugin in cfg.get_set(flag):
            return cfg.evidence(flag)
    if cfg.is_set("enable-admission-plugins"):
        return cfg.evidence("enable-admission-plugins")
    return cfg.evidence("enable-admission-plugins")


def _plugin_on(check: Check, ctx: ScanContext) -> Outcome:
    plugin = str(check.rule.args["plugin"])
    cfg = ctx.config
    ev = _plugin_evidence(ctx, plugin)
    active = plugin in cfg.admission_plugins()
    if active:
        how = (
            "enabled"
            if plugin in cfg.get_set("enable-admission-plugins")
            else f"on by default in {cfg.version.label}"
        )
        return Outcome(Status.PASS, f"admission plugin {plugin} is active ({how})", ev)
    if plugin in cfg.get_set("disable-admission-plugins"):
        return Outcome(
            Status.FAIL, f"admission plugin {plugin} is disabled by --disable-admission-plugins", ev
        )
    from kapsec.model import flags as fl

    if not fl.plugin_exists(plugin, cfg.version.minor):
        return Outcome(Status.FAIL, f"admission plugin {plugin} does not exist in {cfg.version.label}", ev)
    if cfg.get_set("admission-control") and not cfg.is_set("enable-admission-plugins"):
        return Outcome(
            Status.FAIL,
            f"admission plugin {plugin} is not in --admission-control (which replaces the defaults)",
            ev,
        )
    return Outcome(Status.FAIL, f"admission plugin {plugin} is not enabled (it is off by default)", ev)


def _plugin_off(check: Check, ctx: ScanContext) -> Outcome:
    plugin = str(check.rule.args["plugin"])
    cfg = ctx.config
    ev = _plugin_evidence(ctx, plugin)
    if plugin in cfg.admission_plugins():
        return Outcome(Status.FAIL, f"admission plugin {plugin} is enabled", ev)
    return Outcome(Status.PASS, f"admission plugin {plugin} is not enabled", ev)


def _authz(check: Check, ctx: ScanContext) -> Outcome:
    from kapsec.checks.predicates import authorizer_types

    mode = str(check.rule.args["mode"])
    want = check.rule.op == "authz_includes"
    types, ev, source = authorizer_types(ctx)
    if types is None:
        return Outcome(Status.WARN, source, ev)
    listing = ",".join(types)
    if (mode in types) is want:
        return Outcome(Status.PASS, f"{source} = {listing}", ev)
    if want:
        return Outcome(Status.FAIL, f"{source} = {listing}: no {mode}", ev)
    return Outcome(Status.FAIL, f"{source} = {listing}: {mode} allows every request", ev)


def _predicate(check: Check, ctx: ScanContext) -> Outcome:
    from kapsec.checks.predicates import PREDICATES

    return PREDICATES[str(check.rule.args["name"])](check, ctx)


OPS: dict[str, Op] = {
    "flag_bool": _flag_bool,
    "flag_set": _flag_set,
    "flag_unset": _flag_unset,
    "flag_int_gte": _flag_int_gte,
    "plugin_on": _plugin_on,
    "plugin_off": _plugin_off,
    "authz_includes": _authz,
    "authz_excludes": _authz,
    "file_mode": file_mode,
    "file_owner": file_owner,
    "predicate": _predicate,
}


def evaluate(check: Check, ctx: ScanContext) -> Finding:
    try:
        outcome = OPS[check.rule.op](check, ctx)
    except FlagValueError as exc:
        outcome = Outcome(
            Status.WARN,
            f"--{exc.flag} cannot be read: {exc} (the API server would refuse to start)",
            Evidence(file=exc.loc.file, line=exc.loc.line, flag=f"--{exc.flag}"),
        )
    except KapsecError as exc:
        outcome = Outcome(Status.WARN, f"could not evaluate: {exc}", Evidence(file=exc.file, line=exc.line))
    except OSError as exc:
        outcome = Outcome(
            Status.WARN, f"could not evaluate: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
        )
    except Exception as exc:  # a bug in one check must not hide the others
        if os.environ.get("KAPSEC_DEBUG"):
            raise
        outcome = Outcome(
            Status.WARN,
            f"could not evaluate (internal error: {type(exc).__name__}: {exc}); please report it",
        )
    if ctx.root:
        outcome = _strip_root(outcome, ctx.root)
    return Finding(
        id=check.id,
        title=check.title,
        status=outcome.status,
        severity=check.severity,
        message=outcome.message,
        benchmarks=dict(check.benchmarks),
        checklist=check.checklist,
        evidence=outcome.evidence,
        remediation=check.remediation,
        fix_safety=check.fix_safety,
        references=check.references,
    )


def _strip_root(outcome: Outcome, root: str) -> Outcome:
    """Show node paths (``/etc/...``) instead of where the copy of the node lives."""
    prefix = os.path.abspath(root).rstrip("/") + "/"
    variants = {prefix, root.rstrip("/") + "/"}

    def strip(text: str | None) -> str | None:
        if text is None:
            return None
        for v in variants:
            text = text.replace(v, "/")
        return text

    ev = outcome.evidence
    return replace(
        outcome,
        message=strip(outcome.message) or "",
        evidence=replace(ev, file=strip(ev.file), value=strip(ev.value), detail=strip(ev.detail)),
    )


def select(
    checks: Sequence[Check],
    *,
    benchmark: str | None = None,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
) -> list[Check]:
    """The checks to run: ``only`` and ``skip`` take kapsec ids, id prefixes (``AUDIT``), aliases
    and CIS ids (``1.2.1`` is the CIS 1.12 id; ``cis-1.8:1.2.16`` names another version's)."""
    only_set = {s.strip().upper() for s in only}
    skip_set = {s.strip().upper() for s in skip}
    out = []
    for c in checks:
        keys = {c.id, *(a.upper() for a in c.aliases)}
        if c.cis:
            keys.add(c.cis)
        keys.update(f"{b}:{i}".upper() for b, i in c.benchmarks.items())
        if only_set and not (keys & only_set or any(c.id.startswith(p + "-") for p in only_set)):
            continue
        if keys & skip_set:
            continue
        if benchmark and benchmark not in c.benchmarks:
            continue
        out.append(c)
    return out


def run(ctx: ScanContext, checks: Sequence[Check] | None = None) -> list[Finding]:
    return [evaluate(c, ctx) for c in (load_catalog() if checks is None else checks)]
