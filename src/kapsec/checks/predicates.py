"""Checks the operator set cannot express, registered by name for the catalog's ``predicate``.

Referenced files are loaded with the owning package's loader (audit policy, encryption
config, admission config, certificates), imported lazily so that ``kapsec scan`` starts fast;
a loader that is missing or fails to read makes the check ``warn`` with the reason.
AuthenticationConfiguration and AuthorizationConfiguration are read here (see
:mod:`kapsec.checks.structured`).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable

from kapsec.checks.catalog import Check
from kapsec.checks.context import EtcdSettings, LoaderFailure, Outcome, Resolved, ScanContext
from kapsec.errors import InputError, KapsecError
from kapsec.model.findings import Evidence, Status
from kapsec.sources.yamlmarks import load_documents, read_text
from kapsec.tls.ciphers import CIS_1_12_ALLOWLIST  # the one copy of the CIS 1.2.29 allowlist

Predicate = Callable[[Check, ScanContext], Outcome]
PREDICATES: dict[str, Predicate] = {}

HEALTH_PATHS = frozenset({"/livez", "/readyz", "/healthz"})

# Files the API server opens at start-up: a missing one stops it.
STARTUP_FILES = (
    "client-ca-file",
    "tls-cert-file",
    "tls-private-key-file",
    "etcd-cafile",
    "etcd-certfile",
    "etcd-keyfile",
    "service-account-signing-key-file",
    "requestheader-client-ca-file",
    "proxy-client-cert-file",
    "proxy-client-key-file",
    "audit-policy-file",
    "encryption-provider-config",
    "admission-control-config-file",
    "authentication-config",
    "authorization-config",
    "token-auth-file",
    "kubelet-certificate-authority",
)


def predicate(name: str) -> Callable[[Predicate], Predicate]:
    def register(fn: Predicate) -> Predicate:
        PREDICATES[name] = fn
        return fn

    return register


def _refusal(exc: KapsecError, ev: Evidence) -> Outcome:
    """A configuration file that failed to load: the server's refusal, or kapsec's own failure."""
    if isinstance(exc, LoaderFailure):
        return Outcome(Status.WARN, f"kapsec could not read it ({exc}); check it by hand", ev)
    return Outcome(Status.FAIL, f"the API server refuses to start: {exc}", ev)


def _file_or_outcome(ctx: ScanContext, flag: str) -> Resolved | Outcome:
    """The file of ``flag`` on the scanned filesystem, or the outcome that says why not."""
    cfg = ctx.config
    r = ctx.flag_file(flag)
    if r is None:
        return Outcome(Status.FAIL, f"--{flag} is not set", cfg.evidence(flag))
    if r.real is None:
        return Outcome(Status.WARN, f"cannot read --{flag}: {r.why}", cfg.evidence(flag))
    if os.path.exists(r.real) and not os.access(r.real, os.R_OK):
        return Outcome(
            Status.WARN,
            f"cannot read --{flag}: permission denied on {r.shown} (run kapsec as root)",
            cfg.evidence(flag),
        )
    return r


# ------------------------------------------------------------------ authentication / authorization


def authorizer_types(ctx: ScanContext) -> tuple[tuple[str, ...] | None, Evidence, str]:
    """The authorizer chain: from --authorization-config when set, else --authorization-mode."""
    cfg = ctx.config
    if cfg.get_str("authorization-config"):
        from kapsec.checks.structured import load_authorization_config

        r = _file_or_outcome(ctx, "authorization-config")
        if isinstance(r, Outcome):
            return None, r.evidence, r.message
        try:
            az = ctx.cached(
                "authz", lambda: load_authorization_config(str(r.real), r.shown, minor=cfg.version.minor)
            )
        except KapsecError as exc:
            return None, cfg.evidence("authorization-config"), _refusal(exc, Evidence()).message
        return (
            az.types,
            cfg.evidence("authorization-config"),
            f"AuthorizationConfiguration {r.shown} authorizers",
        )
    modes = cfg.get_set("authorization-mode")
    ev = cfg.evidence("authorization-mode")
    if not cfg.is_set("authorization-mode"):
        return modes, ev, "--authorization-mode (not set, default)"
    return modes, ev, "--authorization-mode"


def _authn_config(ctx: ScanContext) -> tuple[object | None, Outcome | None]:
    from kapsec.checks.structured import load_authentication_config

    r = _file_or_outcome(ctx, "authentication-config")
    if isinstance(r, Outcome):
        return None, r
    try:
        minor = ctx.config.version.minor
        return ctx.cached(
            "authn", lambda: load_authentication_config(str(r.real), r.shown, minor=minor)
        ), None
    except KapsecError as exc:
        return None, _refusal(exc, ctx.config.evidence("authentication-config"))


def anonymous_conflict(ctx: ScanContext) -> str | None:
    """The start-up error of --anonymous-auth together with an ``anonymous`` stanza."""
    cfg = ctx.config
    if not (cfg.get_str("authentication-config") and cfg.is_set("anonymous-auth")):
        return None
    authn, err = _authn_config(ctx)
    if err is not None or authn is None or getattr(authn, "anonymous", None) is None:
        return None
    return (
        "anonymous: Forbidden: --anonymous-auth flag cannot be set when anonymous field is configured "
        "in authentication configuration file"
    )


@predicate("anonymous_auth")
def anonymous_auth(check: Check, ctx: ScanContext) -> Outcome:
    cfg = ctx.config
    if cfg.get_str("authentication-config"):
        authn, err = _authn_config(ctx)
        if err is not None:
            return err
        anon = getattr(authn, "anonymous", None)
        ev = cfg.evidence("authentication-config")
        if anon is not None:
            conflict = anonymous_conflict(ctx)
            if conflict:
                return Outcome(
                    Status.FAIL,
                    f"the API server refuses to start: {conflict}",
                    cfg.evidence("anonymous-auth"),
                )
            minor = cfg.version.minor
            gate = cfg.feature_enabled("AnonymousAuthConfigurableEndpoints", default=minor >= 32)
            if minor < 31 or not gate:
                return Outcome(
                    Status.FAIL,
                    f"AuthenticationConfiguration.anonymous needs Kubernetes 1.32+ (1.31 with the "
                    f"AnonymousAuthConfigurableEndpoints feature gate); this is {cfg.version.label}",
                    ev,
                )
            if not anon.enabled:
                return Outcome(
                    Status.PASS, "anonymous authentication is disabled by the AuthenticationConfiguration", ev
                )
            if not anon.conditions:
                return Outcome(
                    Status.FAIL,
                    "AuthenticationConfiguration enables anonymous on every path (no conditions)",
                    ev,
                )
            exposed = sorted(
                p for p in anon.conditions if p.startswith("/") and "*" not in p and p not in HEALTH_PATHS
            )
            if exposed:
                return Outcome(
                    Status.FAIL,
                    f"AuthenticationConfiguration allows anonymous requests to {', '.join(exposed)} (beyond health endpoints)",
                    ev,
                )
            inert = sorted(p for p in anon.conditions if not p.startswith("/") or "*" in p)
            note = (
                f"; {', '.join(inert)} match nothing (paths need a leading / and no wildcard)"
                if inert
                else ""
            )
            allowed = ", ".join(sorted(p for p in anon.conditions if p in HEALTH_PATHS))
            return Outcome(Status.PASS, f"anonymous limited to health endpoints: {allowed}{note}", ev)
    value = cfg.get_bool("anonymous-auth")
    ev = cfg.evidence("anonymous-auth")
    if not value:
        return Outcome(Status.PASS, "--anonymous-auth is false", ev)
    where = (
        "--anonymous-auth is true"
        if cfg.is_set("anonymous-auth")
        else "--anonymous-auth is not set (default true)"
    )
    if "AlwaysAllow" in cfg.get_set("authorization-mode") and not cfg.get_str("authorization-config"):
        return Outcome(
            Status.FAIL,
            f"{where}; the server turns it off only while AlwaysAllow authorizes everything (AUTHZ-001), "
            "so it comes back once that is fixed: set it explicitly",
            ev,
        )
    return Outcome(Status.FAIL, f"{where}: unauthenticated requests are served as system:anonymous", ev)


def anonymous_reaches(ctx: ScanContext, path: str) -> tuple[bool | None, str]:
    """Whether an unauthenticated request to ``path`` is authenticated as system:anonymous
    (``None`` when that depends on an AuthenticationConfiguration that cannot be read)."""
    cfg = ctx.config
    bare = path.split("?", 1)[0]
    if cfg.get_str("authentication-config"):
        authn, err = _authn_config(ctx)
        if err is not None:
            return None, err.message
        anon = getattr(authn, "anonymous", None)
        if anon is not None:
            if not anon.enabled:
                return False, "the AuthenticationConfiguration disables anonymous"
            if anon.conditions and bare not in anon.conditions:
                return (
                    False,
                    f"the AuthenticationConfiguration allows anonymous only on {', '.join(anon.conditions)}",
                )
            return True, "the AuthenticationConfiguration allows it"
    if not cfg.get_bool("anonymous-auth"):
        return False, "--anonymous-auth is false"
    if "AlwaysAllow" in cfg.get_set("authorization-mode") and not cfg.get_str("authorization-config"):
        return False, "the server turns anonymous off while AlwaysAllow is an authorizer"
    return True, "anonymous is on"


@predicate("probes_reach_health")
def probes_reach_health(check: Check, ctx: ScanContext) -> Outcome:
    cfg = ctx.config
    if cfg.source != "manifest":
        return Outcome(Status.SKIP, f"no pod spec ({cfg.source}): the probes are not known")
    http = [p for p in cfg.probes if p.handler == "httpGet"]
    if not http:
        return Outcome(Status.PASS, "no HTTP probe on the kube-apiserver container", Evidence(file=cfg.file))
    for p in http:
        reached, why = anonymous_reaches(ctx, p.path or "/")
        if reached is None:
            return Outcome(
                Status.WARN,
                f"whether the {p.kind} probe on {p.path} is answered depends on the AuthenticationConfiguration: {why}",
                ctx.config.evidence("authentication-config"),
            )
        if not reached:
            return Outcome(
                Status.FAIL,
                f"the {p.kind} probe GETs {p.path} without credentials and {why}: it gets 401 and the kubelet "
                "restarts the API server in a loop",
                Evidence(file=cfg.file, line=p.line, detail=f"{p.kind}Probe httpGet {p.path}"),
            )
    paths = ", ".join(sorted({p.path or "/" for p in http}))
    return Outcome(
        Status.PASS,
        f"the probes ({paths}) are answered to anonymous requests",
        Evidence(file=cfg.file, line=http[0].line),
    )


# ------------------------------------------------------------------ flags the server refuses


@predicate("flags_removed")
def flags_removed(check: Check, ctx: ScanContext) -> Outcome:
    cfg = ctx.config
    bad = [p for p in cfg.problems if p.kind in ("removed", "not-yet")]
    if not bad:
        return Outcome(Status.PASS, f"no flag removed from or not yet in kube-apiserver {cfg.version.label}")
    p = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    occ = cfg.last(p.flag or "")
    return Outcome(
        Status.FAIL,
        p.message + more,
        Evidence(file=p.loc.file, line=p.loc.line, flag=f"--{p.flag}", value=occ.value if occ else None),
    )


@predicate("flags_unknown")
def flags_unknown(check: Check, ctx: ScanContext) -> Outcome:
    cfg = ctx.config
    bad = [p for p in cfg.problems if p.kind == "unknown"]
    if not bad:
        return Outcome(Status.PASS, f"every flag is a kube-apiserver {cfg.version.label} flag")
    names = ", ".join(f"--{p.flag}" for p in bad)
    p = bad[0]
    return Outcome(
        Status.WARN,
        f"flags unknown to kapsec for {cfg.version.label}: {names}; if kube-apiserver does not know them "
        "either, it will not start",
        Evidence(file=p.loc.file, line=p.loc.line, flag=f"--{p.flag}"),
    )


def startup_errors(ctx: ScanContext) -> list[tuple[str, Evidence]]:
    cfg = ctx.config
    out: list[tuple[str, Evidence]] = []
    for p in cfg.problems:
        if p.fatal and p.kind not in ("removed", "not-yet"):
            ev = Evidence(file=p.loc.file, line=p.loc.line, flag=f"--{p.flag}" if p.flag else None)
            out.append((p.message, ev))
    conflict = anonymous_conflict(ctx)
    if conflict:
        out.append((conflict, cfg.evidence("anonymous-auth")))
    for flag in STARTUP_FILES:
        value = cfg.get_str(flag) if cfg.is_set(flag) else ""
        if not value:
            continue
        r = ctx.resolve(value)
        if r.real is not None and not os.path.exists(r.real):
            where = f" (looked at {r.shown})" if r.shown != value else ""
            out.append((f"--{flag}: open {value}: no such file or directory{where}", cfg.evidence(flag)))
    for flag in ("service-account-key-file",):
        for value in cfg.get_list(flag):
            r = ctx.resolve(value)
            if r.real is not None and not os.path.exists(r.real):
                out.append((f"--{flag}: open {value}: no such file or directory", cfg.evidence(flag)))
    out.extend(_config_file_errors(ctx))
    return out


def _config_file_warnings(ctx: ScanContext) -> list[tuple[str, Evidence]]:
    out = []
    for flag, loader in _LOADERS:
        r = ctx.flag_file(flag)
        if r is None or r.real is None or not os.path.exists(r.real):
            continue
        _, err = loader(ctx)
        if err is not None and err.status is Status.WARN and err.message.startswith("kapsec could not read"):
            out.append((f"--{flag} {r.shown}: {err.message}", err.evidence))
    return out


def _unmounted_files(ctx: ScanContext) -> list[tuple[str, str]]:
    cfg = ctx.config
    if cfg.source != "manifest":
        return []
    out = []
    for flag in STARTUP_FILES:
        value = cfg.get_str(flag) if cfg.is_set(flag) else ""
        if value.startswith("/") and cfg.host_path(value) is None:
            out.append((flag, value))
    return out


def _config_file_errors(ctx: ScanContext) -> list[tuple[str, Evidence]]:
    """Configuration files that exist but that the API server would refuse to load."""
    out: list[tuple[str, Evidence]] = []
    for flag, loader in _LOADERS:
        r = ctx.flag_file(flag)
        if r is None or r.real is None or not os.path.exists(r.real):
            continue
        _, err = loader(ctx)
        if err is not None and err.status is Status.FAIL:
            out.append((err.message.removeprefix("the API server refuses to start: "), err.evidence))
    r = ctx.flag_file("authorization-config")
    if r is not None and r.real is not None and os.path.exists(r.real):
        types, ev, how = authorizer_types(ctx)
        if types is None:
            out.append((how, ev))
    adm = ctx.flag_file("admission-control-config-file")
    if "EventRateLimit" in ctx.config.admission_plugins() and adm is not None and adm.real is not None:
        ac, err = _admission(ctx)
        plugins = getattr(ac, "plugins", {}) if err is None else {}
        if "EventRateLimit" in plugins:
            errors = event_rate_limit_errors(ctx, plugins["EventRateLimit"], adm)
            if errors:
                out.append(
                    (
                        f'admission plugin "EventRateLimit" ({adm.shown}): [{", ".join(errors)}]',
                        ctx.config.evidence("admission-control-config-file"),
                    )
                )
    return out


def _admission_resolver(ctx: ScanContext) -> Callable[[str], str]:
    """Where a ``path:`` inside the AdmissionConfiguration is read: the API server resolves it in
    its container (relative to the AdmissionConfiguration's folder), so kapsec maps it through
    the pod's mounts and under --root like any flag's file, never to this machine's own files."""

    def resolve(written: str) -> str:
        container_dir = posixpath.dirname(ctx.config.get_str("admission-control-config-file"))
        path = (
            written if written.startswith("/") else posixpath.normpath(posixpath.join(container_dir, written))
        )
        r = ctx.resolve(path)
        if r.real is not None:
            return r.real
        if path.startswith("/") and ctx.config.host_path(path) is not None:
            raise LoaderFailure(f"its path {written}: {r.why}")  # on another machine: cannot tell
        raise InputError(
            f"its path {written}: {r.why}", file=ctx.config.get_str("admission-control-config-file")
        )

    return resolve


def _admission(ctx: ScanContext) -> tuple[object | None, Outcome | None]:
    cfg = ctx.config
    r = _file_or_outcome(ctx, "admission-control-config-file")
    if isinstance(r, Outcome):
        return None, r
    try:
        from kapsec.pss.admission import load_admission_config
    except ImportError:
        return None, Outcome(
            Status.WARN,
            "cannot read the admission configuration in this build",
            cfg.evidence("admission-control-config-file"),
        )
    try:
        return ctx.cached(
            "admission", lambda: load_admission_config(str(r.real), resolve=_admission_resolver(ctx))
        ), None
    except KapsecError as exc:
        return None, _refusal(exc, cfg.evidence("admission-control-config-file"))


@predicate("startup_errors")
def startup_errors_check(check: Check, ctx: ScanContext) -> Outcome:
    errors = startup_errors(ctx)
    if not errors:
        unread = _config_file_warnings(ctx)
        if unread:
            msg, ev = unread[0]
            return Outcome(Status.WARN, msg, ev)
        unmounted = _unmounted_files(ctx)
        if unmounted:
            names = ", ".join(f"--{flag}={value}" for flag, value in unmounted)
            return Outcome(
                Status.WARN,
                f"not on any hostPath volume of the pod, so the API server finds them only if its image has them: {names}",
                ctx.config.evidence(unmounted[0][0]),
            )
        return Outcome(Status.PASS, "no start-up error found in the flags and the files they name")
    msg, ev = errors[0]
    more = (
        f" (and {len(errors) - 1} more: " + "; ".join(m for m, _ in errors[1:4]) + ")"
        if len(errors) > 1
        else ""
    )
    return Outcome(Status.FAIL, f"the API server would refuse to start: {msg}{more}", ev)


# ------------------------------------------------------------------ admission


def event_rate_limit_errors(ctx: ScanContext, entry: object, admission_file: Resolved) -> list[str]:
    """Validation errors of the EventRateLimit entry of the AdmissionConfiguration (inline or ``path:``)."""
    from kapsec.checks.structured import validate_event_rate_limit

    config = entry
    if isinstance(entry, dict) and set(entry) == {"path"}:
        ref = str(entry["path"] or "")
        container_dir = posixpath.dirname(ctx.config.get_str("admission-control-config-file"))
        target = ctx.resolve(ref if ref.startswith("/") else posixpath.join(container_dir, ref))
        if target.real is None:
            return [f"its path {ref}: {target.why}"]
        try:
            docs = load_documents(read_text(target.real, target.shown), target.shown)
        except KapsecError as exc:
            return [str(exc)]
        config = docs[0] if docs else None
    return validate_event_rate_limit(config)


@predicate("event_rate_limit")
def event_rate_limit(check: Check, ctx: ScanContext) -> Outcome:
    cfg = ctx.config
    if "EventRateLimit" not in cfg.admission_plugins():
        return Outcome(
            Status.FAIL,
            "admission plugin EventRateLimit is not enabled",
            cfg.evidence("enable-admission-plugins"),
        )
    r = _file_or_outcome(ctx, "admission-control-config-file")
    if isinstance(r, Outcome):
        if r.status is Status.FAIL:
            return Outcome(
                Status.FAIL,
                "EventRateLimit is enabled but --admission-control-config-file (its limits) is not set",
                r.evidence,
            )
        return r
    try:
        from kapsec.pss.admission import load_admission_config
    except ImportError:
        return Outcome(
            Status.WARN,
            "cannot read the admission configuration in this build",
            cfg.evidence("admission-control-config-file"),
        )
    try:
        ac = ctx.cached(
            "admission", lambda: load_admission_config(str(r.real), resolve=_admission_resolver(ctx))
        )
    except KapsecError as exc:
        if isinstance(exc, LoaderFailure):
            return _refusal(exc, cfg.evidence("admission-control-config-file"))
        return Outcome(
            Status.FAIL,
            f"admission configuration rejected: {exc}",
            cfg.evidence("admission-control-config-file"),
        )
    if "EventRateLimit" in ac.plugins:
        errors = event_rate_limit_errors(ctx, ac.plugins["EventRateLimit"], r)
        if errors:
            return Outcome(
                Status.FAIL,
                f"the EventRateLimit configuration in {r.shown} is invalid: {'; '.join(errors)}",
                cfg.evidence("admission-control-config-file"),
            )
        return Outcome(
            Status.PASS,
            f"EventRateLimit is enabled and configured in {r.shown}",
            cfg.evidence("admission-control-config-file"),
        )
    return Outcome(
        Status.FAIL,
        f"EventRateLimit is enabled but {r.shown} has no EventRateLimit configuration",
        cfg.evidence("admission-control-config-file"),
    )


@predicate("privileged_restricted")
def privileged_restricted(check: Check, ctx: ScanContext) -> Outcome:
    cfg = ctx.config
    if not cfg.get_bool("allow-privileged"):
        how = "false" if cfg.is_set("allow-privileged") else "not set (default false)"
        return Outcome(
            Status.PASS,
            f"--allow-privileged is {how}: privileged containers are refused",
            cfg.evidence("allow-privileged"),
        )
    if "PodSecurity" in cfg.admission_plugins() and cfg.get_str("admission-control-config-file"):
        ac, err = _admission(ctx)
        if err is not None:
            return Outcome(
                Status.WARN,
                f"--allow-privileged is true and the PodSecurity defaults cannot be judged: {err.message}",
                err.evidence,
            )
        ps = getattr(ac, "pod_security", None)
        level = getattr(getattr(getattr(ps, "defaults", None), "enforce", None), "level", None)
        level_name = getattr(level, "value", str(level)) if level is not None else None
        if level_name in ("baseline", "restricted"):
            return Outcome(
                Status.PASS,
                f"--allow-privileged is true, but PodSecurity enforces {level_name} by default "
                "(privileged pods refused outside exempt namespaces)",
                cfg.evidence("admission-control-config-file"),
            )
    return Outcome(
        Status.FAIL,
        "--allow-privileged is true and PodSecurity enforces no baseline/restricted default: "
        "any namespace may run privileged pods",
        cfg.evidence("allow-privileged"),
    )


# ------------------------------------------------------------------ misc API server


@predicate("request_timeout")
def request_timeout(check: Check, ctx: ScanContext) -> Outcome:
    cfg = ctx.config
    ev = cfg.evidence("request-timeout")
    if not cfg.is_set("request-timeout"):
        return Outcome(Status.PASS, "--request-timeout is not set (default 1m0s)", ev)
    ns = cfg.get_duration_ns("request-timeout")
    if ns <= 0:
        return Outcome(
            Status.FAIL, f"--request-timeout is {cfg.get_str('request-timeout')}: requests never time out", ev
        )
    return Outcome(Status.PASS, f"--request-timeout is {cfg.get_str('request-timeout')}", ev)


# ------------------------------------------------------------------ TLS


@predicate("strong_ciphers")
def strong_ciphers(check: Check, ctx: ScanContext) -> Outcome:
    cfg = ctx.config
    ev = cfg.evidence("tls-cipher-suites")
    if cfg.get_str("tls-min-version") == "VersionTLS13":
        return Outcome(
            Status.PASS,
            "--tls-min-version=VersionTLS13: only TLS 1.3 suites, all strong, can be negotiated",
            cfg.evidence("tls-min-version"),
        )
    suites = [s for s in cfg.get_list("tls-cipher-suites") if s]
    if not suites:
        return Outcome(
            Status.FAIL,
            "--tls-cipher-suites is not set: Go's default TLS 1.2 suites include ECDHE CBC suites outside the CIS 1.12 allowlist",
            ev,
        )
    weak = [s for s in suites if s not in CIS_1_12_ALLOWLIST]
    if weak:
        return Outcome(Status.FAIL, f"suites outside the CIS 1.12 allowlist: {', '.join(weak)}", ev)
    return Outcome(Status.PASS, f"all {len(suites)} suites are in the CIS 1.12 allowlist", ev)


@predicate("tls_min_version")
def tls_min_version(check: Check, ctx: ScanContext) -> Outcome:
    cfg = ctx.config
    ev = cfg.evidence("tls-min-version")
    v = cfg.get_str("tls-min-version")
    if not v:
        if cfg.version.minor >= 30:
            return Outcome(
                Status.PASS,
                f"--tls-min-version is not set; {cfg.version.label} is built with Go 1.22+, whose servers default to TLS 1.2",
                ev,
            )
        return Outcome(
            Status.FAIL,
            f"--tls-min-version is not set; {cfg.version.label} (Go before 1.22) accepts TLS 1.0 by default",
            ev,
        )
    if v in ("VersionTLS12", "VersionTLS13"):
        return Outcome(Status.PASS, f"--tls-min-version is {v}", ev)
    return Outcome(Status.FAIL, f"--tls-min-version is {v}: TLS 1.0/1.1 handshakes are accepted", ev)


_CERT_SETS = (
    ("serving", "tls-cert-file", "tls-private-key-file", None),
    ("kubelet client", "kubelet-client-certificate", "kubelet-client-key", None),
    ("etcd client", "etcd-certfile", "etcd-keyfile", None),  # its CA is etcd's: ETCD-004
    ("front-proxy client", "proxy-client-cert-file", "proxy-client-key-file", "requestheader-client-ca-file"),
    ("client CA", "client-ca-file", None, None),
    ("etcd CA", "etcd-cafile", None, None),
    ("kubelet CA", "kubelet-certificate-authority", None, None),
    ("front-proxy CA", "requestheader-client-ca-file", None, None),
)


def _certificate_status(ctx: ScanContext, cert: str, **kwargs: str | None) -> tuple[Status, str, str | None]:
    """``kapsec.tls.inspect.certificate_status`` of one file, without its expiry warning, plus
    that warning when the certificate expires within 30 days (told apart from its "could not
    read" warning by asking again with the warning turned off)."""
    from kapsec.tls.inspect import certificate_status

    status, reason = certificate_status(cert, now=ctx.now, warn_days=EXPIRY_DAYS, **kwargs)
    if status is not Status.WARN:
        return status, reason, None
    again, reason_without = certificate_status(cert, now=ctx.now, warn_days=0, **kwargs)
    if again is Status.WARN:  # unreadable: a warning whatever the date
        return again, reason_without, None
    return again, reason_without, reason


EXPIRY_DAYS = 30  # the checklist's "not expiring within 30 days"; kubeadm warns as early


@predicate("tls_certificates")
def tls_certificates(check: Check, ctx: ScanContext) -> Outcome:
    """TLS-004: every certificate the flags name is valid now and for 30 more days, matches its
    key and chains to its CA. In scan, warn means "could not evaluate", so a certificate inside
    the 30-day horizon fails (``kapsec tls inspect`` keeps its own warning for it)."""
    cfg = ctx.config
    try:
        import kapsec.tls.inspect  # noqa: F401
    except ImportError:
        return Outcome(Status.WARN, "certificate inspection is not available in this build")
    results: list[tuple[Status, str, Evidence]] = []
    for label, cert_flag, key_flag, ca_flag in _CERT_SETS:
        cert = ctx.flag_file(cert_flag)
        if cert is None:
            continue
        ev = cfg.evidence(cert_flag)
        if cert.real is None:
            results.append((Status.WARN, f"{label} certificate: {cert.why}", ev))
            continue
        key = ctx.flag_file(key_flag) if key_flag else None
        ca = ctx.flag_file(ca_flag) if ca_flag else None
        status, reason, soon = _certificate_status(
            ctx,
            cert.real,
            key_path=key.real if key is not None else None,
            ca_path=ca.real if ca is not None else None,
        )
        if status is Status.PASS and soon is not None:
            status, reason = Status.FAIL, f"{soon}, within {EXPIRY_DAYS} days"
        results.append((status, f"{label} certificate {cert.shown}: {reason}", ev))
    if not results:
        return Outcome(
            Status.FAIL,
            "no certificate flag is set (--tls-cert-file, --client-ca-file, ...)",
            cfg.evidence("tls-cert-file"),
        )
    for wanted in (Status.FAIL, Status.WARN):
        bad = [r for r in results if r[0] is wanted]
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            return Outcome(wanted, bad[0][1] + more, bad[0][2])
    return Outcome(
        Status.PASS,
        f"{len(results)} certificates valid for at least {EXPIRY_DAYS} more days, with matching keys and CAs",
        results[0][2],
    )


# ------------------------------------------------------------------ the API server and etcd


def _etcd_peer(ctx: ScanContext) -> EtcdSettings | Outcome:
    """etcd's settings, or the outcome that says why the check cannot be made."""
    cfg = ctx.config
    servers = [s for s in cfg.get_list("etcd-servers") if s]
    if servers and all(s.lower().startswith("unix:") for s in servers):
        return Outcome(
            Status.SKIP,
            f"etcd is reached over a local unix socket ({', '.join(servers)}): no TLS between them",
            cfg.evidence("etcd-servers"),
        )
    settings = ctx.etcd_settings()
    if isinstance(settings, str):
        return Outcome(
            Status.WARN, f"etcd's settings are not known: {settings}", cfg.evidence("etcd-servers")
        )
    return settings


def _not_here(ctx: ScanContext) -> str:
    if ctx.files_authoritative:
        return "not on the node"
    return "not on this machine (scan the node, or give --root with a copy of its files)"


@predicate("etcd_client_trusted")
def etcd_client_trusted(check: Check, ctx: ScanContext) -> Outcome:
    """The API server's etcd client certificate chains to the CA etcd verifies clients with."""
    cfg = ctx.config
    etcd = _etcd_peer(ctx)
    if isinstance(etcd, Outcome):
        return etcd
    r = _file_or_outcome(ctx, "etcd-certfile")
    if isinstance(r, Outcome):
        if r.status is Status.FAIL:
            return Outcome(
                Status.FAIL,
                "--etcd-certfile is not set: the API server shows etcd no client certificate",
                r.evidence,
            )
        return r
    ev = cfg.evidence("etcd-certfile")
    trusted = etcd.get("trusted-ca-file")
    auth = etcd.get("client-cert-auth")
    if trusted is None:
        if auth is not None and auth.value.lower() in ("true", "1", "t"):
            return Outcome(
                Status.WARN,
                f"etcd ({etcd.file}) requires client certificates but names no --trusted-ca-file: it verifies them "
                "against the system's root CAs, which kapsec does not read",
                etcd.evidence("client-cert-auth"),
            )
        return Outcome(
            Status.FAIL,
            f"etcd ({etcd.file}) sets neither --trusted-ca-file nor --client-cert-auth: it accepts any client, "
            "certificate or not, and anyone who reaches it reads every object",
            etcd.evidence("trusted-ca-file"),
        )
    ca_real = ctx.node_real(trusted.value)
    if not os.path.exists(ca_real):
        return Outcome(
            Status.WARN,
            f"etcd's --trusted-ca-file {trusted.value} ({etcd.file}) is {_not_here(ctx)}",
            etcd.evidence("trusted-ca-file"),
        )
    status, reason, _ = _certificate_status(ctx, str(r.real), ca_path=ca_real)
    where = f"etcd's --trusted-ca-file {trusted.value} ({etcd.file}" + (
        f":{trusted.line})" if trusted.line else ")"
    )
    if status is Status.PASS:
        return Outcome(Status.PASS, f"{r.shown} is verified by {where}", ev)
    if status is Status.FAIL and reason.startswith("not signed by CA "):
        why = reason.split(": ", 1)[1] if ": " in reason else reason
        return Outcome(
            Status.FAIL,
            f"etcd rejects the API server's client certificate {r.shown}: not verified by {where}: {why}",
            ev,
        )
    return Outcome(status, f"the API server's etcd client certificate {r.shown}: {reason}", ev)


@predicate("etcd_server_trusted")
def etcd_server_trusted(check: Check, ctx: ScanContext) -> Outcome:
    """etcd's serving certificate chains to the API server's --etcd-cafile."""
    cfg = ctx.config
    etcd = _etcd_peer(ctx)
    if isinstance(etcd, Outcome):
        return etcd
    r = _file_or_outcome(ctx, "etcd-cafile")
    if isinstance(r, Outcome):
        if r.status is Status.FAIL:
            return Outcome(
                Status.FAIL, "--etcd-cafile is not set: the API server cannot verify etcd", r.evidence
            )
        return r
    ev = cfg.evidence("etcd-cafile")
    served = etcd.get("cert-file")
    if served is None:
        return Outcome(
            Status.FAIL,
            f"etcd ({etcd.file}) sets no --cert-file: it serves no TLS, so the API server's https connection fails",
            etcd.evidence("cert-file"),
        )
    cert_real = ctx.node_real(served.value)
    if not os.path.exists(cert_real):
        return Outcome(
            Status.WARN,
            f"etcd's --cert-file {served.value} ({etcd.file}) is {_not_here(ctx)}",
            etcd.evidence("cert-file"),
        )
    status, reason, _ = _certificate_status(ctx, cert_real, ca_path=str(r.real))
    if status is Status.PASS:
        return Outcome(Status.PASS, f"etcd's --cert-file {served.value} is verified by {r.shown}", ev)
    if status is Status.FAIL and reason.startswith("not signed by CA "):
        why = reason.split(": ", 1)[1] if ": " in reason else reason
        return Outcome(
            Status.FAIL,
            f"the API server rejects etcd's serving certificate {served.value} ({etcd.file}): "
            f"not verified by --etcd-cafile {r.shown}: {why}",
            ev,
        )
    return Outcome(status, f"etcd's serving certificate {served.value}: {reason}", etcd.evidence("cert-file"))


@predicate("etcd_tls")
def etcd_tls(check: Check, ctx: ScanContext) -> Outcome:
    cfg = ctx.config
    servers = [s for s in cfg.get_list("etcd-servers") if s]
    ev = cfg.evidence("etcd-servers")
    if not servers:
        return Outcome(Status.FAIL, "--etcd-servers is not set", ev)
    plain = [s for s in servers if s.lower().startswith("http://")]
    if plain:
        return Outcome(Status.FAIL, f"etcd reached over plain HTTP: {', '.join(plain)}", ev)
    if all(s.lower().startswith("unix:") for s in servers):
        return Outcome(
            Status.PASS, f"etcd reached over a local unix socket ({', '.join(servers)}), not the network", ev
        )
    missing = [f"--{f}" for f in ("etcd-certfile", "etcd-keyfile", "etcd-cafile") if not cfg.get_str(f)]
    if missing:
        return Outcome(
            Status.FAIL, f"etcd over https but {', '.join(missing)} not set", cfg.evidence(missing[0][2:])
        )
    return Outcome(
        Status.PASS, f"etcd over TLS ({', '.join(servers)}) with client certificate, key and CA", ev
    )


# ------------------------------------------------------------------ encryption at rest


def _encryption(ctx: ScanContext) -> tuple[object | None, Outcome | None]:
    cfg = ctx.config
    r = _file_or_outcome(ctx, "encryption-provider-config")
    if isinstance(r, Outcome):
        return None, r
    try:
        from kapsec.encryption.config import load_encryption_config
    except ImportError:
        return None, Outcome(
            Status.WARN,
            "cannot read EncryptionConfiguration in this build",
            cfg.evidence("encryption-provider-config"),
        )
    minor = cfg.version.minor
    kms_v1 = cfg.feature_enabled("KMSv1", default=minor < 29)
    reload = cfg.get_bool("encryption-provider-config-automatic-reload")
    try:
        ec = ctx.cached(
            "encryption", lambda: load_encryption_config(str(r.real), reload=reload, kms_v1_enabled=kms_v1)
        )
    except KapsecError as exc:
        return None, _refusal(exc, cfg.evidence("encryption-provider-config"))
    return ec, None


@predicate("encryption_config")
def encryption_config(check: Check, ctx: ScanContext) -> Outcome:
    _, err = _encryption(ctx)
    if err is not None:
        return err
    r = ctx.flag_file("encryption-provider-config")
    assert r is not None
    return Outcome(
        Status.PASS,
        f"EncryptionConfiguration {r.shown} is valid",
        ctx.config.evidence("encryption-provider-config"),
    )


@predicate("encryption_secrets")
def encryption_secrets(check: Check, ctx: ScanContext) -> Outcome:
    ec, err = _encryption(ctx)
    if err is not None:
        return err
    ev = ctx.config.evidence("encryption-provider-config")
    provider = getattr(ec, "provider_for")("secrets", "")  # noqa: B009 - EncryptionConfig, imported lazily
    if provider is None:
        return Outcome(Status.FAIL, "no resources entry covers secrets: Secrets are stored in clear", ev)
    if provider == "identity":
        return Outcome(
            Status.FAIL, "the first provider for secrets is identity: new Secrets are written in clear", ev
        )
    note = (
        " (upstream recommends aesgcm/secretbox/kms over aescbc: CBC is open to padding-oracle attacks)"
        if provider == "aescbc"
        else ""
    )
    return Outcome(Status.PASS, f"Secrets are written with {provider}{note}", ev)


# ------------------------------------------------------------------ audit


def _policy(ctx: ScanContext) -> tuple[object | None, Outcome | None]:
    cfg = ctx.config
    r = ctx.flag_file("audit-policy-file")
    if r is None:
        return None, Outcome(
            Status.FAIL,
            "--audit-policy-file is not set: no audit events are recorded",
            cfg.evidence("audit-policy-file"),
        )
    if r.real is None:
        return None, Outcome(
            Status.WARN, f"cannot read --audit-policy-file: {r.why}", cfg.evidence("audit-policy-file")
        )
    try:
        from kapsec.auditpolicy import load_policy_file
    except ImportError:
        return None, Outcome(
            Status.WARN, "cannot read audit policies in this build", cfg.evidence("audit-policy-file")
        )
    try:
        return ctx.cached("policy", lambda: load_policy_file(str(r.real))), None
    except KapsecError as exc:
        return None, _refusal(exc, cfg.evidence("audit-policy-file"))


@predicate("audit_policy_valid")
def audit_policy_valid(check: Check, ctx: ScanContext) -> Outcome:
    policy, err = _policy(ctx)
    if err is not None:
        return err
    ev = ctx.config.evidence("audit-policy-file")
    rules = getattr(policy, "rules", ())
    if all(getattr(r, "level", "") == "None" for r in rules):
        return Outcome(Status.FAIL, "the audit policy logs nothing (every rule is level None)", ev)
    if not ctx.config.get_str("audit-log-path") and not ctx.config.get_str("audit-webhook-config-file"):
        return Outcome(
            Status.FAIL,
            "the audit policy is valid but no backend is set (--audit-log-path or --audit-webhook-config-file)",
            ev,
        )
    return Outcome(Status.PASS, f"valid audit policy with {len(rules)} rules", ev)


_SENSITIVE = (("", "secrets"), ("", "configmaps"), ("authentication.k8s.io", "tokenreviews"))
_MUST_LOG = (
    ("create", "", "pods", "exec"),
    ("create", "", "pods", "attach"),
    ("create", "", "pods", "portforward"),
    ("get", "", "pods", "proxy"),
    ("get", "", "services", "proxy"),
    ("create", "", "pods", ""),
    ("delete", "", "pods", ""),
    ("create", "apps", "deployments", ""),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings", ""),
)


@predicate("audit_policy_coverage")
def audit_policy_coverage(check: Check, ctx: ScanContext) -> Outcome:
    policy, err = _policy(ctx)
    if err is not None:
        return err
    from kapsec.auditpolicy import evaluate
    from kapsec.model.request import RequestAttributes

    ev = ctx.config.evidence("audit-policy-file")
    problems: list[str] = []

    def req(verb: str, group: str, resource: str, sub: str) -> RequestAttributes:
        return RequestAttributes(
            user="someone",
            groups=("system:authenticated",),
            verb=verb,
            resource_request=True,
            namespace="default",
            api_group=group,
            api_version="v1",
            resource=resource,
            subresource=sub,
        )

    for group, resource in _SENSITIVE:
        for verb in ("get", "create", "update"):
            level = evaluate(policy, req(verb, group, resource, "")).level  # type: ignore[arg-type]
            # A get has no request body: only its response (at RequestResponse) carries the
            # contents. Writes carry them in the request body from Request on.
            leaking = ("RequestResponse",) if verb == "get" else ("Request", "RequestResponse")
            if level in leaking:
                problems.append(f"{verb} {resource} logged at {level} (writes their contents into the log)")
                break
            if level == "None":
                problems.append(f"{verb} {resource} not logged")
                break
    for verb, group, resource, sub in _MUST_LOG:
        level = evaluate(policy, req(verb, group, resource, sub)).level  # type: ignore[arg-type]
        if level == "None":
            what = f"{resource}/{sub}" if sub else resource
            problems.append(f"{verb} {what} not logged")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Outcome(Status.FAIL, problems[0] + more, ev)
    return Outcome(
        Status.PASS,
        "no Secret, ConfigMap or TokenReview contents logged; exec/attach/port-forward/proxy, pod and RBAC changes logged",
        ev,
    )


@predicate("audit_log_mount")
def audit_log_mount(check: Check, ctx: ScanContext) -> Outcome:
    cfg = ctx.config
    path = cfg.get_str("audit-log-path")
    ev = cfg.evidence("audit-log-path")
    if not path:
        return Outcome(Status.FAIL, "--audit-log-path is not set", ev)
    if path == "-":
        return Outcome(
            Status.WARN,
            "audit events go to standard output: kept only as long as the container log; rotation flags do not apply",
            ev,
        )
    if cfg.source not in ("manifest", "kubeadm-config"):
        return Outcome(Status.SKIP, f"not a static pod ({cfg.source}): {path} is on the host itself", ev)
    hit = cfg.mount_for(path)
    if hit is None:
        return Outcome(
            Status.FAIL,
            f"{path} is on no volume: the log stays inside the container and is lost when it restarts",
            ev,
        )
    mount, vol = hit
    mev = Evidence(
        file=ev.file,
        line=mount.line or ev.line,
        flag="--audit-log-path",
        value=path,
        detail=f"volumeMount {mount.name} at {mount.mount_path}",
    )
    if vol.kind != "hostPath" or not vol.host_path:
        what = f"a {vol.kind} volume" if vol.kind != "hostPath" else "a hostPath volume without a path"
        return Outcome(Status.FAIL, f"{path} is on {what} ({vol.name}), not on the node's disk", mev)
    if mount.mount_path.rstrip("/") == path.rstrip("/") or (vol.host_path_type or "") in (
        "File",
        "FileOrCreate",
    ):
        return Outcome(
            Status.FAIL,
            f"the log file itself is mounted ({mount.mount_path}): rotated backups are written beside it inside the container and lost on restart; mount its directory",
            mev,
        )
    if mount.read_only:
        return Outcome(
            Status.FAIL, f"{mount.mount_path} is mounted read-only: the API server cannot write {path}", mev
        )
    return Outcome(Status.PASS, f"{path} is in the directory mounted from {vol.host_path}", mev)


# ------------------------------------------------------------------ live-cluster checklist items


def _snapshot_status(ctx: ScanContext, module: str, what: str, **kwargs: object) -> Outcome:
    if not ctx.snapshot:
        return Outcome(Status.WARN, f"{what} needs a live cluster or --snapshot FILE (kapsec snapshot)")
    import importlib

    try:
        mod = importlib.import_module(module)
        status_fn = mod.checklist_status
    except (ImportError, AttributeError):
        return Outcome(Status.WARN, f"{what}: not available in this build", Evidence(file=ctx.snapshot))
    from kapsec.sources.objects import load_paths

    snapshot = ctx.snapshot
    loaded = ctx.cached("snapshot", lambda: load_paths([snapshot]))
    status, reason = status_fn(loaded, **kwargs)
    return Outcome(status, reason, Evidence(file=ctx.snapshot))


@predicate("network_policies")
def network_policies(check: Check, ctx: ScanContext) -> Outcome:
    return _snapshot_status(ctx, "kapsec.netpol", "network policy coverage")


@predicate("pod_security_standards")
def pod_security_standards(check: Check, ctx: ScanContext) -> Outcome:
    cfg = ctx.config
    if "PodSecurity" not in cfg.admission_plugins():
        return Outcome(
            Status.FAIL,
            "the PodSecurity admission plugin is not active: pod-security.kubernetes.io labels are ignored",
            cfg.evidence(
                "disable-admission-plugins"
                if cfg.is_set("disable-admission-plugins")
                else "enable-admission-plugins"
            ),
        )
    kwargs: dict[str, object] = {}
    if cfg.get_str("admission-control-config-file"):
        ac, err = _admission(ctx)
        if err is not None:
            return Outcome(
                Status.WARN, f"the PodSecurity defaults cannot be read: {err.message}", err.evidence
            )
        if getattr(ac, "pod_security", None) is not None:
            kwargs["config"] = getattr(ac, "pod_security")  # noqa: B009
    return _snapshot_status(ctx, "kapsec.pss", "Pod Security Standards enforcement", **kwargs)


_LOADERS: tuple[tuple[str, Callable[[ScanContext], tuple[object | None, Outcome | None]]], ...] = (
    ("authentication-config", _authn_config),
    ("encryption-provider-config", _encryption),
    ("audit-policy-file", _policy),
    ("admission-control-config-file", _admission),
)


__all__ = ["PREDICATES", "STARTUP_FILES", "anonymous_reaches", "authorizer_types", "startup_errors"]
