"""Structured authentication and authorization configuration files.

Mirrors the decoding and validation of ``AuthenticationConfiguration`` and
``AuthorizationConfiguration`` (``apiserver.config.k8s.io`` v1alpha1, v1beta1, v1) in
``staging/src/k8s.io/apiserver/pkg/apis/apiserver/validation/validation.go`` and the loaders in
``pkg/kubeapiserver/options/{authentication,authorization}.go``: strict decoding (an unknown
field stops the server), anonymous ``conditions`` only with ``enabled: true``, authorizer
types and unique names. Error texts follow the API server's (see the v1.36 oracle recordings).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kapsec.errors import ValidationError
from kapsec.sources.yamlmarks import MarkedMap, load_documents, read_text

GROUP = "apiserver.config.k8s.io"
VERSIONS = ("v1alpha1", "v1beta1", "v1")


@dataclass(frozen=True)
class Anonymous:
    enabled: bool
    conditions: tuple[str, ...]


@dataclass(frozen=True)
class AuthenticationConfig:
    source: str
    api_version: str
    anonymous: Anonymous | None
    jwt_issuers: tuple[str, ...]


@dataclass(frozen=True)
class AuthorizationConfig:
    source: str
    api_version: str
    types: tuple[str, ...]
    names: tuple[str, ...]


def _doc(path: str, shown: str, kind: str) -> MarkedMap:
    docs = load_documents(read_text(path, shown), shown)
    if len(docs) != 1 or not isinstance(docs[0], MarkedMap):
        raise ValidationError(f"expected one {kind} document", file=shown)
    doc = docs[0]
    api = str(doc.get("apiVersion", ""))
    if doc.get("kind") != kind or api not in {f"{GROUP}/{v}" for v in VERSIONS}:
        raise ValidationError(
            f'no kind "{doc.get("kind")}" is registered for version "{api}"; expected {kind} in {GROUP}/{{{",".join(VERSIONS)}}}',
            file=shown,
            line=doc.line,
        )
    return doc


def _unknown(doc: Mapping[str, Any], allowed: set[str], prefix: str) -> str | None:
    for k in doc:
        if k not in allowed:
            return f"{prefix}{k}"
    return None


def load_authentication_config(path: str, shown: str | None = None) -> AuthenticationConfig:
    shown = shown or path
    doc = _doc(path, shown, "AuthenticationConfiguration")
    bad = _unknown(doc, {"apiVersion", "kind", "jwt", "anonymous"}, "")
    anon_raw = doc.get("anonymous")
    if bad is None and isinstance(anon_raw, Mapping):
        bad = _unknown(anon_raw, {"enabled", "conditions"}, "anonymous.")
        for i, c in enumerate(anon_raw.get("conditions") or []):
            if bad is None and isinstance(c, Mapping):
                bad = _unknown(c, {"path"}, f"anonymous.conditions[{i}].")
    if bad is not None:
        line = doc.key_line(bad.split(".")[0]) if "." not in bad else None
        raise ValidationError(
            f'failed to load authentication configuration from file "{shown}": strict decoding error: unknown field "{bad}"',
            file=shown,
            line=line,
        )
    anonymous = None
    if anon_raw is not None:
        if not isinstance(anon_raw, Mapping):
            raise ValidationError("anonymous must be an object", file=shown, field="anonymous")
        enabled = anon_raw.get("enabled") is True
        conds = [
            c.get("path", "") if isinstance(c, Mapping) else "" for c in anon_raw.get("conditions") or []
        ]
        if conds and not enabled:
            shown_conds = json.dumps([{"Path": p} for p in conds], separators=(",", ":"))
            raise ValidationError(
                f"invalid authentication configuration: anonymous.conditions: Invalid value: {shown_conds}: "
                "enabled should be set to true when conditions are defined",
                file=shown,
            )
        anonymous = Anonymous(enabled, tuple(str(p) for p in conds))
    issuers = []
    for j in doc.get("jwt") or []:
        if isinstance(j, Mapping) and isinstance(j.get("issuer"), Mapping):
            issuers.append(str(j["issuer"].get("url", "")))
    return AuthenticationConfig(shown, str(doc["apiVersion"]), anonymous, tuple(issuers))


_AUTHZ_TYPES = ("Node", "RBAC", "Webhook", "AlwaysAllow", "AlwaysDeny")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def load_authorization_config(path: str, shown: str | None = None) -> AuthorizationConfig:
    shown = shown or path
    doc = _doc(path, shown, "AuthorizationConfiguration")
    bad = _unknown(doc, {"apiVersion", "kind", "authorizers"}, "")
    if bad is not None:
        raise ValidationError(
            f'failed to load authorization configuration from file "{shown}": strict decoding error: unknown field "{bad}"',
            file=shown,
            line=doc.key_line(bad),
        )
    authorizers = doc.get("authorizers") or []
    if not isinstance(authorizers, list) or not authorizers:
        raise ValidationError(
            "authorizers: Required value: at least one authorization mode must be defined", file=shown
        )
    types: list[str] = []
    names: list[str] = []
    for i, a in enumerate(authorizers):
        where = f"authorizers[{i}]"
        if not isinstance(a, Mapping):
            raise ValidationError(f"{where} must be an object", file=shown)
        t = str(a.get("type", ""))
        n = str(a.get("name", ""))
        if t not in _AUTHZ_TYPES:
            raise ValidationError(
                f'{where}.type: Unsupported value: "{t}": supported values: {", ".join(_AUTHZ_TYPES)}',
                file=shown,
            )
        if t in types and t != "Webhook":
            raise ValidationError(f'{where}.type: Duplicate value: "{t}"', file=shown)
        if not n:
            raise ValidationError(f"{where}.name: Required value", file=shown)
        if not _DNS_LABEL.match(n):
            raise ValidationError(f'{where}.name: Invalid value: "{n}": must be a DNS label', file=shown)
        if n in names:
            raise ValidationError(f'{where}.name: Duplicate value: "{n}"', file=shown)
        if t == "Webhook" and not isinstance(a.get("webhook"), Mapping):
            raise ValidationError(f"{where}.webhook: Required value: required when type=Webhook", file=shown)
        if t != "Webhook" and a.get("webhook") is not None:
            raise ValidationError(
                f"{where}.webhook: Invalid value: non-null webhook config is only allowed with type Webhook",
                file=shown,
            )
        types.append(t)
        names.append(n)
    return AuthorizationConfig(shown, str(doc["apiVersion"]), tuple(types), tuple(names))


# ---------------------------------------------------------------- EventRateLimit configuration
# plugin/pkg/admission/eventratelimit/apis/eventratelimit/validation/validation.go

ERL_GROUP_VERSION = "eventratelimit.admission.k8s.io/v1alpha1"
ERL_LIMIT_TYPES = ("Namespace", "Server", "SourceAndObject", "User")


def _go(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"))


def validate_event_rate_limit(config: Any) -> list[str]:
    """The errors ``ValidateConfiguration`` reports for an EventRateLimit Configuration."""
    if not isinstance(config, Mapping):
        return [f"configuration must be an object, not {_go(config)}"]
    errors: list[str] = []
    api = config.get("apiVersion")
    if api is not None and (api != ERL_GROUP_VERSION or config.get("kind") != "Configuration"):
        errors.append(f'no kind "{config.get("kind")}" is registered for version "{api}"')
        return errors
    limits = config.get("limits")
    if not isinstance(limits, list) or not limits:
        errors.append(f"limits: Invalid value: {_go(limits)}: must not be empty")
        return errors
    for i, limit in enumerate(limits):
        where = f"limits[{i}]"
        if not isinstance(limit, Mapping):
            errors.append(f"{where}: Invalid value: {_go(limit)}: must be an object")
            continue
        kind = limit.get("type")
        if kind not in ERL_LIMIT_TYPES:
            supported = ", ".join(f'"{t}"' for t in ERL_LIMIT_TYPES)
            errors.append(f"{where}.type: Unsupported value: {_go(kind)}: supported values: {supported}")
        for key in ("burst", "qps"):
            value = limit.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                errors.append(f"{where}.{key}: Invalid value: {_go(value)}: must be positive")
        if kind != "Server":
            size = limit.get("cacheSize", 0)
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                errors.append(f"{where}.cacheSize: Invalid value: {_go(size)}: must not be negative")
    return errors
