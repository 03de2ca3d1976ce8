"""README.md is assembled from README.intro.md and docs/*.md: it must be current, and every
relative link in it must point at a file of the repository."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

TOP = Path(__file__).resolve().parent.parent


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_readme", TOP / "scripts" / "build_readme.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_current() -> None:
    assert (TOP / "README.md").read_text(encoding="utf-8") == _builder().build(), "run `make readme`"


def test_readme_starts_with_the_two_command_quickstart() -> None:
    text = (TOP / "README.md").read_text(encoding="utf-8")
    quickstart = text[text.index("## Quickstart") : text.index("## Commands")]
    assert "make demo" in quickstart
    assert "make test" in quickstart
    assert text.index("## Quickstart") < 1500


def _prose(text: str) -> str:
    """The README without fenced code blocks and inline code, where brackets are not links."""
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def test_relative_links_resolve() -> None:
    text = _prose((TOP / "README.md").read_text(encoding="utf-8"))
    targets = re.findall(r"\]\((?!https?://|#|mailto:)([^)#\s]+)", text)
    missing = sorted({t for t in targets if not (TOP / t).exists()})
    assert missing == []


def test_in_page_anchors_exist() -> None:
    builder = _builder()
    text = (TOP / "README.md").read_text(encoding="utf-8")
    headings = set()
    in_fence = False
    for line in text.splitlines():
        if line.startswith(("```", "~~~")):
            in_fence = not in_fence
        elif not in_fence and line.startswith("#"):
            headings.add(builder.anchor(line.lstrip("#")))
    anchors = set(re.findall(r"\]\(#([^)]+)\)", _prose(text)))
    assert sorted(anchors - headings) == []
