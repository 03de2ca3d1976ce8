"""`kapsec scan --snapshot` reports the checklist's "network policies implemented" and "pod
security standards enforced" from a snapshot (pass/fail with the reason) instead of warn."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import DATA, CliResult, run_cli

SNAPSHOT = DATA / "netpol" / "snapshot.json"


def _items(result: CliResult) -> dict[str, tuple[str, str]]:
    assert result.stdout, f"scan printed nothing (exit {result.code}): {result.stderr}"
    doc = json.loads(result.stdout)
    return {
        f["checklist"]: (f["status"], f["message"])
        for f in doc["findings"]
        if f.get("checklist") in ("network-policies", "pod-security-standards")
    }


def test_scan_uses_snapshot_for_netpol_and_pss(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    assert run_cli("lab", "init", str(lab)).code == 0
    without = run_cli("scan", "--root", str(lab), "-o", "json")
    assert {k: v[0] for k, v in _items(without).items()} == {
        "network-policies": "warn",
        "pod-security-standards": "warn",
    }
    with_snapshot = run_cli("scan", "--root", str(lab), "--snapshot", str(SNAPSHOT), "-o", "json")
    assert _items(with_snapshot) == {
        "network-policies": (
            "fail",
            "3 of 5 namespaces have no default-deny ingress: default, legacy, payments; "
            "4 of 5 have no default-deny egress: default, legacy, payments, web; "
            "1 allow-all rules undo a default deny: web/allow-all-ingress ingress[0]; "
            "1 invalid policies ignored: payments/bad-selector",
        ),
        "pod-security-standards": (
            "fail",
            "2 of 5 namespaces enforce privileged: default, legacy; "
            "1 running pods violate their namespace's enforce level: Pod/payments/pay-0",
        ),
    }


def test_scan_passes_with_a_hardened_snapshot(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    assert run_cli("lab", "init", str(lab)).code == 0
    gen = run_cli("netpol", "generate", "-n", "shop", "--allow-dns", "-o", "json")
    items = json.loads(gen.stdout)["items"]
    items.insert(
        0,
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
        },
    )
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    result = run_cli("scan", "--root", str(lab), "--snapshot", str(snap), "-o", "json")
    assert _items(result) == {
        "network-policies": ("pass", "all 1 non-system namespaces deny ingress and egress by default"),
        "pod-security-standards": (
            "pass",
            "all 1 non-system namespaces enforce baseline or restricted (1 restricted)",
        ),
    }
