"""The lock graph on MPS-style fixtures through the real parser: each hazard is found, each safe pattern is not."""

import json

import pytest

from analyzers.engine import load_models
from analyzers.hierarchy import load_hierarchy
from analyzers.lockgraph import build_graph, findings
from checks import lockgraph as cli
from checks.sources import REPO_ROOT

FIX = REPO_ROOT / "tests" / "fixtures" / "lockgraph"
H = load_hierarchy()


def graph_of(*names, depth=3):
    models = load_models([FIX / n for n in (*names, "mps_classes.h")], FIX)
    return build_graph(models, H, depth)


def rules(graph):
    return sorted({f.rule for f in findings(graph)})


def test_inversion_across_two_files_is_a_cycle():
    g = graph_of("inversion_a.mm", "inversion_b.mm")
    assert [c.nodes for c in g.cycles] == [("allocator_mutex", "event_pool_mutex")]
    ab, ba = g.edge("allocator_mutex", "event_pool_mutex"), g.edge("event_pool_mutex", "allocator_mutex")
    assert (str(ab["held_site"]), str(ab["site"]), [str(s) for s in ab["via"]]) == \
        ("inversion_b.mm:8", "inversion_a.mm:8", ["inversion_b.mm:13"])
    assert (str(ba["held_site"]), str(ba["site"]), [str(s) for s in ba["via"]]) == \
        ("inversion_a.mm:13", "inversion_a.mm:22", ["inversion_a.mm:16"])
    (cycle,) = [f for f in findings(g) if f.rule == "ST.009.a"]
    assert {r.path for r in cycle.related} == {"inversion_a.mm", "inversion_b.mm"}
    assert "thread 2: holds event_pool_mutex (taken at inversion_a.mm:13) then takes allocator_mutex" in "\n".join(cycle.details)


def test_one_half_of_the_inversion_is_only_a_hierarchy_violation():
    g = graph_of("inversion_a.mm")
    assert not g.cycles and g.violations == [("event_pool_mutex", "allocator_mutex")]
    assert rules(g) == ["ST.009.b"]


def test_inversion_needs_calls_followed():
    assert not graph_of("inversion_a.mm", "inversion_b.mm", depth=0).graph.number_of_edges()


def test_mutex_held_into_a_queue_whose_blocks_take_it():
    g = graph_of("dispatch_deadlock.mm")
    assert [c.nodes for c in g.cycles] == [("allocator_mutex", "stream_queue")]
    assert g.violations == [("allocator_mutex", "stream_queue")]
    assert str(g.edge("stream_queue", "allocator_mutex")["site"]) == "dispatch_deadlock.mm:18"


def test_waiting_for_the_gpu_under_a_mutex_its_handler_takes():
    g = graph_of("gpu_wait_deadlock.mm")
    assert [c.nodes for c in g.cycles] == [("allocator_mutex", "gpu_wait")]
    handler = g.edge("gpu_wait", "allocator_mutex")
    assert (str(handler["held_site"]), str(handler["site"])) == ("gpu_wait_deadlock.mm:8", "gpu_wait_deadlock.mm:9")
    assert str(g.edge("allocator_mutex", "gpu_wait")["site"]) == "gpu_wait_deadlock.mm:18"


def test_dropping_the_mutex_before_waiting_is_clean():
    g = graph_of("gpu_wait_ok.mm")
    assert not g.graph.has_edge("allocator_mutex", "gpu_wait") and not findings(g)
    assert g.graph.has_edge("stream_queue", "gpu_wait") and g.graph.has_edge("gpu_wait", "allocator_mutex")


def test_recursive_reentry_and_declared_order_are_clean():
    g = graph_of("recursive_ok.mm")
    assert g.graph.has_edge("stream_queue", "allocator_mutex")
    assert not g.cycles and not findings(g)


def test_hierarchy_violation_without_cycle():
    g = graph_of("hierarchy_violation.mm")
    assert not g.cycles and g.violations == [("event_cpu_sync_mutex", "event_pool_mutex")]
    assert rules(g) == ["ST.009.b"]


