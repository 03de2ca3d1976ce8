"""The few things ``tls inspect`` needs from a static pod manifest: flags with their lines, and hostPath mounts.

Flag parsing follows the API server's own (``spf13/pflag`` as used by
``cmd/kube-apiserver/app/options``): ``command`` then ``args``, ``--flag=value`` or ``--flag value``,
the last occurrence wins. The container is found by the basename of its first word (``kube-apiserver``,
``etcd``), also behind wrappers such as ``/go-runner ... -- kube-apiserver``.

This is a deliberately small reader for the certificate flags; the full typed model of the API
server's configuration lives in ``kapsec.model.apiserver``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from kapsec.errors import InputError


@dataclass(frozen=True)
class Flag:
    name: str  # with the leading dashes: "--tls-cert-file"
    value: str
    line: int | None


@dataclass(frozen=True)
class Mount:
    mount_path: str
    host_path: str


@dataclass(frozen=True)
class PodFlags:
    file: str
    flags: dict[str, Flag] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    resolver: Callable[[str], str | None] | None = None  # the API server model's host_path
    repeated: dict[str, list[Flag]] = field(default_factory=dict)  # every occurrence, in order

    def get(self, name: str) -> Flag | None:
        return self.flags.get(name)

    def get_all(self, name: str) -> list[Flag]:
        """Every occurrence of a repeatable flag (e.g. --service-account-key-file)."""
        found = self.repeated.get(name)
        if found is not None:
            return found
        last = self.flags.get(name)
        return [] if last is None else [last]

    def host_path(self, container_path: str) -> str | None:
        """The host path behind ``container_path``, through the longest matching hostPath mount.

        None when the container path is on no hostPath mount (inside the image: not on the node).
        """
        if self.resolver is not None:
            return self.resolver(container_path)
        best: Mount | None = None
        for m in self.mounts:
            mp = m.mount_path.rstrip("/") or "/"
            if (container_path == mp or container_path.startswith(mp.rstrip("/") + "/")) and (
                best is None or len(mp) > len(best.mount_path)
            ):
                best = m
        if best is None:
            return container_path if not self.mounts else None
        rest = container_path[len(best.mount_path.rstrip("/")) :].lstrip("/")
        return posixpath.join(best.host_path, rest) if rest else best.host_path


def _scalars(node: yaml.Node | None) -> list[tuple[str, int]]:
    if not isinstance(node, yaml.SequenceNode):
        return []
    out = []
    for item in node.value:
        if isinstance(item, yaml.ScalarNode):
            out.append((str(item.value), item.start_mark.line + 1))
    return out


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v if isinstance(v, yaml.Node) else None
    return None


def _plain(node: yaml.Node | None) -> Any:
    if node is None:
        return None
    return yaml.safe_load(yaml.serialize(node))


def parse_flags(words: list[tuple[str, int]]) -> dict[str, Flag]:
    flags: dict[str, Flag] = {}
    i = 0
    while i < len(words):
        word, line = words[i]
        i += 1
        if not word.startswith("--") or word == "--":
            continue
        name, eq, value = word.partition("=")
        if not eq and i < len(words) and not words[i][0].startswith("-"):
            value = words[i][0]
            i += 1
        flags[name] = Flag(name, value, line)
    return flags


def _yaml_error(exc: yaml.YAMLError, file: str) -> InputError:
    mark = getattr(exc, "problem_mark", None)
    return InputError(
        f"not valid YAML: {getattr(exc, 'problem', exc)}",
        file=file,
        line=None if mark is None else mark.line + 1,
    )


def read_pod_flags(text: str, file: str, binary: str) -> PodFlags | None:
    """Flags of the container running ``binary`` in the Pod manifest ``text``; None when absent."""
    try:
        docs = list(yaml.compose_all(text))
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from exc
    for doc in docs:
        spec = _get(doc, "spec")
        containers = _get(spec, "containers")
        if not isinstance(containers, yaml.SequenceNode):
            continue
        volumes = _plain(_get(spec, "volumes")) or []
        host_paths = {
            v.get("name"): v["hostPath"].get("path")
            for v in volumes
            if isinstance(v, dict) and isinstance(v.get("hostPath"), dict)
        }
        for container in containers.value:
            words = _scalars(_get(container, "command")) + _scalars(_get(container, "args"))
            names = [posixpath.basename(w) for w, _ in words if not w.startswith("-")]
            if binary not in names[:3]:
                continue
            mounts = []
            for m in _plain(_get(container, "volumeMounts")) or []:
                if isinstance(m, dict) and m.get("name") in host_paths and m.get("mountPath"):
                    mounts.append(Mount(str(m["mountPath"]), str(host_paths[m["name"]])))
            return PodFlags(file, parse_flags(words), tuple(mounts))
    return None


# etcd's --config-file keys for the TLS flags (go.etcd.io/etcd/server/embed/config.go, securityConfig)
_ETCD_CONFIG_KEYS = {
    ("client-transport-security", "cert-file"): "--cert-file",
    ("client-transport-security", "key-file"): "--key-file",
    ("client-transport-security", "trusted-ca-file"): "--trusted-ca-file",
    ("peer-transport-security", "cert-file"): "--peer-cert-file",
    ("peer-transport-security", "key-file"): "--peer-key-file",
    ("peer-transport-security", "trusted-ca-file"): "--peer-trusted-ca-file",
}


def etcd_config_flags(text: str, file: str) -> dict[str, Flag]:
    """The TLS settings of an etcd ``--config-file`` as the equivalent flags, with their lines.

    With ``--config-file``, etcd ignores its other command-line flags and environment variables.
    """
    try:
        doc = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from exc
    flags: dict[str, Flag] = {}
    for (section, key), name in _ETCD_CONFIG_KEYS.items():
        node = _get(_get(doc, section), key)
        if isinstance(node, yaml.ScalarNode) and node.value:
            flags[name] = Flag(name, str(node.value), node.start_mark.line + 1)
    return flags
