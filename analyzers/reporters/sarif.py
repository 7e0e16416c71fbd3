"""SARIF 2.1.0 for code scanning: rules with descriptions, results with partialFingerprints."""

from __future__ import annotations

import json

from analyzers.catalogue import page_uri
from analyzers.findings import Finding, Report

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}


def _location(path: str, line: int, col: int, uri_base: str) -> dict:
    return {"physicalLocation": {"artifactLocation": {"uri": path, "uriBaseId": uri_base},
                                 "region": {"startLine": max(line, 1), "startColumn": max(col, 1)}}}


def _depth(k: int, steps: int) -> int:
    """Call depth of step k of a thread flow [held lock, call, call, ..., acquisition]: the held lock and the
    first call are in the holder's function (0); each call goes one deeper; the acquisition is in the last callee."""
    return 0 if k == 0 else min(k - 1, steps - 2)


def _code_flow(f: Finding, uri_base: str) -> dict:
    """One codeFlow with a threadFlow per thread (lockdep-style: each thread's lock, calls and wait)."""
    return {"message": {"text": f.message},
            "threadFlows": [{"id": f"thread {n}",
                             "locations": [{"location": {**_location(step.path, step.line, step.col, uri_base),
                                                         "message": {"text": step.message}},
                                            "nestingLevel": _depth(k, len(flow))}
                                           for k, step in enumerate(flow)]}
                            for n, flow in enumerate(f.flows, 1)]}


def as_dict(report: Report, uri_base: str = "SRCROOT") -> dict:
    """The SARIF log as a dict (one run)."""
    rule_ids = sorted({c.id for c in report.checks} | {f.rule for f in report.findings})
    by_id = {c.id: c for c in report.checks}
    rules = []
    for rid in rule_ids:
        check = by_id.get(rid) or next((c for c in report.checks if rid.startswith(c.id + ".")), None)
        rule = {
            "id": rid,
            "name": rid.replace(".", "_"),
            "shortDescription": {"text": check.title if check else rid},
            "fullDescription": {"text": (check.rationale or check.title) if check else rid},
            "help": {"text": (check.fix or check.title) if check else rid},
            "defaultConfiguration": {"level": LEVELS.get(check.severity if check else "warning", "warning")},
        }
        page = page_uri(rid)
        if page:    # SARIF wants an absolute URI here (upload-sarif validates it): see page_uri
            rule["helpUri"] = page
        rules.append(rule)
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f in sorted(report.findings, key=lambda f: (f.path, f.line, f.col, f.rule)):
        result = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": LEVELS[f.severity],
            "message": {"text": "\n".join((f.message, *f.details))},
            "locations": [_location(f.path, f.line, f.col, uri_base)],
            "partialFingerprints": {"mpsVerify/v1": f.fingerprint},
        }
        if f.related:
            result["relatedLocations"] = [
                {"id": i, **_location(r.path, r.line, r.col, uri_base), "message": {"text": r.message}}
                for i, r in enumerate(f.related)]
        if f.flows:
            result["codeFlows"] = [_code_flow(f, uri_base)]
        results.append(result)
    tool = report.tool
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": tool.get("name", "mps-verify"), "version": tool.get("version", ""),
                                "informationUri": "https://github.com/mps-verify/mps-verify", "rules": rules}},
            "originalUriBaseIds": {uri_base: {"uri": "file:///" + report.root.lstrip("/") + "/"}},
            "results": results,
            "properties": {"tool": tool},
        }],
    }


def render(report: Report, **options) -> str:
    """Render the report as SARIF 2.1.0 JSON."""
    return json.dumps(as_dict(report, **options), indent=2, ensure_ascii=False) + "\n"
