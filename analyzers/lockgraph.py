"""The lock-order graph, lockdep-style: nodes are lock classes, an edge A -> B means B was taken while A was held.

Two layers with one-way data flow: `acquisitions(models, hierarchy)` turns the code model into plain
`Acquisition` records (interprocedural, with dispatch queues and the GPU wait as pseudo-locks), and
`graph_from(acquisitions, hierarchy)` builds the graph, its cycles and its hierarchy violations.
`findings(graph)` turns those into ST.009.a/b/c findings.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import networkx as nx

from analyzers.findings import Finding, Related
from analyzers.hierarchy import Hierarchy
from analyzers.model import Call, FileModel, Member, Scope

GPU_WAIT = "gpu-wait"                      # node name when the hierarchy declares no lock of kind 'gpu'
WAIT_CALLS = {"waitUntilCompleted", "commitAndWait"}     # block until the GPU (and its handlers) finish
WAIT_BY_ARGUMENT = {"synchronize": "COMMIT_AND_WAIT"}   # these wait only when an argument says so
HANDLER_CALLS = {"addCompletedHandler", "addScheduledHandler"}
DISPATCH_WRAPPERS = {"dispatch_sync_with_rethrow"}        # their block is already a dispatch scope at the caller
CYCLE_LENGTH_BOUND = 8
DEFAULT_DEPTH = 3
RULE_CYCLE, RULE_ORDER, RULE_UNKNOWN = "ST.009.a", "ST.009.b", "ST.009.c"


@dataclass(frozen=True, order=True)
class Site:
    """A place in the code: file, line and the enclosing function (or handler)."""

    path: str
    line: int
    function: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Held:
    """A lock held at some point: its node name and where it was taken."""

    lock: str
    site: Site
    shared: bool = False


@dataclass(frozen=True)
class Acquisition:
    """Lock `lock` taken at `site` while `held` (outermost first) were held; `via` is the call chain to it."""

    lock: str
    site: Site
    held: tuple[Held, ...] = ()
    shared: bool = False
    kind: str = "mutex"       # mutex | recursive_mutex | shared_mutex | queue | gpu (used for unknown locks)
    alias: str = ""           # the code-level name, e.g. 'MPSHeapAllocatorImpl::m_mutex' or 'queue:stream->queue()'
    via: tuple[Site, ...] = ()


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

    graph: nx.DiGraph
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
    """Build the lock-order graph; edges keep the first (by file and line) locations of each pair."""
    g = nx.DiGraph()
    for acq in sorted(acqs, key=lambda a: (a.site, a.held and a.held[0].site, a.via)):
        _add_node(g, hierarchy, acq.lock, acq.kind, acq.alias, acq.site)
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


def _add_node(g: nx.DiGraph, hierarchy: Hierarchy, name: str, kind: str, alias: str, site: Site) -> None:
    if name not in g:
        declared = hierarchy.by_name(name)
        g.add_node(name, known=declared is not None, level=declared.level if declared else None,
                   kind=declared.kind if declared else (kind or "mutex"), aliases=set(), site=site)
    elif kind and not g.nodes[name]["known"] and g.nodes[name]["kind"] == "mutex":
        g.nodes[name]["kind"] = kind
    if alias:
        g.nodes[name]["aliases"].add(alias)


def _recursive(g: nx.DiGraph, name: str) -> bool:
    return g.nodes[name]["kind"] == "recursive_mutex"


def find_cycles(g: nx.DiGraph) -> list[Cycle]:
    """Simple cycles (each once, smallest node first), ignoring edges where both sides were shared."""
    exclusive = nx.DiGraph((a, b) for a, b, shared in g.edges(data="shared") if not shared)
    found = set()
    for nodes in nx.simple_cycles(exclusive, length_bound=CYCLE_LENGTH_BOUND):
        start = nodes.index(min(nodes))
        found.add(tuple(nodes[start:] + nodes[:start]))
    return [Cycle(c) for c in sorted(found, key=lambda c: (len(c), c))]


# ---------------------------------------------------------------------------------------------------
# findings


def cycle_steps(graph: LockGraph, cycle: Cycle) -> list[str]:
    """Lockdep-style: one line per thread, its held lock and the lock it takes next, with file:line."""
    lines = []
    for i, (a, b) in enumerate(cycle.edges(), 1):
        e = graph.edge(a, b)
        via = "".join(f" via {s} ({s.function})" for s in e["via"])
        lines.append(f"thread {i}: holds {a} (taken at {e['held_site']}) then takes {b} at {e['site']}{via}")
    return lines


def findings(graph: LockGraph) -> list[Finding]:
    """ST.009.a cycles, ST.009.b edges against the declared order, ST.009.c locks unknown to the hierarchy."""
    out: list[Finding] = []
    for cycle in graph.cycles:
        first = graph.edge(*cycle.edges()[0])
        related = []
        for i, (a, b) in enumerate(cycle.edges(), 1):
            e = graph.edge(a, b)
            related.append(Related(e["held_site"].path, e["held_site"].line, f"thread {i} holds {a} (taken here)"))
            related += [Related(s.path, s.line, f"thread {i} calls {s.function or 'this'} here") for s in e["via"]]
            related.append(Related(e["site"].path, e["site"].line, f"thread {i} then takes {b} here"))
        steps = "; ".join(cycle_steps(graph, cycle))
        out.append(Finding(RULE_CYCLE, "error", first["site"].path, first["site"].line, 1,
                           f"lock-order cycle {cycle}: {steps}", function=first["site"].function,
                           anchor="cycle:" + "->".join(cycle.nodes), related=tuple(related)))
    for a, b in graph.violations:
        e = graph.edge(a, b)
        la, lb = graph.node(a)["level"], graph.node(b)["level"]
        why = "is not recursive" if a == b else f"level {lb} is not below level {la}"
        via = "".join(f" via {s}" for s in e["via"])
        related = (Related(e["held_site"].path, e["held_site"].line, f"{a} taken here"),
                   *(Related(s.path, s.line, "through this call") for s in e["via"]))
        out.append(Finding(RULE_ORDER, "error", e["site"].path, e["site"].line, 1,
                           f"takes {b} while holding {a} (taken at {e['held_site']}){via}: against the declared "
                           f"lock hierarchy ({b} {why})", function=e["site"].function,
                           anchor=f"order:{a}->{b}", related=related))
    for name in graph.unknown:
        node = graph.node(name)
        site = node["site"]
        seen = ", ".join(sorted(node["aliases"])) or name
        out.append(Finding(RULE_UNKNOWN, "warning", site.path, site.line, 1,
                           f"lock {name} ({seen}) is not in the declared lock hierarchy; add it with a level "
                           f"and patterns", function=site.function, anchor=f"unknown:{name}"))
    return out


# ---------------------------------------------------------------------------------------------------
# acquisitions from the code model


@dataclass(frozen=True)
class _Fn:
    """A function definition and the file it is in."""

    model: FileModel
    scope: Scope

    @property
    def name(self) -> str:
        return self.scope.name


@dataclass
class _Event:
    """Something that happens in a context: a lock taken (lock set) or a call (callees set)."""

    site: Site
    held: tuple[Held, ...]
    lock: str = ""
    kind: str = ""
    alias: str = ""
    shared: bool = False
    callees: tuple[_Fn, ...] = ()
    call: Call | None = None


class _Extractor:
    """Walks every context (function body, escaping block, completion handler) of the scanned models."""

    def __init__(self, models: list[FileModel], hierarchy: Hierarchy, depth: int):
        self.models = models
        self.hierarchy = hierarchy
        self.depth = depth
        gpu = next((lock for lock in hierarchy.locks if lock.kind == "gpu"), None)
        self.gpu = gpu.name if gpu else GPU_WAIT
        self.functions: dict[str, list[_Fn]] = defaultdict(list)     # qualified name -> definitions
        self.by_simple: dict[str, set[str]] = defaultdict(set)       # simple name -> qualified names
        self.members: dict[str, list[Member]] = defaultdict(list)   # member name -> declarations
        for model in models:
            for scope in model.scopes("function"):
                if scope.name:
                    self.functions[scope.name].append(_Fn(model, scope))
                    self.by_simple[_simple(scope.name)].add(scope.name)
            for member in model.members:
                self.members[member.name].append(member)
        self._events: dict[int, list[_Event]] = {}
        self._summaries: dict[tuple[str, int, bool], list[tuple[_Event, tuple[Site, ...]]]] = {}

    # -- contexts ---------------------------------------------------------------------------------

    def contexts(self) -> Iterator[tuple[FileModel, Scope]]:
        """Every context root: functions, and escaping blocks/lambdas/dispatches (they run on their own)."""
        for model in self.models:
            for scope in model.scopes():
                if self._is_root(scope) and not self._in_wrapper(scope):
                    yield model, scope

    @staticmethod
    def _is_root(scope: Scope) -> bool:
        return scope.kind == "function" or (scope.kind in ("block", "lambda", "dispatch") and scope.escaping)

    @staticmethod
    def _in_wrapper(scope: Scope) -> bool:
        fn = scope.function()
        return fn is not None and _simple(fn.name) in DISPATCH_WRAPPERS

    def _context_scopes(self, root: Scope) -> Iterator[Scope]:
        """The root and nested scopes that run as part of it (not escaping ones, which are roots themselves)."""
        yield root
        for child in root.children:
            if not self._is_root(child):
                yield from self._context_scopes(child)

    def events(self, model: FileModel, root: Scope) -> list[_Event]:
        """Locks taken, waits and resolvable calls in one context, each with what is held there."""
        if id(root) in self._events:
            return self._events[id(root)]
        entry = self._entry_held(model, root)
        fn_name = self._context_name(root)
        out: list[_Event] = []
        for scope in self._context_scopes(root):
            for region in scope.locks:
                if region.kind == "call_once":
                    continue     # one-time initialisation, not a lock class of the hierarchy
                lock, kind, alias = self._mutex(model, scope, region.lock)
                out.append(_Event(Site(model.path, region.line, fn_name),
                                  entry + self._held(model, scope, region.line, root, skip=region),
                                  lock=lock, kind=kind, alias=alias, shared=region.shared))
            for child in scope.children:
                if child.kind == "dispatch" and child.queue and not child.escaping:
                    lock, alias = self._queue(model, scope, child.queue)
                    out.append(_Event(Site(model.path, child.line, fn_name),
                                      entry + self._held(model, scope, child.line, root),
                                      lock=lock, kind="queue", alias=alias))
            for call in scope.calls:
                site = Site(model.path, call.line, fn_name)
                held = entry + self._held(model, scope, call.line, root)
                if self._waits(call):
                    out.append(_Event(site, held, lock=self.gpu, kind="gpu", alias=call.callee or call.name))
                callees = self.resolve(model, scope, call)
                if callees:
                    out.append(_Event(site, held, callees=callees, call=call))
        self._events[id(root)] = out
        return out

    def _entry_held(self, model: FileModel, root: Scope) -> tuple[Held, ...]:
        """What a context starts holding: handlers run inside the GPU wait, async dispatches on their queue."""
        site = Site(model.path, root.line, self._context_name(root))
        held: list[Held] = []
        if self._is_handler(model, root):
            held.append(Held(self.gpu, site))
        if root.kind == "dispatch" and root.queue:
            held.append(Held(self._queue(model, root.parent or root, root.queue)[0], site))
        return tuple(held)

    def _is_handler(self, model: FileModel, scope: Scope) -> bool:
        if scope.handler:
            return True
        if scope.kind not in ("block", "lambda") or scope.parent is None:
            return False
        # a block passed to a C++ wrapper such as MPSStream::addCompletedHandler(block)
        calls = [c for c in scope.parent.calls if c.token < scope.first_token and c.line <= scope.line]
        return bool(calls) and max(calls, key=lambda c: c.token).name in HANDLER_CALLS

    def _context_name(self, root: Scope) -> str:
        fn = root.function()
        name = fn.name if fn is not None else ""
        if root.kind != "function":
            name += f" ({root.handler or root.dispatch or root.kind} at line {root.line})"
        return name

    def _held(self, model: FileModel, scope: Scope, line: int, root: Scope, skip=None) -> tuple[Held, ...]:
        """Locks held at `line` from the context root down to `scope`, outermost first."""
        held: list[Held] = []
        node: Scope | None = scope
        fn_name = self._context_name(root)
        while node is not None:
            here = []
            if node.kind == "dispatch" and node.queue and node is not root:
                here.append(Held(self._queue(model, node.parent or node, node.queue)[0],
                                 Site(model.path, node.line, fn_name)))
            for region in node.locks:
                if region is not skip and region.kind != "call_once" and region.line <= line <= region.end_line \
                        and not (region.line == line and skip is not None):
                    here.append(Held(self._mutex(model, node, region.lock)[0], Site(model.path, region.line, fn_name),
                                     region.shared))
            held[:0] = sorted(here, key=lambda h: h.site.line)
            if node is root:
                break
            node = node.parent
        return tuple(held)

    # -- naming locks -------------------------------------------------------------------------------

    def _mutex(self, model: FileModel, scope: Scope, expr: str) -> tuple[str, str, str]:
        """(node name, kind, code-level name) of a mutex expression."""
        owner, member = self._owner(model, scope, expr)
        short = owner.split("::")[-1]
        alias = f"{short}::{member.name if member else _last_ident(expr)}" if short else \
            (f"{model.path}::{expr}" if member is not None and member.static else expr)
        kind = "mutex"
        if member is not None and "recursive" in member.type:
            kind = "recursive_mutex"
        elif member is not None and "shared" in member.type:
            kind = "shared_mutex"
        declared = self.hierarchy.classify(expr, owner)
        return (declared.name if declared else alias), kind, alias

    def _queue(self, model: FileModel, scope: Scope, expr: str) -> tuple[str, str]:
        """(node name, code-level name) of a dispatch queue expression."""
        owner, _ = self._owner(model, scope, expr)
        alias = f"queue:{expr}"
        declared = self.hierarchy.classify(expr, owner)
        return (declared.name if declared else alias), alias

    def _owner(self, model: FileModel, scope: Scope, expr: str) -> tuple[str, Member | None]:
        """The class declaring the member an expression names ('' when unknown) and that member."""
        name = _last_ident(expr)
        if expr.endswith(")"):
            return "", None       # a call such as stream->queue(): the object's class is not known here
        cls = _class_of(scope)
        candidates = [m for m in self.members.get(name, []) if not m.function]
        if re.fullmatch(r"(this->)?\w+", expr):
            if cls:
                own = [m for m in candidates if m.owner and _simple(m.owner) == _simple(cls)]
                if own:
                    return own[0].owner, own[0]
            statics = [m for m in candidates if not m.owner and m.static]
            if statics:
                return "", statics[0]
            return cls, None
        if "::" in expr and not re.search(r"->|\.", expr):
            return expr.rsplit("::", 1)[0], next((m for m in candidates if m.owner.endswith(expr.rsplit("::", 1)[0])),
                                                 None)
        owners = {m.owner for m in candidates if m.owner}
        if len(owners) == 1:
            owner = owners.pop()
            return owner, next(m for m in candidates if m.owner == owner)
        return "", None

    def _waits(self, call: Call) -> bool:
        if call.name in WAIT_CALLS:
            return True
        needle = WAIT_BY_ARGUMENT.get(call.name)
        return bool(needle) and any(needle in arg for arg in call.args)

    # -- calls --------------------------------------------------------------------------------------

    def resolve(self, model: FileModel, scope: Scope, call: Call) -> tuple[_Fn, ...]:
        """Definitions a call may reach in the scanned tree (qualified, same class, receiver type, unique name)."""
        if call.objc or call.name in DISPATCH_WRAPPERS or call.name in WAIT_CALLS:
            return ()
        callee = re.sub(r"<[^<>]*>", "", call.callee).lstrip(":")
        names: set[str] = set()
        if "::" in callee and not re.search(r"->|\.", callee):
            names = {q for q in self.by_simple.get(call.name, ()) if q == callee or q.endswith("::" + callee)}
        elif call.receiver in ("", "this", "self"):
            cls = _class_of(scope)
            names = {q for q in self.by_simple.get(call.name, ()) if cls and q == f"{cls}::{call.name}"}
            if not names and cls:
                names = {q for q in self.by_simple.get(call.name, ()) if q.endswith(f"{_simple(cls)}::{call.name}")}
        else:
            cls = self._receiver_class(model, scope, call.receiver)
            if cls:
                names = {q for q in self.by_simple.get(call.name, ()) if q.endswith(f"{cls}::{call.name}")}
        if not names:
            found = self.by_simple.get(call.name, set())
            names = set(found) if len(found) == 1 else set()
        return tuple(fn for q in sorted(names) for fn in self.functions[q])

    def _receiver_class(self, model: FileModel, scope: Scope, receiver: str) -> str:
        """The class of a receiver that is a data member with a declared type (e.g. m_stream: MPSStream*)."""
        owner, member = self._owner(model, scope, receiver)
        if member is None:
            return ""
        return _simple(re.sub(r"\b(const|std::shared_ptr|std::unique_ptr)\b|[*&<>\s]", "", member.type)) or ""

    def summary(self, fn: _Fn, depth: int, waits: bool = True) -> list[tuple[_Event, tuple[Site, ...]]]:
        """Every lock the call of `fn` takes (its own and its callees' up to `depth`), with the call chain."""
        key = (fn.name + f"@{fn.model.path}:{fn.scope.line}", depth, waits)
        if key in self._summaries:
            return self._summaries[key]
        self._summaries[key] = []      # recursion guard
        out: list[tuple[_Event, tuple[Site, ...]]] = []
        for event in self.events(fn.model, fn.scope):
            if event.lock:
                if waits or event.kind != "gpu":
                    out.append((event, ()))
            elif depth > 1:
                inner_waits = waits and event.call.name not in WAIT_BY_ARGUMENT
                for callee in event.callees:
                    out += [(e, (event.site, *via)) for e, via in self.summary(callee, depth - 1, inner_waits)]
        self._summaries[key] = out
        return out

    def acquisitions(self) -> Iterator[Acquisition]:
        """Direct acquisitions, and those reached through calls while something is held."""
        for model, root in self.contexts():
            for event in self.events(model, root):
                if event.lock:
                    yield Acquisition(event.lock, event.site, event.held, event.shared, event.kind, event.alias)
                elif event.held and self.depth > 0:
                    waits = event.call.name not in WAIT_BY_ARGUMENT
                    for callee in event.callees:
                        for inner, via in self.summary(callee, self.depth, waits):
                            yield Acquisition(inner.lock, inner.site, event.held + inner.held, inner.shared,
                                              inner.kind, inner.alias, (event.site, *via))


def acquisitions(models: list[FileModel], hierarchy: Hierarchy, depth: int = DEFAULT_DEPTH) -> list[Acquisition]:
    """All lock acquisitions in the models with what is held at each (calls followed `depth` levels)."""
    return list(_Extractor(models, hierarchy, depth).acquisitions())


def build_graph(models: list[FileModel], hierarchy: Hierarchy, depth: int = DEFAULT_DEPTH) -> LockGraph:
    """The lock-order graph of the scanned models against the declared hierarchy."""
    return graph_from(acquisitions(models, hierarchy, depth), hierarchy)


def _simple(qualified: str) -> str:
    """Last component of a qualified name; the class of an ObjC method name '-[Class sel:]'."""
    m = re.fullmatch(r"[-+]\[(\w+)[ (].*", qualified)
    if m:
        return m.group(1)
    return qualified.rsplit("::", 1)[-1]


def _class_of(scope: Scope) -> str:
    """Qualified class of the method enclosing `scope` ('' for free functions)."""
    fn = scope.function()
    if fn is None:
        cls = scope.enclosing("class")
        return cls.name if cls else ""
    m = re.fullmatch(r"[-+]\[(\w+)[ (].*", fn.name)
    if m:
        return m.group(1)
    cls = fn.enclosing("class")
    if cls is not None and cls.name:
        return cls.name
    return fn.name.rsplit("::", 1)[0] if "::" in fn.name else ""


def _last_ident(expr: str) -> str:
    idents = re.findall(r"[A-Za-z_]\w*", expr)
    return idents[-1] if idents else expr
