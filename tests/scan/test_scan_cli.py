"""``kapsec scan`` and ``kapsec checks`` from the command line: outputs, exit codes and errors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from helpers import DATA, run_cli

REAL = DATA / "control-plane-manifests"


@pytest.fixture
def lab(lab_root: Path) -> Path:
    return lab_root


def scan_json(*args: str) -> tuple[int, dict[str, object], str]:
    r = run_cli("scan", *args, "-o", "json")
    return r.code, json.loads(r.stdout) if r.stdout else {}, r.stderr


def statuses(report: dict[str, object]) -> dict[str, str]:
    return {f["id"]: f["status"] for f in report["findings"]}  # type: ignore[attr-defined]


def test_scan_lab_reports_kubeadm_defaults(lab: Path) -> None:
    code, report, _ = scan_json("--root", str(lab))
    assert code == 1
    assert report["target"] == {
        "kind": "kube-apiserver",
        "source": "manifest",
        "file": "/etc/kubernetes/manifests/kube-apiserver.yaml",
        "root": str(lab),
        "kubernetesVersion": "1.34",
        "versionFrom": "image tag",
        "image": "registry.k8s.io/kube-apiserver:v1.34.0",
    }
    s = statuses(report)
    failing = sorted(k for k, v in s.items() if v == "fail")
    assert failing == sorted(
        [
            "ADM-001", "ADM-002", "ADM-004", "API-001", "AUDIT-001", "AUDIT-002", "AUDIT-003", "AUDIT-004",
            "AUDIT-005", "AUDIT-006", "AUDIT-007", "AUTHN-001", "ENC-001", "ENC-002", "KUBELET-002",
            "PRIV-001", "SA-003", "TLS-003",
        ]
    )  # fmt: skip
    assert sorted(k for k, v in s.items() if v == "warn") == ["FILE-009", "FILE-010", "NET-001", "PSS-001"]
    assert report["summary"] == {"pass": 45, "fail": 18, "warn": 4, "skip": 0, "total": 67}
    anon = next(f for f in report["findings"] if f["id"] == "AUTHN-001")  # type: ignore[attr-defined]
    assert anon["benchmarks"] == {
        "cis-1.8": "1.2.1",
        "cis-1.9": "1.2.1",
        "cis-1.10": "1.2.1",
        "cis-1.11": "1.2.1",
        "cis-1.12": "1.2.1",
    }
    assert anon["checklist"] == "anonymous-auth"
    assert anon["fix"] == {"safety": "risky"}
    authz = next(f for f in report["findings"] if f["id"] == "AUTHZ-001")  # type: ignore[attr-defined]
    assert authz["evidence"] == {
        "file": "/etc/kubernetes/manifests/kube-apiserver.yaml",
        "line": 17,
        "flag": "--authorization-mode",
        "value": "Node,RBAC",
    }


@pytest.mark.parametrize(("fail_on", "code"), [("low", 1), ("high", 1), ("critical", 0), ("never", 0)])
def test_fail_on_threshold(lab: Path, fail_on: str, code: int) -> None:
    r = run_cli("scan", "--root", str(lab), "-o", "json", "--fail-on", fail_on)
    assert r.code == code


def test_bad_fail_on_is_a_usage_error(lab: Path) -> None:
    r = run_cli("scan", "--root", str(lab), "--fail-on", "severe")
    assert r.code == 2
    assert "unknown severity 'severe'" in r.stderr


def test_selection_by_benchmark_check_and_skip(lab: Path) -> None:
    _, report, _ = scan_json("--root", str(lab), "--check", "AUDIT", "--skip", "AUDIT-007")
    assert sorted(statuses(report)) == [
        "AUDIT-001",
        "AUDIT-002",
        "AUDIT-003",
        "AUDIT-004",
        "AUDIT-005",
        "AUDIT-006",
    ]
    _, report, _ = scan_json("--root", str(lab), "--benchmark", "cis-1.8")
    assert "SA-003" not in statuses(report)  # 1.2.30 arrived in CIS 1.11
    assert "ADM-008" not in statuses(report)  # not a CIS item
    assert len(statuses(report)) == 52


def test_text_output_is_the_default(lab: Path) -> None:
    r = run_cli("scan", "--root", str(lab))
    assert r.code == 1
    assert "AUTHN-001" in r.stdout


def test_manifest_source_and_version_override() -> None:
    code, report, _ = scan_json(
        "--manifest",
        str(REAL / "kubeadm-v1.10-managed-kubernetes/kube-apiserver.yaml"),
        "--k8s-version",
        "1.24",
    )
    assert code == 1
    assert report["target"]["kubernetesVersion"] == "1.24"  # type: ignore[index]
    flag1 = next(f for f in report["findings"] if f["id"] == "FLAG-001")  # type: ignore[attr-defined]
    assert flag1["status"] == "fail"
    assert flag1["message"].startswith(
        "unknown flag: --insecure-port on kube-apiserver 1.24 (removed in 1.24"
    )
    assert flag1["evidence"]["line"] > 0


@pytest.mark.parametrize(
    "path",
    sorted(
        str(p.relative_to(REAL))
        for p in REAL.rglob("*")
        if p.is_file() and ("apiserver" in p.name or p.name.endswith(".json"))
    ),
)
def test_every_real_manifest_scans_without_error(path: str) -> None:
    r = run_cli("scan", "--manifest", str(REAL / path), "-o", "json")
    assert r.code in (0, 1), r.stderr
    report = json.loads(r.stdout)
    assert report["summary"]["total"] == 67


def test_cmdline_source_rke2() -> None:
    code, report, err = scan_json(
        "--cmdline", str(REAL / "rke2-cis-self-assessment/cis_self_assessment112-ps.txt")
    )
    assert code == 1
    assert (
        err
        == "kapsec: note: Kubernetes version unknown (no image tag); assuming 1.36. Use --k8s-version to set it.\n"
    )
    s = statuses(report)
    assert (s["AUTHN-001"], s["API-001"], s["SA-003"], s["AUDIT-002"], s["FLAG-003"]) == (
        "pass",
        "pass",
        "pass",
        "pass",
        "pass",
    )
    assert s["AUDIT-007"] == "skip"


def test_kubeadm_config_source() -> None:
    code, report, _ = scan_json("--kubeadm-config", str(REAL / "kubeadm-config-minikube/v1.30/options.yaml"))
    assert code == 1
    s = statuses(report)
    assert (s["AUTHZ-002"], s["ADM-007"], s["FLAG-002"]) == ("pass", "pass", "warn")


# ------------------------------------------------------------------ bad input: message and exit 2


def test_malformed_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "kube-apiserver.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nspec:\n  containers: [\n")
    r = run_cli("scan", "--manifest", str(bad))
    assert (r.code, r.stdout) == (2, "")
    assert r.stderr == f"kapsec: error: {bad}:5: malformed YAML: did not find expected node content\n"


def test_manifest_without_apiserver() -> None:
    path = REAL / "kubeadm-v1.29-zeta-linux/etcd.yaml"
    r = run_cli("scan", "--manifest", str(path))
    assert r.code == 2
    assert r.stderr == (
        f"kapsec: error: {path}: no kube-apiserver container found: no container's command[0] (or args[0]) "
        "is kube-apiserver (found: Pod)\n"
    )


def test_empty_manifest(tmp_path: Path) -> None:
    p = tmp_path / "empty.yaml"
    p.write_text("")
    r = run_cli("scan", "--manifest", str(p))
    assert (r.code, r.stderr) == (2, f"kapsec: error: {p}: the file is empty: no pod manifest in it\n")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.mkdir(), "is a directory, expected a file"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00kind"), "not UTF-8 text (byte 0)"),
        (lambda p: None, "file not found"),
    ],
    ids=["directory", "binary", "missing"],
)
def test_unreadable_manifest(tmp_path: Path, make: object, message: str) -> None:
    p = tmp_path / "kube-apiserver.yaml"
    make(p)  # type: ignore[operator]
    r = run_cli("scan", "--manifest", str(p))
    assert (r.code, r.stderr) == (2, f"kapsec: error: {p}: {message}\n")


def test_bogus_root() -> None:
    r = run_cli("scan", "--root", "/no/such/node")
    assert (r.code, r.stderr) == (2, "kapsec: error: --root /no/such/node: no such directory\n")


def test_root_without_manifest(tmp_path: Path) -> None:
    r = run_cli("scan", "--root", str(tmp_path))
    assert r.code == 2
    assert r.stderr.startswith(
        f"kapsec: error: {tmp_path}: no kube-apiserver manifest under this root (looked for /etc/kubernetes/manifests/kube-apiserver.yaml, "
    )


def test_no_source_and_two_sources(lab: Path) -> None:
    r = run_cli("scan")
    assert r.code == 2
    assert r.stderr.startswith("kapsec: error: nothing to scan: give --root DIR, --manifest FILE")
    r = run_cli("scan", "--process", "--manifest", str(lab / "etc/kubernetes/manifests/kube-apiserver.yaml"))
    assert (r.code, r.stderr) == (2, "kapsec: error: choose one source, not --manifest and --process\n")


def test_bad_version(lab: Path) -> None:
    r = run_cli("scan", "--root", str(lab), "--k8s-version", "2.0")
    assert (r.code, r.stderr) == (
        2,
        "kapsec: error: --k8s-version: not a Kubernetes version: '2.0' (expected e.g. 1.30 or v1.30.2)\n",
    )


def _lab_with(lab: Path, tmp_path: Path, extra_flags: str) -> Path:
    root = tmp_path / "node"
    shutil.copytree(lab, root, symlinks=True)
    manifest = root / "etc/kubernetes/manifests/kube-apiserver.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "    - --tls-private-key-file=", extra_flags + "    - --tls-private-key-file="
        )
    )
    os.chmod(manifest, 0o600)
    return root


def test_referenced_file_not_reachable_is_a_warn_finding(lab: Path, tmp_path: Path) -> None:
    root = _lab_with(
        lab,
        tmp_path,
        "    - --audit-policy-file=/etc/kubernetes/audit/policy.yaml\n    - --audit-log-path=-\n",
    )
    code, report, err = scan_json("--root", str(root))
    assert code == 1, err
    f = next(f for f in report["findings"] if f["id"] == "AUDIT-005")  # type: ignore[attr-defined]
    assert (f["status"], f["message"]) == (
        "warn",
        "cannot read --audit-policy-file: /etc/kubernetes/audit/policy.yaml is not on a hostPath volume of the "
        "kube-apiserver pod, so the API server cannot read it from the node (mount its directory)",
    )


def test_referenced_file_that_is_a_directory_stops_the_server(lab: Path, tmp_path: Path) -> None:
    root = _lab_with(
        lab, tmp_path, "    - --audit-policy-file=/etc/kubernetes/pki/policy\n    - --audit-log-path=-\n"
    )
    (root / "etc/kubernetes/pki/policy").mkdir()
    _, report, _ = scan_json("--root", str(root))
    f = next(f for f in report["findings"] if f["id"] == "AUDIT-005")  # type: ignore[attr-defined]
    assert f["status"] == "fail"
    assert f["message"].startswith("the API server refuses to start: /etc/kubernetes/pki/policy")


def test_files_of_another_machine_are_warn_not_fail() -> None:
    """Without --root, files the manifest names that are not on this machine cannot be judged."""
    _, report, _ = scan_json("--manifest", str(REAL / "kops-nodeup-golden/audit/kube-apiserver.manifest"))
    s = statuses(report)
    assert (s["AUDIT-005"], s["TLS-004"], s["AUTHN-003"]) == ("warn", "warn", "warn")
    flag3 = next(f for f in report["findings"] if f["id"] == "FLAG-003")  # type: ignore[attr-defined]
    assert (flag3["status"], flag3["message"]) == (
        "warn",
        "not on any hostPath volume of the pod, so the API server finds them only if its image has them: "
        "--authentication-config=/etc/kubernetes/authentication-config.yaml",
    )


def test_process_without_apiserver_here() -> None:
    r = run_cli("scan", "--process")
    assert r.code == 2
    assert "no running kube-apiserver process found" in r.stderr


# ------------------------------------------------------------------ kapsec checks


def test_checks_list() -> None:
    r = run_cli("checks", "list")
    assert r.code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "SEVERITY", "CIS-1.12", "CHECKLIST", "TITLE"]
    assert len(lines) == 68
    assert r.stderr == "67 checks\n"
    data = json.loads(run_cli("checks", "list", "-o", "json").stdout)
    assert [c["id"] for c in data][:3] == ["FILE-001", "FILE-002", "FILE-003"]
    assert len(json.loads(run_cli("checks", "list", "-o", "json", "--benchmark", "cis-1.8").stdout)) == 52


def test_checks_explain_by_id_and_cis_id() -> None:
    r = run_cli("checks", "explain", "FILE-012")
    assert r.code == 0
    assert r.stdout.startswith(
        "FILE-012: etcd data directory is owned by the user etcd runs as\n\nSeverity:  medium\n"
    )
    assert "\nOther tools\n  kube-bench (1.1.12) fails every kubeadm cluster" in r.stdout
    assert run_cli("checks", "explain", "1.1.12").stdout == r.stdout
    md = run_cli("checks", "explain", "AUTHZ-001", "-o", "markdown").stdout
    assert md.startswith("### AUTHZ-001: Authorization is not AlwaysAllow\n")
    js = json.loads(run_cli("checks", "explain", "AUTHZ-001", "-o", "json").stdout)
    assert js["rule"] == {"authz_excludes": {"mode": "AlwaysAllow"}}


def test_checks_explain_unknown() -> None:
    r = run_cli("checks", "explain", "NOPE-1")
    assert (r.code, r.stderr) == (2, "kapsec: error: no check 'NOPE-1' (see kapsec checks list)\n")


def test_docs_checks_page_is_the_catalog() -> None:
    from kapsec.cli.checks import catalog_markdown

    page = Path(__file__).resolve().parents[2] / "docs" / "checks.md"
    assert page.read_text() == catalog_markdown(), "regenerate with: kapsec checks docs > docs/checks.md"


SNAPSHOT_OBJECTS = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: web}
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: default-deny, namespace: web}
  spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"""


