"""Lock acquisitions from the code model: which lock class is taken where, and what is held there.

Contexts are function bodies and the blocks that run on their own (escaping blocks, async dispatches,
completion handlers). Serial dispatch queues entered with dispatch_sync are pseudo-locks, and so is
waiting for the GPU; completion handlers run inside that wait. Calls are followed a bounded number of
levels so a lock taken in a callee counts under the caller's held locks, minus those the callee drops
first (`m_mutex.unlock(); ...; m_mutex.lock();`, the upstream way to wait without the allocator lock).
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

from analyzers.hierarchy import Hierarchy
from analyzers.model import Call, FileModel, Member, Scope
from analyzers.parse import ESCAPING_CALLS, HANDLER_NAMES
from analyzers import callpaths, depends, symbols

_WORD = re.compile(r"\w+")
_MEMBER = re.compile(r"(this->)?\w+")
_ACCESS = re.compile(r"->|\.")
_TEMPLATE_ARGS = re.compile(r"<[^<>]*>")
_OBJC_METHOD = re.compile(r"[-+]\[(\w+)[ (].*")
_IDENT = re.compile(r"[A-Za-z_]\w*")

GPU_WAIT = "gpu-wait"                      # node name when the hierarchy declares no lock of kind 'gpu'
WAIT_CALLS = {"waitUntilCompleted", "commitAndWait"}     # block until the GPU (and its handlers) finish
WAIT_BY_ARGUMENT = {"synchronize": "COMMIT_AND_WAIT"}   # these wait only when an argument says so
DISPATCH_WRAPPERS = {"dispatch_sync_with_rethrow"}        # their block is already a dispatch scope at the caller
UNLOCK_CALLS = {"unlock", "unlock_shared"}
LOCK_CALLS = {"lock", "lock_shared"}
_WAIT_OR_UNLOCK = frozenset(WAIT_CALLS | set(WAIT_BY_ARGUMENT) | UNLOCK_CALLS)   # names _holds_nothing looks at
DEFAULT_DEPTH = 8                  # 2.6.0 stops changing at 5; the fork PR's out-of-memory path needs 8 (docs/lockgraph.md)
CHAINS_PER_ACQUISITION = 10       # call chains kept per reached acquisition (PyTorch 2.6.0: at most 9)
WORK_BUDGET = 5_000_000            # steps of the call walk (PyTorch 2.6.0 MPS tree: 1,031); then calls are not followed
INLINE, ESCAPING, HANDLER = "inline", "escaping", "handler"     # how a block or lambda runs


@dataclass(frozen=True, order=True, slots=True)
class Site:
    """A place in the code: file, line and the enclosing function (or handler)."""

    path: str
    line: int
    function: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class Held:
    """A lock held at some point: its node name and where it was taken."""

    lock: str
    site: Site
    shared: bool = False
    instance: str = ""        # for a queue: the object it belongs to ('this', 'stream'), see callpaths


@dataclass(frozen=True, slots=True)
class Acquisition:
    """Lock `lock` taken at `site` while `held` (outermost first) were held.

    `via` is the chain of call sites from the holder down to `site`; each via Site's `function` names the
    callee called there.
    """

    lock: str
    site: Site
    held: tuple[Held, ...] = ()
    shared: bool = False
    kind: str = "mutex"       # mutex | recursive_mutex | shared_mutex | queue | gpu (used for unknown locks)
    alias: str = ""           # the code-level name, e.g. 'MPSHeapAllocatorImpl::m_mutex' or 'queue:stream->queue()'
    via: tuple[Site, ...] = ()


@dataclass(frozen=True)
class _Fn:
    """A function definition and the file it is in."""

    model: FileModel
    scope: Scope

    @property
    def name(self) -> str:
        return self.scope.name


@dataclass(slots=True)     # 10^5 of them at 20 MB: a __dict__ each was ~1 KB
class _Event:
    """A lock taken (`lock` set) or a call into the scanned tree (`callees` set) in one context."""

    site: Site
    held: tuple[Held, ...]
    released: frozenset[str] = frozenset()    # locks of the caller this context has dropped at this point
    lock: str = ""
    kind: str = ""
    alias: str = ""
    shared: bool = False
    callees: tuple[_Fn, ...] | None = ()   # None: not resolved yet (see _Extractor.callees)
    call: Call | None = None
    where: Scope | None = None               # the scope `call` is in (to resolve it when first needed)
    guarded: bool = False     # a dispatch_sync behind a dispatch_get_specific re-entrancy check
    handoff: bool = False     # re-locks the caller's guard passed by reference
    instance: str = ""        # for a queue: the object it belongs to
    conds: frozenset = frozenset()   # requirements on the function's bool parameters (callpaths.conditions)


# event, call chain to it, locks dropped on the way, the guarded queue's object in this function's terms
# (None when not followed), requirements on this function's bool parameters
_Reached = tuple[_Event, tuple[Site, ...], frozenset[str], "str | None", frozenset]
SPECIFIC_CALLS = frozenset({"dispatch_get_specific", "dispatch_queue_get_specific"})


@dataclass
class LockFacts:
    """What one file adds to the lock graph's tables (plain data: cached per file)."""

    path: str
    functions: list[tuple[str, int]]     # (qualified name, scope ordinal) of the named function scopes
    called: set[str]                     # names of the calls anywhere in the file
    members: list[Member]
    quiet: bool                          # nothing locked, queued, waited for or unlocked in the whole file


