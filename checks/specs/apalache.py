"""The Apalache backend: run `apalache-mc check` on one manifest model and turn what it says into an Outcome.

Apalache checks symbolically up to a bound: exit 0 means "no error in executions of up to K steps"
(Outcome.bounded = K, detail "bounded: K steps"), never a proof. The verdict is the exit code
cross-checked with the last `EXITCODE:` line and `The outcome is:`; counterexamples are read from
`violation1.itf.json`. The output formats are Apalache's documented ones (its CLI integration tests,
ADR-015); this module was written and tested without a real Apalache (see docs/apalache.md, "Exercised and not exercised").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks import tools
from checks.cli import ToolMissing, UsageError
from checks.specs.cfgfile import read_cfg
from checks.specs.itf import read_itf
from checks.specs.outcome import Outcome, Trace

BACKEND = "apalache"

# Exit code -> outcome kind (Apalache's ExitCodes). 12 is any counterexample: refined below.
EXIT_KINDS = {0: "pass", 12: "counterexample", 75: "unsupported", 120: "type-error", 150: "parse-error",
              255: "crash"}
# 255 is Apalache's catch-all (and a dying JVM exits with anything): the first error line it printed says
# what failed. Each pattern is a line Apalache's own CLI tests expect (test/tla/cli-integration-tests.md).
REFINE_CRASH = (
    ("Parsing error", "parse-error"),              # "Parsing error: Semantic errors:" (SANY)
    ("Typing input error", "type-error"),          # "Expected a type annotation for VARIABLE x"
    ("Parser error in type annotation", "type-error"),
    ("Configuration error", "cfg-error"),          # "Operator NoLiveness not found", missing .cfg
    ("Specified TLC config file not found", "cfg-error"),
    ("is not assigned a value", "undefined-constant"),   # "SubstRule: Variable N is not assigned a value"
    ("unsupported expression", "unsupported"),
    ("known limitation", "unsupported"),
    ("OutOfMemoryError", "out-of-memory"),
)
# TLC cfg keywords Apalache ignores that change what is explored (SYMMETRY, VIEW, ALIAS only prune or print)
IGNORED_CFG = ("CONSTRAINT", "CONSTRAINTS", "ACTION_CONSTRAINT", "ACTION_CONSTRAINTS")
TRACE_FILES = ("violation1.itf.json", "violation.itf.json", "counterexample1.itf.json", "counterexample.itf.json")

_STAMP = re.compile(r"\s+[IEWD]@\d{2}:\d{2}:\d{2}(?:\.\d+)?\s*$")
_EXITCODE = re.compile(r"^EXITCODE: (?:OK|ERROR \((\d+)\))\s*$")
_OUTCOME = re.compile(r"^The outcome is: (\w+)")
_LENGTH = re.compile(r"Checker reports no error up to computation length (\d+)")
_VIOLATED = re.compile(r"^State (\d+): (state|action|trace) invariant (\d+)(?: \[([^\]]+)\])? violated")
_TYPE_ERROR = re.compile(r"^\[[^\]]+:\d+:\d+-\d+:\d+\]: ")
_ERROR_STAMP = re.compile(r"\sE@\d{2}:")
_ERROR_LINE = re.compile(r"error|Error|unsupported|limitation|not found|Exception")
_CFG_COMMENTS = re.compile(r"\(\*.*?\*\)|\\\*[^\n]*", re.S)
_ASSUME = re.compile(r"^\s*ASSUME\b", re.M)
_GENERIC = ("Checker has found an error", "The outcome is", "EXITCODE", "Found ")


@dataclass
class Violation:
    """One `State N: <kind> invariant I [label] violated.` line."""

    state: int
    kind: str            # state | action | trace
    index: int
    label: str | None


@dataclass
class ApalacheOutput:
    """What Apalache printed, reduced to the facts the verdict needs."""

    exitcode: int | None = None          # from the last EXITCODE line; None when there is none
    outcome: str | None = None           # NoError | Error | Deadlock | ExecutionsTooShort | ...
    checked_length: int | None = None    # "no error up to computation length K"
    violations: list[Violation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)   # lines that say what went wrong, in order


def parse_output(text: str) -> ApalacheOutput:
    """Read Apalache's console output (timestamps such as `I@18:02:21.095` are stripped)."""
    out = ApalacheOutput()
    for raw in text.splitlines():
        line = _STAMP.sub("", raw).strip()
        if not line:
            continue
        if m := _EXITCODE.match(line):
            out.exitcode = int(m.group(1)) if m.group(1) else 0
        elif m := _OUTCOME.match(line):
            out.outcome = m.group(1)
        elif m := _LENGTH.search(line):
            out.checked_length = int(m.group(1))
        elif m := _VIOLATED.match(line):
            out.violations.append(Violation(int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)))
        elif (_TYPE_ERROR.match(line) or _ERROR_STAMP.search(raw) or _ERROR_LINE.search(line)) \
                and not line.startswith(_GENERIC):
            out.errors.append(line)
    return out


