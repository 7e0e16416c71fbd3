"""ST.007 shared mutable state without its lock: members written under a lock and touched without it (a),
containers of shared static objects mutated with no lock (b)."""

from __future__ import annotations

import re
from typing import Iterable

from analyzers import depends
from analyzers.findings import Finding, Related
from analyzers.model import FileModel, Scope, Token, closing
from analyzers.rules import project_rule
from analyzers.rules.queries import (MUTEX_TYPE, Index, anchor_of, held, index, is_ctor_or_dtor, is_special_member, is_stream_class,
                                     caller_context, over, protected_at, short_name, used_name_indices)

CONTAINER = re.compile(r"\b(unordered_map|map|unordered_set|set|vector|list|deque|stack|queue|priority_queue|"
                       r"NSMutableDictionary|NSMutableArray|SmallVector|flat_hash_map)\b")
MUTATORS = frozenset({"insert", "erase", "emplace", "emplace_back", "push_back", "push", "pop", "clear",
                      "reset", "swap", "try_emplace", "insert_or_assign", "pop_back", "resize", "assign"})
IMMUTABLE = re.compile(r"\b(atomic|const|constexpr|once_flag|condition_variable)\b|Mutex$|mutex$")


def _is_write(toks: list[Token], i: int) -> bool:
    """Whether the member token at i is written: `x =`, `x +=`, `++x`, `x.insert(...)`, `x[k] = ...`."""
    nxt = toks[i + 1].text if i + 1 < len(toks) else ""
    prev = toks[i - 1].text if i > 0 else ""
    if nxt in ("=", "+=", "-=", "*=", "/=", "|=", "&=", "^=", "++", "--") or prev in ("++", "--"):
        return True
    if nxt in (".", "->") and i + 2 < len(toks) and toks[i + 2].text in MUTATORS:
        return True
    if nxt == "[":
        j = closing(toks, i + 1)
        return j + 1 < len(toks) and toks[j + 1].text == "="
    return False


def _accesses(model: FileModel, idx: Index, fn: Scope, cls: str):
    """(member, token, is_write) for data members of `cls` used in a function body."""
    toks = model.tokens
    texts = toks.texts
    names = idx.members.get(cls, {})
    for k in used_name_indices(model, fn, names):
        member = names.get(texts[k])
        if member is None or member.static or MUTEX_TYPE.search(member.type) or IMMUTABLE.search(member.type):
            continue
        yield member, toks[k], _is_write(toks, k)


def _static_types(model: FileModel) -> set[str]:
    """The classes of this file's static (non-member) objects: one object for every thread."""
    out: set[str] = set()
    for m in model.members:
        if m.static and not m.owner:
            base = re.sub(r"[\s*&]|const|static", "", m.type).split("<")[0].split("::")[-1]
            if base and base != "auto":
                out.add(base)
    return out


def _shared_classes(statics: set[str], idx: Index) -> set[str]:
    """Classes with a static instance somewhere (and their bases)."""
    out = set(statics)
    todo = list(out)
    while todo:
        c = todo.pop()
        for b in idx.bases.get(c, ()):
            if b not in out:
                out.add(b)
                todo.append(b)
    return out


def _emptied(model: FileModel) -> set[str]:
    """Names this file empties: `x.clear()`, `x->erase(...)`, `x.swap(...)`."""
    toks, t2 = model.tokens, model.tokens.texts
    return {t2[i - 2] for word in ("clear", "erase", "swap") for i in toks.indices(word, 2)
            if t2[i - 1] in (".", "->")}


ONCE = frozenset({"call_once", "dispatch_once", "c10_call_once"})


def _once(model: FileModel, idx: Index, fn: Scope, cls: str, scope: Scope, tok: Token, write: bool,
          first: dict) -> bool:
    """One-time initialisation: inside a call_once body, or a read after this function passed a call_once
    (its own, or in a method of the class it calls first, `ensureInitialized()`), which orders it after the
    one write. `first` keeps, per function of this run, where its first such call is (asked at every read)."""
    if any(r.kind == "call_once" for r in model.held_locks(scope, tok.line)):
        return True
    if write:
        return False
    if id(fn) not in first:
        first[id(fn)] = min(((c.line, c.col) for c in fn.all_calls() if c.name in ONCE or (
            c.receiver in ("", "this") and c.name in idx.methods(cls) and _runs_once(idx, c.name))), default=None)
    at = first[id(fn)]
    return at is not None and at < (tok.line, tok.col)


def _runs_once(idx: Index, name: str) -> bool:
    """Whether some definition of `name` calls a once-initialisation, memoised on the run's index (asked
    at every read after such a call)."""
    return depends.memoised(idx.__dict__.setdefault("_st007_runs_once", {}),
                            idx.__dict__.setdefault("_st007_runs_once_deps", {}), name,
                            lambda: any(c.name in ONCE for _, fn in idx.functions.get(name, ()) for c in fn.all_calls()))


