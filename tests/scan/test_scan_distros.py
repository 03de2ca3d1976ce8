"""RKE2 and k3s layouts (FILE-001..018 find their files), the API server / etcd certificate trust
(ETCD-004/005) on every layout, and the CIS cipher list kept in one place (TLS-003)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import run_cli

RKE2 = "var/lib/rancher/rke2"
RKE2_MANIFESTS = f"{RKE2}/agent/pod-manifests"
ETCD = "etc/kubernetes/manifests/etcd.yaml"


def scan(*args: str) -> dict[str, tuple[str, str]]:
    r = run_cli("scan", *args, "-o", "json", "--fail-on", "never")
    assert r.code == 0, r.stderr
    return {f["id"]: (f["status"], f["message"]) for f in json.loads(r.stdout)["findings"]}


@pytest.fixture(scope="module")
def rke2_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rke2") / "node"
    assert run_cli("lab", "init", "--flavor", "rke2", str(root)).code == 0
    return root


@pytest.fixture(scope="module")
def kubeadm_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kubeadm") / "node"
    assert run_cli("lab", "init", str(root)).code == 0
    return root


@pytest.fixture
def rke2(rke2_template: Path, tmp_path: Path) -> Path:
    shutil.copytree(rke2_template, tmp_path / "node", symlinks=True)
    return tmp_path / "node"


@pytest.fixture
def kubeadm(kubeadm_template: Path, tmp_path: Path) -> Path:
    shutil.copytree(kubeadm_template, tmp_path / "node", symlinks=True)
    return tmp_path / "node"


# ---------------------------------------------------------------- RKE2


def test_rke2_etcd_data_dir_and_admin_kubeconfig_are_rke2s(rke2: Path) -> None:
    got = scan("--root", str(rke2), "--check", "FILE")
    assert {k: got[k] for k in ("FILE-011", "FILE-012", "FILE-013", "FILE-014")} == {
        "FILE-011": ("pass", f"/{RKE2}/server/db/etcd: mode 0700 or stricter"),
        "FILE-012": (
            "pass",
            f"/{RKE2}/server/db/etcd: owned by root:root (etcd runs as root: its manifest sets no runAsUser, "
            "so root:root is etcd's own user)",
        ),
        "FILE-013": (
            "pass",
            f"/{RKE2}/server/cred/admin.kubeconfig and /etc/rancher/rke2/rke2.yaml: mode 0600 or stricter",
        ),
        "FILE-014": (
            "pass",
            f"/{RKE2}/server/cred/admin.kubeconfig and /etc/rancher/rke2/rke2.yaml: owned by root:root",
        ),
    }
    assert [k for k, (status, _) in got.items() if status != "pass"] == [
        "FILE-009",
        "FILE-010",
    ]  # no CNI in the lab


def test_rke2_file_checks_fail_on_rke2_paths(rke2: Path) -> None:
    os.chmod(rke2 / RKE2 / "server/db/etcd", 0o755)
    os.chmod(rke2 / "etc/rancher/rke2/rke2.yaml", 0o644)  # --write-kubeconfig-mode 644
    os.chown(rke2 / RKE2 / "server/cred/admin.kubeconfig", 1000, 1000)
    got = scan("--root", str(rke2), "--check", "FILE-011", "--check", "FILE-013", "--check", "FILE-014")
    assert got == {
        "FILE-011": ("fail", f"/{RKE2}/server/db/etcd has mode 0755, more permissive than 0700"),
        "FILE-013": ("fail", "/etc/rancher/rke2/rke2.yaml has mode 0644, more permissive than 0600"),
        "FILE-014": (
            "fail",
            f"/{RKE2}/server/cred/admin.kubeconfig is owned by 1000:1000, expected root:root",
        ),
    }


def test_rke2_etcd_data_dir_comes_from_the_etcd_config_file(rke2: Path) -> None:
    config = rke2 / RKE2 / "server/db/etcd/config"
    config.write_text(
        config.read_text().replace(f"data-dir: /{RKE2}/server/db/etcd", "data-dir: /srv/etcd-data")
    )
    (rke2 / "srv/etcd-data").mkdir(parents=True, mode=0o700)
    got = scan("--root", str(rke2), "--check", "FILE-011")
    assert got == {"FILE-011": ("pass", "/srv/etcd-data: mode 0700 or stricter")}


def test_rke2_from_its_logged_command_line_finds_the_pod_manifests(rke2: Path, tmp_path: Path) -> None:
    """Without the manifest as the source (RKE2's journal line), the static pods are still found."""
    manifest = yaml.safe_load((rke2 / RKE2_MANIFESTS / "kube-apiserver.yaml").read_text())
    args = " ".join(manifest["spec"]["containers"][0]["args"])
    log = tmp_path / "rke2.log"
    log.write_text(
        f'Nov 28 rke2[812]: time="2026-11-28T10:00:00Z" level=info msg="Running kube-apiserver {args}"\n'
    )
    got = scan("--cmdline", str(log), "--root", str(rke2), "--k8s-version", "1.34", "--check", "FILE")
    assert got["FILE-003"] == (
        "pass",
        f"/{RKE2_MANIFESTS}/kube-controller-manager.yaml: mode 0600 or stricter",
    )
    assert got["FILE-007"] == ("pass", f"/{RKE2_MANIFESTS}/etcd.yaml: mode 0600 or stricter")
    assert got["FILE-011"][0] == got["FILE-013"][0] == "pass"


def test_rke2_wrong_ca_is_caught(tmp_path: Path) -> None:
    root = tmp_path / "node"
    assert run_cli("lab", "init", "--flavor", "rke2", "--plant", "wrong-ca", str(root)).code == 0
    got = scan("--root", str(root), "--check", "ETCD-004", "--check", "ETCD-005")
    status, message = got["ETCD-004"]
    assert status == "fail"
    assert message.startswith(
        f"etcd rejects the API server's client certificate /{RKE2}/server/tls/etcd/client.crt: not verified by "
        f"etcd's --trusted-ca-file /{RKE2}/server/tls/etcd/server-ca.crt (/{RKE2}/server/db/etcd/config:6): "
        "issued by 'rke2-client-ca@"
    )
    assert got["ETCD-005"][0] == "pass"


# ---------------------------------------------------------------- k3s


def make_k3s(rke2: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A k3s server node (embedded etcd) made from the RKE2 lab: the same <data-dir>/server layout,
    no static pods, and the kube-apiserver command line from k3s's log."""
    root = tmp_path / "k3s"
    shutil.copytree(rke2, root, symlinks=True)
    shutil.move(root / RKE2, root / "var/lib/rancher/k3s")
    shutil.move(root / "etc/rancher/rke2", root / "etc/rancher/k3s")
    shutil.move(root / "etc/rancher/k3s/rke2.yaml", root / "etc/rancher/k3s/k3s.yaml")
    shutil.rmtree(root / "var/lib/rancher/k3s/agent/pod-manifests")
    config = root / "var/lib/rancher/k3s/server/db/etcd/config"
    config.write_text(config.read_text().replace("/rancher/rke2/", "/rancher/k3s/"))
    manifest: dict[str, Any] = yaml.safe_load((rke2 / RKE2_MANIFESTS / "kube-apiserver.yaml").read_text())
    args = " ".join(manifest["spec"]["containers"][0]["args"]).replace("/rancher/rke2/", "/rancher/k3s/")
    log = tmp_path / "k3s.log"
    log.write_text(f'k3s[912]: time="2026-11-28T10:00:00Z" level=info msg="Running kube-apiserver {args}"\n')
    return root, log


def test_k3s_has_no_pod_manifests_and_keeps_its_files_under_its_data_dir(rke2: Path, tmp_path: Path) -> None:
    root, log = make_k3s(rke2, tmp_path)
    os.chmod(root / "etc/rancher/k3s/k3s.yaml", 0o644)  # k3s server --write-kubeconfig-mode 644
    cni = root / "var/lib/rancher/k3s/agent/etc/cni/net.d/10-flannel.conflist"
    cni.parent.mkdir(parents=True)
    cni.write_text('{"name": "cbr0", "cniVersion": "1.0.0"}\n')
    os.chmod(cni, 0o644)  # as k3s writes it
    got = scan("--cmdline", str(log), "--root", str(root), "--k8s-version", "1.34")
    no_pod = "k3s runs the {} inside the k3s process: there is no {} static pod manifest (CIS for k3s: not applicable)"
    for cid, what, component in (
        ("FILE-001", "API server", "kube-apiserver"),
        ("FILE-002", "API server", "kube-apiserver"),
        ("FILE-003", "kube-controller-manager", "kube-controller-manager"),
        ("FILE-005", "kube-scheduler", "kube-scheduler"),
        ("FILE-007", "etcd", "etcd"),
        ("FILE-008", "etcd", "etcd"),
    ):
        assert got[cid] == ("skip", no_pod.format(what, component)), cid
    k3s = "/var/lib/rancher/k3s"
    assert got["FILE-011"] == ("pass", f"{k3s}/server/db/etcd: mode 0700 or stricter")
    assert got["FILE-012"] == (
        "pass",
        f"{k3s}/server/db/etcd: owned by root:root (etcd runs inside the k3s process, as root, so root:root is "
        "etcd's own user)",
    )
    assert got["FILE-013"] == ("fail", "/etc/rancher/k3s/k3s.yaml has mode 0644, more permissive than 0600")
    assert got["FILE-014"] == (
        "pass",
        f"{k3s}/server/cred/admin.kubeconfig and /etc/rancher/k3s/k3s.yaml: owned by root:root",
    )
    assert got["FILE-009"] == (
        "fail",
        f"{k3s}/agent/etc/cni/net.d/10-flannel.conflist has mode 0644, more permissive than 0600",
    )
    assert got["FILE-015"] == ("pass", f"{k3s}/server/cred/scheduler.kubeconfig: mode 0600 or stricter")
    assert got["FILE-017"] == ("pass", f"{k3s}/server/cred/controller.kubeconfig: mode 0600 or stricter")
    assert got["ETCD-004"] == (
        "pass",
        f"{k3s}/server/tls/etcd/client.crt is verified by etcd's --trusted-ca-file "
        f"{k3s}/server/tls/etcd/server-ca.crt ({k3s}/server/db/etcd/config:6)",
    )
    assert got["ETCD-005"] == (
        "pass",
        f"etcd's --cert-file {k3s}/server/tls/etcd/server-client.crt is verified by {k3s}/server/tls/etcd/server-ca.crt",
    )


def test_k3s_with_kine_has_no_etcd_to_check(rke2: Path, tmp_path: Path) -> None:
    root, log = make_k3s(rke2, tmp_path)
    shutil.rmtree(root / "var/lib/rancher/k3s/server/db/etcd")
    text = log.read_text().replace("--etcd-servers=https://127.0.0.1:2379", "--etcd-servers=unix://kine.sock")
    assert text != log.read_text()
    log.write_text(text)
    got = scan("--cmdline", str(log), "--root", str(root), "--k8s-version", "1.34")
    kine = "k3s keeps its data through kine (--etcd-servers is a unix socket), not in an etcd data directory"
    assert got["FILE-011"] == got["FILE-012"] == ("skip", kine)
    socket = "etcd is reached over a local unix socket (unix://kine.sock): no TLS between them"
    assert got["ETCD-004"] == got["ETCD-005"] == ("skip", socket)


# ---------------------------------------------------------------- etcd trust on kubeadm


def edit_etcd(root: Path, old: str, new: str) -> None:
    p = root / ETCD
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new))


