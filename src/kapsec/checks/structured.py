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

# The first minor release whose API server decodes each version (feature gates
# StructuredAuthenticationConfiguration: alpha 1.29, beta 1.30, GA 1.34 with the v1 type;
# StructuredAuthorizationConfiguration: alpha 1.29, beta 1.30, GA 1.32 with the v1 type).
AUTHN_SINCE = {"v1alpha1": 29, "v1beta1": 30, "v1": 34}
AUTHZ_SINCE = {"v1alpha1": 29, "v1beta1": 30, "v1": 32}
# ``anonymous`` (KEP-4633, AnonymousAuthConfigurableEndpoints: alpha 1.31, beta 1.32, GA 1.34) was
# added to v1alpha1 in 1.31 and to v1beta1 with the beta in 1.32 (a 1.31 server rejects it in
# v1beta1 with 'unknown field "anonymous"', kubernetes/kubernetes#127883); v1 has it from the start.
AUTHN_ANONYMOUS_SINCE = {"v1alpha1": 31, "v1beta1": 32, "v1": 34}


def authn_version_for_anonymous(minor: int) -> str:
    """The newest AuthenticationConfiguration apiVersion whose ``anonymous`` field a ``1.minor``
    API server decodes (v1 from 1.34, v1beta1 on 1.32-1.33, v1alpha1 on 1.31)."""
    for v in ("v1", "v1beta1", "v1alpha1"):
        if minor >= AUTHN_ANONYMOUS_SINCE[v]:
            return f"{GROUP}/{v}"
    raise ValueError(f"AuthenticationConfiguration.anonymous needs Kubernetes 1.31+, not 1.{minor}")


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


def _doc(path: str, shown: str, kind: str, since: Mapping[str, int], minor: int | None) -> MarkedMap:
    docs = load_documents(read_text(path, shown), shown)
    if len(docs) != 1 or not isinstance(docs[0], MarkedMap):
        raise ValidationError(f"expected one {kind} document", file=shown)
    doc = docs[0]
    api = str(doc.get("apiVersion", ""))
    known = [v for v in VERSIONS if minor is None or minor >= since[v]]
    if doc.get("kind") != kind or api not in {f"{GROUP}/{v}" for v in known}:
        where = f" in Kubernetes 1.{minor}" if minor is not None else ""
        later = ""
        version = api.removeprefix(f"{GROUP}/")
        if doc.get("kind") == kind and api.startswith(f"{GROUP}/") and version in since:
            later = f" ({version} arrives in 1.{since[version]})"
        expected = f"expected {kind} in {GROUP}/{{{','.join(known)}}}" if known else f"no {kind} before 1.29"
        raise ValidationError(
            f'no kind "{doc.get("kind")}" is registered for version "{api}"{where}{later}; {expected}',
            file=shown,
            line=doc.line,
        )
    return doc


def _unknown(doc: Mapping[str, Any], allowed: set[str], prefix: str) -> str | None:
    for k in doc:
        if k not in allowed:
            return f"{prefix}{k}"
    return None


