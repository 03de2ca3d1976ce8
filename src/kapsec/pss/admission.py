"""The AdmissionConfiguration file (``--admission-control-config-file``) and its PodSecurity part.

Mirrors ``staging/src/k8s.io/apiserver/pkg/admission/config.go`` (plugins by name, inline
``configuration`` or ``path`` relative to the file) and, for PodSecurity,
``staging/src/k8s.io/pod-security-admission/admission/api/v1/types.go`` (fields),
``.../api/v1/defaults.go`` (privileged/latest), ``.../api/load/load.go`` (strict decoding:
unknown fields are rejected) and ``.../api/validation/validation.go`` (levels, versions,
exemption names). Error wording follows what a real kube-apiserver v1.36 printed
(tests/data/oracle-1.36/config-errors).

Only :func:`load_admission_config` reads files (the one named and a PodSecurity ``path:``);
everything else is pure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kapsec.errors import InputError, ValidationError
from kapsec.pss.api import Level, LevelVersion, Policy, Version

ADMISSION_API_VERSIONS = ("apiserver.config.k8s.io/v1", "apiserver.k8s.io/v1alpha1")
PSA_GROUP = "pod-security.admission.config.k8s.io"
PSA_API_VERSIONS = (f"{PSA_GROUP}/v1", f"{PSA_GROUP}/v1beta1", f"{PSA_GROUP}/v1alpha1")
_DEFAULT_KEYS = ("enforce", "enforce-version", "audit", "audit-version", "warn", "warn-version")
_EXEMPTION_KEYS = ("usernames", "runtimeClasses", "namespaces")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# controllers that create pods from workloads: exempting them exempts every workload's pods
CONTROLLER_USERS = tuple(
    f"system:serviceaccount:kube-system:{sa}"
    for sa in (
        "replicaset-controller",
        "replication-controller",
        "statefulset-controller",
        "daemon-set-controller",
        "job-controller",
        "cronjob-controller",
        "deployment-controller",
    )
)


@dataclass(frozen=True)
class Exemptions:
    usernames: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    runtime_classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PodSecurityConfig:
    """A PodSecurityConfiguration after defaulting (missing levels are privileged, versions latest)."""

    defaults: Policy = field(default_factory=Policy)
    exemptions: Exemptions = field(default_factory=Exemptions)
    api_version: str = f"{PSA_GROUP}/v1"

    def warnings(self) -> list[str]:
        """Things the API server accepts but that are probably not meant."""
        out = []
        for user in self.exemptions.usernames:
            if user in CONTROLLER_USERS:
                out.append(f"exempting {user} exempts the pods of every workload that controller creates")
        if self.defaults.enforce.level is Level.PRIVILEGED:
            out.append("defaults.enforce is privileged: namespaces without labels enforce nothing")
        return out


@dataclass(frozen=True)
class AdmissionConfig:
    source: str
    plugins: Mapping[str, Any] = field(default_factory=dict)  # name -> configuration (decoded)
    pod_security: PodSecurityConfig | None = None


def _validate_names(
    values: Any, path: str, check: Any, source: str
) -> tuple[str, ...]:  # check(name) -> error text or None
    if values is None:
        return ()
    if not isinstance(values, list):
        raise ValidationError("must be a list of strings", file=source, field=path)
    seen: set[str] = set()
    for i, raw in enumerate(values):
        if not isinstance(raw, str):
            raise ValidationError("must be a string", file=source, field=f"{path}[{i}]")
        problem = check(raw)
        if problem == "Required value":
            raise ValidationError(problem, file=source, field=f"{path}[{i}]")
        if problem:
            raise ValidationError(f'Invalid value: "{raw}": {problem}', file=source, field=f"{path}[{i}]")
        if raw in seen:
            raise ValidationError(f'Duplicate value: "{raw}"', file=source, field=f"{path}[{i}]")
        seen.add(raw)
    return tuple(values)


def _username_problem(name: str) -> str | None:
    return "Required value" if name == "" else None


def _namespace_problem(name: str) -> str | None:
    if len(name) > 63:
        return "must be no more than 63 characters"
    if not _DNS1123_LABEL.match(name):
        return (
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
            "and must start and end with an alphanumeric character"
        )
    return None


def _runtime_class_problem(name: str) -> str | None:
    if len(name) > 253:
        return "must be no more than 253 characters"
    if not _DNS1123_SUBDOMAIN.match(name):
        return (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
            "or '.', and must start and end with an alphanumeric character"
        )
    return None


def parse_pod_security_config(obj: Any, source: str) -> PodSecurityConfig:
    """Decode and validate a PodSecurityConfiguration object (strictly, like the plugin)."""
    if obj is None:
        return PodSecurityConfig()
    if not isinstance(obj, Mapping):
        raise ValidationError("PodSecurity configuration must be an object", file=source)
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if not api_version or not kind:
        raise ValidationError(
            "Object 'Kind' is missing: the PodSecurity configuration needs apiVersion "
            f"({PSA_API_VERSIONS[0]}) and kind (PodSecurityConfiguration)",
            file=source,
        )
    if api_version not in PSA_API_VERSIONS or kind != "PodSecurityConfiguration":
        raise ValidationError(
            f'no kind "{kind}" is registered for version "{api_version}" '
            f"(expected PodSecurityConfiguration in {', '.join(PSA_API_VERSIONS)})",
            file=source,
        )
    for key in obj:
        if key not in ("apiVersion", "kind", "defaults", "exemptions"):
            raise ValidationError(f'strict decoding error: unknown field "{key}"', file=source)
    defaults = obj.get("defaults") or {}
    exemptions = obj.get("exemptions") or {}
    if not isinstance(defaults, Mapping):
        raise ValidationError("strict decoding error: defaults must be an object", file=source)
    if not isinstance(exemptions, Mapping):
        raise ValidationError("strict decoding error: exemptions must be an object", file=source)
    for key in defaults:
        if key not in _DEFAULT_KEYS:
            raise ValidationError(f'strict decoding error: unknown field "defaults.{key}"', file=source)
    for key in exemptions:
        if key not in _EXEMPTION_KEYS:
            raise ValidationError(f'strict decoding error: unknown field "exemptions.{key}"', file=source)

    modes: dict[str, LevelVersion] = {}
    for mode in ("enforce", "audit", "warn"):
        level_raw = defaults.get(mode) or "privileged"
        version_raw = defaults.get(f"{mode}-version") or "latest"
        try:
            level = Level.parse(str(level_raw))
        except ValueError as exc:
            raise ValidationError(f"PodSecurity configuration error: {mode}: {exc}", file=source) from None
        try:
            version = Version.parse(str(version_raw))
        except ValueError as exc:
            raise ValidationError(
                f"PodSecurity configuration error: {mode}-version: {exc}", file=source
            ) from None
        modes[mode] = LevelVersion(level, version)

    return PodSecurityConfig(
        defaults=Policy(modes["enforce"], modes["audit"], modes["warn"]),
        exemptions=Exemptions(
            usernames=_validate_names(
                exemptions.get("usernames"), "exemptions.usernames", _username_problem, source
            ),
            namespaces=_validate_names(
                exemptions.get("namespaces"), "exemptions.namespaces", _namespace_problem, source
            ),
            runtime_classes=_validate_names(
                exemptions.get("runtimeClasses"), "exemptions.runtimeClasses", _runtime_class_problem, source
            ),
        ),
        api_version=str(api_version),
    )


class _StrictLoader(yaml.SafeLoader):
    """Rejects a key given twice in one mapping, as the API server's strict decoder does."""


