"""Evaluate Pods and pod-template workloads against a Pod Security level and version.

Mirrors ``staging/src/k8s.io/pod-security-admission/policy/checks.go`` /
``registry.go`` (``EvaluatePod``: run the checks of a level/version, collect the forbidden
reasons) and ``admission/admission.go`` (``DefaultPodSpecExtractor``: which resources carry a
pod template and where; ``admission/response.go``: the ``violates PodSecurity "<lv>": ...``
wording). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from kapsec.pss.api import MAX_MINOR, Level, LevelVersion, Version
from kapsec.pss.checks import PodView, checks_for

# kind -> path from the object to its pod template (metadata + spec); None for the Pod itself.
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "PodTemplate": ("template",),
    "ReplicationController": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
# the API group each kind must come from (a CRD named "Deployment" is not evaluated)
_GROUPS: dict[str, tuple[str, ...]] = {
    "Pod": ("v1",),
    "PodTemplate": ("v1",),
    "ReplicationController": ("v1",),
    "ReplicaSet": ("apps/",),
    "Deployment": ("apps/",),
    "StatefulSet": ("apps/",),
    "DaemonSet": ("apps/",),
    "Job": ("batch/",),
    "CronJob": ("batch/",),
}


def is_pod_carrier(obj: Mapping[str, Any]) -> bool:
    """True for the nine resources the PodSecurity admission evaluates."""
    kind = obj.get("kind")
    if kind not in TEMPLATE_PATHS:
        return False
    api_version = obj.get("apiVersion")
    if not isinstance(api_version, str):
        return True  # bare manifests without apiVersion: trust the kind
    prefixes = _GROUPS[str(kind)]
    return any(api_version == p or (p.endswith("/") and api_version.startswith(p)) for p in prefixes)


def pod_template(obj: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """(metadata, spec) of a Pod or of a workload's pod template; None when there is none."""
    path = TEMPLATE_PATHS.get(str(obj.get("kind")))
    if path is None:
        return None
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return None
    if not isinstance(node, dict):
        return None
    meta = node.get("metadata")
    spec = node.get("spec")
    return (meta if isinstance(meta, dict) else {}), (spec if isinstance(spec, dict) else {})


class Violation(NamedTuple):
    """One failing check (immutable; a NamedTuple because it is built ~10^5 times a second)."""

    check: str
    reason: str
    detail: str

    @property
    def message(self) -> str:
        reason = self.reason or "unknown forbidden reason"
        return f"{reason} ({self.detail})" if self.detail else reason

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "message": self.message}


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of one pod (template) at one level and version."""

    level_version: LevelVersion
    violations: tuple[Violation, ...]

    @property
    def allowed(self) -> bool:
        return not self.violations

    @property
    def details(self) -> str:
        """``reason (detail), reason (detail)``: what the admission plugin prints."""
        return ", ".join(v.message for v in self.violations)

    @property
    def reasons(self) -> str:
        """The short form (reasons only), used for existing-pod warnings."""
        return ", ".join(v.reason or "unknown forbidden reason" for v in self.violations)

    @property
    def message(self) -> str:
        if self.allowed:
            return ""
        return f'violates PodSecurity "{self.level_version}": {self.details}'

    def denial(self, resource: str = "pods", name: str | None = None) -> str:
        """The enforce denial as the API server words it (empty when allowed)."""
        if self.allowed:
            return ""
        target = f'{resource} "{name}"' if name else resource
        return f"{target} is forbidden: {self.message}"

    @property
    def warning(self) -> str:
        if self.allowed:
            return ""
        return f'would violate PodSecurity "{self.level_version}": {self.details}'


def evaluate_view(
    view: PodView, level: Level, version: Version, server_minor: int | None = None
) -> Evaluation:
    """Run the checks of ``level``/``version`` on a prepared pod; results are shared per view.

    ``server_minor`` is the API server's minor version (like its emulation version): ``latest``
    and newer pinned versions then mean the newest rules that server knows, not ours.
    """
    lv = LevelVersion(level, version)
    if level is Level.PRIVILEGED:
        return Evaluation(lv, ())
    cache = view.cache
    violations = []
    newest = MAX_MINOR if server_minor is None else min(server_minor, MAX_MINOR)
    for check_id, fn in checks_for(level, version.effective_minor(newest)):
        result = cache.get(fn, _MISSING)
        if result is _MISSING:
            result = cache[fn] = fn(view)
        if result is not None:
            violations.append(Violation(check_id, result[0], result[1]))
    return Evaluation(lv, tuple(violations))


_MISSING: Any = object()


def view_of(obj: Mapping[str, Any]) -> PodView | None:
    """A prepared view of a Pod or workload's template (None when the object has none)."""
    parts = pod_template(obj)
    if parts is None:
        return None
    return PodView.from_parts(*parts, is_pod=obj.get("kind") == "Pod")


def evaluate(
    obj: Mapping[str, Any], level: Level, version: Version, server_minor: int | None = None
) -> Evaluation | None:
    """Evaluate a Pod or workload; None when the object carries no pod template."""
    view = view_of(obj)
    if view is None:
        return None
    return evaluate_view(view, level, version, server_minor)


def evaluate_many(
    obj: Mapping[str, Any], levels: Iterable[LevelVersion], server_minor: int | None = None
) -> Sequence[Evaluation] | None:
    """Evaluate one object at several levels, running each shared check once."""
    view = view_of(obj)
    if view is None:
        return None
    return [evaluate_view(view, lv.level, lv.version, server_minor) for lv in levels]
