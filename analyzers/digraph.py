"""A small directed graph with attributes, its strongly connected components and its bounded simple cycles.

The lock-order graph has tens of nodes; networkx, which it used, costs ~90 ms and ~14 MiB to import on
every run that builds the graph (a third of a one-file edit re-run on the MPS tree). The API is the part
of networkx's DiGraph the lock graph, its reports and the tests use: `g.nodes[n]`, `g.edges[a, b]`,
`g.edges(data=...)`, `has_edge`, `number_of_edges`. Exports to GraphML and drawings convert to networkx.
"""

from __future__ import annotations

from typing import Iterable, Iterator


class EdgeView(dict):
    """(a, b) -> attributes; calling it yields (a, b) or (a, b, data) like networkx's `g.edges(data=...)`."""

    def __call__(self, data: bool | str = False, default=None) -> Iterator[tuple]:
        if data is False:
            return iter(self)
        if data is True:
            return ((a, b, d) for (a, b), d in self.items())
        return ((a, b, d.get(data, default)) for (a, b), d in self.items())


class Digraph:
    """Nodes and edges with attribute dicts, in insertion order."""

    def __init__(self, edges: Iterable[tuple[str, str]] = ()):
        self.nodes: dict[str, dict] = {}
        self.edges = EdgeView()
        self.succ: dict[str, dict[str, dict]] = {}
        for a, b in edges:
            self.add_edge(a, b)

    def __contains__(self, node: object) -> bool:
        return node in self.nodes

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def add_node(self, node: str, **attrs) -> None:
        """Add a node (or update its attributes)."""
        self.nodes.setdefault(node, {}).update(attrs)
        self.succ.setdefault(node, {})

    def add_edge(self, a: str, b: str, **attrs) -> None:
        """Add an edge a -> b (or update its attributes); its ends are added as nodes."""
        for node in (a, b):
            if node not in self.nodes:
                self.add_node(node)
        data = self.edges.setdefault((a, b), {})
        data.update(attrs)
        self.succ[a][b] = data

    def has_edge(self, a: str, b: str) -> bool:
        """Whether a -> b is an edge."""
        return (a, b) in self.edges

    def number_of_nodes(self) -> int:
        """How many nodes."""
        return len(self.nodes)

    def number_of_edges(self) -> int:
        """How many edges."""
        return len(self.edges)


def strongly_connected(g: Digraph) -> list[set[str]]:
    """The strongly connected components (Tarjan's algorithm, iterative: no recursion limit on long chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    for start in g.nodes:
        if start in index:
            continue
        work = [(start, iter(g.succ[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(g.succ[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.add(member)
                    if member == node:
                        break
                out.append(comp)
    return out


def simple_cycles(g: Digraph, length_bound: int) -> Iterator[list[str]]:
    """Every simple cycle of at most `length_bound` nodes, once each, starting at its smallest node.

    A cycle lies within one strongly connected component; from each node `s`, in order, the search
    extends paths only through larger nodes of s's component, so each cycle is found from its smallest
    node only."""
    for comp in strongly_connected(g):
        for s in sorted(comp):
            allowed = {n for n in comp if n > s}
            if s in g.succ[s]:
                yield [s]
            path, on_path = [s], {s}
            work = [iter(g.succ[s])]
            while work:
                nxt = next(work[-1], None)
                if nxt is None:
                    work.pop()
                    on_path.discard(path.pop())
                    continue
                if nxt == s:
                    if len(path) > 1:
                        yield list(path)
                    continue
                if nxt in allowed and nxt not in on_path and len(path) < length_bound:
                    path.append(nxt)
                    on_path.add(nxt)
                    work.append(iter(g.succ[nxt]))
