"""Reports of a spec run: a rich table for people, JSON for machines, JUnit XML for CI."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from checks.cli import dump_json
from checks.specs.outcome import Trace
from checks.specs.runner import ModelResult


@dataclass
class RunReport:
    """Everything a report shows."""

    results: list[ModelResult]
    manifest: Path
    backend: str
    selection: str                  # "tier fast" or "only A, B"
    seconds: float
    tool: dict[str, Any]
    show_traces: bool = False       # counterexamples of expected violations too (--trace)
    full_values: bool = False       # long trace values whole (--full-values)
    color: bool = False
    width: int = 140

    @property
    def mismatches(self) -> list[ModelResult]:
        """The results that do not match the manifest."""
        return [r for r in self.results if not r.matched]


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _balanced(text: str) -> str:
    # TLC 2.15's version line is cut before its closing parenthesis
    return text + ")" * (text.count("(") - text.count(")"))


ELIDE_AFTER = 200      # characters of one value shown in a trace; --full-values shows all


def shown_value(value: str, full: bool = False, limit: int = ELIDE_AFTER) -> str:
    """A trace value, elided in the middle when very long (the whole one is in summary.json)."""
    if full or len(value) <= limit:
        return value
    keep = limit // 2
    return (f"{value[:keep]} ... [{len(value) - 2 * keep:,} more characters: --full-values, or summary.json] "
            f"... {value[-keep:]}")


def trace_lines(trace: Trace, full_values: bool = False) -> list[Text]:
    """A counterexample as numbered states: the action that led there, then the variables it changed."""
    lines: list[Text] = []
    previous: dict[str, str] = {}
    for state in trace.states:
        head = Text(f"  {state.index:>3}  ")
        if state.action is None and state.index == 1:
            head.append("initial state", style="bold")
        else:
            head.append(state.action or "?", style="bold cyan")
            if state.location:
                head.append(f"  ({state.location})", style="dim")
        lines.append(head)
        # the first state shows every variable, later ones only what the step changed
        shown = state.values if not previous else {k: v for k, v in state.values.items() if previous.get(k) != v}
        if previous and not shown:
            lines.append(Text("         (no variable changed)", style="dim"))
        for name, value in shown.items():
            text = f"         {name} = {shown_value(value, full_values)}"
            lines.append(Text(text, style="yellow" if previous else ""))
        previous = state.values
    if trace.deadlocked:
        lines.append(Text("  ...  no action is enabled in this last state (deadlock)", style="bold"))
    if trace.loop_to is not None:
        via = f" by {trace.loop_action}" if trace.loop_action else ""
        lines.append(Text(f"  ...  back to state {trace.loop_to}{via} (the behaviour loops forever)", style="bold"))
    if trace.stuttering:
        lines.append(Text("  ...  stutters forever (no further step is taken)", style="bold"))
    return lines


def render_text(report: RunReport) -> str:
    """A table of models, then MISMATCH lines, warnings and counterexamples."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=report.width, force_terminal=report.color,
                      color_system="standard" if report.color else None, highlight=False, soft_wrap=True)
    table = Table(title=f"TLA+ models ({report.selection}, backend {report.backend})", title_justify="left")
    for column, justify in (("model", "left"), ("expected", "left"), ("got", "left"), ("distinct", "right"),
                            ("total", "right"), ("seconds", "right"), ("status", "left")):
        table.add_column(column, justify=justify, no_wrap=True)
    for r in report.results:
        status = (Text("skipped", style="dim") if r.outcome.kind == "skipped" else
                  Text("ok", style="green") if r.matched else Text("MISMATCH", style="bold red"))
        table.add_row(r.entry.name, r.expected, r.outcome.result, _count(r.outcome.distinct),
                      _count(r.outcome.total), f"{r.outcome.seconds:.1f}", status)
    console.print(table)
    for r in report.mismatches:
        console.print(Text(f"MISMATCH {r.entry.name}: {r.mismatch}", style="bold red"))
    for r in report.results:
        if r.outcome.kind == "skipped":
            console.print(Text(f"skipped {r.entry.name}: {r.outcome.detail}", style="dim"))
        for warning in r.outcome.warnings:
            console.print(Text(f"warning {r.entry.name}: {warning}", style="yellow"))
    for r in report.results:
        if r.outcome.trace and (not r.matched or report.show_traces):
            console.print(Text(f"\ncounterexample of {r.entry.name} ({r.outcome.result}):", style="bold"))
            for line in trace_lines(r.outcome.trace, report.full_values):
                console.print(line)
    skipped = sum(r.outcome.kind == "skipped" for r in report.results)
    ok = len(report.results) - len(report.mismatches) - skipped
    versions = "; ".join(_balanced(f"{k} {v}") for k, v in report.tool.items() if k in ("tlc", "java") and v)
    console.print(f"\n{len(report.results)} models: {ok} ok, " + (f"{skipped} skipped, " if skipped else "")
                  + f"{len(report.mismatches)} MISMATCH "
                  f"in {report.seconds:.1f} s ({versions})")
    return buffer.getvalue()


def render_json(report: RunReport) -> str:
    """Everything: tool block, manifest, selection, and per model the entry, outcome and match."""
    return dump_json({
        "tool": report.tool,
        "manifest": str(report.manifest),
        "backend": report.backend,
        "selection": report.selection,
        "seconds": round(report.seconds, 3),
        "summary": {"models": len(report.results), "matched": len(report.results) - len(report.mismatches),
                    "mismatched": len(report.mismatches),
                    **({"skipped": n} if (n := sum(r.outcome.kind == "skipped" for r in report.results)) else {})},
        "models": [r.to_json() for r in report.results],
    })


def render_junit(report: RunReport) -> str:
    """One testcase per model; a failure (with the counterexample) on mismatch."""
    suite = ET.Element("testsuite", name=f"mps-verify.specs.{report.backend}", tests=str(len(report.results)),
                       failures=str(len(report.mismatches)), errors="0", time=f"{report.seconds:.3f}",
                       skipped=str(sum(r.outcome.kind == "skipped" for r in report.results)))
    for r in report.results:
        case = ET.SubElement(suite, "testcase", classname=f"specs.{r.entry.tier}", name=r.entry.name,
                             time=f"{r.outcome.seconds:.3f}")
        if r.outcome.kind == "skipped":
            ET.SubElement(case, "skipped", message=r.outcome.detail)
        if not r.matched:
            failure = ET.SubElement(case, "failure", message=r.mismatch or "", type=r.outcome.kind)
            failure.text = "\n".join(line.plain for line in trace_lines(r.outcome.trace)) if r.outcome.trace else ""
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


RENDERERS: dict[str, Callable[[RunReport], str]] = {"text": render_text, "json": render_json, "junit": render_junit}
