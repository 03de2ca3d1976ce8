"""Shared trees for the harden tests: each lab is built once per session and copied per test."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import DATA, run_cli
from kapsec.lab import pki

_RSA = pki.new_key()
_EC = pki.new_ec_key()

HAND_EDITED = DATA / "harden" / "hand-edited" / "kube-apiserver.yaml"
MANIFEST = {
    "kubeadm-lab": "etc/kubernetes/manifests/kube-apiserver.yaml",
    "rke2-lab": "var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml",
    "hand-edited": "etc/kubernetes/manifests/kube-apiserver.yaml",
    "kubeadm-lab-local": "etc/kubernetes/manifests/kube-apiserver.yaml",
    "kubeadm-lab-1.30": "etc/kubernetes/manifests/kube-apiserver.yaml",
}


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tree per case (the PKI reuses one key pair: these tests are about the manifest)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(pki, "new_key", lambda: _RSA)
    mp.setattr(pki, "new_ec_key", lambda: _EC)
    base = tmp_path_factory.mktemp("harden-templates")
    out: dict[str, Path] = {}
    try:
        for name, args in (
            ("kubeadm-lab", []),
            ("rke2-lab", ["--flavor", "rke2"]),
            ("kubeadm-lab-local", ["--advertise-address", "127.0.0.1"]),
            ("kubeadm-lab-1.30", ["--k8s-version", "1.30"]),
        ):
            r = run_cli("lab", "init", *args, str(base / name))
            assert r.code == 0, r.stderr
            out[name] = base / name
    finally:
        mp.undo()
    hand = base / "hand-edited"
    (hand / "etc/kubernetes/manifests").mkdir(parents=True)
    shutil.copy(HAND_EDITED, hand / MANIFEST["hand-edited"])
    out["hand-edited"] = hand
    return out


@pytest.fixture
def fresh(templates: dict[str, Path], tmp_path: Path) -> Callable[[str], Path]:
    """A private copy of a case's tree."""

    def make(case: str) -> Path:
        target = tmp_path / case
        shutil.copytree(templates[case], target, symlinks=True)
        return target

    return make
