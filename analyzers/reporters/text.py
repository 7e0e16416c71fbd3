"""Text report for people: `path:line:col: severity: message [rule]`, details on indented lines, a summary."""

from __future__ import annotations

import re
import textwrap

from analyzers.findings import Finding, Report

LINE_LIMIT = 200      # characters per line; longer messages continue on indented lines
INDENT = "    "

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def plain(text: str) -> str:
    """A line of plain text with untrusted names in it: control characters escaped, never starting with ':'
    (a CI log line starting with '::' is a GitHub workflow command; a file name can hold a newline)."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                        text)
    return "./" + text if text.startswith(":") else text


def summary_line(report: Report) -> str:
    """`N checks: P passed, F failed, W warnings`."""
    statuses = [report.status(c) for c in report.checks]
    return (f"{len(statuses)} checks: {statuses.count('passed')} passed, "
            f"{statuses.count('failed')} failed, {statuses.count('warning')} warnings")


def finding_lines(f: Finding, suffix: str = "") -> list[str]:
    """The head line of a finding, then its details, each line under LINE_LIMIT characters: a message too
    long for the head line continues, split at '; ', on the indented lines below it."""
    head = f"{f.path}:{f.line}:{f.col}: {f.severity}: "
    tail = f" [{f.rule}]{suffix}"
    parts = f.message.split("; ")
    first, rest = parts[0], parts[1:]
    while rest and len(head) + len(first) + 2 + len(rest[0]) + len(tail) <= LINE_LIMIT:
        first += "; " + rest.pop(0)
    room = max(LINE_LIMIT - len(head) - len(tail), 60)
    if len(first) > room:           # no '; ' to split at: wrap at spaces
        chunks = textwrap.wrap(first, room, break_on_hyphens=False, break_long_words=False)
        first, rest = chunks[0], [" ".join(chunks[1:]), *rest]
    lines = [head + first + tail]
    for text in [*rest, *f.details]:
        depth = len(text) - len(text.lstrip(" "))
        lines += textwrap.wrap(text.strip(), LINE_LIMIT - len(INDENT) - depth, initial_indent=INDENT + " " * depth,
                               subsequent_indent=INDENT + " " * (depth + 2), break_on_hyphens=False,
                               break_long_words=False) or [INDENT]
    return lines


def render(report: Report, **_options) -> str:
    """Render findings (sorted by place), diagnostics and the summary line."""
    lines = [plain(line) for f in sorted(report.findings, key=lambda f: (f.path, f.line, f.col, f.rule))
             for line in finding_lines(f)]
    lines += [plain(f"{d.path}:{d.line}: note: {d.kind} problem: {d.message}") for d in report.diagnostics]
    naming = report.extra.get("types", {})
    if naming.get("as_written"):
        lines.append(f"note: {naming['as_written']} lock expression(s) named as written (receiver type unknown), "
                     f"{naming.get('typed', 0)} by their declaring class")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
