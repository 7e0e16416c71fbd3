"""Reporters: Report -> text | json | sarif | github. One module a format, chosen from a registry and
imported when its format is asked for (a run prints one format; the text reporter imports textwrap)."""

from __future__ import annotations

import importlib

from analyzers.findings import Report

REPORTERS: dict[str, str] = {      # format -> the module of this package whose render() writes it
    "text": "text",
    "json": "jsonfmt",
    "sarif": "sarif",
    "github": "github",
}


def render(report: Report, fmt: str, **options) -> str:
    """Render a report in one of the registered formats."""
    return importlib.import_module(f"{__name__}.{REPORTERS[fmt]}").render(report, **options)