def _construct_strict_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ValidationError(
                f'strict decoding error: line {key_node.start_mark.line + 1}: key "{key}" already set in map'
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_strict_mapping)


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except ValidationError as exc:
        raise ValidationError(exc.message, file=source) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise InputError(f"invalid YAML: {exc.problem or exc}", file=source, line=line) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=source) from exc


def parse_admission_config(
    text: str, source: str, read_path: Any = None, enabled_plugins: Collection[str] | None = None
) -> AdmissionConfig:
    """Parse an AdmissionConfiguration's text. ``read_path(path) -> (text, name)`` loads a
    plugin's ``path:`` (only PodSecurity's is followed); without it a path is an error.

    ``enabled_plugins``: the admission plugins the API server runs. A plugin's configuration is
    only read when the plugin is initialised, so with PodSecurity disabled its entry is kept
    undecoded (``pod_security`` is None) and cannot stop the start. None means PodSecurity is on
    (the default since 1.23).
    """
    obj = _load_yaml(text, source)
    if not isinstance(obj, Mapping):
        raise ValidationError("expected an AdmissionConfiguration object", file=source)
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if kind == "PodSecurityConfiguration":
        raise ValidationError(
            "this is a PodSecurityConfiguration; --admission-control-config-file needs an "
            "AdmissionConfiguration whose plugins list names PodSecurity (see `kapsec pss config`)",
            file=source,
        )
    if kind != "AdmissionConfiguration" or api_version not in ADMISSION_API_VERSIONS:
        raise ValidationError(
            f"expected kind AdmissionConfiguration ({', '.join(ADMISSION_API_VERSIONS)}), "
            f'found kind "{kind}" apiVersion "{api_version}"',
            file=source,
        )
    plugins_raw = obj.get("plugins") or []
    if not isinstance(plugins_raw, list):
        raise ValidationError("must be a list", file=source, field="plugins")
    plugins: dict[str, Any] = {}
    pod_security: PodSecurityConfig | None = None
    for i, entry in enumerate(plugins_raw):
        where = f"plugins[{i}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ValidationError("each plugin needs a name", file=source, field=where)
        name = entry["name"]
        configuration = entry.get("configuration")
        path = entry.get("path")
        if name == "PodSecurity" and (enabled_plugins is None or "PodSecurity" in enabled_plugins):
            psa_source = f"{source} ({where}.configuration)"
            if configuration is None and path:
                if read_path is None:
                    raise InputError(f"cannot follow path {path!r} here", file=source, field=f"{where}.path")
                psa_text, psa_source = read_path(str(path))
                configuration = _load_yaml(psa_text, psa_source)
            pod_security = parse_pod_security_config(configuration, psa_source)
        plugins[name] = configuration if configuration is not None else {"path": path}
    return AdmissionConfig(source=source, plugins=plugins, pod_security=pod_security)