def _snapshot_with_apiserver(tmp_path: Path) -> Path:
    import yaml

    pod = yaml.safe_load((REAL / "kubeadm-v1.29-zeta-linux/kube-apiserver.yaml").read_text())
    doc = yaml.safe_load(SNAPSHOT_OBJECTS)
    doc["items"].append(pod)
    path = tmp_path / "snapshot.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_snapshot_alone_is_a_source(tmp_path: Path) -> None:
    snap = _snapshot_with_apiserver(tmp_path)
    code, report, _ = scan_json("--snapshot", str(snap))
    assert code == 1
    assert report["target"]["file"] == str(snap)  # type: ignore[index]
    assert report["target"]["kubernetesVersion"] == "1.29"  # type: ignore[index]
    s = statuses(report)
    assert (s["AUTHZ-002"], s["NET-001"], s["PSS-001"], s["TLS-004"]) == ("pass", "pass", "fail", "warn")
    authz = next(f for f in report["findings"] if f["id"] == "AUTHZ-002")  # type: ignore[attr-defined]
    lines = snap.read_text().splitlines()
    assert "--authorization-mode=Node,RBAC" in lines[authz["evidence"]["line"] - 1]


def test_snapshot_without_apiserver_pod(tmp_path: Path) -> None:
    snap = tmp_path / "objects.yaml"
    snap.write_text(SNAPSHOT_OBJECTS)
    r = run_cli("scan", "--snapshot", str(snap))
    assert (r.code, r.stderr) == (
        2,
        f"kapsec: error: {snap}: no kube-apiserver pod in kube-system in this snapshot (collect Pods with kapsec snapshot)\n",
    )


