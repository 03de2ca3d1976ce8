"""Rollout simulation: per namespace, what enforcing baseline or restricted would refuse.

Mirrors the namespace side of ``staging/src/k8s.io/pod-security-admission/admission/admission.go``:
policy from labels over the configured defaults (``api.PolicyToEvaluate``), namespace and
runtimeClass exemptions, and the dry run of a new enforce level against existing pods
(``EvaluatePodsInNamespace``: warnings grouped by reason list, prefixed by the smallest pod
name). Pure: works on objects already loaded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kapsec.pss.admission import PodSecurityConfig
from kapsec.pss.api import LABEL_PREFIX, LATEST, Level, LevelVersion, Policy, Version, policy_from_labels
from kapsec.pss.checks import PodView
from kapsec.pss.evaluate import Evaluation, evaluate_view, is_pod_carrier, pod_template
from kapsec.sources.objects import LoadedObjects, SourceRef

MAX_EXISTING_PODS = 3000


def object_ref(obj: Mapping[str, Any]) -> str:
    """``Kind/namespace/name`` (``Kind/name`` when cluster-scoped or unnamespaced)."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    assert isinstance(meta, Mapping)
    name = meta.get("name") or meta.get("generateName") or "<unnamed>"
    ns = meta.get("namespace")
    return f"{obj.get('kind')}/{ns}/{name}" if ns else f"{obj.get('kind')}/{name}"