def load_admission_config(
    path: str | os.PathLike[str],
    *,
    enabled_plugins: Collection[str] | None = None,
    resolve: Callable[[str], str] | None = None,
) -> AdmissionConfig:
    """Read and validate the file given to ``--admission-control-config-file``.

    ``resolve`` maps a PodSecurity ``path:``, as written in the file, to the file to read (the
    scan of a node copied under ``--root`` resolves it there, not on this machine); without it
    a relative path is taken from the AdmissionConfiguration's folder and an absolute one as is.

    Raises :class:`InputError` (unreadable, bad YAML, PodSecurity ``path:`` missing) or
    :class:`ValidationError` (what the API server would refuse to start with).
    """
    p = Path(path)

    def read(target: Path) -> str:
        try:
            return target.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError("no such file", file=str(target)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read: {exc}", file=str(target)) from exc

    def read_path(rel: str) -> tuple[str, str]:
        if resolve is not None:
            resolved = Path(resolve(rel))
            return read(resolved), str(resolved)
        target = Path(rel)
        if not target.is_absolute():  # relative to the AdmissionConfiguration, like the apiserver
            target = p.parent / target
        return read(target), str(target)

    return parse_admission_config(read(p), str(p), read_path, enabled_plugins)


def _yaml_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def pod_security_config_text(
    *,
    enforce: str = "baseline",
    enforce_version: str = "latest",
    audit: str = "restricted",
    audit_version: str = "latest",
    warn: str = "restricted",
    warn_version: str = "latest",
    exempt_namespaces: Sequence[str] = ("kube-system",),
    exempt_usernames: Sequence[str] = (),
    exempt_runtime_classes: Sequence[str] = (),
    api_version: str = f"{PSA_GROUP}/v1",
) -> str:
    """A PodSecurityConfiguration object as YAML (all six defaults written), validated.

    Raises :class:`ValidationError` for any value the API server would refuse.
    """
    body = [
        f"apiVersion: {api_version}",
        "kind: PodSecurityConfiguration",
        "defaults:",
        f'  enforce: "{enforce}"',
        f'  enforce-version: "{enforce_version}"',
        f'  audit: "{audit}"',
        f'  audit-version: "{audit_version}"',
        f'  warn: "{warn}"',
        f'  warn-version: "{warn_version}"',
        "exemptions:",
        f"  usernames: {_yaml_list(exempt_usernames)}",
        f"  runtimeClasses: {_yaml_list(exempt_runtime_classes)}",
        f"  namespaces: {_yaml_list(exempt_namespaces)}",
    ]
    text = "\n".join(body) + "\n"
    parse_pod_security_config(_load_yaml(text, "generated"), "generated")  # validate what we emit
    return text


_HEADER = (
    "# Generated by kapsec pss config. Pass this file to kube-apiserver with\n"
    "#   --admission-control-config-file=<path to this file>\n"
    "# PodSecurity is on by default from Kubernetes 1.23; pod-security.admission.config.k8s.io/v1\n"
    "# needs 1.25+ (use v1beta1 on 1.23-1.24). An invalid file stops kube-apiserver from starting.\n"
    "# Namespace labels pod-security.kubernetes.io/<mode>[-version] override these defaults.\n"
)


def generate_admission_config(**options: Any) -> str:
    """The AdmissionConfiguration for ``--admission-control-config-file`` with the
    PodSecurityConfiguration inline. Options are those of :func:`pod_security_config_text`."""
    body = pod_security_config_text(**options)
    inner = "".join("    " + line + "\n" for line in body.splitlines())
    return (
        _HEADER
        + "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n"
        + "- name: PodSecurity\n  configuration:\n"
        + inner
    )


def generate_admission_config_files(pod_security_path: str, **options: Any) -> tuple[str, str]:
    """The same as two files: an AdmissionConfiguration naming ``pod_security_path`` (absolute
    is safest: a relative path is resolved against the AdmissionConfiguration's folder) and the
    PodSecurityConfiguration to write there."""
    body = pod_security_config_text(**options)
    admission = (
        _HEADER
        + "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n"
        + f"- name: PodSecurity\n  path: {pod_security_path}\n"
    )
    return admission, body
