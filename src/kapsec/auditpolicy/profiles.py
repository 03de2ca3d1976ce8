"""Built-in audit policies: the hardening guide's two, a CIS 3.2.2 one, and kapsec's recommended.

The policies are ``audit.k8s.io/v1`` documents as read by
``staging/src/k8s.io/apiserver/pkg/audit/policy/reader.go``; each starts with a comment header
that says why every rule exists. Every profile loads, validates and lints clean (no unsuppressed
failure); the guide's own trade-offs are kept verbatim and carried as named, reasoned
``kapsec-lint: ignore`` comments, so ``kapsec audit-policy lint --all`` still shows them.

``from_log`` adds ``level: None`` rules for the loudest read-only system traffic found in real
logs to the recommended profile (pure: the caller reads the log).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from kapsec.auditpolicy.checker import compiled
from kapsec.auditpolicy.model import LEVEL_NONE, GroupResources, PolicyRule, render_rule
from kapsec.errors import UsageError
from kapsec.model.request import RequestAttributes

PROFILES = ("guide-simple", "guide-moderate", "cis", "recommended")

GUIDE_SIMPLE = """\
# kapsec audit-policy generate --profile guide-simple
#
# The hardening guide's simple audit policy, verbatim: one rule that records every request at
# Metadata (who, what, when, where from, and the response code; never a request or response body).
#
# Why each rule exists:
#   rule 0  Metadata for everything: nothing goes unaudited, no Secret or token is ever written
#           to disk, and the volume stays predictable.
#
# What kapsec would change (kept out to stay verbatim; see 'kapsec audit-policy lint --all'):
# kapsec-lint: ignore=AP013 the guide keeps RequestReceived events; add 'omitStages: [RequestReceived]' to halve the volume
# kapsec-lint: ignore=AP060 Metadata-only by design: detections that read request bodies need --profile recommended
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: Metadata
"""

GUIDE_MODERATE = """\
# kapsec audit-policy generate --profile guide-moderate
#
# The hardening guide's "moderate" audit policy. Its rules are kept verbatim, in order, with the
# guide's omitStages. kapsec adds one rule, the final catch-all (rule 3): the guide's text ends
# after rule 2, so every request it does not name (Secrets, RBAC changes, exec, token requests,
# Deployments...) would get level None and never be recorded (lint AP010, AP030-AP034).
#
# Why each rule exists:
#   omitStages  RequestReceived is dropped: the ResponseComplete event carries the same metadata.
#   rule 0  RequestResponse for core pods: full pod objects for every pod read and write (this
#           also matches list and watch; subresources such as pods/exec are not matched).
#   rule 1  pods/log and pods/status at Metadata: log reads and kubelet status updates are
#           frequent and their bodies add nothing.
#   rule 2  Request for configmaps in kube-system: see what changed in system configuration.
#   rule 3  (added by kapsec) Metadata for everything else.
#
# The guide's trade-offs, kept and explained (see 'kapsec audit-policy lint --all'):
# kapsec-lint: ignore=AP023 Secrets and tokens reach Metadata through the catch-all, as the guide intends
# kapsec-lint: ignore=AP060 RBAC and workload writes stay at Metadata as in the guide; detections that read request bodies need --profile recommended
# kapsec-lint: ignore=AP042 the guide predates omitManagedFields (Kubernetes 1.23+); add 'omitManagedFields: true' to cut body volume
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - "RequestReceived"
rules:
  # Log pod changes and reads at RequestResponse level
  # kapsec-lint: ignore=AP040 the guide records full pod objects for reads too; expect high volume on busy clusters
  - level: RequestResponse
    resources:
      - group: ""
        resources: ["pods"]
  # Log "pods/log", "pods/status" at Metadata level
  - level: Metadata
    resources:
      - group: ""
        resources: ["pods/log", "pods/status"]
  # Log the request body of configmap changes in kube-system
  # kapsec-lint: ignore=AP021 the guide wants kube-system configuration changes; keep credentials out of kube-system configmaps
  - level: Request
    resources:
      - group: ""
        resources: ["configmaps"]
    namespaces: ["kube-system"]
  # Catch-all (added by kapsec): everything else at Metadata
  - level: Metadata
