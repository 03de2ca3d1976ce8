"""RBAC objects as typed, frozen values: PolicyRule, Subject, RoleRef, Role and Binding.

Mirrors the shapes of ``staging/src/k8s.io/api/rbac/v1/types.go`` (kubernetes/kubernetes) and
parses them from the dicts :mod:`kapsec.sources.objects` loads. Parsing is tolerant like the
authorizer: a field of the wrong type is reported as a :class:`ParseProblem` and treated as
empty; rules the API server's validation would reject
(``pkg/apis/rbac/validation/validation.go``) are reported too, but still evaluated as given.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

RBAC_GROUP = "rbac.authorization.k8s.io"
ALL = "*"

ROLE_KINDS = ("Role", "ClusterRole")
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")
RBAC_KINDS = ROLE_KINDS + BINDING_KINDS


@dataclass(frozen=True, slots=True)
class Where:
    """Source location of an object (file and the line its document starts on)."""

    file: str = ""
    line: int | None = None

    def __str__(self) -> str:
        if not self.file:
            return "<input>"
        return self.file if self.line is None else f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class ParseProblem:
    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One rule of a Role or ClusterRole. Lists keep their order and duplicates, as written."""

    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    # Precomputed for the authorizer's hot path (not part of equality).
    verb_set: frozenset[str] = field(default=frozenset(), compare=False, repr=False, hash=False)
    group_set: frozenset[str] = field(default=frozenset(), compare=False, repr=False, hash=False)
    resource_set: frozenset[str] = field(default=frozenset(), compare=False, repr=False, hash=False)
    name_set: frozenset[str] = field(default=frozenset(), compare=False, repr=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "verb_set", frozenset(self.verbs))
        object.__setattr__(self, "group_set", frozenset(self.api_groups))
        object.__setattr__(self, "resource_set", frozenset(self.resources))
        object.__setattr__(self, "name_set", frozenset(self.resource_names))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PolicyRule:
        """Build from the v1 JSON form (``verbs``, ``apiGroups``, ``resources``, ...).

        Raises ``ValueError`` naming the field when a field is not a list of strings.
        """
        return cls(
            verbs=_strs(d, "verbs"),
            api_groups=_strs(d, "apiGroups"),
            resources=_strs(d, "resources"),
            resource_names=_strs(d, "resourceNames"),
            non_resource_urls=_strs(d, "nonResourceURLs"),
        )

    def to_dict(self) -> dict[str, list[str]]:
        """The v1 JSON form, omitting empty lists (as the API server serialises it)."""
        d: dict[str, list[str]] = {}
        if self.verbs:
            d["verbs"] = list(self.verbs)
        if self.api_groups:
            d["apiGroups"] = list(self.api_groups)
        if self.resources:
            d["resources"] = list(self.resources)
        if self.resource_names:
            d["resourceNames"] = list(self.resource_names)
        if self.non_resource_urls:
            d["nonResourceURLs"] = list(self.non_resource_urls)
        return d

    def compact_string(self) -> str:
        """The API server's compact form, as in escalation errors:
        ``{APIGroups:[""], Resources:["pods"], Verbs:["get"]}``."""
        parts = []
        for label, values in (
            ("APIGroups", self.api_groups),
            ("Resources", self.resources),
            ("NonResourceURLs", self.non_resource_urls),
            ("ResourceNames", self.resource_names),
            ("Verbs", self.verbs),
        ):
            if values:
                parts.append(f"{label}:[{' '.join(_go_quote(v) for v in values)}]")
        return "{" + ", ".join(parts) + "}"


