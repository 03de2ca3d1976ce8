"""Would the API server refuse to create a Role or binding as privilege escalation?

Mirrors ``pkg/registry/rbac/escalation_check.go`` (``EscalationAllowed``, ``RoleEscalationAuthorized``,
``BindingAuthorized``), the ClusterRole storage gate of
``pkg/registry/rbac/clusterrole/policybased/storage.go`` and ``ConfirmNoEscalation`` in
``pkg/registry/rbac/validation/rule.go`` (kubernetes/kubernetes):

* a Role/ClusterRole write passes for ``system:masters``, for holders of ``escalate`` on it,
  or when the writer's own rules (RulesFor in the role's namespace) cover every new rule; a
  ClusterRole with an aggregationRule needs full authority (``*`` on everything and every URL);
* a binding write passes for ``system:masters``, for holders of ``bind`` on the referenced role
  (in the binding's namespace), or when the writer covers every rule of that role, resolved in
  the binding's namespace (a role that does not exist is an empty rule set).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kapsec.model.request import RequestAttributes
from kapsec.rbac.authorize import SYSTEM_MASTERS, Decision, authorize, rules_for
from kapsec.rbac.covers import covers, missing_descriptions
from kapsec.rbac.model import RBAC_GROUP, Binding, PolicyRule, Role
from kapsec.rbac.store import RbacStore

FULL_AUTHORITY = (
    PolicyRule(("*",), ("*",), ("*",)),
    PolicyRule(("*",), non_resource_urls=("*",)),
)


@dataclass(frozen=True)
class EscalationResult:
    object_key: str
    allowed: bool
    path: str  # "system:masters", "escalate", "bind", "covers", "refused", or "invalid" (validation)
    message: str
    missing: tuple[str, ...] = ()
    create: Decision | None = None  # is the user allowed to create this kind of object at all
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "object": self.object_key,
            "allowed": self.allowed,
            "path": self.path,
            "message": self.message,
            "missing": list(self.missing),
        }
        if self.create is not None:
            d["createAllowed"] = self.create.allowed
            d["createReason"] = self.create.reason
        if self.notes:
            d["notes"] = list(self.notes)
        return d


def _go_strs(values: tuple[str, ...]) -> str:
    return "[" + " ".join(f'"{v}"' for v in values) + "]"


def _refusal(user: str, groups: tuple[str, ...], missing: list[str], errors: list[str]) -> str:
    msg = (
        f'user "{user}" (groups={_go_strs(groups)}) is attempting to grant RBAC permissions not currently held:\n'
        + "\n".join(missing)
    )
    if errors:
        msg += f"; resolution errors: [{', '.join(errors)}]"
    return msg


def _req(
    user: str, groups: tuple[str, ...], verb: str, *, resource: str, ns: str, name: str, group: str
) -> RequestAttributes:
    return RequestAttributes(
        user=user,
        groups=groups,
        verb=verb,
        resource_request=True,
        namespace=ns,
        api_group=group,
        resource=resource,
        name=name,
    )


def invalid_message(kind: str, name: str, errors: tuple[str, ...]) -> str:
    """The API server's validation error: ``Kind.group "name" is invalid: [a, b]``."""
    body = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    return f'{kind}.rbac.authorization.k8s.io "{name}" is invalid: {body}'


def _first_checks(
    store: RbacStore,
    user: str,
    groups: tuple[str, ...],
    obj: Role | Binding,
    resource: str,
    *,
    masters: bool,
) -> tuple[EscalationResult | None, Decision | None]:
    """What a Role and a binding write share before their own checks: validation (an invalid
    object is refused before any authorization), whether the user may create the kind at all
    (reported, never decisive), and ``system:masters`` (``EscalationAllowed``). Returns the
    decision when one of them settles it, and the create decision."""
    if obj.invalid:
        return EscalationResult(
            obj.key, False, "invalid", invalid_message(obj.kind, obj.name, obj.invalid)
        ), None
    create = authorize(
        store,
        _req(user, groups, "create", resource=resource, ns=obj.namespace, name="", group=RBAC_GROUP),
        masters=masters,
    )
    if masters and SYSTEM_MASTERS in groups:
        allowed = EscalationResult(
            obj.key, True, SYSTEM_MASTERS, "allowed: the writer is in system:masters", create=create
        )
        return allowed, create
    return None, create


