"""What an expert reviewer says about an audit policy, beyond "the server accepts it".

The checks evaluate probe requests with the exact evaluator of
``staging/src/k8s.io/apiserver/pkg/audit/policy/checker.go`` (see :mod:`kapsec.auditpolicy.checker`)
rather than pattern-matching the YAML, so a rule's position, its wildcards and the policy-level
``omitStages`` all count as they do on the server. Probes are made as three identities (an
ordinary user, a ``system:masters`` admin and a service account) in three namespaces; coverage
checks take the lowest level any of them gets, leak checks the highest.

Finding IDs are stable (see ``CHECKS``); a ``# kapsec-lint: ignore=APnnn reason`` comment inside a
rule, or in the file header for the whole file, suppresses a finding (status ``skip``, the reason
kept). Unused suppressions are reported.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from kapsec.auditpolicy.checker import Decision, compiled
from kapsec.auditpolicy.model import (
    LEVEL_METADATA,
    LEVEL_NONE,
    LEVEL_REQUEST,
    LEVEL_REQUEST_RESPONSE,
    STAGE_REQUEST_RECEIVED,
    STAGE_RESPONSE_COMPLETE,
    GroupResources,
    Policy,
    PolicyRule,
    level_rank,
)
from kapsec.auditpolicy.probes import ANONYMOUS as _ANONYMOUS
from kapsec.auditpolicy.probes import IDENTITIES as _IDENTITIES
from kapsec.auditpolicy.probes import Probe
from kapsec.auditpolicy.probes import decide as _decide
from kapsec.auditpolicy.probes import make_probes as _probes
from kapsec.model.findings import Evidence, Finding, FixSafety, Severity, Status

CIS = {"cis-1.12": "3.2.2"}


class Need(Protocol):
    """What a detection needs from the policy (``kapsec.auditlog.requirements.DetectionNeed``)."""

    @property
    def rule_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def verbs(self) -> tuple[str, ...]: ...
    @property
    def resources(self) -> tuple[tuple[str, str, str], ...]: ...


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    title: str
    severity: Severity
    remediation: str
    cis: bool = False


CHECKS: dict[str, Check] = {
    c.id: c
    for c in sorted(
        (
            Check(
                "AP001",
                "unknown field is silently dropped by the API server",
                Severity.HIGH,
                "Fix the field name. The server only logs a warning and ignores the field, so a misspelt "
                "condition (verb:, resource:, namespace:) makes the rule match far more than intended and a "
                "misspelt omitStage: keeps every stage.",
            ),
            Check(
                "AP002",
                "duplicate field: only the last value counts",
                Severity.MEDIUM,
                "Remove the duplicate key; merge the values into one list.",
            ),
            Check(
                "AP003",
                "extra YAML document is ignored",
                Severity.MEDIUM,
                "The server reads only the first document of the file. Put all rules in one Policy.",
            ),
            Check(
                "AP006",
                "deprecated apiVersion: refused from Kubernetes 1.24",
                Severity.HIGH,
                "Change apiVersion to audit.k8s.io/v1 (the fields are the same). kube-apiserver 1.24 and "
                "later refuse audit.k8s.io/v1alpha1 and v1beta1 policies and do not start.",
            ),
            Check(
                "AP004",
                "wildcard or glob in a field that has none",
                Severity.HIGH,
                'users, userGroups, verbs and namespaces are compared literally: "*" or "*apiserver" only '
                "matches a name that is literally that string. Remove the condition to match everything, or "
                "list the names.",
            ),
            Check(
                "AP005",
                "resource listed under the wrong API group",
                Severity.MEDIUM,
                "Put the resource under its API group (group is the group name without version; "
                '"" is the core group). As written the entry matches nothing.',
            ),
            Check(
                "AP010",
                "no catch-all rule: unmatched requests are not audited",
                Severity.HIGH,
                "End the policy with a rule that has no conditions, e.g. '- level: Metadata', so every "
                "request not matched earlier is still recorded.",
                cis=True,
            ),
            Check(
                "AP011",
                "the policy logs nothing",
                Severity.CRITICAL,
                "Every rule is level None, so no audit event is ever written. Start from "
                "'kapsec audit-policy generate --profile recommended'.",
                cis=True,
            ),
            Check(
                "AP012",
                "catch-all rule logs request and response bodies",
                Severity.MEDIUM,
                "A RequestResponse catch-all records every object read or written, typically several times "
                "the volume of Metadata. Use Metadata for the catch-all and raise only what you need.",
            ),
            Check(
                "AP013",
                "RequestReceived stage is not omitted",
                Severity.MEDIUM,
                "Add 'omitStages: [RequestReceived]' at the top of the policy. Otherwise every request is "
                "written twice (once when received, once when complete) with no extra information.",
            ),
            Check(
                "AP014",
                "ResponseComplete stage is omitted",
                Severity.HIGH,
                "Remove ResponseComplete from omitStages. It is the only event that carries the response "
                "status (was the request allowed, did it succeed) and the authorization decision; without it "
                "a RequestReceived event says only that something was attempted.",
            ),
            Check(
                "AP020",
                "Secret contents are written to the audit log",
                Severity.CRITICAL,
                'Log secrets at Metadata only: put a rule \'- level: Metadata, resources: [{group: "", '
                "resources: [secrets]}]' before any rule that raises them.",
                cis=True,
            ),
            Check(
                "AP021",
                "ConfigMap contents (which may hold credentials) are written to the audit log",
                Severity.MEDIUM,
                "Log configmaps at Metadata, or at Request only for the namespaces where changes must be "
                "reviewed and no credentials are kept.",
                cis=True,
            ),
            Check(
                "AP022",
                "bearer tokens are written to the audit log",
                Severity.CRITICAL,
                "Log tokenreviews (authentication.k8s.io) and serviceaccounts/token at Metadata: a TokenReview "
                "request carries the token under review and a TokenRequest response the new token.",
                cis=True,
            ),
            Check(
                "AP023",
                "sensitive resources are kept at Metadata only by the catch-all rule",
                Severity.LOW,
                "Add an explicit Metadata rule for secrets, configmaps, serviceaccounts/token and tokenreviews "
                "near the top of the policy, so a broader rule added later above the catch-all cannot start "
                "logging their contents.",
            ),
            Check(
                "AP030",
                "access to Secrets is not audited",
                Severity.HIGH,
                "Audit secrets at Metadata for every verb.",
                cis=True,
            ),
            Check(
                "AP031",
                "RBAC changes are not audited",
                Severity.HIGH,
                "Audit writes to roles, rolebindings, clusterroles and clusterrolebindings at least at Metadata "
                "(Request to see which role a binding grants).",
                cis=True,
            ),
            Check(
                "AP032",
                "exec, attach, port-forward and proxy are not audited",
                Severity.HIGH,
                "Audit pods/exec, pods/attach, pods/portforward, pods/proxy, services/proxy and nodes/proxy at "
                "least at Metadata.",
                cis=True,
            ),
            Check(
                "AP033",
                "service account token requests are not audited",
                Severity.HIGH,
                "Audit create on serviceaccounts/token at Metadata.",
                cis=True,
            ),
            Check(
                "AP034",
                "Pod and Deployment changes are not audited",
                Severity.HIGH,
                "Audit create, update, patch and delete of pods and deployments at least at Metadata.",
                cis=True,
            ),
            Check(
                "AP035",
                "anonymous or unauthenticated requests are not audited",
                Severity.HIGH,
                "Make sure a rule without users/userGroups (the catch-all) records them: a request that "
                "fails authentication has no user, so rules naming users or groups never match it, and "
                "anonymous requests carry only system:anonymous / system:unauthenticated.",
            ),
            Check(
                "AP040",
                "list requests are logged at RequestResponse",
                Severity.MEDIUM,
                "A RequestResponse list records every object in the response, and controllers list "
                "constantly. Limit RequestResponse to writes (verbs: [create, update, patch, delete]) and "
                "log reads at Metadata or Request.",
            ),
            Check(
                "AP041",
                "events are logged with bodies",
                Severity.LOW,
                "Events are written by every component all the time; log them at Metadata or drop them "
                "(level None) as the GKE policy does.",
            ),
            Check(
                "AP042",
                "request and response bodies keep metadata.managedFields",
                Severity.LOW,
                "Add 'omitManagedFields: true' at the top of the policy (Kubernetes 1.23+): managedFields "
                "are server-side-apply bookkeeping, often a third of a logged object, and never needed to "
                "answer who changed what.",
            ),
            Check(
                "AP050",
                "rule can never match: an earlier rule matches every request it does",
                Severity.MEDIUM,
                "The first matching rule wins. Move the narrower rule above the broader one, or remove it.",
            ),
            Check(
                "AP060",
                "detection would be blind under this policy",
                Severity.MEDIUM,
                "Raise the level for the requests the detection reads (Request when it reads the request "
                "body), above any broader rule that matches them first.",
            ),
            Check(
                "AP090",
                "unused suppression",
                Severity.LOW,
                "Remove the kapsec-lint comment: nothing it names is reported any more.",
            ),
        ),
        key=lambda c: c.id,
    )
}

_WRITE_VERBS = frozenset({"create", "update", "patch"})
_CORE_RESOURCES = frozenset(
    {
        "pods",
        "secrets",
        "configmaps",
        "services",
        "endpoints",
        "nodes",
        "namespaces",
        "serviceaccounts",
        "persistentvolumes",
        "persistentvolumeclaims",
        "replicationcontrollers",
        "limitranges",
        "resourcequotas",
        "podtemplates",
        "bindings",
        "componentstatuses",
        "events",
    }
)
# Built-in resources and the groups that serve (or served) them, for AP005.
_KNOWN_GROUPS: dict[str, frozenset[str]] = {r: frozenset({""}) for r in _CORE_RESOURCES} | {
    "events": frozenset({"", "events.k8s.io"}),
    "deployments": frozenset({"apps", "extensions"}),
    "daemonsets": frozenset({"apps", "extensions"}),
    "replicasets": frozenset({"apps", "extensions"}),
    "statefulsets": frozenset({"apps"}),
    "controllerrevisions": frozenset({"apps"}),
    "jobs": frozenset({"batch"}),
    "cronjobs": frozenset({"batch"}),
    "ingresses": frozenset({"networking.k8s.io", "extensions"}),
    "networkpolicies": frozenset({"networking.k8s.io", "extensions"}),
    "ingressclasses": frozenset({"networking.k8s.io"}),
    "roles": frozenset({"rbac.authorization.k8s.io"}),
    "rolebindings": frozenset({"rbac.authorization.k8s.io"}),
    "clusterroles": frozenset({"rbac.authorization.k8s.io"}),
    "clusterrolebindings": frozenset({"rbac.authorization.k8s.io"}),
    "tokenreviews": frozenset({"authentication.k8s.io"}),
    "selfsubjectreviews": frozenset({"authentication.k8s.io"}),
    "subjectaccessreviews": frozenset({"authorization.k8s.io"}),
    "selfsubjectaccessreviews": frozenset({"authorization.k8s.io"}),
    "localsubjectaccessreviews": frozenset({"authorization.k8s.io"}),
    "selfsubjectrulesreviews": frozenset({"authorization.k8s.io"}),
    "certificatesigningrequests": frozenset({"certificates.k8s.io"}),
    "leases": frozenset({"coordination.k8s.io"}),
    "horizontalpodautoscalers": frozenset({"autoscaling"}),
    "poddisruptionbudgets": frozenset({"policy"}),
    "customresourcedefinitions": frozenset({"apiextensions.k8s.io"}),
    "apiservices": frozenset({"apiregistration.k8s.io"}),
    "mutatingwebhookconfigurations": frozenset({"admissionregistration.k8s.io"}),
    "validatingwebhookconfigurations": frozenset({"admissionregistration.k8s.io"}),
    "validatingadmissionpolicies": frozenset({"admissionregistration.k8s.io"}),
    "validatingadmissionpolicybindings": frozenset({"admissionregistration.k8s.io"}),
    "storageclasses": frozenset({"storage.k8s.io"}),
    "csidrivers": frozenset({"storage.k8s.io"}),
    "csinodes": frozenset({"storage.k8s.io"}),
    "volumeattachments": frozenset({"storage.k8s.io"}),
    "priorityclasses": frozenset({"scheduling.k8s.io"}),
    "runtimeclasses": frozenset({"node.k8s.io"}),
    "endpointslices": frozenset({"discovery.k8s.io"}),
    "flowschemas": frozenset({"flowcontrol.apiserver.k8s.io"}),
    "prioritylevelconfigurations": frozenset({"flowcontrol.apiserver.k8s.io"}),
}
_CONDITION_FIELDS = (
    "level",
    "users",
    "userGroups",
    "verbs",
    "resources",
    "namespaces",
    "nonResourceURLs",
    "omitStages",
    "omitManagedFields",
    "group",
    "resourceNames",
    "apiVersion",
    "kind",
    "metadata",
    "rules",
)


class _Linter:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.comp = compiled(policy)
        self.findings: list[tuple[Finding, int | None]] = []
        self.ran_detections = False

    # -- helpers -------------------------------------------------------------------------------

    def rule_where(self, index: int | None) -> str:
        if index is None:
            return "no rule (default level None)"
        rule = self.policy.rules[index]
        return f"rule {index}" + (f" (line {rule.line})" if rule.line else "")

    def add(
        self,
        check_id: str,
        message: str,
        *,
        rule_index: int | None = None,
        line: int | None = None,
        value: str | None = None,
        status: Status = Status.FAIL,
        detail: str | None = None,
    ) -> None:
        check = CHECKS[check_id]
        if line is None and rule_index is not None:
            line = self.policy.rules[rule_index].line
        finding = Finding(
            id=check_id,
            title=check.title,
            status=status,
            severity=check.severity,
            message=message,
            benchmarks=CIS if check.cis else {},
            evidence=Evidence(file=self.policy.source, line=line, flag=None, value=value, detail=detail),
            remediation=check.remediation,
            fix_safety=FixSafety.MANUAL,
        )
        self.findings.append((finding, rule_index))

    def passed(self, check_id: str, message: str) -> None:
        self.add(check_id, message, status=Status.PASS)

    # -- decoding ------------------------------------------------------------------------------

    def decoding(self) -> None:
        for w in self.policy.warnings:
            rule_index = None
            if w.path.startswith("rules["):
                rule_index = int(w.path[6 : w.path.index("]")])
            if w.kind == "unknown field":
                leaf = w.path.rsplit(".", 1)[-1]
                guess = difflib.get_close_matches(leaf, _CONDITION_FIELDS, n=1, cutoff=0.6)
                hint = f" (did you mean {guess[0]!r}?)" if guess else ""
                effect = ""
                if rule_index is not None:
                    effect = " The rule is used without it, so it matches more requests than written."
                if leaf in ("omitStage", "omit_stages", "omitstages"):
                    effect = " No stage is omitted because of it."
                self.add(
                    "AP001",
                    f'unknown field "{w.path}"{hint} is dropped by the API server, which only warns '
                    f"and falls back to lenient decoding.{effect}",
                    rule_index=rule_index,
                    line=w.line,
                    value=w.path,
                )
            elif w.kind == "duplicate field":
                self.add(
                    "AP002",
                    f'duplicate field "{w.path}": the last value wins.',
                    rule_index=rule_index,
                    line=w.line,
                    value=w.path,
                )
            elif w.kind == "deprecated version":
                self.add("AP006", w.message + ".", line=w.line, value=w.path)
            else:
                self.add("AP003", w.message, line=w.line)

    def literal_wildcards(self) -> None:
        for i, rule in enumerate(self.policy.rules):
            for fname, values in (
                ("users", rule.users),
                ("userGroups", rule.user_groups),
                ("verbs", rule.verbs),
                ("namespaces", rule.namespaces),
            ):
                for v in values:
                    if "*" in v:
                        self.add(
                            "AP004",
                            f'{fname} entry "{v}" in {self.rule_where(i)} is compared literally: it '
                            f"matches only a {fname[:-1] if fname != 'userGroups' else 'group'} named "
                            f'"{v}", not a pattern.',
                            rule_index=i,
                            value=v,
                        )

    def wrong_groups(self) -> None:
        for i, rule in enumerate(self.policy.rules):
            for gr in rule.resources:
                if gr.group == "*":
                    continue
                for res in gr.resources:
                    base = res.split("/", 1)[0]
                    groups = _KNOWN_GROUPS.get(base)
                    if groups is None or gr.group in groups:
                        continue
                    want = " or ".join(f'"{g}"' for g in sorted(groups))
                    self.add(
                        "AP005",
                        f'"{res}" is listed under group "{gr.group}" in {self.rule_where(i)}, but it is '
                        f"served by group {want}: this entry never matches it.",
                        rule_index=i,
                        value=res,
                    )

    # -- structure -----------------------------------------------------------------------------

    def catch_all(self) -> None:
        rules = self.policy.rules
        if all(r.level == LEVEL_NONE for r in rules):
            self.add("AP011", "every rule is level None: no audit event is ever written.", rule_index=0)
            return
        idx = next((i for i, r in enumerate(rules) if r.is_catch_all), None)
        if idx is None:
            self.add(
                "AP010",
                "no rule matches every request: anything the rules do not name gets level None and is "
                "never recorded.",
            )
        elif rules[idx].level == LEVEL_NONE:
            self.add(
                "AP010",
                f"the catch-all {self.rule_where(idx)} is level None: requests not matched earlier are "
                "never recorded.",
                rule_index=idx,
            )
        else:
            self.passed("AP010", f"{self.rule_where(idx)} records every request not matched earlier.")
            if rules[idx].level == LEVEL_REQUEST_RESPONSE:
                self.add(
                    "AP012",
                    f"the catch-all {self.rule_where(idx)} is RequestResponse: every request not matched "
                    "earlier is logged with its request and response bodies.",
                    rule_index=idx,
                )

    def request_received(self) -> None:
        offenders = [
            i
            for i, d in enumerate(self.comp.decisions)
            if d.level != LEVEL_NONE and STAGE_REQUEST_RECEIVED not in d.omit_stages
        ]
        if offenders:
            where = ", ".join(self.rule_where(i) for i in offenders[:5])
            more = f" and {len(offenders) - 5} more" if len(offenders) > 5 else ""
            self.add(
                "AP013",
                f"{len(offenders)} logging rule(s) keep RequestReceived events ({where}{more}): each "
                "request they match is written twice.",
                rule_index=offenders[0],
            )
        else:
            self.passed("AP013", "RequestReceived is omitted for every rule that logs.")

    def response_complete(self) -> None:
        offenders = [
            i
            for i, d in enumerate(self.comp.decisions)
            if d.level != LEVEL_NONE and STAGE_RESPONSE_COMPLETE in d.omit_stages
        ]
        if offenders:
            where = ", ".join(self.rule_where(i) for i in offenders[:5])
            both = all(STAGE_REQUEST_RECEIVED in self.comp.decisions[i].omit_stages for i in offenders)
            effect = (
                "with RequestReceived also omitted, ordinary requests write no event at all (only "
                "long-running ones such as watch and exec write ResponseStarted)"
                if both
                else "their events have no response code or authorization decision"
            )
            self.add(
                "AP014",
                f"{len(offenders)} logging rule(s) omit ResponseComplete ({where}): {effect}.",
                rule_index=offenders[0],
            )

    def shadowed(self) -> None:
        rules = self.policy.rules
        for j, later in enumerate(rules):
            for i in range(j):
                if _subsumes(rules[i], later):
                    self.add(
                        "AP050",
                        f"{self.rule_where(j)} (level {later.level}) can never match: "
                        f"{self.rule_where(i)} (level {rules[i].level}) comes first and matches every "
                        "request it does.",
                        rule_index=j,
                    )
                    break

    # -- sensitive data ------------------------------------------------------------------------

    def _max_leak(
        self, probes: list[Probe], leaks: Callable[[Probe, Decision], bool]
    ) -> list[tuple[Probe, Decision]]:
        out = []
        for p in probes:
            d = _decide(self.comp, p)
            if leaks(p, d):
                out.append((p, d))
        return out

    def _report_leaks(self, check_id: str, hits: list[tuple[Probe, Decision]], what: str, ok: str) -> None:
        if not hits:
            self.passed(check_id, ok)
            return
        by_rule: dict[int | None, list[tuple[Probe, Decision]]] = {}
        for p, d in hits:
            by_rule.setdefault(d.rule_index, []).append((p, d))
        for rule_index, items in by_rule.items():
            verbs = sorted({p.verb for p, _ in items})
            nss = sorted({p.namespace for p, _ in items if p.namespace})
            level = items[0][1].level
            scope = f" in namespace{'s' if len(nss) > 1 else ''} {', '.join(nss)}" if nss else ""
            self.add(
                check_id,
                f"{self.rule_where(rule_index)} logs {what} at {level} for {', '.join(verbs)}{scope}.",
                rule_index=rule_index,
                value=level,
            )

    def sensitive(self) -> None:
        def body_leak(p: Probe, d: Decision) -> bool:
            if d.level == LEVEL_REQUEST_RESPONSE:
                return p.verb != "watch"  # watch events never carry a response object
            return d.level == LEVEL_REQUEST and p.verb in _WRITE_VERBS

        verbs = ("get", "list", "watch", "create", "update", "patch", "delete")
        self._report_leaks(
            "AP020",
            self._max_leak(_probes(verbs, [("", "secrets", "")]), body_leak),
            "secret data",
            "secrets are never logged with their data.",
        )
        self._report_leaks(
            "AP021",
            self._max_leak(_probes(verbs, [("", "configmaps", "")]), body_leak),
            "configmap data",
            "configmaps are never logged with their data.",
        )

        def review_leak(p: Probe, d: Decision) -> bool:
            if p.resource == "tokenreviews":
                return level_rank(d.level) >= level_rank(LEVEL_REQUEST)
            return d.level == LEVEL_REQUEST_RESPONSE

        token_hits = self._max_leak(
            _probes(("create",), [("authentication.k8s.io", "tokenreviews", "")], namespaced=False)
            + _probes(("create",), [("", "serviceaccounts", "token")]),
            review_leak,
        )
        self._report_leaks(
            "AP022",
            token_hits,
            "bearer tokens (TokenReview requests or TokenRequest responses)",
            "TokenReview requests and TokenRequest responses are never logged with their tokens.",
        )

    def sensitive_only_by_catch_all(self) -> None:
        targets = [
            ("", "secrets", ""),
            ("", "configmaps", ""),
            ("", "serviceaccounts", "token"),
            ("authentication.k8s.io", "tokenreviews", ""),
        ]
        rules = self.policy.rules
        if all(level_rank(r.level) < level_rank(LEVEL_REQUEST) for r in rules):
            return  # nothing logs bodies: the catch-all is the whole policy
        hits: dict[int, set[str]] = {}
        for p in _probes(("create", "update", "get"), targets):
            d = _decide(self.comp, p)
            if d.rule_index is not None and rules[d.rule_index].is_catch_all and d.level == LEVEL_METADATA:
                name = p.resource + (f"/{p.subresource}" if p.subresource else "")
                hits.setdefault(d.rule_index, set()).add(name)
        for rule_index, names in hits.items():
            self.add(
                "AP023",
                f"{', '.join(sorted(names))} are logged at Metadata only because nothing matches them before "
                f"the catch-all {self.rule_where(rule_index)}.",
                rule_index=rule_index,
            )

    # -- coverage ------------------------------------------------------------------------------

    def _coverage(self, check_id: str, probes: list[Probe], what: str) -> None:
        missing = [(p, d) for p in probes if (d := _decide(self.comp, p)).level == LEVEL_NONE]
        if not missing:
            self.passed(check_id, f"{what} are audited at least at Metadata.")
            return
        shown = "; ".join(f"{p.describe()} → None ({self.rule_where(d.rule_index)})" for p, d in missing[:3])
        more = f" (and {len(missing) - 3} more probe requests)" if len(missing) > 3 else ""
        self.add(
            check_id,
            f"{what} are not always audited: {shown}{more}.",
            rule_index=missing[0][1].rule_index,
        )

    def coverage(self) -> None:
        self._coverage(
            "AP030",
            _probes(("get", "list", "watch", "create", "update", "patch", "delete"), [("", "secrets", "")]),
            "Secret reads and writes",
        )
        rbac = "rbac.authorization.k8s.io"
        self._coverage(
            "AP031",
            _probes(
                ("create", "update", "patch", "delete"), [(rbac, "roles", ""), (rbac, "rolebindings", "")]
            )
            + _probes(
                ("create", "update", "patch", "delete"),
                [(rbac, "clusterroles", ""), (rbac, "clusterrolebindings", "")],
                namespaced=False,
            ),
            "RBAC changes",
        )
        self._coverage(
            "AP032",
            _probes(
                ("create", "get"),
                [
                    ("", "pods", "exec"),
                    ("", "pods", "attach"),
                    ("", "pods", "portforward"),
                    ("", "pods", "proxy"),
                ],
            )
            + _probes(("get",), [("", "services", "proxy")])
            + _probes(("get",), [("", "nodes", "proxy")], namespaced=False),
            "exec, attach, port-forward and proxy requests",
        )
        self._coverage(
            "AP033",
            _probes(("create",), [("", "serviceaccounts", "token")]),
            "service account token requests",
        )
        self._coverage(
            "AP034",
            _probes(
                ("create", "update", "patch", "delete"),
                [("", "pods", ""), ("apps", "deployments", ""), ("", "pods", "ephemeralcontainers")],
            ),
            "Pod and Deployment changes",
        )

    def unauthenticated(self) -> None:
        targets = [
            ("", "secrets", ""),
            ("", "pods", ""),
            ("rbac.authorization.k8s.io", "clusterrolebindings", ""),
        ]
        identities = (("a request that failed authentication", "", ()), _ANONYMOUS)
        missing = []
        for p in _probes(("get", "list", "create"), targets, identities=identities):
            user = None if p.user == "" else p.user
            groups = None if user is None else p.groups
            d = self.comp.check(
                user, groups, p.verb, True, p.namespace, p.group, p.resource, p.subresource, p.name
            )
            if d.level == LEVEL_NONE:
                missing.append((p, d))
        if not missing:
            self.passed("AP035", "anonymous and unauthenticated requests are audited.")
            return
        shown = "; ".join(f"{p.describe()} → None ({self.rule_where(d.rule_index)})" for p, d in missing[:2])
        more = f" (and {len(missing) - 2} more probe requests)" if len(missing) > 2 else ""
        self.add(
            "AP035",
            f"{shown}{more}: failed logins and anonymous access leave no trace.",
            rule_index=missing[0][1].rule_index,
        )

    # -- volume --------------------------------------------------------------------------------

    def volume(self) -> None:
        targets = [
            ("", "pods", ""),
            ("", "configmaps", ""),
            ("", "secrets", ""),
            ("", "services", ""),
            ("", "endpoints", ""),
            ("", "events", ""),
            ("apps", "deployments", ""),
            ("apps", "replicasets", ""),
            ("coordination.k8s.io", "leases", ""),
            ("discovery.k8s.io", "endpointslices", ""),
        ]
        hits: dict[int | None, set[str]] = {}
        for p in _probes(("list",), targets):
            d = _decide(self.comp, p)
            if d.level == LEVEL_REQUEST_RESPONSE:
                hits.setdefault(d.rule_index, set()).add(
                    p.resource if not p.group else f"{p.resource}.{p.group}"
                )
        for p in _probes(("list",), [("", "nodes", ""), ("", "namespaces", "")], namespaced=False):
            d = _decide(self.comp, p)
            if d.level == LEVEL_REQUEST_RESPONSE:
                hits.setdefault(d.rule_index, set()).add(p.resource)
        if not hits:
            self.passed("AP040", "no list of a common resource is logged at RequestResponse.")
        for rule_index, resources in hits.items():
            self.add(
                "AP040",
                f"{self.rule_where(rule_index)} logs list responses at RequestResponse for "
                f"{', '.join(sorted(resources))}: every object returned is written to the log.",
                rule_index=rule_index,
            )
        ev_hits: dict[int | None, str] = {}
        for p in _probes(
            ("create", "update", "patch"), [("", "events", ""), ("events.k8s.io", "events", "")]
        ):
            d = _decide(self.comp, p)
            if level_rank(d.level) >= level_rank(LEVEL_REQUEST):
                ev_hits.setdefault(d.rule_index, d.level)
        if not ev_hits:
            self.passed("AP041", "events are not logged with bodies.")
        for rule_index, level in ev_hits.items():
            self.add(
                "AP041",
                f"{self.rule_where(rule_index)} logs event writes at {level}.",
                rule_index=rule_index,
                value=level,
            )

    def managed_fields(self) -> None:
        offenders = [
            i
            for i, d in enumerate(self.comp.decisions)
            if level_rank(d.level) >= level_rank(LEVEL_REQUEST) and not d.omit_managed_fields
        ]
        if offenders:
            where = ", ".join(self.rule_where(i) for i in offenders[:5])
            more = f" and {len(offenders) - 5} more" if len(offenders) > 5 else ""
            self.add(
                "AP042",
                f"{len(offenders)} rule(s) log bodies with their managedFields ({where}{more}).",
                rule_index=offenders[0],
            )

    # -- detections ----------------------------------------------------------------------------

    def detections(self, needs: Sequence[Need]) -> None:
        self.ran_detections = True
        for need in needs:
            verbs = need.verbs or ("create", "update", "patch", "delete", "get", "list")
            targets = list(need.resources) or [
                ("", "pods", ""),
                ("", "secrets", ""),
                ("apps", "deployments", ""),
            ]
            want = level_rank(need.level)
            short = []
            for p in _probes(verbs, targets, identities=(*_IDENTITIES, _ANONYMOUS)):
                d = _decide(self.comp, p)
                if level_rank(d.level) < want:
                    short.append((p, d))
            if not short:
                continue
            p, d = short[0]
            self.add(
                "AP060",
                f"detection {need.rule_id} ({need.title}) needs level {need.level}, but "
                f"{p.describe()} gets {d.level} from {self.rule_where(d.rule_index)}"
                + (f" ({len(short) - 1} more probe requests fall short)" if len(short) > 1 else "")
                + ".",
                rule_index=d.rule_index,
                value=need.rule_id,
            )

    # -- suppressions --------------------------------------------------------------------------

    def apply_suppressions(self) -> list[Finding]:
        used: set[int] = set()
        out = []
        for finding, rule_index in self.findings:
            if finding.status is Status.FAIL:
                for k, s in enumerate(self.policy.suppressions):
                    if s.check_id == finding.id and (s.rule_index is None or s.rule_index == rule_index):
                        used.add(k)
                        finding = Finding(
                            id=finding.id,
                            title=finding.title,
                            status=Status.SKIP,
                            severity=finding.severity,
                            message=f"suppressed (line {s.line}: {s.reason or 'no reason given'}): "
                            + finding.message,
                            benchmarks=finding.benchmarks,
                            evidence=finding.evidence,
                            remediation=finding.remediation,
                            fix_safety=finding.fix_safety,
                        )
                        break
            out.append(finding)
        for k, s in enumerate(self.policy.suppressions):
            if k in used or (s.check_id == "AP060" and not self.ran_detections):
                continue
            known = s.check_id in CHECKS
            out.append(
                Finding(
                    id="AP090",
                    title=CHECKS["AP090"].title,
                    status=Status.FAIL,
                    severity=CHECKS["AP090"].severity,
                    message=(
                        f"kapsec-lint: ignore={s.check_id} on line {s.line} suppresses nothing"
                        if known
                        else f"kapsec-lint: ignore={s.check_id} on line {s.line} names no kapsec check"
                    ),
                    evidence=Evidence(file=self.policy.source, line=s.line, value=s.check_id),
                    remediation=CHECKS["AP090"].remediation,
                )
            )
        return out


def _covers_list(outer: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    """An exact-match list condition ``outer`` admits everything ``inner`` admits."""
    return not outer or (bool(inner) and set(inner) <= set(outer))


def _pattern_covers(outer: str, inner: str) -> bool:
    if outer in ("*", inner):
        return True
    if outer.endswith("/*"):
        base = outer[:-2]
        return inner == base or inner.startswith(base + "/")
    if outer.startswith("*/"):
        return "/" in inner and inner.split("/", 1)[1] == outer[2:] and not inner.startswith("*")
    return False


def _gr_covers(outer: GroupResources, inner: GroupResources) -> bool:
    if outer.group not in ("*", inner.group):
        return False
    if not outer.resources:
        return True
    if not inner.resources:
        return False
    if outer.resource_names and not (
        inner.resource_names and set(inner.resource_names) <= set(outer.resource_names)
    ):
        return False
    return all(any(_pattern_covers(o, r) for o in outer.resources) for r in inner.resources)


def _url_covers(outer: str, inner: str) -> bool:
    if outer in ("*", inner):
        return True
    return outer.endswith("*") and inner.startswith(outer.rstrip("*"))


def _subsumes(outer: PolicyRule, inner: PolicyRule) -> bool:
    """Every request ``inner`` matches is matched by ``outer`` (a sound, not complete, test)."""
    if not (
        _covers_list(outer.users, inner.users)
        and _covers_list(outer.user_groups, inner.user_groups)
        and _covers_list(outer.verbs, inner.verbs)
    ):
        return False
    outer_res = bool(outer.namespaces or outer.resources)
    inner_res = bool(inner.namespaces or inner.resources)
    if outer_res:
        if not inner_res:
            return False
        if not _covers_list(outer.namespaces, inner.namespaces):
            return False
        if not outer.resources:
            return True
        return bool(inner.resources) and all(
            any(_gr_covers(o, gr) for o in outer.resources) for gr in inner.resources
        )
    if outer.non_resource_urls:
        if inner_res or not inner.non_resource_urls:
            return False
        return all(any(_url_covers(o, u) for o in outer.non_resource_urls) for u in inner.non_resource_urls)
    return True


def lint_policy(policy: Policy, needs: Sequence[Need] | None = None) -> list[Finding]:
    """All lint findings for ``policy`` (pass, fail and suppressed), in check order."""
    linter = _Linter(policy)
    linter.decoding()
    linter.literal_wildcards()
    linter.wrong_groups()
    linter.catch_all()
    linter.request_received()
    linter.response_complete()
    linter.shadowed()
    linter.sensitive()
    linter.sensitive_only_by_catch_all()
    linter.coverage()
    linter.unauthenticated()
    linter.volume()
    linter.managed_fields()
    if needs:
        linter.detections(needs)
    findings = linter.apply_suppressions()
    findings.sort(key=lambda f: f.id)
    return findings


__all__ = ["CHECKS", "Need", "lint_policy"]
