"""Reporters: ``render(report, fmt) -> str``, pure functions of a :class:`Report`.

One module per format (``kapsec.report.<format>.render(report) -> str``), chosen by
:class:`ReportFormat`: text (rich, grouped, summary line), json (``Report.to_dict``, the schema in
DESIGN.md), sarif (SARIF 2.1.0), junit (JUnit XML), markdown (PR comments), html (one
self-contained page).
"""

from __future__ import annotations

import enum
import json
import os
import sys

from kapsec.model.findings import Report


class ReportFormat(enum.Enum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    MARKDOWN = "markdown"
    HTML = "html"


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def stdout_wants_color() -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def render(report: Report, fmt: str | ReportFormat, *, color: bool | None = None) -> str:
    """Render ``report`` as ``fmt`` (text, json, sarif, junit, markdown, html).

    ``color`` applies to text only: ``None`` colours when stdout is a terminal (and NO_COLOR is
    unset), so output piped or captured is plain.
    """
    try:
        kind = fmt if isinstance(fmt, ReportFormat) else ReportFormat(fmt)
    except ValueError:
        names = ", ".join(f.value for f in ReportFormat)
        raise ValueError(f"unknown report format {fmt!r} (expected one of: {names})") from None
    match kind:
        case ReportFormat.JSON:
            return render_json(report)
        case ReportFormat.TEXT:
            from kapsec.report import text

            return text.render(report, color=stdout_wants_color() if color is None else color)
        case ReportFormat.SARIF:
            from kapsec.report import sarif

            return sarif.render(report)
        case ReportFormat.JUNIT:
            from kapsec.report import junit

            return junit.render(report)
        case ReportFormat.MARKDOWN:
            from kapsec.report import markdown

            return markdown.render(report)
        case ReportFormat.HTML:
            from kapsec.report import html

            return html.render(report)
