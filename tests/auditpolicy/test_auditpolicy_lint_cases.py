"""Every lint check ships with fixtures: one parametrized test over tests/data/auditpolicy/lint-cases.

Each fixture states what it expects in trailing ``# expect: APnnn fail [LINE]`` comments. The failed
findings must be exactly the expected ones (ID, and line when given); a fixture with no
expectation must lint clean (no failed finding). A line is omitted when the finding has none
(a missing catch-all is about the whole file). Detections (AP060) are tested elsewhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import DATA
from kapsec.auditpolicy import lint, load_policy_file
from kapsec.model.findings import Status

CASES = sorted((DATA / "auditpolicy" / "lint-cases").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (AP\d{3}) fail(?: (\d+))?$", re.M)


def test_every_check_has_a_failing_fixture() -> None:
    from kapsec.auditpolicy.linter import CHECKS

    covered = {m.group(1) for p in CASES for m in EXPECT.finditer(p.read_text())}
    assert set(CHECKS) - covered == {"AP006", "AP060"}


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_lint_case(path: Path) -> None:
    text = path.read_text()
    expected = sorted((m.group(1), int(m.group(2)) if m.group(2) else None) for m in EXPECT.finditer(text))
    failed = [f for f in lint(load_policy_file(path)) if f.status is Status.FAIL]
    assert sorted((f.id, f.evidence.line) for f in failed) == expected, [(f.id, f.message) for f in failed]
