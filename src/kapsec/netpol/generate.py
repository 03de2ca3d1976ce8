"""Default-deny NetworkPolicies, with an optional DNS egress allowance.

Writes ``networking.k8s.io/v1`` objects as the Kubernetes documentation's "Default policies"
describe them (``podSelector: {}`` with the policy type and no rules), and a DNS allowance to
the cluster DNS pods (``kube-system`` pods labelled ``k8s-app=kube-dns``, the label kubeadm's
CoreDNS and kube-dns both carry) on UDP and TCP 53. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from kapsec.netpol.coverage import EGRESS, INGRESS

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1123_LABEL_MAX = 63


def namespace_problem(name: str) -> str | None:
    """Why the API server would refuse ``name`` as a namespace name (``ValidateNamespaceName``:
    an RFC 1123 label, apimachinery ``validation.IsDNS1123Label``), or None when it is valid."""
    problems = []
    if len(name) > DNS1123_LABEL_MAX:
        problems.append(f"must be no more than {DNS1123_LABEL_MAX} characters")
    if not _DNS1123_LABEL.fullmatch(name):
        problems.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
            "and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', "
            "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        )
    return ", ".join(problems) or None


NS_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace (1.21+)


def default_deny(namespace: str, directions: Sequence[str] = (INGRESS, EGRESS)) -> dict[str, Any]:
    suffix = "all" if set(directions) == {INGRESS, EGRESS} else directions[0].lower()
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"default-deny-{suffix}", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": [d for d in (INGRESS, EGRESS) if d in directions]},
    }


def allow_dns(
    namespace: str, dns_namespace: str = "kube-system", dns_labels: dict[str, str] | None = None
) -> dict[str, Any]:
    labels = dns_labels or {"k8s-app": "kube-dns"}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-dns-egress", "namespace": namespace},
        "spec": {
            "podSelector": {},
            "policyTypes": [EGRESS],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {NS_NAME_LABEL: dns_namespace}},
                            "podSelector": {"matchLabels": dict(labels)},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    }


def generate(
    namespaces: Sequence[str],
    directions: Sequence[str] = (INGRESS, EGRESS),
    *,
    dns: bool = False,
    dns_namespace: str = "kube-system",
    dns_labels: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The policies for each namespace, in order: default deny, then (with ``dns`` and egress
    denied) the DNS allowance."""
    out: list[dict[str, Any]] = []
    for ns in namespaces:
        out.append(default_deny(ns, directions))
        if dns and EGRESS in directions:
            out.append(allow_dns(ns, dns_namespace, dns_labels))
    return out
