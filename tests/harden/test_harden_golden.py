"""Golden before/after manifests and generated files for each profile and each layout.

The goldens under ``tests/data/harden/golden/`` were reviewed by hand; ``KAPSEC_UPDATE_GOLDEN=1``
rewrites them (review the git diff before committing). Key material never appears: the
encryption key is redacted in the diff, and compared by shape in the written file.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from helpers import DATA, run_cli

GOLDEN = DATA / "harden" / "golden"
MANIFEST = {
    "kubeadm-lab": "etc/kubernetes/manifests/kube-apiserver.yaml",
    "rke2-lab": "var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml",
    "hand-edited": "etc/kubernetes/manifests/kube-apiserver.yaml",
}
CASES = ("kubeadm-lab", "rke2-lab", "hand-edited")
PROFILES = ("guide", "guide-moderate", "cis")
UPDATE = bool(os.environ.get("KAPSEC_UPDATE_GOLDEN"))
_HASH = re.compile(r"(value: )[0-9a-f]{64}$", re.M)  # RKE2's FILE_HASH depends on the (random) certificates


def _norm(text: str) -> str:
    return _HASH.sub(r"\1<FILE_HASH>", text)


def _golden(path: Path, actual: str) -> str:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
    return path.read_text()


def _removed_added(diff: str, manifest: str) -> tuple[list[str], list[str]]:
    """The - and + lines of the manifest's part of a unified diff."""
    part = diff.split(f"+++ b/{manifest}\n", 1)[1].split("--- /dev/null", 1)[0]
    removed = [ln[1:] for ln in part.splitlines() if ln.startswith("-")]
    added = [ln[1:] for ln in part.splitlines() if ln.startswith("+")]
    return removed, added


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("case", CASES)
def test_harden_golden_diff_apply_and_idempotence(
    case: str, profile: str, fresh: Callable[[str], Path]
) -> None:
    root = fresh(case)
    manifest = root / MANIFEST[case]
    before = manifest.read_text()

    plan = run_cli("harden", "--root", str(root), "--profile", profile)
    assert plan.code == 1, plan.stderr  # changes to make
    assert _norm(plan.stdout) == _golden(GOLDEN / case / f"{profile}.diff", _norm(plan.stdout))
    assert manifest.read_text() == before  # a dry run writes nothing

    applied = run_cli("harden", "--root", str(root), "--profile", profile, "--apply")
    assert applied.code == 0, applied.stderr
    after = manifest.read_text()
    assert _norm(after) == _golden(GOLDEN / case / f"{profile}.after.yaml", _norm(after))

    # every line the diff does not remove is still there, byte for byte, in order
    removed, added = _removed_added(plan.stdout, MANIFEST[case])
    b_lines, a_lines = before.splitlines(), after.splitlines()
    matcher = difflib.SequenceMatcher(None, b_lines, a_lines, autojunk=False)
    same = sum(size for *_, size in matcher.get_matching_blocks())
    assert same == len(b_lines) - len(removed) == len(a_lines) - len(added)

    # the generated files: exactly those the diff showed, 0600, equal to it except the key
    hardening = {
        "kubeadm-lab": "etc/kubernetes/hardening",
        "hand-edited": "etc/kubernetes/hardening",
        "rke2-lab": "etc/rancher/rke2/hardening",
    }[case]
    shown = sorted(re.findall(r"^\+\+\+ b/(\S+)$", plan.stdout, re.M))
    written = sorted(str(p.relative_to(root)) for p in (root / hardening).iterdir())
    assert written == [s for s in shown if s != MANIFEST[case]]
    for rel in written:
        f = root / rel
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        text = f.read_text()
        shown_text = "".join(
            ln[1:] + "\n"
            for ln in plan.stdout.split(f"+++ b/{rel}\n", 1)[1].split("\n--- ", 1)[0].splitlines()[1:]
        )
        if "encryption-config" in rel:
            key = re.search(r"secret: (\S+)", text)
            assert key is not None
            assert len(key.group(1)) == 44  # base64 of 32 random bytes
            assert shown_text == text.replace(
                key.group(1), "<redacted: random key, written only to the file>"
            )
        else:
            assert shown_text == text

    again = run_cli("harden", "--root", str(root), "--profile", profile)
    assert again.code == 0, again.stderr
    assert again.stdout == ""
    assert "nothing to change" in again.stderr


def test_harden_kubeadm_lab_is_only_added_to(fresh: Callable[[str], Path]) -> None:
    """kubeadm's manifest gains lines; not one of its lines is changed or removed."""
    root = fresh("kubeadm-lab")
    plan = run_cli("harden", "--root", str(root))
    removed, added = _removed_added(plan.stdout, MANIFEST["kubeadm-lab"])
    assert removed == []
    assert len([a for a in added if a.startswith("    - --")]) == 10  # flags
    assert len(added) == 10 + 5 + 8  # and two mounts, two hostPath volumes


def test_harden_hand_edited_keeps_comments_and_style(fresh: Callable[[str], Path]) -> None:
    root = fresh("hand-edited")
    manifest = root / MANIFEST["hand-edited"]
    before = manifest.read_text()
    assert run_cli("harden", "--root", str(root), "--apply").code == 0
    after = manifest.read_text()
    for comment in [ln for ln in before.splitlines() if "#" in ln and "--audit-log" not in ln]:
        assert comment in after.splitlines()
    assert (
        '            - "--audit-log-path=/var/log/kubernetes/audit/audit.log"' in after
    )  # quoted like its list
    assert '"--anonymous-auth=true"' not in after  # refused next to an anonymous stanza
    doc = yaml.safe_load(after)
    audit = next(v for v in doc["spec"]["volumes"] if v["name"] == "audit")
    assert audit["hostPath"] == {"path": "/var/log/kubernetes/audit", "type": "DirectoryOrCreate"}
    mount = next(m for m in doc["spec"]["containers"][0]["volumeMounts"] if m["name"] == "audit")
    assert mount == {"name": "audit", "mountPath": "/var/log/kubernetes/audit"}
