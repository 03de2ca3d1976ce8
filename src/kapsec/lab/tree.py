"""The lab as data (files, directories, symlinks with their modes) and the one function that writes it.

Building a tree is pure (see ``kubeadm.py``); :func:`write_tree` is the only I/O of the lab.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kapsec.errors import UsageError


class Flavor(enum.Enum):
    KUBEADM = "kubeadm"
    RKE2 = "rke2"


class Plant(enum.Enum):
    """Problems the lab can plant on purpose, for demos and tests."""

    EXPIRING_CERT = "expiring-cert"  # apiserver.crt expires in 7 days
    EXPIRED_CERT = "expired-cert"  # apiserver-kubelet-client.crt expired yesterday
    WORLD_READABLE_KEY = "world-readable-key"  # the API server's private key is 0644
    WRONG_CA = "wrong-ca"  # apiserver-etcd-client.crt is signed by the cluster CA, not the etcd CA

    @property
    def description(self) -> str:
        return _PLANT_DESCRIPTIONS[self]


_PLANT_DESCRIPTIONS = {
    Plant.EXPIRING_CERT: "the API server's serving certificate expires in 7 days",
    Plant.EXPIRED_CERT: "apiserver-kubelet-client.crt expired one day ago",
    Plant.WORLD_READABLE_KEY: "the API server's private key is world-readable (0644)",
    Plant.WRONG_CA: "apiserver-etcd-client.crt is signed by the cluster CA instead of the etcd CA",
}

SUPPORTED_MINORS = range(29, 37)
_VERSION_RE = re.compile(r"^v?1\.(\d+)(?:\.(\d+))?$")


def parse_k8s_version(text: str) -> tuple[int, int]:
    """``1.34`` / ``v1.34.2`` -> (34, 2); a minor kubeadm v1.29-v1.36 lays out, else UsageError."""
    m = _VERSION_RE.match(text.strip())
    if not m:
        raise UsageError(f"invalid Kubernetes version {text!r} (expected e.g. 1.34 or v1.34.1)")
    minor, patch = int(m.group(1)), int(m.group(2) or 0)
    if minor not in SUPPORTED_MINORS:
        raise UsageError(
            f"Kubernetes version {text!r} is not supported by the lab "
            f"(supported: 1.{SUPPORTED_MINORS.start} to 1.{SUPPORTED_MINORS.stop - 1})"
        )
    return minor, patch


@dataclass(frozen=True)
class LabOptions:
    flavor: Flavor = Flavor.KUBEADM
    k8s_version: str = "1.34.0"
    node_name: str = "controlplane"
    advertise_address: str = "192.168.56.10"
    service_subnet: str = "10.96.0.0/12"
    pod_subnet: str | None = None
    dns_domain: str = "cluster.local"
    plants: frozenset[Plant] = frozenset()
    now: datetime | None = None  # the moment the PKI is made; None = the current time

    @property
    def minor(self) -> int:
        return parse_k8s_version(self.k8s_version)[0]

    @property
    def version_tag(self) -> str:
        minor, patch = parse_k8s_version(self.k8s_version)
        return f"v1.{minor}.{patch}"

    @property
    def first_service_ip(self) -> str:
        net = ipaddress.ip_network(self.service_subnet, strict=False)
        return str(net.network_address + 1)

    @property
    def dns_service_ip(self) -> str:
        net = ipaddress.ip_network(self.service_subnet, strict=False)
        return str(net.network_address + 10)

    def validate(self) -> None:
        parse_k8s_version(self.k8s_version)
        try:
            ipaddress.ip_address(self.advertise_address)
        except ValueError:
            raise UsageError(f"invalid advertise address {self.advertise_address!r}") from None
        for label, subnet in (("service subnet", self.service_subnet), ("pod subnet", self.pod_subnet)):
            if subnet is None:
                continue
            try:
                ipaddress.ip_network(subnet, strict=False)
            except ValueError:
                raise UsageError(f"invalid {label} {subnet!r}") from None
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", self.node_name):
            raise UsageError(f"invalid node name {self.node_name!r} (a lowercase RFC 1123 name)")


@dataclass(frozen=True)
class LabFile:
    path: str  # relative, POSIX separators
    content: bytes
    mode: int


@dataclass(frozen=True)
class LabSymlink:
    path: str
    target: str  # as written in the link


@dataclass(frozen=True)
class LabTree:
    files: Sequence[LabFile]
    dirs: Sequence[tuple[str, int]] = ()  # (relative path, mode) of directories to create
    symlinks: Sequence[LabSymlink] = ()
    notes: Sequence[str] = field(default_factory=tuple)

    def file(self, path: str) -> LabFile:
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(path)


def check_target(root: Path, *, force: bool) -> None:
    """Refuse a non-empty directory (or a non-directory) unless ``force``."""
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root}: exists and is not a directory")
    if root.is_dir() and not force:
        try:
            non_empty = any(root.iterdir())
        except OSError as exc:
            raise UsageError(f"{root}: cannot read the directory: {exc.strerror}") from exc
        if non_empty:
            raise UsageError(f"{root}: directory is not empty (use --force to write over it)")


def write_tree(tree: LabTree, root: Path, *, force: bool = False) -> list[Path]:
    """Write ``tree`` under ``root`` with exact modes (the umask does not apply). Returns files written."""
    check_target(root, force=force)
    written: list[Path] = []
    try:
        root.mkdir(parents=True, exist_ok=True)
        # Every directory gets an explicit mode (0755 unless the tree says otherwise), so that
        # the umask never decides one.
        all_dirs: dict[str, int] = {}
        paths = (
            [f.path for f in tree.files] + [s.path for s in tree.symlinks] + [d + "/." for d, _ in tree.dirs]
        )
        for path in paths:
            for parent in Path(path).parents:
                if str(parent) != ".":
                    all_dirs.setdefault(parent.as_posix(), 0o755)
        for d, mode in tree.dirs:
            all_dirs[d] = mode
        for d in sorted(all_dirs):
            p = root / d
            p.mkdir(parents=True, exist_ok=True)
            os.chmod(p, all_dirs[d])
        for f in tree.files:
            p = root / f.path
            if p.is_symlink() or p.exists():
                p.unlink()
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, f.mode)
            with os.fdopen(fd, "wb") as out:
                out.write(f.content)
            os.chmod(p, f.mode)
            written.append(p)
        for s in tree.symlinks:
            p = root / s.path
            if p.is_symlink() or p.exists():
                p.unlink()
            os.symlink(s.target, p)
    except OSError as exc:
        where = exc.filename or root
        raise UsageError(f"{where}: cannot write the lab: {exc.strerror}") from exc
    return written
