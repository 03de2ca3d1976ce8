"""Fixtures for the scan tests (helpers live in scan_support)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import run_cli
from scan.scan_support import build_hardened


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``kapsec lab init``: kubeadm's default control plane (built once per test process)."""
    root = tmp_path_factory.mktemp("lab") / "node"
    r = run_cli("lab", "init", str(root))
    assert r.code == 0, r.stderr
    return root


@pytest.fixture(scope="session")
def hardened_root(lab_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab tree with the guide's hardening applied; every check passes on it."""
    root = tmp_path_factory.mktemp("hardened") / "node"
    shutil.copytree(lab_root, root, symlinks=True)
    return build_hardened(root)
