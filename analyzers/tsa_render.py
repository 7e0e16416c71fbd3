"""The TSA inventory for people: text (rich tables) and markdown, with the regression lines."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table

from analyzers.tsa import ClassInfo, FileInfo, Inventory

TEXT_WIDTH = 140


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in counts.items()) or "-"


def _caps(c: ClassInfo) -> str:
    return ", ".join(f"{cap.name} ({cap.type})" for cap in c.capabilities) or "-"


def _guarded(c: ClassInfo) -> str:
    return ", ".join(f"{m} by {g}" for m, g in c.guarded.items()) or "-"


def _shown_files(inv: Inventory) -> list[FileInfo]:
    """Files with annotations, TSA macro definitions or a class that owns a capability."""
    with_classes = {c.path for c in inv.classes}
    return [f for f in inv.files if f.counts or f.definitions or f.path in with_classes]


def summary(inv: Inventory) -> str:
    """One or two plain sentences: how much is annotated."""
    t = inv.totals()
    owners = [c for c in inv.classes if c.name and c.capabilities]
    cover = (f"{t['guarded']} of {t['need']} data members of those classes are guarded "
             f"({_pct(t['coverage'])} coverage)" if t["need"] else "no data members need an annotation")
    head = (f"No thread-safety annotations in {t['files']} files (upstream PyTorch MPS carries none)."
            if not t["annotations"] else
            f"{t['annotations']} thread-safety annotations in {len([f for f in inv.files if f.counts])} of "
            f"{t['files']} files: {_kinds(t['by_kind'])}.")
    return f"{head} {len(owners)} classes own a capability; {cover}."


def _regression_lines(regressions: list[str] | None, against: str) -> list[str]:
    if regressions is None:
        return []
    if not regressions:
        return [f"No regressions against {against}."]
    return [f"{len(regressions)} regressions against {against}:", *(f"  {r}" for r in regressions)]


def text(inv: Inventory, regressions: list[str] | None = None, against: str = "") -> str:
    """Rich tables (no colour) + summary + regressions."""
    out = io.StringIO()
    console = Console(file=out, width=TEXT_WIDTH, color_system=None, force_terminal=False, highlight=False)
    files = Table(title="Thread-safety annotations per file", box=box.SIMPLE, title_justify="left")
    for col in ("file", "annotations", "by kind", "macro defs", "guarded/need", "coverage"):
        files.add_column(col, no_wrap=col != "by kind")
    for f in _shown_files(inv):
        files.add_row(f.path, str(f.annotations), _kinds(f.counts), str(f.definitions),
                      f"{f.guarded}/{f.need}", _pct(f.coverage))
    if files.row_count:
        console.print(files)
    classes = Table(title="Classes that own a capability or guard members", box=box.SIMPLE, title_justify="left")
    for col, ratio in (("class / where", 3), ("capabilities", 2), ("guarded", 2),
                       ("unannotated (need GUARDED_BY)", 4), ("coverage", None)):
        classes.add_column(col, ratio=ratio, no_wrap=ratio is None, overflow="fold")
    for c in inv.classes:
        classes.add_row(f"{c.name or '(file scope)'}\n{c.path}:{c.line}", _caps(c), _guarded(c),
                        ", ".join(c.unannotated) or "-", _pct(c.coverage))
    if classes.row_count:
        console.print(classes)
    tables = "\n".join(line.rstrip() for line in out.getvalue().splitlines()).strip("\n")
    lines = [*([tables, ""] if tables else []), summary(inv), *_regression_lines(regressions, against)]
    return "\n".join(lines) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def markdown(inv: Inventory, regressions: list[str] | None = None, against: str = "") -> str:
    """GitHub-flavoured markdown: summary, two tables, regressions."""
    lines = ["## Thread-safety annotations", "", summary(inv), ""]
    shown = _shown_files(inv)
    if shown:
        lines += [_md_row(["file", "annotations", "by kind", "macro defs", "guarded/need", "coverage"]),
                  _md_row(["---"] * 6)]
        lines += [_md_row([f"`{f.path}`", str(f.annotations), _kinds(f.counts), str(f.definitions),
                           f"{f.guarded}/{f.need}", _pct(f.coverage)]) for f in shown]
        lines.append("")
    if inv.classes:
        lines += [_md_row(["class", "capabilities", "guarded", "unannotated", "coverage"]), _md_row(["---"] * 5)]
        lines += [_md_row([f"`{c.name or '(file scope)'}` ({c.path}:{c.line})", _caps(c), _guarded(c),
                           ", ".join(c.unannotated) or "-", _pct(c.coverage)]) for c in inv.classes]
        lines.append("")
    regress = _regression_lines(regressions, against)
    if regress:
        lines += [regress[0], "", *(f"- {r.strip()}" for r in regress[1:])]
    return "\n".join(lines).rstrip("\n") + "\n"
