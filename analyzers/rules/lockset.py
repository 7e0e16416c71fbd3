"""Locksets for ST.015 (Eraser/RacerD style): every access to a member or global, with the locks held there.

One pass over every function body yields `Access` records; the rule compares them per field. What a lock
is (`lock_identity`) and what a field is (`field_identity`) are decided in those two functions only, so
a typed resolution (symbol table) can replace today's name-based one without touching the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from analyzers.model import Call, FileModel, LockRegion, Member, Scope, Token, closing
from analyzers.rules.queries import (MUTEX_TYPE, Index, caller_context, declarations, escaping_root, held, index,
                                     is_ctor_or_dtor, is_objc_type, lock_class, short_name, token_index)

ANY_LOCK = "*"            # a lock is held but its name is not known (all callers hold one, a lock parameter)
IMMUTABLE = re.compile(r"\b(atomic\w*|const|constexpr|once_flag|condition_variable\w*)\b|Mutex$|mutex$|&$")
WRITE_OPS = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "|=", "&=", "^=", "<<=", ">>=", "++", "--"})
MUTATORS = frozenset({"insert", "erase", "emplace", "emplace_back", "push_back", "push_front", "push", "pop",
                      "pop_back", "pop_front", "clear", "reset", "swap", "try_emplace", "insert_or_assign",
                      "resize", "assign", "emplace_front", "erase_if"})
LOCK_PARAM = re.compile(r"^(unique_lock|lock_guard|scoped_lock|shared_lock)$")
_INDEX_SUFFIX = re.compile(r"\[[^\[\]]*\]")


@dataclass
class Access:
    """One read or write of a field, with the lock identities held there."""

    field: str                 # identity: 'BufferPool::available_size', '::s_counter', 'fn()::cache'
    via: str                   # member (bare name in a method) | receiver (`obj->f`, `obj.f`) | global
    write: bool
    locks: frozenset[str]      # lock identities; ANY_LOCK when held but unnamed
    token: Token
    text: str                  # the access as written: 'pool.available_size'
    context: str               # '' | 'completion handler' | 'async block' | 'queue <q>' (where it runs)
    model: FileModel = field(repr=False, compare=False)
    scope: Scope = field(repr=False, compare=False)


# -- identities (the two functions a typed resolution replaces) -------------------------------------

def lock_identity(idx: Index, owner: str, expr: str, local: dict | None = None) -> str:
    """The name of the lock an expression denotes: the hierarchy class if declared, else 'Class::member' from
    the declared type of the object it is reached through, else the expression (array subscripts dropped:
    an array of mutexes is one class of locks)."""
    if expr == "(capability)":
        return ANY_LOCK
    bare = _INDEX_SUFFIX.sub("", expr).lstrip("&*")
    for prefix in ("this->", "self->", "self."):
        if bare.startswith(prefix):
            bare = bare[len(prefix):]
    declared = lock_class(bare, owner)
    if declared:
        return declared
    parts = re.split(r"->|\.", bare)
    if bare.endswith(")") or not all(_IDENT.fullmatch(p) for p in parts):
        return bare
    name = parts[-1]
    if len(parts) == 1:
        member = idx.member(owner, name) if owner else None
        if member is not None:
            return f"{member.owner.split('::')[-1] or owner}::{name}"
        if name in idx.statics:
            return f"::{name}"
        return f"{owner.split('::')[-1]}::{name}" if owner else name   # a member the parse did not record
    cls = chain_class(idx, owner, parts[:-1], local or {}) or _unique_owner(idx, name)
    return f"{cls}::{name}" if cls else bare


_IDENT = re.compile(r"[A-Za-z_]\w*")


def field_identity(idx: Index, owner: str, toks: list[Token], i: int, local: dict,
                   statics: dict) -> tuple[str, str, Member] | None:
    """(identity, how reached, declaration) of the member or global named by toks[i], or None.

    `owner` is the class of the enclosing method; `local` the function's local declarations (they shadow
    members); `statics` the function-local and file-level statics visible here, by name.
    """
    name = toks[i].text
    prev = toks[i - 1].text if i > 0 else ""
    nxt = toks[i + 1].text if i + 1 < len(toks) else ""
    if nxt in ("(", "::") or (nxt == ":" and prev not in ("?", "case")):
        return None                       # a call, a qualifier, a label or an ObjC selector part
    if prev in (".", "->"):
        if _owned(toks, i - 2, local):
            return None
        cls = receiver_class(idx, owner, toks, i - 2, local)
        member = idx.member(cls, name) if cls and not is_objc_type(cls) else None
        if member is None:
            return None
        via = "member" if toks[i - 2].text in ("this", "self") else "receiver"
        return f"{member.owner.split('::')[-1] or cls}::{name}", via, member
    if prev == "::":
        qual = toks[i - 2].text if i > 1 else ""
        member = idx.members.get(qual, {}).get(name)
        return (f"{qual}::{name}", "global", member) if member is not None and member.static else None
    hit = statics.get(name)
    if hit is not None and (name not in local or local[name].static):
        ident, member = hit
        return ident, "global", member
    if name in local:
        return None
    if owner:
        member = idx.member(owner, name)
        if member is not None:
            via = "global" if member.static else "member"
            return f"{member.owner.split('::')[-1] or owner}::{name}", via, member
    member = idx.statics.get(name)
    if member is not None and idx.path_of(member).endswith((".h", ".hpp")):
        return f"::{name}", "global", member      # a global declared in a header: one object for all files
    return None


def _owned(toks: list[Token], j: int, local: dict) -> bool:
    """The receiver chain ending at toks[j] starts at a local object held by value (`AllocParams params;`):
    this thread's own object, which no other thread can reach (RacerD's ownership)."""
    while j > 1 and toks[j - 1].text in (".", "->") and toks[j - 2].kind == "IDENT":
        j -= 2
    decl = local.get(toks[j].text) if j >= 0 and toks[j].kind == "IDENT" else None
    if decl is None or decl.kind != "value" or decl.static:
        return False
    return not (_SMART.match(decl.type.replace(" ", "")) or decl.type in ("auto", "id") or decl.type.endswith("Ptr"))


def receiver_class(idx: Index, owner: str, toks: list[Token], j: int, local: dict) -> str:
    """The class of the object the receiver ending at toks[j] denotes ('' if unknown): `a->b.c` walked back."""
    parts: list[str] = []
    while j >= 0 and toks[j].kind == "IDENT":
        parts.insert(0, toks[j].text)
        if j > 1 and toks[j - 1].text in (".", "->"):
            j -= 2
            continue
        if j > 0 and toks[j - 1].text == "::":
            return ""
        break
    else:
        return ""
    return chain_class(idx, owner, parts, local)


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


_SMART = re.compile(r"^(?:std::)?(?:shared_ptr|unique_ptr|weak_ptr|reference_wrapper)<(.+)>$")


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


def _skipped(member: Member | None, thread_local: set[int]) -> bool:
    """Members no race can involve: locks, atomics, constants, references, thread_local statics."""
    if member is None:
        return True
    return bool(MUTEX_TYPE.search(member.type) or IMMUTABLE.search(member.type)) or id(member) in thread_local


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


def _queues(idx: Index, owner: str, scope: Scope) -> set[str]:
    """Serial queues whose blocks enclose `scope` (up to the first escaping non-dispatch scope)."""
    out = set()
    for node in (scope, *scope.ancestors()):
        if node.kind == "dispatch" and node.queue:
            out.add("queue:" + lock_identity(idx, owner, node.queue))
        elif node.kind in ("block", "lambda") and node.escaping or node.kind == "function":
            break
    return out


def _takes_lock_param(model: FileModel, fn: Scope) -> bool:
    """A function handed its caller's lock (`std::unique_lock<std::mutex>& lock`) runs with it held."""
    toks = model.tokens
    return any(toks[k].kind == "IDENT" and LOCK_PARAM.match(toks[k].text)
               for k in range(token_index(model, fn.line), min(fn.first_token, len(toks))))


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
    cached = fn.__dict__.get("_lockset_spans")
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
        fn.__dict__["_lockset_spans"] = cached
    return cached


