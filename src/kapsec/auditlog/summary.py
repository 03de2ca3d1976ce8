"""Summaries of an audit log: who did what, what was refused, what was sensitive, and who fills the log.

Requests are counted once each (one event per ``auditID``, see
:class:`~kapsec.auditlog.reader.Deduper`); the volume by user agent counts every event written,
duplicated stages included, since that is what the log's size is made of.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kapsec.auditlog.detect import target_of
from kapsec.auditlog.event import AuditEvent

SENSITIVE_SUBRESOURCES = ("exec", "attach", "portforward", "proxy", "ephemeralcontainers")
RBAC_RESOURCES = ("roles", "clusterroles", "rolebindings", "clusterrolebindings")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def _resource(e: AuditEvent) -> str:
    ref = e.objectRef
    if ref is None or not ref.resource:
        return "nonResource " + e.requestURI.split("?", 1)[0]
    r = ref.resource + (f"/{ref.subresource}" if ref.subresource else "")
    return f"{r}.{ref.apiGroup}" if ref.apiGroup else r


def _user(e: AuditEvent) -> str:
    return e.user.username or "<unauthenticated>"


@dataclass
class Summary:
    requests: int = 0
    events: int = 0
    first: str = ""
    last: str = ""
    users: Counter[str] = field(default_factory=Counter)
    verbs: Counter[str] = field(default_factory=Counter)
    resources: Counter[str] = field(default_factory=Counter)
    namespaces: Counter[str] = field(default_factory=Counter)
    codes: Counter[int] = field(default_factory=Counter)
    denied: Counter[str] = field(default_factory=Counter)  # "user code" of 401/403
    anonymous: Counter[str] = field(default_factory=Counter)  # "verb target code"
    sessions: list[dict[str, Any]] = field(default_factory=list)  # exec/attach/portforward...
    secrets: Counter[str] = field(default_factory=Counter)  # "user verb code"
    rbac_changes: list[dict[str, Any]] = field(default_factory=list)
    impersonation: Counter[str] = field(default_factory=Counter)
    timeline: Counter[str] = field(default_factory=Counter)  # hour -> requests
    agent_events: Counter[str] = field(default_factory=Counter)
    agent_bytes: Counter[str] = field(default_factory=Counter)
    max_list: int = 50

    def add_volume(self, e: AuditEvent, size: int) -> None:
        self.events += 1
        agent = e.userAgent or "<none>"
        self.agent_events[agent] += 1
        self.agent_bytes[agent] += size

    def add(self, e: AuditEvent) -> None:
        self.requests += 1
        t = e.received
        if t and (not self.first or t < self.first):
            self.first = t
        if t and t > self.last:
            self.last = t
        user = _user(e)
        self.users[user] += 1
        self.verbs[e.verb] += 1
        res = _resource(e)
        self.resources[res] += 1
        ref = e.objectRef
        if ref is not None and ref.namespace:
            self.namespaces[ref.namespace] += 1
        code = e.code
        if code:
            self.codes[code] += 1
        if code in (401, 403):
            self.denied[f"{user} {code}"] += 1
        if not e.user.username or e.user.username == "system:anonymous":
            self.anonymous[f"{e.verb} {target_of(e)} {code or '-'}"] += 1
        if t:
            self.timeline[t[:13] + ":00"] += 1
        if e.impersonatedUser is not None:
            self.impersonation[f"{user} as {e.impersonatedUser.username}"] += 1
        if ref is None:
            return
        session = (ref.resource == "pods" and ref.subresource in SENSITIVE_SUBRESOURCES) or (
            ref.resource == "nodes" and ref.subresource == "proxy"
        )
        if session and len(self.sessions) < self.max_list:
            self.sessions.append(self._row(e))
        if ref.resource == "secrets":
            self.secrets[f"{user} {e.verb} {code or '-'}"] += 1
        rbac_write = (
            ref.resource in RBAC_RESOURCES
            and ref.apiGroup == "rbac.authorization.k8s.io"
            and e.verb in WRITE_VERBS
        )
        if rbac_write and user != "system:apiserver" and len(self.rbac_changes) < self.max_list:
            self.rbac_changes.append(self._row(e))

    @staticmethod
    def _row(e: AuditEvent) -> dict[str, Any]:
        return {
            "time": e.received,
            "user": _user(e),
            "as": e.impersonatedUser.username if e.impersonatedUser else None,
            "verb": e.verb,
            "target": target_of(e),
            "code": e.code or None,
        }

    def to_dict(self, top: int = 10) -> dict[str, Any]:
        def top_of(c: Counter[Any]) -> list[dict[str, Any]]:
            return [{"key": str(k), "count": n} for k, n in c.most_common(top)]

        return {
            "requests": self.requests,
            "events": self.events,
            "first": self.first or None,
            "last": self.last or None,
            "topUsers": top_of(self.users),
            "topVerbs": top_of(self.verbs),
            "topResources": top_of(self.resources),
            "topNamespaces": top_of(self.namespaces),
            "codes": {str(k): v for k, v in sorted(self.codes.items())},
            "deniedByUser": top_of(self.denied),
            "anonymous": top_of(self.anonymous),
            "execAttachPortforward": self.sessions,
            "secretAccess": top_of(self.secrets),
            "rbacChanges": self.rbac_changes,
            "impersonation": top_of(self.impersonation),
            "timeline": dict(sorted(self.timeline.items())),
            "volumeByUserAgent": [
                {"userAgent": k, "events": self.agent_events[k], "bytes": b}
                for k, b in sorted(self.agent_bytes.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
            ],
        }
