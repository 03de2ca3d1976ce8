"""AuthenticationConfiguration and AuthorizationConfiguration validated as the API server's
validation.go words it (field paths, error types, aggregate brackets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kapsec.checks.structured import (
    load_authentication_config,
    load_authorization_config,
    validate_event_rate_limit,
)
from kapsec.errors import ValidationError

AUTHN = "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\n"
AUTHZ = "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthorizationConfiguration\n"
GOOD_JWT = """\
jwt:
- issuer:
    url: https://issuer.example.com
    audiences: [kubernetes]
  claimMappings:
    username: {claim: sub, prefix: "oidc:"}
    groups: {expression: claims.groups}
"""
WEBHOOK = """\
  webhook:
    timeout: 3s
    authorizedTTL: 30s
    unauthorizedTTL: 30s
    subjectAccessReviewVersion: v1
    failurePolicy: Deny
    connectionInfo: {type: KubeConfigFile, kubeConfigFile: /etc/kubernetes/authz-webhook.conf}
"""


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return str(p)


def test_a_valid_jwt_authenticator(tmp_path: Path) -> None:
    c = load_authentication_config(write(tmp_path, AUTHN + GOOD_JWT), "authn.yaml")
    assert c.jwt_issuers == ("https://issuer.example.com",)
    assert c.anonymous is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("https://issuer.example.com", "http://issuer.example.com"),
            'jwt[0].issuer.url: Invalid value: "http://issuer.example.com": URL scheme must be https',
        ),
        (
            ("https://issuer.example.com", "https://u:p@issuer.example.com/?a=b"),
            '[jwt[0].issuer.url: Invalid value: "https://u:p@issuer.example.com/?a=b": URL must not contain a username or password, jwt[0].issuer.url: Invalid value: "https://u:p@issuer.example.com/?a=b": URL must not contain a query]',
        ),
        (("    url: https://issuer.example.com\n", ""), "jwt[0].issuer.url: Required value"),
        (
            ("audiences: [kubernetes]", "audiences: []"),
            "jwt[0].issuer.audiences: Required value: at least one jwt[0].issuer.audiences is required",
        ),
        (
            ("audiences: [kubernetes]", "audiences: [a, b]"),
            'jwt[0].issuer.audienceMatchPolicy: Invalid value: "": audienceMatchPolicy must be MatchAny for multiple audiences',
        ),
        (
            ("audiences: [kubernetes]", "audiences: [a, a]\n    audienceMatchPolicy: MatchAny"),
            'jwt[0].issuer.audiences[1]: Duplicate value: "a"',
        ),
        (
            ('{claim: sub, prefix: "oidc:"}', "{claim: sub}"),
            "jwt[0].claimMappings.username.prefix: Required value: prefix is required when claim is set. It can be set to an empty string to disable prefixing",
        ),
        (
            ('{claim: sub, prefix: "oidc:"}', "{}"),
            "jwt[0].claimMappings.username: Required value: claim or expression is required",
        ),
        (
            ('{claim: sub, prefix: "oidc:"}', "{claim: sub, expression: claims.sub}"),
            'jwt[0].claimMappings.username: Invalid value: "": claim and expression can\'t both be set',
        ),
        (
            ("groups: {expression: claims.groups}", "groups: {expression: claims.groups, prefix: g}"),
            'jwt[0].claimMappings.groups.prefix: Invalid value: "g": may not be specified when expression is set',
        ),
    ],
    ids=[
        "http",
        "userinfo-and-query",
        "no-url",
        "no-audience",
        "two-audiences",
        "duplicate-audience",
        "no-prefix",
        "no-username",
        "claim-and-expression",
        "prefix-with-expression",
    ],
)
def test_jwt_errors(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = AUTHN + GOOD_JWT.replace(*change)
    assert text != AUTHN + GOOD_JWT
    with pytest.raises(ValidationError) as err:
        load_authentication_config(write(tmp_path, text), "authn.yaml")
    assert str(err.value) == f"authn.yaml: invalid authentication configuration: {message}"


def test_duplicate_issuers(tmp_path: Path) -> None:
    two = GOOD_JWT + GOOD_JWT.split("jwt:\n", 1)[1]
    with pytest.raises(ValidationError) as err:
        load_authentication_config(write(tmp_path, AUTHN + two), "authn.yaml")
    assert (
        str(err.value)
        == 'authn.yaml: invalid authentication configuration: jwt[1].issuer.url: Duplicate value: "https://issuer.example.com"'
    )


def test_a_valid_authorization_configuration(tmp_path: Path) -> None:
    text = (
        AUTHZ
        + "authorizers:\n- type: Node\n  name: node\n- type: Webhook\n  name: opa.example\n"
        + WEBHOOK
        + "- type: RBAC\n  name: rbac\n"
    )
    c = load_authorization_config(write(tmp_path, text), "authz.yaml")
    assert (c.types, c.names) == (("Node", "Webhook", "RBAC"), ("node", "opa.example", "rbac"))


@pytest.mark.parametrize(
    ("authorizers", "message"),
    [
        ("authorizers: []\n", "authorizers: Required value: at least one authorization mode must be defined"),
        ("authorizers:\n- {name: x}\n", "authorizers[0].type: Required value"),
        (
            "authorizers:\n- {type: ABAC, name: x}\n",
            'authorizers[0].type: Unsupported value: "ABAC": supported values: "AlwaysAllow", "AlwaysDeny", "Node", "RBAC", "Webhook"',
        ),
        (
            "authorizers:\n- {type: RBAC, name: a}\n- {type: RBAC, name: b}\n",
            'authorizers[1].type: Duplicate value: "RBAC"',
        ),
        (
            "authorizers:\n- {type: RBAC, name: a}\n- {type: Node, name: a}\n",
            'authorizers[1].name: Duplicate value: "a"',
        ),
        ("authorizers:\n- {type: RBAC}\n", "authorizers[0].name: Required value"),
        (
            "authorizers:\n- {type: Webhook, name: w}\n",
            "authorizers[0].webhook: Required value: required when type=Webhook",
        ),
        (
            "authorizers:\n- {type: RBAC, name: r, webhook: {}}\n",
            'authorizers[0].webhook: Invalid value: "non-null": may only be specified when type=Webhook',
        ),
        (
            "authorizers:\n- type: Webhook\n  name: w\n"
            + WEBHOOK.replace("timeout: 3s", "timeout: 45s").replace(
                "failurePolicy: Deny", "failurePolicy: Allow"
            ),
            '[authorizers[0].timeout: Invalid value: "45s": must be > 0s and <= 30s, authorizers[0].failurePolicy: Unsupported value: "Allow": supported values: "NoOpinion", "Deny"]',
        ),
        (
            "authorizers:\n- type: Webhook\n  name: w\n"
            + WEBHOOK.replace("kubeConfigFile: /etc", "kubeConfigFile: etc"),
            'authorizers[0].connectionInfo.kubeConfigFile: Invalid value: "etc/kubernetes/authz-webhook.conf": must be an absolute path',
        ),
    ],
    ids=[
        "none",
        "no-type",
        "abac",
        "duplicate-type",
        "duplicate-name",
        "no-name",
        "webhook-missing",
        "webhook-on-rbac",
        "timeout-and-policy",
        "relative-kubeconfig",
    ],
)
def test_authorization_errors(tmp_path: Path, authorizers: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        load_authorization_config(write(tmp_path, AUTHZ + authorizers), "authz.yaml")
    assert str(err.value) == f"authz.yaml: invalid authorization configuration: {message}"


def test_unknown_fields_are_strict_decoding_errors(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        load_authorization_config(write(tmp_path, AUTHZ + "authorizer: []\n"), "authz.yaml")
    assert (
        str(err.value)
        == 'authz.yaml:3: failed to load authorization configuration from file "authz.yaml": strict decoding error: unknown field "authorizer"'
    )


@pytest.mark.parametrize(
    ("config", "errors"),
    [
        ({"limits": [{"type": "Server", "qps": 5, "burst": 10}]}, []),
        ({"limits": []}, ["limits: Invalid value: []: must not be empty"]),
        ({}, ["limits: Invalid value: null: must not be empty"]),
        (
            {"limits": [{"type": "User", "qps": 1, "burst": 0, "cacheSize": -5}]},
            [
                "limits[0].burst: Invalid value: 0: must be positive",
                "limits[0].cacheSize: Invalid value: -5: must not be negative",
            ],
        ),
        (
            {"limits": [{"type": "Server", "qps": 1, "burst": 1, "cacheSize": -5}]},
            [],
        ),  # Server ignores cacheSize
        (
            {"apiVersion": "eventratelimit.admission.k8s.io/v1beta1", "kind": "Configuration", "limits": []},
            ['no kind "Configuration" is registered for version "eventratelimit.admission.k8s.io/v1beta1"'],
        ),
    ],
    ids=["valid", "empty", "missing", "burst-and-cache", "server-cache-ignored", "bad-version"],
)
def test_event_rate_limit_validation(config: dict[str, object], errors: list[str]) -> None:
    assert validate_event_rate_limit(config) == errors


# apiVersions per minor (StructuredAuthenticationConfiguration GA with v1 in 1.34, StructuredAuthorization-
# Configuration GA with v1 in 1.32; both alpha 1.29 (v1alpha1) and beta 1.30 (v1beta1))
@pytest.mark.parametrize(
    ("kind", "loader", "version", "minor", "ok"),
    [
        ("AuthenticationConfiguration", load_authentication_config, "v1", 34, True),
        ("AuthenticationConfiguration", load_authentication_config, "v1", 33, False),
        ("AuthenticationConfiguration", load_authentication_config, "v1beta1", 30, True),
        ("AuthenticationConfiguration", load_authentication_config, "v1beta1", 29, False),
        ("AuthenticationConfiguration", load_authentication_config, "v1alpha1", 29, True),
        ("AuthenticationConfiguration", load_authentication_config, "v1alpha1", 28, False),
        ("AuthorizationConfiguration", load_authorization_config, "v1", 32, True),
        ("AuthorizationConfiguration", load_authorization_config, "v1", 31, False),
        ("AuthorizationConfiguration", load_authorization_config, "v1beta1", 30, True),
        ("AuthorizationConfiguration", load_authorization_config, "v1alpha1", 29, True),
    ],
)
def test_api_versions_a_minor_decodes(
    tmp_path: Path, kind: str, loader: object, version: str, minor: int, ok: bool
) -> None:
    body = (
        "authorizers:\n- {type: Node, name: node}\n- {type: RBAC, name: rbac}\n"
        if "Authorization" in kind
        else ""
    )
    path = write(tmp_path, f"apiVersion: apiserver.config.k8s.io/{version}\nkind: {kind}\n{body}")
    assert callable(loader)
    if ok:
        assert loader(path, "c.yaml", minor=minor).api_version == f"apiserver.config.k8s.io/{version}"
        return
    with pytest.raises(ValidationError) as err:
        loader(path, "c.yaml", minor=minor)
    known = {"AuthenticationConfiguration": {"v1alpha1": 29, "v1beta1": 30, "v1": 34}}.get(
        kind, {"v1alpha1": 29, "v1beta1": 30, "v1": 32}
    )
    listed = ",".join(v for v in ("v1alpha1", "v1beta1", "v1") if minor >= known[v])
    expected = (
        f"expected {kind} in apiserver.config.k8s.io/{{{listed}}}" if listed else f"no {kind} before 1.29"
    )
    assert err.value.message == (
        f'no kind "{kind}" is registered for version "apiserver.config.k8s.io/{version}" in Kubernetes 1.{minor} '
        f"({version} arrives in 1.{known[version]}); {expected}"
    )


@pytest.mark.parametrize(
    ("minor", "version"),
    [(31, "v1alpha1"), (32, "v1beta1"), (33, "v1beta1"), (34, "v1"), (36, "v1")],
)
def test_authn_version_for_anonymous(minor: int, version: str) -> None:
    from kapsec.checks.structured import authn_version_for_anonymous

    assert authn_version_for_anonymous(minor) == f"apiserver.config.k8s.io/{version}"


def test_authn_version_for_anonymous_before_1_31() -> None:
    from kapsec.checks.structured import authn_version_for_anonymous

    with pytest.raises(ValueError, match=r"needs Kubernetes 1\.31\+, not 1\.30"):
        authn_version_for_anonymous(30)
