"""Graph algorithms, hierarchy check, findings and renderers over plain acquisitions (no parser involved)."""

import json
import xml.etree.ElementTree as ET

import pytest

from analyzers.findings import Report
from analyzers.hierarchy import load_hierarchy
from analyzers.lockgraph import Acquisition, Held, Site, findings, graph_from
from analyzers.lockgraph_render import as_dict, dot, graphml, png, text
from analyzers.reporters import render

H = load_hierarchy()


def acq(lock, path, line, *held, shared=False, kind="mutex", via=()):
    """`lock` taken at path:line while each (name, line[, shared]) in `held` is held in the same file."""
    return Acquisition(lock, Site(path, line, "f"), tuple(Held(h[0], Site(path, h[1], "f"), *h[2:]) for h in held),
                       shared=shared, kind=kind, via=via)


def test_inversion_is_one_cycle_with_both_threads():
    g = graph_from([acq("allocator_mutex", "a.mm", 5, ("event_pool_mutex", 3)),
                    acq("event_pool_mutex", "b.mm", 9, ("allocator_mutex", 7)),
                    acq("event_pool_mutex", "c.mm", 20, ("allocator_mutex", 18))], H)
    assert [c.nodes for c in g.cycles] == [("allocator_mutex", "event_pool_mutex")]
    e = g.edge("allocator_mutex", "event_pool_mutex")
    assert (str(e["held_site"]), str(e["site"]), e["count"]) == ("b.mm:7", "b.mm:9", 2)   # first place kept
    cyc = [f for f in findings(g) if f.rule == "ST.009.a"]
    assert len(cyc) == 1 and cyc[0].severity == "error"
    assert "thread 1: holds allocator_mutex (taken at b.mm:7) then takes event_pool_mutex at b.mm:9" in cyc[0].details
    assert "thread 2: holds event_pool_mutex (taken at a.mm:3) then takes allocator_mutex at a.mm:5" in cyc[0].details
    assert {(r.path, r.line) for r in cyc[0].related} == {("a.mm", 3), ("a.mm", 5), ("b.mm", 7), ("b.mm", 9)}


def test_cycle_reported_once_in_canonical_rotation():
    g = graph_from([acq("x", "a.mm", 2, ("y", 1)), acq("y", "a.mm", 4, ("z", 3)), acq("z", "a.mm", 6, ("x", 5))], H)
    assert [c.nodes for c in g.cycles] == [("x", "z", "y")]     # edges y->x, z->y, x->z


def test_recursive_reentry_is_not_a_cycle_but_plain_mutex_is():
    ok = graph_from([acq("allocator_mutex", "a.mm", 5, ("allocator_mutex", 3))], H)
    assert not ok.cycles and not ok.graph.has_edge("allocator_mutex", "allocator_mutex") and not findings(ok)
    bad = graph_from([acq("event_cpu_sync_mutex", "a.mm", 5, ("event_cpu_sync_mutex", 3))], H)
    assert [c.nodes for c in bad.cycles] == [("event_cpu_sync_mutex",)]
    assert {f.rule for f in findings(bad)} == {"ST.009.a", "ST.009.b"}


def test_unknown_recursive_kind_comes_from_the_acquisition():
    g = graph_from([acq("Foo::m", "a.mm", 5, ("Foo::m", 3), kind="recursive_mutex")], H)
    assert not g.cycles and g.unknown == ["Foo::m"]


def test_shared_then_shared_is_no_cycle():
    g = graph_from([acq("A::rw", "a.mm", 2, ("B::rw", 1, True), shared=True),
                    acq("B::rw", "a.mm", 4, ("A::rw", 3, True), shared=True)], H)
    assert not g.cycles
    g2 = graph_from([acq("A::rw", "a.mm", 2, ("B::rw", 1, True), shared=False),
                     acq("B::rw", "a.mm", 4, ("A::rw", 3, True), shared=False)], H)
    assert len(g2.cycles) == 1     # each reader waits for the other's writer


