"""``kapsec harden --apply``: atomic, backed up, validated, idempotent, no key in any output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from helpers import run_cli
from kapsec.sources.apiserver import from_kubeadm_config, from_manifest

KUBEADM = "etc/kubernetes/manifests/kube-apiserver.yaml"
STATIC = ["etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]


def _static_dir(root: Path) -> list[str]:
    return sorted(os.listdir(root / "etc/kubernetes/manifests"))


def test_harden_apply_writes_backup_outside_and_leaves_only_manifests(fresh: Callable[[str], Path]) -> None:
    root = fresh("kubeadm-lab")
    before = (root / KUBEADM).read_bytes()
    r = run_cli("harden", "--root", str(root), "--apply", "-o", "json")
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["applied"] is True
    assert _static_dir(root) == STATIC  # no temporary file, no backup, no second API server
    backup = Path(out["backup"])
    assert backup.parent == root / "var/lib/kapsec/backups"
    assert (backup / "kube-apiserver.yaml").read_bytes() == before
    assert oct((backup / "kube-apiserver.yaml").stat().st_mode & 0o777) == "0o600"
    meta = json.loads((backup / "kapsec-backup.json").read_text())
    assert meta["manifest"] == "/" + KUBEADM
    assert sorted(meta["created"]) == sorted(out["written"])
    assert oct((root / KUBEADM).stat().st_mode & 0o777) == "0o600"  # the mode is kept


def test_harden_rollback_restores_the_latest_backup(fresh: Callable[[str], Path]) -> None:
    root = fresh("kubeadm-lab")
    before = (root / KUBEADM).read_bytes()
    assert run_cli("harden", "--root", str(root), "--apply").code == 0
    assert (root / KUBEADM).read_bytes() != before
    r = run_cli("harden", "--root", str(root), "--rollback")
    assert r.code == 0, r.stderr
    assert r.stdout.startswith(f"restored /{KUBEADM} from ")
    assert (root / KUBEADM).read_bytes() == before
    assert _static_dir(root) == STATIC
    # the generated files are left in place (an encryption key must never be lost) and a new
    # apply reuses them instead of refusing
    assert (root / "etc/kubernetes/hardening/encryption-config.yaml").exists()
    again = run_cli("harden", "--root", str(root), "--apply")
    assert again.code == 0, again.stderr
    assert "exists: it is used as is" in again.stderr


def test_harden_rollback_without_backup_is_an_input_error(fresh: Callable[[str], Path]) -> None:
    root = fresh("kubeadm-lab")
    r = run_cli("harden", "--root", str(root), "--rollback")
    assert r.code == 2
    assert "no backup directory" in r.stderr


def test_harden_apply_is_atomic_when_the_rename_fails(
    fresh: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = fresh("kubeadm-lab")
    before = (root / KUBEADM).read_bytes()
    real_replace = os.replace

    def failing(src: str, dst: str) -> None:
        if str(dst).endswith("manifests/kube-apiserver.yaml"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    r = run_cli("harden", "--root", str(root), "--apply")
    assert r.code == 2
    assert "No space left on device" in r.stderr.splitlines()[-2]
    assert (root / KUBEADM).read_bytes() == before
    assert _static_dir(root) == STATIC  # the temporary file was removed
    # the files written for the change were taken back too
    assert not (root / "etc/kubernetes/hardening/audit-policy.yaml").exists()


def test_harden_apply_killed_midway_leaves_the_old_manifest(fresh: Callable[[str], Path]) -> None:
    """A process killed (SIGKILL) between writing the temporary file and renaming it."""
    root = fresh("kubeadm-lab")
    before = (root / KUBEADM).read_bytes()
    script = (
        "import os, signal, sys\n"
        "real = os.replace\n"
        "def replace(src, dst):\n"
        "    if str(dst).endswith('manifests/kube-apiserver.yaml'):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    real(src, dst)\n"
        "os.replace = replace\n"
        "from kapsec.cli import main\n"
        "sys.argv = ['kapsec', 'harden', '--root', sys.argv[1], '--apply']\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(root)], capture_output=True, check=False, timeout=60
    )
    assert proc.returncode == -9
    assert (root / KUBEADM).read_bytes() == before
    # only a dot file is left, which the kubelet ignores; the next run replaces it
    assert [n for n in _static_dir(root) if not n.startswith(".")] == STATIC
    assert [n for n in _static_dir(root) if n.startswith(".")] == [".kube-apiserver.yaml.kapsec.tmp"]
    r = run_cli("harden", "--root", str(root), "--apply")
    assert r.code == 0, r.stderr
    assert _static_dir(root) == STATIC


def test_harden_no_key_material_in_any_output(fresh: Callable[[str], Path]) -> None:
    root = fresh("kubeadm-lab")
    streams = []
    for args in (["-o", "json"], []):
        r = run_cli("harden", "--root", str(root), *args)
        streams += [r.stdout, r.stderr]
    r = run_cli("harden", "--root", str(root), "--apply", "-o", "json")
    assert r.code == 0, r.stderr
    streams += [r.stdout, r.stderr]
    r = run_cli("harden", "--root", str(root), "--rollback")
    streams += [r.stdout, r.stderr]
    text = (root / "etc/kubernetes/hardening/encryption-config.yaml").read_text()
    m = re.search(r"secret: (\S+)", text)
    assert m is not None
    key = m.group(1)
    assert len(key) == 44
    for s in streams:
        assert key not in s
    # nor in anything else kapsec wrote outside the key file
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            if p.name != "encryption-config.yaml" and not p.is_symlink():
                assert key.encode() not in p.read_bytes(), p


def test_harden_refuses_a_flag_value_the_server_rejects(fresh: Callable[[str], Path]) -> None:
    root = fresh("kubeadm-lab")
    before = (root / KUBEADM).read_bytes()
    r = run_cli("harden", "--root", str(root), "--apply", "--set", "audit-log-maxage=thirty")
    assert r.code == 2
    assert r.stderr.splitlines()[-1] == (
        f"kapsec: error: /{KUBEADM}:18: the new manifest would not start: "
        'invalid argument "thirty" for "--audit-log-maxage" flag: strconv.ParseInt: parsing "thirty": invalid syntax'
    )
    assert (root / KUBEADM).read_bytes() == before
    assert not (root / "etc/kubernetes/hardening").exists()
    assert not (root / "var/lib/kapsec").exists()


def test_harden_refuses_a_generated_file_that_fails_validation(
    fresh: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kapsec.auditpolicy import profiles

    monkeypatch.setattr(
        profiles,
        "generate_profile",
        lambda name: "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Everything\n",
    )
    root = fresh("kubeadm-lab")
    before = (root / KUBEADM).read_bytes()
    r = run_cli("harden", "--root", str(root), "--apply")
    assert r.code == 2
    assert "Everything" in r.stderr.splitlines()[-1]
    assert r.stderr.splitlines()[-1].startswith("kapsec: error: /etc/kubernetes/hardening/audit-policy.yaml")
    assert (root / KUBEADM).read_bytes() == before
    assert not (root / "etc/kubernetes/hardening").exists()


def test_harden_refuses_a_referenced_file_that_does_not_exist(fresh: Callable[[str], Path]) -> None:
    """FLAG-003 on the new configuration, with the generated files in place, before the manifest."""
    root = fresh("kubeadm-lab")
    before = (root / KUBEADM).read_bytes()
    r = run_cli(
        "harden",
        "--root",
        str(root),
        "--apply",
        "--set",
        "service-account-key-file=/etc/kubernetes/pki/nope.pub",
    )
    assert r.code == 2
    assert "the new configuration would not start" in r.stderr
    assert "nope.pub" in r.stderr
    assert (root / KUBEADM).read_bytes() == before
    assert sorted(os.listdir(root / "etc/kubernetes/hardening")) == [
        "kubeadm-clusterconfiguration.v1beta3.yaml",
        "kubeadm-clusterconfiguration.v1beta4.yaml",
    ]  # the configs written for the change were taken back; only the kubeadm notes remain
    assert not (root / "var/lib/kapsec").exists()


def test_harden_refuses_to_overwrite_a_different_config_file(fresh: Callable[[str], Path]) -> None:
    root = fresh("kubeadm-lab")
    d = root / "etc/kubernetes/hardening"
    d.mkdir(parents=True)
    (d / "audit-policy.yaml").write_text("# mine\n")
    r = run_cli("harden", "--root", str(root), "--apply")
    assert r.code == 2
    assert r.stderr.splitlines()[-1] == (
        "kapsec: error: /etc/kubernetes/hardening/audit-policy.yaml: exists already with other contents; "
        "kapsec does not overwrite configuration files (move it away, or choose another --config-dir)"
    )
    assert (d / "audit-policy.yaml").read_text() == "# mine\n"


def test_harden_refuses_a_backup_dir_inside_the_static_pod_directory(fresh: Callable[[str], Path]) -> None:
    root = fresh("kubeadm-lab")
    r = run_cli(
        "harden", "--root", str(root), "--apply", "--backup-dir", str(root / "etc/kubernetes/manifests/bk")
    )
    assert r.code == 2
    assert "inside the static pod directory" in r.stderr
    assert _static_dir(root) == STATIC


def test_harden_bad_inputs_are_clear_errors(fresh: Callable[[str], Path], tmp_path: Path) -> None:
    assert run_cli("harden", "--root", str(tmp_path / "nope")).stderr == (
        f"kapsec: error: --root {tmp_path / 'nope'}: no such directory\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec: [\n")
    r = run_cli("harden", "--manifest", str(bad))
    assert r.code == 2
    assert r.stderr.startswith(f"kapsec: error: {bad}:")
    r = run_cli("harden", "--root", str(fresh("kubeadm-lab")), "--set", "no-such-flag=1")
    assert r.code == 2
    assert "--no-such-flag is not a kube-apiserver flag known to kapsec" in r.stderr
    r = run_cli("harden", "--root", str(fresh("rke2-lab")), "--set", "profiling")
    assert r.code == 2
    assert "expected FLAG=VALUE" in r.stderr


def test_harden_allow_privileged_needs_set_and_lists_what_it_stops(
    fresh: Callable[[str], Path], tmp_path: Path
) -> None:
    root = fresh("kubeadm-lab")
    plan = run_cli("harden", "--root", str(root), "-o", "json")
    assert not any(c["target"] == "--allow-privileged" for c in json.loads(plan.stdout)["changes"])
    snap = tmp_path / "snap.yaml"
    snap.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "DaemonSet",
                        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
                        "spec": {
                            "template": {
                                "spec": {
                                    "containers": [
                                        {"name": "kube-proxy", "securityContext": {"privileged": True}}
                                    ]
                                }
                            }
                        },
                    },
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {
                            "name": "kube-proxy-abcde",
                            "namespace": "kube-system",
                            "ownerReferences": [
                                {"kind": "DaemonSet", "name": "kube-proxy", "controller": True}
                            ],
                        },
                        "spec": {
                            "containers": [{"name": "kube-proxy", "securityContext": {"privileged": True}}]
                        },
                    },
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {"name": "web", "namespace": "shop"},
                        "spec": {"template": {"spec": {"containers": [{"name": "web"}]}}},
                    },
                ],
            }
        )
    )
    r = run_cli("harden", "--root", str(root), "--set", "allow-privileged=false", "-o", "json")
    change = next(c for c in json.loads(r.stdout)["changes"] if c["target"] == "--allow-privileged")
    assert change["check"] == "PRIV-001"
    assert change["safety"] == "risky"
    assert "UNKNOWN what it stops" in change["reason"]
    refused = run_cli("harden", "--root", str(root), "--set", "allow-privileged=false", "--apply")
    assert refused.code == 2
    assert "give --snapshot FILE" in refused.stderr
    r = run_cli(
        "harden",
        "--root",
        str(root),
        "--set",
        "allow-privileged=false",
        "--snapshot",
        str(snap),
        "-o",
        "json",
    )
    change = next(c for c in json.loads(r.stdout)["changes"] if c["target"] == "--allow-privileged")
    assert change["reason"] == (
        "asked for with --set; it stops 1 privileged workload(s): DaemonSet kube-system/kube-proxy (kube-proxy)"
    )
    # with the explicit opt-in, the PodSecurity default is not needed to pass PRIV-001
    assert not any(c["target"] == "--admission-control-config-file" for c in json.loads(r.stdout)["changes"])
    applied = run_cli(
        "harden", "--root", str(root), "--set", "allow-privileged=false", "--snapshot", str(snap), "--apply"
    )
    assert applied.code == 0, applied.stderr
    assert "- --allow-privileged=false\n" in (root / KUBEADM).read_text()


def test_harden_anonymous_on_a_version_without_conditional_anonymous(fresh: Callable[[str], Path]) -> None:
    root = fresh("kubeadm-lab-1.30")
    r = run_cli("harden", "--root", str(root), "-o", "json")
    out = json.loads(r.stdout)
    advice = next(c for c in out["changes"] if c["check"] == "AUTHN-001")
    assert advice["action"] == "advice"
    assert "Kubernetes 1.30 cannot limit anonymous access" in advice["reason"]
    assert "--set anonymous-auth=false" in advice["reason"]
    assert not any(
        c["target"] in ("--authentication-config", "--anonymous-auth") and c["action"] != "advice"
        for c in out["changes"]
    )
    r = run_cli("harden", "--root", str(root), "--set", "anonymous-auth=false", "-o", "json")
    change = next(c for c in json.loads(r.stdout)["changes"] if c["target"] == "--anonymous-auth")
    assert change["reason"] == (
        "asked for with --set; the kubelet's httpGet probes (liveness /livez, readiness /readyz, startup /livez) "
        "are unauthenticated and will fail: change them first"
    )


def test_harden_authentication_config_matches_the_oracle(fresh: Callable[[str], Path]) -> None:
    """The written file means what the v1.36 oracle's case (c) file means, and --anonymous-auth is absent."""
    from helpers import DATA

    root = fresh("kubeadm-lab")
    assert run_cli("harden", "--root", str(root), "--apply").code == 0
    ours = yaml.safe_load((root / "etc/kubernetes/hardening/authentication-config.yaml").read_text())
    oracle = yaml.safe_load(
        (DATA / "oracle-1.36/anonymous-health/authn-anonymous-health-v1.yaml").read_text()
    )
    assert ours == oracle
    cfg = from_manifest(str(root / KUBEADM))
    assert not cfg.is_set("anonymous-auth")


