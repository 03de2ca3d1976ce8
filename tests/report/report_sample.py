"""A representative report: every status and severity, with and without evidence, and text that
each format must escape (pipes, angle brackets, ampersands, quotes, a newline, non-ASCII)."""

from __future__ import annotations

from kapsec.model.findings import Evidence, Finding, FixSafety, Report, Severity, Status

MANIFEST = "etc/kubernetes/manifests/kube-apiserver.yaml"


def sample_report() -> Report:
    findings = [
        Finding(
            id="APISERVER-001",
            title="Anonymous requests are rejected",
            status=Status.FAIL,
            severity=Severity.HIGH,
            message="--anonymous-auth is not set; the API server's default is true",
            benchmarks={"cis-1.12": "1.2.1", "cis-1.8": "1.2.1"},
            checklist="anonymous-auth",
            evidence=Evidence(file=MANIFEST, line=14, flag="--anonymous-auth", detail="default"),
            remediation="Set --anonymous-auth=false, or keep anonymous access to /livez, /readyz and /healthz "
            "only with an AuthenticationConfiguration.\nSee docs/harden.md.",
            fix_safety=FixSafety.RISKY,
            references=(
                "https://kubernetes.io/docs/reference/access-authn-authz/authentication/#anonymous-requests",
            ),
        ),
        Finding(
            id="APISERVER-002",
            title="Authorization mode includes Node and RBAC",
            status=Status.PASS,
            severity=Severity.CRITICAL,
            message="--authorization-mode=Node,RBAC",
            benchmarks={"cis-1.12": "1.2.7"},
            checklist="rbac",
            evidence=Evidence(file=MANIFEST, line=16, flag="--authorization-mode", value="Node,RBAC"),
            remediation="Set --authorization-mode=Node,RBAC.",
            fix_safety=FixSafety.NEEDS_RESTART,
        ),
        Finding(
            id="APISERVER-003",
            title="AlwaysAdmit admission plugin is not enabled",
            status=Status.FAIL,
            severity=Severity.CRITICAL,
            message='enabled plugins: "NodeRestriction,AlwaysAdmit" | AlwaysAdmit admits <every> request & bypasses all',
            benchmarks={"cis-1.12": "1.2.9"},
            evidence=Evidence(
                file=MANIFEST, line=20, flag="--enable-admission-plugins", value="NodeRestriction,AlwaysAdmit"
            ),
            remediation="Remove AlwaysAdmit from --enable-admission-plugins.",
            fix_safety=FixSafety.SAFE,
        ),
        Finding(
            id="APISERVER-004",
            title="Profiling is disabled",
            status=Status.FAIL,
            severity=Severity.LOW,
            message="--profiling is not set; the default is true",
            benchmarks={"cis-1.12": "1.2.15"},
            evidence=Evidence(file=MANIFEST, line=14, flag="--profiling"),
            remediation="Set --profiling=false.",
            fix_safety=FixSafety.NEEDS_RESTART,
        ),
        Finding(
            id="AUDIT-001",
            title="Audit policy file is valid",
            status=Status.WARN,
            severity=Severity.MEDIUM,
            message="cannot read /etc/kubernetes/audit/policy.yaml: permission denied",
            checklist="audit-logging",
            evidence=Evidence(file="etc/kubernetes/audit/policy.yaml"),
            remediation="Make the policy readable by kapsec.",
        ),
        Finding(
            id="AUDIT-002",
            title="Audit log is rotated (maxage, maxbackup, maxsize)",
            status=Status.FAIL,
            severity=Severity.MEDIUM,
            message="--audit-log-maxage is not set",
            benchmarks={"cis-1.12": "1.2.17"},
            checklist="log-rotation",
            evidence=Evidence(file=MANIFEST, line=14, flag="--audit-log-maxage"),
            remediation="Set --audit-log-maxage=30.",
            fix_safety=FixSafety.SAFE,
        ),
        Finding(
            id="CLUSTER-001",
            title="Namespaces have a default-deny NetworkPolicy",
            status=Status.WARN,
            severity=Severity.MEDIUM,
            message="needs a live cluster (run with --cluster)",
            checklist="network-policies",
        ),
        Finding(
            id="ETCD-001",
            title="etcd peer certificates are verified",
            status=Status.SKIP,
            severity=Severity.INFO,
            message="k3s embeds etcd; its peer TLS is not configured by flags",
        ),
        Finding(
            id="TLS-001",
            title="Serving certificate is valid for 30 days or more",
            status=Status.PASS,
            severity=Severity.HIGH,
            message="expires in 364 days (2027-03-01)",
            checklist="tls",
            evidence=Evidence(file="etc/kubernetes/pki/apiserver.crt", detail="CN=kube-apiserver — 7 SANs"),
            remediation="Renew with kubeadm certs renew apiserver.",
        ),
        Finding(
            id="TLS-002",
            title="Client CA is set",
            status=Status.PASS,
            severity=Severity.INFO,
            message="",
            evidence=Evidence(
                file=MANIFEST, line=17, flag="--client-ca-file", value="/etc/kubernetes/pki/ca.crt"
            ),
        ),
    ]
    return Report(
        tool="kapsec",
        version="0.1.0",
        target={
            "kind": "kube-apiserver",
            "source": "manifest",
            "file": MANIFEST,
            "kubernetesVersion": "1.34",
        },
        findings=findings,
    )


def empty_report() -> Report:
    return Report(
        tool="kapsec", version="0.1.0", target={"kind": "kube-apiserver", "file": MANIFEST}, findings=[]
    )
