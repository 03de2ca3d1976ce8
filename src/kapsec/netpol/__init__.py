"""NetworkPolicy coverage and default-deny generation.

Modules: :mod:`~kapsec.netpol.selectors` (label selectors), :mod:`~kapsec.netpol.coverage`
(who is isolated by what), :mod:`~kapsec.netpol.findings` (coverage as findings),
:mod:`~kapsec.netpol.generate` (default-deny policies).

:func:`checklist_status` answers the hardening checklist's "network policies implemented" from
loaded cluster objects (a snapshot). Mirrors the isolation rules documented in
``staging/src/k8s.io/api/networking/v1/types.go``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kapsec.model.findings import Status

if TYPE_CHECKING:
    from kapsec.sources.objects import LoadedObjects


def _names(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def checklist_status(loaded: LoadedObjects) -> tuple[Status, str]:
    """ "Network policies implemented": every non-system namespace has a default-deny policy for
    ingress and for egress, and no rule there allows everything back in (or out)."""
    from kapsec.netpol.coverage import EGRESS, INGRESS, analyse, namespaces_lacking

    if not any(True for _ in loaded.of_kind("Namespace")):
        return (
            Status.WARN,
            "no Namespace objects in the input, so coverage cannot be judged "
            "(collect them with `kapsec snapshot --cluster`)",
        )
    cov = analyse(loaded)
    judged = [n for n in cov.namespaces if n.declared and not n.system]
    if not judged:
        return Status.WARN, "only system namespaces in the input; nothing to judge"
    names = {n.namespace for n in judged}
    no_ingress = [n for n in namespaces_lacking(cov, INGRESS) if n in names]
    no_egress = [n for n in namespaces_lacking(cov, EGRESS) if n in names]
    undone = [f"{n.namespace}/{p} {rule}" for n in judged for p, rule, _, _ in n.undoing_rules]
    problems = []
    if no_ingress:
        problems.append(
            f"{len(no_ingress)} of {len(judged)} namespaces have no default-deny ingress: {_names(no_ingress)}"
        )
    if no_egress:
        problems.append(f"{len(no_egress)} of {len(judged)} have no default-deny egress: {_names(no_egress)}")
    if undone:
        problems.append(f"{len(undone)} allow-all rules undo a default deny: {_names(undone)}")
    if cov.problems:
        problems.append(
            f"{len(cov.problems)} invalid policies ignored: {_names([p.ref for p in cov.problems])}"
        )
    if problems and not any(True for _ in loaded.of_kind("NetworkPolicy")):
        problems.insert(
            0,
            "the input has no NetworkPolicy at all (if the snapshot did not collect them, "
            "take one with `kapsec snapshot --cluster`, which does)",
        )
    if problems:
        return Status.FAIL, "; ".join(problems)
    return Status.PASS, f"all {len(judged)} non-system namespaces deny ingress and egress by default"
