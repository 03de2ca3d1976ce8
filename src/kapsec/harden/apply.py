"""Writing a plan to a node: atomically, backed up, and only what validates.

The kubelet starts a static pod for every file in its manifest directory whose name does not
start with a dot (``pkg/kubelet/config/file.go`` skips dot files), so the new manifest is
written to a dot-prefixed temporary file in the same directory, fsynced, and renamed over the
old one with ``os.replace`` (atomic within a filesystem): the kubelet sees either the old or
the new manifest, never half of one, and never a second API server. Backups live outside the
manifest directory for the same reason.

Paths: ``root`` is where the node's ``/`` is (``/`` on the node itself, a copy or a lab
otherwise); node paths (``/etc/kubernetes/...``) are resolved under it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kapsec.errors import InputError, UsageError, ValidationError
from kapsec.harden.plan import GeneratedFile

DEFAULT_BACKUP_DIR = "/var/lib/kapsec/backups"
META = "kapsec-backup.json"


def node_real(root: str | None, node_path: str) -> str:
    if root is None:
        return node_path
    return os.path.join(root, node_path.lstrip("/"))


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` through ``.<name>.kapsec.tmp`` in the same directory.

    On any failure the temporary file is removed and ``path`` is left as it was.
    """
    directory, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{base}.kapsec.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask does not apply
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


@dataclass(frozen=True)
class Backup:
    directory: str  # real path of this backup
    manifest_node_path: str
    created_files: tuple[str, ...]


def _inside(child: str, parent: str) -> bool:
    child, parent = os.path.realpath(child), os.path.realpath(parent)
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def check_backup_dir(backup_dir: str, manifest_real: str) -> None:
    """Refuse a ``backup_dir`` that cannot hold a backup, before anything is written (no side effect)."""
    if _inside(backup_dir, os.path.dirname(manifest_real)):
        raise UsageError(
            f"--backup-dir {backup_dir} is inside the static pod directory: the kubelet would start the backup "
            "as a second API server; choose a directory outside it"
        )
    path = os.path.abspath(backup_dir)
    while not os.path.exists(path):  # the nearest part that exists must be a directory
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise UsageError(f"--backup-dir {backup_dir}: {path} is not a directory")


def _make_backup_dir(backup_dir: str, manifest_real: str) -> None:
    check_backup_dir(backup_dir, manifest_real)
    try:
        os.makedirs(backup_dir, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the backup directory: {exc.strerror or exc}", file=backup_dir
        ) from exc


def make_backup(
    backup_dir: str, manifest_real: str, manifest_node: str, created: Sequence[str], now: dt.datetime
) -> Backup:
    """Copy the current manifest into a new, timestamped directory under ``backup_dir``."""
    _make_backup_dir(backup_dir, manifest_real)
    stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
    target = os.path.join(backup_dir, stamp)
    n = 1
    while os.path.exists(target):
        n += 1
        target = os.path.join(backup_dir, f"{stamp}-{n}")
    os.mkdir(target, 0o700)
    with open(manifest_real, "rb") as fh:
        data = fh.read()
    mode = os.stat(manifest_real).st_mode & 0o777
    atomic_write(os.path.join(target, os.path.basename(manifest_real)), data, mode)
    meta = {"manifest": manifest_node, "file": os.path.basename(manifest_real), "created": list(created)}
    atomic_write(os.path.join(target, META), (json.dumps(meta, indent=2) + "\n").encode(), 0o600)
    return Backup(target, manifest_node, tuple(created))


def latest_backup(backup_dir: str) -> Backup:
    try:
        names = sorted(n for n in os.listdir(backup_dir) if os.path.isfile(os.path.join(backup_dir, n, META)))
    except FileNotFoundError:
        raise InputError(
            "no backup directory (nothing was applied with this --backup-dir)", file=backup_dir
        ) from None
    except OSError as exc:
        raise InputError(f"cannot list backups: {exc.strerror}", file=backup_dir) from exc
    if not names:
        raise InputError("no kapsec backup in this directory", file=backup_dir)
    d = os.path.join(backup_dir, names[-1])
    meta_path = os.path.join(d, META)
    try:
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except OSError as exc:
        raise InputError(f"unreadable backup metadata: {exc.strerror or exc}", file=meta_path) from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"unreadable backup metadata: not UTF-8 text (byte {exc.start})", file=meta_path
        ) from exc
    except ValueError as exc:
        raise InputError(f"unreadable backup metadata: not JSON ({exc})", file=meta_path) from exc
    manifest = meta.get("manifest") if isinstance(meta, dict) else None
    created = meta.get("created") or [] if isinstance(meta, dict) else None
    if (
        not isinstance(manifest, str)
        or not manifest.startswith("/")
        or ".." in manifest.split("/")
        or not isinstance(created, list)
        or not all(isinstance(c, str) for c in created)
    ):
        raise InputError(
            "unreadable backup metadata: expected an object with the manifest's absolute node path "
            "('manifest') and the files kapsec created ('created')",
            file=meta_path,
        )
    return Backup(d, manifest, tuple(created))


