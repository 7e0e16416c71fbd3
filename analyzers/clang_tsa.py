"""Clang's thread-safety analysis over translation units: run clang++ -Wthread-safety, read its diagnostics.

Input: translation units (from a compile_commands.json or from files plus flags). Output: Findings with
rule ids `TSA.<warning flag>` and Diagnostics for units clang could not compile.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

from analyzers.discover import relative
from analyzers.findings import Check, Diagnostic, Finding, Related
from mpsverify_base.errors import UsageError

WARNING_FLAGS = ("-Wthread-safety", "-Wthread-safety-analysis", "-Wthread-safety-attributes",
                 "-Wthread-safety-precise", "-Wthread-safety-reference")
BETA_FLAG = "-Wthread-safety-beta"
# machine-readable output: no colours, no source excerpts, absolute paths (made relative afterwards)
OUTPUT_FLAGS = ("-fsyntax-only", "-fno-color-diagnostics", "-fno-caret-diagnostics",
                "-fdiagnostics-absolute-paths", "-Wno-unknown-warning-option")
UNIT_TIMEOUT_S = 600

CHECKS = (
    Check("TSA.thread-safety-analysis", "guarded data or capability used without the required lock",
          "warning", "Clang's -Wthread-safety-analysis: reads/writes of GUARDED_BY data, calls of REQUIRES/"
          "EXCLUDES functions and lock/unlock pairing, checked per function.",
          "take the capability (a scoped guard) around the access, or annotate the function REQUIRES(mu)"),
    Check("TSA.thread-safety-attributes", "malformed thread-safety attribute", "warning",
          "An annotation names something that is not a capability, or sits where it has no effect.",
          "point the attribute at a CAPABILITY-annotated mutex"),
    Check("TSA.thread-safety-precise", "a similar but different capability is held", "warning",
          "The required capability is not held, but one with the same name on another object is.",
          "lock the object the callee needs, not its namesake"),
    Check("TSA.thread-safety-reference", "guarded data passed by reference without the lock", "warning",
          "A GUARDED_BY member escapes by reference while its capability is not held.",
          "hold the capability while the reference is used, or pass a copy"),
    # -Wthread-safety-beta adds checks (acquired_before/after order) whose warnings carry the
    # -Wthread-safety-analysis tag, so it has no rule of its own.
    Check("TSA.thread-safety-negative", "capability acquired without a negative requirement", "warning",
          "Only with --clang-arg=-Wthread-safety-negative: functions that acquire a capability should "
          "REQUIRES(!mu) so callers cannot already hold it.", "add REQUIRES(!mu) to the function"),
)
NEGATIVE_FLAG = "-Wthread-safety-negative"


def checks_for(units: list["Unit"]) -> list[Check]:
    """The checks a run reports on: the negative-capability one only when its flag was given."""
    negative = any(NEGATIVE_FLAG in u.args for u in units)
    return [c for c in CHECKS if negative or c.id != "TSA.thread-safety-negative"]


_DIAG = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<sev>fatal error|error|warning|note): "
                   r"(?P<msg>.*?)(?: \[(?P<flags>[^\]]+)\])?$")


@dataclass(frozen=True)
class Unit:
    """One translation unit: the source file, the directory clang runs in, the compile flags."""

    file: Path
    directory: Path
    args: tuple[str, ...] = ()


@dataclass
class ClangResult:
    """What one run over all units produced."""

    findings: list[Finding] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)   # why units did not compile
    units: int = 0
    failed: list[str] = field(default_factory=list)               # units clang could not compile


def _flags(command: list[str], source: Path, directory: Path) -> tuple[str, ...]:
    """Compile flags of a compile_commands entry, without the compiler, the source, the output and
    dependency files."""
    drop_with_value = {"-o", "-MF", "-MT", "-MQ"}
    drop = {"-c", "-MD", "-MMD", "-M", "-MM", "-MP", "--"}
    out: list[str] = []
    skip = False
    for arg in command[1:]:
        if skip:
            skip = False
        elif arg in drop_with_value:
            skip = True
        elif arg in drop or (arg.startswith("-o") and not arg.startswith("-obj")):
            continue
        elif not arg.startswith("-") and (directory / arg).resolve() == source:
            continue
        else:
            out.append(arg)
    return tuple(out)


def load_compile_commands(path: Path) -> list[Unit]:
    """The translation units of a compile_commands.json (entries with `arguments` or `command`)."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a compile_commands.json: {exc}") from exc
    if not isinstance(entries, list):
        raise UsageError(f"{path}: not a compile_commands.json: expected a list of entries")
    units = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "file" not in entry or not ({"arguments", "command"} & set(entry)):
            raise UsageError(f"{path}: entry {i} needs 'file' and 'arguments' or 'command'")
        directory = (path.parent / entry.get("directory", ".")).resolve()
        command = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
        source = (directory / entry["file"]).resolve()
        units.append(Unit(source, directory, _flags(command, source, directory)))
    return units


