"""Fixtures for the scan tests (helpers live in scan_support)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scan.scan_support import build_hardened


@pytest.fixture(scope="session")
def hardened_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab tree with the guide's hardening applied; every check passes on it."""
    return build_hardened(tmp_path_factory.mktemp("hardened") / "node")