def _first_error(out: ApalacheOutput, default: str) -> str:
    return " ".join(out.errors[0].split())[:300] if out.errors else default


def _refine_crash(rc: int, out: ApalacheOutput) -> tuple[str, str]:
    """(kind, detail) for exit 255 or an unknown exit code, from the first known error line."""
    for line in out.errors:
        for needle, kind in REFINE_CRASH:
            if needle in line:
                return kind, " ".join(line.split())[:300]
    return "crash", _first_error(out, f"Apalache failed (exit {rc}) without an error line")


def _name_counterexample(out: ApalacheOutput, settings: Any, trace: Trace | None,
                         trace_vars: tuple[str, ...]) -> tuple[str, str | None, list[str]]:
    """(kind, name, warnings) for exit 12: deadlock, invariant or temporal property, and which one."""
    if out.outcome == "Deadlock":
        return "deadlock", None, []
    invs, temporal = tuple(settings.inv), tuple(settings.temporal)
    labels = [v.label for v in out.violations if v.label]
    for label in labels:
        if label in invs:
            return "invariant", label, []
        if label in temporal:
            return "property", label, []
    lasso = trace is not None and trace.loop_to is not None
    # Apalache checks --temporal through auxiliary loop variables named __...: their presence marks it
    if temporal and (lasso or any(v.startswith("__") for v in trace_vars) or not invs):
        name = temporal[0] if len(temporal) == 1 else None
        return "property", name, [] if name else [f"Apalache did not say which of {', '.join(temporal)} failed"]
    if len(invs) == 1:
        return "invariant", invs[0], []
    known = ", ".join(invs) or "the cfg's INVARIANTs"
    shown = f" (it named {', '.join(labels)})" if labels else ""
    return "invariant", None, [f"Apalache did not say which of {known} was violated{shown}"]


def find_trace(run_dir: Path, out_dir: Path) -> Path | None:
    """The counterexample file: the run dir first, then the newest `<out>/<spec>.tla/<stamp>/` folder."""
    folders = [run_dir, *sorted((p for p in out_dir.glob("*/*") if p.is_dir()), reverse=True)]
    for folder in folders:
        for name in TRACE_FILES:
            if (folder / name).is_file():
                return folder / name
    return None


def _trace_vars(path: Path) -> tuple[str, ...]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return tuple(v for v in data.get("vars", []) if isinstance(v, str))
    except (OSError, ValueError, AttributeError):
        return ()


def static_warnings(entry: Any) -> list[str]:
    """The traps of running a TLC model on Apalache that show in the files: ignored cfg keywords, ASSUME."""
    warnings = []
    cfg_path, spec_path = Path(entry.cfg_path), Path(entry.spec_path)
    try:
        unlisted = [p for p in read_cfg(cfg_path).properties if p not in entry.apalache.temporal]
        cfg = _CFG_COMMENTS.sub(" ", cfg_path.read_text(encoding="utf-8"))
        spec = spec_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return warnings   # a missing file is Apalache's to report
    if unlisted:
        warnings.append(f"Apalache ignores PROPERTY in {cfg_path.name}: {', '.join(unlisted)} not checked "
                        "(list temporal properties under apalache.temporal)")
    ignored = sorted({w for w in cfg.split() if w in IGNORED_CFG})
    if ignored:
        warnings.append(f"Apalache ignores {', '.join(ignored)} in {cfg_path.name}: it explores more than TLC")
    if _ASSUME.search(spec):
        warnings.append("the spec has ASSUME: Apalache exits 0 even when an ASSUME is false (TLC checks it)")
    return warnings