def test_cluster_collects_objects_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    import kapsec.sources.cluster

    live = yaml.safe_load(_snapshot_with_apiserver(tmp_path).read_text())
    asked: list[tuple[object, ...]] = []

    def fake_collect(kubeconfig: str | None, context: str | None, kinds: object = None) -> dict[str, object]:
        asked.append((kubeconfig, context, kinds))
        return live  # type: ignore[no-any-return]

    monkeypatch.setattr(kapsec.sources.cluster, "collect_snapshot", fake_collect)
    code, report, _ = scan_json("--cluster", "--kubeconfig", "kc", "--context", "prod")
    assert code == 1
    assert asked == [("kc", "prod", ("Namespace", "Pod", "NetworkPolicy"))]
    assert report["target"]["file"] == "cluster"  # type: ignore[index]
    s = statuses(report)
    assert (s["AUTHZ-003"], s["NET-001"]) == ("pass", "pass")


def test_cluster_and_snapshot_together_is_a_usage_error(tmp_path: Path) -> None:
    snap = _snapshot_with_apiserver(tmp_path)
    r = run_cli("scan", "--cluster", "--snapshot", str(snap))
    assert (r.code, r.stderr) == (2, "kapsec: error: choose --cluster or --snapshot, not both\n")


@pytest.mark.parametrize(
    ("plants", "expected"),
    [
        (
            ("expiring-cert", "world-readable-key"),
            {
                # in scan, warn means "could not evaluate": a certificate expiring within 30 days
                # fails (tls inspect keeps its warning)
                "TLS-004": (
                    "fail",
                    "serving certificate /etc/kubernetes/pki/apiserver.crt: expires in 6 days",
                ),
                "FILE-021": (
                    "fail",
                    "/etc/kubernetes/pki/apiserver.key has mode 0644, more permissive than 0600",
                ),
            },
        ),
        (
            ("wrong-ca",),
            {
                # etcd verifies the client certificate against its own --trusted-ca-file
                "ETCD-004": (
                    "fail",
                    "etcd rejects the API server's client certificate /etc/kubernetes/pki/apiserver-etcd-client.crt: "
                    "not verified by etcd's --trusted-ca-file /etc/kubernetes/pki/etcd/ca.crt "
                    "(/etc/kubernetes/manifests/etcd.yaml:32): issued by 'kubernetes', not by the CA ('etcd-ca')",
                ),
                "ETCD-005": (
                    "pass",
                    "etcd's --cert-file /etc/kubernetes/pki/etcd/server.crt is verified by /etc/kubernetes/pki/etcd/ca.crt",
                ),
            },
        ),
    ],
    ids=["expiring-and-world-readable", "wrong-ca"],
)
def test_problems_planted_by_the_lab_are_found(
    tmp_path: Path, plants: tuple[str, ...], expected: dict[str, tuple[str, str]]
) -> None:
    root = tmp_path / "node"
    args = [a for p in plants for a in ("--plant", p)]
    assert run_cli("lab", "init", str(root), *args).code == 0
    _, report, _ = scan_json("--root", str(root))
    got = {f["id"]: (f["status"], f["message"]) for f in report["findings"]}  # type: ignore[attr-defined]
    for cid, (status, message) in expected.items():
        assert got[cid][0] == status
        assert got[cid][1].startswith(message), got[cid][1]


