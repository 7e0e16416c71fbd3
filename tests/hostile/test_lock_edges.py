"""Lock edges on one line (issue #15, part 5): the order of two guards is the order of their positions."""

from pathlib import Path

from analyzers.engine import load_models
from analyzers.hierarchy import load_hierarchy
from analyzers.lockgraph import build_graph

HEAD = "#include <mutex>\nstd::mutex a_mutex, b_mutex;\n"


def graph_of(tmp_path: Path, code: str):
    src = tmp_path / "one_line.cpp"
    src.write_text(HEAD + code)
    return build_graph(load_models([src], tmp_path, cache=False, jobs=1), load_hierarchy())


def test_one_line_ab_ba_is_a_cycle(tmp_path):
    graph = graph_of(tmp_path, "void ab() { std::lock_guard<std::mutex> x(a_mutex); std::lock_guard<std::mutex> y(b_mutex); }\n"
                               "void ba() { std::lock_guard<std::mutex> y(b_mutex); std::lock_guard<std::mutex> x(a_mutex); }\n")
    assert len(graph.cycles) == 1


def test_one_line_is_the_same_edge_as_two_lines(tmp_path):
    one = graph_of(tmp_path, "void f() { std::lock_guard<std::mutex> x(a_mutex); std::lock_guard<std::mutex> y(b_mutex); }\n")
    two = graph_of(tmp_path, "void f() {\n std::lock_guard<std::mutex> x(a_mutex);\n std::lock_guard<std::mutex> y(b_mutex);\n}\n")
    assert set(one.graph.edges) == set(two.graph.edges) and len(one.graph.edges) == 1


def test_one_statement_and_closed_scopes_make_no_edge(tmp_path):
    assert not graph_of(tmp_path, "void f() { std::scoped_lock l(a_mutex, b_mutex); }\n").graph.edges
    assert not graph_of(tmp_path, "void f() { { std::lock_guard<std::mutex> x(a_mutex); } "
                                  "{ std::lock_guard<std::mutex> y(b_mutex); } }\n").graph.edges
    assert not graph_of(tmp_path, "void f() { a_mutex.lock(); a_mutex.unlock(); b_mutex.lock(); b_mutex.unlock(); }\n"
                        ).graph.edges


def test_a_call_before_the_guard_on_the_same_line_is_not_under_it(tmp_path):
    graph = graph_of(tmp_path, "void g() { std::lock_guard<std::mutex> y(b_mutex); }\n"
                               "void f() { g(); std::lock_guard<std::mutex> x(a_mutex); }\n")
    assert not graph.graph.edges
    graph = graph_of(tmp_path, "void g() { std::lock_guard<std::mutex> y(b_mutex); }\n"
                               "void f() { std::lock_guard<std::mutex> x(a_mutex); g(); }\n")
    assert len(graph.graph.edges) == 1


def test_the_call_walk_is_bounded_by_work_not_only_depth(tmp_path, monkeypatch, capsys):
    from analyzers import lockgraph_extract
    from checks.hostile import PATTERNS

    src = tmp_path / "fan.mm"
    src.write_text(PATTERNS["fan-out"](8192))
    models = load_models([src], tmp_path, cache=False, jobs=1)
    full = lockgraph_extract.acquisitions(models, load_hierarchy())
    assert "call walk stopped" not in capsys.readouterr().err
    monkeypatch.setattr(lockgraph_extract, "WORK_BUDGET", 50)
    bounded = lockgraph_extract.acquisitions(models, load_hierarchy())
    assert "call walk stopped" in capsys.readouterr().err
    assert len(bounded) < len(full)