def test_unknown_lock_is_named_by_file_and_warned():
    g = graph_of("unknown_lock.mm")
    assert g.unknown == ["unknown_lock.mm::s_kernel_cache_mutex"]
    assert [(f.rule, f.severity, f.line) for f in findings(g)] == [("ST.009.c", "warning", 11)]


@pytest.mark.parametrize("names,code", [(["inversion_a.mm", "inversion_b.mm"], 1), (["recursive_ok.mm"], 0),
                                        (["unknown_lock.mm"], 0), (["hierarchy_violation.mm"], 1)])
def test_cli_exit_codes(names, code, capsys):
    assert cli.main([str(FIX / n) for n in names] + [str(FIX / "mps_classes.h")]) == code


def test_cli_formats(tmp_path, capsys):
    paths = [str(FIX / "inversion_a.mm"), str(FIX / "inversion_b.mm")]
    assert cli.main(paths) == 1
    out = capsys.readouterr().out
    assert "cycle 1: allocator_mutex -> event_pool_mutex -> allocator_mutex" in out
    assert "[ST.009.a]" in out
    assert cli.main(paths + ["--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["graph"]["cycles"][0]["nodes"] == ["allocator_mutex", "event_pool_mutex"] and doc["tool"]["version"]
    assert cli.main(paths + ["--format", "sarif"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    assert any(r.get("relatedLocations") for r in sarif["runs"][0]["results"])
    assert cli.main(paths + ["--format", "dot"]) == 1 and "color=red" in capsys.readouterr().out
    assert cli.main(paths + ["--format", "github"]) == 1 and "::error" in capsys.readouterr().out
    assert cli.main(paths + ["--format", "png", "--output", str(tmp_path / "g.png")]) == 1
    assert (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("argv,message", [
    (["nope/missing.mm"], "no such file"),
    ([], "give PATH"),
    ([str(FIX / "recursive_ok.mm"), "--format", "png"], "needs --output"),
    ([str(FIX / "recursive_ok.mm"), "--depth", "-1"], "--depth"),
    ([str(FIX / "recursive_ok.mm"), "--hierarchy", str(FIX / "nope.yaml")], "cannot read lock hierarchy"),
])
def test_cli_bad_input_is_one_line_exit_2(argv, message, capsys):
    from checks.cli import run
    assert run(cli.main, argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_reads_depth_from_config_and_a_custom_hierarchy(tmp_path, capsys):
    for name in ("inversion_a.mm", "inversion_b.mm"):
        (tmp_path / name).write_bytes((FIX / name).read_bytes())
    (tmp_path / "mps-verify.yaml").write_text("lockgraph:\n  depth: 0\n")
    assert cli.main([str(tmp_path)]) == 0                       # no calls followed: no edges at all
    assert "0 edges" in capsys.readouterr().out
    (tmp_path / "mps-verify.yaml").write_text("lockgraph:\n  depth: 3\n")
    swapped = tmp_path / "h.yaml"
    swapped.write_text("locks:\n"
                       "  - {name: pool, kind: recursive_mutex, level: 30, owner: MPSEventPool, patterns: ['m_mutex$']}\n"
                       "  - {name: alloc, kind: recursive_mutex, level: 20, owner: MPSHeapAllocatorImpl,"
                       " patterns: ['m_mutex$']}\n")
    assert cli.main([str(tmp_path / "inversion_a.mm"), "--hierarchy", str(swapped), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["graph"]["edges"][0]["from"] == "pool" and doc["graph"]["violations"] == []


def test_block_forwarded_to_a_listener_runs_later_but_an_inline_block_does_not():
    g = graph_of("forwarded_block.mm")
    edge = g.edge("stream_queue", "event_cpu_sync_mutex")          # only through runInline
    assert (str(edge["held_site"]), str(edge["site"])) == ("forwarded_block.mm:27", "forwarded_block.mm:29")
    assert edge["count"] == 1