def test_etcd_client_cert_is_checked_against_what_etcd_trusts_not_etcd_cafile(kubeadm: Path) -> None:
    """etcd trusting another CA than the API server's --etcd-cafile: the client certificate fails
    although it chains to --etcd-cafile (the check the first version of TLS-004 made)."""
    edit_etcd(
        kubeadm,
        "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
        "--trusted-ca-file=/etc/kubernetes/pki/ca.crt",
    )
    got = scan("--root", str(kubeadm), "--check", "ETCD-004", "--check", "ETCD-005", "--check", "TLS-004")
    assert got["ETCD-004"] == (
        "fail",
        "etcd rejects the API server's client certificate /etc/kubernetes/pki/apiserver-etcd-client.crt: not "
        "verified by etcd's --trusted-ca-file /etc/kubernetes/pki/ca.crt (/etc/kubernetes/manifests/etcd.yaml:32): "
        "issued by 'etcd-ca', not by the CA ('kubernetes')",
    )
    assert got["ETCD-005"][0] == got["TLS-004"][0] == "pass"


def test_etcd_that_checks_no_client_certificate_fails(kubeadm: Path) -> None:
    edit_etcd(kubeadm, "    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt\n", "")
    edit_etcd(kubeadm, "    - --client-cert-auth=true\n", "")
    got = scan("--root", str(kubeadm), "--check", "ETCD-004")
    assert got == {
        "ETCD-004": (
            "fail",
            "etcd (/etc/kubernetes/manifests/etcd.yaml) sets neither --trusted-ca-file nor --client-cert-auth: it "
            "accepts any client, certificate or not, and anyone who reaches it reads every object",
        )
    }