def test_talos_layout_finds_the_sibling_manifests(tmp_path: Path) -> None:
    manifests = tmp_path / "etc/kubernetes/manifests"
    manifests.mkdir(parents=True)
    talos = REAL / "talos-k8stemplates"
    (manifests / "talos-kube-apiserver.yaml").write_text((talos / "apiserver-minimal.yaml").read_text())
    (manifests / "talos-kube-scheduler.yaml").write_text((talos / "scheduler.yaml").read_text())
    for p in manifests.iterdir():
        p.chmod(0o600)
    _, report, _ = scan_json(
        "--root", str(tmp_path), "--check", "FILE-001", "--check", "FILE-005", "--check", "FILE-003"
    )
    got = {f["id"]: (f["status"], f["message"]) for f in report["findings"]}  # type: ignore[attr-defined]
    assert got == {
        "FILE-001": ("pass", "/etc/kubernetes/manifests/talos-kube-apiserver.yaml: mode 0600 or stricter"),
        "FILE-003": (
            "warn",
            "cannot check: /etc/kubernetes/manifests/kube-controller-manager.yaml not found",
        ),
        "FILE-005": ("pass", "/etc/kubernetes/manifests/talos-kube-scheduler.yaml: mode 0600 or stricter"),
    }


ODD_MANIFESTS = {
    "command-is-a-string": "kind: Pod\nspec:\n  containers:\n  - name: a\n    command: kube-apiserver --profiling=false\n",
    "numbers-in-args": "kind: Pod\nspec:\n  containers:\n  - command: [kube-apiserver]\n    args: [--secure-port, 6443, --profiling=false, 1.5]\n",
    "spec-is-a-list": "kind: Pod\nspec: [1, 2]\n",
    "json-array": '[{"kind": "Pod"}]',
    "scalar-document": "just a string\n",
    "tabs": "kind: Pod\nspec:\n\tcontainers: []\n",
    "volumes-garbage": "kind: Pod\nspec:\n  volumes: [1, {name: x, hostPath: 3}]\n  containers:\n  - command: [kube-apiserver, --audit-log-path=/var/log/a.log]\n    volumeMounts: [7, {name: x, mountPath: /var/log}]\n",
    "probe-garbage": "kind: Pod\nspec:\n  containers:\n  - command: [kube-apiserver]\n    livenessProbe: {httpGet: 5}\n    readinessProbe: {httpGet: {path: 3, port: {a: b}}}\n",
    "list-of-pods": "kind: PodList\nitems:\n- kind: Pod\n  spec: {containers: [{command: [/usr/bin/kube-apiserver, --profiling=false]}]}\n",
    "deployment-template": "kind: Deployment\nspec:\n  template:\n    spec: {containers: [{command: [kube-apiserver]}]}\n",
    "anchors-and-merge": "x: &base {command: [kube-apiserver, --profiling=false]}\nkind: Pod\nspec:\n  containers:\n  - <<: *base\n    name: api\n",
    "duplicate-keys": "kind: Pod\nspec:\n  containers:\n  - command: [kube-apiserver]\n    command: [etcd]\n",
    "empty-flag-name": "kind: Pod\nspec:\n  containers:\n  - command: [kube-apiserver, '--', '--=x', '---x', '-']\n",
}