def _go_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _strs(d: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = d.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{key}' must be a list of strings")
    return tuple(value)


class SubjectKind(enum.Enum):
    USER = "User"
    GROUP = "Group"
    SERVICE_ACCOUNT = "ServiceAccount"
    OTHER = "Other"  # never matches; kept to report it


@dataclass(frozen=True, slots=True)
class Subject:
    kind: str
    name: str
    namespace: str = ""
    api_group: str = ""

    @property
    def kind_enum(self) -> SubjectKind:
        try:
            return SubjectKind(self.kind)
        except ValueError:
            return SubjectKind.OTHER

    def sa_user(self, binding_namespace: str) -> str | None:
        """The user name a ServiceAccount subject matches, or None when it can match nobody
        (no namespace on the subject and none from the binding)."""
        ns = self.namespace or binding_namespace
        if not ns:
            return None
        return f"system:serviceaccount:{ns}:{self.name}"

    def describe(self, binding_namespace: str = "") -> str:
        """As the API server names a subject in an RBAC reason (``User "jane"``,
        ``ServiceAccount "name/namespace"``)."""
        if self.kind == "ServiceAccount":
            return f'{self.kind} "{self.name}/{self.namespace or binding_namespace}"'
        return f'{self.kind} "{self.name}"'

    def to_dict(self) -> dict[str, str]:
        d = {"kind": self.kind}
        if self.api_group or self.kind in ("User", "Group"):
            d["apiGroup"] = self.api_group
        d["name"] = self.name
        if self.namespace:
            d["namespace"] = self.namespace
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Subject:
        vals: dict[str, str] = {}
        for key in ("kind", "name", "namespace", "apiGroup"):
            v = d.get(key)
            if v is None:
                v = ""
            if not isinstance(v, str):
                raise ValueError(f"subject '{key}' must be a string")
            vals[key] = v
        return cls(vals["kind"], vals["name"], vals["namespace"], vals["apiGroup"])


@dataclass(frozen=True, slots=True)
class RoleRef:
    api_group: str
    kind: str
    name: str

    def to_dict(self) -> dict[str, str]:
        return {"apiGroup": self.api_group, "kind": self.kind, "name": self.name}


@dataclass(frozen=True, slots=True)
class LabelRequirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A metav1.LabelSelector; the empty selector matches every object."""

    match_labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[LabelRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        for k, v in self.match_labels:
            if labels.get(k) != v:
                return False
        for req in self.expressions:
            present = req.key in labels
            if req.operator == "In":
                if not present or labels[req.key] not in req.values:
                    return False
            elif req.operator == "NotIn":
                if present and labels[req.key] in req.values:
                    return False
            elif req.operator == "Exists":
                if not present:
                    return False
            elif req.operator == "DoesNotExist":
                if present:
                    return False
            else:  # unknown operators select nothing (the API server rejects them)
                return False
        return True

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LabelSelector:
        ml = d.get("matchLabels") or {}
        if not isinstance(ml, Mapping):
            raise ValueError("'matchLabels' must be a map")
        exprs = []
        for e in d.get("matchExpressions") or []:
            if not isinstance(e, Mapping):
                raise ValueError("'matchExpressions' entries must be maps")
            op = e.get("operator")
            if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
                raise ValueError(f"unknown label selector operator {op!r}")
            exprs.append(
                LabelRequirement(str(e.get("key", "")), op, tuple(str(v) for v in e.get("values") or ()))
            )
        return cls(tuple((str(k), str(v)) for k, v in ml.items()), tuple(exprs))


@dataclass(frozen=True, slots=True)
class Role:
    """A Role (namespace set) or ClusterRole (namespace ``""``)."""

    kind: str
    name: str
    namespace: str
    rules: tuple[PolicyRule, ...]
    labels: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    annotations: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    aggregation: tuple[LabelSelector, ...] | None = None  # None: no aggregationRule
    where: Where = field(default_factory=Where, compare=False)
    invalid: tuple[str, ...] = field(default=(), compare=False)  # what the API server's validation rejects

    @property
    def key(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def with_rules(self, rules: Sequence[PolicyRule]) -> Role:
        return Role(
            self.kind,
            self.name,
            self.namespace,
            tuple(rules),
            self.labels,
            self.annotations,
            self.aggregation,
            self.where,
            self.invalid,
        )


@dataclass(frozen=True, slots=True)
class Binding:
    """A RoleBinding (namespace set) or ClusterRoleBinding (namespace ``""``)."""

    kind: str
    name: str
    namespace: str
    role_ref: RoleRef
    subjects: tuple[Subject, ...]
    where: Where = field(default_factory=Where, compare=False)
    annotations: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    labels: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    invalid: tuple[str, ...] = field(default=(), compare=False)  # what the API server's validation rejects

    @property
    def key(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def describe(self, subject: Subject) -> str:
        """The API server's description of a grant source (the text after ``RBAC: allowed by``)."""
        if self.kind == "ClusterRoleBinding":
            return (
                f'ClusterRoleBinding "{self.name}" of {self.role_ref.kind} "{self.role_ref.name}" '
                f"to {subject.describe('')}"
            )
        return (
            f'RoleBinding "{self.name}/{self.namespace}" of {self.role_ref.kind} "{self.role_ref.name}" '
            f"to {subject.describe(self.namespace)}"
        )


# --- parsing -------------------------------------------------------------------------------


def _meta(obj: Mapping[str, Any]) -> tuple[str, str, dict[str, str], dict[str, str]]:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        meta = {}
    name = meta.get("name")
    ns = meta.get("namespace")
    labels = meta.get("labels")
    annotations = meta.get("annotations")
    return (
        name if isinstance(name, str) else "",
        ns if isinstance(ns, str) else "",
        {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {},
        {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, Mapping) else {},
    )


def validate_rule(rule: PolicyRule, *, namespaced: bool) -> list[str]:
    """The API server's validation messages for one rule (empty when it would be accepted)."""
    msgs = []
    if not rule.verbs:
        msgs.append("verbs: Required value: verbs must contain at least one value")
    if rule.non_resource_urls:
        if namespaced:
            msgs.append("nonResourceURLs: Invalid value: namespaced rules cannot apply to non-resource URLs")
        if rule.api_groups or rule.resources or rule.resource_names:
            msgs.append(
                "nonResourceURLs: Invalid value: rules cannot apply to both regular resources and non-resource URLs"
            )
        return msgs
    if not rule.api_groups:
        msgs.append("apiGroups: Required value: resource rules must supply at least one api group")
    if not rule.resources:
        msgs.append("resources: Required value: resource rules must supply at least one resource")
    if len(rule.resource_names) > 0 and len(rule.resources) > 1:
        # upstream only rejects this combination through resourceNames on several resources
        msgs.append("resourceNames: Required value: resource names cannot apply to multiple resources")
    return msgs


def _validate_subject(s: Subject, *, namespaced: bool) -> list[str]:
    """``validateRoleBindingSubject`` (``pkg/apis/rbac/validation/validation.go``)."""
    msgs = []
    if not s.name:
        msgs.append("name: Required value")
    if s.kind == "ServiceAccount":
        if s.api_group:
            msgs.append(f'apiGroup: Unsupported value: "{s.api_group}": supported values: ""')
        if not namespaced and not s.namespace:
            msgs.append("namespace: Required value")
    elif s.kind in ("User", "Group"):
        if s.api_group != RBAC_GROUP:
            msgs.append(f'apiGroup: Unsupported value: "{s.api_group}": supported values: "{RBAC_GROUP}"')
    else:
        msgs.append(
            f'kind: Unsupported value: "{s.kind}": supported values: "ServiceAccount", "User", "Group"'
        )
    return msgs


def _maps(
    obj: Mapping[str, Any], key: str, label: str, where: Where, problems: list[ParseProblem]
) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """The maps of the list ``obj[key]`` with their indexes; a non-list or a non-map item is a
    problem and is skipped."""
    raw = obj.get(key)
    if raw is not None and not isinstance(raw, list):
        problems.append(ParseProblem(where, f"{label}: '{key}' must be a list; treated as empty"))
        return
    for i, item in enumerate(raw or []):
        if isinstance(item, Mapping):
            yield i, item
        else:
            problems.append(ParseProblem(where, f"{label}: {key}[{i}] is not a map; ignored"))


def parse_role(obj: Mapping[str, Any], where: Where, problems: list[ParseProblem]) -> Role | None:
    kind = str(obj.get("kind"))
    name, ns, labels, annotations = _meta(obj)
    if not name:
        problems.append(ParseProblem(where, f"{kind} has no metadata.name; skipped"))
        return None
    label = f'{kind} "{ns + "/" if ns and kind == "Role" else ""}{name}"'
    if kind == "Role" and not ns:
        problems.append(
            ParseProblem(
                where, f"{label} has no metadata.namespace; assumed namespace 'default' as kubectl would"
            )
        )
        ns = "default"
    if kind == "ClusterRole":
        ns = ""
    rules: list[PolicyRule] = []
    invalid: list[str] = []
    for i, r in _maps(obj, "rules", label, where, problems):
        try:
            rule = PolicyRule.from_dict(r)
        except ValueError as exc:
            problems.append(ParseProblem(where, f"{label}: rules[{i}]: {exc}; rule ignored"))
            continue
        for msg in validate_rule(rule, namespaced=kind == "Role"):
            invalid.append(f"rules[{i}].{msg}")
            problems.append(
                ParseProblem(
                    where, f"{label}: rules[{i}].{msg} (the API server would reject it; evaluated as written)"
                )
            )
        rules.append(rule)
    aggregation: tuple[LabelSelector, ...] | None = None
    agg = obj.get("aggregationRule")
    if kind == "ClusterRole" and isinstance(agg, Mapping):
        sels = []
        for i, s in enumerate(agg.get("clusterRoleSelectors") or []):
            if not isinstance(s, Mapping):
                problems.append(
                    ParseProblem(where, f"{label}: aggregationRule.clusterRoleSelectors[{i}] is not a map")
                )
                continue
            try:
                sels.append(LabelSelector.from_dict(s))
            except ValueError as exc:
                problems.append(
                    ParseProblem(where, f"{label}: aggregationRule.clusterRoleSelectors[{i}]: {exc}")
                )
        aggregation = tuple(sels)
    return Role(kind, name, ns, tuple(rules), labels, annotations, aggregation, where, tuple(invalid))


def parse_binding(obj: Mapping[str, Any], where: Where, problems: list[ParseProblem]) -> Binding | None:
    kind = str(obj.get("kind"))
    name, ns, labels, annotations = _meta(obj)
    if not name:
        problems.append(ParseProblem(where, f"{kind} has no metadata.name; skipped"))
        return None
    if kind == "RoleBinding" and not ns:
        problems.append(
            ParseProblem(
                where,
                f"{kind} \"{name}\" has no metadata.namespace; assumed namespace 'default' as kubectl would",
            )
        )
        ns = "default"
    if kind == "ClusterRoleBinding":
        ns = ""
    label = f'{kind} "{ns + "/" if ns else ""}{name}"'
    ref = obj.get("roleRef")
    if not isinstance(ref, Mapping):
        problems.append(ParseProblem(where, f"{label} has no roleRef; skipped"))
        return None
    # v1 defaulting (pkg/apis/rbac/v1/defaults.go): an empty roleRef.apiGroup becomes the RBAC group
    role_ref = RoleRef(
        str(ref.get("apiGroup") or RBAC_GROUP), str(ref.get("kind") or ""), str(ref.get("name") or "")
    )
    invalid: list[str] = []
    allowed_kinds = ("ClusterRole",) if kind == "ClusterRoleBinding" else ROLE_KINDS
    if role_ref.api_group != RBAC_GROUP:
        invalid.append(
            f'roleRef.apiGroup: Unsupported value: "{role_ref.api_group}": supported values: "{RBAC_GROUP}"'
        )
    if role_ref.kind not in allowed_kinds:
        supported = ", ".join(f'"{k}"' for k in allowed_kinds)
        invalid.append(f'roleRef.kind: Unsupported value: "{role_ref.kind}": supported values: {supported}')
        problems.append(
            ParseProblem(
                where,
                f"{label}: roleRef.kind {role_ref.kind!r} is not supported (must be "
                f"{' or '.join(allowed_kinds)}); the binding grants nothing",
            )
        )
    if not role_ref.name:
        invalid.append("roleRef.name: Required value")
    subjects: list[Subject] = []
    for i, s in _maps(obj, "subjects", label, where, problems):
        try:
            subj = Subject.from_dict(s)
        except ValueError as exc:
            problems.append(ParseProblem(where, f"{label}: subjects[{i}]: {exc}; ignored"))
            continue
        if not subj.api_group and subj.kind in ("User", "Group"):  # v1 defaulting
            subj = Subject(subj.kind, subj.name, subj.namespace, RBAC_GROUP)
        invalid.extend(
            f"subjects[{i}].{m}" for m in _validate_subject(subj, namespaced=kind == "RoleBinding")
        )
        if subj.kind_enum is SubjectKind.OTHER:
            problems.append(
                ParseProblem(
                    where,
                    f"{label}: subjects[{i}].kind {subj.kind!r} is not User, Group or ServiceAccount; it matches nobody",
                )
            )
        elif subj.kind == "ServiceAccount" and kind == "ClusterRoleBinding" and not subj.namespace:
            problems.append(
                ParseProblem(
                    where,
                    f"{label}: subjects[{i}] ServiceAccount {subj.name!r} has no namespace; it matches nobody",
                )
            )
        subjects.append(subj)
    for msg in invalid:
        # roleRef.kind, unknown subject kinds and namespace-less ServiceAccounts are reported above
        already = (
            msg.startswith("roleRef.kind") or msg.endswith(".namespace: Required value") or ".kind: " in msg
        )
        if not already:
            problems.append(ParseProblem(where, f"{label}: {msg} (the API server would reject it)"))
    return Binding(kind, name, ns, role_ref, tuple(subjects), where, annotations, labels, tuple(invalid))
