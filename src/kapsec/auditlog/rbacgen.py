"""Least-privilege RBAC from the requests an audit log shows were allowed (better audit2rbac).

For each subject, every allowed request (authorization decision ``allow``, or without the
annotation a response that is not 401/403) becomes a permission on the request's authorizer
attributes as the audit event records them (``objectRef``, or the path for non-resource
requests), for the identity RBAC judged: the impersonated user when there is one.

* Scope follows the request: a namespaced request grants in a Role of its namespace; a request
  without a namespace (cluster-scoped resources, or all namespaces at once) needs a ClusterRole.
* ``resourceNames`` are kept only where RBAC can restrict by name and the log shows it is safe:
  not for create (the name is not part of the authorised request), list, watch or
  deletecollection, and only when every request of that kind named an object, and at most
  ``max_names`` of them.
* Refused requests are counted, never granted. Risky grants (Secrets reads, exec, tokens,
  bind/escalate/impersonate, nodes/proxy) are flagged.

With the subject's current RBAC (``--from``) the result is also a diff: permissions used but not
granted by RBAC (e.g. held through ``system:masters``), and grants never used in the log.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from kapsec.auditlog.event import AuditEvent
from kapsec.auditlog.reader import Deduper, ReadStats, read_events
from kapsec.model.request import RequestAttributes

SYSTEM_USERS = (
    "system:apiserver",
    "system:kube-controller-manager",
    "system:kube-scheduler",
    "system:kube-proxy",
    "system:anonymous",
)
NAME_VERBS = frozenset({"get", "update", "patch", "delete"})
RISKY = {
    ("", "secrets", "get"): "reads Secret values",
    ("", "secrets", "list"): "reads every Secret value of its scope",
    ("", "secrets", "watch"): "reads every Secret value of its scope",
    ("", "pods/exec", "create"): "runs commands in pods",
    ("", "pods/exec", "get"): "runs commands in pods",
    ("", "pods/attach", "create"): "attaches to pods",
    ("", "pods/attach", "get"): "attaches to pods",
    ("", "serviceaccounts/token", "create"): "mints service account tokens",
    ("", "nodes/proxy", "get"): "reaches the kubelet API",
    ("", "nodes/proxy", "create"): "reaches the kubelet API",
}
RISKY_VERBS = {
    "bind": "binds roles it does not hold",
    "escalate": "grants more than it holds",
    "impersonate": "acts as other identities",
}


@dataclass(frozen=True)
class Subject:
    kind: str  # "User" or "ServiceAccount"
    name: str
    namespace: str = ""

    @classmethod
    def user(cls, name: str) -> Subject:
        m = re.fullmatch(r"system:serviceaccount:([^:]+):([^:]+)", name)
        if m:
            return cls("ServiceAccount", m.group(2), m.group(1))
        return cls("User", name)

    @classmethod
    def service_account(cls, namespace: str, name: str) -> Subject:
        return cls("ServiceAccount", name, namespace)

    @property
    def username(self) -> str:
        return (
            f"system:serviceaccount:{self.namespace}:{self.name}"
            if self.kind == "ServiceAccount"
            else self.name
        )

    @property
    def display(self) -> str:
        return (
            f"ServiceAccount {self.namespace}/{self.name}"
            if self.kind == "ServiceAccount"
            else f"User {self.name}"
        )

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9:.-]+", "-", self.username.lower()).strip("-")

    def to_rbac(self) -> dict[str, str]:
        if self.kind == "ServiceAccount":
            return {"kind": "ServiceAccount", "name": self.name, "namespace": self.namespace}
        return {"kind": "User", "name": self.name, "apiGroup": "rbac.authorization.k8s.io"}


@dataclass(frozen=True)
class Perm:
    namespace: str  # "" = cluster-wide
    group: str
    resource: str  # resource or resource/subresource; "" for non-resource
    verb: str
    name: str = ""
    path: str = ""


@dataclass
class SubjectResult:
    subject: Subject
    groups: tuple[str, ...] = ()
    requests: int = 0
    denied: int = 0
    perms: Counter[Perm] = field(default_factory=Counter)
    unnamed: set[tuple[str, str, str, str]] = field(
        default_factory=set
    )  # (ns, group, resource, verb) seen without a name
    requests_seen: list[RequestAttributes] = field(default_factory=list)


@dataclass
class Result:
    subjects: list[SubjectResult]
    keep_names: bool = True
    max_names: int = 5
    min_count: int = 1


def _allowed(e: AuditEvent) -> bool | None:
    """True allowed, False refused, None unknown (no response yet)."""
    d = e.decision
    if d == "allow":
        return True
    if d == "forbid":
        return False
    code = e.code
    if code in (401, 403):
        return False
    if code == 0:
        return None
    return True


def _perm(e: AuditEvent) -> tuple[Perm, bool]:
    """The permission a request used, and whether it named its object for the authorizer."""
    ref = e.objectRef
    if ref is None or not ref.resource:
        return Perm("", "", "", e.verb, path=e.requestURI.split("?", 1)[0]), False
    res = ref.resource + (f"/{ref.subresource}" if ref.subresource else "")
    name = ref.name
    if e.verb in ("create",) and not ref.subresource:
        name = ""  # the authorizer sees create on the collection: no name
    if e.verb in ("list", "watch", "deletecollection"):
        name = ""
    return Perm(ref.namespace, ref.apiGroup, res, e.verb, name=name), bool(name)


def _excluded(username: str, groups: Sequence[str]) -> bool:
    return (
        username in SYSTEM_USERS
        or username.startswith("system:node:")
        or username.startswith("system:serviceaccount:kube-system:")
        or "system:masters" in groups
    )


def generate(
    paths: Sequence[str],
    subjects: Sequence[Subject],
    *,
    all_subjects: bool = False,
    namespace: str | None = None,
    keep_names: bool = True,
    max_names: int = 5,
    min_count: int = 1,
    include_denied: bool = False,
    stats: ReadStats | None = None,
) -> Result:
    wanted = {s.username: s for s in subjects}
    found: dict[str, SubjectResult] = {}
    dedup: Deduper[AuditEvent] = Deduper()

    def take(e: AuditEvent) -> None:
        who = e.effective_user
        username = who.username
        if not username:
            return
        if username in wanted:
            subj = wanted[username]
        elif all_subjects and not _excluded(username, who.groups):
            subj = Subject.user(username)
        else:
            return
        if namespace is not None and (e.objectRef is None or e.objectRef.namespace != namespace):
            return
        sr = found.get(username)
        if sr is None:
            sr = found[username] = SubjectResult(subj, tuple(who.groups))
        ok = _allowed(e)
        if ok is None:
            return
        if not ok:
            sr.denied += 1
            if not include_denied:
                return
        if ok:
            sr.requests += 1
        p, named = _perm(e)
        sr.perms[p] += 1
        if not named and p.resource:
            sr.unnamed.add((p.namespace, p.group, p.resource, p.verb))
        if len(sr.requests_seen) < 100000:
            sr.requests_seen.append(_attrs(e))

    for ev, _loc in read_events(paths, stats):
        for it in dedup.push(ev.auditID, ev.stage, ev):
            take(it)
    for it in dedup.flush():
        take(it)
    ordered = [found[u] for u in sorted(found)]
    return Result(ordered, keep_names, max_names, min_count)


def _attrs(e: AuditEvent) -> RequestAttributes:
    who = e.effective_user
    ref = e.objectRef
    if ref is None or not ref.resource:
        return RequestAttributes(
            who.username, tuple(who.groups), e.verb, False, path=e.requestURI.split("?", 1)[0]
        )
    name = ref.name if not (e.verb == "create" and not ref.subresource) else ""
    return RequestAttributes(
        who.username,
        tuple(who.groups),
        e.verb,
        True,
        namespace=ref.namespace,
        api_group=ref.apiGroup,
        api_version=ref.apiVersion,
        resource=ref.resource,
        subresource=ref.subresource,
        name=name,
    )


def rules_for(sr: SubjectResult, result: Result) -> dict[str, list[dict[str, Any]]]:
    """Compacted rules per scope: namespace -> rules ("" = ClusterRole)."""
    by_key: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    nonres: dict[str, set[str]] = defaultdict(set)
    for p, n in sr.perms.items():
        if n < result.min_count:
            continue
        if not p.resource:
            nonres[p.path].add(p.verb)
            continue
        by_key[(p.namespace, p.group, p.resource, p.verb)].add(p.name)
    # A cluster-wide grant without names covers the same permission in every namespace.
    cluster_wide = {(g, r, v) for (ns, g, r, v), names in by_key.items() if not ns}
    for key in [k for k in by_key if k[0] and (k[1], k[2], k[3]) in cluster_wide]:
        cluster_names = by_key[("", key[1], key[2], key[3])]
        if "" in cluster_names or key[3] not in NAME_VERBS or by_key[key] <= cluster_names:
            del by_key[key]
    # (ns, group, names) -> resource -> verbs
    grouped: dict[str, dict[tuple[str, tuple[str, ...]], dict[str, set[str]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(set))
    )
    for (ns, group, res, verb), names in by_key.items():
        keep = (
            result.keep_names
            and verb in NAME_VERBS | {"create"}
            and "" not in names
            and (ns, group, res, verb) not in sr.unnamed
            and len(names) <= result.max_names
        )
        key_names = tuple(sorted(names)) if keep else ()
        grouped[ns][(group, key_names)][res].add(verb)
    out: dict[str, list[dict[str, Any]]] = {}
    for ns, groups in grouped.items():
        rules: list[dict[str, Any]] = []
        # merge resources that have the same verbs
        for (group, rnames), res_verbs in sorted(groups.items()):
            by_verbs: dict[tuple[str, ...], list[str]] = defaultdict(list)
            for res, vset in res_verbs.items():
                by_verbs[tuple(sorted(vset))].append(res)
            for verbs, resources in sorted(by_verbs.items(), key=lambda kv: sorted(kv[1])):
                rule: dict[str, Any] = {"apiGroups": [group], "resources": sorted(resources)}
                if rnames:
                    rule["resourceNames"] = list(rnames)
                rule["verbs"] = list(verbs)
                rules.append(rule)
        out[ns] = rules
    if nonres:
        by_verbs2: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for path, pverbs in nonres.items():
            by_verbs2[tuple(sorted(pverbs))].append(path)
        out.setdefault("", [])
        for vt, urls in sorted(by_verbs2.items()):
            out[""].append({"nonResourceURLs": sorted(urls), "verbs": list(vt)})
    return out


def risks(sr: SubjectResult) -> list[str]:
    out = []
    for p in sorted(sr.perms, key=lambda p: (p.namespace, p.resource, p.verb)):
        why = RISKY.get((p.group, p.resource, p.verb)) or RISKY_VERBS.get(p.verb)
        if (
            p.group == "rbac.authorization.k8s.io"
            and p.verb in ("create", "update", "patch")
            and "binding" in p.resource
        ):
            why = why or "changes who holds which role"
        if why:
            scope = f"namespace {p.namespace}" if p.namespace else "cluster-wide"
            out.append(f"{p.verb} {p.resource} ({scope}): {why}")
    return list(dict.fromkeys(out))


@dataclass
class Diff:
    used_not_granted: dict[str, list[str]] = field(default_factory=dict)  # subject -> requests
    granted_not_used: dict[str, list[str]] = field(default_factory=dict)  # subject -> rules
    problems: list[str] = field(default_factory=list)


def diff_against(result: Result, current: Sequence[str]) -> Diff:
    """Compare with the current RBAC objects: used-but-not-granted and granted-but-unused."""
    from kapsec.rbac.authorize import authorize, visit_rules
    from kapsec.rbac.match import Query, rule_allows_query
    from kapsec.rbac.store import RbacStore
    from kapsec.sources.objects import load_paths

    loaded = load_paths(list(current))
    store = RbacStore.from_objects(loaded)
    d = Diff(problems=[f"{p.where}: {p.message}" for p in store.problems] if store.problems else [])
    for sr in result.subjects:
        key = sr.subject.display
        missing: list[str] = []
        queries: list[tuple[RequestAttributes, Any]] = [(r, Query.of(r)) for r in sr.requests_seen]
        for req, _q in queries:
            dec = authorize(store, req, masters=False)
            if not dec.allowed:
                missing.append(_describe(req))
        d.used_not_granted[key] = list(dict.fromkeys(missing))
        unused: list[str] = []
        namespaces = ["", *store.namespaces()]
        seen_bindings: set[tuple[str, str, str]] = set()
        for ns in namespaces:
            for b, _s, res in visit_rules(store, sr.subject.username, sr.groups, ns):
                bk = (b.kind, b.namespace, b.name)
                if bk in seen_bindings or res.role is None:
                    continue
                seen_bindings.add(bk)
                for i, rule in enumerate(res.role.rules):
                    used = any(
                        rule_allows_query(rule, q) and (not b.namespace or req.namespace == b.namespace)
                        for req, q in queries
                    )
                    if not used:
                        unused.append(f"{b.describe(_s)}: rule {i} {_rule_text(rule)}")
        d.granted_not_used[key] = unused
    return d


def _describe(r: RequestAttributes) -> str:
    if not r.resource_request:
        return f"{r.verb} {r.path}"
    res = r.resource + (f"/{r.subresource}" if r.subresource else "")
    if r.api_group:
        res += f".{r.api_group}"
    where = f" in {r.namespace}" if r.namespace else " (cluster-wide)"
    return f"{r.verb} {res}{' ' + r.name if r.name else ''}{where}"


def _rule_text(rule: Any) -> str:
    if rule.non_resource_urls:
        return f"{','.join(rule.verbs)} {','.join(rule.non_resource_urls)}"
    names = f" names={','.join(rule.resource_names)}" if rule.resource_names else ""
    groups = ",".join(g or '""' for g in rule.api_groups)
    return f"{','.join(rule.verbs)} {','.join(rule.resources)} (groups {groups}){names}"


def objects(result: Result) -> list[dict[str, Any]]:
    """Roles, ClusterRoles, RoleBindings, ClusterRoleBindings for every subject, in that order."""
    roles: list[dict[str, Any]] = []
    croles: list[dict[str, Any]] = []
    rbs: list[dict[str, Any]] = []
    crbs: list[dict[str, Any]] = []
    labels = {"app.kubernetes.io/managed-by": "kapsec"}
    for sr in result.subjects:
        name = f"kapsec:{sr.subject.slug}"
        for ns, rules in sorted(rules_for(sr, result).items()):
            if not rules:
                continue
            if ns:
                roles.append(
                    {
                        "apiVersion": "rbac.authorization.k8s.io/v1",
                        "kind": "Role",
                        "metadata": {"name": name, "namespace": ns, "labels": labels},
                        "rules": rules,
                    }
                )
                rbs.append(
                    {
                        "apiVersion": "rbac.authorization.k8s.io/v1",
                        "kind": "RoleBinding",
                        "metadata": {"name": name, "namespace": ns, "labels": labels},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                        "subjects": [sr.subject.to_rbac()],
                    }
                )
            else:
                croles.append(
                    {
                        "apiVersion": "rbac.authorization.k8s.io/v1",
                        "kind": "ClusterRole",
                        "metadata": {"name": name, "labels": labels},
                        "rules": rules,
                    }
                )
                crbs.append(
                    {
                        "apiVersion": "rbac.authorization.k8s.io/v1",
                        "kind": "ClusterRoleBinding",
                        "metadata": {"name": name, "labels": labels},
                        "roleRef": {
                            "apiGroup": "rbac.authorization.k8s.io",
                            "kind": "ClusterRole",
                            "name": name,
                        },
                        "subjects": [sr.subject.to_rbac()],
                    }
                )
    return roles + croles + rbs + crbs


def render_objects(result: Result, diff: Diff | None, fmt: str) -> str:
    import json

    objs = objects(result)
    if fmt == "json":
        doc: dict[str, Any] = {
            "objects": objs,
            "subjects": [
                {
                    "subject": sr.subject.display,
                    "allowed": sr.requests,
                    "refused": sr.denied,
                    "risks": risks(sr),
                }
                for sr in result.subjects
            ],
        }
        if diff is not None:
            doc["diff"] = {
                "usedNotGranted": diff.used_not_granted,
                "grantedNotUsed": diff.granted_not_used,
                "problems": diff.problems,
            }
        return json.dumps(doc, indent=2) + "\n"
    parts = []
    header = ["# Generated by kapsec audit-log rbac from allowed requests in the audit log."]
    for sr in result.subjects:
        for r in risks(sr):
            header.append(f"# risky for {sr.subject.display}: {r}")
    if diff is not None:
        for subj, items in diff.used_not_granted.items():
            for it in items:
                header.append(f"# used but not granted by the given RBAC ({subj}): {it}")
        for subj, items in diff.granted_not_used.items():
            for it in items:
                header.append(f"# granted but never used ({subj}): {it}")
    for o in objs:
        parts.append(yaml.safe_dump(o, sort_keys=False, default_flow_style=False))
    return "\n".join(header) + "\n" + ("---\n" + "---\n".join(parts) if parts else "")


def subjects_in(result: Result) -> Iterable[Subject]:
    return (sr.subject for sr in result.subjects)
