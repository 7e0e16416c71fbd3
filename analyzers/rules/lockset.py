"""Locksets for ST.015 (Eraser/RacerD style): every access to a member or global, with the locks held there.

One pass over every function body yields `Access` records; the rule compares them per field. What a lock
is (`lock_identity`) and what a field is (`field_identity`) are decided in those two functions only: by
the symbol table (analyzers.symbols) where it can type the expression, by declared names otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from analyzers import depends, symbols
from analyzers.model import IDENT, Call, FileModel, LockRegion, Member, Scope, Token, closing
from analyzers.rules.queries import (MUTEX_TYPE, Index, caller_context, escaping_root, held, index,
                                     is_ctor_or_dtor, is_objc_type, lock_class, requires_lock, short_name,
                                     over, spells_requires, token_index, types)

ANY_LOCK = "*"            # a lock is held but its name is not known (a lock parameter, a *Locked helper)
NO_LOCKS: frozenset[str] = frozenset()   # shared: each frozenset() is a new 216-byte object
IMMUTABLE = re.compile(r"\b(atomic\w*|const|constexpr|once_flag|condition_variable\w*)\b|Mutex$|mutex$|&$")
WRITE_OPS = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "|=", "&=", "^=", "<<=", ">>=", "++", "--"})
MUTATORS = frozenset({"insert", "erase", "emplace", "emplace_back", "push_back", "push_front", "push", "pop",
                      "pop_back", "pop_front", "clear", "reset", "swap", "try_emplace", "insert_or_assign",
                      "resize", "assign", "emplace_front", "erase_if"})
_INDEX_SUFFIX = re.compile(r"\[[^\[\]]*\]")


@dataclass(slots=True)
class Access:
    """One read or write of a field, with the lock identities held there."""

    field: str                 # identity: 'BufferPool::available_size', '::s_counter', 'fn()::cache'
    via: str                   # member (bare name in a method) | receiver (`obj->f`, `obj.f`) | global
    write: bool
    locks: frozenset[str]      # lock identities held in the function itself; ANY_LOCK when held but unnamed
    token: Token
    text: str                  # the access as written: 'pool.available_size'
    context: str               # '' | 'completion handler' | 'async block' | 'queue <q>' (where it runs)
    entry: frozenset[str] | None  # locks every caller holds (entry_locks); None: unconstrained
    path: str                  # the file
    function: str              # the enclosing function's qualified name ('' at file scope)
    fn_line: int = 0           # and its line: (path, function, fn_line) is one function


@dataclass
class Tables:
    """The run's tables, built once: the queries index, the symbol table, summaries."""

    idx: Index
    types: symbols.Types
    entries: dict = field(default_factory=dict)   # function short name -> entry locks
    deps: dict = field(default_factory=dict)      # what each of those read (analyzers.depends)
    open: dict = field(default_factory=dict)      # function short name -> its depth while being summarised
    low: list = field(default_factory=lambda: [0])   # the shallowest open summary the current one met


@dataclass
class Here:
    """Where names are resolved: the run's tables, the file, the function, its class and its locals."""

    idx: Index
    types: symbols.Types
    model: FileModel
    fn: Scope
    owner: str             # the class of the function ('' for free functions)
    local: symbols.FunctionLocals   # the function's parameters and locals by name, with their types
    memo: dict = field(default_factory=dict)   # lock expressions and receiver chains already resolved here
    deps: dict = field(default_factory=dict)   # what each of those read (analyzers.depends)


# -- identities: what a lock and a field are, typed where the symbol table can, by name otherwise ----

def lock_identity(here: Here, expr: str) -> str:
    """The name of the lock an expression denotes: the hierarchy class if declared, else 'Class::member' of
    the class declaring it (symbols.member_of, else the declared types of the chain it is reached through),
    else the expression (array subscripts dropped: an array of mutexes is one class of locks)."""
    return depends.memoised(here.memo, here.deps, ("lock", expr), lambda: _lock_identity(here, expr))


