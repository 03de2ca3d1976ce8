"""Text reporter: findings grouped by section, most actionable first, and a summary line.

Rendered with rich. Colour is the caller's choice (``color=True`` for a terminal); without it the
output is plain text with no escape codes, fit for pipes, logs and golden tests.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text

from kapsec.model.findings import Finding, Report, Severity, Status
from kapsec.report.common import STATUS_LABEL, evidence_text, grouped, summary_line, target_text

STATUS_STYLE = {
    Status.FAIL: "bold red",
    Status.WARN: "bold yellow",
    Status.SKIP: "dim",
    Status.PASS: "green",
}
SEVERITY_STYLE = {
    Severity.CRITICAL: "bold magenta",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
INDENT = " " * 17  # under the title column: "  FAIL  critical "


def first_paragraph(text: str) -> str:
    """The text up to its first blank line, wrapped lines joined (catalog text is often folded)."""
    para: list[str] = []
    for line in text.strip().splitlines():
        if not line.strip():
            break
        para.append(line.strip())
    return " ".join(para)


def _finding_lines(f: Finding) -> list[Text]:
    head = Text("  ")
    head.append(f"{STATUS_LABEL[f.status]:<4}", style=STATUS_STYLE[f.status])
    head.append("  ")
    head.append(f"{f.severity.label:<8}", style=SEVERITY_STYLE[f.severity])
    head.append(" ")
    head.append(f.id, style="bold")
    head.append(f"  {f.title}")
    lines = [head]
    ev = evidence_text(f.evidence)
    if ev:
        lines.append(Text(INDENT) + Text(ev, style="cyan"))
    if f.message and f.status is not Status.PASS:
        label = "reason: " if f.status in (Status.WARN, Status.SKIP) else ""
        lines.append(Text(f"{INDENT}{label}{f.message}"))
    if f.status is Status.FAIL and f.remediation:
        lines.append(Text(INDENT) + Text("fix: ", style="bold") + Text(first_paragraph(f.remediation)))
    return lines


def render(report: Report, *, color: bool = False, width: int = 100) -> str:
    """The report as text; ``color`` adds ANSI styles (only for a terminal)."""
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
    )
    title = Text(f"{report.tool} {report.version}", style="bold")
    target = target_text(report)
    if target:
        title.append(f"  {target}")
    console.print(title)
    for section, findings in grouped(report.findings):
        console.print()
        console.print(Text(section, style="bold underline"))
        for f in findings:
            for line in _finding_lines(f):
                console.print(line)
    console.print()
    summary = Text("Summary: ", style="bold")
    failed = report.summary()["fail"]
    summary.append(summary_line(report), style="bold red" if failed else "bold green")
    console.print(summary)
    return buf.getvalue()
