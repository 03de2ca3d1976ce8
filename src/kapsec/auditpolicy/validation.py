"""Audit policy validation with the API server's rules, field paths and messages.

Mirrors ``staging/src/k8s.io/apiserver/pkg/apis/audit/validation/validation.go`` (``ValidatePolicy``)
and the error formatting of ``k8s.io/apimachinery/pkg/util/validation/field`` (``Error.Error``,
``ErrorList.ToAggregate``). All errors are collected, in the server's order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from kapsec.auditpolicy.model import LEVELS, STAGES, GroupResources, Policy, PolicyRule

_TYPE_TEXT = {
    "Required": "Required value",
    "NotSupported": "Unsupported value",
    "Invalid": "Invalid value",
}

_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1123_SUBDOMAIN_MESSAGE = (
    "must be a lowercase RFC 1123 subdomain (lowercase alphanumerics, '-' or '.', "
    "starting and ending alphanumeric)"
)
STAGES_MESSAGE = "allowed stages are " + ",".join(STAGES)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation error: ``field`` path, ``type`` (Required, NotSupported, Invalid), value, detail."""

    field: str
    type: str
    value: Any = None
    detail: str = ""

    def body(self) -> str:
        """The part after the field path, formatted as apimachinery's ``ErrorBody``."""
        text = _TYPE_TEXT[self.type]
        if self.type != "Required":
            text += ": " + _go_value(self.value)
        if self.detail:
            text += ": " + self.detail
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def _go_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # %q: the strings here are plain, so JSON quoting is the same
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":"))


def aggregate(errors: list[FieldError]) -> str:
    """``ErrorList.ToAggregate().Error()``: one error as is, several in ``[a, b]``."""
    if len(errors) == 1:
        return str(errors[0])
    return "[" + ", ".join(str(e) for e in errors) + "]"


def is_dns1123_subdomain(value: str) -> list[str]:
    """The messages of ``validation.IsDNS1123Subdomain`` (empty when valid)."""
    msgs = []
    if len(value) > 253:
        msgs.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        msgs.append(DNS1123_SUBDOMAIN_MESSAGE)
    return msgs


def validate_policy(policy: Policy) -> list[FieldError]:
    """Every error the server's ``ValidatePolicy`` reports, in its order."""
    errors = _validate_stages(policy.omit_stages, "omitStages")
    for i, rule in enumerate(policy.rules):
        errors.extend(_validate_rule(rule, f"rules[{i}]"))
    return errors


def _validate_rule(rule: PolicyRule, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if rule.level == "":
        errors.append(FieldError(f"{path}.level", "Required"))
    elif rule.level not in LEVELS:
        errors.append(
            FieldError(
                f"{path}.level",
                "NotSupported",
                rule.level,
                "supported values: " + ", ".join(f'"{x}"' for x in LEVELS),
            )
        )
    for j, url in enumerate(rule.non_resource_urls):
        if url == "*":
            continue
        if not url.startswith("/"):
            errors.append(
                FieldError(
                    f"{path}.nonResourceURLs[{j}]",
                    "Invalid",
                    url,
                    "non-resource URL rules must begin with a '/' character",
                )
            )
        if url and "*" in url[:-1]:
            errors.append(
                FieldError(
                    f"{path}.nonResourceURLs[{j}]",
                    "Invalid",
                    url,
                    "non-resource URL wildcards '*' must be the final character of the rule",
                )
            )
    errors.extend(_validate_resources(rule.resources, f"{path}.resources"))
    errors.extend(_validate_stages(rule.omit_stages, f"{path}.omitStages"))
    if rule.non_resource_urls and (rule.resources or rule.namespaces):
        errors.append(
            FieldError(
                f"{path}.nonResourceURLs",
                "Invalid",
                list(rule.non_resource_urls),
                "rules cannot apply to both regular resources and non-resource URLs",
            )
        )
    return errors


def _validate_resources(entries: tuple[GroupResources, ...], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for gr in entries:
        # "" is the core group and "*" every group; anything else must be a DNS subdomain.
        if gr.group not in ("", "*"):
            msgs = is_dns1123_subdomain(gr.group)
            if msgs:
                errors.append(FieldError(f"{path}.group", "Invalid", gr.group, ",".join(msgs)))
        if gr.resource_names and not gr.resources:
            errors.append(
                FieldError(
                    f"{path}.resourceNames",
                    "Invalid",
                    list(gr.resource_names),
                    "using resourceNames requires at least one resource",
                )
            )
    return errors


def _validate_stages(stages: tuple[str, ...], path: str) -> list[FieldError]:
    return [
        FieldError(f"{path}[{j}]", "Invalid", stage, STAGES_MESSAGE)
        for j, stage in enumerate(stages)
        if stage not in STAGES
    ]