def _lock_identity(here: Here, expr: str) -> str:
    if expr == "(capability)":
        return ANY_LOCK
    bare = _INDEX_SUFFIX.sub("", expr).lstrip("&*")
    for prefix in ("this->", "self->", "self."):
        if bare.startswith(prefix):
            bare = bare[len(prefix):]
    declared = lock_class(bare, here.owner)
    if declared:
        return declared
    typed = symbols.member_of(here.model, here.types, here.fn, bare)
    if typed is not None:
        return f"{typed[0]}::{typed[1].name}"
    parts = re.split(r"->|\.", bare)
    if bare.endswith(")") or not all(_IDENT.fullmatch(p) for p in parts):
        return bare
    idx, owner, name = here.idx, here.owner, parts[-1]
    if len(parts) == 1:
        member = idx.member(owner, name) if owner else None
        if member is not None:
            return f"{member.owner.split('::')[-1] or owner}::{name}"
        if name in idx.statics:
            return f"::{name}"
        return f"{owner.split('::')[-1]}::{name}" if owner else name   # a member the parse did not record
    cls = chain_class(idx, owner, parts[:-1], here.local) or _unique_owner(idx, name)
    return f"{cls}::{name}" if cls else bare


_IDENT = re.compile(r"[A-Za-z_]\w*")


def field_identity(here: Here, toks: list[Token], i: int, statics: dict) -> tuple[str, str, Member] | None:
    """(identity, how reached, declaration) of the member or global named by toks[i], or None.

    Locals shadow members; `statics` are the function-local and file-level statics visible here, by name.
    A receiver's class comes from symbols.type_of, else from the declared types of its chain."""
    idx, owner, local = here.idx, here.owner, here.local
    name = toks[i].text
    prev = toks[i - 1].text if i > 0 else ""
    nxt = toks[i + 1].text if i + 1 < len(toks) else ""
    if nxt in ("(", "::") or (nxt == ":" and prev not in ("?", "case")):
        return None                       # a call, a qualifier, a label or an ObjC selector part
    if prev in (".", "->"):
        if _owned(here, toks, i - 2):
            return None
        chain = _chain(toks, i - 2)
        cls = _receiver_class(here, chain)
        member = idx.member(cls, name) if cls and not is_objc_type(cls) else None
        if member is None:
            return None
        via = "member" if chain == ["this"] or chain == ["self"] else "receiver"
        return _field_name(member, cls, name), via, member
    if prev == "::":
        qual = toks[i - 2].text if i > 1 else ""
        member = idx.members.get(qual, {}).get(name)
        return (f"{qual}::{name}", "global", member) if member is not None and member.static else None
    hit = statics.get(name)
    if hit is not None and (name not in local or _is_static(local[name])):
        ident, member = hit
        return ident, "global", member
    if name in local:
        return None
    if owner:
        member = idx.member(owner, name)
        if member is not None:
            return _field_name(member, owner, name), "global" if member.static else "member", member
    member = idx.statics.get(name)
    if member is not None and idx.path_of(member).endswith((".h", ".hpp")):
        return f"::{name}", "global", member      # a global declared in a header: one object for all files
    return None


def _receiver_class(here: Here, chain: list[str]) -> str:
    """The class of a receiver chain: symbols.type_of, else the declared types along it; memoised."""
    def compute() -> str:
        typed = symbols.type_of(here.model, here.types, here.fn, "->".join(chain)) if chain else None
        return symbols.bare(typed) if typed else chain_class(here.idx, here.owner, chain, here.local)
    return depends.memoised(here.memo, here.deps, ("recv", tuple(chain)), compute)


def _field_name(member: Member, static_class: str, name: str) -> str:
    """'Class::name' by the static type it is reached through (a CopyStat's inherited `length` is not a
    CopyInfo's: objects of different types are different objects); static members by their declaring class."""
    cls = member.owner.split("::")[-1] if member.static and member.owner else static_class
    return f"{cls}::{name}"


def _chain(toks: list[Token], j: int) -> list[str]:
    """The identifiers of the receiver `a->b.c` ending at toks[j] ([] when it is not such a chain)."""
    parts: list[str] = []
    while j >= 0 and toks[j].kind == IDENT:
        parts.insert(0, toks[j].text)
        if j > 1 and toks[j - 1].text in (".", "->"):
            j -= 2
            continue
        return [] if j > 0 and toks[j - 1].text == "::" else parts
    return []


