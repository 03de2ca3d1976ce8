"""Typed audit events (audit.k8s.io v1 and v1beta1 ``Event``), decoded with msgspec.

Mirrors ``staging/src/k8s.io/apiserver/pkg/apis/audit/v1/types.go``. Only the fields kapsec reads
are typed; request and response objects stay raw JSON until a rule asks for them.
v1beta1 events (and the items of a webhook ``EventList``) may carry ``timestamp`` and
``metadata.creationTimestamp`` instead of the v1 ``requestReceivedTimestamp``/``stageTimestamp``;
:meth:`AuditEvent.received` and :meth:`AuditEvent.time` fall back to them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import msgspec.structs

from kapsec.model.request import RequestAttributes

#: Stages in the order the API server writes them for one request.
STAGE_RANK: dict[str, int] = {"RequestReceived": 0, "ResponseStarted": 1, "ResponseComplete": 2, "Panic": 3}
FINAL_STAGES = frozenset({"ResponseComplete", "Panic"})


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


class ObjectMeta(msgspec.Struct, omit_defaults=True):
    creationTimestamp: str = ""


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
    # Raw JSON, empty (``len() == 0``) when the event has none; see :func:`raw_json`.
    requestObject: msgspec.Raw = msgspec.Raw()
    responseObject: msgspec.Raw = msgspec.Raw()
    requestReceivedTimestamp: str = ""
    stageTimestamp: str = ""
    annotations: dict[str, str] = {}
    apiVersion: str = ""
    kind: str = ""
    # v1beta1 only
    timestamp: str = ""
    metadata: ObjectMeta | None = None

    @property
    def code(self) -> int:
        """The HTTP response code, 0 when the stage has none (RequestReceived)."""
        return self.responseStatus.code if self.responseStatus is not None else 0

    @property
    def received(self) -> str:
        """When the request was received (RFC 3339), whatever the API version."""
        if self.requestReceivedTimestamp:
            return self.requestReceivedTimestamp
        if self.timestamp:
            return self.timestamp
        if self.metadata is not None:
            return self.metadata.creationTimestamp
        return self.stageTimestamp

    @property
    def has_request_object(self) -> bool:
        return not is_absent(self.requestObject)

    @property
    def has_response_object(self) -> bool:
        return not is_absent(self.responseObject)

    @property
    def decision(self) -> str:
        return self.annotations.get("authorization.k8s.io/decision", "")

    @property
    def effective_user(self) -> UserInfo:
        """The identity the request was authorised as: the impersonated user when there is one."""
        return self.impersonatedUser if self.impersonatedUser is not None else self.user

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
_encoder = msgspec.json.Encoder()


def decode_event(data: bytes | str) -> AuditEvent:
    """Decode one JSON event; raises ``msgspec.DecodeError`` or ``msgspec.ValidationError``."""
    return _decoder.decode(data)


_NULL = msgspec.Raw(b"null")


def is_absent(raw: msgspec.Raw) -> bool:
    """True when a raw object is missing (empty) or JSON null."""
    n = len(raw)
    return n == 0 or (n == 4 and bytes(raw) == b"null")


def encode_event(event: AuditEvent) -> bytes:
    """The event as compact JSON (the fields kapsec types; raw objects kept as they were).

    A missing request/response object is written as null (an empty Raw is not valid JSON).
    """
    if len(event.requestObject) == 0 or len(event.responseObject) == 0:
        event = msgspec.structs.replace(
            event,
            requestObject=event.requestObject if len(event.requestObject) else _NULL,
            responseObject=event.responseObject if len(event.responseObject) else _NULL,
        )
    return _encoder.encode(event)


def raw_json(raw: msgspec.Raw | None) -> Any:
    """Parse a raw request/response object on demand (None when the event has none)."""
    if raw is None or is_absent(raw):
        return None
    return msgspec.json.decode(raw)


def parse_time(text: str) -> datetime | None:
    """Parse an RFC 3339 timestamp (nanoseconds allowed) as an aware UTC datetime; None if bad."""
    if not text:
        return None
    try:  # the common case: RFC 3339 with Z and at most microseconds, as the API server writes
        dt = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.astimezone(UTC)
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    # Python accepts at most 6 fractional digits.
    dot = t.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(t) and t[end].isdigit():
            end += 1
        t = t[: min(end, dot + 7)] + t[end:]
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