def test_etcd_requiring_client_certs_without_a_ca_file_is_a_warning(kubeadm: Path) -> None:
    edit_etcd(kubeadm, "    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt\n", "")
    got = scan("--root", str(kubeadm), "--check", "ETCD-004")
    assert got["ETCD-004"][0] == "warn"
    assert "verifies them against the system's root CAs" in got["ETCD-004"][1]


def test_etcd_without_a_serving_certificate_fails(kubeadm: Path) -> None:
    edit_etcd(kubeadm, "    - --cert-file=/etc/kubernetes/pki/etcd/server.crt\n", "")
    got = scan("--root", str(kubeadm), "--check", "ETCD-005")
    assert got == {
        "ETCD-005": (
            "fail",
            "etcd (/etc/kubernetes/manifests/etcd.yaml) sets no --cert-file: it serves no TLS, so the API "
            "server's https connection fails",
        )
    }


def test_planted_wrong_ca_fails_etcd_004_exit_1(tmp_path: Path) -> None:
    root = tmp_path / "node"
    assert run_cli("lab", "init", "--plant", "wrong-ca", str(root)).code == 0
    r = run_cli("scan", "--root", str(root), "--check", "ETCD-004", "--fail-on", "high", "-o", "json")
    assert r.code == 1
    (finding,) = json.loads(r.stdout)["findings"]
    assert (finding["status"], finding["severity"]) == ("fail", "high")
    assert finding["evidence"] == {
        "file": "/etc/kubernetes/manifests/kube-apiserver.yaml",
        "line": 22,
        "flag": "--etcd-certfile",
        "value": "/etc/kubernetes/pki/apiserver-etcd-client.crt",
    }