def check_role_write(
    store: RbacStore, user: str, groups: tuple[str, ...], role: Role, *, masters: bool = True
) -> EscalationResult:
    resource = "roles" if role.kind == "Role" else "clusterroles"
    decided, create = _first_checks(store, user, groups, role, resource, masters=masters)
    if decided is not None:
        return decided
    esc = authorize(
        store,
        _req(
            user, groups, "escalate", resource=resource, ns=role.namespace, name=role.name, group=RBAC_GROUP
        ),
        masters=masters,
    )
    if esc.allowed:
        return EscalationResult(
            role.key, True, "escalate", f"allowed: escalate is granted ({esc.reason})", create=create
        )
    owner, errors = rules_for(store, user, groups, role.namespace)
    if role.aggregation:
        full, _ = covers(owner, FULL_AUTHORITY)
        if not full:
            return EscalationResult(
                role.key,
                False,
                "refused",
                "must have cluster-admin privileges to use the aggregationRule",
                create=create,
            )
    ok, uncovered = covers(owner, role.rules)
    if ok:
        return EscalationResult(
            role.key,
            True,
            "covers",
            "allowed: the writer already holds every permission in the role",
            create=create,
        )
    missing = missing_descriptions(uncovered)
    return EscalationResult(
        role.key, False, "refused", _refusal(user, groups, missing, errors), tuple(missing), create=create
    )


def check_binding_write(
    store: RbacStore,
    user: str,
    groups: tuple[str, ...],
    binding: Binding,
    *,
    masters: bool = True,
    extra_roles: RbacStore | None = None,
) -> EscalationResult:
    resource = "rolebindings" if binding.kind == "RoleBinding" else "clusterrolebindings"
    decided, create = _first_checks(store, user, groups, binding, resource, masters=masters)
    if decided is not None:
        return decided
    ref = binding.role_ref
    ref_resource = {"Role": "roles", "ClusterRole": "clusterroles"}.get(ref.kind, ref.kind.lower() + "s")
    bind = authorize(
        store,
        _req(
            user,
            groups,
            "bind",
            resource=ref_resource,
            ns=binding.namespace,
            name=ref.name,
            group=ref.api_group,
        ),
        masters=masters,
    )
    if bind.allowed:
        return EscalationResult(
            binding.key, True, "bind", f"allowed: bind is granted ({bind.reason})", create=create
        )
    resolved = store.resolve(binding)
    notes: list[str] = []
    if resolved.role is None and extra_roles is not None:
        resolved = extra_roles.resolve(binding)
        if resolved.role is not None:
            notes.append(
                f"{resolved.role.key} is taken from the objects being checked (not yet in the cluster)"
            )
    role_rules: tuple[PolicyRule, ...] = ()
    if resolved.role is not None:
        role_rules = resolved.role.rules
    else:
        notes.append(
            f"{resolved.error}: an empty rule set is trivially covered (older API servers refuse the binding instead)"
        )
    owner, errors = rules_for(store, user, groups, binding.namespace)
    ok, uncovered = covers(owner, role_rules)
    if ok:
        return EscalationResult(
            binding.key,
            True,
            "covers",
            "allowed: the writer already holds every permission of the bound role",
            create=create,
            notes=tuple(notes),
        )
    missing = missing_descriptions(uncovered)
    return EscalationResult(
        binding.key,
        False,
        "refused",
        _refusal(user, groups, missing, errors),
        tuple(missing),
        create=create,
        notes=tuple(notes),
    )