def lock_facts(model: FileModel) -> LockFacts:
    """The lock-graph facts of one file."""
    scopes = list(model.scopes())
    called = {call.name for scope in scopes for call in scope.calls}
    quiet = called.isdisjoint(_WAIT_OR_UNLOCK) and not any(scope.takes_lock() for scope in scopes)
    functions = [(scope.name, n) for n, scope in enumerate(scopes) if scope.kind == "function" and scope.name]
    return LockFacts(model.path, functions, called, list(model.members), quiet)


class _Extractor:
    """Walks the contexts of the files in focus and follows calls between every file's functions.

    Built from each file's LockFacts; a model is loaded (`load(path)`) when its functions are first
    walked. Every table lookup is noted (analyzers.depends), so each file's contexts come with the keys
    they read (`units`)."""

    def __init__(self, facts: list[LockFacts], load, hierarchy: Hierarchy, depth: int,
                 types: symbols.Types, focus: list[str] | None = None):
        self.facts = facts
        self.load = load
        self.focus = [f.path for f in facts] if focus is None else focus
        self.hierarchy = hierarchy
        self.depth = depth
        gpu = next((lock for lock in hierarchy.locks if lock.kind == "gpu"), None)
        self.gpu = gpu.name if gpu else GPU_WAIT
        self.functions: dict[str, list[tuple[str, int]]] = defaultdict(list)   # qualified name -> definitions
        self.deps: dict = {}                    # memo key -> the keys its value was worked out from
        self.units: dict[str, frozenset] = {}   # path -> the keys its contexts read
        self._fns: dict[tuple[str, int], _Fn] = {}
        # resolve() looks functions up by a call's name: only functions so named somewhere are indexed
        # (generated files define 10^5 functions nothing calls); simple_name's cache is left to those
        called: set[str] = set().union(*(f.called for f in facts)) if facts else set()
        # files in which nothing is locked, queued, waited for or unlocked (most generated ones): every context
        # there that is not a completion handler holds nothing (see _holds_nothing), with no walk of its scopes
        self._quiet: set[str] = {f.path for f in facts if f.quiet}
        by_simple: dict[str, set[str]] = defaultdict(set)
        members: dict[str, list[Member]] = defaultdict(list)
        for f in facts:
            for name, ordinal in f.functions:
                simple = simple_name.__wrapped__(name)
                if simple in called:
                    self.functions[name].append((f.path, ordinal))
                    by_simple[simple].add(name)
            for member in f.members:
                members[member.name].append(member)
        self.by_simple: dict[str, set[str]] = depends.table("lgfn", set)       # simple name -> qualified names
        self.by_simple.update(by_simple)
        self.members: dict[str, list[Member]] = depends.table("lgmem", list)   # member name -> declarations
        self.members.update(members)
        self._runs: dict[int, str] = {}
        self._forwards: dict[int, str] = {}
        self._events: dict[int, list[_Event]] = {}
        self._summaries: dict[tuple[int, int, bool], list[_Reached]] = {}
        self._region_index: dict[int, tuple[list, list, list]] = {}
        self.work, self.budget, self.truncated = 0, WORK_BUDGET, False
        self._unlocks: dict[int, dict[int, list[tuple[int, str]]]] = {}
        self.types = types
        self._handoffs: dict[tuple[int, str], str] = {}
        self._sites: dict[str, list[tuple[FileModel, Scope, Call]]] | None = None
        self._backwards: dict[str, list[str]] = {}       # simple name -> its qualified names reversed, sorted
        self._owners: dict[str, dict[str, list[str]]] = {}   # simple name -> class (simple) -> qualified names

    # -- contexts ---------------------------------------------------------------------------------

    def _roots(self, model: FileModel) -> Iterator[Scope]:
        """The context roots of one file: functions, and blocks/lambdas/dispatches that run on their own;
        not the functions of a quiet file (no handler among them): they hold nothing (see _holds_nothing)."""
        quiet = model.path in self._quiet
        for scope in model.scopes():
            if quiet and scope.kind == "function" and not scope.handler:
                continue
            if self._is_root(model, scope) and not self._in_wrapper(scope):
                yield scope

    def _is_root(self, model: FileModel, scope: Scope) -> bool:
        return scope.kind == "function" or self._runs_as(model, scope) != INLINE

    @staticmethod
    def _in_wrapper(scope: Scope) -> bool:
        fn = scope.function()
        return fn is not None and simple_name(fn.name) in DISPATCH_WRAPPERS

    def _runs_as(self, model: FileModel, scope: Scope) -> str:
        """INLINE, ESCAPING or HANDLER for a block, lambda or dispatch scope (INLINE for anything else)."""
        if id(scope) in self._runs:
            depends.recall(self.deps, ("runs", id(scope)))
            return self._runs[id(scope)]
        runs = self._runs[id(scope)] = depends.worked_out(self.deps, ("runs", id(scope)),
                                                          lambda: self._runs_as_fresh(model, scope))
        return runs

    def _runs_as_fresh(self, model: FileModel, scope: Scope) -> str:
        runs = INLINE
        if scope.handler:
            runs = HANDLER
        elif scope.escaping:
            runs = ESCAPING
        elif scope.kind in ("block", "lambda") and scope.parent is not None:
            call = self._passed_to(scope)
            if call is not None and call.name in HANDLER_NAMES:
                runs = HANDLER
            elif call is not None:
                # a C++ wrapper that hands its block on, e.g. MPSEvent::notifyLocked -> notifyListener:block:
                kinds = {self._forwarding(fn) for fn in self.resolve(model, scope.parent, call)}
                runs = HANDLER if HANDLER in kinds else ESCAPING if ESCAPING in kinds else INLINE
        return runs

    @staticmethod
    def _passed_to(scope: Scope) -> Call | None:
        """The call a block or lambda literal is an argument of (the nearest preceding call taking one)."""
        calls = [c for c in scope.parent.calls if c.token < scope.first_token
                 and any(a.startswith(("^", "[")) for a in c.args)]
        return max(calls, key=lambda c: c.token) if calls else None

    def _forwarding(self, fn: _Fn) -> str:
        """HANDLER/ESCAPING if `fn` hands a block variable to a completion handler / an escaping API."""
        if id(fn.scope) not in self._forwards:
            found = INLINE
            for call in fn.scope.all_calls():
                if not any(_WORD.fullmatch(a) for a in call.args):
                    continue
                parts = {p for p in call.selector.split(":") if p} if call.objc else {call.name}
                if parts & HANDLER_NAMES:
                    found = HANDLER
                    break
                if parts & ESCAPING_CALLS or (call.objc and call.selector.endswith("block:")):
                    found = ESCAPING
            self._forwards[id(fn.scope)] = found
        return self._forwards[id(fn.scope)]

    def _context_scopes(self, model: FileModel, root: Scope) -> Iterator[Scope]:
        """The root and the nested scopes that run as part of it."""
        yield root
        for child in root.children:
            if not self._is_root(model, child):
                yield from self._context_scopes(model, child)

    def _context_name(self, model: FileModel, root: Scope) -> str:
        fn = root.function()
        name = fn.name if fn is not None else ""
        if root.kind != "function":
            how = root.handler or root.dispatch or self._runs_as(model, root)
            name += f" ({how} {root.kind} at line {root.line})"
        return name

    def events(self, model: FileModel, root: Scope) -> list[_Event]:
        """Locks taken, GPU waits and resolvable calls in one context, each with what is held there."""
        if id(root) in self._events:
            depends.recall(self.deps, ("events", id(root)))
            return self._events[id(root)]
        out = depends.worked_out(self.deps, ("events", id(root)), lambda: self._events_of(model, root))
        if out is None:
            return []      # no lock, call or dispatch: nothing to record (most small functions; not memoised)
        self._events[id(root)] = out
        return out

    def _events_of(self, model: FileModel, root: Scope) -> list[_Event] | None:
        scopes = list(self._context_scopes(model, root))
        if not any(s.locks or s.calls or s.children for s in scopes):
            return None
        site = Site(model.path, root.line, self._context_name(model, root))
        entry: tuple[Held, ...] = ()
        if self._runs_as(model, root) == HANDLER:
            entry += (Held(self.gpu, site),)
        if root.kind == "dispatch" and root.queue:
            entry += (Held(self._queue(model, root.parent or root, root.queue)[0], site,
                           instance=callpaths.canonical(model, root, callpaths.queue_object(root.queue))),)
        drops = self._drops(model, root, scopes)
        # a context with no lock and no inline dispatch holds only what it is entered with (most of them)
        can_hold = any(s.locks or (s.kind == "dispatch" and s.queue and s is not root) for s in scopes)
        out: list[_Event] = []

        def add(line: int, col: int, scope: Scope, token: int = -1, **what) -> None:
            released = frozenset(lock for lock, start, end in drops if start < line < end)
            held = self._held(model, scope, (line, col), root, site.function) if can_hold else ()
            out.append(_Event(Site(model.path, line, site.function), entry + held, released,
                              conds=callpaths.conditions(model, scope, token), **what))

        fn = root.function()
        guards = [c.token for c in fn.all_calls() if c.name in SPECIFIC_CALLS] if fn is not None else []
        for scope in scopes:
            for region in scope.locks:
                if region.kind == "call_once":
                    continue     # one-time initialisation, not a lock class of the hierarchy
                lock, kind, alias = self._mutex(model, scope, region.lock)
                add(region.line, region.col, scope, symbols.token_at(model, region.line, region.col), lock=lock,
                    kind=kind, alias=alias, shared=region.shared,
                    handoff=bool(symbols.guard_parameter(model, scope.function(), region.lock)))
            for child in scope.children:
                if child.kind == "dispatch" and child.queue and not self._is_root(model, child):
                    lock, alias = self._queue(model, scope, child.queue)
                    add(child.line, child.col, scope, token=child.first_token, lock=lock, kind="queue", alias=alias,
                        guarded=any(t < (child.dispatched_at or child.first_token) for t in guards),
                        instance=callpaths.canonical(model, scope, callpaths.queue_object(child.queue)))
            for call in scope.calls:
                if self._waits(call):
                    add(call.line, call.col, scope, token=call.token, lock=self.gpu, kind="gpu",
                        alias=call.callee or call.name)
                # resolved when first followed (most calls are never followed: nothing is held there)
                if self._resolvable(call):
                    add(call.line, call.col, scope, token=call.token, callees=None, call=call, where=scope)
        return out

    def _held(self, model: FileModel, scope: Scope, at: tuple[int, int], root: Scope,
              context: str) -> tuple[Held, ...]:
        """Locks held at position `at` (line, column) from the context root down to `scope`, outermost first.

        By position, not line: two guards on one line are taken in order (one-line functions have
        lock orders too), while the locks of one statement (scoped_lock of several) have none."""
        held: list[Held] = []
        node: Scope | None = scope
        while node is not None:
            here = []
            if node.kind == "dispatch" and node.queue and node is not root:
                here.append(Held(self._queue(model, node.parent or node, node.queue)[0],
                                 Site(model.path, node.line, context),
                                 instance=callpaths.canonical(model, node, callpaths.queue_object(node.queue))))
            for region in self._regions_at(model, node, at):
                here.append(Held(self._mutex(model, node, region.lock)[0], Site(model.path, region.line, context),
                                 region.shared))
            held[:0] = sorted(here, key=lambda h: h.site.line)
            if node is root:
                break
            node = node.parent
        return tuple(held)

    def _regions_at(self, model: FileModel, node: Scope, at: tuple[int, int]) -> list:
        """The lock regions of `node` taken before `at` and not yet released there.

        Regions sorted by start with a running maximum of their end lines: the walk back stops where
        no earlier region reaches `at` (scanning every region for every event was quadratic)."""
        index = self._region_index.get(id(node))
        if index is None:
            regions = sorted((r for r in node.locks if r.kind != "call_once"), key=lambda r: (r.line, r.col))
            reach, top = [], 0
            for r in regions:
                top = max(top, r.end_line)
                reach.append(top)
            index = self._region_index[id(node)] = ([(r.line, r.col) for r in regions], regions, reach)
        starts, regions, reach = index
        line = at[0]
        found = []
        j = bisect_left(starts, at) - 1
        while j >= 0 and reach[j] >= line:
            r = regions[j]
            if r.end_line > line or (r.end_line == line and not self._released_before(model, node, r, at)):
                found.append(r)
            j -= 1
        found.reverse()
        return found

    def _released_before(self, model: FileModel, node: Scope, region, at: tuple[int, int]) -> bool:
        """Whether a region ending on the line of `at` ends before `at` (`{ lock_guard a(m1); } lock_guard b(m2);`)."""
        if region.released_by == "scope":
            end = node.last_token
            if 0 <= end < len(model.tokens):
                tok = model.tokens[end]
                return (tok.line, tok.col) < at
            return False
        if region.released_by == "unlock":
            unlocks = self._unlocks.get(id(model))
            if unlocks is None:
                unlocks = self._unlocks[id(model)] = defaultdict(list)
                for s in model.scopes():
                    for c in s.calls:
                        if c.name in UNLOCK_CALLS:
                            unlocks[c.line].append((c.col, c.receiver))
            names = {region.var, region.lock} - {""}
            return any((region.line, region.col) < (region.end_line, col) < at and receiver in names
                       for col, receiver in unlocks.get(region.end_line, ()))
        return False

    def _drops(self, model: FileModel, root: Scope, scopes: list[Scope]) -> list[tuple[str, int, int]]:
        """(lock, from, to) spans where this context has unlocked a mutex its caller holds."""
        if not any(c.name in UNLOCK_CALLS and c.receiver for s in scopes for c in s.calls):
            return []        # most contexts unlock nothing: no need to order their calls
        regions = [r for s in scopes for r in s.locks]
        calls = sorted(((c, s) for s in scopes for c in s.calls), key=lambda cs: cs[0].token)
        # what the unlock()s are checked against, indexed once (a scan per unlock() was quadratic)
        guards = {r.var for r in regions}
        ended = {(r.lock, r.end_line) for r in regions}
        relocks: dict[str, list[tuple[int, int, Scope]]] = defaultdict(list)   # receiver -> (token, line, scope)
        for c, s in calls:
            if c.name in LOCK_CALLS:
                relocks[c.receiver].append((c.token, c.line, s))
        spans = []
        for call, scope in calls:
            if call.name not in UNLOCK_CALLS or not call.receiver:
                continue
            if call.receiver in guards or (call.receiver, call.line) in ended:
                continue     # closes a lock taken here, which the model already ends
            # the re-lock on this path: a later lock() in the unlock's own statement list or an enclosing one
            # (one inside a nested `if (...) { m.lock(); return; }` ends that early path only)
            later = relocks.get(call.receiver, [])
            k = bisect_right(later, (call.token, float("inf")))
            relock = next((line for _, line, s in later[k:] if _encloses(s, scope)), root.end_line)
            spans.append((self._mutex(model, scope, call.receiver)[0], call.line, relock))
        return spans

    # -- naming locks -------------------------------------------------------------------------------

    def _mutex(self, model: FileModel, scope: Scope, expr: str) -> tuple[str, str, str]:
        """(node name, kind, code-level name) of a mutex expression."""
        handoff = self._handoff(model, scope, expr)
        if handoff:
            return handoff, "mutex", handoff
        owner, member = self._owner(model, scope, expr)
        short = owner.split("::")[-1]
        if short:
            alias = f"{short}::{member.name if member else _last_ident(expr)}"
        else:
            alias = f"{model.path}::{expr}" if member is not None and member.static else expr
        kind = "mutex"
        if member is not None and "recursive" in member.type:
            kind = "recursive_mutex"
        elif member is not None and "shared" in member.type:
            kind = "shared_mutex"
        declared = self.hierarchy.classify(expr, owner)
        return (declared.name if declared else alias), kind, alias

    def _queue(self, model: FileModel, scope: Scope, expr: str) -> tuple[str, str]:
        """(node name, code-level name) of a dispatch queue expression."""
        owner, member = self._owner(model, scope, expr)
        alias = f"queue:{simple_name(owner)}::{member.name}" if owner and member else f"queue:{expr}"
        declared = self.hierarchy.classify(expr, owner)
        return (declared.name if declared else alias), alias

    def _owner(self, model: FileModel, scope: Scope, expr: str) -> tuple[str, Member | None]:
        """The class declaring the member an expression names ('' when unknown) and that member."""
        typed = symbols.member_of(model, self.types, scope, expr)
        if typed is not None:
            return typed[1].owner or typed[0], typed[1]
        if expr.endswith(")"):
            return "", None       # a call such as stream->queue(): the object's class is not known here
        name = _last_ident(expr)
        cls = _class_of(scope)
        candidates = [m for m in self.members.get(name, []) if not m.function]
        if _MEMBER.fullmatch(expr):
            own = [m for m in candidates if cls and m.owner and simple_name(m.owner) == simple_name(cls)]
            if own:
                return own[0].owner, own[0]
            statics = [m for m in candidates if not m.owner and m.static]
            if statics:
                return "", statics[0]
            return cls, None      # most likely a member of a class whose header was not scanned
        if "::" in expr and not _ACCESS.search(expr):
            owner = expr.rsplit("::", 1)[0]
            return owner, next((m for m in candidates if m.owner.endswith(owner)), None)
        owners = {m.owner for m in candidates if m.owner}
        if len(owners) == 1:
            owner = owners.pop()
            return owner, next(m for m in candidates if m.owner == owner)
        return "", None

    def _handoff(self, model: FileModel, scope: Scope, expr: str, depth: int = 4) -> str:
        """The caller's lock behind a guard parameter (`std::unique_lock<std::mutex>& pool_lock`), when every
        call site passes a guard of the same lock; '' for anything else."""
        fn = scope.function()
        param = symbols.guard_parameter(model, fn, expr)
        if param is None or depth == 0:
            return ""
        key = (id(fn), expr)
        if key in self._handoffs:
            depends.recall(self.deps, ("handoff", key))
        else:
            self._handoffs[key] = ""          # recursion guard
            self._handoffs[key] = depends.worked_out(self.deps, ("handoff", key),
                                                     lambda: self._passed_guard(fn, param.index, depth))
        return self._handoffs[key]

    def _passed_guard(self, fn: Scope, index: int, depth: int) -> str:
        """The one lock whose guard every call site of `fn` passes as argument `index` ('' if not one)."""
        names = set()
        for cmodel, cscope, call in self._call_sites(simple_name(fn.name)):
            if index >= len(call.args) or not any(f.scope is fn for f in self.resolve(cmodel, cscope, call)):
                continue
            arg = call.args[index].replace(" ", "")
            names.add(self._guard_lock(cmodel, cscope, arg, call.line, depth - 1))
        names.discard("")
        return names.pop() if len(names) == 1 else ""

    def _guard_lock(self, model: FileModel, scope: Scope, var: str, line: int, depth: int) -> str:
        """The lock a guard variable holds at a call site (through the caller's own guard parameter too)."""
        node: Scope | None = scope
        while node is not None:
            for region in node.locks:
                if region.var == var and region.line <= line:
                    return self._mutex(model, node, region.lock)[0]
            if node.kind == "function":
                break
            node = node.parent
        return self._handoff(model, scope, var, depth)

    def _call_sites(self, name: str) -> list[tuple[FileModel, Scope, Call]]:
        depends.note(("call", name))
        if self._sites is None:
            self._sites = {}
        if name not in self._sites:
            self._sites[name] = [(model, scope, call) for f in self.facts if name in f.called
                                 for model in (self.load(f.path),) for scope in model.scopes()
                                 for call in scope.calls if call.name == name]
        return self._sites[name]

    @staticmethod
    def _waits(call: Call) -> bool:
        if call.name in WAIT_CALLS:
            return True
        needle = WAIT_BY_ARGUMENT.get(call.name)
        return bool(needle) and any(needle in arg for arg in call.args)

    # -- calls --------------------------------------------------------------------------------------

    def _resolvable(self, call: Call) -> bool:
        """Whether `resolve` can find anything for `call` (a definition of that name was scanned)."""
        return not (call.objc or call.name in DISPATCH_WRAPPERS or call.name in WAIT_CALLS) \
            and call.name in self.by_simple

    def callees(self, model: FileModel, event: _Event) -> tuple[_Fn, ...]:
        """The definitions a call event reaches, resolved on first use."""
        if event.callees is None:
            event.callees = depends.worked_out(self.deps, ("callees", id(event)),
                                               lambda: self.resolve(model, event.where, event.call))
        else:
            depends.recall(self.deps, ("callees", id(event)))
        return event.callees

    def resolve(self, model: FileModel, scope: Scope, call: Call) -> tuple[_Fn, ...]:
        """Definitions a call may reach: qualified name, same class, receiver's member type, or unique name."""
        if not self._resolvable(call):
            return ()
        known = self.by_simple[call.name]
        callee = _without_templates(call.callee)
        if "::" in callee and not _ACCESS.search(callee):
            names = [q for q in self._ending(call.name, callee) if q == callee or q.endswith("::" + callee)]
        elif call.receiver in ("", "this", "self"):
            cls = simple_name(_class_of(scope))
            names = self._ending(call.name, f"{cls}::{call.name}") if cls else []
            names = names or (sorted(known) if len(known) == 1 else [])
        else:
            if call.callee.endswith("." + call.name) and symbols.smart_pointer(
                    symbols.type_of(model, self.types, scope, call.receiver)):
                return ()                # `event.reset(nullptr)`: the smart pointer's own method, not MPSEvent::reset
            cls = self._receiver_class(model, scope, call.receiver)
            if cls is None:           # receiver of unknown type: only a unique name is safe to follow
                names = sorted(known) if len(known) == 1 else []
            else:
                names = self._ending(call.name, f"{cls}::{call.name}")
                if not names:   # an interface's virtual method: the overriders in the classes deriving from it
                    names = self._overriders(call.name, cls)
        for q in names:
            depends.note(("lgdef", q))      # the definitions themselves (the names alone are "lgfn")
        return tuple(self._fn(ref) for q in names for ref in self.functions[q])

    def _fn(self, ref: tuple[str, int]) -> _Fn:
        """The definition a (path, scope ordinal) names, its model loaded on first use."""
        fn = self._fns.get(ref)
        if fn is None:
            model = self.load(ref[0])
            fn = self._fns[ref] = _Fn(model, symbols.scope_at(model, ref[1]))
        return fn

    def _ending(self, name: str, suffix: str) -> list[str]:
        """The qualified names of simple name `name` that end with `suffix`, sorted: a bisect in the reversed
        names (a scan of every namesake per call grew with the tree: `operator()` has hundreds)."""
        depends.note(("lgfn", name))
        backwards = self._backwards.get(name)
        if backwards is None:
            backwards = self._backwards[name] = sorted(q[::-1] for q in self.by_simple[name])
        key = suffix[::-1]
        found = []
        for i in range(bisect_left(backwards, key), len(backwards)):
            if not backwards[i].startswith(key):
                break
            found.append(backwards[i][::-1])
        return sorted(found)

    def _overriders(self, name: str, cls: str) -> list[str]:
        """The qualified names of `name` defined in classes deriving from `cls`, sorted."""
        depends.note(("lgfn", name))
        owners = self._owners.get(name)
        if owners is None:
            owners = self._owners[name] = defaultdict(list)
            for q in self.by_simple[name]:
                owners[simple_name(q.rsplit("::", 1)[0])].append(q)
        derived = self._derived(cls)
        few, many = (derived, owners) if len(derived) < len(owners) else (owners, derived)
        return sorted(q for owner in few if owner in many for q in owners[owner])

    def _derived(self, cls: str) -> set[str]:
        """Classes deriving from `cls`, directly or not (simple names)."""
        if not hasattr(self, "_derived_memo"):
            self._derived_memo: dict[str, set[str]] = {}
            # base -> the classes naming it (scanning every class's bases per step grew as classes squared)
            self._subclasses: dict[str, list[str]] = defaultdict(list)
            for sub, bases in self.types.bases.items():
                for base in bases:
                    self._subclasses[base].append(sub)
        if cls not in self._derived_memo:
            out, todo = set(), [cls]
            keys = set()
            while todo:
                c = todo.pop()
                keys.add(("tderived", c))
                for sub in self._subclasses.get(c, ()):
                    if sub not in out:
                        out.add(sub)
                        todo.append(sub)
            self._derived_memo[cls] = out
            self.deps[("derived", cls)] = frozenset(keys)
        depends.recall(self.deps, ("derived", cls))
        return self._derived_memo[cls]

    def _receiver_class(self, model: FileModel, scope: Scope, receiver: str) -> str | None:
        """The class of a receiver (a typed local, parameter, member or call chain); None when not known."""
        typed = symbols.type_of(model, self.types, scope, receiver)
        if typed:
            return symbols.bare(typed) or None
        _, member = self._owner(model, scope, receiver)
        if member is None:
            return None
        bare = re.sub(r"\b(const|volatile|mutable|std::shared_ptr|std::unique_ptr|std::weak_ptr)\b|[*&<>\s]", "",
                      member.type)
        return simple_name(bare)

    def summary(self, fn: _Fn, depth: int, waits: bool = True) -> list[_Reached]:
        """Every lock a call of `fn` takes (its own and its callees' up to `depth`), with a call chain.

        Each (acquisition, locks dropped on the way, object, conditions) comes with at most
        CHAINS_PER_ACQUISITION call chains, the first found: listing every chain would grow as
        fan-out^depth (a function calling itself 12 times: 12^6 chains)."""
        key = (id(fn.scope), depth, waits)
        if key in self._summaries:
            depends.recall(self.deps, ("summary", key))
            return self._summaries[key]
        self._summaries[key] = []      # recursion guard
        out = self._summaries[key] = depends.worked_out(self.deps, ("summary", key),
                                                        lambda: self._summary_fresh(fn, depth, waits))
        return out

    def _summary_fresh(self, fn: _Fn, depth: int, waits: bool) -> list[_Reached]:
        out: list[_Reached] = []
        chains: dict[tuple, int] = defaultdict(int)      # chains kept per reached acquisition
        seen: dict[tuple, int] = defaultdict(int)        # the same before rebinding (see _unsaturated)

        def keep(item: _Reached) -> None:
            k = _reach_key(item)
            if chains[k] < CHAINS_PER_ACQUISITION:
                chains[k] += 1
                out.append(item)

        for event in self.events(fn.model, fn.scope):
            if event.call is not None and not self.callees(fn.model, event):
                continue         # a call that reaches nothing scanned
            self.work += 1
            if event.call is None:
                if waits or event.kind != "gpu":
                    keep((event, (), event.released, event.instance if event.guarded else None, event.conds))
            elif depth > 1 and self.work > self.budget:
                self.truncated = True    # bound the work, not only the depth: no deeper calls from here
            elif depth > 1:
                inner_waits = waits and event.call.name not in WAIT_BY_ARGUMENT
                for callee in self.callees(fn.model, event):
                    reached = _unsaturated(self.summary(callee, depth - 1, inner_waits), event, seen)
                    if not reached:
                        continue     # the callee takes nothing (most do): nothing to see through this call
                    self.work += len(reached)
                    for item in self._through(fn.model, fn.scope, event, callee, reached):
                        keep(item)
        return out

    def _through(self, model: FileModel, scope: Scope, event: _Event, callee: _Fn,
                 reached: list[_Reached]) -> list[_Reached]:
        """A callee's summary seen from the call `event`: chain extended, objects and conditions rebound."""
        call = event.call
        site = Site(event.site.path, event.site.line, callee.name)
        caller = scope.function()
        out = []
        for e, via, dropped, obj, conds in reached:
            bound = callpaths.bind(conds, call.args, callee.model, callee.scope, caller, model,
                                   symbols.defaults_of(self.types, callee.scope))
            if bound is None:
                continue         # a literal argument rules the path out (`record(stream, false)`)
            obj = callpaths.through(callpaths.canonical(callee.model, callee.scope, obj), call.receiver, call.args,
                                    callee.model, callee.scope)
            obj = callpaths.canonical(model, scope, obj)
            out.append((e, (site, *via), event.released | dropped, obj, event.conds | bound))
        return out

    def _feasible(self, model: FileModel, root: Scope, conds: frozenset) -> bool:
        """Whether some call site of the context's function can meet `conds` (True when it has none here)."""
        fn = root.function()
        if callpaths.contradictory(conds):
            return False
        if not conds or fn is None:
            return True
        sites = [(m, s, c) for m, s, c in self._call_sites(simple_name(fn.name))
                 if any(f.scope is fn for f in self.resolve(m, s, c))]
        defaults = symbols.defaults_of(self.types, fn)
        return not sites or any(callpaths.bind(conds, c.args, model, fn, s.function(), m, defaults) is not None
                                for m, s, c in sites)

    def acquisitions(self) -> Iterator[Acquisition]:
        """Direct acquisitions, and those reached through calls while something is held."""
        for found in self.by_file().values():
            yield from found

    def by_file(self) -> dict[str, list[Acquisition]]:
        """The acquisitions of each file in focus, in file order; the keys each file's contexts (and the
        finding of them) read go to `units`."""
        out: dict[str, list[Acquisition]] = {}
        for path in self.focus:
            model = self.load(path)
            depends.open_frame()
            try:
                out[path] = [a for root in self._roots(model) for a in self._acquired(model, root)]
            finally:
                self.units[path] = depends.close_frame()
        return out

    def _acquired(self, model: FileModel, root: Scope) -> Iterator[Acquisition]:
        """A context's acquisitions: its own, and those reached through calls while something is held."""
        if self._holds_nothing(model, root):
            return       # none of its events is an acquisition or holds a lock: most code, left unworked
        seen: dict[tuple, int] = defaultdict(int)
        for event in self.events(model, root):
            if event.call is None:
                if self._feasible(model, root, event.conds):
                    yield Acquisition(event.lock, event.site, event.held, event.shared, event.kind, event.alias)
            elif event.held and self.depth > 0:
                # synchronize(x) waits only for x == COMMIT_AND_WAIT, which the call itself says
                waits = event.call.name not in WAIT_BY_ARGUMENT
                for callee in self.callees(model, event):
                    reached = self._through(model, root, event, callee,
                                            _unsaturated(self.summary(callee, self.depth, waits), event, seen))
                    for inner, via, dropped, obj, conds in reached:
                        outer = tuple(h for h in event.held if h.lock not in dropped)
                        if _reentrant(inner, obj, outer):
                            continue     # runs inline on the queue it is already on / re-locks the caller's guard
                        if outer and self._feasible(model, root, conds):
                            yield Acquisition(inner.lock, inner.site, outer + inner.held, inner.shared,
                                              inner.kind, inner.alias, via)

    def _holds_nothing(self, model: FileModel, root: Scope) -> bool:
        """Whether a context runs with nothing held (no handler, no queue's block), takes no lock, enters no
        queue, waits for no GPU and unlocks nothing: then each of its events is a call with nothing held.
        (A caller holding a lock still works out its events, through summary.)"""
        if (root.kind == "dispatch" and root.queue) or self._runs_as(model, root) == HANDLER:
            return False
        if model.path in self._quiet:
            return True
        for scope in self._context_scopes(model, root):
            if scope is not root and scope.kind == "dispatch" and scope.queue:
                return False
            if any(region.kind != "call_once" for region in scope.locks):
                return False
            if any(call.name in _WAIT_OR_UNLOCK and (self._waits(call) or (call.name in UNLOCK_CALLS and call.receiver))
                   for call in scope.calls):
                return False
        return True


