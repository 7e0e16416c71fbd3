"""Queries over the code model shared by the ST rules: what a call does, where it runs, what a name is.

Everything here is read-only over `analyzers.model`; the rule modules (st0NN.py) combine these into
findings. The project-wide `Index` (members per class, call sites per function name; analyzers/rules/index.py)
is built once per analyzer run, so rules can resolve a member declared in a header and used in a .mm.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress, islice
from typing import Container

from analyzers import depends
from analyzers.hierarchy import load_hierarchy
from analyzers.rules.index import (_ACTIVE, Index, IndexFacts, class_bases, index_from, namespaces_of, owner_from,
                                   owner_hint, short_name, types)
from analyzers.rules import index as _tables
from analyzers.model import IDENT, Call, FileModel, LockRegion, Scope, Token

# -- what calls do ---------------------------------------------------------------------------------

STREAM_FETCH = frozenset({"commandEncoder", "commandBuffer"})
STREAM_MUTATE = frozenset({"endKernelCoalescing", "commit", "commitAndContinue", "flush"})
THROWING_MACROS = re.compile(r"^(TORCH_CHECK\w*|TORCH_INTERNAL_ASSERT|AT_ERROR|AT_ASSERT\w*|TORCH_ERROR|"
                             r"C10_THROW_ERROR|TORCH_CHECK_NOT_IMPLEMENTED|TORCH_CHECK_VALUE|"
                             r"TORCH_CHECK_INDEX|TORCH_CHECK_TYPE|TORCH_INTERNAL_ASSERT_DEBUG_ONLY)$")
DEBUG_ONLY = "TORCH_INTERNAL_ASSERT_DEBUG_ONLY"
STREAM_RECEIVER = re.compile(r"(?i)stream")
DEFAULT_STREAM = re.compile(r"getDefaultMPSStream\(\)|m_default_stream")
ENCODER_OPEN = frozenset({"computeCommandEncoder", "blitCommandEncoder", "commandEncoder",
                          "renderCommandEncoderWithDescriptor", "computeCommandEncoderWithDispatchType"})
ENCODER_END = frozenset({"endEncoding", "endKernelCoalescing"})
MUTEX_TYPE = re.compile(r"(?i)(^|::|\b)(recursive_|shared_|timed_|recursive_timed_)?mutex$|Mutex$|(^|_)Lock$|"
                        r"os_unfair_lock|SpinLock$|CriticalSection$")
RECURSIVE_TYPE = re.compile(r"recursive_(timed_)?mutex")


def is_stream_receiver(receiver: str) -> bool:
    """Whether a call receiver denotes an MPSStream (m_stream, stream, getCurrentMPSStream(), ...)."""
    return bool(receiver) and bool(STREAM_RECEIVER.search(receiver)) and "event" not in receiver.lower()


def through_stream(call: Call) -> bool:
    """A C++ call through an MPSStream pointer (`stream->commit()`); `out_stream.flush()` on an ostream is not."""
    return not call.objc and call.callee.endswith("->" + call.name) and is_stream_receiver(call.receiver)


def sync_waits(call: Call) -> bool:
    """synchronize(...) whose argument can be COMMIT_AND_WAIT, or commitAndWait()."""
    if call.name == "commitAndWait":
        return True
    return call.name == "synchronize" and any("COMMIT_AND_WAIT" in a for a in call.args)


def is_stream_wait(call: Call) -> bool:
    """A blocking GPU wait through a stream or on a stream's command buffer."""
    if call.name == "waitUntilCompleted":
        return bool(STREAM_RECEIVER.search(call.receiver)) or call.receiver in ("_commandBuffer", "_prevCommandBuffer")
    return sync_waits(call) and through_stream(call)


def is_gpu_wait(call: Call) -> bool:
    """Any blocking wait for the GPU: stream waits, waitUntilCompleted, event synchronisation."""
    if call.name in ("waitUntilCompleted", "waitForCpuSync", "dispatch_semaphore_wait", "dispatch_group_wait"):
        return True
    if call.name == "synchronize" and not call.args and "event" in call.receiver.lower():
        return True
    return sync_waits(call)