def units_for_files(files: list[Path], args: list[str]) -> list[Unit]:
    """Translation units for files given on the command line, all compiled with `args`."""
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UsageError(f"no such file: {missing[0]}")
    return [Unit(f.resolve(), Path.cwd(), tuple(args)) for f in files]


def command(clang: str, unit: Unit, beta: bool = False, extra: tuple[str, ...] = ()) -> list[str]:
    """The clang++ command line that analyses one unit."""
    return [clang, *unit.args, *extra, *OUTPUT_FLAGS, *WARNING_FLAGS, *((BETA_FLAG,) if beta else ()),
            str(unit.file)]


def _source_line(path: str, line: int, cache: dict[str, list[str]]) -> str:
    if path not in cache:
        try:
            cache[path] = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            cache[path] = []
    lines = cache[path]
    return " ".join(lines[line - 1].split()) if 0 < line <= len(lines) else ""


def _rule(flags: str) -> tuple[str | None, bool]:
    """(TSA rule id or None, promoted to error) from clang's `[-Werror,-Wthread-safety-analysis]`."""
    parts = [f.strip() for f in flags.split(",")]
    names = [p[2:] for p in parts if p.startswith("-Wthread-safety")]
    return (f"TSA.{names[-1]}" if names else None), "-Werror" in parts


def parse_output(text: str, root: Path, unit: str = "") -> tuple[list[Finding], list[Diagnostic]]:
    """Turn clang's diagnostics into Findings (thread-safety warnings) and Diagnostics (compile errors)."""
    findings: list[Finding] = []
    errors: list[Diagnostic] = []
    cache: dict[str, list[str]] = {}
    last: Finding | None = None
    for raw in text.splitlines():
        m = _DIAG.match(raw)
        if not m:
            continue
        path, line, col = m["path"], int(m["line"]), int(m["col"])
        rel = relative(Path(path), root)
        if m["sev"] == "note":
            if last is not None:
                last = replace(last, related=last.related + (Related(rel, line, m["msg"], col),))
                findings[-1] = last
            continue
        rule, promoted = _rule(m["flags"] or "")
        if rule is None:
            last = None
            if m["sev"] != "warning":
                errors.append(Diagnostic(rel, line, f"{m['msg']} (compiling {unit or rel})", kind="compile"))
            continue
        severity = "error" if promoted or m["sev"] == "error" else "warning"
        last = Finding(rule, severity, rel, line, col, m["msg"],
                       anchor=f"{m['msg']}\x1f{_source_line(path, line, cache)}")
        findings.append(last)
    return findings, errors


def _run_unit(clang: str, unit: Unit, beta: bool, root: Path) -> tuple[list[Finding], list[Diagnostic]]:
    cmd = command(clang, unit, beta)
    rel = relative(unit.file, root)
    try:
        proc = subprocess.run(cmd, cwd=unit.directory, capture_output=True, text=True, timeout=UNIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return [], [Diagnostic(rel, 1, f"clang++ took longer than {UNIT_TIMEOUT_S}s", kind="compile")]
    except OSError as exc:
        return [], [Diagnostic(rel, 1, f"cannot run {clang}: {exc.strerror}", kind="compile")]
    findings, errors = parse_output(proc.stderr, root, rel)
    if proc.returncode != 0 and not errors and not any(f.severity == "error" for f in findings):
        tail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        errors.append(Diagnostic(rel, 1, f"clang++ failed: {tail}", kind="compile"))
    return findings, errors


def analyse(units: list[Unit], clang: str, root: Path, beta: bool = False, jobs: int | None = None) -> ClangResult:
    """Run clang's thread-safety analysis over `units` in parallel; findings deduplicated across units."""
    from concurrent.futures import ThreadPoolExecutor    # here: the inventory alone never runs clang (~6 ms)
    result = ClangResult(units=len(units))
    workers = max(1, min(jobs or os.cpu_count() or 1, len(units) or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(lambda u: _run_unit(clang, u, beta, root), units))
    seen: set[tuple] = set()
    for unit, (findings, errors) in zip(units, outcomes):
        if errors:
            result.failed.append(relative(unit.file, root))
        for f in findings:   # a header's warning repeats in every unit that includes it
            key = (f.rule, f.path, f.line, f.col, f.message)
            if key not in seen:
                seen.add(key)
                result.findings.append(f)
        result.diagnostics.extend(errors)
    result.findings.sort(key=lambda f: (f.path, f.line, f.col, f.rule))
    return result
