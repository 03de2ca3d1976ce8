"""``kapsec lab init``: outputs, refusals and exit codes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from helpers import run_cli
from kapsec.lab import pki

_RSA = pki.new_key()
_EC = pki.new_ec_key()


@pytest.fixture(autouse=True)
def reuse_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the command, not the PKI (tested in test_lab_kubeadm/rke2): one key
    pair stands for all, which keeps them fast on a loaded machine."""
    monkeypatch.setattr(pki, "new_key", lambda: _RSA)
    monkeypatch.setattr(pki, "new_ec_key", lambda: _EC)


def test_lab_cli_init_writes_and_says_so(tmp_path: Path) -> None:
    target = tmp_path / "lab"
    r = run_cli("lab", "init", str(target))
    assert r.code == 0, r.stderr
    assert r.stdout == (
        f"wrote a kubeadm v1.34.0 control plane (node controlplane, 192.168.56.10) to {target}: "
        "36 files, 4 static pods\n"
    )
    assert r.stderr == f"kapsec: next: kapsec scan --root {target}\n"
    assert (target / "etc/kubernetes/manifests/kube-apiserver.yaml").is_file()


def test_lab_cli_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine\n")
    r = run_cli("lab", "init", str(tmp_path))
    assert r.code == 2
    assert r.stdout == ""
    assert r.stderr == f"kapsec: error: {tmp_path}: directory is not empty (use --force to write over it)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_lab_cli_force_writes_over_and_keeps_other_files(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine\n")
    r = run_cli("lab", "init", "--force", str(tmp_path))
    assert r.code == 0, r.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine\n"
    # a second --force run replaces the tree (the kubelet link included) without error
    r = run_cli("lab", "init", "--force", str(tmp_path))
    assert r.code == 0, r.stderr
    assert (tmp_path / "var/lib/kubelet/pki/kubelet-client-current.pem").resolve().is_file()


def test_lab_cli_refuses_a_file_as_target(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    r = run_cli("lab", "init", str(f))
    assert r.code == 2
    assert r.stderr == f"kapsec: error: {f}: exists and is not a directory\n"


def test_lab_cli_empty_existing_directory_is_fine(tmp_path: Path) -> None:
    r = run_cli("lab", "init", str(tmp_path))
    assert r.code == 0, r.stderr


def test_lab_cli_bad_version_is_a_usage_error(tmp_path: Path) -> None:
    r = run_cli("lab", "init", "--k8s-version", "1.12", str(tmp_path / "x"))
    assert r.code == 2
    assert r.stderr == (
        "kapsec: error: Kubernetes version '1.12' is not supported by the lab (supported: 1.29 to 1.36)\n"
    )
    assert not (tmp_path / "x").exists()
    r = run_cli("lab", "init", "--k8s-version", "latest", str(tmp_path / "x"))
    assert r.code == 2
    assert r.stderr == "kapsec: error: invalid Kubernetes version 'latest' (expected e.g. 1.34 or v1.34.1)\n"


def test_lab_cli_bad_address_and_subnet(tmp_path: Path) -> None:
    r = run_cli("lab", "init", "--advertise-address", "10.0.0.300", str(tmp_path / "x"))
    assert (r.code, r.stderr) == (2, "kapsec: error: invalid advertise address '10.0.0.300'\n")
    r = run_cli("lab", "init", "--pod-subnet", "10.244.0.0/33", str(tmp_path / "x"))
    assert (r.code, r.stderr) == (2, "kapsec: error: invalid pod subnet '10.244.0.0/33'\n")
    r = run_cli("lab", "init", "--node-name", "Bad_Name", str(tmp_path / "x"))
    assert (r.code, r.stderr) == (
        2,
        "kapsec: error: invalid node name 'Bad_Name' (a lowercase RFC 1123 name)\n",
    )


def test_lab_cli_unknown_flavor_is_rejected_by_click(tmp_path: Path) -> None:
    r = run_cli("lab", "init", "--flavor", "k3s", str(tmp_path / "x"))
    assert r.code == 2
    assert "Invalid value for '--flavor': 'k3s' is not one of 'kubeadm', 'rke2'." in r.stderr


def test_lab_cli_json_lists_files_with_modes(tmp_path: Path) -> None:
    target = tmp_path / "lab"
    r = run_cli("lab", "init", "-o", "json", "--k8s-version", "1.31", "--plant", "expiring-cert", str(target))
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kubernetesVersion"] == "v1.31.0"
    assert doc["planted"] == ["expiring-cert"]
    modes = {f["path"]: f["mode"] for f in doc["files"]}
    assert modes["etc/kubernetes/pki/apiserver.key"] == "0600"
    assert modes["etc/kubernetes/manifests/kube-apiserver.yaml"] == "0600"
    for path, mode in modes.items():
        assert f"{stat.S_IMODE((target / path).stat().st_mode):04o}" == mode, path
    assert r.stderr == (
        "kapsec: planted: the API server's serving certificate expires in 7 days\n"
        f"kapsec: next: kapsec scan --root {target}\n"
    )


def test_lab_cli_rke2_flavor(tmp_path: Path) -> None:
    target = tmp_path / "rke2"
    r = run_cli("lab", "init", "--flavor", "rke2", "--plant", "world-readable-key", str(target))
    assert r.code == 0, r.stderr
    assert r.stdout == (
        f"wrote a rke2 v1.34.0 control plane (node controlplane, 192.168.56.10) to {target}: "
        "50 files, 4 static pods\n"
    )
    assert r.stderr == (
        "kapsec: planted: the API server's private key is world-readable (0644)\n"
        f"kapsec: next: kapsec scan --root {target}\n"
    )
    key = target / "var/lib/rancher/rke2/server/tls/serving-kube-apiserver.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o644