def wait_label(call: Call) -> str:
    """How a wait is named in messages."""
    if call.name == "synchronize":
        return f"{call.callee}({', '.join(call.args)})"
    if call.objc:
        return f"[{call.receiver} {call.name}]"
    return f"{call.callee}()"


def call_label(call: Call) -> str:
    """A call as written, for messages and anchors."""
    if call.objc:
        return f"[{call.receiver} {call.selector or call.name}]"
    return f"{call.callee}({', '.join(call.args)})" if call.name == "synchronize" else f"{call.callee}()"


# -- where code runs -------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _hierarchy():
    return load_hierarchy()


@lru_cache(maxsize=4096)
def lock_class(expr: str, owner: str = "") -> str:
    """The hierarchy name of a lock or queue expression ('' when unknown)."""
    cls = _hierarchy().classify(expr, owner)
    return cls.name if cls else ""


def is_stream_queue(expr: str) -> bool:
    """Whether a dispatch queue expression is a stream's serial queue."""
    return lock_class(expr) == "stream_queue"


def stream_queue_at(model: FileModel, scope: Scope) -> str:
    """The stream-queue expression of the innermost enclosing dispatch on a stream queue, or ''."""
    hits = [q for q in model.queues_at(scope) if is_stream_queue(q)]
    return hits[-1] if hits else ""


def escaping_root(scope: Scope) -> Scope | None:
    """The innermost enclosing escaping block/lambda/dispatch (the code runs later, elsewhere)."""
    node: Scope | None = scope
    while node is not None:
        if node.kind in ("block", "lambda", "dispatch") and node.escaping:
            return node
        if node.kind == "function":
            return None
        node = node.parent
    return None


def held(model: FileModel, scope: Scope, line: int) -> list:
    """Mutex regions held at `line` (call_once is not a lock someone else can wait on), plus the lock a
    function's REQUIRES(...) says its callers hold."""
    regions = [r for r in model.held_locks(scope, line) if r.kind != "call_once"]
    fn = scope.function()
    if fn is not None and escaping_root(scope) is None:
        if requires_lock(model, fn):
            regions.append(LockRegion(requires_lock(model, fn), "requires", fn.line, fn.col, fn.end_line))
    return regions


REQUIRES = re.compile(r"^([A-Z0-9]+_)?(REQUIRES|REQUIRES_SHARED|EXCLUSIVE_LOCKS_REQUIRED|SHARED_LOCKS_REQUIRED)$|"
                      r"^(requires_capability|requires_shared_capability|exclusive_locks_required)$")


def requires_lock(model: FileModel, fn: Scope) -> str:
    """The lock a function's REQUIRES(...) annotation says its callers hold ('' if none), memoised."""
    if not spells_requires(model):
        return ""
    cached = fn.memos().get("_requires")
    if cached is None:
        cached = ""
        texts, kinds = model.tokens.texts, model.tokens.kinds
        for i in range(token_index(model, fn.line, 1), min(fn.first_token, len(texts)) - 1):
            if kinds[i] == IDENT and REQUIRES.match(texts[i]) and texts[i + 1] == "(":
                cached = texts[i + 2] if i + 2 < len(texts) and texts[i + 2] != ")" else "(capability)"
                break
        fn.memos()["_requires"] = cached
    return cached


_MAY_REQUIRE = ("REQUIRE", "requires_", "locks_required")   # a part of every name REQUIRES matches


def spells_requires(model: FileModel) -> bool:
    """Whether any token of the file is a REQUIRES-like name (else no function of it has one), memoised."""
    hit = model.__dict__.get("_requires_spelled")
    if hit is None:
        texts = model.tokens.texts
        # one search of the joined texts first: most files have none, and a set of their texts costs more
        joined = "\n".join(texts)
        # substring tests (a fast search in C) where a regex alternation walked the text character by character
        hit = model.__dict__["_requires_spelled"] = any(part in joined for part in _MAY_REQUIRE) and \
            any(REQUIRES.match(t) for t in set(texts))
    return hit


# -- names -----------------------------------------------------------------------------------------