@pytest.mark.parametrize("name", sorted(ODD_MANIFESTS))
def test_odd_manifests_never_crash(tmp_path: Path, name: str) -> None:
    p = tmp_path / f"{name}.yaml"
    p.write_text(ODD_MANIFESTS[name])
    r = run_cli("scan", "--manifest", str(p), "-o", "json")
    assert "internal error" not in r.stderr, r.stderr
    if r.code == 2:
        assert r.stderr.startswith(f"kapsec: error: {p}"), r.stderr
    else:
        assert r.code in (0, 1)
        assert json.loads(r.stdout)["summary"]["total"] == 67


def test_hostpath_without_path_is_not_the_nodes_disk(tmp_path: Path) -> None:
    p = tmp_path / "m.yaml"
    p.write_text(ODD_MANIFESTS["volumes-garbage"])
    _, report, _ = scan_json("--manifest", str(p), "--check", "AUDIT-007")
    (f,) = report["findings"]  # type: ignore[misc]
    assert (f["status"], f["message"]) == (
        "fail",
        "/var/log/a.log is on a hostPath volume without a path (x), not on the node's disk",
    )


def test_suppressions_become_skip_and_unused_ones_are_reported(lab: Path, tmp_path: Path) -> None:
    sup = tmp_path / "accepted.yaml"
    sup.write_text(
        "suppressions:\n"
        "- id: KUBELET-002\n"
        "  reason: kubelet serving certificates are not signed by our CA yet (OPS-1234)\n"
        "- id: 1.2.2\n"
        "  reason: token file removed last week\n"
    )
    code, report, _ = scan_json("--root", str(lab), "--suppress", str(sup))
    assert code == 1
    got = {f["id"]: (f["status"], f["message"]) for f in report["findings"]}  # type: ignore[attr-defined]
    assert got["KUBELET-002"] == (
        "skip",
        "suppressed: kubelet serving certificates are not signed by our CA yet (OPS-1234) "
        "(was fail: --kubelet-certificate-authority not set)",
    )
    assert got["SUPPRESS-001"] == (
        "warn",
        "the suppression of AUTHN-002 matched no failing or warning finding: remove it",
    )
    unused = next(f for f in report["findings"] if f["id"] == "SUPPRESS-001")  # type: ignore[attr-defined]
    assert unused["evidence"]["line"] == 4
    assert report["summary"]["skip"] == 1  # type: ignore[index]


