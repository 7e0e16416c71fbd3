"""ST.005 manual lock()/unlock(): never unlocked (a), an exit between them (b), recursive mutex dropped (c)."""

from __future__ import annotations

import re
from typing import Iterable

from analyzers.findings import Finding, Related
from analyzers.model import IDENT, Call, FileModel, Scope
from analyzers.rules import project_rule
from analyzers.rules.queries import RECURSIVE_TYPE, anchor_of, index, is_ctor_or_dtor, short_name, token_index

EXITS = re.compile(r"^(return|throw|TORCH_CHECK\w*|TORCH_INTERNAL_ASSERT\w*|AT_ERROR|AT_ASSERT\w*|"
                   r"C10_THROW_ERROR|TORCH_ERROR)$")


_LOCK_UNLOCK = ("lock", "unlock")


def _manual(fn: Scope) -> list[Call]:
    """lock()/unlock() calls on mutexes (not on guard objects) in a function, in source order."""
    guards = {r.var for s in fn.walk() for r in s.locks if r.var}
    calls = [c for c in fn.all_calls() if c.name in _LOCK_UNLOCK and c.receiver and not c.objc
             and c.receiver not in guards and c.scope is not None and _same_body(c.scope, fn)]
    return sorted(calls, key=lambda c: (c.line, c.col))


def _same_body(scope: Scope, fn: Scope) -> bool:
    """The call runs as part of the function (not in a block or lambda that runs later or elsewhere)."""
    node = scope
    while node is not None and node is not fn:
        if node.kind in ("block", "lambda") or (node.kind == "dispatch" and node.escaping):
            return False
        node = node.parent
    return True


def _exit_between(model: FileModel, fn: Scope, start: tuple[int, int], end: tuple[int, int]):
    """The first return/throw/throwing check strictly between two positions of the function body."""
    toks = model.tokens
    # from the lock call on, not the function's start: one scan per lock() was quadratic
    for i in range(max(fn.first_token, token_index(model, *start)), min(fn.last_token, len(toks))):
        t = toks[i]
        if (t.line, t.col) <= start:
            continue
        if (t.line, t.col) >= end:
            return None
        if t.kind == IDENT and EXITS.match(t.text) and _same_body(model.scope_at(t.line), fn):
            return t
    return None


LOCK_API = re.compile(r"^([A-Z0-9]+_)?(ACQUIRE|ACQUIRE_SHARED|EXCLUSIVE_LOCK_FUNCTION|SHARED_LOCK_FUNCTION|"
                      r"TRY_ACQUIRE|RELEASE|RELEASE_SHARED|RELEASE_GENERIC|UNLOCK_FUNCTION)$|"
                      r"^(acquire|release|try_acquire)_(shared_|generic_)?capability$")


def _lock_api(model: FileModel, fn: Scope) -> bool:
    """Functions whose job is to lock or unlock: lock()/unlock()/acquire()/release() wrappers, ACQUIRE/RELEASE
    annotated ones, and RAII guards' constructors and destructors."""
    name = short_name(fn.name).lower()
    if name.startswith(("lock", "unlock", "acquire", "release_lock")) or is_ctor_or_dtor(model, fn):
        return True
    toks = model.tokens
    return any(LOCK_API.match(t.text) for t in toks[token_index(model, fn.line, 1):fn.first_token])


@project_rule("ST.005")
def check(models: list[FileModel], ctx) -> Iterable[Finding]:
    """Pair manual lock()/unlock() along each function body."""
    idx = index(models)
    for model in models:
        if not any(c.name in _LOCK_UNLOCK for c in model.calls()):
            continue     # no lock()/unlock() anywhere in the file (most files): no function of it to pair
        for fn in model.scopes("function"):
            calls = _manual(fn)
            if not calls:
                continue
            fname = short_name(fn.name)
            cls = idx.owner(model, fn)
            # the next unlock() of each receiver after each call, and what came before: one pass each
            # (searching the call list per call was quadratic in the calls of one function)
            next_unlock: list = [None] * len(calls)
            latest: dict[str, object] = {}
            for i in range(len(calls) - 1, -1, -1):
                next_unlock[i] = latest.get(calls[i].receiver)
                if calls[i].name == "unlock":
                    latest[calls[i].receiver] = calls[i]
            seen: set[tuple[str, str]] = set()
            for i, call in enumerate(calls):
                mutex = call.receiver
                had_unlock, had_lock = ("unlock", mutex) in seen, ("lock", mutex) in seen
                seen.add((call.name, mutex))
                if call.name == "lock":
                    unlock = next_unlock[i]
                    relock = had_unlock
                    if unlock is None and relock:
                        continue   # re-acquiring what an earlier unlock() dropped: ST.005.c's pattern
                    if unlock is None:
                        if _lock_api(model, fn):
                            continue   # a lock wrapper or RAII guard: acquiring is its job
                        yield ctx.finding("ST.005.a", model, call.line, call.col,
                                          f"{mutex}.lock() in {fname} is never unlocked in the function",
                                          anchor=anchor_of(mutex, "lock without unlock"), scope=call.scope)
                        continue
                    exit_tok = _exit_between(model, fn, (call.line, call.col), (unlock.line, unlock.col))
                    if exit_tok is not None:
                        yield ctx.finding("ST.005.b", model, exit_tok.line, exit_tok.col,
                                          f"{exit_tok.text} can leave {fname} with {mutex} still locked "
                                          f"(locked at line {call.line}, unlocked at line {unlock.line})",
                                          anchor=anchor_of(mutex, exit_tok.text),
                                          related=(Related(model.path, call.line, f"{mutex}.lock() here"),),
                                          scope=call.scope)
                    continue
                earlier = had_lock
                if earlier or _lock_api(model, fn):
                    continue
                member = idx.member(cls, mutex.split("->")[-1].split(".")[-1]) if cls else None
                if member is None or not RECURSIVE_TYPE.search(member.type):
                    continue
                yield ctx.finding("ST.005.c", model, call.line, call.col,
                                  f"{fname} unlocks the caller's {member.type} {mutex}; if the caller holds it "
                                  f"more than once it stays locked here",
                                  anchor=anchor_of(mutex, "unlock of caller's recursive mutex"),
                                  related=(Related(idx.path_of(member), member.line,
                                                   f"{mutex} declared as {member.type}"),),
                                  scope=call.scope)