# ---------------------------------------------------------------- certificates expiring (TLS-004)


def test_expiring_certificate_fails_scan_but_warns_in_tls_inspect(tmp_path: Path) -> None:
    """warn means "could not evaluate" in scan; tls inspect keeps its own warn-under-30-days."""
    root = tmp_path / "node"
    assert run_cli("lab", "init", "--plant", "expiring-cert", str(root)).code == 0
    r = run_cli("scan", "--root", str(root), "--check", "TLS-004", "--fail-on", "high", "-o", "json")
    assert r.code == 1
    (finding,) = json.loads(r.stdout)["findings"]
    assert (finding["status"], finding["severity"]) == ("fail", "high")
    assert finding["message"].startswith("serving certificate /etc/kubernetes/pki/apiserver.crt: expires in ")
    assert finding["message"].endswith(", within 30 days")
    inspect = run_cli("tls", "inspect", "--root", str(root), "-o", "json")
    validity = [
        f
        for f in json.loads(inspect.stdout)["findings"]
        if f["id"] == "TLS-CERT-VALIDITY"
        and f["evidence"].get("value") == "/etc/kubernetes/pki/apiserver.crt"
    ]
    assert [f["status"] for f in validity] == ["warn"]


# ---------------------------------------------------------------- one CIS cipher list


def test_tls_003_uses_the_tls_packages_cis_allowlist(kubeadm: Path) -> None:
    from kapsec.checks import predicates
    from kapsec.checks.catalog import by_id
    from kapsec.checks.context import ScanContext
    from kapsec.checks.engine import evaluate
    from kapsec.model.findings import Status
    from kapsec.sources.apiserver import load
    from kapsec.tls import ciphers

    assert not hasattr(predicates, "CIS_CIPHERS")
    assert predicates.CIS_1_12_ALLOWLIST is ciphers.CIS_1_12_ALLOWLIST
    check = by_id("TLS-003")
    assert check is not None
    manifest = kubeadm / "etc/kubernetes/manifests/kube-apiserver.yaml"
    original = manifest.read_text()

    def status_for(suite: str) -> Status:
        manifest.write_text(
            original.replace(
                "    - kube-apiserver\n", f"    - kube-apiserver\n    - --tls-cipher-suites={suite}\n"
            )
        )
        ctx = ScanContext(config=load(root=str(kubeadm)), root=str(kubeadm))
        return evaluate(check, ctx).status

    allowed = sorted(ciphers.CIS_1_12_ALLOWLIST)
    assert {s: status_for(s) for s in allowed} == dict.fromkeys(allowed, Status.PASS)
    others = sorted({iana for iana, _ in ciphers.SUITES.values()} - ciphers.CIS_1_12_ALLOWLIST)
    assert len(others) > 150
    assert {s for s in others if status_for(s) is not Status.FAIL} == set()


def test_etcd_flags_written_as_flag_space_value(kubeadm: Path) -> None:
    edit_etcd(
        kubeadm,
        "    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt\n",
        "    - --trusted-ca-file\n    - /etc/kubernetes/pki/etcd/ca.crt\n",
    )
    got = scan("--root", str(kubeadm), "--check", "ETCD-004")
    assert got == {
        "ETCD-004": (
            "pass",
            "/etc/kubernetes/pki/apiserver-etcd-client.crt is verified by etcd's --trusted-ca-file "
            "/etc/kubernetes/pki/etcd/ca.crt (/etc/kubernetes/manifests/etcd.yaml:32)",
        )
    }