def _owned(here: Here, toks: list[Token], j: int) -> bool:
    """The receiver chain ending at toks[j] starts at a local object held by value (`AllocParams params;`):
    this thread's own object, which no other thread can reach (RacerD's ownership)."""
    while j > 1 and toks[j - 1].text in (".", "->") and toks[j - 2].kind == IDENT:
        j -= 2
    decl = here.local.get(toks[j].text) if j >= 0 and toks[j].kind == IDENT else None
    if decl is None or decl.param or _is_static(decl) or "*" in decl.type or "&" in decl.type:
        return False
    base = decl.type.replace(" ", "").removeprefix("const")
    if _SMART.match(base) or base in ("auto", "id") or base.endswith("Ptr") or base.endswith("_t"):
        return False
    k = token_index(here.model, decl.line)     # `auto& x = ...`: the table types x without its `&`
    while k < len(toks) and toks[k].line == decl.line and toks[k].text != decl.name:
        k += 1
    return k < len(toks) and toks[k].line == decl.line and toks[k - 1].text not in ("&", "*", "&&")


def _is_static(local: symbols.Local) -> bool:
    return "static" in local.type.split()


def chain_class(idx: Index, owner: str, parts: list[str], local: dict) -> str:
    """The class of `parts[0]->parts[1]->...` from declared types: `this`, a typed local or parameter, a
    member of the method's class or a global first, then each member's declared type ('' when unknown)."""
    if not parts:
        return ""
    head, rest = parts[0], parts[1:]
    if head in ("this", "self"):
        cls = owner
    elif head in local:
        cls = class_of_type(local[head].type)
    else:
        member = (idx.member(owner, head) if owner else None) or idx.statics.get(head)
        cls = class_of_type(member.type) if member is not None else ""
    for name in rest:
        member = idx.member(cls, name) if cls else None
        if member is None:
            return ""
        cls = class_of_type(member.type)
    return cls


_SMART = re.compile(r"^(?:std::)?(?:shared_ptr|unique_ptr|weak_ptr|reference_wrapper|optional)<(.+)>$")


def class_of_type(type_text: str) -> str:
    """'const BufferPool*' / 'std::unique_ptr<at::mps::BufferPool>' -> 'BufferPool' ('' for auto and the like)."""
    bare = re.sub(r"\b(const|volatile|struct|class|mutable)\b|[*&\s]", "", type_text)
    smart = _SMART.match(bare)
    if smart:
        bare = smart.group(1)
    bare = bare.split("<")[0].split("::")[-1]
    return "" if bare in ("auto", "") else bare


def _unique_owner(idx: Index, name: str) -> str:
    """The only class that declares a non-static data member `name` ('' when none or several)."""
    owners = _owners_by_name(idx).get(name, ())
    return owners[0] if len(owners) == 1 else ""


def _owners_by_name(idx: Index) -> dict[str, tuple[str, ...]]:
    cached = idx.__dict__.get("_lockset_owners")
    if cached is None:
        by: dict[str, list[str]] = {}
        for cls, members in idx.members.items():
            for name, m in members.items():
                if not m.static and not m.function:
                    by.setdefault(name, []).append(cls)
        cached = idx.__dict__["_lockset_owners"] = {k: tuple(v) for k, v in by.items()}
    return cached


# -- accesses --------------------------------------------------------------------------------------

def is_write(toks: list[Token], i: int) -> bool:
    """Whether the name at toks[i] is written: `x =`, `x += 1`, `++x`, `x.insert(...)`, `x[k] = v`."""
    nxt = toks[i + 1].text if i + 1 < len(toks) else ""
    prev = toks[i - 1].text if i > 0 else ""
    if nxt in WRITE_OPS or prev in ("++", "--"):
        return True
    if nxt in (".", "->") and i + 2 < len(toks) and toks[i + 2].text in MUTATORS:
        return True
    if nxt == "[":
        j = closing(toks, i + 1)
        return j + 1 < len(toks) and toks[j + 1].text in WRITE_OPS
    return False


