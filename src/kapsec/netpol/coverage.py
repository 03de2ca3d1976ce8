"""NetworkPolicy coverage: which pods each policy isolates, default-deny per namespace and per
pod, policies selecting nothing, and rules that allow everything.

Mirrors the semantics of ``k8s.io/api/networking/v1`` NetworkPolicy as documented in
``staging/src/k8s.io/api/networking/v1/types.go`` and defaulted in
``pkg/apis/networking/v1/defaults.go`` (``policyTypes`` unset means Ingress, plus Egress when
the policy has egress rules): a pod is isolated for a direction once any policy of that type
selects it, and then only the union of the selecting policies' rules is allowed. A rule with no
peers and no ports allows everything in its direction. Pure: works on loaded objects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kapsec.netpol.selectors import Selector, SelectorError
from kapsec.sources.objects import LoadedObjects, SourceRef

INGRESS, EGRESS = "Ingress", "Egress"
DIRECTIONS = (INGRESS, EGRESS)
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
_WORKLOAD_TEMPLATE = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, Mapping) else {}


def _labels(meta: Mapping[str, Any]) -> dict[str, str]:
    labels = meta.get("labels")
    return (
        {str(k): "" if v is None else str(v) for k, v in labels.items()}
        if isinstance(labels, Mapping)
        else {}
    )


@dataclass(frozen=True)
class Subject:
    """A pod, or a workload's pod template standing in for the pods it will create."""

    kind: str
    namespace: str
    name: str
    labels: Mapping[str, str]
    where: SourceRef
    host_network: bool = False

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Rule:
    direction: str
    index: int
    peers: tuple[Any, ...]
    ports: tuple[Any, ...]

    @property
    def allows_all(self) -> bool:
        """No peers and no ports: every source (or destination), every port."""
        return not self.peers and not self.ports

    @property
    def breadth(self) -> str | None:
        """Why this rule is as good as allow-all, or None."""
        if self.ports:
            return None
        if not self.peers:
            return "no peers and no ports: allows everything"
        for peer in self.peers:
            if not isinstance(peer, Mapping):
                continue
            ns_sel = peer.get("namespaceSelector")
            pod_sel = peer.get("podSelector")
            if isinstance(ns_sel, Mapping) and not ns_sel and (pod_sel is None or pod_sel == {}):
                return "namespaceSelector {} with no ports: every pod in every namespace"
            block = peer.get("ipBlock")
            if (
                isinstance(block, Mapping)
                and block.get("cidr") in ("0.0.0.0/0", "::/0")
                and not block.get("except")
            ):
                return f"ipBlock {block.get('cidr')} with no ports: every address"
        return None

    @property
    def label(self) -> str:
        return f"{self.direction.lower()}[{self.index}]"


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    where: SourceRef
    selector: Selector
    types: frozenset[str]
    rules: Mapping[str, tuple[Rule, ...]]

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def default_deny(self, direction: str) -> bool:
        """Selects every pod, has the type, and allows nothing in that direction."""
        return self.selector.everything and direction in self.types and not self.rules[direction]

    def broad_rules(self, direction: str) -> list[Rule]:
        if direction not in self.types:
            return []
        return [r for r in self.rules[direction] if r.breadth is not None]


@dataclass(frozen=True)
class PolicyProblem:
    where: SourceRef
    ref: str
    message: str


def parse_policy(obj: Mapping[str, Any], where: SourceRef) -> Policy:
    """Decode a NetworkPolicy, applying the API server's policyTypes defaulting.

    Raises :class:`SelectorError` (with the field path) for what the API server would reject.
    """
    meta = _meta(obj)
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise SelectorError("spec: Required value")
    namespace = str(meta.get("namespace") or "default")
    name = str(meta.get("name") or "<unnamed>")
    if "podSelector" not in spec:
        raise SelectorError("spec.podSelector: Required value")
    selector = Selector.parse(spec.get("podSelector"), "spec.podSelector")
    rules: dict[str, tuple[Rule, ...]] = {}
    for direction, key, peer_key in ((INGRESS, "ingress", "from"), (EGRESS, "egress", "to")):
        raw = spec.get(key) or []
        if not isinstance(raw, list):
            raise SelectorError(f"spec.{key}: must be a list")
        parsed = []
        for i, r in enumerate(raw):
            r = r if isinstance(r, Mapping) else {}
            peers = r.get(peer_key) or []
            ports = r.get("ports") or []
            for j, peer in enumerate(peers if isinstance(peers, list) else []):
                if isinstance(peer, Mapping):
                    for sel_key in ("podSelector", "namespaceSelector"):
                        if sel_key in peer:
                            Selector.parse(peer[sel_key], f"spec.{key}[{i}].{peer_key}[{j}].{sel_key}")
            parsed.append(
                Rule(
                    direction,
                    i,
                    tuple(peers) if isinstance(peers, list) else (),
                    tuple(ports) if isinstance(ports, list) else (),
                )
            )
        rules[direction] = tuple(parsed)
    types_raw = spec.get("policyTypes")
    if types_raw:
        if not isinstance(types_raw, list) or any(t not in DIRECTIONS for t in types_raw):
            raise SelectorError(
                f'spec.policyTypes: Unsupported value: {types_raw!r}: supported values: "Ingress", "Egress"'
            )
        types = frozenset(str(t) for t in types_raw)
    else:  # SetDefaults_NetworkPolicy
        types = frozenset({INGRESS} | ({EGRESS} if rules[EGRESS] else set()))
    return Policy(namespace, name, where, selector, types, rules)


