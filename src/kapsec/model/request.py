"""Request attributes: the shared description of one API request.

Mirrors the API server's authorizer attributes
(``staging/src/k8s.io/apiserver/pkg/authorization/authorizer/interfaces.go``, ``AttributesRecord``)
in the JSON form documented in DESIGN.md. Groups are taken as given: nothing is added
implicitly, as with a SubjectAccessReview. ``user`` and ``groups`` are ``None`` for a request
that failed authentication.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kapsec.errors import InputError


@dataclass(frozen=True, slots=True)
class RequestAttributes:
    user: str | None
    groups: tuple[str, ...] | None
    verb: str
    resource_request: bool
    namespace: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""
    id: Any = None
    extra: Mapping[str, tuple[str, ...]] | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str | None = None) -> RequestAttributes:
        """Build from the JSON form; ``where`` (``file:line``) is named in errors."""
        if not isinstance(d, Mapping):
            raise InputError("a request must be a JSON object", file=where)
        verb = d.get("verb")
        if not isinstance(verb, str) or not verb:
            raise InputError("a request needs a non-empty string 'verb'", file=where)
        groups_raw = d.get("groups")
        groups: tuple[str, ...] | None
        if groups_raw is None:
            groups = None if d.get("user") is None else ()
        elif isinstance(groups_raw, list) and all(isinstance(g, str) for g in groups_raw):
            groups = tuple(groups_raw)
        else:
            raise InputError("'groups' must be a list of strings or null", file=where)
        user = d.get("user")
        if user is not None and not isinstance(user, str):
            raise InputError("'user' must be a string or null", file=where)
        rr = d.get("resourceRequest")
        if rr is None:
            rr = not d.get("path") or bool(d.get("resource"))
        if not isinstance(rr, bool):
            raise InputError("'resourceRequest' must be true or false", file=where)
        strs: dict[str, str] = {}
        for key in ("namespace", "apiGroup", "apiVersion", "resource", "subresource", "name", "path"):
            value = d.get(key) or ""
            if not isinstance(value, str):
                raise InputError(f"'{key}' must be a string", file=where)
            strs[key] = value
        extra_raw = d.get("extra")
        extra = None
        if isinstance(extra_raw, Mapping):
            extra = {str(k): tuple(str(x) for x in v) for k, v in extra_raw.items()}
        return cls(
            user=user,
            groups=groups,
            verb=verb,
            resource_request=rr,
            namespace=strs["namespace"],
            api_group=strs["apiGroup"],
            api_version=strs["apiVersion"],
            resource=strs["resource"],
            subresource=strs["subresource"],
            name=strs["name"],
            path=strs["path"],
            id=d.get("id"),
            extra=extra,
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.id is not None:
            d["id"] = self.id
        d["user"] = self.user
        d["groups"] = list(self.groups) if self.groups is not None else None
        d["verb"] = self.verb
        if self.resource_request:
            d.update(
                namespace=self.namespace,
                apiGroup=self.api_group,
                apiVersion=self.api_version,
                resource=self.resource,
                subresource=self.subresource,
                name=self.name,
            )
        if self.path:
            d["path"] = self.path
        d["resourceRequest"] = self.resource_request
        return d
