"""Upstream's per-check unit tables, ported as data: each case runs one check revision on a pod
and expects upstream's exact reason and detail.

Source: kubernetes/kubernetes, staging/src/k8s.io/pod-security-admission/policy/
check_seLinuxOptions_test.go (b15a9909), check_runAsNonRoot_test.go (b0d609f0),
check_appArmorProfile_test.go (d7ce957d), check_seccompProfile_restricted_test.go (95f08499),
check_restrictedVolumes_test.go (030880a5), check_hostPorts_test.go (f5a2724d),
check_capabilities_restricted_test.go (f10dfc6e), check_runAsUser_test.go (b8ff6a45),
check_windowsHostProcess_test.go (b8ff6a45), check_hostProbesAndhostLifecycle_test.go
(5e377f94), check_sysctls_test.go (7d81be8e), check_procMount_test.go (9b1230e8),
check_capabilities_baseline_test.go (d7ce957d), check_seccompProfile_baseline_test.go (da0c8de9),
check_allowPrivilegeEscalation_test.go (78fc8e44), check_hostPathVolumes_test.go (7fc9c57d),
check_hostNamespaces_test.go (f5a2724d). Apache License 2.0, The Kubernetes Authors.
The Go struct literals are written here as the equivalent JSON objects.

One upstream case is left out on purpose: restrictedVolumes' ``{Name: "c1", VolumeSource: {}}``
("unknown"). The check function sees that volume before defaulting; the API server defaults a
source-less volume to emptyDir before admission runs, and kapsec evaluates what admission sees
(see the upstream fixture restrictedvolumes0, which relies on that defaulting).
"""

from __future__ import annotations

from typing import Any

import pytest

from kapsec.pss import checks
from kapsec.pss.checks import PodView


def c(name: str, sc: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, **extra}
    if sc is not None:
        out["securityContext"] = sc
    return out


AA = "container.apparmor.security.beta.kubernetes.io/"
SC = "container.seccomp.security.alpha.kubernetes.io/"
VOLUME_TYPES = [
    ("b1", "hostPath"),
    ("b2", "gcePersistentDisk"),
    ("b3", "awsElasticBlockStore"),
    ("b4", "gitRepo"),
    ("b5", "nfs"),
    ("b6", "iscsi"),
    ("b7", "glusterfs"),
    ("b8", "rbd"),
    ("b9", "flexVolume"),
    ("b10", "cinder"),
    ("b11", "cephfs"),
    ("b12", "flocker"),
    ("b13", "fc"),
    ("b14", "azureFile"),
    ("b15", "vsphereVolume"),
    ("b16", "quobyte"),
    ("b17", "azureDisk"),
    ("b18", "photonPersistentDisk"),
    ("b19", "portworxVolume"),
    ("b20", "scaleIO"),
    ("b21", "storageos"),
]
ALLOWED_VOLUMES = [
    "emptyDir",
    "secret",
    "persistentVolumeClaim",
    "downwardAPI",
    "configMap",
    "projected",
    "csi",
    "ephemeral",
    "image",
]