def load_authentication_config(
    path: str, shown: str | None = None, *, minor: int | None = None
) -> AuthenticationConfig:
    """Decode and validate an AuthenticationConfiguration as a ``1.minor`` API server would
    (which apiVersions and fields it knows); ``minor=None`` accepts what the newest one does."""
    shown = shown or path
    doc = _doc(path, shown, "AuthenticationConfiguration", AUTHN_SINCE, minor)
    fields = {"apiVersion", "kind", "jwt", "anonymous"}
    version = str(doc["apiVersion"]).removeprefix(f"{GROUP}/")
    if minor is not None and minor < AUTHN_ANONYMOUS_SINCE[version]:
        fields.discard("anonymous")
    bad = _unknown(doc, fields, "")
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
    errors: list[str] = []
    anonymous = None
    if anon_raw is not None:
        if not isinstance(anon_raw, Mapping):
            raise ValidationError("anonymous must be an object", file=shown, field="anonymous")
        enabled = anon_raw.get("enabled") is True
        conds = [
            c.get("path", "") if isinstance(c, Mapping) else "" for c in anon_raw.get("conditions") or []
        ]
        anonymous = Anonymous(enabled, tuple(str(p) for p in conds))
    jwt = doc.get("jwt") or []
    if not isinstance(jwt, list):
        raise ValidationError("jwt must be a list", file=shown, field="jwt")
    issuers: list[str] = []
    seen_urls: set[str] = set()
    seen_discovery: set[str] = set()
    for i, j in enumerate(jwt):
        where = f"jwt[{i}]"
        j = j if isinstance(j, Mapping) else {}
        errors.extend(_jwt_errors(j, where))
        issuer = _obj(j.get("issuer"))
        url = str(issuer.get("url") or "")
        if url in seen_urls:
            errors.append(f"{where}.issuer.url: Duplicate value: {_go(url)}")
        seen_urls.add(url)
        disc = str(issuer.get("discoveryURL") or "")
        if disc:
            if disc in seen_discovery:
                errors.append(f"{where}.issuer.discoveryURL: Duplicate value: {_go(disc)}")
            seen_discovery.add(disc)
        issuers.append(url)
    if anonymous is not None and anonymous.conditions and not anonymous.enabled:
        shown_conds = json.dumps([{"Path": p} for p in anonymous.conditions], separators=(",", ":"))
        errors.append(
            f"anonymous.conditions: Invalid value: {shown_conds}: enabled should be set to true when conditions are defined"
        )
    if errors:
        raise ValidationError(f"invalid authentication configuration: {_aggregate(errors)}", file=shown)
    return AuthenticationConfig(shown, str(doc["apiVersion"]), anonymous, tuple(issuers))


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _aggregate(errors: list[str]) -> str:
    """``field.ErrorList.ToAggregate().Error()``: one error alone, several in brackets."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def _url_errors(url: str, where: str) -> list[str]:
    from urllib.parse import urlsplit

    out = []
    try:
        u = urlsplit(url)
    except ValueError as exc:
        return [f"{where}: Invalid value: {_go(url)}: {exc}"]
    if u.scheme != "https":
        out.append(f"{where}: Invalid value: {_go(url)}: URL scheme must be https")
    if u.username is not None or u.password is not None:
        out.append(f"{where}: Invalid value: {_go(url)}: URL must not contain a username or password")
    if u.query:
        out.append(f"{where}: Invalid value: {_go(url)}: URL must not contain a query")
    if u.fragment:
        out.append(f"{where}: Invalid value: {_go(url)}: URL must not contain a fragment")
    return out


def _jwt_errors(j: Mapping[str, Any], where: str) -> list[str]:
    """validateJWTAuthenticator, without the CEL expression compilation."""
    out: list[str] = []
    issuer = _obj(j.get("issuer"))
    url = str(issuer.get("url") or "")
    if not url:
        out.append(f"{where}.issuer.url: Required value")
    else:
        out.extend(_url_errors(url, f"{where}.issuer.url"))
    disc = str(issuer.get("discoveryURL") or "")
    if disc:
        if url and url.rstrip("/") == disc.rstrip("/"):
            out.append(
                f"{where}.issuer.discoveryURL: Invalid value: {_go(disc)}: discoveryURL must be different from URL"
            )
        out.extend(_url_errors(disc, f"{where}.issuer.discoveryURL"))
    audiences = issuer.get("audiences") or []
    policy = str(issuer.get("audienceMatchPolicy") or "")
    apath = f"{where}.issuer.audiences"
    if not isinstance(audiences, list) or not audiences:
        out.append(f"{apath}: Required value: at least one {apath} is required")
    else:
        seen: set[str] = set()
        for k, aud in enumerate(audiences):
            if not aud:
                out.append(f"{apath}[{k}]: Required value")
            if aud in seen:
                out.append(f"{apath}[{k}]: Duplicate value: {_go(aud)}")
            seen.add(aud)
        ppath = f"{where}.issuer.audienceMatchPolicy"
        if len(audiences) > 1 and policy != "MatchAny":
            out.append(
                f"{ppath}: Invalid value: {_go(policy)}: audienceMatchPolicy must be MatchAny for multiple audiences"
            )
        if len(audiences) == 1 and policy not in ("", "MatchAny"):
            out.append(
                f"{ppath}: Invalid value: {_go(policy)}: audienceMatchPolicy must be empty or MatchAny for single audience"
            )
    mappings = _obj(j.get("claimMappings"))
    for key, required in (("username", True), ("groups", False)):
        m = _obj(mappings.get(key))
        mpath = f"{where}.claimMappings.{key}"
        claim, expr = str(m.get("claim") or ""), str(m.get("expression") or "")
        if claim and expr:
            out.append(f'{mpath}: Invalid value: "": claim and expression can\'t both be set')
        elif not claim and not expr and required:
            out.append(f"{mpath}: Required value: claim or expression is required")
        elif expr and "prefix" in m:
            out.append(
                f"{mpath}.prefix: Invalid value: {_go(m.get('prefix'))}: may not be specified when expression is set"
            )
        elif claim and "prefix" not in m:
            out.append(
                f"{mpath}.prefix: Required value: prefix is required when claim is set. "
                "It can be set to an empty string to disable prefixing"
            )
    uid = _obj(mappings.get("uid"))
    if uid.get("claim") and uid.get("expression"):
        out.append(f'{where}.claimMappings.uid: Invalid value: "": claim and expression can\'t both be set')
    return out


_AUTHZ_TYPES = ("AlwaysAllow", "AlwaysDeny", "Node", "RBAC", "Webhook")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def load_authorization_config(
    path: str, shown: str | None = None, *, minor: int | None = None
) -> AuthorizationConfig:
    """Decode and validate an AuthorizationConfiguration as a ``1.minor`` API server would."""
    shown = shown or path
    doc = _doc(path, shown, "AuthorizationConfiguration", AUTHZ_SINCE, minor)
    bad = _unknown(doc, {"apiVersion", "kind", "authorizers"}, "")
    if bad is not None:
        raise ValidationError(
            f'failed to load authorization configuration from file "{shown}": strict decoding error: unknown field "{bad}"',
            file=shown,
            line=doc.key_line(bad),
        )
    authorizers = doc.get("authorizers") or []
    errors: list[str] = []
    if not isinstance(authorizers, list) or not authorizers:
        errors.append("authorizers: Required value: at least one authorization mode must be defined")
        authorizers = []
    types: list[str] = []
    names: list[str] = []
    for i, a in enumerate(authorizers):
        where = f"authorizers[{i}]"
        a = _obj(a)
        t = str(a.get("type") or "")
        n = str(a.get("name") or "")
        if not t:
            errors.append(f"{where}.type: Required value")
            continue
        if t not in _AUTHZ_TYPES:
            supported = ", ".join(f'"{x}"' for x in _AUTHZ_TYPES)
            errors.append(f"{where}.type: Unsupported value: {_go(t)}: supported values: {supported}")
            continue
        if t in types and t != "Webhook":
            errors.append(f"{where}.type: Duplicate value: {_go(t)}")
            continue
        types.append(t)
        if not n:
            errors.append(f"{where}.name: Required value")
        elif n in names:
            errors.append(f"{where}.name: Duplicate value: {_go(n)}")
        elif len(n) > 253 or not _DNS_SUBDOMAIN.match(n):
            errors.append(
                f"{where}.name: Invalid value: {_go(n)}: authorizer name is invalid: a lowercase RFC 1123 subdomain "
                "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character"
            )
        names.append(n)
        if t == "Webhook":
            if a.get("webhook") is None:
                errors.append(f"{where}.webhook: Required value: required when type=Webhook")
                continue
            errors.extend(_webhook_errors(_obj(a.get("webhook")), where))
        elif a.get("webhook") is not None:
            errors.append(
                f'{where}.webhook: Invalid value: "non-null": may only be specified when type=Webhook'
            )
    if errors:
        raise ValidationError(f"invalid authorization configuration: {_aggregate(errors)}", file=shown)
    return AuthorizationConfig(shown, str(doc["apiVersion"]), tuple(types), tuple(names))


def _webhook_errors(w: Mapping[str, Any], where: str) -> list[str]:
    """ValidateWebhookConfiguration, without the CEL match-condition compilation."""
    from kapsec.model.goparse import GoParseError, parse_duration_ns

    out: list[str] = []

    def duration(key: str) -> int | None:
        raw = w.get(key)
        if raw in (None, ""):
            return 0
        try:
            return parse_duration_ns(str(raw))
        except GoParseError:
            out.append(f"{where}.{key}: Invalid value: {_go(raw)}: not a duration")
            return None

    timeout = duration("timeout")
    if timeout == 0:
        out.append(f"{where}.timeout: Required value")
    elif timeout is not None and not 0 < timeout <= 30 * 10**9:
        out.append(f"{where}.timeout: Invalid value: {_go(w.get('timeout'))}: must be > 0s and <= 30s")
    for key in ("authorizedTTL", "unauthorizedTTL"):
        ttl = duration(key)
        if ttl == 0:
            out.append(f"{where}.{key}: Required value")
        elif ttl is not None and ttl < 0:
            out.append(f"{where}.{key}: Invalid value: {_go(w.get(key))}: must be > 0s")
    sar = str(w.get("subjectAccessReviewVersion") or "")
    if not sar:
        out.append(f"{where}.subjectAccessReviewVersion: Required value")
    elif sar not in ("v1", "v1beta1"):
        out.append(
            f'{where}.subjectAccessReviewVersion: Unsupported value: {_go(sar)}: supported values: "v1", "v1beta1"'
        )
    mc = str(w.get("matchConditionSubjectAccessReviewVersion") or "")
    if not mc and w.get("matchConditions"):
        out.append(
            f"{where}.matchConditionSubjectAccessReviewVersion: Required value: required if match conditions are specified"
        )
    elif mc and mc != "v1":
        out.append(
            f'{where}.matchConditionSubjectAccessReviewVersion: Unsupported value: {_go(mc)}: supported values: "v1"'
        )
    policy = str(w.get("failurePolicy") or "")
    if not policy:
        out.append(f"{where}.failurePolicy: Required value")
    elif policy not in ("NoOpinion", "Deny"):
        out.append(
            f'{where}.failurePolicy: Unsupported value: {_go(policy)}: supported values: "NoOpinion", "Deny"'
        )
    conn = _obj(w.get("connectionInfo"))
    ctype = str(conn.get("type") or "")
    kubeconfig = conn.get("kubeConfigFile")
    if not ctype:
        out.append(f"{where}.connectionInfo.type: Required value")
    elif ctype == "InClusterConfig":
        if kubeconfig is not None:
            out.append(
                f"{where}.connectionInfo.kubeConfigFile: Invalid value: {_go(kubeconfig)}: can only be set when type=KubeConfigFile"
            )
    elif ctype == "KubeConfigFile":
        if not kubeconfig:
            out.append(f"{where}.connectionInfo.kubeConfigFile: Required value")
        elif not str(kubeconfig).startswith("/"):
            out.append(
                f"{where}.connectionInfo.kubeConfigFile: Invalid value: {_go(kubeconfig)}: must be an absolute path"
            )
    else:
        out.append(
            f'{where}.connectionInfo.type: Unsupported value: {_go(ctype)}: supported values: "InClusterConfig", "KubeConfigFile"'
        )
    return out


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