@pytest.mark.parametrize("version", ["v1beta3", "v1beta4"])
def test_harden_kubeadm_fragment_gives_kubeadm_the_same_flags(
    fresh: Callable[[str], Path], version: str
) -> None:
    root = fresh("kubeadm-lab")
    r = run_cli("harden", "--root", str(root), "--apply")
    assert r.code == 0
    assert "so the hardening survives upgrades" in r.stderr
    frag = root / f"etc/kubernetes/hardening/kubeadm-clusterconfiguration.{version}.yaml"
    from_kubeadm = from_kubeadm_config(str(frag))
    manifest = from_manifest(str(root / KUBEADM))
    want = {o.name: o.value for o in manifest.occurrences if o.name != "advertise-address"}
    got = {o.name: o.value for o in from_kubeadm.occurrences}
    assert got == want
    mounts = {m.name: (m.mount_path, m.read_only) for m in from_kubeadm.mounts}
    assert mounts["audit-log"] == ("/var/log/kubernetes/audit", False)
    assert mounts["kapsec-hardening"] == ("/etc/kubernetes/hardening", True)


def test_harden_rke2_says_where_the_change_must_also_go(fresh: Callable[[str], Path]) -> None:
    r = run_cli("harden", "--root", str(fresh("rke2-lab")))
    assert (
        "kapsec: note: RKE2 rewrites this manifest from /etc/rancher/rke2/config.yaml when it restarts; add there:\n"
        "  kube-apiserver-arg:\n"
        '    - "audit-policy-file=/etc/rancher/rke2/hardening/audit-policy.yaml"\n'
        "  kube-apiserver-extra-mount:\n"
        '    - "/etc/rancher/rke2/hardening:/etc/rancher/rke2/hardening:ro"\n'
    ) in r.stderr


