"""EncryptionConfiguration: decode, validate and look up, with the API server's rules and messages.

Mirrors, from upstream Kubernetes:

- ``staging/src/k8s.io/apiserver/pkg/apis/apiserver/validation/validation_encryption.go``
  (``ValidateEncryptionConfiguration``: key lengths, base64, provider counts, resource names,
  wildcards, duplicates and overlaps, KMS v1/v2 fields);
- ``staging/src/k8s.io/apiserver/pkg/server/options/encryptionconfig/config.go``
  (``loadConfig``: the error wording around reading and strict decoding; the transformer build
  that rejects a resource masked by an earlier ``*.group`` / ``*.*`` rule; the KMSv1 feature gate;
  the lookup order exact resource → ``*.<group>`` → ``*.*`` → identity);
- ``staging/src/k8s.io/apiserver/pkg/apis/apiserver/v1/register.go`` and ``defaults.go``
  (the accepted kinds, including the legacy ``v1`` ``EncryptionConfig``; KMS defaults).

Messages are built the way the server builds them (``field.Error`` and aggregated error lists),
so a rejected file gets the same text the API server prints after ``err=``. Key material is
never part of a message: like the server, kapsec prints ``"REDACTED"`` in its place.

:func:`parse_encryption_config` is pure; :func:`load_encryption_config` only adds reading the file.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from kapsec.errors import InputError, ValidationError

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"
LEGACY_API_VERSION = "v1"
LEGACY_KIND = "EncryptionConfig"

AES_KEY_SIZES = (16, 24, 32)
SECRETBOX_KEY_SIZES = (32,)

KMS_V1_DISABLED_MSG = (
    "KMSv1 is deprecated and will only receive security updates going forward. Use KMSv2 instead.  "
    "Set --feature-gates=KMSv1=true to use the deprecated KMSv1 feature."
)


class ProviderType(enum.Enum):
    """The provider kinds, in the order the server's ``switch`` tests them."""

    KMS = "kms"
    AESGCM = "aesgcm"
    AESCBC = "aescbc"
    SECRETBOX = "secretbox"
    IDENTITY = "identity"

    @property
    def has_keys(self) -> bool:
        return self in (ProviderType.AESGCM, ProviderType.AESCBC, ProviderType.SECRETBOX)


@dataclass(frozen=True, slots=True)
class Key:
    """One named key. ``secret`` is the base64 text as written; it never appears in ``repr``."""

    name: str
    secret: str = field(repr=False)
    line: int | None = None

    def material(self) -> bytes:
        """The decoded key bytes (only valid after validation)."""
        return _go_std_b64decode(self.secret)


@dataclass(frozen=True, slots=True)
class KMSSettings:
    api_version: str
    name: str
    endpoint: str
    cachesize: int | None
    timeout: str  # as written (a Go duration), defaulted to "3s"
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class Provider:
    """One element of ``providers``. A valid provider has exactly one type."""

    types: tuple[ProviderType, ...]
    keys: tuple[Key, ...] = ()
    kms: KMSSettings | None = None
    line: int | None = None

    @property
    def type(self) -> ProviderType:
        return self.types[0]

    @property
    def name(self) -> str:
        return self.type.value

    def prefix_for(self, key: Key) -> str:
        """The etcd value prefix written with ``key``: ``k8s:enc:<provider>:v1:<key>:``."""
        return f"k8s:enc:{self.type.value}:v1:{key.name}:"


@dataclass(frozen=True, slots=True)
class ResourceRule:
    index: int
    resources: tuple[str, ...]
    providers: tuple[Provider, ...]
    line: int | None = None

    @property
    def write_provider(self) -> Provider | None:
        return self.providers[0] if self.providers else None


@dataclass(frozen=True, slots=True)
class GroupResource:
    """``schema.GroupResource`` with ``ParseGroupResource`` semantics (split at the first dot)."""

    group: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> GroupResource:
        resource, dot, group = text.partition(".")
        return cls(group if dot else "", resource)

    def yaml_string(self) -> str:
        """How the server names it in messages (``grYAMLString``)."""
        if self.group == "" and self.resource == "*":
            return "*."
        return self.resource if self.group == "" else f"{self.resource}.{self.group}"