def test_suppressing_every_failure_makes_the_run_pass(lab: Path, tmp_path: Path) -> None:
    _, report, _ = scan_json("--root", str(lab))
    failing = [f["id"] for f in report["findings"] if f["status"] == "fail"]  # type: ignore[attr-defined]
    sup = tmp_path / "all.yaml"
    sup.write_text(
        "suppressions:\n" + "".join(f"- {{id: {i}, reason: accepted for the lab}}\n" for i in failing)
    )
    code, report, _ = scan_json("--root", str(lab), "--suppress", str(sup))
    assert code == 0
    assert report["summary"]["fail"] == 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "suppressions:\n- id: NOPE-999\n  reason: x\n",
            "2: id: unknown check id 'NOPE-999' (see kapsec checks list)",
        ),
        ("suppressions:\n- id: API-001\n", "2: reason: the suppression of API-001 needs a reason"),
        ("suppressions:\n- id: API-001\n  reason: x\n  until: 2027\n", "4: unknown key 'until'"),
        ("ignore: [API-001]\n", "1: a suppression file is one document with a single 'suppressions' list"),
    ],
    ids=["unknown-id", "no-reason", "unknown-key", "wrong-shape"],
)
def test_bad_suppression_files_are_usage_errors(lab: Path, tmp_path: Path, text: str, message: str) -> None:
    sup = tmp_path / "s.yaml"
    sup.write_text(text)
    r = run_cli("scan", "--root", str(lab), "--suppress", str(sup))
    assert (r.code, r.stderr) == (2, f"kapsec: error: {sup}:{message}\n")


def test_checks_can_be_named_by_cis_id(lab: Path) -> None:
    _, report, _ = scan_json(
        "--root", str(lab), "--check", "1.2.1", "--check", "cis-1.8:1.2.16", "--check", "FILE-001"
    )
    assert sorted(statuses(report)) == [
        "API-001",
        "AUTHN-001",
        "FILE-001",
    ]  # 1.2.16 in CIS 1.8 is --profiling
    _, report, _ = scan_json("--root", str(lab), "--check", "AUTHZ", "--skip", "1.2.7")
    assert sorted(statuses(report)) == ["AUTHZ-001", "AUTHZ-003"]