def test_harden_aescbc_only_on_request_with_the_warning(fresh: Callable[[str], Path]) -> None:
    root = fresh("kubeadm-lab")
    r = run_cli("harden", "--root", str(root), "--encryption-provider", "aescbc", "--apply")
    assert r.code == 0, r.stderr
    assert "aescbc: the upstream documentation rates it weak" in r.stderr
    text = (root / "etc/kubernetes/hardening/encryption-config.yaml").read_text()
    assert "      - aescbc:\n" in text
    default = fresh("hand-edited")
    assert run_cli("harden", "--root", str(default), "--apply").code == 0
    assert "      - secretbox:\n" in (default / "etc/kubernetes/hardening/encryption-config.yaml").read_text()


def test_harden_skip_leaves_a_check_alone(fresh: Callable[[str], Path]) -> None:
    root = fresh("kubeadm-lab")
    r = run_cli("harden", "--root", str(root), "--skip", "ENC-001", "--skip", "tls-003", "-o", "json")
    out = json.loads(r.stdout)
    checks = {c["check"] for c in out["changes"]}
    assert "ENC-001" not in checks
    assert "TLS-003" not in checks
    assert "AUDIT-001" in checks
    assert all("encryption" not in f["path"] for f in out["files"])


def test_harden_replaces_a_probe_breaking_anonymous_auth_false(fresh: Callable[[str], Path]) -> None:
    """The guide's --anonymous-auth=false passes AUTHN-001 but fails the kubelet's httpGet probe:
    on 1.33 kapsec swaps it for the health-only AuthenticationConfiguration."""
    root = fresh("hand-edited")
    m = root / "etc/kubernetes/manifests/kube-apiserver.yaml"
    m.write_text(m.read_text().replace('"--anonymous-auth=true"', '"--anonymous-auth=false"'))
    r = run_cli("harden", "--root", str(root), "-o", "json")
    out = json.loads(r.stdout)
    anon = [(c["action"], c["target"]) for c in out["changes"] if c["check"] == "AUTHN-001"]
    assert anon == [
        ("write-file", "/etc/kubernetes/hardening/authentication-config.yaml"),
        ("set-flag", "--authentication-config"),
        ("remove-flag", "--anonymous-auth"),
    ]
    assert out["notes"][0] == (
        "--anonymous-auth=false makes the kubelet's unauthenticated probes (liveness /livez) fail with 401, "
        "and the API server restarts in a loop: kapsec keeps anonymous authentication for the health endpoints "
        "only instead"
    )
    assert run_cli("harden", "--root", str(root), "--apply").code == 0
    ours = yaml.safe_load((root / "etc/kubernetes/hardening/authentication-config.yaml").read_text())
    assert ours["apiVersion"] == "apiserver.config.k8s.io/v1beta1"  # 1.33: v1 arrives with 1.34
    assert "--anonymous-auth" not in m.read_text()
    assert run_cli("harden", "--root", str(root)).code == 0  # and it stays fixed


