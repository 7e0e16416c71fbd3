"""The lock-order graph, lockdep-style: nodes are lock classes, an edge A -> B means B was taken while A was held.

One-way data flow: `analyzers.lockgraph_extract.acquisitions(models, hierarchy)` turns the code model into
plain `Acquisition` records (interprocedural, with dispatch queues and the GPU wait as pseudo-locks), and
`graph_from(acquisitions, hierarchy)` builds the graph, its cycles and its hierarchy violations.
`findings(graph)` turns those into ST.009.a/b/c findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from analyzers.digraph import Digraph, simple_cycles, strongly_connected
from analyzers.findings import Finding, Related, stable_anchor
from analyzers.hierarchy import Hierarchy
from analyzers.lockgraph_extract import DEFAULT_DEPTH, Acquisition, Held, Site, acquisitions, simple_name
from analyzers.model import FileModel

__all__ = ["Acquisition", "Held", "Site", "LockGraph", "Cycle", "build_graph", "graph_from", "findings",
           "acquisitions", "simple_name", "DEFAULT_DEPTH"]
CYCLE_LENGTH_BOUND = 8
RULE_CYCLE, RULE_ORDER, RULE_UNKNOWN = "ST.009.a", "ST.009.b", "ST.009.c"


@dataclass(frozen=True)
class Cycle:
    """A lock-order cycle in canonical rotation (smallest node first): nodes[i] -> nodes[i+1]."""

    nodes: tuple[str, ...]

    def edges(self) -> list[tuple[str, str]]:
        """The cycle's edges in order."""
        return [(a, self.nodes[(i + 1) % len(self.nodes)]) for i, a in enumerate(self.nodes)]

    def __str__(self) -> str:
        return " -> ".join((*self.nodes, self.nodes[0]))


@dataclass
class LockGraph:
    """The graph plus what was found in it."""

    graph: Digraph
    hierarchy: Hierarchy
    cycles: list[Cycle] = field(default_factory=list)
    violations: list[tuple[str, str]] = field(default_factory=list)   # edges against the declared order
    unknown: list[str] = field(default_factory=list)                  # nodes the hierarchy does not name

    def edge(self, a: str, b: str) -> dict:
        """The attributes of edge a -> b (held_site, site, via, count, shared)."""
        return self.graph.edges[a, b]

    def node(self, name: str) -> dict:
        """The attributes of a node (level, kind, known, aliases, site)."""
        return self.graph.nodes[name]


# ---------------------------------------------------------------------------------------------------
# graph from plain acquisitions


def graph_from(acqs: Iterable[Acquisition], hierarchy: Hierarchy) -> LockGraph:
    """Build the lock-order graph; each edge keeps its most direct, then first (by file and line) locations."""
    g = Digraph()
    # the most direct evidence first: fewest calls in between, then file order
    ordered = sorted(acqs, key=lambda a: (len(a.via), a.site, tuple(h.site for h in a.held), a.via))
    for acq in ordered:     # nodes first, so each node's site is where it is first taken
        _add_node(g, hierarchy, acq.lock, acq.kind, acq.alias, acq.site)
    for acq in ordered:
        for held in acq.held:
            if held.lock == acq.lock and _recursive(g, held.lock):
                continue     # re-entering a recursive mutex is fine
            _add_node(g, hierarchy, held.lock, "", "", held.site)
            shared = held.shared and acq.shared
            if g.has_edge(held.lock, acq.lock):
                data = g.edges[held.lock, acq.lock]
                data["count"] += 1
                data["shared"] = data["shared"] and shared
            else:
                g.add_edge(held.lock, acq.lock, held_site=held.site, site=acq.site, via=acq.via,
                           count=1, shared=shared)
    result = LockGraph(g, hierarchy)
    result.cycles = find_cycles(g)
    result.violations = sorted((a, b) for a, b in g.edges
                               if g.nodes[a]["known"] and g.nodes[b]["known"] and not hierarchy.allowed(a, b))
    result.unknown = sorted(n for n in g.nodes if not g.nodes[n]["known"])
    return result


