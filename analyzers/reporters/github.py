"""GitHub workflow commands: `::error file=...,line=...::message` lines."""

from __future__ import annotations

from analyzers.findings import Finding, Report

COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}
GITHUB_LIMIT = 10   # annotations GitHub shows per type per step


def _escape(value: str, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if prop else value


def annotation(f: Finding, prefix: str = "") -> str:
    """One workflow command for one finding (`prefix` is the path from the repository root)."""
    path = f"{prefix.rstrip('/')}/{f.path}" if prefix else f.path
    return (f"::{COMMANDS[f.severity]} file={_escape(path, True)},line={f.line},col={f.col},"
            f"title={_escape(f.rule, True)}::{_escape(chr(10).join((f.message, *f.details)))}")


def render(report: Report, prefix: str = "", **_options) -> str:
    """All findings as workflow commands (the gate applies GitHub's per-type limit itself)."""
    return "".join(annotation(f, prefix) + "\n" for f in report.findings)
