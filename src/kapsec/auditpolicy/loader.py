"""Reading a policy file the way the API server does, plus strict-field reporting.

Mirrors ``staging/src/k8s.io/apiserver/pkg/audit/policy/reader.go`` (``LoadPolicyFromFile``,
``LoadPolicyFromBytes``) as of Kubernetes 1.36:

1. decode strictly; when the only problems are unknown or duplicate fields, the server logs
   ``Audit policy contains errors, falling back to lenient decoding: strict decoding error: ...``
   and drops them. We keep them as :class:`DecodeWarning` (lint reports them: a ``verb:`` typo
   silently widens a rule to every verb). Any other decoding problem is fatal;
2. only ``audit.k8s.io/v1`` is registered (v1alpha1 and v1beta1 were removed in 1.24 and are
   rejected with the decoder's own message);
3. ``ValidatePolicy``; 4. a policy with zero rules is rejected.

Errors carry the server's text (``ValidationError.server_error``), the file and the line.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
from collections.abc import Mapping
from typing import Any, cast

import yaml

from kapsec.auditpolicy.model import (
    API_VERSION_V1,
    DecodeWarning,
    GroupResources,
    Policy,
    PolicyRule,
    Suppression,
)
from kapsec.auditpolicy.validation import FieldError, aggregate, validate_policy
from kapsec.errors import InputError, ValidationError

_SCHEME = "pkg/audit/scheme.go:30"
_KNOWN_VERSIONS = ("audit.k8s.io/v1", "audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1")

# Field -> Go type for the three structs (types.go); "[]string" lists, "bool", "*bool", "string".
_POLICY_FIELDS = {
    "apiVersion": "string",
    "kind": "string",
    "metadata": "ObjectMeta",
    "rules": "[]PolicyRule",
    "omitStages": "[]Stage",
    "omitManagedFields": "bool",
}
_RULE_FIELDS = {
    "level": "Level",
    "users": "[]string",
    "userGroups": "[]string",
    "verbs": "[]string",
    "resources": "[]GroupResources",
    "namespaces": "[]string",
    "nonResourceURLs": "[]string",
    "omitStages": "[]Stage",
    "omitManagedFields": "*bool",
}
_GR_FIELDS = {"group": "string", "resources": "[]string", "resourceNames": "[]string"}
_OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)

SUPPRESSION_RE = re.compile(r"#\s*kapsec-lint:\s*ignore=([A-Z]{2}\d{3})\b[\s:,-]*(.*)$")


class PolicyDecodeError(ValidationError):
    """The server would refuse this policy. ``server_error`` is its text; ``errors`` the field errors."""

    def __init__(
        self,
        server_error: str,
        *,
        file: str | None = None,
        line: int | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(server_error, file=file, line=line)
        self.server_error = server_error
        self.errors = errors or []


class PolicySyntaxError(InputError):
    """The file is not YAML (the server fails the same way: ``failed decoding: error converting YAML...``)."""


class _Decoder:
    """Turns a YAML node tree into plain values, remembering the line of every path."""

    def __init__(self) -> None:
        self.lines: dict[str, int] = {}
        self.end_lines: dict[str, int] = {}
        self.warnings: list[DecodeWarning] = []

    def to_value(self, node: yaml.Node, path: str, loader: yaml.SafeLoader) -> Any:
        self.lines[path] = node.start_mark.line + 1
        self.end_lines[path] = _content_end(node)
        if isinstance(node, yaml.MappingNode):
            explicit = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
            loader.flatten_mapping(
                node
            )  # YAML merge keys (<<: *anchor), as the server's decoder applies them
            merged = len(node.value) - explicit  # flatten_mapping puts merged pairs first
            out: dict[str, Any] = {}
            seen: set[str] = set()
            for n, (key_node, value_node) in enumerate(node.value):
                key = loader.construct_object(key_node, deep=True)
                key_s = _go_key(key)
                child = f"{path}.{key_s}" if path else key_s
                if key_s in seen:
                    self.warnings.append(
                        DecodeWarning(child, "duplicate field", key_node.start_mark.line + 1)
                    )
                if n >= merged:
                    seen.add(key_s)
                out[key_s] = self.to_value(value_node, child, loader)
                self.lines[child] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.to_value(item, f"{path}[{i}]", loader) for i, item in enumerate(node.value)]
        return loader.construct_object(node, deep=True)


def _content_end(node: yaml.Node) -> int:
    """1-based last line holding the node's own text (block collections end where the next token starts)."""
    if isinstance(node, yaml.MappingNode) and node.value and not node.flow_style:
        return _content_end(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
        return _content_end(node.value[-1])
    end = node.end_mark.line + (0 if node.end_mark.column == 0 else 1)
    return max(end, node.start_mark.line + 1)


def _go_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


class _TypeProblem(Exception):
    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def _string(value: Any, path: str, struct: str, gotype: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if not isinstance(value, str):
        raise _TypeProblem(
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field {struct}.{_dotted(path)} "
            f"of type {gotype}",
            path,
        )
    return value


def _dotted(path: str) -> str:
    return re.sub(r"\[\d+\]", "", path)


def _strings(value: Any, path: str, struct: str, gotype: str = "string") -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _TypeProblem(
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field {struct}.{_dotted(path)} "
            f"of type []{gotype}",
            path,
        )
    return tuple(_string(v, f"{path}[{i}]", struct, gotype) for i, v in enumerate(value))


def _bool(value: Any, path: str, struct: str, gotype: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _TypeProblem(
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field {struct}.{_dotted(path)} "
            f"of type {gotype}",
            path,
        )
    return value


def _check_object(value: Any, path: str, struct: str, gotype: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _TypeProblem(
            f"json: cannot unmarshal {_json_kind(value)} into Go struct field {struct}.{_dotted(path)} "
            f"of type {gotype}",
            path,
        )
    return value


def _unknown(
    obj: Mapping[str, Any], known: Mapping[str, str] | frozenset[str], prefix: str, dec: _Decoder
) -> None:
    for key in obj:
        if key not in known:
            path = f"{prefix}.{key}" if prefix else key
            dec.warnings.append(DecodeWarning(path, "unknown field", dec.lines.get(path)))


def _build(doc: dict[str, Any], dec: _Decoder) -> tuple[Policy, dict[int, tuple[int | None, int | None]]]:
    _unknown(doc, _POLICY_FIELDS, "", dec)
    meta = _check_object(doc.get("metadata"), "metadata", "Policy", "v1.ObjectMeta")
    _unknown(meta, _OBJECT_META_FIELDS, "metadata", dec)
    rules_raw = doc.get("rules")
    if rules_raw is not None and not isinstance(rules_raw, list):
        raise _TypeProblem(
            f"json: cannot unmarshal {_json_kind(rules_raw)} into Go struct field Policy.rules of type "
            "[]v1.PolicyRule",
            "rules",
        )
    rules = []
    spans: dict[int, tuple[int | None, int | None]] = {}
    for i, raw in enumerate(rules_raw or []):
        rp = f"rules[{i}]"
        r = _check_object(raw, rp, "Policy", "v1.PolicyRule")
        _unknown(r, _RULE_FIELDS, rp, dec)
        grs = []
        res_raw = r.get("resources")
        if res_raw is not None and not isinstance(res_raw, list):
            raise _TypeProblem(
                f"json: cannot unmarshal {_json_kind(res_raw)} into Go struct field PolicyRule.rules.resources "
                "of type []v1.GroupResources",
                f"{rp}.resources",
            )
        for k, gr_raw in enumerate(res_raw or []):
            gp = f"{rp}.resources[{k}]"
            gr = _check_object(gr_raw, gp, "PolicyRule", "v1.GroupResources")
            _unknown(gr, _GR_FIELDS, gp, dec)
            grs.append(
                GroupResources(
                    group=_string(gr.get("group"), f"{gp}.group", "GroupResources", "string"),
                    resources=_strings(gr.get("resources"), f"{gp}.resources", "GroupResources"),
                    resource_names=_strings(gr.get("resourceNames"), f"{gp}.resourceNames", "GroupResources"),
                )
            )
        line, end = dec.lines.get(rp), dec.end_lines.get(rp)
        spans[i] = (line, end)
        rules.append(
            PolicyRule(
                level=_string(r.get("level"), f"{rp}.level", "PolicyRule", "v1.Level"),
                users=_strings(r.get("users"), f"{rp}.users", "PolicyRule"),
                user_groups=_strings(r.get("userGroups"), f"{rp}.userGroups", "PolicyRule"),
                verbs=_strings(r.get("verbs"), f"{rp}.verbs", "PolicyRule"),
                resources=tuple(grs),
                namespaces=_strings(r.get("namespaces"), f"{rp}.namespaces", "PolicyRule"),
                non_resource_urls=_strings(r.get("nonResourceURLs"), f"{rp}.nonResourceURLs", "PolicyRule"),
                omit_stages=_strings(r.get("omitStages"), f"{rp}.omitStages", "PolicyRule", "v1.Stage"),
                omit_managed_fields=_bool(
                    r.get("omitManagedFields"), f"{rp}.omitManagedFields", "PolicyRule", "bool"
                ),
                line=line,
                end_line=end,
            )
        )
    policy = Policy(
        rules=tuple(rules),
        omit_stages=_strings(doc.get("omitStages"), "omitStages", "Policy", "v1.Stage"),
        omit_managed_fields=bool(_bool(doc.get("omitManagedFields"), "omitManagedFields", "Policy", "bool")),
        api_version=_string(doc.get("apiVersion"), "apiVersion", "Policy", "string"),
        kind=_string(doc.get("kind"), "kind", "Policy", "string"),
    )
    return policy, spans


def _line_for(path: str, lines: Mapping[str, int]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            break
        path = path[:cut]
    return None


def _parse_suppressions(text: str, policy: Policy) -> tuple[Suppression, ...]:
    """Find ``# kapsec-lint: ignore=ID reason`` comments and the rule each belongs to.

    A comment before ``rules:`` applies to the whole file. Otherwise it belongs to the rule it
    sits in: a trailing comment, or a comment indented deeper than a rule's ``-``, continues that
    rule; any other comment introduces the next rule.
    """
    lines = text.splitlines()
    starts = [(i, r.line) for i, r in enumerate(policy.rules) if r.line is not None]
    rules_line = next((k for k, x in enumerate(lines, start=1) if x.lstrip().startswith("rules:")), None)
    out = []
    for n, line in enumerate(lines, start=1):
        m = SUPPRESSION_RE.search(line)
        if not m:
            continue
        rule_index: int | None = None
        if starts and rules_line is not None and n > rules_line:
            prev = next(((i, st) for i, st in reversed(starts) if st <= n), None)
            nxt = next(((i, st) for i, st in starts if st > n), None)
            own_line = line.lstrip().startswith("#")
            indent = len(line) - len(line.lstrip())
            if prev is not None and (not own_line or indent > lines[prev[1] - 1].find("-") or nxt is None):
                rule_index = prev[0]
            elif nxt is not None:
                rule_index = nxt[0]
        out.append(Suppression(m.group(1), m.group(2).strip(), n, rule_index))
    return tuple(out)


def _from_document(
    doc: Any,
    dec: _Decoder,
    name: str | None,
    text: str | None,
    *,
    strict: bool,
    k8s_version: tuple[int, int] | None = None,
) -> Policy:
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise PolicyDecodeError(
            f"failed decoding: json: cannot unmarshal {_json_kind(doc)} into Go value of type struct "
            '{ APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }',
            file=name,
            line=1,
        )
    api_version = doc.get("apiVersion")
    kind = doc.get("kind")
    if not api_version or not isinstance(api_version, str):
        raise PolicyDecodeError(
            "unknown group version field audit.k8s.io/__internal, Kind=Policy in policy",
            file=name,
            line=dec.lines.get("apiVersion", 1),
        )
    if not kind:
        compact = json.dumps(doc, separators=(",", ":"), default=str)
        raise PolicyDecodeError(
            f"failed decoding: Object 'Kind' is missing in '{compact}'", file=name, line=1
        )
    legacy_ok = k8s_version is not None and k8s_version < (1, 24) and api_version in _KNOWN_VERSIONS
    if legacy_ok and kind == "Policy" and api_version != API_VERSION_V1:
        # Servers before 1.24 still decode v1alpha1/v1beta1 (1.21-1.23 warn that they are deprecated).
        dec.warnings.append(DecodeWarning(api_version, "deprecated version", dec.lines.get("apiVersion")))
    elif api_version != API_VERSION_V1 or kind != "Policy":
        raise PolicyDecodeError(
            f'failed decoding: no kind "{kind}" is registered for version "{api_version}" in scheme "{_SCHEME}"',
            file=name,
            line=dec.lines.get("apiVersion" if api_version != API_VERSION_V1 else "kind"),
        )
    try:
        policy, _ = _build(doc, dec)
    except _TypeProblem as exc:
        raise PolicyDecodeError(
            f"failed decoding: {exc}", file=name, line=_line_for(exc.path, dec.lines)
        ) from None
    warnings = tuple(dec.warnings)
    strict_problems = [w for w in warnings if w.kind in ("unknown field", "duplicate field")]
    if strict and strict_problems:
        text_err = "strict decoding error: " + ", ".join(w.message for w in strict_problems)
        raise PolicyDecodeError(text_err, file=name, line=strict_problems[0].line)
    errors = validate_policy(policy)
    if errors:
        raise PolicyDecodeError(
            aggregate(errors), file=name, line=_line_for(errors[0].field, dec.lines), errors=errors
        )
    if not policy.rules:
        raise PolicyDecodeError(
            "loaded illegal policy with 0 rules", file=name, line=dec.lines.get("rules", 1)
        )
    suppressions = _parse_suppressions(text, policy) if text is not None else ()
    return dataclasses.replace(policy, source=name, warnings=warnings, text=text, suppressions=suppressions)


def server_warning(policy: Policy) -> str | None:
    """The warning the API server logs when it falls back to lenient decoding, or None."""
    problems = [w.message for w in policy.warnings if w.kind in ("unknown field", "duplicate field")]
    if not problems:
        return None
    return (
        "Audit policy contains errors, falling back to lenient decoding: strict decoding error: "
        + ", ".join(problems)
    )


def load_policy_text(
    text: str, name: str = "<policy>", *, strict: bool = False, k8s_version: tuple[int, int] | None = None
) -> Policy:
    """Parse and validate a policy as the API server would load it.

    With ``strict`` unknown and duplicate fields are errors (``strict decoding error: ...``);
    without it they are kept in ``Policy.warnings``, as the server falls back to lenient decoding.
    ``k8s_version`` (major, minor) selects an older server: before 1.24 the deprecated
    ``audit.k8s.io/v1beta1`` and ``v1alpha1`` are still read (kept as a warning); by default the
    policy is read as 1.36 does, which accepts only ``audit.k8s.io/v1``.
    Raises :class:`InputError` for malformed YAML and :class:`PolicyDecodeError` (a
    :class:`ValidationError`) for anything the server rejects.
    """
    dec = _Decoder()
    try:
        # The reader rejects control characters (a NUL byte) while it is being built.
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        from kapsec.sources.objects import yaml_reason

        reason = yaml_reason(exc)
        raise InputError(f"failed decoding: error converting YAML to JSON: {reason}", file=name) from exc
    try:
        node = loader.get_node() if loader.check_node() else None
        value = dec.to_value(node, "", loader) if node is not None else None
        if loader.check_node():
            extra = loader.get_node()
            if extra is not None:
                dec.warnings.append(DecodeWarning("2", "extra document", extra.start_mark.line + 1))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(
            f"failed decoding: error converting YAML to JSON: yaml: line {line}: {problem}",
            file=name,
            line=line,
        ) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"failed decoding: error converting YAML to JSON: {exc}", file=name) from exc
    finally:
        loader.dispose()
    return _from_document(value, dec, name, text, strict=strict, k8s_version=k8s_version)


def load_policy_file(
    path: str | os.PathLike[str], *, strict: bool = False, k8s_version: tuple[int, int] | None = None
) -> Policy:
    """Read ``path`` and load it with :func:`load_policy_text`."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise InputError(f'failed to read file path "{name}": open {name}: {reason}', file=name) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=name) from exc
    return load_policy_text(text, name, strict=strict, k8s_version=k8s_version)


def policy_from_dict(doc: Mapping[str, Any], name: str | None = None, *, validate: bool = True) -> Policy:
    """Build a policy from an already parsed object (JSON vectors, API objects).

    With ``validate=False`` the policy is decoded but not validated, and zero rules are allowed
    (``ValidatePolicy`` alone accepts an empty policy).
    """
    dec = _Decoder()
    if not validate:
        try:
            policy, _ = _build(cast(dict[str, Any], dict(doc)), dec)
        except _TypeProblem as exc:
            raise PolicyDecodeError(f"failed decoding: {exc}", file=name) from None
        return policy
    return _from_document(dict(doc), dec, name, None, strict=False)