def owner_class(model: FileModel, fn: Scope | None, namespaces: frozenset[str] = frozenset()) -> str:
    """The class a function belongs to (declared inside it, or `Class::method` out of line), or ''."""
    if fn is None:
        return ""
    return owner_from(owner_hint(fn), namespaces or namespaces_of(model))


def is_special_member(fn: Scope, cls: str) -> bool:
    """Constructors and destructors (no other thread can see the object yet / any more)."""
    name = short_name(fn.name)
    return bool(cls) and (name == cls or name == "~" + cls or name.lstrip("~") == cls)


def per_object(model: FileModel, lock: str) -> bool:
    """Whether a lock expression names a non-static data member (one lock per object, not per process)."""
    names = re.findall(r"[A-Za-z_]\w*", lock)
    if not names or "::" in lock:
        return False
    decls = [m for m in model.members if m.name == names[-1] and not m.function]
    if decls:
        return not any(m.static for m in decls)
    return "->" in lock or "." in lock or bool(re.match(r"(m_|_)\w+|\w+_$", names[-1]))


def is_stream_class(cls: str) -> bool:
    """MPSStream and friends: their members are protected by their own queue (checked at call sites)."""
    return cls.endswith("Stream") or cls.endswith("StreamImpl")


def anchor_of(*parts: str) -> str:
    """A line-independent anchor text."""
    return " | ".join(p for p in parts if p)


# -- tokens ----------------------------------------------------------------------------------------

def token_index(model: FileModel, line: int, col: int = 1) -> int:
    """Index of the first token at or after (line, col)."""
    return model.tokens.at(line, col)


def used_names(model: FileModel, scope: Scope) -> list[Token]:
    """Identifiers used as plain names in a scope (not after `.`, `->`, `::`, not ObjC selector parts)."""
    toks = model.tokens
    return [toks[i] for i in used_name_indices(model, scope)]


def used_name_indices(model: FileModel, scope: Scope, among: Container[str] | None = None) -> list[int]:
    """The token indices of used_names; only of the names in `among` when given (picked out in C first: a
    rule asking for a class's members need not test every token of a body in Python)."""
    texts, kinds = model.tokens.texts, model.tokens.kinds
    out = []
    lo, hi = scope.first_token, min(scope.last_token, len(texts))
    for i in range(lo, hi) if among is None else compress(range(lo, hi), map(among.__contains__, texts[lo:hi])):
        if kinds[i] != IDENT:
            continue
        prev = texts[i - 1] if i > 0 else ""
        nxt = texts[i + 1] if i + 1 < len(texts) else ""
        if prev in (".", "->", "::") or nxt == "::":
            continue
        if nxt == ":" and prev not in ("?", "case"):   # ObjC selector part or label
            continue
        out.append(i)
    return out


@dataclass(frozen=True, slots=True)
class Decl:
    """A local variable or parameter declaration found in the tokens."""

    name: str
    kind: str        # ref | ptr | value
    type: str        # the type identifier just before the declarator ('' if unknown)
    line: int
    static: bool = False
    block_qualified: bool = False   # declared __block


def declarations(model: FileModel, start: int, end: int) -> dict[str, Decl]:
    """Local declarations (`T& x`, `T* x`, `T x = ...`, params) in tokens [start, end); last one wins."""
    toks = model.tokens
    texts, kinds = toks.texts, toks.kinds      # columns: a Token made per look was most of the cost
    decls: dict[str, Decl] = {}
    for i in range(max(start, 1), min(end, len(toks) - 1)):
        if kinds[i] != IDENT or texts[i + 1] not in (",", ")", "=", ";", "{", "[", ":", "("):
            continue
        nxt, prev = texts[i + 1], texts[i - 1]
        if nxt == ":" and prev not in ("*", "&", "&&"):
            continue   # a label or a selector part
        if nxt == "(" and not (kinds[i - 1] == IDENT and prev not in _NOT_TYPES
                               or prev in ("*", "&", "&&", ">")):
            continue   # a call, not `T name(args)`
        j = i - 1
        kind = "value"
        if prev in ("*", "&", "&&"):
            kind = "ptr" if prev == "*" else "ref"
            while j > 0 and texts[j] in ("*", "&", "&&", "const"):
                j -= 1
        typ, typ_kind = texts[j], kinds[j]
        if not (typ_kind == IDENT and typ not in _NOT_TYPES) and typ != ">":
            continue
        if kind == "value" and (typ == ">" or texts[j - 1] in ("return", "new", "case", "goto")):
            if typ != ">":
                continue
        if kind == "value" and typ_kind == IDENT and texts[j - 1] in (".", "->"):
            continue
        type_name = _type_name(texts, j)
        head = texts[_statement_start(texts, j, start):j + 1]
        decls[texts[i]] = Decl(texts[i], kind, type_name, toks.lines[i], "static" in head, "__block" in head)
    return decls


