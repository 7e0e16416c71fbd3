"""Reporters: Report -> text | json | sarif | github. One module a format, chosen from a registry."""

from __future__ import annotations

from typing import Callable

from analyzers.findings import Report
from analyzers.reporters import github, jsonfmt, sarif, text

REPORTERS: dict[str, Callable[..., str]] = {
    "text": text.render,
    "json": jsonfmt.render,
    "sarif": sarif.render,
    "github": github.render,
}


def render(report: Report, fmt: str, **options) -> str:
    """Render a report in one of the registered formats."""
    return REPORTERS[fmt](report, **options)
