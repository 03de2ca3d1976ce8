"""The format-preserving patcher on its own: exact edits, the refusals, and every real
manifest vendored in tests/data/control-plane-manifests (kubeadm 1.10-1.29, minikube, kOps with
/go-runner, Talos)."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest
import yaml

from helpers import DATA, run_cli
from kapsec.errors import InputError
from kapsec.harden.patch import ManifestEdits, MountSpec, patch_manifest

REAL = DATA / "control-plane-manifests"

BASE = """\
apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver   # keep me
spec:
  containers:
  - command:
    - kube-apiserver
    - --authorization-mode=Node,RBAC
    - --profiling=true
    - --tls-cert-file=/pki/a.crt
    image: registry.k8s.io/kube-apiserver:v1.34.0
    name: kube-apiserver
    volumeMounts:
    - mountPath: /pki
      name: pki
      readOnly: true
  volumes:
  - hostPath:
      path: /pki
      type: DirectoryOrCreate
    name: pki
"""


def _changed(old: str, new: str) -> list[str]:
    return [
        ln
        for ln in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if ln[:1] in "+-" and not ln.startswith(("+++", "---"))
    ]


def test_harden_patch_sets_in_place_and_inserts_sorted() -> None:
    new = patch_manifest(
        BASE, "m.yaml", ManifestEdits(set_flags=(("profiling", "false"), ("audit-log-maxage", "30")))
    )
    assert _changed(BASE, new) == [
        "+    - --audit-log-maxage=30",
        "-    - --profiling=true",
        "+    - --profiling=false",
    ]


def test_harden_patch_unsorted_flags_get_new_ones_at_the_end() -> None:
    text = BASE.replace("    - --authorization-mode=Node,RBAC\n", "").replace(
        "    - --tls-cert-file=/pki/a.crt\n",
        "    - --tls-cert-file=/pki/a.crt\n    - --authorization-mode=Node,RBAC\n",
    )
    new = patch_manifest(text, "m.yaml", ManifestEdits(set_flags=(("audit-log-maxage", "30"),)))
    assert new.splitlines()[11] == "    - --audit-log-maxage=30"
    assert new.splitlines()[10] == "    - --authorization-mode=Node,RBAC"


def test_harden_patch_two_word_flag_and_repeats_and_removal() -> None:
    text = BASE.replace(
        "    - --profiling=true\n",
        "    - --audit-log-path\n    - /var/log/a.log\n    - --profiling=true\n    - --anonymous-auth=false\n    - --profiling\n",
    )
    new = patch_manifest(
        text,
        "m.yaml",
        ManifestEdits(
            set_flags=(("audit-log-path", "/var/log/k/audit.log"), ("profiling", "false")),
            remove_flags=("anonymous-auth",),
        ),
    )
    assert _changed(text, new) == [
        "-    - --audit-log-path",
        "-    - /var/log/a.log",
        "-    - --profiling=true",
        "-    - --anonymous-auth=false",
        "-    - --profiling",
        "+    - --audit-log-path=/var/log/k/audit.log",
        "+    - --profiling=false",
    ]
    # the two-word flag becomes one word where it was; the last --profiling is the one kept
    assert new.splitlines()[9:12] == [
        "    - --audit-log-path=/var/log/k/audit.log",
        "    - --profiling=false",
        "    - --tls-cert-file=/pki/a.crt",
    ]


def test_harden_patch_adds_mounts_and_volumes_in_the_files_style() -> None:
    new = patch_manifest(
        BASE,
        "m.yaml",
        ManifestEdits(
            add_mounts=(MountSpec("audit", "/var/log/k", "/var/log/k", "DirectoryOrCreate", False),)
        ),
    )
    assert _changed(BASE, new) == [
        "+    - mountPath: /var/log/k",
        "+      name: audit",
        "+  - hostPath:",
        "+      path: /var/log/k",
        "+      type: DirectoryOrCreate",
        "+    name: audit",
    ]


def test_harden_patch_creates_missing_mount_lists() -> None:
    text = BASE.split("    volumeMounts:", maxsplit=1)[0]
    new = patch_manifest(
        text,
        "m.yaml",
        ManifestEdits(add_mounts=(MountSpec("cfg", "/etc/k", "/etc/k", "DirectoryOrCreate", True),)),
    )
    doc = yaml.safe_load(new)
    assert doc["spec"]["containers"][0]["volumeMounts"] == [
        {"mountPath": "/etc/k", "name": "cfg", "readOnly": True}
    ]
    assert doc["spec"]["volumes"] == [
        {"hostPath": {"path": "/etc/k", "type": "DirectoryOrCreate"}, "name": "cfg"}
    ]
    assert new.startswith(text)


def test_harden_patch_keeps_crlf_free_text_and_missing_final_newline() -> None:
    text = BASE.rstrip("\n")
    new = patch_manifest(text, "m.yaml", ManifestEdits(set_flags=(("profiling", "false"),)))
    assert not new.endswith("\n")
    assert new.endswith("    name: pki")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            BASE.replace(
                "  - command:\n    - kube-apiserver\n",
                '  - command: ["sh", "-c", "kube-apiserver --profiling=true"]\n',
            ).replace(
                "    - --authorization-mode=Node,RBAC\n    - --profiling=true\n    - --tls-cert-file=/pki/a.crt\n",
                "",
            ),
            "m.yaml: the API server is started through a shell command string; edit its flags by hand",
        ),
        (
            BASE.replace(
                "  - command:\n    - kube-apiserver\n    - --authorization-mode=Node,RBAC\n    - --profiling=true\n    - --tls-cert-file=/pki/a.crt\n",
                "  - command: [kube-apiserver, --profiling=true]\n",
            ),
            "m.yaml: the list holding --profiling is written in flow style ([...]); kapsec harden edits block lists only (one item per line)",
        ),
        (
            BASE.replace("    - --profiling=true\n", "    - >-\n      --profiling=true\n"),
            "m.yaml:10: cannot edit --profiling in place: its value is not a single-line scalar; edit it by hand",
        ),
        (
            BASE + "---\n" + BASE,
            "m.yaml: expected one Pod document, found 2: kapsec harden edits single-document manifests",
        ),
        ("spec: [\n", "m.yaml:2: invalid YAML"),
    ],
)
def test_harden_patch_refusals(text: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        patch_manifest(text, "m.yaml", ManifestEdits(set_flags=(("profiling", "false"),)))
    assert str(exc.value).startswith(message)


REAL_APISERVERS = sorted(
    p
    for p in REAL.rglob("*")
    if p.is_file() and ("apiserver" in p.name) and p.suffix in (".yaml", ".manifest")
)


@pytest.mark.parametrize("path", REAL_APISERVERS, ids=lambda p: str(p.relative_to(REAL)))
def test_harden_real_manifests_change_only_what_they_must(path: Path) -> None:
    """On each real manifest the plan is made, the patch re-parses to the intended manifest
    (checked inside the patcher), and only flag lines and the audit values are replaced."""
    r = run_cli("harden", "--manifest", str(path), "-o", "json")
    assert r.code == 1, r.stderr
    diff = json.loads(r.stdout)["diff"]
    manifest_part = diff.split("--- /dev/null", 1)[0]
    removed = [ln[1:] for ln in manifest_part.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    assert all(ln.lstrip().startswith(("- --", "- /", "path:", "type:", "mountPath:")) for ln in removed), (
        removed
    )


def test_harden_kops_go_runner_prefix_is_not_a_flag_list() -> None:
    path = REAL / "kops-nodeup-golden/audit/kube-apiserver.manifest"
    r = run_cli("harden", "--manifest", str(path), "-o", "json")
    diff = json.loads(r.stdout)["diff"]
    assert "-    - --log-file=/var/log/kube-apiserver.log" not in diff
    assert "-    - --also-stdout" not in diff
    # the audit policy kapsec cannot read is not replaced: advice instead
    out = json.loads(r.stdout)
    advice = [c for c in out["changes"] if c["check"] == "AUDIT-005"]
    assert [c["action"] for c in advice] == ["advice"]
    assert advice[0]["reason"].startswith(
        "not changed: kapsec could not evaluate it (cannot read --audit-policy-file"
    )
