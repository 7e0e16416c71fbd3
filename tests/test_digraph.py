"""analyzers.digraph against networkx (what the lock graph used before): the same cycles and components."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from analyzers.digraph import Digraph, simple_cycles, strongly_connected


def _canonical(cycles) -> set[tuple[str, ...]]:
    out = set()
    for nodes in cycles:
        start = nodes.index(min(nodes))
        out.add(tuple(nodes[start:] + nodes[:start]))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_cycles_and_components_match_networkx(seed):
    rng = random.Random(seed)
    names = [f"n{i:02d}" for i in range(rng.randint(1, 12))]
    edges = [(rng.choice(names), rng.choice(names)) for _ in range(rng.randint(0, 30))]
    ours, theirs = Digraph(edges), nx.DiGraph(edges)
    bound = rng.randint(1, 8)
    found = list(simple_cycles(ours, bound))
    assert len(found) == len(_canonical(found))                       # each cycle once
    assert all(c[0] == min(c) for c in found)                         # from its smallest node
    assert _canonical(found) == _canonical(nx.simple_cycles(theirs, length_bound=bound))
    assert sorted(map(sorted, strongly_connected(ours))) == sorted(map(sorted, nx.strongly_connected_components(theirs)))


def test_attributes_and_views():
    g = Digraph()
    g.add_node("a", level=1)
    g.add_edge("a", "b", shared=True, count=1)
    g.add_edge("b", "a", shared=False)
    g.edges["a", "b"]["count"] += 1
    assert "b" in g and g.nodes["a"] == {"level": 1} and g.has_edge("a", "b") and not g.has_edge("a", "c")
    assert list(g.edges) == [("a", "b"), ("b", "a")] and g.number_of_nodes() == 2 and g.number_of_edges() == 2
    assert list(g.edges(data="shared")) == [("a", "b", True), ("b", "a", False)]
    assert list(g.edges(data=True))[0] == ("a", "b", {"shared": True, "count": 2})


def test_a_long_chain_needs_no_recursion():
    chain = Digraph((f"n{i:05d}", f"n{i + 1:05d}") for i in range(5000))
    chain.add_edge("n05000", "n00000")
    assert len(strongly_connected(chain)) == 1
    assert list(simple_cycles(chain, 8)) == []