ANY_GROUP_ANY_RESOURCE = GroupResource("*", "*")


@dataclass(frozen=True, slots=True)
class EncryptionConfig:
    rules: tuple[ResourceRule, ...]
    api_version: str = API_VERSION
    kind: str = KIND
    source: str = "<config>"

    @property
    def legacy_kind(self) -> bool:
        return self.kind == LEGACY_KIND

    def rule_for(self, resource: str, group: str = "") -> ResourceRule | None:
        """The rule whose providers the server uses for ``resource`` in ``group``.

        The server looks up the exact resource first, then ``*.<group>``, then ``*.*``; the
        masking check at start-up guarantees that the first rule naming one of these is the
        one whose providers come first.
        """
        wanted = (
            GroupResource(group, resource),
            GroupResource(group, "*"),
            ANY_GROUP_ANY_RESOURCE,
        )
        for gr in wanted:
            for rule in self.rules:
                if any(GroupResource.parse(r) == gr for r in rule.resources):
                    return rule
        return None

    def provider_for(self, resource: str, group: str = "") -> str | None:
        """Name of the provider that writes ``resource`` (``identity``, ``aescbc``, ...), or None."""
        rule = self.rule_for(resource, group)
        if rule is None or rule.write_provider is None:
            return None
        return rule.write_provider.name

    def all_keys(self) -> Iterator[tuple[Provider, Key]]:
        for rule in self.rules:
            for provider in rule.providers:
                for key in provider.keys:
                    yield provider, key


# --- field errors, formatted like k8s.io/apimachinery/pkg/util/validation/field -------------


class ErrorType(enum.Enum):
    REQUIRED = "Required value"
    INVALID = "Invalid value"


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str
    type: ErrorType
    detail: str
    value: Any = None
    line: int | None = None

    def __str__(self) -> str:
        if self.type is ErrorType.REQUIRED:
            return f"{self.path}: {self.type.value}: {self.detail}"
        return f"{self.path}: {self.type.value}: {_go_value(self.value)}: {self.detail}"


def _go_value(value: Any) -> str:
    """``field.Error`` renders strings with %q, numbers plainly, and other values as JSON."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def aggregate(messages: Sequence[str]) -> str:
    """``utilerrors.NewAggregate(...).Error()``: one message as is, several as ``[a, b]``, deduplicated."""
    seen: list[str] = []
    for m in messages:
        if m not in seen:
            seen.append(m)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


class EncryptionConfigError(ValidationError):
    """The API server would refuse to start with this file. ``message`` is the server's text.

    ``stage`` is ``"parse"`` (``error while parsing file: ...``) or ``"build"``
    (``error while building transformers: ...``); ``problems`` holds the individual field
    errors when there are any.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        stage: str = "parse",
        problems: Sequence[FieldError] = (),
    ) -> None:
        super().__init__(message, file=file, line=line)
        self.stage = stage
        self.problems = tuple(problems)


# --- decoding: YAML nodes -> typed values, strictly, with line numbers -----------------------

_SCALAR_JSON_TYPE = {
    "tag:yaml.org,2002:str": "string",
    "tag:yaml.org,2002:int": "number",
    "tag:yaml.org,2002:float": "number",
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:timestamp": "string",
    "tag:yaml.org,2002:binary": "string",
}


