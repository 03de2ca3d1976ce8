"""HTML reporter: one self-contained page (inline CSS, no scripts, no external resources).

Each finding is a table row with ``id="finding-<ID>"`` and ``data-status``/``data-severity``
attributes, so the page can be checked (and styled) without parsing its text.
"""

from __future__ import annotations

from html import escape

from kapsec.model.findings import Finding, Report, Status
from kapsec.report.common import (
    STATUS_LABEL,
    benchmark_text,
    evidence_text,
    grouped,
    summary_line,
    target_text,
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#1f2328;background:#fff}
h1{font-size:1.4rem;margin:0 0 .25rem}
h2{font-size:1.1rem;margin:1.75rem 0 .5rem;border-bottom:1px solid #d0d7de;padding-bottom:.25rem}
.target{color:#59636e;margin:0 0 1rem}
.summary{font-weight:600;padding:.6rem .8rem;border-radius:6px;background:#f6f8fa;border:1px solid #d0d7de}
.summary.failed{background:#ffebe9;border-color:#ff8182}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;vertical-align:top;padding:.4rem .5rem;border-bottom:1px solid #d8dee4}
th{background:#f6f8fa}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85em;word-break:break-all}
.status{font-weight:700;white-space:nowrap}
.fail .status{color:#cf222e}.warn .status{color:#9a6700}.skip .status{color:#59636e}.pass .status{color:#1a7f37}
.sev-critical{color:#8250df;font-weight:700}.sev-high{color:#cf222e}.sev-medium{color:#9a6700}
.sev-low{color:#0969da}.sev-info{color:#59636e}
.message{margin:.2rem 0 0}.fix{margin:.2rem 0 0;color:#1f2328}.muted{color:#59636e}
""".strip()


def _lines(text: str) -> str:
    return "<br>".join(escape(line) for line in text.strip().splitlines())


def _row(f: Finding) -> str:
    status = f.status.value
    ev = evidence_text(f.evidence)
    details = []
    if f.message:
        details.append(f'<p class="message">{_lines(f.message)}</p>')
    if f.status is Status.FAIL and f.remediation:
        details.append(f'<p class="fix"><strong>Fix:</strong> {_lines(f.remediation)}</p>')
    if f.benchmarks:
        details.append(f'<p class="muted">{escape(benchmark_text(f))}</p>')
    refs = "".join(
        f'<a href="{escape(r)}">{escape(r)}</a><br>'
        for r in f.references
        if r.startswith(("https://", "http://"))
    )
    if refs:
        details.append(f'<p class="muted">{refs}</p>')
    return (
        f'<tr id="finding-{escape(f.id)}" class="{status}" data-status="{status}" '
        f'data-severity="{f.severity.label}">'
        f'<td class="status">{STATUS_LABEL[f.status]}</td>'
        f'<td class="sev-{f.severity.label}">{f.severity.label}</td>'
        f"<td><code>{escape(f.id)}</code></td>"
        f"<td>{escape(f.title)}{''.join(details)}</td>"
        f"<td>{f'<code>{escape(ev)}</code>' if ev else ''}</td>"
        "</tr>"
    )


def render(report: Report) -> str:
    failed = report.summary()["fail"] > 0
    title = f"{report.tool} {report.version} report"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>\n{CSS}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
    ]
    target = target_text(report)
    if target:
        parts.append(f'<p class="target">{escape(target)}</p>')
    parts.append(
        f'<p id="summary" class="summary{" failed" if failed else ""}">{escape(summary_line(report))}</p>'
    )
    for section, findings in grouped(report.findings):
        parts.append(f'<section id="section-{escape(section)}">')
        parts.append(f"<h2>{escape(section)}</h2>")
        parts.append(
            "<table>\n<thead><tr><th>Status</th><th>Severity</th><th>ID</th><th>Check</th>"
            "<th>Evidence</th></tr></thead>\n<tbody>"
        )
        parts += [_row(f) for f in findings]
        parts.append("</tbody>\n</table>")
        parts.append("</section>")
    if not report.findings:
        parts.append('<p class="muted">No checks were run.</p>')
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
