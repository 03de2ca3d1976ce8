"""Exact messages of the PodSecurity checks, ephemeral containers (no upstream fixture covers
them), workload templates, precedence between pod and container securityContext, the Windows
and user-namespace relaxations, volume defaulting and label resolution."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kapsec.pss.api import Level, LevelVersion, Policy, Version, policy_from_labels
from kapsec.pss.evaluate import evaluate, evaluate_many

LATEST = Version.parse("latest")
RESTRICTED_SC = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def pod(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p"}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def restricted_pod(**extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "app", "image": "x", "securityContext": dict(RESTRICTED_SC)}],
    }
    spec.update(extra)
    return pod(spec)


def message(obj: dict[str, Any], level: str = "baseline", version: str = "latest") -> str:
    result = evaluate(obj, Level(level), Version.parse(version))
    assert result is not None
    return result.message


def test_oracle_message_privileged_container() -> None:
    # recorded from a real kube-apiserver v1.36 (oracle-1.36 config-errors, enforce baseline)
    obj = pod({"containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]})
    assert message(obj) == (
        'violates PodSecurity "baseline:latest": privileged '
        '(container "c" must not set securityContext.privileged=true)'
    )
    # the version prints as requested (v1.99 is valid and clamps to the newest rules)
    assert message(obj, version="v1.99").startswith('violates PodSecurity "baseline:v1.99": privileged (')


def test_documented_restricted_warning_for_bare_nginx() -> None:
    # kubernetes/website tutorial ns-level-pss.md: a pod with no securityContext at restricted
    obj = pod({"containers": [{"name": "nginx", "image": "nginx"}]})
    result = evaluate(obj, Level.RESTRICTED, LATEST)
    assert result is not None
    assert result.warning == (
        'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
        '(container "nginx" must set securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to '
        '"RuntimeDefault" or "Localhost")'
    )
    assert result.reasons == (
        "allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile"
    )


def test_documented_baseline_denial_order() -> None:
    obj = pod(
        {
            "hostPID": True,
            "containers": [{"name": "ubuntu", "image": "u", "securityContext": {"privileged": True}}],
        }
    )
    assert message(obj) == (
        'violates PodSecurity "baseline:latest": host namespaces (hostPID=true), '
        'privileged (container "ubuntu" must not set securityContext.privileged=true)'
    )


# --- ephemeral containers: visited after init and regular containers -------------------------

EPHEMERAL_CASES = [
    (
        {"securityContext": {"privileged": True}},
        "baseline",
        'privileged (container "debug" must not set securityContext.privileged=true)',
    ),
    (
        {"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}},
        "baseline",
        'non-default capabilities (container "debug" must not include "SYS_ADMIN" in '
        "securityContext.capabilities.add)",
    ),
    (
        {"ports": [{"containerPort": 80, "hostPort": 8080}]},
        "baseline",
        'hostPort (container "debug" uses hostPort 8080)',
    ),
    (
        {"securityContext": {"procMount": "Unmasked"}},
        "baseline",
        'procMount (container "debug" must not set securityContext.procMount to "Unmasked")',
    ),
    (
        {"securityContext": {"seLinuxOptions": {"type": "spc_t"}}},
        "baseline",
        'seLinuxOptions (container "debug" set forbidden securityContext.seLinuxOptions: type "spc_t")',
    ),
    (
        {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}},
        "baseline",
        'forbidden AppArmor profile (container "debug" must not set AppArmor profile type to "Unconfined")',
    ),
    (
        {"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
        "baseline",
        'seccompProfile (container "debug" must not set securityContext.seccompProfile.type to "Unconfined")',
    ),
    (
        {"securityContext": {"windowsOptions": {"hostProcess": True}}},
        "baseline",
        'hostProcess (container "debug" must not set securityContext.windowsOptions.hostProcess=true)',
    ),
    (
        {"readinessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80}}},
        "baseline",
        'probe or lifecycle host (container "debug" uses probe or lifecycle host "10.0.0.1")',
    ),
    (
        {},
        "restricted",
        'allowPrivilegeEscalation != false (container "debug" must set securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (container "debug" must set securityContext.capabilities.drop=["ALL"])',
    ),
    (
        {"securityContext": {**RESTRICTED_SC, "runAsUser": 0}},
        "restricted",
        'runAsUser=0 (container "debug" must not set runAsUser=0)',
    ),
    (
        {"securityContext": {**RESTRICTED_SC, "runAsNonRoot": False}},
        "restricted",
        'runAsNonRoot != true (container "debug" must not set securityContext.runAsNonRoot=false)',
    ),
]


@pytest.mark.parametrize(("container", "level", "expected"), EPHEMERAL_CASES)
def test_ephemeral_container_is_checked(container: dict[str, Any], level: str, expected: str) -> None:
    obj = restricted_pod(ephemeralContainers=[{"name": "debug", "image": "busybox", **container}])
    assert message(obj, level) == f'violates PodSecurity "{level}:latest": {expected}'
    # the same pod without the ephemeral container is fine at both levels
    clean = restricted_pod()
    assert message(clean, "restricted") == ""


def test_container_order_init_regular_ephemeral() -> None:
    spec = {
        "ephemeralContainers": [{"name": "e", "image": "x", "securityContext": {"privileged": True}}],
        "containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}],
        "initContainers": [{"name": "i", "image": "x", "securityContext": {"privileged": True}}],
    }
    assert message(pod(spec)) == (
        'violates PodSecurity "baseline:latest": privileged '
        '(containers "i", "c", "e" must not set securityContext.privileged=true)'
    )


def test_ephemeral_container_seccomp_falls_back_to_pod_level() -> None:
    obj = restricted_pod(
        ephemeralContainers=[{"name": "debug", "image": "b", "securityContext": RESTRICTED_SC}]
    )
    assert message(obj, "restricted") == ""
    obj["spec"]["securityContext"] = {}
    assert message(obj, "restricted") == (
        'violates PodSecurity "restricted:latest": runAsNonRoot != true (pod or containers "app", "debug" '
        'must set securityContext.runAsNonRoot=true), seccompProfile (pod or containers "app", "debug" '
        'must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
    )


# --- precedence between pod and container securityContext -----------------------------------


def test_bad_pod_value_is_a_violation_even_when_containers_override() -> None:
    obj = restricted_pod()
    obj["spec"]["securityContext"]["seLinuxOptions"] = {"type": "spc_t", "user": "u", "role": "r"}
    obj["spec"]["containers"][0]["securityContext"]["seLinuxOptions"] = {"type": "container_t"}
    assert message(obj) == (
        'violates PodSecurity "baseline:latest": seLinuxOptions (pod set forbidden '
        'securityContext.seLinuxOptions: type "spc_t"; user may not be set; role may not be set)'
    )


def test_explicit_bad_wins_over_missing_for_run_as_non_root_and_seccomp() -> None:
    obj = pod(
        {
            "securityContext": {"runAsNonRoot": False, "seccompProfile": {"type": "Unconfined"}},
            "containers": [
                {"name": "a", "image": "x", "securityContext": RESTRICTED_SC},
                {"name": "b", "image": "x", "securityContext": {**RESTRICTED_SC, "runAsNonRoot": False}},
            ],
        }
    )
    assert message(obj, "restricted") == (
        'violates PodSecurity "restricted:latest": runAsNonRoot != true (pod and container "b" must not '
        "set securityContext.runAsNonRoot=false), seccompProfile (pod must not set "
        'securityContext.seccompProfile.type to "Unconfined")'
    )


def test_container_values_satisfy_restricted_without_pod_level() -> None:
    sc = {**RESTRICTED_SC, "runAsNonRoot": True, "seccompProfile": {"type": "Localhost"}}
    obj = pod({"containers": [{"name": "a", "image": "x", "securityContext": sc}]})
    assert message(obj, "restricted") == ""
    # runAsUser non-zero does not satisfy runAsNonRoot
    sc2 = {**RESTRICTED_SC, "runAsUser": 1000, "seccompProfile": {"type": "Localhost"}}
    obj2 = pod({"containers": [{"name": "a", "image": "x", "securityContext": sc2}]})
    assert "runAsNonRoot != true" in message(obj2, "restricted")


def test_empty_profile_objects() -> None:
    obj = pod({"securityContext": {"seccompProfile": {}, "appArmorProfile": {}, "seLinuxOptions": {}}})
    assert message(obj) == (
        'violates PodSecurity "baseline:latest": forbidden AppArmor profile (pod must not set AppArmor '
        'profile type to ""), seccompProfile (pod must not set securityContext.seccompProfile.type to "")'
    )


def test_apparmor_annotations_and_fields_together() -> None:
    obj = pod(
        {
            "securityContext": {"appArmorProfile": {"type": "Unconfined"}},
            "containers": [{"name": "a", "image": "x"}],
        },
        annotations={
            "container.apparmor.security.beta.kubernetes.io/a": "unconfined",
            "container.apparmor.security.beta.kubernetes.io/b": "localhost/x",
        },
    )
    assert message(obj) == (
        'violates PodSecurity "baseline:latest": forbidden AppArmor profiles (pod and annotation must not '
        'set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/a="unconfined"")'
    )


# --- versions ------------------------------------------------------------------------------


def test_seccomp_annotations_only_before_1_19() -> None:
    obj = pod(
        {"containers": [{"name": "a", "image": "x"}]},
        annotations={"seccomp.security.alpha.kubernetes.io/pod": "unconfined"},
    )
    assert message(obj, version="v1.18") == (
        'violates PodSecurity "baseline:v1.18": seccompProfile (forbidden annotation '
        'seccomp.security.alpha.kubernetes.io/pod="unconfined")'
    )
    assert message(obj, version="v1.19") == ""


def test_sysctls_allowed_set_grows_by_version() -> None:
    obj = pod({"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem", "value": "1"}]}})
    assert message(obj, version="v1.31") == (
        'violates PodSecurity "baseline:v1.31": forbidden sysctls (net.ipv4.tcp_rmem)'
    )
    assert message(obj, version="v1.32") == ""


def test_restricted_before_checks_existed() -> None:
    obj = pod({"securityContext": {"runAsNonRoot": True}, "containers": [{"name": "a", "image": "x"}]})
    assert message(obj, "restricted", "v1.7") == ""
    assert message(obj, "restricted", "v1.8").endswith(
        '(container "a" must set securityContext.allowPrivilegeEscalation=false)'
    )


# --- Windows pods and user namespaces -------------------------------------------------------


def test_windows_pods_skip_linux_only_restricted_checks_from_1_25() -> None:
    obj = pod(
        {
            "os": {"name": "windows"},
            "securityContext": {"runAsNonRoot": True},
            "containers": [{"name": "w", "image": "x"}],
        }
    )
    assert message(obj, "restricted", "v1.25") == ""
    assert message(obj, "restricted", "v1.24") == (
        'violates PodSecurity "restricted:v1.24": allowPrivilegeEscalation != false (container "w" must '
        'set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "w" '
        'must set securityContext.capabilities.drop=["ALL"]), seccompProfile (pod or container "w" must '
        'set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
    )
    obj["spec"]["os"]["name"] = "Windows"  # exact match only
    assert message(obj, "restricted", "v1.25") != ""


def test_host_users_false_relaxations_from_1_35() -> None:
    spec = {
        "hostUsers": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "runAsUser": 0},
        "containers": [
            {"name": "a", "image": "x", "securityContext": {**RESTRICTED_SC, "procMount": "Unmasked"}}
        ],
    }
    assert message(pod(spec), "baseline", "v1.35") == ""
    assert message(pod(spec), "restricted", "v1.35") == (
        'violates PodSecurity "restricted:v1.35": procMount (container "a" must not set '
        'securityContext.procMount to "Unmasked")'
    )
    assert message(pod(spec), "restricted", "v1.34") == (
        'violates PodSecurity "restricted:v1.34": procMount (container "a" must not set '
        'securityContext.procMount to "Unmasked"), runAsNonRoot != true (pod or container "a" must set '
        "securityContext.runAsNonRoot=true), runAsUser=0 (pod must not set runAsUser=0)"
    )


# --- workloads and defaulting ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "api_version", "wrap"),
    [
        ("Deployment", "apps/v1", lambda t: {"spec": {"template": t}}),
        ("StatefulSet", "apps/v1", lambda t: {"spec": {"template": t}}),
        ("DaemonSet", "apps/v1", lambda t: {"spec": {"template": t}}),
        ("ReplicaSet", "apps/v1", lambda t: {"spec": {"template": t}}),
        ("ReplicationController", "v1", lambda t: {"spec": {"template": t}}),
        ("Job", "batch/v1", lambda t: {"spec": {"template": t}}),
        ("CronJob", "batch/v1", lambda t: {"spec": {"jobTemplate": {"spec": {"template": t}}}}),
        ("PodTemplate", "v1", lambda t: {"template": t}),
    ],
)
def test_workload_templates(kind: str, api_version: str, wrap: Any) -> None:
    template = {
        "metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/a": "unconfined"}},
        "spec": {"hostNetwork": True, "containers": [{"name": "a", "image": "x"}]},
    }
    obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "w"}, **wrap(template)}
    assert message(obj) == (
        'violates PodSecurity "baseline:latest": forbidden AppArmor profile (annotation must not set '
        'AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/a="unconfined""), '
        "host namespaces (hostNetwork=true)"
    )


def test_non_pod_objects_are_not_evaluated() -> None:
    assert evaluate({"kind": "ConfigMap", "apiVersion": "v1"}, Level.BASELINE, LATEST) is None
    assert (
        evaluate({"kind": "Deployment", "apiVersion": "apps/v1", "spec": {}}, Level.BASELINE, LATEST) is None
    )


def test_volume_without_source_defaults_to_empty_dir() -> None:
    obj = restricted_pod(
        volumes=[{"name": "scratch"}, {"name": "h", "hostPath": {"path": "/"}}, {"name": "n", "nfs": {}}]
    )
    assert message(obj, "restricted") == (
        'violates PodSecurity "restricted:latest": restricted volume types (volumes "h", "n" use restricted '
        'volume types "hostPath", "nfs")'
    )
    assert message(obj, "baseline") == 'violates PodSecurity "baseline:latest": hostPath volumes (volume "h")'


def test_evaluate_many_shares_checks() -> None:
    obj = pod({"containers": [{"name": "a", "image": "x"}]})
    results = evaluate_many(
        obj,
        [
            LevelVersion(Level.PRIVILEGED, LATEST),
            LevelVersion(Level.BASELINE, LATEST),
            LevelVersion(Level.RESTRICTED, LATEST),
        ],
    )
    assert results is not None
    assert [r.allowed for r in results] == [True, True, False]


# --- namespace labels (upstream api/helpers_test.go TestPolicyToEvaluate cases) ---------------

P = LevelVersion(Level.PRIVILEGED, LATEST)


def lv(level: Level, version: str = "latest") -> LevelVersion:
    return LevelVersion(level, Version.parse(version))


B, R = Level.BASELINE, Level.RESTRICTED
POLICY_CASES = [
    ({"enforce": "baseline"}, Policy(lv(B), P, lv(B)), False),
    ({"warn": "restricted"}, Policy(P, P, lv(R)), False),
    ({"audit": "baseline"}, Policy(P, lv(B), P), False),
    ({"enforce": "baseline", "warn": "restricted"}, Policy(lv(B), P, lv(R)), False),
    ({"enforce": "baseline", "enforce-version": "v1.22"}, Policy(lv(B, "v1.22"), P, lv(B, "v1.22")), False),
    (
        {"enforce": "baseline", "enforce-version": "v1.22", "warn-version": "latest"},
        Policy(lv(B, "v1.22"), P, lv(B)),
        False,
    ),
    ({"enforce": "baseline", "warn-version": "v1.23"}, Policy(lv(B), P, lv(B, "v1.23")), False),
    (
        {
            "enforce": "baseline",
            "enforce-version": "v1.20",
            "warn": "restricted",
            "warn-version": "v1.21",
            "audit": "restricted",
            "audit-version": "v1.22",
        },
        Policy(lv(B, "v1.20"), lv(R, "v1.22"), lv(R, "v1.21")),
        False,
    ),
    ({"enforce": "baseline", "warn": "privileged"}, Policy(lv(B), P, P), False),
    ({"enforce": "baseline", "warn": "foo"}, Policy(lv(B), P, P), True),
    ({"enforce": "foo"}, Policy(lv(R), P, P), True),
]


@pytest.mark.parametrize(("labels", "expected", "has_errors"), POLICY_CASES)
def test_policy_from_labels(labels: dict[str, str], expected: Policy, has_errors: bool) -> None:
    full = {"other-label": "foo-bar"} | {f"pod-security.kubernetes.io/{k}": v for k, v in labels.items()}
    policy, errors = policy_from_labels(full)
    assert policy == expected
    assert bool(errors) is has_errors


def test_label_error_text() -> None:
    _, errors = policy_from_labels({"pod-security.kubernetes.io/enforce": "foo"})
    assert [str(e) for e in errors] == [
        'metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "foo": must be one of '
        "privileged, baseline, restricted"
    ]
    _, errors = policy_from_labels({"pod-security.kubernetes.io/audit-version": "1.25"})
    assert [str(e) for e in errors] == [
        'metadata.labels[pod-security.kubernetes.io/audit-version]: Invalid value: "1.25": must be '
        '"latest" or "v1.x"'
    ]


@pytest.mark.parametrize("text", ["foo", "", "v2.0", "v1", "1.1", "v1.01", "v1.", "v1.-1", "v1.25.3"])
def test_invalid_versions(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape('must be "latest" or "v1.x"')):
        Version.parse(text)


def test_host_network_pods_get_host_ports_from_container_ports() -> None:
    # SetDefaults_Pod copies containerPort to hostPort for hostNetwork pods (not for templates,
    # and not for ephemeral containers), so the real API server also reports hostPort.
    spec = {
        "hostNetwork": True,
        "containers": [{"name": "exporter", "image": "x", "ports": [{"containerPort": 9100}]}],
    }
    assert message(pod(spec)) == (
        'violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), '
        'hostPort (container "exporter" uses hostPort 9100)'
    )
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": spec}}}
    assert message(deployment) == 'violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)'


def test_host_ports_sorted_as_strings() -> None:
    spec = {
        "containers": [
            {
                "name": "a",
                "image": "x",
                "ports": [{"containerPort": 1, "hostPort": 9000}, {"containerPort": 2, "hostPort": 10000}],
            },
            {"name": "b", "image": "x", "ports": [{"containerPort": 3, "hostPort": 9000}]},
        ]
    }
    assert message(pod(spec)) == (
        'violates PodSecurity "baseline:latest": hostPort (containers "a", "b" use hostPorts 10000, 9000)'
    )
