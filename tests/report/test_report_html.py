"""The HTML report, loaded by a real headless Chromium: every finding is in the DOM, text is escaped."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kapsec.model.findings import Report, Status
from kapsec.report import render

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

pytestmark = pytest.mark.chromium


class Dom(HTMLParser):
    """The bits of the DOM the tests look at: finding rows, the summary, and every element's tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, dict[str, str]] = {}
        self.row_text: dict[str, str] = {}
        self.tags: list[str] = []
        self.summary = ""
        self._row: str | None = None
        self._in_summary = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = {k: v or "" for k, v in attrs}
        if tag == "tr" and a.get("id", "").startswith("finding-"):
            self._row = a["id"].removeprefix("finding-")
            self.rows[self._row] = a
            self.row_text[self._row] = ""
        if a.get("id") == "summary":
            self._in_summary = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None
        if tag == "p":
            self._in_summary = False

    def handle_data(self, data: str) -> None:
        if self._row is not None:
            self.row_text[self._row] += data
        if self._in_summary:
            self.summary += data


def dump_dom(page: Path, profile: Path) -> str:
    assert CHROMIUM is not None
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_html_renders_every_finding_in_chromium(report: Report, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render(report, "html"), encoding="utf-8")
    dom = Dom()
    dom.feed(dump_dom(page, tmp_path / "profile"))

    assert set(dom.rows) == {f.id for f in report.findings}
    for f in report.findings:
        attrs = dom.rows[f.id]
        assert attrs["data-status"] == f.status.value, f.id
        assert attrs["data-severity"] == f.severity.label, f.id
        assert f.title in dom.row_text[f.id], f.id
    assert (
        dom.summary
        == "4 failed (1 critical, 1 high, 1 medium, 1 low), 2 warnings, 1 skipped, 3 passed; 10 checks"
    )
    # evidence and messages are there as text; "<every>" did not become an element
    text = dom.row_text["APISERVER-003"]
    assert (
        "etc/kubernetes/manifests/kube-apiserver.yaml:20  --enable-admission-plugins=NodeRestriction,AlwaysAdmit"
        in text
    )
    assert "AlwaysAdmit admits <every> request & bypasses all" in text
    assert "every" not in dom.tags
    assert "script" not in dom.tags
    # fixes are shown for failures only
    assert "Fix:" in dom.row_text["APISERVER-001"]
    assert "Fix:" not in dom.row_text["APISERVER-002"]
    assert [f.id for f in report.findings if f.status is Status.FAIL] == [
        "APISERVER-001",
        "APISERVER-003",
        "APISERVER-004",
        "AUDIT-002",
    ]


def test_report_html_is_self_contained(report: Report) -> None:
    page = render(report, "html")
    assert page.startswith("<!DOCTYPE html>\n")
    for external in ("<script", "<link", "src=", "@import", "url("):
        assert external not in page
    assert (
        '<a href="https://kubernetes.io/docs/reference/access-authn-authz/authentication/#anonymous-requests">'
        in page
    )