"""

CIS = """\
# kapsec audit-policy generate --profile cis
#
# Covers the concerns of CIS Kubernetes Benchmark 3.2.2 ("Ensure that the audit policy covers key
# security concerns"): access to Secrets (Metadata only, together with ConfigMaps and
# TokenReviews, so no sensitive data is written), modification of Pod and Deployment objects, use
# of pods/exec, pods/portforward, pods/proxy and services/proxy, and Metadata for everything else.
#
# Why each rule exists:
#   omitStages  RequestReceived is dropped: the ResponseComplete event carries the same metadata.
#   omitManagedFields  logged bodies leave out managedFields (server-side-apply bookkeeping;
#           Kubernetes 1.23+).
#   rule 0  Secrets, ConfigMaps, TokenRequests and TokenReviews at Metadata only: their bodies hold
#           credentials (CIS: "only log Metadata for requests to Secrets, ConfigMaps, and TokenReviews").
#   rule 1  exec, attach, port-forward and proxy at Metadata: the command is in the request URI,
#           which Metadata records; the streams themselves are never in the audit log.
#   rule 2  Pod and Deployment changes at Request: the object that was written, to see what changed.
#   rule 3  Metadata for everything else ("minimally logging at the Metadata level").
#
# kapsec-lint: ignore=AP060 CIS 3.2.2 asks for Metadata coverage; detections that read request bodies (RBAC grants, privileged pods) need --profile recommended
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - "RequestReceived"
omitManagedFields: true
rules:
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "configmaps", "serviceaccounts/token"]
      - group: "authentication.k8s.io"
        resources: ["tokenreviews"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["pods/exec", "pods/attach", "pods/portforward", "pods/proxy", "services/proxy", "nodes/proxy"]
  - level: Request
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
    resources:
      - group: ""
        resources: ["pods", "pods/ephemeralcontainers"]
      - group: "apps"
        resources: ["deployments", "deployments/scale"]
  - level: Metadata
"""

_RECOMMENDED_HEAD = """\
# kapsec audit-policy generate --profile {profile}
#
# kapsec's recommended audit policy: every request is recorded at least at Metadata, Secrets and
# tokens never above Metadata, noisy read-only system traffic is dropped, and the changes an
# investigation needs (RBAC, exec/attach, workloads, admission and API extensions) are recorded
# with their request bodies so body-reading detections work.
#
# Why each rule exists:
#   omitStages  RequestReceived is dropped: the ResponseComplete event carries the same metadata.
#   omitManagedFields  logged bodies leave out managedFields (server-side-apply bookkeeping,
#           often a third of an object; Kubernetes 1.23+).
#   rule 0  Secrets, ConfigMaps, TokenRequests and TokenReviews at Metadata, first, so no later
#           rule can log their contents (ConfigMaps often hold credentials too).
#   rule 1  Authenticated discovery, health and version probes dropped: kubectl and every
#           controller call them constantly and they change nothing. Anonymous ones are kept.
#   rule 2  kube-proxy's endpoint and service watches dropped (read-only, constant).
#   rule 3  Kubelets reading their own node and pods dropped (read-only, constant).
#   rule 4  Control-plane leader-election lease renewals in kube-system dropped.
#   rule 5  Kubelet node-lease renewals dropped (every 10 seconds per node).
#   rule 6  Kubelet status updates at Metadata: frequent and large; the body adds little.
#   rule 7  RBAC writes at RequestResponse: which role a binding grants, and the result.
#   rule 8  exec, attach, port-forward, proxy and ephemeral containers at Request: the command
#           is in the URI and kubectl debug's container spec in the body.
#   rule 9  Writes to workloads, services, service accounts, namespaces, admission webhooks and
#           policies, CRDs, API services, network policies and CSRs at Request: detections read
#           these bodies (privileged pods, host mounts, NodePort services, webhook hijacks).
{extra_rules_doc}#   rule {catch_all} Everything else at Metadata.{extra_doc}
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - "RequestReceived"
omitManagedFields: true
rules:
  # kapsec-lint: ignore=AP060 ConfigMap and Secret bodies are never logged (they hold credentials): detections reading them stay blind by design
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "configmaps", "serviceaccounts/token"]
      - group: "authentication.k8s.io"
        resources: ["tokenreviews"]
  - level: None
    userGroups: ["system:authenticated"]
    nonResourceURLs:
      - "/api"
      - "/api/*"
      - "/apis"
      - "/apis/*"
      - "/healthz*"
      - "/livez*"
      - "/readyz*"
      - "/version"
      - "/openapi/*"
  - level: None
    users: ["system:kube-proxy"]
    verbs: ["watch"]
    resources:
      - group: ""
        resources: ["endpoints", "services", "services/status"]
      - group: "discovery.k8s.io"
        resources: ["endpointslices"]
  - level: None
    userGroups: ["system:nodes"]
    verbs: ["get", "list", "watch"]
    resources:
      - group: ""
        resources: ["nodes", "nodes/status", "pods"]
  - level: None
    users: ["system:kube-controller-manager", "system:kube-scheduler", "system:apiserver"]
    verbs: ["get", "update"]
    resources:
      - group: "coordination.k8s.io"
        resources: ["leases"]
    namespaces: ["kube-system"]
  - level: None
    userGroups: ["system:nodes"]
    verbs: ["get", "update"]
    resources:
      - group: "coordination.k8s.io"
        resources: ["leases"]
    namespaces: ["kube-node-lease"]
  - level: Metadata
    userGroups: ["system:nodes"]
    verbs: ["update", "patch"]
    resources:
      - group: ""
        resources: ["nodes/status", "pods/status"]
  - level: RequestResponse
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
    resources:
      - group: "rbac.authorization.k8s.io"
        resources: ["roles", "rolebindings", "clusterroles", "clusterrolebindings"]
  - level: Request
    resources:
      - group: ""
        resources: ["pods/exec", "pods/attach", "pods/portforward", "pods/proxy", "pods/ephemeralcontainers", "services/proxy", "nodes/proxy"]
  - level: Request
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
    resources:
      - group: ""
        resources: ["pods", "services", "serviceaccounts", "namespaces", "nodes", "persistentvolumes", "replicationcontrollers"]
      - group: "apps"
        resources: ["deployments", "daemonsets", "statefulsets", "replicasets"]
      - group: "batch"
        resources: ["jobs", "cronjobs"]
      - group: "admissionregistration.k8s.io"
      - group: "apiextensions.k8s.io"
        resources: ["customresourcedefinitions"]
      - group: "apiregistration.k8s.io"
        resources: ["apiservices"]
      - group: "networking.k8s.io"
        resources: ["networkpolicies", "ingresses"]
      - group: "certificates.k8s.io"
        resources: ["certificatesigningrequests", "certificatesigningrequests/approval"]
{extra_rules}  - level: Metadata
"""


def generate_profile(profile: str) -> str:
    """The YAML text of ``profile`` (one of :data:`PROFILES`)."""
    if profile == "guide-simple":
        return GUIDE_SIMPLE
    if profile == "guide-moderate":
        return GUIDE_MODERATE
    if profile == "cis":
        return CIS
    if profile == "recommended":
        return _RECOMMENDED_HEAD.format(
            profile="recommended", extra_doc="", extra_rules="", extra_rules_doc="", catch_all="10"
        )
    raise UsageError(f"unknown profile {profile!r} (expected one of: {', '.join(PROFILES)})")


# -- --from-log ----------------------------------------------------------------------------------

_READ_VERBS = frozenset({"get", "list", "watch"})
_NEVER_DROP = frozenset({"secrets", "configmaps", "serviceaccounts", "tokenreviews"})


@dataclass(frozen=True, slots=True)
class NoiseRule:
    """A None rule proposed from real traffic, with what it matched in the log."""

    rule: PolicyRule
    events: int
    bytes: int
    share: float  # of all events in the log


def _is_system(req: RequestAttributes) -> bool:
    if req.user is None:
        return False
    return req.user.startswith("system:") and not req.user.startswith("system:anonymous")


def find_noise(
    requests: Iterable[tuple[RequestAttributes, int]], *, top: int = 5, min_share: float = 0.01
) -> list[NoiseRule]:
    """The loudest read-only system traffic still logged under the recommended profile.

    ``requests`` yields each logged request once (with the bytes it took in the log). Candidates
    are resource reads (get, list, watch) by ``system:`` users, grouped by user (kubelets, whose
    user names differ per node, together as the ``system:nodes`` group), API group and resource;
    Secrets, ConfigMaps, service accounts and tokens are never proposed.
    """
    from kapsec.auditpolicy.loader import load_policy_text

    base_policy = load_policy_text(generate_profile("recommended"), "recommended")
    base = compiled(base_policy)
    base_catch_all = len(base_policy.rules) - 1
    counts: Counter[tuple[str, str, str, str]] = Counter()  # (user|group, who, group, resource)
    sizes: Counter[tuple[str, str, str, str]] = Counter()
    verbs: dict[tuple[str, str, str, str], set[str]] = {}
    total = 0
    for req, size in requests:
        total += 1
        if not req.resource_request or req.verb not in _READ_VERBS or not _is_system(req):
            continue
        if req.resource in _NEVER_DROP:
            continue
        d = base.check(
            req.user,
            req.groups,
            req.verb,
            True,
            req.namespace,
            req.api_group,
            req.resource,
            req.subresource,
            req.name,
            req.path,
        )
        if d.rule_index != base_catch_all:
            continue  # decided by a specific rule: the generated policy keeps that decision
        res = f"{req.resource}/{req.subresource}" if req.subresource else req.resource
        if (req.user or "").startswith("system:node:") and "system:nodes" in (req.groups or ()):
            key = ("group", "system:nodes", req.api_group, res)  # one rule for every kubelet
        else:
            key = ("user", req.user or "", req.api_group, res)
        counts[key] += 1
        sizes[key] += size
        verbs.setdefault(key, set()).add(req.verb)
    out: list[NoiseRule] = []
    for key, n in counts.most_common():
        if len(out) >= top or total == 0 or n / total < min_share:
            break
        kind, who, group, res = key
        rule = PolicyRule(
            level=LEVEL_NONE,
            users=(who,) if kind == "user" else (),
            user_groups=(who,) if kind == "group" else (),
            verbs=tuple(v for v in ("get", "list", "watch") if v in verbs[key]),
            resources=(GroupResources(group=group, resources=(res,)),),
        )
        out.append(NoiseRule(rule, n, sizes[key], n / total))
    return out


def from_log(noise: list[NoiseRule], sources: list[str]) -> str:
    """The recommended profile plus one None rule per ``noise`` item, just before the catch-all."""
    doc_lines = []
    rule_lines = []
    for k, item in enumerate(noise):
        rule = item.rule
        gr = rule.resources[0]
        what = gr.resources[0] + (f".{gr.group}" if gr.group else "")
        who = rule.users[0] if rule.users else f"group {rule.user_groups[0]}"
        doc_lines.append(
            f"#   rule {10 + k} (from the log) None for {who} {'/'.join(rule.verbs)} {what}:\n"
            f"#           {item.events} requests ({item.share:.1%} of the log), {item.bytes} bytes.\n"
        )
        rule_lines.append("\n".join("  " + x for x in render_rule(rule).splitlines()) + "\n")
    extra_doc = ""
    if noise:
        extra_doc += (
            "\n#   The rules from the log drop reads that only the catch-all recorded; Secrets and"
            "\n#   tokens (rule 0), exec and attach (rule 8) stay audited whoever reads them."
        )
    if sources:
        extra_doc += "\n#   Traffic read from: " + ", ".join(sources) + "."
    return _RECOMMENDED_HEAD.format(
        profile="recommended --from-log",
        extra_doc=extra_doc,
        extra_rules="".join(rule_lines),
        extra_rules_doc="".join(doc_lines),
        catch_all=str(10 + len(noise)),
    )