# (function, case name, annotations, spec, expected (reason, detail) or None for allowed)
CASES: list[tuple[str, str, dict[str, str], dict[str, Any], tuple[str, str] | None]] = [
    # --- seLinuxOptions
    (
        "se_linux_options_1_0",
        "invalid pod and containers",
        {},
        {
            "securityContext": {"seLinuxOptions": {"type": "foo", "user": "bar", "role": "baz"}},
            "containers": [
                c("a", {"seLinuxOptions": {"type": "container_t"}}),
                c("b", {"seLinuxOptions": {"type": "container_init_t"}}),
                c("c", {"seLinuxOptions": {"type": "container_kvm_t"}}),
                c("d", {"seLinuxOptions": {"type": "bar"}}),
                c("e", {"seLinuxOptions": {"user": "bar"}}),
                c("f", {"seLinuxOptions": {"role": "baz"}}),
            ],
        },
        (
            "seLinuxOptions",
            'pod and containers "d", "e", "f" set forbidden securityContext.seLinuxOptions: '
            'types "bar", "foo"; user may not be set; role may not be set',
        ),
    ),
    (
        "se_linux_options_1_0",
        "invalid pod",
        {},
        {
            "securityContext": {"seLinuxOptions": {"type": "foo", "user": "bar", "role": "baz"}},
            "containers": [
                c("a", {"seLinuxOptions": {"type": "container_t"}}),
                c("b", {"seLinuxOptions": {"type": "container_init_t"}}),
                c("c", {"seLinuxOptions": {"type": "container_kvm_t"}}),
            ],
        },
        (
            "seLinuxOptions",
            'pod set forbidden securityContext.seLinuxOptions: type "foo"; user may not be set; '
            "role may not be set",
        ),
    ),
    (
        "se_linux_options_1_0",
        "invalid containers",
        {},
        {
            "securityContext": {"seLinuxOptions": {}},
            "containers": [
                c("a", {"seLinuxOptions": {"type": "container_t"}}),
                c("b", {"seLinuxOptions": {"type": "container_init_t"}}),
                c("c", {"seLinuxOptions": {"type": "container_kvm_t"}}),
                c("d", {"seLinuxOptions": {"type": "bar"}}),
                c("e", {"seLinuxOptions": {"user": "bar"}}),
                c("f", {"seLinuxOptions": {"role": "baz"}}),
            ],
        },
        (
            "seLinuxOptions",
            'containers "d", "e", "f" set forbidden securityContext.seLinuxOptions: type "bar"; '
            "user may not be set; role may not be set",
        ),
    ),
    # --- runAsNonRoot
    (
        "run_as_non_root_1_0",
        "no explicit runAsNonRoot",
        {},
        {"containers": [c("a")]},
        ("runAsNonRoot != true", 'pod or container "a" must set securityContext.runAsNonRoot=true'),
    ),
    (
        "run_as_non_root_1_0",
        "pod runAsNonRoot=false",
        {},
        {"securityContext": {"runAsNonRoot": False}, "containers": [c("a")]},
        ("runAsNonRoot != true", "pod must not set securityContext.runAsNonRoot=false"),
    ),
    (
        "run_as_non_root_1_0",
        "containers runAsNonRoot=false",
        {},
        {
            "securityContext": {"runAsNonRoot": True},
            "containers": [
                c("a"),
                c("b", {}),
                c("c", {"runAsNonRoot": False}),
                c("d", {"runAsNonRoot": False}),
                c("e", {"runAsNonRoot": True}),
                c("f", {"runAsNonRoot": True}),
            ],
        },
        ("runAsNonRoot != true", 'containers "c", "d" must not set securityContext.runAsNonRoot=false'),
    ),
    (
        "run_as_non_root_1_0",
        "pod nil, container fallthrough",
        {},
        {"containers": [c("a"), c("b", {}), c("d", {"runAsNonRoot": True}), c("e", {"runAsNonRoot": True})]},
        ("runAsNonRoot != true", 'pod or containers "a", "b" must set securityContext.runAsNonRoot=true'),
    ),
    ("run_as_non_root_1_35", "user namespace without containers", {}, {"hostUsers": False}, None),
    (
        "run_as_non_root_1_35",
        "hostUsers true",
        {},
        {"containers": [c("a")], "hostUsers": True},
        ("runAsNonRoot != true", 'pod or container "a" must set securityContext.runAsNonRoot=true'),
    ),
    # --- appArmorProfile
    (
        "app_armor_profile_1_0",
        "default AppArmor + extra annotations",
        {AA + "test": "runtime/default", "env": "prod"},
        {},
        None,
    ),
    (
        "app_armor_profile_1_0",
        "local AppArmor + extra annotations",
        {AA + "test": "localhost/sec-profile01", "env": "dev"},
        {},
        None,
    ),
    ("app_armor_profile_1_0", "no AppArmor annotations", {"env": "dev"}, {}, None),
    ("app_armor_profile_1_0", "no annotations", {}, {}, None),
    (
        "app_armor_profile_1_0",
        "pod with runtime default",
        {},
        {"securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}}},
        None,
    ),
    (
        "app_armor_profile_1_0",
        "container with runtime default",
        {},
        {"containers": [c("foo", {"appArmorProfile": {"type": "RuntimeDefault"}})]},
        None,
    ),
    (
        "app_armor_profile_1_0",
        "unconfined pod",
        {},
        {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}},
        ("forbidden AppArmor profile", 'pod must not set AppArmor profile type to "Unconfined"'),
    ),
    (
        "app_armor_profile_1_0",
        "unconfined container",
        {},
        {
            "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}},
            "containers": [c("foo", {"appArmorProfile": {"type": "Unconfined"}})],
        },
        ("forbidden AppArmor profile", 'container "foo" must not set AppArmor profile type to "Unconfined"'),
    ),
    (
        "app_armor_profile_1_0",
        "unconfined init container",
        {},
        {
            "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}},
            "containers": [c("foo")],
            "initContainers": [c("bar", {"appArmorProfile": {"type": "Unconfined"}})],
        },
        ("forbidden AppArmor profile", 'container "bar" must not set AppArmor profile type to "Unconfined"'),
    ),
    (
        "app_armor_profile_1_0",
        "multiple containers",
        {
            AA: "bogus",
            AA + "a": "",
            AA + "b": "runtime/default",
            AA + "c": "localhost/",
            AA + "d": "localhost/foo",
            AA + "e": "unconfined",
            AA + "f": "unknown",
        },
        {},
        (
            "forbidden AppArmor profiles",
            f'annotations must not set AppArmor profile type to "{AA}="bogus"", "{AA}e="unconfined"", "{AA}f="unknown""',
        ),
    ),
    # --- seccompProfile_restricted
    (
        "seccomp_profile_restricted_1_25",
        "no explicit seccomp",
        {},
        {"containers": [c("a")]},
        (
            "seccompProfile",
            'pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
        ),
    ),
    (
        "seccomp_profile_restricted_1_25",
        "no explicit seccomp, windows pod",
        {},
        {"os": {"name": "windows"}, "containers": [c("a")]},
        None,
    ),
    (
        "seccomp_profile_restricted_1_25",
        "no explicit seccomp, linux pod",
        {},
        {"os": {"name": "linux"}, "containers": [c("a")]},
        (
            "seccompProfile",
            'pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
        ),
    ),
    *[
        (
            fn,
            "pod seccomp invalid",
            {},
            {"securityContext": {"seccompProfile": {"type": "Unconfined"}}, "containers": [c("a")]},
            ("seccompProfile", 'pod must not set securityContext.seccompProfile.type to "Unconfined"'),
        )
        for fn in ("seccomp_profile_restricted_1_25", "seccomp_profile_restricted_1_19")
    ],
    *[
        (
            fn,
            "containers seccomp invalid",
            {},
            {
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [
                    c("a"),
                    c("b", {}),
                    c("c", {"seccompProfile": {"type": "Unconfined"}}),
                    c("d", {"seccompProfile": {"type": "Unconfined"}}),
                    c("e", {"seccompProfile": {"type": "RuntimeDefault"}}),
                    c("f", {"seccompProfile": {"type": "RuntimeDefault"}}),
                ],
            },
            (
                "seccompProfile",
                'containers "c", "d" must not set securityContext.seccompProfile.type to "Unconfined"',
            ),
        )
        for fn in ("seccomp_profile_restricted_1_25", "seccomp_profile_restricted_1_19")
    ],
    *[
        (
            fn,
            "pod nil, container fallthrough",
            {},
            {
                "containers": [
                    c("a"),
                    c("b", {}),
                    c("d", {"seccompProfile": {"type": "RuntimeDefault"}}),
                    c("e", {"seccompProfile": {"type": "RuntimeDefault"}}),
                ]
            },
            (
                "seccompProfile",
                'pod or containers "a", "b" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
            ),
        )
        for fn in ("seccomp_profile_restricted_1_25", "seccomp_profile_restricted_1_19")
    ],
    (
        "seccomp_profile_restricted_1_19",
        "no explicit seccomp (1.19)",
        {},
        {"containers": [c("a")]},
        (
            "seccompProfile",
            'pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
        ),
    ),
    # --- restrictedVolumes
    (
        "restricted_volumes_1_0",
        "host path volumes",
        {},
        {
            "volumes": [{"name": f"a{i + 1}", t: {}} for i, t in enumerate(ALLOWED_VOLUMES)]
            + [{"name": n, t: {}} for n, t in VOLUME_TYPES]
        },
        (
            "restricted volume types",
            "volumes " + ", ".join(f'"{n}"' for n, _ in VOLUME_TYPES) + " use restricted volume types "
            '"awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "fc", "flexVolume", "flocker", '
            '"gcePersistentDisk", "gitRepo", "glusterfs", "hostPath", "iscsi", "nfs", "photonPersistentDisk", '
            '"portworxVolume", "quobyte", "rbd", "scaleIO", "storageos", "vsphereVolume"',
        ),
    ),
    # --- hostPorts
    (
        "host_ports_1_0",
        "one container, one host port",
        {},
        {"containers": [c("a", ports=[{"hostPort": 0}]), c("b", ports=[{"hostPort": 0}, {"hostPort": 20}])]},
        ("hostPort", 'container "b" uses hostPort 20'),
    ),
    (
        "host_ports_1_0",
        "multiple containers, multiple host port",
        {},
        {
            "containers": [
                c("a", ports=[{"hostPort": 0}]),
                c("b", ports=[{"hostPort": 0}, {"hostPort": 10}, {"hostPort": 20}]),
                c("c", ports=[{"hostPort": 0}, {"hostPort": 10}, {"hostPort": 30}]),
            ]
        },
        ("hostPort", 'containers "b", "c" use hostPorts 10, 20, 30'),
    ),
    # --- capabilities_restricted
    (
        "capabilities_restricted_1_22",
        "multiple containers",
        {},
        {
            "containers": [
                c("a", {"capabilities": {"add": ["FOO", "BAR"]}}),
                c("b", {"capabilities": {"add": ["BAR", "BAZ"]}}),
                c("c", {"capabilities": {"add": ["NET_BIND_SERVICE", "CHOWN"], "drop": ["ALL", "FOO"]}}),
            ]
        },
        (
            "unrestricted capabilities",
            'containers "a", "b" must set securityContext.capabilities.drop=["ALL"]; containers "a", "b", "c" must not '
            'include "BAR", "BAZ", "CHOWN", "FOO" in securityContext.capabilities.add',
        ),
    ),
    # --- runAsUser
    (
        "run_as_user_1_23",
        "pod runAsUser=0",
        {},
        {"securityContext": {"runAsUser": 0}, "containers": [c("a")]},
        ("runAsUser=0", "pod must not set runAsUser=0"),
    ),
    (
        "run_as_user_1_23",
        "pod runAsUser=non-zero",
        {},
        {"securityContext": {"runAsUser": 1000}, "containers": [c("a")]},
        None,
    ),
    (
        "run_as_user_1_23",
        "pod runAsUser=nil",
        {},
        {"securityContext": {"runAsUser": None}, "containers": [c("a")]},
        None,
    ),
    (
        "run_as_user_1_23",
        "containers runAsUser=0",
        {},
        {
            "securityContext": {"runAsUser": 1000},
            "containers": [
                c("a"),
                c("b", {}),
                c("c", {"runAsUser": 0}),
                c("d", {"runAsUser": 0}),
                c("e", {"runAsUser": 1}),
                c("f", {"runAsUser": 1}),
            ],
        },
        ("runAsUser=0", 'containers "c", "d" must not set runAsUser=0'),
    ),
    (
        "run_as_user_1_23",
        "containers runAsUser=non-zero",
        {},
        {
            "containers": [
                c("c", {"runAsUser": 1}),
                c("d", {"runAsUser": 2}),
                c("e", {"runAsUser": 3}),
                c("f", {"runAsUser": 4}),
            ]
        },
        None,
    ),
    ("run_as_user_1_35", "user namespace", {}, {"hostUsers": False}, None),
    (
        "run_as_user_1_35",
        "hostUsers true",
        {},
        {"securityContext": {"runAsUser": 0}, "containers": [c("a")], "hostUsers": True},
        ("runAsUser=0", "pod must not set runAsUser=0"),
    ),
    # --- windowsHostProcess
    (
        "windows_host_process_1_0",
        "host process",
        {},
        {
            "securityContext": {"windowsOptions": {"hostProcess": True}},
            "containers": [
                c("a"),
                c("b", {}),
                c("c", {"windowsOptions": {}}),
                c("d", {"windowsOptions": {"hostProcess": False}}),
                c("e", {"windowsOptions": {"hostProcess": True}}),
                c("f", {"windowsOptions": {"hostProcess": True}}),
            ],
        },
        (
            "hostProcess",
            'pod and containers "e", "f" must not set securityContext.windowsOptions.hostProcess=true',
        ),
    ),
    # --- hostProbesAndHostLifecycle
    (
        "host_probes_and_host_lifecycle_1_34",
        "valid pod with unset hosts",
        {},
        {
            "containers": [
                c(
                    "a",
                    livenessProbe={"httpGet": {}},
                    readinessProbe={"tcpSocket": {}},
                    lifecycle={"postStart": {"httpGet": {}}},
                )
            ]
        },
        None,
    ),
    (
        "host_probes_and_host_lifecycle_1_34",
        "local host IP as probe host",
        {},
        {
            "containers": [
                c(
                    "a",
                    livenessProbe={"httpGet": {"host": "127.0.0.1"}},
                    readinessProbe={"tcpSocket": {"host": "::1"}},
                    startupProbe={"httpGet": {"host": "localhost"}},
                )
            ]
        },
        (
            "probe or lifecycle host",
            'container "a" uses probe or lifecycle hosts "127.0.0.1", "::1", "localhost"',
        ),
    ),
    (
        "host_probes_and_host_lifecycle_1_34",
        "httpget host in liveness probe",
        {},
        {"containers": [c("a", livenessProbe={"httpGet": {"host": "invalid.host"}})]},
        ("probe or lifecycle host", 'container "a" uses probe or lifecycle host "invalid.host"'),
    ),
    (
        "host_probes_and_host_lifecycle_1_34",
        "tcpsocket host in readiness probe",
        {},
        {"containers": [c("b", readinessProbe={"tcpSocket": {"host": "invalid.host"}})]},
        ("probe or lifecycle host", 'container "b" uses probe or lifecycle host "invalid.host"'),
    ),
    (
        "host_probes_and_host_lifecycle_1_34",
        "httpget host in startup probe",
        {},
        {"containers": [c("c", startupProbe={"httpGet": {"host": "invalid.host"}})]},
        ("probe or lifecycle host", 'container "c" uses probe or lifecycle host "invalid.host"'),
    ),
    (
        "host_probes_and_host_lifecycle_1_34",
        "poststart tcpsocket host",
        {},
        {"containers": [c("d", lifecycle={"postStart": {"tcpSocket": {"host": "invalid.host"}}})]},
        ("probe or lifecycle host", 'container "d" uses probe or lifecycle host "invalid.host"'),
    ),
    (
        "host_probes_and_host_lifecycle_1_34",
        "prestop httpget host",
        {},
        {"containers": [c("e", lifecycle={"preStop": {"httpGet": {"host": "another.invalid.host"}}})]},
        ("probe or lifecycle host", 'container "e" uses probe or lifecycle host "another.invalid.host"'),
    ),
    (
        "host_probes_and_host_lifecycle_1_34",
        "multiple containers with multiple hosts",
        {},
        {
            "containers": [
                c("valid"),
                c("invalid1", livenessProbe={"httpGet": {"host": "a.com"}}),
                c(
                    "invalid2",
                    lifecycle={"preStop": {"tcpSocket": {"host": "b.com"}}},
                    startupProbe={"httpGet": {"host": "a.com"}},
                ),
            ]
        },
        (
            "probe or lifecycle host",
            'containers "invalid1", "invalid2" use probe or lifecycle hosts "a.com", "b.com"',
        ),
    ),
    (
        "host_probes_and_host_lifecycle_1_34",
        "ipv4 host",
        {},
        {"containers": [c("a", livenessProbe={"httpGet": {"host": "8.8.8.8"}})]},
        ("probe or lifecycle host", 'container "a" uses probe or lifecycle host "8.8.8.8"'),
    ),
    (
        "host_probes_and_host_lifecycle_1_34",
        "ipv6 host",
        {},
        {"containers": [c("a", livenessProbe={"tcpSocket": {"host": "2001:4860:4860::8888"}})]},
        ("probe or lifecycle host", 'container "a" uses probe or lifecycle host "2001:4860:4860::8888"'),
    ),
    (
        "host_probes_and_host_lifecycle_1_34",
        "init container",
        {},
        {"initContainers": [c("init", livenessProbe={"httpGet": {"host": "invalid.init.host"}})]},
        ("probe or lifecycle host", 'container "init" uses probe or lifecycle host "invalid.init.host"'),
    ),
    # --- sysctls
    (
        "sysctls_1_0",
        "forbidden sysctls",
        {},
        {"securityContext": {"sysctls": [{"name": "a"}, {"name": "b"}]}},
        ("forbidden sysctls", "a, b"),
    ),
    # --- procMount
    (
        "proc_mount_1_0",
        "procMount",
        {},
        {
            "containers": [
                c("a"),
                c("b", {}),
                c("c", {"procMount": "Default"}),
                c("d", {"procMount": "Unmasked"}),
                c("e", {"procMount": "other"}),
            ]
        },
        ("procMount", 'containers "d", "e" must not set securityContext.procMount to "Unmasked", "other"'),
    ),
    # --- capabilities_baseline
    (
        "capabilities_baseline_1_0",
        "multiple containers",
        {},
        {
            "containers": [
                c("a", {"capabilities": {"add": ["FOO", "BAR"]}}),
                c("b", {"capabilities": {"add": ["BAR", "BAZ"]}}),
            ]
        },
        (
            "non-default capabilities",
            'containers "a", "b" must not include "BAR", "BAZ", "FOO" in securityContext.capabilities.add',
        ),
    ),
    # --- seccompProfile_baseline
    (
        "seccomp_profile_baseline_1_0",
        "pod seccomp invalid",
        {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"},
        {},
        ("seccompProfile", 'forbidden annotation seccomp.security.alpha.kubernetes.io/pod="unconfined"'),
    ),
    (
        "seccomp_profile_baseline_1_0",
        "containers seccomp invalid",
        {SC + "a": "unconfined", SC + "b": "unknown"},
        {"containers": [c("a"), c("b"), c("c")]},
        ("seccompProfile", f'forbidden annotations {SC}a="unconfined", {SC}b="unknown"'),
    ),
    (
        "seccomp_profile_baseline_1_0",
        "pod and containers seccomp invalid",
        {
            "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
            SC + "a": "unconfined",
            SC + "b": "unknown",
        },
        {"containers": [c("a"), c("b"), c("c")]},
        (
            "seccompProfile",
            f'forbidden annotations {SC}a="unconfined", {SC}b="unknown", '
            'seccomp.security.alpha.kubernetes.io/pod="unconfined"',
        ),
    ),
    (
        "seccomp_profile_baseline_1_19",
        "pod seccomp invalid",
        {},
        {"securityContext": {"seccompProfile": {"type": "Unconfined"}}, "containers": [c("a")]},
        ("seccompProfile", 'pod must not set securityContext.seccompProfile.type to "Unconfined"'),
    ),
    (
        "seccomp_profile_baseline_1_19",
        "containers seccomp invalid",
        {},
        {
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                c("a"),
                c("b", {}),
                c("c", {"seccompProfile": {"type": "Unconfined"}}),
                c("d", {"seccompProfile": {"type": "Unconfined"}}),
                c("e", {"seccompProfile": {"type": "RuntimeDefault"}}),
                c("f", {"seccompProfile": {"type": "RuntimeDefault"}}),
            ],
        },
        (
            "seccompProfile",
            'containers "c", "d" must not set securityContext.seccompProfile.type to "Unconfined"',
        ),
    ),
    (
        "seccomp_profile_baseline_1_19",
        "pod and containers seccomp invalid",
        {},
        {
            "securityContext": {"seccompProfile": {"type": "Unconfined"}},
            "containers": [
                c("a"),
                c("b", {}),
                c("c", {"seccompProfile": {"type": "Unconfined"}}),
                c("d", {"seccompProfile": {"type": "Unconfined"}}),
                c("e", {"seccompProfile": {"type": "RuntimeDefault"}}),
                c("f", {"seccompProfile": {"type": "RuntimeDefault"}}),
            ],
        },
        (
            "seccompProfile",
            'pod and containers "c", "d" must not set securityContext.seccompProfile.type to "Unconfined"',
        ),
    ),
    # --- allowPrivilegeEscalation
    *[
        (
            fn,
            "multiple containers",
            {},
            {
                "containers": [
                    c("a"),
                    c("b", {"allowPrivilegeEscalation": None}),
                    c("c", {"allowPrivilegeEscalation": True}),
                    c("d", {"allowPrivilegeEscalation": False}),
                ]
            },
            (
                "allowPrivilegeEscalation != false",
                'containers "a", "b", "c" must set securityContext.allowPrivilegeEscalation=false',
            ),
        )
        for fn in ("allow_privilege_escalation_1_25", "allow_privilege_escalation_1_8")
    ],
    (
        "allow_privilege_escalation_1_25",
        "windows pod",
        {},
        {"os": {"name": "windows"}, "containers": [c("a")]},
        None,
    ),
    (
        "allow_privilege_escalation_1_25",
        "linux pod without securityContext",
        {},
        {"os": {"name": "linux"}, "containers": [c("a")]},
        (
            "allowPrivilegeEscalation != false",
            'container "a" must set securityContext.allowPrivilegeEscalation=false',
        ),
    ),
    # --- hostPathVolumes
    (
        "host_path_volumes_1_0",
        "host path volumes",
        {},
        {
            "volumes": [
                {"name": "a", "hostPath": {}},
                {"name": "b", "hostPath": {}},
                {"name": "c", "emptyDir": {}},
            ]
        },
        ("hostPath volumes", 'volumes "a", "b"'),
    ),
    # --- hostNamespaces
    (
        "host_namespaces_1_0",
        "multiple host namespaces",
        {},
        {"hostNetwork": True, "hostIPC": True, "hostPID": True},
        ("host namespaces", "hostNetwork=true, hostPID=true, hostIPC=true"),
    ),
]


@pytest.mark.parametrize(
    ("fn", "name", "annotations", "spec", "expected"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES]
)
def test_upstream_case(
    fn: str, name: str, annotations: dict[str, str], spec: dict[str, Any], expected: tuple[str, str] | None
) -> None:
    view = PodView.from_parts({"annotations": annotations}, spec)
    assert getattr(checks, fn)(view) == expected