_NOT_TYPES = frozenset({"return", "if", "else", "while", "for", "switch", "case", "new", "delete", "throw",
                        "sizeof", "co_return", "goto", "do", "typedef", "using", "namespace", "operator",
                        "public", "private", "protected", "template", "typename", "class", "struct", "enum"})


def _type_name(texts: list[str], j: int) -> str:
    """The base type identifier of a declaration ending at token j ('>' walks back over template args)."""
    if texts[j] == ">":
        depth = 0
        k = j
        while k > 0:
            if texts[k] == ">":
                depth += 1
            elif texts[k] == "<":
                depth -= 1
                if depth == 0:
                    return texts[k - 1] + "<" + " ".join(texts[k + 1:j]) + ">"
            elif texts[k] in (";", "{", "}"):
                break
            k -= 1
        return ""
    return texts[j]


def _statement_start(texts: list[str], j: int, floor: int) -> int:
    k = j
    while k > floor and texts[k - 1] not in (";", "{", "}", "(", ","):
        k -= 1
    return k


OBJC_TYPE = re.compile(r"^(NS|MTL|CA|UI|CF)\w*$|^MPS(Graph(?!Cache)\w*|NDArray\w*|CommandBuffer\w*|Matrix\w*|"
                       r"Vector\w*|Image\w*|Kernel\w*|Temporary\w*)$|^id$")


def is_objc_type(type_name: str) -> bool:
    """ObjC object types: blocks retain captured ObjC pointers, so capturing them is safe."""
    return bool(OBJC_TYPE.match(type_name.split("<")[0]))


def macro_calls(model: FileModel, scope: Scope, pattern: re.Pattern[str]) -> list[Token]:
    """Tokens in `scope`'s body (nested scopes included) naming a macro/call matching `pattern`."""
    toks = model.tokens
    texts, kinds = toks.texts, toks.kinds
    return [toks[i] for i in range(scope.first_token, min(scope.last_token, len(toks)))
            if kinds[i] == IDENT and pattern.match(texts[i])
            and i + 1 < len(toks) and texts[i + 1] == "("]


# -- queue context (interprocedural) ---------------------------------------------------------------

def _runs_on_queue(idx: Index, name: str, owner: str, qctx: set[str]) -> bool:
    return name.endswith("Locked") or is_stream_class(owner) or name in qctx \
        or (name not in idx.calls and owner in callback_scopes(idx))


def _fn_on_queue(idx: Index, model: FileModel, fn: Scope | None, qctx: set[str]) -> bool:
    return fn is not None and _runs_on_queue(idx, short_name(fn.name), idx.owner(model, fn), qctx)


def callback_scopes(idx: Index) -> set[str]:
    """Classes with a method that runs a callable parameter inside a stream-queue dispatch
    (`runCommandBlock(std::function<void()> run)` -> `dispatch_sync(queue, ^{ run(); })`): their methods that
    nothing in the tree calls are the API that callable uses, on the queue."""
    if idx.callback_cls is None:
        idx.callback_cls = {owner_from(hint, idx.namespaces) for hint in idx.callbacks} - {""}
    return idx.callback_cls