def test_harden_probe_breaking_anonymous_on_an_old_version_is_explained(fresh: Callable[[str], Path]) -> None:
    root = fresh("kubeadm-lab-1.30")
    assert run_cli("harden", "--root", str(root), "--set", "anonymous-auth=false", "--apply").code == 0
    r = run_cli("harden", "--root", str(root), "-o", "json")
    advice = [c for c in json.loads(r.stdout)["changes"] if c["check"] == "AUTHN-001"]
    assert [c["action"] for c in advice] == ["advice"]
    assert advice[0]["reason"].startswith(
        "--anonymous-auth=false makes the kubelet's unauthenticated probes (liveness /livez, readiness /readyz, "
        "startup /livez) fail with 401: change them to tcpSocket"
    )


def test_harden_wait_and_duration_usage_errors(fresh: Callable[[str], Path]) -> None:
    root = fresh("kubeadm-lab")
    r = run_cli("harden", "--root", str(root), "--wait")
    assert (r.code, r.stderr) == (2, "kapsec: error: --wait needs --apply\n")
    r = run_cli("harden", "--root", str(root), "--apply", "--wait", "--timeout", "5x")
    assert r.code == 2
    assert "not a duration: '5x' (e.g. 90s, 2m)" in r.stderr
    assert (root / "etc/kubernetes/hardening").exists() is False