def _skipped(member: Member | None) -> bool:
    """Members no race can involve: locks, atomics, constants, references, thread_local statics (the
    parser's flag: one copy per thread, never shared)."""
    if member is None:
        return True
    return bool(MUTEX_TYPE.search(member.type) or IMMUTABLE.search(member.type)) or member.thread_local


def _context(scope: Scope) -> str:
    """Where code in `scope` runs when that is another thread's business: handlers, async blocks, queues."""
    root = escaping_root(scope)
    if root is not None:
        return root.handler.rstrip(":").replace("add", "").replace("Handler", " handler").lower().strip() \
            if root.handler else ("async block" if root.kind == "dispatch" else f"escaping {root.kind}")
    for node in (scope, *scope.ancestors()):
        if node.kind == "dispatch" and node.queue:
            return f"queue {node.queue}"
        if node.kind == "function":
            break
    return ""


def _queues(here: Here, scope: Scope) -> set[str]:
    """Serial queues whose blocks enclose `scope` (up to the first escaping non-dispatch scope)."""
    out = set()
    for node in (scope, *scope.ancestors()):
        if node.kind == "dispatch" and node.queue:
            out.add("queue:" + lock_identity(here, node.queue))
        elif node.kind in ("block", "lambda") and node.escaping or node.kind == "function":
            break
    return out


def _takes_lock_param(model: FileModel, fn: Scope) -> bool:
    """A function handed its caller's lock (`std::unique_lock<std::mutex>& lock`) runs with it held."""
    return any(symbols.guard_parameter(model, fn, p.name) for p in symbols.parameters(model, fn))


def held_at(model: FileModel, scope: Scope, line: int) -> list[LockRegion]:
    """queries.held plus regions re-acquired in a sibling block (`pool_lock.unlock(); ...; pool_lock.lock();`
    inside an `if`): the parser gives such a region the span up to the next unlock, so the span decides."""
    regions = held(model, scope, line)
    fn = scope.function()
    if fn is None or escaping_root(scope) is not None:
        return regions
    spans = _spans(fn)
    if spans:
        inside = {id(s) for s in (scope, *scope.ancestors())}
        regions += [r for owner, r in spans if owner not in inside and r.line <= line <= r.end_line]
    return regions


def _spans(fn: Scope) -> list[tuple[int, LockRegion]]:
    """(id of the block, region) for unique_lock/manual regions in nested blocks that outlive the block or end
    at an unlock(), memoised on the function."""
    cached = fn.memos().get("_lockset_spans")
    if cached is None:
        cached = []
        todo = list(fn.children)
        while todo:
            node = todo.pop()
            if node.kind != "compound":
                continue
            cached += [(id(node), r) for r in node.locks if r.kind in ("unique_lock", "manual")
                       and (r.released_by == "unlock" or r.end_line > node.end_line)]
            todo.extend(node.children)
        fn.memos()["_lockset_spans"] = cached
    return cached


def entry_locks(tables: Tables, fn: Scope) -> frozenset[str] | None:
    """The locks held on every way into `fn` (a function summary, computed on demand): at each call site the
    locks held there plus those held on the way into the caller, intersected over the sites. None when no
    site constrains it (only recursive calls); an empty set when some caller holds nothing, or when no
    caller is known (an entry point). Call sites are judged by _may_call, so namesakes do not count."""
    return _entry(tables, short_name(fn.name))