def _callbacks(model: FileModel) -> list[tuple[str, str]]:
    """owner_hint of this file's functions that run a callable parameter inside a stream-queue dispatch."""
    from analyzers import symbols
    if next(model.scopes("dispatch"), None) is None:
        return []       # no dispatch in the whole file (most files): no walk of its functions
    out = []
    for fn in model.scopes("function"):
        called = {c.name for s in fn.walk() if s.kind == "dispatch" and is_stream_queue(s.queue)
                  for c in s.all_calls() if not c.receiver}
        if called and called & {p.name for p in symbols.parameters(model, fn)}:
            out.append(owner_hint(fn))
    return out


_INDEX: list = [(), None]   # (the models it was built from, the Index): one run at a time


def index(models: list[FileModel]) -> Index:
    """The project index for this list of models (built once per run; identity-checked, not id()-keyed,
    so a later run whose objects reuse freed ids never sees a stale index), or the active project's
    (analyzers/rules/index.py, `active`)."""
    if _ACTIVE[0] is not None:
        return _ACTIVE[0].index
    built_from, hit = _INDEX
    if hit is None or len(built_from) != len(models) or any(a is not b for a, b in zip(built_from, models)):
        by_path = {m.path: m for m in models}
        hit = index_from([index_facts(m) for m in models], by_path.__getitem__)
        _INDEX[:] = [tuple(models), hit]
    return hit


def index_facts(model: FileModel) -> IndexFacts:
    """What one file adds to the project index."""
    bases = []
    for scope in model.scopes("class"):
        found = class_bases(model, scope)
        if found:
            bases.append((scope.name.split("::")[-1], found))
    functions, objc = [], set()
    for n, scope in enumerate(model.scopes()):
        if scope.kind == "function":
            functions.append((short_name(scope.name), n, owner_hint(scope)))
            if scope.name.startswith(("-[", "+[")):
                objc.add(functions[-1][0])
    # class-body macros/initializers and `T& f(args);` at namespace scope are not run by a function
    run = [(n, call.name) for n, call in enumerate(model.calls())
           if call.scope is not None and call.scope.kind not in ("class", "namespace", "file")]
    return IndexFacts(model.path, namespaces_of(model), list(model.members), bases, functions, objc,
                      [name for _, name in run], array("i", [n for n, _ in run]), _callbacks(model))


def serialises_itself(idx: Index, name: str) -> bool:
    """Whether every stream-class definition of method `name` enters the stream queue itself (dispatch_sync
    onto it, behind a re-entrancy check or not): its callers need not wrap the call."""
    def compute() -> bool:
        defs = [fn for model, fn in idx.functions.get(name, ()) if is_stream_class(idx.owner(model, fn))]
        return bool(defs) and all(any(s.kind == "dispatch" and s.dispatch.startswith("dispatch_sync")
                                      and is_stream_queue(s.queue) for s in fn.walk()) for fn in defs)
    return depends.memoised(idx.__dict__.setdefault("_serialising", {}),
                            idx.__dict__.setdefault("_serialising_deps", {}), name, compute)


def on_stream_queue(idx: Index, model: FileModel, scope: Scope, qctx: set[str]) -> bool:
    """Whether code in `scope` runs on a stream's serial queue: inside a dispatch onto it, in a *Locked
    function, in a stream class (its callers are checked instead), or in a function that is only ever
    called from such places (`qctx`, see queue_context)."""
    for node in (scope, *scope.ancestors()):
        if node.kind == "dispatch" and is_stream_queue(node.queue):
            return True
        if node.kind in ("block", "lambda", "dispatch") and node.escaping:
            return False
        if node.kind == "function":
            return _fn_on_queue(idx, model, node, qctx)
    return False


