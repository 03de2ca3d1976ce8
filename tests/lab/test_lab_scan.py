"""The lab is what `make demo` scans: kapsec scan --root reads it, knows every flag it writes, and
finds the planted problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run_cli
from kapsec.lab import Flavor, LabOptions, Plant, init_lab


def scan(root: Path) -> tuple[int, dict[str, dict[str, str]]]:
    r = run_cli("scan", "--root", str(root), "-o", "json")
    assert r.code in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    return r.code, {f["id"]: f for f in doc["findings"]}


@pytest.mark.parametrize("flavor", [Flavor.KUBEADM, Flavor.RKE2])
def test_lab_scan_reads_the_lab_and_knows_every_flag(tmp_path: Path, flavor: Flavor) -> None:
    init_lab(tmp_path / "n", LabOptions(flavor=flavor))
    code, findings = scan(tmp_path / "n")
    assert code == 1  # default kubeadm and RKE2's CIS profile both leave something to fix
    for flag_check in ("FLAG-001", "FLAG-002", "FLAG-003"):
        assert findings[flag_check]["status"] == "pass", findings[flag_check]
    # the lab's certificates are valid, match their keys and are far from expiry
    assert findings["TLS-004"]["status"] == "pass", findings["TLS-004"]["message"]


def test_lab_scan_finds_planted_problems(tmp_path: Path) -> None:
    init_lab(tmp_path / "n", LabOptions(plants=frozenset({Plant.EXPIRING_CERT, Plant.WORLD_READABLE_KEY})))
    _, findings = scan(tmp_path / "n")
    # within the 30-day window: not a pass (the catalog reports an expiring certificate as a warning)
    assert findings["TLS-004"]["status"] in ("warn", "fail")
    assert (
        "expires in 6 days" in findings["TLS-004"]["message"]
        or "expires in 7 days" in findings["TLS-004"]["message"]
    )
    assert findings["FILE-021"]["status"] == "fail"
    assert "apiserver.key has mode 0644" in findings["FILE-021"]["message"]
