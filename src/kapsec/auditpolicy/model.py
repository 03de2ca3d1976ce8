"""Typed audit policy values (``audit.k8s.io/v1`` ``Policy``, ``PolicyRule``, ``GroupResources``).

Mirrors ``staging/src/k8s.io/apiserver/pkg/apis/audit/v1/types.go`` (the policy half) and the level
ordering of ``staging/src/k8s.io/apiserver/pkg/apis/audit/helpers.go``. Values are frozen; each
rule remembers the lines it came from so findings can point at them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LEVEL_NONE = "None"
LEVEL_METADATA = "Metadata"
LEVEL_REQUEST = "Request"
LEVEL_REQUEST_RESPONSE = "RequestResponse"

#: Levels in ascending order, as the server lists them in its "supported values" message.
LEVELS: tuple[str, ...] = (LEVEL_NONE, LEVEL_METADATA, LEVEL_REQUEST, LEVEL_REQUEST_RESPONSE)
_LEVEL_ORDER = {name: i for i, name in enumerate(LEVELS)}

STAGE_REQUEST_RECEIVED = "RequestReceived"
STAGE_RESPONSE_STARTED = "ResponseStarted"
STAGE_RESPONSE_COMPLETE = "ResponseComplete"
STAGE_PANIC = "Panic"

#: Stages in the order the server names them in its "allowed stages" message.
STAGES: tuple[str, ...] = (
    STAGE_REQUEST_RECEIVED,
    STAGE_RESPONSE_STARTED,
    STAGE_RESPONSE_COMPLETE,
    STAGE_PANIC,
)

API_VERSION_V1 = "audit.k8s.io/v1"


def level_rank(level: str) -> int:
    """Position of ``level`` in None < Metadata < Request < RequestResponse.

    An unknown level ranks like ``None``, as ``Level.Less`` does upstream (validation rejects it
    anyway).
    """
    return _LEVEL_ORDER.get(level, 0)


@dataclass(frozen=True, slots=True)
class GroupResources:
    group: str = ""
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"group": self.group}
        if self.resources:
            d["resources"] = list(self.resources)
        if self.resource_names:
            d["resourceNames"] = list(self.resource_names)
        return d


@dataclass(frozen=True, slots=True)
class PolicyRule:
    level: str
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[GroupResources, ...] = ()
    namespaces: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: tuple[str, ...] = ()
    omit_managed_fields: bool | None = None
    #: 1-based first and last line of the rule in its file (None when built from a dict).
    line: int | None = None
    end_line: int | None = None

    @property
    def is_catch_all(self) -> bool:
        """True when the rule has no condition at all: it matches every request."""
        return not (
            self.users
            or self.user_groups
            or self.verbs
            or self.resources
            or self.namespaces
            or self.non_resource_urls
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"level": self.level}
        for key, value in (
            ("users", self.users),
            ("userGroups", self.user_groups),
            ("verbs", self.verbs),
            ("namespaces", self.namespaces),
            ("nonResourceURLs", self.non_resource_urls),
            ("omitStages", self.omit_stages),
        ):
            if value:
                d[key] = list(value)
        if self.resources:
            d["resources"] = [gr.to_dict() for gr in self.resources]
        if self.omit_managed_fields is not None:
            d["omitManagedFields"] = self.omit_managed_fields
        return d


@dataclass(frozen=True, slots=True)
class DecodeWarning:
    """A strict-decoding problem the server only warns about (the field is dropped)."""

    path: str
    kind: str  # "unknown field" | "duplicate field" | "extra document" | "deprecated version"
    line: int | None = None

    @property
    def message(self) -> str:
        if self.kind == "extra document":
            return f"document {self.path} is ignored: only the first YAML document is read"
        if self.kind == "deprecated version":
            return f'"{self.path}" is deprecated and will be removed in a future release, use "audit.k8s.io/v1" instead'
        return f'{self.kind} "{self.path}"'


@dataclass(frozen=True, slots=True)
class Suppression:
    """A ``# kapsec-lint: ignore=ID reason`` comment (file-wide or for one rule)."""

    check_id: str
    reason: str
    line: int
    rule_index: int | None  # None: applies to the whole file


@dataclass(frozen=True)
class Policy:
    rules: tuple[PolicyRule, ...]
    omit_stages: tuple[str, ...] = ()
    omit_managed_fields: bool = False
    api_version: str = API_VERSION_V1
    kind: str = "Policy"
    #: File name (or label) the policy was read from.
    source: str | None = None
    #: Problems strict decoding found; the server warns and drops these fields.
    warnings: tuple[DecodeWarning, ...] = ()
    suppressions: tuple[Suppression, ...] = ()
    #: The source text, kept to quote rules as written.
    text: str | None = field(default=None, repr=False, compare=False)
    #: Lazily built evaluator (see :mod:`kapsec.auditpolicy.checker`).
    _compiled: Any = field(default=None, init=False, repr=False, compare=False)

    def rule_text(self, index: int) -> str:
        """The rule as written in the file (with its comments), or rendered when built from a dict."""
        rule = self.rules[index]
        if self.text is not None and rule.line is not None and rule.end_line is not None:
            lines = self.text.splitlines()[rule.line - 1 : rule.end_line]
            indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
            return "\n".join(x[indent:] for x in lines).rstrip()
        return render_rule(rule)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"apiVersion": self.api_version, "kind": self.kind}
        if self.omit_stages:
            d["omitStages"] = list(self.omit_stages)
        if self.omit_managed_fields:
            d["omitManagedFields"] = True
        d["rules"] = [r.to_dict() for r in self.rules]
        return d


def _flow(items: tuple[str, ...]) -> str:
    import json

    return "[" + ", ".join(json.dumps(x) for x in items) + "]"


def render_rule(rule: PolicyRule) -> str:
    """A compact YAML rendering of one rule (flow lists, keys in the API's order)."""
    out = [f"- level: {rule.level}"]
    for key, value in (
        ("users", rule.users),
        ("userGroups", rule.user_groups),
        ("verbs", rule.verbs),
    ):
        if value:
            out.append(f"  {key}: {_flow(value)}")
    if rule.resources:
        out.append("  resources:")
        for gr in rule.resources:
            out.append(f'  - group: "{gr.group}"')
            if gr.resources:
                out.append(f"    resources: {_flow(gr.resources)}")
            if gr.resource_names:
                out.append(f"    resourceNames: {_flow(gr.resource_names)}")
    for key, value in (
        ("namespaces", rule.namespaces),
        ("nonResourceURLs", rule.non_resource_urls),
        ("omitStages", rule.omit_stages),
    ):
        if value:
            out.append(f"  {key}: {_flow(value)}")
    if rule.omit_managed_fields is not None:
        out.append(f"  omitManagedFields: {'true' if rule.omit_managed_fields else 'false'}")
    return "\n".join(out)
