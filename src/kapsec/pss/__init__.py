"""Pod Security Standards: the PodSecurity admission's checks, per level and version.

Modules: :mod:`~kapsec.pss.api` (levels, versions, labels), :mod:`~kapsec.pss.checks` (the
checks), :mod:`~kapsec.pss.evaluate` (pods and workload templates), :mod:`~kapsec.pss.admission`
(the AdmissionConfiguration), :mod:`~kapsec.pss.simulate` (rollout per namespace).

:func:`checklist_status` answers the hardening checklist's "pod security standards enforced"
from loaded cluster objects (a snapshot). Mirrors the namespace-label side of
``staging/src/k8s.io/pod-security-admission/admission/admission.go``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kapsec.model.findings import Status

if TYPE_CHECKING:
    from kapsec.pss.admission import PodSecurityConfig
    from kapsec.sources.objects import LoadedObjects

#: namespaces the checklist does not require to enforce (control-plane and node components)
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})


def _names(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def checklist_status(loaded: LoadedObjects, config: PodSecurityConfig | None = None) -> tuple[Status, str]:
    """ "Pod security standards enforced": every non-system namespace enforces baseline or
    restricted (from its labels over ``config``'s defaults; without a config the API server's
    default is privileged), no namespace is exempt, and no existing pod violates its
    namespace's enforce level."""
    from kapsec.pss.admission import PodSecurityConfig
    from kapsec.pss.api import Level
    from kapsec.pss.simulate import simulate

    config = config or PodSecurityConfig()
    declared = [o for o, _ in loaded.of_kind("Namespace")]
    if not declared:
        return (
            Status.WARN,
            "no Namespace objects in the input, so enforcement cannot be judged "
            "(collect them with `kapsec snapshot --cluster`)",
        )
    results = [r for r in simulate(loaded, config) if r.declared and r.namespace not in SYSTEM_NAMESPACES]
    if not results:
        return Status.WARN, "only system namespaces in the input; nothing to judge"
    exempt = [r.namespace for r in results if r.exempt]
    unenforced = [r.namespace for r in results if not r.exempt and r.policy.enforce.level is Level.PRIVILEGED]
    violating = [
        o.ref for r in results if not r.exempt for o in r.objects if o.kind == "Pod" and o.refused("current")
    ]
    problems = []
    if unenforced:
        problems.append(
            f"{len(unenforced)} of {len(results)} namespaces enforce privileged: {_names(unenforced)}"
        )
    if exempt:
        problems.append(f"{len(exempt)} exempt by the admission config: {_names(exempt)}")
    if violating:
        problems.append(
            f"{len(violating)} running pods violate their namespace's enforce level: {_names(violating)}"
        )
    if problems:
        return Status.FAIL, "; ".join(problems)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.policy.enforce.level.value] = counts.get(r.policy.enforce.level.value, 0) + 1
    summary = ", ".join(f"{n} {lvl}" for lvl, n in sorted(counts.items()))
    return Status.PASS, f"all {len(results)} non-system namespaces enforce baseline or restricted ({summary})"