def lock_context(models: list[FileModel]) -> dict[str, str]:
    """queries.caller_context, refined with held_at: a function all of whose call sites hold a lock only
    held_at sees (re-acquired in a sibling block), and the functions only such code calls, count as 'lock'
    too. Short name -> 'lock' | 'init'; memoised per run."""
    idx = index(models)
    cached = idx.__dict__.get("_lockset_ctx")
    if cached is not None:
        return cached
    ctx = dict(caller_context(models))
    seeds = {c.name for model in models for fn in model.scopes("function") if _spans(fn)
             for c in fn.all_calls() if c.name not in ctx and held_at(model, c.scope, c.line)}
    todo, reach = list(seeds), set(seeds)
    while todo:     # what those functions call may become 'lock' in turn
        for _, fn in idx.functions.get(todo.pop(), ()):
            for c in fn.all_calls():
                if c.name not in reach and c.name not in ctx and c.name in idx.functions:
                    reach.add(c.name)
                    todo.append(c.name)
    changed = True
    while changed:
        changed = False
        for name in sorted(reach - set(ctx)):
            sites = idx.calls.get(name, [])
            if sites and all(_site_locked(model, call, ctx) for model, call in sites):
                ctx[name] = "lock"
                changed = True
    idx.__dict__["_lockset_ctx"] = ctx
    return ctx


