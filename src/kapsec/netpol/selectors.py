"""Label selectors as NetworkPolicies use them.

Mirrors ``staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go``
(``LabelSelectorAsSelector``: matchLabels and matchExpressions ANDed; an empty selector matches
everything; operators In, NotIn, Exists, DoesNotExist; In/NotIn need values, Exists and
DoesNotExist must have none). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class SelectorError(ValueError):
    """A selector the API server would reject."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist


@dataclass(frozen=True, slots=True)
class Selector:
    requirements: tuple[Requirement, ...]

    @property
    def everything(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    @classmethod
    def parse(cls, raw: Any, where: str = "selector") -> Selector:
        """Parse a metav1.LabelSelector (``None`` or ``{}`` selects everything)."""
        if raw is None:
            return cls(())
        if not isinstance(raw, Mapping):
            raise SelectorError(f"{where}: must be an object")
        reqs: list[Requirement] = []
        match_labels = raw.get("matchLabels") or {}
        if not isinstance(match_labels, Mapping):
            raise SelectorError(f"{where}.matchLabels: must be a map of strings")
        for k, v in match_labels.items():
            reqs.append(Requirement(str(k), "In", frozenset({"" if v is None else str(v)})))
        exprs = raw.get("matchExpressions") or []
        if not isinstance(exprs, list):
            raise SelectorError(f"{where}.matchExpressions: must be a list")
        for i, e in enumerate(exprs):
            path = f"{where}.matchExpressions[{i}]"
            if not isinstance(e, Mapping) or not e.get("key"):
                raise SelectorError(f"{path}.key: Required value")
            op = e.get("operator")
            if op not in _OPERATORS:
                raise SelectorError(
                    f'{path}.operator: Unsupported value: "{op}": supported values: "In", "NotIn", '
                    '"Exists", "DoesNotExist"'
                )
            values = e.get("values") or []
            if not isinstance(values, list):
                raise SelectorError(f"{path}.values: must be a list")
            if op in ("In", "NotIn") and not values:
                raise SelectorError(
                    f"{path}.values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
                )
            if op in ("Exists", "DoesNotExist") and values:
                raise SelectorError(
                    f"{path}.values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                )
            reqs.append(Requirement(str(e["key"]), str(op), frozenset(str(v) for v in values)))
        return cls(tuple(reqs))

    def __str__(self) -> str:
        if not self.requirements:
            return "{} (everything)"
        parts = []
        for r in self.requirements:
            vals = ",".join(sorted(r.values))
            if r.operator == "In" and len(r.values) == 1:
                parts.append(f"{r.key}={vals}")
            elif r.operator == "In":
                parts.append(f"{r.key} in ({vals})")
            elif r.operator == "NotIn":
                parts.append(f"{r.key} notin ({vals})")
            elif r.operator == "Exists":
                parts.append(r.key)
            else:
                parts.append(f"!{r.key}")
        return ",".join(parts)
