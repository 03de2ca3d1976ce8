"""The API server's configuration as the API server itself would read it.

Mirrors how ``cmd/kube-apiserver/app/server.go`` parses its command line with
``github.com/spf13/pflag`` (``--f=v`` and ``--f v``; bool flags never take the next argument;
scalars last-wins; ``strings`` flags split as CSV and accumulate across repeats; maps merge;
``_`` normalised to ``-``; positional arguments refused) and the start-up validation of
``pkg/kubeapiserver/options/{admission,authorization}.go`` and
``staging/src/k8s.io/apiserver/pkg/server/options/{audit,serving}.go``.

Every flag value keeps the file and line it came from. No I/O here: sources build the
argument list, this module types it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kapsec.model import flags as fl
from kapsec.model.findings import Evidence
from kapsec.model.goparse import GoParseError, parse_bool, parse_duration_ns, parse_int, split_csv


@dataclass(frozen=True, slots=True)
class Location:
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if not self.file:
            return "<unknown>"
        return self.file if self.line is None else f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Arg:
    """One command-line word and where it was written."""

    text: str
    loc: Location = Location()


@dataclass(frozen=True, slots=True)
class FlagOccurrence:
    name: str  # normalised, without dashes
    value: str  # the text pflag's Set() receives ("true" for a bare bool flag)
    written: str  # the flag as written, e.g. "--audit-log-maxage 30"
    loc: Location


@dataclass(frozen=True, slots=True)
class FlagProblem:
    """Something the API server would refuse (``fatal``) or that kapsec cannot vouch for."""

    kind: str  # unknown | removed | not-yet | invalid | positional | missing-value | conflict
    flag: str | None
    message: str
    loc: Location
    fatal: bool = True


@dataclass(frozen=True, slots=True)
class K8sVersion:
    minor: int
    text: str  # e.g. "v1.29.0"
    origin: str  # "image tag", "--k8s-version", "kubernetesVersion", "assumed"

    @property
    def label(self) -> str:
        return f"1.{self.minor}"


@dataclass(frozen=True, slots=True)
class Volume:
    name: str
    kind: str  # hostPath | emptyDir | configMap | secret | projected | ...
    host_path: str | None = None
    host_path_type: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class VolumeMount:
    name: str
    mount_path: str
    read_only: bool = False
    sub_path: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Probe:
    kind: str  # liveness | readiness | startup
    handler: str  # httpGet | exec | tcpSocket | grpc
    path: str | None = None
    port: str | None = None
    scheme: str | None = None
    line: int | None = None


class FlagValueError(ValueError):
    """A flag value that does not parse; carries the flag and location."""

    def __init__(self, flag: str, message: str, loc: Location) -> None:
        super().__init__(message)
        self.flag = flag
        self.loc = loc


# ---------------------------------------------------------------------------- parsing


def _is_bool(name: str) -> bool:
    s = fl.spec(name)
    return s is not None and s.type is fl.FlagType.BOOL


def parse_args(args: Sequence[Arg], minor: int) -> tuple[list[FlagOccurrence], list[FlagProblem]]:
    """Split kube-apiserver's arguments into flag occurrences as pflag does."""
    occ: list[FlagOccurrence] = []
    problems: list[FlagProblem] = []
    i = 0
    n = len(args)
    positional_only = False
    while i < n:
        a = args[i]
        text = a.text
        i += 1
        if positional_only or not text.startswith("-") or text == "-":
            if text:
                hint = ""
                prev = args[i - 2].text if i >= 2 else ""
                if prev.startswith("--") and "=" not in prev and _is_bool(prev[2:]):
                    hint = (
                        f" (after the bool flag {prev}: bool flags never take the next word, "
                        f"write {prev}={text})"
                    )
                problems.append(
                    FlagProblem(
                        "positional",
                        None,
                        f'kube-apiserver does not take arguments, got "{text}"{hint}',
                        a.loc,
                    )
                )
            continue
        if text == "--":
            positional_only = True
            continue
        if text.startswith("--"):
            body = text[2:]
        else:  # shorthand: kube-apiserver only defines -v and -h
            body = text[1:]
            short = body.split("=", 1)[0]
            if short == "h":
                body = "help" + body[1:]
            elif short == "v":
                body = "v" + body[1:]
            else:
                problems.append(
                    FlagProblem("unknown", short, f"unknown shorthand flag: '{short[:1]}' in {text}", a.loc)
                )
                continue
        if body.startswith("-") or body.startswith("="):
            problems.append(FlagProblem("invalid", None, f"bad flag syntax: {text}", a.loc))
            continue
        if "=" in body:
            name, value = body.split("=", 1)
            name = fl.normalize_name(name)
            written = text
        else:
            name = fl.normalize_name(body)
            spec = fl.spec(name)
            if spec is not None and spec.type is fl.FlagType.BOOL:
                value, written = "true", text
            elif spec is None:
                # pflag stops at an unknown flag; guess that a following word is its value so
                # that one typo gives one finding.
                if i < n and not args[i].text.startswith("-"):
                    value, written = args[i].text, f"{text} {args[i].text}"
                    i += 1
                else:
                    value, written = "", text
            elif i < n:
                value, written = args[i].text, f"{text} {args[i].text}"
                i += 1
            else:
                problems.append(FlagProblem("missing-value", name, f"flag needs an argument: {text}", a.loc))
                continue
        spec = fl.spec(name)
        if spec is None:
            problems.append(
                FlagProblem(
                    "unknown",
                    name,
                    f"unknown flag: --{name} (not a kube-apiserver 1.{minor} flag known to kapsec; "
                    "the API server exits on unknown flags)",
                    a.loc,
                    fatal=False,
                )
            )
        elif not spec.exists_in(minor):
            if spec.removed is not None and minor >= spec.removed:
                why = f"removed in 1.{spec.removed}" + (f": {spec.note}" if spec.note else "")
                kind = "removed"
            else:
                why = f"added in 1.{spec.added}"
                kind = "not-yet"
            problems.append(
                FlagProblem(
                    kind,
                    name,
                    f"unknown flag: --{name} on kube-apiserver 1.{minor} ({why}); the API server refuses to start",
                    a.loc,
                )
            )
        occ.append(FlagOccurrence(name, value, written, a.loc))
    return occ, problems