def interpret(rc: int, text: str, entry: Any, run_dir: Path, out_dir: Path) -> Outcome:
    """Turn Apalache's exit code and output (and its trace file, for 12) into an Outcome."""
    settings = entry.apalache
    out = parse_output(text)
    outcome = Outcome(backend=BACKEND, kind="crash", exit_code=rc)
    if out.exitcode is None and rc in (0, 12):
        outcome.kind = "inconsistent"
        outcome.detail = f"exit {rc} but no EXITCODE line: Apalache's output is incomplete"
        return outcome
    if out.exitcode is not None and out.exitcode != rc:
        outcome.kind = "inconsistent"
        outcome.detail = f"exit {rc} but Apalache printed EXITCODE {out.exitcode}"
        return outcome
    kind = EXIT_KINDS.get(rc, "crash")
    if kind == "pass":
        if out.outcome in ("Error", "Deadlock"):
            outcome.kind, outcome.detail = "inconsistent", f"exit 0 but 'The outcome is: {out.outcome}'"
            return outcome
        outcome.kind, outcome.bounded = "pass", settings.length
        outcome.detail = f"bounded: {settings.length} steps"
        if out.outcome == "ExecutionsTooShort":
            outcome.warnings.append(f"some executions could not be extended to {settings.length} steps")
        if out.checked_length is not None and out.checked_length != settings.length:
            outcome.warnings.append(f"Apalache reports length {out.checked_length}, asked for {settings.length}")
        if out.outcome is None:
            outcome.warnings.append("Apalache printed no 'The outcome is:' line")
        return outcome
    if kind == "counterexample":
        path = find_trace(run_dir, out_dir)
        if path is None:
            outcome.warnings.append(f"no counterexample file ({TRACE_FILES[0]}) under {run_dir} or {out_dir}")
        else:
            try:
                outcome.trace = read_itf(path)
            except UsageError as exc:
                outcome.warnings.append(f"could not read the counterexample: {exc}")
        kind, name, notes = _name_counterexample(out, settings, outcome.trace,
                                                 _trace_vars(path) if path else ())
        outcome.kind, outcome.name = kind, name
        outcome.warnings.extend(notes)
        steps = len(outcome.trace.states) - 1 if outcome.trace else None
        outcome.depth = steps
        where = f" after {steps} steps" if steps is not None else ""
        outcome.detail = {"deadlock": f"deadlock{where}",
                          "property": f"temporal property {name or '?'} violated{where}"}.get(
            kind, f"invariant {name or '?'} violated{where}")
        return outcome
    if kind == "crash":
        outcome.kind, outcome.detail = _refine_crash(rc, out)
        if out.exitcode is None:
            outcome.warnings.append("no EXITCODE line: Apalache (or its JVM) stopped early")
        return outcome
    outcome.kind = kind
    outcome.detail = _first_error(out, f"Apalache exited {rc}")
    return outcome


def command(entry: Any, exe: str, out_dir: Path, run_dir: Path) -> list[str]:
    """The `apalache-mc check` command line for one model (run it with cwd = the spec's folder)."""
    s = entry.apalache
    spec = Path(entry.spec_path)
    cfg = Path(entry.cfg_path)
    cfg_arg = cfg.name if cfg.resolve().parent == spec.resolve().parent else str(cfg.resolve())
    cmd = [exe, "check", f"--config={cfg_arg}", f"--init={s.init}", f"--next={s.next}"]
    if s.cinit:
        cmd.append(f"--cinit={s.cinit}")
    if s.inv:
        cmd.append(f"--inv={','.join(s.inv)}")
    if s.temporal:
        cmd.append(f"--temporal={','.join(s.temporal)}")
    cmd += [f"--length={s.length}", f"--out-dir={out_dir}", f"--run-dir={run_dir}", spec.name]
    return cmd


def _execute(cmd: list[str], cwd: Path, timeout: float) -> tuple[int | None, str]:
    """Run in its own process group (apalache-mc starts a JVM); (None, output so far) on timeout."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", start_new_session=True)
    try:
        text, _ = proc.communicate(timeout=timeout)
        return proc.returncode, text
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                text, _ = proc.communicate(timeout=5)
                return None, text
            except subprocess.TimeoutExpired:
                continue
        return None, ""


def run(entry: Any, opts: Any) -> Outcome:
    """Check one model with Apalache; raise ToolMissing (exit 3) when apalache-mc is not installed."""
    if getattr(entry, "apalache", None) is None:
        raise UsageError(f"model {entry.name} has no apalache settings in the manifest")
    exe = tools.apalache()
    base = Path(opts.artifacts) / entry.name / "apalache"
    if base.exists():
        shutil.rmtree(base)   # a stale violation1.itf.json must never be read as this run's trace
    out_dir, run_dir = base / "out", base / "run"
    run_dir.mkdir(parents=True)
    cmd = command(entry, exe, out_dir, run_dir)
    started = time.monotonic()
    try:
        rc, text = _execute(cmd, Path(entry.spec_path).resolve().parent, opts.timeout)
    except OSError as exc:
        raise ToolMissing(f"cannot run {exe}: {exc.strerror}; {tools.INSTALL_HINTS['apalache']}") from None
    seconds = time.monotonic() - started
    (base / "apalache.log").write_text(" ".join(cmd) + "\n\n" + text, encoding="utf-8")
    if rc is None:
        outcome = Outcome(backend=BACKEND, kind="timeout", detail=f"timed out after {opts.timeout:g} s")
    else:
        outcome = interpret(rc, text, entry, run_dir, out_dir)
    outcome.seconds = round(seconds, 3)
    outcome.warnings = static_warnings(entry) + outcome.warnings
    return outcome


version = tools.apalache_version   # `apalache-mc version`'s answer, or None; it lives in the base