def _entry(tables: Tables, name: str) -> frozenset[str] | None:
    memo, idx, opened = tables.entries, tables.idx, tables.open
    if name in memo:
        depends.recall(tables.deps, name)
        return memo[name]
    depth = opened.get(name)
    if depth is not None:       # a recursive way in adds no constraint
        tables.low[0] = min(tables.low[0], depth)
        return None
    depth = opened[name] = len(opened)
    outer_low, tables.low[0] = tables.low[0], depth
    depends.open_frame()
    try:
        owners = {idx.owner(m, f) for m, f in idx.functions.get(name, ())}
        result: frozenset[str] | None = None
        called = False
        # sites judged as the walk reaches them: it mostly stops at the first caller holding nothing, and
        # judging every site first (a receiver's type each) cost as much as a function's callers are many
        for model, call in idx.calls.get(name, []):
            if not _may_call(tables, model, call, name, owners):
                continue
            called = True
            here = _here(tables, model, call.scope.function())
            held_here = {lock_identity(here, r.lock) for r in held_at(model, call.scope, call.line)}
            held_here |= _queues(here, call.scope)
            if escaping_root(call.scope) is None:
                outer = _entry(tables, short_name(here.fn.name))
                if outer is None:
                    continue            # no constraint from this site
                held_here |= outer
            result = frozenset(held_here) if result is None else result & held_here
            if not result:
                break
        if not called:
            result = NO_LOCKS           # no caller known: an entry point
    except BaseException:
        depends.close_frame()
        raise
    finally:
        del opened[name]
    low = tables.low[0]
    # kept only when no summary still open further out was skipped on the way: one that was would make
    # the result depend on which function was asked first
    if low >= depth:
        memo[name] = result
        depends.close_into(tables.deps, name)
    else:
        depends.close_frame()
    tables.low[0] = min(outer_low, low)
    return result


def _here(tables: Tables, model: FileModel, fn: Scope) -> Here:
    """The resolution context of a function, memoised on it."""
    here = fn.memos().get("_lockset_here")
    if here is None or here.idx is not tables.idx:
        here = Here(tables.idx, tables.types, model, fn, tables.idx.owner(model, fn),
                    symbols.FunctionLocals(model, fn))
        fn.memos()["_lockset_here"] = here
    return here


def _may_call(tables: Tables, model: FileModel, call: Call, name: str, owners: set[str]) -> bool:
    """Whether a call site named `name` can be a call of one of its definitions (in classes `owners`): not
    from a namesake (recursion, an override calling its base), not `f(x)` from a class that defines no
    `f`, not through a receiver whose type is known to be another class (`guard_.reset()`)."""
    caller = call.scope.function() if call.scope is not None else None
    if caller is None or short_name(caller.name) == name:
        return False
    if "" in owners or "::" in call.callee and not call.receiver:
        return True
    if not call.receiver:
        return tables.idx.owner(model, caller) in owners
    typed = symbols.type_of(model, tables.types, call.scope, call.receiver)
    if typed is None or symbols.bare(typed) in ("", "auto"):
        return True
    if call.callee.endswith("." + name) and _SMART.match(typed.replace(" ", "").removeprefix("const")):
        return False             # `p.reset()` on a smart pointer is the pointer's own method
    cls = symbols.bare(typed)
    return cls in owners or any(b in owners for b in tables.idx.bases.get(cls, ()))


def _once_line(model: FileModel, fn: Scope, initialisers: set[str]) -> int | None:
    """The first line where `fn` runs a once-initialisation (std::call_once / dispatch_once, directly or by
    calling a function that does), or None: what it wrote is published to every later reader."""
    lines = [r.line for s in fn.walk() for r in s.locks if r.kind == "call_once"]
    lines += [c.line for c in fn.all_calls() if c.name in initialisers]
    return min(lines) if lines else None


def accesses(models: list[FileModel], every: bool = True) -> list[Access]:
    """Every access to a member or global in a function body of the scanned files (constructors,
    destructors and code only they reach are left out: no other thread sees the object yet).

    With `every` False, only the accesses of fields that some access holds a lock for (what ST.015 compares)."""
    with over(models):
        tables = Tables(index(models), types(models))
        names = access_names(tables.idx)
        initialisers = set().union(*(once_functions(model) for model in models))
        per_file = [file_slots(tables, model, names, initialisers) for model in models]
        # An access where no lock can be held only matters to ST.015 for a field some other access holds a
        # lock for: without `every`, the rest are never worked out (most of the code, in generated files).
        locked = set().union(*(locked_fields(slots) for slots in per_file))
        return [a for slots in per_file for a in resolved(slots, names, None if every else locked)]


def access_names(idx: Index) -> set[str]:
    """The names an access can be of: every member and static of the tree."""
    return set(idx.statics) | {name for members in idx.members.values() for name in members}