class _Decoder:
    """Walks the composed YAML like the server's strict JSON decoding of the same document."""

    def __init__(self) -> None:
        self.unknown: list[str] = []
        self.type_errors: list[str] = []
        self.lines: dict[str, int] = {}

    @staticmethod
    def _line(node: yaml.Node) -> int:
        return int(node.start_mark.line) + 1

    @staticmethod
    def _is_null(node: yaml.Node | None) -> bool:
        return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null")

    def _json_type(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "object"
        if isinstance(node, yaml.SequenceNode):
            return "array"
        return _SCALAR_JSON_TYPE.get(str(node.tag), "string")

    def _type_error(self, node: yaml.Node, struct: str, path: str, go_type: str) -> None:
        self.type_errors.append(
            f"json: cannot unmarshal {self._json_type(node)} into Go struct field {struct}.{path} of type {go_type}"
        )

    def mapping(
        self, node: yaml.Node, path: str, known: Sequence[str], struct: str, go_type: str
    ) -> dict[str, yaml.Node] | None:
        if self._is_null(node):
            return None
        if not isinstance(node, yaml.MappingNode):
            self._type_error(node, struct, path or struct, go_type)
            return None
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            if key in out:
                self.type_errors.append(f'duplicate field "{child}"')
                continue
            out[key] = value_node
            if key not in known:
                self.unknown.append(f'unknown field "{child}"')
                continue
            self.lines.setdefault(child, self._line(value_node))
        return out

    def sequence(self, node: yaml.Node | None, path: str, struct: str, go_type: str) -> list[yaml.Node]:
        if node is None or self._is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self._type_error(node, struct, path, go_type)
            return []
        for i, item in enumerate(node.value):
            self.lines.setdefault(f"{path}[{i}]", self._line(item))
        return list(node.value)

    def string(self, node: yaml.Node | None, path: str, struct: str) -> str:
        if node is None or self._is_null(node):
            return ""
        if not isinstance(node, yaml.ScalarNode) or self._json_type(node) != "string":
            self._type_error(node, struct, path, "string")
            return ""
        return str(node.value)

    def int32(self, node: yaml.Node | None, path: str, struct: str) -> int | None:
        if node is None or self._is_null(node):
            return None
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int":
            try:
                value = int(str(node.value).replace("_", ""), 0)
            except ValueError:
                value = None
            if value is not None and -(2**31) <= value < 2**31:
                return value
        self._type_error(node, struct, path, "int32")
        return None


_DURATION_RE = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float | None:
    """Seconds in a Go ``time.ParseDuration`` string (``"3s"``, ``"1m30s"``, ``"-1s"``), or None."""
    s = text.strip()
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        return None
    return sign * total


def go_duration_string(seconds: float) -> str:
    """Go's ``time.Duration.String()`` (``"-1m0s"``, ``"3s"``, ``"1h0m0s"``, ``"500ms"``)."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                text = f"{ns / size:.9f}".rstrip("0").rstrip(".")
                return f"{sign}{text}{unit}"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    secs = f"{rest / 1e9:.9f}".rstrip("0").rstrip(".")
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


_PROVIDER_FIELDS = ("kms", "aesgcm", "aescbc", "secretbox", "identity")


def _decode(root: yaml.Node, dec: _Decoder) -> tuple[str, str, list[ResourceRule], list[str]]:
    """Decode the document; returns apiVersion, kind, rules and timeout parse errors."""
    top = dec.mapping(root, "", ("apiVersion", "kind", "resources"), "EncryptionConfiguration", "")
    if top is None:
        return "", "", [], []
    api_version = dec.string(top.get("apiVersion"), "apiVersion", "EncryptionConfiguration")
    kind = dec.string(top.get("kind"), "kind", "EncryptionConfiguration")
    rules: list[ResourceRule] = []
    duration_errors: list[str] = []
    for i, rnode in enumerate(
        dec.sequence(
            top.get("resources"), "resources", "EncryptionConfiguration", "[]v1.ResourceConfiguration"
        )
    ):
        rpath = f"resources[{i}]"
        rmap = (
            dec.mapping(
                rnode, rpath, ("resources", "providers"), "ResourceConfiguration", "v1.ResourceConfiguration"
            )
            or {}
        )
        resources = [
            dec.string(n, f"{rpath}.resources[{j}]", "ResourceConfiguration")
            for j, n in enumerate(
                dec.sequence(rmap.get("resources"), f"{rpath}.resources", "ResourceConfiguration", "[]string")
            )
        ]
        providers: list[Provider] = []
        for j, pnode in enumerate(
            dec.sequence(
                rmap.get("providers"),
                f"{rpath}.providers",
                "ResourceConfiguration",
                "[]v1.ProviderConfiguration",
            )
        ):
            ppath = f"{rpath}.providers[{j}]"
            pmap = (
                dec.mapping(
                    pnode, ppath, _PROVIDER_FIELDS, "ProviderConfiguration", "v1.ProviderConfiguration"
                )
                or {}
            )
            types: list[ProviderType] = []
            keys: list[Key] = []
            kms: KMSSettings | None = None
            for t in ProviderType:
                node = pmap.get(t.value)
                if node is None or dec._is_null(node):
                    continue  # a null pointer in Go: the provider is absent
                types.append(t)
                tpath = f"{ppath}.{t.value}"
                if t is ProviderType.IDENTITY:
                    dec.mapping(node, tpath, (), "ProviderConfiguration", "v1.IdentityConfiguration")
                elif t is ProviderType.KMS:
                    kms = _decode_kms(node, tpath, dec, duration_errors)
                else:
                    go = "v1.SecretboxConfiguration" if t is ProviderType.SECRETBOX else "v1.AESConfiguration"
                    amap = dec.mapping(node, tpath, ("keys",), "ProviderConfiguration", go) or {}
                    if t.has_keys and not keys:
                        for k, knode in enumerate(
                            dec.sequence(amap.get("keys"), f"{tpath}.keys", go[3:], "[]v1.Key")
                        ):
                            kpath = f"{tpath}.keys[{k}]"
                            kmap = dec.mapping(knode, kpath, ("name", "secret"), go[3:], "v1.Key") or {}
                            keys.append(
                                Key(
                                    name=dec.string(kmap.get("name"), f"{kpath}.name", "Key"),
                                    secret=dec.string(kmap.get("secret"), f"{kpath}.secret", "Key"),
                                    line=dec.lines.get(kpath),
                                )
                            )
            providers.append(Provider(tuple(types), tuple(keys), kms, dec.lines.get(ppath)))
        rules.append(ResourceRule(i, tuple(resources), tuple(providers), dec.lines.get(rpath)))
    return api_version, kind, rules, duration_errors


def _decode_kms(node: yaml.Node, path: str, dec: _Decoder, duration_errors: list[str]) -> KMSSettings:
    kmap = (
        dec.mapping(
            node,
            path,
            ("apiVersion", "name", "cachesize", "endpoint", "timeout"),
            "ProviderConfiguration",
            "v1.KMSConfiguration",
        )
        or {}
    )
    api_version = dec.string(kmap.get("apiVersion"), f"{path}.apiVersion", "KMSConfiguration") or "v1"
    cachesize = dec.int32(kmap.get("cachesize"), f"{path}.cachesize", "KMSConfiguration")
    if cachesize is None and api_version == "v1":
        cachesize = 1000
    timeout_text = dec.string(kmap.get("timeout"), f"{path}.timeout", "KMSConfiguration")
    seconds: float = 3.0
    if timeout_text:
        parsed = parse_go_duration(timeout_text)
        if parsed is None:
            duration_errors.append(f"time: invalid duration {json.dumps(timeout_text)}")
        else:
            seconds = parsed
    return KMSSettings(
        api_version=api_version,
        name=dec.string(kmap.get("name"), f"{path}.name", "KMSConfiguration"),
        endpoint=dec.string(kmap.get("endpoint"), f"{path}.endpoint", "KMSConfiguration"),
        cachesize=cachesize,
        timeout=timeout_text or "3s",
        timeout_seconds=seconds,
    )


# --- validation (validation_encryption.go) ---------------------------------------------------

_PARENT_RE = re.compile(r"(\.[^.\[\]]+|\[\d+\])$")
_NON_REST = ("apiserveripinfo", "serviceipallocations", "servicenodeportallocations")


def _validate(rules: Sequence[ResourceRule], lines: dict[str, int], reload: bool) -> list[FieldError]:
    errs: list[FieldError] = []

    def add(path: str, type_: ErrorType, detail: str, value: Any = None) -> None:
        line = None
        p = path
        while p and line is None:
            line = lines.get(p)
            parent = _PARENT_RE.sub("", p)
            p = "" if parent == p else parent
        errs.append(FieldError(path, type_, detail, value, line))

    if not rules:
        add("resources", ErrorType.REQUIRED, "at least one resources is required")
        return errs
    kms_names: set[str] = set()
    for i, rule in enumerate(rules):
        r = f"resources[{i}].resources"
        p = f"resources[{i}].providers"
        if not rule.resources:
            add(r, ErrorType.REQUIRED, f"at least one {r} is required")
        _validate_overlap(rule.resources, r, add)
        _validate_names(rule.resources, r, add)
        if not rule.providers:
            add(p, ErrorType.REQUIRED, f"at least one {p} is required")
        for j, provider in enumerate(rule.providers):
            path = f"{p}[{j}]"
            if not provider.types:
                add(
                    path,
                    ErrorType.INVALID,
                    "provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity",
                    {},
                )
            elif len(provider.types) > 1:
                add(
                    path,
                    ErrorType.INVALID,
                    "more than one provider specified in a single element, should split into different list elements",
                    {t.value: "REDACTED" if t.has_keys else {} for t in provider.types},
                )
            if not provider.types:
                continue
            t = provider.type
            if t is ProviderType.KMS and provider.kms is not None:
                _validate_kms(provider.kms, f"{path}.kms", kms_names, reload, add)
                kms_names.add(provider.kms.name)
            elif t.has_keys:
                sizes = SECRETBOX_KEY_SIZES if t is ProviderType.SECRETBOX else AES_KEY_SIZES
                _validate_keys(provider.keys, f"{path}.{t.value}.keys", sizes, add)
    return errs


def _validate_overlap(resources: Sequence[str], path: str, add: Any) -> None:
    if len(resources) < 2:
        return
    parsed = [GroupResource.parse(r) for r in resources]
    has_overlap = has_duplicate = False
    for i, r1 in enumerate(parsed):
        for j, r2 in enumerate(parsed):
            if i == j:
                continue
            if r1 == r2 and not has_duplicate:
                has_duplicate = True
                continue
            if has_overlap:
                continue
            if r1 == ANY_GROUP_ANY_RESOURCE:
                has_overlap = True
                continue
            if r1.group != r2.group:
                continue
            if r1.resource == "*" or r2.resource == "*":
                has_overlap = True
    if has_duplicate:
        add(path, ErrorType.INVALID, "the same resource cannot be specified multiple times", list(resources))
    if has_overlap:
        add(
            path,
            ErrorType.INVALID,
            "using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed "
            "as they will be masked",
            list(resources),
        )


def _validate_names(resources: Sequence[str], path: str, add: Any) -> None:
    for j, res in enumerate(resources):
        jj = f"{path}[{j}]"
        gr = GroupResource.parse(res)
        if res.lower() != res:
            add(jj, ErrorType.INVALID, "resource name should not contain capital letters", res)
        elif res == "*":
            add(
                jj,
                ErrorType.INVALID,
                "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources",
                res,
            )
        elif res in _NON_REST:
            add(jj, ErrorType.INVALID, "resources which do not have REST API/s cannot be encrypted", res)
        elif gr.group == "events.k8s.io":
            add(
                jj,
                ErrorType.INVALID,
                "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. "
                "Use 'events' instead in the config file",
                res,
            )
        elif gr.group == "extensions":
            add(
                jj,
                ErrorType.INVALID,
                "'extensions' group has been removed and cannot be used for encryption",
                res,
            )
        elif gr.group == "*" and gr.resource != "*":
            add(jj, ErrorType.INVALID, "encrypting the same resource across groups is not supported", res)


def _validate_keys(keys: Sequence[Key], path: str, sizes: Sequence[int], add: Any) -> None:
    if not keys:
        add(path, ErrorType.REQUIRED, "at least one keys is required")
        return
    for i, key in enumerate(keys):
        kp = f"{path}[{i}]"
        if key.name == "":
            add(f"{kp}.name", ErrorType.REQUIRED, "name is a mandatory field for a key")
        if key.secret == "":
            add(f"{kp}.secret", ErrorType.REQUIRED, "secret is a mandatory field for a key")
            continue
        try:
            material = _go_std_b64decode(key.secret)
        except ValueError:
            add(f"{kp}.secret", ErrorType.INVALID, "secrets must be base64 encoded", "REDACTED")
            continue
        if len(material) not in sizes:
            add(
                f"{kp}.secret",
                ErrorType.INVALID,
                f"secret is not of the expected length, got {len(material)}, expected one of "
                f"[{' '.join(str(s) for s in sizes)}]",
                "REDACTED",
            )


def _go_std_b64decode(text: str) -> bytes:
    """``base64.StdEncoding.DecodeString``: padded standard alphabet; CR/LF are ignored, nothing else."""
    cleaned = text.replace("\r", "").replace("\n", "")
    if len(cleaned) % 4 != 0 or not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", cleaned):
        raise ValueError("illegal base64 data")
    try:
        return base64.b64decode(cleaned, validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from exc


def _validate_kms(kms: KMSSettings, path: str, names: set[str], reload: bool, add: Any) -> None:
    # name
    if kms.name == "":
        add(f"{path}.name", ErrorType.REQUIRED, "name is a mandatory field for a provider")
    if kms.api_version != "v1" and ":" in kms.name:
        add(
            f"{path}.name",
            ErrorType.INVALID,
            f"invalid KMS provider name {kms.name}, must not contain ':'",
            kms.name,
        )
    if (reload or kms.api_version != "v1") and kms.name in names:
        add(
            f"{path}.name",
            ErrorType.INVALID,
            f"duplicate KMS provider name {kms.name}, names must be unique",
            kms.name,
        )
    # timeout
    if kms.timeout_seconds <= 0:
        add(
            f"{path}.timeout",
            ErrorType.INVALID,
            "timeout should be a positive value",
            go_duration_string(kms.timeout_seconds),
        )
    # endpoint
    if kms.endpoint == "":
        add(f"{path}.endpoint", ErrorType.INVALID, "endpoint is a mandatory field for a kms", "")
    elif any(ord(c) < 0x20 or ord(c) == 0x7F for c in kms.endpoint):
        add(
            f"{path}.endpoint",
            ErrorType.INVALID,
            f"invalid endpoint for kms provider, error: parse {json.dumps(kms.endpoint)}: "
            "net/url: invalid control character in URL",
            kms.endpoint,
        )
    else:
        scheme = kms.endpoint.split(":", 1)[0] if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", kms.endpoint) else ""
        if scheme != "unix":
            add(
                f"{path}.endpoint",
                ErrorType.INVALID,
                f"unsupported scheme {json.dumps(scheme)} for KMS provider, only unix is supported",
                kms.endpoint,
            )
    # cachesize
    if kms.api_version != "v1" and kms.cachesize is not None:
        add(f"{path}.cachesize", ErrorType.INVALID, "cachesize is not supported in v2", kms.cachesize)
    if kms.api_version == "v1" and kms.cachesize == 0:
        add(
            f"{path}.cachesize",
            ErrorType.INVALID,
            "cachesize should be a positive value, or negative to disable",
            kms.cachesize,
        )
    # apiVersion
    if kms.api_version not in ("v1", "v2"):
        add(
            f"{path}.apiVersion",
            ErrorType.INVALID,
            "unsupported apiVersion apiVersion for KMS provider, only v1 and v2 are supported",
            kms.api_version,
        )


# --- the transformer build (config.go) -------------------------------------------------------


def _build_check(rules: Sequence[ResourceRule], kms_v1_enabled: bool) -> str | None:
    seen: set[GroupResource] = set()
    for rule in rules:
        for provider in rule.providers:
            kms = provider.kms if provider.type is ProviderType.KMS else None
            if kms is not None and kms.api_version == "v1" and not kms_v1_enabled:
                return KMS_V1_DISABLED_MSG
        for res in rule.resources:
            gr = GroupResource.parse(res)
            any_in_group = GroupResource(gr.group, "*")
            if any_in_group in seen:
                return f"resource {json.dumps(gr.yaml_string())} is masked by earlier rule {json.dumps(any_in_group.yaml_string())}"
            if ANY_GROUP_ANY_RESOURCE in seen:
                return (
                    f"resource {json.dumps(gr.yaml_string())} is masked by earlier rule "
                    f"{json.dumps(ANY_GROUP_ANY_RESOURCE.yaml_string())}"
                )
            seen.add(gr)
    return None


# --- entry points ----------------------------------------------------------------------------


def parse_encryption_config(
    text: str, name: str = "<config>", *, reload: bool = False, kms_v1_enabled: bool = False
) -> EncryptionConfig:
    """Decode and validate ``text`` as the API server does; ``name`` is the path it would print.

    Raises :class:`EncryptionConfigError` (a :class:`~kapsec.errors.ValidationError`) whose
    message is the server's ``err=`` text.
    """
    quoted = json.dumps(name)
    if text == "":
        raise EncryptionConfigError(
            f"error while parsing file: error while loading file: encryption provider configuration file {quoted} is empty",
            file=name,
        )

    def decode_error(detail: str, line: int | None = None) -> EncryptionConfigError:
        return EncryptionConfigError(
            f"error while parsing file: error decoding encryption provider configuration file {quoted}: {detail}",
            file=name,
            line=line,
        )

    try:
        docs = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = int(mark.line) + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise decode_error(f"yaml: line {line}: {problem}", line) from exc
    docs = [d for d in docs if d is not None]
    if not docs:
        raise decode_error("Object 'Kind' is missing in the document")
    root = docs[0]
    dec = _Decoder()
    api_version, kind, rules, duration_errors = _decode(root, dec)
    if not isinstance(root, yaml.MappingNode):
        raise decode_error(
            dec.type_errors[0] if dec.type_errors else "couldn't get version/kind; json parse error"
        )
    if not kind:
        raise decode_error("Object 'Kind' is missing in the document")
    accepted = {(API_VERSION, KIND), (LEGACY_API_VERSION, LEGACY_KIND)}
    if (api_version, kind) not in accepted:
        if api_version == API_VERSION and kind in ("AdmissionConfiguration", "TracingConfiguration"):
            raise EncryptionConfigError(
                f"error while parsing file: got unexpected config type: {API_VERSION}, Kind={kind}", file=name
            )
        raise decode_error(f"no kind {json.dumps(kind)} is registered for version {json.dumps(api_version)}")
    if dec.type_errors:
        raise decode_error(dec.type_errors[0], None)
    if duration_errors:
        raise decode_error(duration_errors[0])
    if dec.unknown:
        first_path = dec.unknown[0].split('"')[1]
        raise decode_error("strict decoding error: " + ", ".join(dec.unknown), _line_of(root, first_path))
    problems = _validate(rules, dec.lines, reload)
    if problems:
        raise EncryptionConfigError(
            "error while parsing file: " + aggregate([str(p) for p in problems]),
            file=name,
            line=problems[0].line,
            problems=problems,
        )
    build_error = _build_check(rules, kms_v1_enabled)
    if build_error:
        raise EncryptionConfigError(
            f"error while building transformers: {build_error}", file=name, stage="build"
        )
    return EncryptionConfig(tuple(rules), api_version, kind, name)


def _line_of(root: yaml.Node, dotted: str) -> int | None:
    """The line of the YAML node at a server-style field path (``a[0].b``), if present."""
    node: yaml.Node | None = root
    line: int | None = None
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", dotted):
        if node is None:
            break
        if part.startswith("["):
            idx = int(part[1:-1])
            node = node.value[idx] if isinstance(node, yaml.SequenceNode) and idx < len(node.value) else None
        elif isinstance(node, yaml.MappingNode):
            found = None
            for k, v in node.value:
                if str(k.value) == part:
                    found = v
                    line = int(k.start_mark.line) + 1
            node = found
        else:
            node = None
    return line


def read_config_text(path: str | os.PathLike[str]) -> str:
    """Read the file like the server (``os.ReadFile``) and word errors like it."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower() if exc.strerror else str(exc)
        if isinstance(exc, IsADirectoryError):
            reason = "is a directory"
        raise InputError(
            "error while parsing file: error while loading file: error reading encryption provider "
            f"configuration file {json.dumps(name)}: open {name}: {reason}",
            file=name,
        ) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=name) from exc


def load_encryption_config(
    path: str | os.PathLike[str], *, reload: bool = False, kms_v1_enabled: bool = False
) -> EncryptionConfig:
    """Read and validate an EncryptionConfiguration file with the API server's rules.

    Raises :class:`~kapsec.errors.InputError` when it cannot be read and
    :class:`EncryptionConfigError` (a ``ValidationError``) when the server would reject it.
    """
    name = os.fspath(path)
    return parse_encryption_config(read_config_text(name), name, reload=reload, kms_v1_enabled=kms_v1_enabled)
