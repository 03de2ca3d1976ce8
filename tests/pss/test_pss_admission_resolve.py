"""``load_admission_config(resolve=...)``: a PodSecurity ``path:`` is read where the caller says
(the scan of a node copied under ``--root`` reads it there), never from this machine's own path."""

from __future__ import annotations

from pathlib import Path

import pytest

from kapsec.errors import InputError
from kapsec.pss.admission import generate_admission_config_files, load_admission_config
from kapsec.pss.api import Level

NODE_PATH = "/etc/kubernetes/admission/pss.yaml"  # does not exist on the test machine


def _write(tmp_path: Path, pss_path: str) -> tuple[Path, Path]:
    admission, psa = generate_admission_config_files(pss_path, enforce="restricted")
    root = tmp_path / "node"
    (root / "etc/kubernetes/admission").mkdir(parents=True)
    adm = root / "etc/kubernetes/admission/admission.yaml"
    adm.write_text(admission)
    (root / "etc/kubernetes/admission/pss.yaml").write_text(psa)
    return root, adm


def test_absolute_path_is_resolved_by_the_caller(tmp_path: Path) -> None:
    root, adm = _write(tmp_path, NODE_PATH)
    asked: list[str] = []

    def under_root(written: str) -> str:
        asked.append(written)
        return str(root / written.lstrip("/"))

    cfg = load_admission_config(adm, resolve=under_root)
    assert asked == [NODE_PATH]
    assert cfg.pod_security is not None
    assert cfg.pod_security.defaults.enforce.level is Level.RESTRICTED


def test_without_a_resolver_an_absolute_path_is_this_machines(tmp_path: Path) -> None:
    _, adm = _write(tmp_path, NODE_PATH)
    with pytest.raises(InputError) as err:
        load_admission_config(adm)
    assert (err.value.file, err.value.message) == (NODE_PATH, "no such file")


def test_relative_path_is_given_to_the_resolver_as_written(tmp_path: Path) -> None:
    root, adm = _write(tmp_path, "pss.yaml")
    asked: list[str] = []

    def resolve(written: str) -> str:
        asked.append(written)
        return str(root / "etc/kubernetes/admission" / written)

    cfg = load_admission_config(adm, resolve=resolve)
    assert asked == ["pss.yaml"]
    assert cfg.pod_security is not None
    assert cfg.pod_security.defaults.enforce.level is Level.RESTRICTED


def test_resolver_errors_and_missing_targets_propagate(tmp_path: Path) -> None:
    root, adm = _write(tmp_path, NODE_PATH)

    def refuse(written: str) -> str:
        raise InputError(f"its path {written}: not on a hostPath volume", file="admission.yaml")

    with pytest.raises(InputError) as refused:
        load_admission_config(adm, resolve=refuse)
    assert refused.value.message == f"its path {NODE_PATH}: not on a hostPath volume"
    missing = str(root / "elsewhere.yaml")
    with pytest.raises(InputError) as err:
        load_admission_config(adm, resolve=lambda written: missing)
    assert (err.value.file, err.value.message) == (missing, "no such file")
