"""Privileged workloads in a set of cluster objects: what ``--allow-privileged=false`` stops.

With ``--allow-privileged=false`` the API server refuses every pod with a container whose
``securityContext.privileged`` is true (``pkg/api/pod`` / ``pkg/apis/core/validation``
``ValidatePodSpec`` under ``AllowPrivileged``), including the pods that DaemonSets and other
controllers re-create. Pure: the objects come from :mod:`kapsec.sources.objects`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_TEMPLATED = ("DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "Job")


def _pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    kind = obj.get("kind")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return None
    if kind == "Pod":
        return spec
    if kind in _TEMPLATED:
        tmpl = spec.get("template")
        s = tmpl.get("spec") if isinstance(tmpl, Mapping) else None
        return s if isinstance(s, Mapping) else None
    if kind == "CronJob":
        jt = spec.get("jobTemplate")
        js = jt.get("spec") if isinstance(jt, Mapping) else None
        tmpl = js.get("template") if isinstance(js, Mapping) else None
        s = tmpl.get("spec") if isinstance(tmpl, Mapping) else None
        return s if isinstance(s, Mapping) else None
    return None


def _owned(obj: Mapping[str, Any]) -> bool:
    meta = obj.get("metadata")
    refs = meta.get("ownerReferences") if isinstance(meta, Mapping) else None
    if not isinstance(refs, list):
        return False
    return any(isinstance(r, Mapping) and r.get("controller") for r in refs)


def privileged_workloads(objects: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """``Kind namespace/name (containers)`` for each workload with a privileged container.

    Pods and ReplicaSets owned by a controller are reported through their owner only.
    """
    out: list[str] = []
    for obj in objects:
        if obj.get("kind") in ("Pod", "ReplicaSet", "Job") and _owned(obj):
            continue
        spec = _pod_spec(obj)
        if spec is None:
            continue
        names = []
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for c in spec.get(key) or []:
                if not isinstance(c, Mapping):
                    continue
                sc = c.get("securityContext")
                if isinstance(sc, Mapping) and sc.get("privileged") is True:
                    names.append(str(c.get("name", "?")))
        if names:
            raw_meta = obj.get("metadata")
            meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
            ns = meta.get("namespace") or "default"
            out.append(f"{obj.get('kind')} {ns}/{meta.get('name', '?')} ({', '.join(names)})")
    return tuple(sorted(out))