@dataclass(frozen=True)
class DirectionStatus:
    isolated: bool
    open_by: tuple[str, ...] = ()  # "ns/policy ingress[0]: reason" rules that allow everything

    @property
    def text(self) -> str:
        if not self.isolated:
            return "open (no policy)"
        if self.open_by:
            return "open (allow-all rule)"
        return "default-deny"

    @property
    def denied(self) -> bool:
        return self.isolated and not self.open_by


@dataclass(frozen=True)
class SubjectCoverage:
    subject: Subject
    policies: tuple[str, ...]
    ingress: DirectionStatus
    egress: DirectionStatus


@dataclass(frozen=True)
class NamespaceCoverage:
    namespace: str
    declared: bool
    default_deny: Mapping[str, tuple[str, ...]]  # direction -> policy names
    subjects: tuple[SubjectCoverage, ...]
    subjects_are_templates: bool
    policies: tuple[Policy, ...]
    selecting_nothing: tuple[str, ...]
    undoing_rules: tuple[tuple[str, str, str, int], ...] = ()  # (policy, rule, reason, pods opened)

    @property
    def system(self) -> bool:
        return self.namespace in SYSTEM_NAMESPACES

    def unselected(self) -> list[SubjectCoverage]:
        return [s for s in self.subjects if not s.policies]


@dataclass(frozen=True)
class Coverage:
    namespaces: list[NamespaceCoverage] = field(default_factory=list)
    problems: list[PolicyProblem] = field(default_factory=list)


def _template(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    node: Any = obj
    for key in _WORKLOAD_TEMPLATE[str(obj.get("kind"))]:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None


def analyse(loaded: LoadedObjects) -> Coverage:
    """Coverage of every namespace seen (Namespace objects, pods, workloads, policies)."""
    out = Coverage()
    declared: set[str] = set()
    pods: dict[str, list[Subject]] = defaultdict(list)
    templates: dict[str, list[Subject]] = defaultdict(list)
    policies: dict[str, list[Policy]] = defaultdict(list)
    for obj, where in loaded.objects:
        kind = obj.get("kind")
        if not isinstance(kind, str):
            continue
        meta = _meta(obj)
        ns = str(meta.get("namespace") or "default")
        if kind == "Namespace" and meta.get("name"):
            declared.add(str(meta["name"]))
        elif kind == "Pod":
            spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else {}
            assert isinstance(spec, Mapping)
            pods[ns].append(
                Subject(
                    "Pod",
                    ns,
                    str(meta.get("name") or ""),
                    _labels(meta),
                    where,
                    spec.get("hostNetwork") is True,
                )
            )
        elif kind in _WORKLOAD_TEMPLATE:
            tpl = _template(obj)
            if tpl is not None:
                spec = tpl.get("spec") if isinstance(tpl.get("spec"), Mapping) else {}
                assert isinstance(spec, Mapping)
                templates[ns].append(
                    Subject(
                        str(kind),
                        ns,
                        str(meta.get("name") or ""),
                        _labels(_meta(tpl)),
                        where,
                        spec.get("hostNetwork") is True,
                    )
                )
        elif kind == "NetworkPolicy":
            try:
                pol = parse_policy(obj, where)
            except SelectorError as exc:
                out.problems.append(PolicyProblem(where, f"{ns}/{meta.get('name')}", str(exc)))
                continue
            policies[pol.namespace].append(pol)

    for ns in sorted(declared | set(pods) | set(templates) | set(policies)):
        # pods when the input has them, else the workload templates standing in for their pods
        use_templates = not pods.get(ns)
        subjects = templates.get(ns, []) if use_templates else pods[ns]
        ns_policies = sorted(policies.get(ns, []), key=lambda p: p.name)
        covered = []
        for s in subjects:
            selecting = [p for p in ns_policies if p.selector.matches(s.labels)]
            status = {}
            for d in DIRECTIONS:
                typed = [p for p in selecting if d in p.types]
                open_by = tuple(f"{p.name} {r.label}: {r.breadth}" for p in typed for r in p.broad_rules(d))
                status[d] = DirectionStatus(bool(typed), open_by)
            covered.append(
                SubjectCoverage(s, tuple(p.name for p in selecting), status[INGRESS], status[EGRESS])
            )
        nothing = tuple(
            p.name
            for p in ns_policies
            if subjects and not any(p.selector.matches(s.labels) for s in subjects)
        )
        deny = {d: tuple(p.name for p in ns_policies if p.default_deny(d)) for d in DIRECTIONS}
        undoing = []
        for d in DIRECTIONS:
            if not deny[d]:
                continue
            for p in ns_policies:
                for r in p.broad_rules(d):
                    opened = sum(1 for s in subjects if p.selector.matches(s.labels))
                    undoing.append((p.name, r.label, r.breadth or "", opened))
        out.namespaces.append(
            NamespaceCoverage(
                namespace=ns,
                declared=ns in declared,
                default_deny=deny,
                subjects=tuple(covered),
                subjects_are_templates=use_templates and bool(subjects),
                policies=tuple(ns_policies),
                selecting_nothing=nothing,
                undoing_rules=tuple(undoing),
            )
        )
    return out


def namespaces_lacking(cov: Coverage, direction: str, include_system: bool = False) -> Sequence[str]:
    return [
        n.namespace
        for n in cov.namespaces
        if (include_system or not n.system) and not n.default_deny[direction]
    ]
