"""TLC's verdict: the exit code cross-checked with the message codes, plus counts, trace and coverage."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from checks.specs.messages import WARNING, ToolOutput
from checks.specs.outcome import Outcome, Trace, TraceState


@dataclass(frozen=True)
class Rule:
    """An exit code, the message codes that must come with it (any one), and the outcome kind."""

    rc: int
    codes: frozenset[int]
    kind: str


_CFG_CODES = frozenset(range(2223, 2246)) | {2280, 2281}     # TLC's EC -> exit 151, 2222 aside
RULES = (
    Rule(0, frozenset({2193}), "pass"),
    Rule(10, frozenset({2104, 2105}), "assumption"),
    Rule(11, frozenset({2114}), "deadlock"),
    Rule(12, frozenset({2107, 2110}), "invariant"),
    Rule(13, frozenset({2108, 2112, 2113, 2116}), "property"),
    Rule(14, frozenset({2132}), "eval-error"),                              # VIOLATION_ASSERT
    Rule(75, frozenset({2132, 2103, 2109, 2115, 2147, 1000}), "eval-error"),  # FAILURE_SPEC_EVAL
    Rule(76, frozenset({2111, 2146, 2179, 2132, 1000}), "eval-error"),    # FAILURE_SAFETY_EVAL (invariant)
    Rule(77, frozenset({2253, 1000}), "eval-error"),                       # FAILURE_LIVENESS_EVAL
    Rule(150, frozenset({3002, 2171}), "parse-error"),
    Rule(151, frozenset({2222}), "undefined-constant"),
    Rule(151, _CFG_CODES, "cfg-error"),                 # e.g. 2229: the cfg names an operator the spec lacks
    Rule(255, frozenset({5001, 5006}), "cfg-error"),    # missing cfg, bad cfg keyword
)
# every exit status TLC defines (tlc2.output.EC.ExitStatus, 2.15 and later) plus 1 (bad command line):
# a code without a matching rule above is a crash with this description, never a silent pass
EXIT_CODES = {
    0: "success", 1: "bad command line", 10: "assumption violated", 11: "deadlock", 12: "safety violation",
    13: "liveness violation", 14: "Assert failed", 75: "evaluation error in the spec",
    76: "evaluation error in an invariant", 77: "evaluation error in a temporal property",
    150: "parse or semantic error", 151: "configuration error", 152: "state space too large",
    153: "TLC system error", 255: "TLC error",
}
# codes that announce a result: they must agree with the exit code's rule
RESULT_CODES = frozenset({2193, 2104, 2105, 2114, 2107, 2110, 2108, 2112, 2113, 2116})
SIMULATION_BANNER = 2188
TRACE_HEADERS = (2121, 2264)
_OOM = ("OutOfMemoryError", "Java heap space")

_COUNTS = re.compile(r"([\d,]+) states generated.*?([\d,]+) distinct states found.*?([\d,]+) states left on queue")
_INITIAL = re.compile(r"([\d,]+) distinct states? generated")
_DEPTH = re.compile(r"depth of the complete state graph search is (\d+)")
_STATE_HEAD = re.compile(r"^(\d+): <(.*)>\s*$")
_LOCATION = re.compile(r"^(.*?) (line \d+, col \d+ to line \d+, col \d+ of module \S+)$")
_BACK = re.compile(r"^(\d+): Back to state:?\s*(?:<(.*)>)?")
_COVERED = re.compile(r"^<(\S+) (line \d+, col \d+ to line \d+, col \d+ of module \S+)>: (\d+):(\d+)")
_SANY_LOC = re.compile(r"^line \d+, col \d+ to line \d+, col \d+ of module \S+$")


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace so a message fits one report line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def counts(out: ToolOutput) -> dict[str, int | None]:
    """generated/distinct/left from the final 2199, else the last progress 2200, else initial states."""
    result: dict[str, int | None] = {"total": None, "distinct": None, "left": None, "depth": None}
    if SIMULATION_BANNER in out.codes():
        # simulation prints "-1 distinct states": only the states generated mean something
        last = out.last(2210, 2209)
        if last and (m := re.search(r"([\d,]+) states generated|states generated: ([\d,]+)", last.text)):
            result["total"] = _int(m.group(1) or m.group(2))
        return result
    final = out.last(2199) or out.last(2200)
    if final and (m := _COUNTS.search(final.text)):
        result.update(total=_int(m.group(1)), distinct=_int(m.group(2)), left=_int(m.group(3)))
    elif (initial := out.last(2190)) and (m := _INITIAL.search(initial.text)):
        result["distinct"] = _int(m.group(1))
    if (depth := out.last(2194)) and (m := _DEPTH.search(depth.text)):
        result["depth"] = int(m.group(1))
    elif (progress := out.last(2200)) and (m := re.match(r"Progress\((\d+)\)", progress.text)):
        result["depth"] = int(m.group(1))
    return result


def _values(lines: list[str]) -> dict[str, str]:
    """`/\\ name = value` lines (or one `name = value`), values continued on indented lines."""
    values: dict[str, str] = {}
    current: list[str] = []

    def flush() -> None:
        if current:
            name, _, value = " ".join(current).partition(" = ")
            values[name.strip()] = value.strip()
            current.clear()

    for line in lines:
        if line.startswith("/\\ ") or (not line.startswith(" ") and " = " in line and not current):
            flush()
            current.append(line.removeprefix("/\\ ").strip())
        elif line.strip():
            current.append(line.strip())
    flush()
    return values


def _state(text: str) -> TraceState | None:
    lines = text.strip().splitlines()
    head = _STATE_HEAD.match(lines[0]) if lines else None
    if not head:
        return None
    label = head.group(2)
    action, location = label, None
    if (loc := _LOCATION.match(label)):
        action, location = loc.group(1), loc.group(2)
    if label == "Initial predicate":
        action = None
    return TraceState(index=int(head.group(1)), action=action, values=_values(lines[1:]), location=location)


def trace(out: ToolOutput) -> Trace | None:
    """The counterexample: states (2217), a lasso's return (2122), stuttering (2218)."""
    result = Trace()
    for message in out.find(2217, 2218, 2122):
        if message.code == 2217 and (state := _state(message.text)):
            result.states.append(state)
        elif message.code == 2218:
            result.stuttering = True
        elif message.code == 2122 and (back := _BACK.match(message.text.strip())):
            result.loop_to = int(back.group(1))
            if back.group(2):
                label = _LOCATION.match(back.group(2))
                result.loop_action = label.group(1) if label else back.group(2)
    initial = out.last(2107)
    if not result.states and initial:
        # an initial state that breaks an invariant comes inside 2107, not as a 2217 trace
        result.states.append(TraceState(index=1, action=None, values=_values(initial.text.splitlines()[1:])))
    result.deadlocked = out.last(2114) is not None
    return result if result.states else None


