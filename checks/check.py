"""`make check`: the main job on the embedded default, summarised in one table.

Runs the fast tier of the TLA+ models through TLC and the structural, TSA and lock-graph checks on the
MPS headers shipped inside the installed torch wheel, each as its own CLI with JSON output, in
parallel; then prints one summary and, under it, the findings themselves (capped, with the command
that lists them all). Exit: the worst of the parts (0 clean, 1 findings/violations, 2 usage/input,
3 a missing tool).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.table import Table

from checks import cli
from checks.sources import REPO_ROOT


@dataclass
class Part:
    """One component of the main job: its command and how to summarise its JSON."""

    name: str
    args: list[str]
    summarise: Callable[[dict], str]
    findings: Callable[[dict], list[str]] = lambda doc: []
    full: str = ""                # the command that prints every finding of this part
    exit_code: int = 0
    seconds: float = 0.0
    line: str = ""
    error: str = ""
    data: dict = field(default_factory=dict)


def _specs(doc: dict) -> str:
    s = doc.get("summary", {})
    bad = [m["name"] for m in doc.get("models", []) if not m.get("match")]
    states = sum((m.get("outcome") or {}).get("distinct") or 0 for m in doc.get("models", []))
    text = f"{s.get('matched', '?')}/{s.get('models', '?')} models as the manifest expects; {states:,} distinct states"
    return text + (f"; MISMATCH: {', '.join(bad)}" if bad else "")


def _structural(doc: dict) -> str:
    s = doc.get("summary", {})
    return (f"{s.get('files', 0)} files, {s.get('checks', 0)} checks: {s.get('passed', 0)} passed, "
            f"{s.get('failed', 0)} failed, {s.get('warnings', 0)} warnings "
            f"({s.get('error', 0)} errors, {s.get('warning', 0)} warnings, {s.get('info', 0)} notes; "
            f"{s.get('diagnostics', 0)} parse diagnostics)")


def _tsa(doc: dict) -> str:
    t = doc.get("totals", {})
    cov = t.get("coverage")
    cov_text = "n/a" if cov is None else f"{cov:.0%}"
    classes = (f"{t.get('classes', 0)} mutex-owning classes, {t.get('guarded', 0)}/{t.get('need', 0)} "
               f"members guarded (coverage {cov_text})")
    if not t.get("annotations"):
        return f"0 thread-safety annotations in {t.get('files', 0)} files (upstream PyTorch has none); {classes}"
    return f"{t['annotations']} annotations in {t.get('files', 0)} files; {classes}"


def _lockgraph(doc: dict) -> str:
    g = doc.get("graph", {})
    n = {k: len(v) if isinstance(v, list) else v for k, v in g.items()}
    return (f"{n.get('nodes', 0)} lock classes, {n.get('edges', 0)} edges, {n.get('cycles', 0)} cycles, "
            f"{n.get('violations', 0)} against the hierarchy, {n.get('unknown', 0)} unknown to it")


SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def _mismatches(doc: dict) -> list[str]:
    return [f"MISMATCH {m.get('entry', {}).get('name', '?')}: {m.get('mismatch') or 'does not match the manifest'}"
            for m in doc.get("models", []) if not m.get("match")]


def _analyzer_findings(doc: dict) -> list[str]:
    found = sorted(doc.get("findings", []), key=lambda f: (SEVERITY_ORDER.get(f.get("severity"), 3),
                                                           f.get("path", ""), f.get("line", 0)))
    return [f"{f.get('path')}:{f.get('line')}:{f.get('col')}: {f.get('severity')}: {f.get('message')} "
            f"[{f.get('rule')}]" for f in found]


def _regressions(doc: dict) -> list[str]:
    return [str(r) for r in doc.get("regressions", [])]


def parts() -> list[Part]:
    """The components of the main job."""
    return [
        Part("specs (fast tier, TLC)", ["checks.specs", "--tier", "fast"], _specs, _mismatches,
             "make check-specs"),
        Part("structural (torch headers)", ["checks.structural", "--torch-headers"], _structural,
             _analyzer_findings, "make structural"),
        Part("TSA inventory (torch headers)", ["checks.tsa", "--torch-headers"], _tsa, _regressions, "make tsa"),
        Part("lock graph (torch headers)", ["checks.lockgraph", "--torch-headers"], _lockgraph,
             _analyzer_findings, "make lockgraph"),
    ]


FINDINGS_SHOWN = 10


def finding_lines(done: list[Part], cap: int = FINDINGS_SHOWN) -> list[str]:
    """The findings under the table: the first `cap` (errors first), then where to see the rest."""
    listed: dict[str, Part] = {}
    for part in done:
        for line in part.findings(part.data):
            listed.setdefault(line, part)     # the lock graph's ST.009 also comes through structural
    if not listed:
        return []
    lines = [f"findings ({len(listed)}{f', the first {cap}' if len(listed) > cap else ''}):"]
    lines += [f"  {line}" for line in list(listed)[:cap]]
    rest = list(listed.values())[cap:]
    if rest:
        commands = " / ".join(dict.fromkeys(part.full for part in rest))
        lines.append(f"  ... {len(rest)} more: {commands} lists them all")
    if any("[ST." in line for line in listed):
        lines.append("what a rule id means, how to fix it or suppress it with a reason: docs/rules/<id>.md")
    return lines


def run_part(part: Part) -> Part:
    """Run one component's CLI with JSON output and summarise it."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", *part.args, "--format", "json"], capture_output=True,
                          text=True, cwd=REPO_ROOT)
    part.seconds = time.perf_counter() - start
    part.exit_code = proc.returncode
    try:
        part.data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except json.JSONDecodeError:
        part.data = {}
    if proc.returncode >= 2 or not part.data:
        lines = proc.stderr.strip().splitlines()
        part.error = lines[-1] if lines else f"exit {proc.returncode}, no output"
        part.line = part.error
    else:
        part.line = part.summarise(part.data)
    return part


STATUS = {0: "[green]clean[/]", 1: "[yellow]findings[/]", 2: "[red]error[/]", 3: "[red]tool missing[/]"}


def main(argv: list[str]) -> int:
    """Run every part in parallel and print one table."""
    p = cli.parser("python -m checks.check", "The main job: specs + analyzers on the torch wheel's MPS headers.")
    p.add_argument("--json", type=Path, help="also write every part's JSON result to this file")
    args = p.parse_args(argv)
    with ThreadPoolExecutor(max_workers=2) as pool:   # TLC uses its own processes; analyzers share one slot
        done = list(pool.map(run_part, parts()))
    console = Console(highlight=False)
    table = Table(title="mps-verify check", show_lines=False)
    for column in ("part", "status", "result", "seconds"):
        table.add_column(column, overflow="fold")
    for part in done:
        table.add_row(part.name, STATUS.get(part.exit_code, f"exit {part.exit_code}"), part.line,
                      f"{part.seconds:.1f}")
    console.print(table)
    tool = next((pt.data.get("tool") for pt in done if pt.data.get("tool")), {})
    console.print(f"mps-verify {tool.get('version', '?')} ({tool.get('git') or 'no git'}); "
                  f"details: make check-specs / structural / tsa / lockgraph")
    for line in finding_lines(done):
        console.print(line, markup=False, soft_wrap=True)   # one finding a line, as the CLIs print them
    if args.json:
        cli.emit(cli.dump_json({pt.name: pt.data for pt in done}), args.json)
    worst = max(pt.exit_code for pt in done)
    return worst if worst in (0, 1, 2, 3) else int(cli.Exit.USAGE)


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
