"""Reports people can read: one lock-order finding per component with its threads as SARIF codeFlows,
short lines, same-line findings merged or cross-referenced, fingerprints that survive a receiver rename."""

from __future__ import annotations

import json

from analyzers import baseline, crossref
from analyzers.findings import Finding, Related, Report, stable_anchor
from analyzers.hierarchy import Hierarchy, LockClass
from analyzers.lockgraph import Acquisition, Held, Site, findings, graph_from
from analyzers.reporters import render
from analyzers.reporters.text import LINE_LIMIT, finding_lines
from checks.gate.diff import diff_findings

H = Hierarchy((LockClass("a", "mutex", 30, patterns=("^a$",)), LockClass("b", "mutex", 20, patterns=("^b$",)),
               LockClass("c", "mutex", 10, patterns=("^c$",))))


def acq(lock: str, line: int, held: str, held_line: int, via: tuple[Site, ...] = ()) -> Acquisition:
    return Acquisition(lock, Site("x.mm", line, "f"), (Held(held, Site("x.mm", held_line, "f")),), via=via)


def test_one_cycle_finding_per_component_with_the_shortest_witness():
    # a <-> b and b -> c -> a: two cycles, one component; d <-> e: a second component
    g = graph_from([acq("b", 2, "a", 1), acq("a", 4, "b", 3), acq("c", 6, "b", 5), acq("a", 8, "c", 7),
                    acq("e", 10, "d", 9), acq("d", 12, "e", 11)], H)
    assert len(g.cycles) == 3     # a-b, a-b-c and d-e
    cycles = [f for f in findings(g) if f.rule == "ST.009.a"]
    assert [f.message for f in cycles] == ["lock-order cycle a -> b -> a", "lock-order cycle d -> e -> d"]
    assert cycles[0].details[0] == "the shortest of 2 cycles among 3 locks: a, b, c"
    assert any("a -> b -> c -> a" in d for d in cycles[0].details)
    assert cycles[0].anchor == "cycle:a | b"


def test_a_lock_taken_again_is_reported_apart_from_the_component():
    g = graph_from([acq("b", 2, "a", 1), acq("a", 4, "b", 3), acq("d", 6, "d", 5)], H)
    assert sorted(f.message for f in findings(g) if f.rule == "ST.009.a") == [
        "lock-order cycle a -> b -> a",
        "lock-order cycle d -> d: d taken again while held (the same queue, or another instance of its class)"]


def test_a_lock_taken_again_is_anchored_where_it_is_taken_again():
    """2.6.0's OOM path re-enters its own queue in release_cached_buffers; a stream pool enters another stream's
    queue in synchronize: the same one-lock cycle, two root causes, two anchors."""
    here = graph_from([acq("d", 6, "d", 5)], H)
    there = graph_from([Acquisition("d", Site("x.mm", 60, "at::mps::MPSStream::synchronize"),
                                    (Held("d", Site("x.mm", 5)),))], H)
    (a,), (b,) = ([f.anchor for f in findings(g) if f.rule == "ST.009.a"] for g in (here, there))
    assert a != b and b.endswith("| in synchronize")


def test_cycle_threads_are_sarif_code_flows():
    via = (Site("y.mm", 20, "helper"),)
    g = graph_from([acq("b", 30, "a", 1, via), acq("a", 4, "b", 3)], H)
    (f,) = [f for f in findings(g) if f.rule == "ST.009.a"]
    report = Report(tool={"name": "mps-verify"}, root="/src", checks=[], findings=[f])
    (result,) = json.loads(render(report, "sarif"))["runs"][0]["results"]
    (flow,) = result["codeFlows"]
    threads = flow["threadFlows"]
    assert [t["id"] for t in threads] == ["thread 1", "thread 2"]
    steps = [(loc["location"]["physicalLocation"]["region"]["startLine"], loc["nestingLevel"])
             for loc in threads[0]["locations"]]
    assert steps == [(1, 0), (20, 0), (30, 1)]       # holds a, calls helper, helper takes b
    assert threads[0]["locations"][-1]["location"]["message"]["text"] == "thread 1 waits for b here"
    assert result["message"]["text"].startswith("lock-order cycle a -> b -> a\n")
    assert len(result["relatedLocations"]) == 5


