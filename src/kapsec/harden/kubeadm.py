"""The kubeadm ``ClusterConfiguration`` fragment that keeps a hardened manifest hardened.

``kubeadm upgrade`` regenerates the static pod manifests from the ``kubeadm-config`` ConfigMap
(``cmd/kubeadm/app/phases/controlplane/manifests.go``), so flags and volumes added to the
manifest alone are lost on the next upgrade. This module renders the same changes as
``apiServer.extraArgs`` and ``apiServer.extraVolumes`` in both forms kubeadm reads:
``kubeadm.k8s.io/v1beta3`` (extraArgs is a map) and ``v1beta4`` (a list of name/value pairs,
``cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go`` ``Arg``). Pure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from kapsec.harden.patch import MountSpec, render_scalar

API_VERSIONS = ("v1beta3", "v1beta4")


def cluster_configuration_patch(
    api_version: str,
    args: Sequence[tuple[str, str]],
    volumes: Sequence[MountSpec],
    remove: Sequence[str] = (),
) -> str:
    """A ClusterConfiguration document with only the API server's additions."""
    if api_version not in API_VERSIONS:
        raise ValueError(f"unknown kubeadm API version {api_version!r}")
    lines = [
        "# Written by kapsec harden. Merge apiServer.extraArgs and apiServer.extraVolumes into the",
        "# ClusterConfiguration in the kubeadm-config ConfigMap",
        "#   kubectl -n kube-system edit configmap kubeadm-config",
        "# so that `kubeadm upgrade` writes the hardened manifest again instead of kubeadm's default.",
    ]
    if remove:
        lines.append("# Also delete these from extraArgs if they are there: " + ", ".join(remove))
    lines += [f"apiVersion: kubeadm.k8s.io/{api_version}", "kind: ClusterConfiguration", "apiServer:"]
    if args:
        lines.append("  extraArgs:")
        for name, value in sorted(args):
            if api_version == "v1beta3":
                lines.append(f"    {name}: {json_str(value)}")
            else:
                lines.append(f"  - name: {name}")
                lines.append(f"    value: {json_str(value)}")
    if volumes:
        lines.append("  extraVolumes:")
        for v in volumes:
            lines += [
                f"  - name: {v.name}",
                f"    hostPath: {render_scalar(v.host_path)}",
                f"    mountPath: {render_scalar(v.mount_path)}",
                f"    pathType: {v.host_type}",
                f"    readOnly: {'true' if v.read_only else 'false'}",
            ]
    return "\n".join(lines) + "\n"


def json_str(value: str) -> str:
    """Always a string (extraArgs values are strings: "false", "30" must stay quoted)."""
    return json.dumps(value)
