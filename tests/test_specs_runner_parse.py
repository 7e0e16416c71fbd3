"""Message parser and verdict on outputs recorded from the real TLC (tests/fixtures/specs/record.py)."""

import json
from pathlib import Path

import pytest

from checks.specs import messages, verdict
from checks.specs.cfgfile import read_cfg
from checks.specs.expectation import mismatch
from checks.specs.manifest import ModelEntry
from checks.specs.outcome import Outcome

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "specs"
RECORDED = FIXTURES / "recorded"


def recorded(name: str) -> tuple[messages.ToolOutput, dict]:
    meta = json.loads((RECORDED / f"{name}.json").read_text())
    return messages.parse((RECORDED / f"{name}.out").read_text()), meta


def judged(name: str, rc: object = "recorded") -> Outcome:
    out, meta = recorded(name)
    cfg = FIXTURES / meta["cfg"]
    props = read_cfg(cfg).properties if cfg.exists() else ()
    return verdict.judge(out, meta["rc"] if rc == "recorded" else rc, timed_out=meta["timed_out"],
                         timeout=meta["timeout"], properties=props)


# (recording, result, detail fragment): every verdict kind the recordings cover
CASES = [
    ("pass", "pass", ""),
    ("invariant", "invariant: Bounded", "Invariant Bounded is violated"),
    ("deadlock", "deadlock", "Deadlock reached"),
    ("liveness_loop", "property: SettlesAtTwo", "Temporal properties"),
    ("liveness_stutter", "property: ReachesTwo", "Temporal properties"),
    ("action_property", "property: GoesUp", "Action property GoesUp"),
    ("assumption", "assumption", "line 4, col 8 to line 4, col 13 of module Assumes"),
    ("parse_error", "parse-error", 'Encountered "1" at line 4, column 20'),
    ("semantic_error", "parse-error", "line 5, col 14 to line 5, col 17 of module Undeclared: Unknown operator"),
    ("missing_cfg", "cfg-error", "Counter_nocfg.cfg: File not found"),
    ("bad_cfg_keyword", "cfg-error", "configuration file at line 4"),
    ("undefined_constant", "undefined-constant", "Limit is not assigned"),
    ("undefined_operator", "cfg-error", "NoSuchInvariant"),
    ("assert", "eval-error", 'Assert failed: "x reached N" at Line 7'),
    ("eval_error", "eval-error", "out of domain. at Line 5"),
    ("out_of_memory", "out-of-memory", "heap"),
    ("timeout", "timeout", "killed after 6 s with"),
]


@pytest.mark.parametrize("name,result,detail", CASES, ids=[c[0] for c in CASES])
def test_recorded_verdicts(name, result, detail):
    outcome = judged(name)
    assert outcome.result == result
    assert detail in outcome.detail


def test_pass_counts_are_exact():
    outcome = judged("pass")
    assert (outcome.distinct, outcome.total, outcome.left, outcome.depth) == (16, 26, 0, 7)
    assert outcome.trace is None


def test_timeout_keeps_the_last_progress_counts():
    outcome = judged("timeout")
    assert outcome.exit_code is None and outcome.distinct and outcome.distinct > 1000 and outcome.left > 0


def test_invariant_trace_has_actions_locations_and_values():
    trace = judged("invariant").trace
    assert [s.index for s in trace.states] == [1, 2, 3]
    assert trace.states[0].action is None and trace.states[0].values == {"x": "0", "y": "0"}
    assert trace.states[1].action == "IncX"
    assert trace.states[1].location == "line 10, col 9 to line 10, col 44 of module Counter"
    assert trace.states[2].values == {"x": "2", "y": "0"}
    assert trace.loop_to is None and not trace.stuttering


def test_deadlock_trace_parses_record_values():
    states = judged("deadlock").trace.states
    assert states[-1].values == {"holder": '[a |-> "t1", b |-> "t2"]', "pc": "[t1 |-> 2, t2 |-> 2]"}


def test_liveness_lasso_and_stuttering():
    loop = judged("liveness_loop").trace
    assert loop.loop_to == 1 and not loop.stuttering and len(loop.states) == 3
    stutter = judged("liveness_stutter").trace
    assert stutter.stuttering and stutter.loop_to is None and len(stutter.states) == 2