def coverage(out: ToolOutput) -> dict:
    """Per-action coverage (2772: distinct states found : times taken) and the actions never taken."""
    actions = []
    for message in out.find(2772):
        if (m := _COVERED.match(message.text.strip())):
            actions.append({"name": m.group(1), "location": m.group(2),
                            "distinct": int(m.group(3)), "taken": int(m.group(4))})
    return {"actions": actions, "dead": [a["name"] for a in actions if a["taken"] == 0]} if actions else {}


def _sany_error(out: ToolOutput) -> str:
    """SANY's first error with its location (SANY's report is plain text, not coded)."""
    lines = out.plain
    module = next((m.group(1) for line in lines
                   if (m := re.search(r"(?:Could not parse module|in file) (\S+)", line))), None)
    for i, line in enumerate(lines):
        if "Encountered" in line:
            return one_line(line) + (f" (module {module})" if module else "")
        if _SANY_LOC.match(line.strip()):
            after = next((x for x in lines[i + 1:] if x.strip()), "")
            return one_line(f"{line.strip()}: {after}")
        if "Cannot find source file" in line or "Unknown module" in line:
            return one_line(line)
    return "SANY reported errors (see tlc.out)"


def _eval_error(out: ToolOutput) -> str:
    where = next((line.strip() for m in out.find(2103) for line in m.text.splitlines()
                  if re.match(r"\s*0\. ", line)), "")
    where = re.sub(r"^0\. ", "at ", where)
    assert_msg = out.last(2132)
    in_property = out.last(2111, 2146, 2179, 2253)
    if in_property:
        what = one_line(in_property.full_text())
    elif assert_msg:
        what = "Assert failed: " + one_line(assert_msg.text.split("second argument was:", 1)[-1])
    elif (crash := out.last(1000)):
        what = one_line(crash.text.split("The exception was a", 1)[-1].lstrip(" :\n"))
        what = re.sub(r"^\S+\s*:\s*", "", what) or one_line(crash.full_text())
    else:
        what = "evaluation error"
    return one_line(f"{what} {where}".strip())


def _message_text(*codes: int) -> Callable[[ToolOutput, tuple[str, ...]], tuple[str | None, str]]:
    def detail(out: ToolOutput, _props: tuple[str, ...]) -> tuple[str | None, str]:
        found = out.last(*codes)
        return None, one_line(found.full_text()) if found else ""
    return detail


def _invariant(out: ToolOutput, _props: tuple[str, ...]) -> tuple[str | None, str]:
    found = out.last(2107, 2110)
    m = re.search(r"Invariant (\S+) is violated", found.text) if found else None
    return (m.group(1) if m else None), one_line(found.text.splitlines()[0]) if found else ""