def unreachable(models: list[FileModel], model: FileModel, scope: Scope, token: int = -1) -> bool:
    """Whether `scope` sits in a branch on the function's own bool parameters (`if (!needsLock) {...}`) that
    no call site in the tree can take (every one passes a literal that rules it out)."""
    from analyzers import callpaths, symbols
    fn = scope.function()
    conds = callpaths.conditions(model, scope, token)
    if callpaths.contradictory(conds):
        return True
    if not conds or fn is None:
        return False
    idx, ts = index(models), types(models)
    cls = idx.owner(model, fn)
    sites = []
    for m, c in idx.calls.get(short_name(fn.name), ()):
        if c.scope is None or c.objc or c.scope.function() is None:
            continue
        if c.receiver in ("", "this"):
            if idx.owner(m, c.scope.function()) != cls:
                continue
        else:
            typ = symbols.type_of(m, ts, c.scope, c.receiver)
            other = typ is not None and symbols.bare(typ) != cls
            if other and (symbols.bare(typ) in ts.members or typ.replace(" ", "").startswith("std::")):
                continue      # a method of another (known) class of the same name
        sites.append((m, c))
    defaults = symbols.defaults_of(ts, fn)
    return bool(sites) and all(callpaths.bind(conds, c.args, model, fn, c.scope.function(), m, defaults) is None
                               for m, c in sites)


def transitive_functions(model: FileModel, site_of) -> dict[str, object]:
    """Functions of this file -> the site that makes them count, where `site_of(fn, found)` finds a site
    directly or through a call of a function already found; repeated until nothing changes."""
    found: dict[str, object] = {}
    fns = list(model.scopes("function"))
    changed = True
    while changed:
        changed = False
        for fn in fns:
            name = short_name(fn.name)
            if name in found:
                continue
            site = site_of(fn, found)
            if site is not None:
                found[name] = site
                changed = True
    return found


def _fixpoint(idx: Index, classify, order=None) -> dict[str, str]:
    """Function short name -> context kind, for the functions all of whose call sites have a context: each
    name asked of a Settled in `order` (the index's by default; any order gives the same, see Settled)."""
    settled = Settled(idx, classify)
    return {name: kind for name in (idx.functions if order is None else order) if (kind := settled.get(name))}


class Settled:
    """Function short name -> context kind ('' for none), each name settled when first asked, depth first
    through the callers it inherits from. `classify(model, call)` gives a site's own kind ('' for none) or
    ('via', caller short name) when the site inherits its caller's context; the first site without a
    context decides, so a function's other sites need no classifying (most functions have one). A function
    of a cycle is only ever settled while the cycle is open, which counts as no context, so the answers do
    not depend on the order names are asked in. What the settling read is kept per name, and noted again
    whenever the name is asked (analyzers.depends)."""

    def __init__(self, idx: Index, classify):
        self.idx, self.classify, self.kinds, self.deps = idx, classify, {}, {}

    def get(self, name: str, default=None):
        """The context kind of `name` (`default` when it has none)."""
        kinds = self.kinds
        if name in kinds:
            depends.recall(self.deps, name)
        elif depends.on():
            before = len(kinds)
            depends.open_frame()
            try:
                self._settle(name)
            finally:
                keys = depends.close_frame()
                # the names settled now are the last ones in: each is kept with what the settling read
                for settled in islice(reversed(kinds), len(kinds) - before):
                    self.deps[settled] = keys
        else:
            self._settle(name)
        return kinds.get(name) or default

    def __contains__(self, name: str) -> bool:
        return bool(self.get(name))

    def _settle(self, name: str) -> None:
        if name in self.idx.functions:
            _settle(self.idx, name, self.idx.objc, self.classify, self.kinds, self.deps)
        else:
            self.kinds[name] = ""

    def kept(self, kinds: dict[str, str], deps: dict, changed: set[tuple]) -> None:
        """Take the names of an earlier run over the same tree whose settling read none of `changed`."""
        for name, kind in kinds.items():
            read = deps.get(name, depends.EMPTY)
            if name not in self.kinds and depends.unaffected(read, changed):
                self.kinds[name], self.deps[name] = kind, read


_OPEN = None      # a function being settled: a caller chain back to it is a cycle, which never has a context
_END = object()   # a function's sites are all classified