def restore(backup: Backup, root: str | None) -> str:
    """Put the backed-up manifest back (atomically); returns the real path restored."""
    real = node_real(root, backup.manifest_node_path)
    src = os.path.join(backup.directory, posixpath.basename(backup.manifest_node_path))
    try:
        with open(src, "rb") as fh:
            data = fh.read()
        mode = os.stat(src).st_mode & 0o777
    except OSError as exc:
        raise InputError(f"cannot read the backup: {exc.strerror}", file=src) from exc
    atomic_write(real, data, mode)
    return real


def write_generated(files: Sequence[GeneratedFile], root: str | None) -> list[str]:
    """Write the generated files (directories 0700 when created); returns the node paths written.

    A file that exists already is never overwritten (the plan does not generate one then).
    """
    written: list[str] = []
    try:
        for f in files:
            real = node_real(root, f.path)
            if os.path.exists(real):
                try:
                    with open(real, encoding="utf-8") as fh:
                        same = fh.read() == f.text
                except (OSError, UnicodeDecodeError):
                    same = False
                if same:
                    continue  # left by an earlier run (e.g. before a rollback)
                raise ValidationError(
                    "exists already with other contents; kapsec does not overwrite configuration files "
                    "(move it away, or choose another --config-dir)",
                    file=f.path,
                )
            os.makedirs(os.path.dirname(real), mode=0o700, exist_ok=True)
            atomic_write(real, f.text.encode("utf-8"), f.mode)
            written.append(f.path)
    except BaseException:
        remove_files(written, root)
        raise
    return written


def remove_files(paths: Sequence[str], root: str | None) -> None:
    for p in paths:
        with contextlib.suppress(OSError):
            os.unlink(node_real(root, p))


def validate_files(files: Sequence[GeneratedFile]) -> None:
    """Each generated file through the validator of the package that owns its format."""
    for f in files:
        validator = _VALIDATORS[f.kind]
        try:
            validator(f.text, f.path)
        except (ValidationError, InputError):
            raise
        except Exception as exc:  # a validator's own failure: refuse rather than write
            raise ValidationError(f"cannot validate: {exc}", file=f.path) from exc


def _v_audit(text: str, name: str) -> None:
    from kapsec.auditpolicy import load_policy_text

    load_policy_text(text, name)


def _v_encryption(text: str, name: str) -> None:
    from kapsec.encryption.config import parse_encryption_config

    parse_encryption_config(text, name)


def _v_admission(text: str, name: str) -> None:
    from kapsec.pss.admission import parse_admission_config

    parse_admission_config(text, name)


def _v_authn(text: str, name: str) -> None:
    import tempfile

    from kapsec.checks.structured import load_authentication_config

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "authn.yaml")
        with open(p, "w", encoding="utf-8") as fh:
            fh.write(text)
        load_authentication_config(p, name)


_VALIDATORS: dict[str, Callable[[str, str], None]] = {
    "audit-policy": _v_audit,
    "encryption": _v_encryption,
    "admission": _v_admission,
    "authentication": _v_authn,
}


def write_generated_overwrite(files: Sequence[GeneratedFile], root: str | None) -> None:
    """Files kapsec owns outright (the kubeadm fragments): replaced on every apply."""
    for f in files:
        real = node_real(root, f.path)
        os.makedirs(os.path.dirname(real), mode=0o700, exist_ok=True)
        atomic_write(real, f.text.encode("utf-8"), f.mode)


def _v_kubeadm(text: str, name: str) -> None:
    import tempfile

    from kapsec.sources.apiserver import from_kubeadm_config

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "kubeadm.yaml")
        with open(p, "w", encoding="utf-8") as fh:
            fh.write(text)
        cfg = from_kubeadm_config(p, display=name)
    fatal = [p for p in cfg.problems if p.fatal]
    if fatal:
        raise ValidationError(fatal[0].message, file=name)


_VALIDATORS["kubeadm"] = _v_kubeadm
