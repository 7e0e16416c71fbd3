"""Text report for people: `path:line:col: severity: message [rule]`, then a summary line."""

from __future__ import annotations

from analyzers.findings import Report


def summary_line(report: Report) -> str:
    """`N checks: P passed, F failed, W warnings`."""
    statuses = [report.status(c) for c in report.checks]
    return (f"{len(statuses)} checks: {statuses.count('passed')} passed, "
            f"{statuses.count('failed')} failed, {statuses.count('warning')} warnings")


def render(report: Report, **_options) -> str:
    """Render findings (sorted by place), diagnostics and the summary line."""
    lines = [f"{f.path}:{f.line}:{f.col}: {f.severity}: {f.message} [{f.rule}]"
             for f in sorted(report.findings, key=lambda f: (f.path, f.line, f.col, f.rule))]
    lines += [f"{d.path}:{d.line}: note: {d.kind} problem: {d.message}" for d in report.diagnostics]
    naming = report.extra.get("types", {})
    if naming.get("as_written"):
        lines.append(f"note: {naming['as_written']} lock expression(s) named as written (receiver type unknown), "
                     f"{naming.get('typed', 0)} by their declaring class")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