def _filled_by_ctor(idx: Index, model: FileModel, fn: Scope, cls: str, name: str, tok: Token) -> bool:
    """`if (c.empty()) { c.emplace(...); }` in a function the constructor calls: the constructor fills it
    before the object is shared (so every later call finds it full, unless something empties `c`)."""
    toks = model.tokens
    guard = False
    node = model.scope_at(tok.line)
    while node is not None and node is not fn and not guard:
        if node.kind == "compound":     # its head: `if (c.empty())` up to the '{'
            head = [t.text for t in toks[max(fn.first_token, node.first_token - 12):node.first_token]]
            guard = "if" in head and any(head[i] == name and head[i + 2:i + 3] == ["empty"]
                                         for i in range(len(head) - 2))
        node = node.parent
    if not guard:
        return False
    fname = short_name(fn.name)
    return any(is_ctor_or_dtor(m, c.scope.function()) and idx.owner(m, c.scope.function()) == cls
               for m, c in idx.calls.get(fname, ()) if c.scope is not None and c.scope.function() is not None)


def _has_mutex(idx: Index, cls: str) -> bool:
    """Whether the class declares a mutex of its own (a lock held by callers of a plain struct's methods
    protects the caller's container, not the struct: that is the caller's class to check)."""
    return any(MUTEX_TYPE.search(m.type) for m in idx.members.get(cls, {}).values())


@project_rule("ST.007")
def check(models: list[FileModel], ctx) -> Iterable[Finding]:
    """Member accesses compared across the methods of each class."""
    with over(models):
        return list(joined([split(model, ctx)[1] for model in models], ctx))


def split(model: FileModel, ctx) -> tuple[list[Finding], tuple]:
    """One file's part, as plain data (joined compares the files): its locked writes, its accesses with no
    lock, the classes of its static objects, the names it empties."""
    idx = index([model])
    cctx = caller_context([model])
    locked_writes: list[tuple] = []      # ((class, member), (path, line, lock)), in file order
    unlocked: list[tuple] = []
    once_at: dict[int, tuple[int, int] | None] = {}    # id of a function (alive for this run) -> see _once
    for fn in model.scopes("function"):
        cls = idx.owner(model, fn)
        if not cls or cls not in idx.members or is_special_member(fn, cls) or is_stream_class(cls):
            continue
        seen: set[str] = set()
        for member, tok, write in _accesses(model, idx, fn, cls):
            scope = model.scope_at(tok.line)
            guard = protected_at(model, scope, tok.line, cctx)
            if guard == "init":
                continue
            if guard == "lock" or model.queues_at(scope):
                if write and guard == "lock":
                    regions = held(model, scope, tok.line)
                    lock = regions[-1].lock if regions else "the lock its callers hold"
                    locked_writes.append(((cls, member.name), (model.path, tok.line, lock)))
                continue
            if _once(model, idx, fn, cls, scope, tok, write, once_at):
                continue
            if member.name not in seen or write:
                seen.add(member.name)
                container = write and bool(CONTAINER.search(member.type))
                where = scope.function()
                unlocked.append((model.path, fn.name, cls, member.name, member.type, tok.line, tok.col, write,
                                 where.name if where else "",
                                 container and _filled_by_ctor(idx, model, fn, cls, member.name, tok),
                                 _has_mutex(idx, cls)))
    return [], (locked_writes, unlocked, _static_types(model), _emptied(model))


def joined(parts: list[tuple], ctx) -> Iterable[Finding]:
    """ST.007's findings from every file's part, in file order."""
    idx = index([])
    locked_writes: dict[tuple[str, str], tuple] = {}
    for writes, _, _, _ in parts:
        for key, write in writes:
            locked_writes.setdefault(key, write)
    shared = _shared_classes(set().union(*(p[2] for p in parts)) if parts else set(), idx)
    emptied = set().union(*(p[3] for p in parts)) if parts else set()
    reported: set[tuple[str, str, str]] = set()
    for _, unlocked, _, _ in parts:
        for (path, fn_name, cls, name, mtype, line, col, write, function, filled, has_mutex) in unlocked:
            key = (path, fn_name, name)
            if key in reported:
                continue
            fname = short_name(fn_name)
            hit = locked_writes.get((cls, name))
            if hit is not None and has_mutex:
                wpath, wline, lock = hit
                reported.add(key)
                yield ctx.finding_in("ST.007.a", path, function, line, col,
                                     f"{cls}::{name} is {'written' if write else 'read'} in {fname} without a lock, "
                                     f"but written under {lock} elsewhere",
                                     anchor=anchor_of(name, "unlocked access"),
                                     related=(Related(wpath, wline, f"written under {lock} here"),))
            elif write and cls in shared and CONTAINER.search(mtype) and not (filled and name not in emptied):
                reported.add(key)
                # where it is declared, looked up now: a part keeps no line of another file (a header's
                # member that only moved leaves the parts of the files using it as they were)
                member = idx.members.get(cls, {}).get(name)
                yield ctx.finding_in("ST.007.b", path, function, line, col,
                                     f"{fname} mutates the container {cls}::{name} with no lock, and {cls} has a "
                                     f"static (shared) instance", anchor=anchor_of(name, "shared container"),
                                     related=(Related(idx.path_of(member), member.line, f"{name} declared here"),)
                                     if member else ())
