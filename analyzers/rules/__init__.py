"""Registry of the structural rules: modules `st0NN.py` register one check function per ST family.

    @file_rule("ST.004")      def check(model: FileModel, ctx: RuleContext) -> Iterable[Finding]
    @project_rule("ST.009")   def check(models: list[FileModel], ctx: RuleContext) -> Iterable[Finding]

File rules see one file at a time; project rules read every scanned file's facts through the run's
tables (the queries index, the type tables) and are given the files to report on one at a time
(analyzers/structural_incremental.py), so that an edit re-runs them for the files it can change. Every
module of this package is imported by `load_rules()`; the decorators fill the registry.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

from analyzers.findings import Check, Finding, Related
from analyzers.model import FileModel, Scope

RULES_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Rule:
    """One registered check function for an ST family."""

    family: str                  # 'ST.001'
    kind: str                    # file | project
    check: Callable[..., Iterable[Finding]]
    module: str


REGISTRY: dict[str, Rule] = {}


def _register(family: str, kind: str) -> Callable:
    def decorator(fn: Callable[..., Iterable[Finding]]) -> Callable[..., Iterable[Finding]]:
        existing = REGISTRY.get(family)
        if existing is not None and existing.module != fn.__module__:
            raise ValueError(f"rule family {family} registered twice ({existing.module}, {fn.__module__})")
        REGISTRY[family] = Rule(family, kind, fn, fn.__module__)
        return fn
    return decorator


def file_rule(family: str) -> Callable:
    """Register `check(model, ctx)` for one ST family (per-file facts)."""
    return _register(family, "file")


def project_rule(family: str) -> Callable:
    """Register `check(models, ctx)` for one ST family (facts across all scanned files)."""
    return _register(family, "project")


@lru_cache(maxsize=1)
def load_rules() -> dict[str, Rule]:
    """Import every rule module of this package and return the registry (family -> Rule)."""
    for info in pkgutil.iter_modules([str(RULES_DIR)]):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return dict(sorted(REGISTRY.items()))


def rules_version() -> str:
    """Hash of the rule modules' sources (part of the cache key of rule results)."""
    digest = hashlib.sha256()
    for path in sorted(RULES_DIR.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class RuleContext:
    """What a rule gets besides the model: the catalogue entries and the run's settings."""

    checks: dict[str, Check]
    root: Path
    settings: dict = field(default_factory=dict)

    def finding(self, check_id: str, model: FileModel, line: int, col: int, message: str, anchor: str = "",
                related: Iterable[Related] = (), scope: Scope | None = None) -> Finding:
        """A Finding with the catalogue severity and the enclosing function's qualified name."""
        where = scope if scope is not None else model.scope_at(line)
        fn = where.function()
        return self.finding_in(check_id, model.path, fn.name if fn is not None else "", line, col, message,
                               anchor, related)

    def finding_in(self, check_id: str, path: str, function: str, line: int, col: int, message: str,
                   anchor: str = "", related: Iterable[Related] = ()) -> Finding:
        """A Finding in `function` of `path` (a rule that keeps plain data, no model, between files)."""
        check = self.checks.get(check_id)
        if check is None:
            raise ValueError(f"rule emitted {check_id}, which is not in the catalogue")
        return Finding(check_id, check.severity, path, line, col, message, function, anchor, tuple(related))
