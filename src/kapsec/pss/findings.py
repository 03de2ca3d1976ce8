"""Pod Security evaluations as findings (SARIF/JUnit/Markdown/HTML reports of `pss check`).

One failed finding per (object, failing check), ID ``PSS-<checkID>`` with the admission
plugin's message; one passed ``PSS-ALLOWED`` finding per allowed object. Baseline checks are
high severity (they stop known privilege escalations), restricted ones medium. Pure.

The messages are those of ``staging/src/k8s.io/pod-security-admission/policy/check_*.go`` (via
:mod:`kapsec.pss.checks`); the finding layout is kapsec's own (model/findings.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kapsec.model.findings import Evidence, Finding, FixSafety, Severity, Status
from kapsec.pss.api import Level
from kapsec.pss.checks import CHECKS
from kapsec.pss.evaluate import Evaluation
from kapsec.sources.objects import SourceRef

CHECKLIST = "pod-security-standards"
REFERENCE = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"
_LEVEL_OF = {c.id: c.level for c in CHECKS}

REMEDIATION = {
    "appArmorProfile": "Use appArmorProfile type RuntimeDefault or Localhost (or drop the Unconfined annotation).",
    "capabilities_baseline": "Add only capabilities from the default set; most workloads need none.",
    "hostNamespaces": "Remove hostNetwork, hostPID and hostIPC.",
    "hostPathVolumes": "Replace hostPath volumes with emptyDir, configMap, secret, projected or a PVC.",
    "hostPorts": "Remove hostPort; expose the port through a Service.",
    "hostProbesAndHostLifecycle": "Remove host from httpGet/tcpSocket probes and lifecycle hooks.",
    "privileged": "Remove securityContext.privileged=true.",
    "procMount": "Remove securityContext.procMount (or set Default).",
    "seLinuxOptions": "Use an allowed SELinux type (container_t, ...) and do not set user or role.",
    "seccompProfile_baseline": "Do not set seccomp to Unconfined.",
    "sysctls": "Use only the safe sysctls.",
    "windowsHostProcess": "Remove windowsOptions.hostProcess=true.",
    "allowPrivilegeEscalation": "Set securityContext.allowPrivilegeEscalation: false on every container.",
    "capabilities_restricted": 'Set capabilities.drop: ["ALL"]; add back only NET_BIND_SERVICE.',
    "procMount_restricted": "Remove securityContext.procMount (or set Default).",
    "restrictedVolumes": "Use only configMap, csi, downwardAPI, emptyDir, ephemeral, image, PVC, projected, secret volumes.",
    "runAsNonRoot": "Set securityContext.runAsNonRoot: true (pod or every container) and run as a non-zero UID.",
    "runAsUser": "Do not set runAsUser: 0.",
    "seccompProfile_restricted": "Set securityContext.seccompProfile.type: RuntimeDefault (pod or every container).",
}


@dataclass(frozen=True)
class Checked:
    ref: str
    where: SourceRef
    result: Evaluation


def check_findings(checked: Sequence[Checked]) -> list[Finding]:
    out: list[Finding] = []
    for item in checked:
        lv = item.result.level_version
        evidence = Evidence(file=item.where.file, line=item.where.line, detail=item.ref)
        if item.result.allowed:
            out.append(
                Finding(
                    id="PSS-ALLOWED",
                    title=f"Allowed at Pod Security {lv}",
                    status=Status.PASS,
                    severity=Severity.INFO,
                    message=f"{item.ref}: allowed at {lv}",
                    checklist=CHECKLIST,
                    evidence=evidence,
                    references=(REFERENCE,),
                )
            )
            continue
        for v in item.result.violations:
            baseline = _LEVEL_OF.get(v.check) is Level.BASELINE
            out.append(
                Finding(
                    id=f"PSS-{v.check}",
                    title=f"Pod Security {lv.level.value}: {v.check}",
                    status=Status.FAIL,
                    severity=Severity.HIGH if baseline else Severity.MEDIUM,
                    message=f'{item.ref}: violates PodSecurity "{lv}": {v.message}',
                    checklist=CHECKLIST,
                    evidence=evidence,
                    remediation=REMEDIATION.get(v.check, ""),
                    fix_safety=FixSafety.MANUAL,
                    references=(REFERENCE,),
                )
            )
    return out