def test_harden_refuses_to_replace_a_symlinked_manifest(fresh: Callable[[str], Path]) -> None:
    root = fresh("kubeadm-lab")
    real = root / "srv-kube-apiserver.yaml"
    (root / KUBEADM).rename(real)
    (root / KUBEADM).symlink_to(real)
    r = run_cli("harden", "--root", str(root), "--apply")
    assert r.code == 2
    assert r.stderr.splitlines()[-1] == (
        f"kapsec: error: /{KUBEADM}: is a symbolic link: replacing it atomically would replace the link, "
        "not its target; edit the target with --manifest"
    )
    assert (root / KUBEADM).is_symlink()


SNAPSHOT = """\
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: DaemonSet
  metadata: {name: kube-proxy, namespace: kube-system}
  spec: {template: {spec: {containers: [{name: kube-proxy, image: k, securityContext: {privileged: true}}]}}}
- apiVersion: apps/v1
  kind: DaemonSet
  metadata: {name: calico-node, namespace: calico-system}
  spec: {template: {spec: {hostNetwork: true, containers: [{name: calico-node, image: c, securityContext: {privileged: true}}]}}}
- apiVersion: v1
  kind: Namespace
  metadata: {name: calico-system}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: shop}
  spec: {template: {spec: {containers: [{name: web, image: w}]}}}
"""