# ---------------------------------------------------------------------------- the config

_IMAGE_TAG = re.compile(r":v?1\.(\d+)(?:\.(\d+))?")


def version_from_image(image: str | None) -> K8sVersion | None:
    if not image:
        return None
    tag = image.rsplit("/", 1)[-1]
    m = _IMAGE_TAG.search(tag)
    if not m:
        return None
    return K8sVersion(int(m.group(1)), tag.split(":", 1)[1], "image tag")


def parse_version(text: str, origin: str) -> K8sVersion:
    m = re.fullmatch(r"v?1\.(\d+)(?:\.\d+)?(?:[-+].*)?", text.strip())
    if not m:
        raise ValueError(f"not a Kubernetes version: {text!r} (expected e.g. 1.30 or v1.30.2)")
    return K8sVersion(int(m.group(1)), text.strip(), origin)


@dataclass(frozen=True)
class ApiServerConfig:
    """The kube-apiserver as configured: typed flags with their locations, and its pod."""

    source: str  # manifest | process | kubeadm-config | cmdline
    file: str | None  # the file the flags came from, as shown to the user
    argv: tuple[Arg, ...]
    occurrences: tuple[FlagOccurrence, ...]
    problems: tuple[FlagProblem, ...]
    version: K8sVersion
    image: str | None = None
    container_name: str | None = None
    volumes: tuple[Volume, ...] = ()
    mounts: tuple[VolumeMount, ...] = ()
    probes: tuple[Probe, ...] = ()
    notes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    # --- raw access

    def occurrences_of(self, name: str) -> list[FlagOccurrence]:
        name = fl.normalize_name(name)
        return [o for o in self.occurrences if o.name == name]

    def is_set(self, name: str) -> bool:
        return bool(self.occurrences_of(name))

    def last(self, name: str) -> FlagOccurrence | None:
        occ = self.occurrences_of(name)
        return occ[-1] if occ else None

    def location(self, name: str) -> Location | None:
        o = self.last(name)
        return o.loc if o else None

    def evidence(self, name: str, detail: str | None = None) -> Evidence:
        """Evidence for flag ``name``: where it was set (last occurrence) and its value."""
        o = self.last(name)
        if o is None:
            return Evidence(file=self.file, flag=f"--{fl.normalize_name(name)}", value=None, detail=detail)
        shown = o.value
        occ = self.occurrences_of(name)
        spec = fl.spec(name)
        if len(occ) > 1 and spec is not None and spec.type in (fl.FlagType.STRINGS, fl.FlagType.STRING_ARRAY):
            shown = ",".join(v for v in self.get_list(name))
        return Evidence(file=o.loc.file, line=o.loc.line, flag=f"--{o.name}", value=shown, detail=detail)

    # --- typed access (defaults per the registry)

    def _default(self, name: str) -> str | None:
        s = fl.spec(name)
        return s.default if s else None

    def raw(self, name: str) -> str | None:
        """The value text of the last occurrence, else the default text, else None."""
        o = self.last(name)
        return o.value if o else self._default(name)

    def get_str(self, name: str) -> str:
        return self.raw(name) or ""

    def get_bool(self, name: str) -> bool:
        text = self.raw(name)
        if text is None:
            return False
        try:
            return parse_bool(text)
        except GoParseError as exc:
            o = self.last(name)
            raise FlagValueError(name, str(exc), o.loc if o else Location()) from None

    def get_int(self, name: str) -> int:
        text = self.raw(name)
        if text is None or text == "":
            return 0
        try:
            return parse_int(text)
        except GoParseError as exc:
            o = self.last(name)
            raise FlagValueError(name, str(exc), o.loc if o else Location()) from None

    def get_duration_ns(self, name: str) -> int:
        text = self.raw(name)
        if text is None or text == "":
            return 0
        try:
            return parse_duration_ns(text)
        except GoParseError as exc:
            o = self.last(name)
            raise FlagValueError(name, str(exc), o.loc if o else Location()) from None

    def get_list(self, name: str) -> tuple[str, ...]:
        """A ``strings`` flag: CSV items of every occurrence, in order (duplicates kept)."""
        occ = self.occurrences_of(name)
        spec = fl.spec(name)
        if not occ:
            d = spec.default if spec else None
            return tuple(split_csv(d)) if d else ()
        out: list[str] = []
        for o in occ:
            if spec is not None and spec.type is fl.FlagType.STRING_ARRAY:
                out.append(o.value)
                continue
            try:
                out.extend(x.strip() for x in split_csv(o.value))
            except GoParseError as exc:
                raise FlagValueError(name, str(exc), o.loc) from None
        return tuple(out)

    def get_set(self, name: str) -> tuple[str, ...]:
        """A list flag as an ordered set: first occurrence of each item, in order."""
        return tuple(dict.fromkeys(x for x in self.get_list(name) if x))

    def get_map(self, name: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for o in self.occurrences_of(name):
            for part in o.value.split(","):
                part = part.strip()
                if not part:
                    continue
                k, _, v = part.partition("=")
                out[k.strip()] = v.strip()
        return out

    def feature_enabled(self, gate: str, default: bool) -> bool:
        val = self.get_map("feature-gates").get(gate)
        if val is None:
            return default
        try:
            return parse_bool(val)
        except GoParseError:
            return default

    # --- derived

    def admission_plugins(self) -> tuple[str, ...]:
        """The admission plugins that run, as the server computes them (sorted)."""
        enabled = set(self.get_set("enable-admission-plugins"))
        disabled = set(self.get_set("disable-admission-plugins"))
        legacy = self.get_set("admission-control")
        if legacy and not enabled and not disabled:
            return tuple(sorted(legacy))
        on = set(fl.default_on_plugins(self.version.minor)) | enabled
        return tuple(sorted(on - disabled))

    def authorization_modes(self) -> tuple[str, ...]:
        return self.get_list("authorization-mode")

    def mount_for(self, container_path: str) -> tuple[VolumeMount, Volume] | None:
        """The volume mount whose mountPath is the longest prefix of ``container_path``."""
        best: tuple[VolumeMount, Volume] | None = None
        vols = {v.name: v for v in self.volumes}
        for m in self.mounts:
            mp = m.mount_path.rstrip("/") or "/"
            if container_path == mp or container_path.startswith(mp.rstrip("/") + "/"):
                v = vols.get(m.name)
                if v is None:
                    continue
                if best is None or len(mp) > len(best[0].mount_path.rstrip("/")):
                    best = (m, v)
        return best

    def host_path(self, container_path: str) -> str | None:
        """Where ``container_path`` (a path the API server opens) lives on the node.

        For a static pod, through its hostPath volume mounts; ``None`` when the path is not
        on a hostPath mount (it is then inside the image or an emptyDir and cannot be read
        from the node). For a process or a kubeadm config, the path itself.
        """
        if self.source != "manifest":
            return container_path
        if not container_path.startswith("/"):
            return None
        hit = self.mount_for(container_path)
        if hit is None:
            return None
        mount, vol = hit
        if vol.kind != "hostPath" or not vol.host_path:
            return None
        rest = container_path[len(mount.mount_path.rstrip("/")) :].lstrip("/")
        if mount.sub_path:
            rest = f"{mount.sub_path.strip('/')}/{rest}" if rest else mount.sub_path.strip("/")
        base = vol.host_path.rstrip("/") or "/"
        return base if not rest else f"{base.rstrip('/')}/{rest}"


# ---------------------------------------------------------------------------- validation


def validate(cfg_occ: Sequence[FlagOccurrence], cfg: ApiServerConfig) -> list[FlagProblem]:
    """Start-up validation the API server performs on flag values (each one is fatal)."""
    out: list[FlagProblem] = []
    minor = cfg.version.minor
    seen: set[str] = set()
    for o in cfg_occ:
        spec = fl.spec(o.name)
        if spec is None:
            continue
        try:
            if spec.type is fl.FlagType.BOOL:
                parse_bool(o.value)
            elif spec.type is fl.FlagType.INT:
                parse_int(o.value)
            elif spec.type is fl.FlagType.DURATION:
                parse_duration_ns(o.value)
        except GoParseError as exc:
            out.append(
                FlagProblem(
                    "invalid", o.name, f'invalid argument "{o.value}" for "--{o.name}" flag: {exc}', o.loc
                )
            )
            seen.add(o.name)

    def loc(name: str) -> Location:
        return cfg.location(name) or Location(cfg.file)

    # authorization (pkg/kubeapiserver/options/authorization.go Validate)
    if cfg.is_set("authorization-mode") and cfg.is_set("authorization-config"):
        out.append(
            FlagProblem(
                "conflict",
                "authorization-config",
                "--authorization-config can not be specified when --authorization-mode is set",
                loc("authorization-config"),
            )
        )
    modes = cfg.get_list("authorization-mode")
    if cfg.is_set("authorization-mode"):
        if not [m for m in modes if m]:
            out.append(
                FlagProblem(
                    "invalid",
                    "authorization-mode",
                    "at least one authorization-mode must be passed",
                    loc("authorization-mode"),
                )
            )
        for m in modes:
            if m and m not in fl.AUTHORIZATION_MODES:
                out.append(
                    FlagProblem(
                        "invalid",
                        "authorization-mode",
                        f'authorization-mode "{m}" is not a valid mode',
                        loc("authorization-mode"),
                    )
                )
        dups = [m for m in dict.fromkeys(modes) if modes.count(m) > 1]
        if dups:
            quoted = " ".join(f'"{m}"' for m in modes)
            out.append(
                FlagProblem(
                    "invalid",
                    "authorization-mode",
                    f"authorization-mode [{quoted}] has mode specified more than once",
                    loc("authorization-mode"),
                )
            )
        if "ABAC" in modes and not cfg.get_str("authorization-policy-file"):
            out.append(
                FlagProblem(
                    "invalid",
                    "authorization-mode",
                    "authorization-mode ABAC's authorization policy file not passed",
                    loc("authorization-mode"),
                )
            )
        if "Webhook" in modes and not cfg.get_str("authorization-webhook-config-file"):
            out.append(
                FlagProblem(
                    "invalid",
                    "authorization-mode",
                    "authorization-mode Webhook's authorization config file not passed",
                    loc("authorization-mode"),
                )
            )

    # admission (staging/.../server/options/admission.go Validate)
    for flag in ("enable-admission-plugins", "disable-admission-plugins"):
        for p in cfg.get_set(flag):
            if not fl.plugin_exists(p, minor):
                out.append(FlagProblem("invalid", flag, f'{flag} plugin "{p}" is unknown', loc(flag)))
    overlap = sorted(
        set(cfg.get_set("enable-admission-plugins")) & set(cfg.get_set("disable-admission-plugins"))
    )
    if overlap:
        out.append(
            FlagProblem(
                "conflict",
                "disable-admission-plugins",
                f"[{','.join(overlap)}] in enable-admission-plugins and disable-admission-plugins overlapped",
                loc("disable-admission-plugins"),
            )
        )

    # audit (staging/.../server/options/audit.go Validate)
    for flag in ("audit-log-maxage", "audit-log-maxbackup", "audit-log-maxsize"):
        if cfg.is_set(flag) and flag not in seen:
            v = cfg.get_int(flag)
            if v < 0:
                out.append(
                    FlagProblem("invalid", flag, f"--{flag} {v} can't be a negative number", loc(flag))
                )
    if cfg.is_set("audit-log-format") and cfg.get_str("audit-log-format") not in ("legacy", "json"):
        out.append(
            FlagProblem(
                "invalid",
                "audit-log-format",
                f'invalid audit log format {cfg.get_str("audit-log-format")}, allowed formats are "legacy,json"',
                loc("audit-log-format"),
            )
        )
    for flag in ("audit-log-mode", "audit-webhook-mode"):
        if cfg.is_set(flag) and cfg.get_str(flag) not in ("batch", "blocking", "blocking-strict"):
            out.append(
                FlagProblem(
                    "invalid",
                    flag,
                    f'invalid audit {flag.split("-")[1]} mode {cfg.get_str(flag)}, allowed modes are "batch,blocking,blocking-strict"',
                    loc(flag),
                )
            )

    # service accounts (pkg/kubeapiserver/options/authentication.go Validate, 1.20+)
    if minor >= 20:
        issuers = [x for x in cfg.get_list("service-account-issuer") if x]
        if not issuers:
            out.append(
                FlagProblem(
                    "invalid",
                    "service-account-issuer",
                    "service-account-issuer is a required flag",
                    Location(cfg.file),
                )
            )
        if not issuers or not cfg.get_str("service-account-signing-key-file"):
            out.append(
                FlagProblem(
                    "invalid",
                    "service-account-signing-key-file",
                    "--service-account-signing-key-file and --service-account-issuer are required flags",
                    Location(cfg.file),
                )
            )

    # etcd (staging/.../server/options/etcd.go Validate)
    if not [x for x in cfg.get_list("etcd-servers") if x]:
        out.append(
            FlagProblem("invalid", "etcd-servers", "--etcd-servers must be specified", loc("etcd-servers"))
        )
    backend = cfg.get_str("storage-backend")
    if backend and backend != "etcd3":
        out.append(
            FlagProblem(
                "invalid",
                "storage-backend",
                "--storage-backend invalid, allowed values: etcd3. If not specified, it will default to 'etcd3'",
                loc("storage-backend"),
            )
        )
    for override in cfg.get_list("etcd-servers-overrides"):
        tokens = override.split("#")
        if len(tokens) != 2 or len(tokens[0].split("/")) != 2:
            out.append(
                FlagProblem(
                    "invalid",
                    "etcd-servers-overrides",
                    "--etcd-servers-overrides invalid, must be of format: group/resource#servers, "
                    "where servers are URLs, semicolon separated",
                    loc("etcd-servers-overrides"),
                )
            )
    if (
        "encryption-provider-config-automatic-reload" not in seen
        and cfg.get_bool("encryption-provider-config-automatic-reload")
        and not cfg.get_str("encryption-provider-config")
    ):
        out.append(
            FlagProblem(
                "invalid",
                "encryption-provider-config-automatic-reload",
                "--encryption-provider-config-automatic-reload must be set with --encryption-provider-config",
                loc("encryption-provider-config-automatic-reload"),
            )
        )
    media = cfg.get_str("storage-media-type")
    if cfg.is_set("storage-media-type") and media and media not in STORAGE_MEDIA_TYPES:
        out.append(
            FlagProblem(
                "invalid",
                "storage-media-type",
                f'--storage-media-type "{media}" invalid, allowed values: {", ".join(sorted(STORAGE_MEDIA_TYPES))}',
                loc("storage-media-type"),
            )
        )

    # serving (staging/.../server/options/serving.go)
    if cfg.is_set("secure-port") and "secure-port" not in seen:
        port = cfg.get_int("secure-port")
        if not 1 <= port <= 65535:
            out.append(
                FlagProblem(
                    "invalid",
                    "secure-port",
                    f"--secure-port {port} must be between 1 and 65535, inclusive. It cannot be turned off with 0",
                    loc("secure-port"),
                )
            )
    if cfg.is_set("tls-min-version") and cfg.get_str("tls-min-version") not in fl.TLS_VERSIONS:
        out.append(
            FlagProblem(
                "invalid",
                "tls-min-version",
                f'unknown tls version "{cfg.get_str("tls-min-version")}"',
                loc("tls-min-version"),
            )
        )
    suites = [s for s in cfg.get_list("tls-cipher-suites") if s]
    for s in suites:
        if s not in fl.KNOWN_CIPHERS:
            out.append(
                FlagProblem(
                    "invalid",
                    "tls-cipher-suites",
                    f"Cipher suite {s} not supported or doesn't exist",
                    loc("tls-cipher-suites"),
                )
            )
    if (
        suites
        and all(s in fl.KNOWN_CIPHERS for s in suites)
        and cfg.get_str("tls-min-version") != "VersionTLS13"
        and not any(s in fl.HTTP2_REQUIRED_CIPHERS for s in suites)
    ):
        out.append(
            FlagProblem(
                "invalid",
                "tls-cipher-suites",
                "error configuring http2: http2: TLSConfig.CipherSuites is missing an HTTP/2-required "
                "AES_128_GCM_SHA256 cipher (need at least one of TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or "
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)",
                loc("tls-cipher-suites"),
            )
        )
    if bool(cfg.get_str("tls-cert-file")) != bool(cfg.get_str("tls-private-key-file")):
        which = "tls-cert-file" if cfg.get_str("tls-cert-file") else "tls-private-key-file"
        out.append(
            FlagProblem(
                "invalid",
                which,
                "missing filename for serving cert"
                if which == "tls-cert-file"
                else "missing filename for serving key",
                loc(which),
            )
        )
    return out


STORAGE_MEDIA_TYPES = frozenset(
    {"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
)


def build_config(
    *,
    source: str,
    file: str | None,
    flag_args: Sequence[Arg],
    version: K8sVersion,
    image: str | None = None,
    container_name: str | None = None,
    volumes: Iterable[Volume] = (),
    mounts: Iterable[VolumeMount] = (),
    probes: Iterable[Probe] = (),
    notes: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> ApiServerConfig:
    """Parse ``flag_args`` (the words after the binary) and validate them for ``version``."""
    occ, problems = parse_args(flag_args, version.minor)
    cfg = ApiServerConfig(
        source=source,
        file=file,
        argv=tuple(flag_args),
        occurrences=tuple(occ),
        problems=(),
        version=version,
        image=image,
        container_name=container_name,
        volumes=tuple(volumes),
        mounts=tuple(mounts),
        probes=tuple(probes),
        notes=tuple(notes),
        extra=dict(extra or {}),
    )
    known = [o for o in occ if fl.spec(o.name) is not None]
    problems.extend(validate(known, cfg))
    return replace(cfg, problems=tuple(problems))
