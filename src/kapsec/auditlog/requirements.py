"""What each shipped detection needs from the audit policy, derived from the Sigma rule pack.

The audit-policy linter uses this to say which detections a policy blinds: a rule that reads
``requestObject`` needs the resource logged at ``Request`` level or above, and a rule on
``pods/exec`` needs that subresource logged at all. Mirrors no upstream file: it reads
kapsec's own rules (``kapsec/auditlog/rules``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DetectionNeed:
    rule_id: str
    title: str
    level: str  # minimal audit level the rule needs: "Metadata" | "Request" | "RequestResponse"
    verbs: tuple[str, ...]  # empty = any
    resources: tuple[tuple[str, str, str], ...]  # (apiGroup, resource, subresource); empty = any


def detection_needs() -> list[DetectionNeed]:
    """One need per shipped rule (correlations need what their base rules need), in rule-id order."""
    from kapsec.auditlog.pack import load_pack

    pack = load_pack()
    by_id = {r.id: r for r in pack.rules}
    out = []
    for r in sorted(pack.rules, key=lambda r: r.id):
        if r.correlation is not None:
            base = [by_id[b] for b in r.correlation.base if b in by_id]
            levels = [b.needs for b in base] or ["Metadata"]
            order = ("Metadata", "Request", "RequestResponse")
            level = max(levels, key=order.index)
            verbs = tuple(dict.fromkeys(v for b in base for v in b.verbs))
            res = tuple(dict.fromkeys(x for b in base for x in b.resources))
            out.append(DetectionNeed(r.id, r.title, level, verbs, res))
        else:
            out.append(DetectionNeed(r.id, r.title, r.needs, r.verbs, r.resources))
    return out
