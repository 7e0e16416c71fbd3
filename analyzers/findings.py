"""Findings and parse diagnostics: the plain data every analyzer produces and every reporter reads."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Related:
    """A secondary location of a finding (e.g. where a lock was taken, the other thread's order)."""

    path: str
    line: int
    message: str
    col: int = 1


@dataclass(frozen=True)
class Finding:
    """One problem at one place. `path` is relative to the scanned root, lines and columns 1-based."""

    rule: str                 # e.g. "ST.001.a", "ST.009", "TSA.thread-safety-analysis"
    severity: str             # error | warning | info
    path: str
    line: int
    col: int
    message: str              # one short line; the rest goes to `details`
    function: str = ""        # enclosing function / method (qualified), "" at file scope
    anchor: str = ""          # line-independent text the fingerprint is built from (e.g. the lock + call)
    related: tuple[Related, ...] = ()
    details: tuple[str, ...] = ()                 # further lines (a cycle's threads, a merged duplicate)
    flows: tuple[tuple[Related, ...], ...] = ()   # SARIF codeFlows: one step list per thread

    @property
    def fingerprint(self) -> str:
        """Line- and receiver-independent identity: rule, file, function and the anchor without the objects
        calls and members are reached through (so moved code, and a renamed `stream` or `pool`, keep it)."""
        return _digest(self.rule, self.path, self.function, stable_anchor(self.anchor or self.message))

    @property
    def legacy_fingerprint(self) -> str:
        """The fingerprint before receivers were dropped from anchors (baselines written by older versions)."""
        return _digest(self.rule, self.path, self.function, self.anchor or self.message)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape of a finding."""
        data = {k: v for k, v in asdict(self).items() if k not in ("anchor", "related", "details", "flows")}
        data["fingerprint"] = self.fingerprint
        if self.related:
            data["related"] = [asdict(r) for r in self.related]
        if self.details:
            data["details"] = list(self.details)
        if self.flows:
            data["flows"] = [[asdict(r) for r in flow] for flow in self.flows]
        return data


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:20]


# `stream->`, `m_pools[i].`, `getCurrentMPSStream()->`, `self.` before a member or call; `[recv sel]` in ObjC
_RECEIVER = re.compile(r"(?:[A-Za-z_]\w*(?:\([^()]*\)|\[[^\[\]]*\])?(?:->|\.))+(?=[A-Za-z_~])")
_OBJC_RECEIVER = re.compile(r"\[[^\s\[\]]+\s+(?=[A-Za-z_])")


def stable_anchor(anchor: str) -> str:
    """An anchor with receivers dropped: 'stream->synchronize(X) | default stream' -> 'synchronize(X) |
    default stream', 'pool.pool_mutex' -> 'pool_mutex', '[_commandBuffer commit]' -> '[commit]'."""
    return _OBJC_RECEIVER.sub("[", _RECEIVER.sub("", anchor))


@dataclass(frozen=True)
class Diagnostic:
    """A problem reading or parsing a file; the file is still analysed as far as possible."""

    path: str
    line: int
    message: str
    kind: str = "parse"       # parse | encoding | io | preprocessor

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape of a diagnostic."""
        return asdict(self)


@dataclass(frozen=True)
class Check:
    """One catalogue entry as reporters need it."""

    id: str
    title: str
    severity: str
    rationale: str = ""
    fix: str = ""


@dataclass
class Report:
    """Everything one analyzer run produced: the input of every reporter."""

    tool: dict[str, Any]
    root: str
    checks: list[Check]
    findings: list[Finding] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0
    extra: dict[str, Any] = field(default_factory=dict)   # analyzer-specific blocks (e.g. tsa inventory)

    def status(self, check: Check) -> str:
        """passed | failed (an error finding) | warning (only warnings/info) for one check."""
        hits = [f for f in self.findings if f.rule == check.id or f.rule.startswith(check.id + ".")]
        if any(f.severity == "error" for f in hits):
            return "failed"
        return "warning" if hits else "passed"
