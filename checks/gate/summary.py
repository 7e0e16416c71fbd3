"""What the gate tells people: GitHub annotations (within GitHub's limits) and a Markdown summary."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

from analyzers.findings import Check, Finding
from analyzers.reporters.github import COMMANDS, GITHUB_LIMIT, annotation
from analyzers.reporters.text import finding_lines
from checks.gate.diff import FindingDiff


@dataclass
class GateResult:
    """Everything the gate decided, for the reporters."""

    base: str
    head: str
    diff: FindingDiff
    blocking: list[Finding]
    tsa_regressions: list[str] = field(default_factory=list)
    files_changed: int = 0
    strict: bool = False
    seconds: float = 0.0
    checks: list[Check] = field(default_factory=list)      # catalogue entries, for SARIF rule text

    @property
    def failed(self) -> bool:
        """Whether the pull request must be blocked."""
        return bool(self.blocking or self.tsa_regressions)


def annotations(findings: list[Finding]) -> tuple[list[str], list[Finding]]:
    """Workflow commands for the first GITHUB_LIMIT findings of each type, and the findings left over."""
    shown: dict[str, int] = defaultdict(int)
    lines, rest = [], []
    for f in findings:
        kind = COMMANDS[f.severity]
        if shown[kind] < GITHUB_LIMIT:
            shown[kind] += 1
            lines.append(annotation(f))
        else:
            rest.append(f)
    return lines, rest


def _link(f: Finding, head: str) -> str:
    server, repo = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    where = f"{f.path}:{f.line}"
    if server and repo:
        return f"[{where}]({server}/{repo}/blob/{head}/{f.path}#L{f.line})"
    return f"`{where}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _message_cell(f: Finding) -> str:
    """The message, then its details (a cycle's threads, a merged duplicate) on lines of their own."""
    return "<br>".join(_cell(line.strip()) for line in (f.message, *f.details))


def markdown(result: GateResult) -> str:
    """The Markdown step summary: verdict, counts, new findings with links, TSA regressions."""
    d = result.diff
    verdict = "❌ blocked" if result.failed else "✅ passed"
    out = [f"## mps-verify gate: {verdict}", "",
           f"Base `{result.base[:12]}` → head `{result.head[:12]}`, {result.files_changed} source file(s) changed.",
           "", "| new | fixed | unchanged | blocking | TSA regressions |", "| --- | --- | --- | --- | --- |",
           f"| {len(d.new)} | {len(d.fixed)} | {len(d.unchanged)} | {len(result.blocking)} | "
           f"{len(result.tsa_regressions)} |", ""]
    if d.new:
        out += ["### New findings", "", "| where | rule | severity | message |", "| --- | --- | --- | --- |"]
        out += [f"| {_link(f, result.head)} | {f.rule} | {f.severity} | {_message_cell(f)} |" for f in d.new]
        out.append("")
    if result.tsa_regressions:
        out += ["### Thread-safety annotation regressions", ""]
        out += [f"- {_cell(line)}" for line in result.tsa_regressions]
        out.append("")
    if d.fixed:
        out += [f"<details><summary>{len(d.fixed)} finding(s) fixed</summary>", ""]
        out += [f"- `{f.path}` {f.rule}: {_cell(f.message)}" for f in d.fixed]
        out += ["", "</details>", ""]
    if not result.strict and any(f.severity != "error" for f in d.new):
        out.append("Warnings are reported but do not block (run with `--strict` to block on them).")
    return "\n".join(out) + "\n"


def text(result: GateResult) -> str:
    """The plain-text report for a terminal."""
    d = result.diff
    lines = [line for f in d.new for line in finding_lines(f, " (new)")]
    lines += [f"TSA regression: {line}" for line in result.tsa_regressions]
    lines.append(f"gate {'FAILED' if result.failed else 'passed'}: {len(d.new)} new ({len(result.blocking)} "
                 f"blocking), {len(d.fixed)} fixed, {len(d.unchanged)} unchanged, "
                 f"{len(result.tsa_regressions)} TSA regression(s); {result.files_changed} file(s) changed; "
                 f"{result.seconds:.2f} s")
    return "\n".join(lines) + "\n"