def _site_locked(model: FileModel, call: Call, ctx: dict[str, str]) -> bool:
    if call.scope is None:
        return False
    if held_at(model, call.scope, call.line):
        return True
    fn = call.scope.function()
    return fn is not None and escaping_root(call.scope) is None and ctx.get(short_name(fn.name)) == "lock"


def _once_line(model: FileModel, fn: Scope, initialisers: set[str]) -> int | None:
    """The first line where `fn` runs a once-initialisation (std::call_once / dispatch_once, directly or by
    calling a function that does), or None: what it wrote is published to every later reader."""
    lines = [r.line for s in fn.walk() for r in s.locks if r.kind == "call_once"]
    lines += [c.line for c in fn.all_calls() if c.name in initialisers]
    return min(lines) if lines else None


def _thread_locals(models: list[FileModel]) -> set[int]:
    out = set()
    for model in models:
        for m in model.members:
            if m.static and 0 < m.line <= len(model.lines) and "thread_local" in model.lines[m.line - 1]:
                out.add(id(m))
    return out


def accesses(models: list[FileModel]) -> list[Access]:
    """Every access to a member or global in a function body of the scanned files (constructors,
    destructors and code only they reach are left out: no other thread sees the object yet)."""
    idx = index(models)
    caller_ctx = lock_context(models)
    thread_local = _thread_locals(models)
    initialisers = {short_name(fn.name) for model in models for fn in model.scopes("function")
                    if any(r.kind == "call_once" for s in fn.walk() for r in s.locks)}
    names = set(idx.statics) | {name for members in idx.members.values() for name in members}
    out: list[Access] = []
    for model in models:
        file_statics = {m.name: (f"{model.path}::{m.name}" if not model.path.endswith((".h", ".hpp"))
                                 else f"::{m.name}", m)
                        for m in model.members if m.static and not m.owner and not m.function}
        for fn in model.scopes("function"):
            if is_ctor_or_dtor(model, fn) or caller_ctx.get(short_name(fn.name)) == "init":
                continue
            statics = dict(file_statics)
            statics.update({m.name: (f"{fn.name}()::{m.name}", m) for m in model.members if m.function == fn.name})
            out += _function_accesses(idx, model, fn, names, statics, thread_local, caller_ctx, initialisers)
    return out


def _function_accesses(idx: Index, model: FileModel, fn: Scope, names: set[str], statics: dict,
                       thread_local: set[int], caller_ctx: dict[str, str], initialisers: set[str]) -> list[Access]:
    """The accesses in one function body (`names`: every member and global name, a cheap first filter)."""
    toks = model.tokens
    owner = idx.owner(model, fn)
    local: dict | None = None     # declarations() costs: parse them at the first candidate only
    inherited = (caller_ctx.get(short_name(fn.name)) == "lock" or short_name(fn.name).endswith("Locked")
                 or _takes_lock_param(model, fn))
    once = _once_line(model, fn, initialisers)
    out: list[Access] = []
    for i in range(fn.first_token, min(fn.last_token, len(toks))):
        tok = toks[i]
        if tok.kind != "IDENT" or tok.text not in names and tok.text not in statics:
            continue
        if local is None:
            local = declarations(model, token_index(model, fn.line), fn.last_token)
        hit = field_identity(idx, owner, toks, i, local, statics)
        if hit is None or _skipped(hit[2], thread_local):
            continue
        ident, via, _ = hit
        scope = _scope_of(model, i)
        write = is_write(toks, i)
        if _published(model, scope, tok.line, once, write):
            continue
        regions = [r for r in held_at(model, scope, tok.line)   # not the guard's own argument:
                   if not (r.line == tok.line and tok.col > r.col and r.kind != "requires")]
        locks = {lock_identity(idx, owner, r.lock, local) for r in regions} | _queues(idx, owner, scope)
        if inherited and escaping_root(scope) is None:
            locks.add(ANY_LOCK)
        text = "".join(t.text for t in toks[i - 2:i + 1]) if via == "receiver" else tok.text
        out.append(Access(ident, via, write, frozenset(locks), tok, text, _context(scope), model, scope))
    return out


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