def _controller(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("metadata")
    refs = meta.get("ownerReferences") if isinstance(meta, Mapping) else None
    for ref in refs if isinstance(refs, list) else []:
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            return str(ref.get("uid") or f"{ref.get('kind')}/{ref.get('name')}")
    return None


def namespace_of(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, Mapping) else None
    return str(ns) if ns else "default"


@dataclass(frozen=True)
class ObjectResult:
    ref: str
    kind: str
    name: str
    where: SourceRef
    exempt_runtime_class: bool
    results: Mapping[str, Evaluation]  # "current" | "baseline" | "restricted"
    controller: str | None = None  # UID (else kind/name) of the owning controller, if any

    def refused(self, key: str) -> bool:
        return not self.exempt_runtime_class and not self.results[key].allowed


@dataclass(frozen=True)
class NamespaceResult:
    namespace: str
    labels: Mapping[str, str]
    declared: bool  # a Namespace object was among the inputs
    exempt: bool
    policy: Policy
    label_errors: tuple[str, ...]
    objects: tuple[ObjectResult, ...]
    recommended: Level | None  # strictest level that refuses nothing; None when exempt
    version: Version
    existing_pod_warnings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def refused(self, key: str) -> list[ObjectResult]:
        """Objects refused at ``key`` ("current", "baseline", "restricted"); an exempt
        namespace refuses nothing now (its levels apply once the exemption goes)."""
        if key == "current" and self.exempt:
            return []
        return [o for o in self.objects if o.refused(key)]

    @property
    def already_enforced(self) -> bool:
        rec = self.recommended
        return rec is not None and self.policy.enforce.level.rank >= rec.rank

    def label_command(self) -> str | None:
        """``kubectl label`` that breaks nothing (None when nothing should change).

        Enforce the recommended level when it is stricter than today's (with warn and audit at
        restricted when that is baseline). Where even baseline would refuse something, set only
        warn and audit to baseline, which never refuse anything, so that the violations show up
        in warnings and the audit log while they are fixed. Nothing for exempt namespaces or
        namespaces whose running objects already violate their enforce level (a person must
        decide there).
        """
        rec = self.recommended
        if rec is None or self.refused("current"):
            return None
        head = f"kubectl label --overwrite namespace {self.namespace}"
        v = self.version
        if rec is Level.PRIVILEGED:
            if min(self.policy.warn.level.rank, self.policy.audit.level.rank) >= Level.BASELINE.rank:
                return None
            return (
                f"{head} {LABEL_PREFIX}warn=baseline {LABEL_PREFIX}warn-version={v} "
                f"{LABEL_PREFIX}audit=baseline {LABEL_PREFIX}audit-version={v}"
            )
        if self.already_enforced:
            if (
                self.policy.enforce.level is Level.BASELINE
                and min(self.policy.warn.level.rank, self.policy.audit.level.rank) < Level.RESTRICTED.rank
            ):
                # baseline holds; let warn and audit show what restricted would still flag
                return (
                    f"{head} {LABEL_PREFIX}warn=restricted {LABEL_PREFIX}warn-version={v} "
                    f"{LABEL_PREFIX}audit=restricted {LABEL_PREFIX}audit-version={v}"
                )
            return None
        parts = [head, f"{LABEL_PREFIX}enforce={rec.value}", f"{LABEL_PREFIX}enforce-version={v}"]
        if rec is Level.BASELINE:
            # warn and audit never refuse anything: show what restricted would still flag
            parts += [
                f"{LABEL_PREFIX}warn=restricted",
                f"{LABEL_PREFIX}warn-version={v}",
                f"{LABEL_PREFIX}audit=restricted",
                f"{LABEL_PREFIX}audit-version={v}",
            ]
        return " ".join(parts)


def existing_pod_warnings(
    namespace: str, pods: Sequence[tuple[str, str | None, Evaluation]], lv: LevelVersion
) -> list[str]:
    """The warnings ``kubectl label --dry-run=server`` shows when enforce changes to ``lv``.

    ``pods``: (name, controller UID or None, evaluation), exempt-runtime-class pods left out.
    Like the plugin, at most 3,000 pods are evaluated, one per controller first; the plugin's
    "only checked against the first N" warning comes from its one-second time budget, which an
    offline run does not have, so it is never emitted here.
    """
    first_per_controller: list[tuple[str, str | None, Evaluation]] = []
    replicas: list[tuple[str, str | None, Evaluation]] = []
    seen: set[str] = set()
    for pod in pods:
        owner = pod[1]
        if owner is not None and owner in seen:
            replicas.append(pod)
        else:
            first_per_controller.append(pod)
            if owner is not None:
                seen.add(owner)
    checked = (first_per_controller + replicas)[:MAX_EXISTING_PODS]
    by_reasons: dict[str, list[str]] = defaultdict(list)
    for name, _, result in checked:
        if not result.allowed:
            by_reasons[result.reasons].append(name)
    if not by_reasons:
        return []
    warnings = [f'existing pods in namespace "{namespace}" violate the new PodSecurity enforce level "{lv}"']
    lines = []
    for reasons, names in by_reasons.items():
        first = min(names)
        others = len(names) - 1
        if others == 0:
            lines.append(f"{first}: {reasons}")
        elif others == 1:
            lines.append(f"{first} (and 1 other pod): {reasons}")
        else:
            lines.append(f"{first} (and {others} other pods): {reasons}")
    return warnings + sorted(lines)


def simulate(
    loaded: LoadedObjects,
    config: PodSecurityConfig | None = None,
    version: Version = LATEST,
    server_minor: int | None = None,
) -> list[NamespaceResult]:
    """Evaluate every Pod and workload per namespace at its current enforce level, baseline and
    restricted (at ``version``), honouring the configuration's defaults and exemptions.
    ``server_minor``: the cluster's minor version, which bounds what ``latest`` means."""
    config = config or PodSecurityConfig()
    namespaces: dict[str, Mapping[str, str]] = {}
    declared: set[str] = set()
    carriers: dict[str, list[tuple[Mapping[str, Any], SourceRef]]] = defaultdict(list)
    for obj, where in loaded.objects:
        if obj.get("kind") == "Namespace":
            meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
            assert isinstance(meta, Mapping)
            name = str(meta.get("name") or "")
            if name:
                labels = meta.get("labels")
                namespaces[name] = (
                    {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}
                )
                declared.add(name)
        elif is_pod_carrier(obj) and pod_template(obj) is not None:
            carriers[namespace_of(obj)].append((obj, where))
    for ns in carriers:
        namespaces.setdefault(ns, {})

    baseline = LevelVersion(Level.BASELINE, version)
    restricted = LevelVersion(Level.RESTRICTED, version)
    out = []
    for ns in sorted(namespaces):
        labels = namespaces[ns]
        policy, errors = policy_from_labels(labels, config.defaults)
        exempt = ns in config.exemptions.namespaces
        objects = []
        for item, where in carriers.get(ns, []):
            parts = pod_template(item)
            assert parts is not None
            view = PodView.from_parts(*parts, is_pod=item.get("kind") == "Pod")
            runtime_class = view.spec.get("runtimeClassName")
            results = {
                "current": evaluate_view(view, policy.enforce.level, policy.enforce.version, server_minor),
                "baseline": evaluate_view(view, baseline.level, baseline.version, server_minor),
                "restricted": evaluate_view(view, restricted.level, restricted.version, server_minor),
            }
            meta = item.get("metadata")
            name = str(meta.get("name") or "") if isinstance(meta, Mapping) else ""
            objects.append(
                ObjectResult(
                    ref=object_ref(item),
                    kind=str(item.get("kind")),
                    name=name,
                    where=where,
                    exempt_runtime_class=bool(runtime_class)
                    and runtime_class in config.exemptions.runtime_classes,
                    results=results,
                    controller=_controller(item),
                )
            )
        recommended: Level | None = None
        if not exempt:
            recommended = Level.PRIVILEGED
            for level, key in ((Level.RESTRICTED, "restricted"), (Level.BASELINE, "baseline")):
                if not any(o.refused(key) for o in objects):
                    recommended = level
                    break
        warnings: dict[str, tuple[str, ...]] = {}
        if not exempt:
            for key, lv in (("baseline", baseline), ("restricted", restricted)):
                pods = [
                    (o.name, o.controller, o.results[key])
                    for o in objects
                    if o.kind == "Pod" and not o.exempt_runtime_class
                ]
                warnings[key] = tuple(existing_pod_warnings(ns, pods, lv))
        out.append(
            NamespaceResult(
                namespace=ns,
                labels=labels,
                declared=ns in declared,
                exempt=exempt,
                policy=policy,
                label_errors=tuple(str(e) for e in errors),
                objects=tuple(objects),
                recommended=recommended,
                version=version,
                existing_pod_warnings=warnings,
            )
        )
    return out


def count_by(results: Iterable[NamespaceResult]) -> dict[str, int]:
    totals = {"namespaces": 0, "objects": 0, "refused_baseline": 0, "refused_restricted": 0}
    for r in results:
        totals["namespaces"] += 1
        totals["objects"] += len(r.objects)
        totals["refused_baseline"] += len(r.refused("baseline"))
        totals["refused_restricted"] += len(r.refused("restricted"))
    return totals
