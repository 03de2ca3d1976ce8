"""Field names of audit events, as detection rules and queries name them.

A field is the dotted JSON path of an ``audit.k8s.io/v1`` ``Event`` field (the same names Sigma's
Kubernetes rules and an Elasticsearch index of audit events use). Lists are crossed implicitly:
``requestObject.spec.containers.securityContext.privileged`` yields the value of every container.
``annotations.KEY`` and ``user.extra.KEY`` take the rest of the name as one key (annotation keys
contain dots). Fields of ``requestObject`` are unknown (not false) when the event was logged at
``Metadata`` level, and those of ``responseObject`` below ``RequestResponse``: a rule that needs
them cannot be evaluated on such an event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from kapsec.auditlog.event import AuditEvent, is_absent

#: Values of one field in one event; None when the field cannot be known (body not logged).
Values = list[Any] | None
Getter = Callable[[AuditEvent], Values]


def _s(value: str) -> list[Any]:
    return [value] if value else []


_SIMPLE: dict[str, Getter] = {
    "level": lambda e: _s(e.level),
    "auditID": lambda e: _s(e.auditID),
    "stage": lambda e: _s(e.stage),
    "requestURI": lambda e: _s(e.requestURI),
    "verb": lambda e: _s(e.verb),
    "userAgent": lambda e: _s(e.userAgent),
    "sourceIPs": lambda e: list(e.sourceIPs),
    "requestReceivedTimestamp": lambda e: _s(e.received),
    "stageTimestamp": lambda e: _s(e.stageTimestamp),
    "apiVersion": lambda e: _s(e.apiVersion),
    "kind": lambda e: _s(e.kind),
    "user.username": lambda e: _s(e.user.username),
    "user.uid": lambda e: _s(e.user.uid),
    "user.groups": lambda e: list(e.user.groups),
    "impersonatedUser.username": lambda e: _s(e.impersonatedUser.username) if e.impersonatedUser else [],
    "impersonatedUser.uid": lambda e: _s(e.impersonatedUser.uid) if e.impersonatedUser else [],
    "impersonatedUser.groups": lambda e: list(e.impersonatedUser.groups) if e.impersonatedUser else [],
    "objectRef.resource": lambda e: _s(e.objectRef.resource) if e.objectRef else [],
    "objectRef.subresource": lambda e: _s(e.objectRef.subresource) if e.objectRef else [],
    "objectRef.namespace": lambda e: _s(e.objectRef.namespace) if e.objectRef else [],
    "objectRef.name": lambda e: _s(e.objectRef.name) if e.objectRef else [],
    "objectRef.apiGroup": lambda e: _s(e.objectRef.apiGroup) if e.objectRef else [],
    "objectRef.apiVersion": lambda e: _s(e.objectRef.apiVersion) if e.objectRef else [],
    "objectRef.uid": lambda e: _s(e.objectRef.uid) if e.objectRef else [],
    "responseStatus.code": lambda e: (
        [e.responseStatus.code] if e.responseStatus and e.responseStatus.code else []
    ),
    "responseStatus.message": lambda e: _s(e.responseStatus.message) if e.responseStatus else [],
    "responseStatus.reason": lambda e: _s(e.responseStatus.reason) if e.responseStatus else [],
    "responseStatus.status": lambda e: _s(e.responseStatus.status) if e.responseStatus else [],
}

_BODY_LEVELS = {"requestObject": ("Request", "RequestResponse"), "responseObject": ("RequestResponse",)}

FIELD_ROOTS = (
    *sorted(_SIMPLE),
    "annotations.<key>",
    "user.extra.<key>",
    "impersonatedUser.extra.<key>",
    "requestObject.<path>",
    "responseObject.<path>",
)


def _walk(value: Any, parts: list[str]) -> list[Any]:
    current = [value]
    for part in parts:
        nxt: list[Any] = []
        for v in current:
            if isinstance(v, list):
                for item in v:
                    if isinstance(item, dict) and part in item:
                        sub = item[part]
                        nxt.extend(sub if isinstance(sub, list) else [sub])
            elif isinstance(v, dict) and part in v:
                sub = v[part]
                nxt.extend(sub if isinstance(sub, list) and part != parts[-1] else [sub])
        current = nxt
        if not current:
            return []
    out: list[Any] = []
    for v in current:
        if isinstance(v, list):
            out.extend(v)
        elif v is not None:
            out.append(v)
    return out


_last: list[Any] = [None, None]  # (raw object, decoded): rules on one event share one decode


def _decoded(raw: msgspec.Raw) -> Any:
    if _last[0] is raw:
        return _last[1]
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        obj = None
    _last[0], _last[1] = raw, obj
    return obj


def _body_getter(root: str, parts: list[str]) -> Getter:
    levels = _BODY_LEVELS[root]

    def get(e: AuditEvent) -> Values:
        raw = e.requestObject if root == "requestObject" else e.responseObject
        if is_absent(raw):
            # Absent because the policy did not log it, or because this request has none.
            return None if e.level not in levels else []
        obj = _decoded(raw)
        if obj is None:
            return []
        return _walk(obj, parts) if parts else [obj]

    return get


def is_body_field(name: str) -> bool:
    return name.split(".", 1)[0] in _BODY_LEVELS


def getter(name: str) -> Getter:
    """The accessor for field ``name``; raises ``ValueError`` for a name that is no audit Event field."""
    if name in _SIMPLE:
        return _SIMPLE[name]
    if name.startswith("annotations."):
        key = name[len("annotations.") :]
        return lambda e: _s(e.annotations.get(key, ""))
    for prefix, attr in (("user.extra.", "user"), ("impersonatedUser.extra.", "impersonatedUser")):
        if name.startswith(prefix):
            key = name[len(prefix) :]

            def extra(e: AuditEvent, key: str = key, attr: str = attr) -> Values:
                u = getattr(e, attr)
                return list(u.extra.get(key, [])) if u is not None else []

            return extra
    root, _, rest = name.partition(".")
    if root in _BODY_LEVELS:
        return _body_getter(root, rest.split(".") if rest else [])
    raise ValueError(f"unknown audit event field {name!r} (known: {', '.join(FIELD_ROOTS)})")
