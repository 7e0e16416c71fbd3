"""JSON report: the stable, documented machine-readable shape."""

from __future__ import annotations

import json

from analyzers.findings import Report


def as_dict(report: Report) -> dict:
    """The JSON document as a dict: tool, summary, checks, findings, diagnostics (+ extra blocks)."""
    checks = [{"id": c.id, "title": c.title, "severity": c.severity, "status": report.status(c)}
              for c in report.checks]
    statuses = [c["status"] for c in checks]
    by_sev = {s: sum(1 for f in report.findings if f.severity == s) for s in ("error", "warning", "info")}
    doc = {
        "tool": report.tool,
        "root": report.root,
        "summary": {"files": report.files, "checks": len(checks), "passed": statuses.count("passed"),
                    "failed": statuses.count("failed"), "warnings": statuses.count("warning"),
                    "findings": len(report.findings), **by_sev, "diagnostics": len(report.diagnostics)},
        "checks": checks,
        "findings": [f.to_json() for f in sorted(report.findings, key=lambda f: (f.path, f.line, f.col, f.rule))],
        "diagnostics": [d.to_json() for d in report.diagnostics],
    }
    doc.update(report.extra)
    return doc


def render(report: Report, **_options) -> str:
    """Render the report as indented JSON."""
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False) + "\n"