def once_functions(model: FileModel) -> set[str]:
    """Short names of this file's functions that run a once-initialisation (most files have none)."""
    if not any(r.kind == "call_once" for s in model.scopes() for r in s.locks):
        return set()
    return {short_name(fn.name) for fn in model.scopes("function")
            if any(r.kind == "call_once" for s in fn.walk() for r in s.locks)}


def file_slots(tables: Tables, model: FileModel, names: set[str], initialisers: set[str]) -> list:
    """One file's accesses in order: an Access, or one that waits until it is known whether its field is
    locked anywhere (see resolved)."""
    caller_ctx = caller_context([model])
    file_statics = {m.name: (f"{model.path}::{m.name}" if not model.path.endswith((".h", ".hpp"))
                             else f"::{m.name}", m)
                    for m in model.members if m.static and not m.owner and not m.function}
    locking = _locking_functions(model)
    local_statics: dict[str, list[Member]] = {}     # m.function -> members, in declaration order
    for m in model.members:
        local_statics.setdefault(m.function, []).append(m)
    slots: list = []
    for fn in model.scopes("function"):
        if is_ctor_or_dtor(model, fn) or caller_ctx.get(short_name(fn.name)) == "init":
            continue
        statics = file_statics
        if fn.name in local_statics:     # a copy only where the function adds its own
            statics = dict(file_statics)
            statics.update({m.name: (f"{fn.name}()::{m.name}", m) for m in local_statics[fn.name]})
        slots += _Body(tables, model, fn, statics, initialisers).slots(names, locking)
    return slots


def locked_fields(slots: list) -> set[str]:
    """The field names (last part) some access among `slots` holds a lock for."""
    return {a.field.rsplit("::", 1)[-1] for a in slots if isinstance(a, Access) and a.locks}


def waiting(slots: list, names: set[str]) -> frozenset[str]:
    """The names the accesses among `slots` that wait (see resolved) can be of."""
    out: set[str] = set()
    for slot in slots:
        if isinstance(slot, _Body):
            texts, fn = slot.model.tokens.texts, slot.fn
            out.update(t for t in set(texts[fn.first_token:min(fn.last_token, len(texts))])
                       if t in names or t in slot.statics)
        elif not isinstance(slot, Access):
            out.add(slot[0].model.tokens.texts[slot[1]])
    return frozenset(out)


def resolved(slots: list, names: set[str], only: set[str] | None) -> list[Access]:
    """The accesses among `slots`, in order; those that waited only where their name is in `only`
    (all of them when it is None)."""
    out: list[Access] = []
    for slot in slots:
        if isinstance(slot, Access):
            out.append(slot)
        elif isinstance(slot, _Body):
            out += slot.later(names, only)
        elif only is None or slot[0].model.tokens.texts[slot[1]] in only:
            access = slot[0].access(slot[1], slot[2])
            if access is not None:
                out.append(access)
    return out


def _locking_functions(model: FileModel) -> set[int] | None:
    """ids of the functions in which a lock can be held: a lock region, a queue or a REQUIRES annotation
    (held_at and _queues look no further out than the enclosing function). None when the file has none
    of those anywhere, not even outside functions."""
    annotated = spells_requires(model)
    if not annotated and not any(s.takes_lock() for s in model.scopes()):
        return None
    out = set()
    for fn in model.scopes("function"):
        if any(s.takes_lock() for s in fn.walk()) or \
                annotated and requires_lock(model, fn):
            out.add(id(fn))
    return out


