"""What the gate tells people: GitHub annotations (within GitHub's limits) and a Markdown summary."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import quote

from analyzers.findings import Check, Diagnostic, Finding
from analyzers.reporters.github import COMMANDS, GITHUB_LIMIT, annotation
from analyzers.reporters.text import finding_lines, plain
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
    diagnostics: list[Diagnostic] = field(default_factory=list)   # of the changed files (parse, skipped, internal)
    settings_changes: list[str] = field(default_factory=list)     # the head's settings differ from the base's

    @property
    def incomplete(self) -> list[Diagnostic]:
        """Failures of the analysis on the pull request's files: what they hide cannot have passed."""
        return [d for d in self.diagnostics if d.kind == "internal"]

    @property
    def failed(self) -> bool:
        """Whether the pull request must be blocked."""
        return bool(self.blocking or self.tsa_regressions or self.incomplete
                    or (self.strict and self.settings_changes))

    def parse_problems(self, path: str) -> int:
        """How many parse diagnostics the head's version of `path` has."""
        return sum(1 for d in self.diagnostics if d.path == path and d.kind in PARSE_KINDS)


PARSE_KINDS = ("parse", "preprocessor", "encoding")
_MARKDOWN = re.compile(r"([\\`\[\]<|])")     # what opens a link, image, code span, HTML tag or table cell


def md(text: str) -> str:
    """Untrusted text for Markdown: escaped so that it cannot open a link, code span, HTML tag or table cell."""
    return _MARKDOWN.sub(r"\\\1", plain(text)).replace("&", "&amp;")


def code(text: str) -> str:
    """Untrusted text as a code span (escaped text when it holds a backtick, which would end the span)."""
    text = plain(text)
    return md(text) if "`" in text else "`" + text.replace("|", "\\|") + "`"


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
        return f"[{md(where)}]({server}/{repo}/blob/{quote(head)}/{quote(f.path)}#L{f.line})"
    return code(where)


def _cell(text: str) -> str:
    return md(text)


def _message_cell(f: Finding) -> str:
    """The message, then its details (a cycle's threads, a merged duplicate) on lines of their own."""
    return "<br>".join(_cell(line.strip()) for line in (f.message, *f.details))


def markdown(result: GateResult) -> str:
    """The Markdown step summary: verdict, counts, new findings with links, TSA regressions."""
    d = result.diff
    verdict = "❌ blocked" if result.failed else "✅ passed"
    out = [f"## mps-verify gate: {verdict}", "",
           f"Base `{md(result.base[:12])}` → head `{md(result.head[:12])}`, {result.files_changed} source file(s) changed.",
           "", "| new | fixed | unchanged | blocking | TSA regressions |", "| --- | --- | --- | --- | --- |",
           f"| {len(d.new)} | {len(d.fixed)} | {len(d.unchanged)} | {len(result.blocking)} | "
           f"{len(result.tsa_regressions)} |", ""]
    if result.incomplete:
        out += ["### Analysis incomplete (blocks)", ""]
        out += [f"- {md(x.path or '(project rules)')}: {md(x.message)}" for x in result.incomplete]
        out.append("")
    if result.settings_changes:
        out += [f"### Settings changed by the pull request{' (blocks with --strict)' if not result.strict else ''}",
                "", "The gate ran with the base revision's settings.", ""]
        out += [f"- {md(line)}" for line in result.settings_changes]
        out.append("")
    if d.new:
        out += ["### New findings", "", "| where | rule | severity | message |", "| --- | --- | --- | --- |"]
        out += [f"| {_link(f, result.head)} | {md(f.rule)} | {f.severity} | {_message_cell(f)}{_parse_note(result, f)} |"
                for f in d.new]
        out.append("")
    notes = [x for x in result.diagnostics if x.kind != "internal"]
    if notes:
        out += [f"<details><summary>{len(notes)} parse problem(s) and note(s) in changed files</summary>", ""]
        out += [f"- {md(x.path)}:{x.line}: {md(x.kind)}: {md(x.message)}" for x in notes]
        out += ["", "</details>", ""]
    if result.tsa_regressions:
        out += ["### Thread-safety annotation regressions", ""]
        out += [f"- {_cell(line)}" for line in result.tsa_regressions]
        out.append("")
    if d.fixed:
        out += [f"<details><summary>{len(d.fixed)} finding(s) fixed</summary>", ""]
        out += [f"- {md(f.path)} {md(f.rule)}: {_cell(f.message)}" for f in d.fixed]
        out += ["", "</details>", ""]
    if not result.strict and any(f.severity != "error" for f in d.new):
        out.append("Warnings are reported but do not block (run with `--strict` to block on them).")
    return "\n".join(out) + "\n"


def _parse_note(result: GateResult, f: Finding) -> str:
    n = result.parse_problems(f.path)
    return f" (the file has {n} parse problem(s): this finding may come from them)" if n else ""


def text(result: GateResult) -> str:
    """The plain-text report for a terminal (every name escaped: see plain)."""
    d = result.diff
    lines = [plain(line) for f in d.new for line in finding_lines(f, " (new)" + _parse_note(result, f))]
    lines += [plain(f"TSA regression: {line}") for line in result.tsa_regressions]
    lines += [plain(f"{x.path or '(project rules)'}:{x.line}: {'error' if x.kind == 'internal' else 'note'}: "
                    f"{x.kind}: {x.message}") for x in result.diagnostics]
    lines += [plain(f"settings: {line}") for line in result.settings_changes]
    lines.append(f"gate {'FAILED' if result.failed else 'passed'}: {len(d.new)} new ({len(result.blocking)} "
                 f"blocking), {len(d.fixed)} fixed, {len(d.unchanged)} unchanged, "
                 f"{len(result.tsa_regressions)} TSA regression(s); {result.files_changed} file(s) changed; "
                 f"{len(result.incomplete)} analysis failure(s); {len(result.settings_changes)} settings change(s)"
                 f"{' (blocking: --strict)' if result.strict and result.settings_changes else ''}; "
                 f"{result.seconds:.2f} s")
    return "\n".join(lines) + "\n"