def _add_node(g: Digraph, hierarchy: Hierarchy, name: str, kind: str, alias: str, site: Site) -> None:
    if name not in g:
        declared = hierarchy.by_name(name)
        g.add_node(name, known=declared is not None, level=declared.level if declared else None,
                   kind=declared.kind if declared else (kind or "mutex"), aliases=set(), site=site)
    elif kind and not g.nodes[name]["known"] and g.nodes[name]["kind"] == "mutex":
        g.nodes[name]["kind"] = kind
    if alias:
        g.nodes[name]["aliases"].add(alias)


def _recursive(g: Digraph, name: str) -> bool:
    return g.nodes[name]["kind"] == "recursive_mutex"


def find_cycles(g: Digraph) -> list[Cycle]:
    """Simple cycles (each once, smallest node first), ignoring edges where both sides were shared."""
    found = {tuple(nodes) for nodes in simple_cycles(_exclusive(g), CYCLE_LENGTH_BOUND)}
    return [Cycle(c) for c in sorted(found, key=lambda c: (len(c), c))]


def _exclusive(g: Digraph) -> Digraph:
    """The graph of the edges where not both sides were shared (only those can deadlock)."""
    return Digraph((a, b) for a, b, shared in g.edges(data="shared") if not shared)


# ---------------------------------------------------------------------------------------------------
# findings


def cycle_steps(graph: LockGraph, cycle: Cycle) -> list[str]:
    """Lockdep-style: one line per thread, its held lock and the lock it takes next, with file:line."""
    lines = []
    for i, (a, b) in enumerate(cycle.edges(), 1):
        e = graph.edge(a, b)
        via = "".join(f" via {s} ({simple_name(s.function)})" for s in e["via"])
        lines.append(f"thread {i}: holds {a} (taken at {e['held_site']}) then takes {b} at {e['site']}{via}")
    return lines


def cycle_details(graph: LockGraph, cycle: Cycle) -> list[str]:
    """cycle_steps for reading: one line per thread, each call on the way on its own indented line."""
    lines = []
    for i, (a, b) in enumerate(cycle.edges(), 1):
        e = graph.edge(a, b)
        lines.append(f"thread {i}: holds {a} (taken at {e['held_site']}) then takes {b} at {e['site']}")
        lines += [f"  via {s} ({simple_name(s.function)})" for s in e["via"]]
    return lines


def origin(edge: dict) -> Site:
    """Where an edge is made: the call in the holder's function, or the acquisition itself."""
    return edge["via"][0] if edge["via"] else edge["site"]


def components(graph: LockGraph) -> list[tuple[Cycle, list[Cycle]]]:
    """(witness, every cycle) per strongly connected component that has a cycle of two or more locks: the
    witness is the component's shortest such cycle (then the first by name), the root cause a fix must
    break. A lock taken again while held (a one-lock cycle) is its own problem, reported on its own."""
    member = {}
    for n, comp in enumerate(strongly_connected(_exclusive(graph.graph))):
        member.update((node, n) for node in comp)
    groups: dict[object, list[Cycle]] = {}
    for cycle in graph.cycles:             # already shortest first, then by name
        group = member[cycle.nodes[0]] if len(cycle.nodes) > 1 else cycle.nodes
        groups.setdefault(group, []).append(cycle)
    return sorted(((cycles[0], cycles) for cycles in groups.values()), key=lambda wc: (len(wc[0].nodes), wc[0].nodes))


def _flows(graph: LockGraph, cycle: Cycle) -> tuple[tuple[Related, ...], ...]:
    """One thread flow per edge of the cycle: where it takes the held lock, the calls, where it blocks."""
    flows = []
    for i, (a, b) in enumerate(cycle.edges(), 1):
        e = graph.edge(a, b)
        steps = [Related(e["held_site"].path, e["held_site"].line, f"thread {i} takes {a}")]
        steps += [Related(s.path, s.line, f"thread {i} calls {simple_name(s.function)}") for s in e["via"]]
        steps.append(Related(e["site"].path, e["site"].line, f"thread {i} waits for {b} here"))
        flows.append(tuple(steps))
    return tuple(flows)