class _Body:
    """The accesses in one function body; what they need (locals, entry locks) is worked out on first use."""

    __slots__ = ("tables", "model", "fn", "statics", "initialisers", "here", "entry", "asked",
                 "inherited", "once")

    def __init__(self, tables: Tables, model: FileModel, fn: Scope, statics: dict, initialisers: set[str]):
        self.tables, self.model, self.fn, self.statics = tables, model, fn, statics
        self.initialisers = initialisers
        self.here: Here | None = None
        self.entry: frozenset[str] | None = NO_LOCKS
        self.asked = False     # entry_locks asked
        self.inherited: frozenset[str] | None = None
        self.once: int | None = None

    def slots(self, names: set[str], locking: set[int] | None) -> list:
        """Each access in order: an Access, or (self, token, scope) where no lock can be held, or just self
        when no lock is held anywhere in the file (see accesses, and later)."""
        toks, statics, fn = self.model.tokens, self.statics, self.fn
        texts, kinds = toks.texts, toks.kinds
        out: list = []
        for i in range(fn.first_token, min(fn.last_token, len(toks))):
            if kinds[i] != IDENT or texts[i] not in names and texts[i] not in statics:
                continue
            if not self.asked:
                # entry summaries are memoised in the order functions ask (with recursion the order matters):
                # every function asks at its first candidate, in file and function order
                self.asked = True
                self.entry = entry_locks(self.tables, fn)
            if locking is None:     # no lock region, queue or REQUIRES in the whole file: all of it waits
                return [self]
            scope = _scope_of(self.model, i)
            where = scope.function()
            if where is not None and id(where) not in locking:
                out.append((self, i, scope))
                continue
            access = self.access(i, scope)
            if access is not None:
                out.append(access)
        return out

    def later(self, names: set[str], only: set[str] | None) -> list[Access]:
        """The accesses of a body in a file with no lock, in order; only to names in `only` unless it is None."""
        toks, statics, fn = self.model.tokens, self.statics, self.fn
        texts, kinds = toks.texts, toks.kinds
        end = min(fn.last_token, len(toks))
        if only is not None and only.isdisjoint(texts[fn.first_token:end]):
            return []       # none of the names asked for occurs in the body (most bodies): a set test in C
        out = []
        for i in range(fn.first_token, end):
            if kinds[i] != IDENT or texts[i] not in names and texts[i] not in statics:
                continue
            if only is None or texts[i] in only:
                access = self.access(i, None)
                if access is not None:
                    out.append(access)
        return out

    def access(self, i: int, scope: Scope | None) -> Access | None:
        """The access at token i (in `scope`, found here when None), or None when toks[i] names no shared field."""
        model, fn, toks = self.model, self.fn, self.model.tokens
        scope = scope or _scope_of(model, i)
        if not self.asked:
            self.asked = True
            self.entry = entry_locks(self.tables, fn)
        if self.here is None:
            self.here = _here(self.tables, model, fn)
        if self.inherited is None:
            self.inherited = frozenset({ANY_LOCK}) if short_name(fn.name).endswith("Locked") or \
                _takes_lock_param(model, fn) else NO_LOCKS
            self.once = _once_line(model, fn, self.initialisers)
        here = self.here
        hit = field_identity(here, toks, i, self.statics)
        if hit is None or _skipped(hit[2]):
            return None
        ident, via, _ = hit
        tok = toks[i]
        write = is_write(toks, i)
        if _published(model, scope, tok.line, self.once, write):
            return None
        regions = [r for r in held_at(model, scope, tok.line)   # not the guard's own argument:
                   if not (r.line == tok.line and tok.col > r.col and r.kind != "requires")]
        locks = {lock_identity(here, r.lock) for r in regions} | _queues(here, scope)
        outer = escaping_root(scope) is None
        text = "".join(t.text for t in toks[i - 2:i + 1]) if via == "receiver" else tok.text
        where = scope.function()
        return Access(ident, via, write, frozenset(locks) | (self.inherited if outer else NO_LOCKS), tok, text,
                      _context(scope), self.entry if outer else NO_LOCKS, model.path,
                      where.name if where is not None else "", where.line if where is not None else 0)


def _scope_of(model: FileModel, i: int) -> Scope:
    """The innermost scope of token i: by line, then out of a block whose body starts after it
    (`dispatch_sync(obj->queue(), ^{`: the queue expression is read before the block runs)."""
    scope = model.scope_at(model.tokens[i].line)
    while scope.parent is not None and scope.kind in ("dispatch", "block", "lambda") and i < scope.first_token:
        scope = scope.parent
    return scope


def _published(model: FileModel, scope: Scope, line: int, once: int | None, write: bool) -> bool:
    """Inside a once-initialisation (call_once / dispatch_once), or a read after the function ran one."""
    if once is None:
        return False
    return any(r.kind == "call_once" for r in model.held_locks(scope, line)) or (not write and once < line)