def _unsaturated(reached: list[_Reached], event: _Event, seen: dict[tuple, int]) -> list[_Reached]:
    """The reached acquisitions a call `event` still adds: at most 2 x CHAINS_PER_ACQUISITION per acquisition
    and dropped locks from one function or context (room for its object and condition variants). Without
    this, 10^4 call sites of one function each rebind its whole summary (a constant factor of 16 and more)."""
    out = []
    for item in reached:
        k = (id(item[0]), event.released | item[2])
        if seen[k] < 2 * CHAINS_PER_ACQUISITION:
            seen[k] += 1
            out.append(item)
    return out


def _reach_key(item: _Reached) -> tuple:
    """What makes two reached acquisitions the same: the event, locks dropped, the object and the conditions."""
    event, _via, dropped, obj, conds = item
    return id(event), dropped, obj, conds


def acquisitions(models: list[FileModel], hierarchy: Hierarchy, depth: int = DEFAULT_DEPTH) -> list[Acquisition]:
    """All lock acquisitions in the models with what is held at each (calls followed `depth` levels).

    When the call walk exceeds WORK_BUDGET steps, deeper calls are no longer followed (said on stderr)."""
    by_path = {m.path: m for m in models}
    extractor = _Extractor([lock_facts(m) for m in models], by_path.__getitem__, hierarchy, depth,
                           symbols.types(models))
    found = list(extractor.acquisitions())
    if extractor.truncated:
        print(f"warning: lock graph: the call walk stopped following calls after {WORK_BUDGET} steps; "
              f"lock orders through deeper calls may be missing", file=sys.stderr)
    return found


