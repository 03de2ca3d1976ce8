"""Who a request is from, and what it asks for, as ``kubectl auth can-i`` spells it.

``impersonated_groups`` mirrors how the impersonation filter
(``pkg/endpoints/filters/impersonation/impersonation.go`` in kubernetes/apiserver) completes
the groups of an impersonated user: a ServiceAccount with no groups given gets its two
ServiceAccount groups, and every user except ``system:anonymous`` gets
``system:authenticated`` unless ``system:authenticated`` or ``system:unauthenticated`` is
already among the groups. ``parse_resource`` reads kubectl's ``RESOURCE[.GROUP][/SUBRESOURCE]``
and ``/non/resource/url`` forms.
"""

from __future__ import annotations

from dataclasses import dataclass

ANONYMOUS = "system:anonymous"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
SA_PREFIX = "system:serviceaccount:"


def split_service_account(user: str) -> tuple[str, str] | None:
    """``(namespace, name)`` when ``user`` is a valid ServiceAccount user name."""
    if not user.startswith(SA_PREFIX):
        return None
    rest = user[len(SA_PREFIX) :]
    parts = rest.split(":")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def impersonated_groups(user: str, groups: tuple[str, ...]) -> tuple[str, ...]:
    out = list(groups)
    sa = split_service_account(user)
    if sa is not None and not groups:
        out = ["system:serviceaccounts", f"system:serviceaccounts:{sa[0]}"]
    if user != ANONYMOUS and AUTHENTICATED not in out and UNAUTHENTICATED not in out:
        out.append(AUTHENTICATED)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ResourceArg:
    resource_request: bool
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    path: str = ""


def parse_resource(text: str) -> ResourceArg:
    """``pods``, ``deployments.apps``, ``pods/log``, ``deployments.apps/scale``, ``*``,
    ``*.*`` or a non-resource URL starting with ``/``. Raises ``ValueError`` on empty input."""
    if not text:
        raise ValueError("a resource is required")
    if text.startswith("/"):
        return ResourceArg(False, path=text)
    sub = ""
    if "/" in text:
        text, sub = text.split("/", 1)
    group = ""
    if "." in text:
        text, group = text.split(".", 1)
    if not text:
        raise ValueError("the resource name is empty")
    return ResourceArg(True, group, text, sub)
