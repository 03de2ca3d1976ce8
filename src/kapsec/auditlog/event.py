"""Typed audit events (audit.k8s.io v1 and v1beta1 ``Event``), decoded with msgspec.

Mirrors ``staging/src/k8s.io/apiserver/pkg/apis/audit/v1/types.go``. Only the fields kapsec reads
are typed; request and response objects stay raw JSON until a rule asks for them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from kapsec.model.request import RequestAttributes


class UserInfo(msgspec.Struct, omit_defaults=True):
    username: str = ""
    uid: str = ""
    groups: list[str] = []
    extra: dict[str, list[str]] = {}


class ObjectReference(msgspec.Struct, omit_defaults=True):
    resource: str = ""
    namespace: str = ""
    name: str = ""
    uid: str = ""
    apiGroup: str = ""
    apiVersion: str = ""
    resourceVersion: str = ""
    subresource: str = ""


class Status(msgspec.Struct, omit_defaults=True):
    code: int = 0
    status: str = ""
    reason: str = ""
    message: str = ""


class AuditEvent(msgspec.Struct, omit_defaults=True):
    level: str = ""
    auditID: str = ""
    stage: str = ""
    requestURI: str = ""
    verb: str = ""
    user: UserInfo = msgspec.field(default_factory=UserInfo)
    impersonatedUser: UserInfo | None = None
    sourceIPs: list[str] = []
    userAgent: str = ""
    objectRef: ObjectReference | None = None
    responseStatus: Status | None = None
    requestObject: msgspec.Raw | None = None
    responseObject: msgspec.Raw | None = None
    requestReceivedTimestamp: str = ""
    stageTimestamp: str = ""
    annotations: dict[str, str] = {}
    apiVersion: str = ""
    kind: str = ""

    def to_request(self) -> RequestAttributes:
        """The authorizer attributes of this request, as the audit policy checker sees them.

        An empty username means the request failed authentication: ``user`` and ``groups`` are
        ``None`` so that no rule naming users or groups matches it.
        """
        ref = self.objectRef
        path = self.requestURI.split("?", 1)[0]
        if ref is not None and ref.resource:
            return RequestAttributes(
                user=self.user.username or None,
                groups=tuple(self.user.groups) if self.user.username else None,
                verb=self.verb,
                resource_request=True,
                namespace=ref.namespace,
                api_group=ref.apiGroup,
                api_version=ref.apiVersion,
                resource=ref.resource,
                subresource=ref.subresource,
                name=ref.name,
                path=path,
            )
        return RequestAttributes(
            user=self.user.username or None,
            groups=tuple(self.user.groups) if self.user.username else None,
            verb=self.verb,
            resource_request=False,
            path=path,
        )


_decoder = msgspec.json.Decoder(AuditEvent)


def decode_event(data: bytes | str) -> AuditEvent:
    """Decode one JSON event; raises ``msgspec.DecodeError`` or ``msgspec.ValidationError``."""
    return _decoder.decode(data)


def raw_json(raw: msgspec.Raw | None) -> Any:
    """Parse a raw request/response object on demand."""
    return None if raw is None else msgspec.json.decode(raw)
