"""Compare base and head findings by fingerprint: new, fixed and unchanged (moved code is not new)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from analyzers.findings import Finding


@dataclass
class FindingDiff:
    """Findings at head split by whether the base already had them."""

    new: list[Finding] = field(default_factory=list)
    fixed: list[Finding] = field(default_factory=list)
    unchanged: list[Finding] = field(default_factory=list)


def diff_findings(base: list[Finding], head: list[Finding]) -> FindingDiff:
    """Match findings by fingerprint as multisets: a second copy of an old problem is new."""
    remaining = Counter(f.fingerprint for f in base)
    result = FindingDiff()
    for f in sorted(head, key=lambda f: (f.path, f.line, f.col, f.rule)):
        if remaining[f.fingerprint] > 0:
            remaining[f.fingerprint] -= 1
            result.unchanged.append(f)
        else:
            result.new.append(f)
    matched = Counter(f.fingerprint for f in head)
    for f in sorted(base, key=lambda f: (f.path, f.line, f.col, f.rule)):
        if matched[f.fingerprint] > 0:
            matched[f.fingerprint] -= 1
        else:
            result.fixed.append(f)
    return result