def _cycle_finding(graph: LockGraph, witness: Cycle, cycles: list[Cycle]) -> Finding:
    first = graph.edge(*witness.edges()[0])
    where = origin(first)
    related = []
    for i, (a, b) in enumerate(witness.edges(), 1):
        e = graph.edge(a, b)
        related.append(Related(e["held_site"].path, e["held_site"].line, f"thread {i} holds {a} (taken here)"))
        related += [Related(s.path, s.line, f"thread {i} calls {simple_name(s.function)} here") for s in e["via"]]
        related.append(Related(e["site"].path, e["site"].line, f"thread {i} then takes {b} here"))
    locks = sorted({n for c in cycles for n in c.nodes})
    details = cycle_details(graph, witness)
    if len(cycles) > 1:
        details.insert(0, f"the shortest of {len(cycles)} cycles among {len(locks)} locks: {', '.join(locks)}")
        more = f"; and {len(cycles) - 4} more (python -m checks.lockgraph lists them)" if len(cycles) > 4 else ""
        details.append(f"the others include: {'; '.join(str(c) for c in cycles[1:4])}{more}")
    anchor, message = _anchor("cycle", witness.nodes), f"lock-order cycle {witness}"
    if len(witness.nodes) == 1:
        # one lock class taken again while held: its root cause is where the nested acquisition happens
        # (2.6.0's OOM path re-enters its own queue in release_cached_buffers; a stream pool's
        # synchronizeAllStreams enters another stream's queue in synchronize)
        anchor += f" | in {simple_name(first['site'].function) or first['site'].path}"
        message += f": {witness.nodes[0]} taken again while held (the same queue, or another instance of its class)"
    return Finding(RULE_CYCLE, "error", where.path, where.line, 1, message,
                   function=first["held_site"].function, anchor=anchor,
                   related=tuple(related), details=tuple(details), flows=_flows(graph, witness))


def _anchor(kind: str, locks) -> str:
    """'cycle:a | b': lock names without the objects they were reached through (stable_anchor keeps it)."""
    return f"{kind}:" + " | ".join(stable_anchor(lock) for lock in locks)


def findings(graph: LockGraph) -> list[Finding]:
    """ST.009.a one per cycle-carrying component (its shortest cycle), ST.009.b edges against the declared
    order, ST.009.c locks unknown to the hierarchy."""
    out: list[Finding] = [_cycle_finding(graph, witness, cycles) for witness, cycles in components(graph)]
    for a, b in graph.violations:
        e = graph.edge(a, b)
        la, lb = graph.node(a)["level"], graph.node(b)["level"]
        why = "is not recursive" if a == b else f"level {lb} is not below level {la}"
        where = origin(e)
        related = (Related(e["held_site"].path, e["held_site"].line, f"{a} taken here"),
                   *(Related(s.path, s.line, f"calls {simple_name(s.function)}") for s in e["via"][1:]),
                   *((Related(e["site"].path, e["site"].line, f"{b} taken here"),) if e["via"] else ()))
        taken = f" (through {simple_name(e['via'][0].function)}, which takes it at {e['site']})" if e["via"] else ""
        out.append(Finding(RULE_ORDER, "error", where.path, where.line, 1,
                           f"takes {b} while holding {a}: against the declared lock hierarchy ({b} {why})",
                           function=e["held_site"].function, anchor=_anchor("order", (a, b)), related=related,
                           details=(f"{a} taken at {e['held_site']}; {b} taken{taken or ' at ' + str(e['site'])}",)))
    for name in graph.unknown:
        node = graph.node(name)
        site = node["site"]
        seen = ", ".join(sorted(node["aliases"] - {name}))
        out.append(Finding(RULE_UNKNOWN, "warning", site.path, site.line, 1,
                           f"lock {name}{f' ({seen})' if seen else ''} is not in the declared lock hierarchy; add it with a level "
                           f"and patterns", function=site.function, anchor=f"unknown:{name}"))
    return out


def build_graph(models: list[FileModel], hierarchy: Hierarchy, depth: int = DEFAULT_DEPTH) -> LockGraph:
    """The lock-order graph of the scanned models against the declared hierarchy."""
    return graph_from(acquisitions(models, hierarchy, depth), hierarchy)

