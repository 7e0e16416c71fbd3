"""ST.009 lock order: cycles in the lock-order graph, edges against the declared hierarchy, unknown locks."""

from __future__ import annotations

from typing import Iterable

from analyzers.findings import Finding
from analyzers.hierarchy import for_settings
from analyzers.lockgraph import build_graph, findings
from analyzers.model import FileModel
from analyzers.rules import project_rule


@project_rule("ST.009")
def check(models: list[FileModel], ctx) -> Iterable[Finding]:
    """Build the lock-order graph over every scanned file and report ST.009.a/b/c (against the
    repository's own hierarchy when the run's settings carry one)."""
    return findings(build_graph(models, for_settings(ctx.settings)))