def box_property(name: str | None, invariants: tuple[str, ...], boxes: dict[str, str]) -> str | None:
    """The PROPERTY behind an 'invariant violated' that the cfg's INVARIANTs do not list.

    TLC checks a PROPERTY `P == []Q` (Q a state predicate) as an invariant and names Q, or P itself when
    the body is an expression; `boxes` maps each such Q (and P) to P."""
    if name is None or name in invariants:
        return None
    return boxes.get(name)


def _property(out: ToolOutput, props: tuple[str, ...]) -> tuple[str | None, str]:
    action = out.last(2112)
    if action and (m := re.search(r"Action property (\S+) is violated", action.text)):
        return m.group(1), one_line(action.text)
    # 2116 does not say which temporal property failed; with one PROPERTY in the cfg it is that one
    if len(props) == 1:
        return props[0], "Temporal properties were violated."
    return None, "temporal property violated; TLC does not name it and the cfg lists several"


DETAILS: dict[str, Callable[[ToolOutput, tuple[str, ...]], tuple[str | None, str]]] = {
    "pass": lambda out, props: (None, ""),
    "assumption": _message_text(2104),
    "deadlock": _message_text(2114),
    "invariant": _invariant,
    "property": _property,
    "eval-error": lambda out, props: (None, _eval_error(out)),
    "parse-error": lambda out, props: (None, _sany_error(out)),
    "undefined-constant": _message_text(2222),
    "cfg-error": _message_text(2229, 5001, 5006),
}


def _kind(out: ToolOutput, rc: int | None, distributed: bool = False) -> tuple[str, str]:
    """(kind, detail for failures of the run) from the exit code and the codes present."""
    present = out.codes()
    if any(out.contains(needle) for needle in _OOM):
        return "out-of-memory", "the JVM ran out of heap (raise -Xmx in jvm_options or shrink the model)"
    if rc == 0 and SIMULATION_BANNER in present and not present & RESULT_CODES:
        return "no-violation", ""
    if distributed and rc == 0 and present & set(TRACE_HEADERS) and not present & RESULT_CODES:
        # TLCServer 2.15 exits 0 after a violation, without its message and with a wrong trace
        return "unconfirmed", "distributed TLC printed a counterexample but exited 0 without naming a violation"
    candidates = [rule for rule in RULES if rule.rc == rc]
    for rule in candidates:
        announced = present & RESULT_CODES
        if rule.codes & present and announced <= rule.codes:
            if rule.kind == "pass" and counts(out)["left"] != 0:
                return "inconsistent", "exit 0 and 'no error', but states were left on the queue"
            return rule.kind, ""
    if candidates:
        wanted = sorted(set().union(*(r.codes for r in candidates)))
        return "inconsistent", (f"exit code {rc} without its message codes {wanted}; "
                                f"result codes present: {sorted(present & RESULT_CODES)}")
    errors = [m for m in out.walk() if m.cls == 1]
    last = one_line(errors[-1].full_text()) if errors else one_line(" ".join(out.plain[-3:]))
    meaning = f" ({EXIT_CODES[rc]})" if rc in EXIT_CODES else ""
    return "crash", f"TLC exited {rc}{meaning}: {last}" if last else f"TLC exited {rc}{meaning}"


def judge(out: ToolOutput, rc: int | None, *, timed_out: bool = False, timeout: float | None = None,
          properties: tuple[str, ...] = (), invariants: tuple[str, ...] = (), boxes: dict[str, str] | None = None,
          simulation: str = "", distributed: bool = False) -> Outcome:
    """Turn one TLC run (parsed output + exit code) into an Outcome; `properties`/`invariants` from the cfg.

    `simulation` is how a violation-free simulation reads ("no violation in N behaviours up to depth D")."""
    numbers = counts(out)
    if timed_out:
        kind, name = "timeout", None
        detail = f"killed after {timeout:g} s" if timeout else "killed"
        if numbers["distinct"] is not None:
            detail += f" with {numbers['distinct']:,} distinct states found so far"
    else:
        kind, detail = _kind(out, rc, distributed)
        name = None
        if kind in DETAILS:
            name, detail = DETAILS[kind](out, properties)
        if kind == "invariant" and (prop := box_property(name, invariants, boxes or {})):
            kind, name, detail = "property", prop, f"{detail} (checked as the invariant of PROPERTY {prop})"
        if kind == "no-violation":
            detail = simulation or "no violation found by simulation"
    outcome = Outcome(backend="tlc", kind=kind, name=name, detail=detail, exit_code=rc,
                      distinct=numbers["distinct"], total=numbers["total"], left=numbers["left"],
                      depth=numbers["depth"], trace=trace(out), coverage=coverage(out))
    outcome.warnings = [one_line(m.full_text()) for m in out.walk() if m.cls == WARNING]
    return outcome
