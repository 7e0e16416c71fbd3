"""Renderings of a LockGraph: text (lockdep-style), JSON, Graphviz dot, GraphML and a PNG picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from analyzers.lockgraph import LockGraph, cycle_steps, simple_name

UNKNOWN_LEVEL = -1     # where locks the hierarchy does not know are drawn (below everything)


def _level(graph: LockGraph, name: str) -> str:
    level = graph.node(name)["level"]
    return "unknown" if level is None else f"level {level}"


def _order(graph: LockGraph) -> list[str]:
    """Nodes highest level first, unknown ones last, then by name."""
    levels = {n: graph.node(n)["level"] for n in graph.graph.nodes}
    return sorted(levels, key=lambda n: (levels[n] is None, -(levels[n] or 0), n))


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _via(data: dict) -> str:
    return "".join(f" via {s} ({simple_name(s.function)})" for s in data["via"])


def text(graph: LockGraph, **_options) -> str:
    """Nodes with levels, edges with first locations, cycles lockdep-style, hierarchy violations."""
    g = graph.graph
    out = [f"lock-order graph: {_n(g.number_of_nodes(), 'lock')}, {_n(g.number_of_edges(), 'edge')}, "
           f"{_n(len(graph.cycles), 'cycle')}, {_n(len(graph.violations), 'hierarchy violation')}, "
           f"{_n(len(graph.unknown), 'unknown lock')}", "", "locks (outermost first):"]
    for name in _order(graph):
        node = graph.node(name)
        aliases = ", ".join(sorted(node["aliases"] - {name}))
        out.append(f"  {name:<28} {_level(graph, name):<9} {node['kind']:<16} first at {node['site']}"
                   + (f"  [{aliases}]" if aliases else ""))
    out += ["", "edges (A -> B: B taken while A is held; the most direct place of each):"]
    rank = {n: i for i, n in enumerate(_order(graph))}
    for a, b in sorted(g.edges, key=lambda e: (rank[e[0]], rank[e[1]])):
        d = g.edges[a, b]
        out.append(f"  {a} -> {b}: held at {d['held_site']}, taken at {d['site']}{_via(d)}"
                   + (f" ({d['count']} places)" if d["count"] > 1 else "") + (" [shared]" if d["shared"] else ""))
    out += ["", f"cycles ({len(graph.cycles)}):" if graph.cycles else "cycles: none"]
    for i, cycle in enumerate(graph.cycles, 1):
        out.append(f"  cycle {i}: {cycle}")
        out += [f"    {step}" for step in cycle_steps(graph, cycle)]
    out += ["", f"hierarchy violations ({len(graph.violations)}):" if graph.violations else "hierarchy violations: none"]
    for a, b in graph.violations:
        d = g.edges[a, b]
        out.append(f"  {a} ({_level(graph, a)}) -> {b} ({_level(graph, b)}): taken at {d['site']} "
                   f"while held since {d['held_site']}{_via(d)}")
    out += ["", f"unknown to the hierarchy ({len(graph.unknown)}):" if graph.unknown else "unknown to the hierarchy: none"]
    out += [f"  {name} first at {graph.node(name)['site']}" for name in graph.unknown]
    return "\n".join(out) + "\n"


def _site(site) -> dict[str, Any]:
    return {"path": site.path, "line": site.line, "function": site.function}


def as_dict(graph: LockGraph) -> dict[str, Any]:
    """The graph as plain data: nodes, edges, cycles (with steps), violations, unknown."""
    g = graph.graph
    return {
        "nodes": [{"name": n, "level": graph.node(n)["level"], "kind": graph.node(n)["kind"],
                   "known": graph.node(n)["known"], "aliases": sorted(graph.node(n)["aliases"]),
                   "site": _site(graph.node(n)["site"])} for n in _order(graph)],
        "edges": [{"from": a, "to": b, "held_at": _site(d["held_site"]), "taken_at": _site(d["site"]),
                   "via": [_site(s) for s in d["via"]], "count": d["count"], "shared": d["shared"]}
                  for a, b, d in sorted(g.edges(data=True), key=lambda e: (e[0], e[1]))],
        "cycles": [{"nodes": list(c.nodes), "steps": cycle_steps(graph, c)} for c in graph.cycles],
        "violations": [{"from": a, "to": b} for a, b in graph.violations],
        "unknown": list(graph.unknown),
    }


def _cycle_edges(graph: LockGraph) -> set[tuple[str, str]]:
    return {e for c in graph.cycles for e in c.edges()}


def dot(graph: LockGraph, **_options) -> str:
    """Graphviz dot: one rank per level, cycle edges red, hierarchy violations dashed."""
    red, bad = _cycle_edges(graph), set(graph.violations)
    out = ["digraph lockgraph {", "  rankdir=TB;", '  node [shape=box, fontname="Helvetica"];']
    levels: dict[Any, list[str]] = {}
    for name in _order(graph):
        levels.setdefault(graph.node(name)["level"], []).append(name)
    for level, names in levels.items():
        label = "unknown" if level is None else f"level {level}"
        nodes = " ".join(f'"{n}" [label="{n}\\n{label}"{", style=dashed" if level is None else ""}];' for n in names)
        out.append(f"  {{ rank=same; {nodes} }}")
    for a, b, d in sorted(graph.graph.edges(data=True), key=lambda e: (e[0], e[1])):
        attrs = [f'label="{d["site"]}"']
        if (a, b) in red:
            attrs.append("color=red, penwidth=2")
        if (a, b) in bad:
            attrs.append("style=dashed")
        out.append(f'  "{a}" -> "{b}" [{", ".join(attrs)}];')
    out.append("}")
    return "\n".join(out) + "\n"


def graphml(graph: LockGraph, **_options) -> str:
    """GraphML with scalar attributes (level -1 for unknown locks, sites as 'path:line')."""
    import networkx as nx   # only for this export (~90 ms to import)

    red, bad = _cycle_edges(graph), set(graph.violations)
    g = nx.DiGraph()
    for name in graph.graph.nodes:
        node = graph.node(name)
        g.add_node(name, level=UNKNOWN_LEVEL if node["level"] is None else node["level"], kind=node["kind"],
                   known=node["known"], aliases=",".join(sorted(node["aliases"])), site=str(node["site"]))
    for a, b, d in graph.graph.edges(data=True):
        g.add_edge(a, b, held_at=str(d["held_site"]), taken_at=str(d["site"]),
                   via=",".join(str(s) for s in d["via"]), count=d["count"], shared=d["shared"],
                   cycle=(a, b) in red, violation=(a, b) in bad)
    return "\n".join(nx.generate_graphml(g)) + "\n"


def png(graph: LockGraph, output: Path) -> None:
    """Draw the graph with levels as layers (outermost on top), cycle edges red, to a PNG file."""
    import matplotlib
    import networkx as nx
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = nx.DiGraph()            # drawn by networkx: the same nodes and edges, in the same order
    g.add_nodes_from(graph.graph.nodes)
    g.add_edges_from(graph.graph.edges)
    pos = _layered(graph)
    fig, ax = plt.subplots(figsize=(10, max(5.0, 1.3 * len({y for _, y in pos.values()}))))
    red = _cycle_edges(graph)
    edges = sorted(g.edges)
    size = 4600
    nx.draw_networkx_nodes(g, pos, ax=ax, node_size=size, node_shape="s", edgecolors="#333333",
                           node_color=["#f2f2f2" if graph.node(n)["known"] else "#ffe0a0" for n in g.nodes])
    nx.draw_networkx_labels(g, pos, labels={n: f"{n}\n({_level(graph, n)})" for n in g.nodes}, ax=ax, font_size=7)
    nx.draw_networkx_edges(g, pos, edgelist=edges, ax=ax, node_size=size, node_shape="s", arrows=True,
                           arrowsize=16, connectionstyle="arc3,rad=0.18",
                           edge_color=["#c00000" if e in red else "#555555" for e in edges],
                           width=[2.5 if e in red else 1.2 for e in edges])
    ax.set_title(f"lock-order graph: {_n(g.number_of_nodes(), 'lock')}, {_n(g.number_of_edges(), 'edge')}, "
                 f"{_n(len(graph.cycles), 'cycle')} (red)", fontsize=10)
    ax.margins(0.15)
    ax.axis("off")
    fig.tight_layout()
    try:
        fig.savefig(output, format="png", dpi=120)
    finally:
        plt.close(fig)


def _layered(graph: LockGraph) -> dict[str, tuple[float, float]]:
    """One row per level (outermost on top, unknown locks at the bottom); rows zig-zag sideways so that
    edges skipping a level do not run through the nodes in between."""
    rows: dict[int, list[str]] = {}
    for name in _order(graph):
        level = graph.node(name)["level"]
        rows.setdefault(UNKNOWN_LEVEL if level is None else level, []).append(name)
    pos = {}
    for r, level in enumerate(sorted(rows, reverse=True)):
        names = rows[level]
        shift = (-0.9, 0.0, 0.9)[r % 3]
        for i, name in enumerate(names):
            pos[name] = (shift + 1.6 * (i - (len(names) - 1) / 2), -float(r))
    return pos


RENDERERS: dict[str, Callable[..., str]] = {"text": text, "dot": dot, "graphml": graphml}
