"""Inline suppressions: `// mps-verify: ignore[ST.003.e] reason` on the finding's line or the line before.

The id list is comma-separated and prefix-matched (`ignore[ST.003]` covers ST.003.a-e). A suppression
without a reason suppresses nothing and is itself a finding (ST.000.a); one that matches no finding
is reported as unused (ST.000.b).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analyzers.findings import Finding
from analyzers.model import FileModel

MARKER = re.compile(r"mps-verify:\s*ignore\[([^\]]*)\]([^\n]*)")
COMMENT_END = re.compile(r"\s*\*+/\s*$")


@dataclass
class Suppression:
    """One ignore[...] comment."""

    path: str
    line: int            # first line of the comment
    last: int            # last line of the comment
    col: int
    ids: tuple[str, ...]
    reason: str
    used: bool = False

    def covers(self, finding: Finding) -> bool:
        """Whether this suppression is on the finding's line or the line before and names its rule."""
        return (finding.path == self.path and self.line <= finding.line <= self.last + 1
                and any(finding.rule == i or finding.rule.startswith(i + ".") or
                        (i.endswith(".") and finding.rule.startswith(i)) for i in self.ids))


def suppressions(model: FileModel) -> list[Suppression]:
    """Every ignore[...] marker in the file's comments."""
    found = []
    for c in model.comments:
        if "mps-verify" not in c.text:
            continue
        line, counted = c.line, 0     # lines counted incrementally: from the comment's start per marker was quadratic
        last = c.line + c.text.count("\n")
        for m in MARKER.finditer(c.text):
            ids = tuple(i.strip() for i in m.group(1).split(",") if i.strip())
            reason = COMMENT_END.sub("", m.group(2)).strip(" \t-:—")
            line += c.text.count("\n", counted, m.start())
            counted = m.start()
            found.append(Suppression(model.path, line, last, c.col, ids, reason))
    return found


def apply(findings: list[Finding], models: list[FileModel], ctx, selected: set[str]) -> list[Finding]:
    """Findings left after suppression, plus ST.000.a/b findings about the suppressions themselves."""
    by_path = {m.path: m for m in models}
    marks = {m.path: suppressions(m) for m in models}
    kept: list[Finding] = []
    for f in findings:
        hit = next((s for s in marks.get(f.path, ()) if s.reason and s.ids and s.covers(f)), None)
        if hit is None:
            kept.append(f)
        else:
            hit.used = True
    for path, marks_here in marks.items():
        model = by_path[path]
        for s in marks_here:
            if (not s.reason or not s.ids) and "ST.000.a" in selected:
                what = "no rule id" if not s.ids else "no reason"
                kept.append(ctx.finding("ST.000.a", model, s.line, s.col,
                                        f"suppression ignore[{','.join(s.ids)}] has {what}; it suppresses nothing",
                                        anchor=f"ignore[{','.join(s.ids)}]"))
            elif not s.used and "ST.000.b" in selected and _names_selected(s, selected):
                kept.append(ctx.finding("ST.000.b", model, s.line, s.col,
                                        f"unused suppression ignore[{','.join(s.ids)}]: no such finding on "
                                        f"line {s.line} or {s.last + 1}",
                                        anchor=f"ignore[{','.join(s.ids)}] {s.reason}"))
    return kept


def _names_selected(s: Suppression, selected: set[str]) -> bool:
    """Only suppressions for checks that ran can be called unused."""
    return any(c == i or c.startswith(i + ".") or i.startswith(c + ".") or not i.startswith("ST.")
               for i in s.ids for c in selected)