def test_harden_snapshot_shows_what_the_pod_security_default_refuses(
    fresh: Callable[[str], Path], tmp_path: Path
) -> None:
    """kube-system is exempt; calico-node (privileged, hostNetwork) in its own namespace is not."""
    snap = tmp_path / "snap.yaml"
    snap.write_text(SNAPSHOT)
    kubeadm = fresh("kubeadm-lab")
    r = run_cli("harden", "--root", str(kubeadm), "--snapshot", str(snap), "-o", "json")
    assert json.loads(r.stdout)["notes"] == [
        "the PodSecurity default (enforce baseline) would refuse new pods of 1 workload(s) in the snapshot: "
        "DaemonSet/calico-system/calico-node. Running pods keep running, but re-created ones (a node restart, "
        "a rollout) are refused: label those namespaces (kapsec pss simulate shows the commands) or --skip PRIV-001"
    ]
    labelled = SNAPSHOT.replace(
        "  metadata: {name: calico-system}",
        "  metadata: {name: calico-system, labels: {pod-security.kubernetes.io/enforce: privileged}}",
    )
    snap.write_text(labelled)
    r = run_cli("harden", "--root", str(fresh("rke2-lab")), "--snapshot", str(snap), "-o", "json")
    assert "would refuse" not in r.stdout  # the RKE2 lab has its own admission config: nothing written
    r = run_cli("harden", "--root", str(kubeadm), "--snapshot", str(snap), "-o", "json")
    assert json.loads(r.stdout)["notes"] == [
        "the PodSecurity default (enforce baseline) refuses none of the snapshot's workloads"
    ]
