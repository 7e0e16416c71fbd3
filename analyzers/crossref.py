"""Findings of two rules on one line: merged when they report the same fact, cross-referenced otherwise.

MERGES lists (dropped rule, kept rule) pairs that say the same thing about one line (ST.015's lockset and
ST.007's unlocked access or mutation of the same member): the kept finding gains a detail line quoting
the other. Other findings of different families sharing a line each get a detail line naming the
others, so a reader sees that one line has two problems, not the same one twice. Fingerprints stay.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from analyzers.findings import Finding

# dropped rule prefix -> kept rule prefix, and how to tell that both are about the same thing
MERGES: dict[tuple[str, str], Callable[[Finding, Finding], bool]] = {
    ("ST.015", "ST.007.a"): lambda dropped, kept: _field(dropped) == _field(kept),
    ("ST.015", "ST.007.b"): lambda dropped, kept: _field(dropped) == _field(kept),
}


def _field(f: Finding) -> str:
    """The member an ST.007 / ST.015 finding is about: the anchor's first part, without its class."""
    return f.anchor.split(" | ")[0].rsplit("::", 1)[-1]


def _family(rule: str) -> str:
    """'ST.003.a' -> 'ST.003'."""
    return ".".join(rule.split(".")[:2])


def _merges(dropped: Finding, kept: Finding) -> bool:
    return any(dropped.rule.startswith(a) and kept.rule.startswith(b) and same(dropped, kept)
               for (a, b), same in MERGES.items())


def merge(findings: list[Finding]) -> list[Finding]:
    """The findings with same-fact duplicates on one line folded into one, and the rest cross-referenced."""
    by_line: dict[tuple[str, int], list[int]] = {}
    for n, f in enumerate(findings):
        by_line.setdefault((f.path, f.line), []).append(n)
    out = list(findings)
    gone: set[int] = set()
    for indices in by_line.values():
        if len({findings[n].rule for n in indices}) < 2:
            continue
        for n in indices:
            for m in indices:
                if n != m and m not in gone and n not in gone and _merges(findings[n], findings[m]):
                    gone.add(n)
                    out[m] = replace(out[m], details=(*out[m].details,
                                                      f"also {findings[n].rule}: {findings[n].message}"))
        alive = [n for n in indices if n not in gone]
        for n in alive:     # sub-checks of one family on one line (two captures of a block) need no note
            others = sorted({findings[m].rule for m in alive if _family(findings[m].rule) != _family(findings[n].rule)})
            if others:
                out[n] = replace(out[n], details=(*out[n].details, f"same line: also {', '.join(others)}"))
    return [f for n, f in enumerate(out) if n not in gone]