def test_text_lines_stay_short_and_details_are_indented():
    long = Finding("ST.004.a", "error", "aten/src/ATen/mps/MPSProfiler.mm", 428, 3,
                   "addProfilerCompletedHandler() (which waits: " + "x" * 150 + ") blocks while holding m_mutex; "
                   "release it first", details=("thread 1: " + "y " * 150, "  via a.mm:3 (f)"))
    lines = finding_lines(long, " (new)")
    assert lines[0].startswith("aten/src/ATen/mps/MPSProfiler.mm:428:3: error: ")
    assert lines[0].endswith("[ST.004.a] (new)")
    assert all(len(line) <= LINE_LIMIT for line in lines)
    assert all(line.startswith("    ") for line in lines[1:])
    assert "      via a.mm:3 (f)" in lines


def _f(rule: str, anchor: str, line: int = 7, severity: str = "warning") -> Finding:
    return Finding(rule, severity, "a.mm", line, 1, f"{rule} says so", "f", anchor)


def test_same_fact_from_two_rules_is_merged():
    st007 = _f("ST.007.a", "m_count | unlocked access", severity="error")
    st015 = _f("ST.015.c", "Pool::m_count | not under Pool::m_mutex")
    (kept,) = crossref.merge([st015, st007])
    assert kept.rule == "ST.007.a" and kept.details == ("also ST.015.c: ST.015.c says so",)


def test_different_problems_on_one_line_are_cross_referenced():
    out = crossref.merge([_f("ST.004.a", "m | wait"), _f("ST.009.a", "cycle:a | b"), _f("ST.001.a", "x", line=9)])
    assert [f.details for f in out] == [("same line: also ST.009.a",), ("same line: also ST.004.a",), ()]


def test_receiver_rename_is_not_fixed_plus_new():
    assert stable_anchor("stream->synchronize(X) | default stream") == "synchronize(X) | default stream"
    assert stable_anchor("getCurrentMPSStream()->commandEncoder()") == "commandEncoder()"
    assert stable_anchor("buffer_block->heap->pool->pool_mutex") == "pool_mutex"
    assert stable_anchor("[_commandBuffer commit]") == "[commit]"
    base = [_f("ST.001.a", "getCurrentMPSStream()->commandEncoder()")]
    head = [_f("ST.001.a", "current_stream_->commandEncoder()", line=40)]
    d = diff_findings(base, head)
    assert not d.new and not d.fixed and len(d.unchanged) == 1


def test_a_baseline_of_the_older_fingerprints_still_matches():
    f = _f("ST.001.a", "stream->commandEncoder()")
    assert f.fingerprint != f.legacy_fingerprint
    kept, dropped = baseline.apply([f], {f.legacy_fingerprint})
    assert not kept and dropped == 1


def test_json_carries_details_and_flows():
    f = Finding("ST.009.a", "error", "a.mm", 1, 1, "cycle", details=("thread 1",),
                flows=((Related("a.mm", 1, "takes a"), Related("a.mm", 2, "waits for b")),))
    doc = f.to_json()
    assert doc["details"] == ["thread 1"] and doc["flows"][0][1]["message"] == "waits for b"


def test_gate_summary_shows_details_on_their_own_lines():
    from checks.gate.diff import FindingDiff
    from checks.gate.summary import GateResult, markdown, text

    f = Finding("ST.009.a", "error", "a.mm", 3, 1, "lock-order cycle a -> b -> a", "f", "cycle:a | b",
                details=("thread 1: holds a then takes b", "  via a.mm:5 (g)"))
    result = GateResult("b" * 40, "h" * 40, FindingDiff(new=[f]), blocking=[f])
    row = next(line for line in markdown(result).splitlines() if line.startswith("| `a.mm:3`"))
    assert row.endswith("| lock-order cycle a -> b -> a<br>thread 1: holds a then takes b<br>via a.mm:5 (g) |")
    assert text(result).splitlines()[:3] == ["a.mm:3:1: error: lock-order cycle a -> b -> a [ST.009.a] (new)",
                                             "    thread 1: holds a then takes b", "      via a.mm:5 (g)"]


def test_sub_checks_of_one_family_on_one_line_need_no_note():
    out = crossref.merge([_f("ST.003.a", "handler | pool"), _f("ST.003.b", "handler | heap")])
    assert [f.details for f in out] == [(), ()]