def test_nested_message_with_mid_line_start_marker():
    out, _ = recorded("assert")
    outer = out.find(1000)[0]
    assert [c.code for c in outer.children] == [2132]
    assert outer.text.endswith("tlc2.tool.EvalException\n: ")
    assert "x reached N" in outer.children[0].text and "x reached N" not in outer.text


def test_print_and_sany_output_are_plain_lines():
    out, _ = recorded("assert")
    assert '"starting"' in out.plain
    assert any(line.startswith("Semantic processing of module Asserting") for line in out.plain)


def test_unclosed_message_of_a_killed_run():
    out = messages.parse("@!@!@STARTMSG 2200:0 @!@!@\nProgress(2) at now: 5 states generated, 3 distinct "
                         "states found, 2 states left on queue.\n@!@!@STARTMSG 2217:4 @!@!@\n1: <Init")
    assert [m.code for m in out.walk()] == [2200, 2217]
    assert not out.messages[0].closed and not out.messages[0].children[0].closed


def test_coverage_finds_the_dead_action():
    cov = judged("coverage").coverage
    assert cov["dead"] == ["Overflow"]
    taken = {a["name"]: a["taken"] for a in cov["actions"]}
    assert taken["IncX"] == 12 and taken["Reset"] == 1
    assert judged("pass").coverage == {}


@pytest.mark.parametrize("name,rc", [("pass", 12), ("invariant", 0), ("deadlock", 12), ("liveness_loop", 11),
                                     ("parse_error", 0), ("assumption", 13)])
def test_exit_code_without_its_messages_is_inconsistent(name, rc):
    assert judged(name, rc=rc).kind == "inconsistent"


def test_success_with_states_left_is_inconsistent():
    # the -continue / stopAfter trap: "no error" while the queue was not empty
    text = (RECORDED / "pass.out").read_text().replace("0 states left on queue", "3 states left on queue")
    assert verdict.judge(messages.parse(text), 0).kind == "inconsistent"


def test_violation_reported_with_exit_0_is_inconsistent():
    # the -continue trap: violations printed, then "No error has been found", exit 0
    text = (RECORDED / "invariant.out").read_text() + (RECORDED / "pass.out").read_text()
    assert verdict.judge(messages.parse(text), 0).kind == "inconsistent"


def test_unknown_exit_code_is_a_crash():
    out, _ = recorded("pass")
    outcome = verdict.judge(out, 1)
    assert outcome.kind == "crash" and "exited 1" in outcome.detail


def test_cfg_names():
    assert read_cfg(FIXTURES / "Counter_pass.cfg").invariants == ("Bounded",)
    assert read_cfg(FIXTURES / "Cycle_loop.cfg").properties == ("SettlesAtTwo",)


def _entry(expect="pass", distinct=16, total=26):
    return ModelEntry(name="m", module="Counter", cfg="Counter_pass.cfg", tier="fast", expect=expect,
                      distinct=distinct, total=total, variant_of=None, shows="", apalache=None,
                      spec_path=FIXTURES / "Counter.tla", cfg_path=FIXTURES / "Counter_pass.cfg")


def test_match_needs_result_and_exact_counts_but_not_depth():
    passed = judged("pass")
    assert mismatch(_entry(), passed) is None
    passed.depth = 99
    assert mismatch(_entry(), passed) is None
    assert "17 distinct" in mismatch(_entry(distinct=17), passed)
    violated = judged("invariant")
    assert mismatch(_entry("invariant: Bounded", None, None), violated) is None
    assert mismatch(_entry("invariant: Other", None, None), violated).startswith(
        "expected invariant: Other, got invariant: Bounded")


def test_failures_never_match():
    for name in ("parse_error", "timeout", "out_of_memory", "assert"):
        assert mismatch(_entry(), judged(name)) is not None


def test_invariant_broken_by_the_initial_state():
    outcome = judged("invariant_initial")
    assert outcome.result == "invariant: Started" and outcome.detail.endswith("by the initial state:")
    assert [(s.index, s.action, s.values) for s in outcome.trace.states] == [(1, None, {"x": "0", "y": "0"})]