@lru_cache(maxsize=65536)     # bounded: a long-lived process (the gate, an editor) sees ever new names
def _without_templates(callee: str) -> str:
    return _TEMPLATE_ARGS.sub("", callee).lstrip(":")


@lru_cache(maxsize=65536)
def simple_name(qualified: str) -> str:
    """Last component of a qualified name; the class of an ObjC method name '-[Class sel:]'."""
    m = _OBJC_METHOD.fullmatch(qualified)
    if m:
        return m.group(1)
    return qualified.rsplit("::", 1)[-1]


def _class_of(scope: Scope) -> str:
    """Qualified class of the method enclosing `scope` ('' for free functions)."""
    fn = scope.function()
    if fn is None:
        cls = scope.enclosing("class")
        return cls.name if cls else ""
    m = _OBJC_METHOD.fullmatch(fn.name)
    if m:
        return m.group(1)
    cls = fn.enclosing("class")
    if cls is not None and cls.name:
        return cls.name
    return fn.name.rsplit("::", 1)[0] if "::" in fn.name else ""


def _last_ident(expr: str) -> str:
    idents = _IDENT.findall(expr)
    return idents[-1] if idents else expr


def _encloses(outer: Scope, inner: Scope) -> bool:
    """Whether `outer` is `inner` or one of its ancestors."""
    return outer is inner or any(a is outer for a in inner.ancestors())


def _reentrant(inner: _Event, obj: str | None, held: tuple[Held, ...]) -> bool:
    """Whether taking `inner`'s lock again is no new acquisition: the caller's own guard re-locked through a
    reference, or a dispatch_sync that a re-entrancy check skips because the caller is already on that very
    object's queue (another instance's queue is a real nested acquisition of the same class)."""
    if inner.handoff:
        return any(h.lock == inner.lock for h in held)
    if not inner.guarded or obj is None:
        return False
    queues = [h for h in held if h.lock == inner.lock]
    # on a stream's queue, getCurrentMPSStream() is the stream of the innermost queue the thread is on
    return any(h.instance == obj for h in queues) or (obj == callpaths.CURRENT and bool(queues))
