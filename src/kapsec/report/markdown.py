"""Markdown reporter: a summary and tables that read well in a pull-request comment (GitHub/GitLab).

Findings that need attention (fail, warn) are in the first table, most severe first; remediation
for each failure follows; skipped and passed checks are folded in ``<details>`` blocks.
"""

from __future__ import annotations

import html

from kapsec.model.findings import Finding, Report, Status
from kapsec.report.common import benchmark_text, evidence_text, sort_key, summary_line, target_text

ICON = {Status.FAIL: "❌", Status.WARN: "⚠️", Status.SKIP: "⏭️", Status.PASS: "✅"}


def cell(text: str) -> str:
    """Text safe inside a table cell: no raw pipes, newlines or HTML."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def code(text: str) -> str:
    """Inline code inside a table cell (backticks in the text widen the fence)."""
    if not text:
        return ""
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    # GFM splits cells on pipes even inside code spans; an escaped pipe renders as "|".
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def _row(f: Finding) -> str:
    ev = evidence_text(f.evidence)
    cols = [
        f"{ICON[f.status]} {f.status.value}",
        f.severity.label,
        code(f.id),
        cell(f.title),
        code(ev.replace("\n", " ")),
        cell(f.message),
    ]
    return "| " + " | ".join(cols) + " |"


HEADER = "| Status | Severity | ID | Check | Evidence | Details |\n|---|---|---|---|---|---|"


def render(report: Report) -> str:
    s = report.summary()
    findings = sorted(report.findings, key=sort_key)
    attention = [f for f in findings if f.status in (Status.FAIL, Status.WARN)]
    out = [f"### {report.tool} {report.version}: {summary_line(report)}", ""]
    target = target_text(report)
    if target:
        out += [f"Target: {cell(target)}", ""]
    if attention:
        out += [HEADER, *(_row(f) for f in attention), ""]
    elif s["total"]:
        out += ["No failed or unevaluated checks.", ""]
    else:
        out += ["No checks were run.", ""]

    failed = [f for f in attention if f.status is Status.FAIL and f.remediation]
    if failed:
        out += ["#### How to fix", ""]
        for f in failed:
            bench = f" ({cell(benchmark_text(f))})" if f.benchmarks else ""
            lines = f.remediation.strip().splitlines()
            out.append(f"- **{cell(f.id)}** {cell(f.title)}{bench}: {cell(lines[0])}")
            out += [f"  {cell(line)}" for line in lines[1:] if line.strip()]
        out.append("")

    for status, label in ((Status.SKIP, "Skipped"), (Status.PASS, "Passed")):
        group = [f for f in findings if f.status is status]
        if group:
            out += [f"<details><summary>{label} ({len(group)})</summary>", "", HEADER]
            out += [_row(f) for f in group]
            out += ["", "</details>", ""]
    return "\n".join(out).rstrip("\n") + "\n"
