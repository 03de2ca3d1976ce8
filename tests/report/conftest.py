"""Fixtures for the reporter tests."""

from __future__ import annotations

import pytest

from kapsec.model.findings import Report
from report.report_sample import sample_report


@pytest.fixture
def report() -> Report:
    return sample_report()