def test_hierarchy_violation_and_allowed_order():
    g = graph_from([acq("gpu_wait", "a.mm", 9, ("allocator_mutex", 4), kind="gpu"),
                    acq("allocator_mutex", "a.mm", 20, ("stream_queue", 18))], H)
    assert g.violations == [("allocator_mutex", "gpu_wait")]
    (f,) = [f for f in findings(g) if f.rule == "ST.009.b"]
    assert (f.path, f.line, f.severity) == ("a.mm", 9, "error")
    assert "gpu_wait level 40 is not below level 30" in f.message


def test_unknown_lock_is_a_warning_once():
    g = graph_from([acq("Foo::m_lock", "a.mm", 3), acq("Foo::m_lock", "a.mm", 30),
                    acq("allocator_mutex", "a.mm", 8)], H)
    fs = findings(g)
    assert [(f.rule, f.severity, f.line) for f in fs] == [("ST.009.c", "warning", 3)]


def test_clean_graph_has_no_findings():
    g = graph_from([acq("allocator_mutex", "a.mm", 5, ("stream_queue", 3)),
                    acq("event_pool_mutex", "a.mm", 6, ("stream_queue", 3), ("allocator_mutex", 5))], H)
    assert not findings(g) and g.graph.number_of_edges() == 3


def test_fingerprints_do_not_depend_on_lines():
    one = findings(graph_from([acq("x", "a.mm", 2, ("y", 1)), acq("y", "a.mm", 4, ("x", 3))], H))
    two = findings(graph_from([acq("x", "a.mm", 12, ("y", 11)), acq("y", "a.mm", 14, ("x", 13))], H))
    assert sorted(f.fingerprint for f in one) == sorted(f.fingerprint for f in two)


@pytest.fixture
def cyclic():
    return graph_from([acq("gpu_wait", "a.mm", 9, ("allocator_mutex", 4), kind="gpu",
                           via=(Site("a.mm", 8, "Alloc::free"),)),
                       acq("allocator_mutex", "a.mm", 30, ("gpu_wait", 29)),
                       acq("Foo::m", "b.mm", 3)], H)


def test_text_rendering(cyclic):
    out = text(cyclic)
    assert out.startswith("lock-order graph: 3 locks, 2 edges, 1 cycle, 1 hierarchy violation, 1 unknown lock")
    assert "  cycle 1: allocator_mutex -> gpu_wait -> allocator_mutex" in out
    assert "thread 1: holds allocator_mutex (taken at a.mm:4) then takes gpu_wait at a.mm:9 via a.mm:8" in out
    assert "allocator_mutex (level 30) -> gpu_wait (level 40): taken at a.mm:9" in out
    locks = out.split("locks (outermost first):\n")[1].split("\n\n")[0].splitlines()
    assert [line.split()[0] for line in locks] == ["gpu_wait", "allocator_mutex", "Foo::m"]


def test_machine_renderings(cyclic, tmp_path):
    doc = as_dict(cyclic)
    assert doc["cycles"][0]["nodes"] == ["allocator_mutex", "gpu_wait"] and doc["unknown"] == ["Foo::m"]
    assert json.dumps(doc)
    d = dot(cyclic)
    assert '"allocator_mutex" -> "gpu_wait" [label="a.mm:9", color=red, penwidth=2, style=dashed];' in d
    root = ET.fromstring(graphml(cyclic))
    assert len(root.findall(".//{http://graphml.graphdrawing.org/xmlns}edge")) == 2
    out = tmp_path / "g.png"
    png(cyclic, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sarif_carries_related_locations(cyclic):
    report = Report(tool={"name": "mps-verify"}, root="/src", checks=[], findings=findings(cyclic))
    sarif = json.loads(render(report, "sarif"))
    (result,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "ST.009.a"]
    assert len(result["relatedLocations"]) == 5