def _settle(idx: Index, name: str, objc: set[str], classify, kinds: dict[str, str | None],
            deps: dict | None = None) -> None:
    """Settle `name` and the callers it inherits from, with a stack (call chains can be deep): a function's
    kind is the least of its sites' ('init' only when all are), '' when any site has none. With `deps`
    (what each settled name read, analyzers.depends), a caller settled before counts with its keys."""
    stack = [(name, _sites(idx, name, objc), set())]
    kinds[name] = _OPEN
    done: str | None = None                # the kind of the caller settled last, for the function below it
    while stack:
        name, sites, own = stack[-1]
        if done is not None:
            kind, done = done, None
        else:
            site = next(sites, None)
            kind = classify(*site) if site is not None else _END
            if isinstance(kind, tuple):      # inherits from a caller: settle that one first
                caller = kind[1]
                if caller not in kinds and caller in idx.functions:
                    kinds[caller] = _OPEN
                    stack.append((caller, _sites(idx, caller, objc), set()))
                    continue
                if deps is not None and kinds.get(caller) is not _OPEN:
                    depends.recall(deps, caller)
                kind = kinds.get(caller) or ""      # settled, or in progress (a cycle), or unknown
        if kind and kind is not _END:
            own.add(kind)
            continue
        result = "" if not kind or not own else "init" if own == {"init"} else min(own)
        kinds[name] = done = result
        stack.pop()


def _sites(idx: Index, name: str, objc: set[str]):
    """The call sites of `name` that can run it (an ObjC send only when some definition is an ObjC method)."""
    internal = name in objc
    return ((m, c) for m, c in idx.calls.get(name, ()) if not c.objc or internal)


def queue_context(models: list[FileModel]) -> set[str]:
    """Short names of functions whose every call site (in the scanned files) is on a stream queue."""
    idx = index(models)
    if idx.queue_ctx is None:
        idx.queue_ctx = Settled(idx, _queue_kind(idx))
    return idx.queue_ctx


def _queue_kind(idx: Index):
    """A call site's own queue context ('queue', '') or ('via', caller short name)."""
    empty: set[str] = set()

    def classify(model: FileModel, call: Call):
        if on_stream_queue(idx, model, call.scope, empty):
            return "queue"
        fn = call.scope.function()
        return ("via", short_name(fn.name)) if fn is not None and escaping_root(call.scope) is None else ""
    return classify


# -- caller context (interprocedural) -------------------------------------------------------------

def is_ctor_or_dtor(model: FileModel, fn: Scope | None) -> bool:
    """Constructors and destructors: the object is not shared with other threads yet / any more."""
    if fn is None:
        return False
    memo = fn.memos()       # asked of every function and of every call site's caller
    hit = memo.get("_ctor_or_dtor")
    if hit is None:
        parts = fn.name.split("::")
        cls = next((c.name.split("::")[-1] for c in fn.ancestors() if c.kind == "class"), "")
        owner = cls or (parts[-2] if len(parts) >= 2 else "")
        hit = memo["_ctor_or_dtor"] = bool(owner) and parts[-1].lstrip("~") == owner
    return hit


def caller_context(models: list[FileModel]) -> dict[str, str]:
    """Functions whose every call site is protected: 'init' when all callers are constructors/destructors
    (or such functions), 'lock' when all hold a mutex (or are such functions). Short name -> kind."""
    idx = index(models)
    if idx.caller_ctx is None:
        idx.caller_ctx = Settled(idx, _caller_kind)
    return idx.caller_ctx


def _caller_kind(model: FileModel, call: Call):
    """A call site's own caller context ('lock', 'init', '') or ('via', caller short name)."""
    if held(model, call.scope, call.line):
        return "lock"
    if escaping_root(call.scope) is not None:
        return ""
    fn = call.scope.function()
    if is_ctor_or_dtor(model, fn):
        return "init"
    return ("via", short_name(fn.name)) if fn is not None else ""


def protected_at(model: FileModel, scope: Scope, line: int, ctx: dict[str, str]) -> str:
    """'lock' if a mutex is held at `line` (here or by every caller), 'init' in construction, else ''."""
    if held(model, scope, line):
        return "lock"
    if escaping_root(scope) is not None:
        return ""
    fn = scope.function()
    if is_ctor_or_dtor(model, fn):
        return "init"
    return ctx.get(short_name(fn.name), "") if fn is not None else ""


def over(models: list[FileModel]):
    """A block in which index() and types() answer with the tables of `models` (analyzers/rules/index.py)."""
    return _tables.over(models, index)

